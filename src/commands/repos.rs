//! `repos` (`repo`, `discover`): every repository discovery found,
//! catalogued or not — the counts first, the likely owners of the
//! undescribed ones, a team's undescribed repositories, the unowned ones,
//! and one repository's card.

use crate::catalog::model::Kind;
use crate::chat::{Action, ButtonStyle, Element, Field, Reply, Request, Text};
use crate::discovery::asks;
use crate::discovery::store::{self, RepositoryRow};

use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core};

pub const OPTIONS: &[&str] = &[
    "name",
    "team",
    "unowned",
    // The subcommands' (`repo describe`, `not-ours`, `not-a-service`).
    "component",
    "owner",
    "type",
    "lifecycle",
    "description",
    "unknown",
    "kind",
];

/// `repos`, registered with the router (see [`crate::commands::registry`]).
/// Kept: a scan notifies like a catalog change, which ends kept answers.
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("repos", OPTIONS, Kept, |core, request, parsed| Box::pin(
        route(core, request, parsed)
    ));

/// The listing and cards, or what people say about a repository (never
/// kept: a subcommand acts).
async fn route(core: &Core, request: &Request, parsed: &super::parse::Parsed) -> CommandResult {
    match parsed.sub.map(|s| s.name.as_str()) {
        Some(sub) => super::repo_actions::route(core, request, sub, &parsed.args).await,
        None => run(core, request, &parsed.args).await,
    }
}

/// Repositories listed before "and N more".
const LISTED: i64 = 15;

pub async fn run(core: &Core, _request: &Request, args: &Args) -> CommandResult {
    if let Some(name) = args.text("name") {
        return card(core, name).await;
    }
    if let Some(team) = args.text("team") {
        let team = match resolve::resolve(core, team, &[Kind::Group]).await? {
            Resolved::One(row) => *row,
            other => {
                return Ok(resolve::unresolved_reply(
                    &other,
                    team,
                    "repos --team",
                    "team",
                ));
            }
        };
        return listing(core, Some((&team.key, team.label()))).await;
    }
    if args.flag("unowned") {
        return listing(core, None).await;
    }
    overview(core).await
}

fn button(label: impl Into<String>, command: impl Into<String>) -> Element {
    Element::Button {
        label: label.into(),
        action: Action::run(command),
        style: ButtonStyle::Default,
    }
}

fn short(team: &str) -> &str {
    team.rsplit('/').next().unwrap_or(team)
}

