//! The `usher` command line: its arguments (clap), the dispatch, and what
//! several subcommands share. Each subcommand opens what it needs (the
//! configuration, the database) and reports failures as one plain message;
//! one file per group of subcommands.

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
    /// Every repository accounted for: scan the [[discovery]] sources of
    /// usher.toml (GitHub organisations, GitLab groups) or, with --path, a folder of git
    /// clones; print how many repositories there are, how many have a
    /// descriptor, and a likely owner for each one without.
    Discover(DiscoverArgs),
    /// People and teams from the identity provider (SCIM, LDAP / Active
    /// Directory).
    #[command(subcommand)]
    Directory(DirectoryCommand),
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
enum DirectoryCommand {
    /// Read the [[directory.ldap]] sources now and import the directory
    /// (with what SCIM pushed) into the catalog; prints what each source
    /// gave and what changed. `usher serve` does the same on each source's
    /// schedule.
    Sync {
        /// Only this LDAP source (its name in usher.toml); the others as
        /// last read.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Read and check everything, write nothing: what would change.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate usher.toml and the environment; print the effective
    /// configuration with secrets redacted. Exit 1 when something is wrong.
    Check,
}

#[derive(Args, Debug)]
struct DiscoverArgs {
    /// A folder whose subfolders (one or two levels down) are git clones,
    /// bare or checked out, as `ghorg clone` or a CI mirror leaves them.
    #[arg(long, value_name = "DIR")]
    path: Option<std::path::PathBuf>,
    /// Scan and print; write nothing and import nothing.
    #[arg(long)]
    dry_run: bool,
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
    /// Scan a fake GitHub organisation (GraphQL and REST shapes, local)
    /// into a scratch database: the first scan with every descriptor
    /// imported, then a re-scan with nothing pushed; wall time, GraphQL
    /// calls, rate-limit points and peak RSS.
    Discovery {
        #[arg(long, default_value_t = 6_000)]
        repositories: usize,
    },
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
    /// Import Backstage descriptors from files and folders (each argument is one location),
    /// or a running Backstage's whole catalog (--from-backstage URL).
    Import {
        /// Files or folders of catalog-info.yaml descriptors.
        #[arg(required_unless_present = "from_backstage", value_name = "PATH")]
        paths: Vec<String>,
        /// Read and check everything, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// A running Backstage's address: its catalog API is read page by
        /// page and imported as the location backstage:URL, each entity
        /// keeping its origin.
        #[arg(long, value_name = "URL", conflicts_with = "paths")]
        from_backstage: Option<String>,
        /// The environment variable holding a token for Backstage's API.
        #[arg(long, value_name = "NAME", requires = "from_backstage")]
        token_env: Option<String>,
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

mod backstage;
mod bench;
mod config_check;
mod descriptors;
mod directory;
mod discover;
mod health;
mod hygiene;
mod queue;
mod terminal;

use self::backstage::*;
use self::bench::*;
use self::config_check::*;
use self::descriptors::*;
use self::directory::*;
use self::discover::*;
use self::health::*;
use self::hygiene::*;
use self::queue::*;
use self::terminal::*;

pub(crate) fn init_logging(default_level: &str) {
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

/// Parses the arguments, sets up logging, runs the subcommand.
pub async fn main() -> ExitCode {
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
        Command::Catalog(CatalogCommand::Import {
            paths,
            dry_run,
            from_backstage,
            token_env,
        }) => match from_backstage {
            Some(url) => {
                import_from_backstage(&env, &config, &url, token_env.as_deref(), dry_run).await
            }
            None => import(&env, &config, &paths, dry_run).await,
        },
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
        Command::Discover(args) => discover(&env, &config, args).await,
        Command::Status => status(&env, &config).await,
        Command::Directory(DirectoryCommand::Sync { source, dry_run }) => {
            directory_sync(&env, &config, source.as_deref(), dry_run).await
        }
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

pub(crate) async fn open(env: &Env) -> anyhow::Result<Database> {
    Ok(Database::open(&usher::db::DbSettings::from_env(env)).await?)
}

pub(crate) fn os_user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

pub(crate) fn local_cluster_exists(data_dir: &std::path::Path) -> bool {
    data_dir.join("postgres/PG_VERSION").exists() || data_dir.join("postgres.location").exists()
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
