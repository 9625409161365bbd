//! Removing data: retention purges a prefix of the chain, erasure one person's values.

use serde_json::json;

use super::{check_count, check_query, lent, read_all, record_corpus};
use crate::query::{Query, MAX_LIMIT};
use crate::store::sealed::SealedEvent;
use crate::store::{AuditStore, Head, PersonalPath};
use crate::testkit::corpus::{self, at};
use crate::testkit::{
    describe, ensure, expected, field_diff, same_events, seqs, CheckResult, Ctx, Failure, Harness,
};
#[cfg(doc)]
use crate::AuditTrail;
use crate::{Actor, Error, NewEvent, Source, Target};

/// The head a store had at `seq`: that event's chain hash and the Merkle frontier over
/// leaves `1..=seq`, rebuilt from the events.
fn head_at(log_id: &str, events: &[SealedEvent], seq: u64) -> Head {
    let mut frontier = Vec::new();
    let mut hash = [0; 32];
    for e in events.iter().filter(|e| e.seq <= seq) {
        let (leaf, _) = crate::integrity::verify::seal_hashes(log_id, e);
        crate::integrity::merkle::push(&mut frontier, e.seq - 1, leaf);
        hash = e.hash;
    }
    Head::new(seq, hash, frontier)
}

/// Checks `query` through the store and the trail, and its count, against `all`.
fn check_query_and_count<S: AuditStore>(
    check: &'static str,
    h: &Harness<S>,
    all: &[SealedEvent],
    name: &str,
    query: &Query,
) -> CheckResult {
    check_query(check, h, all, name, query)?;
    let want = expected(check, all, query)?;
    check_count(check, h, name, query, &want)?;
    Ok(())
}

/// Every way of reading the store agrees with `want`: `read`, `read_each`, `get` and
/// `find_by_key` of every event in `want`, and every corpus query and its count.
fn reads_agree<S: AuditStore>(
    check: &'static str,
    h: &Harness<S>,
    when: &str,
    want: &[SealedEvent],
    extra_queries: &[(&str, Query)],
) -> CheckResult {
    let raw = h.raw();
    let refs: Vec<&SealedEvent> = want.iter().collect();
    same_events(
        check,
        &format!("read(1, ..) {when}"),
        &refs,
        &read_all(check, raw)?,
    )?;
    same_events(
        check,
        &format!("read_each(1, ..) {when}"),
        &refs,
        &lent(check, raw, 1, usize::MAX >> 1)?,
    )?;
    for e in want {
        let got = raw.get(e.id).ctx(check, format!("get({}) {when}", e.id))?;
        match &got {
            Some(g) => {
                if let Some(d) = field_diff(e, g) {
                    return Err(Failure::new(
                        check,
                        format!(
                            "get({}) {when}: event {} came back altered: {d}",
                            e.id,
                            describe(e)
                        ),
                    ));
                }
            }
            None => {
                return Err(Failure::new(
                    check,
                    format!(
                        "get({}) {when} returned nothing for stored event {}",
                        e.id,
                        describe(e)
                    ),
                ))
            }
        }
        if let Some(key) = &e.idempotency_key {
            let got = raw
                .find_by_key(key)
                .ctx(check, format!("find_by_key({key:?}) {when}"))?;
            ensure!(
                check,
                got.as_ref() == Some(e),
                "find_by_key({key:?}) {when} returned {} instead of event {} as it reads now",
                got.as_ref().map_or("nothing".into(), describe),
                describe(e)
            );
        }
    }
    for (name, q) in corpus::queries().into_iter().chain(
        extra_queries
            .iter()
            .map(|(n, q)| (n.to_string(), q.clone())),
    ) {
        check_query_and_count(check, h, want, &format!("{name} {when}"), &q)?;
    }
    Ok(())
}

