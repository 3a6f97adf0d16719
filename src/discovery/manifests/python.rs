//! Python: `requirements*.txt` (the `==` pins), `poetry.lock` and
//! `Pipfile.lock`. Names are normalised as PyPI does (PEP 503): lower
//! case, runs of `-`, `_` and `.` as one `-`.

use serde_json::Value;

use super::{Package, first_line};

pub fn requirements(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    // A line may continue on the next with a trailing backslash (hashes).
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    for line in joined.lines() {
        let line = line.split(" #").next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with(['#', '-']) || line.contains("://") {
            continue;
        }
        // `name[extras]==1.2.3 ; python_version < "3.8" --hash=…`
        let requirement = line.split(';').next().unwrap_or_default();
        let requirement = requirement.split(" --").next().unwrap_or_default().trim();
        let Some((name, version)) = requirement
            .split_once("===")
            .or_else(|| requirement.split_once("=="))
        else {
            continue;
        };
        let name = name.split('[').next().unwrap_or_default().trim();
        let version = version.trim();
        if !name.is_empty() && !version.is_empty() && !version.contains([',', '*', ' ', '<', '>']) {
            packages.push(pypi(name, version));
        }
    }
    packages
}

pub fn poetry_lock(text: &str) -> Result<Vec<Package>, String> {
    let doc: toml::Table =
        toml::from_str(text).map_err(|e| format!("is not valid TOML ({})", first_line(e)))?;
    Ok(doc
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?;
            let version = p.get("version")?.as_str()?;
            Some(pypi(name, version))
        })
        .collect())
}

pub fn pipfile_lock(text: &str) -> Result<Vec<Package>, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("is not JSON ({})", first_line(e)))?;
    if doc.get("_meta").is_none() {
        return Err("is not a Pipfile.lock: it has no `_meta`".into());
    }
    let mut packages = Vec::new();
    for section in ["default", "develop"] {
        for (name, entry) in doc
            .get(section)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(version) = entry
                .get("version")
                .and_then(Value::as_str)
                .and_then(|v| v.strip_prefix("=="))
            {
                packages.push(pypi(name, version));
            }
        }
    }
    Ok(packages)
}

/// PEP 503's normal form of a project name.
pub(crate) fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

fn pypi(name: &str, version: &str) -> Package {
    Package {
        ecosystem: "pypi".into(),
        namespace: None,
        name: normalise(name),
        version: version.trim().to_string(),
        purl: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_lines() {
        let text = "# pinned\nDjango==4.2.1\nrequests[socks]==2.31.0 ; python_version >= \"3.8\" \\\n    --hash=sha256:abc\n-r base.txt\nflask>=2.0\nZope.Interface===5.0 # why\ngit+https://x/y.git#egg=y\n";
        let found: Vec<String> = requirements(text)
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect();
        assert_eq!(
            found,
            ["django@4.2.1", "requests@2.31.0", "zope-interface@5.0"]
        );
    }

    #[test]
    fn lockfiles() {
        let poetry = "[[package]]\nname = \"Jinja2\"\nversion = \"3.1.2\"\n\n[metadata]\nlock-version = \"2.0\"\n";
        assert_eq!(poetry_lock(poetry).unwrap()[0].name, "jinja2");
        let pipfile = r#"{"_meta":{},"default":{"urllib3":{"version":"==1.26.5"}},"develop":{"pytest":{"version":"==7.0.0"},"local":{"path":"."}}}"#;
        assert_eq!(pipfile_lock(pipfile).unwrap().len(), 2);
        assert!(pipfile_lock("{}").is_err());
    }
}
