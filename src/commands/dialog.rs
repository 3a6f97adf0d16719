//! `dialog …`: what a dialogue's buttons and typed answers run. Every call
//! checks the dialogue belongs to whoever pressed, and that it is still
//! running (an idle one expires with a note).

use crate::chat::{Reply, Request};
use crate::dialogs::{self, service_new};

use super::parse::{Args, Parsed};
use super::{CommandResult, Core};

pub const OPTIONS: &[&str] = &["id", "step", "value", "action"];

/// `dialog`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("dialog", OPTIONS, Never, |core, request, parsed| {
        Box::pin(run(core, request, parsed))
    });

pub async fn run(core: &Core, request: &Request, parsed: &Parsed) -> CommandResult {
    let args: &Args = &parsed.args;
    let id = args.integer("id").unwrap_or_default();
    let Some(mut dialog) = dialogs::load(&core.pool, id).await? else {
        return Ok(Reply::text(
            "That dialogue doesn't exist (any more). `service new` starts one.",
        ));
    };
    if !dialog.belongs_to(request) {
        return Ok(Reply::text(
            "That dialogue is someone else's; start your own with `service new`.",
        ));
    }
    let now = core.clock.now();
    let sub = parsed.sub.map(|s| s.name.as_str()).unwrap_or_default();
    match (dialog.status.as_str(), sub) {
        ("done", "status") => {
            let service = dialog.result.clone().unwrap_or_default();
            return Ok(service_new::status(core, dialog.id, &service, false).await?);
        }
        ("done", "retry") => {
            let service = dialog.result.clone().unwrap_or_default();
            let action = args.text("action").unwrap_or_default();
            let note = service_new::retry(core, &service, action).await?;
            let status = service_new::status(core, dialog.id, &service, false).await?;
            return Ok(Reply::text(note).pipe_after(status));
        }
        ("done", _) => {
            return Ok(Reply::text(format!(
                "That dialogue is finished: {} was created. `service new` starts another.",
                dialog.result.as_deref().unwrap_or("the service")
            )));
        }
        ("active", _) if dialog.idle_too_long(now, core.config.dialogs.idle_minutes) => {
            let mut conn = core.pool.acquire().await?;
            dialogs::finish(&mut conn, dialog.id, "expired", None, now).await?;
            return Ok(Reply::text(format!(
                "That dialogue expired after {} minutes without an answer, and nothing was created. `service new` starts again.",
                core.config.dialogs.idle_minutes
            )));
        }
        ("active", _) => {}
        (other, _) => {
            return Ok(Reply::text(format!(
                "That dialogue was {other}; `service new` starts a new one."
            )));
        }
    }
    match sub {
        "answer" if args.text("step") == Some(service_new::CARRY_ON) => {
            match service_new::carry_on(args.text("value").unwrap_or_default()) {
                Some(true) => service_new::render(core, &dialog).await.map_err(Into::into),
                Some(false) => restart(core, request, &dialog).await,
                None => Ok(service_new::start(core, request).await?),
            }
        }
        "answer" => {
            let step = args.text("step").unwrap_or_default().to_string();
            let value = args.text("value").unwrap_or_default().to_string();
            service_new::answer(core, request, &mut dialog, &step, &value)
                .await
                .map_err(Into::into)
        }
        "back" => service_new::back(core, &mut dialog)
            .await
            .map_err(Into::into),
        "cancel" => service_new::cancel(core, &dialog).await.map_err(Into::into),
        "restart" => restart(core, request, &dialog).await,
        _ => service_new::render(core, &dialog).await.map_err(Into::into),
    }
}

/// Ends the dialogue in progress and starts a new one.
async fn restart(core: &Core, request: &Request, dialog: &dialogs::Dialog) -> CommandResult {
    let mut conn = core.pool.acquire().await?;
    dialogs::finish(&mut conn, dialog.id, "cancelled", None, core.clock.now()).await?;
    drop(conn);
    service_new::start(core, request).await.map_err(Into::into)
}

trait PipeAfter {
    fn pipe_after(self, after: Reply) -> Reply;
}

impl PipeAfter for Reply {
    fn pipe_after(mut self, after: Reply) -> Reply {
        self.blocks.extend(after.blocks);
        self
    }
}
