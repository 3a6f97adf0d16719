//! Digests: one message per owning team per round, never one per finding —
//! grouped by service, the worst first, one screen at most (then "and N
//! more — `hygiene <team>`") — and the round that sends them.
//!
//! A round is exactly once per team: the digest's row in `hygiene_digests`
//! (team, round) and its outbox job (idempotency key `hygiene:<team>:<round>`)
//! are written in one transaction, so two processes running the same round,
//! or one resuming after a crash, make one digest. A finding reported less
//! than `repeat_days` ago is not repeated, and a digest whose findings are
//! those of a digest the team got within `repeat_days` is not sent again.
//! A finding carried by `escalate_after` digests without a fix or a reason
//! is escalated once to the team's lead (or its parent team's channel).

mod destination;
mod message;

use std::collections::BTreeMap;

pub use destination::{Destination, destination};
pub use message::{render, scorecard_name};

use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

use super::{Finding, Scope, evaluate};
use crate::actions::jobs::{AdminReport, ChatMessage};
use crate::actions::outbox::{self, NewJob};
use crate::chat::{Action, ButtonStyle, Element, Reply, Text};
use crate::config::Config;
use crate::discovery::store::RepoAsk;

/// The end of `usher nag --dry-run`: how many digests reach someone and
/// how, and those that can't, grouped by why, with what to add.
pub fn summary(digests: &[TeamDigest]) -> String {
    let (mut channels, mut people) = (0, 0);
    let mut nowhere: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for d in digests {
        match &d.destination {
            Destination::Channels(_) => channels += 1,
            Destination::People(_) => people += 1,
            Destination::Nowhere(why) => nowhere
                .entry(why.replace(&d.team, "the owner"))
                .or_default()
                .push(&d.team),
        }
    }
    let unreachable: usize = nowhere.values().map(Vec::len).sum();
    let mut out = format!(
        "Summary: {} digest(s): {} reach their owners ({channels} in a channel, {people} by direct message), {unreachable} can't be delivered.\n",
        digests.len(),
        channels + people
    );
    for (why, owners) in &nowhere {
        let shown: Vec<&str> = owners.iter().take(6).copied().collect();
        out.push_str(&format!(
            "  {} — {}{}\n",
            why,
            shown.join(", "),
            if owners.len() > shown.len() {
                format!(" and {} more", owners.len() - shown.len())
            } else {
                String::new()
            }
        ));
    }
    if unreachable > 0 {
        out.push_str(
            "  To reach a team, add `slack.com/channel-id: C…` (or `discord.com/channel-id: …`) under its Group's metadata.annotations, or an `usher.dev/lead`; `usher status` lists each one with its file:line.\n",
        );
    }
    out
}

