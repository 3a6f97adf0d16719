//! Writing entities: one batched `UNNEST` upsert of their typed columns,
//! then their relations and links replaced, all inside the location's
//! transaction.

use super::*;

/// Column vectors for one `INSERT … SELECT FROM UNNEST(…)`.
#[derive(Default)]
pub(super) struct Columns {
    kind: Vec<String>,
    namespace: Vec<String>,
    name: Vec<String>,
    text: [Vec<Option<String>>; TEXT_COLUMNS.len()],
    active: Vec<bool>,
    annotations: Vec<Value>,
    tags: Vec<Value>,
    raw: Vec<Value>,
    source_file: Vec<String>,
    source_line: Vec<i32>,
    hash: Vec<String>,
}

/// The optional text columns, in the order [`text_values`] fills them.
pub(super) const TEXT_COLUMNS: [&str; 25] = [
    "title",
    "description",
    "spec_type",
    "lifecycle",
    "owner_ref",
    "system_ref",
    "domain_ref",
    "parent_ref",
    "tier",
    "language",
    "framework",
    "techdocs_ref",
    "source_location",
    "github_slug",
    "pagerduty_service_id",
    "pagerduty_integration_key",
    "opsgenie_team",
    "opsgenie_component_selector",
    "slack_channel",
    "discord_channel",
    "email",
    "display_name",
    "slack_user_id",
    "discord_user_id",
    "lead_ref",
];

pub(super) fn text_values(e: &Entity) -> [Option<String>; TEXT_COLUMNS.len()] {
    let key = |r: &Option<crate::catalog::model::EntityRef>| r.as_ref().map(|r| r.key());
    [
        e.title.clone(),
        e.description.clone(),
        e.spec_type.clone(),
        e.lifecycle.clone(),
        key(&e.owner),
        key(&e.system),
        key(&e.domain),
        key(&e.parent),
        e.tier.clone(),
        e.language.clone(),
        e.framework.clone(),
        e.techdocs_ref.clone(),
        e.source_location.clone(),
        e.github_slug.clone(),
        e.pagerduty_service_id.clone(),
        e.pagerduty_integration_key.clone(),
        e.opsgenie_team.clone(),
        e.opsgenie_component_selector.clone(),
        e.slack_channel.clone(),
        e.discord_channel.clone(),
        e.email.clone(),
        e.display_name.clone(),
        e.slack_user_id.clone(),
        e.discord_user_id.clone(),
        key(&e.lead),
    ]
}

/// Writes entities in batches; returns (id, ref) of each written row.
pub(crate) async fn upsert_entities(
    tx: &mut Transaction<'_, Postgres>,
    location_id: Option<i64>,
    entities: &[&Entity],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    crate::catalog::read_model::note_local_write();
    let mut ids = HashMap::with_capacity(entities.len());
    for chunk in entities.chunks(5_000) {
        let mut c = Columns::default();
        for e in chunk {
            c.kind.push(e.eref.kind.as_str().to_string());
            c.namespace.push(e.eref.namespace.clone());
            c.name.push(e.eref.name.clone());
            for (column, value) in c.text.iter_mut().zip(text_values(e)) {
                column.push(value);
            }
            c.active.push(e.active);
            c.annotations.push(Value::Object(e.annotations.clone()));
            c.tags.push(json!(e.tags));
            c.raw.push(e.raw.clone());
            c.source_file.push(e.file.clone());
            c.source_line.push(e.line as i32);
            c.hash.push(e.content_hash());
        }
        let text_names = TEXT_COLUMNS.join(", ");
        let text_params: Vec<String> = (0..TEXT_COLUMNS.len())
            .map(|i| format!("${}::text[]", i + 4))
            .collect();
        let base = TEXT_COLUMNS.len() + 4;
        let updates: Vec<String> = TEXT_COLUMNS
            .iter()
            .chain(
                [
                    "active",
                    "annotations",
                    "tags",
                    "raw",
                    "source_file",
                    "source_line",
                    "content_hash",
                ]
                .iter(),
            )
            .map(|col| format!("{col} = EXCLUDED.{col}"))
            .collect();
        let sql = format!(
            "INSERT INTO entities (kind, namespace, name, {text_names}, active, annotations, tags, raw,
                                   origin, location_id, source_file, source_line, content_hash)
             SELECT u.kind, u.namespace, u.name, {text_cols}, u.active, u.annotations,
                    ARRAY(SELECT jsonb_array_elements_text(u.tags)), u.raw,
                    CASE WHEN ${loc}::bigint IS NULL THEN 'chat' ELSE 'location' END, ${loc}::bigint,
                    u.source_file, u.source_line, u.hash
             FROM UNNEST($1::text[], $2::text[], $3::text[], {text_params}, ${b0}::bool[], ${b1}::jsonb[],
                         ${b2}::jsonb[], ${b3}::jsonb[], ${b4}::text[], ${b5}::int4[], ${b6}::text[])
                  AS u(kind, namespace, name, {text_names}, active, annotations, tags, raw, source_file, source_line, hash)
             ON CONFLICT (ref) DO UPDATE SET {updates}, namespace = EXCLUDED.namespace, name = EXCLUDED.name,
                  origin = EXCLUDED.origin, location_id = EXCLUDED.location_id, updated_at = now()
             RETURNING id, ref",
            text_cols = TEXT_COLUMNS.iter().map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", "),
            text_params = text_params.join(", "),
            b0 = base,
            b1 = base + 1,
            b2 = base + 2,
            b3 = base + 3,
            b4 = base + 4,
            b5 = base + 5,
            b6 = base + 6,
            loc = base + 7,
            updates = updates.join(", "),
        );
        // Every part of `sql` is a constant of this module: no user text.
        let mut query = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql))
            .bind(&c.kind)
            .bind(&c.namespace)
            .bind(&c.name);
        for column in &c.text {
            query = query.bind(column);
        }
        let rows = query
            .bind(&c.active)
            .bind(&c.annotations)
            .bind(&c.tags)
            .bind(&c.raw)
            .bind(&c.source_file)
            .bind(&c.source_line)
            .bind(&c.hash)
            .bind(location_id)
            .fetch_all(&mut **tx)
            .await?;
        ids.extend(rows.into_iter().map(|(id, r)| (r, id)));
    }
    Ok(ids)
}

