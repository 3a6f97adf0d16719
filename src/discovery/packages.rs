//! What the repositories discovery found depend on, kept for `search dep:`
//! in `repository_packages`: replaced whole for each repository that moved,
//! in batches (a first scan of thousands of repositories is a few
//! statements, not one per package).

use sqlx::{PgConnection, Postgres, Transaction};

use super::manifests::Found;

/// Rows written a statement.
const BATCH: usize = 10_000;

/// Replaces the packages of each (repository id, what its manifests pin).
pub(super) async fn replace(
    tx: &mut Transaction<'_, Postgres>,
    moved: &[(i64, &Found)],
) -> Result<(), sqlx::Error> {
    let ids: Vec<i64> = moved.iter().map(|(id, _)| *id).collect();
    sqlx::query("DELETE FROM repository_packages WHERE repository_id = ANY($1)")
        .bind(&ids)
        .execute(&mut **tx)
        .await?;
    // Batches are made before any is written: nothing borrowed from the
    // scan is held across an await.
    let mut batches = vec![Rows::default()];
    for (id, found) in moved {
        for (file, package) in &found.packages {
            if batches.last().is_some_and(|b| b.ids.len() >= BATCH) {
                batches.push(Rows::default());
            }
            if let Some(batch) = batches.last_mut() {
                batch.push(*id, file, package);
            }
        }
    }
    for batch in &batches {
        batch.write(tx).await?;
    }
    Ok(())
}

/// A batch as columns, for one `UNNEST` insert.
#[derive(Default)]
struct Rows {
    ids: Vec<i64>,
    files: Vec<String>,
    ecosystems: Vec<String>,
    namespaces: Vec<Option<String>>,
    names: Vec<String>,
    versions: Vec<String>,
}

impl Rows {
    fn push(&mut self, id: i64, file: &str, package: &crate::catalog::sbom::Package) {
        self.ids.push(id);
        self.files.push(file.to_string());
        self.ecosystems.push(package.ecosystem.clone());
        self.namespaces.push(package.namespace.clone());
        self.names.push(package.name.clone());
        self.versions.push(package.version.clone());
    }

    async fn write(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO repository_packages (repository_id, file, ecosystem, namespace, name, version)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])",
        )
        .bind(&self.ids)
        .bind(&self.files)
        .bind(&self.ecosystems)
        .bind(&self.namespaces)
        .bind(&self.names)
        .bind(&self.versions)
        .execute(tx)
        .await?;
        Ok(())
    }
}
