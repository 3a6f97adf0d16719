//! The questions people ask (issue: owner, docs, service, team, deps,
//! search with packages, stats), through the core router on the demo
//! catalog, and the SBOM import through the CLI.

use std::sync::Arc;

use usher::actions::jobs;
use usher::actions::outbox::Senders;
use usher::chat::{Actor, Person, Platform, Request};
use usher::commands;
use usher::config::Config;

use crate::commands::{ask, demo_db};
use crate::support::{RecordingSender, drain_outbox, repo, stdout, usher};

#[tokio::test]
async fn docs_put_the_runbook_first_when_it_matters() {
    let db = demo_db().await;
    let mut config = Config::default();
    config.chat.techdocs_url = Some("https://backstage.acme-shop.example/docs".into());
    let core = db.core_with(config);
    let reply = ask(&core, "runbook payments-api").await;
    let text = reply.to_plain();
    let runbook = text.find("[Runbook]").unwrap();
    let docs = text
        .find("[TechDocs] https://backstage.acme-shop.example/docs/default/component/payments-api")
        .unwrap();
    assert!(runbook < docs, "{text}");
    assert!(
        text.contains("[Repository] https://github.com/acme-shop/payments-api"),
        "{text}"
    );
    assert!(text.contains("APIs: payments-api (openapi)"), "{text}");
    // A service with nothing gets told what to add, and where.
    let text = ask(&core, "docs invoice-pdf").await.to_plain();
    assert!(
        text.contains("has no docs, runbook or repository in the catalog"),
        "{text}"
    );
    assert!(text.contains("legacy.yaml"), "{text}");
}

#[tokio::test]
async fn the_service_card_counts_the_blast_radius_and_names_the_gaps() {
    let db = demo_db().await;
    let core = db.core();
    let text = ask(&core, "service event-bus").await.to_plain();
    assert!(text.contains("Owner: Platform"), "{text}");
    assert!(text.contains("6 depend on it directly"), "{text}");
    assert!(text.contains("13 in all — its blast radius"), "{text}");
    let text = ask(&core, "card invoice-pdf").await.to_plain();
    assert!(
        text.contains("No description yet.") || text.contains("Renders invoices"),
        "{text}"
    );
    assert!(
        text.contains("Missing: on-call, a runbook, docs, a repository, a tier"),
        "{text}"
    );
}

#[tokio::test]
async fn teams_people_and_trees() {
    let db = demo_db().await;
    let core = db.core();
    let text = ask(&core, "team Payments").await.to_plain();
    assert!(text.contains("Owns 8: payments (system)"), "{text}");
    assert!(text.contains("payments: "), "{text}");
    let text = ask(&core, "team amara.okafor").await.to_plain();
    assert!(
        text.contains("is a person, not a team. Their teams: team-payments"),
        "{text}"
    );
    let text = ask(&core, "deps checkout-api").await.to_plain();
    assert!(text.contains("├─ payments-api\n│  ├─ ledger"), "{text}");
    let text = ask(&core, "deps --reverse --depth 1 payments-api")
        .await
        .to_plain();
    assert!(text.contains("payments-api\n└─ checkout-api"), "{text}");
    assert!(
        text.contains("1 depends on it directly, 5 in all"),
        "{text}"
    );
}

