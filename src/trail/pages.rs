//! Streaming every event a query matches, page after page, with reading and decoding spread
//! over threads.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::query::{Cursor, Query, MAX_LIMIT};
use crate::store::sealed::SealedEvent;
use crate::store::AuditStore;
use crate::Result;

/// Worker threads: one reads the next page while the other works on the last one.
const WORKERS: usize = 2;

/// Runs `work` on every page of events matching `query` (in its order, its limit ignored)
/// and hands the results to `f` in page order.
///
/// Past the first page, two workers take pages in turn: each reads its page, passes the
/// cursor after it to the other (which starts reading the next page at once), then runs
/// `work` on it, while `f` consumes finished pages on this thread. Each page is read,
/// decoded and dropped on one thread: handing decoded events from thread to thread made
/// the allocator's cross-thread frees cost more CPU than the threads saved. Each worker
/// holds at most two pages and the channels none, so at most five are in memory at once. A
/// query answered by one page runs here, without threads.
///
/// # Errors
/// The first error of the store, of `work` or of `f`; nothing after it reaches `f`.
pub(crate) fn for_each_page<S, T>(
    store: &S,
    query: &Query,
    work: impl Fn(Vec<SealedEvent>) -> Result<T> + Sync,
    mut f: impl FnMut(T) -> Result<()>,
) -> Result<()>
where
    S: AuditStore + ?Sized,
    T: Send,
{
    query.validate()?;
    let q = query.clone().limit(MAX_LIMIT);
    let (first, next) = fetch(store, &q)?;
    f(work(first)?)?;
    let Some(cursor) = next else {
        return Ok(());
    };
    let work = &work;
    std::thread::scope(|s| {
        // Worker i hears from worker i - 1 where its next page starts (`None`: stop).
        let (cursor_txs, cursor_rxs): (Vec<_>, Vec<_>) = (0..WORKERS)
            .map(|_| sync_channel::<Option<Cursor>>(1))
            .unzip();
        let mut cursor_rxs: Vec<Option<Receiver<Option<Cursor>>>> =
            cursor_rxs.into_iter().map(Some).collect();
        cursor_txs[0]
            .send(Some(cursor))
            .expect("the first worker's receiver is alive");
        let mut outputs = Vec::new();
        for i in 0..WORKERS {
            let from_prev = cursor_rxs[i].take().expect("taken once");
            let to_next: SyncSender<Option<Cursor>> = cursor_txs[(i + 1) % WORKERS].clone();
            let (out_tx, out_rx) = sync_channel::<Result<T>>(0);
            let q = &q;
            s.spawn(move || {
                while let Ok(Some(cursor)) = from_prev.recv() {
                    let (page, next) = match fetch(store, &q.clone().after(cursor)) {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = out_tx.send(Err(e));
                            break;
                        }
                    };
                    let last = next.is_none();
                    // The other worker may have stopped already; then so does this one, after
                    // its page.
                    let _ = to_next.send(next);
                    // The consumer stopped early (an error) once its receiver is gone.
                    if out_tx.send(work(page)).is_err() || last {
                        break;
                    }
                }
                // Whatever it was waiting for, the next worker stops too.
                let _ = to_next.try_send(None);
            });
            outputs.push(out_rx);
        }
        drop(cursor_txs);
        // Page k comes from worker k % WORKERS; once that worker's channel closes, the pages
        // ended (or a worker failed, and its error came first).
        for k in 0.. {
            let Ok(result) = outputs[k % WORKERS].recv() else {
                return Ok(());
            };
            f(result?)?;
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
        page.last()
            .map(|e| Cursor::after_position(e.occurred_at, e.seq))
    } else {
        None
    };
    Ok((page, next))
}
