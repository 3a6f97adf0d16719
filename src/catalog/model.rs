//! The catalog's vocabulary: entity kinds, references and the naming rules,
//! as Backstage defines them. Validated once, at the edge, then trusted.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The entity kinds usher stores. `Template` is kept verbatim, not
/// interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Component,
    Api,
    Resource,
    System,
    Domain,
    Group,
    User,
    Location,
    Template,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Component,
        Kind::Api,
        Kind::Resource,
        Kind::System,
        Kind::Domain,
        Kind::Group,
        Kind::User,
        Kind::Location,
        Kind::Template,
    ];

    /// Kinds that have an owner and answer `owner <name>`.
    pub const OWNED: [Kind; 5] = [
        Kind::Component,
        Kind::Api,
        Kind::Resource,
        Kind::System,
        Kind::Domain,
    ];

    /// The lower-case form used in refs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Component => "component",
            Kind::Api => "api",
            Kind::Resource => "resource",
            Kind::System => "system",
            Kind::Domain => "domain",
            Kind::Group => "group",
            Kind::User => "user",
            Kind::Location => "location",
            Kind::Template => "template",
        }
    }

    /// The form Backstage writes in `kind:` fields.
    pub fn backstage_name(self) -> &'static str {
        match self {
            Kind::Component => "Component",
            Kind::Api => "API",
            Kind::Resource => "Resource",
            Kind::System => "System",
            Kind::Domain => "Domain",
            Kind::Group => "Group",
            Kind::User => "User",
            Kind::Location => "Location",
            Kind::Template => "Template",
        }
    }

    /// Kinds are case-insensitive in references (`Group:x` = `group:x`).
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to an entity: `kind:namespace/name`. Compared
/// case-insensitively; [`EntityRef::key`] is the canonical lower-case form
/// stored in the database.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

pub const DEFAULT_NAMESPACE: &str = "default";

/// Why a reference could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("is empty")]
    Empty,
    #[error(
        "has no kind, and this field has no default kind; write it as kind:name, e.g. component:{0}"
    )]
    MissingKind(String),
    #[error(
        "names the unknown kind '{0}'; use one of component, api, resource, system, domain, group, user"
    )]
    UnknownKind(String),
    #[error("is not of the form [kind:][namespace/]name")]
    Malformed,
}

impl EntityRef {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        EntityRef {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// Parses `name`, `kind:name`, `namespace/name` or `kind:namespace/name`.
    /// A missing kind takes `default_kind`; a missing namespace takes
    /// `default_namespace` (Backstage's rule: the referring entity's own).
    pub fn parse(
        text: &str,
        default_kind: Option<Kind>,
        default_namespace: &str,
    ) -> Result<EntityRef, RefError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(RefError::Empty);
        }
        let (kind, rest) = match text.split_once(':') {
            Some((kind, rest)) => (
                Kind::parse(kind).ok_or_else(|| RefError::UnknownKind(kind.to_string()))?,
                rest,
            ),
            None => (
                default_kind.ok_or_else(|| RefError::MissingKind(text.to_string()))?,
                text,
            ),
        };
        let (namespace, name) = match rest.split_once('/') {
            Some((ns, name)) => (ns, name),
            None => (default_namespace, rest),
        };
        if name.is_empty() || namespace.is_empty() || name.contains(['/', ':']) {
            return Err(RefError::Malformed);
        }
        Ok(EntityRef::new(kind, namespace, name))
    }

    /// The canonical lower-case `kind:namespace/name`.
    pub fn key(&self) -> String {
        format!("{}:{}/{}", self.kind.as_str(), self.namespace, self.name).to_lowercase()
    }

    /// The short form people read: `payments-api`, or `ns/payments-api`
    /// outside the default namespace.
    pub fn short(&self) -> String {
        if self.namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// Parses the canonical form stored in the database.
    pub fn from_key(key: &str) -> Option<EntityRef> {
        let (kind, rest) = key.split_once(':')?;
        let (namespace, name) = rest.split_once('/')?;
        Some(EntityRef::new(Kind::parse(kind)?, namespace, name))
    }
}