#[tokio::test]
async fn search_filters_paging_and_packages() {
    let db = demo_db().await;
    let core = db.core();
    let text = ask(&core, "search lang:java tier:1").await.to_plain();
    assert!(text.starts_with("3 found"), "{text}");
    assert!(text.contains("payments-api — team-payments"), "{text}");
    let text = ask(&core, "search owner:team-payments missing:runbook")
        .await
        .to_plain();
    assert!(
        text.contains("fraud-scorer") && !text.contains("payments-api —"),
        "{text}"
    );
    // Paging: the More button runs the next page.
    let first = ask(&core, "search type:service").await;
    let more = first
        .choices()
        .into_iter()
        .find(|(l, _)| l == "More")
        .expect("a More button")
        .1;
    assert_eq!(more.command, "search --page 2 type:service");
    let second = ask(&core, &more.command).await.to_plain();
    assert!(second.contains("(showing 11–20)"), "{second}");
    // Free text over descriptions.
    assert!(
        ask(&core, "search \"card payments\"")
            .await
            .to_plain()
            .contains("payments-api")
    );

    // log4j: 2.14.1 is affected, 2.17.1 is not.
    let text = ask(&core, "search dep:log4j-core@<2.17.1").await.to_plain();
    assert!(
        text.contains("1 found")
            && text.contains("payments-api — team-payments · log4j-core 2.14.1"),
        "{text}"
    );
    assert!(!text.contains("ledger"), "{text}");
    assert!(
        ask(
            &core,
            "search dep:maven/org.apache.logging.log4j/log4j-core@[2.17.0,2.18)"
        )
        .await
        .to_plain()
        .contains("ledger")
    );
    let text = ask(&core, "search dep:npm/lodash@<4.17.21")
        .await
        .to_plain();
    assert!(text.contains("checkout-api"), "{text}");
    let text = ask(&core, "search dep:log4j-core@!!").await.to_plain();
    assert!(text.contains("is not a version range for maven"), "{text}");
}

#[tokio::test]
async fn bad_search_input_gets_one_line_and_nothing_breaks() {
    let db = demo_db().await;
    let core = db.core();
    let long = format!("search {}", "a".repeat(2_000));
    let huge = format!("search {}", "a".repeat(40_000));
    for (input, expect) in [
        (long.as_str(), "keep it under"),
        (huge.as_str(), "That's too long for me (40 KB"),
        ("search \"unbalanced", "no closing quote"),
        ("search dep:@@@", "needs a package name"),
        ("search tier:banana", "is not a tier"),
        ("search '; DROP TABLE entities; --'", "Nothing matches"),
        ("search pаyments", "Nothing matches"),
        ("search owner:team-paymnts", "did you mean"),
    ] {
        let text = ask(&core, input).await.to_plain();
        assert!(
            text.to_lowercase().contains(&expect.to_lowercase()),
            "{input}: {text}"
        );
        assert_eq!(text.lines().count(), 1, "{input}: {text}");
    }
    assert!(
        ask(&core, "search payments")
            .await
            .to_plain()
            .contains("found")
    );
}

fn as_person(key: &str) -> Actor {
    Actor {
        person: Some(Person {
            key: key.to_string(),
            display: key.to_string(),
            email: None,
        }),
        platform_user: key.to_string(),
        display: key.to_string(),
        external: false,
        unresolved: false,
    }
}

