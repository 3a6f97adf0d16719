//! Writing the catalog back as Backstage YAML: one file per kind and a
//! Location that lists them (or one stream on stdout), from each entity's
//! document as imported — or as created in chat — so what usher holds can
//! go back into git, or into another Backstage-compatible tool.
//!
//! Location entities are not exported: their targets point at files of the
//! original location. The export's own `catalog-info.yaml` replaces them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::PgPool;

use super::model::Kind;

/// Where the export goes.
#[derive(Debug, Clone)]
pub enum Output {
    Dir(PathBuf),
    Stdout,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    pub entities: usize,
    /// File name → entities in it.
    pub files: BTreeMap<String, usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("an entity could not be written as YAML: {0}")]
    Yaml(String),
}

fn file_for(kind: Kind) -> &'static str {
    match kind {
        Kind::Component => "components.yaml",
        Kind::Api => "apis.yaml",
        Kind::Resource => "resources.yaml",
        Kind::System => "systems.yaml",
        Kind::Domain => "domains.yaml",
        Kind::Group => "groups.yaml",
        Kind::User => "users.yaml",
        Kind::Template => "templates.yaml",
        Kind::Location => "locations.yaml",
    }
}

/// One entity as a YAML document (with its leading `---`).
fn document(raw: &Value) -> Result<String, ExportError> {
    let text = serde_yaml_ng::to_string(raw).map_err(|e| ExportError::Yaml(e.to_string()))?;
    Ok(format!("---\n{text}"))
}

/// Writes the catalog.
pub async fn export(pool: &PgPool, output: &Output) -> Result<Exported, ExportError> {
    let mut exported = Exported::default();
    let mut writers: BTreeMap<&'static str, Box<dyn Write>> = BTreeMap::new();
    let mut stdout = std::io::stdout().lock();
    let mut rows = sqlx::query_as::<_, (String, Value)>(
        "SELECT kind, raw FROM entities WHERE kind <> 'location' ORDER BY kind, namespace, name",
    )
    .fetch(pool);
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ExportError::Io { path, source }
    };
    if let Output::Dir(dir) = output {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    while let Some((kind, raw)) = rows.try_next().await? {
        let Some(kind) = Kind::parse(&kind) else {
            continue;
        };
        let doc = document(&raw)?;
        let name = file_for(kind);
        match output {
            Output::Stdout => stdout
                .write_all(doc.as_bytes())
                .map_err(io(Path::new("stdout")))?,
            Output::Dir(dir) => {
                if !writers.contains_key(name) {
                    let path = dir.join(name);
                    let file = std::fs::File::create(&path).map_err(io(&path))?;
                    writers.insert(name, Box::new(std::io::BufWriter::new(file)));
                }
                let writer = writers.get_mut(name).expect("just inserted");
                writer
                    .write_all(doc.as_bytes())
                    .map_err(io(&dir.join(name)))?;
            }
        }
        *exported.files.entry(name.to_string()).or_default() += 1;
        exported.entities += 1;
    }
    for (name, mut writer) in writers {
        writer.flush().map_err(io(Path::new(name)))?;
    }
    if let Output::Dir(dir) = output {
        let targets: Vec<String> = exported
            .files
            .keys()
            .map(|f| format!("    - ./{f}"))
            .collect();
        let root = format!(
            "# Written by `usher catalog export`: every entity of the catalog, one file per kind.\n\
             apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: usher-export\n  description: The usher catalog, exported\nspec:\n  targets:\n{}\n",
            targets.join("\n")
        );
        let path = dir.join("catalog-info.yaml");
        std::fs::write(&path, root).map_err(io(&path))?;
    }
    Ok(exported)
}
