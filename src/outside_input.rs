//! Property tests for every parser of outside text: whatever a chat
//! message, a command line, a descriptor, a schedule, a version range, an
//! SBOM or a platform's payload says — up to 64 KB — parsing it ends with
//! an answer: no panic, no stack overflow, no quadratic blow-up (the case
//! counts are small so CI stays fast; each input is large). A CODEOWNERS
//! file, a manifest or a lockfile from a scanned repository is outside
//! text too, and so is what a directory (LDAP, SCIM) says.
//!
//! The YAML loader's own properties live beside it (`catalog::yaml`).

use proptest::prelude::*;

use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::versions::{Ecosystem, Range};
use crate::commands::{grammar, parse, search};

/// Arbitrary text up to 64 KB: a short random piece repeated, so the
/// shapes that hurt parsers (the same word, bracket or quote thousands of
/// times) come up.
fn outside_text() -> impl Strategy<Value = String> {
    ("(?s).{0,256}", 1usize..256).prop_map(|(piece, n)| {
        let mut text = piece.repeat(n);
        text.truncate(text.floor_char_boundary(64 * 1024));
        text
    })
}

/// Text made of the words and punctuation the grammars care about.
fn tricky_text() -> impl Strategy<Value = String> {
    let pieces = prop::collection::vec(
        prop::sample::select(vec![
            "usher ",
            "/usher ",
            "<@U1> ",
            "who owns ",
            "on call for ",
            "\"",
            "'",
            "“",
            "--",
            "--x=",
            " ",
            "dep:",
            "@",
            "<",
            ">",
            "&lt;",
            "|",
            "owner ",
            "search ",
            "hey ",
            "please ",
            "?",
            ":",
            ",",
            "*",
            "[",
            "]",
            "{",
            "}",
            "\\",
            "\n",
            "é",
            "K",
        ]),
        0..64,
    );
    (pieces, 1usize..512).prop_map(|(pieces, n)| {
        let mut text = pieces.concat().repeat(n);
        text.truncate(text.floor_char_boundary(64 * 1024));
        text
    })
}

