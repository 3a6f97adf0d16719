//! Gradle: version catalogs (`gradle/libs.versions.toml`) and dependency
//! lockfiles (`gradle.lockfile`). A catalog's library names its module as
//! `group:artifact:version`, or as a table whose version is a string, a
//! `version.ref` into `[versions]`, or rich (`strictly`/`require`/`prefer`).

use super::maven::maven;
use super::{Package, first_line};

pub fn catalog(text: &str) -> Result<Vec<Package>, String> {
    let doc: toml::Table =
        toml::from_str(text).map_err(|e| format!("is not valid TOML ({})", first_line(e)))?;
    let versions = doc.get("versions").and_then(toml::Value::as_table);
    let Some(libraries) = doc.get("libraries").and_then(toml::Value::as_table) else {
        return Ok(Vec::new());
    };
    let mut packages = Vec::new();
    for library in libraries.values() {
        let (module, version) = match library {
            toml::Value::String(notation) => {
                let mut parts = notation.splitn(3, ':');
                let (Some(group), Some(artifact), version) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                (format!("{group}:{artifact}"), version.map(str::to_string))
            }
            toml::Value::Table(table) => {
                let module = match (table.get("module"), table.get("group"), table.get("name")) {
                    (Some(toml::Value::String(m)), _, _) => m.clone(),
                    (_, Some(toml::Value::String(g)), Some(toml::Value::String(n))) => {
                        format!("{g}:{n}")
                    }
                    _ => continue,
                };
                let version = table.get("version").and_then(|v| version_of(v, versions));
                (module, version)
            }
            _ => continue,
        };
        let (Some((group, artifact)), Some(version)) = (module.split_once(':'), version) else {
            continue;
        };
        if pinned(&version) {
            packages.push(maven(group, artifact, &version));
        }
    }
    Ok(packages)
}

/// A library's version: a string, a reference into `[versions]`, or a
/// rich version (the strict, required or preferred one).
fn version_of(value: &toml::Value, versions: Option<&toml::Table>) -> Option<String> {
    match value {
        toml::Value::String(v) => Some(v.clone()),
        toml::Value::Table(rich) => {
            if let Some(toml::Value::String(name)) = rich.get("ref") {
                // A `[versions]` entry is itself a string or a rich version
                // (never another reference).
                return match versions?.get(name)? {
                    toml::Value::String(v) => Some(v.clone()),
                    toml::Value::Table(t) => rich_version(t),
                    _ => None,
                };
            }
            rich_version(rich)
        }
        _ => None,
    }
}

fn rich_version(rich: &toml::Table) -> Option<String> {
    ["strictly", "require", "prefer"].iter().find_map(|k| {
        rich.get(*k)
            .and_then(toml::Value::as_str)
            .map(str::to_string)
    })
}

/// Whether a version names one release (not a range, not dynamic).
fn pinned(version: &str) -> bool {
    !version.is_empty()
        && !version.starts_with(['[', '(', ']'])
        && !version.contains(['+', ','])
        && !version.starts_with("latest.")
}

/// `gradle.lockfile`: a `group:artifact:version=configurations` line per
/// resolved module.
pub fn lockfile(text: &str) -> Vec<Package> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let coordinate = line.split_once('=').map(|(c, _)| c).unwrap_or(line);
            let mut parts = coordinate.split(':');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(g), Some(a), Some(v), None) if !g.is_empty() && pinned(v) => {
                    Some(maven(g, a, v))
                }
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_versions_by_string_reference_and_rich() {
        let text = r#"
[versions]
log4j = "2.14.1"
okhttp = { strictly = "4.9.3" }
[libraries]
log4j-core = { module = "org.apache.logging.log4j:log4j-core", version.ref = "log4j" }
okhttp = { group = "com.squareup.okhttp3", name = "okhttp", version.ref = "okhttp" }
guava = "com.google.guava:guava:31.1-jre"
junit = { module = "junit:junit", version = { require = "4.13.2" } }
unversioned = { module = "a:b" }
dynamic = "a:c:1.+"
"#;
        let found: Vec<String> = catalog(text)
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}:{}@{}",
                    p.namespace.as_deref().unwrap(),
                    p.name,
                    p.version
                )
            })
            .collect();
        for expected in [
            "org.apache.logging.log4j:log4j-core@2.14.1",
            "com.squareup.okhttp3:okhttp@4.9.3",
            "com.google.guava:guava@31.1-jre",
            "junit:junit@4.13.2",
        ] {
            assert!(
                found.contains(&expected.to_string()),
                "{expected} in {found:?}"
            );
        }
        assert_eq!(found.len(), 4);
    }

    #[test]
    fn lockfile_lines() {
        let text = "# comment\norg.apache.logging.log4j:log4j-core:2.17.1=compileClasspath,runtimeClasspath\nempty=annotationProcessor\n";
        let found = lockfile(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].version, "2.17.1");
    }
}
