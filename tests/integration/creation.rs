//! Guided service creation: whole dialogues through the console binary and
//! through the core, against fakes of GitHub, GitLab, PagerDuty and a
//! webhook receiver that checks usher's signature.

use std::collections::HashMap;
use std::fs;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use usher::actions::automation::{AutomationSender, KINDS};
use usher::actions::outbox::{Senders, Worker};
use usher::catalog::import::CatalogAnnotations;
use usher::chat::{Actor, Person, Platform, Request};
use usher::clock::FixedClock;
use usher::commands::{self, Core};
use usher::config::Config;

use crate::commands::demo_db;
use crate::fakes::{
    FORGE_GITHUB_TOKEN, FORGE_GITLAB_TOKEN, FORGE_PAGERDUTY_TOKEN, FakeForge, WEBHOOK_SECRET,
};
use crate::support::{TestDb, stdout, usher, usher_with_input};

fn secrets() -> HashMap<String, String> {
    HashMap::from([
        (
            "FORGE_GITHUB_TOKEN".to_string(),
            FORGE_GITHUB_TOKEN.to_string(),
        ),
        (
            "FORGE_GITLAB_TOKEN".to_string(),
            FORGE_GITLAB_TOKEN.to_string(),
        ),
        (
            "FORGE_PAGERDUTY_TOKEN".to_string(),
            FORGE_PAGERDUTY_TOKEN.to_string(),
        ),
        (
            "FORGE_WEBHOOK_SECRET".to_string(),
            WEBHOOK_SECRET.to_string(),
        ),
    ])
}

fn config_file(forge: &FakeForge) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usher.toml");
    fs::write(
        &path,
        format!(
            "[outbox]\nbase_backoff_secs = 0\n\n{}",
            forge.actions_toml()
        ),
    )
    .unwrap();
    (dir, path)
}

/// Runs every automation job (retries are immediate in these tests).
async fn run_automation(db: &TestDb, config: &Config) {
    let sender = Arc::new(
        AutomationSender::new(
            Arc::new(config.clone()),
            db.pool.clone(),
            Arc::new(CatalogAnnotations(db.pool.clone())),
        )
        .with_secrets(secrets()),
    );
    let mut senders = Senders::new();
    for kind in KINDS {
        senders = senders.with(kind, sender.clone());
    }
    Worker::new(db.pool.clone(), senders, config.outbox.clone())
        .run_due()
        .await
        .unwrap();
}

