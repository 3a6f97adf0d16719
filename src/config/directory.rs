//! `[directory]`: how people and teams from the identity provider reach
//! the catalog — which groups become teams, which source wins for what,
//! and the LDAP / Active Directory servers usher reads (`[[directory.ldap]]`).

use std::collections::BTreeMap;

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// A sync that would remove more than this share of a team's active
    /// members (a team of 4 or more) waits for an admin's confirmation — a
    /// guard against a broken filter or a mapping gone wrong.
    pub max_removal_share: f64,
    /// Who defines a person that both the directory and a descriptor
    /// describe (the same name, or the same email).
    pub people: Authority,
    /// Who says who is in a team that both describe.
    pub membership: Authority,
    /// Which directory groups become catalog teams, and their names.
    pub teams: TeamMapping,
    /// GitHub teams and GitLab groups as CODEOWNERS names them
    /// (`acme/payments-devs`) → the catalog team they are
    /// (`payments`); discovery's owner evidence reads it.
    pub forge_teams: BTreeMap<String, String>,
    /// LDAP / Active Directory servers to read people and groups from.
    pub ldap: Vec<LdapSource>,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            max_removal_share: 0.5,
            people: Authority::Directory,
            membership: Authority::Directory,
            teams: TeamMapping::default(),
            forge_teams: BTreeMap::new(),
            ldap: Vec::new(),
        }
    }
}

/// Which source wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Authority {
    Directory,
    Descriptors,
}

impl Authority {
    pub fn as_str(self) -> &'static str {
        match self {
            Authority::Directory => "directory",
            Authority::Descriptors => "descriptors",
        }
    }
}

/// Which directory groups become catalog teams: all of them (named after
/// the group in catalog form), those whose name matches `pattern` (named
/// after its first capture group, else the whole name), or — when `map`
/// is given — exactly the groups it names, with the names it gives.
/// Members of a nested group that isn't a team count for the nearest
/// enclosing group that is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeamMapping {
    pub pattern: Option<String>,
    /// Group name (as the directory gives it, case-insensitive) → team.
    pub map: BTreeMap<String, String>,
}

impl TeamMapping {
    /// How the mapping works, in a line (for `usher config check`).
    pub fn describe(&self) -> String {
        if !self.map.is_empty() {
            format!(
                "the {} group(s) [directory.teams.map] names",
                self.map.len()
            )
        } else if let Some(pattern) = &self.pattern {
            format!("groups whose name matches {pattern:?}")
        } else {
            "every group, named after it in catalog form".to_string()
        }
    }
}

/// One LDAP or Active Directory server (Backstage's LDAP org provider's
/// settings are the model).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSource {
    /// Names the source in chat and status (`corp`).
    pub name: String,
    /// `ldaps://ldap.example.com` (TLS from the start) or
    /// `ldap://ldap.example.com` with `starttls` (the default).
    pub url: String,
    #[serde(default = "yes")]
    pub starttls: bool,
    /// PEM file of the certificate authorities to trust, instead of the
    /// system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The account usher binds as (read-only is enough).
    pub bind_dn: String,
    /// The environment variable holding its password (never the password).
    pub bind_password_env: String,
    /// When to read it (cron, five fields, UTC); once across replicas.
    #[serde(default = "hourly")]
    pub schedule: String,
    /// Entries per page (RFC 2696 paged results).
    #[serde(default = "page_size")]
    pub page_size: i32,
    /// Seconds for connecting and for each operation.
    #[serde(default = "timeout_secs")]
    pub timeout_secs: u64,
    /// Where people are, how to find them and which attributes say what.
    #[serde(default)]
    pub users: Vec<LdapSearch<UserMap>>,
    /// Where groups are.
    #[serde(default)]
    pub groups: Vec<LdapSearch<GroupMap>>,
}

fn yes() -> bool {
    true
}
fn hourly() -> String {
    "0 * * * *".into()
}
fn page_size() -> i32 {
    500
}
fn timeout_secs() -> u64 {
    30
}

