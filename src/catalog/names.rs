//! An in-memory trigram index of entity names, for "did you mean …?"
//! suggestions and completion.
//!
//! Why not pg_trgm alone: on a 100,000-service catalog whose names share
//! words ("-api", "-worker", "payments-"), a trigram query reads posting
//! lists of thousands of entries and takes 20–50 ms in PostgreSQL. Counting
//! trigram matches over an in-memory inverted index takes well under a
//! millisecond. Similarity is computed exactly as pg_trgm does (words of
//! letters and digits, each padded with two spaces before and one after,
//! |shared| / |union| of the trigram sets), so the answers are the same.
//!
//! It lives in the catalog [`super::snapshot`], rebuilt after every committed
//! change. It only ever suggests names: exact answers always come from the
//! database.

use std::collections::HashMap;

use super::model::Kind;

/// A trigram, its three characters packed into one integer.
type Trigram = u64;

fn pack(a: char, b: char, c: char) -> Trigram {
    ((a as u64) << 42) | ((b as u64) << 21) | (c as u64)
}

/// pg_trgm's trigrams of a text: lower-cased words of letters and digits,
/// each padded as "  word ", deduplicated and sorted.
pub fn trigrams(text: &str) -> Vec<Trigram> {
    let mut out = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let padded: Vec<char> = "  "
            .chars()
            .chain(word.chars().flat_map(char::to_lowercase))
            .chain(" ".chars())
            .collect();
        for w in padded.windows(3) {
            out.push(pack(w[0], w[1], w[2]));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// pg_trgm's `similarity(a, b)`.
pub fn similarity(a: &str, b: &str) -> f32 {
    let (ta, tb) = (trigrams(a), trigrams(b));
    if ta.is_empty() || tb.is_empty() {
        return 0.0;
    }
    let shared = ta.iter().filter(|t| tb.binary_search(t).is_ok()).count();
    shared as f32 / (ta.len() + tb.len() - shared) as f32
}

struct Entry {
    id: i64,
    kind: Kind,
    name: String,
    trigrams: u16,
}

/// The index itself: names and an inverted index trigram → entries.
pub struct NameIndex {
    entries: Vec<Entry>,
    postings: HashMap<Trigram, Vec<u32>>,
    /// Entries by lower-cased name, for prefix search by bisection (the
    /// completion of every keystroke must not scan the catalog).
    sorted: Vec<(String, u32)>,
}

/// A suggestion: the entity's id, its name, and the similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub id: i64,
    pub name: String,
    pub score: f32,
}

impl NameIndex {
    pub fn build(rows: Vec<(i64, String, String)>) -> NameIndex {
        let mut entries = Vec::with_capacity(rows.len());
        let mut postings: HashMap<Trigram, Vec<u32>> = HashMap::new();
        for (id, kind, name) in rows {
            let Some(kind) = Kind::parse(&kind) else {
                continue;
            };
            let grams = trigrams(&name);
            let index = entries.len() as u32;
            for g in &grams {
                postings.entry(*g).or_default().push(index);
            }
            entries.push(Entry {
                id,
                kind,
                name,
                trigrams: grams.len().min(u16::MAX as usize) as u16,
            });
        }
        let mut sorted: Vec<(String, u32)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.to_lowercase(), i as u32))
            .collect();
        sorted.sort_unstable();
        NameIndex {
            entries,
            postings,
            sorted,
        }
    }

    /// Names starting with `text` (lower case), at most `cap` of them.
    fn starting_with(&self, text: &str, kinds: &[Kind], cap: usize) -> Vec<&str> {
        let from = self
            .sorted
            .partition_point(|(name, _)| name.as_str() < text);
        self.sorted[from..]
            .iter()
            .take_while(|(name, _)| name.starts_with(text))
            .map(|(_, i)| &self.entries[*i as usize])
            .filter(|e| kinds.contains(&e.kind))
            .take(cap)
            .map(|e| e.name.as_str())
            .collect()
    }

    /// Names containing `text` elsewhere than at the start, at most `cap`:
    /// candidates from the posting list of the text's rarest inner
    /// trigram, checked; a scan only for texts of one or two characters.
    fn containing(&self, text: &str, kinds: &[Kind], cap: usize) -> Vec<&str> {
        let chars: Vec<char> = text.chars().collect();
        let inner: Vec<Trigram> = if chars.iter().all(|c| c.is_alphanumeric()) {
            chars.windows(3).map(|w| pack(w[0], w[1], w[2])).collect()
        } else {
            Vec::new()
        };
        let matches = |e: &&Entry| {
            kinds.contains(&e.kind)
                && !e.name.to_lowercase().starts_with(text)
                && e.name.to_lowercase().contains(text)
        };
        if inner.is_empty() {
            return self
                .entries
                .iter()
                .filter(matches)
                .take(cap)
                .map(|e| e.name.as_str())
                .collect();
        }
        let Some(rarest) = inner
            .iter()
            .map(|t| self.postings.get(t).map(Vec::as_slice).unwrap_or(&[]))
            .min_by_key(|p| p.len())
        else {
            return Vec::new();
        };
        rarest
            .iter()
            .map(|i| &self.entries[*i as usize])
            .filter(matches)
            .take(cap)
            .map(|e| e.name.as_str())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Completion: names starting with `text` (shortest first), then names
    /// containing it, then similar names — distinct, at most `limit`.
    pub fn complete(&self, text: &str, kinds: &[Kind], limit: usize) -> Vec<String> {
        let text = longest_name_prefix(text).trim().to_lowercase();
        let mut out: Vec<String> = Vec::new();
        let wanted = |e: &&Entry| kinds.contains(&e.kind);
        if text.is_empty() {
            let mut all: Vec<&str> = self
                .entries
                .iter()
                .filter(wanted)
                .map(|e| e.name.as_str())
                .collect();
            all.sort_unstable();
            all.dedup();
            return all.into_iter().take(limit).map(str::to_string).collect();
        }
        // Shortest first among the first thousand prefix matches (a
        // one-letter text matches most of a large catalog).
        let mut prefix = self.starting_with(&text, kinds, 1000);
        let mut inside = if prefix.len() >= limit {
            Vec::new()
        } else {
            self.containing(&text, kinds, limit * 4)
        };
        prefix.sort_unstable_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        inside.sort_unstable_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        for name in prefix.into_iter().chain(inside) {
            if out.len() >= limit {
                return out;
            }
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
        // Similar names (a typo) only when the text matched little: the
        // trigram pass costs milliseconds on a large catalog, too much
        // for every keystroke.
        if out.len() >= 3 {
            return out;
        }
        for m in self.similar(&text, kinds, 0.2, limit) {
            if out.len() >= limit {
                break;
            }
            if !out.contains(&m.name) {
                out.push(m.name);
            }
        }
        out
    }

    /// The `limit` names most similar to `text` among `kinds`, at or above
    /// `threshold`, best first (ties by name).
    pub fn similar(&self, text: &str, kinds: &[Kind], threshold: f32, limit: usize) -> Vec<Match> {
        let query = trigrams(longest_name_prefix(text));
        if query.is_empty() {
            return Vec::new();
        }
        // Dense counters: one slot per name, and the list of slots touched.
        let mut counts = vec![0u16; self.entries.len()];
        let mut touched: Vec<u32> = Vec::new();
        for g in &query {
            if let Some(list) = self.postings.get(g) {
                for &i in list {
                    if counts[i as usize] == 0 {
                        touched.push(i);
                    }
                    counts[i as usize] += 1;
                }
            }
        }
        let mut found: Vec<Match> = touched
            .into_iter()
            .filter_map(|i| {
                let shared = counts[i as usize];
                let e = &self.entries[i as usize];
                let score =
                    shared as f32 / (query.len() + e.trigrams as usize - shared as usize) as f32;
                (score >= threshold && kinds.contains(&e.kind)).then(|| Match {
                    id: e.id,
                    name: e.name.clone(),
                    score,
                })
            })
            .collect();
        found.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.name.cmp(&b.name))
        });
        found.truncate(limit);
        found
    }
}

