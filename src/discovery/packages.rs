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
    // A batch at a time: a first scan's packages are written without a
    // second copy of them all.
    let mut batch = Rows::default();
    for (id, found) in moved {
        for dep in &found.deps {
            batch.push(*id, found.file_of(dep), dep);
            if batch.ids.len() >= BATCH {
                batch.write(tx).await?;
                batch = Rows::default();
            }
        }
    }
    batch.write(tx).await
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
    fn push(&mut self, id: i64, file: &str, dep: &super::manifests::Dep) {
        self.ids.push(id);
        self.files.push(file.to_string());
        self.ecosystems.push(dep.ecosystem.to_string());
        self.namespaces
            .push(dep.namespace.as_deref().map(str::to_string));
        self.names.push(dep.name.to_string());
        self.versions.push(dep.version.to_string());
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
