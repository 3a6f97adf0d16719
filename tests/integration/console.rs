//! The console, driven through the real binary with piped input.

use crate::support::{TestDb, repo, stderr, stdout, usher, usher_with_input};

#[tokio::test]
async fn piped_console_answers_and_exits_zero() {
    let db = TestDb::new().await;
    let data = tempfile::tempdir().unwrap();
    let mut cmd = usher();
    cmd.env("DATABASE_URL", db.url())
        .env("USHER_DATA_DIR", data.path())
        .args(["console", "--demo"]);
    let out = usher_with_input(
        cmd,
        "owner payments-api\nowner frontend\n2\nowner paymnts-api\nbogus\n",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("payments-api is owned by Payments (team-payments)."),
        "{text}"
    );
    assert!(
        text.contains("→ Runbook: https://runbooks.acme-shop.example/payments-api"),
        "{text}"
    );
    assert!(text.contains("2 entities are called `frontend`"), "{text}");
    // Typing 2 picks the second candidate.
    assert!(
        text.contains("search/frontend is owned by Search & Discovery"),
        "{text}"
    );
    assert!(
        text.contains("There's no service called `paymnts-api`. Did you mean payments-api"),
        "{text}"
    );
    assert!(text.contains("I don't know the command `bogus`"), "{text}");
    // No prompt and no colour when piped; logs stay out of stdout.
    assert!(
        !text.contains("usher>") && !text.contains('\u{1b}'),
        "{text}"
    );
}

#[tokio::test]
async fn acting_as_someone_unknown_is_a_bad_flag() {
    let db = TestDb::new().await;
    let out = usher_with_input(
        {
            let mut cmd = usher();
            cmd.env("DATABASE_URL", db.url())
                .args(["console", "--as", "nobody@example.com"]);
            cmd
        },
        "help\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--as nobody@example.com: there's no person"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_demo_catalog_validates_without_errors() {
    let out = usher()
        .args(["catalog", "validate", "--offline"])
        .arg(repo().join("deploy/demo/catalog-info.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // The one warning: a service owned by a team that isn't in the catalog
    // (a gap the hygiene reminders are meant to find).
    let text = stdout(&out);
    assert!(
        text.contains("spec.owner: warning: refers to 'group:default/team-warehouse'"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}
