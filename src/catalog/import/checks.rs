//! What an import finds across the catalog once its writes are in:
//! references that resolve nowhere, names that clash by case, and the
//! location's problems recorded (new inserted, repeated touched, fixed
//! deleted).

use super::*;

/// A relation whose target is missing: file, line, field, target, source
/// entity, its owner.
type DanglingRow = (
    Option<String>,
    Option<i32>,
    Option<String>,
    String,
    String,
    Option<String>,
);

/// References from this location's entities that resolve nowhere in the
/// catalog (after this import's writes): warnings at the line they were
/// written, suggesting the user or group of the same name when one exists.
pub(super) async fn dangling_references(
    tx: &mut Transaction<'_, Postgres>,
    location_id: i64,
) -> Result<Vec<Problem>, sqlx::Error> {
    let rows: Vec<DanglingRow> = sqlx::query_as(
        "SELECT e.source_file, r.line, r.field, r.target_ref, e.ref, e.owner_ref
         FROM relations r JOIN entities e ON e.id = r.source_id
         WHERE e.location_id = $1 AND NOT EXISTS (SELECT 1 FROM entities t WHERE t.ref = r.target_ref)
         ORDER BY e.source_file, r.line",
    )
    .bind(location_id)
    .fetch_all(&mut **tx)
    .await?;
    let alternatives: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            EntityRef::from_key(&row.3)
                .and_then(|t| loader::other_party(&t))
                .map(|a| a.key())
        })
        .collect();
    let known: HashSet<String> = sqlx::query_scalar("SELECT ref FROM entities WHERE ref = ANY($1)")
        .bind(&alternatives)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(file, line, field, target, source, owner)| {
            let alt = EntityRef::from_key(&target).and_then(|t| loader::other_party(&t));
            let target_text = EntityRef::from_key(&target)
                .map(|t| t.to_string())
                .unwrap_or(target);
            let mut p = Problem::warning(
                file.as_deref().unwrap_or("-"),
                line.map(|l| l as usize),
                field.as_deref().unwrap_or("spec"),
                loader::dangling_message(
                    &target_text,
                    alt.filter(|a| known.contains(&a.key())).as_ref(),
                ),
            );
            p.entity_ref = Some(source);
            p.owner_ref = owner;
            p
        })
        .collect())
}

/// Records this import's problems for the location: new ones inserted,
/// repeated ones touched (`last_seen`), fixed ones deleted.
pub(super) async fn record_problems(
    tx: &mut Transaction<'_, Postgres>,
    location_id: i64,
    problems: &[Problem],
) -> Result<(), sqlx::Error> {
    // One row per identity (location, file, entity, field, message).
    let mut unique: HashMap<(String, String, String, String), &Problem> = HashMap::new();
    for p in problems {
        unique
            .entry((
                p.file.clone(),
                p.entity_ref.clone().unwrap_or_default(),
                p.field.clone(),
                p.message.clone(),
            ))
            .or_insert(p);
    }
    let problems: Vec<&Problem> = unique.into_values().collect();
    let file: Vec<String> = problems.iter().map(|p| p.file.clone()).collect();
    let line: Vec<Option<i32>> = problems.iter().map(|p| p.line.map(|l| l as i32)).collect();
    let entity_ref: Vec<Option<String>> = problems.iter().map(|p| p.entity_ref.clone()).collect();
    let owner_ref: Vec<Option<String>> = problems.iter().map(|p| p.owner_ref.clone()).collect();
    let field: Vec<String> = problems.iter().map(|p| p.field.clone()).collect();
    let message: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    let severity: Vec<String> = problems
        .iter()
        .map(|p| p.severity.as_str().to_string())
        .collect();
    sqlx::query(
        "WITH incoming AS (
             SELECT * FROM UNNEST($2::text[], $3::int4[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                 AS u(file, line, entity_ref, owner_ref, field, message, severity)
         ), upserted AS (
             INSERT INTO import_problems (location_id, file, line, entity_ref, owner_ref, field, message, severity)
             SELECT $1, file, line, entity_ref, owner_ref, field, message, severity FROM incoming
             ON CONFLICT (location_id, file, coalesce(entity_ref, ''), field, message)
             DO UPDATE SET last_seen = now(), line = EXCLUDED.line, owner_ref = EXCLUDED.owner_ref, severity = EXCLUDED.severity
             RETURNING id
         )
         DELETE FROM import_problems WHERE location_id = $1 AND id NOT IN (SELECT id FROM upserted)",
    )
    .bind(location_id)
    .bind(&file)
    .bind(&line)
    .bind(&entity_ref)
    .bind(&owner_ref)
    .bind(&field)
    .bind(&message)
    .bind(&severity)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Which of `keys` the catalog knows (for dangling-reference warnings).
pub async fn known_refs(pool: &PgPool, keys: &[String]) -> Result<HashSet<String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT ref FROM entities WHERE ref = ANY($1)")
        .bind(keys)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Entities whose name differs only by case from one already in the
/// catalog: a warning for `validate` (names are case-insensitive, so the
/// import would treat them as the same entity).
pub async fn case_clashes(pool: &PgPool, entities: &[Entity]) -> Result<Vec<Problem>, sqlx::Error> {
    let refs: Vec<String> = entities.iter().map(|e| e.eref.key()).collect();
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT e.ref, e.name, coalesce(l.target, 'chat') FROM entities e LEFT JOIN locations l ON l.id = e.location_id
         WHERE e.ref = ANY($1)",
    )
    .bind(&refs)
    .fetch_all(pool)
    .await?;
    let existing: HashMap<String, (String, Option<String>)> = rows
        .into_iter()
        .map(|(r, name, from)| (r, (name, from)))
        .collect();
    let mut problems = Vec::new();
    for e in entities {
        if let Some((name, from)) = existing.get(&e.eref.key())
            && *name != e.eref.name
        {
            let mut p = Problem::warning(
                &e.file,
                Some(e.line),
                "metadata.name",
                format!(
                    "{} differs only by case from {} already in the catalog (from {}); names are case-insensitive, so they are the same entity — use one spelling",
                    quote(&e.eref.name),
                    quote(name),
                    from.as_deref().unwrap_or("chat")
                ),
            );
            p.entity_ref = Some(e.eref.key());
            problems.push(p);
        }
    }
    Ok(problems)
}