/// A team's digest.
#[derive(Debug, Clone)]
pub struct TeamDigest {
    pub team: String,
    /// What to type after `hygiene` for the owner's scorecard.
    pub typed: String,
    pub team_name: String,
    pub findings: Vec<Finding>,
    pub destination: Destination,
    pub reply: Reply,
    /// Every open finding of the team, (subject, rule), reported recently
    /// or not: what isn't here was fixed or set aside. A repository without
    /// a descriptor is one too (`repo:<source>/<name>`, [`UNDESCRIBED`]).
    pub open: Vec<(String, &'static str)>,
    /// The repositories that look like the team's and have no descriptor,
    /// asked about in this digest.
    pub repositories: Vec<RepoAsk>,
    /// Members who left (deprovisioned, deactivated) and haven't been
    /// named in a digest yet: (person ref, name).
    pub leavers: Vec<(String, String)>,
}

/// The "rule" for a member who left: named once in their team's digest.
pub const MEMBER_LEFT: &str = "member-left";

/// The "rule" a repository without a descriptor breaks, for the record of
/// what was reported when (it is asked about, never escalated).
pub const UNDESCRIBED: &str = "undescribed-repository";

/// A repository's subject in `hygiene_reported`.
fn repo_subject(repo: &RepoAsk) -> String {
    format!("repo:{}/{}", repo.source, repo.name)
}

impl TeamDigest {
    /// Identifies the set of findings (to skip an unchanged digest).
    pub fn hash(&self) -> String {
        let mut keys: Vec<String> = self
            .findings
            .iter()
            .map(|f| format!("{}|{}", f.service, f.rule.id))
            .chain(self.repositories.iter().map(repo_subject))
            .chain(self.leavers.iter().map(|(person, _)| person.clone()))
            .collect();
        keys.sort();
        hex::encode(Sha256::digest(keys.join("\n").as_bytes()))[..32].to_string()
    }
}

/// The digests a round would send (after dedupe), by team.
pub async fn build(
    pool: &PgPool,
    config: &Config,
    team: Option<&str>,
    dedupe: bool,
) -> Result<Vec<TeamDigest>, sqlx::Error> {
    let scope = Scope {
        team: team.map(str::to_string),
        service_id: None,
    };
    let findings = evaluate(pool, &config.hygiene, &scope).await?;
    let recent: std::collections::HashSet<(String, String, String)> = if dedupe {
        sqlx::query_as::<_, (String, String, String)>(
            "SELECT subject, rule, team_ref FROM hygiene_reported
             WHERE last_reported_at > now() - make_interval(days => $1::int)",
        )
        .bind(config.hygiene.repeat_days as i32)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect()
    } else {
        Default::default()
    };
    // Grouped by team without copying a finding: 100,000 services can have
    // 120,000 findings, and a round should stay small in memory.
    let mut by_team: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    let mut open: BTreeMap<String, Vec<(String, &'static str)>> = BTreeMap::new();
    let mut recent_key = (String::new(), String::new(), String::new());
    for f in findings {
        let team = f.owner.as_deref().unwrap_or(super::UNOWNED);
        match open.get_mut(team) {
            Some(list) => list.push((f.service.clone(), f.rule.id)),
            None => {
                open.insert(team.to_string(), vec![(f.service.clone(), f.rule.id)]);
            }
        }
        if !recent.is_empty() {
            recent_key.0.clone_from(&f.service);
            recent_key.1.clear();
            recent_key.1.push_str(f.rule.id);
            recent_key.2.clear();
            recent_key.2.push_str(team);
            if recent.contains(&recent_key) {
                continue;
            }
        }
        match by_team.get_mut(team) {
            Some(list) => list.push(f),
            None => {
                by_team.insert(team.to_string(), vec![f]);
            }
        }
    }
    // The repositories that look like each team's, asked about beside its
    // services (and, like findings, not again within `repeat_days`).
    let mut repos_by_team: BTreeMap<String, Vec<RepoAsk>> = BTreeMap::new();
    for (owner, repo) in crate::discovery::store::undescribed_for_digest(pool, team).await? {
        let subject = repo_subject(&repo);
        open.entry(owner.clone())
            .or_default()
            .push((subject.clone(), UNDESCRIBED));
        if recent.contains(&(subject, UNDESCRIBED.to_string(), owner.clone())) {
            continue;
        }
        by_team.entry(owner.clone()).or_default();
        repos_by_team.entry(owner).or_default().push(repo);
    }
    // Members who left, each named once in their team's digest.
    let mut leavers_by_team: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (owner, person, name, named_before) in left_members(pool, team).await? {
        open.entry(owner.clone())
            .or_default()
            .push((person.clone(), MEMBER_LEFT));
        if named_before {
            continue;
        }
        by_team.entry(owner.clone()).or_default();
        leavers_by_team
            .entry(owner)
            .or_default()
            .push((person, name));
    }
    let mut out = Vec::new();
    for (team, findings) in by_team {
        let (team_name, destination) = if team == super::UNOWNED {
            (
                team.clone(),
                Destination::Nowhere(
                    "these services have no owner to remind; the admins get them".into(),
                ),
            )
        } else {
            destination(pool, config, &team).await?
        };
        let typed = scorecard_name(pool, &team).await?;
        let repositories = repos_by_team.remove(&team).unwrap_or_default();
        let leavers = leavers_by_team.remove(&team).unwrap_or_default();
        let mut reply = render(
            &typed,
            &team_name,
            &findings,
            &repositories,
            config.hygiene.max_services,
        );
        if !leavers.is_empty() {
            reply = message::with_leavers(reply, &typed, &leavers);
        }
        out.push(TeamDigest {
            repositories,
            leavers,
            open: open.remove(&team).unwrap_or_default(),
            typed,
            team,
            team_name,
            findings,
            destination,
            reply,
        });
    }
    Ok(out)
}

/// What a round did.
#[derive(Debug, Default, Clone)]
pub struct RoundOutcome {
    pub sent: usize,
    pub unchanged: usize,
    pub already: usize,
    pub undeliverable: usize,
}

/// Sends a round's digests through the outbox (see the module docs).
pub async fn send_round(
    pool: &PgPool,
    config: &Config,
    round: &str,
    digests: &[TeamDigest],
) -> Result<RoundOutcome, sqlx::Error> {
    let mut outcome = RoundOutcome::default();
    for digest in digests {
        let hash = digest.hash();
        let last: Option<String> = sqlx::query_scalar(
            "SELECT findings_hash FROM hygiene_digests WHERE team_ref = $1 AND round <> $2
               AND created_at > now() - make_interval(days => $3::int)
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(&digest.team)
        .bind(round)
        .bind(config.hygiene.repeat_days as i32)
        .fetch_optional(pool)
        .await?;
        if last.as_deref() == Some(hash.as_str()) {
            outcome.unchanged += 1;
            continue;
        }
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO hygiene_digests (team_ref, round, findings_hash, findings, destination)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&digest.team)
        .bind(round)
        .bind(&hash)
        .bind(digest.findings.len() as i32)
        .bind(digest.destination.describe())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            outcome.already += 1;
            continue;
        }
        let targets = digest.destination.targets(&digest.team);
        if targets.is_empty() {
            outcome.undeliverable += 1;
            let report = AdminReport {
                job: 0,
                kind: "catalog check-up digest".into(),
                destination: digest.team.clone(),
                error: format!(
                    "{} ({} findings)",
                    digest.destination.describe(),
                    digest.findings.len()
                ),
                attempts: 0,
            };
            outbox::enqueue(
                &mut tx,
                &NewJob::new(
                    "admins",
                    &report,
                    format!("hygiene-undeliverable:{}:{round}", digest.team),
                ),
                config.outbox.max_attempts,
            )
            .await?;
        } else {
            outcome.sent += 1;
        }
        for (kind, target) in targets {
            outbox::enqueue(
                &mut tx,
                &NewJob::as_kind(
                    kind,
                    target.clone(),
                    &ChatMessage::whole(&digest.reply),
                    format!("hygiene:{}:{round}:{target}:{kind}", digest.team),
                ),
                config.outbox.max_attempts,
            )
            .await?;
        }
        let subjects: Vec<String> = digest
            .findings
            .iter()
            .map(|f| f.service.clone())
            .chain(digest.repositories.iter().map(repo_subject))
            .chain(digest.leavers.iter().map(|(person, _)| person.clone()))
            .collect();
        let rules: Vec<String> = digest
            .findings
            .iter()
            .map(|f| f.rule.id.to_string())
            .chain(digest.repositories.iter().map(|_| UNDESCRIBED.to_string()))
            .chain(digest.leavers.iter().map(|_| MEMBER_LEFT.to_string()))
            .collect();
        // Fixed or set aside since: counting starts again.
        let (open_subjects, open_rules): (Vec<&str>, Vec<&str>) =
            digest.open.iter().map(|(s, r)| (s.as_str(), *r)).unzip();
        sqlx::query(
            "DELETE FROM hygiene_reported h WHERE h.team_ref = $3
               AND NOT EXISTS (SELECT 1 FROM UNNEST($1::text[], $2::text[]) AS o(s, r)
                               WHERE o.s = h.subject AND o.r = h.rule)",
        )
        .bind(&open_subjects)
        .bind(&open_rules)
        .bind(&digest.team)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO hygiene_reported (subject, rule, team_ref, last_reported_at)
             SELECT s, r, $3, now() FROM UNNEST($1::text[], $2::text[]) AS t(s, r)
             ON CONFLICT (subject, rule, team_ref) DO UPDATE
             SET last_reported_at = now(), times = hygiene_reported.times + 1",
        )
        .bind(&subjects)
        .bind(&rules)
        .bind(&digest.team)
        .execute(&mut *tx)
        .await?;
        if config.hygiene.escalate_after > 0 {
            escalate(&mut tx, pool, config, round, digest).await?;
        }
        tx.commit().await?;
    }
    Ok(outcome)
}

