//! `usher bench slack`: signed slash commands against a running `usher
//! serve`, as fast as `concurrency` connections allow for `duration`, and
//! the achieved rate with latency percentiles and errors. Everything the
//! real path does is in it: Slack's signature check, the lookup, the Block
//! Kit answer, HTTP/1.1 keep-alive connections.
//!
//! Without `--url`, the command builds its own scene: a generated catalog
//! in a scratch database and an in-process `usher serve`; with `--refresh`
//! it runs a second round while the catalog is re-imported (a changed file
//! every two seconds), to show what a refresh does to the tail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Percentiles;
use super::generate::Rng;

/// Which requests to send.
#[derive(Debug, Clone)]
pub enum LoadKind {
    /// `/usher owner <service>` as a Slack slash command.
    Slack,
    /// `/usher owner <service>` as a Discord application command.
    DiscordOwner,
    /// Discord autocomplete of the service name (its first letters).
    DiscordAutocomplete,
}

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// `http://host:port` of `usher serve`.
    pub url: String,
    /// Slack's signing secret, or the hex seed of the Discord Ed25519 key.
    pub signing_secret: String,
    pub kind: LoadKind,
    pub concurrency: usize,
    pub duration: Duration,
    /// The services asked about, at random.
    pub names: Vec<String>,
    pub team: String,
    /// Ask about each service once, in order, instead of at random until
    /// the time is up (to time first answers, and to warm up).
    pub each_once: bool,
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub ok: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub latency: Percentiles,
    pub first_error: Option<String>,
}

impl LoadResult {
    pub fn rate(&self) -> f64 {
        (self.ok + self.errors) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for LoadResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} requests/s ({} ok, {} errors in {:.1} s); p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            self.rate(),
            self.ok,
            self.errors,
            self.elapsed.as_secs_f64(),
            super::ms(self.latency.p50),
            super::ms(self.latency.p99),
            super::ms(self.latency.p999),
            super::ms(self.latency.max),
        )?;
        if let Some(e) = &self.first_error {
            write!(f, "\n  first error: {e}")?;
        }
        Ok(())
    }
}

/// A slash command body, as Slack sends it.
fn body(team: &str, text: &str, n: u64) -> String {
    slash_body(team, text, n, "http://127.0.0.1:9/bench")
}

/// A slash command body with its `response_url`.
pub fn slash_body(team: &str, text: &str, n: u64, response_url: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "bench"),
        ("team_id", team),
        ("team_domain", "bench"),
        ("channel_id", "C0BENCH"),
        ("channel_name", "bench"),
        ("user_id", "U0BENCH"),
        ("user_name", "bench"),
        ("command", "/usher"),
        ("text", text),
        ("api_app_id", "A0BENCH"),
        ("response_url", response_url),
        ("trigger_id", &format!("{}.2.{n}", run_id())),
    ])
    .unwrap_or_default()
}

