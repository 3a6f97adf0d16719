//! Trust boundaries: a descriptor is untrusted input. Nothing it says may
//! read files outside its location, reach a host nobody configured or an
//! internal address, or carry a token to another host — and a document
//! that tries is refused whole, so nothing leaks and nothing changes.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::support::{TestDb, stdout, usher};

/// Requests a little HTTP server saw: path and headers.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, HeaderMap)>>>);

impl Seen {
    fn paths(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }
    fn headers(&self) -> Vec<HeaderMap> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, h)| h.clone())
            .collect()
    }
}

/// A server on 127.0.0.1 answering every request with `answer(path)`.
async fn server(answer: fn(&str, u16) -> Response) -> (u16, Seen) {
    let seen = Seen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .fallback(
            move |State(seen): State<Seen>, request: Request| async move {
                let path = request.uri().path().to_string();
                seen.0
                    .lock()
                    .unwrap()
                    .push((path.clone(), request.headers().clone()));
                answer(&path, port)
            },
        )
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

const SECRET_SERVICE: &str = "apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: secret-service
  description: internal metrics
spec:
  type: service
  lifecycle: production
  owner: team-a
";

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn component(name: &str, description: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n  description:\n    {description}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"
    )
}

/// `usher catalog validate` (or `import` with a database) under a config.
async fn run_usher(config: &str, args: &[&str], db: Option<&TestDb>) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("usher.toml"), config).unwrap();
    let mut cmd = usher();
    cmd.env("USHER_CONFIG", dir.path().join("usher.toml"))
        .env("FAKE_GL_TOKEN", "glpat-not-for-other-hosts")
        .env("FAKE_GH_TOKEN", crate::fakes::GITHUB_TOKEN)
        .args(args);
    if let Some(db) = db {
        cmd.env("DATABASE_URL", db.url());
    }
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "usher took {:?}",
        started.elapsed()
    );
    (out.status.code().unwrap_or(-1), stdout(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptors_cannot_read_files_outside_their_location() {
    let db = TestDb::new().await;
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    // A file beside the location, which it must not reach.
    write(root.path(), "outside/secret.yaml", SECRET_SERVICE);
    write(root.path(), "outside/token.txt", "s3cr3t-outside-the-repo");
    write(
        &repo,
        "catalog-info.yaml",
        &[
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-a\nspec:\n  type: team\n  children: []\n".to_string(),
            component("passwd", "$text: /etc/passwd"),
            component("climber", "$text: ../../../../../../../../etc/hostname"),
            component("sibling", "$text: ../outside/token.txt"),
            component("linked", "$text: ./docs/link.txt"),
            component("fine", "$text: ./docs/about.txt"),
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: more\nspec:\n  targets:\n    - /etc/passwd\n    - ../outside/secret.yaml\n    - ./linked.yaml\n    - ../outside/*.yaml\n".to_string(),
        ]
        .join("---\n"),
    );
    write(&repo, "docs/about.txt", "The fine service.");
    std::os::unix::fs::symlink(
        root.path().join("outside/token.txt"),
        repo.join("docs/link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        root.path().join("outside/secret.yaml"),
        repo.join("linked.yaml"),
    )
    .unwrap();
    let file = repo.join("catalog-info.yaml").display().to_string();

    let (code, out) = run_usher(
        "",
        &["catalog", "import", repo.to_str().unwrap()],
        Some(&db),
    )
    .await;
    assert_ne!(code, 0, "{out}");
    for (line, expected) in [
        (
            13,
            "metadata.description: the substitution $text: '/etc/passwd' is an absolute path; a descriptor may only read files inside its own location",
        ),
        (
            24,
            "metadata.description: the substitution $text: '../../../../../../../../etc/hostname' climbs out of its location",
        ),
        (
            35,
            "metadata.description: the substitution $text: '../outside/token.txt' climbs out of its location",
        ),
        (
            46,
            "metadata.description: the substitution $text: './docs/link.txt' leads out of its location",
        ),
    ] {
        let wanted = format!("{file}:{line}: {expected}");
        assert!(out.contains(&wanted), "missing {wanted}\n{out}");
    }
    for target in ["/etc/passwd", "../outside/secret.yaml", "./linked.yaml"] {
        assert!(
            out.lines().any(|l| l.starts_with(&file)
                && l.contains(": spec.targets[")
                && l.contains(&format!(": the target '{target}'"))),
            "no refusal of {target}\n{out}"
        );
    }
    // Nothing read from outside reached the catalog; the refused documents
    // were not imported at all; the one that stays inside was.
    let everything: String =
        sqlx::query_scalar("SELECT coalesce(string_agg(e::text, ' '), '') FROM entities e")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!everything.contains("root:"), "{everything}");
    assert!(!everything.contains("s3cr3t"), "{everything}");
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM entities ORDER BY name")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(names, ["fine", "more", "team-a"], "{out}");
    assert!(!out.contains("root:") && !out.contains("s3cr3t"), "{out}");
    // The link to a descriptor outside, found by walking the folder, is
    // refused too.
    assert!(
        out.contains("linked.yaml' leads out of its location"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_and_fifos_are_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    write(
        dir.path(),
        "catalog-info.yaml",
        &[
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: pipes\nspec:\n  targets: [./pipe.yaml]\n".to_string(),
            component("zero", "$text: /dev/zero"),
        ]
        .join("---\n"),
    );
    let (code, out) = run_usher(
        "",
        &[
            "catalog",
            "validate",
            "--offline",
            dir.path().join("catalog-info.yaml").to_str().unwrap(),
            "/dev/zero",
            fifo.to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "'/dev/zero' cannot be read: is not a regular file (a device, pipe or socket)"
        ),
        "{out}"
    );
    assert!(
        out.contains("pipe.yaml' cannot be read: is not a regular file (a device, pipe or socket)"),
        "{out}"
    );
    assert!(
        out.contains("the substitution $text: '/dev/zero' is an absolute path"),
        "{out}"
    );
}

fn metrics(_path: &str, _port: u16) -> Response {
    "usher_secret_metric 1\n".into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_urls_are_never_requested() {
    let (port, seen) = server(metrics).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "catalog-info.yaml",
        &[
            format!("apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: internal\nspec:\n  targets:\n    - http://127.0.0.1:{port}/metrics\n    - http://169.254.169.254/latest/meta-data/\n    - http://localhost:{port}/by-name\n"),
            component("leaky", &format!("$text: http://127.0.0.1:{port}/metrics")),
        ]
        .join("---\n"),
    );
    let file = dir.path().join("catalog-info.yaml");
    // Unconfigured hosts are refused before any connection...
    let (code, out) = run_usher(
        "",
        &["catalog", "validate", "--offline", file.to_str().unwrap()],
        None,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "is on 127.0.0.1:{port}, which isn't a configured host; add it to [[catalog.hosts]]"
        )),
        "{out}"
    );
    assert!(
        out.contains("is on 169.254.169.254, which isn't a configured host"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "the substitution $text: 'http://127.0.0.1:{port}/metrics' is on"
        )),
        "{out}"
    );
    // ...and configured ones that are internal addresses too, by number
    // or by a name that resolves to one, unless the entry allows it.
    let hosts = format!(
        "[[catalog.hosts]]\ntype = \"gitlab\"\nhost = \"127.0.0.1:{port}\"\napi_url = \"http://127.0.0.1:{port}/api/v4\"\n\n[[catalog.hosts]]\ntype = \"gitlab\"\nhost = \"localhost:{port}\"\napi_url = \"http://localhost:{port}/api/v4\"\n"
    );
    let (code, out) = run_usher(
        &hosts,
        &["catalog", "validate", "--offline", file.to_str().unwrap()],
        None,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("is on an internal address (127.0.0.1); set allow_private = true"),
        "{out}"
    );
    assert!(
        out.contains("localhost resolves to an internal address; set allow_private = true"),
        "{out}"
    );
    assert!(!out.contains("usher_secret_metric"), "{out}");
    assert_eq!(
        seen.paths(),
        Vec::<String>::new(),
        "the internal server was asked"
    );
}

/// A GitLab API that redirects the file's download to another host.
fn redirecting_gitlab(path: &str, _port: u16) -> Response {
    match path.strip_prefix("/api/v4/projects/") {
        Some(rest) => {
            let target = rest
                .split_once("/repository/")
                .map(|(p, _)| p.replace("%2F", "/"))
                .unwrap_or_default();
            // The project path names where to send it: acme/<port>.
            let port = target.rsplit('/').next().unwrap_or_default().to_string();
            (
                StatusCode::FOUND,
                [(header::LOCATION, format!("http://127.0.0.1:{port}/stolen"))],
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn collector(_path: &str, _port: u16) -> Response {
    SECRET_SERVICE.into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_follows_a_redirect_to_another_host() {
    let (gitlab, _) = server(redirecting_gitlab).await;
    let (other, other_seen) = server(collector).await;
    let (configured, configured_seen) = server(collector).await;
    let gitlab_entry = format!(
        "[[catalog.hosts]]\ntype = \"gitlab\"\nhost = \"127.0.0.1:{gitlab}\"\napi_url = \"http://127.0.0.1:{gitlab}/api/v4\"\ntoken_env = \"FAKE_GL_TOKEN\"\nallow_private = true\n"
    );
    // A second configured host (no token of its own).
    let config = format!(
        "{gitlab_entry}\n[[catalog.hosts]]\ntype = \"github\"\nhost = \"127.0.0.1:{configured}\"\napi_url = \"http://127.0.0.1:{configured}/api/v3\"\nallow_private = true\n"
    );
    let to_other = format!("http://127.0.0.1:{gitlab}/acme/{other}/-/blob/main/catalog-info.yaml");
    let to_configured =
        format!("http://127.0.0.1:{gitlab}/acme/{configured}/-/blob/main/catalog-info.yaml");
    let (_, out) = run_usher(
        &config,
        &[
            "catalog",
            "validate",
            "--offline",
            &to_other,
            &to_configured,
        ],
        None,
    )
    .await;
    // To a host nobody configured: refused, nothing sent.
    assert!(
        out.contains(&format!(
            "redirects to a URL that is on 127.0.0.1:{other}, which isn't a configured host"
        )),
        "{out}"
    );
    assert_eq!(other_seen.paths(), Vec::<String>::new());
    // To another configured host: followed, without the token.
    assert_eq!(configured_seen.paths(), ["/stolen"], "{out}");
    let headers = &configured_seen.headers()[0];
    assert!(headers.get("private-token").is_none(), "{headers:?}");
    assert!(headers.get("authorization").is_none(), "{headers:?}");
    assert!(!out.contains("glpat-not-for-other-hosts"), "{out}");
}

const ALICE: &str = "apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-ops
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: alice
  annotations:
    slack.com/user-id: U0ALICE
spec:
  profile:
    email: alice@example.com
  memberOf: [team-ops]
";

fn mallory(annotation: &str, email: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: mallory\n  annotations:\n    slack.com/user-id: {annotation}\nspec:\n  profile:\n    email: {email}\n  memberOf: [team-ops]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_id_or_email_claimed_twice_stays_with_its_holder() {
    let db = TestDb::new().await;
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("org"), "catalog-info.yaml", ALICE);
    let (code, out) = run_usher(
        "",
        &[
            "catalog",
            "import",
            root.path().join("org").to_str().unwrap(),
        ],
        Some(&db),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    // Another repository's descriptor claims Alice's Slack id, then her email.
    for (n, (slack, email, what)) in [
        ("U0ALICE", "mallory@example.com", "Slack id 'U0ALICE'"),
        (
            "U0MALLORY",
            "Alice@Example.com",
            "spec.profile.email 'alice@example.com'",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let repo = root.path().join(format!("repo{n}"));
        write(&repo, "catalog-info.yaml", &mallory(slack, email));
        let (code, out) = run_usher(
            "",
            &["catalog", "import", repo.to_str().unwrap()],
            Some(&db),
        )
        .await;
        assert_eq!(code, 1, "{out}");
        let wanted = format!(
            "{}:1: spec.profile: the {what} belongs to user:default/alice already",
            repo.join("catalog-info.yaml").display()
        );
        assert!(out.contains(&wanted), "missing {wanted}\n{out}");
    }
    let users: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT name, slack_user_id, email FROM entities WHERE kind = 'user'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        users,
        [(
            "alice".to_string(),
            Some("U0ALICE".to_string()),
            Some("alice@example.com".to_string())
        )]
    );
    // Nobody joined Alice's team on the strength of her id.
    let members: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM relations WHERE type = 'memberOf' AND target_ref = 'group:default/team-ops'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(members, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_and_teams_come_only_from_the_org_locations() {
    let db = TestDb::new().await;
    let root = tempfile::tempdir().unwrap();
    let org = root.path().join("org");
    let repo = root.path().join("repo");
    write(&org, "catalog-info.yaml", ALICE);
    write(
        &repo,
        "catalog-info.yaml",
        &format!(
            "{}---\n{}",
            mallory("U0MALLORY", "mallory@example.com"),
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: tools\nspec:\n  type: service\n  lifecycle: production\n  owner: team-ops\n"
        ),
    );
    let config = format!("[catalog]\norg_locations = [\"{}\"]\n", org.display());
    let (code, out) = run_usher(
        &config,
        &[
            "catalog",
            "import",
            org.to_str().unwrap(),
            repo.to_str().unwrap(),
        ],
        Some(&db),
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{}:1: kind: User 'mallory' can't come from here: people and teams are accepted only from catalog.org_locations",
            repo.join("catalog-info.yaml").display()
        )),
        "{out}"
    );
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM entities ORDER BY name")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(names, ["alice", "team-ops", "tools"], "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_link_takes_the_code_sent_by_slack_dm() {
    use usher::chat::{Actor, Platform, Request};
    let db = crate::commands::demo_db().await;
    let core = db.core();
    let ask = |text: &str| Request {
        actor: Actor::guest("1600000000000000055"),
        platform: Platform::Discord,
        workspace: None,
        channel: None,
        text: text.to_string(),
    };
    let email = "priya.nair@acme-shop.example";
    let reply = usher::commands::handle(&core, &ask(&format!("me link {email}")))
        .await
        .to_plain();
    assert!(
        reply.contains("sent a one-time code to Priya Nair by Slack DM"),
        "{reply}"
    );
    let (kind, text): (String, String) = sqlx::query_as(
        "SELECT kind, payload->>'text' FROM outbox WHERE destination = 'dm:user:default/priya.nair'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(kind, "chat.message.slack", "the code goes by Slack only");
    let code = regex_lite::Regex::new(r"--code (\d{6})")
        .unwrap()
        .captures(&text)
        .unwrap()[1]
        .to_string();
    assert!(
        !reply.contains(&code),
        "the code is never shown to the asker"
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let reply = usher::commands::handle(&core, &ask(&format!("me link {email} --code {wrong}")))
        .await
        .to_plain();
    assert!(
        reply.contains("That code isn't right (4 tries left)"),
        "{reply}"
    );
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_links")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(links, 0);
    let reply = usher::commands::handle(&core, &ask(&format!("me link {email} --code {code}")))
        .await
        .to_plain();
    assert!(reply.contains("Linked"), "{reply}");
    let linked: String = sqlx::query_scalar(
        "SELECT person_ref FROM chat_links WHERE platform = 'discord' AND user_id = '1600000000000000055'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(linked, "user:default/priya.nair");
    // Asking again and again can't buy endless guesses: a person gets three
    // requests an hour, whoever asks.
    for n in 0..4 {
        let reply = usher::commands::handle(
            &core,
            &Request {
                actor: Actor::guest(&format!("16000000000000001{n:02}")),
                ..ask("me link jonas.weber@acme-shop.example")
            },
        )
        .await
        .to_plain();
        if n < 3 {
            assert!(reply.contains("one-time code"), "{reply}");
        } else {
            assert!(reply.contains("which is all an hour allows"), "{reply}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_live_on_a_listener_of_their_own() {
    use usher::config::{Config, Env};
    use usher::db::Database;
    let db = crate::commands::demo_db().await;
    let env = Env {
        database_url: None,
        data_dir: std::env::temp_dir(),
        listen: "127.0.0.1:0".into(),
        metrics_listen: Some("127.0.0.1:0".into()),
    };
    let server = usher::serve::Server::bind(
        &env,
        Database::from_pool(db.new_pool().await),
        Arc::new(Config::default()),
    )
    .await
    .unwrap();
    let (port, metrics_port) = (server.port(), server.metrics_port().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let get = |port: u16, path: &str| {
        let request = http.get(format!("http://127.0.0.1:{port}{path}"));
        async move { request.send().await.unwrap() }
    };
    // The address chat platforms reach has no /metrics; the other has.
    assert_eq!(get(port, "/metrics").await.status(), 404);
    assert_eq!(get(port, "/healthz").await.status(), 200);
    let metrics = get(metrics_port, "/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("usher_"));
    let ready: serde_json::Value = get(port, "/readyz").await.json().await.unwrap();
    assert!(
        ready["cautions"][0]
            .as_str()
            .unwrap()
            .starts_with("people and teams are accepted from any location"),
        "{ready}"
    );
    assert_eq!(get(metrics_port, "/readyz").await.status(), 404);
    let _ = stop.send(());
    let _ = task.await;
}

#[test]
fn config_check_says_what_is_open_and_refuses_a_data_dir_a_shell_would_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usher.toml");
    let check = |toml: &str, data_dir: Option<&str>| {
        fs::write(&path, toml).unwrap();
        let mut cmd = usher();
        cmd.env("USHER_CONFIG", &path)
            .env("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
            .env("SLACK_BOT_TOKEN", "xoxb-test")
            .env_remove("DISCORD_PUBLIC_KEY")
            .env_remove("DISCORD_BOT_TOKEN")
            .env_remove("USHER_DATA_DIR")
            .args(["config", "check"]);
        if let Some(d) = data_dir {
            cmd.env("USHER_DATA_DIR", d);
        }
        let out = cmd.output().unwrap();
        (out.status.code(), stdout(&out))
    };
    let (code, text) = check("", None);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("caution        Slack: no workspace allow-list ([slack] workspaces)"),
        "{text}"
    );
    assert!(
        text.contains("caution        people and teams are accepted from any location"),
        "{text}"
    );
    let (code, text) = check(
        "[slack]\nworkspaces = [\"T0ACME\"]\n[catalog]\norg_locations = [\"https://github.com/acme/org/blob/main/org.yaml\"]\n",
        Some("/tmp/usher$(touch /tmp/pwned)"),
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(!text.contains("caution"), "{text}");
    assert!(
        text.contains("USHER_DATA_DIR \"/tmp/usher$(touch /tmp/pwned)\" contains '$'"),
        "{text}"
    );
    assert!(!Path::new("/tmp/pwned").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_one_location_a_rename_goes_through_and_a_second_claim_does_not() {
    let db = TestDb::new().await;
    let repo = tempfile::tempdir().unwrap();
    let import = || async {
        run_usher(
            "",
            &["catalog", "import", repo.path().to_str().unwrap()],
            Some(&db),
        )
        .await
    };
    write(repo.path(), "org.yaml", ALICE);
    assert_eq!(import().await.0, 0);
    // Alice renamed (same email, same Slack id): not a claim on herself.
    write(
        repo.path(),
        "org.yaml",
        &ALICE.replace("name: alice", "name: alice.smith"),
    );
    let (code, out) = import().await;
    assert_eq!(code, 0, "{out}");
    // Another file of the same location claims her Slack id: refused.
    write(
        repo.path(),
        "people/mallory.yaml",
        &mallory("U0ALICE", "mallory@example.com"),
    );
    let (code, out) = import().await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "spec.profile: the Slack id 'U0ALICE' belongs to user:default/alice.smith already"
        ),
        "{out}"
    );
    let users: Vec<String> =
        sqlx::query_scalar("SELECT name FROM entities WHERE kind = 'user' ORDER BY name")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(users, ["alice.smith"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_files_in_the_location_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".git/config",
        "[remote \"origin\"]\n  url = https://x-access-token:ghp_secret@github.com/acme/svc\n",
    );
    write(
        dir.path(),
        "catalog-info.yaml",
        &component("svc", "$text: ./.git/config"),
    );
    let (code, out) = run_usher(
        "",
        &[
            "catalog",
            "validate",
            "--offline",
            dir.path().to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("is a hidden file or inside a hidden folder"),
        "{out}"
    );
    assert!(!out.contains("ghp_secret"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_reads_only_the_locations_own_owner_unless_configured() {
    let fake = crate::fakes::FakeGitHost::start().await;
    let base = fake.base();
    fake.put(
        "acme/svc/main/catalog-info.yaml",
        &component(
            "svc",
            &format!("$text: {base}/other-org/private/blob/main/secret.txt"),
        ),
    );
    fake.put("other-org/private/main/secret.txt", "TOP-SECRET");
    let root = format!("{base}/acme/svc/blob/main/catalog-info.yaml");
    let authorised = |path: &str| {
        fake.seen()
            .into_iter()
            .filter(|s| s.path.contains(path))
            .map(|s| s.headers.contains_key("authorization"))
            .collect::<Vec<_>>()
    };
    let (_, out) = run_usher(
        &fake.hosts_toml(),
        &["catalog", "validate", "--offline", &root],
        None,
    )
    .await;
    assert!(!out.contains("TOP-SECRET"), "{out}");
    assert_eq!(
        authorised("/repos/acme/svc/"),
        [true],
        "the location's own repository"
    );
    assert_eq!(authorised("/repos/other-org/"), [false], "{out}");
    // An operator can let the token read another owner's files.
    let widened = fake.hosts_toml().replacen(
        "token_env = \"FAKE_GH_TOKEN\"\n",
        "token_env = \"FAKE_GH_TOKEN\"\ntoken_owners = [\"other-org\"]\n",
        1,
    );
    let (code, out) = run_usher(&widened, &["catalog", "validate", "--offline", &root], None).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(authorised("/repos/other-org/"), [false, true], "{out}");
}
