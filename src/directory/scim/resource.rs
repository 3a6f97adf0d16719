//! SCIM resources as the protocol shows them: the stored attributes plus
//! `id`, `schemas` and `meta` (resource type, created, last modified,
//! location, version as a weak ETag), cut to what `attributes` or
//! `excludedAttributes` ask for.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Users or Groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    pub fn schema(self) -> &'static str {
        match self {
            Kind::User => USER,
            Kind::Group => GROUP,
        }
    }

    /// The attribute that names it, unique without regard to case.
    pub fn name_attribute(self) -> &'static str {
        match self {
            Kind::User => "userName",
            Kind::Group => "displayName",
        }
    }
}

/// A resource as stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub kind: Kind,
    pub data: Value,
    pub version: i32,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

impl Stored {
    /// Its weak ETag.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }

    /// As the protocol shows it; `base` is `https://host/scim/v2`.
    pub fn render(&self, base: &str) -> Value {
        let mut object = match &self.data {
            Value::Object(o) => o.clone(),
            _ => Map::new(),
        };
        object.insert("id".into(), Value::String(self.id.clone()));
        let schemas = object.entry("schemas").or_insert_with(|| json!([]));
        if let Value::Array(list) = schemas
            && !list.iter().any(|s| s == self.kind.schema())
        {
            list.insert(0, Value::String(self.kind.schema().into()));
        }
        object.insert(
            "meta".into(),
            json!({
                "resourceType": self.kind.as_str(),
                "created": self.created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "lastModified": self.modified.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "location": format!("{base}/{}/{}", self.kind.endpoint(), self.id),
                "version": self.etag(),
            }),
        );
        Value::Object(object)
    }
}

/// An attribute of a resource (a JSON object), by name without regard to
/// case, as SCIM names attributes.
pub fn attribute<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A query parameter, by name without regard to case.
pub fn query_param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What a client may set: everything but `id` and `meta` (the server's).
pub fn writable(mut body: Value) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.retain(|k, _| !k.eq_ignore_ascii_case("id") && !k.eq_ignore_ascii_case("meta"));
    }
    body
}

/// `attributes=a,b.c` keeps those (and `id`, `schemas`, `meta`);
/// `excludedAttributes=x` drops them. Names without regard to case.
pub fn project(resource: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(object) = resource else {
        return resource;
    };
    let always = ["id", "schemas", "meta"];
    let top = |path: &String| {
        let path = path.rsplit_once(':').map(|(_, p)| p).unwrap_or(path);
        path.split('.').next().unwrap_or(path).to_ascii_lowercase()
    };
    let kept: Map<String, Value> = if !attributes.is_empty() {
        let wanted: Vec<String> = attributes.iter().map(top).collect();
        object
            .into_iter()
            .filter(|(k, _)| {
                always.contains(&k.as_str())
                    || wanted.contains(&k.to_ascii_lowercase())
                    || k.starts_with("urn:")
            })
            .collect()
    } else if !excluded.is_empty() {
        let dropped: Vec<String> = excluded.iter().map(top).collect();
        object
            .into_iter()
            .filter(|(k, _)| {
                always.contains(&k.as_str()) || !dropped.contains(&k.to_ascii_lowercase())
            })
            .collect()
    } else {
        object
    };
    Value::Object(kept)
}

/// A comma-separated list parameter.
pub fn list_param(text: Option<&str>) -> Vec<String> {
    text.map(|t| {
        t.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .take(100)
            .collect()
    })
    .unwrap_or_default()
}
