//! Search on PostgreSQL: the [`Dialect`], exact words of a search in a GIN-indexed array.

use crate::sql::Dialect;

/// `words` as one text parameter; `string_to_array(.., ' ')` splits it back in SQL. Words are
/// runs of alphanumerics, so they never contain the space.
pub(super) fn words_param(words: &[String]) -> String {
    let mut w: Vec<&str> = words.iter().map(String::as_str).collect();
    w.sort_unstable();
    w.dedup();
    w.join(" ")
}

pub(super) const POSTGRES: Dialect = Dialect {
    placeholder: |n| format!("${n}"),
    search: |ph| format!("e.search_words @> string_to_array({ph}::text, ' ')"),
    search_param: words_param,
    search_body: |text| words_param(&crate::query::words(text)),
};
