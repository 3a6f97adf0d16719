//! A team's check-up digest asks about the repositories that look like
//! theirs and have no descriptor: "Describe it" goes from the digest's
//! button through the prefilled form to a pull request at the fake GitHub
//! adding catalog-info.yaml; "Not ours" hands it to another team (or asks
//! the admins); "Not a service" sets it aside for good; archived
//! repositories are never asked about. Each decision is audit-logged, and
//! only the likely owner's members (or admins) may make it.

use std::sync::Arc;

use usher::actions::jobs;
use usher::actions::outbox::{Senders, Worker};
use usher::config::Config;
use usher::hygiene::digest;

use crate::commands::demo_db;
use crate::fakes::{FORGE_GITHUB_TOKEN, FakeForge};
use crate::oncall::{ask_as, person};
use crate::support::{TestDb, usher};

async fn discovered(db: &TestDb, forge: &str, name: &str, archived: bool, topics: &[&str]) {
    sqlx::query(
        "INSERT INTO repositories (source, name, url, default_branch, head, archived, languages, topics,
             owner_ref, owner_evidence)
         VALUES ('github:acme-shop', $1, $2, 'main', 'abc', $3, '{java}', $4,
             'group:default/team-payments',
             '.github/CODEOWNERS:1 \"* @acme-shop/payments\" → group:default/team-payments (github.com/team-slug)')",
    )
    .bind(format!("acme-shop/{name}"))
    .bind(format!("{forge}/acme-shop/{name}"))
    .bind(archived)
    .bind(topics.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    .execute(&db.pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_asks_about_undescribed_repositories_and_describe_it_opens_a_pull_request() {
    let db = demo_db().await;
    let forge = FakeForge::start().await;
    forge.put_github_file(
        "acme-shop/billing-reconciler",
        "README.md",
        "# billing reconciler\n",
    );
    for (name, archived, topics) in [
        ("billing-reconciler", false, &["billing"][..]),
        ("shared-utils", false, &["library"][..]),
        ("storefront-experiments", false, &[][..]),
        ("mystery-cron", false, &[][..]),
        ("old-ledger", true, &[][..]),
    ] {
        discovered(&db, &forge.base(), name, archived, topics).await;
    }
    let host = forge.base().trim_start_matches("http://").to_string();
    let toml = format!(
        "[admins]\npeople = [\"sam.lindqvist\"]\n\n[[catalog.hosts]]\ntype = \"github\"\nhost = \"{host}\"\napi_url = \"{}/gh\"\ntoken_env = \"FORGE_GITHUB_TOKEN\"\n",
        forge.base()
    );
    let config = Config::from_toml(&toml).unwrap();
    let core = db.core_with(config.clone());

    // The digest: the services' findings, then the repositories — the
    // archived one never.
    let digests = digest::build(
        &db.pool,
        &config,
        Some("group:default/team-payments"),
        false,
    )
    .await
    .unwrap();
    let payments = &digests[0];
    let text = payments.reply.to_plain();
    for expected in [
        "4 repositories that look like yours have no catalog-info.yaml",
        "billing-reconciler",
        "(java) — .github/CODEOWNERS:1",
        "… and 1 more — `repos --team` lists them",
        "[Describe it: billing-reconciler] → repo describe acme-shop/billing-reconciler",
        "[Not ours: billing-reconciler] → repo not-ours acme-shop/billing-reconciler",
        "repo not-a-service acme-shop/billing-reconciler library",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert!(!text.contains("old-ledger"), "{text}");
    assert_eq!(payments.repositories.len(), 4);
    // Sent in a round, they aren't asked about again within repeat_days.
    digest::send_round(&db.pool, &config, "2026-12-01T10:00", &digests)
        .await
        .unwrap();
    let reported: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM hygiene_reported WHERE rule = 'undescribed-repository'
           AND team_ref = 'group:default/team-payments' AND subject LIKE 'repo:github:acme-shop/%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(reported, 4);
    let again = digest::build(&db.pool, &config, Some("group:default/team-payments"), true)
        .await
        .unwrap();
    assert!(again.iter().all(|d| d.repositories.is_empty()), "{again:?}");

    // Someone outside the team can't decide for it.
    let refused = ask_as(
        &core,
        person("mei.tanaka"),
        "repo not-a-service acme-shop/shared-utils library",
    )
    .await;
    assert!(refused.contains("Only members of team-payments can decide about acme-shop/shared-utils. Nothing changed."), "{refused}");

    // "Describe it": the form, prefilled from the repository.
    let jonas = || person("jonas.weber");
    let request = usher::chat::Request {
        actor: jonas(),
        platform: usher::chat::Platform::Console,
        workspace: None,
        channel: None,
        text: "repo describe acme-shop/billing-reconciler".into(),
    };
    let form_reply = usher::commands::handle(&core, &request).await;
    let form = form_reply.form.clone().expect("a form");
    let initial = |name: &str| {
        form.fields
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.initial.clone())
    };
    assert_eq!(initial("component").as_deref(), Some("billing-reconciler"));
    assert_eq!(initial("owner").as_deref(), Some("team-payments"));
    assert_eq!(initial("type").as_deref(), Some("service"));
    assert_eq!(
        form.submit.as_deref(),
        Some("repo describe acme-shop/billing-reconciler")
    );
    // A name that breaks the rules brings the form back with the error.
    let bad = ask_as(&core, jonas(), "repo describe acme-shop/billing-reconciler --component Legacy_Billing --owner team-payments --type service --lifecycle production").await;
    assert!(
        bad.contains("Nothing was proposed: `Legacy_Billing`"),
        "{bad}"
    );

    // Sent (as the form sends it) from a console with the host's token: the
    // proposal is queued, then the outbox worker opens the pull request.
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("usher.toml");
    std::fs::write(&config_path, &toml).unwrap();
    let mut console = usher();
    console
        .env("DATABASE_URL", db.url())
        .env("USHER_CONFIG", &config_path)
        .env("FORGE_GITHUB_TOKEN", FORGE_GITHUB_TOKEN)
        .args(["console", "--as", "jonas.weber"]);
    let out = crate::support::usher_with_input(
        console,
        "repo describe acme-shop/billing-reconciler --component billing-reconciler --owner team-payments --type service --lifecycle production --description \"Bills the customers of the old platform: invoices, dunning\"\n",
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(
            "Opening a pull request on acme-shop/billing-reconciler that adds catalog-info.yaml"
        ),
        "{said}"
    );
    let sender =
        usher::hygiene::proposal::ProposalSender::new(db.pool.clone(), Arc::new(config.clone()))
            .with_secrets(
                [(
                    "FORGE_GITHUB_TOKEN".to_string(),
                    FORGE_GITHUB_TOKEN.to_string(),
                )]
                .into(),
            );
    let sender = Arc::new(sender);
    let worker = Worker::new(
        db.pool.clone(),
        Senders::new()
            .with(jobs::DESCRIPTOR_PROPOSAL, sender.clone())
            .with(jobs::HYGIENE_PROPOSAL, sender),
        Default::default(),
    );
    while worker.run_one().await.unwrap() {}
    assert_eq!(
        forge.branches(),
        ["acme-shop/billing-reconciler:refs/heads/usher/billing-reconciler-catalog-info"]
    );
    let pulls = forge.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        pulls[0]["title"],
        "Add billing-reconciler to the service catalog"
    );
    assert_eq!(pulls[0]["base"]["ref"], "main");
    let file = forge
        .github_file("acme-shop/billing-reconciler", "catalog-info.yaml")
        .expect("catalog-info.yaml committed");
    for expected in [
        "kind: Component",
        "  name: billing-reconciler",
        "  description: 'Bills the customers of the old platform: invoices, dunning'",
        "    github.com/project-slug: acme-shop/billing-reconciler",
        "  type: service",
        "  lifecycle: production",
        "  owner: team-payments",
    ] {
        assert!(file.contains(expected), "{expected:?} not in:\n{file}");
    }
    // The file is a descriptor usher validates without a problem.
    let written = dir.path().join("catalog-info.yaml");
    std::fs::write(&written, &file).unwrap();
    let out = usher()
        .args(["catalog", "validate"])
        .arg(&written)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The card and the next digest show the request instead of asking.
    let card = ask_as(&core, jonas(), "repo billing-reconciler").await;
    assert!(card.contains("a catalog-info.yaml is proposed in https://github.example.com/acme-shop/billing-reconciler/pull/1"), "{card}");

    // "Not a service": remembered and audit-logged, never asked again.
    let said = ask_as(
        &core,
        jonas(),
        "repo not-a-service acme-shop/shared-utils library",
    )
    .await;
    assert!(
        said.contains("Noted: acme-shop/shared-utils is a library — not a service."),
        "{said}"
    );
    // "Not ours", naming whose: it moves to that team's list.
    let said = ask_as(
        &core,
        jonas(),
        "repo not-ours acme-shop/storefront-experiments --owner team-checkout",
    )
    .await;
    assert!(
        said.contains("Noted: acme-shop/storefront-experiments is team-checkout's now."),
        "{said}"
    );
    // "Not ours", not knowing whose: the admins are asked.
    let said = ask_as(&core, jonas(), "repo not-ours acme-shop/mystery-cron").await;
    assert!(
        said.contains("Whose is acme-shop/mystery-cron?")
            && said.contains("repo not-ours acme-shop/mystery-cron --unknown"),
        "{said}"
    );
    let said = ask_as(
        &core,
        jonas(),
        "repo not-ours acme-shop/mystery-cron --unknown",
    )
    .await;
    assert!(
        said.contains("usher's admins are asked whose it is"),
        "{said}"
    );
    let asked: Vec<String> = sqlx::query_scalar("SELECT destination FROM outbox WHERE kind = 'chat.message' AND idempotency_key LIKE 'repo-unowned:%'")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(asked, ["dm:user:default/sam.lindqvist"]);
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'repository.%' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        audit,
        [
            "repository.describe",
            "repository.not-a-service",
            "repository.owner",
            "repository.owner"
        ]
    );

    let digests = digest::build(
        &db.pool,
        &config,
        Some("group:default/team-payments"),
        false,
    )
    .await
    .unwrap();
    let text = digests[0].reply.to_plain();
    assert!(
        text.contains("1 repository that looks like yours has no catalog-info.yaml"),
        "{text}"
    );
    assert!(text.contains("a catalog-info.yaml is proposed"), "{text}");
    for gone in [
        "shared-utils",
        "storefront-experiments",
        "mystery-cron",
        "Describe it",
    ] {
        assert!(!text.contains(gone), "{gone} in:\n{text}");
    }
    let checkout = digest::build(
        &db.pool,
        &config,
        Some("group:default/team-checkout"),
        false,
    )
    .await
    .unwrap();
    assert!(
        checkout[0]
            .reply
            .to_plain()
            .contains("storefront-experiments")
    );
    let coverage = ask_as(&core, jonas(), "repos").await;
    assert!(coverage.contains("1 set aside"), "{coverage}");
}
