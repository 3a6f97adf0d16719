//! Maven's `pom.xml`: the dependencies a project declares, with versions
//! resolved within the file — `${properties}` (and `${project.version}`),
//! and versions a `<dependencyManagement>` section pins. What a parent POM
//! elsewhere would give is unknown here, so such a dependency is left out.
//! Versions a `<dependencyManagement>` pins count as used: a parent POM of
//! a multi-module build pins what its modules run. An imported BOM
//! (`log4j-bom`, the AWS SDK's `bom`) is read as the projects that publish
//! them mean it: one version for its group's artifacts, so `log4j-core`
//! without a version of its own runs the `log4j-bom`'s.

use std::collections::HashMap;

use super::Package;

/// Elements a POM may have; a bigger document is refused.
const NODES_LIMIT: u32 = 500_000;

/// One `<dependency>` as written.
struct Declared {
    group: String,
    artifact: String,
    version: Option<String>,
    scope: Option<String>,
}

pub fn pom(text: &str) -> Result<Vec<Package>, String> {
    let options = roxmltree::ParsingOptions {
        // No DTDs: no entity expansion from a file anyone can write.
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| format!("is not well-formed XML ({e})"))?;
    let project = doc.root_element();
    if project.tag_name().name() != "project" {
        return Err("is not a Maven POM: its root element isn't <project>".into());
    }
    let properties = properties(project);
    let mut managed: HashMap<(String, String), String> = HashMap::new();
    let mut boms: HashMap<String, String> = HashMap::new();
    let mut packages = Vec::new();
    let management = child(project, "dependencyManagement").and_then(|m| child(m, "dependencies"));
    for declared in management.map(dependencies).unwrap_or_default() {
        let (Some(group), Some(version)) = (
            resolve(&declared.group, &properties),
            declared
                .version
                .as_deref()
                .and_then(|v| resolve(v, &properties)),
        ) else {
            continue;
        };
        // An imported BOM is a list of versions, not a dependency.
        if declared.scope.as_deref() == Some("import") {
            boms.insert(group, version);
            continue;
        }
        managed.insert((group.clone(), declared.artifact.clone()), version.clone());
        packages.push(maven(&group, &declared.artifact, &version));
    }
    let direct = child(project, "dependencies")
        .map(dependencies)
        .unwrap_or_default();
    for declared in direct {
        let Some(group) = resolve(&declared.group, &properties) else {
            continue;
        };
        let version = match declared.version.as_deref() {
            Some(v) => resolve(v, &properties),
            None => managed
                .get(&(group.clone(), declared.artifact.clone()))
                .or_else(|| boms.get(&group))
                .cloned(),
        };
        if let Some(version) = version {
            packages.push(maven(&group, &declared.artifact, &version));
        }
    }
    Ok(packages)
}

