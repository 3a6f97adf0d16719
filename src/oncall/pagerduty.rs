//! PagerDuty's REST API v2: who is on call for a service (service →
//! escalation policy → `GET /oncalls`, levels in order), every on-call in
//! bulk for the hygiene snapshot, and the Events API v2 for paging.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Level, OnCall, ProviderError, ProviderKind, Responder};

#[derive(Debug, Clone)]
pub struct PagerDuty {
    client: reqwest::Client,
    api_url: String,
    events_url: String,
    token: Option<String>,
}

/// Items a page: PagerDuty's largest.
const PAGE_SIZE: usize = 100;
/// PagerDuty refuses `offset + limit` beyond 10,000; a server that keeps
/// saying `more` is not followed past it.
const MAX_OFFSET: usize = 10_000;
const MAX_PAGES: usize = MAX_OFFSET / PAGE_SIZE;

#[derive(Deserialize)]
struct OnCallsPage {
    oncalls: Vec<OnCallEntry>,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct OnCallEntry {
    escalation_level: u32,
    end: Option<DateTime<Utc>>,
    user: UserRef,
    #[serde(default)]
    escalation_policy: Option<IdRef>,
}

#[derive(Deserialize)]
struct UserRef {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct IdRef {
    id: String,
}

/// Maps an HTTP failure to what a user can understand.
pub(super) fn http_error(
    status: StatusCode,
    provider: &str,
    headers: &reqwest::header::HeaderMap,
) -> ProviderError {
    match status {
        // PagerDuty says when its limit resets in `ratelimit-reset`
        // (seconds), Opsgenie in its `X-RateLimit-Period-In-Sec`; some
        // proxies add `Retry-After`.
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after_secs: [
                "retry-after",
                "ratelimit-reset",
                "x-ratelimit-period-in-sec",
            ]
            .iter()
            .find_map(|name| {
                headers
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
            .unwrap_or(30)
            .clamp(1, 3600),
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ProviderError::Unauthorized(format!("{provider} refused the token ({status})"))
        }
        StatusCode::NOT_FOUND => {
            ProviderError::NotFound(format!("{provider} doesn't know it ({status})"))
        }
        s if s.is_server_error() => {
            ProviderError::Unavailable(format!("{provider} answered {status}"))
        }
        s if s.is_client_error() => {
            ProviderError::Rejected(format!("{provider} refused the request ({s})"))
        }
        s => ProviderError::Unavailable(format!("{provider} answered {s}")),
    }
}

pub(super) fn request_error(e: &reqwest::Error, provider: &str) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Unavailable(format!("{provider} took too long to answer"))
    } else {
        ProviderError::Unavailable(format!("{provider} could not be reached"))
    }
}

impl PagerDuty {
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    pub fn new(
        client: reqwest::Client,
        api_url: &str,
        events_url: &str,
        token: Option<String>,
    ) -> Self {
        PagerDuty {
            client,
            api_url: api_url.trim_end_matches('/').to_string(),
            events_url: events_url.trim_end_matches('/').to_string(),
            token,
        }
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ProviderError> {
        let token = self.token.as_deref().ok_or_else(|| {
            ProviderError::Unauthorized("no PagerDuty token is set (PAGERDUTY_TOKEN)".into())
        })?;
        let response = self
            .client
            .get(format!("{}{path}", self.api_url))
            .header("Authorization", format!("Token token={token}"))
            .header("Accept", "application/vnd.pagerduty+json;version=2")
            // Required on every REST call by PagerDuty's OpenAPI document,
            // GETs included.
            .header("Content-Type", "application/json")
            .query(query)
            .send()
            .await
            .map_err(|e| request_error(&e, "PagerDuty"))?;
        if !response.status().is_success() {
            return Err(http_error(
                response.status(),
                "PagerDuty",
                response.headers(),
            ));
        }
        response.json().await.map_err(|_| {
            ProviderError::Unavailable("PagerDuty sent an answer usher can't read".into())
        })
    }

    /// Who is on call for a PagerDuty service now.
    pub async fn oncall_for_service(&self, service_id: &str) -> Result<OnCall, ProviderError> {
        let service = self.get(&format!("/services/{service_id}"), &[]).await?;
        let policy = service["service"]["escalation_policy"]["id"]
            .as_str()
            .ok_or_else(|| {
                ProviderError::NotFound(format!(
                    "PagerDuty service {service_id} has no escalation policy"
                ))
            })?
            .to_string();
        // Every page of the policy's on-calls (25 a page by default; a
        // large policy has more), and never more than MAX_PAGES of them.
        let mut oncalls = Vec::new();
        for page_number in 0..MAX_PAGES {
            let page: Value = self
                .get(
                    "/oncalls",
                    &[
                        ("escalation_policy_ids[]", policy.clone()),
                        ("include[]", "users".into()),
                        ("earliest", "true".into()),
                        ("limit", PAGE_SIZE.to_string()),
                        ("offset", (page_number * PAGE_SIZE).to_string()),
                    ],
                )
                .await?;
            let page: OnCallsPage = serde_json::from_value(page).map_err(|_| {
                ProviderError::Unavailable("PagerDuty sent on-calls usher can't read".into())
            })?;
            let more = page.more && !page.oncalls.is_empty();
            oncalls.extend(page.oncalls);
            if !more {
                break;
            }
        }
        Ok(OnCall {
            provider: ProviderKind::PagerDuty,
            target: service_id.to_string(),
            levels: levels(oncalls),
            next: None,
        })
    }

    /// Every on-call of every escalation policy, page by page, keyed by
    /// service (for the snapshot): (service id, level, person, until).
    pub async fn all_oncalls(&self) -> Result<Vec<(String, u32, Responder)>, ProviderError> {
        // Services → their escalation policy.
        let mut services: Vec<(String, String)> = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .get(
                    "/services",
                    &[
                        ("limit", PAGE_SIZE.to_string()),
                        ("offset", offset.to_string()),
                    ],
                )
                .await?;
            for s in page["services"].as_array().into_iter().flatten() {
                if let (Some(id), Some(policy)) =
                    (s["id"].as_str(), s["escalation_policy"]["id"].as_str())
                {
                    services.push((id.to_string(), policy.to_string()));
                }
            }
            let empty = page["services"].as_array().is_none_or(Vec::is_empty);
            offset += PAGE_SIZE;
            if !page["more"].as_bool().unwrap_or(false) || empty || offset >= MAX_OFFSET {
                break;
            }
        }
        // On-calls of all policies.
        let mut by_policy: std::collections::HashMap<String, Vec<(u32, Responder)>> =
            Default::default();
        let mut offset = 0;
        loop {
            let page = self
                .get(
                    "/oncalls",
                    &[
                        ("limit", PAGE_SIZE.to_string()),
                        ("offset", offset.to_string()),
                        ("earliest", "true".into()),
                        ("include[]", "users".into()),
                    ],
                )
                .await?;
            let parsed: OnCallsPage = serde_json::from_value(page).map_err(|_| {
                ProviderError::Unavailable("PagerDuty sent on-calls usher can't read".into())
            })?;
            let empty = parsed.oncalls.is_empty();
            for entry in parsed.oncalls {
                if let Some(policy) = &entry.escalation_policy {
                    by_policy
                        .entry(policy.id.clone())
                        .or_default()
                        .push((entry.escalation_level, responder(&entry)));
                }
            }
            offset += PAGE_SIZE;
            if !parsed.more || empty || offset >= MAX_OFFSET {
                break;
            }
        }
        let mut out = Vec::new();
        for (service, policy) in services {
            for (level, who) in by_policy.get(&policy).into_iter().flatten() {
                out.push((service.clone(), *level, who.clone()));
            }
        }
        Ok(out)
    }

