//! The Slack Web API through slack-morphism: one client for the process,
//! pointed at `SLACK_API_URL` (tests use a local fake), every call bounded
//! by a timeout, and errors sorted into what the outbox needs to know:
//! wait as asked (429), retry later, or give up (the channel is gone).

use std::sync::Arc;
use std::time::Duration;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::actions::outbox::SendError;

/// Slack's Web API base when `SLACK_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// Longest a Web API call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub type Client = SlackHyperClient;

/// A client for `api_url`. HTTP is allowed besides HTTPS so a local fake
/// can stand in for Slack (slack-morphism's default connector is
/// HTTPS-only).
pub fn client(api_url: &str) -> anyhow::Result<Arc<Client>> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()?
        .https_or_http()
        .enable_http1()
        .build();
    let connector = SlackClientHyperConnector::with_connector(https)
        .with_slack_api_url(api_url.trim_end_matches('/'));
    Ok(Arc::new(SlackClient::new(connector)))
}

/// Why a Web API call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Slack said 429; wait this long (its Retry-After) before again.
    RateLimited(Option<Duration>),
    /// Slack answered `ok: false` with this error code.
    Slack(String),
    /// No answer, a timeout, a 5xx, or an answer that didn't parse.
    Transport(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::RateLimited(Some(d)) => {
                write!(f, "rate limited by Slack (retry after {} s)", d.as_secs())
            }
            ApiError::RateLimited(None) => write!(f, "rate limited by Slack"),
            ApiError::Slack(code) => write!(f, "Slack answered {code}"),
            ApiError::Transport(why) => write!(f, "Slack could not be reached: {why}"),
        }
    }
}

/// Error codes retrying can't fix: the destination is gone or refuses.
const PERMANENT: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "account_inactive",
    "user_not_found",
    "user_disabled",
    "users_not_found",
    "cannot_dm_bot",
    "restricted_action",
    "msg_too_long",
    "invalid_blocks",
    "no_text",
    "invalid_arguments",
    "expired_url",
    "used_url",
];

impl ApiError {
    /// Whether this is a Slack error code retrying can't fix.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ApiError::Slack(code) if PERMANENT.contains(&code.as_str()))
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Slack(code) => Some(code),
            _ => None,
        }
    }

    /// What the outbox does about it.
    pub fn to_send_error(&self) -> SendError {
        match self {
            ApiError::RateLimited(after) => SendError::RetryAfter(
                after
                    .unwrap_or(Duration::from_secs(30))
                    .max(Duration::from_secs(1)),
                self.to_string(),
            ),
            e if e.is_permanent() => SendError::Permanent(e.to_string()),
            e => SendError::Retry(e.to_string()),
        }
    }
}

impl From<SlackClientError> for ApiError {
    fn from(e: SlackClientError) -> Self {
        match e {
            SlackClientError::RateLimitError(r) => ApiError::RateLimited(r.retry_after),
            SlackClientError::ApiError(a) => ApiError::Slack(a.code),
            SlackClientError::HttpError(h) => {
                ApiError::Transport(format!("HTTP {}", h.status_code))
            }
            other => ApiError::Transport(short(&other.to_string())),
        }
    }
}

fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Runs one call with the timeout.
pub async fn call<T>(future: impl std::future::Future<Output = ClientResult<T>>) -> ApiResult<T> {
    match tokio::time::timeout(CALL_TIMEOUT, future).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::Transport(format!(
            "no answer within {} s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

/// The bot's client and token.
#[derive(Clone)]
pub struct Api {
    pub client: Arc<Client>,
    token: SlackApiToken,
}

impl Api {
    pub fn new(client: Arc<Client>, bot_token: &str) -> Self {
        Api {
            client,
            token: SlackApiToken::new(SlackApiTokenValue::from(bot_token.to_string())),
        }
    }

    fn session(&self) -> SlackClientSession<'_, SlackClientHyperHttpsConnector> {
        self.client.open_session(&self.token)
    }

    pub async fn auth_test(&self) -> ApiResult<SlackApiAuthTestResponse> {
        call(self.session().auth_test()).await
    }

    /// Posts a message; returns its ts.
    pub async fn post_message(
        &self,
        channel: &str,
        content: SlackMessageContent,
        thread_ts: Option<&str>,
    ) -> ApiResult<String> {
        let request = SlackApiChatPostMessageRequest::new(channel.into(), content)
            .opt_thread_ts(thread_ts.map(|t| SlackTs::new(t.to_string())));
        let response = call(self.session().chat_post_message(&request)).await?;
        Ok(response.ts.to_string())
    }

    /// The DM channel (`D…`) with a user.
    pub async fn dm_channel(&self, user: &str) -> ApiResult<String> {
        let request = SlackApiConversationsOpenRequest::new().with_users(vec![user.into()]);
        let response = call(self.session().conversations_open(&request)).await?;
        Ok(response.channel.id.to_string())
    }

    /// The metadata of the latest messages in a channel (or, with
    /// `thread_ts`, in a thread): where a retry looks for the post an
    /// earlier attempt may have made.
    pub async fn recent_metadata(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
    ) -> ApiResult<Vec<SlackMessageMetadata>> {
        let messages = match thread_ts {
            Some(ts) => {
                let request = SlackApiConversationsRepliesRequest::new(
                    channel.into(),
                    SlackTs::new(ts.into()),
                )
                .with_limit(100);
                // conversations.replies has no include_all_metadata in
                // slack-morphism's request: bots see their own app's
                // metadata without it.
                call(self.session().conversations_replies(&request))
                    .await?
                    .messages
            }
            None => {
                let request = SlackApiConversationsHistoryRequest::new()
                    .with_channel(channel.into())
                    .with_limit(100)
                    .with_include_all_metadata(true);
                call(self.session().conversations_history(&request))
                    .await?
                    .messages
            }
        };
        Ok(messages
            .into_iter()
            .filter_map(|m| m.content.metadata)
            .collect())
    }

    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        content: SlackMessageContent,
    ) -> ApiResult<()> {
        let request = SlackApiChatPostEphemeralRequest::new(channel.into(), user.into(), content);
        call(self.session().chat_post_ephemeral(&request))
            .await
            .map(|_| ())
    }

    /// Opens a modal; returns the view's id and hash.
    pub async fn views_open(
        &self,
        trigger_id: &str,
        view: SlackView,
    ) -> ApiResult<(String, String)> {
        let request = SlackApiViewsOpenRequest::new(trigger_id.into(), view);
        let response = call(self.session().views_open(&request)).await?;
        Ok(view_handle(&response.view))
    }

    /// Replaces a modal's content (only if nobody changed it since `hash`).
    pub async fn views_update(
        &self,
        view_id: &str,
        hash: Option<&str>,
        view: SlackView,
    ) -> ApiResult<(String, String)> {
        let request = SlackApiViewsUpdateRequest::new(view)
            .with_view_id(view_id.into())
            .opt_hash(hash.map(str::to_string));
        let response = call(self.session().views_update(&request)).await?;
        Ok(view_handle(&response.view))
    }

    pub async fn users_info(&self, user: &str) -> ApiResult<SlackUser> {
        let request = SlackApiUsersInfoRequest::new(user.into());
        Ok(call(self.session().users_info(&request)).await?.user)
    }

    pub async fn lookup_by_email(&self, email: &str) -> ApiResult<SlackUser> {
        let request = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.to_string()));
        Ok(call(self.session().users_lookup_by_email(&request))
            .await?
            .user)
    }

    /// One page of `users.list`; returns the members and the next cursor.
    pub async fn users_page(
        &self,
        cursor: Option<String>,
    ) -> ApiResult<(Vec<SlackUser>, Option<String>)> {
        let request = SlackApiUsersListRequest::new()
            .with_limit(200)
            .opt_cursor(cursor.map(SlackCursorId::new));
        let response = call(self.session().users_list(&request)).await?;
        let next = response
            .response_metadata
            .and_then(|m| m.next_cursor)
            .map(|c| c.to_string())
            .filter(|c| !c.is_empty());
        Ok((response.members, next))
    }

    /// Creates a channel; returns its id.
    pub async fn create_channel(&self, name: &str, private: bool) -> ApiResult<String> {
        let request =
            SlackApiConversationsCreateRequest::new(name.to_string()).with_is_private(private);
        Ok(call(self.session().conversations_create(&request))
            .await?
            .channel
            .id
            .to_string())
    }

    /// The id of the channel called `name`, looking through the
    /// workspace's channels (for a channel made before a crash).
    pub async fn find_channel(&self, name: &str) -> ApiResult<Option<String>> {
        let mut cursor: Option<String> = None;
        for _ in 0..50 {
            let request = SlackApiConversationsListRequest::new()
                .with_limit(1000)
                .with_exclude_archived(true)
                .with_types(vec![
                    SlackConversationType::Public,
                    SlackConversationType::Private,
                ])
                .opt_cursor(cursor.take().map(SlackCursorId::new));
            let response = call(self.session().conversations_list(&request)).await?;
            if let Some(found) = response
                .channels
                .iter()
                .find(|c| c.name.as_deref() == Some(name))
            {
                return Ok(Some(found.id.to_string()));
            }
            cursor = response
                .response_metadata
                .and_then(|m| m.next_cursor)
                .map(|c| c.to_string())
                .filter(|c| !c.is_empty());
            if cursor.is_none() {
                break;
            }
        }
        Ok(None)
    }

    pub async fn invite(&self, channel: &str, users: &[String]) -> ApiResult<()> {
        let request = SlackApiConversationsInviteRequest::new(
            channel.into(),
            users.iter().map(|u| u.clone().into()).collect(),
        );
        match call(self.session().conversations_invite(&request)).await {
            Ok(_) => Ok(()),
            // Inviting someone already there is what we wanted anyway.
            Err(ApiError::Slack(code)) if code == "already_in_channel" => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn view_handle(view: &SlackStatefulView) -> (String, String) {
    (
        view.state_params.id.to_string(),
        view.state_params.hash.to_string(),
    )
}
