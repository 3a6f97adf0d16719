//! Socket Mode: the same commands, interactions and events as the HTTP
//! endpoints, over a WebSocket usher opens to Slack (no public URL
//! needed). slack-morphism's listener asks `apps.connections.open` for the
//! socket, acknowledges each envelope by its id — with the answer as the
//! ack's payload where Slack accepts one — and reconnects when Slack asks
//! to refresh (a `disconnect` envelope) or the socket drops.

use std::sync::Arc;

use slack_morphism::prelude::*;
use tokio::sync::watch;

use super::{SlackApp, api, commands, events, interactions};

/// How long to wait before connecting again after the socket dropped.
const RECONNECT_SECS: u64 = 3;

fn app_of(storage: &SlackClientEventsUserStateStorage) -> Option<Arc<SlackApp>> {
    storage.get_user_state::<Arc<SlackApp>>().cloned()
}

fn no_app() -> Box<dyn std::error::Error + Send + Sync> {
    "the Slack adapter is not set up".into()
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<api::Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let app = app_of(&*state.read().await).ok_or_else(no_app)?;
    Ok(commands::handle(&app, event).await)
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<api::Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let app = app_of(&*state.read().await).ok_or_else(no_app)?;
    Ok(interactions::handle(&app, event).await)
}

async fn on_event(
    event: SlackPushEventCallback,
    _client: Arc<api::Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let app = app_of(&*state.read().await).ok_or_else(no_app)?;
    // An error leaves the envelope unacknowledged, so Slack sends it again.
    events::handle(&app, &event).await?;
    Ok(())
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<api::Client>,
    _state: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    tracing::warn!(error = %err, "Slack Socket Mode: handling an envelope failed; Slack will send it again");
    // Not a success: the envelope stays unacknowledged.
    axum::http::StatusCode::INTERNAL_SERVER_ERROR
}

/// Runs Socket Mode until `stop`.
pub async fn run(app: Arc<SlackApp>, mut stop: watch::Receiver<bool>) {
    let Some(app_token) = app.settings.app_token.clone() else {
        return;
    };
    let client = match api::client(&app.settings.api_url) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "Slack Socket Mode: cannot build the client");
            return;
        }
    };
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
            .with_error_handler(on_error)
            .with_user_state(app.clone()),
    );
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_event);
    let config = SlackClientSocketModeConfig::new()
        .with_max_connections_count(1)
        .with_initial_backoff_in_seconds(1)
        .with_reconnect_timeout_in_seconds(RECONNECT_SECS);
    let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
    let token = SlackApiToken::new(SlackApiTokenValue::from(app_token));
    if let Err(e) = listener.listen_for(&token).await {
        tracing::error!(error = %e, "Slack Socket Mode: cannot register the app token");
        return;
    }
    tracing::info!("Slack Socket Mode: connecting");
    listener.start().await;
    let _ = stop.wait_for(|s| *s).await;
    listener.shutdown().await;
}
