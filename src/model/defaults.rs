//! What every event recorded through a scope gets unless it says otherwise.

use serde::{Deserialize, Serialize};

use crate::model::event::{Actor, RequestContext, Source};
use crate::model::new_event::NewEvent;

/// Tenant, actor, source and request context for every event recorded through a scoped
/// handle ([`crate::ScopedTrail`], and `AsyncScopedTrail` with feature `async`) that does not
/// set them itself.
///
/// An event's own [`NewEvent::actor`], [`NewEvent::source`] and [`NewEvent::request`] win;
/// the defaults fill only what it left unset. The tenant is a boundary, not a default to
/// override: an event naming another tenant than the scope's is refused when it is recorded
/// ([`crate::Error::Invalid`], field `tenant`), as the scope's reads refuse a query naming
/// another tenant, so a handler that copies a tenant from a request body cannot write into
/// another business's log.
///
/// A scope is a value, not a thread-local or task-local: it goes where it is moved. To
/// record from a spawned task, move a clone of the handle into it. For a background job
/// (a queue worker, a cron run, a retry hours later), put the defaults in the job itself:
/// they are `Serialize` and `Deserialize`, so the worker rebuilds the scope of the request
/// that asked for the job, and the job's events name the staff member who caused them, not
/// the worker. Where the job acts on its own account, say so:
/// `defaults.clone().actor(Actor::system())` keeps the tenant and request id and records the
/// system as actor.
///
/// ```
/// use auditkit::{Actor, AuditTrail, EventDefaults, MemoryStore, NewEvent, RequestContext, Source};
///
/// let trail = AuditTrail::new(MemoryStore::new());
/// let defaults = EventDefaults::new()
///     .tenant("clinic-42")
///     .actor(Actor::user("u-17").name("Sarah").role("staff"))
///     .source(Source::Web)
///     .request(RequestContext::new().ip("203.0.113.9").request_id("req-1"));
///
/// // Carried into a job as JSON, rebuilt by the worker.
/// let job = serde_json::to_string(&defaults).unwrap();
/// let in_worker: EventDefaults = serde_json::from_str(&job).unwrap();
/// let audit = trail.scoped(in_worker);
/// let e = audit.record(NewEvent::new("booking.reminder_sent")).unwrap();
/// assert_eq!(e.actor.id, "u-17");
/// assert_eq!(e.tenant.as_deref(), Some("clinic-42"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventDefaults {
    /// The tenant events get when they name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The actor events get when they name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The source events get when they name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The request context events get when they carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestContext>,
}

impl EventDefaults {
    /// No defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the actor.
    #[must_use]
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Sets the source.
    #[must_use]
    pub fn source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the request context.
    #[must_use]
    pub fn request(mut self, request: RequestContext) -> Self {
        self.request = Some(request);
        self
    }

    /// `event` with every field it left unset taken from these defaults; one naming another
    /// tenant than these defaults' fails when it is recorded.
    pub fn apply(&self, mut event: NewEvent) -> NewEvent {
        match (&self.tenant, &event.tenant) {
            (Some(scope), Some(own)) if scope != own => {
                let problem = format!(
                    "{own:?} is not this scope's tenant {scope:?}; record through the unscoped trail to write another tenant's log"
                );
                return event.fail("tenant", problem);
            }
            (Some(_), None) => event.tenant.clone_from(&self.tenant),
            _ => {}
        }
        if event.actor.is_none() {
            event.actor.clone_from(&self.actor);
        }
        if event.source.is_none() {
            event.source.clone_from(&self.source);
        }
        if event.request.is_none() {
            event.request.clone_from(&self.request);
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::ActorKind;

    #[test]
    fn the_event_s_own_fields_win() {
        let d = EventDefaults::new()
            .tenant("t1")
            .actor(Actor::user("u1"))
            .source(Source::Web)
            .request(RequestContext::new().request_id("r1"));
        let e = d.apply(
            NewEvent::new("booking.created")
                .tenant("t1")
                .actor(Actor::customer("c1")),
        );
        assert_eq!(e.tenant.as_deref(), Some("t1"));
        assert_eq!(e.actor.as_ref().map(|a| a.kind), Some(ActorKind::Customer));
        assert_eq!(e.source, Some(Source::Web));
        assert_eq!(
            e.request.as_ref().and_then(|r| r.request_id.as_deref()),
            Some("r1")
        );
        let other = d.apply(NewEvent::new("booking.created").tenant("t2"));
        assert_eq!(
            other.error.as_ref().map(|(f, _)| f.as_str()),
            Some("tenant")
        );
        let empty = EventDefaults::new().apply(NewEvent::new("booking.created"));
        assert_eq!((empty.actor, empty.source), (None, None));
    }

    #[test]
    fn defaults_round_trip_through_json() {
        let d = EventDefaults::new()
            .tenant("t1")
            .actor(Actor::user("u1").name("Sarah"))
            .source(Source::Other("kiosk".into()));
        let back: EventDefaults =
            serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
