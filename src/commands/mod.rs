//! The command router: a request's text is parsed against the definitions
//! in `commands/`, permission-checked, and handed to the command's module,
//! which returns a platform-neutral reply.
//!
//! Each command module follows the same shape: `OPTIONS` (the option names
//! it reads, checked against its definition by a test) and `run`.

pub mod complete;
pub mod definitions;
pub mod deps;
pub mod dialog;
pub mod directory;
pub mod docs;
pub mod grammar;
pub mod help;
pub mod hygiene;
pub mod hygiene_fix;
pub mod me;
pub mod oncall;
pub mod owner;
pub mod page;
pub mod parse;
pub mod registry;
pub mod render;
pub mod repo_actions;
pub mod repos;
pub mod resolve;
pub mod search;
pub mod service;
pub mod stats;
pub mod status;
pub mod team;

use futures_util::FutureExt;
use tracing::Instrument;

use crate::chat::{Reply, Request};
use definitions::Permission;
use parse::Parsed;

pub use crate::context::Core;
use crate::context::answers as cache;

pub use crate::diagnostics::{error_id, panic_message};

/// A command failed for a reason the user can't fix: logged with an id,
/// and the user told what to do.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type CommandResult = Result<Reply, CommandError>;

/// Every command, once (see [`registry`]).
pub const COMMANDS: &[registry::Registered] = &[
    owner::COMMAND,
    docs::COMMAND,
    service::COMMAND,
    team::COMMAND,
    deps::COMMAND,
    search::COMMAND,
    stats::COMMAND,
    repos::COMMAND,
    oncall::COMMAND,
    page::COMMAND,
    help::COMMAND,
    dialog::COMMAND,
    me::COMMAND,
    hygiene::COMMAND,
    status::COMMAND,
    directory::COMMAND,
];

/// The registration of the command called `name`.
pub fn registered(name: &str) -> Option<&'static registry::Registered> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Handles one request.
///
/// The request's span is attached to the future (`.instrument`), never
/// entered across an `.await`: a guard held over an await point makes
/// the spans of unrelated requests polled on the same worker nest inside
/// each other. A panic anywhere below is caught here, logged with an
/// error id and answered politely, so one bad answer can't take the
/// process down.
pub async fn handle(core: &Core, request: &Request) -> Reply {
    if request.text.len() > MAX_LINE_BYTES {
        return Reply::text(too_long_message(request.text.len()));
    }
    let (parsed, rewritten) = match understand(&request.text) {
        Ok(understood) => understood,
        Err(e) => return Reply::text(e.to_string()),
    };
    let rewritten_request;
    let request = match rewritten {
        Some(line) => {
            rewritten_request = Request {
                text: line,
                ..request.clone()
            };
            &rewritten_request
        }
        None => request,
    };
    let span = tracing::info_span!(
        "command",
        platform = request.platform.as_str(),
        user = %request.actor.platform_user,
        command = %parsed.path(),
    );
    if request.actor.unresolved && parsed.command.name != "help" {
        return Reply::text(UNAVAILABLE);
    }
    let answered = std::panic::AssertUnwindSafe(handle_parsed(core, request, &parsed))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    match answered {
        Ok(reply) => reply,
        Err(panic) => {
            let id = error_id();
            tracing::error!(parent: &span, error_id = %id, panic = %panic_message(&panic), "command panicked");
            crate::metrics::command(request.platform.as_str(), &parsed.path(), "panic", 0.0);
            Reply::text(something_went_wrong(&id))
        }
    }
}

/// A line as a command: parsed as one, or — when that fails — read as a
/// question ("who owns payments-api?") and parsed as the command it
/// means. The second part is the rewritten line, when there is one. The
/// error is the parser's, about the line as typed.
fn understand(line: &str) -> Result<(Parsed, Option<String>), parse::ParseError> {
    let err = match parse::parse(line) {
        Ok(parsed) => return Ok((parsed, None)),
        Err(err) => err,
    };
    if let Some(meant) = grammar::command_for(line)
        && meant.trim() != line.trim()
        && let Ok(parsed) = parse::parse(&meant)
    {
        return Ok((parsed, Some(meant)));
    }
    // A name with spaces, unquoted: a title ("owner Payments API").
    if let Some(meant) = parse::as_one_name(line)
        && let Ok(parsed) = parse::parse(&meant)
    {
        return Ok((parsed, Some(meant)));
    }
    Err(err)
}

/// The longest command line usher reads: far more than any real command
/// (a search with a dozen filters is a few hundred bytes), far less than
/// what would make parsing costly.
pub const MAX_LINE_BYTES: usize = 4096;

/// The one-line answer to a line over [`MAX_LINE_BYTES`].
pub fn too_long_message(bytes: usize) -> String {
    format!(
        "That's too long for me ({} KB; I read up to {} KB). Ask one short question, for example `owner payments-api`.",
        bytes.div_ceil(1024),
        MAX_LINE_BYTES / 1024
    )
}

/// What the person sees while the catalog's database can't be reached.
pub const UNAVAILABLE: &str = "The catalog is unavailable right now (usher can't reach its database), so I can't answer that — nothing was changed. Try again in a minute; if it lasts, tell your usher admins.";

/// What the person sees when answering failed for a reason they can't fix.
fn something_went_wrong(id: &str) -> String {
    format!(
        "Something went wrong answering that (reference {id}). Try again in a moment; if it keeps happening, tell your usher admins and quote the reference."
    )
}

