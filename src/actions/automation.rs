//! The automation steps run for a new service, from the outbox: a signed
//! webhook, a GitHub repository from a template, a GitLab project, a
//! PagerDuty service. Each is idempotent — it looks for what it would
//! create before creating it — so a retry after a crash, a timeout or a
//! 5xx never makes a second repository. Each records its progress in
//! `automation_steps`, which the conversation shows.
//!
//! Webhook signature: `X-Usher-Signature: t=<unix seconds>,v1=<hex>` where
//! `v1` is HMAC-SHA256 with the shared secret over `<t>.<raw body>`;
//! `X-Usher-Delivery` carries the delivery's idempotency key. A receiver
//! recomputes the HMAC, compares in constant time, and rejects old `t`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;

use super::jobs::{self, AutomationStep};
use super::outbox::{Job, SendError, SendFuture, Sender};
use crate::config::{ActionConfig, Config};

/// The outbox kind of an action.
pub fn kind_of(action: &ActionConfig) -> &'static str {
    match action {
        ActionConfig::Webhook { .. } => jobs::ACTION_WEBHOOK,
        ActionConfig::GithubRepo { .. } => jobs::ACTION_GITHUB_REPO,
        ActionConfig::GitlabProject { .. } => jobs::ACTION_GITLAB_PROJECT,
        ActionConfig::PagerdutyService { .. } => jobs::ACTION_PAGERDUTY_SERVICE,
        ActionConfig::SlackChannel { .. } => jobs::ACTION_SLACK_CHANNEL,
        ActionConfig::DiscordChannel { .. } => jobs::ACTION_DISCORD_CHANNEL,
    }
}

/// The action kinds this module's sender runs (for registering it). The
/// Slack and Discord channel steps run in their adapters, which hold the
/// platform's client, so they are not among these.
pub const KINDS: [&str; 4] = [
    jobs::ACTION_WEBHOOK,
    jobs::ACTION_GITHUB_REPO,
    jobs::ACTION_GITLAB_PROJECT,
    jobs::ACTION_PAGERDUTY_SERVICE,
];

/// The signature header value for a body.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Records a step's progress (shown in the conversation).
pub async fn mark_step(
    pool: &PgPool,
    job: &Job,
    step: &AutomationStep,
    status: &str,
    detail: Option<String>,
    url: Option<String>,
) {
    let _ = sqlx::query(
        "UPDATE automation_steps SET status = $3, detail = $4, url = coalesce($5, url), job_id = $6, updated_at = now()
         WHERE service_ref = $1 AND action = $2",
    )
    .bind(&step.service)
    .bind(&step.action)
    .bind(status)
    .bind(detail)
    .bind(url)
    .bind(job.id)
    .execute(pool)
    .await;
}

/// Records how an attempt at a step ended: done (with its link), failed
/// (a permanent error, or the last attempt), or still running (a retry
/// will follow). Shared by every sender that runs automation steps.
pub async fn mark_outcome(
    pool: &PgPool,
    job: &Job,
    step: &AutomationStep,
    outcome: Result<Option<&str>, &SendError>,
) {
    match outcome {
        Ok(url) => mark_step(pool, job, step, "done", None, url.map(str::to_string)).await,
        Err(SendError::Permanent(why)) => {
            mark_step(pool, job, step, "failed", Some(why.clone()), None).await
        }
        Err(SendError::Retry(why)) if job.attempts >= job.max_attempts => {
            mark_step(pool, job, step, "failed", Some(why.clone()), None).await
        }
        Err(SendError::Retry(why) | SendError::RetryAfter(_, why)) => {
            mark_step(
                pool,
                job,
                step,
                "running",
                Some(format!("retrying: {why}")),
                None,
            )
            .await
        }
    }
}

/// Where a step records what it made for its service (the PagerDuty
/// service id, the repository, the chat channel): the catalog, handed in by
/// whoever builds the senders — the outbox sits below the catalog and
/// doesn't reach up to write entities itself.
pub trait Annotations: Send + Sync {
    /// Sets `key` to `value` on the service `service` (a ref).
    fn set<'a>(&'a self, service: &'a str, key: &'a str, value: &'a str) -> SendFuture<'a>;
}

