//! The LDAP / Active Directory pull (`[[directory.ldap]]`): a simple bind
//! over LDAPS or StartTLS (never in the clear), paged searches (RFC 2696)
//! of the configured base DNs, and the entries turned into a directory
//! [`Source`] by the attribute mapping — AD's disabled-account bit makes a
//! person inactive, large AD groups are read in ranges.
//!
//! What a read gives is stored per source (`directory_sources`); a server
//! that can't be reached keeps its last good read, so an outage removes
//! nobody, and someone missing from a read stays in the catalog inactive
//! (they left) rather than vanishing with their history.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use sqlx::PgPool;

use super::model::{Group, Person, Source, normalise_dn};
use crate::config::{GroupMap, LdapSearch, LdapSource, UserMap};

/// More entries than this from one source is taken for a runaway filter.
const MAX_ENTRIES: usize = 500_000;

/// The filters used when a search gives none.
const PEOPLE: &str = "(|(objectClass=inetOrgPerson)(&(objectCategory=person)(objectClass=user)))";
const GROUPS: &str = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group)(objectClass=posixGroup))";

/// AD's `userAccountControl` bit for a disabled account.
const ACCOUNTDISABLE: u64 = 0x2;

/// Reads a source now: its people and groups. The error says what went
/// wrong and what to check.
pub async fn read(source: &LdapSource) -> Result<Source, String> {
    let password = std::env::var(&source.bind_password_env)
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            format!(
                "{} is not set; it should hold the password of {}",
                source.bind_password_env, source.bind_dn
            )
        })?;
    let timeout = Duration::from_secs(source.timeout_secs);
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(timeout)
        .set_starttls(source.starttls && source.url.starts_with("ldap://"));
    if let Some(ca_file) = &source.ca_file {
        settings = settings.set_config(Arc::new(tls_config(ca_file)?));
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &source.url)
        .await
        .map_err(|e| connect_error(source, &e.to_string()))?;
    ldap3::drive!(conn);
    ldap.with_timeout(timeout)
        .simple_bind(&source.bind_dn, &password)
        .await
        .map_err(|e| connect_error(source, &e.to_string()))?
        .success()
        .map_err(|e| {
            format!(
                "{} refused the bind as {}: {e} — check bind_dn and the password in {}",
                source.url, source.bind_dn, source.bind_password_env
            )
        })?;
    let mut out = Source {
        name: source.key(),
        ..Source::default()
    };
    for search in &source.users {
        let map = &search.map;
        let attrs = vec![
            map.name.clone(),
            map.display_name.clone(),
            map.email.clone(),
            map.member_of.clone(),
            map.account_control.clone(),
        ];
        for entry in entries(&mut ldap, source, search, PEOPLE, attrs).await? {
            out.people.push(person(&entry, map));
        }
    }
    for search in &source.groups {
        let map = &search.map;
        let attrs = vec![
            map.name.clone(),
            map.description.clone(),
            map.members.clone(),
        ];
        for entry in entries(&mut ldap, source, search, GROUPS, attrs).await? {
            let mut group = group(&entry, map);
            if let Some((_, Some(end))) = range(&entry, &map.members) {
                more_members(
                    &mut ldap,
                    source,
                    &entry.dn,
                    &map.members,
                    end + 1,
                    &mut group,
                )
                .await?;
            }
            out.groups.push(group);
        }
    }
    let _ = ldap.unbind().await;
    if out.people.len() + out.groups.len() > MAX_ENTRIES {
        return Err(format!(
            "{} gave more than {MAX_ENTRIES} entries; narrow the base DNs or filters",
            source.url
        ));
    }
    Ok(out)
}

fn connect_error(source: &LdapSource, error: &str) -> String {
    let hint = if error.contains("certificate") || error.contains("Certificate") {
        "the server's certificate isn't trusted — set ca_file to the PEM of the authority that signed it"
    } else if error.contains("timed out") || error.contains("elapsed") {
        "no answer in time — check the host, the port and the firewall"
    } else {
        "check url (ldaps://host:636, or ldap://host:389 with starttls) and that the server is up"
    };
    format!("couldn't reach {}: {error} ({hint})", source.url)
}

