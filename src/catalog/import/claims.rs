//! Who holds which identity: an email, a Slack id or a Discord id one
//! person holds can't be claimed by another. Checked per batch against
//! other locations' people and linked chat accounts, and settled among the
//! location's own people once all of it is written (so renames and swaps go
//! through).

use super::*;

/// The ways a chat account is matched to a person: whoever holds one of
/// these is that person to usher.
pub(super) fn identities(entity: &Entity) -> Vec<(&'static str, String)> {
    if entity.eref.kind != Kind::User {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(email) = &entity.email {
        out.push(("spec.profile.email", email.to_lowercase()));
    }
    if let Some(id) = &entity.slack_user_id {
        out.push(("Slack id", id.clone()));
    }
    if let Some(id) = &entity.discord_user_id {
        out.push(("Discord id", id.clone()));
    }
    out
}

/// Which person already holds each email, Slack id and Discord id the
/// batch's people name: Users of other locations (this location's own are
/// settled among themselves, so a rename or a swap goes through), and
/// Discord accounts linked with `me link`. The oldest holder first.
pub(super) async fn held_identities(
    tx: &mut Transaction<'_, Postgres>,
    location_id: i64,
    batch: &[Entity],
) -> Result<HashMap<(&'static str, String), String>, sqlx::Error> {
    /// A person and the email, Slack id and Discord id they hold.
    type Holder = (String, Option<String>, Option<String>, Option<String>);
    let claims: Vec<(&'static str, String)> = batch.iter().flat_map(identities).collect();
    if claims.is_empty() {
        return Ok(HashMap::new());
    }
    let values: Vec<String> = claims.iter().map(|(_, v)| v.clone()).collect();
    let rows: Vec<Holder> = sqlx::query_as(
        "SELECT ref, email, slack, discord FROM (
             SELECT ref, lower(email) AS email, slack_user_id AS slack, discord_user_id AS discord, 0 AS rank, id
             FROM entities
             WHERE kind = 'user' AND location_id IS DISTINCT FROM $2
               AND (lower(email) = ANY($1) OR slack_user_id = ANY($1) OR discord_user_id = ANY($1))
             UNION ALL
             SELECT person_ref, NULL, NULL, user_id, 1, 0 FROM chat_links
             WHERE platform = 'discord' AND user_id = ANY($1)
         ) held ORDER BY rank, id",
    )
    .bind(&values)
    .bind(location_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut held = HashMap::new();
    for (person, email, slack, discord) in rows {
        for (what, value) in [
            ("spec.profile.email", email),
            ("Slack id", slack),
            ("Discord id", discord),
        ] {
            if let Some(value) = value {
                held.entry((what, value)).or_insert_with(|| person.clone());
            }
        }
    }
    Ok(held)
}

/// A person claiming an email or chat id that someone else already holds:
/// the newer claim is refused where it is written, and the holder keeps it
/// (otherwise any descriptor could make its author somebody else).
pub(super) fn claim_problem(
    entity: &Entity,
    key: &str,
    held: &HashMap<(&'static str, String), String>,
) -> Option<Problem> {
    let ((what, value), holder) = identities(entity).into_iter().find_map(|claim| {
        held.get(&claim)
            .filter(|holder| *holder != key)
            .cloned()
            .map(|holder| (claim, holder))
    })?;
    Some(claim_refused(
        &entity.file,
        Some(entity.line),
        key,
        what,
        &value,
        &holder,
    ))
}

/// The problem of a refused identity claim.
pub(super) fn claim_refused(
    file: &str,
    line: Option<usize>,
    key: &str,
    what: &str,
    value: &str,
    holder: &str,
) -> Problem {
    let mut p = Problem::error(
        file,
        line,
        "spec.profile",
        format!(
            "the {what} {} belongs to {holder} already; one person per {what}, so this User is refused and {holder} keeps it — remove it here, or change it there first",
            quote(value)
        ),
    );
    p.entity_ref = Some(key.to_string());
    p
}

/// Settles identity claims among a location's own people, once all of it
/// is written (so a rename or two people swapping emails go through): of
/// two Users with the same email, Slack id or Discord id, the one the
/// catalog had first keeps it and the newer is removed, with the problem
/// where it is written.
pub(super) async fn settle_claims_within(
    tx: &mut Transaction<'_, Postgres>,
    location_id: i64,
) -> Result<Vec<Problem>, sqlx::Error> {
    type Clash = (
        i64,
        String,
        Option<String>,
        Option<i32>,
        String,
        String,
        String,
    );
    let clashes: Vec<Clash> = sqlx::query_as(
        "SELECT DISTINCT ON (m.id) m.id, m.ref, m.source_file, m.source_line, c.what, c.value, o.ref
         FROM entities m
         CROSS JOIN LATERAL (VALUES
             ('spec.profile.email', lower(m.email)),
             ('Slack id', m.slack_user_id),
             ('Discord id', m.discord_user_id)) AS c(what, value)
         JOIN entities o ON o.kind = 'user' AND o.id < m.id AND (
             (c.what = 'spec.profile.email' AND lower(o.email) = c.value)
             OR (c.what = 'Slack id' AND o.slack_user_id = c.value)
             OR (c.what = 'Discord id' AND o.discord_user_id = c.value))
         WHERE m.location_id = $1 AND m.kind = 'user' AND c.value IS NOT NULL
         ORDER BY m.id, o.id",
    )
    .bind(location_id)
    .fetch_all(&mut **tx)
    .await?;
    if clashes.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = clashes.iter().map(|c| c.0).collect();
    sqlx::query("DELETE FROM entities WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut **tx)
        .await?;
    Ok(clashes
        .into_iter()
        .map(|(_, key, file, line, what, value, holder)| {
            claim_refused(
                file.as_deref().unwrap_or_default(),
                line.map(|l| l as usize),
                &key,
                &what,
                &value,
                &holder,
            )
        })
        .collect())
}
