//! GitHub's dependency graph as an SBOM (`GET /repos/{owner}/{repo}/
//! dependency-graph/sbom`, SPDX 2.3 JSON in `sbom`): every manifest the
//! graph knows — a monorepo's too, and transitive dependencies — where the
//! GraphQL scan reads only root manifests. One REST call a repository, so
//! after each scan only the repositories whose head moved since their
//! graph was read are asked (the most recently pushed first), up to a
//! reserve of the hour's REST budget; the rest wait for the next scan. A
//! repository whose graph is off or empty (404, 403) keeps its manifests'
//! packages and isn't asked again until it moves.

use std::time::Duration;

use futures_util::StreamExt;
use sqlx::PgPool;

use crate::catalog::sbom;
use crate::config::DiscoveryConfig;

/// REST calls left untouched in the hour's budget (other tools share it).
const RESERVE: i64 = 500;
/// Repositories asked at most in one scan.
const MOST: i64 = 2_000;
/// Calls at once.
const AT_ONCE: usize = 4;
/// An SBOM larger than this is not read.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// What reading the dependency graphs did.
#[derive(Debug, Default, Clone, Copy)]
pub struct SbomSummary {
    /// Repositories whose packages now come from their graph.
    pub read: usize,
    /// Graph off, empty or not visible to the token.
    pub unavailable: usize,
    /// Left for the next scan (budget spent, or a transient failure).
    pub deferred: usize,
    pub calls: usize,
}

enum Outcome {
    Read(Vec<sbom::Package>),
    Unavailable,
    /// Stop asking: the budget is (nearly) spent.
    Spent,
    /// Try again next scan.
    Later,
}

/// Reads the graphs of the source's repositories that moved since theirs
/// was read, replacing their packages.
pub async fn fill(
    pool: &PgPool,
    entry: &DiscoveryConfig,
    token: &str,
    source: &str,
) -> Result<SbomSummary, sqlx::Error> {
    let due: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, name, head FROM repositories
         WHERE source = $1 AND gone_at IS NULL AND NOT archived AND head IS NOT NULL
           AND sbom_head IS DISTINCT FROM head
         ORDER BY pushed_at DESC NULLS LAST, name LIMIT $2",
    )
    .bind(source)
    .bind(MOST)
    .fetch_all(pool)
    .await?;
    let client = crate::actions::token_client(Duration::from_secs(10), Duration::from_secs(60));
    let spent = std::sync::atomic::AtomicBool::new(false);
    let mut summary = SbomSummary::default();
    let outcomes: Vec<(i64, String, Outcome)> = futures_util::stream::iter(due)
        .map(|(id, name, head)| {
            let (client, spent) = (&client, &spent);
            async move {
                if spent.load(std::sync::atomic::Ordering::Relaxed) {
                    return (id, head, Outcome::Spent);
                }
                let (outcome, near_reserve) = ask(client, entry, token, &name).await;
                if near_reserve || matches!(outcome, Outcome::Spent) {
                    spent.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                (id, head, outcome)
            }
        })
        .buffered(AT_ONCE)
        .collect()
        .await;
    for (id, head, outcome) in outcomes {
        match outcome {
            Outcome::Read(packages) => {
                summary.calls += 1;
                summary.read += 1;
                replace(pool, id, &head, &packages).await?;
            }
            Outcome::Unavailable => {
                summary.calls += 1;
                summary.unavailable += 1;
                sqlx::query("UPDATE repositories SET sbom_head = $2 WHERE id = $1")
                    .bind(id)
                    .bind(&head)
                    .execute(pool)
                    .await?;
            }
            Outcome::Spent | Outcome::Later => summary.deferred += 1,
        }
    }
    Ok(summary)
}

/// One repository's graph, and whether the budget is near its reserve
/// (nothing more is asked this scan).
async fn ask(
    client: &reqwest::Client,
    entry: &DiscoveryConfig,
    token: &str,
    name: &str,
) -> (Outcome, bool) {
    let url = format!(
        "{}/repos/{name}/dependency-graph/sbom",
        entry.rest_url.trim_end_matches('/')
    );
    let Ok(response) = client
        .get(&url)
        .bearer_auth(token)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .send()
        .await
    else {
        return (Outcome::Later, false);
    };
    let remaining = response
        .headers()
        .get("x-ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let status = response.status().as_u16();
    let limited = status == 429
        || (status == 403
            && (response.headers().contains_key("retry-after") || remaining == Some(0)));
    if limited {
        return (Outcome::Spent, true);
    }
    let outcome = match status {
        200 => match response.bytes().await {
            Ok(bytes) if bytes.len() <= MAX_BODY => match read(&bytes) {
                Some(packages) => Outcome::Read(packages),
                None => Outcome::Unavailable,
            },
            _ => Outcome::Later,
        },
        403 | 404 => Outcome::Unavailable,
        _ => Outcome::Later,
    };
    let near_reserve = remaining.is_some_and(|r| r < RESERVE);
    if near_reserve {
        tracing::info!(%name, "GitHub's REST budget is near its reserve; the other dependency graphs wait for the next scan");
    }
    (outcome, near_reserve)
}

/// The packages of a `{"sbom": {…SPDX…}}` answer.
fn read(body: &[u8]) -> Option<Vec<sbom::Package>> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let document = answer.get("sbom")?.to_string();
    sbom::parse(&document).ok().map(|(_, packages)| packages)
}

/// The repository's packages are its graph's now.
async fn replace(
    pool: &PgPool,
    id: i64,
    head: &str,
    packages: &[sbom::Package],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut found = crate::discovery::manifests::Found::default();
    found.add("dependency-graph", packages.to_vec());
    crate::discovery::packages::replace(&mut tx, &[(id, &found)]).await?;
    sqlx::query("UPDATE repositories SET sbom_head = $2 WHERE id = $1")
        .bind(id)
        .bind(head)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
