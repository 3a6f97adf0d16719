//! `usher bench discord`: Discord interactions (Ed25519-signed, as Discord
//! signs them) for the load generator in `bench::slack`.

use ed25519_dalek::{Signer, SigningKey};
use serde_json::json;

/// The bench application's key from a hex seed (any text: hashed).
pub fn signing_key(seed: &str) -> SigningKey {
    use sha2::{Digest, Sha256};
    let bytes: [u8; 32] = Sha256::digest(seed.as_bytes()).into();
    SigningKey::from_bytes(&bytes)
}

/// `DISCORD_PUBLIC_KEY` for a seed.
pub fn public_key_hex(seed: &str) -> String {
    hex::encode(signing_key(seed).verifying_key().to_bytes())
}

/// (`X-Signature-Ed25519`, `X-Signature-Timestamp`).
pub fn sign(key: &SigningKey, timestamp: i64, body: &str) -> (String, String) {
    let ts = timestamp.to_string();
    let message = [ts.as_bytes(), body.as_bytes()].concat();
    (hex::encode(key.sign(&message).to_bytes()), ts)
}

/// `/usher owner <name>`, or its autocomplete with the first letters.
pub fn body(autocomplete: bool, name: &str, n: u64) -> String {
    let (kind, option) = if autocomplete {
        let typed: String = name.chars().take(4).collect();
        (
            4,
            json!({ "name": "service", "type": 3, "value": typed, "focused": true }),
        )
    } else {
        (2, json!({ "name": "service", "type": 3, "value": name }))
    };
    json!({
        "id": (1_700_000_000_000_000_000u64 + run_offset() + n).to_string(),
        "application_id": "1100000000000000001",
        "type": kind,
        "token": format!("bench-{n}"),
        "version": 1,
        "locale": "en-US",
        "channel_id": "1300000000000000001",
        "guild_id": "1200000000000000001",
        "app_permissions": "2147483647",
        "entitlements": [],
        "authorizing_integration_owners": { "0": "1200000000000000001" },
        "attachment_size_limit": 10485760,
        "member": {
            "user": { "id": "1600000000000000001", "username": "bench", "discriminator": "0", "global_name": null, "avatar": null },
            "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0,
            "permissions": "2147483647"
        },
        "data": { "id": "1800000000000000001", "name": "usher", "type": 1,
                  "options": [{ "name": "owner", "type": 1, "options": [option] }] }
    })
    .to_string()
}

/// A different id range per run (from the clock), so a second run against
/// the same server isn't taken for replays of the first.
fn run_offset() -> u64 {
    static OFFSET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or_default();
        (micros % 1_000_000_000_000) * 1_000
    })
}
