//! Validation of one descriptor document, following Backstage's schemas
//! (`apiVersion`, `kind`, required fields per kind, the naming rules) plus
//! usher's own checks (unknown lifecycles). Every problem names the field,
//! the line and the offending value, and says what to write instead.
//!
//! Checks that need more than one document (duplicates in a location,
//! dangling references, names that clash by case) live in
//! [`super::loader`] and [`super::import`].

mod spec;

use serde_json::{Map, Value};
use spec::check_spec;

use super::entity::{
    Entity, KNOWN_LANGUAGES, Link, LinkCategory, LocationTarget, Relation, RotationSpec,
    normalise_language, normalise_tier,
};
use super::model::{
    DEFAULT_NAMESPACE, EntityRef, Kind, check_key, check_name, check_namespace, check_tag,
};
use super::problem::{Problem, quote, quote_json};
use super::yaml::{YamlDoc, child_path, index_path};

/// Settings validation depends on.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Lifecycle values that are not warned about.
    pub lifecycles: Vec<String>,
}

impl Rules {
    /// The rules the configuration sets.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Rules {
            lifecycles: config.catalog.lifecycles.clone(),
        }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            lifecycles: vec![
                "experimental".into(),
                "production".into(),
                "deprecated".into(),
            ],
        }
    }
}

/// The outcome for one document: the entity when it has no errors, and
/// every problem found (errors and warnings).
#[derive(Debug)]
pub struct Checked {
    pub entity: Option<Entity>,
    /// The entity's ref and owner when they could be read, even if the
    /// document is invalid (so its previous version can be kept and the
    /// problem sent to the right team).
    pub eref: Option<EntityRef>,
    pub owner: Option<EntityRef>,
    pub problems: Vec<Problem>,
}

struct Ctx<'a> {
    doc: &'a YamlDoc,
    file: &'a str,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn line(&self, path: &str) -> Option<usize> {
        self.doc.lines.line(path).or(Some(self.doc.start_line))
    }

    fn error(&mut self, path: &str, message: impl Into<String>) {
        let line = self.line(path);
        self.problems
            .push(Problem::error(self.file, line, path, message));
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let line = self.line(path);
        self.problems
            .push(Problem::warning(self.file, line, path, message));
    }

    fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// A `$text`/`$json`/`$yaml` substitution left as written (a URL that could
/// not be fetched): it stands where a string is expected, and is kept.
fn is_placeholder(value: &Value) -> bool {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (key, target) = map.iter().next().expect("one entry");
            matches!(key.as_str(), "$text" | "$json" | "$yaml") && target.is_string()
        }
        _ => false,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a true/false value",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Reads an optional string field; wrong types are errors.
fn opt_string(
    ctx: &mut Ctx,
    parent: &Value,
    parent_path: &str,
    key: &str,
    what: &str,
) -> Option<String> {
    let path = child_path(parent_path, key);
    match parent.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => {
            ctx.error(&path, format!("is empty; write {what} or remove the field"));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) if is_placeholder(v) => None,
        Some(v) => {
            ctx.error(
                &path,
                format!(
                    "must be text ({what}), not {} {}",
                    type_name(v),
                    quote_json(v)
                ),
            );
            None
        }
    }
}

/// Reads a required string field.
fn req_string(
    ctx: &mut Ctx,
    parent: &Value,
    parent_path: &str,
    key: &str,
    what: &str,
) -> Option<String> {
    let present = parent.get(key).is_some_and(|v| !v.is_null());
    if !present {
        let path = child_path(parent_path, key);
        ctx.error(&path, format!("is required: add {key}: with {what}"));
        return None;
    }
    opt_string(ctx, parent, parent_path, key, what)
}

/// Reads an optional list of strings; each bad item is reported.
fn opt_string_list(
    ctx: &mut Ctx,
    parent: &Value,
    parent_path: &str,
    key: &str,
    what: &str,
) -> Vec<(String, String)> {
    let path = child_path(parent_path, key);
    match parent.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let item_path = index_path(&path, i);
                match item {
                    Value::String(s) if !s.trim().is_empty() => out.push((s.clone(), item_path)),
                    other => ctx.error(
                        &item_path,
                        format!(
                            "must be text ({what}), not {} {}",
                            type_name(other),
                            quote_json(other)
                        ),
                    ),
                }
            }
            out
        }
        Some(Value::String(s)) => {
            ctx.error(
                &path,
                format!(
                    "must be a list, not the single value {}; write it as [{s}] or as a '- ' item",
                    quote(s)
                ),
            );
            Vec::new()
        }
        Some(other) => {
            ctx.error(
                &path,
                format!(
                    "must be a list of {what}, not {} {}",
                    type_name(other),
                    quote_json(other)
                ),
            );
            Vec::new()
        }
    }
}