/// TLS that trusts exactly the authorities in `ca_file`.
fn tls_config(ca_file: &std::path::Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(ca_file)
        .map_err(|e| format!("ca_file {} can't be read: {e}", ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("ca_file {}: {e}", ca_file.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("ca_file {}: {e}", ca_file.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "ca_file {} holds no PEM certificate",
            ca_file.display()
        ));
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| e.to_string())
}

/// One configured search, every page of it.
async fn entries<M>(
    ldap: &mut Ldap,
    source: &LdapSource,
    search: &LdapSearch<M>,
    default_filter: &str,
    attrs: Vec<String>,
) -> Result<Vec<SearchEntry>, String> {
    let scope = if search.scope == "one" {
        Scope::OneLevel
    } else {
        Scope::Subtree
    };
    let filter = search.filter.as_deref().unwrap_or(default_filter);
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(source.page_size)),
    ];
    let failed = |e: String| {
        format!(
            "searching {} under {:?} with {filter} failed: {e}",
            source.url, search.base_dn
        )
    };
    let mut stream = ldap
        .with_timeout(Duration::from_secs(source.timeout_secs))
        .streaming_search_with(adapters, &search.base_dn, scope, filter, attrs)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut out = Vec::new();
    while let Some(entry) = stream.next().await.map_err(|e| failed(e.to_string()))? {
        out.push(
            construct(entry)
                .ok_or_else(|| failed("an entry the server sent is malformed".into()))?,
        );
        if out.len() > MAX_ENTRIES {
            let _ = stream.finish().await;
            return Err(failed(format!(
                "more than {MAX_ENTRIES} entries; narrow it"
            )));
        }
    }
    stream
        .finish()
        .await
        .success()
        .map_err(|e| failed(e.to_string()))?;
    Ok(out)
}

/// ldap3 panics on an entry it can't parse; a server's bytes are outside
/// input, so that becomes an error.
fn construct(entry: ldap3::ResultEntry) -> Option<SearchEntry> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SearchEntry::construct(entry)
    }))
    .ok()
}

/// An attribute's values, whatever case the server writes its name in.
fn values<'a>(entry: &'a SearchEntry, attribute: &str) -> &'a [String] {
    entry
        .attrs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .map(|(_, v)| v.as_slice())
        .unwrap_or_default()
}

fn first(entry: &SearchEntry, attribute: &str) -> Option<String> {
    values(entry, attribute)
        .iter()
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
        .map(str::to_string)
}

/// The value of the entry's first RDN (`jane` of `uid=jane,ou=people,…`).
fn rdn_value(dn: &str) -> String {
    let rdn = dn.split(',').next().unwrap_or(dn);
    rdn.split_once('=')
        .map_or(rdn, |(_, v)| v)
        .trim()
        .to_string()
}

/// A person from their entry.
pub fn person(entry: &SearchEntry, map: &UserMap) -> Person {
    let control = first(entry, &map.account_control).and_then(|v| v.parse::<i64>().ok());
    Person {
        key: normalise_dn(&entry.dn),
        name: first(entry, &map.name).unwrap_or_else(|| rdn_value(&entry.dn)),
        email: first(entry, &map.email),
        display_name: first(entry, &map.display_name),
        // AD: the disabled bit. The value is signed on some servers.
        active: control.is_none_or(|c| (c as u64) & ACCOUNTDISABLE == 0),
        groups: values(entry, &map.member_of)
            .iter()
            .map(|dn| normalise_dn(dn))
            .collect(),
    }
}

/// A group from its entry: members as DNs, or people's names
/// (`memberUid`).
pub fn group(entry: &SearchEntry, map: &GroupMap) -> Group {
    Group {
        key: normalise_dn(&entry.dn),
        name: first(entry, &map.name).unwrap_or_else(|| rdn_value(&entry.dn)),
        description: first(entry, &map.description),
        // A large AD group gives its first range of members under
        // `member;range=0-1499`; the rest are read after.
        members: member_values(values(entry, &map.members))
            .into_iter()
            .chain(range(entry, &map.members).map_or_else(Vec::new, |(v, _)| member_values(v)))
            .collect(),
    }
}

