//! JavaScript lockfiles: npm's `package-lock.json` (v1's nested
//! `dependencies`, v2/v3's flat `packages`), `yarn.lock` (classic's own
//! format, Berry's YAML) and `pnpm-lock.yaml` (v5's `/name/version` keys,
//! v6+'s `name@version`). A workspace's own packages are not dependencies.

use serde_json::Value;

use super::{Package, first_line, package};

pub fn package_lock(text: &str) -> Result<Vec<Package>, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("is not JSON ({})", first_line(e)))?;
    let mut packages = Vec::new();
    if let Some(entries) = doc.get("packages").and_then(Value::as_object) {
        for (path, entry) in entries {
            // "" is the project; a path outside node_modules is a workspace.
            let Some((_, name)) = path.rsplit_once("node_modules/") else {
                continue;
            };
            if entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = entry.get("name").and_then(Value::as_str).unwrap_or(name);
            if let Some(version) = entry
                .get("version")
                .and_then(Value::as_str)
                .filter(|v| pinned(v))
            {
                packages.push(package("npm", name, version));
            }
        }
        return Ok(packages);
    }
    let Some(top) = doc.get("dependencies").and_then(Value::as_object) else {
        return Err(
            "is not an npm lockfile: it has neither `packages` (lockfileVersion 2 and 3) nor `dependencies` (version 1)"
                .into(),
        );
    };
    // Version 1 nests a package's own copies of its dependencies; walked
    // with a stack, not recursion, whatever the depth.
    let mut stack: Vec<(&String, &Value)> = top.iter().collect();
    while let Some((name, entry)) = stack.pop() {
        if let Some(version) = entry
            .get("version")
            .and_then(Value::as_str)
            .filter(|v| pinned(v))
        {
            packages.push(package("npm", name, version));
        }
        if let Some(nested) = entry.get("dependencies").and_then(Value::as_object) {
            stack.extend(nested.iter());
        }
    }
    Ok(packages)
}

/// A registry version (not `file:`, `git+…`, a tarball URL or an alias).
fn pinned(version: &str) -> bool {
    version.starts_with(|c: char| c.is_ascii_digit()) && !version.contains(':')
}

/// The package a descriptor names: `"@babel/core@^7.0.0"`,
/// `lodash@npm:^4.17.21` → `@babel/core`, `lodash`.
fn descriptor_name(spec: &str) -> &str {
    let spec = spec.trim().trim_matches('"');
    match spec.get(1..).and_then(|rest| rest.find('@')) {
        Some(at) => &spec[..at + 1],
        None => spec,
    }
}

pub fn yarn_lock(text: &str) -> Result<Vec<Package>, String> {
    if text.lines().any(|l| l.starts_with("__metadata:")) {
        return yarn_berry(text);
    }
    let mut packages = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let mut entries = 0;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            // `"@babel/core@^7.0.0", "@babel/core@^7.1.0":` — one package, several ranges.
            let header = line.trim_end().trim_end_matches(':');
            names = header.split(", ").map(descriptor_name).collect();
            names.dedup();
            entries += 1;
        } else if let Some(version) = line.strip_prefix("  version ") {
            let version = version.trim().trim_matches('"');
            if pinned(version) {
                packages.extend(names.iter().map(|n| package("npm", n, version)));
            }
        }
    }
    if entries > 0 && packages.is_empty() {
        return Err("is not a yarn.lock: no entry has a `version`".into());
    }
    Ok(packages)
}

fn yarn_berry(text: &str) -> Result<Vec<Package>, String> {
    let doc: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(text)
        .map_err(|e| format!("is not valid YAML ({})", first_line(e)))?;
    let mut packages = Vec::new();
    for (key, entry) in &doc {
        let Some(key) = key.as_str().filter(|k| *k != "__metadata") else {
            continue;
        };
        // Workspaces and links are the project's own.
        if entry.get("linkType").and_then(|l| l.as_str()) == Some("soft") {
            continue;
        }
        let Some(version) = entry
            .get("version")
            .and_then(|v| v.as_str())
            .filter(|v| pinned(v))
        else {
            continue;
        };
        if let Some(first) = key.split(", ").next() {
            packages.push(package("npm", descriptor_name(first), version));
        }
    }
    Ok(packages)
}

