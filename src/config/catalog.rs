//! `[catalog]`: the limits on reading descriptors, the locations kept in
//! sync and when, the code hosts read through their APIs, and whose people
//! and teams are believed.

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Largest descriptor file read, in bytes.
    pub max_file_size: u64,
    /// Lifecycle values that are not warned about.
    pub lifecycles: Vec<String>,
    /// Seconds before fetching a URL gives up.
    pub fetch_timeout_secs: u64,
    /// When remembered locations are refreshed, unless they say otherwise
    /// (crontab, UTC).
    pub refresh_schedule: String,
    /// Code hosts whose blob links are read through their API; github.com
    /// and gitlab.com are always known.
    pub hosts: Vec<hosts::HostConfig>,
    /// Locations to keep in sync (refreshed by `usher serve`).
    pub locations: Vec<LocationConfig>,
    /// The only locations (paths or URLs) whose User and Group entities
    /// are accepted — who people are and which teams they're in decides
    /// what they may do, so only the organisation's own location should
    /// say it. Empty: any location (config check and status say so).
    pub org_locations: Vec<String>,
}

/// A location usher remembers and refreshes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationConfig {
    /// A URL or a path.
    pub target: String,
    /// Crontab; `catalog.refresh_schedule` when absent.
    #[serde(default)]
    pub schedule: Option<String>,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            max_file_size: 20 * 1024 * 1024,
            lifecycles: vec![
                "experimental".into(),
                "production".into(),
                "deprecated".into(),
            ],
            fetch_timeout_secs: 30,
            refresh_schedule: "0 * * * *".into(),
            hosts: Vec::new(),
            locations: Vec::new(),
            org_locations: Vec::new(),
        }
    }
}

impl CatalogConfig {
    /// The configured hosts, then github.com and gitlab.com unless
    /// configured otherwise.
    pub fn all_hosts(&self) -> Vec<hosts::HostConfig> {
        let mut hosts = self.hosts.clone();
        for default in hosts::default_hosts() {
            if !hosts
                .iter()
                .any(|h| h.host.eq_ignore_ascii_case(&default.host))
            {
                hosts.push(default);
            }
        }
        hosts
    }
}

impl CatalogConfig {
    /// The section's values checked; the error names the key.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.max_file_size == 0 {
            return Err("catalog.max_file_size: must be more than 0 bytes".to_string());
        }
        if self.lifecycles.is_empty() {
            return Err("catalog.lifecycles: list at least one lifecycle".to_string());
        }
        crate::schedule::Schedule::parse(&self.refresh_schedule, "")
            .map_err(|why| format!("catalog.refresh_schedule: {why}"))?;
        for (i, location) in self.locations.iter().enumerate() {
            if let Some(schedule) = &location.schedule {
                crate::schedule::Schedule::parse(schedule, "")
                    .map_err(|why| format!("catalog.locations[{i}].schedule: {why}"))?;
            }
        }
        for (i, host) in self.hosts.iter().enumerate() {
            if reqwest::Url::parse(&host.api_url).is_err() {
                return Err(format!(
                    "catalog.hosts[{i}].api_url: '{}' is not a URL",
                    host.api_url
                ));
            }
        }
        Ok(())
    }
}
