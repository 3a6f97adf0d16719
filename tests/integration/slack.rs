//! Slack end to end: the real `usher serve` (in-process, on a random port,
//! or the binary) with a real Postgres, signed requests over real HTTP,
//! and a local fake of Slack's Web API and Socket Mode that slack-morphism
//! talks to.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use usher::actions::outbox::{self, NewJob, Senders, Worker};
use usher::config::{Config, Env};
use usher::db::Database;
use usher::platforms::slack::{SlackApp, SlackSettings, sender::SlackSender};
use usher::serve::Server;

use crate::commands::demo_db;
use crate::fake_slack::{BOT_USER, Failure, FakeSlack, SIGNING_SECRET, TEAM, sign};
use crate::support::{TestDb, fixtures, readyz_until, usher};

/// A trigger id of its own for each request, as Slack sends (the same one
/// twice is a replay, and acts once).
fn trigger() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("13345224609.738474920.{}", N.fetch_add(1, Ordering::SeqCst))
}

/// usher serving Slack against the fake.
struct Harness {
    db: TestDb,
    fake: FakeSlack,
    base: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Harness {
    async fn start(toml: &str) -> Harness {
        Harness::start_with(toml, |fake| SlackSettings {
            signing_secret: Some(SIGNING_SECRET.into()),
            bot_token: Some("xoxb-test-token".into()),
            app_token: None,
            api_url: fake.api_url(),
        })
        .await
    }

    async fn start_with(toml: &str, settings: impl Fn(&FakeSlack) -> SlackSettings) -> Harness {
        let harness = Harness::launch(toml, settings).await;
        harness.wait_ready().await;
        harness
    }

    /// Starts serving without waiting for Slack to be reachable.
    async fn launch(toml: &str, settings: impl Fn(&FakeSlack) -> SlackSettings) -> Harness {
        let db = demo_db().await;
        let fake = FakeSlack::start().await;
        people(&fake);
        Harness::serve(db, fake, toml, settings).await
    }

    /// Stops this server and starts another on the same database and
    /// fake Slack, as a restarted process would.
    async fn restart(mut self, toml: &str) -> Harness {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        let (db, fake) = (self.db, self.fake);
        let harness = Harness::serve(db, fake, toml, |fake| SlackSettings {
            signing_secret: Some(SIGNING_SECRET.into()),
            bot_token: Some("xoxb-test-token".into()),
            app_token: None,
            api_url: fake.api_url(),
        })
        .await;
        harness.wait_ready().await;
        harness
    }

    async fn serve(
        db: TestDb,
        fake: FakeSlack,
        toml: &str,
        settings: impl Fn(&FakeSlack) -> SlackSettings,
    ) -> Harness {
        // No hygiene rounds: their digests would cross what the tests count.
        let config = Config::from_toml(&format!("{toml}\n[hygiene]\nenabled = false\n")).unwrap();
        let env = Env {
            database_url: None,
            data_dir: std::env::temp_dir(),
            listen: "127.0.0.1:0".into(),
            metrics_listen: None,
        };
        let server = Server::bind(
            &env,
            Database::from_pool(db.new_pool().await),
            Arc::new(config),
        )
        .await
        .unwrap()
        .with_slack(settings(&fake));
        let base = format!("http://127.0.0.1:{}", server.port());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        Harness {
            db,
            fake,
            base,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Until `/readyz` says Slack is connected (auth.test answered).
    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["slack"]["ready"] == json!(true)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("Slack never became ready");
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// POSTs `body` to `path`, signed as Slack does, `age` seconds ago.
    async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        age: i64,
    ) -> reqwest::Response {
        let ts = chrono::Utc::now().timestamp() - age;
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(SIGNING_SECRET, ts, body))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Runs a slash command as `user`; returns Slack's HTTP answer.
    async fn command(&self, command: &str, text: &str, user: &str) -> Value {
        self.command_in(TEAM, command, text, user).await
    }

    async fn command_in(&self, team: &str, command: &str, text: &str, user: &str) -> Value {
        let body = command_form(team, command, text, user, &self.fake.response_url("cmd"));
        let response = self
            .post_signed(
                "/slack/commands",
                "application/x-www-form-urlencoded",
                &body,
                0,
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Posts an interaction payload (signed); returns status and body.
    async fn interaction(&self, payload: &Value) -> (u16, String) {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        let response = self
            .post_signed(
                "/slack/interactions",
                "application/x-www-form-urlencoded",
                &body,
                0,
            )
            .await;
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn event(&self, event: &Value, retry: Option<u32>) -> u16 {
        let body = event.to_string();
        let ts = chrono::Utc::now().timestamp();
        let mut request = self
            .http
            .post(format!("{}/slack/events", self.base))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(SIGNING_SECRET, ts, &body));
        if let Some(n) = retry {
            request = request
                .header("x-slack-retry-num", n.to_string())
                .header("x-slack-retry-reason", "http_timeout");
        }
        request.body(body).send().await.unwrap().status().as_u16()
    }
}

/// The demo's people, as Slack knows them.
pub fn people(fake: &FakeSlack) {
    for (id, email) in [
        ("U01AMARA", "amara.okafor@acme-shop.example"),
        ("U01JONAS", "jonas.weber@acme-shop.example"),
        ("U01DIEGO", "diego.ramirez@acme-shop.example"),
        ("U01MEIT", "mei.tanaka@acme-shop.example"),
        ("U01SAML", "sam.lindqvist@acme-shop.example"),
        // No slack user id in the catalog: matched by email.
        ("U02PRIYA", "priya.nair@acme-shop.example"),
        // Not in the catalog.
        ("U09GUEST", "visitor@acme-shop.example"),
    ] {
        fake.add_user(id, email, TEAM);
    }
    fake.put_user(json!({
        "id": "U07PARTNER", "team_id": "T0PARTNER", "name": "pat", "real_name": "Pat Partner",
        "deleted": false, "is_bot": false, "is_stranger": true,
        "profile": { "email": "pat@partner.example", "real_name": "Pat Partner" },
    }));
}

pub fn command_form(
    team: &str,
    command: &str,
    text: &str,
    user: &str,
    response_url: &str,
) -> String {
    serde_urlencoded::to_string([
        ("token", "deprecated-verification-token"),
        ("team_id", team),
        ("team_domain", "acme-shop"),
        ("channel_id", "C0GENERAL"),
        ("channel_name", "general"),
        ("user_id", user),
        ("user_name", "someone"),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0USHER"),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        ("trigger_id", &trigger()),
    ])
    .unwrap()
}

/// Every text in a Block Kit answer, joined (for assertions).
pub fn block_text(v: &Value) -> String {
    let mut out = Vec::new();
    collect_text(v, &mut out);
    out.join("\n")
}

fn collect_text(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("text" | "value" | "url" | "action_id", Value::String(s)) => {
                        out.push(s.clone())
                    }
                    _ => collect_text(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        _ => {}
    }
}

const WORKSPACE: &str = "[slack]\nworkspaces = [\"T0ACME\"]\ninline_ms = 2000\nusers_list_interval_ms = 0\n[admins]\npeople = [\"sam.lindqvist\"]\n[outbox]\nbase_backoff_secs = 0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_answer_in_block_kit() {
    let h = Harness::start(WORKSPACE).await;
    let owner = h.command("/usher", "owner payments-api", "U01JONAS").await;
    assert_eq!(owner["response_type"], "ephemeral");
    let text = block_text(&owner);
    assert_eq!(owner["blocks"][0]["type"], "header", "{owner:#}");
    assert!(text.contains("Payments API"), "{text}");
    assert!(
        text.contains("<#C04PAYMNTS>"),
        "the team channel is a real link: {text}"
    );
    assert!(
        text.contains("<@U01AMARA>"),
        "the lead is a real mention: {text}"
    );
    assert!(text.contains("Share in channel"), "{text}");
    // The aliases from commands/ and the rest of the commands.
    let whoowns = h.command("/whoowns", "payments-api", "U01JONAS").await;
    assert!(block_text(&whoowns).contains("Payments API"));
    let oncall = h.command("/oncall", "payments-api", "U01JONAS").await;
    assert!(
        block_text(&oncall).to_lowercase().contains("on call"),
        "{oncall:#}"
    );
    for line in [
        "docs payments-api",
        "service payments-api",
        "team team-payments",
        "deps checkout-api",
        "search dep:log4j-core@<2.17.1",
        "stats",
        "help",
        "help owner",
    ] {
        let answer = h.command("/usher", line, "U01JONAS").await;
        let blocks = answer["blocks"]
            .as_array()
            .unwrap_or_else(|| panic!("{line}: {answer:#}"));
        assert!(!blocks.is_empty(), "{line}");
        assert!(blocks.len() <= 50, "{line}");
    }
    let search = block_text(
        &h.command("/usher", "search dep:log4j-core@<2.17.1", "U01JONAS")
            .await,
    );
    assert!(
        search.contains("legacy-billing") || search.contains("log4j"),
        "{search}"
    );
    // A typo: "did you mean …?" as a choice.
    let typo = h.command("/usher", "owner paymnts-api", "U01JONAS").await;
    let typo_text = block_text(&typo);
    assert!(typo_text.contains("payments-api"), "{typo_text}");
    // help offers a service typeahead backed by /slack/options.
    let help = h.command("/usher", "", "U01JONAS").await;
    let typeahead = help["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["type"] == "external_select")
        .expect("a typeahead");
    let payload = json!({
        "type": "block_suggestion", "team": { "id": TEAM, "domain": "acme-shop" },
        "user": { "id": "U01JONAS", "team_id": TEAM }, "api_app_id": "A0USHER",
        "block_id": "b1", "action_id": typeahead["action_id"], "value": "paym",
        "container": { "type": "message", "message_ts": "1.2", "channel_id": "C0GENERAL", "is_ephemeral": true },
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let options: Value = h
        .post_signed(
            "/slack/options",
            "application/x-www-form-urlencoded",
            &body,
            0,
        )
        .await
        .json()
        .await
        .unwrap();
    let first = &options["options"][0];
    assert!(
        first["text"]["text"].as_str().unwrap().contains("payments"),
        "{options:#}"
    );
    assert!(
        first["value"]
            .as_str()
            .unwrap()
            .starts_with("owner payments"),
        "{options:#}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_old_and_huge_requests_change_nothing() {
    let h = Harness::start(WORKSPACE).await;
    let event = json!({
        "token": "x", "team_id": TEAM, "api_app_id": "A0USHER", "type": "event_callback",
        "event_id": "Ev0FORGED", "event_time": 1764150000,
        "event": { "type": "app_mention", "user": "U01JONAS", "text": "<@UUSHERBOT> who owns payments-api?",
                   "ts": "1764150000.000001", "channel": "C0GENERAL", "event_ts": "1764150000.000001" },
    })
    .to_string();
    let url = format!("{}/slack/events", h.base);
    let now = chrono::Utc::now().timestamp();
    // Forged: signed with another secret.
    let forged = h
        .http
        .post(&url)
        .header("x-slack-request-timestamp", now.to_string())
        .header("x-slack-signature", sign("not-the-secret", now, &event))
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // Unsigned.
    let unsigned = h.http.post(&url).body(event.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    // Correctly signed, six minutes ago.
    let old = h
        .post_signed("/slack/events", "application/json", &event, 360)
        .await;
    assert_eq!(old.status(), 401);
    // A slash command body with a tampered text after signing.
    let body = command_form(TEAM, "/usher", "owner payments-api", "U01JONAS", "http://x");
    let ts = now;
    let tampered = h
        .http
        .post(format!("{}/slack/commands", h.base))
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(SIGNING_SECRET, ts, &body))
        .body(body.replace("payments-api", "checkout-api"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);
    // Too big: 413 before anything is read.
    let huge = "x".repeat(300 * 1024);
    let big = h
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &huge,
            0,
        )
        .await;
    assert_eq!(big.status(), 413);
    // Nothing happened.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM slack_events")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(events, 0);
    assert!(outbox::counts(&h.db.pool).await.unwrap().is_empty());
    assert!(h.fake.calls_of("chat.postMessage").is_empty());
    h.stop().await;
}

#[tokio::test]
async fn the_documented_signing_example_is_slacks_algorithm() {
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("slack/slack-docs__request-signing-example.json"))
            .unwrap(),
    )
    .unwrap();
    let find = |key: &str| -> String {
        example
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.contains(key))
            .map(|(_, v)| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_else(|| panic!("{key} in {example:#}"))
    };
    let body = std::fs::read_to_string(fixtures().join("slack/slack-docs__slash_command.form.txt"))
        .unwrap();
    let secret = find("secret");
    let timestamp: i64 = find("timestamp").trim_matches('"').parse().unwrap();
    let expected = find("signature");
    assert_eq!(sign(&secret, timestamp, &body), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_verification_is_answered() {
    let h = Harness::start(WORKSPACE).await;
    let fixture =
        std::fs::read_to_string(fixtures().join("slack/bolt-python__url_verification.json"))
            .unwrap();
    let response = h
        .post_signed("/slack/events", "application/json", &fixture, 0)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let sent: Value = serde_json::from_str(&fixture).unwrap();
    assert_eq!(body["challenge"], sent["challenge"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_mention_is_refused_politely_and_a_restart_does_not_crash() {
    let h = Harness::start(WORKSPACE).await;
    // Slack allows 40,000 characters; usher 0.1 recursed once per leading
    // "usher" and overflowed its stack, in every replica, on every restart.
    let huge = format!("<@UUSHERBOT> {}", "usher ".repeat(6_500));
    assert!(huge.len() > 39_000);
    assert_eq!(h.event(&mention("Ev0HUGE", &huge), None).await, 200);
    let posted = h
        .fake
        .wait_for("the answer to the huge mention", |f| {
            let calls = f.calls_of("chat.postMessage");
            (!calls.is_empty()).then_some(calls)
        })
        .await;
    let text = block_text(&posted[0].params);
    assert!(text.contains("That's too long for me"), "{text}");
    // The same shape under the limit is just the bot's name: help.
    let short = format!("<@UUSHERBOT> {}", "usher ".repeat(500));
    assert_eq!(h.event(&mention("Ev0SHORT", &short), None).await, 200);
    h.fake
        .wait_for("the answer to the long mention", |f| {
            (f.calls_of("chat.postMessage").len() == 2).then_some(())
        })
        .await;
    // A restart on the same database: alive, ready, answering, and the
    // mentions (delivered) are not answered again.
    let h = h.restart(WORKSPACE).await;
    let owner = h.command("/usher", "owner payments-api", "U01JONAS").await;
    assert!(block_text(&owner).contains("Payments API"), "{owner:#}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.fake.calls_of("chat.postMessage").len(), 2);
    let states: Vec<String> =
        sqlx::query_scalar("SELECT state FROM outbox WHERE kind = 'slack.mention' ORDER BY id")
            .fetch_all(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(states, ["done", "done"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_said_plainly_and_readyz_stays_quick() {
    let h = Harness::start(WORKSPACE).await;
    h.db.set_reachable(false).await;
    // Someone usher hasn't seen yet: not "you're not in the catalog", but
    // the truth, well inside Slack's 3 seconds.
    let started = std::time::Instant::now();
    let answer = h.command("/usher", "team team-payments", "U01PRIYA").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let text = block_text(&answer);
    assert!(
        text.contains("The catalog is unavailable right now"),
        "{text}"
    );
    assert!(!text.contains("can't match you"), "{text}");
    let started = std::time::Instant::now();
    let ready = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ready.status(), 503);
    // Back again: answered as usual.
    h.db.set_reachable(true).await;
    let mut text = String::new();
    for _ in 0..50 {
        text = block_text(&h.command("/usher", "team team-payments", "U01AMARA").await);
        if text.contains("Payments") && !text.contains("unavailable") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains("Members (3)"), "{text}");
    h.stop().await;
}

pub fn mention(event_id: &str, text: &str) -> Value {
    json!({
        "token": "x", "team_id": TEAM, "api_app_id": "A0USHER", "type": "event_callback",
        "event_id": event_id, "event_time": 1764150000,
        "authorizations": [{ "team_id": TEAM, "user_id": BOT_USER, "is_bot": true }],
        "event": { "type": "app_mention", "user": "U01JONAS", "text": text,
                   "ts": "1764150000.000001", "channel": "C0GENERAL", "event_ts": "1764150000.000001" },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_are_answered_in_the_thread_once() {
    let h = Harness::start(WORKSPACE).await;
    let event = mention("Ev0MENTION1", "<@UUSHERBOT> who owns payments-api?");
    assert_eq!(h.event(&event, None).await, 200);
    // Slack's retry of the same event, and a plain repeat: acknowledged only.
    assert_eq!(h.event(&event, Some(1)).await, 200);
    assert_eq!(h.event(&event, None).await, 200);
    let posted = h
        .fake
        .wait_for("the answer in the thread", |f| {
            let calls = f.calls_of("chat.postMessage");
            (!calls.is_empty()).then_some(calls)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        h.fake.calls_of("chat.postMessage").len(),
        1,
        "acted on once"
    );
    let call = &posted[0];
    assert_eq!(call.params["channel"], "C0GENERAL");
    assert_eq!(call.params["thread_ts"], "1764150000.000001");
    assert!(
        block_text(&call.params).contains("Payments API"),
        "{:#}",
        call.params
    );
    assert_eq!(call.token.as_deref(), Some("xoxb-test-token"));
    // Anything else gets the help card; a DM is answered too.
    let dm = json!({
        "token": "x", "team_id": TEAM, "api_app_id": "A0USHER", "type": "event_callback",
        "event_id": "Ev0DM1", "event_time": 1764150000,
        "event": { "type": "message", "channel_type": "im", "user": "U01JONAS", "text": "what is the weather like?",
                   "ts": "1764150001.000001", "channel": "D0JONAS", "event_ts": "1764150001.000001" },
    });
    assert_eq!(h.event(&dm, None).await, 200);
    let help = h
        .fake
        .wait_for("the help card in the DM", |f| {
            f.calls_of("chat.postMessage")
                .into_iter()
                .find(|c| c.params["channel"] == "D0JONAS")
        })
        .await;
    assert!(
        block_text(&help.params).contains("I didn't catch that"),
        "{:#}",
        help.params
    );
    // The bot's own messages are not questions.
    let own = json!({
        "token": "x", "team_id": TEAM, "api_app_id": "A0USHER", "type": "event_callback",
        "event_id": "Ev0OWN", "event_time": 1764150000,
        "event": { "type": "message", "channel_type": "im", "user": BOT_USER, "bot_id": "B0USHER", "text": "hello",
                   "ts": "1764150002.000001", "channel": "D0JONAS", "event_ts": "1764150002.000001" },
    });
    assert_eq!(h.event(&own, None).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.fake.calls_of("chat.postMessage").len(), 2);
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM slack_events")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_acknowledged_then_posted_to_the_response_url() {
    // Answers from the database (not the catalog in memory), to make one slow.
    let h = Harness::start(&format!(
        "{}[chat]\ncatalog_in_memory = false\n",
        WORKSPACE.replace("inline_ms = 2000", "inline_ms = 300")
    ))
    .await;
    // Warm the snapshot, then hold the catalog for 1.5 s as a slow
    // database would.
    h.command("/usher", "owner checkout-api", "U01JONAS").await;
    let pool = h.db.pool.clone();
    let (locked, is_locked) = oneshot::channel();
    let holder = tokio::spawn(async move {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("LOCK TABLE entities IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .unwrap();
        let _ = locked.send(());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tx.rollback().await.unwrap();
    });
    is_locked.await.unwrap();
    let started = std::time::Instant::now();
    let ack = h.command("/usher", "owner payments-api", "U01JONAS").await;
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "acknowledged in time"
    );
    assert!(block_text(&ack).contains("Still looking"), "{ack:#}");
    let (id, body) = h
        .fake
        .wait_for("the late answer", |f| f.responses().into_iter().next())
        .await;
    assert_eq!(id, "cmd");
    assert!(block_text(&body).contains("Payments API"), "{body:#}");
    assert_eq!(body["response_type"], "ephemeral");
    holder.await.unwrap();
    h.stop().await;
}

fn click(user: &str, value: &str, response_url: &str) -> Value {
    json!({
        "type": "block_actions", "token": "x", "api_app_id": "A0USHER",
        "team": { "id": TEAM, "domain": "acme-shop" },
        "user": { "id": user, "username": "someone", "name": "someone", "team_id": TEAM },
        "container": { "type": "message", "message_ts": "1764150000.000300", "channel_id": "C0GENERAL", "is_ephemeral": true },
        "trigger_id": trigger(),
        "channel": { "id": "C0GENERAL", "name": "general" },
        "response_url": response_url,
        "actions": [{ "type": "button", "action_id": "run:3", "block_id": "b1",
                      "text": { "type": "plain_text", "text": "Notify owners" }, "value": value,
                      "action_ts": "1764150001.000100" }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_are_checked_again_as_the_person_who_clicked() {
    let h = Harness::start(WORKSPACE).await;
    let notify = "search dep:log4j-core@<2.17.1 --notify";
    // Jonas may search but not notify: refused, with who may.
    let (status, _) = h
        .interaction(&click("U01JONAS", notify, &h.fake.response_url("jonas")))
        .await;
    assert_eq!(status, 200);
    let (_, refusal) = h
        .fake
        .wait_for("the refusal", |f| {
            f.responses().into_iter().find(|(id, _)| id == "jonas")
        })
        .await;
    let text = block_text(&refusal);
    assert!(
        // Named by role, never by address.
        text.contains("Only usher admins") && !text.contains("sam.lindqvist"),
        "{text}"
    );
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'chat.notify'")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "nothing was sent");
    // Sam is an admin: the same button notifies the owners, in their channel.
    h.interaction(&click("U01SAML", notify, &h.fake.response_url("sam")))
        .await;
    let (_, done) = h
        .fake
        .wait_for("the confirmation", |f| {
            f.responses().into_iter().find(|(id, _)| id == "sam")
        })
        .await;
    assert!(block_text(&done).contains("Notified"), "{done:#}");
    let notice = h
        .fake
        .wait_for("the notice in a team channel", |f| {
            f.calls_of("chat.postMessage").into_iter().next()
        })
        .await;
    assert!(
        block_text(&notice.params).contains("log4j-core"),
        "{:#}",
        notice.params
    );
    // Share in channel: the answer again, for everyone.
    let share = json!({
        "type": "block_actions", "token": "x", "api_app_id": "A0USHER",
        "team": { "id": TEAM, "domain": "acme-shop" },
        "user": { "id": "U01JONAS", "team_id": TEAM },
        "container": { "type": "message", "message_ts": "1.2", "channel_id": "C0GENERAL", "is_ephemeral": true },
        "trigger_id": trigger(), "channel": { "id": "C0GENERAL", "name": "general" },
        "response_url": h.fake.response_url("share"),
        "actions": [{ "type": "button", "action_id": "share", "block_id": "b9",
                      "text": { "type": "plain_text", "text": "Share in channel" }, "value": "owner payments-api" }],
    });
    h.interaction(&share).await;
    let shared = h
        .fake
        .wait_for("the shared answer and the deletion", |f| {
            let posts: Vec<Value> = f
                .responses()
                .into_iter()
                .filter(|(id, _)| id == "share")
                .map(|(_, b)| b)
                .collect();
            (posts.len() == 2).then_some(posts)
        })
        .await;
    // Two jobs, delivered by parallel outbox lanes in either order.
    let answer = shared
        .iter()
        .find(|b| b["response_type"] == "in_channel")
        .expect("the shared answer");
    assert!(block_text(answer).contains("Payments API"));
    assert!(shared.iter().any(|b| b["delete_original"] == true));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_click_or_command_acts_once() {
    let h = Harness::start(WORKSPACE).await;
    // Sam (an admin) notifies the owners; the same signed click arrives
    // again inside the signature's five minutes.
    let payload = click(
        "U01SAML",
        "search dep:log4j-core@<2.17.1 --notify",
        &h.fake.response_url("sam"),
    );
    assert_eq!(h.interaction(&payload).await.0, 200);
    h.fake
        .wait_for("the confirmation", |f| {
            f.responses().into_iter().find(|(id, _)| id == "sam")
        })
        .await;
    let jobs = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE kind = 'chat.notify'")
            .fetch_one(&h.db.pool)
            .await
            .unwrap()
    };
    let once = jobs().await;
    assert!(once > 0);
    assert_eq!(h.interaction(&payload).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(jobs().await, once, "the replay notified nobody again");
    let answers = h
        .fake
        .responses()
        .into_iter()
        .filter(|(id, _)| id == "sam")
        .count();
    assert_eq!(answers, 1);
    // A slash command sent twice: the answer each time.
    let twice = |text: &'static str, id: &'static str| {
        let body = command_form(TEAM, "/usher", text, "U01SAML", &h.fake.response_url(id));
        let h = &h;
        async move {
            let mut answers = Vec::new();
            for _ in 0..2 {
                let answer: Value = h
                    .post_signed(
                        "/slack/commands",
                        "application/x-www-form-urlencoded",
                        &body,
                        0,
                    )
                    .await
                    .json()
                    .await
                    .unwrap();
                answers.push(answer.to_string());
            }
            answers
        }
    };
    // A command that acts, replayed: told so, nothing run.
    let answers = twice("me", "cmd").await;
    assert!(answers[0].contains("Sam"), "{answers:?}");
    assert!(
        answers[1].contains("already acted on this request"),
        "{answers:?}"
    );
    // A question replayed is just answered again: it changes nothing, and
    // it costs no database write.
    let answers = twice("owner payments-api", "cmd2").await;
    assert!(
        answers.iter().all(|a| a.contains("Payments API")),
        "{answers:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_workspaces_and_outside_guests_get_no_data() {
    let h = Harness::start(WORKSPACE).await;
    let refused = h
        .command_in("T0OTHER", "/usher", "owner payments-api", "U01JONAS")
        .await;
    let text = block_text(&refused);
    assert!(
        text.contains("isn't set up to answer in this workspace"),
        "{text}"
    );
    assert!(
        !text.contains("Payments API") && !text.contains("Amara"),
        "{text}"
    );
    // A Slack Connect guest in a shared channel: the owning team, but no
    // people or emails.
    let guest = h
        .command("/usher", "owner payments-api", "U07PARTNER")
        .await;
    let text = block_text(&guest);
    assert!(text.contains("Payments"), "{text}");
    assert!(
        !text.contains("<@U01AMARA>") && !text.contains("Amara"),
        "{text}"
    );
    assert!(!text.contains("@acme-shop.example"), "{text}");
    assert!(text.contains("hidden"), "{text}");
    h.stop().await;
}

/// The view usher last opened or updated, as Slack would hold it.
fn current_view(fake: &FakeSlack) -> (String, Value) {
    let call = fake
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.method == "views.open" || c.method == "views.update")
        .expect("a view");
    let mut view = call.params["view"].clone();
    let id = if call.method == "views.update" {
        call.params["view_id"].as_str().unwrap().to_string()
    } else {
        "V00000001".to_string()
    };
    view["id"] = json!(id);
    view["team_id"] = json!(TEAM);
    view["hash"] = json!("h");
    (id, view)
}

fn first_select(view: &Value) -> (String, Value) {
    let select = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["type"] == "static_select")
        .unwrap_or_else(|| panic!("a select in {view:#}"));
    (
        select["action_id"].as_str().unwrap().to_string(),
        select["options"][0].clone(),
    )
}

fn button_in(view: &Value, label: &str) -> (String, String) {
    let button = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["type"] == "button" && e["text"]["text"] == label)
        .unwrap_or_else(|| panic!("a {label} button in {view:#}"));
    (
        button["action_id"].as_str().unwrap().to_string(),
        button["value"].as_str().unwrap().to_string(),
    )
}

fn in_view(view_id: &str, view: &Value, action: Value) -> Value {
    json!({
        "type": "block_actions", "token": "x", "api_app_id": "A0USHER",
        "team": { "id": TEAM, "domain": "acme-shop" },
        "user": { "id": "U01AMARA", "team_id": TEAM },
        "container": { "type": "view", "view_id": view_id },
        "trigger_id": trigger(), "view": view, "actions": [action],
    })
}

fn submission(view: &Value, typed: &str) -> Value {
    let mut view = view.clone();
    view["state"] = json!({ "values": { "answer": { "answer": { "type": "plain_text_input", "value": typed } } } });
    json!({
        "type": "view_submission", "token": "x", "api_app_id": "A0USHER", "trigger_id": trigger(),
        "team": { "id": TEAM, "domain": "acme-shop" },
        "user": { "id": "U01AMARA", "team_id": TEAM, "username": "amara", "name": "amara" },
        "view": view,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creation_dialogue_runs_as_a_modal_with_field_errors() {
    let h = Harness::start(WORKSPACE).await;
    let opened = h.command("/usher", "service new", "U01AMARA").await;
    assert!(
        block_text(&opened).contains("Opened the form"),
        "{opened:#}"
    );
    let open = h.fake.calls_of("views.open");
    assert_eq!(open.len(), 1);
    assert!(
        open[0].params["trigger_id"]
            .as_str()
            .unwrap()
            .starts_with("13345224609.738474920."),
        "the command's own trigger_id"
    );
    let (view_id, view) = current_view(&h.fake);
    assert_eq!(view["type"], "modal");
    assert_eq!(view["title"]["text"], "New service");
    assert!(
        block_text(&view).contains("Which team will own the service?"),
        "{view:#}"
    );
    // Step 1: the team, from the select.
    let (action_id, option) = first_select(&view);
    h.interaction(&in_view(&view_id, &view, json!({ "type": "static_select", "action_id": action_id, "block_id": "b", "selected_option": option }))).await;
    h.fake
        .wait_for("the system step", |f| {
            (f.calls_of("views.update").len() == 1).then_some(())
        })
        .await;
    let (view_id, view) = current_view(&h.fake);
    assert_eq!(view_id, "V00000001");
    assert!(block_text(&view).contains("System"), "{view:#}");
    // Step 2: the system.
    let (action_id, option) = first_select(&view);
    h.interaction(&in_view(&view_id, &view, json!({ "type": "static_select", "action_id": action_id, "block_id": "b", "selected_option": option }))).await;
    h.fake
        .wait_for("the purpose step", |f| {
            (f.calls_of("views.update").len() == 2).then_some(())
        })
        .await;
    let (_, view) = current_view(&h.fake);
    assert_eq!(view["submit"]["text"], "Next", "{view:#}");
    assert!(
        view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "input"),
        "{view:#}"
    );
    // Step 3, typed: too short → the field's error, the modal stays.
    let (status, body) = h.interaction(&submission(&view, "x")).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response_action"], "errors", "{answer:#}");
    assert!(
        answer["errors"]["answer"].as_str().unwrap().len() > 5,
        "{answer:#}"
    );
    // A good answer: the next step replaces the modal.
    let (_, body) = h.interaction(&submission(&view, "processes refunds")).await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response_action"], "update", "{answer:#}");
    let next = &answer["view"];
    assert!(block_text(next).contains("Name"), "{next:#}");
    // Cancel from inside the modal.
    let mut next = next.clone();
    next["id"] = json!("V00000001");
    next["team_id"] = json!(TEAM);
    next["hash"] = json!("h2");
    let (action_id, value) = button_in(&next, "Cancel");
    h.interaction(&in_view(
        "V00000001",
        &next,
        json!({ "type": "button", "action_id": action_id, "block_id": "b", "value": value }),
    ))
    .await;
    h.fake
        .wait_for("the cancellation", |f| {
            (f.calls_of("views.update").len() == 3).then_some(())
        })
        .await;
    let (_, view) = current_view(&h.fake);
    assert!(block_text(&view).contains("Cancelled"), "{view:#}");
    assert!(view.get("submit").is_none(), "{view:#}");
    let status: String = sqlx::query_scalar("SELECT status FROM dialogs")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_now_opens_one_modal_with_the_missing_fields_and_saves_them_together() {
    let h = Harness::start(WORKSPACE).await;
    sqlx::query(
        "UPDATE entities SET origin = 'chat', description = NULL WHERE name = 'payouts' AND kind = 'component'",
    )
    .execute(&h.db.pool)
    .await
    .unwrap();
    h.command("/usher", "hygiene fix payouts", "U01AMARA").await;
    assert_eq!(h.fake.calls_of("views.open").len(), 1);
    let (_, view) = current_view(&h.fake);
    assert_eq!(view["submit"]["text"], "Save", "{view:#}");
    let inputs: Vec<String> = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "input")
        .map(|b| b["block_id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        inputs.contains(&"f:description".to_string()) && inputs.contains(&"f:runbook".to_string()),
        "{view:#}"
    );
    assert!(
        !inputs.contains(&"f:lifecycle".to_string()),
        "payouts has a lifecycle: {view:#}"
    );
    // No one-at-a-time buttons inside the form.
    assert!(
        !view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"),
        "{view:#}"
    );
    let submit = |runbook: &str| {
        let mut view = view.clone();
        view["state"] = json!({ "values": {
            "f:description": { "f:description": { "type": "plain_text_input", "value": "Pays sellers every night" } },
            "f:runbook": { "f:runbook": { "type": "plain_text_input", "value": runbook } },
        } });
        json!({
            "type": "view_submission", "token": "x", "api_app_id": "A0USHER", "trigger_id": trigger(),
            "team": { "id": TEAM, "domain": "acme-shop" },
            "user": { "id": "U01AMARA", "team_id": TEAM, "username": "amara", "name": "amara" },
            "view": view,
        })
    };
    // A bad URL: the error on that field, nothing saved.
    let (_, body) = h.interaction(&submit("runbook.example.com")).await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response_action"], "errors", "{answer:#}");
    assert!(
        answer["errors"]["f:runbook"]
            .as_str()
            .unwrap()
            .contains("web address"),
        "{answer:#}"
    );
    let description: Option<String> = sqlx::query_scalar(
        "SELECT description FROM entities WHERE name = 'payouts' AND kind = 'component'",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(description, None);
    // Both saved by one Save.
    let (_, body) = h
        .interaction(&submit("https://runbooks.example.com/payouts"))
        .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response_action"], "update", "{answer:#}");
    assert!(
        block_text(&answer["view"]).contains("filled in"),
        "{answer:#}"
    );
    let (description, links): (Option<String>, i64) = sqlx::query_as(
        "SELECT description, (SELECT count(*) FROM links l WHERE l.entity_id = e.id AND l.url = 'https://runbooks.example.com/payouts')
         FROM entities e WHERE name = 'payouts' AND kind = 'component'",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (description.as_deref(), links),
        (Some("Pays sellers every night"), 1)
    );
    h.stop().await;
}

/// A Slack adapter and its sender on `db`, without a server.
fn slack_on(db: &TestDb, fake: &FakeSlack, toml: &str) -> (Arc<SlackApp>, Worker) {
    let config = Config::from_toml(toml).unwrap();
    let core = db.core_with(config.clone());
    let waker = Arc::new(tokio::sync::Notify::new());
    let settings = SlackSettings {
        signing_secret: None,
        bot_token: Some("xoxb-test-token".into()),
        app_token: None,
        api_url: fake.api_url(),
    };
    let app = SlackApp::new(core, settings, waker).unwrap();
    let sender = Arc::new(SlackSender::new(app.clone()));
    let mut senders = Senders::new();
    for kind in usher::platforms::slack::sender::kinds(true) {
        senders = senders.with(kind, sender.clone());
    }
    let worker = Worker::new(db.pool.clone(), senders, config.outbox.clone());
    (app, worker)
}

async fn enqueue(db: &TestDb, kind: &str, destination: &str, payload: Value, key: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    outbox::enqueue(
        &mut conn,
        &NewJob {
            kind: kind.into(),
            destination: destination.into(),
            payload,
            idempotency_key: key.into(),
        },
        8,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_answer_was_lost_is_not_posted_again() {
    let db = demo_db().await;
    let fake = FakeSlack::start().await;
    people(&fake);
    let (_app, worker) = slack_on(&db, &fake, WORKSPACE);
    // Slack posts the message, but its answer never arrives: the attempt
    // fails and is retried …
    fake.fail("chat.postMessage", Failure::LostAnswer, 2);
    enqueue(
        &db,
        "chat.message",
        "channel:group:default/team-payments",
        json!({ "text": "Deploy freeze at 17:00" }),
        "lost-1",
    )
    .await;
    enqueue(
        &db,
        "chat.message",
        "dm:user:default/amara.okafor",
        json!({ "text": "Your rota starts Monday" }),
        "lost-2",
    )
    .await;
    worker.run_due().await.unwrap();
    worker.run_due().await.unwrap();
    // … and the retry finds it (by the job id in its metadata) in the
    // channel's and the DM's latest messages instead of posting again.
    let states: Vec<(String, i32)> = sqlx::query_as(
        "SELECT state, attempts FROM outbox WHERE idempotency_key LIKE 'lost-%' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(states, [("done".into(), 2), ("done".into(), 2)]);
    assert_eq!(
        fake.calls_of("chat.postMessage").len(),
        2,
        "one post each: {:#?} {:#?}",
        fake.calls_of("chat.postMessage"),
        fake.calls()
    );
    let looked: Vec<String> = fake
        .calls_of("conversations.history")
        .iter()
        .map(|c| c.params["channel"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(looked, ["C04PAYMNTS", "D01AMARA"]);
    assert_eq!(
        fake.calls_of("conversations.history")[0].params["include_all_metadata"],
        "true"
    );
    // Each post carried its job, as Slack's message metadata.
    let first = &fake.calls_of("chat.postMessage")[0].params;
    assert_eq!(
        first["metadata"]["event_type"], "usher_outbox_job",
        "{first:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_wait_and_dead_channels_fall_back_to_the_lead() {
    let db = demo_db().await;
    let fake = FakeSlack::start().await;
    people(&fake);
    let (_app, worker) = slack_on(&db, &fake, WORKSPACE);
    // 429: waits Retry-After, without counting an attempt, then delivers once.
    fake.fail("chat.postMessage", Failure::RateLimited(1), 1);
    enqueue(
        &db,
        "chat.message",
        "channel:group:default/team-payments",
        json!({ "text": "Deploy freeze at 17:00" }),
        "t1",
    )
    .await;
    worker.run_due().await.unwrap();
    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM outbox WHERE idempotency_key = 't1'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("pending", 0));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    worker.run_due().await.unwrap();
    let state: String = sqlx::query_scalar("SELECT state FROM outbox WHERE idempotency_key = 't1'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(state, "done");
    let posts = fake.calls_of("chat.postMessage");
    assert_eq!(posts.len(), 2, "one refused with 429, one delivered");
    assert_eq!(posts[1].params["channel"], "C04PAYMNTS");
    // channel_not_found: dead at once, the lead gets it by DM, the admins
    // hear about it.
    fake.fail("chat.postMessage", Failure::Error("channel_not_found"), 1);
    enqueue(
        &db,
        "chat.message",
        "channel:group:default/team-checkout",
        json!({ "text": "Checkout is paged" }),
        "t2",
    )
    .await;
    for _ in 0..5 {
        worker.run_due().await.unwrap();
    }
    let (state, error): (String, Option<String>) =
        sqlx::query_as("SELECT state, last_error FROM outbox WHERE idempotency_key = 't2'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(state, "dead");
    assert!(error.unwrap().contains("channel_not_found"));
    let posts = fake.calls_of("chat.postMessage");
    let to_lead = posts
        .iter()
        .find(|c| c.params["channel"] == "U01DIEGO")
        .expect("the lead's DM");
    assert!(
        block_text(&to_lead.params).contains("Checkout is paged"),
        "{:#}",
        to_lead.params
    );
    let to_admin = posts
        .iter()
        .find(|c| c.params["channel"] == "U01SAML")
        .expect("the admin's DM");
    assert!(
        block_text(&to_admin.params).contains("couldn't deliver"),
        "{:#}",
        to_admin.params
    );
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(pending, 0, "nothing left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_matched_by_email_and_deactivated_accounts_are_marked() {
    let db = demo_db().await;
    let fake = FakeSlack::start().await;
    people(&fake);
    let (app, _) = slack_on(&db, &fake, WORKSPACE);
    // Priya has no Slack id in the catalog: matched through users.info's email.
    let priya = app.identity.actor("U02PRIYA", None).await;
    assert_eq!(
        priya.person.as_ref().map(|p| p.key.as_str()),
        Some("user:default/priya.nair")
    );
    let again = app.identity.actor("U02PRIYA", None).await;
    assert_eq!(again, priya);
    assert_eq!(fake.calls_of("users.info").len(), 1, "cached");
    // Amara by her Slack id; a visitor is nobody in the catalog.
    assert!(app.identity.actor("U01AMARA", None).await.person.is_some());
    assert!(app.identity.actor("U09GUEST", None).await.person.is_none());
    // Jonas leaves: deactivated in Slack, marked at the next sync…
    fake.put_user(json!({
        "id": "U01JONAS", "team_id": TEAM, "name": "jonas", "deleted": true,
        "profile": { "email": "jonas.weber@acme-shop.example" },
    }));
    let outcome = app.identity.sync_people().await;
    assert_eq!(outcome["deactivated"], 1, "{outcome}");
    assert_eq!(fake.calls_of("users.list").len(), 2, "both pages read");
    let marked = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, bool>(
            "SELECT deactivated_at IS NOT NULL FROM entities WHERE ref = 'user:default/jonas.weber'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert!(marked(db.pool.clone()).await);
    // … which a re-import of the catalog doesn't undo.
    usher::catalog::import_one(
        &db.pool,
        &usher::catalog::source::Source::File(
            crate::support::repo().join("deploy/demo/catalog-info.yaml"),
        ),
        usher::catalog::import::LocationKind::Demo,
        &usher::catalog::loader::LoadOptions::from_config(&Config::default()),
        "test",
        false,
    )
    .await
    .unwrap();
    assert!(marked(db.pool.clone()).await);
    // Back in Slack: unmarked.
    fake.add_user("U01JONAS", "jonas.weber@acme-shop.example", TEAM);
    let outcome = app.identity.sync_people().await;
    assert_eq!(outcome["reactivated"], 1, "{outcome}");
    assert!(!marked(db.pool.clone()).await);
    // Rate-limited mid-way: waits Slack's Retry-After and reads the same
    // page again, then finishes.
    let calls = fake.calls_of("users.list").len();
    fake.fail("users.list", Failure::RateLimited(1), 1);
    let started = std::time::Instant::now();
    let outcome = app.identity.sync_people().await;
    assert!(outcome["error"].is_null(), "{outcome}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(fake.calls_of("users.list").len(), calls + 3);
    // A server that hands out the same cursor for ever: two calls, then
    // the sync stops (and marks nobody from a partial listing).
    fake.loop_users_list();
    let calls = fake.calls_of("users.list").len();
    let outcome = app.identity.sync_people().await;
    assert!(
        outcome["error"]
            .as_str()
            .unwrap()
            .contains("repeated a page cursor"),
        "{outcome}"
    );
    assert_eq!(fake.calls_of("users.list").len(), calls + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_service_gets_its_slack_channel_once() {
    let db = demo_db().await;
    let fake = FakeSlack::start().await;
    people(&fake);
    let toml = format!("{WORKSPACE}\n[[actions]]\ntype = \"slack_channel\"\nprefix = \"svc-\"\n");
    let (app, worker) = slack_on(&db, &fake, &toml);
    // The dialogue, as a person types it (the console's way of answering).
    let actor = usher::platforms::console::resolve_actor(&app.core, Some("amara.okafor"))
        .await
        .unwrap();
    let script =
        "service new\n1\n1\nprocesses refunds\n1\njava\n1\npostgres\n1\nproduction\n1\nsubmit\n";
    let mut out = Vec::new();
    usher::platforms::console::run(
        &app.core,
        actor,
        tokio::io::BufReader::new(script.as_bytes()),
        &mut out,
        false,
        usher::platforms::console::Style { color: false },
    )
    .await
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("is in the catalog"), "{text}");
    // The invite fails once (after the channel was made): the retry finds
    // the recorded channel and doesn't make a second one.
    fake.fail("conversations.invite", Failure::Error("internal_error"), 1);
    worker.run_due().await.unwrap();
    worker.run_due().await.unwrap();
    let created = fake.calls_of("conversations.create");
    assert_eq!(created.len(), 1, "one channel");
    assert_eq!(created[0].params["name"], "svc-payments-processes-refunds");
    let invites = fake.calls_of("conversations.invite");
    assert_eq!(invites.len(), 2);
    assert_eq!(invites[1].params["users"], json!(["U01AMARA"]));
    let (channel, step): (Option<String>, String) = sqlx::query_as(
        "SELECT e.slack_channel, s.status FROM entities e JOIN automation_steps s ON s.service_ref = e.ref
         WHERE e.ref = 'component:default/payments-processes-refunds'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(channel.as_deref(), Some("C00000001"));
    assert_eq!(step, "done");
}

#[tokio::test]
async fn every_slack_fixture_parses() {
    use slack_morphism::prelude::*;
    let dir = fixtures().join("slack");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    for name in [
        "bolt-python__block_actions.json",
        "bolt-python__view_submission.json",
    ] {
        let parsed: SlackInteractionEvent =
            serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(
            parsed,
            SlackInteractionEvent::BlockActions(_) | SlackInteractionEvent::ViewSubmission(_)
        ));
    }
    for name in [
        "bolt-python__url_verification.json",
        "bolt-python__event_callback_app_mention.json",
        "bolt-python__event_callback_message.json",
    ] {
        let _: SlackPushEvent =
            serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in [
        "bolt-python__slash_command.form.txt",
        "slack-docs__slash_command.form.txt",
    ] {
        let command: SlackCommandEvent =
            serde_urlencoded::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(command.command.0.starts_with('/'));
    }
    // An edit is an event, but not a question.
    let SlackPushEvent::EventCallback(changed) =
        serde_json::from_str(&read("slack-morphism__message_changed.json")).unwrap()
    else {
        panic!("an event callback");
    };
    assert!(usher::platforms::slack::events::question(&changed.event, None).is_none());
    let _: SlackHomeView =
        serde_json::from_str(&read("slack-morphism__slack_home_view.json")).unwrap();
    // A mention and a DM from the fixtures are questions usher answers.
    let SlackPushEvent::EventCallback(mention) =
        serde_json::from_str(&read("bolt-python__event_callback_app_mention.json")).unwrap()
    else {
        panic!("an event callback");
    };
    assert!(usher::platforms::slack::events::question(&mention.event, None).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_answers_over_the_websocket_and_reconnects() {
    let h = Harness::start_with(WORKSPACE, |fake| SlackSettings {
        signing_secret: None,
        bot_token: Some("xoxb-test-token".into()),
        app_token: Some("xapp-test-token".into()),
        api_url: fake.api_url(),
    })
    .await;
    h.fake
        .wait_for("the socket", |f| f.socket_connected().then_some(()))
        .await;
    let opened = h.fake.calls_of("apps.connections.open");
    assert_eq!(opened[0].token.as_deref(), Some("xapp-test-token"));
    let command = |id: &str| {
        json!({
            "envelope_id": id, "type": "slash_commands", "accepts_response_payload": true,
            "payload": {
                "team_id": TEAM, "team_domain": "acme-shop", "channel_id": "C0GENERAL", "channel_name": "general",
                "user_id": "U01JONAS", "user_name": "jonas", "command": "/usher", "text": "owner payments-api",
                "response_url": h.fake.response_url("socket"), "trigger_id": trigger(), "api_app_id": "A0USHER",
            },
        })
    };
    h.fake.socket_send(command("env-1"));
    let ack = h
        .fake
        .wait_for("the command's ack", |f| {
            f.socket_frames()
                .into_iter()
                .find(|v| v["envelope_id"] == "env-1")
        })
        .await;
    assert!(
        block_text(&ack["payload"]).contains("Payments API"),
        "{ack:#}"
    );
    // An event: acknowledged, answered in the thread.
    h.fake.socket_send(json!({
        "envelope_id": "env-2", "type": "events_api", "accepts_response_payload": false,
        "payload": mention("Ev0SOCKET", "<@UUSHERBOT> docs for payments-api"),
    }));
    h.fake
        .wait_for("the event's ack", |f| {
            f.socket_frames()
                .into_iter()
                .find(|v| v["envelope_id"] == "env-2")
        })
        .await;
    let answer = h
        .fake
        .wait_for("the answer", |f| {
            f.calls_of("chat.postMessage").into_iter().next()
        })
        .await;
    assert_eq!(answer.params["thread_ts"], "1764150000.000001");
    // Slack asks to refresh: usher reconnects and carries on.
    h.fake.socket_send(json!({ "type": "disconnect", "reason": "refresh_requested", "debug_info": { "host": "fake-slack" } }));
    h.fake
        .wait_for("a second connection", |f| {
            (f.connections() >= 2 && f.socket_connected()).then_some(())
        })
        .await;
    // The socket drops: usher reconnects after a pause.
    h.fake.drop_socket();
    h.fake
        .wait_for("a third connection", |f| {
            (f.connections() >= 3 && f.socket_connected()).then_some(())
        })
        .await;
    h.fake.socket_send(command("env-3"));
    h.fake
        .wait_for("the ack on the new socket", |f| {
            f.socket_frames()
                .into_iter()
                .find(|v| v["envelope_id"] == "env-3")
        })
        .await;
    // Shutting down closes the socket with a Close frame, not a dropped
    // connection Slack would have to time out. (The refresh above closed
    // one already: count from here.)
    let fake = h.fake.clone();
    let closed_before = fake.closed_by_client();
    h.stop().await;
    fake.wait_for("the socket closed by usher", |f| {
        (f.closed_by_client() > closed_before).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usher_binary_serves_slack_from_its_environment() {
    let db = demo_db().await;
    let fake = FakeSlack::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let serve = usher()
        .env("DATABASE_URL", db.url())
        .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_BOT_TOKEN", "xoxb-binary")
        .env("SLACK_API_URL", fake.api_url())
        .arg("serve")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            && let Ok(v) = r.json::<Value>().await
            && v["slack"]["ready"] == json!(true)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "usher serve reports Slack ready");
    let body = command_form(
        TEAM,
        "/whoowns",
        "payments-api",
        "U01JONAS",
        "http://127.0.0.1:9/none",
    );
    let ts = chrono::Utc::now().timestamp();
    let answer: Value = http
        .post(format!("http://127.0.0.1:{port}/slack/commands"))
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(SIGNING_SECRET, ts, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(block_text(&answer).contains("Payments API"), "{answer:#}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || serve.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("workspaces"),
        "the missing allowlist is warned about: {log}"
    );
}

#[tokio::test]
async fn a_bad_token_at_start_never_stops_usher_from_serving() {
    let h = Harness::launch("", |fake| {
        // The first auth.tests are refused, as with a revoked token.
        fake.fail("auth.test", Failure::Error("invalid_auth"), 2);
        SlackSettings {
            signing_secret: Some(SIGNING_SECRET.into()),
            bot_token: Some("xoxb-test-token".into()),
            app_token: None,
            api_url: fake.api_url(),
        }
    })
    .await;
    let seen = readyz_until(&h.http, &h.base, ("slack", "invalid_auth"), 40).await;
    assert_eq!(seen["slack"]["ready"], json!(false), "{seen}");
    assert!(
        seen["slack"]["detail"]
            .as_str()
            .unwrap()
            .contains("retrying"),
        "{seen}"
    );
    // Commands are still answered meanwhile.
    let answer = h.command("/usher", "owner payments-api", "U01JONAS").await;
    assert!(answer.to_string().contains("Payments"), "{answer}");
    // `usher health` says ready (usher serves); with --strict, not while
    // Slack isn't connected.
    let health = |strict: bool| {
        let mut cmd = tokio::process::Command::from(usher());
        cmd.args(["health", "--url", &h.base]);
        if strict {
            cmd.arg("--strict");
        }
        cmd.output()
    };
    let lenient = health(false).await.unwrap();
    assert!(lenient.status.success());
    let strict = health(true).await.unwrap();
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("slack"),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
    // And usher tries again, with backoff, until Slack answers.
    h.wait_ready().await;
    assert!(h.fake.calls_of("auth.test").len() >= 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_commands_and_show_the_outbox() {
    let h = Harness::start("").await;
    h.command("/usher", "owner payments-api", "U01JONAS").await;
    let text = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("usher_build_info{version=\""), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("usher_requests_total{")
            && l.contains("platform=\"slack\"")
            && l.contains("command=\"owner\"")
            && l.contains("outcome=\"ok\"")),
        "{text}"
    );
    assert!(text.contains("usher_request_seconds_bucket{"), "{text}");
    assert!(
        text.contains("usher_outbox_jobs{state=\"pending\"}"),
        "{text}"
    );
    assert!(
        text.contains("usher_db_pool_connections{state=\"open\"}"),
        "{text}"
    );
    // The hygiene gauges, once computed.
    usher::hygiene::rounds::refresh_gauges(&h.db.pool, &Config::default())
        .await
        .unwrap();
    let text = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("usher_hygiene_findings{rule=\"oncall-missing\"}"),
        "{text}"
    );
    assert!(
        text.contains("usher_hygiene_team_findings{team=\"group:default/team-payments\"}"),
        "{text}"
    );
    h.stop().await;
}