/// A search: base DN, filter, scope and the attribute mapping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSearch<M> {
    pub base_dn: String,
    #[serde(default)]
    pub filter: Option<String>,
    /// `sub` (the whole subtree, default) or `one` (one level).
    #[serde(default = "subtree")]
    pub scope: String,
    #[serde(default)]
    pub map: M,
}

fn subtree() -> String {
    "sub".into()
}

/// Which attribute says what about a person.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserMap {
    /// The catalog name (in catalog form): `uid`; `sAMAccountName` on AD.
    pub name: String,
    pub display_name: String,
    pub email: String,
    /// Groups the person is in (DNs), where the server keeps them on the
    /// person (AD, OpenLDAP's memberof overlay).
    pub member_of: String,
    /// AD's `userAccountControl`: the disabled bit (2) makes the person
    /// inactive.
    pub account_control: String,
}

impl Default for UserMap {
    fn default() -> Self {
        UserMap {
            name: "uid".into(),
            display_name: "cn".into(),
            email: "mail".into(),
            member_of: "memberOf".into(),
            account_control: "userAccountControl".into(),
        }
    }
}

/// Which attribute says what about a group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupMap {
    /// The group's name, as the team mapping sees it.
    pub name: String,
    pub description: String,
    /// Members: DNs of people or groups (`member`, `uniqueMember`), or
    /// people's names (`memberUid`).
    pub members: String,
}

impl Default for GroupMap {
    fn default() -> Self {
        GroupMap {
            name: "cn".into(),
            description: "description".into(),
            members: "member".into(),
        }
    }
}

impl LdapSource {
    /// The source's key in the catalog and in status (`ldap:corp`).
    pub fn key(&self) -> String {
        format!("ldap:{}", self.name)
    }

