//! Discord end to end: the real server on a random port, a real Postgres,
//! interactions signed with a test Ed25519 key, and a fake Discord REST API
//! that serenity's routes are pointed at.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use usher::actions::outbox::{Senders, Worker};
use usher::config::{Config, Env};
use usher::db::Database;
use usher::platforms::discord::{DiscordApp, DiscordSettings, sender::DiscordSender};
use usher::serve::Server;

use crate::commands::demo_db;
use crate::fake_discord::{APP_ID, CHANNEL, Failure, FakeDiscord, GUILD, public_key_hex, sign};
use crate::support::{TestDb, readyz_until, repo, usher};

/// A Discord user whose id the demo catalog doesn't know (a guest), and
/// one linked to a catalog person by the test.
const GUEST: &str = "1600000000000000001";
const JONAS: &str = "1600000000000000002";

const GUILDS: &str = "[discord]\nguilds = [\"1200000000000000001\"]\n";

struct Harness {
    db: TestDb,
    fake: FakeDiscord,
    base: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Harness {
    async fn start(toml: &str) -> Harness {
        Self::start_with(toml, true).await
    }

    /// With `http_interactions` false, no public key: interactions come
    /// over the gateway.
    async fn start_with(toml: &str, http_interactions: bool) -> Harness {
        let h = Harness::launch(toml, |fake| DiscordSettings {
            public_key: http_interactions.then(public_key_hex),
            bot_token: Some("test-bot-token".into()),
            application_id: Some(APP_ID.parse().unwrap()),
            api_url: fake.api_url(),
        })
        .await;
        for _ in 0..100 {
            if let Ok(r) = h.http.get(format!("{}/readyz", h.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["discord"]["ready"] == json!(true)
            {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("Discord never became ready");
    }

    /// Starts serving without waiting for Discord to be reachable.
    async fn launch(toml: &str, settings: impl Fn(&FakeDiscord) -> DiscordSettings) -> Harness {
        let db = demo_db().await;
        // Jonas's descriptor carries his Discord id; the payments team has a channel.
        sqlx::query(
            "UPDATE entities SET discord_user_id = $1 WHERE kind = 'user' AND name = 'jonas.weber'",
        )
        .bind(JONAS)
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query(
            "UPDATE entities SET discord_channel = $1 WHERE ref = 'group:default/team-payments'",
        )
        .bind(CHANNEL)
        .execute(&db.pool)
        .await
        .unwrap();
        let fake = FakeDiscord::start().await;
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
        .with_discord(settings(&fake));
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

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// POSTs an interaction signed `age` seconds ago.
    async fn post_signed(&self, body: &str, age: i64) -> (u16, Value) {
        let (signature, timestamp) = sign(chrono::Utc::now().timestamp() - age, body);
        let r = self
            .http
            .post(format!("{}/discord/interactions", self.base))
            .header("content-type", "application/json")
            .header("x-signature-ed25519", signature)
            .header("x-signature-timestamp", timestamp)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn interact(&self, interaction: &Value) -> Value {
        let (status, body) = self.post_signed(&interaction.to_string(), 0).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn user(id: &str) -> Value {
    json!({ "id": id, "username": format!("user{}", &id[id.len() - 2..]), "discriminator": "0",
            "global_name": null, "avatar": null, "public_flags": 0 })
}

/// The fields every interaction carries (Discord's documentation examples
/// lack `application_id`, `version`, `attachment_size_limit` …; real
/// Discord sends them, and serenity 0.12 requires them).
fn base(kind: u8, user_id: &str, guild: Option<&str>) -> Value {
    // Each interaction an id of its own, as Discord sends (the same id
    // twice is a replay, and acts once).
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = 1_700_000_000_000_000_000 + N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut v = json!({
        "id": id.to_string(),
        "application_id": APP_ID,
        "type": kind,
        "token": "aW50ZXJhY3Rpb246dGVzdA",
        "version": 1,
        "locale": "en-US",
        "channel_id": CHANNEL,
        "channel": { "id": CHANNEL, "type": 0, "name": "general" },
        "app_permissions": "2147483647",
        "entitlements": [],
        "authorizing_integration_owners": { "0": GUILD },
        "context": 0,
        "attachment_size_limit": 10485760,
    });
    match guild {
        Some(g) => {
            v["guild_id"] = json!(g);
            v["member"] = json!({ "user": user(user_id), "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00",
                                   "deaf": false, "mute": false, "flags": 0, "permissions": "2147483647" });
        }
        None => v["user"] = user(user_id),
    }
    v
}

fn slash(user_id: &str, name: &str, options: Value) -> Value {
    let mut v = base(2, user_id, Some(GUILD));
    v["data"] = json!({ "id": "1800000000000000001", "name": name, "type": 1, "options": options });
    v
}

fn sub(name: &str, options: Value) -> Value {
    json!([{ "name": name, "type": 1, "options": options }])
}

fn opt(name: &str, value: &str) -> Value {
    json!({ "name": name, "type": 3, "value": value })
}

fn click(user_id: &str, custom_id: &str) -> Value {
    let mut v = base(3, user_id, Some(GUILD));
    v["data"] = json!({ "custom_id": custom_id, "component_type": 2 });
    v["message"] = message();
    v
}

fn pick(user_id: &str, value: &str) -> Value {
    let mut v = base(3, user_id, Some(GUILD));
    v["data"] = json!({ "custom_id": "sel:0", "component_type": 3, "values": [value] });
    v["message"] = message();
    v
}

fn message() -> Value {
    json!({ "id": "1900000000000000009", "channel_id": CHANNEL, "author": user("1400000000000000001"),
            "content": "", "timestamp": "2026-11-26T10:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": [], "pinned": false, "type": 0, "flags": 64, "components": [] })
}

/// Everything a message says, for assertions.
fn text_of(response: &Value) -> String {
    let data = &response["data"];
    let mut out = vec![data["content"].as_str().unwrap_or_default().to_string()];
    for e in data["embeds"].as_array().into_iter().flatten() {
        for k in ["title", "description"] {
            out.push(e[k].as_str().unwrap_or_default().to_string());
        }
        for f in e["fields"].as_array().into_iter().flatten() {
            out.push(format!(
                "{}: {}",
                f["name"].as_str().unwrap_or_default(),
                f["value"].as_str().unwrap_or_default()
            ));
        }
        out.push(e["footer"]["text"].as_str().unwrap_or_default().to_string());
    }
    out.join("\n")
}

/// The custom ids of a message's components, with their labels.
fn buttons(response: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for row in response["data"]["components"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for c in row["components"].as_array().into_iter().flatten() {
            out.push((
                c["label"]
                    .as_str()
                    .or(c["placeholder"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                c["custom_id"]
                    .as_str()
                    .or(c["url"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_forged_unsigned_old_and_huge_requests() {
    let h = Harness::start(GUILDS).await;
    let ping = json!({ "id": "1700000000000000002", "application_id": APP_ID, "type": 1, "token": "t", "version": 1 }).to_string();
    let (status, body) = h.post_signed(&ping, 0).await;
    assert_eq!((status, body["type"].clone()), (200, json!(1)), "PONG");
    let command = slash(
        JONAS,
        "usher",
        sub("owner", json!([opt("service", "payments-api")])),
    )
    .to_string();
    // Unsigned.
    let r = h
        .http
        .post(format!("{}/discord/interactions", h.base))
        .body(command.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Signed, then changed.
    let (signature, ts) = sign(chrono::Utc::now().timestamp(), &command);
    let forged = command.replace("payments-api", "checkout-api");
    let r = h
        .http
        .post(format!("{}/discord/interactions", h.base))
        .header("x-signature-ed25519", signature)
        .header("x-signature-timestamp", ts)
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Six minutes old.
    assert_eq!(h.post_signed(&command, 360).await.0, 401);
    // Too big.
    let huge = format!("{{\"type\":1,\"pad\":\"{}\"}}", "x".repeat(400_000));
    assert_eq!(h.post_signed(&huge, 0).await.0, 413);
    // Nothing happened: no calls to Discord beyond the token check.
    assert!(
        h.fake
            .calls()
            .iter()
            .all(|c| c.path.ends_with("/users/@me")),
        "{:?}",
        h.fake.calls()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_answers_with_embeds_and_components() {
    let h = Harness::start(GUILDS).await;
    let owner = h
        .interact(&slash(
            JONAS,
            "usher",
            sub("owner", json!([opt("service", "payments-api")])),
        ))
        .await;
    assert_eq!(owner["type"], 4);
    assert_eq!(owner["data"]["flags"], 64, "ephemeral");
    let embed = &owner["data"]["embeds"][0];
    assert_eq!(embed["title"], "Payments API");
    assert!(text_of(&owner).contains("Payments"), "{owner:#}");
    assert!(
        buttons(&owner).iter().any(|(l, _)| l == "Share in channel"),
        "{:?}",
        buttons(&owner)
    );
    // The alias.
    let alias = h
        .interact(&slash(
            JONAS,
            "whoowns",
            json!([opt("service", "payments-api")]),
        ))
        .await;
    assert_eq!(alias["data"]["embeds"][0]["title"], "Payments API");
    for (command, options, expect) in [
        ("docs", json!([opt("service", "payments-api")]), "Docs for"),
        (
            "service",
            json!([opt("service", "payments-api")]),
            "Payments API",
        ),
        ("team", json!([opt("team", "team-payments")]), "Payments"),
        ("deps", json!([opt("service", "checkout-api")]), "checkout"),
        ("search", json!([opt("query", "lang:java")]), "found"),
        ("stats", json!([]), ""),
        ("oncall", json!([opt("service", "payments-api")]), "on"),
        ("help", json!([]), "owner"),
    ] {
        let r = h
            .interact(&slash(JONAS, "usher", sub(command, options)))
            .await;
        assert_eq!(r["type"], 4, "{command}: {r:#}");
        let text = text_of(&r);
        assert!(
            text.to_lowercase().contains(&expect.to_lowercase()),
            "{command}: {text}"
        );
    }
    // A typo: did you mean …? with a button.
    let typo = h
        .interact(&slash(
            JONAS,
            "usher",
            sub("owner", json!([opt("service", "paymnts-api")])),
        ))
        .await;
    assert!(
        text_of(&typo).contains("payments-api"),
        "{}",
        text_of(&typo)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocomplete_offers_up_to_25_services() {
    let h = Harness::start(GUILDS).await;
    let mut v = base(4, JONAS, Some(GUILD));
    v["data"] = json!({ "id": "1800000000000000001", "name": "usher", "type": 1, "options": [
        { "name": "owner", "type": 1, "options": [{ "name": "service", "type": 3, "value": "pay", "focused": true }] }
    ]});
    let r = h.interact(&v).await;
    assert_eq!(r["type"], 8);
    let choices = r["data"]["choices"].as_array().unwrap();
    assert!(!choices.is_empty() && choices.len() <= 25);
    assert!(
        choices.iter().any(|c| c["value"] == "payments-api"),
        "{choices:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_deferred_then_edited_in() {
    // Answers from the database (not the catalog in memory), to make one slow.
    let h = Harness::start(&format!(
        "{GUILDS}inline_ms = 300\n[chat]\ncatalog_in_memory = false\n"
    ))
    .await;
    h.interact(&slash(
        JONAS,
        "usher",
        sub("owner", json!([opt("service", "checkout-api")])),
    ))
    .await;
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
    let r = h
        .interact(&slash(
            JONAS,
            "usher",
            sub("owner", json!([opt("service", "payments-api")])),
        ))
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "acknowledged in time"
    );
    assert_eq!(r["type"], 5, "deferred: {r:#}");
    assert_eq!(r["data"]["flags"], 64);
    let edit = h
        .fake
        .wait_for("the edit of the deferred answer", |f| {
            f.calls_to("/messages/@original").into_iter().next()
        })
        .await;
    assert_eq!(edit.method, "PATCH");
    assert!(
        edit.path.contains(APP_ID) && edit.path.contains("aW50ZXJhY3Rpb246dGVzdA"),
        "{}",
        edit.path
    );
    assert_eq!(edit.body["embeds"][0]["title"], "Payments API");
    holder.await.unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_run_as_the_clicker_and_guilds_off_the_list_get_nothing() {
    let h = Harness::start(GUILDS).await;
    // A guest clicks a button that changes a rotation: refused, nothing changes.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM rotations")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    let r = h
        .interact(&click(
            GUEST,
            "r:0:oncall set team-payments --people amara.okafor",
        ))
        .await;
    let text = text_of(&r);
    assert!(
        text.to_lowercase().contains("catalog") || text.to_lowercase().contains("member"),
        "{text}"
    );
    let rotations: i64 = sqlx::query_scalar("SELECT count(*) FROM rotations")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(rotations, before);
    // A share button posts for everyone.
    let shared = h.interact(&click(JONAS, "s:3:owner payments-api")).await;
    assert_eq!(shared["type"], 4);
    assert!(shared["data"]["flags"].is_null(), "public: {shared:#}");
    // A guild not on the list: a polite refusal, no data.
    let mut other = slash(
        JONAS,
        "usher",
        sub("owner", json!([opt("service", "payments-api")])),
    );
    other["guild_id"] = json!("1200000000000000999");
    let r = h.interact(&other).await;
    let text = text_of(&r);
    assert!(
        text.contains("isn't set up") && !text.contains("Payments"),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_carries_interactions_and_closes_cleanly_on_shutdown() {
    // A bot token and no public key: interactions arrive over the gateway.
    let h = Harness::start_with(GUILDS, false).await;
    let identify = h
        .fake
        .wait_for("an Identify", |f| {
            f.gateway_frames().into_iter().find(|v| v["op"] == 2)
        })
        .await;
    // serenity sends the token as it authorizes REST calls ("Bot …"),
    // which Discord's gateway accepts.
    assert!(
        identify["d"]["token"]
            .as_str()
            .is_some_and(|t| t.ends_with("test-bot-token")),
        "{identify:#}"
    );
    assert_eq!(identify["d"]["shard"], json!([0, 1]));
    // GUILDS only (GUILD_MEMBERS is privileged and off by default).
    assert_eq!(identify["d"]["intents"], 1);
    // A slash command over the WebSocket, answered through the callback.
    let mut command = slash(
        JONAS,
        "usher",
        sub("owner", json!([opt("service", "payments-api")])),
    );
    command["id"] = json!("1700000000000000077");
    h.fake.dispatch("INTERACTION_CREATE", command);
    let answer = h
        .fake
        .wait_for("the callback", |f| {
            f.calls_to("/callback")
                .into_iter()
                .find(|c| c.path.contains("1700000000000000077"))
        })
        .await;
    assert_eq!(answer.method, "POST");
    assert_eq!(answer.body["type"], 4, "{:#}", answer.body);
    assert!(
        answer.body.to_string().contains("Payments"),
        "{:#}",
        answer.body
    );
    // Shutting down closes the session with a normal closure (1000), not
    // a dropped connection Discord would have to time out.
    let fake = h.fake.clone();
    h.stop().await;
    fake.wait_for("the gateway closed by usher", |f| {
        f.gateway_closes().contains(&1000).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_now_is_one_modal_with_the_missing_fields() {
    let h = Harness::start(GUILDS).await;
    sqlx::query(
        "UPDATE entities SET origin = 'chat', description = NULL WHERE name = 'payouts' AND kind = 'component'",
    )
    .execute(&h.db.pool)
    .await
    .unwrap();
    // The command (as the digest's Fix button) opens the modal at once.
    let modal = h
        .interact(&slash(
            JONAS,
            "usher",
            sub("hygiene-fix", json!([opt("service", "payouts")])),
        ))
        .await;
    assert_eq!(modal["type"], 9, "{modal:#}");
    assert_eq!(modal["data"]["title"], "Fix payouts");
    let names: Vec<&str> = modal["data"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["components"][0]["custom_id"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"description") && names.contains(&"runbook"),
        "{modal:#}"
    );
    let custom_id = modal["data"]["custom_id"].as_str().unwrap().to_string();
    let mut submit = base(5, JONAS, Some(GUILD));
    submit["data"] = json!({ "custom_id": custom_id, "components": [
        { "type": 1, "components": [{ "type": 4, "custom_id": "description", "value": "Pays sellers, \"nightly\"" }] },
        { "type": 1, "components": [{ "type": 4, "custom_id": "runbook", "value": "https://runbooks.example.com/payouts" }] },
    ]});
    // A bad value first: a modal can't answer a modal, so the form comes
    // back as a message saying what's wrong, its ✏️ button reopening it
    // with what was typed.
    let mut bad = submit.clone();
    bad["id"] = json!("1799999999999999999"); // another submission, not a replay
    bad["data"]["components"][1]["components"][0]["value"] = json!("runbook.example.com");
    let back = h.interact(&bad).await;
    assert!(text_of(&back).contains("web address"), "{back:#}");
    let (_, id) = buttons(&back)
        .into_iter()
        .find(|(l, _)| l.starts_with("✏️"))
        .unwrap_or_else(|| panic!("a fill-in button: {back:#}"));
    let reopened = h.interact(&click(JONAS, &id)).await;
    assert_eq!(reopened["type"], 9, "{reopened:#}");
    assert!(
        reopened.to_string().contains("runbook.example.com"),
        "{reopened:#}"
    );
    let saved = h.interact(&submit).await;
    assert!(text_of(&saved).contains("filled in"), "{saved:#}");
    let description: Option<String> = sqlx::query_scalar(
        "SELECT description FROM entities WHERE name = 'payouts' AND kind = 'component'",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(description.as_deref(), Some("Pays sellers, \"nightly\""));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creation_dialogue_runs_through_components_and_a_modal() {
    let h = Harness::start(GUILDS).await;
    let start = h
        .interact(&slash(JONAS, "usher", sub("service-new", json!([]))))
        .await;
    assert_eq!(start["type"], 4, "{start:#}");
    // The first step: the team, as a select or buttons.
    let mut step = start;
    let mut modal_seen = false;
    for _ in 0..30 {
        let text = text_of(&step);
        let made: Option<String> =
            sqlx::query_scalar("SELECT name FROM entities WHERE name = 'fraud-scoring'")
                .fetch_optional(&h.db.pool)
                .await
                .unwrap();
        if made.is_some() {
            break;
        }
        let data = &step["data"];
        let rows = data["components"].as_array().cloned().unwrap_or_default();
        // A free-text step: the ✏️ button opens a modal.
        if let Some(id) = buttons(&step)
            .into_iter()
            .find(|(l, _)| l.starts_with("✏️"))
            .map(|(_, id)| id)
        {
            let modal = h.interact(&click(JONAS, &id)).await;
            assert_eq!(modal["type"], 9, "{modal:#}");
            modal_seen = true;
            let custom_id = modal["data"]["custom_id"].as_str().unwrap().to_string();
            let answer = if text.to_lowercase().contains("name") {
                "fraud-scoring"
            } else {
                "A service made in Discord"
            };
            let mut submit = base(5, JONAS, Some(GUILD));
            submit["data"] = json!({ "custom_id": custom_id, "components": [
                { "type": 1, "components": [{ "type": 4, "custom_id": "text", "value": answer }] }
            ]});
            step = h.interact(&submit).await;
            continue;
        }
        // A choice: the first select option, else the first primary button.
        if let Some(select) = rows
            .iter()
            .flat_map(|r| r["components"].as_array().cloned().unwrap_or_default())
            .find(|c| c["type"] == 3)
        {
            let value = select["options"][0]["value"].as_str().unwrap().to_string();
            step = h.interact(&pick(JONAS, &value)).await;
            continue;
        }
        let Some((_, id)) = buttons(&step)
            .into_iter()
            .find(|(l, id)| id.starts_with("r:") && !l.contains("Cancel") && !l.contains("Back"))
        else {
            panic!("no way forward: {step:#}");
        };
        step = h.interact(&click(JONAS, &id)).await;
    }
    assert!(modal_seen, "a free-text step used a modal");
    let made: Option<String> =
        sqlx::query_scalar("SELECT name FROM entities WHERE name = 'fraud-scoring'")
            .fetch_optional(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(
        made.as_deref(),
        Some("fraud-scoring"),
        "last step: {}",
        text_of(&step)
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_wait_and_nothing_is_lost_or_doubled() {
    let db = demo_db().await;
    sqlx::query(
        "UPDATE entities SET discord_channel = $1 WHERE ref = 'group:default/team-payments'",
    )
    .bind(CHANNEL)
    .execute(&db.pool)
    .await
    .unwrap();
    let fake = FakeDiscord::start().await;
    fake.fail("/messages", Failure::RateLimited(0.3), 1);
    let core = db.core();
    let app = DiscordApp::new(
        core.clone(),
        DiscordSettings {
            public_key: None,
            bot_token: Some("test-bot-token".into()),
            application_id: Some(APP_ID.parse().unwrap()),
            api_url: fake.api_url(),
        },
        Arc::new(tokio::sync::Notify::new()),
    );
    let mut conn = db.pool.acquire().await.unwrap();
    usher::actions::outbox::enqueue(
        &mut conn,
        &usher::actions::outbox::NewJob {
            kind: "chat.message".into(),
            destination: "channel:group:default/team-payments".into(),
            payload: json!({ "text": "Heads up: payments-api is paging" }),
            idempotency_key: "discord-test-1".into(),
        },
        8,
    )
    .await
    .unwrap();
    drop(conn);
    let sender = Arc::new(DiscordSender::new(app));
    let senders = Senders::new().with("chat.message", sender);
    let worker = Worker::new(db.pool.clone(), senders, Default::default());
    for _ in 0..40 {
        worker.run_one().await.unwrap();
        if fake.calls_to("/messages").len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let posts = fake.calls_to(&format!("/channels/{CHANNEL}/messages"));
    assert_eq!(posts.len(), 2, "one 429, then delivered once: {posts:?}");
    assert_eq!(posts[1].auth.as_deref(), Some("Bot test-bot-token"));
    assert!(
        posts[1].body["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .contains("payments-api is paging")
    );
    let (status, attempts): (String, i32) = sqlx::query_as(
        "SELECT state, attempts FROM outbox WHERE idempotency_key = 'discord-test-1'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(status, "done");
    assert_eq!(attempts, 1, "a 429 is not a failed attempt");
    // A channel Discord doesn't know: dead at once, and the lead gets it.
    fake.fail(
        "/messages",
        Failure::Error(404, 10003, "Unknown Channel"),
        1,
    );
    let mut conn = db.pool.acquire().await.unwrap();
    usher::actions::outbox::enqueue(
        &mut conn,
        &usher::actions::outbox::NewJob {
            kind: "chat.message".into(),
            destination: "channel:group:default/team-payments".into(),
            payload: json!({ "text": "Second notice" }),
            idempotency_key: "discord-test-2".into(),
        },
        8,
    )
    .await
    .unwrap();
    drop(conn);
    // Paced: a second message to the channel within a second comes back
    // when its turn is due.
    for _ in 0..40 {
        worker.run_one().await.unwrap();
        let state: String =
            sqlx::query_scalar("SELECT state FROM outbox WHERE idempotency_key = 'discord-test-2'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        if state != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (state, id): (String, i64) =
        sqlx::query_as("SELECT state, id FROM outbox WHERE idempotency_key = 'discord-test-2'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(state, "dead");
    let fallback: Option<String> = sqlx::query_scalar(
        "SELECT destination FROM outbox WHERE idempotency_key = 'lead-fallback:' || $1",
    )
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await
    .unwrap();
    assert!(
        fallback.is_some_and(|d| d.starts_with("dm:user:")),
        "the lead gets it"
    );
    // Discord creates the message but the answer is lost: the retry sends
    // the same nonce with enforce_nonce, and Discord hands back the message
    // it has instead of making a second.
    fake.fail("/messages", Failure::LostAnswer, 1);
    let before = fake.messages().len();
    let mut conn = db.pool.acquire().await.unwrap();
    usher::actions::outbox::enqueue(
        &mut conn,
        &usher::actions::outbox::NewJob {
            kind: "chat.message".into(),
            destination: "channel:group:default/team-payments".into(),
            payload: json!({ "text": "Third notice" }),
            idempotency_key: "discord-test-3".into(),
        },
        8,
    )
    .await
    .unwrap();
    drop(conn);
    sqlx::query("UPDATE outbox SET max_attempts = 3 WHERE idempotency_key = 'discord-test-3'")
        .execute(&db.pool)
        .await
        .unwrap();
    for _ in 0..60 {
        worker.run_one().await.unwrap();
        sqlx::query("UPDATE outbox SET next_attempt_at = now() WHERE state = 'pending'")
            .execute(&db.pool)
            .await
            .unwrap();
        let done: bool = sqlx::query_scalar(
            "SELECT state = 'done' FROM outbox WHERE idempotency_key = 'discord-test-3'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state: String =
        sqlx::query_scalar("SELECT state FROM outbox WHERE idempotency_key = 'discord-test-3'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(state, "done");
    let tries: Vec<_> = fake
        .calls_to(&format!("/channels/{CHANNEL}/messages"))
        .into_iter()
        .filter(|c| c.body["embeds"].to_string().contains("Third notice"))
        .collect();
    assert_eq!(tries.len(), 2, "the lost attempt and its retry");
    assert_eq!(tries[0].body["nonce"], tries[1].body["nonce"]);
    assert_eq!(tries[0].body["enforce_nonce"], true);
    assert!(tries[0].body["nonce"].as_str().unwrap().len() <= 25);
    assert_eq!(fake.messages().len(), before + 1, "one message, not two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_json_is_checked_in_and_registering_is_idempotent() {
    let out = usher().args(["commands", "discord-json"]).output().unwrap();
    assert!(out.status.success());
    let checked_in = std::fs::read_to_string(repo().join("deploy/discord/commands.json")).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        checked_in,
        "deploy/discord/commands.json is stale: run `usher commands discord-json > deploy/discord/commands.json`"
    );
    let fake = FakeDiscord::start().await;
    for _ in 0..2 {
        let out = usher()
            .env("DISCORD_BOT_TOKEN", "test-bot-token")
            .env("DISCORD_APPLICATION_ID", APP_ID)
            .env("DISCORD_API_URL", fake.api_url())
            .args(["commands", "register-discord", "--guild", GUILD])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("/usher") && text.contains("/whoowns"),
            "{text}"
        );
    }
    let puts = fake.calls_to(&format!("/applications/{APP_ID}/guilds/{GUILD}/commands"));
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[0].method, "PUT");
    assert_eq!(puts[0].body, puts[1].body, "the same overwrite twice");
    assert_eq!(
        puts[0].body,
        serde_json::from_str::<Value>(&checked_in).unwrap()
    );
}

/// Strips `//` comments from Discord's `.jsonc` examples.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains("\"http") && l[..i].matches('"').count() % 2 == 0 => {
                &l[..i]
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_discord_fixture_parses() {
    let dir = crate::support::fixtures().join("discord");
    let mut parsed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with(".json") || name.ends_with(".jsonc")) {
            continue;
        }
        let text = strip_comments(&std::fs::read_to_string(&path).unwrap());
        // The examples elide fields ("...additionalInteractionFields,") and
        // keep trailing commas.
        let text: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("..."))
            .collect::<Vec<_>>()
            .join("\n");
        let text = regex_lite::Regex::new(r",(\s*[}\]])")
            .unwrap()
            .replace_all(&text, "$1")
            .to_string();
        let mut v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Complete what the documentation examples leave out (see the
        // shared fixtures README): real Discord sends these.
        let full = base(
            v["type"].as_u64().unwrap_or(2) as u8,
            "1600000000000000003",
            Some(GUILD),
        );
        for (k, value) in full.as_object().unwrap() {
            if v.get(k).is_none_or(|x| x.is_null()) {
                v[k] = value.clone();
            }
        }
        if v["type"] == 3 && v.get("message").is_none() {
            v["message"] = message();
        }
        if let Some(m) = v.get_mut("member") {
            for (k, value) in full["member"].as_object().unwrap() {
                if m.get(k).is_none() {
                    m[k] = value.clone();
                }
            }
        }
        if let Some(m) = v.get_mut("message") {
            for (k, value) in message().as_object().unwrap() {
                if m.get(k).is_none() {
                    m[k] = value.clone();
                }
            }
        }
        let interaction = usher::platforms::discord::interactions::parse(v.to_string().as_bytes());
        assert!(
            interaction.is_ok(),
            "{name}: {:?}\n{v:#}",
            interaction.err()
        );
        parsed += 1;
    }
    assert!(parsed >= 6, "{parsed}");
}

/// The request id in usher's answer ("… request K7Q2MD …").
fn request_id(text: &str) -> String {
    regex_lite::Regex::new(r"request ([A-Z2-9]{6})")
        .unwrap()
        .captures(text)
        .unwrap_or_else(|| panic!("no request id in {text}"))[1]
        .to_string()
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_link_needs_proof_and_an_admin_is_never_self_linked() {
    // Jonas (his Discord id is in his descriptor) and Amara are admins;
    // this deployment posts on Discord only, so no code can be sent by
    // Slack: links wait for an admin.
    let h = Harness::start(&format!(
        "{GUILDS}[admins]\npeople = [\"jonas.weber\", \"user:default/amara.okafor\"]\n"
    ))
    .await;
    let email = "priya.nair@acme-shop.example";
    let ask = h
        .interact(&slash(
            GUEST,
            "usher",
            sub("me-link", json!([opt("email", email)])),
        ))
        .await;
    let text = text_of(&ask);
    assert!(
        text.contains("asked the usher admins to approve request"),
        "{text}"
    );
    let id = request_id(&text);
    assert_eq!(count(&h.db, "SELECT count(*) FROM chat_links").await, 0);
    assert_eq!(
        count(&h.db, "SELECT count(*) FROM outbox WHERE destination IN ('dm:user:default/jonas.weber', 'dm:user:default/amara.okafor')").await,
        2,
        "both admins are asked"
    );
    // A guessed code does nothing.
    let guess = h
        .interact(&slash(
            GUEST,
            "usher",
            sub(
                "me-link",
                json!([opt("email", email), opt("code", "123456")]),
            ),
        ))
        .await;
    assert!(
        text_of(&guess).contains("needs an usher admin's approval"),
        "{}",
        text_of(&guess)
    );
    // An admin approves: at once, the account is Priya.
    let approved = h
        .interact(&slash(
            JONAS,
            "usher",
            sub("me-approve", json!([opt("request", &id)])),
        ))
        .await;
    assert!(
        text_of(&approved).contains("Linked"),
        "{}",
        text_of(&approved)
    );
    let me = h
        .interact(&slash(GUEST, "usher", sub("me", json!([]))))
        .await;
    assert!(text_of(&me).contains("Priya"), "{}", text_of(&me));
    assert_eq!(
        count(
            &h.db,
            "SELECT count(*) FROM audit_log WHERE action = 'me.link'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &h.db,
            "SELECT count(*) FROM outbox WHERE destination = 'dm:user:default/priya.nair'"
        )
        .await,
        1,
        "Priya is told about the link"
    );
    // Someone else can't take Priya over.
    let other = "1600000000000000077";
    let again = h
        .interact(&slash(
            other,
            "usher",
            sub("me-link", json!([opt("email", email)])),
        ))
        .await;
    assert!(
        text_of(&again).contains("already linked"),
        "{}",
        text_of(&again)
    );

    // Nobody becomes an admin by knowing her email: Amara's person is
    // linked only with another admin's approval, never with a code...
    let attacker = "1600000000000000066";
    let claim = h
        .interact(&slash(
            attacker,
            "usher",
            sub(
                "me-link",
                json!([opt("email", "amara.okafor@acme-shop.example")]),
            ),
        ))
        .await;
    let text = text_of(&claim);
    assert!(text.contains("Amara Okafor is an usher admin"), "{text}");
    let id = request_id(&text);
    // ...can't approve itself...
    let self_approved = h
        .interact(&slash(
            attacker,
            "usher",
            sub("me-approve", json!([opt("request", &id)])),
        ))
        .await;
    assert!(
        text_of(&self_approved).contains("Only usher admins"),
        "{}",
        text_of(&self_approved)
    );
    // ...and so can't change a rotation.
    let rotation = h
        .interact(&slash(
            attacker,
            "usher",
            sub(
                "oncall-set",
                json!([opt("team", "team-payments"), opt("people", "amara.okafor")]),
            ),
        ))
        .await;
    assert!(
        text_of(&rotation).contains("is for people in the catalog"),
        "{}",
        text_of(&rotation)
    );
    assert_eq!(
        count(
            &h.db,
            &format!("SELECT count(*) FROM chat_links WHERE user_id = '{attacker}'")
        )
        .await,
        0
    );
    assert_eq!(
        count(&h.db, "SELECT count(*) FROM rotations WHERE team_ref = 'group:default/team-payments' AND source = 'chat'").await,
        0,
        "nothing changed"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_interaction_acts_once() {
    let h = Harness::start(GUILDS).await;
    let ask = slash(
        GUEST,
        "usher",
        sub(
            "me-link",
            json!([opt("email", "priya.nair@acme-shop.example")]),
        ),
    );
    let first = h.interact(&ask).await;
    assert!(text_of(&first).contains("request"), "{}", text_of(&first));
    // The very same signed interaction again, well inside the signature's
    // five minutes: answered, but nothing is done again.
    let replayed = h.interact(&ask).await;
    assert!(
        text_of(&replayed).contains("already acted on this request"),
        "{}",
        text_of(&replayed)
    );
    assert_eq!(
        count(
            &h.db,
            "SELECT count(*) FROM audit_log WHERE action = 'me.link.request'"
        )
        .await,
        1
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_never_stops_usher_from_serving() {
    let h = Harness::launch("", |fake| {
        fake.fail(
            "/users/@me",
            Failure::Error(401, 0, "401: Unauthorized"),
            1000,
        );
        DiscordSettings {
            public_key: Some(public_key_hex()),
            bot_token: Some("revoked-token".into()),
            application_id: Some(APP_ID.parse().unwrap()),
            api_url: fake.api_url(),
        }
    })
    .await;
    let seen = readyz_until(&h.http, &h.base, ("discord", "401"), 60).await;
    assert_eq!(seen["discord"]["ready"], json!(false), "{seen}");
    assert!(
        seen["discord"]["detail"]
            .as_str()
            .unwrap()
            .contains("retrying"),
        "{seen}"
    );
    // Interactions are still answered.
    let answer = h
        .interact(&slash(
            JONAS,
            "usher",
            sub("owner", json!([opt("service", "payments-api")])),
        ))
        .await;
    assert_eq!(answer["data"]["embeds"][0]["title"], "Payments API");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hygiene_digest_arrives_as_an_embed_with_controls() {
    let db = demo_db().await;
    sqlx::query(
        "UPDATE entities SET slack_channel = NULL, discord_channel = $1 WHERE ref = 'group:default/team-payments'",
    )
    .bind(CHANNEL)
    .execute(&db.pool)
    .await
    .unwrap();
    let config = Config::default();
    let digests =
        usher::hygiene::digest::build(&db.pool, &config, Some("group:default/team-payments"), true)
            .await
            .unwrap();
    usher::hygiene::digest::send_round(&db.pool, &config, "test-round", &digests)
        .await
        .unwrap();
    let fake = FakeDiscord::start().await;
    let app = DiscordApp::new(
        db.core(),
        DiscordSettings {
            public_key: None,
            bot_token: Some("test-bot-token".into()),
            application_id: Some(APP_ID.parse().unwrap()),
            api_url: fake.api_url(),
        },
        Arc::new(tokio::sync::Notify::new()),
    );
    let worker = Worker::new(
        db.pool.clone(),
        Senders::new().with("chat.message", Arc::new(DiscordSender::new(app))),
        Default::default(),
    );
    while worker.run_one().await.unwrap() {}
    let posts = fake.calls_to(&format!("/channels/{CHANNEL}/messages"));
    assert_eq!(posts.len(), 1, "{posts:?}");
    let body = &posts[0].body;
    assert_eq!(body["embeds"][0]["title"], "Catalog check-up: Payments");
    assert!(
        body["flags"].is_null(),
        "a channel message is not ephemeral"
    );
    let components = body["components"].to_string();
    assert!(components.contains("Fix payouts"), "{components}");
    assert!(components.contains("Snooze or set aside"), "{components}");
}
