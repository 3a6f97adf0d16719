//! The LDAP / Active Directory pull against a real OpenLDAP server: two
//! sources (StartTLS and LDAPS) read with paged searches, nested groups,
//! an AD-disabled account, the same person in both matched by email —
//! through `usher directory sync` and into `team`, `me` and the digest.

use serde_json::Value;

use crate::slapd::{READER, READER_PASSWORD, SUFFIX, Slapd};
use crate::support::{TestDb, stdout, usher};

/// People (8 in ou=people: more than the 3 a search may return unpaged,
/// hal disabled the AD way), contractors (ann again, by email, and zoe),
/// and groups: platform holds sre (a team of its own) and
/// platform-contractors (not a team: its people count for platform).
fn entries() -> String {
    let mut ldif = String::new();
    for ou in ["people", "groups", "contractors", "partner-groups"] {
        ldif.push_str(&format!(
            "dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n\n"
        ));
    }
    let people = [
        ("ann", "Ann Lee", 512),
        ("bob", "Bob Ray", 512),
        ("cat", "Cat Wu", 512),
        ("dan", "Dan Oz", 512),
        ("eve", "Eve Ko", 512),
        ("fay", "Fay Li", 512),
        ("gus", "Gus Mo", 512),
        ("hal", "Hal Old", 514),
    ];
    for (uid, name, control) in people {
        let (given, sn) = name.split_once(' ').unwrap();
        ldif.push_str(&format!(
            "dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nobjectClass: usherTestAdAccount\n\
             uid: {uid}\ncn: {name}\ngivenName: {given}\nsn: {sn}\nmail: {uid}@example.com\n\
             sAMAccountName: {uid}\nuserAccountControl: {control}\n\n"
        ));
    }
    for (uid, name, mail) in [
        ("ann.lee", "Ann Lee", "ANN@example.com"),
        ("zoe", "Zoe Pax", "zoe@partner.example"),
    ] {
        ldif.push_str(&format!(
            "dn: uid={uid},ou=contractors,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\nsn: x\nmail: {mail}\n\n"
        ));
    }
    let person = |uid: &str| format!("uid={uid},ou=people,{SUFFIX}");
    let group = |cn: &str| format!("cn={cn},ou=groups,{SUFFIX}");
    let groups: [(&str, Vec<String>); 5] = [
        (
            "platform",
            vec![person("ann"), group("sre"), group("platform-contractors")],
        ),
        ("sre", vec![person("bob"), person("cat")]),
        ("platform-contractors", vec![person("dan")]),
        (
            "payments",
            vec![person("eve"), person("fay"), person("gus"), person("hal")],
        ),
        (
            "everyone",
            people.iter().map(|(uid, _, _)| person(uid)).collect(),
        ),
    ];
    for (cn, members) in groups {
        ldif.push_str(&format!(
            "dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\ndescription: The {cn} group\n"
        ));
        for m in members {
            ldif.push_str(&format!("member: {m}\n"));
        }
        ldif.push('\n');
    }
    ldif.push_str(&format!(
        "dn: cn=partners-payments,ou=partner-groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: partners-payments\n\
         member: uid=zoe,ou=contractors,{SUFFIX}\nmember: uid=ann.lee,ou=contractors,{SUFFIX}\n\n"
    ));
    ldif
}

fn config(slapd: &Slapd, ca_file: &std::path::Path) -> String {
    format!(
        r#"
[directory.teams]
pattern = "^(?:partners-)?(platform|sre|payments)$"

[[directory.ldap]]
name = "corp"
url = "{ldap}"
starttls = true
ca_file = "{ca}"
bind_dn = "{READER}"
bind_password_env = "TEST_LDAP_PASSWORD"
page_size = 2

[[directory.ldap.users]]
base_dn = "ou=people,{SUFFIX}"
filter = "(objectClass=inetOrgPerson)"
[directory.ldap.users.map]
name = "sAMAccountName"

[[directory.ldap.groups]]
base_dn = "ou=groups,{SUFFIX}"
filter = "(objectClass=groupOfNames)"
scope = "one"

[[directory.ldap]]
name = "partners"
url = "{ldaps}"
ca_file = "{ca}"
bind_dn = "{READER}"
bind_password_env = "TEST_LDAP_PASSWORD"
page_size = 2

[[directory.ldap.users]]
base_dn = "ou=contractors,{SUFFIX}"

[[directory.ldap.groups]]
base_dn = "ou=partner-groups,{SUFFIX}"
"#,
        ldap = slapd.ldap_url,
        ldaps = slapd.ldaps_url,
        ca = ca_file.display(),
    )
}

