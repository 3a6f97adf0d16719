//! `[oncall]`: the on-call providers (PagerDuty, Opsgenie), how their
//! answers are cached and time-boxed, and who may page how often.

use super::*;

/// On-call providers, caching and paging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OncallConfig {
    /// How long a provider's answer is reused for the same service.
    pub cache_secs: u64,
    /// How long to wait for a provider before answering with the last known.
    pub timeout_ms: u64,
    /// How often `usher serve` refreshes the snapshot of every on-call.
    pub snapshot_minutes: u64,
    pub pagerduty_api_url: String,
    pub pagerduty_events_url: String,
    /// The environment variable holding the PagerDuty REST API token.
    pub pagerduty_token_env: String,
    pub opsgenie_api_url: String,
    /// The environment variable holding the Opsgenie API key.
    pub opsgenie_key_env: String,
    pub pages_per_user_per_hour: i64,
    pub pages_per_service_per_hour: i64,
    /// Teams whose members may page; empty: anyone in the catalog.
    pub pagers: Vec<String>,
}

impl Default for OncallConfig {
    fn default() -> Self {
        OncallConfig {
            cache_secs: 60,
            timeout_ms: 1500,
            snapshot_minutes: 10,
            pagerduty_api_url: "https://api.pagerduty.com".into(),
            pagerduty_events_url: "https://events.pagerduty.com".into(),
            pagerduty_token_env: "PAGERDUTY_TOKEN".into(),
            opsgenie_api_url: "https://api.opsgenie.com".into(),
            opsgenie_key_env: "OPSGENIE_API_KEY".into(),
            pages_per_user_per_hour: 5,
            pages_per_service_per_hour: 10,
            pagers: Vec::new(),
        }
    }
}

impl OncallConfig {
    /// The section's values checked; the error names the key.
    pub(super) fn check(&self) -> Result<(), String> {
        for (key, url) in [
            ("oncall.pagerduty_api_url", &self.pagerduty_api_url),
            ("oncall.pagerduty_events_url", &self.pagerduty_events_url),
            ("oncall.opsgenie_api_url", &self.opsgenie_api_url),
        ] {
            if reqwest::Url::parse(url).is_err() {
                return Err(format!("{key}: '{url}' is not a URL"));
            }
        }
        if self.timeout_ms == 0 || self.timeout_ms > 2500 {
            return Err(
                "oncall.timeout_ms: must be 1–2500, to answer within the chat platforms' 3 seconds"
                    .into(),
            );
        }
        Ok(())
    }
}
