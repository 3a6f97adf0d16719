//! Completion for chat platforms (Slack's external selects, Discord's
//! autocomplete): up to 25 names, prefix matches first, then names that
//! contain the text, then similar ones — answered from the in-memory
//! snapshot, so it stays within a platform's budget on a large catalog.

use crate::catalog::model::Kind;

use super::Core;
use super::definitions::{self, Completion};

/// Most choices a platform shows.
pub const MAX_CHOICES: usize = 25;

/// One choice: what is shown and what is sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub label: String,
    pub value: String,
}

/// Choices for an option whose completion source is `source`.
pub async fn complete(
    core: &Core,
    source: Completion,
    text: &str,
) -> Result<Vec<Choice>, sqlx::Error> {
    let kinds: &[Kind] = match source {
        Completion::Service => &Kind::OWNED,
        Completion::Team => &[Kind::Group],
        Completion::Person => &[Kind::User],
        Completion::Command => {
            let text = text.trim().to_lowercase();
            return Ok(definitions::all()
                .iter()
                .filter(|d| d.name.starts_with(&text))
                .map(|d| Choice {
                    label: format!("{} — {}", d.name, d.summary),
                    value: d.name.clone(),
                })
                .take(MAX_CHOICES)
                .collect());
        }
    };
    let snapshot = core.snapshot.names(&core.pool).await?;
    Ok(snapshot
        .names
        .complete(text, kinds, MAX_CHOICES)
        .into_iter()
        .map(|name| Choice {
            label: name.clone(),
            value: name,
        })
        .collect())
}
