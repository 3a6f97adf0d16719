//! The first hour, as a platform engineer lives it: import the
//! organisation's own descriptors (real ones, from public repositories),
//! then `usher status`, the digests' dry run and the questions colleagues
//! type. Every descriptor — rejected ones included — leads somewhere, and
//! every hint usher prints works when typed.

use usher::config::Config;

use crate::commands::{ask, demo_db};
use crate::oncall::{ask_as, person};
use crate::support::{TestDb, fixtures, stderr, stdout, usher, usher_with_input};

/// The wild descriptors imported through the binary, as a new user would.
async fn wild_catalog() -> TestDb {
    let db = TestDb::new().await;
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import"])
        .arg(fixtures().join("catalog-info-in-the-wild"))
        .output()
        .unwrap();
    // Some documents have errors (exit 1); the valid ones are imported.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    db
}

#[tokio::test]
async fn status_shows_where_an_organisation_stands_after_an_import() {
    let db = wild_catalog().await;
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("usher.toml");
    std::fs::write(&empty, "").unwrap();
    let out = usher()
        .env("DATABASE_URL", db.url())
        .env_remove("SLACK_BOT_TOKEN")
        .env_remove("DISCORD_BOT_TOKEN")
        .env("USHER_CONFIG", &empty)
        .arg("status")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.starts_with("usher status\n"), "{text}");
    // What was rejected, with file:line.
    assert!(text.contains("import error(s):"), "{text}");
    assert!(
        text.contains("giantswarm__happa__catalog-info.yaml:7: spec.owner: is required")
            || text.contains("… and "),
        "{text}"
    );
    // Owners that don't resolve, with where they're named.
    assert!(
        text.contains("user:quality-community/jaurban owns 1 service(s) but isn't a team or person in the catalog"),
        "{text}"
    );
    // Which owners a digest reaches, and the line to add where.
    assert!(text.contains("Digests reach 0 of"), "{text}");
    assert!(
        text.contains(
            "group:default/rhdh-team: add slack.com/channel-id: C… under metadata.annotations at "
        ) && text
            .contains("janus-idp__backstage-showcase__catalog-entities-groups-rhdh-team.yaml:3"),
        "{text}"
    );
    // Coverage, and the settings that are missing (for admins, here).
    assert!(
        text.contains("owner: ") && text.contains("tier: 0%"),
        "{text}"
    );
    assert!(text.contains("No admins are named"), "{text}");
    assert!(text.contains("No chat platform can post"), "{text}");

    // The same in chat, for admins only.
    let config = Config::from_toml("[admins]\npeople = [\"user:default/ops\"]\n").unwrap();
    let core = db.core_with(config);
    let chat = ask_as(&core, person("ops"), "status").await;
    assert!(
        chat.contains("import error(s)") && chat.contains("Digests reach"),
        "{chat}"
    );
    let refused = ask_as(&core, person("someone"), "status").await;
    assert!(
        refused.contains("Only usher admins may use `status`"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_rejected_descriptor_still_answers_and_counts() {
    let db = wild_catalog().await;
    let core = db.core();
    // happa has no spec.owner: rejected, but asked about by name it says why.
    for question in ["owner happa", "who owns happa?", "hygiene happa"] {
        let text = ask(&core, question).await.to_plain();
        assert!(
            text.contains("happa's descriptor was rejected when it was imported")
                && text.contains("giantswarm__happa__catalog-info.yaml:7: spec.owner: is required"),
            "{question}: {text}"
        );
    }
    // The catalog's check-up counts it.
    let all = ask(&core, "hygiene").await.to_plain();
    assert!(all.contains("descriptors rejected whole"), "{all}");
    // It names no owner, so "services without an owner" shows it.
    let unowned = ask(&core, "hygiene (no owner)").await.to_plain();
    assert!(
        unowned.contains("rejected at import") && unowned.contains("happa"),
        "{unowned}"
    );
}

#[tokio::test]
async fn the_dry_run_ends_with_a_summary_and_its_hints_work_when_typed() {
    let db = wild_catalog().await;
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["nag", "--once", "--dry-run"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let summary = text
        .split("\nSummary: ")
        .nth(1)
        .unwrap_or_else(|| panic!("a summary: {text}"));
    assert!(summary.contains("can't be delivered"), "{summary}");
    // Grouped by why, each with its owners.
    assert!(
        summary.contains("the owner is not a person in the catalog")
            && summary.contains("user:quality-community/jaurban"),
        "{summary}"
    );
    assert!(
        summary.contains("the owner is not a team in the catalog")
            && summary.contains("the team has no channel"),
        "{summary}"
    );
    assert!(
        summary.contains("`usher status` lists each one"),
        "{summary}"
    );

    // Every `hygiene …` a digest suggests answers when typed.
    let core = db.core();
    let mut hints: Vec<String> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("hygiene "))
        .map(str::to_string)
        .collect();
    hints.sort();
    hints.dedup();
    // An owner the catalog doesn't describe, or whose short name a service
    // shares (snyk's `cli`), is named in full.
    assert!(
        hints
            .iter()
            .any(|h| h == "hygiene user:quality-community/jaurban"),
        "{hints:?}"
    );
    assert!(
        hints.iter().any(|h| h == "hygiene group:default/cli"),
        "{hints:?}"
    );
    assert!(hints.iter().any(|h| h == "hygiene (no owner)"), "{hints:?}");
    for hint in &hints {
        let answer = ask(&core, hint).await.to_plain();
        for broken in ["There's no ", "I didn't expect", "owns no services"] {
            assert!(!answer.contains(broken), "`{hint}` → {answer}");
        }
        assert!(answer.contains("catalog check-up"), "`{hint}` → {answer}");
    }
}

#[tokio::test]
async fn a_service_owned_by_a_person_gets_its_digest_by_direct_message() {
    let db = demo_db().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(
        &file,
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: mei-scratchpad\nspec:\n  type: service\n  lifecycle: experimental\n  owner: user:mei.tanaka\n",
    )
    .unwrap();
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["nag", "--once", "--dry-run", "--team", "user:mei.tanaka"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("=== user:default/mei.tanaka"), "{text}");
    assert!(text.contains("mei-scratchpad"), "{text}");
    assert!(
        text.contains("direct messages to") && text.contains("1 by direct message"),
        "{text}"
    );
    // Never "is not a team".
    assert!(!text.contains("not a team"), "{text}");
}

#[tokio::test]
async fn the_console_understands_what_a_colleague_types() {
    let db = demo_db().await;
    let core = db.core();
    // A question, with its question mark.
    let text = ask(&core, "who owns payments-api?").await.to_plain();
    assert!(
        text.contains("payments-api is owned by Payments (team-payments)."),
        "{text}"
    );
    // A title of several words, unquoted.
    let text = ask(&core, "owner Payments API").await.to_plain();
    assert!(text.contains("payments-api is owned by Payments"), "{text}");
    // A team without its `team-` prefix, misspelt.
    let text = ask(&core, "team platfrom").await.to_plain();
    assert!(text.contains("Did you mean team-platform"), "{text}");
    // A full reference in the wrong namespace: the right one is offered.
    let text = ask(&core, "owner component:payments/ledger")
        .await
        .to_plain();
    assert!(text.contains("ledger"), "{text}");
    assert!(!text.contains("payments-db"), "{text}");
}

#[tokio::test]
async fn a_page_the_console_cannot_deliver_says_queued_not_paged() {
    let db = demo_db().await;
    let data = tempfile::tempdir().unwrap();
    let mut cmd = usher();
    cmd.env("DATABASE_URL", db.url())
        .env("USHER_DATA_DIR", data.path())
        .env_remove("SLACK_BOT_TOKEN")
        .env_remove("DISCORD_BOT_TOKEN")
        .args(["console", "--as", "oliver.brown"]);
    // user-profile's team is paged through its usher rotation, which goes
    // out by chat; the Page button asks for the reason on the next line.
    let out = usher_with_input(cmd, "oncall user-profile\n1\nlogins fail with 500s\n");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("What's wrong?"), "{text}");
    assert!(
        text.contains("Queued a page for") && text.contains("“logins fail with 500s”"),
        "{text}"
    );
    assert!(
        text.contains("goes out as soon as an `usher serve`"),
        "{text}"
    );
    assert!(!text.contains("Paging "), "{text}");
}
