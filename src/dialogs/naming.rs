//! The organisation's naming convention for new services: a proposal from
//! a template, and the checks a name must pass — Backstage's rule, the
//! configured pattern and length, the reserved generic names, names taken
//! (case-insensitively), and names so close to an existing one that the
//! person must confirm they mean a new service.

use sqlx::PgPool;

use crate::catalog::model::{EntityRef, check_name};
use crate::catalog::names::similarity;
use crate::config::NamingConfig;

/// What a check found.
#[derive(Debug, Clone, PartialEq)]
pub enum NameCheck {
    Ok,
    /// Broken rule: why, and a name that would pass.
    Refused {
        reason: String,
        suggestion: String,
    },
    /// Very close to an existing service: it and its owner.
    Similar {
        existing: String,
        owner: String,
        score: f32,
    },
}

/// Words and characters → a DNS-safe slug of at most `max` characters.
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(max).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Words a name can do without ("processes refunds for marketplace
/// orders" → processes-refunds-marketplace).
const FILLER: &[&str] = &[
    "a", "an", "and", "the", "for", "of", "to", "in", "on", "with", "from", "by", "that", "which",
    "it", "its", "our", "their", "his", "her", "my", "your", "all",
];

/// `slug` cut to at most `max` characters at a word boundary (a word
/// longer than `max` alone is cut).
pub fn fit(slug: &str, max: usize) -> String {
    if slug.len() <= max {
        return slug.to_string();
    }
    let cut = &slug[..max];
    match cut.rfind('-') {
        Some(at) if at > 0 => cut[..at].to_string(),
        _ => cut.trim_end_matches('-').to_string(),
    }
}

/// The proposed name: the template with `{team}`, `{system}`, `{purpose}`.
pub fn propose(config: &NamingConfig, team: &str, system: Option<&str>, purpose: &str) -> String {
    let team = team.trim_start_matches("team-");
    let purpose: String = slug(purpose, 200)
        .split('-')
        .filter(|w| !FILLER.contains(w))
        .take(3)
        .collect::<Vec<_>>()
        .join("-");
    let filled = config
        .template
        .replace("{team}", team)
        .replace("{system}", system.unwrap_or(team))
        .replace("{purpose}", &purpose);
    fit(&slug(&filled, 1000), config.max_length)
}

/// `base`, or `base-2`, `base-3` … — the first name nobody has.
async fn free(pool: &PgPool, base: String, max: usize) -> Result<String, sqlx::Error> {
    let mut candidate = base.clone();
    for n in 2..50 {
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM entities WHERE lower(name) = lower($1))",
        )
        .bind(&candidate)
        .fetch_one(pool)
        .await?;
        if !taken {
            break;
        }
        // Room for the number: `base` is cut at a word, not the suffix.
        let suffix = format!("-{n}");
        candidate = format!("{}{suffix}", fit(&base, max.saturating_sub(suffix.len())));
    }
    Ok(candidate)
}

/// Checks a name against the convention and the catalog.
pub async fn check(
    pool: &PgPool,
    config: &NamingConfig,
    name: &str,
    prefix: &str,
) -> Result<NameCheck, sqlx::Error> {
    let suggestion_for = |name: &str| {
        let s = slug(name, config.max_length);
        if s.is_empty() {
            format!("{prefix}-service-1")
        } else if config.reserved.iter().any(|r| r == &s) || !s.starts_with(prefix) {
            slug(&format!("{prefix}-{s}"), config.max_length)
        } else {
            slug(&format!("{s}-2"), config.max_length)
        }
    };
    let refuse = |reason: String| async move {
        let suggestion = free(pool, suggestion_for(name), config.max_length).await?;
        Ok(NameCheck::Refused { reason, suggestion })
    };
    if name.len() > config.max_length {
        return refuse(format!(
            "is {} characters long; the limit is {}",
            name.len(),
            config.max_length
        ))
        .await;
    }
    if let Err(why) = check_name(name) {
        return refuse(why).await;
    }
    let pattern = regex_lite::Regex::new(&config.pattern).expect("validated at start");
    if !pattern.is_match(name) {
        return refuse(format!(
            "doesn't follow the naming convention ({}): lower-case letters and digits joined by single dashes",
            config.pattern
        ))
        .await;
    }
    if config.reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return refuse(
            "is too generic — a dozen services would want it; say what this one does".to_string(),
        )
        .await;
    }
    let taken: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT name, owner_ref FROM entities WHERE lower(name) = lower($1)
         AND kind IN ('component', 'api', 'resource', 'system') LIMIT 1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    if let Some((existing, owner)) = taken {
        let owner = owner
            .as_deref()
            .and_then(EntityRef::from_key)
            .map(|r| r.short())
            .unwrap_or_else(|| "nobody".into());
        let suggestion = free(pool, suggestion_for(name), config.max_length).await?;
        return Ok(NameCheck::Refused {
            reason: format!("is taken: {existing} already exists, owned by {owner}"),
            suggestion,
        });
    }
    // Very close to an existing name (trigram similarity, as pg_trgm).
    let candidates: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT name, owner_ref FROM entities WHERE kind = 'component' AND lower(name) % lower($1) LIMIT 50",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    let best = candidates
        .into_iter()
        .map(|(n, o)| (similarity(&n.to_lowercase(), &name.to_lowercase()), n, o))
        .filter(|(score, ..)| *score as f64 >= config.similarity)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((score, existing, owner)) = best {
        let owner = owner
            .as_deref()
            .and_then(EntityRef::from_key)
            .map(|r| r.short())
            .unwrap_or_else(|| "nobody".into());
        return Ok(NameCheck::Similar {
            existing,
            owner,
            score,
        });
    }
    Ok(NameCheck::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_follow_the_template() {
        let c = NamingConfig::default();
        assert_eq!(
            propose(&c, "team-payments", Some("payments"), "Processes refunds!"),
            "payments-processes-refunds"
        );
        assert_eq!(
            propose(&c, "team-payments", None, "refunds"),
            "payments-refunds"
        );
        let team = NamingConfig {
            template: "{team}-{purpose}".into(),
            ..NamingConfig::default()
        };
        assert_eq!(
            propose(&team, "team-checkout", Some("x"), "cart reminders by email"),
            "checkout-cart-reminders-email"
        );
        // Filler words are left out, and a long name is cut between words.
        assert_eq!(
            propose(
                &c,
                "team-payments",
                Some("payments"),
                "processes refunds for marketplace orders"
            ),
            "payments-processes-refunds-marketplace"
        );
        let short = NamingConfig {
            max_length: 30,
            ..NamingConfig::default()
        };
        assert_eq!(
            propose(
                &short,
                "team-payments",
                Some("payments"),
                "processes refunds for marketplace orders"
            ),
            "payments-processes-refunds"
        );
        assert_eq!(fit("payments-processes-refunds", 22), "payments-processes");
        assert_eq!(fit("abcdefghij", 4), "abcd");
        assert_eq!(slug("  Hello,  World--x ", 63), "hello-world-x");
        assert_eq!(slug(&"a".repeat(80), 63).len(), 63);
    }
}