/// The teams' members who left — inactive in the catalog (deprovisioned
/// by the directory, `active: false`) or deactivated in chat: (team ref,
/// person ref, name, named in a digest before).
async fn left_members(
    pool: &PgPool,
    team: Option<&str>,
) -> Result<Vec<(String, String, String, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT r.target_ref, u.ref, coalesce(nullif(u.display_name, ''), u.name),
                EXISTS (SELECT 1 FROM hygiene_reported h WHERE h.subject = u.ref
                        AND h.rule = 'member-left' AND h.team_ref = r.target_ref)
         FROM entities u JOIN relations r ON r.source_id = u.id AND r.type = 'memberOf'
         WHERE u.kind = 'user' AND (NOT u.active OR u.deactivated_at IS NOT NULL)
           AND ($1::text IS NULL OR r.target_ref = $1)
         ORDER BY 1, 3",
    )
    .bind(team)
    .fetch_all(pool)
    .await
}

/// Findings carried by `escalate_after` digests without change go, once,
/// to the team's lead — or, without one, to the parent team's channel.
async fn escalate(
    tx: &mut sqlx::PgConnection,
    pool: &PgPool,
    config: &Config,
    round: &str,
    digest: &TeamDigest,
) -> Result<(), sqlx::Error> {
    let ignored: Vec<(String, String, i32)> = sqlx::query_as(
        "UPDATE hygiene_reported SET escalated_at = now()
         WHERE team_ref = $1 AND times >= $2 AND escalated_at IS NULL
           AND rule NOT IN ('undescribed-repository', 'member-left')
         RETURNING subject, rule, times",
    )
    .bind(&digest.team)
    .bind(config.hygiene.escalate_after)
    .fetch_all(&mut *tx)
    .await?;
    if ignored.is_empty() {
        return Ok(());
    }
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT lead_ref, parent_ref FROM entities WHERE ref = $1")
            .bind(&digest.team)
            .fetch_optional(pool)
            .await?;
    let (lead, parent) = row.unwrap_or((None, None));
    let destination = match (lead, parent) {
        (Some(lead), _) => format!("dm:{lead}"),
        (None, Some(parent)) => format!("channel:{parent}"),
        (None, None) => "admins".to_string(),
    };
    let mut text = Text::new().add_plain(format!(
        "{} has had {} finding{} in {} digests in a row without a fix or a reason:",
        digest.team_name,
        ignored.len(),
        if ignored.len() == 1 { "" } else { "s" },
        config.hygiene.escalate_after
    ));
    for (subject, rule, _) in ignored.iter().take(10) {
        let message = super::rules::find(rule).map(|r| r.message).unwrap_or("");
        text = text
            .add_plain("\n• ")
            .add_bold(subject.clone())
            .add_plain(format!(" {message} ({rule})"));
    }
    if ignored.len() > 10 {
        text = text.add_plain(format!("\n… and {} more", ignored.len() - 10));
    }
    let team_short = &digest.typed;
    let reply = Reply::new()
        .header(format!("Catalog check-up ignored: {}", digest.team_name))
        .section(text)
        .context(Text::plain(format!(
            "`hygiene {team_short}` shows the scorecard. Snoozing or marking a finding as not applicable (with a reason) counts as an answer."
        )))
        .actions(vec![Element::Button {
            label: format!("Open {team_short}'s scorecard"),
            action: Action::run(format!("hygiene {team_short}")),
            style: ButtonStyle::Primary,
        }])
        .public();
    let key = format!("hygiene-escalation:{}:{round}", digest.team);
    let job = if destination == "admins" {
        let report = AdminReport {
            job: 0,
            kind: "catalog check-up escalation".into(),
            destination: digest.team.clone(),
            error: "the team has no lead and no parent team to escalate to".into(),
            attempts: 0,
        };
        NewJob::new(destination, &report, key)
    } else {
        NewJob::new(destination, &ChatMessage::whole(&reply), key)
    };
    outbox::enqueue(tx, &job, config.outbox.max_attempts).await?;
    Ok(())
}
