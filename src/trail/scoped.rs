//! [`ScopedTrail`]: a trail handle with per-request defaults, reads held to its tenant.

use std::sync::Arc;

use super::AuditTrail;
use crate::model::defaults::EventDefaults;
use crate::model::event::{Event, Target};
use crate::model::new_event::NewEvent;
use crate::query::{Page, Query};
use crate::store::{AppendWithin, AuditStore};
use crate::{Error, Result};

/// An [`AuditTrail`] handle whose events get [`EventDefaults`] (tenant, actor, source,
/// request context) wherever they leave those unset, made with [`AuditTrail::scoped`].
///
/// Cheap to clone and `Send + 'static`: move a clone into a spawned thread or task to record
/// there with the same defaults. With a tenant among its defaults, its reads are held to that
/// tenant: a query naming another tenant is refused, one naming none gets this one, and
/// [`ScopedTrail::history`] returns only this tenant's events. Reach the whole trail through
/// [`ScopedTrail::trail`].
pub struct ScopedTrail<S> {
    trail: AuditTrail<S>,
    defaults: Arc<EventDefaults>,
}

impl<S> Clone for ScopedTrail<S> {
    fn clone(&self) -> Self {
        ScopedTrail {
            trail: self.trail.clone(),
            defaults: Arc::clone(&self.defaults),
        }
    }
}

impl<S> std::fmt::Debug for ScopedTrail<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedTrail")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl<S> AuditTrail<S> {
    /// A handle recording with `defaults` wherever an event leaves them unset (see
    /// [`ScopedTrail`]).
    pub fn scoped(&self, defaults: EventDefaults) -> ScopedTrail<S> {
        ScopedTrail {
            trail: self.clone(),
            defaults: Arc::new(defaults),
        }
    }
}

impl<S> ScopedTrail<S> {
    /// The defaults its events get.
    pub fn defaults(&self) -> &EventDefaults {
        &self.defaults
    }

    /// The whole trail, without defaults or a tenant limit.
    pub fn trail(&self) -> &AuditTrail<S> {
        &self.trail
    }

    /// The same trail with other defaults: `scope.with(|d| d.actor(Actor::system()))` for a
    /// job that acts on its own account but keeps the request's tenant and request id.
    #[must_use]
    pub fn with(&self, change: impl FnOnce(EventDefaults) -> EventDefaults) -> Self {
        ScopedTrail {
            trail: self.trail.clone(),
            defaults: Arc::new(change((*self.defaults).clone())),
        }
    }
}

/// `query` held to the scope's `tenant`: given it when it names none, refused when it names
/// another.
pub(crate) fn within_tenant(tenant: Option<&str>, query: &Query) -> Result<Query> {
    let Some(tenant) = tenant else {
        return Ok(query.clone());
    };
    match query.tenant_filter() {
        Some(t) if t != tenant => Err(Error::invalid(
            "query.tenant",
            format!(
                "this scope reads tenant {tenant:?} only, the query asks for {t:?}; query through the unscoped trail to read other tenants"
            ),
        )),
        Some(_) => Ok(query.clone()),
        None => Ok(query.clone().tenant(tenant)),
    }
}

/// The query behind a scope's `history(target)`.
pub(crate) fn history_query(tenant: Option<&str>, target: &Target) -> Query {
    let q = Query::new().target(target);
    match tenant {
        Some(t) => q.tenant(t),
        None => q,
    }
}

impl<S: AuditStore> ScopedTrail<S> {
    /// Records `event` with the defaults filled in: see [`AuditTrail::record`].
    ///
    /// # Errors
    /// As [`AuditTrail::record`].
    pub fn record(&self, event: NewEvent) -> Result<Event> {
        self.trail.record(self.defaults.apply(event))
    }

    /// Records `events` atomically, each with the defaults filled in: see
    /// [`AuditTrail::record_batch`].
    ///
    /// # Errors
    /// As [`AuditTrail::record_batch`].
    pub fn record_batch(&self, events: Vec<NewEvent>) -> Result<Vec<Event>> {
        self.trail
            .record_batch(events.into_iter().map(|e| self.defaults.apply(e)).collect())
    }

    /// Records `event` with the defaults filled in inside the app's transaction `tx`: see
    /// [`AuditTrail::record_in`].
    ///
    /// # Errors
    /// As [`AuditTrail::record_in`].
    pub fn record_in<T>(&self, tx: T, event: NewEvent) -> Result<Event>
    where
        S: AppendWithin<T>,
    {
        self.trail.record_in(tx, self.defaults.apply(event))
    }

    /// One page of `query`, held to the scope's tenant.
    ///
    /// # Errors
    /// [`Error::Invalid`] (field `query.tenant`) for a query naming another tenant; as
    /// [`AuditTrail::query`].
    pub fn query(&self, query: &Query) -> Result<Page> {
        self.trail
            .query(&within_tenant(self.defaults.tenant.as_deref(), query)?)
    }

    /// How many events match `query`, held to the scope's tenant.
    ///
    /// # Errors
    /// As [`ScopedTrail::query`].
    pub fn count(&self, query: &Query) -> Result<u64> {
        self.trail
            .count(&within_tenant(self.defaults.tenant.as_deref(), query)?)
    }

    /// Every event of the scope's tenant whose target is exactly `target`, newest first.
    ///
    /// # Errors
    /// As [`AuditTrail::query`].
    pub fn history(&self, target: &Target) -> Result<Vec<Event>> {
        self.trail
            .all(&history_query(self.defaults.tenant.as_deref(), target))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Actor, AuditTrail, EventDefaults, MemoryStore, NewEvent, Query, Source, Target};

    #[test]
    fn a_scope_records_with_its_defaults_and_reads_its_tenant_only() {
        let trail = AuditTrail::new(MemoryStore::new());
        let booking = Target::new("booking", "b-1");
        trail
            .record(
                NewEvent::new("booking.created")
                    .tenant("other")
                    .target(booking.clone()),
            )
            .unwrap();
        let scope = trail.scoped(
            EventDefaults::new()
                .tenant("clinic-42")
                .actor(Actor::user("u-17"))
                .source(Source::Web),
        );
        let e = scope
            .record(NewEvent::new("booking.created").target(booking.clone()))
            .unwrap();
        assert_eq!(
            (e.tenant.as_deref(), e.actor.id.as_str(), &e.source),
            (Some("clinic-42"), "u-17", &Source::Web)
        );
        let job = scope.with(|d| d.actor(Actor::system()));
        let j = std::thread::spawn(move || job.record(NewEvent::new("booking.reminded")))
            .join()
            .unwrap()
            .unwrap();
        assert_eq!(
            (j.actor.id.as_str(), j.tenant.as_deref()),
            ("system", Some("clinic-42"))
        );

        assert_eq!(scope.history(&booking).unwrap().len(), 1);
        assert_eq!(trail.history(&booking).unwrap().len(), 2);
        assert_eq!(scope.count(&Query::new()).unwrap(), 2);
        let err = scope.query(&Query::new().tenant("other")).unwrap_err();
        assert!(err.to_string().contains("query.tenant"), "{err}");
        // Nor does it write another tenant's log.
        let err = scope
            .record(NewEvent::new("booking.created").tenant("other"))
            .unwrap_err();
        assert!(err.to_string().contains("invalid tenant"), "{err}");
        assert_eq!(trail.count(&Query::new().tenant("other")).unwrap(), 1);
    }
}
