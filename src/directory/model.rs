//! The directory as the catalog sees it, whatever the source: people and
//! groups per source ([`Source`]), and how they become the catalog's
//! Users and teams ([`compose`]) — the same person across sources matched
//! by email, groups mapped to teams by `[directory.teams]`, nested groups
//! resolved, and who wins where a descriptor describes the same person or
//! team (`[directory] people` and `membership`).
//!
//! Pure: everything it needs from the database comes in [`Known`], so it
//! is tested without one. Nesting is walked with explicit stacks and a
//! visited set: a directory is outside input, and a cycle or a deep chain
//! of groups must not overflow or loop.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{Authority, DirectoryConfig, TeamMapping};

/// A person as one source gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The source's key for them: a normalised DN, a SCIM id.
    pub key: String,
    /// The name they go by there (`uid`, `sAMAccountName`, `userName`).
    pub name: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    /// Keys of groups the source says they are in (`memberOf`).
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A group as one source gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub key: String,
    /// Its name, as the team mapping sees it (`cn`, `displayName`).
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Keys of people or groups in it, or people's names (`memberUid`).
    #[serde(default)]
    pub members: Vec<String>,
}

/// What one source gave: `scim`, `ldap:corp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    #[serde(skip)]
    pub name: String,
    pub people: Vec<Person>,
    pub groups: Vec<Group>,
}

/// What the catalog already holds that the composition must respect.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Every catalog person's name by lower-case email: the directory
    /// keeps a person's catalog name when it finds them by email.
    pub names_by_email: HashMap<String, String>,
    /// People a location other than the directory defines (by name).
    pub foreign_people: HashSet<String>,
    /// Teams a location other than the directory defines (by name).
    pub foreign_teams: HashSet<String>,
}

/// A DN in one form, so `CN=Jane Doe, OU=People,DC=Example` and
/// `cn=jane doe,ou=people,dc=example` are the same entry: lower case,
/// no spaces around the separators.
pub fn normalise_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut escaped = false;
    // Just after an unescaped separator: spaces here are dropped.
    let mut after_separator = false;
    // Where the value's trailing spaces would start (unescaped ones).
    let mut kept = 0;
    for c in dn.trim().chars() {
        if !escaped && matches!(c, ',' | '=' | '+') {
            out.truncate(kept);
            out.push(c);
            kept = out.len();
            after_separator = true;
            continue;
        }
        if !escaped && c == ' ' && after_separator {
            continue;
        }
        after_separator = false;
        let was_escaped = escaped;
        escaped = !was_escaped && c == '\\';
        out.extend(c.to_lowercase());
        if c != ' ' || was_escaped {
            kept = out.len();
        }
    }
    out
}

/// A name in catalog form: lower case letters, digits and single `-`, `.`
/// or `_` between them, at most 63 characters.
pub fn catalog_name(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().to_lowercase().chars() {
        let separator = matches!(c, '.' | '_' | '-');
        if c.is_ascii_alphanumeric()
            || (separator && !out.is_empty() && !out.ends_with(['.', '_', '-']))
        {
            out.push(c);
        } else if !separator && !out.is_empty() && !out.ends_with(['.', '_', '-']) {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(63).collect();
    while out.ends_with(['.', '_', '-']) {
        out.pop();
    }
    out
}

/// Unique names, first come first served: `jane`, `jane-2`.
fn unique(base: String, taken: &mut HashSet<String>) -> String {
    let base = if base.is_empty() {
        "unnamed".to_string()
    } else {
        base
    };
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        let suffix = format!("-{n}");
        name = format!("{}{suffix}", &base[..base.len().min(63 - suffix.len())]);
        n += 1;
    }
    name
}

/// The team a directory group becomes, if any.
pub fn team_for(
    mapping: &TeamMapping,
    pattern: Option<&regex_lite::Regex>,
    group: &str,
) -> Option<String> {
    if !mapping.map.is_empty() {
        return mapping
            .map
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(group.trim()))
            .map(|(_, team)| team.clone());
    }
    let name = match pattern {
        Some(pattern) => {
            let found = pattern.captures(group)?;
            found
                .get(1)
                .or_else(|| found.get(0))
                .map(|m| m.as_str().to_string())?
        }
        None => group.to_string(),
    };
    Some(catalog_name(&name)).filter(|n| !n.is_empty())
}