    /// Triggers an incident through the Events API v2.
    pub async fn trigger(
        &self,
        routing_key: &str,
        dedup_key: &str,
        summary: &str,
        source: &str,
        details: Value,
    ) -> Result<(), ProviderError> {
        let response = self
            .client
            .post(format!("{}/v2/enqueue", self.events_url))
            .json(&json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {
                    "summary": summary,
                    "source": source,
                    "severity": "critical",
                    "custom_details": details,
                },
                "client": "usher",
            }))
            .send()
            .await
            .map_err(|e| request_error(&e, "PagerDuty"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(http_error(
                response.status(),
                "PagerDuty",
                response.headers(),
            ))
        }
    }
}

fn responder(entry: &OnCallEntry) -> Responder {
    Responder {
        name: entry
            .user
            .name
            .clone()
            .or_else(|| entry.user.summary.clone())
            .unwrap_or_else(|| "someone".into()),
        email: entry.user.email.clone(),
        person: None,
        until: entry.end,
    }
}

fn levels(entries: Vec<OnCallEntry>) -> Vec<Level> {
    let mut levels: Vec<Level> = Vec::new();
    let mut entries = entries;
    entries.sort_by_key(|e| e.escalation_level);
    for e in &entries {
        let who = responder(e);
        match levels.iter_mut().find(|l| l.level == e.escalation_level) {
            Some(l) => {
                if !l.responders.iter().any(|r| r.name == who.name) {
                    l.responders.push(who);
                }
            }
            None => levels.push(Level {
                level: e.escalation_level,
                responders: vec![who],
            }),
        }
    }
    levels
}
