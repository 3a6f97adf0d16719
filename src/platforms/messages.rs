//! Messages usher sends on its own, built once for every platform.

use serde_json::Value;

use crate::chat::{Reply, Text};

/// The message about vulnerable packages in a team's services.
pub fn notice_reply(payload: &Value) -> Reply {
    let package = payload["package"].as_str().unwrap_or("a package");
    let services = payload["services"].as_array().cloned().unwrap_or_default();
    let mut lines = Text::new();
    for (i, s) in services.iter().take(20).enumerate() {
        if i > 0 {
            lines = lines.add_plain("\n");
        }
        let versions: Vec<String> = s["versions"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        lines = lines
            .add_plain("• ")
            .add_bold(s["name"].as_str().unwrap_or("?").to_string());
        if !versions.is_empty() {
            lines = lines.add_plain(format!(" uses {}", versions.join(", ")));
        }
    }
    if services.len() > 20 {
        lines = lines.add_plain(format!("\n… and {} more", services.len() - 20));
    }
    let requested = payload["requested_by"].as_str().unwrap_or("someone");
    let query = payload["query"].as_str().unwrap_or_default();
    Reply::new()
        .header(format!("Security: {package} in your services"))
        .section(lines)
        .context(Text::plain(format!(
            "Sent by {requested} via usher (`search {query}`). Please upgrade and update the SBOM."
        )))
        .public()
}

/// What the admins are told when a job goes to the dead letters.
pub fn undelivered_report(p: &Value) -> Reply {
    Reply::new()
        .header("⚠ usher couldn't deliver a message")
        .section(Text::plain(format!(
            "A {} to {} failed after {} attempt(s): {}",
            p["kind"].as_str().unwrap_or("message"),
            p["destination"].as_str().unwrap_or("?"),
            p["attempts"].as_i64().unwrap_or(1),
            p["error"].as_str().unwrap_or("unknown error"),
        )))
        .context(Text::plain(format!(
            "Fix the cause, then `usher outbox retry {}` sends it again.",
            p["job"].as_i64().unwrap_or_default()
        )))
}

/// A chat message that carries a whole reply (a hygiene digest), to be
/// rendered as it is.
pub fn whole_reply(payload: &Value) -> Option<Reply> {
    payload
        .get("reply")
        .and_then(|r| serde_json::from_value::<Reply>(r.clone()).ok())
}