/// Slack's request signature (`v0=` + HMAC-SHA256 of `v0:{ts}:{body}`).
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends `/usher owner <service>` from `concurrency` connections for
/// `duration`.
pub async fn load(spec: &LoadSpec) -> LoadResult {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(spec.concurrency)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("the HTTP client builds");
    let path = match spec.kind {
        LoadKind::Slack => "/slack/commands",
        _ => "/discord/interactions",
    };
    let url = format!("{}{path}", spec.url.trim_end_matches('/'));
    let discord_key = match spec.kind {
        LoadKind::Slack => None,
        _ => Some(super::discord::signing_key(&spec.signing_secret)),
    };
    let deadline = Instant::now() + spec.duration;
    let started = Instant::now();
    let names = Arc::new(spec.names.clone());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let each_once = spec.each_once;
    let mut tasks = Vec::new();
    for worker in 0..spec.concurrency {
        let (kind, discord_key) = (spec.kind.clone(), discord_key.clone());
        let (client, url, names, secret, team, next) = (
            client.clone(),
            url.clone(),
            names.clone(),
            spec.signing_secret.clone(),
            spec.team.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(1000 + worker as u64);
            let mut latencies = Vec::with_capacity(16_384);
            let (mut errors, mut first_error) = (0usize, None::<String>);
            let mut n = 0u64;
            loop {
                let name = if each_once {
                    match names.get(next.fetch_add(1, Ordering::Relaxed)) {
                        Some(name) => name,
                        None => break,
                    }
                } else if Instant::now() < deadline {
                    &names[rng.below(names.len())]
                } else {
                    break;
                };
                n += 1;
                let ts = chrono::Utc::now().timestamp();
                let request = match (&kind, &discord_key) {
                    (LoadKind::Slack, _) | (_, None) => {
                        let body = body(&team, &format!("owner {name}"), n);
                        client
                            .post(&url)
                            .header("content-type", "application/x-www-form-urlencoded")
                            .header("x-slack-request-timestamp", ts.to_string())
                            .header("x-slack-signature", sign(&secret, ts, &body))
                            .body(body)
                    }
                    (kind, Some(key)) => {
                        let body = super::discord::body(
                            matches!(kind, LoadKind::DiscordAutocomplete),
                            name,
                            n,
                        );
                        let (signature, ts) = super::discord::sign(key, ts, &body);
                        client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("x-signature-ed25519", signature)
                            .header("x-signature-timestamp", ts)
                            .body(body)
                    }
                };
                let expected: &[u8] = match kind {
                    LoadKind::Slack => b"\"blocks\"",
                    LoadKind::DiscordOwner => b"\"embeds\"",
                    LoadKind::DiscordAutocomplete => b"\"choices\"",
                };
                let sent = Instant::now();
                let result = request.send().await;
                let outcome = match result {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(b) if b.windows(expected.len()).any(|w| w == expected) => Ok(()),
                        Ok(b) => Err(format!(
                            "an unexpected answer: {}",
                            String::from_utf8_lossy(&b[..b.len().min(200)])
                        )),
                        Err(e) => Err(e.to_string()),
                    },
                    Ok(r) => Err(format!("HTTP {}", r.status())),
                    Err(e) => Err(e.to_string()),
                };
                latencies.push(sent.elapsed());
                if let Err(e) = outcome {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut result = LoadResult::default();
    for task in tasks {
        if let Ok((latencies, errors, first_error)) = task.await {
            result.ok += latencies.len() - errors;
            result.errors += errors;
            if result.first_error.is_none() {
                result.first_error = first_error;
            }
            all.extend(latencies);
        }
    }
    result.elapsed = started.elapsed();
    result.latency = Percentiles::of(&mut all);
    result
}

/// Changes one generated file every `every` and re-imports the whole
/// folder (unchanged files are skipped, as a scheduled refresh does),
/// until `stop`; returns how many refreshes ran and their durations.
pub async fn refresh_while(
    pool: sqlx::PgPool,
    root: std::path::PathBuf,
    options: crate::catalog::loader::LoadOptions,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let folder = root.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(folder.join("teams"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut took = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(every).await;
        if stop.load(Ordering::SeqCst) || files.is_empty() {
            break;
        }
        let file = &files[i % files.len()];
        i += 1;
        // One service's tags change, as a team's edit would.
        if let Ok(text) = std::fs::read_to_string(file) {
            let text = text.replacen("  tags: [", &format!("  tags: [edit-{i}, "), 1);
            let _ = std::fs::write(file, text);
        }
        let started = Instant::now();
        let _ = crate::catalog::import_one(
            &pool,
            &crate::catalog::source::Source::File(root.clone()),
            crate::catalog::import::LocationKind::Dir,
            &options,
            "bench",
            false,
        )
        .await;
        took.push(started.elapsed());
    }
    took
}

/// Tells one run's trigger ids from another's, so a second run against the
/// same server isn't taken for replays of the first.
fn run_id() -> u128 {
    static RUN: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *RUN.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_signed_as_slack_does() {
        // Slack's documented example (see tests/fixtures NOTICE).
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
