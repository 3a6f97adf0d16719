//! A validated catalog entity: Backstage's data kept verbatim, plus the
//! typed fields usher acts on (owner, lifecycle, tier, on-call annotations,
//! people's chat identities) and its relations.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::model::EntityRef;

/// A relation as declared in a descriptor, with where it was declared so a
/// dangling reference can be reported at its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relation {
    /// Backstage's relation name: ownedBy, partOf, dependsOn, dependencyOf,
    /// providesApi, consumesApi, memberOf, hasMember, childOf, parentOf.
    pub kind: &'static str,
    pub target: EntityRef,
    #[serde(skip)]
    pub field: String,
    #[serde(skip)]
    pub line: Option<usize>,
}

/// One `target`/`targets` entry of a Location, with its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LocationTarget {
    pub target: String,
    /// `spec.target` or `spec.targets[i]`.
    pub field: String,
    pub line: Option<usize>,
}

/// A link with a category usher understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub url: String,
    pub title: Option<String>,
    pub icon: Option<String>,
    pub category: LinkCategory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkCategory {
    Docs,
    Runbook,
    Dashboard,
    Repository,
    Api,
    Chat,
    Other,
}

impl LinkCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkCategory::Docs => "docs",
            LinkCategory::Runbook => "runbook",
            LinkCategory::Dashboard => "dashboard",
            LinkCategory::Repository => "repository",
            LinkCategory::Api => "api",
            LinkCategory::Chat => "chat",
            LinkCategory::Other => "other",
        }
    }

    pub fn parse(text: &str) -> LinkCategory {
        match text {
            "docs" => LinkCategory::Docs,
            "runbook" => LinkCategory::Runbook,
            "dashboard" => LinkCategory::Dashboard,
            "repository" => LinkCategory::Repository,
            "api" => LinkCategory::Api,
            "chat" => LinkCategory::Chat,
            _ => LinkCategory::Other,
        }
    }

    /// Classifies a link by its `type`, icon, title and URL, in that order
    /// of trust. A runbook is what teams most need at 3 a.m., so the word
    /// "runbook" (or "playbook") anywhere wins.
    pub fn classify(
        link_type: Option<&str>,
        icon: Option<&str>,
        title: Option<&str>,
        url: &str,
    ) -> LinkCategory {
        let haystack = format!(
            "{} {} {}",
            link_type.unwrap_or_default(),
            icon.unwrap_or_default(),
            title.unwrap_or_default()
        )
        .to_lowercase();
        let url_lower = url.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| haystack.contains(w));
        if has(&["runbook", "playbook", "on-call guide", "oncall guide"])
            || url_lower.contains("runbook")
        {
            LinkCategory::Runbook
        } else if has(&[
            "dashboard",
            "grafana",
            "monitor",
            "metrics",
            "datadog",
            "kibana",
        ]) {
            LinkCategory::Dashboard
        } else if has(&["repo", "github", "gitlab", "source", "code"]) {
            LinkCategory::Repository
        } else if has(&["doc", "wiki", "help", "manual", "readme", "techdocs"]) {
            LinkCategory::Docs
        } else if has(&["api", "swagger", "openapi", "graphql"]) {
            LinkCategory::Api
        } else if has(&["chat", "slack", "discord", "channel"]) {
            LinkCategory::Chat
        } else if url_lower.contains("github.com/")
            || url_lower.contains("gitlab.")
            || url_lower.contains("bitbucket.")
        {
            LinkCategory::Repository
        } else {
            LinkCategory::Other
        }
    }
}

/// An usher rotation as a team's descriptor declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSpec {
    /// Person refs, in rota order.
    pub people: Vec<String>,
    pub length_days: u32,
    pub handoff: chrono::NaiveTime,
    pub timezone: String,
    pub start: chrono::NaiveDate,
}

/// The packages an entity's `usher.dev/sbom` annotation points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PackagesUpdate {
    /// No annotation: no packages from it.
    #[default]
    Clear,
    /// The SBOM was read: these, hashed into the entity's content.
    Replace {
        packages: Vec<super::sbom::Package>,
        hash: String,
    },
    /// The annotation's SBOM couldn't be read this time: keep what was.
    Keep,
}

/// A validated entity, ready to store.
#[derive(Debug, Clone, Serialize)]
pub struct Entity {
    pub eref: EntityRef,
    pub title: Option<String>,
    pub description: Option<String>,
    pub labels: Map<String, Value>,
    pub annotations: Map<String, Value>,
    pub tags: Vec<String>,
    pub links: Vec<Link>,
    pub spec: Value,
    /// The whole document as written (after substitutions).
    pub raw: Value,

