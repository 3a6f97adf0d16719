//! `[directory]`: how people and teams from the identity provider reach
//! the catalog.

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// A sync that would remove more than this share of a team's active
    /// members (a team of 4 or more) waits for an admin's confirmation — a
    /// guard against a broken filter or a mapping gone wrong.
    pub max_removal_share: f64,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            max_removal_share: 0.5,
        }
    }
}

impl DirectoryConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        if !(self.max_removal_share > 0.0 && self.max_removal_share <= 1.0) {
            return Err(format!(
                "directory.max_removal_share: {} is not a share; give one above 0 and at most 1 (0.5: half a team)",
                self.max_removal_share
            ));
        }
        Ok(())
    }
}
