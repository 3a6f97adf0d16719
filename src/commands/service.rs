//! `service <name>`: the card — everything the catalog knows about a
//! service on one screen, and what it still lacks.

use crate::catalog::gaps;
use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::store::EntityRow;
use crate::chat::{Action, Element, Field, Reply, Request, Text};

use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core, docs, render};

pub const OPTIONS: &[&str] = &["service"];

/// `service`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("service", OPTIONS, Kept, |core, request, parsed| {
        Box::pin(route(core, request, parsed))
    });

/// `service <name>`, or `service new` (the creation dialogue).
async fn route(core: &Core, request: &Request, parsed: &super::parse::Parsed) -> CommandResult {
    if parsed.sub.is_some_and(|s| s.name == "new") {
        return Ok(crate::dialogs::service_new::start(core, request).await?);
    }
    run(core, request, &parsed.args).await
}

pub async fn run(core: &Core, _request: &Request, args: &Args) -> CommandResult {
    let query = args.text("service").unwrap_or_default();
    let service = match resolve::resolve(core, query, &Kind::OWNED).await? {
        Resolved::One(row) => *row,
        other => {
            return Ok(resolve::unresolved_reply(
                &other, query, "service", "service",
            ));
        }
    };
    card(core, &service).await
}

async fn card(core: &Core, service: &EntityRow) -> CommandResult {
    let reader = core.reader().await;
    // The on-call lookup reads the owner (a service's team) too.
    let oncall = super::oncall::lookup_for(core, service).await?;
    let owner = oncall.team.clone();
    let snapshot = core.snapshot.get(&core.pool).await?;
    let depends_on = snapshot.graph.direct(service.id, false);
    let dependents = snapshot.graph.direct(service.id, true);
    let blast_radius = snapshot.graph.transitive_count(service.id, true);
    let missing = gaps::of(&core.pool, service.id).await?;

    let mut reply = Reply::new().header(service.label());
    reply = reply.section(match &service.description {
        Some(d) if !d.trim().is_empty() => Text::new().add_italic(d.trim().to_string()),
        _ => Text::plain("No description yet."),
    });

    let mut fields = vec![Field {
        label: "Owner".into(),
        value: match (&owner, &service.owner_ref) {
            (Some(team), _) => Text::new().add_bold(team.label()),
            (None, Some(key)) => Text::plain(format!(
                "{} (not in the catalog)",
                EntityRef::from_key(key)
                    .map(|r| r.short())
                    .unwrap_or_else(|| key.clone())
            )),
            (None, None) => Text::plain("none"),
        },
    }];
    let mut push = |label: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            fields.push(Field {
                label: label.into(),
                value: Text::plain(v),
            });
        }
    };
    push("Lifecycle", service.lifecycle.clone());
    push("Tier", service.tier.clone());
    push(
        "Type",
        service
            .spec_type
            .clone()
            .map(|t| format!("{} ({})", t, service.kind)),
    );
    let system = service
        .system_ref
        .as_deref()
        .and_then(EntityRef::from_key)
        .map(|r| r.short());
    let domain = service
        .domain_ref
        .as_deref()
        .and_then(EntityRef::from_key)
        .map(|r| r.short());
    push(
        "System",
        match (system, domain) {
            (Some(s), Some(d)) => Some(format!("{s} (domain {d})")),
            (s, d) => s.or(d.map(|d| format!("domain {d}"))),
        },
    );
    push(
        "Language",
        match (&service.language, &service.framework) {
            (Some(l), Some(f)) => Some(format!("{l} · {f}")),
            (l, f) => l.clone().or(f.clone()),
        },
    );
    push(
        "Namespace",
        (service.namespace != "default").then(|| service.namespace.clone()),
    );
    fields.push(Field {
        label: "On call".into(),
        value: super::oncall::summary(&oncall),
    });
    reply = reply.fields(fields);

    let names = |ids: &[i64]| -> Vec<i64> { ids.iter().take(5).copied().collect() };
    let shown_deps = reader.find_by_ids(&names(&depends_on)).await?;
    let shown_dependents = reader.find_by_ids(&names(&dependents)).await?;
    let list = |rows: &[EntityRow], total: usize| {
        let mut s: Vec<String> = rows.iter().map(EntityRow::short).collect();
        if total > rows.len() {
            s.push(format!("{} more", total - rows.len()));
        }
        s.join(", ")
    };
    let mut deps_text = Text::new();
    if depends_on.is_empty() {
        deps_text = deps_text.add_plain("Depends on nothing recorded.");
    } else {
        deps_text = deps_text
            .add_plain(format!("Depends on {}: ", depends_on.len()))
            .add_plain(list(&shown_deps, depends_on.len()))
            .add_plain(".");
    }
    deps_text = deps_text.add_plain("\n");
    if dependents.is_empty() {
        deps_text = deps_text.add_plain("Nothing depends on it.");
    } else {
        deps_text = deps_text
            .add_bold(format!(
                "{} {} on it directly",
                dependents.len(),
                if dependents.len() == 1 {
                    "depends"
                } else {
                    "depend"
                }
            ))
            .add_plain(format!(" ({})", list(&shown_dependents, dependents.len())))
            .add_plain(format!(", {blast_radius} in all — its blast radius."));
    }
    reply = reply.section(deps_text);

    reply = reply.context(Text::plain(if missing.is_empty() {
        "Nothing missing: owner, on-call, runbook, docs, repository, description, tier and lifecycle are all recorded.".to_string()
    } else {
        format!(
            "Missing: {}. Add them to {}.",
            missing.iter().map(|g| g.label).collect::<Vec<_>>().join(", "),
            service.edited_in()
        )
    }));

    let command_ref = service.command_ref();
    let mut actions = vec![
        Element::Button {
            label: "Owner".into(),
            action: Action::run(format!("owner {command_ref}")),
            style: Default::default(),
        },
        Element::Button {
            label: "Docs".into(),
            action: Action::run(format!("docs {command_ref}")),
            style: Default::default(),
        },
    ];
    if !depends_on.is_empty() {
        actions.push(Element::Button {
            label: "Dependencies".into(),
            action: Action::run(format!("deps {command_ref}")),
            style: Default::default(),
        });
    }
    if !dependents.is_empty() {
        actions.push(Element::Button {
            label: "Dependents".into(),
            action: Action::run(format!("deps --reverse {command_ref}")),
            style: Default::default(),
        });
    }
    if let Some(url) = docs::repository_url(service) {
        actions.push(Element::Link {
            label: "Repository".into(),
            url,
        });
    }
    Ok(reply
        .actions(actions)
        .context(Text::plain(render::context_line(service))))
}
