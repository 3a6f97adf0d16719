//! `[[discovery]]`: the sources whose repositories usher accounts for —
//! GitHub organisations (github.com or Enterprise) and GitLab groups
//! (gitlab.com or self-managed, subgroups included), through their GraphQL
//! APIs. `usher discover` scans them once; `usher serve` on their
//! schedule, once across replicas.

use super::*;

/// One source of repositories.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// `github` (github.com or GitHub Enterprise) or `gitlab` (gitlab.com
    /// or self-managed).
    #[serde(rename = "type")]
    pub kind: String,
    /// GitHub: the organisation's login.
    #[serde(default)]
    pub org: String,
    /// GitLab: the group's full path (`acme`, `acme/platform`).
    #[serde(default)]
    pub group: String,
    /// The GraphQL endpoint: `https://api.github.com/graphql` (Enterprise:
    /// `https://HOST/api/graphql`), `https://gitlab.com/api/graphql`
    /// (self-managed: `https://HOST/api/graphql`). Empty in the file: the
    /// host's public one.
    #[serde(default)]
    pub graphql_url: String,
    /// The environment variable holding a token that can read the
    /// repositories (`GITHUB_TOKEN`, `GITLAB_TOKEN` by default).
    #[serde(default)]
    pub token_env: String,
    /// When `usher serve` scans it (crontab, UTC); daily at 04:00 by default.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// GitHub: read each repository's dependency graph as an SBOM (the
    /// REST API's `dependency-graph/sbom`, one call a repository that
    /// moved, within the hour's REST budget) on top of its manifests.
    #[serde(default = "yes")]
    pub dependency_graph: bool,
    /// GitHub's REST API: `https://api.github.com`, Enterprise's
    /// `https://HOST/api/v3`. Empty in the file: from `graphql_url`.
    #[serde(default)]
    pub rest_url: String,
    /// Descriptors at other paths than the root `catalog-info.yaml`
    /// (`.backstage/catalog-info.yaml`), read in every repository.
    #[serde(default)]
    pub descriptor_paths: Vec<String>,
}

fn yes() -> bool {
    true
}

fn default_schedule() -> String {
    "0 4 * * *".into()
}

impl DiscoveryConfig {
    /// Fills what the file left out with the host's defaults.
    pub(super) fn fill_defaults(&mut self) {
        let (url, token_env) = match self.kind.as_str() {
            "gitlab" => ("https://gitlab.com/api/graphql", "GITLAB_TOKEN"),
            _ => ("https://api.github.com/graphql", "GITHUB_TOKEN"),
        };
        if self.graphql_url.is_empty() {
            self.graphql_url = url.into();
        }
        if self.token_env.is_empty() {
            self.token_env = token_env.into();
        }
        if self.rest_url.is_empty() {
            // api.github.com/graphql → api.github.com; HOST/api/graphql → HOST/api/v3.
            self.rest_url = match self.graphql_url.strip_suffix("/api/graphql") {
                Some(host) => format!("{host}/api/v3"),
                None => self
                    .graphql_url
                    .trim_end_matches('/')
                    .trim_end_matches("/graphql")
                    .to_string(),
            };
        }
    }

    /// The organisation or group whose repositories these are.
    pub fn scope(&self) -> &str {
        if self.kind == "gitlab" {
            &self.group
        } else {
            &self.org
        }
    }

    /// The token from the environment (`token_env`), when it is set.
    pub fn token(&self) -> Option<String> {
        std::env::var(&self.token_env)
            .ok()
            .filter(|t| !t.is_empty())
    }

    /// The source's name in `repositories` and in what usher prints.
    pub fn source(&self) -> String {
        format!("{}:{}", self.kind, self.scope().to_lowercase())
    }
}

/// Every `[[discovery]]` entry checked; the error names the entry and key.
pub(super) fn check_discovery(entries: &[DiscoveryConfig]) -> Result<(), String> {
    for (i, entry) in entries.iter().enumerate() {
        match entry.kind.as_str() {
            "github" => {
                let login_ok = !entry.org.is_empty()
                    && entry.org.len() <= 39
                    && entry
                        .org
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-');
                if !login_ok {
                    return Err(format!(
                        "discovery[{i}].org: '{}' is not a GitHub organisation login (letters, digits and -)",
                        entry.org
                    ));
                }
            }
            "gitlab" => {
                let path_ok = !entry.group.is_empty()
                    && entry.group.len() <= 255
                    && entry.group.split('/').all(|part| {
                        !part.is_empty()
                            && part
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    });
                if !path_ok {
                    return Err(format!(
                        "discovery[{i}].group: '{}' is not a GitLab group's full path (acme, or acme/platform)",
                        entry.group
                    ));
                }
            }
            other => {
                return Err(format!(
                    "discovery[{i}].type: '{other}' is not a source usher scans; use github or gitlab (a folder of clones is `usher discover --path DIR`)"
                ));
            }
        }
        if entry.descriptor_paths.len() > 10 {
            return Err(format!(
                "discovery[{i}].descriptor_paths: at most 10 (each is asked for in every repository)"
            ));
        }
        for path in &entry.descriptor_paths {
            let safe = !path.is_empty()
                && path.len() <= 200
                && !path.starts_with('/')
                && (path.ends_with(".yaml") || path.ends_with(".yml"))
                && path
                    .split('/')
                    .all(|part| !part.is_empty() && part != ".." && part != ".")
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
            if !safe {
                return Err(format!(
                    "discovery[{i}].descriptor_paths: '{path}' is not a path in a repository (relative, letters, digits, . _ - and /, ending in .yaml or .yml)"
                ));
            }
        }
        crate::schedule::Schedule::parse(&entry.schedule, "")
            .map_err(|why| format!("discovery[{i}].schedule: {why}"))?;
        if reqwest::Url::parse(&entry.graphql_url).is_err() {
            return Err(format!(
                "discovery[{i}].graphql_url: '{}' is not a URL",
                entry.graphql_url
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_addresses_follow_the_graphql_one() {
        let entry = |url: &str| {
            let mut e: DiscoveryConfig = toml::from_str(&format!(
                "type = \"github\"\norg = \"acme\"\ngraphql_url = \"{url}\"\n"
            ))
            .unwrap();
            e.fill_defaults();
            e.rest_url
        };
        assert_eq!(
            entry("https://api.github.com/graphql"),
            "https://api.github.com"
        );
        assert_eq!(
            entry("https://github.example.com/api/graphql"),
            "https://github.example.com/api/v3"
        );
    }

    #[test]
    fn descriptor_paths_stay_inside_the_repository() {
        let check = |path: &str| {
            let mut e: DiscoveryConfig = toml::from_str(&format!(
                "type = \"github\"\norg = \"acme\"\ndescriptor_paths = ['{path}']\n"
            ))
            .unwrap();
            e.fill_defaults();
            check_discovery(&[e])
        };
        assert!(check(".backstage/catalog-info.yaml").is_ok());
        for bad in [
            "../secrets.yaml",
            "/etc/x.yaml",
            "a/\"b.yaml",
            "notes.txt",
            "a//b.yaml",
        ] {
            assert!(
                check(bad).unwrap_err().contains("descriptor_paths"),
                "{bad}"
            );
        }
    }
}
