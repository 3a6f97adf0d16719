//! Who is on call: from usher's own rotations, PagerDuty or Opsgenie —
//! chosen per service (or its owning team) from the catalog — behind one
//! answer type, with a short cache, a time box, and the last known answer
//! (with its age) when a provider is down or slow.

pub mod opsgenie;
pub mod pagerduty;
pub mod paging;
pub use crate::rotation;
pub mod snapshot;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::catalog::store::EntityRow;
use crate::config::OncallConfig;
use rotation::{Override, Rotation};

/// Which provider answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Native,
    PagerDuty,
    Opsgenie,
}

impl ProviderKind {
    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::Native => "usher rotation",
            ProviderKind::PagerDuty => "PagerDuty",
            ProviderKind::Opsgenie => "Opsgenie",
        }
    }
}

/// Someone on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Responder {
    pub name: String,
    pub email: Option<String>,
    /// The catalog person, when known (for mentions).
    pub person: Option<String>,
    /// When their shift ends.
    pub until: Option<DateTime<Utc>>,
}

/// One escalation level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub level: u32,
    pub responders: Vec<Responder>,
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCall {
    pub provider: ProviderKind,
    /// What was asked (a PagerDuty service id, an Opsgenie schedule, a
    /// team ref).
    pub target: String,
    pub levels: Vec<Level>,
    /// Who is next, and from when.
    pub next: Option<(Responder, Option<DateTime<Utc>>)>,
}

impl OnCall {
    pub fn primary(&self) -> Option<&Responder> {
        self.levels.first().and_then(|l| l.responders.first())
    }
}

/// Why a provider couldn't answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    Unavailable(String),
    #[error("rate limited; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    /// The provider refused what was sent (400, 402, 422): sending it
    /// again can't help.
    #[error("{0}")]
    Rejected(String),
}

/// Where a service's on-call comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    PagerDuty {
        service_id: String,
    },
    Opsgenie {
        schedule: String,
        team: Option<String>,
    },
    Native {
        team_ref: String,
    },
    /// A PagerDuty integration key only: paging works, "who" doesn't.
    PagingOnly,
    None,
}

/// The on-call source of an entity: its own annotations first, then its
/// owning team's rotation and annotations.
pub async fn source_for(
    reader: &crate::catalog::store::Reader<'_>,
    entity: &EntityRow,
    team: Option<&EntityRow>,
) -> Result<Source, sqlx::Error> {
    let schedule_of = |row: &EntityRow| {
        row.annotation("usher.dev/opsgenie-schedule")
            .map(str::to_string)
            .or_else(|| row.opsgenie_team.as_ref().map(|t| format!("{t}_schedule")))
    };
    if let Some(id) = &entity.pagerduty_service_id {
        return Ok(Source::PagerDuty {
            service_id: id.clone(),
        });
    }
    if let Some(schedule) = schedule_of(entity) {
        return Ok(Source::Opsgenie {
            schedule,
            team: entity.opsgenie_team.clone(),
        });
    }
    let team_ref = if entity.kind == "group" {
        Some(entity.key.clone())
    } else {
        entity.owner_ref.clone()
    };
    if let Some(team_ref) = &team_ref
        && reader.has_rotation(team_ref).await?
    {
        return Ok(Source::Native {
            team_ref: team_ref.clone(),
        });
    }
    if let Some(team) = team.filter(|t| t.kind == "group") {
        if let Some(id) = &team.pagerduty_service_id {
            return Ok(Source::PagerDuty {
                service_id: id.clone(),
            });
        }
        if let Some(schedule) = schedule_of(team) {
            return Ok(Source::Opsgenie {
                schedule,
                team: team.opsgenie_team.clone(),
            });
        }
    }
    if entity.pagerduty_integration_key.is_some() {
        return Ok(Source::PagingOnly);
    }
    Ok(Source::None)
}

/// Loads a team's rotation with its overrides still to come or running.
pub async fn load_rotation(
    reader: &crate::catalog::store::Reader<'_>,
    team_ref: &str,
    now: DateTime<Utc>,
) -> Result<Option<Rotation>, sqlx::Error> {
    let Some(row) = reader
        .rotation(team_ref, now - chrono::Duration::days(1))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Rotation {
        people: row.people,
        length_days: row.length_days as u32,
        handoff: row.handoff,
        tz: row.timezone.parse().unwrap_or(chrono_tz::UTC),
        start: row.start_date,
        overrides: row
            .overrides
            .into_iter()
            .map(|(person, from, to)| Override { person, from, to })
            .collect(),
    }))
}

