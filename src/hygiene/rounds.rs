//! When rounds run: `hygiene.schedule` in `hygiene.timezone` for every
//! team, or a team's own (`usher.dev/hygiene-schedule` and
//! `usher.dev/timezone` annotations on its Group), skipping quiet days
//! (`hygiene.quiet_days`, `hygiene.holidays`) in that time zone.
//!
//! A round is named by its slot in UTC (`2026-11-30T09:00Z`), so every
//! `usher serve` computes the same name and `digest::send_round` makes one
//! digest per team whichever process gets there. A process starting looks
//! back an hour, so a round missed by a restart or a crash still runs (and
//! one already sent is not sent again).

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgPool;
use tokio::sync::watch;

use super::digest;
use crate::clock::Clock;
use crate::config::Config;
use crate::schedule::Schedule;

/// Which teams a round is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Teams {
    /// Every team without a schedule of its own.
    AllExcept(Vec<String>),
    Only(String),
}

/// A round that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub round: String,
    pub at: DateTime<Utc>,
    pub teams: Teams,
}

/// Teams with a schedule of their own: (team, schedule, time zone).
pub async fn team_schedules(pool: &PgPool) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ref, coalesce(annotations->>'usher.dev/hygiene-schedule', ''),
                coalesce(annotations->>'usher.dev/timezone', '')
         FROM entities WHERE kind = 'group'
           AND (annotations ? 'usher.dev/hygiene-schedule' OR annotations ? 'usher.dev/timezone')
         ORDER BY ref",
    )
    .fetch_all(pool)
    .await
}

/// Whether a slot falls on a quiet day in its time zone.
pub fn quiet(config: &Config, schedule: &Schedule, at: DateTime<Utc>) -> bool {
    let local = at.with_timezone(&schedule.tz());
    let weekday = local.weekday().to_string().to_lowercase();
    let date = local.date_naive().to_string();
    config
        .hygiene
        .quiet_days
        .iter()
        .any(|d| weekday.starts_with(&d.trim().to_lowercase()[..3.min(d.trim().len())]))
        || config.hygiene.holidays.iter().any(|h| h.trim() == date)
}