/// Parses a reference field, reporting a bad one.
fn reference(
    ctx: &mut Ctx,
    text: &str,
    path: &str,
    default_kind: Option<Kind>,
    namespace: &str,
) -> Option<EntityRef> {
    match EntityRef::parse(text, default_kind, namespace) {
        Ok(r) => {
            if let Err(why) = check_name(&r.name) {
                ctx.error(path, format!("refers to {}, whose name {why}", quote(text)));
                return None;
            }
            Some(r)
        }
        Err(why) => {
            ctx.error(path, format!("the reference {} {why}", quote(text)));
            None
        }
    }
}

fn annotation<'a>(annotations: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    annotations
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Validates one document of `file`.
pub fn check_document(doc: &YamlDoc, file: &str, rules: &Rules) -> Checked {
    let mut ctx = Ctx {
        doc,
        file,
        problems: Vec::new(),
    };
    for p in &doc.problems {
        ctx.problems.push(Problem::error(
            file,
            Some(p.line),
            &p.field,
            p.message.clone(),
        ));
    }
    let root = &doc.value;
    let Value::Object(top) = root else {
        ctx.error(
            "",
            format!(
                "a descriptor must be a mapping with apiVersion, kind, metadata and spec, not {}",
                type_name(root)
            ),
        );
        return Checked {
            entity: None,
            eref: None,
            owner: None,
            problems: ctx.problems,
        };
    };

    // kind and apiVersion
    let kind_text = req_string(
        &mut ctx,
        root,
        "",
        "kind",
        "the entity kind, e.g. Component",
    );
    let kind = kind_text.as_deref().and_then(|k| {
        let kind = Kind::parse(k);
        if kind.is_none() {
            ctx.error(
                "kind",
                format!(
                    "{} is not a kind usher knows; use one of Component, API, Resource, System, Domain, Group, User, Location, Template",
                    quote(k)
                ),
            );
        }
        kind
    });
    if let Some(k) = kind_text.as_deref()
        && kind.is_some()
        && Kind::parse(k).is_some_and(|kind| kind.backstage_name() != k)
    {
        let proper = Kind::parse(k).map(Kind::backstage_name).unwrap_or_default();
        ctx.warn(
            "kind",
            format!(
                "is written {}; Backstage expects {}",
                quote(k),
                quote(proper)
            ),
        );
    }
    if let Some(api_version) = req_string(
        &mut ctx,
        root,
        "",
        "apiVersion",
        "e.g. backstage.io/v1alpha1",
    ) {
        let ok = match kind {
            Some(Kind::Template) => api_version.starts_with("scaffolder.backstage.io/"),
            Some(_) => matches!(
                api_version.as_str(),
                "backstage.io/v1alpha1" | "backstage.io/v1beta1"
            ),
            None => true,
        };
        if !ok {
            let expected = if kind == Some(Kind::Template) {
                "scaffolder.backstage.io/v1beta3"
            } else {
                "backstage.io/v1alpha1"
            };
            ctx.error(
                "apiVersion",
                format!(
                    "{} is not a version of this kind; write {expected}",
                    quote(&api_version)
                ),
            );
        }
    }
    for key in top.keys() {
        if !matches!(
            key.as_str(),
            "apiVersion" | "kind" | "metadata" | "spec" | "relations" | "status"
        ) {
            ctx.warn(
                key,
                format!("is not a Backstage field (only apiVersion, kind, metadata, spec); {} is ignored", quote(key)),
            );
        }
    }

    // metadata
    let empty = Value::Object(Map::new());
    let metadata = match top.get("metadata") {
        Some(m @ Value::Object(_)) => m,
        Some(other) => {
            ctx.error(
                "metadata",
                format!(
                    "must be a mapping with at least a name, not {}",
                    type_name(other)
                ),
            );
            &empty
        }
        None => {
            ctx.error("metadata", "is required: add metadata: with at least name:");
            &empty
        }
    };
    let name = if top.get("metadata").is_some_and(Value::is_object) {
        req_string(
            &mut ctx,
            metadata,
            "metadata",
            "name",
            "the entity's name, e.g. payments-api",
        )
    } else {
        None
    };
    if let Some(n) = &name
        && let Err(why) = check_name(n)
    {
        ctx.error("metadata.name", format!("{} {why}", quote(n)));
    }
    let namespace = opt_string(
        &mut ctx,
        metadata,
        "metadata",
        "namespace",
        "a namespace such as default",
    )
    .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    if let Err(why) = check_namespace(&namespace) {
        ctx.error("metadata.namespace", format!("{} {why}", quote(&namespace)));
    }
    let eref = match (kind, &name) {
        (Some(kind), Some(name)) if check_name(name).is_ok() => {
            Some(EntityRef::new(kind, &namespace, name))
        }
        _ => None,
    };
    let title = opt_string(&mut ctx, metadata, "metadata", "title", "a display title");
    let description = opt_string(
        &mut ctx,
        metadata,
        "metadata",
        "description",
        "a short description",
    );

    let labels = string_map(&mut ctx, metadata, "labels");
    let annotations = string_map(&mut ctx, metadata, "annotations");
    let tags: Vec<String> = opt_string_list(&mut ctx, metadata, "metadata", "tags", "a tag")
        .into_iter()
        .filter_map(|(tag, path)| match check_tag(&tag) {
            Ok(()) => Some(tag),
            Err(why) => {
                ctx.error(&path, format!("the tag {} {why}", quote(&tag)));
                None
            }
        })
        .collect();
    let links = read_links(&mut ctx, metadata);

    // spec
    let spec = match top.get("spec") {
        Some(s @ Value::Object(_)) => {
            let mut spec = s.clone();
            flatten_compound_refs(&mut spec);
            spec
        }
        Some(Value::Null) | None => {
            let needs_spec = !matches!(kind, Some(Kind::Template) | None);
            if needs_spec {
                ctx.error(
                    "spec",
                    "is required for this kind: add spec: with its fields",
                );
            }
            Value::Object(Map::new())
        }
        Some(other) => {
            ctx.error(
                "spec",
                format!("must be a mapping, not {}", type_name(other)),
            );
            Value::Object(Map::new())
        }
    };

    let mut entity_fields = KindFields::default();
    if let (Some(kind), Some(eref)) = (kind, eref.as_ref()) {
        entity_fields = check_spec(&mut ctx, kind, &spec, &eref.namespace, rules);
    } else if let Some(kind) = kind {
        // Still check the spec, to report everything in one go.
        entity_fields = check_spec(&mut ctx, kind, &spec, &namespace, rules);
    }

    let owner = entity_fields.owner.clone();
    let mut problems = std::mem::take(&mut ctx.problems);
    for p in &mut problems {
        p.entity_ref = eref.as_ref().map(EntityRef::key);
        p.owner_ref = owner.as_ref().map(EntityRef::key);
    }
    let has_errors = problems.iter().any(Problem::is_error);
    let entity = match (&eref, has_errors) {
        (Some(eref), false) => Some(build_entity(
            eref.clone(),
            title,
            description,
            labels,
            annotations,
            tags,
            links,
            spec,
            root.clone(),
            entity_fields,
            file,
            doc.start_line,
        )),
        _ => None,
    };
    Checked {
        entity,
        eref,
        owner,
        problems,
    }
}

