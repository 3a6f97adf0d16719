//! Messages usher sends on its own, built once for every platform.

use crate::actions::jobs::{AdminReport, Notice};
use crate::chat::{Reply, Text};

/// The message about vulnerable packages in a team's services.
pub fn notice_reply(notice: &Notice) -> Reply {
    let mut lines = Text::new();
    for (i, s) in notice.services.iter().take(20).enumerate() {
        if i > 0 {
            lines = lines.add_plain("\n");
        }
        lines = lines.add_plain("• ").add_bold(s.name.clone());
        if !s.versions.is_empty() {
            lines = lines.add_plain(format!(" uses {}", s.versions.join(", ")));
        }
    }
    if notice.services.len() > 20 {
        lines = lines.add_plain(format!("\n… and {} more", notice.services.len() - 20));
    }
    let mut reply = Reply::new().header(format!("Security: {} in your services", notice.package));
    if !notice.services.is_empty() {
        reply = reply.section(lines);
    }
    if !notice.repositories.is_empty() {
        let mut repos = Text::plain("Repositories that look like yours, not in the catalog:");
        for r in notice.repositories.iter().take(20) {
            repos = repos
                .add_plain("\n• ")
                .add_link(r.name.clone(), r.url.clone());
            if !r.versions.is_empty() {
                repos = repos.add_plain(format!(" uses {}", r.versions.join(", ")));
            }
            if let Some(why) = &r.evidence {
                repos = repos.add_plain(format!(" — {why}"));
            }
        }
        if notice.repositories.len() > 20 {
            repos = repos.add_plain(format!("\n… and {} more", notice.repositories.len() - 20));
        }
        reply = reply.section(repos);
    }
    reply
        .context(Text::plain(format!(
            "Sent by {} via usher (`search {}`). Please upgrade and update the SBOM; a repository that isn't yours: say so with `repo NAME`.",
            notice.requested_by, notice.query
        )))
        .public()
}

/// What the admins are told when a job goes to the dead letters.
pub fn undelivered_report(report: &AdminReport) -> Reply {
    Reply::new()
        .header("⚠ usher couldn't deliver a message")
        .section(Text::plain(format!(
            "A {} to {} failed after {} attempt(s): {}",
            report.kind, report.destination, report.attempts, report.error,
        )))
        .context(Text::plain(format!(
            "Fix the cause, then `usher outbox retry {}` sends it again.",
            report.job
        )))
}