/// Runs automation jobs.
pub struct AutomationSender {
    config: Arc<Config>,
    pool: PgPool,
    annotations: Arc<dyn Annotations>,
    client: reqwest::Client,
    /// Secrets by variable name, instead of the environment (tests).
    secrets: Option<std::collections::HashMap<String, String>>,
}

impl AutomationSender {
    pub fn new(config: Arc<Config>, pool: PgPool, annotations: Arc<dyn Annotations>) -> Self {
        let client = super::token_client(Duration::from_secs(10), Duration::from_secs(30));
        AutomationSender {
            config,
            pool,
            annotations,
            client,
            secrets: None,
        }
    }

    /// Reads secrets from `secrets` rather than the environment.
    pub fn with_secrets(mut self, secrets: std::collections::HashMap<String, String>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    fn token(&self, env: &str) -> Result<String, SendError> {
        let value = match &self.secrets {
            Some(map) => map.get(env).cloned(),
            None => std::env::var(env).ok(),
        };
        value
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SendError::Permanent(format!("{env} is not set")))
    }

    async fn annotate(&self, service: &str, key: &str, value: &str) -> Result<(), SendError> {
        self.annotations.set(service, key, value).await
    }

    async fn run(&self, job: &Job, step: &AutomationStep) -> Result<Option<String>, SendError> {
        let name = &step.action;
        let action = self
            .config
            .actions
            .iter()
            .find(|a| &a.name() == name)
            .ok_or_else(|| {
                SendError::Permanent(format!("the action {name} is no longer configured"))
            })?;
        match action {
            ActionConfig::Webhook {
                url, secret_env, ..
            } => self.webhook(job, step, url, secret_env).await.map(|_| None),
            ActionConfig::GithubRepo {
                api_url,
                web_url,
                token_env,
                owner,
                template,
                private,
                ..
            } => self
                .github(step, api_url, web_url, token_env, owner, template, *private)
                .await
                .map(Some),
            ActionConfig::GitlabProject {
                api_url,
                token_env,
                namespace,
                namespace_id,
                template_project_id,
                ..
            } => self
                .gitlab(
                    step,
                    api_url,
                    token_env,
                    namespace,
                    *namespace_id,
                    *template_project_id,
                )
                .await
                .map(Some),
            ActionConfig::PagerdutyService {
                escalation_policy, ..
            } => self.pagerduty(step, escalation_policy).await,
            ActionConfig::SlackChannel { .. } => Err(SendError::Permanent(
                "Slack channels are made by the Slack adapter".into(),
            )),
            ActionConfig::DiscordChannel { .. } => Err(SendError::Permanent(
                "Discord channels are made by the Discord adapter".into(),
            )),
        }
    }

    async fn webhook(
        &self,
        job: &Job,
        step: &AutomationStep,
        url: &str,
        secret_env: &str,
    ) -> Result<(), SendError> {
        let secret = self.token(secret_env)?;
        let body = serde_json::to_vec(&json!({
            "event": "service.created",
            "service": step.descriptor,
            "catalog_info": step.catalog_info,
            "requested_by": step.requested_by,
        }))
        .expect("JSON encodes");
        let timestamp = chrono::Utc::now().timestamp();
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("X-Usher-Signature", signature(&secret, timestamp, &body))
            .header("X-Usher-Delivery", &job.idempotency_key)
            // The same key on every attempt: a receiver that has seen it
            // (a retry after a lost answer) can answer without acting twice.
            .header("Idempotency-Key", &job.idempotency_key)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        check(response.status(), "the webhook")
    }

