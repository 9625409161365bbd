//! The append queue ([`crate::store::queue`]) on PostgreSQL: the `auditkit_queue` table and
//! `LISTEN`/`NOTIFY`.
//!
//! A writer that finds the head row locked (`FOR UPDATE SKIP LOCKED`, in the same statement
//! that would queue its drafts) inserts them into `auditkit_queue` as their serde JSON and
//! listens on the log's channel. The writer holding the lock takes the queue
//! ([`take`]), seals it with its own drafts, deletes the rows and notifies the channel with
//! each draft's stamp, in its commit ([`settle_and_commit_sql`]), which is synchronous:
//! PostgreSQL delivers a notice only after its transaction committed, and a synchronous commit
//! only once it is flushed, so a writer that hears of its drafts has durable events.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::SimpleQueryMessage;

use super::append::{Held, PgAppend, BEGIN_SQL};
use super::connect::{map_err, prepared, Conn, Fail};
use super::read::get;
use super::search::POSTGRES;
use super::PgStore;
use crate::sql::codec;
use crate::sql::index_rows::IndexRows;
use crate::store::queue::{Queue, QueueId, Settled, Stamp, Turn};
use crate::store::sealed::SealedEvent;
use crate::store::{Append, Head};
use crate::{model::time_util, Error, Result};

/// Drafts one append takes from the queue at most: a few notices' worth, and a batch that
/// stays one statement.
const TAKE: usize = 256;

/// PostgreSQL refuses a notice payload of 8,000 bytes or more.
const NOTICE_BYTES: usize = 7_800;

/// The channel a log's writers listen on: named by the log id, so stores in other schemas of
/// the same database never hear each other.
fn channel(log_id: &str) -> String {
    format!("auditkit {log_id}")
}

/// `text` as an SQL string literal. Only for what [`sanitize`] or this module produced
/// (no backslashes, so the literal means the same whatever `standard_conforming_strings`).
fn literal(text: &str) -> String {
    debug_assert!(!text.contains('\\'));
    format!("'{}'", text.replace('\'', "''"))
}

/// `text` as a dollar-quoted SQL literal, with a tag that does not occur in it.
fn dollar_quoted(text: &str) -> String {
    let mut tag = String::from("$ak$");
    let mut n = 0;
    while text.contains(&tag) {
        n += 1;
        tag = format!("$ak{n}$");
    }
    format!("{tag}{text}{tag}")
}

/// A refusal's reason as it can travel in a notice: printable ASCII without the separators.
fn sanitize(why: &str) -> String {
    why.chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '|' | '\\' | '\'') => c,
            _ => '?',
        })
        .take(500)
        .collect()
}

/// Takes the first entry of `line` off, up to a space.
fn field<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let (f, r) = rest.split_once(' ').unwrap_or((rest, ""));
    *rest = r;
    (!f.is_empty()).then_some(f)
}

/// One settled draft as a notice entry.
fn entry((id, settled): &(QueueId, Settled)) -> String {
    match settled {
        Settled::Sealed(s) => format!(
            "{} S {} {} {} {} {}",
            id.0,
            s.seq,
            s.id.simple(),
            time_util::to_micros(s.recorded_at),
            hex::encode(s.prev_hash),
            hex::encode(s.hash)
        ),
        Settled::Found(seq) => format!("{} F {seq}", id.0),
        Settled::KeyReused(why) => format!("{} K {}", id.0, sanitize(why)),
        Settled::Refused(why) => format!("{} R {}", id.0, sanitize(why)),
    }
}