/// What `oncall` and friends get back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Answer(OnCall),
    /// The provider is down or slow: the last known answer and its age.
    Stale {
        answer: OnCall,
        fetched_at: DateTime<Utc>,
        why: String,
    },
    /// No answer and none known; `transient` when trying again may help
    /// (a timeout, a 5xx), not when usher lacks credentials.
    Unavailable {
        why: String,
        transient: bool,
    },
    PagingOnly,
    NotConfigured,
}

/// The providers and the per-target cache of one process.
pub struct OnCallService {
    pub config: OncallConfig,
    pub pagerduty: pagerduty::PagerDuty,
    pub opsgenie: opsgenie::Opsgenie,
    cache: Mutex<HashMap<String, (Instant, OnCall)>>,
}

impl OnCallService {
    /// Providers with the tokens named in the configuration's environment
    /// variables.
    pub fn new(config: OncallConfig) -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (pd, og) = (
            env(&config.pagerduty_token_env),
            env(&config.opsgenie_key_env),
        );
        OnCallService::with_credentials(config, pd, og)
    }

    /// Providers with the given tokens (tests).
    pub fn with_credentials(
        config: OncallConfig,
        pagerduty_token: Option<String>,
        opsgenie_key: Option<String>,
    ) -> Self {
        let client = crate::actions::token_client(Duration::from_secs(5), Duration::from_secs(10));
        OnCallService {
            pagerduty: pagerduty::PagerDuty::new(
                client.clone(),
                &config.pagerduty_api_url,
                &config.pagerduty_events_url,
                pagerduty_token,
            ),
            opsgenie: opsgenie::Opsgenie::new(client, &config.opsgenie_api_url, opsgenie_key),
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A remembered provider answer, and its age.
    fn cached(&self, key: &str) -> Option<(OnCall, Duration)> {
        let ttl = Duration::from_secs(self.config.cache_secs);
        let cache = self.cache.lock().ok()?;
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(at, answer)| (answer.clone(), at.elapsed()))
    }

    fn remember(&self, key: &str, answer: &OnCall) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key.to_string(), (Instant::now(), answer.clone()));
        }
    }

    /// Who is on call for `source` at `now`.
    pub async fn lookup(
        &self,
        reader: &crate::catalog::store::Reader<'_>,
        source: &Source,
        now: DateTime<Utc>,
    ) -> Result<Lookup, sqlx::Error> {
        let pool = reader.pool;
        let (key, call) = match source {
            Source::None => return Ok(Lookup::NotConfigured),
            Source::PagingOnly => return Ok(Lookup::PagingOnly),
            Source::Native { team_ref } => {
                let Some(rotation) = load_rotation(reader, team_ref, now).await? else {
                    return Ok(Lookup::NotConfigured);
                };
                let answer = native_answer(reader, team_ref, &rotation, now).await?;
                // True until the next hand-off.
                let hand_offs = answer
                    .levels
                    .iter()
                    .flat_map(|l| l.responders.iter().filter_map(|r| r.until))
                    .chain(answer.next.iter().filter_map(|n| n.1));
                if let Some(first) = hand_offs.min() {
                    crate::catalog::store::record_expiry(first);
                }
                return Ok(Lookup::Answer(answer));
            }
            Source::PagerDuty { service_id } => (format!("pagerduty:{service_id}"), source.clone()),
            Source::Opsgenie { schedule, .. } => (format!("opsgenie:{schedule}"), source.clone()),
        };
        // A provider's answer is as good as its cache says.
        let provider_answer_lasts = chrono::Duration::seconds(self.config.cache_secs as i64);
        if let Some((answer, age)) = self.cached(&key) {
            crate::catalog::store::record_expiry(
                now + provider_answer_lasts - chrono::Duration::from_std(age).unwrap_or_default(),
            );
            return Ok(Lookup::Answer(answer));
        }
        let budget = Duration::from_millis(self.config.timeout_ms);
        let fetched = tokio::time::timeout(budget, async {
            match &call {
                Source::PagerDuty { service_id } => {
                    self.pagerduty.oncall_for_service(service_id).await
                }
                Source::Opsgenie { schedule, .. } => {
                    self.opsgenie.oncall_for_schedule(schedule).await
                }
                _ => unreachable!("only remote sources get here"),
            }
        })
        .await;
        let (error, transient) = match fetched {
            Ok(Ok(mut answer)) => {
                crate::catalog::store::record_expiry(now + provider_answer_lasts);
                link_people(pool, &mut answer).await?;
                self.remember(&key, &answer);
                sqlx::query(
                    "INSERT INTO oncall_last_known (target, answer, fetched_at) VALUES ($1, $2, $3)
                     ON CONFLICT (target) DO UPDATE SET answer = EXCLUDED.answer, fetched_at = EXCLUDED.fetched_at",
                )
                .bind(&key)
                .bind(serde_json::to_value(&answer).unwrap_or_default())
                .bind(now)
                .execute(pool)
                .await?;
                return Ok(Lookup::Answer(answer));
            }
            Ok(Err(e)) => {
                let transient = matches!(
                    e,
                    ProviderError::Unavailable(_) | ProviderError::RateLimited { .. }
                );
                (e.to_string(), transient)
            }
            Err(_) => (
                format!(
                    "{} didn't answer within {:.1} s",
                    match source {
                        Source::Opsgenie { .. } => "Opsgenie",
                        _ => "PagerDuty",
                    },
                    budget.as_secs_f64()
                ),
                true,
            ),
        };
        if transient {
            // Asked again soon: the provider may be back.
            crate::catalog::store::record_expiry(now + chrono::Duration::seconds(30));
            tracing::warn!(target = %key, error = %error, "on-call provider failed");
        } else {
            tracing::debug!(target = %key, error = %error, "on-call provider refused");
        }
        let last: Option<(sqlx::types::Json<OnCall>, DateTime<Utc>)> =
            sqlx::query_as("SELECT answer, fetched_at FROM oncall_last_known WHERE target = $1")
                .bind(&key)
                .fetch_optional(pool)
                .await?;
        Ok(match last {
            Some((answer, fetched_at)) => Lookup::Stale {
                answer: answer.0,
                fetched_at,
                why: error,
            },
            None => Lookup::Unavailable {
                why: error,
                transient,
            },
        })
    }
}

