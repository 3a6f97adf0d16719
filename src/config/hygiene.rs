//! `[hygiene]`: which rules apply to which services, when owners are
//! reminded (schedule, time zone, quiet days, holidays) and where.

use super::*;

/// Catalog hygiene: which rules apply to which services, and how owners
/// are reminded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HygieneConfig {
    /// Whether `usher serve` runs rounds on the schedule (`usher nag
    /// --once` works either way).
    pub enabled: bool,
    /// When rounds run (crontab), in `timezone` unless a team has its own.
    pub schedule: String,
    /// The organisation's default time zone (IANA name).
    pub timezone: String,
    /// Days without rounds (mon … sun), in the schedule's time zone.
    pub quiet_days: Vec<String>,
    /// Dates without rounds (YYYY-MM-DD), in the schedule's time zone.
    pub holidays: Vec<String>,
    /// Services not changed or confirmed for this many days are "stale".
    pub stale_days: i64,
    /// A finding already reported is not repeated for this many days.
    pub repeat_days: i64,
    /// Without a team channel, the digest goes to the team's `lead` or
    /// to its `members` by DM.
    pub fallback: String,
    /// Services listed in a digest before "and N more".
    pub max_services: usize,
    /// A finding carried by this many digests without being fixed or set
    /// aside is escalated to the team's lead (or its parent team's
    /// channel), once. 0: never.
    pub escalate_after: i32,
    /// Per rule (by id): `enabled`, and the tiers / lifecycles it applies
    /// to (a service matching either; both empty: every service).
    pub rules: std::collections::BTreeMap<String, RuleConfig>,
    /// Not a setting: the platforms this process can post on (`serve` and
    /// `nag` set it from their Slack and Discord tokens). A team with a
    /// channel on each gets its digest only where it can be delivered,
    /// rather than a job no sender here will ever take. None: all.
    #[serde(skip)]
    pub deliver_on: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub tiers: Option<Vec<String>>,
    #[serde(default)]
    pub lifecycles: Option<Vec<String>>,
}

impl HygieneConfig {
    /// Whether this process posts on `platform` (`slack`, `discord`);
    /// unknown (no process set `deliver_on`) counts as yes.
    pub fn posts_on(&self, platform: &str) -> bool {
        self.deliver_on
            .as_ref()
            .is_none_or(|on| on.iter().any(|p| p == platform))
    }
}

impl Default for HygieneConfig {
    fn default() -> Self {
        HygieneConfig {
            enabled: true,
            schedule: "0 10 * * 1-5".into(),
            timezone: "UTC".into(),
            quiet_days: vec!["sat".into(), "sun".into()],
            holidays: Vec::new(),
            stale_days: 180,
            repeat_days: 7,
            fallback: "lead".into(),
            max_services: 8,
            escalate_after: 3,
            rules: Default::default(),
            deliver_on: None,
        }
    }
}

impl HygieneConfig {
    /// The section's values checked; the error names the key.
    pub(super) fn check(&self) -> Result<(), String> {
        crate::schedule::Schedule::parse(&self.schedule, &self.timezone)
            .map_err(|why| format!("hygiene.schedule / hygiene.timezone: {why}"))?;
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        for (i, d) in self.quiet_days.iter().enumerate() {
            let d = d.trim().to_lowercase();
            if d.len() < 3 || !DAYS.iter().any(|day| d.starts_with(day)) {
                return Err(format!(
                    "hygiene.quiet_days[{i}]: '{d}' is not a day (mon, tue, … sun)"
                ));
            }
        }
        for (i, h) in self.holidays.iter().enumerate() {
            if chrono::NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d").is_err() {
                return Err(format!(
                    "hygiene.holidays[{i}]: '{h}' is not a date (YYYY-MM-DD)"
                ));
            }
        }
        if !["lead", "members"].contains(&self.fallback.as_str()) {
            return Err(format!(
                "hygiene.fallback: '{}' must be lead or members",
                self.fallback
            ));
        }
        if self.stale_days < 1 || self.repeat_days < 0 {
            return Err(
                "hygiene.stale_days must be at least 1, hygiene.repeat_days at least 0".into(),
            );
        }
        Ok(())
    }
}