/// One person across sources.
struct Merged {
    person: Person,
    sources: Vec<String>,
    active: bool,
    teams: Vec<String>,
}

/// A team and what the directory says about it.
#[derive(Default)]
struct Team {
    title: String,
    description: Option<String>,
    parent: Option<String>,
    sources: Vec<String>,
}

/// What [`compose`] made: the documents, and figures for status.
#[derive(Debug, Default)]
pub struct Composed {
    pub documents: Vec<Value>,
    pub people: usize,
    pub teams: usize,
    /// Members named by a group that its source doesn't have (outside the
    /// searched base DNs, say).
    pub unknown_members: usize,
}

/// The directory as descriptor documents (teams first, then people).
pub fn compose(sources: &[Source], config: &DirectoryConfig, known: &Known) -> Composed {
    let pattern = config
        .teams
        .pattern
        .as_deref()
        .and_then(|p| regex_lite::Regex::new(p).ok());
    let mut composed = Composed::default();
    // People, merged across sources by email (else one per source entry).
    let mut merged: Vec<Merged> = Vec::new();
    let mut by_identity: HashMap<String, usize> = HashMap::new();
    let mut person_index: HashMap<(usize, &str), usize> = HashMap::new();
    for (s, source) in sources.iter().enumerate() {
        for person in &source.people {
            let identity = match &person.email {
                Some(email) if !email.trim().is_empty() => email.trim().to_lowercase(),
                _ => format!("{}\u{0}{}", source.name, person.key),
            };
            let at = *by_identity.entry(identity).or_insert_with(|| {
                merged.push(Merged {
                    person: person.clone(),
                    sources: Vec::new(),
                    active: false,
                    teams: Vec::new(),
                });
                merged.len() - 1
            });
            let m = &mut merged[at];
            if !m.sources.contains(&source.name) {
                m.sources.push(source.name.clone());
            }
            // Active where any source that knows them says so: someone
            // moving from one directory to another isn't a leaver.
            m.active |= person.active;
            m.person.display_name = m.person.display_name.take().or(person.display_name.clone());
            person_index.insert((s, person.key.as_str()), at);
        }
    }

    // Teams and memberships, per source.
    let mut teams: BTreeMap<String, Team> = BTreeMap::new();
    for (s, source) in sources.iter().enumerate() {
        let groups: HashMap<&str, &Group> =
            source.groups.iter().map(|g| (g.key.as_str(), g)).collect();
        let by_name: HashMap<String, &str> = source
            .people
            .iter()
            .map(|p| (p.name.to_lowercase(), p.key.as_str()))
            .collect();
        let team_of: HashMap<&str, String> = source
            .groups
            .iter()
            .filter_map(|g| {
                Some((
                    g.key.as_str(),
                    team_for(&config.teams, pattern.as_ref(), &g.name)?,
                ))
            })
            .collect();
        // Groups that contain each group, for people who only say which
        // groups they are in.
        let mut containers: HashMap<&str, Vec<&str>> = HashMap::new();
        for group in &source.groups {
            for member in &group.members {
                if let Some((inner, _)) = groups.get_key_value(member.as_str()) {
                    containers
                        .entry(inner)
                        .or_default()
                        .push(group.key.as_str());
                }
            }
        }
        let mut join = |person: usize, team: &str| {
            let teams = &mut merged[person].teams;
            if !teams.iter().any(|t| t == team) {
                teams.push(team.to_string());
            }
        };
        for group in &source.groups {
            let Some(team) = team_of.get(group.key.as_str()) else {
                continue;
            };
            let entry = teams.entry(team.clone()).or_default();
            if entry.title.is_empty() {
                entry.title = group.name.clone();
                entry.description = group.description.clone();
            }
            if !entry.sources.contains(&source.name) {
                entry.sources.push(source.name.clone());
            }
            // Everyone in the group and in nested groups that aren't teams
            // themselves; a nested team is a child team instead.
            let mut stack: Vec<&str> = vec![group.key.as_str()];
            let mut seen: HashSet<&str> = HashSet::new();
            let mut children: Vec<String> = Vec::new();
            while let Some(key) = stack.pop() {
                if !seen.insert(key) {
                    continue;
                }
                for member in &groups[key].members {
                    let member = member.as_str();
                    if let Some(inner) = groups.get(member) {
                        match team_of.get(inner.key.as_str()) {
                            Some(other) if other != team => children.push(other.clone()),
                            _ => stack.push(inner.key.as_str()),
                        }
                    } else if let Some(&p) = person_index.get(&(s, member)).or_else(|| {
                        by_name
                            .get(&member.to_lowercase())
                            .and_then(|k| person_index.get(&(s, *k)))
                    }) {
                        join(p, team);
                    } else {
                        composed.unknown_members += 1;
                    }
                }
            }
            for child in children {
                let child = teams.entry(child).or_default();
                child.parent.get_or_insert_with(|| team.clone());
            }
        }
        // People who say which groups they are in: the teams those are,
        // or the nearest teams that contain them.
        for person in &source.people {
            let p = person_index[&(s, person.key.as_str())];
            for group in &person.groups {
                let mut stack: Vec<&str> = vec![group.as_str()];
                let mut seen: HashSet<&str> = HashSet::new();
                while let Some(key) = stack.pop() {
                    if !seen.insert(key) || !groups.contains_key(key) {
                        continue;
                    }
                    match team_of.get(key) {
                        Some(team) => join(p, team),
                        None => stack.extend(containers.get(key).into_iter().flatten()),
                    }
                }
            }
        }
    }
    // A child team whose parent never appeared as a group of its own.
    teams.retain(|_, t| !t.title.is_empty() || t.parent.is_some());
    for team in teams.values_mut() {
        if team.title.is_empty() {
            team.title
                .clone_from(&team.parent.clone().unwrap_or_default());
        }
    }

    // Names. A person's own name (their name in the source in catalog
    // form, an email's local part) comes first; the catalog's name for
    // someone with the same email is kept unless another person in the
    // directory goes by that name — otherwise a descriptor could name
    // itself after someone (an admin) with its author's email, and the
    // directory would confirm it. Where descriptors win for people, their
    // names are taken; where the directory wins, a descriptor's person of
    // the same name is the directory's.
    let own: Vec<String> = merged
        .iter()
        .map(|m| catalog_name(m.person.name.split('@').next().unwrap_or(&m.person.name)))
        .collect();
    let mut wanted: HashMap<&str, usize> = HashMap::new();
    for (i, name) in own.iter().enumerate() {
        wanted.entry(name.as_str()).or_insert(i);
    }
    // (A descriptor's person with an email of their own is someone else;
    // one without is the same person by name.)
    let mut taken: HashSet<String> = match config.people {
        Authority::Descriptors => known
            .names_by_email
            .values()
            .filter(|n| known.foreign_people.contains(*n))
            .cloned()
            .collect(),
        Authority::Directory => HashSet::new(),
    };
    let mut names: Vec<Option<String>> = vec![None; merged.len()];
    let mut adopted: HashSet<&str> = HashSet::new();
    for (i, m) in merged.iter().enumerate() {
        let existing = m
            .person
            .email
            .as_ref()
            .and_then(|e| known.names_by_email.get(&e.trim().to_lowercase()));
        if let Some(name) = existing
            && wanted.get(name.as_str()).is_none_or(|&j| j == i)
            && adopted.insert(name.as_str())
        {
            taken.insert(name.clone());
            names[i] = Some(name.clone());
        }
    }
    // Names adopted by email stay theirs.
    let names: Vec<String> = names
        .into_iter()
        .zip(own)
        .map(|(name, own)| name.unwrap_or_else(|| unique(own, &mut taken)))
        .collect();

    // Who wins: a team a descriptor defines keeps its document; its
    // members come from the directory only when the directory is the
    // authority for membership. A person a descriptor defines is the
    // directory's when it is the authority for people.
    let team_members_from_directory = |team: &str| {
        !known.foreign_teams.contains(team) || config.membership == Authority::Directory
    };
    let mut group_members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut users = Vec::new();
    for (m, name) in merged.iter().zip(&names) {
        let member_of: Vec<&String> = m
            .teams
            .iter()
            .filter(|t| teams.contains_key(*t) && team_members_from_directory(t))
            .collect();
        if known.foreign_people.contains(name) && config.people == Authority::Descriptors {
            // The descriptor's person stays; the directory still says
            // which of its own teams they are in.
            for team in member_of {
                if !known.foreign_teams.contains(team) && m.active {
                    group_members.entry(team).or_default().push(name.clone());
                }
            }
            continue;
        }
        let mut annotations = json!({ "usher.dev/source": m.sources.join(", ") });
        if m.sources.first().is_some_and(|s| s == "scim") {
            // The person as first seen is SCIM's: their key is its id.
            annotations["usher.dev/scim-id"] = json!(m.person.key);
        }
        if !m.active {
            annotations["usher.dev/active"] = json!("false");
        }
        let mut profile = json!({});
        if let Some(email) = &m.person.email {
            profile["email"] = json!(email.trim());
        }
        if let Some(display) = &m.person.display_name {
            profile["displayName"] = json!(display);
        }
        users.push(json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "User",
            "metadata": { "name": name, "annotations": annotations },
            "spec": { "profile": profile, "memberOf": member_of },
        }));
    }
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, team) in &teams {
        if let Some(parent) = &team.parent {
            children
                .entry(parent.as_str())
                .or_default()
                .push(name.as_str());
        }
    }
    let mut docs = Vec::new();
    for (name, team) in &teams {
        if known.foreign_teams.contains(name) {
            continue;
        }
        let mut spec = json!({
            "type": "team",
            "children": children.get(name.as_str()).cloned().unwrap_or_default(),
        });
        if let Some(parent) = &team.parent {
            spec["parent"] = json!(parent);
        }
        if let Some(members) = group_members.get(name.as_str()) {
            spec["members"] = json!(members);
        }
        let mut metadata = json!({
            "name": name, "title": team.title,
            "annotations": { "usher.dev/source": team.sources.join(", ") },
        });
        if let Some(description) = team.description.as_ref().filter(|d| !d.trim().is_empty()) {
            metadata["description"] = json!(description);
        }
        docs.push(json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Group",
            "metadata": metadata, "spec": spec,
        }));
    }
    composed.teams = docs.len();
    composed.people = users.len();
    docs.extend(users);
    composed.documents = docs;
    composed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(key: &str, name: &str, email: Option<&str>, active: bool) -> Person {
        Person {
            key: key.into(),
            name: name.into(),
            email: email.map(str::to_string),
            display_name: None,
            active,
            groups: Vec::new(),
        }
    }

    fn group(key: &str, name: &str, members: &[&str]) -> Group {
        Group {
            key: key.into(),
            name: name.into(),
            description: None,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn doc<'a>(c: &'a Composed, kind: &str, name: &str) -> &'a Value {
        c.documents
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in {:#?}", c.documents))
    }

    #[test]
    fn names_in_catalog_form() {
        assert_eq!(catalog_name("Payments Team"), "payments-team");
        assert_eq!(catalog_name("  SRE / On-call  "), "sre-on-call");
        assert_eq!(catalog_name("jane.doe"), "jane.doe");
        assert_eq!(catalog_name("__x__"), "x");
        let mut taken = HashSet::new();
        assert_eq!(unique("jane".into(), &mut taken), "jane");
        assert_eq!(unique("jane".into(), &mut taken), "jane-2");
    }

    #[test]
    fn dns_compare_in_one_form() {
        assert_eq!(
            normalise_dn(" CN=Jane Doe, OU=People ,DC=Example"),
            "cn=jane doe,ou=people,dc=example"
        );
        assert_eq!(normalise_dn("cn=a\\, b,dc=x"), "cn=a\\, b,dc=x");
        assert_eq!(normalise_dn("cn=a\\ ,dc=x"), "cn=a\\ ,dc=x");
        assert_eq!(normalise_dn("CN=Ops Team ,DC=X"), "cn=ops team,dc=x");
    }

    #[test]
    fn nested_groups_become_child_teams_or_count_for_their_team() {
        let source = Source {
            name: "ldap:corp".into(),
            people: vec![
                person("uid=ann", "ann", Some("ann@x.com"), true),
                person("uid=bob", "bob", Some("bob@x.com"), true),
                person("uid=cat", "cat", None, true),
            ],
            groups: vec![
                group(
                    "cn=platform",
                    "Platform",
                    &["uid=ann", "cn=sre", "cn=contractors"],
                ),
                group("cn=sre", "SRE", &["uid=bob", "cn=platform"]),
                group("cn=contractors", "contractors", &["cat"]),
            ],
        };
        let mut config = DirectoryConfig::default();
        config.teams.pattern = Some("^(Platform|SRE)$".into());
        let c = compose(&[source], &config, &Known::default());
        assert_eq!(c.teams, 2);
        assert_eq!(doc(&c, "Group", "sre")["spec"]["parent"], "platform");
        assert_eq!(
            doc(&c, "Group", "platform")["spec"]["children"],
            json!(["sre"])
        );
        assert_eq!(doc(&c, "User", "bob")["spec"]["memberOf"], json!(["sre"]));
        // cat is in contractors (not a team, by name) inside platform.
        assert_eq!(
            doc(&c, "User", "cat")["spec"]["memberOf"],
            json!(["platform"])
        );
    }

    #[test]
    fn one_person_across_sources_by_email_and_the_catalogs_name_kept() {
        let a = Source {
            name: "scim".into(),
            people: vec![person("1", "jdoe@x.com", Some("Jane@X.com"), false)],
            groups: vec![],
        };
        let mut jane = person("cn=jane", "jane", Some("jane@x.com"), true);
        jane.groups = vec!["cn=ops".into()];
        let b = Source {
            name: "ldap:corp".into(),
            people: vec![jane],
            groups: vec![group("cn=ops", "Ops", &[])],
        };
        let known = Known {
            names_by_email: HashMap::from([("jane@x.com".into(), "jane.doe".into())]),
            ..Known::default()
        };
        let c = compose(&[a, b], &DirectoryConfig::default(), &known);
        assert_eq!(c.people, 1);
        let jane = doc(&c, "User", "jane.doe");
        assert_eq!(
            jane["metadata"]["annotations"]["usher.dev/source"],
            "scim, ldap:corp"
        );
        assert!(
            jane["metadata"]["annotations"]
                .get("usher.dev/active")
                .is_none()
        );
        assert_eq!(jane["spec"]["memberOf"], json!(["ops"]));
    }

    #[test]
    fn who_wins_where_descriptors_describe_the_same() {
        let source = Source {
            name: "ldap:corp".into(),
            people: vec![person("uid=ann", "ann", None, true)],
            groups: vec![
                group("cn=pay", "payments", &["uid=ann"]),
                group("cn=web", "web", &["uid=ann"]),
            ],
        };
        let known = Known {
            foreign_people: HashSet::from(["ann".to_string()]),
            foreign_teams: HashSet::from(["payments".to_string()]),
            ..Known::default()
        };
        let mut config = DirectoryConfig::default();
        let c = compose(std::slice::from_ref(&source), &config, &known);
        // The descriptor keeps the team; the directory says who's in it.
        assert!(
            c.documents
                .iter()
                .all(|d| d["metadata"]["name"] != "payments")
        );
        assert_eq!(
            doc(&c, "User", "ann")["spec"]["memberOf"],
            json!(["payments", "web"])
        );
        config.people = Authority::Descriptors;
        config.membership = Authority::Descriptors;
        let c = compose(&[source], &config, &known);
        assert!(c.documents.iter().all(|d| d["kind"] != "User"));
        assert_eq!(doc(&c, "Group", "web")["spec"]["members"], json!(["ann"]));
    }

    #[test]
    fn a_descriptor_cant_name_someone_after_another_person() {
        // A descriptor made a User "jane" with mallory's email: the
        // directory's jane is jane, mallory is mallory.
        let source = Source {
            name: "ldap:corp".into(),
            people: vec![
                person("uid=mallory", "mallory", Some("mallory@x.com"), true),
                person("uid=jane", "jane", Some("jane@x.com"), true),
            ],
            groups: vec![],
        };
        let known = Known {
            names_by_email: HashMap::from([("mallory@x.com".into(), "jane".into())]),
            foreign_people: HashSet::from(["jane".to_string()]),
            ..Known::default()
        };
        let c = compose(
            std::slice::from_ref(&source),
            &DirectoryConfig::default(),
            &known,
        );
        assert_eq!(
            doc(&c, "User", "jane")["spec"]["profile"]["email"],
            "jane@x.com"
        );
        assert_eq!(
            doc(&c, "User", "mallory")["spec"]["profile"]["email"],
            "mallory@x.com"
        );
        // Where descriptors win for people, the directory's jane is jane-2.
        let config = DirectoryConfig {
            people: Authority::Descriptors,
            ..DirectoryConfig::default()
        };
        let c = compose(&[source], &config, &known);
        assert_eq!(
            doc(&c, "User", "jane-2")["spec"]["profile"]["email"],
            "jane@x.com"
        );
    }

    #[test]
    fn an_explicit_map_names_exactly_its_groups() {
        let mut config = DirectoryConfig::default();
        config.teams.map =
            BTreeMap::from([("Payments Engineers".to_string(), "payments".to_string())]);
        assert_eq!(
            team_for(&config.teams, None, "payments engineers").as_deref(),
            Some("payments")
        );
        assert_eq!(team_for(&config.teams, None, "Everyone"), None);
        let pattern = regex_lite::Regex::new("^eng-(.+)$").unwrap();
        let all = TeamMapping::default();
        assert_eq!(
            team_for(&all, Some(&pattern), "eng-Web Apps").as_deref(),
            Some("web-apps")
        );
        assert_eq!(team_for(&all, Some(&pattern), "sales"), None);
        assert_eq!(
            team_for(&all, None, "Sales & Ops").as_deref(),
            Some("sales-ops")
        );
    }

    #[test]
    fn cycles_and_long_chains_end() {
        let mut groups: Vec<Group> = (0..50_000)
            .map(|i| {
                group(
                    &format!("g{i}"),
                    &format!("g{i}"),
                    &[&format!("g{}", i + 1)],
                )
            })
            .collect();
        groups.push(group("g50000", "g50000", &["g0", "uid=x"]));
        let source = Source {
            name: "ldap:x".into(),
            people: vec![person("uid=x", "x", None, true)],
            groups,
        };
        let mut config = DirectoryConfig::default();
        config.teams.pattern = Some("^g0$".into());
        let c = compose(&[source], &config, &Known::default());
        assert_eq!(doc(&c, "User", "x")["spec"]["memberOf"], json!(["g0"]));
    }
}
