//! "Which services are affected by log4j?" over every repository: the
//! manifests and lockfiles discovery reads (through GitHub's GraphQL and
//! from a folder of clones) make `search dep:` find catalogued services —
//! also through the repository their descriptor was found in — and
//! repositories nobody catalogued, each with its likely owner; `--notify`
//! reaches those owners too, never an archived repository's.

use std::fs;

use usher::chat::{Actor, Person, Platform, Request};
use usher::commands;
use usher::config::Config;

use crate::discovery::{DESCRIPTOR, ORG, discover, import, repository};
use crate::fake_github::{FakeGithub, FakeRepo, GRAPHQL_TOKEN};
use crate::fakes::{FakeGitHost, GITHUB_TOKEN};
use crate::support::{TestDb, stdout, usher};

fn pom(log4j: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <groupId>com.acme</groupId><artifactId>app</artifactId><version>1.0</version>
  <properties><log4j2.version>{log4j}</log4j2.version></properties>
  <dependencies>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${{log4j2.version}}</version></dependency>
  </dependencies>
</project>
"#
    )
}

fn owned_by_payments() -> Option<(String, String)> {
    Some((
        ".github/CODEOWNERS".into(),
        "* @acme/payments-team\n".into(),
    ))
}

fn jane() -> Actor {
    Actor {
        person: Some(Person {
            key: "user:default/jane".into(),
            display: "jane".into(),
            email: None,
        }),
        platform_user: "jane".into(),
        display: "jane".into(),
        external: false,
        unresolved: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log4j_search_covers_repositories_nobody_catalogued() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    import(&db, dir.path(), "org.yaml", ORG);
    let host = FakeGitHost::start().await;
    let github = FakeGithub::start("acme", &host.base()).await;
    let real_pom = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/manifests/maven/pom.xml"
    ))
    .unwrap();
    let repo = |i: usize, name: &str| FakeRepo {
        id: format!("R_dep{i}"),
        name: name.into(),
        oid: format!("{:040x}", i + 1),
        ..FakeRepo::default()
    };
    github.set_repos(vec![
        // Its dependency graph knows more than its root pom.xml: a module's
        // commons-text.
        FakeRepo {
            codeowners: owned_by_payments(),
            files: vec![("pom.xml".into(), pom("2.14.1"))],
            sbom: Some(vec![
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1".into(),
                "pkg:maven/org.apache.commons/commons-text@1.9".into(),
            ]),
            ..repo(1, "legacy-billing")
        },
        // log4j-core 2.19.0 through its log4j-bom: not in the range.
        FakeRepo {
            codeowners: owned_by_payments(),
            files: vec![("pom.xml".into(), real_pom)],
            ..repo(2, "sdk-examples")
        },
        // Catalogued: the service is found through its repository.
        FakeRepo {
            descriptor: true,
            files: vec![(
                "gradle.lockfile".into(),
                "org.apache.logging.log4j:log4j-core:2.16.0=runtimeClasspath\n".into(),
            )],
            ..repo(3, "payments-api")
        },
        FakeRepo {
            files: vec![(
                "gradle/libs.versions.toml".into(),
                "[versions]\nlog4j = \"2.15.0\"\n[libraries]\nlog4j-core = { module = \"org.apache.logging.log4j:log4j-core\", version.ref = \"log4j\" }\n".into(),
            )],
            ..repo(4, "orphan-tool")
        },
        FakeRepo {
            archived: true,
            codeowners: owned_by_payments(),
            files: vec![("pom.xml".into(), pom("2.14.1"))],
            ..repo(5, "old-archive")
        },
        FakeRepo {
            codeowners: owned_by_payments(),
            files: vec![("package-lock.json".into(), "{\"lockfileVersion\": 3,".into())],
            ..repo(6, "broken-lock")
        },
        // Described at a configured path, not the root.
        FakeRepo {
            files: vec![(
                ".backstage/catalog-info.yaml".into(),
                DESCRIPTOR.replace("payments-api", "ledger-worker"),
            )],
            ..repo(7, "ledger-worker")
        },
    ]);
    host.put(
        "acme/ledger-worker/main/.backstage/catalog-info.yaml",
        &DESCRIPTOR.replace("payments-api", "ledger-worker"),
    );
    host.put("acme/payments-api/main/catalog-info.yaml", DESCRIPTOR);
    let config = dir.path().join("usher.toml");
    fs::write(
        &config,
        format!(
            "{}\n[[discovery]]\ntype = \"github\"\norg = \"acme\"\ngraphql_url = \"{}\"\ntoken_env = \"FAKE_GQL_TOKEN\"\ndescriptor_paths = [\".backstage/catalog-info.yaml\"]\n",
            host.hosts_toml(),
            github.graphql_url()
        ),
    )
    .unwrap();
    let github_scan = || {
        let mut cmd = usher();
        cmd.env("DATABASE_URL", db.url())
            .env("USHER_CONFIG", &config)
            .env("FAKE_GQL_TOKEN", GRAPHQL_TOKEN)
            .env("FAKE_GH_TOKEN", GITHUB_TOKEN)
            .arg("discover");
        async move {
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        }
    };
    let out = github_scan().await;
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("7 repositories (7 read"), "{text}");
    assert!(
        text.contains("/acme/ledger-worker/blob/main/.backstage/catalog-info.yaml: 1 entities"),
        "{text}"
    );
    assert!(
        text.contains("dependencies: 20 packages from 5 manifests and lockfiles read this time"),
        "{text}"
    );
    assert!(
        text.contains("dependencies not read in acme/broken-lock: package-lock.json is not JSON"),
        "{text}"
    );
    // One REST call a repository, archived ones left out; one has a graph.
    assert!(
        text.contains("GitHub dependency graphs: 1 read, 5 without one (6 REST calls)"),
        "{text}"
    );
    // The manifests were asked for in the same query as the rest.
    let query = github.bodies()[0]["query"].as_str().unwrap().to_string();
    assert!(
        query.contains("pomXml: object(expression: \"HEAD:pom.xml\")"),
        "{query}"
    );
    assert!(
        query.contains("descriptor1: object(expression: \"HEAD:.backstage/catalog-info.yaml\")"),
        "{query}"
    );

    // A monorepo among the clones: a service's pom.xml two folders down;
    // vendored code is not the repository's own.
    let clones = dir.path().join("clones");
    repository(
        &clones.join("web-monorepo"),
        &[
            ("CODEOWNERS", "* @acme/web\n"),
            ("services/audit/pom.xml", &pom("2.12.0")),
            ("node_modules/evil/pom.xml", &pom("2.0")),
            (
                "apps/web/yarn.lock",
                "# yarn lockfile v1\n\nlodash@^4.17.20:\n  version \"4.17.21\"\n",
            ),
        ],
    );
    discover(&db, &clones, &[]);

    let mut config = Config::default();
    config.admins.people = vec!["jane".into()];
    let core = db.core_with(config);
    let ask = |text: &str| {
        let request = Request {
            actor: jane(),
            platform: Platform::Console,
            workspace: None,
            channel: None,
            text: text.into(),
        };
        let core = core.clone();
        async move { commands::handle(&core, &request).await.to_plain() }
    };
    let answer = ask("search dep:log4j-core@<2.17.1").await;
    for expected in [
        "1 found for",
        "and 4 repositories not in the catalog",
        "payments-api — payments · log4j-core 2.16.0",
        "Not in the catalog:",
        "acme/legacy-billing",
        "— likely payments · log4j-core 2.14.1 (pom.xml)",
        "— no likely owner · log4j-core 2.15.0 (gradle/libs.versions.toml)",
        "log4j-core 2.14.1 (pom.xml) · archived",
        "— likely web · log4j-core 2.12.0 (services/audit/pom.xml)",
        "Notify these owners",
    ] {
        assert!(answer.contains(expected), "{expected:?} not in:\n{answer}");
    }
    assert!(
        !answer.contains("sdk-examples") && !answer.contains("node_modules"),
        "{answer}"
    );
    // What only the dependency graph knows is found too.
    let answer = ask("search dep:commons-text@<1.10.0").await;
    assert!(
        answer.contains("acme/legacy-billing")
            && answer.contains("commons-text 1.9 (dependency-graph)"),
        "{answer}"
    );
    // A range in another ecosystem's syntax is still checked.
    let answer = ask("search dep:npm/lodash@^4.17.0").await;
    assert!(
        answer.contains("web-monorepo") && answer.contains("lodash 4.17.21 (apps/web/yarn.lock)"),
        "{answer}"
    );

    // Notify: payments (its service and its repository) and web; the
    // repository nobody owns is named; the archived one is left alone.
    let answer = ask("search --notify dep:log4j-core@<2.17.1").await;
    assert!(
        answer.contains("Notified 2 teams about 1 service and 2 repositories not in the catalog using log4j-core@<2.17.1."),
        "{answer}"
    );
    assert!(
        answer.contains("No owner to notify for: acme/orphan-tool."),
        "{answer}"
    );
    let notices: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT destination, payload FROM outbox WHERE kind = 'chat.notify' ORDER BY destination",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(notices[0].0, "group:default/payments");
    let payments = &notices[0].1;
    assert_eq!(payments["services"][0]["name"], "payments-api");
    assert_eq!(
        payments["repositories"].as_array().unwrap().len(),
        1,
        "{payments}"
    );
    assert_eq!(payments["repositories"][0]["name"], "acme/legacy-billing");
    assert!(
        payments["repositories"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("CODEOWNERS"),
        "{payments}"
    );
    assert_eq!(notices[1].0, "group:default/web");

    // The card: what it depends on, and the file that couldn't be read.
    let card = ask("repo legacy-billing").await;
    assert!(
        card.contains("Dependencies") && card.contains("2 maven (dependency-graph)"),
        "{card}"
    );
    let card = ask("repo broken-lock").await;
    assert!(
        card.contains("not read: package-lock.json is not JSON"),
        "{card}"
    );

    // Nothing pushed: nothing read again, the dependencies stay.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM repository_packages")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let out = github_scan().await;
    assert!(
        stdout(&out).contains("(0 read, 7 unchanged"),
        "{}",
        stdout(&out)
    );
    // Nor any dependency graph asked for again.
    assert!(
        stdout(&out).contains("GitHub dependency graphs: 0 read, 0 without one (0 REST calls)"),
        "{}",
        stdout(&out)
    );
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM repository_packages")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(before, after);
}
