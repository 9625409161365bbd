//! What an idempotency key means: one request. Recording a key again with the same event is a
//! retry and returns the event recorded first; with a different event it is a mistake (a key
//! reused for another request), refused naming the key, as payment APIs do.
//!
//! "The same event" compares what the caller supplied: action, tenant, actor, source, target,
//! related targets, outcome, before, after, context, the payload version, the personal values
//! among them, and `occurred_at` only when the retry sets it. What the trail stamps (ids,
//! `recorded_at`, a default `occurred_at`) and the request context (another attempt comes
//! with another request id) are not compared. A personal value erased from the first event
//! cannot be compared and is not.

use crate::store::sealed::SealedEvent;

/// The first field in which `retry` (a draft being recorded) differs from `first` (the event
/// recorded under the same key, or an earlier draft with it); `None` when they are the same
/// request.
///
/// A draft's `recorded_at` is the time it was prepared, and its `occurred_at` that same time
/// unless the caller set one: so `occurred_at` is compared when the two differ.
pub(super) fn differs(retry: &SealedEvent, first: &SealedEvent) -> Option<String> {
    let explicit_time = retry.occurred_at != retry.recorded_at;
    let fields = [
        ("action", retry.action == first.action),
        ("tenant", retry.tenant == first.tenant),
        (
            "actor",
            (retry.actor_kind, &retry.actor_id, &retry.actor_role)
                == (first.actor_kind, &first.actor_id, &first.actor_role),
        ),
        ("impersonator", retry.impersonator == first.impersonator),
        ("source", retry.source == first.source),
        ("outcome", retry.failure == first.failure),
        (
            "target",
            (&retry.target_kind, &retry.target_id) == (&first.target_kind, &first.target_id),
        ),
        ("related targets", retry.related == first.related),
        ("before", retry.before == first.before),
        ("after", retry.after == first.after),
        ("context", retry.context == first.context),
        (
            "payload version",
            retry.payload_version == first.payload_version,
        ),
        (
            "occurred_at",
            !explicit_time || retry.occurred_at == first.occurred_at,
        ),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, same)| !same) {
        return Some((*field).to_owned());
    }
    personal_differs(retry, first)
}

/// The first personal value (by path) that `retry` and `first` do not share; values erased
/// from `first` are not compared.
fn personal_differs(retry: &SealedEvent, first: &SealedEvent) -> Option<String> {
    let value = |e: &SealedEvent, path: &str| {
        e.personal
            .iter()
            .find(|p| p.path.to_string() == path)
            .map(|p| p.value.as_ref().map(|v| v.text.clone()))
    };
    for p in retry.personal.iter().chain(&first.personal) {
        let path = p.path.to_string();
        match (value(retry, &path), value(first, &path)) {
            (_, Some(None)) | (Some(None), _) => {} // erased
            (Some(a), Some(b)) if a == b => {}
            _ => return Some(path),
        }
    }
    None
}