async fn overview(core: &Core) -> CommandResult {
    let totals = store::totals(&core.pool, None).await?;
    if totals.repositories == 0 {
        return Ok(Reply::text(
            "No repositories have been scanned yet. An admin runs `usher discover --path DIR` on a folder of clones (`ghorg clone <org>` makes one); then `repos` counts them here.",
        ));
    }
    let mut reply = Reply::new()
        .header(format!("Repositories — {}", totals.repositories))
        .section(Text::plain(format!(
            "{} described, {} without a descriptor ({} with a likely owner), {} archived{}",
            totals.described,
            totals.undescribed,
            totals.with_likely_owner,
            totals.archived,
            if totals.dismissed > 0 {
                format!(", {} set aside (not services)", totals.dismissed)
            } else {
                String::new()
            }
        )));
    let by_owner = store::undescribed_by_owner(&core.pool, 6).await?;
    let mut actions = Vec::new();
    if !by_owner.is_empty() {
        let lines: Vec<String> = by_owner
            .iter()
            .map(|(owner, n)| match owner {
                Some(team) => format!("{} {n}", short(team)),
                None => format!("nobody {n}"),
            })
            .collect();
        reply = reply.fields(vec![Field {
            label: "Without a descriptor, by likely owner".into(),
            value: Text::plain(lines.join(" · ")),
        }]);
        for (owner, n) in by_owner.iter().take(4) {
            actions.push(match owner {
                Some(team) => button(
                    format!("{} ({n})", short(team)),
                    format!("repos --team {team}"),
                ),
                None => button(format!("Nobody's ({n})"), "repos --unowned"),
            });
        }
    }
    actions.push(button("Coverage", "stats coverage"));
    reply = reply.actions(actions);
    if let Some(at) = totals.last_scan {
        reply = reply.context(Text::plain(format!(
            "Last scan {} · `repo <name>` shows one",
            at.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    Ok(reply)
}

/// A team's undescribed repositories (`Some`), or the unowned ones.
async fn listing(core: &Core, team: Option<(&str, String)>) -> CommandResult {
    let (rows, total) =
        store::undescribed_of(&core.pool, team.as_ref().map(|t| t.0), LISTED).await?;
    let title = match &team {
        Some((_, label)) => format!("{label}: repositories without a descriptor — {total}"),
        None => format!("Repositories nobody seems to own — {total}"),
    };
    if total == 0 {
        return Ok(Reply::text(match &team {
            Some((_, label)) => format!(
                "No repository without a descriptor looks like {label}'s. `repos` counts them all."
            ),
            None => {
                "Every repository without a descriptor has a likely owner. `repos` counts them all."
                    .to_string()
            }
        }));
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let why = r.owner_evidence.as_deref().unwrap_or("");
            match (&team, r.languages.first()) {
                (Some(_), Some(language)) => format!("• {} ({language}) — {why}", r.name),
                (Some(_), None) => format!("• {} — {why}", r.name),
                (None, _) => format!("• {} — {why}", r.name),
            }
        })
        .collect();
    let mut text = lines.join("\n");
    if total > rows.len() as i64 {
        text.push_str(&format!("\n… and {} more", total - rows.len() as i64));
    }
    let actions: Vec<Element> = rows
        .iter()
        .take(5)
        .map(|r| button(r.name.clone(), format!("repo {}", r.name)))
        .collect();
    Ok(Reply::new()
        .header(title)
        .section(Text::plain(text))
        .actions(actions)
        .context(Text::plain(
            "Each needs a catalog-info.yaml: `repo <name>` shows what usher knows about one.",
        )))
}

/// One repository's card, a choice when the name is in several sources,
/// or "did you mean …?".
pub(super) async fn card(core: &Core, name: &str) -> CommandResult {
    let found = store::named(&core.pool, name).await?;
    let repo = match found.as_slice() {
        [] => {
            let like = store::names_like(&core.pool, name).await?;
            let mut reply = Reply::text(format!(
                "No repository called {name} in what discovery found. `repos` counts them; an admin runs `usher discover` to scan again."
            ));
            if !like.is_empty() {
                reply = Reply::text(format!(
                    "No repository called {name}. Did you mean one of these?"
                ))
                .actions(
                    like.iter()
                        .map(|n| button(n.clone(), format!("repo {n}")))
                        .collect(),
                );
            }
            return Ok(reply);
        }
        [one] => one,
        several => {
            return Ok(Reply::text(format!(
                "{} repositories are called {name}; which one?",
                several.len()
            ))
            .actions(
                several
                    .iter()
                    .take(5)
                    .map(|r| {
                        button(
                            format!("{} ({})", r.name, source_label(r)),
                            format!("repo {}", r.name),
                        )
                    })
                    .collect(),
            ));
        }
    };
    let mut fields = Vec::new();
    let mut actions = Vec::new();
    let status = if !repo.descriptors.is_empty() {
        let entities = match repo.location_id {
            Some(id) => store::entities_of(&core.pool, id).await?,
            None => Vec::new(),
        };
        for (_, entity) in entities.iter().take(3) {
            actions.push(button(
                format!("Service {entity}"),
                format!("service {entity}"),
            ));
        }
        match entities.len() {
            0 => format!(
                "Has {} but nothing from it is in the catalog (not imported, or rejected: `usher status` says why)",
                repo.descriptors.join(", ")
            ),
            n => format!(
                "In the catalog through {} ({n} {})",
                repo.descriptors.join(", "),
                if n == 1 { "entity" } else { "entities" }
            ),
        }
    } else if repo.archived {
        "Archived, without a descriptor: not nagged about".to_string()
    } else if let Some(kind) = &repo.dismissed {
        format!(
            "Not a service ({kind}, said {}): not counted or asked about",
            repo.dismissed_by.as_deref().unwrap_or("someone")
        )
    } else if let Some(url) = &repo.proposal_url {
        format!("Not in the catalog yet: a catalog-info.yaml is proposed in {url}")
    } else {
        format!(
            "Not in the catalog: no catalog-info.yaml on {}",
            repo.default_branch
                .as_deref()
                .unwrap_or("its default branch")
        )
    };
    fields.push(Field {
        label: "Catalog".into(),
        value: Text::plain(status),
    });
    if repo.descriptors.is_empty() {
        let owner = match &repo.owner_ref {
            Some(team) => {
                actions.insert(
                    0,
                    button(format!("Team {}", short(team)), format!("team {team}")),
                );
                format!(
                    "likely {} — {}",
                    short(team),
                    repo.owner_evidence.as_deref().unwrap_or("")
                )
            }
            None => format!(
                "nobody yet: {}",
                repo.owner_evidence.as_deref().unwrap_or("no evidence")
            ),
        };
        fields.push(Field {
            label: "Owner".into(),
            value: Text::plain(owner),
        });
    }
    if !repo.languages.is_empty() {
        fields.push(Field {
            label: "Languages".into(),
            value: Text::plain(repo.languages.join(", ")),
        });
    }
    if let Some(value) = dependencies_field(core, repo).await? {
        fields.push(Field {
            label: "Dependencies".into(),
            value: Text::plain(value),
        });
    }
    fields.push(Field {
        label: "Last commit".into(),
        value: Text::plain(match (repo.pushed_at, &repo.default_branch) {
            (Some(at), Some(branch)) => format!("{} on {branch}", at.format("%Y-%m-%d")),
            (Some(at), None) => at.format("%Y-%m-%d").to_string(),
            (None, _) => "none (an empty repository)".to_string(),
        }),
    });
    let undecided = repo.descriptors.is_empty() && !repo.archived && repo.dismissed.is_none();
    if undecided {
        // "Not ours" answers a guess; without one there is nothing to refuse.
        let shown = asks::Shown {
            named: false,
            has_owner: repo.owner_ref.is_some(),
        };
        actions.extend(asks::decision_buttons(&repo.name, shown));
    }
    if repo.url.starts_with("https://") {
        actions.push(Element::Link {
            label: "Open".into(),
            url: repo.url.trim_end_matches(".git").to_string(),
        });
    }
    let mut reply = Reply::new()
        .header(repo.name.clone())
        .fields(fields)
        .actions(actions);
    if undecided {
        reply = reply.actions(vec![asks::not_a_service(&repo.name)]);
    }
    Ok(reply.context(Text::plain(format!(
        "{} · scanned {}",
        source_label(repo),
        repo.scanned_at.format("%Y-%m-%d %H:%M UTC")
    ))))
}

/// "412 npm (package-lock.json), 38 maven (pom.xml)", and the first
/// manifest that couldn't be read; `None` when nothing was found.
async fn dependencies_field(
    core: &Core,
    repo: &RepositoryRow,
) -> Result<Option<String>, sqlx::Error> {
    let by_ecosystem = store::dependencies_of(&core.pool, repo.id).await?;
    let mut parts: Vec<String> = by_ecosystem
        .iter()
        .take(4)
        .map(|(ecosystem, files, count)| {
            let files = match files.as_slice() {
                [one] => one.clone(),
                [first, rest @ ..] => format!("{first} and {} more", rest.len()),
                [] => String::new(),
            };
            format!("{count} {ecosystem} ({files})")
        })
        .collect();
    if let Some(note) = repo.dependency_notes.first() {
        parts.push(format!("not read: {note}"));
    }
    Ok((!parts.is_empty()).then(|| parts.join(", ")))
}

fn source_label(repo: &RepositoryRow) -> String {
    match repo.source.split_once(':') {
        Some(("path", dir)) => format!("clones in {dir}"),
        _ => repo.source.clone(),
    }
}