/// A native rotation's answer: now, and who's next.
async fn native_answer(
    reader: &crate::catalog::store::Reader<'_>,
    team_ref: &str,
    rotation: &Rotation,
    now: DateTime<Utc>,
) -> Result<OnCall, sqlx::Error> {
    let current = rotation.at(now);
    let next = rotation.next(now);
    let keys: Vec<String> = current
        .iter()
        .chain(next.iter())
        .map(|s| s.person.clone())
        .collect();
    let names: HashMap<String, (String, Option<String>)> = reader
        .find_by_refs(&keys)
        .await?
        .into_iter()
        .map(|r| (r.key, (r.display_name.unwrap_or(r.name), r.email)))
        .collect();
    let responder = |key: &str, until: Option<DateTime<Utc>>| {
        let (name, email) = names
            .get(key)
            .cloned()
            .unwrap_or_else(|| (key.rsplit('/').next().unwrap_or(key).to_string(), None));
        Responder {
            name,
            email,
            person: Some(key.to_string()),
            until,
        }
    };
    Ok(OnCall {
        provider: ProviderKind::Native,
        target: team_ref.to_string(),
        levels: current
            .iter()
            .map(|s| Level {
                level: 1,
                responders: vec![responder(&s.person, Some(s.until))],
            })
            .collect(),
        next: next.map(|s| (responder(&s.person, Some(s.until)), Some(s.from))),
    })
}

/// Matches a provider's people to catalog persons by email, for mentions.
async fn link_people(pool: &PgPool, answer: &mut OnCall) -> Result<(), sqlx::Error> {
    let emails: Vec<String> = answer
        .levels
        .iter()
        .flat_map(|l| l.responders.iter())
        .chain(answer.next.iter().map(|n| &n.0))
        .filter_map(|r| r.email.clone())
        .map(|e| e.to_lowercase())
        .collect();
    if emails.is_empty() {
        return Ok(());
    }
    let found: HashMap<String, (String, String)> = sqlx::query_as::<_, (String, String, String)>(
        "SELECT lower(email), ref, coalesce(display_name, name) FROM entities WHERE kind = 'user' AND lower(email) = ANY($1)",
    )
    .bind(&emails)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(e, r, n)| (e, (r, n)))
    .collect();
    let mut fix = |r: &mut Responder| {
        if let Some((key, name)) = r.email.as_ref().and_then(|e| found.get(&e.to_lowercase())) {
            r.person = Some(key.clone());
            if r.name.contains('@') {
                r.name = name.clone();
            }
        }
    };
    for level in &mut answer.levels {
        level.responders.iter_mut().for_each(&mut fix);
    }
    if let Some((next, _)) = &mut answer.next {
        fix(next);
    }
    Ok(())
}
