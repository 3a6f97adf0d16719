//! Lockfiles of Rust (`Cargo.lock`), Go (`go.mod`, `go.sum`), Ruby
//! (`Gemfile.lock`) and PHP (`composer.lock`).

use serde_json::Value;

use super::{Package, first_line, package};

/// `Cargo.lock`: every package from a registry or git (a workspace's own
/// crates have no `source`).
pub fn cargo_lock(text: &str) -> Result<Vec<Package>, String> {
    let doc: toml::Table =
        toml::from_str(text).map_err(|e| format!("is not valid TOML ({})", first_line(e)))?;
    Ok(doc
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("source").is_some())
        .filter_map(|p| {
            Some(package(
                "cargo",
                p.get("name")?.as_str()?,
                p.get("version")?.as_str()?,
            ))
        })
        .collect())
}

/// `go.mod`'s `require` lines, single and in blocks (since Go 1.17 they
/// list indirect modules too).
pub fn go_mod(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        let spec = if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("require") {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let mut fields = spec.split_whitespace();
        if let (Some(module), Some(version), None) = (fields.next(), fields.next(), fields.next())
            && version.starts_with('v')
        {
            packages.push(package("golang", module.trim_matches('"'), version));
        }
    }
    packages
}

/// `go.sum`: the modules whose code was downloaded (lines for a module's
/// `go.mod` only are left out).
pub fn go_sum(text: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (module, version) = (fields.next()?, fields.next()?);
            (version.starts_with('v') && !version.ends_with("/go.mod"))
                .then(|| package("golang", module, version))
        })
        .collect()
}

/// `Gemfile.lock`: the gems under a `GEM` or `GIT` section's `specs:`
/// (four spaces in; six are their own requirements). `PATH` gems are the
/// project's own. A platform suffix (`-x86_64-linux`) is not the version.
pub fn gemfile_lock(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with(' ') {
            section = line.trim();
            continue;
        }
        if !matches!(section, "GEM" | "GIT") {
            continue;
        }
        let Some(spec) = line.strip_prefix("    ").filter(|s| !s.starts_with(' ')) else {
            continue;
        };
        let Some((name, rest)) = spec.split_once(" (") else {
            continue;
        };
        let version = rest.trim_end_matches(')');
        let version = version.split('-').next().unwrap_or(version);
        if version.starts_with(|c: char| c.is_ascii_digit()) {
            packages.push(package("gem", name.trim(), version));
        }
    }
    packages
}

/// `composer.lock`: `packages` and `packages-dev`, `vendor/name` as
/// namespace and name; branch versions (`dev-main`) pin nothing.
pub fn composer_lock(text: &str) -> Result<Vec<Package>, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("is not JSON ({})", first_line(e)))?;
    if doc.get("packages").is_none() {
        return Err("is not a composer.lock: it has no `packages`".into());
    }
    let mut packages = Vec::new();
    for section in ["packages", "packages-dev"] {
        for entry in doc
            .get(section)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(version)) = (
                entry.get("name").and_then(Value::as_str),
                entry.get("version").and_then(Value::as_str),
            ) else {
                continue;
            };
            let version = version.trim_start_matches('v');
            if version.starts_with(|c: char| c.is_ascii_digit()) {
                packages.push(package("composer", name, version));
            }
        }
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mod_single_and_block_requires() {
        let text = "module example.com/app\n\ngo 1.21\n\nrequire github.com/gorilla/mux v1.8.0\n\nrequire (\n\tgolang.org/x/net v0.17.0 // indirect\n\t\"github.com/a/b\" v0.0.0-20200101-abcdef\n)\nreplace x => y v1.0.0\n";
        let found: Vec<String> = go_mod(text)
            .iter()
            .map(|p| {
                format!(
                    "{}/{}@{}",
                    p.namespace.as_deref().unwrap_or(""),
                    p.name,
                    p.version
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                "github.com/gorilla/mux@v1.8.0",
                "golang.org/x/net@v0.17.0",
                "github.com/a/b@v0.0.0-20200101-abcdef"
            ]
        );
    }

    #[test]
    fn gemfile_specs_only() {
        let text = "GEM\n  remote: https://rubygems.org/\n  specs:\n    nokogiri (1.13.10-x86_64-linux)\n      racc (~> 1.4)\n    rails (7.0.4)\n\nPATH\n  remote: .\n  specs:\n    mine (0.1.0)\n\nPLATFORMS\n  ruby\n";
        let found: Vec<String> = gemfile_lock(text)
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect();
        assert_eq!(found, ["nokogiri@1.13.10", "rails@7.0.4"]);
    }

    #[test]
    fn composer_and_cargo() {
        let composer = r#"{"packages":[{"name":"monolog/monolog","version":"2.9.1"},{"name":"a/b","version":"dev-main"}],"packages-dev":[{"name":"phpunit/phpunit","version":"v9.6.0"}]}"#;
        assert_eq!(composer_lock(composer).unwrap().len(), 2);
        let cargo = "version = 3\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n[[package]]\nname = \"openssl\"\nversion = \"0.10.50\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let found = cargo_lock(cargo).unwrap();
        assert_eq!((found.len(), found[0].name.as_str()), (1, "openssl"));
    }
}
