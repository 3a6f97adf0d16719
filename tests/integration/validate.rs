//! `usher catalog validate`: every problem as `file:line: field: message`,
//! exit 1 on errors, 0 on warnings only (unless --strict); hostile files
//! are one clear problem each, never a crash or a hang.

use std::fs;

use crate::support::{fixtures, stderr, stdout, usher};

fn validate(args: &[&str], files: &[&std::path::Path]) -> (i32, String, String) {
    let mut cmd = usher();
    cmd.args(["catalog", "validate", "--offline"]).args(args);
    for f in files {
        cmd.arg(f);
    }
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

#[test]
fn the_backstage_examples_are_valid() {
    let dir = fixtures().join("backstage/examples");
    let (code, out, err) = validate(&[], &[&dir]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("0 errors"), "{err}");
    // Warnings only, and --strict turns them into a failure.
    assert!(out.contains("warning:"), "{out}");
    let (code, ..) = validate(&["--strict"], &[&dir]);
    assert_eq!(code, 1);
}

#[test]
fn every_problem_names_file_line_field_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("catalog-info.yaml");
    fs::write(
        &f,
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: My Service\n  tags: [Java]\n  annotations:\n    replicas: 3\nspec:\n  type: service\n  lifecycle: live\n  owner: [a, b]\n",
    )
    .unwrap();
    let (code, out, _) = validate(&[], &[&f]);
    assert_eq!(code, 1, "{out}");
    let file = f.display().to_string();
    let expected = [
        format!("{file}:4: metadata.name: 'My Service' contains ' '"),
        format!("{file}:5: metadata.tags[0]: the tag 'Java' must be lower-case"),
        format!("{file}:7: metadata.annotations.replicas: must be text, not a number '3'"),
        format!("{file}:10: spec.lifecycle: warning: 'live' is not a known lifecycle"),
        format!(
            "{file}:11: spec.owner: must be text (the owning team, e.g. team-payments), not a list '[\"a\",\"b\"]'"
        ),
    ];
    for e in expected {
        assert!(out.lines().any(|l| l.starts_with(&e)), "missing {e}\n{out}");
    }
}

#[test]
fn hostile_files_are_one_clear_problem_each() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::write(
        p.join("malformed.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: [unclosed\n",
    )
    .unwrap();
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = "a".to_string();
    for n in ["b", "c", "d", "e", "f", "g", "h", "i", "j"] {
        bomb.push_str(&format!(
            "{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = n.to_string();
    }
    fs::write(p.join("bomb.yaml"), bomb).unwrap();
    fs::write(p.join("binary.yaml"), [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    fs::write(
        p.join("unknown-kind.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Robot\nmetadata:\n  name: r2d2\n",
    )
    .unwrap();
    fs::write(p.join("deep.yaml"), "[".repeat(100_000)).unwrap();
    fs::write(p.join("scalar.yaml"), "just some text\n").unwrap();
    let files = [
        "malformed.yaml",
        "bomb.yaml",
        "binary.yaml",
        "unknown-kind.yaml",
        "deep.yaml",
        "scalar.yaml",
    ];
    for name in files {
        let path = p.join(name);
        let started = std::time::Instant::now();
        let (code, out, err) = validate(&[], &[&path]);
        assert_eq!(code, 1, "{name}: {out}{err}");
        let problems: Vec<&str> = out.lines().collect();
        assert_eq!(problems.len(), 1, "{name}: {out}");
        assert!(
            problems[0].starts_with(&path.display().to_string()),
            "{name}: {out}"
        );
        assert!(started.elapsed().as_secs() < 20, "{name} took too long");
        let expected = match name {
            "malformed.yaml" => "this is not valid YAML",
            "bomb.yaml" => "alias bomb",
            "binary.yaml" => "is not a text file",
            "unknown-kind.yaml" => "'Robot' is not a kind usher knows",
            "deep.yaml" => "nesting deeper than",
            _ => "a descriptor must be a mapping",
        };
        assert!(problems[0].contains(expected), "{name}: {out}");
    }
}

#[test]
fn oversized_files_are_refused_by_the_configured_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("usher.toml");
    fs::write(&config, "[catalog]\nmax_file_size = 100\n").unwrap();
    let f = dir.path().join("big.yaml");
    fs::write(&f, format!("# {}\n", "x".repeat(200))).unwrap();
    let out = usher()
        .env("USHER_CONFIG", &config)
        .args(["catalog", "validate", "--offline"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("over the 100-byte limit (catalog.max_file_size"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_bad_configuration_names_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("usher.toml");
    fs::write(&config, "[catalog]\nmax_size = 100\n").unwrap();
    let out = usher()
        .env("USHER_CONFIG", &config)
        .args(["catalog", "validate", "--offline", "x.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("usher.toml: line 2") && err.contains("max_size"),
        "{err}"
    );
}

#[test]
fn references_resolve_across_all_files_given() {
    let dir = tempfile::tempdir().unwrap();
    let team = dir.path().join("team.yaml");
    let svc = dir.path().join("svc.yaml");
    fs::write(&team, "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-a\nspec:\n  type: team\n  children: []\n").unwrap();
    fs::write(&svc, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n").unwrap();
    let (code, out, _) = validate(&["--strict"], &[&team, &svc]);
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, out, _) = validate(&[], &[&svc]);
    assert_eq!(code, 0);
    assert!(
        out.contains("svc.yaml:8: spec.owner: warning: refers to 'group:default/team-a'"),
        "{out}"
    );
}

#[tokio::test]
async fn names_clashing_by_case_with_the_catalog_are_reported() {
    let db = crate::support::TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.yaml");
    fs::write(&first, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: payments-api\nspec: {type: service, lifecycle: production, owner: a}\n").unwrap();
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "import"])
        .arg(&first)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let second = dir.path().join("second.yaml");
    fs::write(&second, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Payments-API\nspec: {type: service, lifecycle: production, owner: a}\n").unwrap();
    let out = usher()
        .env("DATABASE_URL", db.url())
        .args(["catalog", "validate"])
        .arg(&second)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("second.yaml:1: metadata.name: warning: 'Payments-API' differs only by case from 'payments-api' already in the catalog"), "{text}");
}
