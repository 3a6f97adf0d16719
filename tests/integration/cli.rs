//! `usher config check`: the effective configuration and the environment,
//! secrets never shown.

use crate::support::usher;

#[test]
fn config_check_shows_the_configuration_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usher.toml");
    std::fs::write(&path, "[chat]\nsuggestions = 5\n").unwrap();
    let out = usher()
        .env("USHER_CONFIG", &path)
        .env("SLACK_BOT_TOKEN", "xoxb-very-secret-value")
        .env("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
        .env(
            "DATABASE_URL",
            "postgres://usher:hunter2@db.example.com:5432/usher?sslpassword=swordfish",
        )
        .env_remove("DISCORD_PUBLIC_KEY")
        .args(["config", "check"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("suggestions = 5"), "{text}");
    // The verdict comes first, a line a part, before the details.
    let verdict = text.find("verdict        ok").expect("a verdict");
    assert!(verdict < text.find("suggestions = 5").unwrap(), "{text}");
    assert!(
        text.contains("Slack          HTTP (signing secret and bot token)"),
        "{text}"
    );
    assert!(
        text.contains("SLACK_BOT_TOKEN: set (22 characters, not shown)"),
        "{text}"
    );
    assert!(
        text.contains("postgres://usher:***@db.example.com:5432/usher"),
        "{text}"
    );
    for secret in [
        "very-secret-value",
        "8f742231b10e8888abcd99yyyzzz85a5",
        "hunter2",
        "swordfish",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    // Something wrong: said, and exit 1.
    let bad = usher()
        .env("USHER_CONFIG", &path)
        .env("SLACK_BOT_TOKEN", "xoxp-user-token")
        .env("DISCORD_PUBLIC_KEY", "not-hex")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    // A weak signing secret is refused.
    let weak = usher()
        .env("USHER_CONFIG", &path)
        .env("SLACK_SIGNING_SECRET", "x")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(weak.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&weak.stderr).contains("SLACK_SIGNING_SECRET: only 1 characters"),
        "{}",
        String::from_utf8_lossy(&weak.stderr)
    );
    assert!(
        err.contains("SLACK_BOT_TOKEN: should start with xoxb-"),
        "{err}"
    );
    assert!(err.contains("DISCORD_PUBLIC_KEY"), "{err}");
    // A bad usher.toml: file, key and reason, exit 2.
    std::fs::write(&path, "[chat]\nsugestions = 5\n").unwrap();
    let broken = usher()
        .env("USHER_CONFIG", &path)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("sugestions"));
}

/// The systemd unit is one systemd accepts (where `systemd-analyze` is
/// installed; the binary path pointed at this build).
#[test]
fn the_systemd_unit_verifies() {
    let unit =
        std::fs::read_to_string(crate::support::repo().join("deploy/usher.service")).unwrap();
    assert!(unit.contains("Restart=on-failure") && unit.contains("EnvironmentFile="));
    // The install steps in its comments create every folder they install
    // into before installing there.
    let steps: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("#   "))
        .map(|l| l.split(" #").next().unwrap_or(l))
        .collect();
    let mut made: Vec<String> = vec!["/usr/local/bin".into(), "/etc/systemd/system".into()];
    for step in &steps {
        let words: Vec<&str> = step.split_whitespace().collect();
        if !words.contains(&"install") {
            continue;
        }
        let target = words.last().unwrap().to_string();
        if words.contains(&"-d") {
            made.push(target);
        } else {
            let folder = std::path::Path::new(&target).parent().unwrap();
            assert!(
                made.iter().any(|m| std::path::Path::new(m) == folder),
                "`{step}` installs into {} before any step creates it",
                folder.display()
            );
        }
    }
    // The secrets file it names can't be committed by accident.
    let ignored = std::process::Command::new("git")
        .args(["check-ignore", "-q", "deploy/usher.env"])
        .current_dir(crate::support::repo())
        .status();
    // (128: not a git checkout, e.g. a source tarball — nothing to check.)
    if let Ok(status) = ignored
        && status.code() != Some(128)
    {
        assert!(status.success(), "deploy/usher.env must be git-ignored");
    }
    let Ok(status) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed; only the unit's text was checked");
        return;
    };
    assert!(status.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usher.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/usher", env!("CARGO_BIN_EXE_usher")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !text.contains("usher.service:"),
        "{text}"
    );
}
