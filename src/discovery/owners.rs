//! A likely owner for a repository without a descriptor, with the evidence
//! for it: the CODEOWNERS default rule's first owner that is a catalog
//! team — `@org/team` by a Group's `github.com/team-slug` or
//! `gitlab.com/group` annotation, else by a Group of that name — or a
//! person (by email, `github.com/user-login` or name) in exactly one team.

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

/// The likely owner, or why there is none.
pub async fn likely_owner(
    conn: &mut PgConnection,
    repo: &Scanned,
) -> Result<(Option<LikelyOwner>, Option<String>), sqlx::Error> {
    let Some((path, rules)) = &repo.codeowners else {
        return Ok((None, Some("no CODEOWNERS file".into())));
    };
    let Some(rule) = super::codeowners::default_rule(rules) else {
        return Ok((
            None,
            Some(format!("{path} has no rule for every file (`* @team`)")),
        ));
    };
    for owner in &rule.owners {
        if let Some((team, how)) = team_for(conn, owner).await? {
            let written = if owner.contains('@') {
                owner.clone()
            } else {
                format!("@{owner}")
            };
            return Ok((
                Some(LikelyOwner {
                    team,
                    evidence: format!(
                        "{path}:{} \"{} {written}\" → {how}",
                        rule.line, rule.pattern
                    ),
                }),
                None,
            ));
        }
    }
    Ok((
        None,
        Some(format!(
            "{path}:{} names {}, which no catalog team matches (add a github.com/team-slug annotation to the team)",
            rule.line,
            rule.owners
                .iter()
                .map(|o| if o.contains('@') {
                    o.clone()
                } else {
                    format!("@{o}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        )),
    ))
}

/// The catalog team an owner names, and how it was matched.
async fn team_for(
    conn: &mut PgConnection,
    owner: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
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
