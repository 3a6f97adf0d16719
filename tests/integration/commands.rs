//! Commands through the core router, on the demo catalog.

use usher::catalog::{self, import::LocationKind, source::Source};
use usher::chat::{Actor, Block, Element, Platform, Reply, Request};
use usher::commands::{self, Core};
use usher::config::Config;

use crate::support::{TestDb, repo};

pub async fn demo_db() -> TestDb {
    let db = TestDb::new().await;
    let result = catalog::import_one(
        &db.pool,
        &Source::File(repo().join("deploy/demo/catalog-info.yaml")),
        LocationKind::Demo,
        &usher::catalog::loader::LoadOptions::from_config(&Config::default()),
        "test",
        false,
    )
    .await
    .unwrap();
    assert_eq!(result.loaded.error_count(), 0);
    db
}

pub async fn ask(core: &Core, text: &str) -> Reply {
    let request = Request {
        actor: Actor::guest("tester"),
        platform: Platform::Console,
        workspace: None,
        channel: None,
        text: text.to_string(),
    };
    commands::handle(core, &request).await
}

#[tokio::test]
async fn owner_puts_the_team_first_and_offers_the_channel() {
    let db = demo_db().await;
    let core = db.core();
    let reply = ask(&core, "owner payments-api").await;
    let text = reply.to_plain();
    assert!(
        text.starts_with("Payments API\npayments-api is owned by Payments (team-payments)."),
        "{text}"
    );
    assert!(text.contains("Lead: Amara Okafor"), "{text}");
    // PagerDuty can't be read without a token: the team's rota answers,
    // and the person asking never sees a setting only admins can fix.
    let on_call = text
        .lines()
        .find(|l| l.contains("On call:"))
        .unwrap_or_default();
    assert!(
        ["Amara Okafor", "Jonas Weber", "Priya Nair"]
            .iter()
            .any(|who| on_call.contains(who)),
        "{text}"
    );
    assert!(!text.contains("PAGERDUTY_TOKEN"), "{text}");
    // The first button opens the team's channel; paging the person on call
    // and the runbook come next.
    let Some(Block::Actions { elements }) = reply
        .blocks
        .iter()
        .find(|b| matches!(b, Block::Actions { .. }))
    else {
        panic!("no buttons: {text}");
    };
    assert!(
        matches!(&elements[0], Element::Link { label, url } if label == "Open #payments" && url.contains("C04PAYMNTS"))
    );
    assert!(
        matches!(&elements[1], Element::Button { label, .. } if label.starts_with("Page ")),
        "{elements:?}"
    );
    assert!(matches!(&elements[2], Element::Link { label, .. } if label == "Runbook"));
    // Case-insensitive, by title, and by full reference.
    assert!(
        ask(&core, "owner PAYMENTS-API")
            .await
            .to_plain()
            .contains("owned by Payments")
    );
    assert!(
        ask(&core, "owner Auth")
            .await
            .to_plain()
            .contains("auth-service is owned by Identity")
    );
    assert!(
        ask(&core, "owner component:checkout/frontend")
            .await
            .to_plain()
            .contains("owned by Checkout")
    );
}

