//! Where a team's digest goes: its Slack and/or Discord channel (only
//! where this process posts), else its lead or members by DM, else nowhere
//! — with why and what to add.

use sqlx::PgPool;

use crate::actions::jobs;
use crate::config::Config;

/// Where a team's digest goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The team's channels: (platform, channel), Slack and/or Discord.
    Channels(Vec<(&'static str, String)>),
    /// Direct messages to these people.
    People(Vec<String>),
    /// Nowhere: why.
    Nowhere(String),
}

impl Destination {
    /// The outbox jobs: (kind, destination). A team on both platforms
    /// gets the digest on each.
    pub fn targets(&self, team: &str) -> Vec<(&'static str, String)> {
        match self {
            Destination::Channels(channels) if channels.len() > 1 => channels
                .iter()
                .map(|(platform, _)| {
                    let kind = if *platform == "slack" {
                        jobs::CHAT_SLACK
                    } else {
                        jobs::CHAT_DISCORD
                    };
                    (kind, format!("channel:{team}"))
                })
                .collect(),
            Destination::Channels(_) => vec![(jobs::CHAT, format!("channel:{team}"))],
            Destination::People(people) => people
                .iter()
                .map(|p| (jobs::CHAT, format!("dm:{p}")))
                .collect(),
            Destination::Nowhere(_) => Vec::new(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Destination::Channels(c) => c
                .iter()
                .map(|(platform, channel)| format!("the team's {platform} channel {channel}"))
                .collect::<Vec<_>>()
                .join(" and "),
            Destination::People(p) => format!("direct messages to {}", p.join(", ")),
            Destination::Nowhere(why) => format!("NOT DELIVERABLE: {why}"),
        }
    }
}

/// A team's name, Slack channel, Discord channel and lead.
type TeamRow = (String, Option<String>, Option<String>, Option<String>);

/// Where a team is reached.
pub async fn destination(
    pool: &PgPool,
    config: &Config,
    team: &str,
) -> Result<(String, Destination), sqlx::Error> {
    // A person may own services (Backstage allows a User as owner): their
    // digest comes to them directly.
    if team.starts_with("user:") {
        let person: Option<(String, bool)> = sqlx::query_as(
            "SELECT coalesce(nullif(title, ''), display_name, name), active AND deactivated_at IS NULL
             FROM entities WHERE ref = $1 AND kind = 'user'",
        )
        .bind(team)
        .fetch_optional(pool)
        .await?;
        return Ok(match person {
            Some((name, true)) => (name, Destination::People(vec![team.to_string()])),
            Some((name, false)) => (
                name,
                Destination::Nowhere(format!(
                    "{team} owns these services but has left; give them a team as owner (spec.owner)"
                )),
            ),
            None => (
                team.to_string(),
                Destination::Nowhere(format!(
                    "{team} is not a person in the catalog (fix the services' spec.owner, or add the User)"
                )),
            ),
        });
    }
    let row: Option<TeamRow> = sqlx::query_as(
        "SELECT coalesce(nullif(title, ''), name), slack_channel, discord_channel, lead_ref
         FROM entities WHERE ref = $1 AND kind = 'group'",
    )
    .bind(team)
    .fetch_optional(pool)
    .await?;
    let Some((name, slack, discord, lead)) = row else {
        return Ok((
            team.to_string(),
            Destination::Nowhere(format!(
                "{team} is not a team in the catalog (fix the services' spec.owner)"
            )),
        ));
    };
    let mut channels: Vec<(&'static str, String)> = [("slack", slack), ("discord", discord)]
        .into_iter()
        .filter_map(|(platform, c)| c.map(|c| (platform, c)))
        .collect();
    if let Some(on) = &config.hygiene.deliver_on
        && channels.iter().any(|(p, _)| on.iter().any(|o| o == p))
    {
        channels.retain(|(p, _)| on.iter().any(|o| o == p));
    }
    if !channels.is_empty() {
        return Ok((name, Destination::Channels(channels)));
    }
    let people: Vec<String> = if config.hygiene.fallback == "members" {
        sqlx::query_scalar(
            "SELECT u.ref FROM entities u WHERE u.kind = 'user' AND u.active AND u.deactivated_at IS NULL
               AND u.id IN (SELECT r.source_id FROM relations r WHERE r.target_ref = $1 AND r.type = 'memberOf'
                            UNION
                            SELECT m.id FROM entities g JOIN relations r ON r.source_id = g.id AND r.type = 'hasMember'
                            JOIN entities m ON m.ref = r.target_ref WHERE g.ref = $1)
             ORDER BY u.ref",
        )
        .bind(team)
        .fetch_all(pool)
        .await?
    } else {
        lead.into_iter().collect()
    };
    if people.is_empty() {
        let why = if config.hygiene.fallback == "members" {
            "the team has no channel (slack.com/channel-id or discord.com/channel-id) and no active members"
        } else {
            "the team has no channel (slack.com/channel-id or discord.com/channel-id) and no lead"
        };
        return Ok((name, Destination::Nowhere(why.into())));
    }
    Ok((name, Destination::People(people)))
}