fn any_input() -> impl Strategy<Value = String> {
    prop_oneof![outside_text(), tricky_text()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn chat_messages(text in any_input()) {
        let _ = grammar::command_for(&text);
    }

    #[test]
    fn command_lines(text in any_input()) {
        let _ = parse::parse(&text);
    }

    #[test]
    fn search_queries(text in any_input()) {
        let _ = search::query::parse(&text);
    }

    #[test]
    fn entity_refs(text in any_input()) {
        let _ = EntityRef::parse(&text, Some(Kind::Component), "default");
    }

    #[test]
    fn crontab_schedules(text in any_input(), tz in "(?s).{0,40}") {
        let _ = crate::schedule::Schedule::parse(&text, &tz);
    }

    #[test]
    fn version_ranges(text in any_input()) {
        for ecosystem in ["npm", "cargo", "pypi", "maven", "go", "other"] {
            let ecosystem = Ecosystem::parse(ecosystem);
            if let Ok(range) = Range::parse(ecosystem, &text) {
                let _ = range.matches(ecosystem, &text);
            }
        }
        let _ = crate::catalog::versions::compare_maven(&text, "2.17.1");
    }

    #[test]
    fn sboms(text in any_input()) {
        let _ = crate::catalog::sbom::parse(&text);
        // Valid JSON shaped like each format, with outside strings in it.
        let cyclonedx = serde_json::json!({"bomFormat": "CycloneDX", "components": [
            {"purl": text, "name": text, "version": text, "components": [{"purl": text}]}]});
        let _ = crate::catalog::sbom::parse(&cyclonedx.to_string());
        let spdx = serde_json::json!({"spdxVersion": "SPDX-2.3", "documentDescribes": [text],
            "packages": [{"SPDXID": text, "name": text, "versionInfo": text,
                          "externalRefs": [{"referenceType": "purl", "referenceLocator": text}]}]});
        let _ = crate::catalog::sbom::parse(&spdx.to_string());
    }

    #[test]
    fn codeowners_files(text in any_input()) {
        use crate::discovery::codeowners;
        let rules = codeowners::parse(&text);
        // Every rule has a pattern and at most 64 owners; the default rule
        // is one of them.
        prop_assert!(rules.iter().all(|r| !r.pattern.is_empty() && r.owners.len() <= 64));
        if let Some(rule) = codeowners::default_rule(&rules) {
            prop_assert!(rule.covers_everything());
        }
        let _ = crate::discovery::languages::rank(text.lines().map(|l| (l, l.len() as u64)));
    }

    #[test]
    fn scim_filters(text in any_input()) {
        use crate::directory::scim::filter;
        if let Ok(parsed) = filter::parse(&text) {
            let _ = parsed.matches(&serde_json::json!({ "userName": text, "emails": [{ "value": text }] }));
        }
        // As an identity provider writes them, with outside values.
        let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
        let shaped = format!("userName eq \"{quoted}\" or (emails[type eq \"work\" and value co \"{quoted}\"] and not (active eq false))");
        let parsed = filter::parse(&shaped);
        prop_assert!(parsed.is_ok() || shaped.len() > filter::MAX_LEN, "{parsed:?}");
    }

    #[test]
    fn directory_entries(text in any_input(), members in prop::collection::vec(0usize..40, 0..200)) {
        use crate::directory::model::{self, Group, Person, Source};
        // A DN in one form is in that form already.
        let dn = model::normalise_dn(&text);
        prop_assert_eq!(model::normalise_dn(&dn), dn.clone());
        let _ = model::catalog_name(&text);
        // Whatever an LDAP server or an identity provider says — names,
        // members that are groups containing themselves — composing ends.
        let key = |i: usize| if i.is_multiple_of(2) { format!("g{}", i % 20) } else { format!("p{}", i % 20) };
        let groups = (0..20).map(|g| Group {
            key: format!("g{g}"),
            name: format!("{text}{g}"),
            description: Some(text.clone()),
            members: members.iter().skip(g).step_by(3).map(|&m| key(m)).collect(),
        }).collect();
        let people = (0..20).map(|p| Person {
            key: format!("p{p}"),
            name: text.clone(),
            email: (p % 3 == 0).then(|| format!("{text}@x")),
            display_name: Some(text.clone()),
            active: p % 4 != 0,
            groups: members.iter().take(p).map(|&m| key(m)).collect(),
        }).collect();
        let source = Source { name: "ldap:x".into(), people, groups };
        let composed = model::compose(&[source], &crate::config::DirectoryConfig::default(), &model::Known::default());
        prop_assert!(composed.documents.len() <= 40);
    }

    #[test]
    fn rotation_settings(text in any_input()) {
        let _ = crate::rotation::parse_length(&text);
        let _ = crate::rotation::parse_handoff(&text);
    }

    #[test]
    fn proposed_names(text in any_input()) {
        let slug = crate::dialogs::naming::slug(&text, 63);
        prop_assert!(slug.len() <= 63);
    }

    #[test]
    fn discord_interactions(text in any_input()) {
        let _ = crate::platforms::discord::interactions::parse(text.as_bytes());
    }

    #[test]
    fn deeply_nested_json_is_refused_not_recursed(depth in prop_oneof![1usize..128, 128usize..20_000]) {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let _ = crate::platforms::discord::interactions::parse(body.as_bytes());
        let _ = crate::catalog::sbom::parse(&body);
    }

    #[test]
    fn typeahead(text in any_input()) {
        let index = crate::catalog::names::NameIndex::build(vec![
            (1, "component:default/payments-api".into(), "payments-api".into()),
            (2, "group:default/team-payments".into(), "team-payments".into()),
        ]);
        let _ = index.complete(&text, &[Kind::Component], 10);
        let _ = index.similar(&text, &[Kind::Component], 0.3, 5);
    }
}

proptest! {
    // Fourteen parsers, seven shapes each: fewer cases, as much text.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn manifests_and_lockfiles(text in any_input()) {
        use crate::discovery::manifests::Manifest;
        const KINDS: &[&str] = &["pom.xml", "gradle/libs.versions.toml", "gradle.lockfile",
            "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "go.mod", "go.sum",
            "requirements.txt", "poetry.lock", "Pipfile.lock", "Gemfile.lock", "composer.lock"];
        let escaped = text.replace('&', "&amp;").replace('<', "&lt;");
        let shaped = [
            text.clone(),
            format!("<project><properties><v>${{v}}{escaped}</v></properties><dependencies><dependency><groupId>{escaped}</groupId><artifactId>a</artifactId><version>${{v}}</version></dependency></dependencies></project>"),
            serde_json::json!({"lockfileVersion": 1, "dependencies": {text.clone(): {"version": text.clone(), "dependencies": {text.clone(): {"version": "1.0.0"}}}}}).to_string(),
            serde_json::json!({"packages": {format!("node_modules/{text}"): {"version": text.clone()}}, "_meta": {}}).to_string(),
            format!("{text}:\n  version \"{text}\"\n"),
            format!("require (\n{text} v1.0.0\n)\n"),
            format!("GEM\n  specs:\n    {text} ({text})\n"),
        ];
        for kind in KINDS {
            let manifest = Manifest::of(kind).expect("a manifest name");
            for input in &shaped {
                if let Ok(packages) = manifest.parse(input) {
                    prop_assert!(packages.iter().all(|p| !p.name.is_empty() && !p.version.is_empty()));
                }
            }
        }
    }
}
