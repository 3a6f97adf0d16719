//! The `usher` command line. Each subcommand opens what it needs (the
//! configuration, the database) and reports failures as one plain message.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use usher::actions::outbox;
use usher::catalog::{self, import::LocationKind, loader, source::Source};
use usher::commands::Core;
use usher::config::{Config, ConfigError, Env};
use usher::db::Database;
use usher::platforms::console;

/// mimalloc: catalog imports allocate many small values; the system
/// allocator spent a third of the parsing time in malloc and free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "usher",
    version,
    about = "A chat-ops bot for a service catalog: who owns it, who is on call, where the docs are"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the bot: HTTP endpoints and background workers.
    Serve,
    /// The bot in a terminal: one command per line on stdin, replies on stdout.
    Console(ConsoleArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Import, validate and inspect catalog descriptors.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// The durable queue of outbound messages and actions.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Benchmarks: they print figures.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// What the chat platforms need to know about usher's commands.
    #[command(subcommand)]
    Commands(CommandsCommand),
    /// Catalog hygiene reminders: run a round of digests to owning teams.
    Nag(NagArgs),
    /// Where the catalog stands after an import: rejected descriptors
    /// (file:line), owners that don't resolve, which owners digests reach
    /// and the line to add for the rest, coverage, missing settings.
    Status,
    /// Ask a running `usher serve` whether it is ready (its /readyz): exit 0
    /// when it is, 1 when not. For container health checks, where images
    /// have no curl.
    Health {
        /// The base URL; default: this machine at USHER_LISTEN's port.
        #[arg(long)]
        url: Option<String>,
        /// Ready also means every configured chat platform is connected
        /// (Slack's auth.test answered, Discord's gateway up), not only the
        /// database.
        #[arg(long)]
        strict: bool,
    },
    /// The configuration: check usher.toml and the environment.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate usher.toml and the environment; print the effective
    /// configuration with secrets redacted. Exit 1 when something is wrong.
    Check,
}

#[derive(Args, Debug)]
struct NagArgs {
    /// Run one round now, whatever the schedule and quiet days say.
    #[arg(long)]
    once: bool,
    /// Print each team's digest and where it would go; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only this owner: a team (name or group:ns/name) or a person who owns services (user:ns/name).
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
}