/// The spec fields that hold entity references.
const REF_FIELDS: &[&str] = &[
    "owner",
    "system",
    "domain",
    "subcomponentOf",
    "subdomainOf",
    "parent",
    "dependsOn",
    "dependencyOf",
    "providesApis",
    "consumesApis",
    "children",
    "members",
    "memberOf",
];

/// Backstage also accepts a reference as an object, `{kind, namespace,
/// name}`: rewrite those to the `kind:namespace/name` text form, which the
/// rest of validation reads. (The document as written stays in `raw`.)
fn flatten_compound_refs(spec: &mut Value) {
    fn flatten(value: &mut Value) {
        let Value::Object(map) = value else { return };
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
        let Some(name) = text("name") else { return };
        if map
            .keys()
            .any(|k| !matches!(k.as_str(), "kind" | "namespace" | "name"))
        {
            return;
        }
        let mut out = String::new();
        if let Some(kind) = text("kind") {
            out.push_str(&kind);
            out.push(':');
        }
        if let Some(namespace) = text("namespace") {
            out.push_str(&namespace);
            out.push('/');
        }
        out.push_str(&name);
        *value = Value::String(out);
    }
    for field in REF_FIELDS {
        match spec.get_mut(*field) {
            Some(Value::Array(items)) => items.iter_mut().for_each(flatten),
            Some(value) => flatten(value),
            None => {}
        }
    }
}

