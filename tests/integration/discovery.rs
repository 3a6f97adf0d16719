//! Discovery over a folder of real git clones the test makes: checked-out
//! and bare repositories one and two levels down, read from the default
//! branch's commits; likely owners from CODEOWNERS (team slug, person);
//! descriptors imported; credentials kept out; re-scans that read only
//! what moved; repositories that went away.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::fake_github::{FakeGithub, FakeRepo, GRAPHQL_TOKEN};
use crate::fakes::{FakeGitHost, GITHUB_TOKEN};
use crate::support::{TestDb, stdout, usher, usher_with_input};

pub(crate) const ORG: &str = "apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
  annotations:
    github.com/team-slug: acme/payments-team
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: web
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: jane
spec:
  profile:
    email: jane@acme.example
  memberOf: [web]
";

pub(crate) const DESCRIPTOR: &str = "apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments-api
spec:
  type: service
  lifecycle: production
  owner: payments
";

pub(crate) fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository at `dir` with `files` committed on `main`.
pub(crate) fn repository(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    for (path, text) in files {
        let file = dir.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "first"]);
}

/// Writes `yaml` to `dir/name` and imports it with the CLI.
pub(crate) fn import(db: &TestDb, dir: &Path, name: &str, yaml: &str) {
    fs::write(dir.join(name), yaml).unwrap();
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import"])
        .arg(dir.join(name))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
}

pub(crate) fn discover(db: &TestDb, dir: &Path, extra: &[&str]) -> String {
    let out = usher()
        .env("DATABASE_URL", db.url())
        .arg("discover")
        .arg("--path")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test]
