//! "Fix now" for a service described by a catalog-info.yaml on GitHub: the
//! exact change, opened as a pull request (through the outbox, so a crash
//! means a retry; branch and pull request are found again rather than made
//! twice). The next import of the merged file resolves the finding.
//!
//! The change is made to the file's text — the service's document only,
//! comments and layout kept — and checked by parsing the result before
//! anything is sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::actions::jobs::{FieldChange, HygieneProposal};
use crate::actions::outbox::{Job, SendError, SendFuture, Sender};
use crate::catalog::fetch::{HostConfig, HostKind};
use crate::config::Config;

mod edit;
pub use edit::{already_says, edit};

/// Where a descriptor lives on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: HostKind,
    pub api: String,
    pub owner: String,
    pub repo: String,
    pub branch: String,
    pub path: String,
    /// The host entry's token variable; none means the host gets no token
    /// (never another host's).
    pub token_env: Option<String>,
}

/// A token and the scheme its host's kind uses to carry it.
#[derive(Clone, Copy)]
struct Auth<'a> {
    kind: HostKind,
    token: &'a str,
}

/// The file behind a GitHub `…/blob/<branch>/<path>` or GitLab
/// `…/-/blob/<branch>/<path>` URL on a known host (`owner` is the GitLab
/// project's full path, `repo` empty).
pub fn target(source_file: &str, hosts: &[HostConfig]) -> Option<Target> {
    let url = reqwest::Url::parse(source_file).ok()?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return None,
    };
    let config = hosts.iter().find(|h| h.host.eq_ignore_ascii_case(&host))?;
    let segments: Vec<&str> = url.path_segments()?.collect();
    let token_env = config.token_env.clone();
    if config.kind == HostKind::Gitlab {
        let dash = segments.iter().position(|s| *s == "-")?;
        return match &segments[dash..] {
            ["-", "blob", branch, path @ ..] if dash > 0 && !path.is_empty() => Some(Target {
                kind: HostKind::Gitlab,
                api: config.api_url.trim_end_matches('/').to_string(),
                owner: segments[..dash].join("/"),
                repo: String::new(),
                branch: branch.to_string(),
                path: path.join("/"),
                token_env,
            }),
            _ => None,
        };
    }
    match segments.as_slice() {
        [owner, repo, "blob", branch, path @ ..] if !path.is_empty() => Some(Target {
            kind: HostKind::Github,
            api: config.api_url.trim_end_matches('/').to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            branch: branch.to_string(),
            path: path.join("/"),
            token_env,
        }),
        _ => None,
    }
}

/// What a proposal says on either forge: its branch, commit message,
/// title and description.
struct Wording {
    /// One branch per service, so fixes saved while a request is open join
    /// it (their edits are skipped when the branch already says them)
    /// instead of opening a second one that touches the same lines.
    branch: String,
    commit: String,
    title: String,
    body: String,
}

impl Wording {
    fn of(proposal: &HygieneProposal) -> Wording {
        let (service, by) = (&proposal.service, &proposal.requested_by);
        let fields: Vec<String> = proposal.changes().into_iter().map(|c| c.field).collect();
        let fields = fields.join(", ");
        Wording {
            branch: format!("usher/{service}-catalog"),
            commit: format!("{service}: set {fields} (from usher, requested by {by})"),
            title: format!("{service}: set {fields}"),
            body: format!(
                "usher's catalog check-up found that {service} lacks {fields}. {by} filled it in from chat; merging this puts it in the catalog at the next import."
            ),
        }
    }
}

/// The file's text (from a forge's base64 `content`) with the job's fields
/// set; `None` when an earlier attempt already made the change.
fn changed_text(file: &Value, proposal: &HygieneProposal) -> Result<Option<String>, SendError> {
    let text = base64::engine::general_purpose::STANDARD
        .decode(
            file["content"]
                .as_str()
                .unwrap_or_default()
                .replace('\n', ""),
        )
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| SendError::Permanent("the file isn't UTF-8 text".into()))?;
    let line = proposal.source_line.unwrap_or(1).max(1) as usize;
    let mut edited = text.clone();
    for FieldChange { field, value } in proposal.changes() {
        // Already there (an earlier try got this far): not added twice.
        if already_says(&edited, line, &field, &value) {
            continue;
        }
        edited = edit(&edited, line, &field, &value).map_err(SendError::Permanent)?;
    }
    Ok((edited != text).then_some(edited))
}

/// Opens the pull requests.
pub struct ProposalSender {
    pool: PgPool,
    config: Arc<Config>,
    http: reqwest::Client,
    /// Tokens by variable name instead of the environment (tests).
    secrets: Option<HashMap<String, String>>,
}