/// An entry back, `None` when it is not one.
fn parse_entry(line: &str) -> Option<(QueueId, Settled)> {
    let mut rest = line;
    let id = QueueId(field(&mut rest)?.parse().ok()?);
    let settled = match field(&mut rest)? {
        "S" => {
            let seq = field(&mut rest)?.parse().ok()?;
            let uid = uuid::Uuid::try_parse(field(&mut rest)?).ok()?;
            let micros = field(&mut rest)?.parse().ok()?;
            let mut prev_hash = [0; 32];
            hex::decode_to_slice(field(&mut rest)?, &mut prev_hash).ok()?;
            let mut hash = [0; 32];
            hex::decode_to_slice(field(&mut rest)?, &mut hash).ok()?;
            Settled::Sealed(Stamp {
                seq,
                id: uid,
                recorded_at: time_util::from_micros(micros).ok()?,
                prev_hash,
                hash,
            })
        }
        "F" => Settled::Found(field(&mut rest)?.parse().ok()?),
        "K" => Settled::KeyReused(rest.to_owned()),
        "R" => Settled::Refused(rest.to_owned()),
        _ => return None,
    };
    Some((id, settled))
}

/// What an append that settled queued drafts sends to commit: the rows deleted, one notice
/// per few hundred drafts, and a synchronous commit (see the module documentation).
pub(super) fn settle_and_commit_sql(log_id: &str, settled: &[(QueueId, Settled)]) -> String {
    let ids: Vec<String> = settled.iter().map(|(id, _)| id.0.to_string()).collect();
    let mut sql = format!(
        "DELETE FROM auditkit_queue WHERE id IN ({}); ",
        ids.join(", ")
    );
    let channel = literal(&channel(log_id));
    let mut notice = String::new();
    let flush = |notice: &mut String, sql: &mut String| {
        if !notice.is_empty() {
            sql.push_str(&format!(
                "SELECT pg_notify({channel}, {}); ",
                literal(notice)
            ));
            notice.clear();
        }
    };
    for s in settled {
        let e = entry(s);
        if notice.len() + e.len() + 1 > NOTICE_BYTES {
            flush(&mut notice, &mut sql);
        }
        if !notice.is_empty() {
            notice.push('|');
        }
        notice.push_str(&e);
    }
    flush(&mut notice, &mut sql);
    sql.push_str("SET LOCAL synchronous_commit = on; COMMIT");
    sql
}

/// The oldest queued drafts, for the append holding the lock to seal; a row that does not
/// decode is refused (its writer hears why) rather than holding up the queue.
pub(super) type Taken = (Vec<(QueueId, SealedEvent)>, Vec<(QueueId, Settled)>);

pub(super) fn take(conn: &mut Conn) -> std::result::Result<Taken, Fail> {
    let Conn {
        client, statements, ..
    } = conn;
    let stmt = prepared(
        statements,
        client,
        // Rows a writer is taking back (see `PgQueue::withdraw`) are locked, and skipped.
        &format!(
            "SELECT id, draft FROM auditkit_queue ORDER BY id LIMIT {TAKE} FOR UPDATE SKIP LOCKED"
        ),
    )?;
    let mut taken = (Vec::new(), Vec::new());
    for row in client.query(&stmt, &[])? {
        keep(
            &mut taken,
            QueueId(get::<i64>(&row, 0)? as u64),
            get(&row, 1)?,
        );
    }
    Ok(taken)
}

/// Adds queued row `id` with `draft` to `taken`: decoded, or refused.
fn keep(taken: &mut Taken, id: QueueId, draft: &str) {
    match serde_json::from_str::<SealedEvent>(draft) {
        Ok(d) => taken.0.push((id, d)),
        Err(e) => taken.1.push((
            id,
            Settled::Refused(format!("its queued form does not decode: {e}")),
        )),
    }
}

/// What follows [`BEGIN_SQL`] to take the head row's lock if it is free and, with it, the
/// oldest queued drafts, in one round trip: the head as text (no row when another writer
/// holds the lock), then the drafts (none then either), in id order (by the column: `id`
/// alone would name the text in the select list and sort 10 before 2).
fn lock_if_free_sql() -> String {
    format!(
        "WITH {HEAD_IF_FREE} {HEAD_TEXT}; \
         SELECT id::text, draft FROM auditkit_queue \
         WHERE EXISTS (SELECT 1 FROM auditkit_head WHERE id = 1 FOR UPDATE SKIP LOCKED) \
         ORDER BY auditkit_queue.id LIMIT {TAKE} FOR UPDATE SKIP LOCKED"
    )
}

