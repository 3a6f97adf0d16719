//! Discord's REST API, through serenity: serenity's routes build every URL
//! (and `DISCORD_API_URL` replaces its `https://discord.com` origin), and
//! the requests are sent here so a 429's `retry_after` and Discord's error
//! codes reach the caller. With the origin overridden serenity's own rate
//! limiter is off (it ignores the proxy otherwise), so usher waits out
//! 429s itself.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use serenity::http::{Http, HttpBuilder, LightMethod, Request, Route};

/// Discord's origin.
pub const DEFAULT_API_URL: &str = "https://discord.com";

/// What a call can end in.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    #[error("Discord answered {status}: {message} (code {code})")]
    Discord {
        status: u16,
        code: i64,
        message: String,
    },
    #[error("Discord could not be reached: {0}")]
    Transport(String),
}

/// Discord error codes retrying can't fix.
const PERMANENT: &[i64] = &[
    10003, // Unknown Channel
    10004, // Unknown Guild
    10008, // Unknown Message
    10013, // Unknown User
    10015, // Unknown Webhook
    10062, // Unknown interaction
    50001, // Missing Access
    50007, // Cannot send messages to this user
    50013, // Missing Permissions
    50035, // Invalid Form Body
];

impl ApiError {
    /// Whether retrying can't help (a client error that isn't a 429).
    pub fn is_permanent(&self) -> bool {
        match self {
            ApiError::Discord { status, code, .. } => {
                PERMANENT.contains(code) || (400..500).contains(status)
            }
            _ => false,
        }
    }

    pub fn to_send_error(&self) -> crate::actions::outbox::SendError {
        use crate::actions::outbox::SendError;
        match self {
            ApiError::RateLimited(wait) => SendError::RetryAfter(*wait, self.to_string()),
            e if e.is_permanent() => SendError::Permanent(e.to_string()),
            e => SendError::Retry(e.to_string()),
        }
    }
}

/// The REST client.
#[derive(Clone)]
pub struct Api {
    /// serenity's client (also handed to the gateway).
    pub http: Arc<Http>,
    client: reqwest::Client,
    /// The origin replacing `https://discord.com`, when not Discord's.
    proxy: Option<String>,
    token: String,
    application_id: Option<u64>,
}

/// serenity's client, pointed at `proxy` (its rate limiter off then, as
/// serenity ignores the proxy otherwise).
fn build_http(token: &str, proxy: Option<&str>, application_id: Option<u64>) -> Http {
    let mut builder = HttpBuilder::new(token);
    if let Some(proxy) = proxy {
        builder = builder.proxy(proxy).ratelimiter_disabled(true);
    }
    if let Some(id) = application_id.filter(|id| *id != 0) {
        builder = builder.application_id(id.into());
    }
    builder.build()
}

impl Api {
    pub fn new(token: &str, api_url: &str, application_id: Option<u64>) -> Api {
        let api_url = api_url.trim_end_matches('/');
        let proxy = (api_url != DEFAULT_API_URL).then(|| api_url.to_string());
        Api {
            http: Arc::new(build_http(token, proxy.as_deref(), application_id)),
            token: token.to_string(),
            application_id,
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .build()
                .expect("the HTTP client builds with static settings"),
            proxy,
        }
    }

    /// A client of the same settings for the gateway (serenity takes it
    /// by value).
    pub fn gateway_http(&self) -> Http {
        build_http(&self.token, self.proxy.as_deref(), self.application_id)
    }

    /// One REST call; the JSON answer (`Null` for 204).
    pub async fn call(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let body = body.map(|b| serde_json::to_vec(b).expect("JSON values serialize"));
        let request = Request::new(route, method)
            .body(body)
            .build(&self.client, self.http.token(), self.proxy.as_deref())
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let response = request.send().await.map_err(|e| {
            ApiError::Transport(if e.is_timeout() {
                "timed out".into()
            } else {
                e.to_string()
            })
        })?;
        let status = response.status().as_u16();
        let header_wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status == 429 {
            let secs = json["retry_after"]
                .as_f64()
                .or(header_wait)
                .unwrap_or(1.0)
                .clamp(0.05, 3600.0);
            return Err(ApiError::RateLimited(Duration::from_secs_f64(secs)));
        }
        if !(200..300).contains(&status) {
            return Err(ApiError::Discord {
                status,
                code: json["code"].as_i64().unwrap_or(0),
                message: json["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| json.to_string()),
            });
        }
        Ok(json)
    }

    /// Who the token belongs to (`GET /users/@me`).
    pub async fn current_user(&self) -> Result<Value, ApiError> {
        self.call(Route::UserMe, LightMethod::Get, None).await
    }

    /// Posts a message to a channel.
    pub async fn post_message(&self, channel_id: u64, body: &Value) -> Result<Value, ApiError> {
        self.call(
            Route::ChannelMessages {
                channel_id: channel_id.into(),
            },
            LightMethod::Post,
            Some(body),
        )
        .await
    }

    /// The DM channel with a user.
    pub async fn dm_channel(&self, user_id: u64) -> Result<u64, ApiError> {
        let body = serde_json::json!({ "recipient_id": user_id.to_string() });
        let channel = self
            .call(Route::UserMeDmChannels, LightMethod::Post, Some(&body))
            .await?;
        snowflake(&channel["id"]).ok_or_else(|| ApiError::Transport("no channel id".into()))
    }

    /// Answers an interaction through the callback endpoint (gateway).
    pub async fn interaction_callback(
        &self,
        interaction_id: u64,
        token: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        self.call(
            Route::InteractionResponse {
                interaction_id: interaction_id.into(),
                token,
            },
            LightMethod::Post,
            Some(body),
        )
        .await
        .map(|_| ())
    }

    /// Replaces the original (deferred) response of an interaction.
    pub async fn edit_original(
        &self,
        application_id: u64,
        token: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        self.call(
            Route::WebhookOriginalInteractionResponse {
                application_id: application_id.into(),
                token,
            },
            LightMethod::Patch,
            Some(body),
        )
        .await
        .map(|_| ())
    }

    /// Sends a follow-up message for an interaction.
    pub async fn followup(
        &self,
        application_id: u64,
        token: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        self.call(
            Route::WebhookFollowupMessages {
                application_id: application_id.into(),
                token,
            },
            LightMethod::Post,
            Some(body),
        )
        .await
        .map(|_| ())
    }

    /// Replaces the application's commands (global, or in one guild).
    pub async fn overwrite_commands(
        &self,
        application_id: u64,
        guild: Option<u64>,
        commands: &Value,
    ) -> Result<Value, ApiError> {
        let route = match guild {
            Some(guild_id) => Route::GuildCommands {
                application_id: application_id.into(),
                guild_id: guild_id.into(),
            },
            None => Route::Commands {
                application_id: application_id.into(),
            },
        };
        self.call(route, LightMethod::Put, Some(commands)).await
    }

    /// The guild's channels.
    pub async fn guild_channels(&self, guild_id: u64) -> Result<Value, ApiError> {
        self.call(
            Route::GuildChannels {
                guild_id: guild_id.into(),
            },
            LightMethod::Get,
            None,
        )
        .await
    }

    /// Creates a text channel in a guild.
    pub async fn create_channel(&self, guild_id: u64, body: &Value) -> Result<Value, ApiError> {
        self.call(
            Route::GuildChannels {
                guild_id: guild_id.into(),
            },
            LightMethod::Post,
            Some(body),
        )
        .await
    }
}

/// A snowflake in a JSON value (Discord sends them as strings).
pub fn snowflake(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}
