//! Verification: an intact store verifies, and a view that tampers with it is caught.

use std::sync::Arc;

use serde_json::json;

use super::record_corpus;
use crate::store::sealed::SealedEvent;
use crate::store::{AuditStore, DerivedRows, Head};
#[cfg(doc)]
use crate::testkit::Failure;
use crate::testkit::{describe, ensure, CheckResult, Ctx, Harness};
use crate::{Actor, AuditTrail, Error, FaultKind, NewEvent};

/// How a [`Tamper`] view distorts the store it wraps.
#[derive(Debug, Clone, Copy)]
enum Distortion {
    /// Hides this seq from reads.
    Lose(u64),
    /// Changes the action of this seq.
    Alter(u64),
    /// Changes a personal value of this seq.
    AlterPersonal(u64),
    /// Hides the newest event and moves the head back with it.
    CutNewest,
    /// Hides the target rows the store derived for this seq (a store that keeps some).
    DropDerived(u64),
    /// Adds a target row for this seq that its event does not involve.
    AddDerived(u64),
}

/// A read-only view of the store under test that loses or alters what it reads: verify must
/// notice through it.
struct Tamper<S> {
    inner: Arc<S>,
    how: Distortion,
}

// Not `#[deny(clippy::missing_trait_methods)]`: verify must read through the distorting
// `read` below, which the provided `read_each` does; forwarding it would skip the distortion.
impl<S: AuditStore> AuditStore for Tamper<S> {
    fn log_id(&self) -> crate::Result<String> {
        self.inner.log_id()
    }
    fn head(&self) -> crate::Result<Head> {
        let head = self.inner.head()?;
        if let Distortion::CutNewest = self.how {
            if head.seq > 0 {
                let prev = self.inner.read(head.seq - 1, 1)?;
                return Ok(Head::new(
                    head.seq - 1,
                    prev.first().map_or([0; 32], |e| e.hash),
                    Vec::new(),
                ));
            }
        }
        Ok(head)
    }
    fn append(&self, _: u64, _: &[SealedEvent], _: &Head) -> crate::Result<()> {
        Err(Error::unsupported("the tamper view is read-only"))
    }
    fn read(&self, from: u64, limit: usize) -> crate::Result<Vec<SealedEvent>> {
        let head = self.inner.head()?.seq;
        let mut out = self.inner.read(from, limit)?;
        match self.how {
            Distortion::Lose(s) => out.retain(|e| e.seq != s),
            Distortion::Alter(s) => {
                for e in out.iter_mut().filter(|e| e.seq == s) {
                    e.action.push_str("_edited");
                }
            }
            Distortion::AlterPersonal(s) => {
                for e in out.iter_mut().filter(|e| e.seq == s) {
                    for p in &mut e.personal {
                        if let Some(v) = &mut p.value {
                            v.text = "\"Someone Else\"".into();
                        }
                    }
                }
            }
            Distortion::CutNewest => out.retain(|e| e.seq != head),
            Distortion::DropDerived(_) | Distortion::AddDerived(_) => {}
        }
        Ok(out)
    }
    fn derived_rows(&self, from: u64, to: u64) -> crate::Result<Option<DerivedRows>> {
        let Some(mut rows) = self.inner.derived_rows(from, to)? else {
            return Ok(None);
        };
        match self.how {
            Distortion::DropDerived(s) => rows.involved.retain(|(seq, _, _)| *seq != s),
            Distortion::AddDerived(s) if (from..=to).contains(&s) => {
                rows.involved
                    .push((s, "booking".into(), "b-not-involved".into()));
            }
            _ => {}
        }
        Ok(Some(rows))
    }
}

/// Verification on the store.
///
/// Property: [`AuditTrail::verify`] passes on the store with every event checked, and
/// [`AuditTrail::verify_against`] passes against a fresh checkpoint; read through a view that
/// loses an event, alters an event, alters a personal value, or cuts off the newest event,
/// verify reports `Missing`, `Modified`, `Modified` and (against the checkpoint)
/// `Truncated` at that event. For a store that keeps derived rows
/// ([`AuditStore::derived_rows`]), a view that hides an event's target rows or adds one it
/// does not involve makes verify report `DerivedRow` at that event, as rows deleted or added
/// behind the store's back would.
///
/// # Errors
/// A [`Failure`] naming the distortion and what verify reported.
pub fn verify<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "verify";
    let h = Harness::with_trail(store, |b| b.personal_keys(["phone"]));
    record_corpus(C, &h)?;
    h.trail
        .record(
            NewEvent::new("customer.updated")
                .actor(Actor::user("u-1").name("Sarah"))
                .after(json!({"phone": "555"})),
        )
        .ctx(C, "recording an event with personal values")?;
    let all = h.appended();
    let n = all.len() as u64;
    let report = h.trail.verify().ctx(C, "verify()")?;
    ensure!(
        C,
        report.is_ok() && report.checked == n && report.verified_through == n,
        "verify() of an intact store must check all {n} events and pass, got: {report}"
    );
    let cp = h.trail.checkpoint().ctx(C, "checkpoint()")?;
    let report = h.trail.verify_against(&cp).ctx(C, "verify_against()")?;
    ensure!(
        C,
        report.is_ok(),
        "verify_against(a fresh checkpoint) must pass, got: {report}"
    );
    let personal = all
        .iter()
        .rev()
        .find(|e| e.personal.iter().any(|p| p.value.is_some()))
        .map_or(n, |e| e.seq);
    let targeted = all
        .iter()
        .find(|e| e.target_kind.is_some())
        .map_or(1, |e| e.seq);
    let keeps_derived = h
        .shared()
        .derived_rows(0, 0)
        .ctx(C, "derived_rows(0, 0)")?
        .is_some();
    let mut cases = vec![
        (Distortion::Lose(7), 7, FaultKind::Missing, "loses event 7"),
        (
            Distortion::Alter(5),
            5,
            FaultKind::Modified,
            "alters event 5",
        ),
        (
            Distortion::AlterPersonal(personal),
            personal,
            FaultKind::Modified,
            "alters a personal value",
        ),
        (
            Distortion::CutNewest,
            n,
            FaultKind::Truncated,
            "cuts off the newest event",
        ),
    ];
    if keeps_derived {
        cases.push((
            Distortion::DropDerived(targeted),
            targeted,
            FaultKind::DerivedRow,
            "hides the target rows of an event",
        ));
        cases.push((
            Distortion::AddDerived(3),
            3,
            FaultKind::DerivedRow,
            "adds a target row an event does not involve",
        ));
    }
    for (how, seq, kind, what) in cases {
        let view = AuditTrail::new(Tamper {
            inner: h.shared(),
            how,
        });
        let report = match how {
            Distortion::CutNewest => view.verify_against(&cp),
            _ => view.verify(),
        }
        .ctx(C, format!("verify() through a view that {what}"))?;
        let event = all
            .iter()
            .find(|e| e.seq == seq)
            .map_or(format!("seq {seq}"), describe);
        ensure!(
            C,
            report.fault.as_ref().is_some_and(|f| f.kind == kind && f.seq == seq),
            "verify() through a view that {what} must report {kind} at event {event}, got: {report}"
        );
    }
    Ok(())
}