    pub spec_type: Option<String>,
    pub lifecycle: Option<String>,
    pub owner: Option<EntityRef>,
    pub system: Option<EntityRef>,
    pub domain: Option<EntityRef>,
    pub parent: Option<EntityRef>,
    pub tier: Option<String>,
    pub language: Option<String>,
    pub framework: Option<String>,

    pub techdocs_ref: Option<String>,
    pub source_location: Option<String>,
    pub github_slug: Option<String>,
    pub pagerduty_service_id: Option<String>,
    pub pagerduty_integration_key: Option<String>,
    pub opsgenie_team: Option<String>,
    pub opsgenie_component_selector: Option<String>,
    pub slack_channel: Option<String>,
    pub discord_channel: Option<String>,

    pub email: Option<String>,
    pub display_name: Option<String>,
    pub slack_user_id: Option<String>,
    pub discord_user_id: Option<String>,
    pub lead: Option<EntityRef>,
    pub active: bool,

    pub relations: Vec<Relation>,
    /// A team's usher rotation declared in its descriptor (`spec.oncall`).
    #[serde(skip)]
    pub rotation: Option<RotationSpec>,
    /// What to do with the packages of its `usher.dev/sbom` annotation.
    #[serde(skip)]
    pub packages: PackagesUpdate,
    /// Location targets as written (Location entities only).
    pub targets: Vec<LocationTarget>,

    pub file: String,
    pub line: usize,
}

impl Entity {
    /// A hash of everything stored for the entity, so re-importing an
    /// unchanged descriptor writes nothing.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.raw.to_string().as_bytes());
        hasher.update(b"\0");
        hasher.update(self.file.as_bytes());
        hasher.update(self.line.to_le_bytes());
        match &self.packages {
            PackagesUpdate::Clear => {}
            PackagesUpdate::Replace { hash, .. } => hasher.update(hash.as_bytes()),
            PackagesUpdate::Keep => hasher.update(b"keep"),
        }
        hex::encode(&hasher.finalize()[..16])
    }
}

/// "tier-1", "Tier 1", "tier1", "1", "t1" → "1"; other values kept as
/// written (lower case).
pub fn normalise_tier(value: &str) -> String {
    let lower = value.trim().to_lowercase();
    let digits: String = lower
        .trim_start_matches("tier")
        .trim_start_matches('t')
        .trim_start_matches(['-', ' ', '_'])
        .to_string();
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        digits
    } else {
        lower
    }
}

/// Languages recognised in tags when no `usher.dev/language` annotation or
/// `language` label says.
pub const KNOWN_LANGUAGES: &[&str] = &[
    "java",
    "kotlin",
    "scala",
    "go",
    "golang",
    "python",
    "rust",
    "typescript",
    "javascript",
    "ruby",
    "php",
    "c#",
    "csharp",
    "c++",
    "c",
    "elixir",
    "erlang",
    "swift",
    "dart",
    "clojure",
    "haskell",
    "nodejs",
    "node",
];

/// The canonical spelling of a language name.
pub fn normalise_language(value: &str) -> String {
    match value.trim().to_lowercase().as_str() {
        "golang" => "go".to_string(),
        "csharp" => "c#".to_string(),
        "node" | "nodejs" | "node.js" => "javascript".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        for t in ["tier-1", "Tier 1", "tier1", "1", "t1", "TIER_1"] {
            assert_eq!(normalise_tier(t), "1", "{t}");
        }
        assert_eq!(normalise_tier("critical"), "critical");
    }

    #[test]
    fn link_classification() {
        use LinkCategory::*;
        assert_eq!(
            LinkCategory::classify(None, None, Some("Runbook"), "https://x"),
            Runbook
        );
        assert_eq!(
            LinkCategory::classify(None, Some("dashboard"), Some("Grafana"), "https://x"),
            Dashboard
        );
        assert_eq!(
            LinkCategory::classify(
                None,
                Some("github"),
                Some("GitHub Repo"),
                "https://github.com/a/b"
            ),
            Repository
        );
        assert_eq!(
            LinkCategory::classify(None, None, None, "https://github.com/a/b"),
            Repository
        );
        assert_eq!(
            LinkCategory::classify(None, None, Some("Docs"), "https://x"),
            Docs
        );
        assert_eq!(
            LinkCategory::classify(Some("runbook"), None, None, "https://x"),
            Runbook
        );
        assert_eq!(
            LinkCategory::classify(None, None, Some("Admin"), "https://x"),
            Other
        );
    }
}