/// Retention: purging a prefix of the chain.
///
/// Property: a store whose [`AuditStore::purge`] returns [`Error::Unsupported`] passes, as
/// long as the refused [`AuditTrail::purge_before`] changed nothing. Otherwise, after
/// `purge_before(cutoff)` with a cutoff between two halves of a recorded corpus, the events
/// recorded before it are gone from `read`, `read_each`, `get`, `find_by_key`, `query` and
/// `count`; [`AuditStore::purge_anchor`] returns the head the store had at the last purged
/// event; every other event reads back field for field; [`AuditTrail::verify`] passes with
/// `purged_through` at the anchor; purging again with the same cutoff purges nothing; a raw
/// `purge` with an anchor above the head or below the current anchor is [`Error::Invalid`]
/// and changes nothing; appends and further purges continue and verify.
///
/// # Errors
/// A [`Failure`] naming the broken property and the event still readable, lost or altered.
pub fn purge<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "purge";
    let h = Harness::new(store);
    let raw = h.raw();
    let log_id = raw.log_id().ctx(C, "log_id()")?;
    // Old: the corpus and two events with idempotency keys, then a cutoff, then new ones.
    record_corpus(C, &h)?;
    for key in ["purge-old-1", "purge-old-2"] {
        h.trail
            .record(
                NewEvent::new("payment.captured")
                    .tenant("clinic-1")
                    .idempotency_key(key)
                    .context("amount", 10),
            )
            .ctx(C, format!("recording idempotency key {key:?}"))?;
    }
    let old_head = raw.head().ctx(C, "head()")?;
    // `purge_before` compares `recorded_at`, which the trail takes from the clock.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let cutoff = time::OffsetDateTime::now_utc();
    std::thread::sleep(std::time::Duration::from_millis(5));
    record_corpus(C, &h)?;
    h.trail
        .record(
            NewEvent::new("payment.captured")
                .tenant("clinic-1")
                .idempotency_key("purge-new-1")
                .context("amount", 11),
        )
        .ctx(C, "recording idempotency key \"purge-new-1\"")?;
    let head = raw.head().ctx(C, "head()")?;
    let before = read_all(C, raw)?;

    let report = match h.trail.purge_before(cutoff) {
        Err(Error::Unsupported { .. }) => {
            // Allowed: a store that keeps everything. Then it must really keep everything.
            ensure!(
                C,
                raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
                "purge is Unsupported, yet the refused purge_before changed the store: the head or the events differ from before it"
            );
            let anchor = raw.purge_anchor().ctx(C, "purge_anchor()")?;
            ensure!(
                C,
                anchor.is_none(),
                "purge is Unsupported, yet purge_anchor() returned an anchor at seq {}",
                anchor.map_or(0, |a| a.seq)
            );
            return Ok(());
        }
        r => r.ctx(
            C,
            "purge_before(cutoff) of the events recorded before the cutoff",
        )?,
    };
    let through = old_head.seq;
    ensure!(
        C,
        report.purged == through && report.from_seq == 1 && report.through_seq == through,
        "purge_before(cutoff) must purge seqs 1..={through} (recorded before the cutoff), it reports {} events {}..={}",
        report.purged,
        report.from_seq,
        report.through_seq
    );
    let all = h.appended();
    let survivors: Vec<SealedEvent> = all.iter().filter(|e| e.seq > through).cloned().collect();

    // The anchor is the head the store had at the last purged event.
    let anchor = raw.purge_anchor().ctx(C, "purge_anchor()")?;
    ensure!(
        C,
        anchor.as_ref() == Some(&old_head),
        "after purging through event {}, purge_anchor() must return the head at seq {through} (its hash and Merkle frontier), got {}",
        describe(&all[through as usize - 1]),
        anchor.map_or("None".into(), |a| format!(
            "seq {} with hash {} and {} frontier hashes",
            a.seq,
            hex::encode(a.hash),
            a.frontier.len()
        ))
    );
    // Purged events are gone everywhere.
    for e in all.iter().filter(|e| e.seq <= through) {
        let got = raw
            .get(e.id)
            .ctx(C, format!("get({}) of a purged event", e.id))?;
        ensure!(
            C,
            got.is_none(),
            "purged event {} is still returned by get({})",
            describe(e),
            e.id
        );
    }
    for key in ["purge-old-1", "purge-old-2"] {
        let got = raw
            .find_by_key(key)
            .ctx(C, format!("find_by_key({key:?}) of a purged event"))?;
        ensure!(
            C,
            got.is_none(),
            "purged event {} is still returned by find_by_key({key:?})",
            got.as_ref().map_or(String::new(), describe)
        );
    }
    let first = raw.read(1, 1).ctx(C, "read(1, 1)")?;
    ensure!(
        C,
        seqs(&first) == [through + 1],
        "after purging through seq {through}, read(1, 1) must return the oldest kept event, seq {}, got seqs {:?}",
        through + 1,
        seqs(&first)
    );
    // Everything else reads back exactly, through every read path and every query.
    reads_agree(C, &h, "after the purge", &survivors, &[])?;

    let v = h.trail.verify().ctx(C, "verify() after the purge")?;
    ensure!(
        C,
        v.is_ok()
            && v.purged_through == through
            && v.checked == survivors.len() as u64
            && v.verified_through == head.seq + 1,
        "verify() after purging through seq {through} must pass from the anchor, checking the {} kept events with purged_through {through}, got: {v}",
        survivors.len()
    );

    // The same cutoff again: nothing left to purge.
    let head_now = raw.head().ctx(C, "head()")?;
    let again = h
        .trail
        .purge_before(cutoff)
        .ctx(C, "purge_before(the same cutoff) again")?;
    ensure!(
        C,
        again.purged == 0 && again.event.is_none(),
        "purge_before(the same cutoff) a second time must purge nothing, it purged {} events {}..={}",
        again.purged,
        again.from_seq,
        again.through_seq
    );
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head_now
            && raw.purge_anchor().ctx(C, "purge_anchor()")?.as_ref() == Some(&old_head),
        "purge_before(the same cutoff) a second time changed the head or the purge anchor"
    );

    // Raw purges the contract refuses: above the head, below the current anchor.
    let kept = read_all(C, raw)?;
    let above = Head::new(
        head_now.seq + 1,
        [7; 32],
        vec![[7; 32]; (head_now.seq + 1).count_ones() as usize],
    );
    let below = head_at(&log_id, &all, through - 1);
    for (what, bad) in [
        (format!("above the head ({})", head_now.seq), above),
        (format!("below the current anchor ({through})"), below),
    ] {
        let r = raw.purge(&bad);
        ensure!(
            C,
            matches!(r, Err(Error::Invalid { .. })),
            "purge(anchor at seq {}, {what}) must return Error::Invalid and remove nothing, got {r:?}",
            bad.seq
        );
        ensure!(
            C,
            raw.head().ctx(C, "head()")? == head_now
                && raw.purge_anchor().ctx(C, "purge_anchor()")?.as_ref() == Some(&old_head)
                && read_all(C, raw)? == kept,
            "a refused purge(anchor at seq {}, {what}) changed the store: the head, the anchor or the events differ from before it",
            bad.seq
        );
    }

    // The log goes on: appends after the purge verify, and a second purge moves the anchor.
    h.trail
        .record_batch(vec![
            NewEvent::new("booking.created")
                .tenant("clinic-1")
                .context("after", "purge"),
            NewEvent::new("booking.confirmed")
                .tenant("clinic-1")
                .context("after", "purge"),
        ])
        .ctx(C, "recording after the purge")?;
    let all = h.appended();
    let survivors: Vec<SealedEvent> = all.iter().filter(|e| e.seq > through).cloned().collect();
    same_events(
        C,
        "read(1, ..) after appending past a purge",
        &survivors.iter().collect::<Vec<_>>(),
        &read_all(C, raw)?,
    )?;
    let v = h
        .trail
        .verify()
        .ctx(C, "verify() after appending past a purge")?;
    ensure!(
        C,
        v.is_ok() && v.purged_through == through,
        "verify() after appending past a purge through seq {through} must pass, got: {v}"
    );
    // Everything but the head event: the purge record links to it.
    let last = raw.head().ctx(C, "head()")?.seq - 1;
    let second = h
        .trail
        .purge_before(time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .ctx(C, "purge_before(now) after a first purge")?;
    ensure!(
        C,
        second.from_seq == through + 1 && second.through_seq == last,
        "a second purge_before(now) must purge seqs {}..={last} (all but the head event, seq {}), it reports {}..={}",
        through + 1,
        last + 1,
        second.from_seq,
        second.through_seq
    );
    let anchor = raw.purge_anchor().ctx(C, "purge_anchor()")?;
    let want_anchor = head_at(&log_id, &h.appended(), last);
    ensure!(
        C,
        anchor.as_ref() == Some(&want_anchor),
        "after a second purge through seq {last}, purge_anchor() must move to the head at seq {last}, got seq {}",
        anchor.map_or(0, |a| a.seq)
    );
    let v = h.trail.verify().ctx(C, "verify() after a second purge")?;
    ensure!(
        C,
        v.is_ok() && v.purged_through == last && v.checked == 2,
        "verify() after a second purge through seq {last} must pass on the two events left (the last one and the purge record), got: {v}"
    );
    Ok(())
}

