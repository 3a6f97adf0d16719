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
        .env("SLACK_SIGNING_SECRET", "signing-secret-value")
        .env(
            "DATABASE_URL",
            "postgres://usher:hunter2@db.example.com:5432/usher",
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
    assert!(
        text.contains("SLACK_BOT_TOKEN: set (22 characters, not shown)"),
        "{text}"
    );
    assert!(
        text.contains("postgres://usher:***@db.example.com:5432/usher"),
        "{text}"
    );
    for secret in ["very-secret-value", "signing-secret-value", "hunter2"] {
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
