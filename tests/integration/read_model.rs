//! Questions answered from the catalog in memory: the same answers the
//! database gives, none of it from the catalog's tables once the model is
//! read, and never out of date after a change made here.

use std::time::Duration;

use usher::catalog::{self, import::LocationKind, source::Source};
use usher::commands::Core;
use usher::config::Config;

use crate::commands::{ask, demo_db};
use crate::support::{TestDb, repo};

const QUESTIONS: &[&str] = &[
    "owner payments-api",
    "owner Payments API",
    "owner user:default/amara.okafor",
    "owner paymnets-api",
    "service payments-api",
    "team team-payments",
    "docs payments-api",
    "oncall payments-api",
    "deps payments-api",
    "service checkout-api",
    "search owner:team-payments",
];

/// A core that keeps no answers, so every question is answered anew;
/// from memory or, `in_memory` off, from the database.
fn core_with(db: &TestDb, in_memory: bool) -> Core {
    let mut config = Config::default();
    config.chat.answer_cache_secs = 0;
    config.chat.catalog_in_memory = in_memory;
    db.core_with(config)
}

fn core(db: &TestDb) -> Core {
    core_with(db, true)
}

async fn model_ready(core: &Core) {
    for _ in 0..200 {
        if core.snapshot.read_model(&core.pool).await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the read model wasn't read within 5 s");
}

#[tokio::test]
async fn answers_from_memory_are_the_databases_answers() {
    let db = demo_db().await;
    let database = core_with(&db, false);
    let mut from_database = Vec::new();
    for q in QUESTIONS {
        from_database.push(ask(&database, q).await.to_plain());
    }
    let core = core(&db);
    model_ready(&core).await;
    for (q, expected) in QUESTIONS.iter().zip(&from_database) {
        assert_eq!(&ask(&core, q).await.to_plain(), expected, "{q}");
    }

    // With the model read, an owner question needs no catalog table: hold
    // them all locked, as a stuck transaction would, and it still answers.
    let mut lock = db.pool.begin().await.unwrap();
    sqlx::query(
        "LOCK TABLE entities, relations, links, rotations, rotation_overrides IN ACCESS EXCLUSIVE MODE",
    )
    .execute(&mut *lock)
    .await
    .unwrap();
    let text = tokio::time::timeout(Duration::from_secs(5), ask(&core, "owner payments-api"))
        .await
        .expect("answered without waiting for the locked tables")
        .to_plain();
    lock.rollback().await.unwrap();
    assert_eq!(text, from_database[0]);
}

#[tokio::test]
async fn a_change_made_here_is_answered_at_once() {
    let db = demo_db().await;
    let core = core(&db);
    model_ready(&core).await;
    let before = ask(&core, "owner payments-api").await.to_plain();
    assert!(before.contains("owned by Payments"), "{before}");

    // payments-api moves to another team, imported in this process.
    let dir = tempfile::tempdir().unwrap();
    let demo = repo().join("deploy/demo");
    for entry in std::fs::read_dir(&demo).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = if path.file_name().unwrap() == "payments.yaml" {
                text.replace("owner: team-payments", "owner: team-checkout")
            } else {
                text
            };
            std::fs::write(dir.path().join(path.file_name().unwrap()), text).unwrap();
        }
    }
    let demo_location = Source::File(demo.join("catalog-info.yaml")).location_key();
    let (_, outcome) = catalog::import::import_location(
        &db.pool,
        &Source::File(dir.path().join("catalog-info.yaml")),
        &demo_location,
        LocationKind::Demo,
        &usher::catalog::loader::LoadOptions::from_config(&Config::default()),
        "test",
        false,
    )
    .await
    .unwrap();
    assert!(outcome.changed > 0 && outcome.errors == 0, "{outcome:?}");
    let after = ask(&core, "owner payments-api").await.to_plain();
    assert!(after.contains("owned by Checkout"), "{after}");
    // And once the model is read again, from memory the same.
    model_ready(&core).await;
    assert_eq!(ask(&core, "owner payments-api").await.to_plain(), after);
}