fn member_values(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| {
            if v.contains('=') {
                normalise_dn(v)
            } else {
                v.to_string()
            }
        })
        .collect()
}

/// AD gives at most 1,500 values of a large group's `member` at a time,
/// as `member;range=0-1499`; the next range starts after the last one
/// given, until one ends in `*`. The values of the range the entry holds,
/// and where it ends (`None`: it is the last).
fn range<'a>(entry: &'a SearchEntry, attribute: &str) -> Option<(&'a [String], Option<u64>)> {
    let prefix = format!("{};range=", attribute.to_lowercase());
    entry.attrs.iter().find_map(|(name, values)| {
        let range = name.to_lowercase().strip_prefix(&prefix)?.to_string();
        let (_, end) = range.split_once('-')?;
        Some((values.as_slice(), end.parse::<u64>().ok()))
    })
}

async fn more_members(
    ldap: &mut Ldap,
    source: &LdapSource,
    dn: &str,
    attribute: &str,
    mut start: u64,
    group: &mut Group,
) -> Result<(), String> {
    for _ in 0..(MAX_ENTRIES / 1000) {
        let attr = format!("{attribute};range={start}-*");
        let (results, _) = ldap
            .with_timeout(Duration::from_secs(source.timeout_secs))
            .search(dn, Scope::Base, "(objectClass=*)", vec![attr])
            .await
            .and_then(|r| r.success())
            .map_err(|e| format!("reading the members of {dn} from {}: {e}", source.url))?;
        let Some(entry) = results.into_iter().next().and_then(construct) else {
            return Ok(());
        };
        let Some((values, end)) = range(&entry, attribute) else {
            return Ok(());
        };
        group.members.extend(member_values(values));
        match end {
            Some(end) => start = end + 1,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Reads a source and stores what it gave. People the last read had and
/// this one hasn't stay, inactive. A failure is recorded and the last
/// good read kept.
pub async fn pull(pool: &PgPool, source: &LdapSource) -> Result<Source, String> {
    let read = match read(source).await {
        Ok(read) => read,
        Err(error) => {
            sqlx::query(
                "INSERT INTO directory_sources (source, error, error_at) VALUES ($1, $2, now())
                 ON CONFLICT (source) DO UPDATE SET error = EXCLUDED.error, error_at = now()",
            )
            .bind(source.key())
            .bind(&error)
            .execute(pool)
            .await
            .map_err(|e| e.to_string())?;
            return Err(error);
        }
    };
    let last: Option<sqlx::types::Json<Source>> =
        sqlx::query_scalar("SELECT data FROM directory_sources WHERE source = $1")
            .bind(source.key())
            .fetch_optional(pool)
            .await
            .map_err(|e| e.to_string())?;
    let read = keep_leavers(read, last.map(|l| l.0));
    sqlx::query(
        "INSERT INTO directory_sources (source, data, people, groups, read_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (source) DO UPDATE SET data = EXCLUDED.data, people = EXCLUDED.people,
             groups = EXCLUDED.groups, read_at = now(), error = NULL, error_at = NULL",
    )
    .bind(source.key())
    .bind(sqlx::types::Json(&read))
    .bind(read.people.iter().filter(|p| p.active).count() as i32)
    .bind(read.groups.len() as i32)
    .execute(pool)
    .await
    .map_err(|e| e.to_string())?;
    Ok(read)
}

/// People the last read had that this one hasn't: inactive, in no group.
fn keep_leavers(mut read: Source, last: Option<Source>) -> Source {
    let Some(last) = last else {
        return read;
    };
    let now: HashSet<String> = read.people.iter().map(|p| p.key.clone()).collect();
    let by_email: HashSet<String> = read
        .people
        .iter()
        .filter_map(|p| p.email.as_ref().map(|e| e.to_lowercase()))
        .collect();
    for mut gone in last.people {
        let moved = gone
            .email
            .as_ref()
            .is_some_and(|e| by_email.contains(&e.to_lowercase()));
        if now.contains(&gone.key) || moved {
            continue;
        }
        gone.active = false;
        gone.groups.clear();
        read.people.push(gone);
    }
    read
}

/// `usher serve`'s tasks: each source read on its schedule, once across
/// replicas (the directory sync picks up what changed).
pub fn scheduled(
    pool: &PgPool,
    config: &Arc<crate::config::Config>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for source in &config.directory.ldap {
        let Ok(schedule) = crate::schedule::Schedule::parse(&source.schedule, "") else {
            continue;
        };
        let (pool, source) = (pool.clone(), source.clone());
        tasks.push(tokio::spawn(crate::periodic::run(
            pool.clone(),
            format!("directory:{}", source.key()),
            schedule,
            stop.clone(),
            move || {
                let (pool, source) = (pool.clone(), source.clone());
                async move {
                    match pull(&pool, &source).await {
                        Ok(read) => serde_json::json!({
                            "people": read.people.iter().filter(|p| p.active).count(),
                            "groups": read.groups.len(),
                        }),
                        Err(error) => {
                            tracing::warn!(source = %source.key(), %error, "directory: reading LDAP failed");
                            serde_json::json!({ "error": error })
                        }
                    }
                }
            },
        )));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: dn.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            bin_attrs: std::collections::HashMap::new(),
        }
    }

    #[test]
    fn ad_disabled_accounts_are_inactive() {
        let map = UserMap {
            name: "sAMAccountName".into(),
            ..UserMap::default()
        };
        let on = entry(
            "CN=Jane Doe,OU=Staff,DC=corp",
            &[
                ("sAMAccountName", &["jdoe"]),
                ("userAccountControl", &["512"]),
            ],
        );
        let off = entry(
            "CN=Old Timer,OU=Staff,DC=corp",
            &[("useraccountcontrol", &["514"])],
        );
        assert!(person(&on, &map).active);
        assert_eq!(person(&on, &map).name, "jdoe");
        assert_eq!(person(&on, &map).key, "cn=jane doe,ou=staff,dc=corp");
        let off = person(&off, &map);
        assert!(!off.active);
        assert_eq!(off.name, "Old Timer");
    }

    #[test]
    fn members_are_dns_or_names_and_ranges_are_noticed() {
        let g = entry(
            "cn=ops,ou=groups,dc=x",
            &[
                ("member;range=0-1499", &["CN=A, DC=X"]),
                ("memberUid", &["bob"]),
            ],
        );
        assert_eq!(range(&g, "member").map(|(_, end)| end), Some(Some(1499)));
        // The first range's members are the group's too.
        assert_eq!(group(&g, &GroupMap::default()).members, ["cn=a,dc=x"]);
        let last = entry("cn=ops,dc=x", &[("member;range=1500-*", &["CN=B,DC=X"])]);
        assert_eq!(range(&last, "member").map(|(_, end)| end), Some(None));
        let map = GroupMap {
            members: "memberUid".into(),
            ..GroupMap::default()
        };
        assert_eq!(group(&g, &map).members, ["bob"]);
        assert_eq!(group(&g, &map).name, "ops");
        assert_eq!(member_values(&["CN=A, DC=X".into()]), ["cn=a,dc=x"]);
    }

    #[test]
    fn who_left_stays_inactive() {
        let p = |key: &str, email: &str| Person {
            key: key.into(),
            name: key.into(),
            email: Some(email.into()),
            display_name: None,
            active: true,
            groups: vec!["cn=g".into()],
        };
        let last = Source {
            people: vec![p("a", "a@x"), p("b", "b@x"), p("c", "c@x")],
            ..Source::default()
        };
        let read = Source {
            people: vec![p("a", "a@x"), p("c2", "C@x")],
            ..Source::default()
        };
        let kept = keep_leavers(read, Some(last));
        assert_eq!(kept.people.len(), 3);
        let b = kept.people.iter().find(|p| p.key == "b").unwrap();
        assert!(!b.active && b.groups.is_empty());
    }
}
