//! Streaming every event a query matches, page after page, with reading and decoding spread
//! over threads.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::query::{Cursor, Query, MAX_LIMIT};
use crate::sealed::SealedEvent;
use crate::store::AuditStore;
use crate::{Event, Result};

/// Decoders: two keep pace with one thread reading rows on the stores measured.
const DECODERS: usize = 2;

/// Calls `f` on every event matching `query`, in its order, ignoring its limit.
///
/// Pages are fetched in order on one thread (each page's cursor comes from the page before),
/// decoded on two others in turn, and handed to `f` on this one: decoding an event (parsing
/// its JSON, deriving its changes) costs more than reading its row, and `f` (an export
/// serialising it) about as much again, so spreading the three makes a large export nearly
/// twice as fast on two cores. Each stage holds one page at a time (the channels hold none),
/// so at most five pages are in memory at once. A query answered by one page is read and
/// decoded here, without threads.
///
/// # Errors
/// The first error of the store, of decoding or of `f`; nothing after it reaches `f`.
pub(crate) fn for_each<S: AuditStore + ?Sized>(
    store: &S,
    query: &Query,
    mut f: impl FnMut(Event) -> Result<()>,
) -> Result<()> {
    query.validate()?;
    let mut q = query.clone().limit(MAX_LIMIT);
    let (first, next) = fetch(store, &q)?;
    for e in &first {
        f(e.decode()?)?;
    }
    let Some(cursor) = next else {
        return Ok(());
    };
    q = q.after(cursor);
    std::thread::scope(|s| {
        let mut to_decoders: Vec<SyncSender<Result<Vec<SealedEvent>>>> = Vec::new();
        let mut from_decoders: Vec<Receiver<Result<Vec<Event>>>> = Vec::new();
        for _ in 0..DECODERS {
            let (page_tx, page_rx) = sync_channel::<Result<Vec<SealedEvent>>>(0);
            let (event_tx, event_rx) = sync_channel(0);
            s.spawn(move || {
                for page in page_rx {
                    let decoded = page.and_then(|p| p.iter().map(SealedEvent::decode).collect());
                    // The consumer stopped early (an error) once its receiver is gone.
                    if event_tx.send(decoded).is_err() {
                        return;
                    }
                }
            });
            to_decoders.push(page_tx);
            from_decoders.push(event_rx);
        }
        s.spawn(move || {
            for k in 0.. {
                let page = fetch(store, &q);
                let next = page.as_ref().ok().and_then(|(_, next)| *next);
                if to_decoders[k % DECODERS]
                    .send(page.map(|(events, _)| events))
                    .is_err()
                {
                    return;
                }
                match next {
                    Some(c) => q = q.after(c),
                    None => return,
                }
            }
        });
        // Page k comes from decoder k % DECODERS; once that decoder's channel closes, the
        // reader has stopped and there is no page k.
        for k in 0.. {
            let Ok(page) = from_decoders[k % DECODERS].recv() else {
                return Ok(());
            };
            for e in page? {
                f(e)?;
            }
        }
        Ok(())
    })
}

/// One page of up to [`MAX_LIMIT`] events matching `q`, and the cursor after it when more
/// follow.
fn fetch<S: AuditStore + ?Sized>(
    store: &S,
    q: &Query,
) -> Result<(Vec<SealedEvent>, Option<Cursor>)> {
    let mut page = store.query(q, MAX_LIMIT + 1)?;
    let more = page.len() > MAX_LIMIT;
    page.truncate(MAX_LIMIT);
    let next = if more {
        page.last().map(Cursor::after_sealed)
    } else {
        None
    };
    Ok((page, next))
}
