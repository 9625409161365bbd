//! Full-text search in FTS5: the SQLite [`Dialect`] and the store's own word tokens.

use crate::sql::Dialect;

pub(super) const SQLITE: Dialect = Dialect {
    placeholder: |n| format!("?{n}"),
    search: |ph| {
        format!("e.seq IN (SELECT rowid FROM auditkit_event_search WHERE auditkit_event_search MATCH {ph})")
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
