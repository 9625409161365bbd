//! The rows a store derives from each event and answers queries from, as verify compares
//! them: what a store reads back ([`DerivedRows`], from [`crate::AuditStore::derived_rows`])
//! against what each event gives ([`Expected`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::store::sealed::{change_paths_of, SealedEvent};
use crate::Result;

/// The derived rows of a range of events ([`crate::AuditStore::derived_rows`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DerivedRows {
    /// `(seq, kind, id)`: each target and related target an event involves.
    pub involved: Vec<(u64, String, String)>,
    /// `(seq, path)`: each change path of an event, ancestors included.
    pub change_paths: Vec<(u64, String)>,
    /// Each event's entry in the search index, as far as the store can read it back; `None`
    /// for a store that does not report its search index.
    pub search: Option<Vec<(u64, SearchEntry)>>,
}

impl DerivedRows {
    /// Rows as a store read them.
    pub fn new(involved: Vec<(u64, String, String)>, change_paths: Vec<(u64, String)>) -> Self {
        DerivedRows {
            involved,
            change_paths,
            search: None,
        }
    }

    /// The same rows, with the events' search-index entries.
    pub fn with_search(mut self, search: Vec<(u64, SearchEntry)>) -> Self {
        self.search = Some(search);
        self
    }
}

/// One event's entry in a store's search index, as the store reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchEntry {
    /// The words indexed (lowercase, as [`crate::query::words`] gives them), in any order,
    /// duplicates allowed.
    Words(Vec<String>),
    /// How many words are indexed, duplicates counted: all an index that keeps no text
    /// tells (SQLite's contentless full-text table).
    WordCount(u64),
}

/// One target's link in an event: the digest of its key (tenant, kind, id) and the seq it
/// links to.
pub(crate) type Link = ([u8; 16], u64);

/// What one event's derived rows must be.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub(crate) seq: u64,
    /// Each target it links to ([`SealedEvent::links`]), by a digest of its key (tenant,
    /// kind, id), with the link; empty for an event without links (encoding 1).
    pub(crate) links: Vec<Link>,
    involved: Vec<(String, String)>,
    change_paths: Vec<String>,
    /// The words of its search text, duplicates kept.
    words: Vec<String>,
}

impl Expected {
    /// What `e` (as stored, erased values gone) gives.
    ///
    /// # Errors
    /// [`crate::Error::Corrupt`] when the event cannot be decoded.
    pub(crate) fn of(e: &SealedEvent) -> Result<Self> {
        let event = e.decode()?;
        let involved = e.involved()?;
        let links = if e.encoding >= 2 {
            involved
                .iter()
                .zip(&e.links)
                .map(|((kind, id), link)| (link_key(e.tenant.as_deref(), kind, id), *link))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Expected {
            seq: e.seq,
            links,
            involved,
            change_paths: change_paths_of(&event.changes),
            words: crate::query::words(&crate::query::search_text(&event)),
        })
    }
}

/// A digest of a link's key, so that a walk over the whole log keeps 24 bytes per target
/// however long its ids: the first 16 bytes of SHA-256 over the length-prefixed parts.
fn link_key(tenant: Option<&str>, kind: &str, id: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [tenant.unwrap_or("\0none"), kind, id] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let d = h.finalize();
    d[..16].try_into().expect("SHA-256 gives 32 bytes")
}

/// The first difference, in seq order, between the rows `want` gives and the rows `have` a
/// store read back for the same events: the seq and a sentence naming the row.
pub(crate) fn first_difference(want: &[Expected], have: DerivedRows) -> Option<(u64, String)> {
    let in_range = |seq: &u64| want.binary_search_by_key(seq, |w| w.seq).is_ok();
    let want_targets: BTreeSet<(u64, &str, &str)> = want
        .iter()
        .flat_map(|w| {
            w.involved
                .iter()
                .map(|(k, i)| (w.seq, k.as_str(), i.as_str()))
        })
        .collect();
    let have_targets: BTreeSet<(u64, &str, &str)> = have
        .involved
        .iter()
        .filter(|(s, _, _)| in_range(s))
        .map(|(s, k, i)| (*s, k.as_str(), i.as_str()))
        .collect();
    let want_paths: BTreeSet<(u64, &str)> = want
        .iter()
        .flat_map(|w| w.change_paths.iter().map(|p| (w.seq, p.as_str())))
        .collect();
    let have_paths: BTreeSet<(u64, &str)> = have
        .change_paths
        .iter()
        .filter(|(s, _)| in_range(s))
        .map(|(s, p)| (*s, p.as_str()))
        .collect();
    let mut found: Vec<(u64, String)> = Vec::new();
    for (seq, kind, id) in want_targets.difference(&have_targets) {
        found.push((
            *seq,
            format!("the targets index lacks {kind} {id}, which it involves"),
        ));
    }
    for (seq, kind, id) in have_targets.difference(&want_targets) {
        found.push((
            *seq,
            format!("the targets index holds {kind} {id}, which it does not involve"),
        ));
    }
    for (seq, path) in want_paths.difference(&have_paths) {
        found.push((
            *seq,
            format!("the change-path index lacks {path:?}, which it changes"),
        ));
    }
    for (seq, path) in have_paths.difference(&want_paths) {
        found.push((
            *seq,
            format!("the change-path index holds {path:?}, which it does not change"),
        ));
    }
    if let Some(search) = have.search {
        let mut entries = BTreeMap::new();
        for (seq, entry) in search.into_iter().filter(|(s, _)| in_range(s)) {
            if entries.insert(seq, entry).is_some() {
                found.push((seq, "the search index holds two entries for it".into()));
            }
        }
        for w in want {
            if let Some(problem) = search_problem(&w.words, entries.get(&w.seq)) {
                found.push((w.seq, problem));
            }
        }
    }
    found.into_iter().min()
}

/// What is wrong with an event's search entry, given the words its search text has.
fn search_problem(words: &[String], entry: Option<&SearchEntry>) -> Option<String> {
    match entry {
        None if words.is_empty() => None,
        None => Some("the search index has no entry for it".into()),
        Some(SearchEntry::WordCount(n)) => (*n != words.len() as u64).then(|| {
            format!(
                "the search index holds {n} words for it, its text has {}",
                words.len()
            )
        }),
        Some(SearchEntry::Words(stored)) => {
            let want: BTreeSet<&str> = words.iter().map(String::as_str).collect();
            let have: BTreeSet<&str> = stored.iter().map(String::as_str).collect();
            if let Some(w) = want.difference(&have).next() {
                return Some(format!(
                    "the search index lacks the word {w:?}, which its text has"
                ));
            }
            have.difference(&want).next().map(|w| {
                format!("the search index holds the word {w:?}, which its text does not have")
            })
        }
    }
}
