//! The fakes against the vendors' own API descriptions: each fake's
//! answers carry what the vendor's OpenAPI document marks required, with
//! the types it gives, and each fake refuses what the vendor would. Fakes
//! are only as good as our reading of an API; these tests tie that reading
//! to the vendor's words (excerpts in `tests/fixtures/vendor-api/`, with
//! their licences).

use serde_json::{Value, json};

use crate::fake_discord::FakeDiscord;
use crate::fake_slack::FakeSlack;
use crate::fakes::{FORGE_GITHUB_TOKEN, FakeForge, FakePaging, OPSGENIE_KEY, PAGERDUTY_TOKEN};
use crate::support::repo;

fn excerpt(name: &str) -> Value {
    let path = repo().join(format!("tests/fixtures/vendor-api/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The required keys `value` lacks.
fn missing(value: &Value, required: &[String]) -> Vec<String> {
    required
        .iter()
        .filter(|k| value.get(k.as_str()).is_none())
        .cloned()
        .collect()
}

/// Whether every item of `items` has the type a schema's `items` gives:
/// `{"type": "string"}` or a `$ref` to an object definition.
fn items_match(items: &Value, schema_items: &Value) -> bool {
    let want_string = schema_items["type"] == "string";
    items.as_array().unwrap().iter().all(|item| {
        if want_string {
            item.is_string()
        } else {
            item.is_object()
        }
    })
}

#[tokio::test]
async fn slack_users_list_answers_as_slack_documents() {
    let spec = excerpt("slack");
    let fake = FakeSlack::start().await;
    crate::slack::people(&fake);
    let page: Value = reqwest::Client::new()
        .post(format!("{}/users.list", fake.api_url()))
        .bearer_auth("xoxb-test-token")
        .form(&[("limit", "200")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = &spec["paths./users.list.get"]["responses.200.schema"];
    assert_eq!(
        missing(&page, &names(&schema["required"])),
        Vec::<String>::new()
    );
    assert!(page["cache_ts"].is_i64());
    assert!(page["response_metadata"]["next_cursor"].is_string());
    let user_required = names(&spec["definitions.objs_user.items[0].required"]);
    for member in page["members"].as_array().unwrap() {
        assert_eq!(
            missing(member, &user_required),
            Vec::<String>::new(),
            "{member}"
        );
    }
    // The parameters usher sends are the documented ones.
    let documented: Vec<String> = spec["paths./users.list.get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    for sent in ["limit", "cursor"] {
        assert!(documented.iter().any(|d| d == sent), "{sent}");
    }
    let history = names(&spec["paths./conversations.history.get.parameters"]);
    for sent in ["channel", "limit"] {
        assert!(history.iter().any(|d| d == sent), "{sent}");
    }
}

#[tokio::test]
async fn discord_messages_answer_as_discord_documents() {
    let spec = excerpt("discord");
    let fake = FakeDiscord::start().await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}/api/v10/channels/{}/messages",
        fake.api_url(),
        crate::fake_discord::CHANNEL
    );
    let body =
        json!({ "content": "hello", "nonce": "u0123456789abcdef01234567", "enforce_nonce": true });
    // The nonce usher sends fits the documented string form.
    let nonce_forms = spec["components.schemas.MessageCreateRequest.properties"]["nonce"]["oneOf"]
        .as_array()
        .unwrap()
        .clone();
    let max = nonce_forms
        .iter()
        .find(|f| f["type"] == "string")
        .and_then(|f| f["maxLength"].as_u64())
        .unwrap();
    assert!(body["nonce"].as_str().unwrap().len() as u64 <= max);
    let created: Value = http
        .post(&url)
        .header("authorization", "Bot test")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let required = names(&spec["components.schemas.MessageResponse.required"]);
    assert_eq!(
        missing(&created, &required),
        Vec::<String>::new(),
        "{created:#}"
    );
    // The same nonce again: the same message, as documented.
    let again: Value = http
        .post(&url)
        .header("authorization", "Bot test")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], created["id"]);
    // A 429 carries the documented fields.
    fake.fail(
        "/messages",
        crate::fake_discord::Failure::RateLimited(0.5),
        1,
    );
    let limited = http
        .post(&url)
        .header("authorization", "Bot test")
        .json(&json!({ "content": "again" }))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let limited: Value = limited.json().await.unwrap();
    let parts = spec["components.schemas.RatelimitedResponse"]["allOf"]
        .as_array()
        .unwrap();
    let required = names(&parts[1]["required"]);
    assert_eq!(
        missing(&limited, &required),
        Vec::<String>::new(),
        "{limited}"
    );
}

#[tokio::test]
async fn opsgenie_answers_as_opsgenie_documents() {
    let spec = excerpt("opsgenie");
    let fake = FakePaging::start().await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{}{path}", fake.base()))
            .header("authorization", format!("GenieKey {OPSGENIE_KEY}"))
            .query(&[("scheduleIdentifierType", "name"), ("flat", "true")])
            .send()
    };
    let base_required = names(&spec["definitions.BaseResponse"]["required"]);
    for (path, definition) in [
        (
            "/v2/schedules/checkout_schedule/on-calls",
            "definitions.OnCall",
        ),
        (
            "/v2/schedules/checkout_schedule/next-on-calls",
            "definitions.NextOnCall",
        ),
    ] {
        let answer: Value = get(path).await.unwrap().json().await.unwrap();
        assert_eq!(
            missing(&answer, &base_required),
            Vec::<String>::new(),
            "{path}"
        );
        let properties = spec[definition]["properties"].as_object().unwrap();
        for (field, value) in answer["data"].as_object().unwrap() {
            let schema = properties
                .get(field)
                .unwrap_or_else(|| panic!("{path}: `{field}` is not in {definition}"));
            if schema["type"] == "array" {
                assert!(
                    items_match(value, &schema["items"]),
                    "{path}: `{field}` items are not as documented: {value}"
                );
            }
        }
    }
    let alert = http
        .post(format!("{}/v2/alerts", fake.base()))
        .header("authorization", format!("GenieKey {OPSGENIE_KEY}"))
        .json(&json!({ "message": "payments-api: card payments failing", "alias": "k" }))
        .send()
        .await
        .unwrap();
    assert_eq!(alert.status(), 202);
    let alert: Value = alert.json().await.unwrap();
    assert_eq!(missing(&alert, &base_required), Vec::<String>::new());
}

