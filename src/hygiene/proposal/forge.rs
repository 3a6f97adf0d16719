//! The two forges' ways of proposing a change: a branch, the file written
//! on it (updated, or created), and a pull (GitHub) or merge (GitLab)
//! request — each step found again rather than made twice when a retry
//! comes back to it.

use base64::Engine;
use serde_json::{Value, json};

use super::{Auth, Change, ProposalSender, Target, Wording, decode_content};
use crate::actions::outbox::SendError;
use crate::catalog::fetch::HostKind;

impl ProposalSender {
    pub(super) async fn call(
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

    /// The GitHub way: branch, commit, pull request (found again on retry).
    pub(super) async fn github(
        &self,
        target: &Target,
        token: Auth<'_>,
        wording: &Wording,
        change: &Change<'_>,
    ) -> Result<String, SendError> {
        let repo = format!("{}/repos/{}/{}", target.api, target.owner, target.repo);
        let Wording {
            branch,
            commit,
            title,
            body,
        } = wording;
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
        let current = current_text(status, &file, &target.path)?;
        if let Some(text) = change.apply(current)? {
            let mut put = json!({
                "message": commit,
                "content": base64::engine::general_purpose::STANDARD.encode(text),
                "branch": branch,
            });
            // Updating names the version replaced; creating doesn't.
            if status == 200 {
                put["sha"] = file["sha"].clone();
            }
            let (status, _) = self
                .call(
                    token,
                    reqwest::Method::PUT,
                    &format!("{repo}/contents/{}", target.path),
                    Some(&put),
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
        if status == 201 {
            return Ok(pr["html_url"].as_str().unwrap_or_default().to_string());
        }
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
            })
    }

    /// The GitLab way: branch, commit, merge request (found again on retry).
    pub(super) async fn gitlab(
        &self,
        target: &Target,
        token: Auth<'_>,
        wording: &Wording,
        change: &Change<'_>,
    ) -> Result<String, SendError> {
        let enc = crate::percent::encode_segment;
        let project = format!("{}/projects/{}", target.api, enc(&target.owner));
        let file_url = format!("{project}/repository/files/{}", enc(&target.path));
        let Wording {
            branch,
            commit,
            title,
            body,
        } = wording;
        let (status, _) = self
            .call(
                token,
                reqwest::Method::POST,
                &format!(
                    "{project}/repository/branches?branch={}&ref={}",
                    enc(branch),
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
                &format!("{file_url}?ref={}", enc(branch)),
                None,
            )
            .await?;
        let current = current_text(status, &file, &target.path)?;
        if let Some(text) = change.apply(current)? {
            // PUT updates a file, POST creates one.
            let method = if status == 200 {
                reqwest::Method::PUT
            } else {
                reqwest::Method::POST
            };
            let (status, _) = self
                .call(
                    token,
                    method,
                    &file_url,
                    Some(&json!({
                        "branch": branch,
                        "content": text,
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
                    enc(branch)
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

/// The file on the branch: its text, or `None` when it isn't there.
fn current_text(status: u16, file: &Value, path: &str) -> Result<Option<String>, SendError> {
    match status {
        200 => decode_content(file).map(Some),
        404 => Ok(None),
        _ => Err(SendError::Permanent(format!(
            "{path} couldn't be read ({status})"
        ))),
    }
}