/// Takes the head row's lock and the oldest queued drafts on `conn` if the lock is free, in a
/// transaction left open for the append; `None` (rolled back) when another writer holds it.
fn lock_if_free(conn: &mut Conn) -> Result<Option<(Head, Taken)>> {
    let sql = format!("{BEGIN_SQL}; {}", lock_if_free_sql());
    let locked = conn
        .client
        .simple_query(&sql)
        .map_err(map_err)
        .and_then(locked_and_taken);
    if !matches!(locked, Ok(Some(_))) && !conn.client.is_closed() {
        conn.client.batch_execute("ROLLBACK").map_err(map_err)?;
    }
    locked
}

/// The head and the queued drafts from [`lock_if_free_sql`]'s results; `None` when the lock
/// was taken by another writer.
fn locked_and_taken(messages: Vec<SimpleQueryMessage>) -> Result<Option<(Head, Taken)>> {
    let rows = rows(messages);
    let Some((head_row, drafts)) = rows.split_first() else {
        return Ok(None);
    };
    if head_row.len() != 4 {
        // No head row, but drafts: the lock came free between the two statements and the
        // second took it. Not ours to use without the head: the caller rolls back.
        return Ok(None);
    }
    let (head, _) = locked_head(head_row)?;
    let mut taken = (Vec::new(), Vec::new());
    for row in drafts {
        let id = row
            .get(0)
            .and_then(|i| i.parse().ok())
            .map(QueueId)
            .ok_or_else(|| Error::corrupt("a queued row without an id"))?;
        keep(&mut taken, id, row.get(1).unwrap_or(""));
    }
    Ok(Some((head, taken)))
}

/// The head from its text form (`encode(.., 'hex')` of the hashes).
pub(super) fn head_from_text(
    seq: Option<&str>,
    hash: Option<&str>,
    frontier: Option<&str>,
) -> Result<Head> {
    let bad = |what: &str| Error::corrupt(format!("the head row's {what} is not readable"));
    let seq: i64 = seq.and_then(|s| s.parse().ok()).ok_or_else(|| bad("seq"))?;
    let hash = hash
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| bad("hash"))?;
    let frontier = frontier
        .and_then(|f| hex::decode(f).ok())
        .ok_or_else(|| bad("frontier"))?;
    codec::decode_head(seq, hash, frontier)
}

/// The head row, locked if nobody holds it (`SKIP LOCKED`), with whether drafts are queued,
/// as text: `h` is the locked row.
const HEAD_TEXT: &str = "SELECT seq::text, encode(hash, 'hex'), encode(frontier, 'hex'), \
     (EXISTS (SELECT 1 FROM auditkit_queue))::text FROM h";
const HEAD_IF_FREE: &str =
    "h AS (SELECT seq, hash, frontier FROM auditkit_head WHERE id = 1 FOR UPDATE SKIP LOCKED)";

/// The rows of a simple query's results.
fn rows(messages: Vec<SimpleQueryMessage>) -> Vec<postgres::SimpleQueryRow> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The locked head from a [`HEAD_TEXT`] row, with whether drafts are queued.
fn locked_head(row: &postgres::SimpleQueryRow) -> Result<(Head, bool)> {
    let head = head_from_text(row.get(0), row.get(1), row.get(2))?;
    Ok((head, row.get(3) == Some("true")))
}

/// A pooled connection unused for this long is pinged before a statement that cannot be
/// repeated safely: one that died while idle (a server restart) is replaced, not failed on.
const PING_AFTER: Duration = Duration::from_millis(100);