/// An event about customer `id`, with every kind of personal value: the actor's name and
/// email, the target's label, a personal key in `after` and in `context`.
fn contact_changed(id: &str, name: &str, email: &str, phone: &str) -> NewEvent {
    NewEvent::new("customer.contact_changed")
        .tenant("clinic-1")
        .actor(Actor::customer(id).name(name).email(email))
        .source(Source::Web)
        .target(Target::new("customer", id).label(name))
        .after(json!({"phone": phone, "plan": "gold"}))
        .context("email", email)
        .context("channel", "web")
        .idempotency_key(format!("contact-{id}"))
        .occurred_at(at(140, 0))
}

/// Checks that the personal values of `got` are present or erased exactly as in `want`,
/// naming the first value kept or lost wrongly.
fn personal_values_agree(
    check: &'static str,
    what: &str,
    want: &[SealedEvent],
    got: &[SealedEvent],
) -> CheckResult {
    for w in want {
        let Some(g) = got.iter().find(|g| g.seq == w.seq) else {
            continue;
        };
        for p in &w.personal {
            let kept = g
                .personal
                .iter()
                .find(|q| q.path == p.path)
                .is_some_and(|q| q.value.is_some());
            ensure!(
                check,
                kept == p.value.is_some(),
                "{what}: personal value `{}` of event {} {}",
                p.path,
                describe(w),
                if kept {
                    "is still readable after erase was asked to remove it"
                } else {
                    "was removed although erase was not asked to remove it (another field or another subject)"
                }
            );
        }
    }
    Ok(())
}

