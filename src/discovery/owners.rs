//! A likely owner for a repository without a descriptor, with the evidence
//! for it: the CODEOWNERS default rule's first owner that is a catalog
//! team — `@org/team` by `[directory.forge_teams]`, then by a Group's
//! `github.com/team-slug` or `gitlab.com/group` annotation, else by a
//! Group of that name — or a
//! person (by email, `github.com/user-login` or name) in exactly one team;
//! failing that, a team the host names: with admin (then maintain) access
//! on GitHub, the group a project lives in on GitLab.

use std::collections::BTreeMap;

use sqlx::PgConnection;

use super::Scanned;

/// A catalog team and why it is thought to own a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikelyOwner {
    /// The team's ref.
    pub team: String,
    /// What says so, for people to judge
    /// (`.github/CODEOWNERS:2 "* @acme/payments" → github.com/team-slug`).
    pub evidence: String,
}

/// The likely owner, or why there is none: CODEOWNERS's default rule
/// first, then a team with admin (or maintain) access on the host.
pub async fn likely_owner(
    conn: &mut PgConnection,
    repo: &Scanned,
    forge_teams: &BTreeMap<String, String>,
) -> Result<(Option<LikelyOwner>, Option<String>), sqlx::Error> {
    let mut why = match from_codeowners(conn, repo, forge_teams).await? {
        Ok(owner) => return Ok((Some(owner), None)),
        Err(why) => why,
    };
    for (team, relation) in &repo.host_teams {
        if let Some((found, how)) = team_for(conn, team, forge_teams).await? {
            return Ok((
                Some(LikelyOwner {
                    team: found,
                    evidence: format!("@{team} {relation} → {how}"),
                }),
                None,
            ));
        }
    }
    if !repo.host_teams.is_empty() {
        why.push_str(&format!(
            "; {} match no catalog team",
            repo.host_teams
                .iter()
                .map(|(t, relation)| format!("@{t} ({relation})"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok((None, Some(why)))
}

/// The owner the CODEOWNERS default rule names, or why it names none.
async fn from_codeowners(
    conn: &mut PgConnection,
    repo: &Scanned,
    forge_teams: &BTreeMap<String, String>,
) -> Result<Result<LikelyOwner, String>, sqlx::Error> {
    let Some((path, rules)) = &repo.codeowners else {
        return Ok(Err("no CODEOWNERS file".into()));
    };
    let Some(rule) = super::codeowners::default_rule(rules) else {
        return Ok(Err(format!(
            "{path} has no rule for every file (`* @team`)"
        )));
    };
    let written = |o: &String| {
        if o.contains('@') {
            o.clone()
        } else {
            format!("@{o}")
        }
    };
    for owner in &rule.owners {
        if let Some((team, how)) = team_for(conn, owner, forge_teams).await? {
            return Ok(Ok(LikelyOwner {
                team,
                evidence: format!(
                    "{path}:{} \"{} {}\" → {how}",
                    rule.line,
                    rule.pattern,
                    written(owner)
                ),
            }));
        }
    }
    Ok(Err(format!(
        "{path}:{} names {}, which no catalog team matches (add a github.com/team-slug annotation to the team)",
        rule.line,
        rule.owners
            .iter()
            .map(written)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// The catalog team an owner names, and how it was matched.
async fn team_for(
    conn: &mut PgConnection,
    owner: &str,
    forge_teams: &BTreeMap<String, String>,
) -> Result<Option<(String, String)>, sqlx::Error> {
    // Mapped in usher.toml: the catalog team, when there is one.
    if let Some((handle, team)) = forge_teams
        .iter()
        .find(|(handle, _)| handle.trim_start_matches('@').eq_ignore_ascii_case(owner))
    {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT ref FROM entities WHERE kind = 'group' AND lower(name) = lower($1)",
        )
        .bind(team)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(found) = found {
            return Ok(Some((
                found.clone(),
                format!("{found} ([directory.forge_teams] {handle:?})"),
            )));
        }
    }
    if owner.contains('/') {
        let last = owner.rsplit('/').next().unwrap_or(owner);
        let team: Option<(String, String)> = sqlx::query_as(
            "SELECT ref, CASE
                 WHEN lower(annotations->>'github.com/team-slug') = lower($1) THEN 'github.com/team-slug'
                 WHEN lower(annotations->>'gitlab.com/group') = lower($1) THEN 'gitlab.com/group'
                 ELSE 'a team of that name' END
             FROM entities
             WHERE kind = 'group' AND (lower(annotations->>'github.com/team-slug') = lower($1)
                   OR lower(annotations->>'gitlab.com/group') = lower($1) OR lower(name) = lower($2))
             ORDER BY coalesce(lower(annotations->>'github.com/team-slug') = lower($1)
                               OR lower(annotations->>'gitlab.com/group') = lower($1), false) DESC, ref
             LIMIT 1",
        )
        .bind(owner)
        .bind(last)
        .fetch_optional(&mut *conn)
        .await?;
        return Ok(team.map(|(r, how)| (r.clone(), format!("{r} ({how})"))));
    }
    // A person: their team, when they are in exactly one.
    let teams: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT r.target_ref FROM entities u
         JOIN relations r ON r.source_id = u.id AND r.type = 'memberOf'
         WHERE u.kind = 'user' AND u.active AND u.deactivated_at IS NULL
           AND (lower(u.email) = lower($1) OR lower(u.annotations->>'github.com/user-login') = lower($1)
                OR lower(u.name) = lower($1))
         LIMIT 2",
    )
    .bind(owner)
    .fetch_all(&mut *conn)
    .await?;
    Ok(match teams.as_slice() {
        [team] => Some((team.clone(), format!("{team} (the team of {owner})"))),
        _ => None,
    })
}
