//! A service's library packages from its SBOM: CycloneDX (1.4–1.6) or SPDX
//! (2.3), JSON. Package URLs (`pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1`)
//! give the ecosystem, namespace, name and version; components without one
//! keep their name and version under the ecosystem "other".

use std::str::FromStr;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

/// One package a service uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Package {
    pub ecosystem: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: String,
    pub purl: Option<String>,
}

impl Package {
    fn from_purl(purl: &str) -> Option<Package> {
        let parsed = packageurl::PackageUrl::from_str(purl).ok()?;
        Some(Package {
            ecosystem: parsed.ty().to_lowercase(),
            namespace: parsed.namespace().map(str::to_string),
            name: parsed.name().to_string(),
            version: parsed.version()?.to_string(),
            purl: Some(purl.to_string()),
        })
    }
}

/// Which format a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    CycloneDx,
    Spdx,
}

/// Reads the packages of an SBOM document; the error says what is wrong.
pub fn parse(text: &str) -> Result<(Format, Vec<Package>), String> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| format!("is not JSON ({e}); usher reads CycloneDX and SPDX SBOMs in JSON"))?;
    if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        let mut packages = Vec::new();
        let mut stack: Vec<&Value> = doc
            .get("components")
            .and_then(Value::as_array)
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        while let Some(component) = stack.pop() {
            if let Some(children) = component.get("components").and_then(Value::as_array) {
                stack.extend(children.iter());
            }
            let purl = component.get("purl").and_then(Value::as_str);
            let package = purl.and_then(Package::from_purl).or_else(|| {
                let name = component.get("name")?.as_str()?.to_string();
                let version = component.get("version")?.as_str()?.to_string();
                Some(Package {
                    ecosystem: "other".into(),
                    namespace: component
                        .get("group")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    name,
                    version,
                    purl: purl.map(str::to_string),
                })
            });
            packages.extend(package);
        }
        return Ok((Format::CycloneDx, dedup(packages)));
    }
    if doc.get("spdxVersion").and_then(Value::as_str).is_some() {
        // The document's subject (the service itself) is not a dependency.
        let described: std::collections::HashSet<&str> = doc
            .get("documentDescribes")
            .and_then(Value::as_array)
            .map(|d| d.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut packages = Vec::new();
        for p in doc
            .get("packages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if p.get("SPDXID")
                .and_then(Value::as_str)
                .is_some_and(|id| described.contains(&id))
            {
                continue;
            }
            let purl = p
                .get("externalRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
                .and_then(|r| r.get("referenceLocator").and_then(Value::as_str));
            let package = purl.and_then(Package::from_purl).or_else(|| {
                Some(Package {
                    ecosystem: "other".into(),
                    namespace: None,
                    name: p.get("name")?.as_str()?.to_string(),
                    version: p.get("versionInfo")?.as_str()?.to_string(),
                    purl: None,
                })
            });
            packages.extend(package);
        }
        return Ok((Format::Spdx, dedup(packages)));
    }
    Err(
        "is neither a CycloneDX SBOM (bomFormat: CycloneDX) nor an SPDX one (spdxVersion)"
            .to_string(),
    )
}

pub(crate) fn dedup(mut packages: Vec<Package>) -> Vec<Package> {
    packages.sort_by(|a, b| {
        (&a.ecosystem, &a.namespace, &a.name, &a.version).cmp(&(
            &b.ecosystem,
            &b.namespace,
            &b.name,
            &b.version,
        ))
    });
    packages.dedup_by(|a, b| {
        a.ecosystem == b.ecosystem
            && a.namespace == b.namespace
            && a.name == b.name
            && a.version == b.version
    });
    packages
}

/// Replaces the packages an entity has from `source` (a file, or the
/// `usher.dev/sbom` annotation) with `packages`.
pub async fn replace(
    conn: &mut PgConnection,
    entity_id: i64,
    source: &str,
    packages: &[Package],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM packages WHERE entity_id = $1 AND source = $2")
        .bind(entity_id)
        .bind(source)
        .execute(&mut *conn)
        .await?;
    let eco: Vec<&str> = packages.iter().map(|p| p.ecosystem.as_str()).collect();
    let ns: Vec<Option<&str>> = packages.iter().map(|p| p.namespace.as_deref()).collect();
    let name: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let version: Vec<&str> = packages.iter().map(|p| p.version.as_str()).collect();
    let purl: Vec<Option<&str>> = packages.iter().map(|p| p.purl.as_deref()).collect();
    sqlx::query(
        "INSERT INTO packages (entity_id, source, ecosystem, namespace, name, version, purl)
         SELECT $1, $2, * FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])",
    )
    .bind(entity_id)
    .bind(source)
    .bind(&eco)
    .bind(&ns)
    .bind(&name)
    .bind(&version)
    .bind(&purl)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many packages an entity has, by source.
pub async fn count(pool: &PgPool, entity_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM packages WHERE entity_id = $1")
        .bind(entity_id)
        .fetch_one(pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyclonedx_with_nested_components() {
        let text = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"name":"billing"}},
            "components":[
              {"type":"library","name":"log4j-core","group":"org.apache.logging.log4j","version":"2.14.1",
               "purl":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
               "components":[{"type":"library","name":"lodash","version":"4.17.20","purl":"pkg:npm/lodash@4.17.20"}]},
              {"type":"library","name":"internal-thing","version":"1.0"}]}"#;
        let (format, packages) = parse(text).unwrap();
        assert_eq!(format, Format::CycloneDx);
        assert_eq!(packages.len(), 3);
        let log4j = packages.iter().find(|p| p.name == "log4j-core").unwrap();
        assert_eq!(
            (
                log4j.ecosystem.as_str(),
                log4j.namespace.as_deref(),
                log4j.version.as_str()
            ),
            ("maven", Some("org.apache.logging.log4j"), "2.14.1")
        );
        assert!(
            packages
                .iter()
                .any(|p| p.name == "internal-thing" && p.ecosystem == "other")
        );
    }

    #[test]
    fn spdx_without_the_described_package() {
        let text = r#"{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-root"],"packages":[
            {"SPDXID":"SPDXRef-root","name":"billing","versionInfo":"3.0.0"},
            {"SPDXID":"SPDXRef-1","name":"requests","versionInfo":"2.25.0",
             "externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:pypi/requests@2.25.0"}]}]}"#;
        let (format, packages) = parse(text).unwrap();
        assert_eq!(format, Format::Spdx);
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].ecosystem, "pypi");
    }

    #[test]
    fn not_an_sbom() {
        assert!(parse("{}").unwrap_err().contains("neither a CycloneDX"));
        assert!(parse("nope").unwrap_err().contains("is not JSON"));
    }
}