/// Replaces the relations and links of the written entities.
pub(crate) async fn replace_relations_and_links(
    tx: &mut Transaction<'_, Postgres>,
    ids: &HashMap<String, i64>,
    entities: &[&Entity],
) -> Result<(), sqlx::Error> {
    if entities.is_empty() {
        return Ok(());
    }
    let all_ids: Vec<i64> = ids.values().copied().collect();
    sqlx::query("DELETE FROM relations WHERE source_id = ANY($1)")
        .bind(&all_ids)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM links WHERE entity_id = ANY($1)")
        .bind(&all_ids)
        .execute(&mut **tx)
        .await?;
    for chunk in entities.chunks(10_000) {
        let (mut src, mut kind, mut target, mut field, mut line) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut lsrc, mut lpos, mut lcat, mut ltitle, mut lurl, mut licon) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for e in chunk {
            let Some(id) = ids.get(&e.eref.key()) else {
                continue;
            };
            let mut unique = HashSet::new();
            for r in e
                .relations
                .iter()
                .filter(|r| unique.insert((r.kind, r.target.key())))
            {
                src.push(*id);
                kind.push(r.kind.to_string());
                target.push(r.target.key());
                field.push(r.field.clone());
                line.push(r.line.map(|l| l as i32));
            }
            for (i, l) in e.links.iter().enumerate() {
                lsrc.push(*id);
                lpos.push(i as i32);
                lcat.push(l.category.as_str().to_string());
                ltitle.push(l.title.clone());
                lurl.push(l.url.clone());
                licon.push(l.icon.clone());
            }
        }
        if !src.is_empty() {
            sqlx::query(
                "INSERT INTO relations (source_id, type, target_ref, field, line)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int4[])",
            )
            .bind(&src)
            .bind(&kind)
            .bind(&target)
            .bind(&field)
            .bind(&line)
            .execute(&mut **tx)
            .await?;
        }
        // Rotations declared by teams (`spec.oncall`): written, or removed
        // when a team no longer declares one.
        let mut undeclared = Vec::new();
        for e in chunk
            .iter()
            .filter(|e| e.eref.kind == crate::catalog::model::Kind::Group)
        {
            match &e.rotation {
                Some(r) => {
                    sqlx::query(
                        "INSERT INTO rotations (team_ref, people, length_days, handoff, timezone, start_date, source, updated_by)
                         VALUES ($1, $2, $3, $4, $5, $6, 'catalog', 'catalog')
                         ON CONFLICT (team_ref) DO UPDATE SET people = EXCLUDED.people, length_days = EXCLUDED.length_days,
                             handoff = EXCLUDED.handoff, timezone = EXCLUDED.timezone, start_date = EXCLUDED.start_date,
                             source = 'catalog', updated_by = 'catalog', updated_at = now()",
                    )
                    .bind(e.eref.key())
                    .bind(&r.people)
                    .bind(r.length_days as i32)
                    .bind(r.handoff)
                    .bind(&r.timezone)
                    .bind(r.start)
                    .execute(&mut **tx)
                    .await?;
                }
                None => undeclared.push(e.eref.key()),
            }
        }
        if !undeclared.is_empty() {
            sqlx::query("DELETE FROM rotations WHERE team_ref = ANY($1) AND source = 'catalog'")
                .bind(&undeclared)
                .execute(&mut **tx)
                .await?;
        }
        // Packages from `usher.dev/sbom` annotations: cleared in one
        // statement where there is none, replaced where there is.
        let mut cleared = Vec::new();
        for e in chunk {
            let Some(id) = ids.get(&e.eref.key()) else {
                continue;
            };
            match &e.packages {
                PackagesUpdate::Keep => {}
                PackagesUpdate::Clear => cleared.push(*id),
                PackagesUpdate::Replace { packages, .. } => {
                    crate::catalog::sbom::replace(tx, *id, "annotation", packages).await?;
                }
            }
        }
        sqlx::query("DELETE FROM packages WHERE entity_id = ANY($1) AND source = 'annotation'")
            .bind(&cleared)
            .execute(&mut **tx)
            .await?;
        if !lsrc.is_empty() {
            sqlx::query(
                "INSERT INTO links (entity_id, position, category, title, url, icon)
                 SELECT * FROM UNNEST($1::bigint[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[])",
            )
            .bind(&lsrc)
            .bind(&lpos)
            .bind(&lcat)
            .bind(&ltitle)
            .bind(&lurl)
            .bind(&licon)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
