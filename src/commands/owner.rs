//! `owner <service>`: who owns it and how to reach them — the owning team
//! first, its channel, email, lead and members, who is on call, then the
//! service's links as buttons.

use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::store::EntityRow;
use crate::chat::{Element, Field, Reply, Request, Text};

use super::parse::Args;
use super::render;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core};

pub const OPTIONS: &[&str] = &["service"];

/// `owner`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("owner", OPTIONS, Tracked, |core, request, parsed| {
        Box::pin(run(core, request, &parsed.args))
    });

pub async fn run(core: &Core, _request: &Request, args: &Args) -> CommandResult {
    let query = args.text("service").unwrap_or_default();
    let resolved = resolve::resolve(core, query, &Kind::OWNED).await?;
    let service = match resolved {
        Resolved::One(row) => *row,
        other => return Ok(resolve::unresolved_reply(&other, query, "owner", "service")),
    };
    answer(core, &service).await
}

async fn answer(core: &Core, service: &EntityRow) -> CommandResult {
    let reader = core.reader().await;
    let links = reader.links(service).await?;
    let oncall = super::oncall::lookup_for(core, service).await?;
    let mut reply = Reply::new().header(service.label());
    // The on-call lookup read the owner already (a service's team).
    let owner = match service.owner_ref.as_deref() {
        Some(key) => oncall.team.clone().ok_or_else(|| key.to_string()),
        None => Err(String::new()),
    };
    let mut actions: Vec<Element> = Vec::new();
    match owner {
        Ok(team) if team.kind == "group" => {
            let members = reader.team_members(&team).await?;
            let lead = render::find_lead(&team, &members);
            reply = reply.section(
                Text::new()
                    .add_bold(service.short())
                    .add_plain(" is owned by ")
                    .add_bold(team.label())
                    .add_plain(if team.label() != team.short() {
                        format!(" ({})", team.short())
                    } else {
                        String::new()
                    })
                    .add_plain("."),
            );
            let mut fields = render::team_fields(&team, lead, &members);
            fields.push(oncall_field(&oncall));
            reply = reply.fields(fields);
            if let Some(button) = render::channel_button(&team) {
                actions.push(button);
            } else if let Some(email) = &team.email {
                actions.push(Element::Link {
                    label: "Email the team".to_string(),
                    url: format!("mailto:{email}"),
                });
            }
            if members.iter().all(|m| !m.active) && !members.is_empty() {
                reply = reply.context(Text::plain(
                    "Every member of this team is marked inactive — the ownership may be out of date.",
                ));
            }
        }
        Ok(person) => {
            reply = reply.section(
                Text::new()
                    .add_bold(service.short())
                    .add_plain(" is owned by ")
                    .add_span(render::person(&person))
                    .add_plain(" (a person, not a team)."),
            );
            let mut fields = Vec::new();
            if let Some(email) = &person.email {
                fields.push(Field {
                    label: "Email".to_string(),
                    value: Text::new().add_link(email.clone(), format!("mailto:{email}")),
                });
            }
            fields.push(oncall_field(&oncall));
            reply = reply.fields(fields);
        }
        Err(missing) if !missing.is_empty() => {
            let owner = EntityRef::from_key(&missing)
                .map(|r| r.short())
                .unwrap_or(missing);
            reply = reply.section(
                Text::new()
                    .add_bold(service.short())
                    .add_plain(" names ")
                    .add_code(owner.clone())
                    .add_plain(" as its owner, but there's no such team in the catalog, so I can't say how to reach them. Import the team's Group descriptor, or correct ")
                    .add_code("spec.owner")
                    .add_plain(format!(" in {}.", service.edited_in())),
            );
        }
        Err(_) => {
            reply = reply.section(
                Text::new()
                    .add_bold(service.short())
                    .add_plain(" has no owner in the catalog. Add ")
                    .add_code("spec.owner: <team>")
                    .add_plain(format!(" to {}.", service.edited_in())),
            );
        }
    }
    actions.extend(super::oncall::page_button(service, &oncall));
    actions.extend(render::link_buttons(&links, 4));
    Ok(reply
        .actions(actions)
        .context(Text::plain(render::context_line(service))))
}

/// Who is on call now.
fn oncall_field(view: &super::oncall::OnCallView) -> Field {
    Field {
        label: "On call".to_string(),
        value: super::oncall::summary(view),
    }
}
