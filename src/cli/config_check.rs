//! `usher config check`: the verdict first (a line per part, the cautions),
//! then the effective configuration; never a secret.

use super::*;

/// `usher config check`: the effective configuration and what the
/// environment provides — secret values never printed, only whether they
/// are set and whether they look right.
pub(crate) fn config_check(config: &Config) -> ExitCode {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let secret = |k: &str| match var(k) {
        Some(v) => format!("set ({} characters, not shown)", v.chars().count()),
        None => "not set".into(),
    };
    let mut problems: Vec<String> = Vec::new();
    // The verdict first, one line a part; the details after.
    let mut verdict: Vec<(&str, String)> = Vec::new();
    verdict.push((
        "configuration",
        match &config.source {
            Some(path) => format!("{} (defaults for the rest)", path.display()),
            None => "no usher.toml (USHER_CONFIG unset, no ./usher.toml): all defaults".into(),
        },
    ));
    let database = match var("DATABASE_URL") {
        Some(url) => match reqwest::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => {
                format!("DATABASE_URL {}", usher::db::redact_url(&url))
            }
            _ => {
                problems.push(
                    "DATABASE_URL: must be postgres://user:password@host:port/database".into(),
                );
                "DATABASE_URL is set, but not a postgres:// URL".into()
            }
        },
        None => "its own PostgreSQL under USHER_DATA_DIR (DATABASE_URL unset)".into(),
    };
    verdict.push(("database", database.clone()));
    let listen = var("USHER_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push(format!(
            "USHER_LISTEN: '{listen}' is not host:port, e.g. 0.0.0.0:8080"
        ));
    }
    for (name, prefix) in [("SLACK_BOT_TOKEN", "xoxb-"), ("SLACK_APP_TOKEN", "xapp-")] {
        if let Some(v) = var(name)
            && !v.starts_with(prefix)
        {
            problems.push(format!(
                "{name}: should start with {prefix} (Slack shows it on the app's page)"
            ));
        }
    }
    if let Some(why) = var("USHER_SCIM_TOKEN").and_then(|s| weak_secret(&s, 24)) {
        problems.push(format!(
            "USHER_SCIM_TOKEN: {why} — anyone who guesses it can add people to the catalog; make it a long random string (openssl rand -hex 32)"
        ));
    }
    if let Some(why) = var("SLACK_SIGNING_SECRET").and_then(|s| weak_secret(&s, 32)) {
        problems.push(format!(
            "SLACK_SIGNING_SECRET: {why} — copy the app's Signing Secret (32 characters) from its Basic Information page"
        ));
    }
    let slack = match (
        var("SLACK_SIGNING_SECRET"),
        var("SLACK_APP_TOKEN"),
        var("SLACK_BOT_TOKEN"),
    ) {
        (_, Some(_), Some(_)) => "Socket Mode (app token and bot token)".to_string(),
        (Some(_), None, Some(_)) => "HTTP (signing secret and bot token)".to_string(),
        (Some(_), None, None) => {
            "HTTP, commands only (no SLACK_BOT_TOKEN: no messages, forms or people sync)"
                .to_string()
        }
        (None, None, Some(_)) => {
            problems.push("Slack: a bot token but neither SLACK_SIGNING_SECRET (HTTP) nor SLACK_APP_TOKEN (Socket Mode): Slack can't reach usher".into());
            "incomplete".to_string()
        }
        (_, Some(_), None) => {
            problems.push("Slack: SLACK_APP_TOKEN needs SLACK_BOT_TOKEN too".into());
            "incomplete".to_string()
        }
        (None, None, None) => "off".to_string(),
    };
    let slack_on = slack != "off";
    verdict.push(("Slack", slack));
    if let Some(key) = var("DISCORD_PUBLIC_KEY")
        && let Err(why) = usher::platforms::discord::http::verifier(&key)
    {
        problems.push(why);
    }
    if var("DISCORD_APPLICATION_ID").is_some_and(|id| id.trim().parse::<u64>().is_err()) {
        problems.push("DISCORD_APPLICATION_ID: must be the application's numeric id".into());
    }
    let discord = match (var("DISCORD_PUBLIC_KEY"), var("DISCORD_BOT_TOKEN")) {
        (Some(_), Some(_)) => "HTTP interactions and the gateway (public key and bot token)",
        (Some(_), None) => "HTTP interactions only (no DISCORD_BOT_TOKEN: no messages)",
        (None, Some(_)) => "the gateway (bot token)",
        (None, None) => "off",
    };
    verdict.push(("Discord", discord.to_string()));
    let integrations: Vec<String> = [
        ("PagerDuty", &config.oncall.pagerduty_token_env),
        ("Opsgenie", &config.oncall.opsgenie_key_env),
        ("SCIM at /scim/v2", &"USHER_SCIM_TOKEN".to_string()),
    ]
    .iter()
    .map(|(name, env)| match var(env) {
        Some(_) => format!("{name} ({env} set)"),
        None => format!("{name} off ({env} unset)"),
    })
    .collect();
    verdict.push(("integrations", integrations.join(", ")));
    if !config.discovery.is_empty() {
        let sources: Vec<String> = config
            .discovery
            .iter()
            .map(|d| match var(&d.token_env) {
                Some(_) => format!("{} ({}, {} set)", d.source(), d.schedule, d.token_env),
                None => {
                    problems.push(format!(
                        "discovery {}: {} is not set, so this source isn't scanned; give it a token that can read its repositories",
                        d.source(),
                        d.token_env
                    ));
                    format!("{} off ({} unset)", d.source(), d.token_env)
                }
            })
            .collect();
        verdict.push(("discovery", sources.join(", ")));
    }
    if config.directory.connected() {
        let d = &config.directory;
        let mut sources: Vec<String> = Vec::new();
        if var("USHER_SCIM_TOKEN").is_some() {
            sources.push("SCIM".into());
        }
        for ldap in &d.ldap {
            if var(&ldap.bind_password_env).is_none() {
                problems.push(format!(
                    "directory.ldap {:?}: {} is not set, so {} can't be read; set it to the password of {}",
                    ldap.name, ldap.bind_password_env, ldap.url, ldap.bind_dn
                ));
            }
            if let Some(ca) = ldap.ca_file.as_ref().filter(|ca| !ca.is_file()) {
                problems.push(format!(
                    "directory.ldap {:?}: ca_file {} doesn't exist",
                    ldap.name,
                    ca.display()
                ));
            }
            sources.push(format!(
                "LDAP {} ({}, {})",
                ldap.name, ldap.url, ldap.schedule
            ));
        }
        verdict.push(("directory", sources.join(", ")));
        verdict.push((
            "who wins",
            format!(
                "people: {}, membership: {}, ownership: descriptors (spec.owner; the directory never sets owners); teams from {}",
                d.people.as_str(),
                d.membership.as_str(),
                d.teams.describe()
            ),
        ));
    }
    verdict.push((
        "admins",
        if config.admins.people.is_empty() {
            "none named ([admins] people): dead letters reach nobody".into()
        } else {
            format!("{} named", config.admins.people.len())
        },
    ));
    if let Some(dir) = var("USHER_DATA_DIR")
        && let Err(e) = usher::db::local::check_data_dir(std::path::Path::new(&dir))
    {
        problems.push(e.to_string());
    }
    if let Some(addr) = var("USHER_METRICS_LISTEN") {
        if addr.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "USHER_METRICS_LISTEN: '{addr}' is not host:port, e.g. 127.0.0.1:9090"
            ));
        }
        verdict.push((
            "metrics",
            format!("/metrics on {addr} (USHER_METRICS_LISTEN)"),
        ));
    } else {
        verdict.push((
            "metrics",
            format!(
                "/metrics on {listen}, with the chat endpoints (USHER_METRICS_LISTEN moves it)"
            ),
        ));
    }
    let cautions = config.cautions(slack_on, discord != "off");
    println!("usher config check");
    for (part, line) in &verdict {
        println!("  {part:<14} {line}");
    }
    for caution in &cautions {
        println!("  caution        {caution}");
    }
    if problems.is_empty() {
        println!("  verdict        ok\n");
    } else {
        println!("  verdict        {} problem(s):", problems.len());
        for p in &problems {
            println!("    ✘ {p}");
        }
        println!();
    }

    println!("# usher.toml (effective)");
    match toml::to_string_pretty(config) {
        Ok(text) => println!("{text}"),
        Err(e) => problems.push(format!("the configuration can't be shown: {e}")),
    }
    println!("# environment");
    println!("DATABASE_URL: {database}");
    println!("USHER_LISTEN: {listen}");
    println!(
        "USHER_METRICS_LISTEN: {}",
        var("USHER_METRICS_LISTEN").unwrap_or_else(|| "(unset: /metrics on USHER_LISTEN)".into())
    );
    for name in [
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "DISCORD_BOT_TOKEN",
    ] {
        println!("{name}: {}", secret(name));
    }
    println!(
        "DISCORD_PUBLIC_KEY: {}",
        var("DISCORD_PUBLIC_KEY").unwrap_or_else(|| "not set".into())
    );
    println!(
        "DISCORD_APPLICATION_ID: {}",
        var("DISCORD_APPLICATION_ID").unwrap_or_else(|| "not set".into())
    );
    let mut token_vars: Vec<String> = vec![
        config.oncall.pagerduty_token_env.clone(),
        config.oncall.opsgenie_key_env.clone(),
    ];
    token_vars.extend(
        config
            .catalog
            .all_hosts()
            .into_iter()
            .filter_map(|h| h.token_env),
    );
    token_vars.extend(config.discovery.iter().map(|d| d.token_env.clone()));
    token_vars.sort();
    token_vars.dedup();
    for name in token_vars {
        println!("{name}: {}", secret(&name));
    }
    if problems.is_empty() {
        println!("# ok");
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("usher: {p}");
        }
        ExitCode::from(1)
    }
}

/// Why a secret is too weak to trust, if it is: shorter than `min`
/// characters, or one character repeated.
pub(crate) fn weak_secret(secret: &str, min: usize) -> Option<String> {
    let secret = secret.trim();
    let length = secret.chars().count();
    if length < min {
        return Some(format!(
            "only {length} characters (at least {min} expected)"
        ));
    }
    let first = secret.chars().next()?;
    secret
        .chars()
        .all(|c| c == first)
        .then(|| "one character repeated".to_string())
}
