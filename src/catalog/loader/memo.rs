//! What a file left the last import (its memo), so the next import skips
//! it when nothing about it changed: the fingerprint of its text and the
//! rules, the files its substitutions read, and its entities' hashes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::super::entity::LocationTarget;
use super::super::problem::Problem;
use super::super::source::{Scope, Source};
use super::{FirstSeen, LoadOptions};

/// What one file contributed to an import, remembered so that the next
/// import can skip the file when nothing about it changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FileMemo {
    /// The file's text and the validation rules, hashed.
    pub fingerprint: String,
    /// Files its substitutions read, with the hash of what they held.
    pub deps: Vec<(String, String)>,
    pub entities: Vec<MemoEntity>,
    /// Location targets it names (followed again on reuse).
    pub targets: Vec<LocationTarget>,
    /// Problems found in the file itself.
    pub problems: Vec<Problem>,
    pub invalid_refs: Vec<String>,
    pub unreadable: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoEntity {
    pub key: String,
    pub name: String,
    pub line: usize,
    pub hash: String,
}

/// What a previous import of the location left: its file memos and the
/// content hash of each of its entities.
#[derive(Debug, Default)]
pub struct Reuse {
    pub memos: HashMap<String, FileMemo>,
    pub existing: HashMap<String, String>,
}

/// The rules and this version are part of the fingerprint: a change to
/// either re-validates every file.
pub(super) fn fingerprint(text: &str, options: &LoadOptions, people_allowed: bool) -> String {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(options.rules.lifecycles.join(",").as_bytes());
    hasher.update([u8::from(people_allowed)]);
    hasher.update([0]);
    hasher.update(text.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

pub(super) fn text_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// A memo is reusable when every entity it lists is in the catalog with
/// the same content, and none is defined again by a file read before.
pub(super) fn reusable(
    memo: &FileMemo,
    existing: &HashMap<String, String>,
    first_seen: &HashMap<String, FirstSeen>,
) -> bool {
    memo.entities
        .iter()
        .all(|e| existing.get(&e.key) == Some(&e.hash) && !first_seen.contains_key(&e.key))
}

pub(super) async fn deps_unchanged(
    deps: &[(String, String)],
    scope: &Scope,
    options: &LoadOptions,
) -> bool {
    for (source, hash) in deps {
        let source = Source::from_arg(source);
        if let Source::File(path) = &source
            && scope.check_real(path).is_err()
        {
            return false; // a link now leads out: read the file again, and refuse it
        }
        let now = match options.reader.read_text(&source, scope).await {
            Ok(text) => text_hash(&text),
            Err(_) => MISSING.to_string(),
        };
        if now != *hash {
            return false;
        }
    }
    true
}

pub(super) const MISSING: &str = "missing";