/// A Maven package: the group is the namespace, as in package URLs.
pub(super) fn maven(group: &str, artifact: &str, version: &str) -> Package {
    Package {
        ecosystem: "maven".into(),
        namespace: Some(group.to_string()),
        name: artifact.to_string(),
        version: version.to_string(),
        purl: None,
    }
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    child(node, name)
        .and_then(|c| c.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The file's `<properties>`, and the project's own coordinates as Maven
/// names them (`project.version`, falling back to the parent's).
fn properties(project: roxmltree::Node<'_, '_>) -> HashMap<String, String> {
    let mut properties = HashMap::new();
    if let Some(declared) = child(project, "properties") {
        for p in declared.children().filter(|n| n.is_element()) {
            let value = p.text().unwrap_or_default().trim().to_string();
            properties.insert(p.tag_name().name().to_string(), value);
        }
    }
    let parent = child(project, "parent");
    let parent_version = parent.and_then(|p| child_text(p, "version"));
    let parent_group = parent.and_then(|p| child_text(p, "groupId"));
    let version = child_text(project, "version").or(parent_version.clone());
    let group = child_text(project, "groupId").or(parent_group.clone());
    for (key, value) in [
        ("project.version", version.clone()),
        ("pom.version", version),
        ("project.groupId", group),
        ("project.parent.version", parent_version),
        ("project.parent.groupId", parent_group),
    ] {
        if let Some(value) = value {
            properties.entry(key.to_string()).or_insert(value);
        }
    }
    properties
}

fn dependencies(list: roxmltree::Node<'_, '_>) -> Vec<Declared> {
    list.children()
        .filter(|d| d.is_element() && d.tag_name().name() == "dependency")
        .filter_map(|d| {
            Some(Declared {
                group: child_text(d, "groupId")?,
                artifact: child_text(d, "artifactId")?,
                version: child_text(d, "version"),
                scope: child_text(d, "scope"),
            })
        })
        .collect()
}

/// Substitutes `${name}` from the properties, a bounded number of times
/// (a property may name another); `None` when one stays unknown, or for a
/// version range (`[2.0,3.0)`), which pins nothing.
pub(crate) fn resolve(text: &str, properties: &HashMap<String, String>) -> Option<String> {
    let mut value = text.trim().to_string();
    for _ in 0..16 {
        let Some(start) = value.find("${") else {
            break;
        };
        let end = start + value[start..].find('}')?;
        let replacement = properties.get(&value[start + 2..end])?;
        value = format!("{}{}{}", &value[..start], replacement, &value[end + 1..]);
        if value.len() > 256 {
            return None;
        }
    }
    let pinned = !value.is_empty()
        && !value.contains("${")
        && !value.starts_with(['[', '('])
        && !value.contains(',');
    pinned.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POM: &str = r#"<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <groupId>com.acme</groupId><artifactId>payments</artifactId><version>1.4.0</version>
  <properties><log4j.version>2.14.1</log4j.version><jackson>${jackson.base}.1</jackson><jackson.base>2.13</jackson.base></properties>
  <dependencyManagement><dependencies>
    <dependency><groupId>com.fasterxml.jackson</groupId><artifactId>jackson-bom</artifactId><version>${jackson}</version><type>pom</type><scope>import</scope></dependency>
    <dependency><groupId>io.netty</groupId><artifactId>netty-bom</artifactId><version>4.1.100.Final</version><type>pom</type><scope>import</scope></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>1.7.36</version></dependency>
  </dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${log4j.version}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId></dependency>
    <dependency><groupId>${project.groupId}</groupId><artifactId>common</artifactId><version>${project.version}</version></dependency>
    <dependency><groupId>x</groupId><artifactId>from-parent</artifactId></dependency>
    <dependency><groupId>io.netty</groupId><artifactId>netty-handler</artifactId></dependency>
    <dependency><groupId>y</groupId><artifactId>ranged</artifactId><version>[1.0,2.0)</version></dependency>
  </dependencies>
</project>"#;

    #[test]
    fn properties_and_managed_versions_resolve_within_the_file() {
        let found: Vec<String> = pom(POM)
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
        assert!(found.contains(&"org.apache.logging.log4j:log4j-core@2.14.1".to_string()));
        assert!(found.contains(&"org.slf4j:slf4j-api@1.7.36".to_string()));
        assert!(found.contains(&"com.acme:common@1.4.0".to_string()));
        assert!(found.contains(&"io.netty:netty-handler@4.1.100.Final".to_string()));
        assert!(!found.iter().any(|f| f.contains("from-parent")
            || f.contains("ranged")
            || f.contains("jackson-bom")));
    }

    #[test]
    fn a_dtd_and_other_roots_are_refused() {
        let bomb =
            r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><project>&a;</project>"#;
        assert!(pom(bomb).is_err());
        assert!(pom("<settings/>").unwrap_err().contains("root element"));
        assert!(pom("not xml").unwrap_err().contains("well-formed"));
    }

    #[test]
    fn properties_naming_themselves_end() {
        let mut props = HashMap::new();
        props.insert("a".to_string(), "${a}".to_string());
        assert_eq!(resolve("${a}", &props), None);
    }
}