#[derive(Subcommand, Debug)]
enum CommandsCommand {
    /// Print the Slack app manifest (create the app from it at api.slack.com/apps).
    SlackManifest {
        /// The public base URL of `usher serve` (HTTP mode), e.g. https://usher.example.com
        #[arg(long, value_name = "PUBLIC_URL", conflicts_with = "socket_mode")]
        url: Option<String>,
        /// Socket Mode: no public URL needed (set SLACK_APP_TOKEN).
        #[arg(long)]
        socket_mode: bool,
    },
    /// Print Discord's application command registration JSON.
    DiscordJson,
    /// Register the application commands with Discord (a bulk overwrite:
    /// running it again changes nothing). Needs DISCORD_BOT_TOKEN and
    /// DISCORD_APPLICATION_ID.
    RegisterDiscord {
        /// Register in one guild (instant) instead of globally.
        #[arg(long, value_name = "ID")]
        guild: Option<u64>,
    },
    /// Print the URL that invites the bot to a server (DISCORD_APPLICATION_ID).
    DiscordInvite,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Write a synthetic organisation as Backstage YAML (one file per team and a Location).
    Generate {
        /// How many services.
        #[arg(long, default_value_t = 100_000)]
        services: usize,
        /// Where to write it.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Import a synthetic organisation into a scratch database and measure
    /// import throughput, re-import, lookups and peak memory.
    Catalog {
        #[arg(long, default_value_t = 100_000)]
        services: usize,
        /// Number of exact and of fuzzy lookups to time.
        #[arg(long, default_value_t = 2_000)]
        lookups: usize,
        /// Library packages to add per service before timing the commands
        /// (50 on 100,000 services is 5 million rows).
        #[arg(long, default_value_t = 0)]
        packages: i64,
        /// How many times to run each chat command for its timing.
        #[arg(long, default_value_t = 200)]
        iterations: usize,
    },
    /// Signed `/usher owner …` slash commands against usher serve: achieved
    /// rate, p50/p99/p99.9/max latency and errors.
    Slack(SlackBenchArgs),
    /// Two `usher serve` replicas on one (local) database under mixed load,
    /// a PostgreSQL restart and a `kill -9` of one replica mid-way: prints
    /// requests answered and failed, outbox effects expected vs delivered
    /// (lost, doubled) and each replica's memory. Takes minutes; not a test.
    Soak {
        /// Minutes of load.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        #[arg(long, default_value_t = 10_000)]
        services: usize,
        /// Requests in flight at most.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Requests a second (slash commands, mentions, clicks together).
        #[arg(long, default_value_t = 400.0)]
        rate: f64,
    },
    /// Send Ed25519-signed Discord interactions (`/usher owner`, and
    /// autocomplete) to usher serve and print rate, latency and errors.
    Discord(SlackBenchArgs),
}

/// `usher bench slack` and `usher bench discord` options (for Discord,
/// --secret is the seed of the bench key pair, --team is unused).
#[derive(Args, Debug)]
struct SlackBenchArgs {
    /// A running usher serve (with its SLACK_SIGNING_SECRET); without
    /// it, a scratch catalog and an in-process usher serve are set up.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The signing secret of the server at --url.
    #[arg(long, env = "SLACK_SIGNING_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Services in the generated catalog (without --url).
    #[arg(long, default_value_t = 10_000)]
    services: usize,
    /// Connections sending at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to send for.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Then a second round while the catalog is refreshed (without --url).
    #[arg(long)]
    refresh: bool,
    /// The team id the commands come from.
    #[arg(long, default_value = "T0BENCH")]
    team: String,
}

#[derive(Args, Debug)]
struct ConsoleArgs {
    /// Act as this catalog person (name, email or user:namespace/name).
    #[arg(long = "as", value_name = "PERSON")]
    as_person: Option<String>,
    /// Load the demo catalog first (Acme Shop, from deploy/demo/).
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand, Debug)]
enum CatalogCommand {
    /// Import Backstage descriptors from files and folders (each argument is one location).
    Import {
        /// Files or folders of catalog-info.yaml descriptors.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
        /// Read and check everything, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remember a location (a URL or a path): `usher serve` re-imports it on a schedule.
    AddLocation {
        #[arg(value_name = "URL_OR_PATH")]
        target: String,
        /// When to refresh it (crontab, UTC); catalog.refresh_schedule by default.
        #[arg(long, value_name = "CRON")]
        schedule: Option<String>,
        /// Only remember it; don't import it now.
        #[arg(long)]
        no_import: bool,
    },
    /// Import a service's library packages from CycloneDX or SPDX JSON SBOMs.
    ImportSbom {
        /// The service (name or kind:namespace/name).
        #[arg(long, value_name = "NAME")]
        service: String,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// The locations usher knows, with the outcome of their last import.
    Locations,
    /// Write the catalog as Backstage YAML: one file per kind and a Location listing them.
    Export {
        /// A folder to write into, or - for one YAML stream on stdout.
        #[arg(long, short, default_value = "-", value_name = "DIR|-")]
        output: String,
    },
    /// Check descriptors without writing; every problem as file:line: field: message.
    Validate {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
        /// Don't consult the catalog to resolve references.
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Subcommand, Debug)]
enum OutboxCommand {
    /// Jobs waiting or dead (undeliverable).
    List {
        /// Only dead letters.
        #[arg(long)]
        dead: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Put a job back in the queue, due now.
    Retry { id: i64 },
}

fn init_logging(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("USHER_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    usher::install_crypto_provider();
    let cli = Cli::parse();
    init_logging(match cli.command {
        Command::Serve => "info",
        _ => "warn",
    });
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("usher: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let env = Env::from_env();
    if let Command::Health { url, strict } = &cli.command {
        // Needs no configuration, and answers only 0 or 1 (what container
        // health checks understand).
        return Ok(health(&env, url.clone(), *strict).await);
    }
    let config = Config::load()?;
    // Each part checks its own section (config knows no rules).
    usher::hygiene::rules::check_config(&config).map_err(|message| ConfigError {
        file: config
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "usher.toml".into()),
        message,
    })?;
    let config = Arc::new(config);
    match cli.command {
        Command::Serve => {
            let db = open(&env).await?;
            let server = usher::serve::Server::bind(&env, db, config).await?;
            server
                .run_until(async {
                    usher::serve::shutdown_signal().await;
                    // A second signal: stop now, without finishing.
                    tokio::spawn(async {
                        usher::serve::shutdown_signal().await;
                        eprintln!("usher: a second signal: exiting at once");
                        std::process::exit(130);
                    });
                })
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Console(args) => run_console(&env, config, args).await,
        Command::Migrate => {
            let db = open(&env).await?;
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&db.pool)
                    .await?;
            println!(
                "migrations applied; the database is at version {}",
                applied.unwrap_or(0)
            );
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Catalog(CatalogCommand::Import { paths, dry_run }) => {
            import(&env, &config, &paths, dry_run).await
        }
        Command::Catalog(CatalogCommand::AddLocation {
            target,
            schedule,
            no_import,
        }) => add_location(&env, &config, &target, schedule.as_deref(), no_import).await,
        Command::Catalog(CatalogCommand::Locations) => locations(&env).await,
        Command::Catalog(CatalogCommand::ImportSbom { service, files }) => {
            import_sbom(&env, &service, &files).await
        }
        Command::Catalog(CatalogCommand::Export { output }) => export(&env, &output).await,
        Command::Catalog(CatalogCommand::Validate {
            paths,
            strict,
            offline,
        }) => validate(&env, &config, &paths, strict, offline).await,
        Command::Outbox(cmd) => outbox_command(&env, cmd).await,
        Command::Bench(cmd) => bench(&env, &config, cmd).await,
        Command::Commands(CommandsCommand::SlackManifest { url, socket_mode }) => {
            use usher::platforms::slack::manifest::{Delivery, manifest};
            let delivery = match (&url, socket_mode) {
                (Some(url), _) => {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        bail!(
                            "--url {url}: give the public base URL of usher serve, e.g. https://usher.example.com"
                        );
                    }
                    Delivery::Http(url)
                }
                (None, true) => Delivery::SocketMode,
                (None, false) => {
                    bail!("say how Slack reaches usher: --url PUBLIC_URL (HTTP) or --socket-mode")
                }
            };
            print!("{}", manifest(&config.slack.command, delivery));
            Ok(ExitCode::SUCCESS)
        }
        Command::Nag(args) => nag(&env, &config, args).await,
        Command::Status => status(&env, &config).await,
        Command::Health { .. } => unreachable!("answered before the configuration is read"),
        Command::Config(ConfigCommand::Check) => Ok(config_check(&config)),
        Command::Commands(CommandsCommand::DiscordJson) => {
            print!(
                "{}",
                usher::platforms::discord::registration::commands_pretty(&config.discord.command)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Commands(CommandsCommand::DiscordInvite) => {
            let settings = usher::platforms::discord::DiscordSettings::from_env();
            let Some(id) = settings.application_id else {
                bail!(
                    "set DISCORD_APPLICATION_ID (Developer Portal → your application → General Information → Application ID)"
                );
            };
            println!(
                "{}",
                usher::platforms::discord::registration::invite_url(&id.to_string())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Commands(CommandsCommand::RegisterDiscord { guild }) => {
            use usher::platforms::discord::{DiscordSettings, api::Api, registration};
            let settings = DiscordSettings::from_env();
            let (Some(token), Some(app_id)) = (&settings.bot_token, settings.application_id) else {
                bail!(
                    "set DISCORD_BOT_TOKEN and DISCORD_APPLICATION_ID (Developer Portal → your application → Bot, and General Information)"
                );
            };
            let api = Api::new(token, &settings.api_url, Some(app_id));
            let commands = registration::commands(&config.discord.command);
            let mut wait = std::time::Duration::ZERO;
            for _ in 0..5 {
                tokio::time::sleep(wait).await;
                match api.overwrite_commands(app_id, guild, &commands).await {
                    Ok(answer) => {
                        let names: Vec<String> = answer
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|c| c["name"].as_str().map(|n| format!("/{n}")))
                                    .collect()
                            })
                            .unwrap_or_default();
                        println!(
                            "registered {} command(s) {}: {}",
                            names.len(),
                            match guild {
                                Some(g) => format!("in guild {g}"),
                                None => "globally (Discord may take up to an hour to show changes)"
                                    .into(),
                            },
                            names.join(", ")
                        );
                        return Ok(ExitCode::SUCCESS);
                    }
                    Err(usher::platforms::discord::api::ApiError::RateLimited(after)) => {
                        eprintln!("Discord asks to wait {:.1} s; waiting", after.as_secs_f64());
                        wait = after;
                    }
                    Err(e) => bail!("registering the commands failed: {e}"),
                }
            }
            bail!("Discord kept rate-limiting the registration; try again in a minute")
        }
    }
}

/// `usher config check`: the effective configuration and what the
/// environment provides — secret values never printed, only whether they
/// are set and whether they look right.
fn config_check(config: &Config) -> ExitCode {
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
    ]
    .iter()
    .map(|(name, env)| match var(env) {
        Some(_) => format!("{name} ({env} set)"),
        None => format!("{name} off ({env} unset)"),
    })
    .collect();
    verdict.push(("integrations", integrations.join(", ")));
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
fn weak_secret(secret: &str, min: usize) -> Option<String> {
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

/// `usher nag --once [--dry-run] [--team T]`.
async fn nag(env: &Env, config: &Config, args: NagArgs) -> anyhow::Result<ExitCode> {
    use usher::hygiene::digest;
    if !args.once {
        bail!(
            "usher serve runs rounds on hygiene.schedule; `usher nag --once` runs one now (add --dry-run to only print it)"
        );
    }
    let db = open(env).await?;
    let team = match &args.team {
        Some(t) => {
            let key = usher::catalog::model::EntityRef::parse(
                t,
                Some(usher::catalog::model::Kind::Group),
                "default",
            )
            .map(|r| r.key())
            .map_err(|e| anyhow::anyhow!("--team {t}: {e}"))?;
            let known: Option<String> =
                // A team or person in the catalog, or an owner services
                // name that the catalog doesn't describe (it has a digest).
                sqlx::query_scalar(
                    "SELECT ref FROM entities WHERE ref = $1 AND kind IN ('group', 'user')
                     UNION SELECT owner_ref FROM entities WHERE owner_ref = $1 LIMIT 1",
                )
                .bind(&key)
                    .fetch_optional(&db.pool)
                    .await?;
            if known.is_none() {
                db.close().await;
                eprintln!(
                    "usher: --team {t}: no such team or owner in the catalog (`usher console` then `team {t}` suggests names)"
                );
                return Ok(ExitCode::from(2));
            }
            Some(key)
        }
        None => None,
    };
    let mut config = config.clone();
    config.hygiene.deliver_on = Some(usher::serve::posting_platforms(
        &usher::platforms::slack::SlackSettings::from_env(),
        &usher::platforms::discord::DiscordSettings::from_env(),
    ));
    let config = &config;
    let started = std::time::Instant::now();
    let digests = digest::build(&db.pool, config, team.as_deref(), !args.dry_run).await?;
    if args.dry_run {
        for d in &digests {
            println!(
                "=== {} ({} findings) → {}",
                d.team,
                d.findings.len(),
                d.destination.describe()
            );
            println!("{}\n", d.reply.to_plain());
        }
        print!("{}", digest::summary(&digests));
        println!(
            "{} digest(s) built in {:.2} s; nothing sent (--dry-run).",
            digests.len(),
            started.elapsed().as_secs_f64()
        );
    } else {
        let round = format!("once:{}", chrono::Utc::now().format("%Y-%m-%dT%H:%M"));
        let outcome = digest::send_round(&db.pool, config, &round, &digests).await?;
        println!(
            "round {round}: {} digest(s) queued, {} unchanged since the last (not re-sent), {} already sent this round, {} with no destination (reported to the admins). `usher outbox list` shows them.",
            outcome.sent, outcome.unchanged, outcome.already, outcome.undeliverable
        );
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

/// `usher status`: the admins' `status`, at the shell.
async fn status(env: &Env, config: &Config) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    let mut config = config.clone();
    config.hygiene.deliver_on = Some(usher::serve::posting_platforms(
        &usher::platforms::slack::SlackSettings::from_env(),
        &usher::platforms::discord::DiscordSettings::from_env(),
    ));
    let core = Core::new(db.pool.clone(), Arc::new(config));
    let report = usher::commands::status::report(&core).await;
    db.close().await;
    println!("{}", report?.to_plain());
    Ok(ExitCode::SUCCESS)
}

async fn open(env: &Env) -> anyhow::Result<Database> {
    Ok(Database::open(&usher::db::DbSettings::from_env(env)).await?)
}

async fn run_console(
    env: &Env,
    config: Arc<Config>,
    args: ConsoleArgs,
) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    // The console posts to no chat platform: pages and digests say so.
    let config = {
        let mut config = (*config).clone();
        config.hygiene.deliver_on = Some(Vec::new());
        Arc::new(config)
    };
    let core = Core::new(db.pool.clone(), config.clone());
    let result = async {
        if args.demo {
            let root = usher::demo::write_files(&env.data_dir).context("cannot write the demo catalog")?;
            let result = catalog::import_one(
                &db.pool,
                &Source::File(root),
                LocationKind::Demo,
                &usher::catalog::loader::LoadOptions::from_config(&config),
                "usher:demo",
                false,
            )
            .await?;
            let errors = result.loaded.error_count();
            if errors > 0 {
                for p in result.loaded.problems.iter().filter(|p| p.is_error()) {
                    eprintln!("{p}");
                }
            }
        }
        let actor = match console::resolve_actor(&core, args.as_person.as_deref()).await {
            Ok(actor) => actor,
            Err(message) => bail!("{message}"),
        };
        let interactive = std::io::stdin().is_terminal();
        let style = console::Style {
            color: std::io::stdout().is_terminal(),
        };
        // The console runs the outbox worker too, so automation steps and
        // pages started here go out (chat messages wait for a platform).
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = usher::actions::outbox::Worker::new(
            db.pool.clone(),
            usher::serve::action_senders(&config, &db.pool, &core.oncall),
            config.outbox.clone(),
        );
        let worker_task = tokio::spawn(worker.run(stopped));
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let mut stdout = std::io::stdout();
        tokio::select! {
            r = console::run(&core, actor, stdin, &mut stdout, interactive, style) => r.context("console input/output failed")?,
            _ = usher::serve::shutdown_signal() => {}
        }
        let _ = stop.send(true);
        let _ = worker_task.await;
        Ok(())
    }
    .await;
    db.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

fn sources(paths: &[String]) -> Vec<Source> {
    paths.iter().map(|p| Source::from_arg(p)).collect()
}

async fn import(
    env: &Env,
    config: &Config,
    paths: &[String],
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let result = catalog::import_roots(
        &db.pool,
        &sources(paths),
        &usher::catalog::loader::LoadOptions::from_config_with(config, Some(db.pool.clone())),
        &actor,
        dry_run,
    )
    .await;
    db.close().await;
    let results = result?;
    let mut errors = 0;
    for location in &results {
        let mut problems = location.loaded.problems.clone();
        problems.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
        for p in &problems {
            println!("{p}");
        }
        errors += location.loaded.error_count();
        let o = &location.outcome;
        let read = format!(
            "{} entities from {} files",
            location.loaded.entity_count, location.loaded.files_read
        );
        let verb = if location.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        };
        println!(
            "{}: {read}{verb}: {} added, {} changed, {} removed, {} unchanged; {} errors, {} warnings ({} ms)",
            location.target,
            o.added,
            o.changed,
            o.removed,
            o.unchanged,
            o.errors,
            o.warnings,
            o.duration_ms
        );
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn validate(
    env: &Env,
    config: &Config,
    paths: &[String],
    strict: bool,
    offline: bool,
) -> anyhow::Result<ExitCode> {
    let mut entities = loader::Collect::default();
    let mut loaded = loader::load(
        &sources(paths),
        &usher::catalog::loader::LoadOptions::from_config(config),
        &loader::Reuse::default(),
        &mut entities,
    )
    .await?;
    let entities = entities.0;
    // References resolve against all files given and, when a database is
    // reachable (DATABASE_URL, or a local cluster already initialised),
    // the catalog.
    let db_reachable =
        !offline && (env.database_url.is_some() || local_cluster_exists(&env.data_dir));
    let mut known = std::collections::HashSet::new();
    if db_reachable {
        match Database::open(&usher::db::DbSettings::from_env(env)).await {
            Ok(db) => {
                known = catalog::import::known_refs(&db.pool, &loader::referenced_keys(&entities))
                    .await?;
                let clashes = catalog::import::case_clashes(&db.pool, &entities).await?;
                loaded.problems.extend(clashes);
                db.close().await;
            }
            Err(e) => eprintln!(
                "usher: the catalog is not reachable, so references resolve against these files only ({e})"
            ),
        }
    }
    let dangling = loader::check_references(&entities, &known);
    loaded.problems.extend(dangling);
    let mut problems = loaded.problems.clone();
    problems.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
    for p in &problems {
        println!("{p}");
    }
    let (errors, warnings) = (loaded.error_count(), loaded.warning_count());
    eprintln!(
        "{} files, {} entities: {errors} errors, {warnings} warnings",
        loaded.files_read,
        entities.len()
    );
    let failed = errors > 0 || (strict && warnings > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn add_location(
    env: &Env,
    config: &Config,
    target: &str,
    schedule: Option<&str>,
    no_import: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(text) = schedule {
        usher::schedule::Schedule::parse(text, "")
            .map_err(|why| anyhow::anyhow!("--schedule: {why}"))?;
    }
    let source = Source::from_arg(target);
    if let Source::File(path) = &source
        && !path.exists()
    {
        bail!("{target} does not exist; give a URL, or the path of a descriptor file or folder");
    }
    let db = open(env).await?;
    let result = async {
        catalog::refresh::remember(&db.pool, &source, schedule, &format!("cli:{}", os_user())).await?;
        println!(
            "remembered {}; usher serve refreshes it {}",
            source.location_key(),
            match schedule {
                Some(s) => format!("on the schedule '{s}'"),
                None => format!("on the default schedule '{}'", config.catalog.refresh_schedule),
            }
        );
        if !no_import {
            let done = catalog::import_one(
                &db.pool,
                &source,
                catalog::refresh::kind_of(&source),
                &usher::catalog::loader::LoadOptions::from_config_with(config, Some(db.pool.clone())),
                &format!("cli:{}", os_user()),
                false,
            )
            .await?;
            for p in &done.loaded.problems {
                println!("{p}");
            }
            let o = &done.outcome;
            println!(
                "imported now: {} added, {} changed, {} removed, {} unchanged; {} errors, {} warnings",
                o.added, o.changed, o.removed, o.unchanged, o.errors, o.warnings
            );
        }
        anyhow::Ok(ExitCode::SUCCESS)
    }
    .await;
    db.close().await;
    result
}

async fn import_sbom(env: &Env, service: &str, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    use usher::catalog::model::{EntityRef, Kind};
    use usher::catalog::{sbom, store};
    let mut parsed = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let (format, packages) =
            sbom::parse(&text).map_err(|why| anyhow::anyhow!("{}: {why}", file.display()))?;
        parsed.push((file, format, packages));
    }
    let db = open(env).await?;
    let result = async {
        let row = match EntityRef::parse(service, Some(Kind::Component), "default") {
            Ok(r) if service.contains(':') || service.contains('/') => store::find_by_ref(&db.pool, &r.key()).await?,
            _ => {
                let mut rows = store::find_by_name(&db.pool, &Kind::OWNED, service).await?;
                if rows.len() > 1 {
                    let refs: Vec<String> = rows.iter().map(|r| r.command_ref()).collect();
                    bail!("several entities are called {service}: {}; pass the full reference", refs.join(", "));
                }
                rows.pop()
            }
        };
        let Some(row) = row else {
            bail!("there is no service called {service} in the catalog; import its descriptor first");
        };
        let mut tx = db.pool.begin().await?;
        for (file, format, packages) in &parsed {
            let source = format!("sbom:{}", file.display());
            sbom::replace(&mut tx, row.id, &source, packages).await?;
            println!(
                "{}: {} packages ({:?}) for {}",
                file.display(),
                packages.len(),
                format,
                row.short()
            );
        }
        sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'catalog.import-sbom', $2, $3)")
            .bind(format!("cli:{}", os_user()))
            .bind(&row.key)
            .bind(serde_json::json!({ "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>() }))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        anyhow::Ok(ExitCode::SUCCESS)
    }
    .await;
    db.close().await;
    result
}

async fn locations(env: &Env) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    let rows = catalog::refresh::list(&db.pool).await;
    db.close().await;
    let rows = rows?;
    if rows.is_empty() {
        println!(
            "no locations yet: `usher catalog import PATH_OR_URL` or `usher catalog add-location URL`"
        );
    }
    for l in rows {
        let outcome = l
            .last_outcome
            .as_ref()
            .map(|o| {
                format!(
                    "+{} ~{} -{} ={} ({} errors, {} warnings, {} ms)",
                    o["added"],
                    o["changed"],
                    o["removed"],
                    o["unchanged"],
                    o["errors"],
                    o["warnings"],
                    o["duration_ms"]
                )
            })
            .unwrap_or_else(|| "never imported".to_string());
        println!("{}", l.target);
        println!(
            "  {} · {} entities · {} problems · last import {} · {}",
            l.kind,
            l.entities,
            l.problems,
            l.refreshed_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "—".into()),
            outcome
        );
        if l.remembered {
            println!(
                "  refreshed by usher serve on '{}'; next {}",
                l.schedule.as_deref().unwrap_or("the default schedule"),
                l.next_refresh_at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "now".into())
            );
        }
        if let Some(e) = l.last_error {
            println!("  last refresh failed: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(env: &Env, output: &str) -> anyhow::Result<ExitCode> {
    use usher::catalog::export::{self, Output};
    let db = open(env).await?;
    let target = if output == "-" {
        Output::Stdout
    } else {
        Output::Dir(PathBuf::from(output))
    };
    let result = export::export(&db.pool, &target).await;
    db.close().await;
    let done = result?;
    if let Output::Dir(dir) = &target {
        let files: Vec<String> = done
            .files
            .iter()
            .map(|(f, n)| format!("{f} ({n})"))
            .collect();
        println!(
            "exported {} entities to {}: {}; import or validate {}",
            done.entities,
            dir.display(),
            files.join(", "),
            dir.join("catalog-info.yaml").display()
        );
    } else {
        eprintln!("exported {} entities", done.entities);
    }
    Ok(ExitCode::SUCCESS)
}

fn os_user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

fn local_cluster_exists(data_dir: &std::path::Path) -> bool {
    data_dir.join("postgres/PG_VERSION").exists() || data_dir.join("postgres.location").exists()
}

async fn outbox_command(env: &Env, cmd: OutboxCommand) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    let result = async {
        match cmd {
            OutboxCommand::List { dead, limit } => {
                let jobs = outbox::list(&db.pool, dead, limit).await?;
                if jobs.is_empty() {
                    println!(
                        "{}",
                        if dead {
                            "no dead letters"
                        } else {
                            "the outbox is empty: nothing waiting, nothing dead"
                        }
                    );
                }
                for j in jobs {
                    println!(
                        "{:>6}  {:<7}  {:<14}  {}  attempts {}/{}  next {}{}",
                        j.id,
                        j.state,
                        j.kind,
                        j.destination,
                        j.attempts,
                        j.max_attempts,
                        j.next_attempt_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        j.last_error
                            .map(|e| format!("  last error: {e}"))
                            .unwrap_or_default()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            OutboxCommand::Retry { id } => match outbox::retry(&db.pool, id).await? {
                None => {
                    eprintln!("usher: there is no outbox job {id}; `usher outbox list` shows them");
                    Ok(ExitCode::from(1))
                }
                Some(state) if state == "done" => {
                    println!("job {id} was delivered already; nothing to retry");
                    Ok(ExitCode::SUCCESS)
                }
                Some(_) => {
                    println!("job {id} is queued again and will be sent by the next worker round");
                    Ok(ExitCode::SUCCESS)
                }
            },
        }
    }
    .await;
    db.close().await;
    result
}

/// `usher health`: GET /readyz of the usher listening on this machine.
async fn health(env: &Env, url: Option<String>, strict: bool) -> ExitCode {
    let base = url.unwrap_or_else(|| {
        // A wildcard listen address is reached on loopback; a specific one
        // as it is.
        let (host, port) = env.listen.rsplit_once(':').unwrap_or(("", "8080"));
        let host = match host {
            "" | "0.0.0.0" | "[::]" | "::" => "127.0.0.1",
            other => other,
        };
        format!("http://{host}:{port}")
    });
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let answer = match client {
        Ok(c) => c.get(&url).send().await,
        Err(e) => {
            eprintln!("usher health: {e}");
            return ExitCode::FAILURE;
        }
    };
    match answer {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            // A platform that is configured ("off" is not) and not ready.
            let waiting: Vec<String> = ["slack", "discord"]
                .iter()
                .filter(|p| body[**p]["ready"] == false && body[**p]["detail"] != "off")
                .map(|p| {
                    format!(
                        "{p}: {}",
                        body[*p]["detail"].as_str().unwrap_or("not ready")
                    )
                })
                .collect();
            if strict && !waiting.is_empty() {
                eprintln!(
                    "not ready ({url}, --strict): usher serves, but {}",
                    waiting.join("; ")
                );
                return ExitCode::FAILURE;
            }
            println!("ready ({url})");
            for w in &waiting {
                println!("  (not connected: {w}; --strict counts this as not ready)");
            }
            ExitCode::SUCCESS
        }
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            eprintln!("not ready ({url} answered {status}): {}", body.trim());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("not ready: {url} could not be reached ({e}). Is `usher serve` running?");
            ExitCode::FAILURE
        }
    }
}

async fn bench(env: &Env, config: &Config, cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    use usher::bench::{catalog as catalog_bench, generate};
    match cmd {
        BenchCommand::Generate {
            services,
            out,
            seed,
        } => {
            let g = generate::generate(&out, &generate::Spec { services, seed })?;
            println!(
                "wrote {} files to {}: {} services, {} teams, {} people, {} systems ({} entities); import {}",
                g.files,
                out.display(),
                g.services,
                g.teams,
                g.people,
                g.systems,
                g.entities,
                g.root.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Catalog {
            services,
            lookups,
            packages,
            iterations,
        } => {
            let dir = std::env::temp_dir().join(format!("usher-bench-{}", std::process::id()));
            let started = std::time::Instant::now();
            use usher::bench::generate;
            let generated = generate::generate(&dir, &generate::Spec { services, seed: 42 })?;
            println!(
                "generated {} entities ({} services, {} teams, {} people) in {:.1} s",
                generated.entities,
                generated.services,
                generated.teams,
                generated.people,
                started.elapsed().as_secs_f64()
            );
            let scratch =
                usher::db::Scratch::create(&usher::db::DbSettings::from_env(env), "usher_bench")
                    .await?;
            let result = async {
                let figures = catalog_bench::run(
                    &scratch.db.pool,
                    &generated,
                    &usher::catalog::loader::LoadOptions::from_config(config),
                    lookups,
                )
                .await?;
                println!("{figures}");
                // Hygiene: every rule over the whole catalog, then the digests.
                let started = std::time::Instant::now();
                let findings = usher::hygiene::evaluate(
                    &scratch.db.pool,
                    &config.hygiene,
                    &usher::hygiene::Scope::default(),
                )
                .await?;
                let evaluated = started.elapsed();
                let digests =
                    usher::hygiene::digest::build(&scratch.db.pool, config, None, false).await?;
                let built = started.elapsed() - evaluated;
                let (_, peak) = usher::bench::memory_mb();
                println!(
                    "hygiene: {} rules over {} services in {:.2} s ({} findings); {} team digests built (rules evaluated again inside) in {:.2} s ({:.0}/s); peak RSS so far {peak:.0} MB",
                    usher::hygiene::rules::all().len(),
                    generated.services,
                    evaluated.as_secs_f64(),
                    findings.len(),
                    digests.len(),
                    built.as_secs_f64(),
                    digests.len() as f64 / built.as_secs_f64().max(1e-9),
                );
                if packages > 0 {
                    let started = std::time::Instant::now();
                    let rows =
                        usher::bench::commands::add_packages(&scratch.db.pool, packages).await?;
                    println!(
                        "added {rows} package rows in {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                let mut timings =
                    usher::bench::commands::run(&scratch.db.pool, &generated, iterations).await?;
                timings.extend(
                    usher::bench::commands::oncall(&scratch.db.pool, &generated, iterations)
                        .await?,
                );
                println!("{}", usher::bench::commands::table(&timings));
                anyhow::Ok(())
            }
            .await;
            scratch.drop_now().await?;
            let _ = std::fs::remove_dir_all(&dir);
            result?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Soak {
            minutes,
            services,
            concurrency,
            rate,
        } => {
            let spec = usher::bench::soak::SoakSpec {
                binary: std::env::current_exe().context("finding the usher binary")?,
                dir: env.data_dir.join("soak"),
                duration: std::time::Duration::from_secs_f64(minutes.max(0.5) * 60.0),
                services,
                concurrency: concurrency.max(1),
                rate,
            };
            let report = usher::bench::soak::run(&spec)
                .await
                .map_err(anyhow::Error::msg)?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Slack(args) => bench_slack(env, config, args, false).await,
        BenchCommand::Discord(args) => bench_slack(env, config, args, true).await,
    }
}

/// `usher bench slack`: against --url, or a scene of its own.
async fn bench_slack(
    env: &Env,
    config: &Config,
    args: SlackBenchArgs,
    discord: bool,
) -> anyhow::Result<ExitCode> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use usher::bench::slack::{LoadKind, LoadSpec, load, refresh_while};
    let kind = if discord {
        LoadKind::DiscordOwner
    } else {
        LoadKind::Slack
    };
    let SlackBenchArgs {
        url,
        secret,
        services,
        concurrency,
        duration,
        refresh,
        team,
    } = args;
    let duration = std::time::Duration::from_secs(duration.max(1));
    let concurrency = concurrency.max(1);
    if let Some(url) = url {
        let Some(secret) = secret else {
            bail!("--url needs the server's signing secret: --secret or SLACK_SIGNING_SECRET");
        };
        let names = vec!["payments-api".to_string(), "checkout-api".to_string()];
        let spec = LoadSpec {
            url,
            signing_secret: secret,
            kind,
            concurrency,
            duration,
            names,
            team,
            each_once: false,
        };
        println!("{}", load(&spec).await);
        return Ok(ExitCode::SUCCESS);
    }
    let dir = std::env::temp_dir().join(format!("usher-bench-slack-{}", std::process::id()));
    use usher::bench::generate;
    let generated = generate::generate(&dir, &generate::Spec { services, seed: 42 })?;
    let scratch =
        usher::db::Scratch::create(&usher::db::DbSettings::from_env(env), "usher_bench").await?;
    let result = async {
        let started = std::time::Instant::now();
        catalog::import_one(
            &scratch.db.pool,
            &Source::File(generated.root.clone()),
            LocationKind::Dir,
            &usher::catalog::loader::LoadOptions::from_config(config),
            "bench",
            false,
        )
        .await?;
        println!(
            "catalog: {} entities ({} services) imported in {:.1} s",
            generated.entities,
            generated.services,
            started.elapsed().as_secs_f64()
        );
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM entities WHERE kind = 'component'")
                .fetch_all(&scratch.db.pool)
                .await?;
        let secret = "bench-signing-secret".to_string();
        let serve_env = Env {
            listen: "127.0.0.1:0".into(),
            metrics_listen: None,
            ..env.clone()
        };
        let server = usher::serve::Server::bind(
            &serve_env,
            Database::from_pool(scratch.db.pool.clone()),
            Arc::new(config.clone()),
        )
        .await?
        .with_slack(usher::platforms::slack::SlackSettings {
            signing_secret: (!discord).then(|| secret.clone()),
            ..Default::default()
        })
        .with_discord(usher::platforms::discord::DiscordSettings {
            public_key: discord.then(|| usher::bench::discord::public_key_hex(&secret)),
            api_url: "http://127.0.0.1:9".into(),
            ..Default::default()
        });
        let base = format!("http://127.0.0.1:{}", server.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        let spec = LoadSpec {
            url: base,
            signing_secret: secret,
            kind,
            concurrency,
            duration,
            names,
            team,
            each_once: false,
        };
        println!("/usher owner <service>, {concurrency} connections:");
        // First answers: every service once (nothing remembered yet).
        let first = load(&LoadSpec {
            each_once: true,
            ..spec.clone()
        })
        .await;
        println!("  first answer for each service: {first}");
        println!(
            "  then at random, {} s: {}",
            duration.as_secs(),
            load(&spec).await
        );
        if discord {
            let complete = LoadSpec {
                kind: LoadKind::DiscordAutocomplete,
                ..spec.clone()
            };
            println!(
                "  autocomplete of a service name (its first 4 letters), {} s: {}",
                duration.as_secs(),
                load(&complete).await
            );
        }
        if refresh {
            let stop_refresh = Arc::new(AtomicBool::new(false));
            let refresher = tokio::spawn(refresh_while(
                scratch.db.pool.clone(),
                generated.root.clone(),
                usher::catalog::loader::LoadOptions::from_config(config),
                std::time::Duration::from_secs(2),
                stop_refresh.clone(),
            ));
            let during = load(&spec).await;
            stop_refresh.store(true, Ordering::SeqCst);
            let took = refresher.await.unwrap_or_default();
            let mut took = took;
            println!(
                "  during {} catalog refreshes ({}): {during}",
                took.len(),
                usher::bench::Percentiles::of(&mut took)
            );
        }
        let (rss, peak) = usher::bench::memory_mb();
        println!("memory (this process: server and load generator): {rss:.0} MB now, {peak:.0} MB at peak");
        let _ = stop.send(());
        let _ = serving.await;
        anyhow::Ok(())
    }
    .await;
    scratch.drop_now().await?;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
