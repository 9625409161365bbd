//! Reads: one event, pages of a query, counts, streaming, summaries and a target's history.

use uuid::Uuid;

use super::AuditTrail;
use crate::model::event::{Event, Target};
use crate::query::summary::GroupBy;
use crate::query::{Cursor, Page, Query};
use crate::store::sealed::SealedEvent;
use crate::store::AuditStore;
use crate::Result;

impl<S: AuditStore> AuditTrail<S> {
    /// The event with this id.
    ///
    /// # Errors
    /// When the store cannot be read or the event cannot be decoded.
    pub fn get(&self, id: Uuid) -> Result<Option<Event>> {
        self.inner.store.get(id)?.map(|s| s.decode()).transpose()
    }

    /// One page of events matching `query`; continue with `query.after(page.next)`.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for an unanswerable query (bad limit, empty
    /// search, an action filter that is not an action name or `prefix.*` pattern); storage
    /// errors.
    pub fn query(&self, query: &Query) -> Result<Page> {
        query.validate()?;
        let limit = query.page_size();
        let mut found = self.inner.store.query(query, limit + 1)?;
        let more = found.len() > limit;
        found.truncate(limit);
        let events = found
            .iter()
            .map(SealedEvent::decode)
            .collect::<Result<Vec<_>>>()?;
        let next = if more {
            events.last().map(Cursor::after_event)
        } else {
            None
        };
        Ok(Page { events, next })
    }

    /// How many events match `query` (its limit is ignored).
    ///
    /// # Errors
    /// As [`AuditTrail::query`].
    pub fn count(&self, query: &Query) -> Result<u64> {
        query.validate()?;
        self.inner.store.count(query)
    }

    /// Calls `f` on every event matching `query`, in its order, ignoring its limit; memory
    /// stays bounded by a few pages of [`crate::query::MAX_LIMIT`] events. Past the first
    /// page, the next pages are read and decoded on two other threads while `f` runs.
    ///
    /// # Errors
    /// As [`AuditTrail::query`], or the first error `f` returns.
    pub fn for_each(&self, query: &Query, mut f: impl FnMut(Event) -> Result<()>) -> Result<()> {
        crate::trail::pages::for_each_page(
            &self.inner.store,
            query,
            |page| {
                page.iter()
                    .map(SealedEvent::decode)
                    .collect::<Result<Vec<_>>>()
            },
            |events| events.into_iter().try_for_each(&mut f),
        )
    }

    /// How many events match `query` (its limit ignored) per action, per actor or per day in
    /// a time zone, for report views: new and modified bookings per day, who did what this
    /// week.
    ///
    /// Days come in calendar order (days without events are left out); actions and actors
    /// by count, largest first, then by name.
    ///
    /// ```
    /// # fn main() -> auditkit::Result<()> {
    /// use auditkit::{AuditTrail, GroupBy, MemoryStore, NewEvent, Query};
    /// use time::macros::datetime;
    ///
    /// let trail = AuditTrail::new(MemoryStore::new());
    /// // 23:30 UTC on 28 March is already 29 March in Berlin.
    /// for t in [datetime!(2026-03-28 10:00 UTC), datetime!(2026-03-28 23:30 UTC)] {
    ///     trail.record(NewEvent::new("booking.created").occurred_at(t))?;
    /// }
    /// let per_day = trail.summarize(&Query::new(), &GroupBy::day_in("Europe/Berlin"))?;
    /// assert_eq!(per_day, [("2026-03-28".to_string(), 1), ("2026-03-29".to_string(), 1)]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for an unanswerable query or an unknown zone (field `zone`);
    /// storage errors.
    pub fn summarize(&self, query: &Query, by: &GroupBy) -> Result<Vec<(String, u64)>> {
        query.validate()?;
        by.validate()?;
        let counts = self.inner.store.summarize(query, by)?;
        Ok(crate::query::summary::finish(by, counts))
    }

    /// Every event whose target is exactly `target` (not merely related), newest first, across
    /// tenants. Scope it with a [`Query`] and `.tenant(..)` where target ids are not unique.
    ///
    /// # Errors
    /// As [`AuditTrail::query`].
    pub fn history(&self, target: &Target) -> Result<Vec<Event>> {
        self.all(&Query::new().target(target))
    }

    /// Every event matching `query`, in its order, its limit ignored: what the `history`
    /// methods of the trail and its scopes return.
    pub(crate) fn all(&self, query: &Query) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        self.for_each(query, |e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }
}