/// Whether a command line only asks (a read-only question that changes
/// nothing, whatever answers it): answering such a request twice does no
/// harm, so replay protection — a database write — isn't needed for it.
pub fn only_asks(text: &str) -> bool {
    match parse::parse(text) {
        Ok(parsed) => {
            let caching =
                registered(&parsed.command.name).map_or(cache::Caching::Never, |c| c.caching);
            caching != cache::Caching::Never && parsed.sub.is_none() && !parsed.args.flag("notify")
        }
        Err(_) => true,
    }
}

async fn handle_parsed(core: &Core, request: &Request, parsed: &Parsed) -> Reply {
    let started = std::time::Instant::now();
    if let Some(refusal) = check_permission(core, request, parsed) {
        return refusal;
    }
    let caching = registered(&parsed.command.name).map_or(cache::Caching::Never, |c| c.caching);
    let cacheable =
        core.answers
            .cacheable(caching, parsed.sub.is_some(), parsed.args.flag("notify"));
    if cacheable {
        match core.answers.get(request, &core.snapshot) {
            cache::Lookup::Fresh(reply) => return finish(request, reply),
            cache::Lookup::Aging(reply, permit) => {
                let (core, again) = (core.clone(), request.clone());
                tokio::spawn(
                    async move {
                        let _permit = permit;
                        answer_and_keep(&core, &again).await
                    }
                    .in_current_span(),
                );
                return finish(request, reply);
            }
            cache::Lookup::Miss => {}
        }
    }
    if !core.db_health.available().await {
        return Reply::text(UNAVAILABLE);
    }
    let result = if cacheable {
        answer_and_keep(core, request).await
    } else {
        dispatch(core, request, parsed).await
    };
    let outcome = if result.is_ok() { "ok" } else { "error" };
    let reply = match result {
        Ok(reply) => reply,
        Err(CommandError::Database(err)) if crate::db::is_unavailable(&err) => {
            let id = error_id();
            tracing::error!(error = %err, error_id = %id, "command failed: the database is unavailable");
            Reply::text(format!("{UNAVAILABLE} (reference {id})"))
        }
        Err(err) => {
            let id = error_id();
            tracing::error!(error = %err, error_id = %id, "command failed");
            Reply::text(something_went_wrong(&id))
        }
    };
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "answered"
    );
    crate::metrics::command(
        request.platform.as_str(),
        &parsed.path(),
        outcome,
        started.elapsed().as_secs_f64(),
    );
    finish(request, reply)
}

/// The last touch every answer gets: what guests from other
/// organisations may not see is taken out.
fn finish(request: &Request, reply: Reply) -> Reply {
    if request.actor.external {
        return reply.without_people();
    }
    reply
}

/// Answers a read-only question and keeps the answer, with what it read
/// and the catalog generation it was made from (taken before reading, so
/// a change committed meanwhile makes it stale).
async fn answer_and_keep(core: &Core, request: &Request) -> CommandResult {
    let parsed = match parse::parse(&request.text) {
        Ok(p) => p,
        Err(e) => return Ok(Reply::text(e.to_string())),
    };
    let generation = core.snapshot.generation(&core.pool).await;
    let (result, reads) = crate::catalog::store::recording(dispatch(core, request, &parsed)).await;
    if let Ok(reply) = &result {
        let caching = registered(&parsed.command.name).map_or(cache::Caching::Never, |c| c.caching);
        core.answers.put(request, caching, generation, reads, reply);
    }
    result
}

async fn dispatch(core: &Core, request: &Request, parsed: &Parsed) -> CommandResult {
    match registered(&parsed.command.name) {
        Some(command) => (command.run)(core, request, parsed).await,
        None => Ok(Reply::text(format!(
            "`{}` is defined but this version of usher can't run it yet. Type `help` to see what it can do.",
            parsed.command.name
        ))),
    }
}

fn check_permission(core: &Core, request: &Request, parsed: &Parsed) -> Option<Reply> {
    let needed = parsed
        .sub
        .and_then(|s| s.permission)
        .unwrap_or(parsed.command.permission);
    match needed {
        Permission::Everyone => None,
        Permission::Member if request.actor.person.is_some() => None,
        Permission::Member => Some(Reply::text(format!(
            "`{}` is for people in the catalog, and I can't match you to anyone in it. Ask your usher admins to add you (a User entity with your email), then try again.",
            parsed.path()
        ))),
        Permission::Admin if core.is_admin(request) => None,
        Permission::Admin => Some(Reply::text(format!(
            "Only usher admins may use `{}` — ask one of them to do it for you.",
            parsed.path(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_and_the_definitions_agree() {
        let mut defined: Vec<&str> = definitions::all().iter().map(|d| d.name.as_str()).collect();
        defined.sort();
        let mut handled: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        handled.sort();
        assert_eq!(
            defined, handled,
            "every definition has a handler, every handler a definition"
        );
        for def in definitions::all() {
            let mut declared: Vec<&str> = def.options.iter().map(|o| o.name.as_str()).collect();
            for sub in &def.subcommands {
                declared.extend(sub.options.iter().map(|o| o.name.as_str()));
            }
            declared.sort();
            declared.dedup();
            let mut read = registered(&def.name).unwrap().options.to_vec();
            read.sort();
            assert_eq!(
                declared, read,
                "options of `{}`: definition vs code",
                def.name
            );
        }
    }
}
