//! Validation of one descriptor document, following Backstage's schemas
//! (`apiVersion`, `kind`, required fields per kind, the naming rules) plus
//! usher's own checks (unknown lifecycles). Every problem names the field,
//! the line and the offending value, and says what to write instead.
//!
//! Checks that need more than one document (duplicates in a location,
//! dangling references, names that clash by case) live in
//! [`super::loader`] and [`super::import`].

mod build;
mod fields;
mod spec;

use build::{KindFields, build_entity, flatten_compound_refs};
use fields::{
    Ctx, is_placeholder, opt_string, opt_string_list, read_links, reference, req_string,
    string_map, type_name,
};
use serde_json::{Map, Value};
use spec::check_spec;

use super::entity::{Entity, LocationTarget, Relation, RotationSpec};
use super::model::{DEFAULT_NAMESPACE, EntityRef, Kind, check_name, check_namespace, check_tag};
use super::problem::{Problem, quote};
use super::yaml::YamlDoc;

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