/// At most the first 253 bytes of `text` (an entity name's limit, with
/// room for a namespace): what a typeahead or a typo could mean; the rest of
/// a huge text is not looked at.
fn longest_name_prefix(text: &str) -> &str {
    &text[..text.floor_char_boundary(253)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigrams_like_pg_trgm() {
        // SELECT show_trgm('cat') → {"  c"," ca","at ","cat"}
        assert_eq!(trigrams("cat").len(), 4);
        // Words are split on non-alphanumerics and padded separately.
        assert_eq!(
            trigrams("a-b").len(),
            trigrams("a").len() + trigrams("b").len()
        );
        assert_eq!(trigrams("--"), Vec::<Trigram>::new());
        // SELECT similarity('payments-api', 'payments') ≈ 0.6923077
        assert!((similarity("payments-api", "payments") - 0.692_307_7).abs() < 1e-6);
        assert!((similarity("word", "two words") - 0.363_636_37).abs() < 1e-6);
    }

    #[test]
    fn best_matches_first() {
        let index = NameIndex::build(vec![
            (1, "component".into(), "payments-api".into()),
            (2, "component".into(), "payment-gateway".into()),
            (3, "component".into(), "search-api".into()),
            (4, "group".into(), "payments".into()),
        ]);
        let found = index.similar("paymnts-api", &[Kind::Component], 0.3, 3);
        assert_eq!(found[0].name, "payments-api");
        assert!(found.iter().all(|m| m.id != 4));
        assert!(index.similar("zzz", &[Kind::Component], 0.3, 3).is_empty());
    }

    #[test]
    fn completion_prefix_first() {
        let index = NameIndex::build(vec![
            (1, "component".into(), "payments-api".into()),
            (2, "component".into(), "payment-gateway".into()),
            (3, "component".into(), "legacy-payments".into()),
            (4, "component".into(), "pay".into()),
            (5, "group".into(), "payments".into()),
        ]);
        assert_eq!(
            index.complete("Pay", &[Kind::Component], 25),
            ["pay", "payments-api", "payment-gateway", "legacy-payments"]
        );
        assert_eq!(index.complete("pay", &[Kind::Component], 2).len(), 2);
        assert_eq!(
            index.complete("paymnts-api", &[Kind::Component], 25)[0],
            "payments-api"
        );
    }
}
