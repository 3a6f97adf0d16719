//! `deps <service> [--reverse] [--depth N]`: the dependency tree, or the
//! tree of dependents (the blast radius), compact.

use std::collections::HashMap;

use crate::catalog::model::Kind;
use crate::catalog::store::EntityRow;
use crate::chat::{Action, Element, Reply, Request, Text};

use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core};

pub const OPTIONS: &[&str] = &["service", "reverse", "depth"];

/// `deps`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("deps", OPTIONS, Kept, |core, request, parsed| Box::pin(
        run(core, request, &parsed.args)
    ));

/// Lines of tree shown before "and N more".
const MAX_LINES: usize = 40;

pub async fn run(core: &Core, _request: &Request, args: &Args) -> CommandResult {
    let query = args.text("service").unwrap_or_default();
    let reverse = args.flag("reverse");
    let depth = args.integer("depth").unwrap_or(3).clamp(1, 10) as usize;
    let service = match resolve::resolve(core, query, &Kind::OWNED).await? {
        Resolved::One(row) => *row,
        other => {
            let command = if reverse { "deps --reverse" } else { "deps" };
            return Ok(resolve::unresolved_reply(&other, query, command, "service"));
        }
    };
    let snapshot = core.snapshot.get(&core.pool).await?;
    let (lines, omitted) = snapshot.graph.tree(service.id, reverse, depth, MAX_LINES);
    let direct = snapshot.graph.direct(service.id, reverse).len();
    let total = snapshot.graph.transitive_count(service.id, reverse);
    let ids: Vec<i64> = lines.iter().map(|l| l.id).collect();
    let rows: HashMap<i64, EntityRow> = core
        .reader()
        .await
        .find_by_ids(&ids)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();

    let title = if reverse {
        format!("What depends on {}", service.short())
    } else {
        format!("What {} depends on", service.short())
    };
    let mut reply = Reply::new().header(title);
    if lines.len() == 1 {
        reply = reply.section(Text::plain(if reverse {
            format!("Nothing in the catalog depends on {}.", service.short())
        } else {
            format!(
                "{} declares no dependencies (spec.dependsOn) in {}.",
                service.short(),
                service.edited_in()
            )
        }));
    } else {
        // Tree drawing: a prefix per level, └─ for the last child.
        let mut open: Vec<bool> = Vec::new();
        let mut text = String::new();
        for line in &lines {
            let label = rows
                .get(&line.id)
                .map(|r| {
                    let mut s = r.short();
                    if r.kind != "component" {
                        s.push_str(&format!(" ({})", r.kind));
                    }
                    s
                })
                .unwrap_or_else(|| format!("#{}", line.id));
            if line.depth == 0 {
                text.push_str(&label);
            } else {
                open.truncate(line.depth - 1);
                let prefix: String = open
                    .iter()
                    .map(|o| if *o { "│  " } else { "   " })
                    .collect();
                let branch = if line.last { "└─ " } else { "├─ " };
                let note = if line.cycle {
                    " ↺ (cycle)"
                } else if line.repeated {
                    " (see above)"
                } else {
                    ""
                };
                text.push_str(&format!("\n{prefix}{branch}{label}{note}"));
                open.push(!line.last);
            }
        }
        if omitted > 0 {
            text.push_str(&format!("\n… and {omitted} more"));
        }
        reply = reply.section(Text::new().add_pre(text));
    }
    let summary = if reverse {
        format!(
            "{direct} {} on it directly, {total} in all (to any depth).",
            if direct == 1 { "depends" } else { "depend" }
        )
    } else {
        format!("{direct} direct dependencies, {total} in all (to any depth).")
    };
    let toggle = if reverse {
        (
            "Its dependencies",
            format!("deps {}", service.command_ref()),
        )
    } else {
        (
            "What depends on it",
            format!("deps --reverse {}", service.command_ref()),
        )
    };
    let mut actions = vec![Element::Button {
        label: toggle.0.into(),
        action: Action::run(toggle.1),
        style: Default::default(),
    }];
    if depth < 10 && lines.iter().any(|l| l.depth == depth) {
        actions.push(Element::Button {
            label: "Deeper".into(),
            action: Action::run(format!(
                "deps {}--depth {} {}",
                if reverse { "--reverse " } else { "" },
                (depth + 2).min(10),
                service.command_ref()
            )),
            style: Default::default(),
        });
    }
    Ok(reply.context(Text::plain(summary)).actions(actions))
}
