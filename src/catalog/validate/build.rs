//! From checked fields to an `Entity`: compound references flattened to
//! text, and the typed columns (tier, language, chat channels, lead, …)
//! read from annotations, labels and tags.

use serde_json::{Map, Value};

use super::super::entity::{
    Entity, KNOWN_LANGUAGES, Link, LocationTarget, Relation, RotationSpec, normalise_language,
    normalise_tier,
};
use super::super::model::{EntityRef, Kind};
use super::fields::annotation;

/// The spec fields that hold entity references.
pub(super) const REF_FIELDS: &[&str] = &[
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
pub(super) fn flatten_compound_refs(spec: &mut Value) {
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

/// The typed fields read from a kind's spec.
#[derive(Default)]
pub(super) struct KindFields {
    pub spec_type: Option<String>,
    pub lifecycle: Option<String>,
    pub owner: Option<EntityRef>,
    pub system: Option<EntityRef>,
    pub domain: Option<EntityRef>,
    pub parent: Option<EntityRef>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub relations: Vec<Relation>,
    pub targets: Vec<LocationTarget>,
    pub rotation: Option<RotationSpec>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn build_entity(
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