/// `metadata.labels` / `metadata.annotations`: keys in Backstage's format,
/// values text.
fn string_map(ctx: &mut Ctx, metadata: &Value, key: &str) -> Map<String, Value> {
    let path = child_path("metadata", key);
    match metadata.get(key) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => {
            let mut out = Map::new();
            for (k, v) in map {
                let entry_path = child_path(&path, k);
                if let Err(why) = check_key(k) {
                    ctx.error(&entry_path, format!("the key {} {why}", quote(k)));
                    continue;
                }
                match v {
                    Value::String(_) => {
                        out.insert(k.clone(), v.clone());
                    }
                    // A substitution that couldn't be read stays as written.
                    other if is_placeholder(other) => {
                        out.insert(k.clone(), v.clone());
                    }
                    other => ctx.error(
                        &entry_path,
                        format!(
                            "must be text, not {} {}; quote it, e.g. {k}: \"{}\"",
                            type_name(other),
                            quote_json(other),
                            other.to_string().trim_matches('"')
                        ),
                    ),
                }
            }
            out
        }
        Some(other) => {
            ctx.error(
                &path,
                format!("must be a mapping of key: value, not {}", type_name(other)),
            );
            Map::new()
        }
    }
}

fn read_links(ctx: &mut Ctx, metadata: &Value) -> Vec<Link> {
    let Some(value) = metadata.get("links") else {
        return Vec::new();
    };
    let Value::Array(items) = value else {
        if !value.is_null() {
            ctx.error(
                "metadata.links",
                format!("must be a list of links, not {}", type_name(value)),
            );
        }
        return Vec::new();
    };
    let mut links = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = index_path("metadata.links", i);
        if !item.is_object() {
            ctx.error(
                &path,
                format!(
                    "must be a mapping with url: and title:, not {}",
                    type_name(item)
                ),
            );
            continue;
        }
        let url = req_string(ctx, item, &path, "url", "the link's address");
        let title = opt_string(ctx, item, &path, "title", "the link's title");
        let icon = opt_string(ctx, item, &path, "icon", "an icon name");
        let link_type = opt_string(ctx, item, &path, "type", "the link's type");
        if let Some(url) = url {
            if !(url.contains("://") || url.starts_with("mailto:")) {
                ctx.warn(
                    &child_path(&path, "url"),
                    format!(
                        "{} is not an absolute URL; chat clients can't open it",
                        quote(&url)
                    ),
                );
            }
            let category = LinkCategory::classify(
                link_type.as_deref(),
                icon.as_deref(),
                title.as_deref(),
                &url,
            );
            links.push(Link {
                url,
                title,
                icon,
                category,
            });
        }
    }
    links
}

/// The typed fields read from a kind's spec.
#[derive(Default)]
struct KindFields {
    spec_type: Option<String>,
    lifecycle: Option<String>,
    owner: Option<EntityRef>,
    system: Option<EntityRef>,
    domain: Option<EntityRef>,
    parent: Option<EntityRef>,
    email: Option<String>,
    display_name: Option<String>,
    relations: Vec<Relation>,
    targets: Vec<LocationTarget>,
    rotation: Option<RotationSpec>,
}