/// The rounds due in (`from`, `to`].
pub fn due(
    config: &Config,
    teams: &[(String, String, String)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Due> {
    let mut out = Vec::new();
    let mut slots = |schedule: &Schedule, who: Teams| {
        let mut t = from;
        while let Some(next) = schedule.next_after(t) {
            if next > to {
                break;
            }
            if !quiet(config, schedule, next) {
                out.push(Due {
                    round: next.format("%Y-%m-%dT%H:%MZ").to_string(),
                    at: next,
                    teams: who.clone(),
                });
            }
            t = next;
        }
    };
    if let Ok(default) = Schedule::parse(&config.hygiene.schedule, &config.hygiene.timezone) {
        slots(
            &default,
            Teams::AllExcept(teams.iter().map(|(t, _, _)| t.clone()).collect()),
        );
    }
    for (team, text, tz) in teams {
        let text = if text.trim().is_empty() {
            &config.hygiene.schedule
        } else {
            text
        };
        let tz = if tz.trim().is_empty() {
            &config.hygiene.timezone
        } else {
            tz
        };
        match Schedule::parse(text, tz) {
            Ok(schedule) => slots(&schedule, Teams::Only(team.clone())),
            Err(why) => {
                tracing::warn!(team = %team, why = %why, "hygiene: a team's own schedule is invalid; it gets the default")
            }
        }
    }
    out.sort_by_key(|d| d.at);
    out
}

/// Runs the rounds due in (`from`, `to`]; returns what each did.
pub async fn run_due(
    pool: &PgPool,
    config: &Config,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Due, digest::RoundOutcome)>, sqlx::Error> {
    let teams = team_schedules(pool).await?;
    let mut done = Vec::new();
    for due in due(config, &teams, from, to) {
        let digests = match &due.teams {
            Teams::Only(team) => digest::build(pool, config, Some(team), true).await?,
            Teams::AllExcept(own) => digest::build(pool, config, None, true)
                .await?
                .into_iter()
                .filter(|d| !own.contains(&d.team))
                .collect(),
        };
        let outcome = digest::send_round(pool, config, &due.round, &digests).await?;
        tracing::info!(round = %due.round, sent = outcome.sent, unchanged = outcome.unchanged, already = outcome.already, undeliverable = outcome.undeliverable, "hygiene: round");
        done.push((due, outcome));
    }
    Ok(done)
}

/// How often the hygiene gauges of `/metrics` are recomputed.
const GAUGES_EVERY: Duration = Duration::from_secs(15 * 60);

/// Findings by rule and by team, for `/metrics`.
pub async fn refresh_gauges(pool: &PgPool, config: &Config) -> Result<(), sqlx::Error> {
    let cards = super::scorecards(pool, &config.hygiene, &super::Scope::default()).await?;
    let mut by_rule: std::collections::BTreeMap<&'static str, usize> =
        super::rules::all().iter().map(|r| (r.id, 0)).collect();
    let mut by_team: std::collections::BTreeMap<String, usize> = Default::default();
    for card in &cards {
        for rule in &card.broken {
            *by_rule.entry(rule.id).or_default() += 1;
            *by_team
                .entry(card.owner.clone().unwrap_or_else(|| super::UNOWNED.into()))
                .or_default() += 1;
        }
    }
    crate::metrics::hygiene(
        &by_rule.into_iter().collect::<Vec<_>>(),
        &by_team.into_iter().collect::<Vec<_>>(),
    );
    Ok(())
}

/// Runs rounds as they come due, until `stop`.
pub async fn run(
    pool: PgPool,
    config: std::sync::Arc<Config>,
    clock: std::sync::Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    if !config.hygiene.enabled {
        tracing::info!(
            "hygiene: scheduled rounds are off (hygiene.enabled = false); /metrics still gets the findings"
        );
    }
    let mut checked = clock.now() - chrono::Duration::hours(1);
    let mut gauges_at: Option<std::time::Instant> = None;
    loop {
        if gauges_at.is_none_or(|t| t.elapsed() >= GAUGES_EVERY) {
            gauges_at = Some(std::time::Instant::now());
            if let Err(e) = refresh_gauges(&pool, &config).await {
                tracing::warn!(error = %e, "hygiene: the metrics could not be refreshed");
            }
        }
        let now = clock.now();
        if config.hygiene.enabled {
            match run_due(&pool, &config, checked, now).await {
                Ok(_) => checked = now,
                Err(e) => tracing::warn!(error = %e, "hygiene: a round failed; it is tried again"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn rounds_come_at_local_times_across_dst_and_skip_quiet_days() {
        let mut config = Config::default();
        config.hygiene.timezone = "Europe/Berlin".into();
        config.hygiene.holidays = vec!["2026-12-24".into()];
        // Mon 23 – Sun 29 March 2026; Berlin moves to summer time on the 29th.
        let due = due(&config, &[], utc(2026, 3, 22, 0, 0), utc(2026, 3, 31, 0, 0));
        let rounds: Vec<&str> = due.iter().map(|d| d.round.as_str()).collect();
        assert_eq!(
            rounds,
            [
                "2026-03-23T09:00Z", // 10:00 CET
                "2026-03-24T09:00Z",
                "2026-03-25T09:00Z",
                "2026-03-26T09:00Z",
                "2026-03-27T09:00Z",
                // the weekend is quiet
                "2026-03-30T08:00Z", // 10:00 CEST
            ]
        );
        // A holiday in the schedule's zone is quiet.
        let xmas = super::due(
            &config,
            &[],
            utc(2026, 12, 23, 12, 0),
            utc(2026, 12, 25, 12, 0),
        );
        assert_eq!(
            xmas.iter().map(|d| d.round.as_str()).collect::<Vec<_>>(),
            ["2026-12-25T09:00Z"]
        );
    }

    #[test]
    fn a_team_with_its_own_schedule_is_left_out_of_the_default() {
        let config = Config::default();
        let teams = vec![(
            "group:default/team-tokyo".to_string(),
            "30 9 * * mon-fri".to_string(),
            "Asia/Tokyo".to_string(),
        )];
        let due = due(
            &config,
            &teams,
            utc(2026, 11, 30, 0, 0),
            utc(2026, 11, 30, 23, 0),
        );
        assert_eq!(due.len(), 2, "{due:?}");
        assert_eq!(due[0].round, "2026-11-30T00:30Z");
        assert_eq!(due[0].teams, Teams::Only("group:default/team-tokyo".into()));
        assert_eq!(due[1].round, "2026-11-30T10:00Z");
        assert_eq!(
            due[1].teams,
            Teams::AllExcept(vec!["group:default/team-tokyo".into()])
        );
    }
}