/// [`crate::AuditStore::begin_or_queue`]: one round trip that queues `drafts`, listens for
/// them and commits, and says whether the head row's lock was free; when it was, this writer
/// then takes it and seals the queue ([`Queue::try_append`]). With no drafts: the lock and the
/// queue if the lock is free (a writer sealing the queue again), else nothing.
pub(super) fn begin_or_queue<'a>(store: &'a PgStore, drafts: &[&SealedEvent]) -> Result<Turn<'a>> {
    if drafts.is_empty() {
        let mut conn = store.checkout_primary()?;
        return match lock_if_free(&mut conn) {
            Ok(Some((head, taken))) => Ok(Turn::Append(Box::new(
                PgAppend::new(store, Held::Pooled(Box::new(conn)), head, false).with_taken(taken),
            ))),
            other => {
                store.checkin_primary(conn);
                other?;
                Ok(Turn::Queued(Box::new(PgQueue::new(
                    store,
                    None,
                    Vec::new(),
                    false,
                ))))
            }
        };
    }
    let mut texts = Vec::with_capacity(drafts.len());
    for d in drafts {
        // What the writer holding the lock will need to insert it: refused here, not there.
        IndexRows::of(d, &POSTGRES)?;
        texts.push(dollar_quoted(&serde_json::to_string(d).map_err(|e| {
            Error::invalid("event", format!("it cannot be queued as JSON: {e}"))
        })?));
    }
    let listen = super::schema::quote_ident(&channel(&store.log_id));
    // LISTEN inside the transaction takes effect as it commits, before its rows are visible
    // to the writer that will settle them: no notice can be missed. The head row is only
    // looked at (`SKIP LOCKED`, released at the commit) to learn whether anybody holds it: a
    // writer that finds it free takes it next and seals the queue (tried with a queue that
    // already had drafts in it too: a third fewer events per second with 8 and 32 writers,
    // since the writers of those drafts may all be waiting for a notice).
    let sql = format!(
        "{BEGIN_SQL}; LISTEN {listen}; \
         WITH h AS (SELECT 1 FROM auditkit_head WHERE id = 1 FOR UPDATE SKIP LOCKED), \
         ids AS (SELECT nextval(pg_get_serial_sequence('auditkit_queue', 'id')) AS id, d, n \
                 FROM unnest(ARRAY[{}]::text[]) WITH ORDINALITY AS u(d, n)), \
         q AS (INSERT INTO auditkit_queue (id, draft) SELECT id, d FROM ids) \
         SELECT id::text, n::text, ((SELECT count(*) FROM h) = 1)::text FROM ids; COMMIT",
        texts.join(", "),
    );
    let mut conn = loop {
        let mut conn = store.checkout_primary()?;
        if conn.idle_for() < PING_AFTER || conn.client.simple_query("").is_ok() {
            break conn;
        }
        let closed = conn.client.is_closed();
        store.checkin_primary(conn);
        if !closed {
            return Err(Error::storage(
                "the connection to PostgreSQL does not answer (and nothing was queued); check that the server is up and retry",
            ));
        }
    };
    let messages = match conn.client.simple_query(&sql) {
        Ok(m) => m,
        Err(e) => {
            let closed = conn.client.is_closed() || e.is_closed();
            if !closed {
                // An error before the COMMIT: the transaction is aborted, nothing queued.
                let _ = conn.client.batch_execute("ROLLBACK");
            }
            store.checkin_primary(conn);
            return Err(match closed {
                false => map_err(e),
                true => Error::outcome_unknown(format!(
                    "the connection was lost while queueing {} events for the writer holding the lock ({}); they may still be recorded, so read them back (by idempotency key) before retrying",
                    drafts.len(),
                    map_err(e)
                )),
            });
        }
    };
    let rows = rows(messages);
    // Each id with its draft's place, so no order of rows is relied on; the ids must rise
    // with the places, since the queue is sealed in id order.
    let mut placed: Vec<(u64, QueueId)> = rows
        .iter()
        .filter_map(|r| Some((r.get(1)?.parse().ok()?, QueueId(r.get(0)?.parse().ok()?))))
        .collect();
    placed.sort();
    let ids: Vec<QueueId> = placed.iter().map(|(_, id)| *id).collect();
    let rising = ids.windows(2).all(|w| w[0] < w[1]);
    let free = rows.first().and_then(|r| r.get(2)) == Some("true");
    let queue = PgQueue::new(store, Some(conn), ids, free);
    if queue.ids.len() != drafts.len() || !rising {
        return Err(Error::corrupt(format!(
            "queueing {} events returned {} ids, {}in their order; they may still be recorded",
            drafts.len(),
            queue.ids.len(),
            if rising { "" } else { "not " }
        )));
    }
    Ok(Turn::Queued(Box::new(queue)))
}