    #[allow(clippy::too_many_arguments)]
    async fn github(
        &self,
        step: &AutomationStep,
        api: &str,
        web: &str,
        token_env: &str,
        owner: &str,
        template: &str,
        private: bool,
    ) -> Result<String, SendError> {
        let token = self.token(token_env)?;
        let api = api.trim_end_matches('/');
        let name = step.name.as_str();
        let request = |method: reqwest::Method, url: String| {
            self.client
                .request(method, url)
                .header("Authorization", format!("Bearer {token}"))
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
        };
        // The repository: made once.
        let exists = request(reqwest::Method::GET, format!("{api}/repos/{owner}/{name}"))
            .send()
            .await
            .map_err(transport)?;
        match exists.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                let created = request(
                    reqwest::Method::POST,
                    format!("{api}/repos/{template}/generate"),
                )
                .json(&json!({
                    "owner": owner,
                    "name": name,
                    "description": step.description,
                    "private": private,
                    "include_all_branches": false,
                }))
                .send()
                .await
                .map_err(transport)?;
                check(created.status(), "GitHub (creating the repository)")?;
            }
            other => check(other, "GitHub (looking for the repository)")?,
        }
        // catalog-info.yaml: committed once, or updated when different.
        let yaml = step.catalog_info.as_str();
        let path = format!("{api}/repos/{owner}/{name}/contents/catalog-info.yaml");
        let current = request(reqwest::Method::GET, path.clone())
            .send()
            .await
            .map_err(transport)?;
        let sha = match current.status() {
            StatusCode::OK => {
                let body: Value = current
                    .json()
                    .await
                    .map_err(|e| SendError::Retry(e.to_string()))?;
                let existing = body["content"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('\n', "");
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(existing)
                    .unwrap_or_default();
                if decoded == yaml.as_bytes() {
                    return Ok(format!("{}/{owner}/{name}", web.trim_end_matches('/')));
                }
                body["sha"].as_str().map(str::to_string)
            }
            // A repository just generated may not be ready yet: 404 here
            // is "not there yet", and the PUT below creates it.
            _ => None,
        };
        let mut body = json!({
            "message": "Add catalog-info.yaml (created with usher)",
            "content": base64::engine::general_purpose::STANDARD.encode(yaml),
        });
        if let Some(sha) = sha {
            body["sha"] = json!(sha);
        }
        let put = request(reqwest::Method::PUT, path)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        // 404/409 right after generating: the repository isn't ready; retry.
        if matches!(put.status(), StatusCode::NOT_FOUND | StatusCode::CONFLICT) {
            return Err(SendError::Retry(format!(
                "GitHub answered {} committing catalog-info.yaml (the new repository may not be ready yet)",
                put.status()
            )));
        }
        check(put.status(), "GitHub (committing catalog-info.yaml)")?;
        Ok(format!("{}/{owner}/{name}", web.trim_end_matches('/')))
    }

    async fn gitlab(
        &self,
        step: &AutomationStep,
        api: &str,
        token_env: &str,
        namespace: &str,
        namespace_id: i64,
        template: Option<i64>,
    ) -> Result<String, SendError> {
        let token = self.token(token_env)?;
        let api = api.trim_end_matches('/');
        let name = step.name.as_str();
        let request = |method: reqwest::Method, url: String| {
            self.client
                .request(method, url)
                .header("PRIVATE-TOKEN", &token)
        };
        let full_path = crate::percent::encode_segment(&format!("{namespace}/{name}"));
        let found = request(reqwest::Method::GET, format!("{api}/projects/{full_path}"))
            .send()
            .await
            .map_err(transport)?;
        let project: Value = match found.status() {
            StatusCode::OK => found
                .json()
                .await
                .map_err(|e| SendError::Retry(e.to_string()))?,
            StatusCode::NOT_FOUND => {
                let mut body = json!({
                    "name": name,
                    "path": name,
                    "namespace_id": namespace_id,
                    "description": step.description,
                });
                if let Some(t) = template {
                    body["template_project_id"] = json!(t);
                    body["use_custom_template"] = json!(true);
                }
                let created = request(reqwest::Method::POST, format!("{api}/projects"))
                    .json(&body)
                    .send()
                    .await
                    .map_err(transport)?;
                check(created.status(), "GitLab (creating the project)")?;
                created
                    .json()
                    .await
                    .map_err(|e| SendError::Retry(e.to_string()))?
            }
            other => {
                check(other, "GitLab (looking for the project)")?;
                Value::Null
            }
        };
        let id = project["id"]
            .as_i64()
            .ok_or_else(|| SendError::Retry("GitLab sent a project without an id".into()))?;
        let web = project["web_url"].as_str().unwrap_or_default().to_string();
        let body = json!({
            "branch": project["default_branch"].as_str().unwrap_or("main"),
            "content": step.catalog_info,
            "commit_message": "Add catalog-info.yaml (created with usher)",
        });
        let file = format!("{api}/projects/{id}/repository/files/catalog-info.yaml");
        let created = request(reqwest::Method::POST, file.clone())
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        if created.status() == StatusCode::BAD_REQUEST {
            // "A file with this name already exists": update it instead.
            let updated = request(reqwest::Method::PUT, file)
                .json(&body)
                .send()
                .await
                .map_err(transport)?;
            check(updated.status(), "GitLab (updating catalog-info.yaml)")?;
        } else {
            check(created.status(), "GitLab (committing catalog-info.yaml)")?;
        }
        Ok(web)
    }

    async fn pagerduty(
        &self,
        step: &AutomationStep,
        escalation_policy: &str,
    ) -> Result<Option<String>, SendError> {
        let oncall = &self.config.oncall;
        let token = self.token(&oncall.pagerduty_token_env)?;
        let api = oncall.pagerduty_api_url.trim_end_matches('/');
        let name = step.name.as_str();
        let service = step.service.as_str();
        let request = |method: reqwest::Method, url: String| {
            self.client
                .request(method, url)
                .header("Authorization", format!("Token token={token}"))
                .header("Accept", "application/vnd.pagerduty+json;version=2")
                .header("Content-Type", "application/json")
        };
        let found = request(reqwest::Method::GET, format!("{api}/services"))
            .query(&[("query", name)])
            .send()
            .await
            .map_err(transport)?;
        check(found.status(), "PagerDuty (looking for the service)")?;
        let found: Value = found
            .json()
            .await
            .map_err(|e| SendError::Retry(e.to_string()))?;
        let existing = found["services"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"].as_str() == Some(name))
            .and_then(|s| s["id"].as_str().map(str::to_string));
        let id = match existing {
            Some(id) => id,
            None => {
                let created = request(reqwest::Method::POST, format!("{api}/services"))
                    .json(&json!({"service": {
                        "type": "service",
                        "name": name,
                        "description": step.description,
                        "escalation_policy": {"id": escalation_policy, "type": "escalation_policy_reference"},
                    }}))
                    .send()
                    .await
                    .map_err(transport)?;
                check(created.status(), "PagerDuty (creating the service)")?;
                let body: Value = created
                    .json()
                    .await
                    .map_err(|e| SendError::Retry(e.to_string()))?;
                body["service"]["id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| {
                        SendError::Retry("PagerDuty sent a service without an id".into())
                    })?
            }
        };
        self.annotate(service, "pagerduty.com/service-id", &id)
            .await?;
        Ok(None)
    }
}

impl Sender for AutomationSender {
    fn send<'a>(&'a self, job: &'a Job) -> SendFuture<'a> {
        Box::pin(async move {
            let step: AutomationStep = job.decode()?;
            mark_step(&self.pool, job, &step, "running", None, None).await;
            let result = self.run(job, &step).await;
            if let Ok(Some(url)) = &result
                && job.kind == jobs::ACTION_GITLAB_PROJECT
            {
                self.annotate(
                    &step.service,
                    "backstage.io/source-location",
                    &format!("url:{url}"),
                )
                .await?;
            }
            mark_outcome(
                &self.pool,
                job,
                &step,
                result.as_ref().map(Option::as_deref),
            )
            .await;
            result.map(|_| ())
        })
    }
}

fn transport(e: reqwest::Error) -> SendError {
    if e.is_timeout() {
        SendError::Retry("timed out".into())
    } else {
        SendError::Retry("could not connect".into())
    }
}

/// 2xx is fine; 5xx and 429 are worth retrying; other 4xx are not.
fn check(status: StatusCode, what: &str) -> Result<(), SendError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(SendError::Retry(format!("{what} answered {status}")))
    } else {
        Err(SendError::Permanent(format!("{what} answered {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_over_timestamp_and_body() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
