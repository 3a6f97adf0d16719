//! "Fix now" for a service described by a catalog-info.yaml on GitHub or
//! GitLab, and "Describe it" for a repository discovery found without one:
//! the exact change (an edit, or a new file), opened as a pull request (through the outbox, so a crash
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
use serde_json::Value;
use sqlx::PgPool;

use crate::actions::jobs::{DESCRIPTOR_PROPOSAL, DescriptorProposal, FieldChange, HygieneProposal};
use crate::actions::outbox::{Job, SendError, SendFuture, Sender};
use crate::catalog::fetch::{HostConfig, HostKind};
use crate::config::Config;

mod edit;
mod forge;
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

    fn describing(proposal: &DescriptorProposal) -> Wording {
        let (component, by) = (&proposal.component, &proposal.requested_by);
        Wording {
            branch: format!("usher/{component}-catalog-info"),
            commit: format!(
                "Add catalog-info.yaml for {component} (from usher, requested by {by})"
            ),
            title: format!("Add {component} to the service catalog"),
            body: format!(
                "usher's discovery found {} without a catalog-info.yaml. {by} described it in chat; merging this adds {component} to the catalog at the next scan, with its owner, so questions about it get answers.",
                proposal.repository
            ),
        }
    }
}

/// What a proposal does to its file.
enum Change<'a> {
    /// Sets fields in an existing descriptor, its layout kept.
    Edit(&'a HygieneProposal),
    /// Adds a new file with this text.
    Create(&'a str),
}

impl Change<'_> {
    /// The file's new text, given what the branch holds now (`None`: no
    /// such file); `Ok(None)` when there is nothing to write because an
    /// earlier try already did.
    fn apply(&self, current: Option<String>) -> Result<Option<String>, SendError> {
        match (self, current) {
            (Change::Edit(proposal), Some(text)) => edited_text(&text, proposal),
            (Change::Edit(_), None) => Err(SendError::Permanent(
                "the descriptor isn't on the branch any more".into(),
            )),
            (Change::Create(_), Some(_)) => Ok(None),
            (Change::Create(text), None) => Ok(Some(text.to_string())),
        }
    }
}

/// The text with the proposal's fields set; `None` when an earlier attempt
/// already made the change.
fn edited_text(text: &str, proposal: &HygieneProposal) -> Result<Option<String>, SendError> {
    let line = proposal.source_line.unwrap_or(1).max(1) as usize;
    let mut edited = text.to_string();
    for FieldChange { field, value } in proposal.changes() {
        // Already there (an earlier try got this far): not added twice.
        if already_says(&edited, line, &field, &value) {
            continue;
        }
        edited = edit(&edited, line, &field, &value).map_err(SendError::Permanent)?;
    }
    Ok((edited != text).then_some(edited))
}

/// A forge's file answer (`content`, base64) as text.
fn decode_content(file: &Value) -> Result<String, SendError> {
    base64::engine::general_purpose::STANDARD
        .decode(
            file["content"]
                .as_str()
                .unwrap_or_default()
                .replace('\n', ""),
        )
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| SendError::Permanent("the file isn't UTF-8 text".into()))
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

    async fn run(&self, job: &Job) -> Result<(), SendError> {
        if job.kind == DESCRIPTOR_PROPOSAL {
            let p: DescriptorProposal = job.decode()?;
            let url = self
                .open(
                    &p.file_url,
                    Wording::describing(&p),
                    Change::Create(&p.text),
                )
                .await?;
            return self.record_described(&p, &url).await;
        }
        let p: HygieneProposal = job.decode()?;
        let source_file = p.source_file.as_deref().unwrap_or_default();
        let url = self
            .open(source_file, Wording::of(&p), Change::Edit(&p))
            .await?;
        self.record(&p, &url).await
    }

    /// Makes the change on a branch of the file's repository and opens (or
    /// finds) its pull or merge request: the request's address.
    async fn open(
        &self,
        file_url: &str,
        wording: Wording,
        change: Change<'_>,
    ) -> Result<String, SendError> {
        let Some(target) = target(file_url, &self.config.catalog.all_hosts()) else {
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
        let auth = Auth {
            kind: target.kind,
            token: &token,
        };
        match target.kind {
            HostKind::Gitlab => self.gitlab(&target, auth, &wording, &change).await,
            HostKind::Github => self.github(&target, auth, &wording, &change).await,
        }
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

    /// Remembers the request on the repository (its card and the digest
    /// show it until the merge is scanned).
    async fn record_described(
        &self,
        proposal: &DescriptorProposal,
        url: &str,
    ) -> Result<(), SendError> {
        sqlx::query("UPDATE repositories SET proposal_url = $3 WHERE source = $1 AND name = $2")
            .bind(&proposal.source)
            .bind(&proposal.repository)
            .bind(url)
            .execute(&self.pool)
            .await
            .map_err(|e| SendError::Retry(e.to_string()))?;
        Ok(())
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
