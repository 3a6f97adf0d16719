//! Opsgenie's REST API v2 (`Authorization: GenieKey …`): a schedule's
//! current and next on-call participants, every schedule's for the
//! snapshot, and alerts for paging.

use serde_json::{Value, json};

use super::pagerduty::{http_error, request_error};
use super::{Level, OnCall, ProviderError, ProviderKind, Responder};

#[derive(Debug, Clone)]
pub struct Opsgenie {
    client: reqwest::Client,
    api_url: String,
    key: Option<String>,
}

/// Where the people on call now are, most specific first.
const CURRENT: &[&str] = &["onCallRecipients", "onCallParticipants"];
/// Where the people on call next are, most specific first.
const NEXT: &[&str] = &[
    "exactNextOnCallRecipients",
    "exactNextOnCallParticipants",
    "nextOnCallRecipients",
    "nextOnCallParticipants",
];

impl Opsgenie {
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    pub fn new(client: reqwest::Client, api_url: &str, key: Option<String>) -> Self {
        Opsgenie {
            client,
            api_url: api_url.trim_end_matches('/').to_string(),
            key,
        }
    }

    fn key(&self) -> Result<&str, ProviderError> {
        self.key.as_deref().ok_or_else(|| {
            ProviderError::Unauthorized("no Opsgenie API key is set (OPSGENIE_API_KEY)".into())
        })
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ProviderError> {
        let response = self
            .client
            .get(format!("{}{path}", self.api_url))
            .header("Authorization", format!("GenieKey {}", self.key()?))
            .query(query)
            .send()
            .await
            .map_err(|e| request_error(&e, "Opsgenie"))?;
        if !response.status().is_success() {
            return Err(http_error(
                response.status(),
                "Opsgenie",
                response.headers(),
            ));
        }
        response.json().await.map_err(|_| {
            ProviderError::Unavailable("Opsgenie sent an answer usher can't read".into())
        })
    }

    /// The people in the first of `fields` that names any. Opsgenie's
    /// OpenAPI document has both shapes: `onCallRecipients` and
    /// `exactNextOnCallParticipants` are lists of names, while
    /// `onCallParticipants` and `exactNextOnCallRecipients` are lists of
    /// participants (`{id, name, type}`, where a user's name is their
    /// username, an email). Both are read, whichever field carries them;
    /// participants that aren't users (a team, an escalation) are skipped.
    fn recipients(data: &Value, fields: &[&str]) -> Vec<Responder> {
        for field in fields {
            let names: Vec<&str> = data[*field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| match item {
                    Value::String(name) => Some(name.as_str()),
                    Value::Object(p) if p.get("type").is_none_or(|t| t == "user") => {
                        p.get("name").and_then(Value::as_str)
                    }
                    _ => None,
                })
                .collect();
            if !names.is_empty() {
                return names
                    .into_iter()
                    .map(|email| Responder {
                        name: email.to_string(),
                        email: email.contains('@').then(|| email.to_string()),
                        person: None,
                        until: None,
                    })
                    .collect();
            }
        }
        Vec::new()
    }

    /// Who is on call for a schedule (by name), and who is next.
    pub async fn oncall_for_schedule(&self, schedule: &str) -> Result<OnCall, ProviderError> {
        let path = format!(
            "/v2/schedules/{}/on-calls",
            crate::percent::encode_segment(schedule)
        );
        let now = self
            .get(
                &path,
                &[("scheduleIdentifierType", "name"), ("flat", "true")],
            )
            .await?;
        let current = Self::recipients(&now["data"], CURRENT);
        let next_path = format!(
            "/v2/schedules/{}/next-on-calls",
            crate::percent::encode_segment(schedule)
        );
        let next = match self
            .get(
                &next_path,
                &[("scheduleIdentifierType", "name"), ("flat", "true")],
            )
            .await
        {
            Ok(v) => Self::recipients(&v["data"], NEXT).into_iter().next(),
            Err(e) => {
                tracing::debug!(error = %e, schedule, "Opsgenie: who is next is unknown");
                None
            }
        };
        Ok(OnCall {
            provider: ProviderKind::Opsgenie,
            target: schedule.to_string(),
            levels: if current.is_empty() {
                Vec::new()
            } else {
                vec![Level {
                    level: 1,
                    responders: current,
                }]
            },
            next: next.map(|n| (n, None)),
        })
    }

    /// Every schedule's current on-call (for the snapshot): (schedule name,
    /// person).
    pub async fn all_oncalls(&self) -> Result<Vec<(String, Responder)>, ProviderError> {
        let schedules = self.get("/v2/schedules", &[]).await?;
        let mut out = Vec::new();
        for s in schedules["data"].as_array().into_iter().flatten() {
            let Some(name) = s["name"].as_str() else {
                continue;
            };
            let now = self
                .get(
                    &format!(
                        "/v2/schedules/{}/on-calls",
                        crate::percent::encode_segment(name)
                    ),
                    &[("scheduleIdentifierType", "name"), ("flat", "true")],
                )
                .await?;
            for who in Self::recipients(&now["data"], CURRENT) {
                out.push((name.to_string(), who));
            }
        }
        Ok(out)
    }

    /// Creates an alert (the alias makes a second page for the same reason
    /// the same alert).
    pub async fn alert(
        &self,
        team: Option<&str>,
        alias: &str,
        message: &str,
        description: &str,
    ) -> Result<(), ProviderError> {
        let mut body = json!({
            "message": message,
            "alias": alias,
            "description": description,
            "priority": "P1",
            "source": "usher",
        });
        if let Some(team) = team {
            body["responders"] = json!([{ "name": team, "type": "team" }]);
        }
        let response = self
            .client
            .post(format!("{}/v2/alerts", self.api_url))
            .header("Authorization", format!("GenieKey {}", self.key()?))
            .json(&body)
            .send()
            .await
            .map_err(|e| request_error(&e, "Opsgenie"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(http_error(
                response.status(),
                "Opsgenie",
                response.headers(),
            ))
        }
    }
}
