//! `docs <service>`: where the documentation is — TechDocs, runbooks
//! (first when it matters most: tier 1 or production), the repository,
//! dashboards, API definitions — each a button.

use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::store::{self, EntityRow, LinkRow};
use crate::chat::{Element, Reply, Request, Text};

use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core, render};

pub const OPTIONS: &[&str] = &["service"];

/// `docs`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("docs", OPTIONS, Tracked, |core, request, parsed| {
        Box::pin(run(core, request, &parsed.args))
    });

pub async fn run(core: &Core, _request: &Request, args: &Args) -> CommandResult {
    let query = args.text("service").unwrap_or_default();
    let service = match resolve::resolve(core, query, &Kind::OWNED).await? {
        Resolved::One(row) => *row,
        other => return Ok(resolve::unresolved_reply(&other, query, "docs", "service")),
    };
    let links = core.reader().await.links(&service).await?;
    let buttons = doc_buttons(core, &service, &links);
    let apis = provided_apis(core, &service).await?;
    let mut reply = Reply::new().header(format!("Docs for {}", service.label()));
    if buttons.is_empty() && apis.is_empty() {
        return Ok(reply.section(
            Text::new()
                .add_bold(service.short())
                .add_plain(" has no docs, runbook or repository in the catalog. Add ")
                .add_code("metadata.links")
                .add_plain(" (with titles like Runbook or Docs) or a ")
                .add_code("backstage.io/techdocs-ref")
                .add_plain(format!(" annotation to {}.", service.edited_in())),
        ));
    }
    if critical(&service) && !links.iter().any(|l| l.category == "runbook") {
        reply = reply.section(Text::plain(
            "⚠ No runbook is recorded for this critical service — add one to its links.",
        ));
    }
    if let Some(techdocs) = &service.techdocs_ref
        && core.config.chat.techdocs_url.is_none()
        && !techdocs.starts_with("url:")
    {
        reply = reply.context(Text::plain(format!("TechDocs: {techdocs}")));
    }
    if !apis.is_empty() {
        reply = reply.section(Text::plain(format!("APIs: {}", apis.join(", "))));
    }
    Ok(reply
        .actions(buttons)
        .context(Text::plain(render::context_line(&service))))
}

/// Tier 1 or production: the runbook comes first.
fn critical(row: &EntityRow) -> bool {
    row.tier.as_deref() == Some("1") || row.lifecycle.as_deref() == Some("production")
}

fn doc_buttons(core: &Core, service: &EntityRow, links: &[LinkRow]) -> Vec<Element> {
    let mut buttons = Vec::new();
    let by = |category: &'static str| links.iter().filter(move |l| l.category == category);
    let link = |l: &LinkRow, default: &str| Element::Link {
        label: l.title.clone().unwrap_or_else(|| default.to_string()),
        url: l.url.clone(),
    };
    let runbooks: Vec<Element> = by("runbook").map(|l| link(l, "Runbook")).collect();
    let mut docs: Vec<Element> = by("docs").map(|l| link(l, "Docs")).collect();
    if let Some(url) = techdocs_url(core, service) {
        docs.insert(
            0,
            Element::Link {
                label: "TechDocs".into(),
                url,
            },
        );
    }
    if critical(service) {
        buttons.extend(runbooks);
        buttons.extend(docs);
    } else {
        buttons.extend(docs);
        buttons.extend(runbooks);
    }
    if let Some(url) = repository_url(service) {
        buttons.push(Element::Link {
            label: "Repository".into(),
            url,
        });
    }
    buttons.extend(
        by("repository")
            .filter(|l| Some(&l.url) != repository_url(service).as_ref())
            .map(|l| link(l, "Repository")),
    );
    buttons.extend(by("dashboard").map(|l| link(l, "Dashboard")));
    buttons.extend(by("api").map(|l| link(l, "API")));
    buttons
}

/// The TechDocs page: `url:` references as they are, others under
/// `chat.techdocs_url`.
pub fn techdocs_url(core: &Core, service: &EntityRow) -> Option<String> {
    let reference = service.techdocs_ref.as_deref()?;
    if let Some(url) = reference.strip_prefix("url:") {
        return Some(url.to_string());
    }
    let base = core.config.chat.techdocs_url.as_deref()?;
    Some(format!(
        "{}/{}/{}/{}",
        base.trim_end_matches('/'),
        service.namespace,
        service.kind,
        service.name
    ))
}

/// The repository: GitHub slug, else the source location.
pub fn repository_url(service: &EntityRow) -> Option<String> {
    if let Some(slug) = &service.github_slug {
        return Some(format!("https://github.com/{slug}"));
    }
    service
        .source_location
        .as_ref()
        .filter(|s| s.starts_with("http"))
        .map(|s| s.trim_end_matches('/').to_string())
}

async fn provided_apis(core: &Core, service: &EntityRow) -> Result<Vec<String>, sqlx::Error> {
    let apis: Vec<(String, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT r.target_ref, a.spec_type, a.id FROM relations r LEFT JOIN entities a ON a.ref = r.target_ref
         WHERE r.source_id = $1 AND r.type = 'providesApi' ORDER BY r.target_ref",
    )
    .bind(service.id)
    .fetch_all(&core.pool)
    .await?;
    store::record(apis.iter().filter_map(|a| a.2));
    if apis.iter().any(|a| a.2.is_none()) {
        // An API not in the catalog yet may be added later.
        store::record_whole_catalog();
    }
    Ok(apis
        .into_iter()
        .map(|(key, kind, _)| {
            let name = EntityRef::from_key(&key).map(|r| r.short()).unwrap_or(key);
            match kind {
                Some(k) => format!("{name} ({k})"),
                None => name,
            }
        })
        .collect())
}
