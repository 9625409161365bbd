//! Full-text search: the SQLite [`Dialect`], the store's own word tokens, and where each
//! event's tokens are kept.
//!
//! Every event's search tokens sit in exactly one of two places. FTS5 (`auditkit_event_search`)
//! holds most; the newest few (fewer than [`PENDING_BATCH`]) wait in
//! `auditkit_search_pending`, a plain table, and move to FTS5 together. An FTS5 insert costs
//! its commit a segment flush and the merges after it: with one event per commit that was a
//! fifth of the instructions and six of the 26 pages a durable append wrote (issue 18's
//! profile, BENCHMARKS.md). A pending row is one small row of an append-only table. A search
//! reads both places, the pending rows through [`HAS_WORDS`], so it finds an event from the
//! moment its append commits, and verify checks both.

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use super::open::map_err;
use crate::sql::Dialect;
use crate::store::derived::SearchEntry;
use crate::{Error, Result};

pub(super) const SQLITE: Dialect = Dialect {
    placeholder: |n| format!("?{n}"),
    search: |ph| {
        format!(
            "e.seq IN (SELECT rowid FROM auditkit_event_search WHERE auditkit_event_search MATCH {ph} \
             UNION ALL SELECT seq FROM auditkit_search_pending WHERE {HAS_WORDS}(body, {ph}))"
        )
    },
    search_param: |words| {
        words
            .iter()
            .map(|w| format!("\"{}\"", fts_token(w)))
            .collect::<Vec<_>>()
            .join(" ")
    },
    search_body: search_tokens,
};

/// How many events' tokens wait in the pending table at most: an append that fills a batch
/// moves them all to FTS5 in one insert, one segment (about 26k instructions and 0.1 pages
/// an event, against 150k and 6 pages for an FTS5 insert of its own; issue 18's profile).
pub(super) const PENDING_BATCH: u64 = 64;

/// The SQL function a search runs on pending rows: `auditkit_has_words(body, match)` is 1
/// when the tokens `body` holds include every token of `match`, the FTS5 query
/// [`Dialect::search_param`] bound for the search, so both places answer alike.
const HAS_WORDS: &str = "auditkit_has_words";

/// Gives `conn` [`HAS_WORDS`]; every connection of a store has it.
pub(super) fn register(conn: &Connection) -> Result<()> {
    conn.create_scalar_function(
        HAS_WORDS,
        2,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            let body = ctx.get_raw(0).as_str().unwrap_or_default();
            let query = ctx.get_raw(1).as_str().unwrap_or_default();
            Ok(has_words(body, query))
        },
    )
    .map_err(map_err)
}

/// Whether `body` (tokens separated by spaces) holds every token of `query` (each quoted,
/// as [`Dialect::search_param`] writes them). Tokens are ASCII letters and digits only, so
/// quotes and spaces never occur inside one.
fn has_words(body: &str, query: &str) -> bool {
    query
        .split(' ')
        .map(|q| q.trim_matches('"'))
        .filter(|q| !q.is_empty())
        .all(|q| body.split(' ').any(|t| t == q))
}

/// Keeps the search tokens of a batch appended after head seq `head` up to `new_head`:
/// pending while the batch stays inside one [`PENDING_BATCH`]; when it reaches the next
/// multiple, the pending rows and the batch go to FTS5 together.
///
/// Called after every event row of the batch on purpose: FTS5 flushes its pending terms to
/// a new on-disk segment at every savepoint once it has been written in the transaction, and
/// any statement with a statement journal opens one (the event INSERTs had one until schema
/// version 3; lifecycle statements still do).
pub(super) fn add<'t>(
    conn: &Connection,
    head: u64,
    new_head: u64,
    entries: impl IntoIterator<Item = (u64, &'t str)>,
) -> Result<()> {
    if head / PENDING_BATCH == new_head / PENDING_BATCH {
        let mut stmt = conn
            .prepare_cached("INSERT INTO auditkit_search_pending (seq, body) VALUES (?1, ?2)")
            .map_err(map_err)?;
        for (seq, text) in entries {
            stmt.execute(rusqlite::params![seq as i64, text])
                .map_err(map_err)?;
        }
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO auditkit_event_search (rowid, body) SELECT seq, body FROM auditkit_search_pending",
    )
    .map_err(map_err)?
    .execute([])
    .map_err(map_err)?;
    conn.prepare_cached("DELETE FROM auditkit_search_pending")
        .map_err(map_err)?
        .execute([])
        .map_err(map_err)?;
    index(conn, entries)
}

/// Puts search tokens straight into FTS5 (rebuilds, erasure, migrations).
pub(super) fn index<'t>(
    conn: &Connection,
    entries: impl IntoIterator<Item = (u64, &'t str)>,
) -> Result<()> {
    let mut stmt = conn
        .prepare_cached("INSERT INTO auditkit_event_search (rowid, body) VALUES (?1, ?2)")
        .map_err(map_err)?;
    for (seq, text) in entries {
        stmt.execute(rusqlite::params![seq as i64, text])
            .map_err(map_err)?;
    }
    Ok(())
}

/// `from..=to` as SQLite integers, for `BETWEEN ?1 AND ?2` (`u64::MAX` stands for "on").
fn seq_range(from: u64, to: u64) -> [i64; 2] {
    [from, to].map(|s| s.min(i64::MAX as u64) as i64)
}

/// Removes every event's search tokens, from both places (an index rebuild writes them again).
pub(super) fn clear(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "INSERT INTO auditkit_event_search (auditkit_event_search) VALUES ('delete-all');
         DELETE FROM auditkit_search_pending;",
    )
    .map_err(map_err)
}