#[allow(clippy::too_many_arguments)]
fn build_entity(
    eref: EntityRef,
    title: Option<String>,
    description: Option<String>,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
    tags: Vec<String>,
    links: Vec<Link>,
    spec: Value,
    raw: Value,
    f: KindFields,
    file: &str,
    line: usize,
) -> Entity {
    let ann = |key: &str| annotation(&annotations, key).map(str::to_string);
    let label = |key: &str| labels.get(key).and_then(Value::as_str).map(str::to_string);
    let tier = ann("usher.dev/tier")
        .or_else(|| label("tier"))
        .map(|t| normalise_tier(&t));
    let language = ann("usher.dev/language")
        .or_else(|| label("language"))
        .or_else(|| {
            tags.iter()
                .find(|t| KNOWN_LANGUAGES.contains(&t.as_str()))
                .cloned()
        })
        .map(|l| normalise_language(&l));
    let framework = ann("usher.dev/framework")
        .or_else(|| label("framework"))
        .map(|f| f.to_lowercase());
    let source_location =
        ann("backstage.io/source-location").map(|s| s.trim_start_matches("url:").to_string());
    let slack_channel = ann("slack.com/channel-id")
        .or_else(|| ann("slack.com/channel"))
        .or_else(|| ann("usher.dev/slack-channel"));
    let lead = ann("usher.dev/lead")
        .and_then(|l| EntityRef::parse(&l, Some(Kind::User), &eref.namespace).ok());
    let active = !matches!(
        ann("usher.dev/active").as_deref(),
        Some("false" | "no" | "0")
    );
    let namespace = eref.namespace.clone();
    let _ = namespace;
    Entity {
        title,
        description,
        spec_type: f.spec_type,
        lifecycle: f.lifecycle.map(|l| l.to_lowercase()),
        owner: f.owner,
        system: f.system,
        domain: f.domain,
        parent: f.parent,
        tier,
        language,
        framework,
        techdocs_ref: ann("backstage.io/techdocs-ref"),
        source_location,
        github_slug: ann("github.com/project-slug"),
        pagerduty_service_id: ann("pagerduty.com/service-id"),
        pagerduty_integration_key: ann("pagerduty.com/integration-key"),
        opsgenie_team: ann("opsgenie.com/team"),
        opsgenie_component_selector: ann("opsgenie.com/component-selector"),
        slack_channel,
        discord_channel: ann("discord.com/channel-id"),
        email: f.email,
        display_name: f.display_name,
        slack_user_id: ann("slack.com/user-id"),
        discord_user_id: ann("discord.com/user-id"),
        lead,
        active,
        relations: f.relations,
        rotation: f.rotation,
        packages: Default::default(),
        targets: f.targets,
        labels,
        annotations,
        tags,
        links,
        spec,
        raw,
        file: file.to_string(),
        line,
        eref,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::yaml::parse_stream;

    fn check(text: &str) -> Checked {
        let stream = parse_stream(text);
        assert!(stream.error.is_none());
        check_document(&stream.docs[0], "f.yaml", &Rules::default())
    }

    fn lines(c: &Checked) -> Vec<String> {
        c.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_good_component() {
        let c = check(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: payments-api\n  annotations:\n    pagerduty.com/service-id: PX1\n    usher.dev/tier: tier-1\n  tags: [java]\nspec:\n  type: service\n  lifecycle: production\n  owner: team-payments\n  system: payments\n  dependsOn: [resource:payments-db]\n",
        );
        assert!(c.problems.is_empty(), "{:?}", lines(&c));
        let e = c.entity.unwrap();
        assert_eq!(e.eref.key(), "component:default/payments-api");
        assert_eq!(e.owner.unwrap().key(), "group:default/team-payments");
        assert_eq!(e.tier.as_deref(), Some("1"));
        assert_eq!(e.language.as_deref(), Some("java"));
        assert_eq!(e.pagerduty_service_id.as_deref(), Some("PX1"));
        assert_eq!(e.relations.len(), 3);
    }

    #[test]
    fn wrong_types_and_missing_fields_point_at_lines() {
        let c = check(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec:\n  type: service\n  owner: [a, b]\n",
        );
        let l = lines(&c);
        assert!(c.entity.is_none());
        assert!(
            l.iter()
                .any(|p| p.starts_with("f.yaml:7: spec.owner: must be text")),
            "{l:?}"
        );
        assert!(
            l.iter()
                .any(|p| p.starts_with("f.yaml:5: spec.lifecycle: is required")),
            "{l:?}"
        );
    }

    #[test]
    fn bad_names_quote_the_value() {
        let c = check(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: my service\nspec: {type: service, lifecycle: production, owner: a}\n",
        );
        assert_eq!(
            lines(&c),
            vec![
                "f.yaml:4: metadata.name: 'my service' contains ' '; only letters, digits, '-', '_' and '.' are allowed"
            ]
        );
    }

    #[test]
    fn compound_references() {
        let c = check(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x, namespace: ns}\nspec:\n  type: service\n  lifecycle: production\n  owner: {kind: Group, name: team-a}\n  dependsOn:\n    - {kind: resource, namespace: default, name: db}\n",
        );
        assert!(c.problems.is_empty(), "{:?}", lines(&c));
        let e = c.entity.unwrap();
        assert_eq!(e.owner.unwrap().key(), "group:ns/team-a");
        assert_eq!(e.relations[1].target.key(), "resource:default/db");
    }

    #[test]
    fn unknown_kind_and_lifecycle() {
        let c = check("apiVersion: backstage.io/v1alpha1\nkind: Robot\nmetadata: {name: r2}\n");
        assert!(lines(&c)[0].contains("'Robot' is not a kind usher knows"));
        let c = check(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {type: other, lifecycle: unknown, owner: a}\n",
        );
        assert!(c.entity.is_some());
        assert!(lines(&c)[0].contains("warning: 'unknown' is not a known lifecycle"));
    }
}
