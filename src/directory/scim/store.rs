//! SCIM resources in Postgres (`scim_resources`): each write bumps the
//! version (the ETag) in one statement guarded by the version a client
//! saw, so two writers can't lose each other's change; a name is unique
//! per type without regard to case; a delete hides the resource but keeps
//! it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use super::resource::{Kind, Stored};

/// Why a write didn't happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such resource")]
    NotFound,
    #[error("the name is taken")]
    Taken,
    #[error("the resource changed since that version")]
    Changed,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

type Row = (String, Value, i32, DateTime<Utc>, DateTime<Utc>);

fn stored(kind: Kind, (id, data, version, created, modified): Row) -> Stored {
    Stored {
        id,
        kind,
        data,
        version,
        created,
        modified,
    }
}

const COLUMNS: &str = "id::text, data, version, created_at, modified_at";

/// The fields kept beside the data for lookups.
fn index_fields(kind: Kind, data: &Value) -> (String, Option<String>, bool) {
    let field = |name: &str| super::resource::attribute(data, name);
    let name = field(kind.name_attribute())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let external = field("externalId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let active = field("active").and_then(Value::as_bool).unwrap_or(true);
    (name, external, active)
}

fn unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}

pub async fn create(pool: &PgPool, kind: Kind, data: Value) -> Result<Stored, StoreError> {
    let (name, external, active) = index_fields(kind, &data);
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO scim_resources (resource_type, name, external_id, active, data)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(kind.as_str())
    .bind(&name)
    .bind(&external)
    .bind(active)
    .bind(&data)
    .fetch_one(pool)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            StoreError::Taken
        } else {
            e.into()
        }
    })?;
    Ok(stored(kind, row))
}

pub async fn get(pool: &PgPool, kind: Kind, id: &str) -> Result<Option<Stored>, sqlx::Error> {
    if uuid_like(id).is_none() {
        return Ok(None);
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM scim_resources
         WHERE id = $1::uuid AND resource_type = $2 AND deleted_at IS NULL"
    )))
    .bind(id)
    .bind(kind.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| stored(kind, r)))
}

/// Every resource of a kind; with `by_name` / `by_external_id`, only that
/// one (the filters identity providers send most: `userName eq "…"`).
pub async fn list(
    pool: &PgPool,
    kind: Kind,
    by_name: Option<&str>,
    by_external_id: Option<&str>,
) -> Result<Vec<Stored>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM scim_resources
         WHERE resource_type = $1 AND deleted_at IS NULL
           AND ($2::text IS NULL OR lower(name) = lower($2))
           AND ($3::text IS NULL OR external_id = $3)
         ORDER BY created_at, id"
    )))
    .bind(kind.as_str())
    .bind(by_name)
    .bind(by_external_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| stored(kind, r)).collect())
}

/// Replaces the data when the version is `expected` (any, when `None`).
pub async fn replace(
    pool: &PgPool,
    kind: Kind,
    id: &str,
    data: Value,
    expected: Option<i32>,
) -> Result<Stored, StoreError> {
    if uuid_like(id).is_none() {
        return Err(StoreError::NotFound);
    }
    let (name, external, active) = index_fields(kind, &data);
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE scim_resources SET data = $3, name = $4, external_id = $5, active = $6,
             version = version + 1, modified_at = now()
         WHERE id = $1::uuid AND resource_type = $2 AND deleted_at IS NULL
           AND ($7::int IS NULL OR version = $7)
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(kind.as_str())
    .bind(&data)
    .bind(&name)
    .bind(&external)
    .bind(active)
    .bind(expected)
    .fetch_optional(pool)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            StoreError::Taken
        } else {
            StoreError::from(e)
        }
    })?;
    match row {
        Some(r) => Ok(stored(kind, r)),
        None if expected.is_some() && get(pool, kind, id).await?.is_some() => {
            Err(StoreError::Changed)
        }
        None => Err(StoreError::NotFound),
    }
}

/// Hides the resource (its history stays); `expected` as for [`replace`].
pub async fn delete(
    pool: &PgPool,
    kind: Kind,
    id: &str,
    expected: Option<i32>,
) -> Result<(), StoreError> {
    if uuid_like(id).is_none() {
        return Err(StoreError::NotFound);
    }
    let done = sqlx::query(
        "UPDATE scim_resources SET deleted_at = now(), active = false, version = version + 1
         WHERE id = $1::uuid AND resource_type = $2 AND deleted_at IS NULL
           AND ($3::int IS NULL OR version = $3)",
    )
    .bind(id)
    .bind(kind.as_str())
    .bind(expected)
    .execute(pool)
    .await?
    .rows_affected();
    match done {
        1 => Ok(()),
        _ if expected.is_some() && get(pool, kind, id).await?.is_some() => Err(StoreError::Changed),
        _ => Err(StoreError::NotFound),
    }
}

/// An id that can be a UUID (anything else is simply not found, never an
/// SQL error).
fn uuid_like(id: &str) -> Option<&str> {
    let ok = id.len() == 36
        && id.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then_some(id)
}