#[tokio::test]
async fn notifying_owners_is_permissioned_and_happens_once() {
    let db = demo_db().await;
    let mut config = Config::default();
    config.admins.people = vec!["sam.lindqvist".into()];
    config.security.groups = vec!["team-identity".into()];
    let core = db.core_with(config);
    let request = |actor: Actor| Request {
        actor,
        platform: Platform::Console,
        workspace: None,
        channel: None,
        text: "search --notify dep:log4j-core@<2.17.1".into(),
    };
    // A guest and an ordinary member are told who may; nothing is queued.
    let text = commands::handle(&core, &request(Actor::guest("x")))
        .await
        .to_plain();
    assert!(
        text.contains(
            "Only usher admins and members of team-identity may notify owners. Nothing was sent."
        ),
        "{text}"
    );
    let text = commands::handle(&core, &request(as_person("user:default/jonas.weber")))
        .await
        .to_plain();
    assert!(text.contains("Nothing was sent"), "{text}");
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(queued, 0);

    // A member of the security group notifies; pressing again adds nothing.
    let text = commands::handle(&core, &request(as_person("user:default/mei.tanaka")))
        .await
        .to_plain();
    assert!(
        text.contains("Notified 1 team about 1 service using log4j-core@<2.17.1."),
        "{text}"
    );
    let text = commands::handle(&core, &request(as_person("user:default/sam.lindqvist")))
        .await
        .to_plain();
    assert!(
        text.contains("Notified 0 teams") && text.contains("already been notified"),
        "{text}"
    );
    let jobs: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT destination, payload FROM outbox WHERE kind = $1")
            .bind(jobs::NOTIFY)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].0, "group:default/team-payments");
    assert_eq!(jobs[0].1["services"][0]["versions"][0], "log4j-core 2.14.1");
    let audit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'search.notify'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(audit, 2);
    let sender = Arc::new(RecordingSender::default());
    drain_outbox(&db.pool, Senders::new().with(jobs::NOTIFY, sender.clone())).await;
    assert_eq!(sender.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn stats_answer_the_platform_teams_questions() {
    let db = demo_db().await;
    let core = db.core();
    let text = ask(&core, "stats").await.to_plain();
    assert!(text.contains("30 services"), "{text}");
    let text = ask(&core, "stats languages").await.to_plain();
    assert!(text.contains("python") && text.contains('█'), "{text}");
    let text = ask(&core, "stats coverage").await.to_plain();
    assert!(
        text.contains("owner ") && text.contains("(29 of 30)"),
        "{text}"
    );
    let text = ask(&core, "stats spof").await.to_plain();
    assert!(
        text.contains("kafka (resource)") && text.contains("14 affected"),
        "{text}"
    );
    let text = ask(&core, "stats weather").await.to_plain();
    assert!(text.contains("`topic` is one of languages"), "{text}");
}

#[tokio::test]
async fn every_command_has_help() {
    let db = demo_db().await;
    let core = db.core();
    for def in usher::commands::definitions::all() {
        let text = ask(&core, &format!("help {}", def.name)).await.to_plain();
        assert!(
            text.contains(&format!("Usage: {}", def.name)),
            "{}: {text}",
            def.name
        );
    }
}

#[tokio::test]
async fn sboms_from_files_cyclonedx_and_spdx() {
    let db = demo_db().await;
    let core = db.core();
    // Asked before the import, so the answer is kept in memory...
    let before = ask(&core, "search dep:log4j-core@<2.17.1").await.to_plain();
    assert!(!before.contains("reporting"), "{before}");
    let sboms = repo().join("tests/fixtures/sbom");
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import-sbom", "--service", "reporting"])
        .arg(sboms.join("usher.cdx.json"))
        .arg(sboms.join("billing.spdx.json"))
        .arg(sboms.join("search.cdx.json"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("usher.cdx.json: 245 packages (CycloneDx) for reporting"),
        "{text}"
    );
    // ...and the import (another process) ends it.
    let mut text = String::new();
    for _ in 0..40 {
        text = ask(&core, "search dep:log4j-core@<2.17.1").await.to_plain();
        if text.contains("reporting") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("2 found") && text.contains("reporting"),
        "{text}"
    );
    assert!(
        ask(&core, "search dep:cargo/tokio@>=1.0.0,<2.0.0")
            .await
            .to_plain()
            .contains("reporting")
    );
    assert!(
        ask(&core, "search dep:pypi/requests@<2.31")
            .await
            .to_plain()
            .contains("reporting")
    );
    // Importing the same file again replaces, not adds.
    let again = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import-sbom", "--service", "reporting"])
        .arg(sboms.join("search.cdx.json"))
        .output()
        .unwrap();
    assert!(again.status.success());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM packages p JOIN entities e ON e.id = p.entity_id WHERE e.name = 'reporting'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 245 + 2 + 2);
    // Not an SBOM, or no such service: one clear message, exit 2.
    let bad = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import-sbom", "--service", "nope"])
        .arg(sboms.join("search.cdx.json"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no service called nope"));
}
