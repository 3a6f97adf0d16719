//! Importing descriptors into a real catalog: the Backstage examples, the
//! files from the wild, re-imports, removals, invalid documents keeping
//! their previous version, problems appearing and disappearing.

use std::fs;
use std::path::Path;

use usher::catalog::{self, import::LocationKind, source::Source};
use usher::config::Config;

use crate::support::{TestDb, fixtures, stdout, usher};

async fn import_path(db: &TestDb, path: &Path) -> catalog::LocationImport {
    catalog::import_one(
        &db.pool,
        &Source::File(path.to_path_buf()),
        if path.is_dir() {
            LocationKind::Dir
        } else {
            LocationKind::File
        },
        &usher::catalog::loader::LoadOptions::from_config(&Config::default()),
        "test",
        false,
    )
    .await
    .unwrap()
}

async fn count(db: &TestDb, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

#[tokio::test]
async fn backstage_examples_import_and_reimport_changes_nothing() {
    let db = TestDb::new().await;
    let examples = fixtures().join("backstage/examples");
    let first = import_path(&db, &examples).await;
    let errors: Vec<String> = first
        .loaded
        .problems
        .iter()
        .filter(|p| p.is_error())
        .map(|p| p.to_string())
        .collect();
    // The one error: the examples' second `guest` (namespace development)
    // claims the email the first already has — one person per email.
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("team-a-group.yaml:60: spec.profile: the spec.profile.email 'guest@example.com' belongs to user:default/guest already"),
        "{errors:#?}"
    );
    // The only warnings: URL substitutions (offline) and an owner written
    // `guest`, which Backstage resolves to a group that doesn't exist.
    for w in first.loaded.problems.iter().filter(|p| !p.is_error()) {
        assert!(
            w.message.contains("substitution $text") || w.message.contains("group:default/guest"),
            "unexpected warning: {w}"
        );
    }
    let outcome = first.outcome;
    assert!(outcome.added >= 60, "{outcome:?}");
    assert_eq!((outcome.changed, outcome.removed), (0, 0));
    // The warning about `guest` points at the user of that name.
    assert!(
        first
            .loaded
            .problems
            .iter()
            .any(|p| p.message.contains("did you mean 'user:default/guest'"))
    );
    // Local substitutions are resolved: the webhook API's definition is text.
    let definition: serde_json::Value = sqlx::query_scalar(
        "SELECT raw->'spec'->'definition' FROM entities WHERE ref = 'api:default/petstore-webhook'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        definition.as_str().unwrap().contains("openapi"),
        "{definition}"
    );

    let again = import_path(&db, &examples).await.outcome;
    assert_eq!((again.added, again.changed, again.removed), (0, 0, 0));
    assert_eq!(again.unchanged, outcome.added);

    // Typed columns and relations.
    let owner: Option<String> = sqlx::query_scalar(
        "SELECT owner_ref FROM entities WHERE ref = 'component:default/petstore'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(owner.as_deref(), Some("group:default/team-c"));
    assert!(
        count(
            &db,
            "SELECT count(*) FROM relations WHERE type = 'providesApi'"
        )
        .await
            > 0
    );
    assert!(
        count(
            &db,
            "SELECT count(*) FROM relations WHERE type = 'memberOf'"
        )
        .await
            > 0
    );
    let repo_links = count(
        &db,
        "SELECT count(*) FROM links WHERE category = 'repository'",
    )
    .await;
    assert!(repo_links > 0);
}

#[tokio::test]
async fn files_from_the_wild_are_processed_and_their_real_problems_reported() {
    let db = TestDb::new().await;
    let dir = fixtures().join("catalog-info-in-the-wild");
    let mut problems = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let result = import_path(&db, &path).await;
            problems.extend(result.loaded.problems.iter().map(|p| {
                let file = Path::new(&p.file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (file, p.line, p.field.clone(), p.severity, p.message.clone())
            }));
        }
    }
    let has = |file: &str, line: usize, field: &str, needle: &str| {
        problems.iter().any(|(f, l, fi, _, m)| {
            f == file && *l == Some(line) && fi == field && m.contains(needle)
        })
    };
    // giantswarm/happa: no owner (an error), `lifecycle: unknown` (a warning).
    assert!(has(
        "giantswarm__happa__catalog-info.yaml",
        7,
        "spec.owner",
        "is required"
    ));
    assert!(has(
        "giantswarm__happa__catalog-info.yaml",
        9,
        "spec.lifecycle",
        "'unknown' is not a known lifecycle"
    ));
    // snyk/cli: `lifecycle: '-'`.
    assert!(has(
        "snyk__cli__catalog-info.yaml",
        10,
        "spec.lifecycle",
        "'-' is not a known lifecycle"
    ));
    // one-platform's root Location names targets that aren't in the copy.
    assert!(has(
        "1-Platform__one-platform__catalog-info.yaml",
        11,
        "spec.targets[0]",
        "'./catalog/resources/NativeMongoDB.yaml' does not exist"
    ));
    // RoadieHQ's glob targets match nothing in the copy.
    assert!(has(
        "RoadieHQ__roadie-backstage-plugins__catalog-info.yaml",
        19,
        "spec.targets[0]",
        "'./plugins/**/catalog-info.yaml' matches no files"
    ));
    // Namespaced references resolve in the entity's own namespace, and
    // dangle here because their targets are elsewhere.
    assert!(has(
        "1-Platform__one-platform__packages-api-gateway-service__catalog-info.yaml",
        25,
        "spec.system",
        "'system:devex/one-platform'"
    ));
    // Multi-document files: elastic's Component + buildkite Resource.
    let ecs: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM entities WHERE source_file LIKE '%elastic__ecs__%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(ecs, 2);
    // The problems are recorded, attributed to the owner the file names.
    let owner: Option<String> = sqlx::query_scalar(
        "SELECT owner_ref FROM import_problems WHERE file LIKE '%snyk__cli%' AND field = 'spec.lifecycle'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(owner.as_deref(), Some("group:default/cli"));
    // Nothing else is an error.
    let errors: Vec<_> = problems
        .iter()
        .filter(|p| p.3 == usher::catalog::problem::Severity::Error)
        .collect();
    assert_eq!(errors.len(), 21 + 1, "{errors:#?}");
}

const TEAM: &str = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-a\nspec:\n  type: team\n  children: []\n";

fn component(name: &str, owner: &str) -> String {
    format!(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: service\n  lifecycle: production\n  owner: {owner}\n"
    )
}

#[tokio::test]
async fn reimports_remove_what_disappeared_and_keep_what_broke() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    fs::write(
        &file,
        format!(
            "{TEAM}{}{}{}",
            component("a", "team-a"),
            component("b", "team-a"),
            component("c", "team-a")
        ),
    )
    .unwrap();
    let first = import_path(&db, &file).await.outcome;
    assert_eq!(first.added, 4);

    // b disappears, c breaks (owner becomes a list): b is removed, c kept.
    fs::write(
        &file,
        format!(
            "{TEAM}{}{}",
            component("a", "team-a"),
            component("c", "[x, y]")
        ),
    )
    .unwrap();
    let second = import_path(&db, &file).await;
    let outcome = second.outcome;
    assert_eq!((outcome.removed, outcome.errors), (1, 1), "{outcome:?}");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM entities WHERE kind = 'component' ORDER BY name")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(names, ["a", "c"]);
    let problem: (Option<i32>, String, String) =
        sqlx::query_as("SELECT line, field, message FROM import_problems")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(problem.0, Some(25));
    assert_eq!(problem.1, "spec.owner");
    assert!(problem.2.contains("must be text"), "{}", problem.2);

    // Fixed: the problem disappears.
    fs::write(
        &file,
        format!(
            "{TEAM}{}{}",
            component("a", "team-a"),
            component("c", "team-a")
        ),
    )
    .unwrap();
    import_path(&db, &file).await;
    assert_eq!(count(&db, "SELECT count(*) FROM import_problems").await, 0);

    // A file that can't be parsed keeps everything it had.
    fs::write(&file, "apiVersion: [unclosed\n").unwrap();
    let broken = import_path(&db, &file).await.outcome;
    assert_eq!(broken.removed, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM entities").await, 3);
}

#[tokio::test]
async fn an_entity_belongs_to_one_location() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.yaml");
    let two = dir.path().join("two.yaml");
    fs::write(
        &one,
        format!("{TEAM}{}", component("payments-api", "team-a")),
    )
    .unwrap();
    fs::write(&two, component("Payments-API", "team-a")).unwrap();
    import_path(&db, &one).await;
    let second = import_path(&db, &two).await;
    let problem = second
        .loaded
        .problems
        .iter()
        .find(|p| p.is_error())
        .expect("a conflict");
    assert!(
        problem.message.contains("differs only by case"),
        "{problem}"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM entities WHERE lower(name) = 'payments-api'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn duplicates_and_cycles_in_one_location() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    fs::write(
        &a,
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: a\nspec:\n  targets: [./b.yaml]\n{}{}",
            component("x", "team-a"),
            component("x", "team-a")
        ),
    )
    .unwrap();
    fs::write(
        &b,
        format!("apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: b\nspec:\n  target: ./a.yaml\n---\n{TEAM}"),
    )
    .unwrap();
    let result = import_path(&db, &a).await;
    let text: Vec<String> = result
        .loaded
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(
        text.iter()
            .any(|p| p.contains("Component 'x' is already defined at")),
        "{text:#?}"
    );
    assert!(text.iter().any(|p| p.contains("b.yaml:6: spec.target: warning: the target './a.yaml' leads back")), "{text:#?}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM entities WHERE kind = 'component'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM entities WHERE kind = 'group'").await,
        1
    );
}

