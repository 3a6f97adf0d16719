//! Paging the on-call person: through PagerDuty's Events API, an Opsgenie
//! alert, or — for usher's own rotations — a mention in the team's channel
//! and a direct message. Every page is an outbox job (so a crash retries and
//! a double click pages once: the dedup key is the idempotency key), is
//! audit-logged, and is rate-limited per person and per service.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::{OnCallService, ProviderError, Source};
use crate::actions::jobs::{ChatMessage, OpsgenieAlert, PageDetails, PagerDutyTrigger};
use crate::actions::outbox::{self, Job, NewJob, SendError, SendFuture, Sender};
use crate::catalog::store::EntityRow;

/// What came of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paged {
    Sent {
        via: String,
        dedup_key: String,
    },
    /// The same page (service, reason) went out moments ago.
    AlreadySent {
        via: String,
    },
    Refused(String),
}

/// A page's dedup key: the same service and reason within ten minutes is
/// the same page, whoever clicks.
pub fn dedup_key(service: &str, reason: &str, now: DateTime<Utc>) -> String {
    let bucket = now.timestamp() / 600;
    let normalised = reason
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    hex::encode(&Sha256::digest(format!("{service}\n{normalised}\n{bucket}").as_bytes())[..12])
}

/// Pages whoever is on call for `service`. `on_call` is the native
/// rotation's current person, when that is the source.
#[allow(clippy::too_many_arguments)]
pub async fn page(
    pool: &PgPool,
    max_attempts: i32,
    source: &Source,
    service: &EntityRow,
    team: Option<&EntityRow>,
    on_call: Option<&str>,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Paged, sqlx::Error> {
    let dedup = dedup_key(&service.key, reason, now);
    let summary = format!("{}: {reason} (paged by {actor} via usher)", service.short());
    let (via, jobs): (String, Vec<NewJob>) = match source {
        Source::PagerDuty { .. } | Source::PagingOnly => {
            let Some(key) = service
                .pagerduty_integration_key
                .clone()
                .or_else(|| team.and_then(|t| t.pagerduty_integration_key.clone()))
            else {
                return Ok(Paged::Refused(format!(
                    "{} has a PagerDuty service but no integration key to page it with: add the pagerduty.com/integration-key annotation to its descriptor ({}).",
                    service.short(),
                    service.provenance()
                )));
            };
            (
                "PagerDuty".into(),
                vec![NewJob::new(
                    "pagerduty",
                    &PagerDutyTrigger {
                        routing_key: key,
                        dedup_key: dedup.clone(),
                        summary,
                        source: service.key.clone(),
                        details: PageDetails {
                            reason: reason.to_string(),
                            paged_by: actor.to_string(),
                        },
                    },
                    format!("page:{dedup}:pagerduty"),
                )],
            )
        }
        Source::Opsgenie { team: og_team, .. } => (
            "Opsgenie".into(),
            vec![NewJob::new(
                "opsgenie",
                &OpsgenieAlert {
                    team: og_team.clone(),
                    alias: dedup.clone(),
                    message: summary,
                    description: format!(
                        "{reason}\n\nService: {} — paged by {actor} via usher.",
                        service.key
                    ),
                },
                format!("page:{dedup}:opsgenie"),
            )],
        ),
        Source::Native { team_ref } => {
            let Some(person) = on_call else {
                return Ok(Paged::Refused(
                    "Nobody is on call in the team's rotation right now.".into(),
                ));
            };
            let text = format!(
                "🚨 Page for {}: {reason} — paged by {actor}.",
                service.short()
            );
            (
                "the team's channel and a direct message".into(),
                vec![
                    NewJob::new(
                        format!("channel:{team_ref}"),
                        &ChatMessage {
                            mention: Some(person.to_string()),
                            service: Some(service.key.clone()),
                            ..ChatMessage::text(text.clone())
                        },
                        format!("page:{dedup}:channel"),
                    ),
                    NewJob::new(
                        format!("dm:{person}"),
                        &ChatMessage {
                            service: Some(service.key.clone()),
                            ..ChatMessage::text(text)
                        },
                        format!("page:{dedup}:dm"),
                    ),
                ],
            )
        }
        Source::None => {
            return Ok(Paged::Refused(format!(
                "There's no on-call for {} to page: no PagerDuty or Opsgenie annotation, and its team has no usher rotation (`oncall set`).",
                service.short()
            )));
        }
    };
    let mut tx = pool.begin().await?;
    let mut fresh = false;
    for job in &jobs {
        fresh |= outbox::enqueue(&mut tx, job, max_attempts).await?;
    }
    if !fresh {
        tx.rollback().await?;
        return Ok(Paged::AlreadySent { via });
    }
    sqlx::query("INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, 'oncall.page', $3, $4)")
        .bind(now)
        .bind(actor)
        .bind(&service.key)
        .bind(json!({ "reason": reason, "via": via, "dedup_key": dedup, "on_call": on_call }))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Paged::Sent {
        via,
        dedup_key: dedup,
    })
}

/// Pages sent in the last hour by `actor` and for `service`.
pub async fn recent_pages(
    pool: &PgPool,
    actor: &str,
    service: &str,
    now: DateTime<Utc>,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE actor = $1), count(*) FILTER (WHERE subject = $2)
         FROM audit_log WHERE action = 'oncall.page' AND at > $3 - interval '1 hour'",
    )
    .bind(actor)
    .bind(service)
    .bind(now)
    .fetch_one(pool)
    .await
}

fn send_error(e: ProviderError) -> SendError {
    match e {
        ProviderError::Unavailable(why) => SendError::Retry(why),
        ProviderError::RateLimited { retry_after_secs } => {
            SendError::Retry(format!("rate limited; retry in {retry_after_secs} s"))
        }
        ProviderError::Unauthorized(why)
        | ProviderError::NotFound(why)
        | ProviderError::Rejected(why) => SendError::Permanent(why),
    }
}

/// Delivers PagerDuty triggers from the outbox.
pub struct PagerDutySender(pub Arc<OnCallService>);

impl Sender for PagerDutySender {
    fn send<'a>(&'a self, job: &'a Job) -> SendFuture<'a> {
        Box::pin(async move {
            let p: PagerDutyTrigger = job.decode()?;
            let details = serde_json::to_value(&p.details).unwrap_or_default();
            self.0
                .pagerduty
                .trigger(&p.routing_key, &p.dedup_key, &p.summary, &p.source, details)
                .await
                .map_err(send_error)
        })
    }
}

/// Delivers Opsgenie alerts from the outbox.
pub struct OpsgenieSender(pub Arc<OnCallService>);

impl Sender for OpsgenieSender {
    fn send<'a>(&'a self, job: &'a Job) -> SendFuture<'a> {
        Box::pin(async move {
            let p: OpsgenieAlert = job.decode()?;
            self.0
                .opsgenie
                .alert(p.team.as_deref(), &p.alias, &p.message, &p.description)
                .await
                .map_err(send_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_double_click_is_one_page() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 10, 1, 0).unwrap();
        let a = dedup_key("component:default/x", "DB is down", t);
        let b = dedup_key(
            "component:default/x",
            "db  is down",
            t + chrono::Duration::seconds(20),
        );
        assert_eq!(a, b);
        assert_ne!(a, dedup_key("component:default/y", "DB is down", t));
        assert_ne!(
            a,
            dedup_key(
                "component:default/x",
                "DB is down",
                t + chrono::Duration::minutes(30)
            )
        );
    }
}
