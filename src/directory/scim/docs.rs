//! What a SCIM client asks before it starts: the service provider's
//! configuration, the resource types and their schemas (RFC 7643 §5–7),
//! describing what usher actually does — PATCH and ETags yes; bulk, sort
//! and password changes no; filters with at most 200 results a page.

use serde_json::{Value, json};

use super::resource::{ENTERPRISE_USER, GROUP, USER};

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/usher-bot/usher#directory-sync",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": super::MAX_RESULTS },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "Bearer token", "primary": true,
            "description": "The token in USHER_SCIM_TOKEN, as Authorization: Bearer <token>",
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "A person",
            "schema": USER,
            "schemaExtensions": [{ "schema": ENTERPRISE_USER, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "A group of people: a team",
            "schema": GROUP,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

fn attribute(
    name: &str,
    kind: &str,
    multi: bool,
    required: bool,
    case_exact: bool,
    uniqueness: &str,
) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": multi, "required": required,
        "caseExact": case_exact, "mutability": "readWrite", "returned": "default",
        "uniqueness": uniqueness, "description": "",
    })
}

fn complex(name: &str, multi: bool, subs: Vec<Value>) -> Value {
    let mut a = attribute(name, "complex", multi, false, false, "none");
    a["subAttributes"] = Value::Array(subs);
    a
}

pub fn schemas(base: &str) -> Vec<Value> {
    let s = |name: &str| attribute(name, "string", false, false, false, "none");
    let multi = |name: &str| {
        complex(
            name,
            true,
            vec![
                s("value"),
                s("display"),
                s("type"),
                attribute("primary", "boolean", false, false, false, "none"),
            ],
        )
    };
    let meta =
        |id: &str| json!({ "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") });
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": USER, "name": "User", "description": "A person",
            "attributes": [
                attribute("userName", "string", false, true, false, "server"),
                complex("name", false, vec![s("formatted"), s("familyName"), s("givenName"), s("middleName")]),
                s("displayName"), s("nickName"), s("title"), s("userType"), s("preferredLanguage"), s("locale"), s("timezone"),
                attribute("active", "boolean", false, false, false, "none"),
                multi("emails"), multi("phoneNumbers"), multi("groups"),
                attribute("externalId", "string", false, false, true, "none"),
            ],
            "meta": meta(USER),
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": GROUP, "name": "Group", "description": "A group of people",
            "attributes": [
                attribute("displayName", "string", false, true, false, "server"),
                complex("members", true, vec![attribute("value", "string", false, false, true, "none"), s("display"), s("type"), s("$ref")]),
                attribute("externalId", "string", false, false, true, "none"),
            ],
            "meta": meta(GROUP),
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": ENTERPRISE_USER, "name": "EnterpriseUser", "description": "Enterprise user",
            "attributes": [
                s("employeeNumber"), s("costCenter"), s("organization"), s("division"), s("department"),
                complex("manager", false, vec![s("value"), s("displayName"), s("$ref")]),
            ],
            "meta": meta(ENTERPRISE_USER),
        }),
    ]
}