fn sync(db: &TestDb, config_file: &std::path::Path, password: &str) -> (bool, String) {
    let out = usher()
        .args(["directory", "sync"])
        .env("DATABASE_URL", db.url())
        .env("USHER_CONFIG", config_file)
        .env("TEST_LDAP_PASSWORD", password)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// How many people the catalog has; `active`: only the active ones.
async fn people(db: &TestDb, active: bool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM entities WHERE kind = 'user' AND (active OR NOT $1)")
        .bind(active)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn ask(
    db: &TestDb,
    config: &usher::config::Config,
    actor: usher::chat::Actor,
    text: &str,
) -> String {
    let core = db.core_with(config.clone());
    let request = usher::chat::Request {
        actor,
        platform: usher::chat::Platform::Console,
        workspace: None,
        channel: None,
        text: text.into(),
    };
    usher::commands::handle(&core, &request).await.to_plain()
}

#[tokio::test]
async fn ldap_sources_become_the_catalogs_people_and_teams() {
    let slapd = Slapd::start(&entries());
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("usher.toml");
    std::fs::write(&config_file, config(&slapd, &slapd.ca_file)).unwrap();
    let config = usher::config::Config::from_file(&config_file).unwrap();

    // The reader can't see everyone without paging: the server says so.
    {
        let mut ldap = slapd.bind(READER, READER_PASSWORD).await;
        let unpaged = ldap
            .search(
                &format!("ou=people,{SUFFIX}"),
                ldap3::Scope::Subtree,
                "(objectClass=inetOrgPerson)",
                vec!["uid"],
            )
            .await
            .unwrap();
        assert_eq!(unpaged.1.rc, 4, "sizeLimitExceeded without paging");
    }

    let (ok, said) = sync(&db, &config_file, READER_PASSWORD);
    assert!(ok, "{said}");
    assert!(
        said.contains("ldap:corp: 8 people (1 inactive), 5 groups"),
        "{said}"
    );
    assert!(
        said.contains("ldap:partners: 2 people (0 inactive), 1 groups"),
        "{said}"
    );
    assert!(said.contains("the directory: 9 people, 3 teams"), "{said}");

    /// A team's name, title, description and parent.
    type Team = (String, Option<String>, Option<String>, Option<String>);
    let teams: Vec<Team> = sqlx::query_as(
        "SELECT name, title, description, parent_ref FROM entities WHERE kind = 'group' ORDER BY name",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let names: Vec<&str> = teams.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["payments", "platform", "sre"]);
    assert_eq!(teams[1].2.as_deref(), Some("The platform group"));
    assert_eq!(
        teams[2].3.as_deref(),
        Some("group:default/platform"),
        "sre nests in platform"
    );
    let children: Vec<String> = sqlx::query_scalar(
        "SELECT r.target_ref FROM entities g JOIN relations r ON r.source_id = g.id AND r.type = 'parentOf'
         WHERE g.ref = 'group:default/platform'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(children, ["group:default/sre"]);

    let member_of = |person: &'static str| {
        let pool = db.pool.clone();
        async move {
            let teams: Vec<String> = sqlx::query_scalar(
                "SELECT r.target_ref FROM entities u JOIN relations r ON r.source_id = u.id AND r.type = 'memberOf'
                 WHERE u.ref = $1 ORDER BY 1",
            )
            .bind(format!("user:default/{person}"))
            .fetch_all(&pool)
            .await
            .unwrap();
            teams
        }
    };
    assert_eq!(member_of("bob").await, ["group:default/sre"]);
    // dan is in platform-contractors, which isn't a team, inside platform.
    assert_eq!(member_of("dan").await, ["group:default/platform"]);
    // ann is in both directories: one person, in both teams.
    assert_eq!(
        member_of("ann").await,
        ["group:default/payments", "group:default/platform"]
    );
    let ann: (Option<String>, Value) =
        sqlx::query_as("SELECT email, annotations FROM entities WHERE ref = 'user:default/ann'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(ann.0.as_deref(), Some("ann@example.com"));
    assert_eq!(ann.1["usher.dev/source"], "ldap:corp, ldap:partners");
    let hal: bool =
        sqlx::query_scalar("SELECT active FROM entities WHERE ref = 'user:default/hal'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!hal, "AD's disabled bit makes hal inactive");

    // team shows the disabled member inactive and where its people come from.
    let card = ask(
        &db,
        &config,
        usher::chat::Actor::guest("t"),
        "team payments",
    )
    .await;
    // eve, fay, gus, hal (disabled); zoe and ann from the partners.
    assert!(card.contains("Members (5 active of 6)"), "{card}");
    assert!(card.contains("group (team) · directory"), "{card}");
    assert!(
        card.contains("People from: the directory (LDAP corp, LDAP partners), synced"),
        "{card}"
    );
    let me = ask(&db, &config, crate::oncall::person("ann"), "me").await;
    assert!(
        me.contains("Known from the directory (LDAP corp, LDAP partners) — your identity provider"),
        "{me}"
    );

    // gus leaves: AD disables the account. The next read makes him
    // inactive, his team's digest names him.
    let mut admin = slapd.admin().await;
    admin
        .modify(
            &format!("uid=gus,ou=people,{SUFFIX}"),
            vec![ldap3::Mod::Replace("userAccountControl", ["514"].into())],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let (ok, said) = sync(&db, &config_file, READER_PASSWORD);
    assert!(ok, "{said}");
    assert!(said.contains("0 added, 1 changed, 0 removed"), "{said}");
    let digests =
        usher::hygiene::digest::build(&db.pool, &config, Some("group:default/payments"), true)
            .await
            .unwrap();
    let text = digests[0].reply.to_plain();
    assert!(
        text.contains("Left the team: ") && text.contains("Gus Mo"),
        "{text}"
    );

    // fay's entry is deleted: she stays, inactive, her history kept.
    admin
        .delete(&format!("uid=fay,ou=people,{SUFFIX}"))
        .await
        .unwrap()
        .success()
        .unwrap();
    let (ok, said) = sync(&db, &config_file, READER_PASSWORD);
    assert!(ok, "{said}");
    let fay: bool =
        sqlx::query_scalar("SELECT active FROM entities WHERE ref = 'user:default/fay'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!fay);

    // A wrong password: a clear error, the last good read kept, nothing changes.
    let (ok, said) = sync(&db, &config_file, "wrong");
    assert!(!ok);
    assert!(
        said.contains("refused the bind as cn=reader,dc=example,dc=com")
            && said.contains("TEST_LDAP_PASSWORD")
            && said.contains("0 added, 0 changed, 0 removed"),
        "{said}"
    );
    // status says which source fails and why.
    let status = usher()
        .arg("status")
        .env("DATABASE_URL", db.url())
        .env("USHER_CONFIG", &config_file)
        .output()
        .unwrap();
    let status = stdout(&status);
    assert!(
        status.contains("❌ ldap:corp: failing since")
            && status.contains("refused the bind")
            && status.contains("Its last good read"),
        "{status}"
    );
    assert_eq!(people(&db, true).await, 6);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_with_what_to_do() {
    let slapd = Slapd::start(&entries());
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    // Another authority than the one that signed the server's certificate.
    let other = dir.path().join("other-ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other, params.self_signed(&key).unwrap().pem()).unwrap();
    let config_file = dir.path().join("usher.toml");
    std::fs::write(&config_file, config(&slapd, &other)).unwrap();
    let (ok, said) = sync(&db, &config_file, READER_PASSWORD);
    assert!(!ok);
    assert!(
        said.contains(&format!("couldn't reach {}", slapd.ldap_url)) && said.contains("ca_file"),
        "{said}"
    );
    assert_eq!(people(&db, false).await, 0);
}

#[tokio::test]
async fn the_directory_wins_for_people_and_membership_descriptors_keep_the_team() {
    let slapd = Slapd::start(&entries());
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("usher.toml");
    std::fs::write(&config_file, config(&slapd, &slapd.ca_file)).unwrap();
    // A hand-kept org file: ann under another name, and a payments team
    // with its channel and a member list that rotted.
    let org = dir.path().join("org.yaml");
    std::fs::write(
        &org,
        "apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
  annotations:
    slack.com/channel: payments-eng
spec:
  type: team
  children: []
  members: [old-timer]
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: ann.lee
spec:
  profile:
    email: ann@example.com
  memberOf: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: old-timer
spec:
  memberOf: [payments]
",
    )
    .unwrap();
    let import = || {
        let out = usher()
            .args(["catalog", "import"])
            .arg(&org)
            .env("DATABASE_URL", db.url())
            .env("USHER_CONFIG", &config_file)
            .output()
            .unwrap();
        format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr))
    };
    let said = import();
    assert!(said.contains("3 added"), "{said}");

    let (ok, said) = sync(&db, &config_file, READER_PASSWORD);
    assert!(ok, "{said}");
    // ann keeps her catalog name and is the directory's now.
    let ann: (String, Value) = sqlx::query_as(
        "SELECT l.target, e.annotations FROM entities e JOIN locations l ON l.id = e.location_id
         WHERE e.ref = 'user:default/ann.lee'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(ann.0, "directory");
    assert_eq!(ann.1["usher.dev/source"], "ldap:corp, ldap:partners");
    // payments stays the descriptor's, with its channel; its members are
    // the directory's, not the rotted list.
    let payments: (String, Option<String>) = sqlx::query_as(
        "SELECT l.target, e.slack_channel FROM entities e JOIN locations l ON l.id = e.location_id
         WHERE e.ref = 'group:default/payments'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(payments.0.ends_with("org.yaml"), "{payments:?}");
    assert_eq!(payments.1.as_deref(), Some("payments-eng"));
    let members = || async {
        let members: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT u.name FROM entities u JOIN relations r ON
                 (r.source_id = u.id AND r.type = 'memberOf' AND r.target_ref = 'group:default/payments')
                 OR (r.type = 'hasMember' AND r.target_ref = u.ref
                     AND r.source_id = (SELECT id FROM entities WHERE ref = 'group:default/payments'))
             WHERE u.kind = 'user' ORDER BY 1",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        members
    };
    assert_eq!(
        members().await,
        ["ann.lee", "eve", "fay", "gus", "hal", "zoe"]
    );

    // The org file imported again: its ann is the directory's (a warning
    // that says so), and its member list still doesn't count.
    let said = import();
    assert!(
        said.contains("comes from the directory") && said.contains("people = \"descriptors\""),
        "{said}"
    );
    assert_eq!(
        members().await,
        ["ann.lee", "eve", "fay", "gus", "hal", "zoe"]
    );
    let card = ask(
        &db,
        &usher::config::Config::from_file(&config_file).unwrap(),
        usher::chat::Actor::guest("t"),
        "team payments",
    )
    .await;
    assert!(
        card.contains("People from: the directory (LDAP corp, LDAP partners), synced")
            && card.contains("(the team itself: descriptors in"),
        "{card}"
    );

    // config check says who wins.
    let out = usher()
        .args(["config", "check"])
        .env("USHER_CONFIG", &config_file)
        .env("TEST_LDAP_PASSWORD", READER_PASSWORD)
        .output()
        .unwrap();
    let said = stdout(&out);
    assert!(
        said.contains("people: directory, membership: directory, ownership: descriptors")
            && said.contains("LDAP corp (ldap://127.0.0.1"),
        "{said}"
    );
}