impl Serialize for EntityRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.key())
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// Backstage's rule for `metadata.name`: 1–63 characters of
/// `[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]`. Returns what is wrong.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.len() > 63 {
        return Err(format!(
            "is {} characters long; the limit is 63",
            name.len()
        ));
    }
    let bytes = name.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_alphanumeric();
    if !edge_ok(bytes[0]) || !edge_ok(bytes[bytes.len() - 1]) {
        return Err("must start and end with a letter or digit".to_string());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "contains '{bad}'; only letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    Ok(())
}

/// Backstage's rule for `metadata.namespace`: a DNS label, lower case.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    if namespace.is_empty() || namespace.len() > 63 {
        return Err("must be 1–63 characters".to_string());
    }
    let ok = namespace
        .split('-')
        .filter(|part| !part.is_empty())
        .all(|part| {
            part.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("must be lower-case letters and digits separated by '-', e.g. 'payments'".to_string())
    }
}

/// Backstage's rule for tags: `[a-z0-9:+#]+(-[a-z0-9:+#]+)*`, ≤ 63.
pub fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.len() > 63 {
        return Err("must be 1–63 characters".to_string());
    }
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b':' | b'+' | b'#')
            })
    };
    if tag.split('-').all(part_ok) {
        Ok(())
    } else {
        Err(
            "must be lower-case letters, digits, ':', '+' or '#', separated by single '-'"
                .to_string(),
        )
    }
}

/// Backstage's rule for annotation and label keys: an optional DNS-name
/// prefix and '/', then a name of 1–63 `[a-z0-9A-Z]` with `-_.` inside.
pub fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if prefix.is_empty() || prefix.len() > 253 || !prefix.split('.').all(label_ok) {
            return Err(format!(
                "has the prefix '{prefix}', which is not a valid DNS name"
            ));
        }
    }
    check_name(name).map_err(|why| format!("name part '{name}' {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_in_all_their_forms() {
        let g = |t| {
            EntityRef::parse(t, Some(Kind::Group), "default")
                .unwrap()
                .key()
        };
        assert_eq!(g("team-a"), "group:default/team-a");
        assert_eq!(g("group:team-a"), "group:default/team-a");
        assert_eq!(g("group:default/team-a"), "group:default/team-a");
        assert_eq!(g("default/team-a"), "group:default/team-a");
        assert_eq!(g("User:Jane.Doe"), "user:default/jane.doe");
        // The namespace defaults to the referring entity's own.
        let r = EntityRef::parse("team-a", Some(Kind::Group), "devex").unwrap();
        assert_eq!(r.key(), "group:devex/team-a");
        assert_eq!(
            EntityRef::parse("x", None, "default"),
            Err(RefError::MissingKind("x".into()))
        );
        assert!(matches!(
            EntityRef::parse("robot:x", None, "default"),
            Err(RefError::UnknownKind(_))
        ));
        assert_eq!(
            EntityRef::parse("a/b/c", Some(Kind::Group), "default"),
            Err(RefError::Malformed)
        );
    }

    #[test]
    fn naming_rules() {
        assert!(check_name("payments-api").is_ok());
        assert!(check_name("LoremService").is_ok());
        assert!(check_name("a").is_ok());
        assert!(check_name("-a").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"a".repeat(64)).is_err());
        assert!(check_namespace("devex").is_ok());
        assert!(check_namespace("DevEx").is_err());
        assert!(check_tag("java").is_ok());
        assert!(check_tag("c++").is_ok());
        assert!(check_tag("Java").is_err());
        assert!(check_key("backstage.io/techdocs-ref").is_ok());
        assert!(check_key("jira/project-key").is_ok());
        assert!(check_key("docs").is_ok());
        assert!(check_key("bad key").is_err());
    }
}
