//! Discovery of a GitLab group through `fake_gitlab.rs`: subgroups
//! included, pages halved when GitLab calls a query too complex, a 502 and
//! a rate limit (429, `Retry-After`) mid-scan resumed, the files read
//! through `blobs(paths:)`, descriptors imported from GitLab's REST API,
//! likely owners from CODEOWNERS or the group a project lives in.

use std::fs;

use crate::discovery::import;
use crate::fake_gitlab::{FakeGitlab, FakeProject, GITLAB_GRAPHQL_TOKEN};
use crate::fakes::{FakeGitHost, GITLAB_TOKEN};
use crate::support::{TestDb, stdout, usher};

const TEAMS: &str = "apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
  annotations:
    gitlab.com/group: acme/payments
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
";

fn descriptor(name: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: service\n  lifecycle: production\n  owner: payments\n"
    )
}

/// Sixty projects across three groups of `acme`, and one elsewhere.
fn projects() -> Vec<FakeProject> {
    let mut projects: Vec<FakeProject> = (0..60)
        .map(|i| {
            let path = match i % 3 {
                0 => format!("acme/payments/svc-{i:02}"),
                1 => format!("acme/web/site-{i:02}"),
                _ => format!("acme/payments/tools/tool-{i:02}"),
            };
            let mut files = Vec::new();
            if i % 10 == 0 {
                let name = path.rsplit('/').next().unwrap().to_string();
                files.push(("catalog-info.yaml".to_string(), descriptor(&name)));
            }
            if i == 4 {
                files.push((".gitlab/CODEOWNERS".into(), "[Web]\n* @acme/web\n".into()));
            }
            if i == 5 {
                files.push((
                    "pom.xml".into(),
                    "<project><dependencies><dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.14.1</version></dependency></dependencies></project>".into(),
                ));
            }
            FakeProject {
                id: 1000 + i,
                path,
                archived: i == 7,
                sha: format!("{:040x}", i + 1),
                topics: vec!["backend".into()],
                languages: vec![("Go".into(), 90.5), ("Shell".into(), 9.5)],
                files,
            }
        })
        .collect();
    projects.push(FakeProject {
        id: 9,
        path: "other/thing".into(),
        sha: "f".repeat(40),
        ..FakeProject::default()
    });
    projects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_group_with_subgroups_through_graphql() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    import(&db, dir.path(), "teams.yaml", TEAMS);
    let host = FakeGitHost::start().await;
    // The fake host's GitLab side answers as `localhost:PORT`.
    let gitlab = FakeGitlab::start(&format!("http://localhost:{}", host.port)).await;
    let projects = projects();
    for p in &projects {
        if let Some((_, text)) = p.files.iter().find(|(f, _)| f == "catalog-info.yaml") {
            host.put(&format!("{}/main/catalog-info.yaml", p.path), text);
        }
    }
    gitlab.set_projects(projects);
    let config = dir.path().join("usher.toml");
    fs::write(
        &config,
        format!(
            "{}\n[[discovery]]\ntype = \"gitlab\"\ngroup = \"acme\"\ngraphql_url = \"{}\"\ntoken_env = \"FAKE_GLQL_TOKEN\"\n",
            host.hosts_toml(),
            gitlab.graphql_url()
        ),
    )
    .unwrap();
    let discover = |config: std::path::PathBuf| {
        let mut cmd = usher();
        cmd.env("DATABASE_URL", db.url())
            .env("USHER_CONFIG", &config)
            .env("FAKE_GLQL_TOKEN", GITLAB_GRAPHQL_TOKEN)
            .env("FAKE_GL_TOKEN", GITLAB_TOKEN)
            .arg("discover");
        async move {
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        }
    };
    // Calls 1 and 2 are refused as too complex (100, then 50 a page); the
    // second page's first try gets a 502, the third's a rate limit.
    gitlab.fail_call(4, 502);
    gitlab.fail_call(6, 429);
    let out = discover(config.clone()).await;
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "gitlab:acme: 60 repositories (60 read, 0 unchanged since the last scan)",
        "6 described, 53 without a descriptor (35 with a likely owner), 1 archived",
        "/acme/payments/svc-00/-/blob/main/catalog-info.yaml: 1 entities",
        "dependencies: 1 packages from 1 manifests and lockfiles read this time",
        "GitLab GraphQL: 7 calls, complexity 750 in all (250 at most a query)",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert!(
        !text.contains(GITLAB_GRAPHQL_TOKEN) && !text.contains(GITLAB_TOKEN),
        "{text}"
    );
    let firsts: Vec<u64> = gitlab
        .bodies()
        .iter()
        .map(|b| b["variables"]["first"].as_u64().unwrap())
        .collect();
    assert_eq!(firsts, [100, 50, 25, 25, 25]);
    let paths = &gitlab.bodies()[0]["variables"]["paths"];
    for p in [
        "catalog-info.yaml",
        ".gitlab/CODEOWNERS",
        "pom.xml",
        "package-lock.json",
    ] {
        assert!(
            paths.as_array().unwrap().iter().any(|v| v == p),
            "{p} in {paths}"
        );
    }

    let evidence = |name: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_as::<_, (Option<String>, Option<String>)>(
                "SELECT owner_ref, owner_evidence FROM repositories WHERE name = $1",
            )
            .bind(name)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(
        evidence("acme/payments/svc-03").await,
        (
            Some("group:default/payments".into()),
            Some("@acme/payments is the GitLab group it lives in → group:default/payments (gitlab.com/group)".into())
        )
    );
    assert_eq!(
        evidence("acme/web/site-04").await.1.as_deref(),
        Some(".gitlab/CODEOWNERS:2 \"* @acme/web\" → group:default/web (a team of that name)")
    );
    assert_eq!(
        evidence("acme/payments/tools/tool-02").await,
        (
            None,
            Some("no CODEOWNERS file; @acme/payments/tools (is the GitLab group it lives in) match no catalog team".into())
        )
    );
    let (url, languages, branch): (String, Vec<String>, Option<String>) = sqlx::query_as(
        "SELECT url, languages, default_branch FROM repositories WHERE name = 'acme/web/site-01'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(url.ends_with("/acme/web/site-01"), "{url}");
    assert_eq!(languages, ["go", "shell"]);
    assert_eq!(branch.as_deref(), Some("main"));
    let log4j: String = sqlx::query_scalar(
        "SELECT p.version FROM repository_packages p JOIN repositories r ON r.id = p.repository_id
         WHERE r.name = 'acme/payments/tools/tool-05' AND p.name = 'log4j-core'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(log4j, "2.14.1");
    let outside: i64 =
        sqlx::query_scalar("SELECT count(*) FROM repositories WHERE name LIKE 'other/%'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(outside, 0);

    // Nothing pushed: nothing read again.
    let out = discover(config.clone()).await;
    assert!(
        stdout(&out).contains("60 repositories (0 read, 60 unchanged since the last scan)"),
        "{}",
        stdout(&out)
    );

    // A group the token can't see: said plainly, exit 1.
    let wrong = dir.path().join("wrong.toml");
    fs::write(
        &wrong,
        format!(
            "[[discovery]]\ntype = \"gitlab\"\ngroup = \"acme-typo/platform\"\ngraphql_url = \"{}\"\ntoken_env = \"FAKE_GLQL_TOKEN\"\n",
            gitlab.graphql_url()
        ),
    )
    .unwrap();
    let out = discover(wrong).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GitLab has no group acme-typo/platform that this token can see"),
        "{err}"
    );
}