async fn a_folder_of_clones_is_accounted_for_with_likely_owners() {
    let db = TestDb::new().await;
    let org = tempfile::tempdir().unwrap();
    import(&db, org.path(), "org.yaml", ORG);

    let clones = tempfile::tempdir().unwrap();
    let root = clones.path();
    repository(
        &root.join("payments-api"),
        &[
            ("catalog-info.yaml", DESCRIPTOR),
            ("src/main.rs", "fn main() {}\n"),
        ],
    );
    repository(
        &root.join("billing-worker"),
        &[
            (
                ".github/CODEOWNERS",
                "# owners\n*   @acme/payments-team\n/docs/ @acme/docs\n",
            ),
            ("main.go", "package main\n\nfunc main() {}\n"),
        ],
    );
    git(
        &root.join("billing-worker"),
        &[
            "remote",
            "add",
            "origin",
            "https://bot:s3cret-token@github.com/acme/billing-worker.git",
        ],
    );
    repository(
        &root.join("web").join("storefront"),
        &[
            ("CODEOWNERS", "* jane@acme.example\n"),
            ("app.ts", "export {}\n"),
        ],
    );
    repository(&root.join("old-scripts"), &[("run.sh", "echo hi\n")]);
    // A descriptor that is a link out of the repository is not one.
    let linked = root.join("sneaky");
    repository(&linked, &[("README.md", "hi\n")]);
    std::os::unix::fs::symlink("/etc/passwd", linked.join("catalog-info.yaml")).unwrap();
    git(&linked, &["add", "-A"]);
    git(&linked, &["commit", "-q", "-m", "link"]);
    // A bare mirror, two levels down: described, but nothing to import from.
    let source = tempfile::tempdir().unwrap();
    repository(
        &source.path().join("ledger"),
        &[(
            "catalog-info.yaml",
            &DESCRIPTOR.replace("payments-api", "ledger"),
        )],
    );
    let mirrors = root.join("mirrors");
    fs::create_dir_all(&mirrors).unwrap();
    let out = Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(source.path().join("ledger"))
        .arg(mirrors.join("ledger.git"))
        .output()
        .unwrap();
    assert!(out.status.success());

    // A dry run writes nothing.
    let text = discover(&db, root, &["--dry-run"]);
    assert!(text.contains("dry run — nothing written"), "{text}");
    assert!(text.contains("6 repositories"), "{text}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM repositories")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);

    let text = discover(&db, root, &[]);
    assert!(
        text.contains("6 repositories (6 read, 0 unchanged"),
        "{text}"
    );
    assert!(
        text.contains("2 described, 4 without a descriptor (2 with a likely owner), 0 archived"),
        "{text}"
    );
    assert!(
        text.contains("imported ") && text.contains("payments-api/catalog-info.yaml: 1 entities"),
        "{text}"
    );
    assert!(
        text.contains("not imported mirrors/ledger/catalog-info.yaml: a bare repository"),
        "{text}"
    );
    assert!(
        text.contains("billing-worker")
            && text.contains("likely group:default/payments — .github/CODEOWNERS:2 \"* @acme/payments-team\" → group:default/payments (github.com/team-slug)"),
        "{text}"
    );
    assert!(
        text.contains("likely group:default/web — CODEOWNERS:1 \"* jane@acme.example\" → group:default/web (the team of jane@acme.example)"),
        "{text}"
    );
    assert!(
        text.contains("old-scripts") && text.contains("no likely owner: no CODEOWNERS file"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");

    // What was kept: languages, the default branch, no credentials; the
    // descriptor's service is in the catalog from a remembered location.
    let (url, branch, languages): (String, Option<String>, Vec<String>) = sqlx::query_as(
        "SELECT url, default_branch, languages FROM repositories WHERE name = 'billing-worker'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(url, "https://github.com/acme/billing-worker.git");
    assert_eq!(branch.as_deref(), Some("main"));
    assert_eq!(languages, ["go"]);
    let remembered: bool = sqlx::query_scalar(
        "SELECT l.remembered FROM repositories r JOIN locations l ON l.id = r.location_id WHERE r.name = 'payments-api'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(remembered);
    let service: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM entities WHERE ref = 'component:default/payments-api'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(service, 1);

    // In chat: the counts, a team's, the unowned, cards, a typo, coverage.
    let mut console = usher();
    console.env("DATABASE_URL", db.url()).arg("console");
    let out = usher_with_input(
        console,
        "repos\nrepos --team payments\nrepos --unowned\nrepo billing-worker\nrepo payments-api\nrepo storefront\nrepo billing\nstats coverage\n",
    );
    let chat = stdout(&out);
    for expected in [
        "Repositories — 6",
        "2 described, 4 without a descriptor (2 with a likely owner), 0 archived",
        "nobody 2 · payments 1 · web 1",
        "Nobody's (2)",
        "Service payments-api",
        "payments: repositories without a descriptor — 1",
        "• billing-worker (go) — .github/CODEOWNERS:2",
        "Repositories nobody seems to own — 2",
        "• old-scripts — no CODEOWNERS file",
        "Not in the catalog: no catalog-info.yaml on main",
        "likely payments — .github/CODEOWNERS:2 \"* @acme/payments-team\"",
        "https://github.com/acme/billing-worker",
        "In the catalog through catalog-info.yaml (1 entity)",
        "web/storefront",
        "likely web — CODEOWNERS:1",
        "No repository called billing. Did you mean one of these?",
        "Repositories: 2 of 6 have a descriptor; 4 don't (2 with a likely owner).",
    ] {
        assert!(chat.contains(expected), "{expected:?} not in:\n{chat}");
    }
    assert!(!chat.contains("s3cret"), "{chat}");

    // Again: nothing moved, nothing read.
    let text = discover(&db, root, &[]);
    assert!(
        text.contains("6 repositories (0 read, 6 unchanged"),
        "{text}"
    );
    // A commit to one and a repository gone: one read, one gone.
    fs::write(root.join("old-scripts").join("CODEOWNERS"), "* @acme/web\n").unwrap();
    git(&root.join("old-scripts"), &["add", "-A"]);
    git(&root.join("old-scripts"), &["commit", "-q", "-m", "owners"]);
    fs::remove_dir_all(&linked).unwrap();
    let text = discover(&db, root, &[]);
    assert!(
        text.contains(
            "5 repositories (1 read, 4 unchanged since the last scan, 1 gone from the folder)"
        ),
        "{text}"
    );
    assert!(text.contains("likely group:default/web — CODEOWNERS:1 \"* @acme/web\" → group:default/web (a team of that name)"), "{text}");
}

#[test]
fn a_path_that_is_not_a_folder_is_refused_with_what_to_give() {
    let out = usher()
        .args(["discover", "--path", "/no/such/folder"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a folder; give the folder your clones are in"),
        "{err}"
    );
    let out = usher().arg("discover").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("usher discover --path DIR"), "{err}");
}

/// The organisation's repositories: 250, in three pages.
fn organisation() -> Vec<FakeRepo> {
    (0..250)
        .map(|i| {
            let name = format!("svc-{i:03}");
            FakeRepo {
                id: format!("R_kgDO{i:06}"),
                descriptor: i % 25 == 0,
                archived: i == 7,
                fork: i == 8,
                oid: format!("{:040x}", i + 1),
                topics: if i % 2 == 0 {
                    vec!["backend".into()]
                } else {
                    vec![]
                },
                languages: vec![
                    ("Go".into(), 9_000),
                    ("Shell".into(), 300),
                    ("Dockerfile".into(), 20),
                ],
                codeowners: match i % 3 {
                    0 => Some((
                        ".github/CODEOWNERS".into(),
                        "* @acme/payments-team\n".into(),
                    )),
                    1 => Some(("docs/CODEOWNERS".into(), "*.md @acme/docs\n".into())),
                    _ => None,
                },
                name,
                ..FakeRepo::default()
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_organisation_through_graphql_pages_limits_and_renames() {
    let db = TestDb::new().await;
    let org = tempfile::tempdir().unwrap();
    import(&db, org.path(), "org.yaml", ORG);
    // Descriptors are read through the host's REST API, like any URL location.
    let host = FakeGitHost::start().await;
    let github = FakeGithub::start("acme", &host.base()).await;
    github.set_repos(organisation());
    // One team on every repository, with admin access on a third of them
    // (250 edges: three pages of the team's repositories).
    github.set_teams(vec![(
        "payments-team".into(),
        (0..250)
            .map(|i| {
                let permission = if i % 3 == 2 { "ADMIN" } else { "READ" };
                (format!("R_kgDO{i:06}"), permission.to_string())
            })
            .collect(),
    )]);
    for i in (0..250).step_by(25) {
        host.put(
            &format!("acme/svc-{i:03}/main/catalog-info.yaml"),
            &DESCRIPTOR.replace("payments-api", &format!("svc-{i:03}")),
        );
    }
    let config = org.path().join("usher.toml");
    fs::write(
        &config,
        format!(
            "{}\n[[discovery]]\ntype = \"github\"\norg = \"acme\"\ngraphql_url = \"{}\"\ntoken_env = \"FAKE_GQL_TOKEN\"\n",
            host.hosts_toml(),
            github.graphql_url()
        ),
    )
    .unwrap();
    let discover = |extra: &'static [&'static str]| {
        let mut cmd = usher();
        cmd.env("DATABASE_URL", db.url())
            .env("USHER_CONFIG", &config)
            .env("FAKE_GQL_TOKEN", GRAPHQL_TOKEN)
            .env("FAKE_GH_TOKEN", GITHUB_TOKEN)
            .arg("discover")
            .args(extra);
        async move {
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        }
    };
    // A 502 on the second page and a secondary limit on the third: both
    // waited out, the scan resumes where it was.
    github.fail_call(2, 502);
    github.fail_call(4, 403);
    let out = discover(&[]).await;
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("github:acme: 250 repositories (250 read, 0 unchanged"),
        "{text}"
    );
    assert!(
        text.contains(
            "10 described, 239 without a descriptor (160 with a likely owner), 1 archived"
        ),
        "{text}"
    );
    assert!(
        text.contains("GitHub GraphQL: 8 calls, 6 points (4994 left until 12:00 UTC)"),
        "{text}"
    );
    assert!(
        text.contains("imported http://127.0.0.1:")
            && text.contains("/acme/svc-000/blob/main/catalog-info.yaml: 1 entities"),
        "{text}"
    );
    assert!(
        !text.contains(GRAPHQL_TOKEN) && !text.contains(GITHUB_TOKEN),
        "{text}"
    );
    // Every page asked for 100 with the previous page's cursor.
    let bodies: Vec<serde_json::Value> = github
        .bodies()
        .into_iter()
        .filter(|b| {
            b["query"]
                .as_str()
                .is_some_and(|q| q.contains("repositories(first: $first"))
        })
        .collect();
    assert_eq!(bodies.len(), 3);
    // Then the team's repositories: its first 100 with the teams, two more pages.
    let team_pages = github
        .bodies()
        .iter()
        .filter(|b| b["variables"]["slug"] == "payments-team")
        .count();
    assert_eq!(team_pages, 2);
    let evidence: Option<String> =
        sqlx::query_scalar("SELECT owner_evidence FROM repositories WHERE name = 'acme/svc-002'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        evidence.as_deref(),
        Some(
            "@acme/payments-team has admin access on GitHub → group:default/payments (github.com/team-slug)"
        )
    );
    assert!(
        bodies
            .iter()
            .all(|b| b["variables"]["first"] == 100 && b["variables"]["org"] == "acme")
    );
    assert!(bodies[0]["variables"]["cursor"].is_null());
    assert_eq!(bodies[1]["variables"]["cursor"], "Y3Vyc29yOnYyOpHO00000099");

    let (languages, topics, owner, visibility): (Vec<String>, Vec<String>, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT languages, topics, owner_ref, visibility FROM repositories WHERE name = 'acme/svc-003'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(languages, ["go", "shell"]);
    assert!(topics.is_empty());
    assert_eq!(owner.as_deref(), Some("group:default/payments"));
    assert_eq!(visibility.as_deref(), Some("private"));
    let service: i64 =
        sqlx::query_scalar("SELECT count(*) FROM entities WHERE ref = 'component:default/svc-025'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(service, 1);

    // `config check` names the source and whether its token is set, never
    // the token.
    let mut cmd = usher();
    cmd.env("USHER_CONFIG", &config)
        .env("FAKE_GQL_TOKEN", GRAPHQL_TOKEN)
        .args(["config", "check"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("github:acme (0 4 * * *, FAKE_GQL_TOKEN set)"),
        "{text}"
    );
    assert!(!text.contains(GRAPHQL_TOKEN), "{text}");

    // A team gets admin access to an unowned repository and joins the
    // catalog: the next scan maps it, though nothing was pushed.
    github.set_teams(vec![
        (
            "payments-team".into(),
            (0..250)
                .map(|i| {
                    let permission = if i % 3 == 2 { "ADMIN" } else { "READ" };
                    (format!("R_kgDO{i:06}"), permission.to_string())
                })
                .collect(),
        ),
        (
            "docs-team".into(),
            vec![("R_kgDO000001".into(), "MAINTAIN".into())],
        ),
    ]);
    import(
        &db,
        org.path(),
        "docs.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: docs-team\nspec:\n  type: team\n  children: []\n",
    );

    // Renamed on GitHub, nothing pushed: the same row under its new name,
    // nothing read again, nothing gone.
    github.rename("svc-004", "ledger-worker");
    let out = discover(&[]).await;
    let text = stdout(&out);
    assert!(
        text.contains("250 repositories (0 read, 250 unchanged since the last scan)"),
        "{text}"
    );
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM repositories WHERE remote_id = 'R_kgDO000004'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(names, ["acme/ledger-worker"]);
    let (owner, evidence): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT owner_ref, owner_evidence FROM repositories WHERE name = 'acme/svc-001'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(owner.as_deref(), Some("group:default/docs-team"));
    assert_eq!(
        evidence.as_deref(),
        Some(
            "@acme/docs-team has maintain access on GitHub → group:default/docs-team (a team of that name)"
        )
    );

    // An organisation the token can't see: GitHub's NOT_FOUND, said plainly.
    let wrong = org.path().join("wrong.toml");
    fs::write(
        &wrong,
        format!(
            "[[discovery]]\ntype = \"github\"\norg = \"acme-typo\"\ngraphql_url = \"{}\"\ntoken_env = \"FAKE_GQL_TOKEN\"\n",
            github.graphql_url()
        ),
    )
    .unwrap();
    let mut cmd = usher();
    cmd.env("DATABASE_URL", db.url())
        .env("USHER_CONFIG", &wrong)
        .env("FAKE_GQL_TOKEN", GRAPHQL_TOKEN)
        .arg("discover");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GitHub has no organisation acme-typo that this token can see"),
        "{err}"
    );
}

/// Kills the `usher serve` processes when the test ends, however it ends.
struct Processes(Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_scan_a_scheduled_source_once() {
    let db = TestDb::new().await;
    let host = FakeGitHost::start().await;
    let github = FakeGithub::start("acme", &host.base()).await;
    github.set_repos(organisation());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("usher.toml");
    fs::write(
        &config,
        format!(
            "[hygiene]\nenabled = false\n\n[[discovery]]\ntype = \"github\"\norg = \"acme\"\ngraphql_url = \"{}\"\ntoken_env = \"FAKE_GQL_TOKEN\"\nschedule = \"0 4 * * *\"\n",
            github.graphql_url()
        ),
    )
    .unwrap();
    let mut processes = Processes(Vec::new());
    for _ in 0..2 {
        processes.0.push(
            usher()
                .env("DATABASE_URL", db.url())
                .env("USHER_CONFIG", &config)
                .env(
                    "USHER_LISTEN",
                    format!("127.0.0.1:{}", crate::support::free_port()),
                )
                .env("FAKE_GQL_TOKEN", GRAPHQL_TOKEN)
                .arg("serve")
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    // Never run before, so due at once: one of the two runs it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let outcome = loop {
        let outcome: Option<serde_json::Value> = sqlx::query_scalar(
            "SELECT last_outcome FROM periodic_tasks WHERE name = 'discovery:github:acme'",
        )
        .fetch_optional(&db.pool)
        .await
        .unwrap()
        .flatten();
        if let Some(outcome) = outcome {
            break outcome;
        }
        assert!(std::time::Instant::now() < deadline, "no scan within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(outcome["repositories"], 250, "{outcome}");
    // Three pages of repositories and one of (no) teams.
    assert_eq!(outcome["calls"], 4, "{outcome}");
    // Both processes have been up past their first claim: still one scan.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(github.bodies().len(), 4, "one scan across both processes");
    let next: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT next_run_at FROM periodic_tasks WHERE name = 'discovery:github:acme'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(next.format("%H:%M").to_string(), "04:00");
    drop(processes);
}

#[tokio::test]
async fn forge_teams_map_github_teams_to_catalog_teams() {
    let db = TestDb::new().await;
    let org = tempfile::tempdir().unwrap();
    import(&db, org.path(), "org.yaml", ORG);
    let clones = tempfile::tempdir().unwrap();
    repository(
        &clones.path().join("ledger-jobs"),
        &[(".github/CODEOWNERS", "* @acme/pay-devs\n")],
    );
    // Unmapped, @acme/pay-devs is no catalog team.
    let text = discover(&db, clones.path(), &["--dry-run"]);
    assert!(text.contains("no likely owner"), "{text}");
    let config = org.path().join("usher.toml");
    fs::write(
        &config,
        "[directory.forge_teams]\n\"@acme/pay-devs\" = \"payments\"\n",
    )
    .unwrap();
    let out = usher()
        .env("DATABASE_URL", db.url())
        .env("USHER_CONFIG", &config)
        .args(["discover", "--path"])
        .arg(clones.path())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("likely group:default/payments — .github/CODEOWNERS:1 \"* @acme/pay-devs\" → group:default/payments ([directory.forge_teams] \"@acme/pay-devs\")"),
        "{text}"
    );
}
