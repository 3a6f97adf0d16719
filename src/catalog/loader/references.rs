//! References between entities checked across what was loaded: targets
//! that resolve nowhere, with the message that says what to write instead.

use std::collections::HashSet;

use super::super::entity::Entity;
use super::super::model::{EntityRef, Kind};
use super::super::problem::{Problem, quote};

/// Warns about references that resolve neither among the loaded entities
/// nor through `known` (the catalog). A warning, not an error: the target
/// may be defined in a location imported later.
pub fn check_references(entities: &[Entity], known: &HashSet<String>) -> Vec<Problem> {
    let here: HashSet<String> = entities.iter().map(|e| e.eref.key()).collect();
    let mut problems = Vec::new();
    for entity in entities {
        for relation in &entity.relations {
            let key = relation.target.key();
            if here.contains(&key) || known.contains(&key) {
                continue;
            }
            let alt = other_party(&relation.target)
                .filter(|a| here.contains(&a.key()) || known.contains(&a.key()));
            let mut p = Problem::warning(
                &entity.file,
                relation.line,
                &relation.field,
                dangling_message(&relation.target.to_string(), alt.as_ref()),
            );
            p.entity_ref = Some(entity.eref.key());
            p.owner_ref = entity.owner.as_ref().map(|o| o.key());
            problems.push(p);
        }
    }
    problems
}

/// "refers to 'group:default/x', which is …; did you mean 'user:default/x'?"
pub(crate) fn dangling_message(target: &str, alternative: Option<&EntityRef>) -> String {
    let hint = match alternative {
        Some(alt) => format!(
            "; there is a {} of that name — did you mean {}?",
            alt.kind,
            quote(&alt.to_string())
        ),
        None => "; define it, or correct the name".to_string(),
    };
    format!(
        "refers to {}, which is neither in these files nor in the catalog{hint}",
        quote(target)
    )
}

/// An owner written without a kind defaults to a group; people often mean
/// the user of that name (and the other way round).
pub(crate) fn other_party(target: &EntityRef) -> Option<EntityRef> {
    let kind = match target.kind {
        Kind::Group => Kind::User,
        Kind::User => Kind::Group,
        _ => return None,
    };
    Some(EntityRef::new(kind, &target.namespace, &target.name))
}

/// Every reference target in what was loaded, and the user/group of the
/// same name (to ask the catalog which of them it knows).
pub fn referenced_keys(entities: &[Entity]) -> Vec<String> {
    let mut keys: Vec<String> = entities
        .iter()
        .flat_map(|e| e.relations.iter())
        .flat_map(|r| {
            std::iter::once(r.target.key()).chain(other_party(&r.target).map(|o| o.key()))
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