/// Runs the console on a script of lines, as `who`.
async fn console(db: &TestDb, config: &std::path::Path, who: &str, script: &str) -> String {
    let mut cmd = usher();
    cmd.env("DATABASE_URL", db.url())
        .env("USHER_CONFIG", config)
        .args(["console", "--as", who]);
    // The console runs the automation itself (its outbox worker).
    for (key, value) in secrets() {
        cmd.env(key, value);
    }
    let script = script.to_string();
    let out = tokio::task::spawn_blocking(move || usher_with_input(cmd, &script))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_happy_path_through_the_console_and_every_automation_step() {
    let db = demo_db().await;
    let forge = FakeForge::start().await;
    let (_dir, path) = config_file(&forge);
    // team (default), system (default), purpose, name (proposed), java,
    // spring-boot, postgres+redis, tier 1, production, on-call: new
    // PagerDuty service, submit.
    let script = "service new\n1\n1\nprocesses refunds\n1\njava\n1\npostgres, redis\n1\nproduction\na new PagerDuty service\nsubmit\n";
    let text = console(&db, &path, "amara.okafor", script).await;
    assert!(
        text.contains("New service — Owning team (1 of 11)"),
        "{text}"
    );
    assert!(
        text.contains("I propose payments-processes-refunds"),
        "{text}"
    );
    assert!(
        text.contains("The catalog-info.yaml that will be written:"),
        "{text}"
    );
    assert!(
        text.contains("✅ payments-processes-refunds is in the catalog"),
        "{text}"
    );

    // It exists at once.
    let core = db.core();
    let owner = crate::commands::ask(&core, "owner payments-processes-refunds")
        .await
        .to_plain();
    assert!(owner.contains("is owned by Payments"), "{owner}");
    let origin: String =
        sqlx::query_scalar("SELECT origin FROM entities WHERE name = 'payments-processes-refunds'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(origin, "chat");
    // Tiers are listed in their natural order: `1` is tier 1.
    assert!(
        text.contains("[1] tier 1") && text.find("[1] tier 1") < text.find("[2] tier 2"),
        "{text}"
    );
    let tier: Option<String> =
        sqlx::query_scalar("SELECT tier FROM entities WHERE name = 'payments-processes-refunds'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(tier.as_deref(), Some("1"));

    // The automation ran in the console's outbox worker; anything left
    // runs now.
    let config = Config::from_file(&path).unwrap();
    run_automation(&db, &config).await;
    let steps: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT action, status, url FROM automation_steps ORDER BY position")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert!(steps.iter().all(|s| s.1 == "done"), "{steps:?}");
    assert_eq!(
        steps[0].2.as_deref(),
        Some("https://github.example.com/acme-shop/payments-processes-refunds")
    );
    // GitHub: one repository from the template, with the descriptor.
    assert_eq!(
        forge.github_repos(),
        ["acme-shop/payments-processes-refunds"]
    );
    let committed = forge
        .github_file("acme-shop/payments-processes-refunds", "catalog-info.yaml")
        .unwrap();
    assert!(
        committed.contains("name: payments-processes-refunds")
            && committed.contains("github.com/project-slug: acme-shop/payments-processes-refunds"),
        "{committed}"
    );
    // What was committed is a valid descriptor.
    let stream = usher::catalog::yaml::parse_stream(&committed);
    let checked = usher::catalog::validate::check_document(
        &stream.docs[0],
        "x",
        &usher::catalog::validate::Rules::from_config(&config),
    );
    assert!(
        checked.problems.iter().all(|p| !p.is_error()),
        "{:?}",
        checked.problems
    );
    // GitLab: the project and the file.
    assert!(
        forge
            .gitlab_file(
                "acme/services/payments-processes-refunds",
                "catalog-info.yaml"
            )
            .is_some()
    );
    // PagerDuty: a service under the policy, recorded on the entity.
    assert_eq!(
        forge.pagerduty_services(),
        [(
            "PNEW1".to_string(),
            "payments-processes-refunds".to_string()
        )]
    );
    let pd: Option<String> = sqlx::query_scalar(
        "SELECT pagerduty_service_id FROM entities WHERE name = 'payments-processes-refunds'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(pd.as_deref(), Some("PNEW1"));
    // The webhook arrived, signed (the receiver checks the HMAC).
    let hooks = forge.webhooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["event"], "service.created");
    assert_eq!(
        hooks[0]["service"]["metadata"]["name"],
        "payments-processes-refunds"
    );

    // The conversation shows the steps, done, with their links.
    let dialog: i64 = sqlx::query_scalar("SELECT id FROM dialogs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let text = console(
        &db,
        &path,
        "amara.okafor",
        &format!("dialog status {dialog}\n"),
    )
    .await;
    assert!(
        text.contains(
            "✅ github_repo — done: https://github.example.com/acme-shop/payments-processes-refunds"
        ),
        "{text}"
    );
    assert!(text.contains("✅ notify-platform — done"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialogue_survives_the_process_and_resumes() {
    let db = demo_db().await;
    let forge = FakeForge::start().await;
    let (_dir, path) = config_file(&forge);
    // The first process answers three steps and ends (as if killed).
    let text = console(
        &db,
        &path,
        "diego.ramirez",
        "service new\n1\n1\nreminds shoppers of their carts\n",
    )
    .await;
    assert!(text.contains("New service — Name (4 of 11)"), "{text}");
    // A fresh process: service new offers to resume, and carries on at the
    // name — answered in words, as well as by number.
    let text = console(&db, &path, "diego.ramirez", "service new\nresume\n").await;
    assert!(
        text.contains("You have a new service in progress (at “Name”"),
        "{text}"
    );
    assert!(
        text.contains("I propose checkout-reminds-shoppers-carts"),
        "{text}"
    );
    // Start over is offered too, and starts from the team.
    let text = console(&db, &path, "diego.ramirez", "service new\n2\n").await;
    assert!(
        text.contains("New service — Owning team (1 of 11)"),
        "{text}"
    );
}

fn actor(key: &str) -> Actor {
    Actor {
        person: Some(Person {
            key: format!("user:default/{key}"),
            display: key.into(),
            email: None,
        }),
        platform_user: key.into(),
        display: key.into(),
        external: false,
        unresolved: false,
    }
}

async fn say(core: &Core, who: &str, text: &str) -> String {
    let request = Request {
        actor: actor(who),
        platform: Platform::Console,
        workspace: None,
        channel: None,
        text: text.to_string(),
    };
    commands::handle(core, &request).await.to_plain()
}

async fn dialog_id(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT max(id) FROM dialogs")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn names_are_checked_against_the_convention_and_the_catalog() {
    let db = demo_db().await;
    let core = db.core();
    say(&core, "amara.okafor", "service new").await;
    let id = dialog_id(&db).await;
    say(
        &core,
        "amara.okafor",
        &format!("dialog answer {id} team group:default/team-payments"),
    )
    .await;
    say(
        &core,
        "amara.okafor",
        &format!("dialog answer {id} system system:default/payments"),
    )
    .await;
    say(
        &core,
        "amara.okafor",
        &format!("dialog answer {id} purpose refunds"),
    )
    .await;
    let name = |n: &str| format!("dialog answer {id} name {n}");
    let text = say(&core, "amara.okafor", &name("frontend")).await;
    assert!(
        text.contains("frontend is too generic") && text.contains("How about payments-frontend?"),
        "{text}"
    );
    let text = say(&core, "amara.okafor", &name("Payments_API")).await;
    assert!(
        text.contains("doesn't follow the naming convention"),
        "{text}"
    );
    let text = say(&core, "amara.okafor", &name("payments-api")).await;
    assert!(
        text.contains("payments-api is taken: payments-api already exists, owned by team-payments"),
        "{text}"
    );
    assert!(text.contains("How about payments-api-2?"), "{text}");
    let text = say(&core, "amara.okafor", &name(&"a".repeat(70))).await;
    assert!(text.contains("characters long; the limit is 63"), "{text}");
    // Close to an existing one: asked, not refused.
    let text = say(&core, "amara.okafor", &name("payment-gateways")).await;
    assert!(text.contains("payment-gateway already exists, owned by team-payments — is payment-gateways a new service, or did you mean that one?"), "{text}");
    let text = say(
        &core,
        "amara.okafor",
        &format!("dialog answer {id} name_confirm new"),
    )
    .await;
    assert!(text.contains("New service — Language"), "{text}");
    // Back goes to the confirmation, then the name.
    let text = say(&core, "amara.okafor", &format!("dialog back {id}")).await;
    assert!(text.contains("A name close to another"), "{text}");
    let text = say(
        &core,
        "amara.okafor",
        &format!("dialog answer {id} name_confirm existing"),
    )
    .await;
    assert!(
        text.contains("there's nothing to create: payment-gateway exists already"),
        "{text}"
    );
}

#[tokio::test]
async fn only_your_teams_cancel_and_someone_elses_buttons() {
    let db = demo_db().await;
    let core = db.core();
    say(&core, "jonas.weber", "service new").await;
    let id = dialog_id(&db).await;
    let text = say(
        &core,
        "jonas.weber",
        &format!("dialog answer {id} team group:default/team-search"),
    )
    .await;
    assert!(
        text.contains("you can only create services for teams you're a member of"),
        "{text}"
    );
    // Another person pressing this dialogue's buttons.
    let text = say(
        &core,
        "mei.tanaka",
        &format!("dialog answer {id} team group:default/team-payments"),
    )
    .await;
    assert!(text.contains("That dialogue is someone else's"), "{text}");
    let text = say(&core, "jonas.weber", &format!("dialog cancel {id}")).await;
    assert!(text.contains("Cancelled — nothing was created"), "{text}");
    let text = say(
        &core,
        "jonas.weber",
        &format!("dialog answer {id} team group:default/team-payments"),
    )
    .await;
    assert!(text.contains("That dialogue was cancelled"), "{text}");
    // A guest can't start one.
    let request = Request {
        actor: Actor::guest("nobody"),
        platform: Platform::Console,
        workspace: None,
        channel: None,
        text: "service new".into(),
    };
    assert!(
        commands::handle(&core, &request)
            .await
            .to_plain()
            .contains("is for people in the catalog")
    );
}

#[tokio::test]
async fn an_idle_dialogue_expires() {
    let db = demo_db().await;
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let core = db.core().with_clock(clock.clone());
    say(&core, "amara.okafor", "service new").await;
    let id = dialog_id(&db).await;
    clock.advance(Duration::minutes(31));
    let text = say(
        &core,
        "amara.okafor",
        &format!("dialog answer {id} team group:default/team-payments"),
    )
    .await;
    assert!(
        text.contains("expired after 30 minutes without an answer"),
        "{text}"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM dialogs WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(status, "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_failing_twice_then_succeeding_makes_one_repository() {
    let db = demo_db().await;
    let forge = FakeForge::start().await;
    let (_dir, path) = config_file(&forge);
    let config = Config::from_file(&path).unwrap();
    let core = {
        let mut c = db.core_with(config.clone());
        c.config = Arc::new(config.clone());
        c
    };
    say(&core, "mei.tanaka", "service new").await;
    let id = dialog_id(&db).await;
    for (step, value) in [
        ("team", "group:default/team-identity"),
        ("system", "system:default/identity"),
        ("purpose", "stores consent"),
        ("name", "identity-consent"),
        ("language", "rust"),
        ("framework", "axum"),
        ("databases", "postgres"),
        ("tier", "2"),
        ("lifecycle", "experimental"),
        ("oncall", "rotation"),
    ] {
        let text = say(
            &core,
            "mei.tanaka",
            &format!("dialog answer {id} {step} {value}"),
        )
        .await;
        assert!(!text.contains('⚠'), "{step}: {text}");
    }
    let text = say(
        &core,
        "mei.tanaka",
        &format!("dialog answer {id} confirm submit"),
    )
    .await;
    assert!(
        text.contains("✅ identity-consent is in the catalog"),
        "{text}"
    );
    forge.fail_commits(2);
    run_automation(&db, &config).await;
    assert_eq!(forge.github_repos(), ["acme-shop/identity-consent"]);
    assert_eq!(
        forge.generate_calls(),
        1,
        "the repository is generated once"
    );
    assert!(
        forge
            .github_file("acme-shop/identity-consent", "catalog-info.yaml")
            .is_some()
    );
    let attempts: i32 = sqlx::query_scalar(
        "SELECT attempts FROM outbox WHERE idempotency_key LIKE 'action:%:github_repo'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(attempts, 3);
    let text = say(&core, "mei.tanaka", &format!("dialog status {id}")).await;
    assert!(text.contains("✅ github_repo — done"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_step_is_shown_failed_and_can_be_retried() {
    let db = demo_db().await;
    let forge = FakeForge::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usher.toml");
    // A webhook with the wrong secret: the receiver says 401, which no
    // retry fixes.
    fs::write(
        &path,
        format!("[outbox]\nbase_backoff_secs = 0\n\n[[actions]]\ntype = \"webhook\"\nurl = \"{}/hook\"\nsecret_env = \"WRONG_SECRET\"\n", forge.base()),
    )
    .unwrap();
    let config = Config::from_file(&path).unwrap();
    let core = db.core_with(config.clone());
    say(&core, "sam.lindqvist", "service new").await;
    let id = dialog_id(&db).await;
    for (step, value) in [
        ("team", "group:default/team-platform"),
        ("system", "none"),
        ("purpose", "rate limits requests"),
        ("name", "platform-rate-limiter"),
        ("language", "go"),
        ("framework", "none"),
        ("databases", "redis"),
        ("tier", "1"),
        ("lifecycle", "production"),
        ("oncall", "later"),
        ("confirm", "submit"),
    ] {
        say(
            &core,
            "sam.lindqvist",
            &format!("dialog answer {id} {step} {value}"),
        )
        .await;
    }
    let mut secrets = secrets();
    secrets.insert("WRONG_SECRET".into(), "not-the-secret".into());
    let sender = Arc::new(
        AutomationSender::new(
            Arc::new(config.clone()),
            db.pool.clone(),
            Arc::new(CatalogAnnotations(db.pool.clone())),
        )
        .with_secrets(secrets),
    );
    Worker::new(
        db.pool.clone(),
        Senders::new().with("action.webhook", sender),
        config.outbox.clone(),
    )
    .run_due()
    .await
    .unwrap();
    let text = say(&core, "sam.lindqvist", &format!("dialog status {id}")).await;
    assert!(
        text.contains("❌ webhook — failed (the webhook answered 401 Unauthorized)"),
        "{text}"
    );
    assert!(text.contains("[Retry webhook] → dialog retry"), "{text}");
    let text = say(
        &core,
        "sam.lindqvist",
        &format!("dialog retry {id} webhook"),
    )
    .await;
    assert!(text.contains("webhook will be tried again now"), "{text}");
}
