//! The Slack app manifest, generated from `commands/`: paste it into
//! "Create New App → From an app manifest" and the app has usher's slash
//! commands, only the bot scopes usher uses, interactivity, the options
//! URL for typeaheads and the event subscriptions. `deploy/slack/
//! manifest.yaml` is this output (a test keeps them equal).

use serde_yaml_ng::{Mapping, Value};

use crate::commands::definitions;

/// The bot scopes usher uses, and for what.
pub const BOT_SCOPES: &[(&str, &str)] = &[
    ("app_mentions:read", "@usher questions in channels"),
    ("channels:manage", "the slack_channel step of a new service"),
    (
        "channels:read",
        "finding a channel an interrupted step made",
    ),
    ("chat:write", "answers, pages and notices"),
    (
        "chat:write.public",
        "notices in team channels usher hasn't joined",
    ),
    ("commands", "the slash commands"),
    ("im:history", "questions in direct messages"),
    ("users:read", "who a Slack user is; deactivated accounts"),
    (
        "users:read.email",
        "matching Slack users to catalog people by email",
    ),
];

/// Where Slack reaches usher.
pub enum Delivery<'a> {
    /// HTTP: the public base URL of `usher serve`.
    Http(&'a str),
    /// Socket Mode: no public URL.
    SocketMode,
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in entries {
        m.insert(Value::String(k.to_string()), v);
    }
    Value::Mapping(m)
}

fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

/// The manifest as YAML.
pub fn manifest(root_command: &str, delivery: Delivery<'_>) -> String {
    let base = match &delivery {
        Delivery::Http(url) => Some(url.trim_end_matches('/').to_string()),
        Delivery::SocketMode => None,
    };
    let url = |path: &str| base.as_ref().map(|b| format!("{b}{path}"));
    let mut commands = Vec::new();
    let mut command = |name: String, description: String, hint: String| {
        let mut entries = vec![("command", s(&name))];
        if let Some(u) = url("/slack/commands") {
            entries.push(("url", s(&u)));
        }
        entries.push(("description", s(&truncate(&description, 2000))));
        entries.push(("usage_hint", s(&truncate(&hint, 1000))));
        entries.push(("should_escape", Value::Bool(false)));
        commands.push(map(entries));
    };
    command(
        root_command.to_string(),
        "Ask the service catalog: who owns it, who's on call, where the docs are".into(),
        "owner payments-api · oncall checkout · search dep:log4j-core@<2.17.1 · help".into(),
    );
    for def in definitions::all().iter().filter(|d| !d.hidden) {
        for word in &def.slash {
            let usage = definitions::usage("", &def.options);
            command(
                format!("/{word}"),
                def.summary.clone(),
                usage.trim().to_string(),
            );
        }
    }
    let mut settings = vec![];
    let mut events = vec![(
        "bot_events",
        Value::Sequence(vec![s("app_mention"), s("message.im")]),
    )];
    if let Some(u) = url("/slack/events") {
        events.insert(0, ("request_url", s(&u)));
    }
    settings.push(("event_subscriptions", map(events)));
    let mut interactivity = vec![("is_enabled", Value::Bool(true))];
    if let (Some(i), Some(o)) = (url("/slack/interactions"), url("/slack/options")) {
        interactivity.push(("request_url", s(&i)));
        interactivity.push(("message_menu_options_url", s(&o)));
    }
    settings.push(("interactivity", map(interactivity)));
    settings.push(("org_deploy_enabled", Value::Bool(false)));
    settings.push((
        "socket_mode_enabled",
        Value::Bool(matches!(delivery, Delivery::SocketMode)),
    ));
    settings.push(("token_rotation_enabled", Value::Bool(false)));
    let manifest = map(vec![
        (
            "_metadata",
            map(vec![
                ("major_version", Value::Number(2.into())),
                ("minor_version", Value::Number(1.into())),
            ]),
        ),
        (
            "display_information",
            map(vec![
                ("name", s("usher")),
                (
                    "description",
                    s(
                        "Who owns it, who's on call, where the docs are: the service catalog in chat.",
                    ),
                ),
                ("background_color", s("#1d3557")),
            ]),
        ),
        (
            "features",
            map(vec![
                (
                    "app_home",
                    map(vec![
                        ("home_tab_enabled", Value::Bool(false)),
                        ("messages_tab_enabled", Value::Bool(true)),
                        ("messages_tab_read_only_enabled", Value::Bool(false)),
                    ]),
                ),
                (
                    "bot_user",
                    map(vec![
                        ("display_name", s("usher")),
                        ("always_online", Value::Bool(true)),
                    ]),
                ),
                ("slash_commands", Value::Sequence(commands)),
            ]),
        ),
        (
            "oauth_config",
            map(vec![(
                "scopes",
                map(vec![(
                    "bot",
                    Value::Sequence(BOT_SCOPES.iter().map(|(scope, _)| s(scope)).collect()),
                )]),
            )]),
        ),
        ("settings", map(settings)),
    ]);
    let yaml = serde_yaml_ng::to_string(&manifest).expect("a manifest serialises");
    format!(
        "# The usher Slack app. Generated by `usher commands slack-manifest{}`;\n# paste it into https://api.slack.com/apps → Create New App → From an app manifest.\n{yaml}",
        match delivery {
            Delivery::Http(_) => " --url https://usher.example.com".to_string(),
            Delivery::SocketMode => " --socket-mode".to_string(),
        }
    )
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_manifest_is_the_generated_one() {
        let shipped = include_str!("../../../deploy/slack/manifest.yaml");
        assert_eq!(
            shipped,
            manifest("/usher", Delivery::Http("https://usher.example.com")),
            "regenerate it: usher commands slack-manifest --url https://usher.example.com > deploy/slack/manifest.yaml"
        );
    }

    #[test]
    fn the_manifest_lists_commands_scopes_and_urls() {
        let text = manifest("/usher", Delivery::Http("https://usher.example.com/"));
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let commands = parsed["features"]["slash_commands"].as_sequence().unwrap();
        let names: Vec<&str> = commands
            .iter()
            .map(|c| c["command"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 3);
        assert_eq!(names[0], "/usher");
        assert!(names.contains(&"/whoowns") && names.contains(&"/oncall"));
        assert_eq!(
            commands[0]["url"].as_str(),
            Some("https://usher.example.com/slack/commands")
        );
        assert_eq!(
            parsed["settings"]["interactivity"]["message_menu_options_url"].as_str(),
            Some("https://usher.example.com/slack/options")
        );
        let socket = manifest("/usher", Delivery::SocketMode);
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&socket).unwrap();
        assert_eq!(
            parsed["settings"]["socket_mode_enabled"].as_bool(),
            Some(true)
        );
        assert!(parsed["features"]["slash_commands"][0].get("url").is_none());
    }
}