/// A contentless FTS5 table only marks deleted rows; merging its segments drops their
/// tokens (erased names among them) from the file for good.
pub(super) fn optimize(conn: &Connection) -> Result<()> {
    conn.execute(
        "INSERT INTO auditkit_event_search (auditkit_event_search) VALUES ('optimize')",
        [],
    )
    .map_err(map_err)
    .map(drop)
}

/// Removes the search tokens of the events with seqs in `from..=to`, wherever they are.
pub(super) fn remove(conn: &Connection, from: u64, to: u64) -> Result<()> {
    let range = seq_range(from, to);
    conn.prepare_cached("DELETE FROM auditkit_event_search WHERE rowid BETWEEN ?1 AND ?2")
        .map_err(map_err)?
        .execute(range)
        .map_err(map_err)?;
    conn.prepare_cached("DELETE FROM auditkit_search_pending WHERE seq BETWEEN ?1 AND ?2")
        .map_err(map_err)?
        .execute(range)
        .map_err(map_err)?;
    Ok(())
}

/// The search entries of the events with seqs in `from..=to`, as verify compares them: from
/// FTS5, which keeps no text (it is contentless), the size in tokens of each entry (one per
/// word), from its `docsize` shadow table; from the pending table, the words themselves.
pub(super) fn entries(conn: &Connection, from: u64, to: u64) -> Result<Vec<(u64, SearchEntry)>> {
    let range = seq_range(from, to);
    let mut found = conn
        .prepare_cached(
            "SELECT id, sz FROM auditkit_event_search_docsize WHERE id BETWEEN ?1 AND ?2",
        )
        .map_err(map_err)?
        .query_map(range, |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(map_err)?
        .map(|row| {
            let (seq, sz) = row.map_err(map_err)?;
            let words = first_varint(&sz).ok_or_else(|| {
                Error::corrupt(format!(
                    "the search index's size of event {seq} is unreadable"
                ))
            })?;
            Ok((seq, SearchEntry::WordCount(words)))
        })
        .collect::<Result<Vec<_>>>()?;
    let pending = conn
        .prepare_cached("SELECT seq, body FROM auditkit_search_pending WHERE seq BETWEEN ?1 AND ?2")
        .map_err(map_err)?
        .query_map(range, |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
        })
        .map_err(map_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(map_err)?;
    found.extend(pending.into_iter().map(|(seq, body)| {
        let words = body
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(word_of)
            .collect();
        (seq, SearchEntry::Words(words))
    }));
    Ok(found)
}

/// The first SQLite varint of `bytes` (big-endian groups of 7 bits, high bit set on all but
/// the last), as FTS5 writes sizes.
fn first_varint(bytes: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return Some((v << 8) | u64::from(b));
        }
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The word a stored token stands for ([`fts_token`] backwards); a token no word gives is
/// returned as it is, so verify names it.
fn word_of(token: &str) -> String {
    let word = match token.split_at_checked(1) {
        Some(("a", w)) if w.bytes().all(|b| b.is_ascii_alphanumeric()) => Some(w.to_owned()),
        Some(("u", hex)) => hex::decode(hex)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        _ => None,
    };
    word.unwrap_or_else(|| token.to_owned())
}

/// The FTS5 token standing for one search word (see [`crate::query::words`]).
///
/// FTS5's unicode61 tokenizer does not split and fold text the way `Query::matches` does
/// (private-use characters and some marks are word characters to it, its case folding
/// predates Unicode's current tables), so a search could find other events in SQLite than
/// in memory. The store therefore splits words itself and hands FTS5 one ASCII token per
/// word, which unicode61 keeps whole and unchanged: `a` + the word when it is ASCII letters
/// and digits, else `u` + the hex of its UTF-8. The prefixes keep the two forms apart.
fn fts_token(word: &str) -> String {
    let mut out = String::with_capacity(word.len() * 2 + 1);
    push_fts_token(word, &mut out);
    out
}

/// Appends the [`fts_token`] of `word` to `out`.
fn push_fts_token(word: &str, out: &mut String) {
    if word.bytes().all(|b| b.is_ascii_alphanumeric()) {
        out.push('a');
        out.push_str(word);
    } else {
        out.push('u');
        out.push_str(&hex::encode(word));
    }
}

/// The words of a search text as FTS5 tokens: [`crate::query::words`] then [`fts_token`],
/// in one pass that allocates only for words with non-ASCII characters (it runs for every
/// recorded event).
fn search_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.bytes().all(|b| b.is_ascii_alphanumeric()) {
            // ASCII letters and digits lowercase to themselves' ASCII lowercase.
            out.push('a');
            out.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            push_fts_token(&word.to_lowercase(), &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_tokens_answer_as_fts5_does() {
        let body = search_tokens("Sarah moved the Cut to 11:30 in Zürich");
        let q = |words: &[&str]| {
            (SQLITE.search_param)(&words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>())
        };
        assert!(has_words(&body, &q(&["sarah"])));
        assert!(has_words(&body, &q(&["cut", "zürich", "30"])));
        assert!(!has_words(&body, &q(&["cut", "zurich"])));
        assert!(
            !has_words(&body, &q(&["sar"])),
            "words match whole, not as prefixes"
        );
        assert!(has_words(&body, &q(&[])));
    }

    #[test]
    fn stored_tokens_read_back_as_their_words() {
        let words = ["sarah", "zürich", "11", "ünïcode"];
        for w in words {
            assert_eq!(word_of(&fts_token(w)), w);
        }
        assert_eq!(word_of("x-not-a-token"), "x-not-a-token");
        assert_eq!(word_of("uzz"), "uzz");
    }
}