    fn check(&self) -> Result<(), String> {
        let at = format!("directory.ldap {:?}", self.name);
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "directory.ldap: name {:?} should be letters, digits, - or _ (it names the source in chat)",
                self.name
            ));
        }
        let scheme = self.url.split("://").next().unwrap_or_default();
        if !matches!(scheme, "ldap" | "ldaps") || !self.url.contains("://") {
            return Err(format!(
                "{at}: url {:?} should be ldaps://host[:port] or ldap://host[:port]",
                self.url
            ));
        }
        if scheme == "ldap" && !self.starttls {
            return Err(format!(
                "{at}: ldap:// without starttls would send the bind password in the clear; use ldaps:// or starttls = true"
            ));
        }
        if self.bind_dn.trim().is_empty() || self.bind_password_env.trim().is_empty() {
            return Err(format!(
                "{at}: bind_dn and bind_password_env (the environment variable with its password) are needed"
            ));
        }
        crate::schedule::Schedule::parse(&self.schedule, "")
            .map_err(|e| format!("{at}: schedule: {e}"))?;
        if !(1..=10_000).contains(&self.page_size) {
            return Err(format!("{at}: page_size should be 1–10000"));
        }
        if !(1..=600).contains(&self.timeout_secs) {
            return Err(format!("{at}: timeout_secs should be 1–600"));
        }
        if self.users.is_empty() && self.groups.is_empty() {
            return Err(format!(
                "{at}: give at least one [[directory.ldap.users]] or [[directory.ldap.groups]] with its base_dn"
            ));
        }
        let searches = self
            .users
            .iter()
            .map(|s| (&s.base_dn, &s.filter, &s.scope))
            .chain(
                self.groups
                    .iter()
                    .map(|s| (&s.base_dn, &s.filter, &s.scope)),
            );
        for (base, filter, scope) in searches {
            if base.trim().is_empty() {
                return Err(format!("{at}: a search without base_dn"));
            }
            if !matches!(scope.as_str(), "sub" | "one") {
                return Err(format!(
                    "{at}: scope {scope:?} should be sub (the subtree) or one (one level)"
                ));
            }
            if let Some(filter) = filter {
                let f = filter.trim();
                if !(f.starts_with('(') && f.ends_with(')'))
                    || f.matches('(').count() != f.matches(')').count()
                {
                    return Err(format!(
                        "{at}: filter {filter:?} isn't an LDAP filter; write it in parentheses, like (objectClass=person)"
                    ));
                }
            }
        }
        Ok(())
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
        if let Some(pattern) = &self.teams.pattern {
            regex_lite::Regex::new(pattern).map_err(|e| {
                format!("directory.teams.pattern: {pattern:?} is not a regular expression: {e}")
            })?;
        }
        let named = self
            .teams
            .map
            .iter()
            .map(|(group, team)| ("directory.teams.map", group, team))
            .chain(
                self.forge_teams
                    .iter()
                    .map(|(handle, team)| ("directory.forge_teams", handle, team)),
            );
        for (key, from, team) in named {
            if !in_catalog_form(team) {
                return Err(format!(
                    "{key}: {from:?} = {team:?}: a team name is 1–63 lower case letters and digits, with single - . or _ between them (payments-core)"
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for source in &self.ldap {
            source.check()?;
            if !seen.insert(source.name.to_lowercase()) {
                return Err(format!(
                    "directory.ldap: two sources are named {:?}; each needs its own name",
                    source.name
                ));
            }
        }
        Ok(())
    }

    /// Whether any directory is connected (SCIM or LDAP).
    pub fn connected(&self) -> bool {
        !self.ldap.is_empty()
            || std::env::var("USHER_SCIM_TOKEN").is_ok_and(|t| !t.trim().is_empty())
    }
}

/// A name as the catalog writes them: lower case letters and digits with
/// single `-`, `.` or `_` between them, at most 63 characters.
fn in_catalog_form(name: &str) -> bool {
    let separators = |c: char| matches!(c, '-' | '.' | '_');
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || separators(c))
        && !name.starts_with(separators)
        && !name.ends_with(separators)
        && !name
            .as_bytes()
            .windows(2)
            .any(|w| separators(w[0] as char) && separators(w[1] as char))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const SOURCE: &str = "[[directory.ldap]]\nname = \"corp\"\nurl = \"ldaps://ldap.example.com\"\nbind_dn = \"cn=usher\"\nbind_password_env = \"LDAP_PASSWORD\"\n[[directory.ldap.users]]\nbase_dn = \"ou=people,dc=example,dc=com\"\n";

    #[test]
    fn an_ldap_source_with_defaults() {
        let config = Config::from_toml(SOURCE).unwrap();
        let source = &config.directory.ldap[0];
        assert_eq!(source.key(), "ldap:corp");
        assert_eq!(
            (source.page_size, source.schedule.as_str()),
            (500, "0 * * * *")
        );
        assert_eq!(source.users[0].map.name, "uid");
    }

    #[test]
    fn mistakes_say_what_to_do() {
        let clear = SOURCE.replace("ldaps://", "ldap://").replace(
            "[[directory.ldap.users]]",
            "starttls = false\n[[directory.ldap.users]]",
        );
        let err = Config::from_toml(&clear).unwrap_err();
        assert!(err.contains("in the clear"), "{err}");
        let err =
            Config::from_toml(&format!("{SOURCE}filter = \"objectClass=person\"\n")).unwrap_err();
        assert!(err.contains("in parentheses"), "{err}");
        let err = Config::from_toml(
            "[directory.teams.map]\n\"Payments Engineers\" = \"Payments Team\"\n",
        )
        .unwrap_err();
        assert!(err.contains("lower case"), "{err}");
        let err = Config::from_toml("[directory.teams]\npattern = \"(\"\n").unwrap_err();
        assert!(err.contains("not a regular expression"), "{err}");
        let err = Config::from_toml("[directory]\npeople = \"slack\"\n").unwrap_err();
        assert!(err.contains("people") || err.contains("slack"), "{err}");
        let err = Config::from_toml(&format!("{SOURCE}{SOURCE}")).unwrap_err();
        assert!(err.contains("two sources"), "{err}");
    }
}