/// Drafts queued in `auditkit_queue`, waited for on the connection that listens.
pub(super) struct PgQueue<'a> {
    store: &'a PgStore,
    /// `None` once given back.
    conn: Option<Conn>,
    ids: Vec<QueueId>,
    /// Outcomes heard for these drafts so far.
    heard: HashMap<QueueId, Settled>,
    channel: String,
    /// The channel as an identifier.
    listen: String,
    /// When a writer that still finds the lock held by someone who seals nothing (the lock
    /// timeout after queueing) takes its drafts back and reports [`Error::Busy`].
    give_up: Instant,
    /// The lock was free when the drafts were queued: the first `wait` returns at once, for
    /// this writer to take it and seal the queue.
    free: bool,
}

impl<'a> PgQueue<'a> {
    /// Drafts `ids` queued on `conn` (which listens on the log's channel), or none.
    fn new(store: &'a PgStore, conn: Option<Conn>, ids: Vec<QueueId>, free: bool) -> Self {
        let channel = channel(&store.log_id);
        PgQueue {
            store,
            conn,
            ids,
            heard: HashMap::new(),
            listen: super::schema::quote_ident(&channel),
            channel,
            give_up: Instant::now() + store.options.lock_timeout,
            free,
        }
    }

    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a queue holds its connection until dropped")
    }

    /// Takes in a notice: the entries about these drafts. Whether it was one of the log's.
    fn hear(&mut self, n: &postgres::Notification) -> bool {
        if n.channel() != self.channel {
            return false;
        }
        // Every writer hears every notice: only its own entries are decoded.
        let ours = |line: &&str| {
            line.split(' ')
                .next()
                .and_then(|id| id.parse().ok())
                .is_some_and(|id| self.ids.binary_search(&QueueId(id)).is_ok())
        };
        let heard: Vec<_> = n
            .payload()
            .split('|')
            .filter(ours)
            .filter_map(parse_entry)
            .collect();
        self.heard.extend(heard);
        true
    }
}

impl PgQueue<'_> {
    /// Takes the drafts back out of the queue, all or none: `true` when they were all still
    /// there and free (nothing of them will be recorded), `false` when a writer holds some of
    /// them to seal or has settled them.
    fn withdraw(&mut self) -> Result<bool> {
        let ids: Vec<i64> = self.ids.iter().map(|id| id.0 as i64).collect();
        let n = ids.len() as i64;
        let row = self
            .conn()
            .client
            .query_one(
                "WITH l AS (SELECT id FROM auditkit_queue WHERE id = ANY($1) FOR UPDATE SKIP LOCKED), \
                 d AS (DELETE FROM auditkit_queue WHERE id IN (SELECT id FROM l) \
                       AND (SELECT count(*) FROM l) = $2 RETURNING id) \
                 SELECT count(*) FROM d",
                &[&ids, &n],
            )
            .map_err(map_err)?;
        Ok(get::<i64>(&row, 0)? == n)
    }
}

