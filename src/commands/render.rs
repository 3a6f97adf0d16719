//! Pieces of replies several commands share: people and channels as native
//! mentions, a team's contact fields, link buttons, the context line.

use crate::catalog::model::EntityRef;
use crate::catalog::store::{EntityRow, LinkRow};
use crate::chat::{Element, Field, Span, Text};

/// A person, mentioned natively on platforms where their id is known.
pub fn person(row: &EntityRow) -> Span {
    Span::Person {
        name: row.label(),
        slack_id: row.slack_user_id.clone(),
        discord_id: row.discord_user_id.clone(),
    }
}

/// A team's chat channel, when it has one.
pub fn channel(team: &EntityRow) -> Option<Span> {
    if team.slack_channel.is_none() && team.discord_channel.is_none() {
        return None;
    }
    let slack = team.slack_channel.clone();
    let name = team
        .annotation("slack.com/channel")
        .or(team.annotation("usher.dev/slack-channel"))
        .map(str::to_string)
        .or_else(|| slack.clone())
        .or_else(|| team.discord_channel.clone())
        .unwrap_or_default();
    let slack_id = slack.filter(|c| is_slack_channel_id(c));
    Some(Span::Channel {
        name: name.trim_start_matches('#').to_string(),
        slack_id,
        discord_id: team.discord_channel.clone(),
    })
}

/// Slack channel ids look like `C0123ABCD` (public), `G…` (private).
pub fn is_slack_channel_id(text: &str) -> bool {
    text.len() >= 9
        && matches!(text.as_bytes()[0], b'C' | b'G')
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A button opening the team's channel, when its address is known.
pub fn channel_button(team: &EntityRow) -> Option<Element> {
    let slack = team
        .slack_channel
        .as_deref()
        .filter(|c| is_slack_channel_id(c));
    let name = match channel(team)? {
        Span::Channel { name, .. } => name,
        _ => return None,
    };
    slack.map(|id| Element::Link {
        label: format!("Open #{name}"),
        url: format!("https://slack.com/app_redirect?channel={id}"),
    })
}

/// "Jane Doe, Bo Li and 3 more".
pub fn people_text(people: &[EntityRow], max: usize) -> Text {
    let mut text = Text::new();
    for (i, p) in people.iter().take(max).enumerate() {
        if i > 0 {
            text = text.add_plain(if i + 1 == people.len().min(max) && people.len() <= max {
                " and "
            } else {
                ", "
            });
        }
        text = text.add_span(person(p));
        if !p.active {
            text = text.add_plain(" (inactive)");
        }
    }
    if people.len() > max {
        text = text.add_plain(format!(" and {} more", people.len() - max));
    }
    text
}

/// Contact fields for a team: channel, email, lead, members.
pub fn team_fields(
    team: &EntityRow,
    lead: Option<&EntityRow>,
    members: &[EntityRow],
) -> Vec<Field> {
    let mut fields = Vec::new();
    if let Some(span) = channel(team) {
        fields.push(Field {
            label: "Channel".to_string(),
            value: Text::new().add_span(span),
        });
    }
    if let Some(email) = &team.email {
        fields.push(Field {
            label: "Email".to_string(),
            value: Text::new().add_link(email.clone(), format!("mailto:{email}")),
        });
    }
    if let Some(lead) = lead {
        fields.push(Field {
            label: "Lead".to_string(),
            value: Text::new().add_span(person(lead)),
        });
    }
    let active = members.iter().filter(|m| m.active).count();
    let label = if active == members.len() {
        format!("Members ({})", members.len())
    } else {
        format!("Members ({active} active of {})", members.len())
    };
    fields.push(Field {
        label,
        value: if members.is_empty() {
            Text::plain("none recorded")
        } else {
            people_text(members, 5)
        },
    });
    fields
}

/// The lead: the `usher.dev/lead` annotation, else none.
pub fn find_lead<'a>(team: &EntityRow, members: &'a [EntityRow]) -> Option<&'a EntityRow> {
    let lead = team.lead_ref.as_deref()?;
    members.iter().find(|m| m.key == lead)
}

/// Link buttons, runbook first (what's needed at 3 a.m.), then docs,
/// repository, dashboards, the rest; at most `max`.
pub fn link_buttons(links: &[LinkRow], max: usize) -> Vec<Element> {
    let rank = |c: &str| match c {
        "runbook" => 0,
        "docs" => 1,
        "repository" => 2,
        "dashboard" => 3,
        "api" => 4,
        _ => 5,
    };
    let mut sorted: Vec<&LinkRow> = links.iter().collect();
    sorted.sort_by_key(|l| rank(&l.category));
    sorted
        .into_iter()
        .take(max)
        .map(|l| Element::Link {
            label: l.title.clone().unwrap_or_else(|| title_case(&l.category)),
            url: l.url.clone(),
        })
        .collect()
}

fn title_case(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// "component · production · tier 1 · system payments · deploy/demo/x.yaml:12".
pub fn context_line(row: &EntityRow) -> String {
    let mut parts = vec![match &row.spec_type {
        Some(t) => format!("{} ({t})", row.kind),
        None => row.kind.clone(),
    }];
    if let Some(l) = &row.lifecycle {
        parts.push(l.clone());
    }
    if let Some(t) = &row.tier {
        parts.push(if t.chars().all(|c| c.is_ascii_digit()) {
            format!("tier {t}")
        } else {
            t.clone()
        });
    }
    if let Some(system) = row.system_ref.as_deref().and_then(EntityRef::from_key) {
        parts.push(format!("system {}", system.short()));
    }
    parts.push(row.provenance());
    parts.join(" · ")
}
