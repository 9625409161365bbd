//! What queries answer, as sorted seqs: for the tests that check an index rebuild leaves
//! every query answering as before (`tests/tamper.rs`, `tests/pg_store.rs`).

use auditkit::{AuditStore, AuditTrail, Query};

/// Each query's events, as their seqs in order.
pub fn answers<S: AuditStore>(trail: &AuditTrail<S>, queries: &[Query]) -> Vec<Vec<u64>> {
    queries
        .iter()
        .map(|q| {
            let mut seqs: Vec<u64> = trail
                .query(q)
                .expect("query")
                .events
                .iter()
                .map(|e| e.seq)
                .collect();
            seqs.sort_unstable();
            seqs
        })
        .collect()
}