#[tokio::test]
async fn cli_import_reports_and_records_each_location() {
    let db = TestDb::new().await;
    let dry = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import", "--dry-run"])
        .arg(fixtures().join("backstage/examples/all.yaml"))
        .output()
        .unwrap();
    assert!(
        stdout(&dry).contains("(dry run: nothing written)"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(count(&db, "SELECT count(*) FROM entities").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM locations").await, 0);
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import"])
        .arg(fixtures().join("backstage/examples/all.yaml"))
        .arg(fixtures().join("backstage/examples/acme-corp.yaml"))
        .output()
        .unwrap();
    let text = stdout(&out);
    // Exit 1: the examples' two `guest` users share an email (see above).
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}\n{}",
        crate::support::stderr(&out)
    );
    assert!(
        text.contains("'guest@example.com' belongs to user:default/guest"),
        "{text}"
    );
    assert!(text.contains("added"), "{text}");
    assert!(count(&db, "SELECT count(*) FROM entities WHERE kind = 'user'").await > 0);
    assert_eq!(count(&db, "SELECT count(*) FROM locations").await, 2);
}

#[tokio::test]
async fn unchanged_files_are_skipped_but_stay_true() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    fs::write(dir.path().join("openapi.yaml"), "openapi: 3.0.0\n").unwrap();
    fs::write(
        &file,
        format!(
            "{TEAM}---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: pets\nspec:\n  type: openapi\n  lifecycle: live\n  owner: team-a\n  definition:\n    $text: ./openapi.yaml\n"
        ),
    )
    .unwrap();
    let first = import_path(&db, &file).await;
    assert_eq!(first.outcome.added, 2);
    assert_eq!(first.outcome.warnings, 1, "{:?}", first.loaded.problems);

    // Nothing changed: nothing written, and the file's problem still stands.
    let again = import_path(&db, &file).await;
    assert_eq!(
        (
            again.outcome.unchanged,
            again.outcome.added,
            again.outcome.changed
        ),
        (2, 0, 0)
    );
    assert_eq!(again.outcome.warnings, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM import_problems").await, 1);

    // Only the substituted file changed: the API is read again.
    fs::write(dir.path().join("openapi.yaml"), "openapi: 3.1.0\n").unwrap();
    let third = import_path(&db, &file).await;
    assert_eq!(third.outcome.changed, 1, "{:?}", third.outcome);
    let definition: String =
        sqlx::query_scalar("SELECT raw->'spec'->>'definition' FROM entities WHERE name = 'pets'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(definition, "openapi: 3.1.0\n");

    // An entity removed from the catalog behind the import's back is
    // written again rather than trusted to the memo.
    sqlx::query("DELETE FROM entities WHERE name = 'pets'")
        .execute(&db.pool)
        .await
        .unwrap();
    let fourth = import_path(&db, &file).await;
    assert_eq!(fourth.outcome.added, 1, "{:?}", fourth.outcome);
}