#[tokio::test]
async fn typos_ambiguity_and_gaps_get_helpful_answers() {
    let db = demo_db().await;
    let core = db.core_with(Config::default());
    let reply = ask(&core, "owner payment-gatway").await;
    assert!(
        reply.to_plain().contains("Did you mean payment-gateway"),
        "{}",
        reply.to_plain()
    );
    let choices = reply.choices();
    assert_eq!(
        choices[0].1.command,
        "owner component:default/payment-gateway"
    );
    // Pressing the suggestion answers.
    assert!(
        ask(&core, &choices[0].1.command)
            .await
            .to_plain()
            .contains("owned by Payments")
    );

    let reply = ask(&core, "owner frontend").await;
    assert!(
        reply.to_plain().contains("2 entities are called frontend"),
        "{}",
        reply.to_plain()
    );
    assert_eq!(reply.choices().len(), 2);

    assert!(
        ask(&core, "owner zzzzzz")
            .await
            .to_plain()
            .contains("nothing with a similar name")
    );
    let text = ask(&core, "owner inventory-sync").await.to_plain();
    assert!(
        text.contains("names team-warehouse as its owner, but there's no such team"),
        "{text}"
    );
    let text = ask(&core, "owner legacy-billing").await.to_plain();
    assert!(
        text.contains("Every member of this team is marked inactive"),
        "{text}"
    );
    // SQL metacharacters and long input are just text; a line over a few
    // KB gets one line saying so.
    let text = ask(
        &core,
        &format!("owner '; DROP TABLE entities; --{}'", "x".repeat(3_000)),
    )
    .await
    .to_plain();
    assert!(text.contains("There's no service called"), "{text}");
    let text = ask(&core, &format!("owner {}", "x".repeat(10_000)))
        .await
        .to_plain();
    assert!(text.starts_with("That's too long for me"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_answers_end_with_the_next_catalog_change() {
    let db = demo_db().await;
    let core = db.core();
    let first = ask(&core, "owner payments-api").await;
    assert!(
        first.to_plain().starts_with("Payments API"),
        "{}",
        first.to_plain()
    );
    // Asked again: the same answer, from memory.
    assert_eq!(ask(&core, "owner payments-api").await, first);
    // Another process changes the catalog: the next answer is new.
    sqlx::query("UPDATE entities SET title = 'Payments Gateway' WHERE ref = 'component:default/payments-api'")
        .execute(&db.pool)
        .await
        .unwrap();
    let mut changed = false;
    for _ in 0..40 {
        if ask(&core, "owner payments-api")
            .await
            .to_plain()
            .starts_with("Payments Gateway")
        {
            changed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(changed, "the change was seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_to_one_service_keeps_the_answers_about_others() {
    let db = demo_db().await;
    let core = db.core();
    let first = ask(&core, "owner payments-api").await;
    // A change nobody is told of (triggers off), to see whether the next
    // answer comes from memory.
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("UPDATE entities SET title = 'Quietly Renamed' WHERE ref = 'component:default/payments-api'")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("SET session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    // Another service changes, in place: payments-api's answer stands.
    sqlx::query(
        "UPDATE entities SET description = 'changed' WHERE ref = 'component:default/checkout-api'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(ask(&core, "owner payments-api").await, first, "kept");
    // A person changes: every answer may, so it is made again.
    sqlx::query(
        "UPDATE entities SET display_name = 'Amara O.' WHERE ref = 'user:default/amara.okafor'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let mut renewed = false;
    for _ in 0..40 {
        if ask(&core, "owner payments-api")
            .await
            .to_plain()
            .starts_with("Quietly Renamed")
        {
            renewed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(renewed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_changes_say_what_changed() {
    let db = demo_db().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&db.pool)
        .await
        .unwrap();
    listener.listen("usher_catalog").await.unwrap();
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM entities WHERE ref = 'component:default/payments-api'")
            .fetch_one(&db.pool)
            .await
            .unwrap();

    // No row changed: nothing said.
    sqlx::query("UPDATE entities SET title = title WHERE false")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE entities SET description = 'x' WHERE ref = 'component:default/payments-api'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        next_payload(&mut listener).await.as_deref(),
        Some(format!("u:{id}").as_str())
    );
    sqlx::query("UPDATE entities SET email = 'x@y' WHERE ref = 'group:default/team-payments'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(next_payload(&mut listener).await.as_deref(), Some("*"));
    sqlx::query("DELETE FROM entities WHERE ref = 'component:default/payments-api'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(next_payload(&mut listener).await.as_deref(), Some("*"));
}

async fn next_payload(listener: &mut sqlx::postgres::PgListener) -> Option<String> {
    tokio::time::timeout(std::time::Duration::from_secs(2), listener.recv())
        .await
        .ok()
        .map(|n| n.unwrap().payload().to_string())
}

/// Every example `help` shows works on the demo catalog, typed as it is
/// shown, by an admin who is a member of the teams the examples name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helps_examples_work_on_the_demo() {
    let db = demo_db().await;
    let config = Config::from_toml(
        "[admins]\npeople = [\"user:default/mei.tanaka\"]\n[hygiene.rules.runbook-missing]\nenabled = true\n",
    )
    .unwrap();
    let core = db.core_with(config);
    let actor = usher::platforms::console::resolve_actor(&core, Some("mei.tanaka"))
        .await
        .unwrap();
    let broken = [
        "I don't know the command",
        "I didn't expect",
        "There's no ",
        "isn't one of",
        "needs a value",
        "Usage: `",
        "Something went wrong",
    ];
    let mut failures = Vec::new();
    for def in usher::commands::definitions::all()
        .iter()
        .filter(|d| !d.hidden)
    {
        let examples = def
            .examples
            .iter()
            .chain(def.subcommands.iter().flat_map(|s| s.examples.iter()));
        for example in examples {
            let request = Request {
                actor: actor.clone(),
                platform: Platform::Console,
                workspace: None,
                channel: None,
                text: example.clone(),
            };
            let text = commands::handle(&core, &request).await.to_plain();
            if let Some(wrong) = broken.iter().find(|b| text.contains(*b)) {
                failures.push(format!("`{example}` → {wrong}…:\n{text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