pub fn pnpm_lock(text: &str) -> Result<Vec<Package>, String> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| format!("is not valid YAML ({})", first_line(e)))?;
    let version5 = match doc.get("lockfileVersion") {
        Some(serde_yaml_ng::Value::Number(n)) => n.as_f64().is_some_and(|v| v < 6.0),
        Some(serde_yaml_ng::Value::String(s)) => s.parse::<f64>().is_ok_and(|v| v < 6.0),
        _ => return Err("is not a pnpm lockfile: it has no `lockfileVersion`".into()),
    };
    let Some(entries) = doc.get("packages").and_then(|p| p.as_mapping()) else {
        return Ok(Vec::new());
    };
    let mut packages = Vec::new();
    for key in entries.keys().filter_map(|k| k.as_str()) {
        if let Some((name, version)) = pnpm_key(key, version5) {
            packages.push(package("npm", name, version));
        }
    }
    Ok(packages)
}

/// `/lodash/4.17.21`, `/@babel/core/7.0.0_peer` (v5); `/lodash@4.17.21`,
/// `@babel/core@7.0.0(react@18.2.0)` (v6, v9).
fn pnpm_key(key: &str, version5: bool) -> Option<(&str, &str)> {
    let key = key.trim_start_matches('/');
    let (name, version) = if version5 {
        let (name, version) = key.rsplit_once('/')?;
        (name, version.split('_').next()?)
    } else {
        let key = key.split('(').next()?;
        let at = key.get(1..)?.rfind('@')? + 1;
        (&key[..at], &key[at + 1..])
    };
    (!name.is_empty() && pinned(version)).then_some((name, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(packages: &[Package]) -> Vec<String> {
        let mut l: Vec<String> = packages
            .iter()
            .map(|p| match &p.namespace {
                Some(ns) => format!("{ns}/{}@{}", p.name, p.version),
                None => format!("{}@{}", p.name, p.version),
            })
            .collect();
        l.sort();
        l
    }

    #[test]
    fn package_lock_versions() {
        let v1 = r#"{"lockfileVersion":1,"dependencies":{"a":{"version":"1.0.0","dependencies":{"b":{"version":"2.0.0"}}},"c":{"version":"file:../c"}}}"#;
        assert_eq!(labels(&package_lock(v1).unwrap()), ["a@1.0.0", "b@2.0.0"]);
        let v3 = r#"{"lockfileVersion":3,"packages":{"":{"name":"app"},"packages/web":{"version":"0.1.0"},
            "node_modules/@babel/core":{"version":"7.24.0"},"node_modules/a/node_modules/b":{"version":"1.2.3"},
            "node_modules/web":{"resolved":"packages/web","link":true}}}"#;
        assert_eq!(
            labels(&package_lock(v3).unwrap()),
            ["@babel/core@7.24.0", "b@1.2.3"]
        );
        assert!(package_lock("{}").unwrap_err().contains("neither"));
    }

    #[test]
    fn yarn_classic_and_berry() {
        let classic = "# yarn lockfile v1\n\n\"@babel/code-frame@^7.0.0\", \"@babel/code-frame@^7.10.4\":\n  version \"7.12.13\"\n  resolved \"https://x\"\n\nlodash@^4.17.20:\n  version \"4.17.21\"\n";
        assert_eq!(
            labels(&yarn_lock(classic).unwrap()),
            ["@babel/code-frame@7.12.13", "lodash@4.17.21"]
        );
        let berry = "__metadata:\n  version: 6\n\n\"lodash@npm:^4.17.21\":\n  version: 4.17.21\n  resolution: \"lodash@npm:4.17.21\"\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n  linkType: soft\n";
        assert_eq!(labels(&yarn_lock(berry).unwrap()), ["lodash@4.17.21"]);
    }

    #[test]
    fn pnpm_keys_of_each_version() {
        assert_eq!(
            pnpm_key("/@babel/core/7.0.0_react@18.0.0", true),
            Some(("@babel/core", "7.0.0"))
        );
        assert_eq!(
            pnpm_key("/lodash@4.17.21", false),
            Some(("lodash", "4.17.21"))
        );
        assert_eq!(
            pnpm_key("@babel/core@7.24.0(react@18.2.0)", false),
            Some(("@babel/core", "7.24.0"))
        );
        let v9 = "lockfileVersion: '9.0'\npackages:\n  lodash@4.17.21:\n    resolution: {integrity: sha512-x}\n";
        assert_eq!(labels(&pnpm_lock(v9).unwrap()), ["lodash@4.17.21"]);
    }
}