#[tokio::test]
async fn pagerduty_fakes_require_what_pagerduty_documents() {
    let facts = excerpt("pagerduty");
    let fake = FakePaging::start().await;
    let http = reqwest::Client::new();
    let headers = facts["rest"]["required_headers"].as_object().unwrap();
    let value = |name: &str| {
        headers[name]
            .as_str()
            .unwrap()
            .replace("<token>", PAGERDUTY_TOKEN)
    };
    let call = |skip: Option<&str>| {
        let mut request = http.get(format!("{}/services/PSVC1", fake.base()));
        for name in headers.keys() {
            if Some(name.as_str()) != skip {
                request = request.header(name.as_str(), value(name));
            }
        }
        request.send()
    };
    assert_eq!(call(None).await.unwrap().status(), 200);
    for name in headers.keys() {
        assert_eq!(
            call(Some(name)).await.unwrap().status(),
            401,
            "the fake accepts a REST call without {name}"
        );
    }
    // An event as usher sends it has every required field, and the answer
    // the documented keys.
    let accepted = http
        .post(format!("{}/v2/enqueue", fake.base()))
        .json(&json!({
            "routing_key": "R1", "event_action": "trigger", "dedup_key": "d1",
            "payload": { "summary": "s", "severity": "critical", "source": "payments-api" },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        accepted.status().as_u16() as u64,
        facts["events"]["accepted_status"].as_u64().unwrap()
    );
    let accepted: Value = accepted.json().await.unwrap();
    let keys = names(&facts["events"]["accepted_keys"]);
    assert!(
        accepted
            .as_object()
            .unwrap()
            .keys()
            .all(|k| keys.contains(k))
    );
}

#[tokio::test]
async fn what_usher_sends_pagerduty_has_every_required_field() {
    let facts = excerpt("pagerduty");
    let fake = FakePaging::start().await;
    let oncall = usher::oncall::OnCallService::with_credentials(
        fake.config(),
        Some(PAGERDUTY_TOKEN.into()),
        Some(OPSGENIE_KEY.into()),
    );
    oncall
        .pagerduty
        .trigger(
            "R1",
            "d1",
            "payments-api: failing",
            "payments-api",
            json!({}),
        )
        .await
        .unwrap();
    let sent = fake.bodies().pop().unwrap();
    assert_eq!(
        missing(&sent, &names(&facts["events"]["required"])),
        Vec::<String>::new()
    );
    assert_eq!(
        missing(
            &sent["payload"],
            &names(&facts["events"]["payload_required"])
        ),
        Vec::<String>::new(),
        "{sent}"
    );
    assert!(
        names(&facts["events"]["severities"])
            .contains(&sent["payload"]["severity"].as_str().unwrap().to_string())
    );
}

#[tokio::test]
async fn github_pull_requests_and_files_answer_as_github_documents() {
    let spec = excerpt("github");
    let forge = FakeForge::start().await;
    forge.put_github_file("acme-shop/ledger", "catalog-info.yaml", "kind: Component\n");
    let http = reqwest::Client::new();
    let api = format!("{}/gh/repos/acme-shop/ledger", forge.base());
    let file: Value = http
        .get(format!("{api}/contents/catalog-info.yaml"))
        .bearer_auth(FORGE_GITHUB_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let required = names(&spec["components.schemas.content-file.required"]);
    assert_eq!(missing(&file, &required), Vec::<String>::new(), "{file:#}");
    let created: Value = http
        .post(format!("{api}/pulls"))
        .bearer_auth(FORGE_GITHUB_TOKEN)
        .json(&json!({ "title": "t", "head": "usher/ledger-catalog", "base": "main", "body": "b" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Value = http
        .get(format!("{api}/pulls"))
        .query(&[
            ("head", "acme-shop:usher/ledger-catalog"),
            ("state", "open"),
        ])
        .bearer_auth(FORGE_GITHUB_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let required = names(&spec["components.schemas.pull-request-simple.required"]);
    let head_required =
        names(&spec["components.schemas.pull-request-simple.properties.head"]["required"]);
    for pr in [&created, &listed[0]] {
        assert_eq!(missing(pr, &required), Vec::<String>::new(), "{pr:#}");
        assert_eq!(missing(&pr["head"], &head_required), Vec::<String>::new());
    }
    // The refs usher creates carry the documented required fields.
    let refs = &spec["paths./repos/{owner}/{repo}/git/refs.post.requestBody"];
    assert_eq!(names(&refs["required"]), ["ref", "sha"]);
}

/// The query discovery sends GitHub, validated against GitHub's published
/// GraphQL schema (octokit/graphql-schema): every field, argument, enum
/// value, fragment type condition and variable type as GitHub defines
/// them. The fake answers that query, so it stands or falls with it.
#[test]
fn the_github_graphql_query_is_valid_against_githubs_schema() {
    use apollo_compiler::validation::Valid;
    use apollo_compiler::{ExecutableDocument, Schema};
    let path = repo().join("tests/fixtures/vendor-api/github.graphql");
    // GitHub's own schema defines one field twice
    // (`EnterpriseOwnerInfo.repositoryDeployKeySetting`), which a strict
    // build reports; the rest of it is whole, and that is what the query
    // is checked against.
    let schema = match Schema::parse(std::fs::read_to_string(&path).unwrap(), &path) {
        Ok(schema) => schema,
        Err(built) => {
            let text = built.errors.to_string();
            assert!(
                text.matches("duplicate definitions").count() <= 2,
                "GitHub's schema doesn't read: {text}"
            );
            built.partial
        }
    };
    let schema = Valid::assume_valid(schema);
    use usher::discovery::github::{QUERY, TEAM_REPOSITORIES_QUERY, TEAMS_QUERY, query};
    let with_paths = query(&[".backstage/catalog-info.yaml".to_string()]);
    for (name, query) in [
        ("repositories", QUERY),
        ("repositories with descriptor paths", with_paths.as_str()),
        ("teams", TEAMS_QUERY),
        ("a team's repositories", TEAM_REPOSITORIES_QUERY),
    ] {
        if let Err(e) = ExecutableDocument::parse_and_validate(&schema, query, "discovery.graphql")
        {
            panic!(
                "discovery's {name} query is not valid against GitHub's schema:\n{}",
                e.errors
            );
        }
    }
    let query = QUERY;
    // And a query GitHub would refuse is refused here (the check bites).
    let wrong = query.replace("isArchived", "archived");
    assert!(ExecutableDocument::parse_and_validate(&schema, wrong, "wrong.graphql").is_err());
}

#[test]
fn the_gitlab_graphql_query_is_valid_against_gitlabs_schema() {
    use apollo_compiler::validation::Valid;
    use apollo_compiler::{ExecutableDocument, Schema};
    let path = repo().join("tests/fixtures/vendor-api/gitlab.graphql");
    let schema = match Schema::parse(std::fs::read_to_string(&path).unwrap(), &path) {
        Ok(schema) => schema,
        Err(built) => panic!("GitLab's schema doesn't read: {}", built.errors),
    };
    let schema = Valid::assume_valid(schema);
    let query = usher::discovery::gitlab::QUERY;
    if let Err(e) = ExecutableDocument::parse_and_validate(&schema, query, "discovery.graphql") {
        panic!(
            "discovery's GitLab query is not valid against GitLab's schema:\n{}",
            e.errors
        );
    }
    // Fields GitLab doesn't have are refused (the check bites).
    for wrong in [
        query.replace("archived", "isArchived"),
        query.replace("tree { lastCommit { sha } }", "lastCommit { sha }"),
    ] {
        assert!(ExecutableDocument::parse_and_validate(&schema, wrong, "wrong.graphql").is_err());
    }
}

#[test]
fn the_fake_dependency_graph_sbom_has_what_github_documents() {
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/vendor-api/github.json")).unwrap(),
    )
    .unwrap();
    let schema = &spec["components.schemas.dependency-graph-spdx-sbom"];
    let answer = crate::fake_github::spdx_sbom(
        "acme/legacy-billing",
        &["pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1".to_string()],
    );
    for key in schema["required"].as_array().unwrap() {
        assert!(answer.get(key.as_str().unwrap()).is_some(), "{key}");
    }
    let sbom_schema = &schema["properties"]["sbom"];
    for key in sbom_schema["required"].as_array().unwrap() {
        assert!(
            answer["sbom"].get(key.as_str().unwrap()).is_some(),
            "sbom.{key}"
        );
    }
    // GitHub's document lists a package's required fields beside `items`,
    // not in it; checked by hand.
    let packages = &sbom_schema["properties"]["packages"];
    let package_required = packages["required"]
        .as_array()
        .or(packages["items"]["required"].as_array())
        .unwrap();
    let reference_required = packages["items"]["properties"]["externalRefs"]["items"]["required"]
        .as_array()
        .unwrap();
    for package in answer["sbom"]["packages"].as_array().unwrap() {
        for key in package_required {
            assert!(
                package.get(key.as_str().unwrap()).is_some(),
                "package.{key}"
            );
        }
        for reference in package["externalRefs"].as_array().unwrap() {
            for key in reference_required {
                assert!(
                    reference.get(key.as_str().unwrap()).is_some(),
                    "externalRefs.{key}"
                );
            }
        }
    }
    let responses = &spec["paths./repos/{owner}/{repo}/dependency-graph/sbom.get.responses"];
    for status in ["200", "403", "404"] {
        assert!(responses.get(status).is_some(), "{status}");
    }
    // And what usher makes of it: the purl's package, the repository left out.
    let (_, packages) = usher::catalog::sbom::parse(&answer["sbom"].to_string()).unwrap();
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0].name, "log4j-core");
}