impl Queue for PgQueue<'_> {
    fn wait(&mut self, quiet: Duration) -> Result<Option<Vec<Settled>>> {
        if self.ids.is_empty() {
            return Ok(Some(Vec::new()));
        }
        if std::mem::take(&mut self.free) {
            return Ok(None);
        }
        let latest = Instant::now() + Duration::from_secs(1);
        let mut deadline = (Instant::now() + quiet).min(latest);
        loop {
            let buffered: Vec<_> = self
                .conn()
                .client
                .notifications()
                .iter()
                .collect()
                .map_err(map_err)?;
            for n in &buffered {
                self.hear(n);
            }
            if self.heard.len() == self.ids.len() {
                let mut heard = std::mem::take(&mut self.heard);
                return Ok(Some(
                    self.ids
                        .iter()
                        .map(|id| heard.remove(id).expect("every id was heard"))
                        .collect(),
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                if Instant::now() >= self.give_up && self.withdraw()? {
                    return Err(Error::busy(format!(
                        "the head row stayed locked past the lock timeout ({} ms) by a session that seals nothing (a long transaction holding it?); nothing was recorded",
                        self.store.options.lock_timeout.as_millis()
                    )));
                }
                return Ok(None);
            }
            let next = self.conn().client.notifications().timeout_iter(left).next();
            match next.map_err(map_err)? {
                // Someone is sealing the queue: ours may be next.
                Some(n) if self.hear(&n) => deadline = (Instant::now() + quiet).min(latest),
                Some(_) | None => {}
            }
        }
    }

    fn try_append(&mut self) -> Result<Option<Box<dyn Append + '_>>> {
        if self.conn.is_none() {
            return Ok(None);
        }
        let store = self.store;
        let conn = self
            .conn
            .as_mut()
            .expect("a queue holds its connection until dropped");
        Ok(lock_if_free(conn)?.map(|(head, taken)| {
            Box::new(PgAppend::new(store, Held::Lent(conn), head, false).with_taken(taken))
                as Box<dyn Append + '_>
        }))
    }

    fn ids(&self) -> &[QueueId] {
        &self.ids
    }
}

impl Drop for PgQueue<'_> {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // A pooled connection left listening would buffer every notice of the log.
            if !conn.client.is_closed() {
                let _ = conn
                    .client
                    .batch_execute(&format!("UNLISTEN {}", self.listen));
            }
            self.store.checkin_primary(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_entries_round_trip() {
        let stamp = Stamp {
            seq: 42,
            id: uuid::Uuid::now_v7(),
            recorded_at: time_util::from_micros(1_796_169_060_496_596).unwrap(),
            prev_hash: [7; 32],
            hash: [9; 32],
        };
        let settled = vec![
            (QueueId(1), Settled::Sealed(stamp)),
            (QueueId(2), Settled::Found(41)),
            (QueueId(3), Settled::Refused("bad | row's \\ json".into())),
            (
                QueueId(4),
                Settled::KeyReused("\"k\" already stands for seq 3".into()),
            ),
        ];
        let sql = settle_and_commit_sql("log", &settled);
        assert!(sql.starts_with("DELETE FROM auditkit_queue WHERE id IN (1, 2, 3, 4); "));
        assert!(sql.ends_with("SET LOCAL synchronous_commit = on; COMMIT"));
        let back: Vec<_> = settled
            .iter()
            .map(|s| parse_entry(&entry(s)).unwrap())
            .collect();
        assert_eq!(back[..2], settled[..2]);
        assert_eq!(back[2].1, Settled::Refused("bad ? row?s ? json".into()));
        assert_eq!(
            back[3].1,
            Settled::KeyReused("\"k\" already stands for seq 3".into())
        );
    }

    #[test]
    fn many_outcomes_split_into_notices_under_the_limit() {
        let settled: Vec<_> = (0..300)
            .map(|i| (QueueId(i), Settled::Refused("x".repeat(100))))
            .collect();
        let sql = settle_and_commit_sql("log", &settled);
        let notices: Vec<&str> = sql.split("SELECT pg_notify(").skip(1).collect();
        assert!(notices.len() > 1);
        assert!(notices.iter().all(|n| n.len() < 8_000));
    }

    #[test]
    fn dollar_quotes_never_end_early() {
        assert_eq!(dollar_quoted("a"), "$ak$a$ak$");
        assert_eq!(dollar_quoted("x$ak$y"), "$ak1$x$ak$y$ak1$");
    }
}
