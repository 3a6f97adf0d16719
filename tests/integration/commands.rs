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
        &Config::default().load_options(),
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
    assert!(
        text.contains("On call: unknown: no PagerDuty token is set (PAGERDUTY_TOKEN)"),
        "{text}"
    );
    // The first button opens the team's channel; the runbook comes next.
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
    assert!(matches!(&elements[1], Element::Link { label, .. } if label == "Runbook"));
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
    // SQL metacharacters and very long input are just text.
    let text = ask(
        &core,
        &format!("owner '; DROP TABLE entities; --{}'", "x".repeat(10_000)),
    )
    .await
    .to_plain();
    assert!(text.contains("There's no service called"), "{text}");
}
