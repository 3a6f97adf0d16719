//! SCIM 2.0 at /scim/v2 over real HTTP, with requests shaped as Okta and
//! Microsoft Entra ID send them: discovery documents, create/read/list
//! with filters and paging, PATCH in each provider's forms, replace with
//! ETags, groups with member batches, deprovisioning, and the errors in
//! SCIM's schema.

use serde_json::{Value, json};

use crate::support::TestDb;

const TOKEN: &str = "scim-token-7d1f3a9c2b8e4f60";

struct Scim {
    base: String,
    http: reqwest::Client,
}

impl Scim {
    async fn start(db: &TestDb) -> Scim {
        let app = usher::directory::scim::routes(db.pool.clone(), TOKEN);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/scim/v2", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Scim {
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, b) = self.send(reqwest::Method::GET, path, None, &[]).await;
        (s, b)
    }
}

fn okta_user(email: &str, given: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": { "givenName": given, "familyName": "Doe" },
        "emails": [{ "primary": true, "value": email, "type": "work" }],
        "displayName": format!("{given} Doe"),
        "locale": "en-US",
        "externalId": format!("00u{given}"),
        "groups": [],
        "password": "not-kept-anywhere-but-sent-by-okta",
        "active": true,
    })
}

#[tokio::test]
async fn okta_and_entra_id_provision_users_and_groups() {
    let db = TestDb::new().await;
    let scim = Scim::start(&db).await;

    // Without the token: 401 in SCIM's error schema.
    let response = reqwest::get(format!("{}/Users", scim.base)).await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], "401");

    // What a provider reads first.
    let (status, config) = scim.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], false);
    let (_, types) = scim.get("/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    let (_, user_type) = scim.get("/ResourceTypes/User").await;
    assert_eq!(
        user_type["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );
    let (_, schemas) = scim.get("/Schemas").await;
    assert_eq!(schemas["totalResults"], 3);
    let (status, _) = scim
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
        .await;
    assert_eq!(status, 200);

    // Okta: does the user exist? No: create them.
    let (status, empty) = scim
        .get("/Users?filter=userName%20eq%20%22jane%40acme.example%22&startIndex=1&count=100")
        .await;
    assert_eq!(status, 200);
    assert_eq!(empty["totalResults"], 0);
    assert_eq!(
        empty["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    let (status, headers, jane) = scim
        .send(
            reqwest::Method::POST,
            "/Users",
            Some(okta_user("jane@acme.example", "Jane")),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{jane}");
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_eq!(headers["etag"], "W/\"1\"");
    let id = jane["id"].as_str().unwrap().to_string();
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );
    assert_eq!(jane["meta"]["resourceType"], "User");
    assert_eq!(jane["meta"]["version"], "W/\"1\"");
    // The same userName again (in other case): 409 uniqueness.
    let (status, _, conflict) = scim
        .send(
            reqwest::Method::POST,
            "/Users",
            Some(okta_user("JANE@acme.example", "Jane")),
            &[],
        )
        .await;
    assert_eq!(
        (status, conflict["scimType"].as_str()),
        (409, Some("uniqueness"))
    );
    let (_, found) = scim
        .get("/Users?filter=userName%20eq%20%22Jane%40ACME.example%22")
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());

    // Okta deactivates with a PATCH replacing `active`.
    let (status, _, patched) = scim
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(
                json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                         "Operations": [{ "op": "replace", "value": { "active": false } }] }),
            ),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["active"], false);
    assert_eq!(patched["meta"]["version"], "W/\"2\"");

    // Entra ID: an enterprise user, then its PATCH habits.
    let entra = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7b2c3a5d9e11",
        "userName": "sam@acme.example",
        "active": "True",
        "displayName": "Sam Lindqvist",
        "emails": [{ "primary": true, "type": "work", "value": "sam@acme.example" }],
        "name": { "formatted": "Sam Lindqvist", "familyName": "Lindqvist", "givenName": "Sam" },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "Platform", "manager": { "value": id } },
    });
    let (status, _, sam) = scim
        .send(reqwest::Method::POST, "/Users", Some(entra), &[])
        .await;
    assert_eq!(status, 201, "{sam}");
    assert_eq!(sam["active"], true, "string booleans stored as booleans");
    let sam_id = sam["id"].as_str().unwrap().to_string();
    let (_, by_external) = scim
        .get("/Users?filter=externalId%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7b2c3a5d9e11%22")
        .await;
    assert_eq!(by_external["Resources"][0]["userName"], "sam@acme.example");
    let (_, by_department) = scim
        .get("/Users?filter=urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Aextension%3Aenterprise%3A2.0%3AUser%3Adepartment%20eq%20%22platform%22")
        .await;
    assert_eq!(by_department["totalResults"], 1);
    let (status, _, sam) = scim
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{sam_id}"),
            Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                { "op": "Replace", "value": { "active": "False", "name.givenName": "Samuel" } },
                { "op": "Add", "path": "emails[type eq \"work\"].value", "value": "samuel@acme.example" },
                { "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "SRE" },
            ] })),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{sam}");
    assert_eq!(sam["active"], false);
    assert_eq!(sam["name"]["givenName"], "Samuel");
    assert_eq!(sam["emails"][0]["value"], "samuel@acme.example");
    assert_eq!(
        sam["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "SRE"
    );

    // Attributes, ETags.
    let (_, only) = scim
        .get(&format!("/Users/{sam_id}?attributes=userName"))
        .await;
    assert!(
        only.get("userName").is_some() && only.get("emails").is_none() && only.get("id").is_some(),
        "{only}"
    );
    let (status, _, _) = scim
        .send(
            reqwest::Method::GET,
            &format!("/Users/{sam_id}"),
            None,
            &[("if-none-match", "W/\"2\"".into())],
        )
        .await;
    assert_eq!(status, 304);
    let (status, _, stale) = scim
        .send(
            reqwest::Method::PUT,
            &format!("/Users/{sam_id}"),
            Some(json!({ "userName": "sam@acme.example", "active": true })),
            &[("if-match", "W/\"1\"".into())],
        )
        .await;
    assert_eq!(status, 412, "{stale}");
    let (status, _, replaced) = scim
        .send(
            reqwest::Method::PUT,
            &format!("/Users/{sam_id}"),
            Some(
                json!({ "userName": "sam@acme.example", "active": true, "displayName": "Sam L." }),
            ),
            &[("if-match", "W/\"2\"".into())],
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["meta"]["version"], "W/\"3\"");
    assert!(
        replaced.get("emails").is_none(),
        "a PUT replaces the whole resource"
    );

    // Groups: members in Okta's batches.
    let (status, _, group) = scim
        .send(
            reqwest::Method::POST,
            "/Groups",
            Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Payments", "members": [] })),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().unwrap().to_string();
    let member_patch = |op: &str, ids: &[&str]| {
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            { "op": op, "path": "members", "value": ids.iter().map(|i| json!({ "value": i })).collect::<Vec<_>>() }] })
    };
    let (status, _, group) = scim
        .send(
            reqwest::Method::PATCH,
            &format!("/Groups/{group_id}"),
            Some(member_patch("add", &[&id, &sam_id])),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["members"].as_array().unwrap().len(), 2);
    let (_, with_sam) = scim
        .get(&format!(
            "/Groups?filter=members.value%20eq%20%22{sam_id}%22"
        ))
        .await;
    assert_eq!(with_sam["totalResults"], 1);
    let (status, _, group) = scim
        .send(
            reqwest::Method::PATCH,
            &format!("/Groups/{group_id}"),
            Some(member_patch("remove", &[&id])),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["members"], json!([{ "value": sam_id }]));
    let (_, by_name) = scim
        .get("/Groups?filter=displayName%20eq%20%22payments%22&excludedAttributes=members")
        .await;
    assert_eq!(by_name["totalResults"], 1);
    assert!(by_name["Resources"][0].get("members").is_none());

    // Paging.
    for i in 0..5 {
        scim.send(
            reqwest::Method::POST,
            "/Users",
            Some(okta_user(&format!("u{i}@acme.example"), &format!("U{i}"))),
            &[],
        )
        .await;
    }
    let (_, page) = scim.get("/Users?startIndex=3&count=2").await;
    assert_eq!(
        (
            page["totalResults"].as_i64(),
            page["startIndex"].as_i64(),
            page["itemsPerPage"].as_i64()
        ),
        (Some(7), Some(3), Some(2))
    );

    // Errors say what is wrong.
    let (status, bad) = scim.get("/Users?filter=userName%20eq").await;
    assert_eq!(
        (status, bad["scimType"].as_str()),
        (400, Some("invalidFilter"))
    );
    let (status, _, bad) = scim
        .send(
            reqwest::Method::POST,
            "/Users",
            Some(json!({ "displayName": "x" })),
            &[],
        )
        .await;
    assert_eq!(
        (status, bad["scimType"].as_str()),
        (400, Some("invalidValue"))
    );
    let (status, _, bad) = scim
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({ "Operations": [{ "op": "move" }] })),
            &[],
        )
        .await;
    assert_eq!(
        (status, bad["scimType"].as_str()),
        (400, Some("invalidSyntax"))
    );
    let (status, _) = scim.get("/Users/not-a-uuid").await;
    assert_eq!(status, 404);
    let huge = json!({ "userName": "big@acme.example", "title": "x".repeat(2 * 1024 * 1024) });
    let (status, _, _) = scim
        .send(reqwest::Method::POST, "/Users", Some(huge), &[])
        .await;
    assert_eq!(status, 413);

    // Deprovisioning by DELETE: gone from SCIM, kept underneath.
    let (status, _, _) = scim
        .send(reqwest::Method::DELETE, &format!("/Users/{id}"), None, &[])
        .await;
    assert_eq!(status, 204);
    let (status, _) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(status, 404);
    let kept: (bool, bool) = sqlx::query_as(
        "SELECT deleted_at IS NOT NULL, active FROM scim_resources WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(kept, (true, false));
    // Its userName is free again.
    let (status, _, _) = scim
        .send(
            reqwest::Method::POST,
            "/Users",
            Some(okta_user("jane@acme.example", "Jane")),
            &[],
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn what_scim_pushed_becomes_the_catalogs_people_and_teams() {
    use usher::catalog::loader::LoadOptions;
    use usher::config::Config;
    use usher::directory::catalog;
    let db = TestDb::new().await;
    let scim = Scim::start(&db).await;
    let mut ids = Vec::new();
    for (email, given) in [("jane@acme.example", "Jane"), ("sam@acme.example", "Sam")] {
        let (_, _, user) = scim
            .send(
                reqwest::Method::POST,
                "/Users",
                Some(okta_user(email, given)),
                &[],
            )
            .await;
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    let members: Vec<Value> = ids.iter().map(|i| json!({ "value": i })).collect();
    let (status, _, _) = scim
        .send(
            reqwest::Method::POST,
            "/Groups",
            Some(json!({ "displayName": "Payments Team", "members": members })),
            &[],
        )
        .await;
    assert_eq!(status, 201);

    let options = LoadOptions::from_config(&Config::default());
    let sync = || async {
        match catalog::sync(&db.pool, &options, &Default::default(), "test")
            .await
            .unwrap()
        {
            catalog::Synced::Imported(imported) => *imported,
            catalog::Synced::Held(held) => panic!("held back: {held:?}"),
        }
    };
    let (loaded, outcome) = sync().await;
    assert_eq!(loaded.error_count(), 0, "{:?}", loaded.problems);
    assert_eq!(outcome.added, 3);
    let team: (String, Option<String>) = sqlx::query_as(
        "SELECT ref, title FROM entities WHERE kind = 'group' AND name = 'payments-team'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        team,
        (
            "group:default/payments-team".into(),
            Some("Payments Team".into())
        )
    );
    let jane: (Option<String>, bool, i64) = sqlx::query_as(
        "SELECT u.email, u.active, (SELECT count(*) FROM relations r WHERE r.source_id = u.id
             AND r.type = 'memberOf' AND r.target_ref = 'group:default/payments-team')
         FROM entities u WHERE u.ref = 'user:default/jane'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(jane, (Some("jane@acme.example".into()), true, 1));

    // Sam is deprovisioned (Entra ID's way): inactive in the catalog, kept.
    let (status, _, _) = scim
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{}", ids[1]),
            Some(
                json!({ "Operations": [{ "op": "Replace", "path": "active", "value": "False" }] }),
            ),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (_, outcome) = sync().await;
    assert_eq!((outcome.changed, outcome.unchanged), (1, 2));
    let active: bool =
        sqlx::query_scalar("SELECT active FROM entities WHERE ref = 'user:default/sam'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!active);
    let location: String = sqlx::query_scalar(
        "SELECT l.target FROM entities e JOIN locations l ON l.id = e.location_id WHERE e.ref = 'user:default/sam'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(location, catalog::LOCATION);
    // `team` shows the deprovisioned member as inactive.
    let core = db.core();
    let request = usher::chat::Request {
        actor: usher::chat::Actor::guest("tester"),
        platform: usher::chat::Platform::Console,
        workspace: None,
        channel: None,
        text: "team payments-team".into(),
    };
    let card = usher::commands::handle(&core, &request).await.to_plain();
    assert!(
        card.contains("Members (1 active of 2)") && card.contains("(inactive)"),
        "{card}"
    );
    assert!(
        card.contains("People from: the directory (SCIM), synced"),
        "{card}"
    );
    // `me` says which source knows you.
    let me = usher::chat::Request {
        actor: crate::oncall::person("jane"),
        platform: usher::chat::Platform::Console,
        workspace: None,
        channel: None,
        text: "me".into(),
    };
    let said = usher::commands::handle(&core, &me).await.to_plain();
    assert!(
        said.contains("Known from the directory (SCIM) — your identity provider, last synced"),
        "{said}"
    );
    // Their team's next digest names them, once.
    let config = Config::default();
    let digests =
        usher::hygiene::digest::build(&db.pool, &config, Some("group:default/payments-team"), true)
            .await
            .unwrap();
    let text = digests[0].reply.to_plain();
    assert!(
        text.contains("Left the team: Sam Doe — inactive in the catalog now"),
        "{text}"
    );
    usher::hygiene::digest::send_round(&db.pool, &config, "2026-12-02T10:00", &digests)
        .await
        .unwrap();
    let again =
        usher::hygiene::digest::build(&db.pool, &config, Some("group:default/payments-team"), true)
            .await
            .unwrap();
    assert!(again.iter().all(|d| d.leavers.is_empty()), "{again:?}");
    // Nothing changed: nothing changes.
    let (_, outcome) = sync().await;
    assert_eq!((outcome.added, outcome.changed, outcome.removed), (0, 0, 0));
}

#[tokio::test]
async fn a_sync_that_would_empty_a_team_waits_for_an_admin() {
    use usher::catalog::loader::LoadOptions;
    use usher::config::Config;
    use usher::directory::catalog::{self, Synced};
    let db = TestDb::new().await;
    let scim = Scim::start(&db).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (_, _, user) = scim
            .send(
                reqwest::Method::POST,
                "/Users",
                Some(okta_user(&format!("p{i}@acme.example"), &format!("P{i}"))),
                &[],
            )
            .await;
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    let members: Vec<Value> = ids.iter().map(|i| json!({ "value": i })).collect();
    let (_, _, group) = scim
        .send(
            reqwest::Method::POST,
            "/Groups",
            Some(json!({ "displayName": "Ledger", "members": members })),
            &[],
        )
        .await;
    let group_id = group["id"].as_str().unwrap().to_string();
    let mut config = Config::default();
    config.admins.people = vec!["p0".into()];
    let options = LoadOptions::from_config(&config);
    assert!(matches!(
        catalog::sync(&db.pool, &options, &Default::default(), "test")
            .await
            .unwrap(),
        Synced::Imported(..)
    ));

    // A broken assignment drops four of the five: held back, nothing changes.
    let drop: Vec<Value> = ids[1..].iter().map(|i| json!({ "value": i })).collect();
    scim.send(
        reqwest::Method::PATCH,
        &format!("/Groups/{group_id}"),
        Some(json!({ "Operations": [{ "op": "remove", "path": "members", "value": drop }] })),
        &[],
    )
    .await;
    let held = match catalog::sync(&db.pool, &options, &Default::default(), "test")
        .await
        .unwrap()
    {
        Synced::Held(held) => held,
        Synced::Imported(..) => panic!("should be held back"),
    };
    assert_eq!(held.teams, [("group:default/ledger".to_string(), 4, 5)]);
    let members: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM relations WHERE type = 'memberOf' AND target_ref = 'group:default/ledger'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(members, 5);
    // The admins are asked, once, with a button that applies it.
    usher::directory::tell_admins(&db.pool, &config, &held)
        .await
        .unwrap();
    usher::directory::tell_admins(&db.pool, &config, &held)
        .await
        .unwrap();
    let asked: Vec<(String, Value)> = sqlx::query_as(
        "SELECT destination, payload FROM outbox WHERE idempotency_key LIKE 'directory-guard:%'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0, "dm:user:default/p0");
    let text = asked[0].1.to_string();
    assert!(
        text.contains("group:default/ledger: 4 of 5 active members")
            && text.contains(&format!("directory confirm {}", held.fingerprint)),
        "{text}"
    );

    // Only an admin may apply it; then the next sync does.
    let core = db.core_with(config.clone());
    let confirm = format!("directory confirm {}", held.fingerprint);
    let refused = crate::oncall::ask_as(&core, crate::oncall::person("p1"), &confirm).await;
    assert!(refused.contains("admin"), "{refused}");
    let said = crate::oncall::ask_as(&core, crate::oncall::person("p0"), &confirm).await;
    assert!(said.contains("Confirmed"), "{said}");
    assert!(matches!(
        catalog::sync(&db.pool, &options, &Default::default(), "test")
            .await
            .unwrap(),
        Synced::Imported(..)
    ));
    let members: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM relations WHERE type = 'memberOf' AND target_ref = 'group:default/ledger'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(members, 1);
}