/// Erasure: removing one person's personal values.
///
/// Property: a store whose [`AuditStore::erase`] returns [`Error::Unsupported`] passes, as
/// long as the refused [`AuditTrail::erase_subject`] changed nothing. Otherwise, after
/// `erase_subject` of one customer, exactly the personal values the trail asked to erase are
/// gone (value `None`) from `read`, `read_each`, `get`, `find_by_key` and `query`; every other
/// field, and every other person's values, read back exactly; the commitments stay, so
/// [`AuditTrail::verify`] passes and counts the events as `redacted`; `search` no longer finds
/// the erased name while it still finds another person's; erasing again, or erasing fields
/// already erased or of events never stored, is harmless.
///
/// # Errors
/// A [`Failure`] naming the personal value kept or lost and the event.
pub fn erase<S: AuditStore>(store: S) -> CheckResult {
    const C: &str = "erase";
    let h = Harness::with_trail(store, |b| b.personal_keys(["phone", "email"]));
    let raw = h.raw();
    record_corpus(C, &h)?;
    h.trail
        .record_batch(vec![
            contact_changed("c-1", "Zoë Martin", "zoe@example.com", "555-0101"),
            contact_changed("c-4", "Walk-in Kim", "kim@example.com", "555-0404"),
        ])
        .ctx(C, "recording events with personal values")?;
    let before = read_all(C, raw)?;
    let head = raw.head().ctx(C, "head()")?;
    let zoe = crate::Subject::customer("c-1");

    let report = match h.trail.erase_subject(&zoe) {
        Err(Error::Unsupported { .. }) => {
            ensure!(
                C,
                raw.head().ctx(C, "head()")? == head && read_all(C, raw)? == before,
                "erase is Unsupported, yet the refused erase_subject changed the store: the head or the events differ from before it"
            );
            return Ok(());
        }
        r => r.ctx(C, "erase_subject(customer c-1)")?,
    };
    let asked = h.erase_requests();
    let zoe_seq = head.seq - 1;
    ensure!(
        C,
        report.values > 0 && asked.contains(&(zoe_seq, PersonalPath::After("phone".into()))),
        "erase_subject(customer c-1) asked the store to erase [{}]; it must include after.phone of event seq {zoe_seq}",
        asked
            .iter()
            .map(|(seq, path)| format!("({seq}, {path})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let want = h.expected_now();
    let got = read_all(C, raw)?;
    personal_values_agree(C, "read(1, ..) after erasing customer c-1", &want, &got)?;
    personal_values_agree(
        C,
        "read_each(1, ..) after erasing customer c-1",
        &want,
        &lent(C, raw, 1, usize::MAX >> 1)?,
    )?;
    let probes = [
        ("search(zoë) (the erased name)", Query::new().search("zoë")),
        (
            "search(martin) (the erased name)",
            Query::new().search("martin"),
        ),
        (
            "search(zoe@example.com)",
            Query::new().search("zoe@example.com"),
        ),
        ("search(555-0101)", Query::new().search("555-0101")),
        ("search(kim) (another person)", Query::new().search("kim")),
        (
            "search(kim@example.com)",
            Query::new().search("kim@example.com"),
        ),
        ("changed(phone)", Query::new().changed("phone")),
        ("actor(c-1)", Query::new().actor("c-1")),
    ];
    for (name, q) in &probes[..4] {
        let n = raw.count(q).ctx(C, format!("count {name}"))?;
        let found = raw.query(q, MAX_LIMIT).ctx(C, format!("query {name}"))?;
        ensure!(
            C,
            n == 0 && found.is_empty(),
            "after erasing customer c-1, {name} must find nothing, it counts {n} and finds {}: the search index must forget erased values",
            found.first().map_or("nothing".into(), describe)
        );
    }
    let kim = raw
        .query(&Query::new().search("kim"), MAX_LIMIT)
        .ctx(C, "query search(kim)")?;
    ensure!(
        C,
        !kim.is_empty(),
        "after erasing customer c-1, search(kim) must still find Walk-in Kim's events, it finds nothing"
    );
    reads_agree(C, &h, "after erasing customer c-1", &want, &probes)?;

    let erased_events = {
        let mut s: Vec<u64> = asked.iter().map(|(s, _)| *s).collect();
        s.sort_unstable();
        s.dedup();
        s.len() as u64
    };
    let v = h.trail.verify().ctx(C, "verify() after erasure")?;
    ensure!(
        C,
        v.is_ok() && v.redacted == erased_events,
        "verify() after erasing customer c-1 must pass (the commitments stay) and count the {erased_events} events with erased values as redacted, got: {v}"
    );

    // Again: through the trail, and the same fields through the store, plus fields of events
    // never stored. Nothing changes but the second erasure record.
    h.trail
        .erase_subject(&zoe)
        .ctx(C, "erase_subject(customer c-1) a second time")?;
    let head_now = raw.head().ctx(C, "head()")?;
    let mut again = asked.clone();
    again.push((head_now.seq + 100, PersonalPath::ActorName));
    raw.erase(&again)
        .ctx(C, "erase(fields already erased and of events never stored)")?;
    let want = h.expected_now();
    let got = read_all(C, raw)?;
    personal_values_agree(C, "read(1, ..) after erasing again", &want, &got)?;
    same_events(
        C,
        "read(1, ..) after erasing again",
        &want.iter().collect::<Vec<_>>(),
        &got,
    )?;
    ensure!(
        C,
        raw.head().ctx(C, "head()")? == head_now,
        "erase moved the head: it may only remove personal values"
    );
    let v = h.trail.verify().ctx(C, "verify() after erasing again")?;
    ensure!(
        C,
        v.is_ok() && v.redacted == erased_events,
        "verify() after erasing customer c-1 again must pass with {erased_events} redacted events, got: {v}"
    );
    Ok(())
}