impl ProposalSender {
    pub fn new(pool: PgPool, config: Arc<Config>) -> Self {
        ProposalSender {
            pool,
            config,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .redirect(crate::actions::same_host_redirects())
                .user_agent("usher")
                .build()
                .expect("static settings"),
            secrets: None,
        }
    }

    pub fn with_secrets(mut self, secrets: HashMap<String, String>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    async fn call(
        &self,
        auth: Auth<'_>,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), SendError> {
        let mut request = self.http.request(method, url);
        request = match auth.kind {
            HostKind::Gitlab => request.header("private-token", auth.token),
            HostKind::Github => request
                .bearer_auth(auth.token)
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28"),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_redirect() {
                SendError::Permanent(format!("the git host's answer can't be followed: {e}"))
            } else {
                SendError::Retry(format!("the git host could not be reached: {e}"))
            }
        })?;
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(Value::Null);
        if status >= 500 || status == 429 {
            return Err(SendError::Retry(format!("the git host answered {status}")));
        }
        if status == 401 || status == 403 {
            return Err(SendError::Permanent(format!(
                "the git host refused the token ({status}): {}",
                json["message"].as_str().unwrap_or("")
            )));
        }
        Ok((status, json))
    }

    async fn run(&self, job: &Job) -> Result<(), SendError> {
        let p: HygieneProposal = job.decode()?;
        let source_file = p.source_file.as_deref().unwrap_or_default();
        let Some(target) = target(source_file, &self.config.catalog.all_hosts()) else {
            return Err(SendError::Permanent(
                "the descriptor is not a GitHub or GitLab file usher knows".into(),
            ));
        };
        let Some(token_env) = target.token_env.as_deref() else {
            return Err(SendError::Permanent(format!(
                "the [[catalog.hosts]] entry for {} has no token_env, so usher sends that host no token; set token_env to propose changes there",
                target.api
            )));
        };
        let token = match &self.secrets {
            Some(map) => map.get(token_env).cloned(),
            None => std::env::var(token_env).ok(),
        }
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SendError::Permanent(format!("{token_env} is not set")))?;
        let token = Auth {
            kind: target.kind,
            token: &token,
        };
        if target.kind == HostKind::Gitlab {
            let url = self.gitlab(&target, token, &p).await?;
            return self.record(&p, &url).await;
        }
        let repo = format!("{}/repos/{}/{}", target.api, target.owner, target.repo);
        let Wording {
            branch,
            commit,
            title,
            body,
        } = Wording::of(&p);
        let get = reqwest::Method::GET;
        // The branch: made from the base, or already there from an earlier try.
        let (status, base) = self
            .call(
                token,
                get.clone(),
                &format!("{repo}/git/ref/heads/{}", target.branch),
                None,
            )
            .await?;
        if status != 200 {
            return Err(SendError::Permanent(format!(
                "the branch {} wasn't found",
                target.branch
            )));
        }
        let (status, _) = self
            .call(
                token,
                reqwest::Method::POST,
                &format!("{repo}/git/refs"),
                Some(
                    &json!({ "ref": format!("refs/heads/{branch}"), "sha": base["object"]["sha"] }),
                ),
            )
            .await?;
        if status != 201 && status != 422 {
            return Err(SendError::Permanent(format!(
                "making the branch failed ({status})"
            )));
        }
        let (status, file) = self
            .call(
                token,
                get.clone(),
                &format!("{repo}/contents/{}?ref={branch}", target.path),
                None,
            )
            .await?;
        if status != 200 {
            return Err(SendError::Permanent(format!(
                "{} wasn't found ({status})",
                target.path
            )));
        }
        if let Some(changed) = changed_text(&file, &p)? {
            let (status, _) = self
                .call(
                    token,
                    reqwest::Method::PUT,
                    &format!("{repo}/contents/{}", target.path),
                    Some(&json!({
                        "message": commit,
                        "content": base64::engine::general_purpose::STANDARD.encode(changed),
                        "sha": file["sha"],
                        "branch": branch,
                    })),
                )
                .await?;
            if !(200..300).contains(&status) {
                return Err(SendError::Permanent(format!(
                    "committing failed ({status})"
                )));
            }
        }
        let (status, pr) = self
            .call(
                token,
                reqwest::Method::POST,
                &format!("{repo}/pulls"),
                Some(&json!({
                    "title": title,
                    "head": branch,
                    "base": target.branch,
                    "body": body,
                })),
            )
            .await?;
        let url = if status == 201 {
            pr["html_url"].as_str().unwrap_or_default().to_string()
        } else {
            let (_, open) = self
                .call(
                    token,
                    get,
                    &format!("{repo}/pulls?head={}:{branch}&state=open", target.owner),
                    None,
                )
                .await?;
            open[0]["html_url"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| {
                    SendError::Permanent(format!("opening the pull request failed ({status})"))
                })?
        };
        self.record(&p, &url).await
    }

    /// Remembers the proposal for the scorecard.
    async fn record(&self, proposal: &HygieneProposal, url: &str) -> Result<(), SendError> {
        let fields: Vec<String> = proposal.changes().into_iter().map(|c| c.field).collect();
        sqlx::query(
            "INSERT INTO hygiene_proposals (service_ref, field, url)
             SELECT $1, field, $3 FROM unnest($2::text[]) AS field
             ON CONFLICT (service_ref, field) DO UPDATE SET url = EXCLUDED.url, created_at = now()",
        )
        .bind(&proposal.service_ref)
        .bind(&fields)
        .bind(url)
        .execute(&self.pool)
        .await
        .map_err(|e| SendError::Retry(e.to_string()))?;
        Ok(())
    }

    /// The GitLab way: branch, commit, merge request (found again on retry).
    async fn gitlab(
        &self,
        target: &Target,
        token: Auth<'_>,
        p: &HygieneProposal,
    ) -> Result<String, SendError> {
        let enc = crate::percent::encode_segment;
        let project = format!("{}/projects/{}", target.api, enc(&target.owner));
        let file_url = format!("{project}/repository/files/{}", enc(&target.path));
        let Wording {
            branch,
            commit,
            title,
            body,
        } = Wording::of(p);
        let (status, _) = self
            .call(
                token,
                reqwest::Method::POST,
                &format!(
                    "{project}/repository/branches?branch={}&ref={}",
                    enc(&branch),
                    enc(&target.branch)
                ),
                None,
            )
            .await?;
        if status != 201 && status != 400 {
            return Err(SendError::Permanent(format!(
                "making the branch failed ({status})"
            )));
        }
        let (status, file) = self
            .call(
                token,
                reqwest::Method::GET,
                &format!("{file_url}?ref={}", enc(&branch)),
                None,
            )
            .await?;
        if status != 200 {
            return Err(SendError::Permanent(format!(
                "{} wasn't found ({status})",
                target.path
            )));
        }
        if let Some(changed) = changed_text(&file, p)? {
            let (status, _) = self
                .call(
                    token,
                    reqwest::Method::PUT,
                    &file_url,
                    Some(&json!({
                        "branch": branch,
                        "content": changed,
                        "commit_message": commit,
                    })),
                )
                .await?;
            if !(200..300).contains(&status) {
                return Err(SendError::Permanent(format!(
                    "committing failed ({status})"
                )));
            }
        }
        let (status, mr) = self
            .call(
                token,
                reqwest::Method::POST,
                &format!("{project}/merge_requests"),
                Some(&json!({
                    "source_branch": branch,
                    "target_branch": target.branch,
                    "title": title,
                    "description": body,
                })),
            )
            .await?;
        if status == 201 {
            return Ok(mr["web_url"].as_str().unwrap_or_default().to_string());
        }
        let (_, open) = self
            .call(
                token,
                reqwest::Method::GET,
                &format!(
                    "{project}/merge_requests?source_branch={}&state=opened",
                    enc(&branch)
                ),
                None,
            )
            .await?;
        open[0]["web_url"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                SendError::Permanent(format!("opening the merge request failed ({status})"))
            })
    }
}

impl Sender for ProposalSender {
    fn send<'a>(&'a self, job: &'a Job) -> SendFuture<'a> {
        Box::pin(self.run(job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_without_a_token_gets_none_of_another_hosts() {
        let mut hosts = crate::catalog::fetch::default_hosts();
        hosts.push(HostConfig {
            kind: HostKind::Github,
            host: "github.example.com".into(),
            api_url: "https://github.example.com/api/v3".into(),
            token_env: None,
            allow_private: false,
            token_owners: Vec::new(),
        });
        let ghe = target(
            "https://github.example.com/acme/ledger/blob/main/catalog-info.yaml",
            &hosts,
        )
        .unwrap();
        assert_eq!(ghe.token_env, None);
        assert_eq!(ghe.api, "https://github.example.com/api/v3");
        let public = target(
            "https://github.com/acme/ledger/blob/main/catalog-info.yaml",
            &hosts,
        )
        .unwrap();
        assert_eq!(public.token_env.as_deref(), Some("GITHUB_TOKEN"));
    }
}
