//! A custom `AuditStore` you can copy: an append-only JSON-lines file.
//!
//! Two files in a directory:
//! - `events.jsonl`: one `SealedEvent` per line, in seq order, through its serde impls;
//! - `head.json`: the log id, the head (seq, chain hash, Merkle frontier) and how many bytes
//!   of `events.jsonl` are committed. It is replaced atomically (write a temporary file, sync,
//!   rename) after the new lines are synced, so it is the commit record: lines past its byte
//!   count were never acknowledged (a crash mid-append) and are dropped on open.
//!
//! Only `log_id`, `head`, `append` and `read` are required; `get` and `find_by_key` are
//! overridden with in-memory maps, and queries use the trait's scan-and-filter fallbacks.
//! Recording goes through the provided `AuditStore::begin_append`, an optimistic
//! compare-and-append on `append`: enough for one process at a time on a directory. A store
//! shared by several processes would take a lock file in its own `begin_append` and hold it
//! until the commit (see `auditkit::store::Append`).
//!
//! Run it (twice, to see the log reopened): `cargo run --example custom_store --features testkit`.
//! Its tests run the auditkit conformance suite on it, one test per check
//! (`auditkit::testkit_tests!`): `cargo test --example custom_store --features testkit`.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use auditkit::store::{check_batch, AuditStore, Head, SealedEvent};
use auditkit::{Actor, AuditTrail, Error, NewEvent, Query, Result, Target};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An append-only JSON-lines audit store in a directory.
#[derive(Debug)]
pub struct JsonlStore {
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    log_id: String,
    head: Head,
    /// Committed length of `events.jsonl`.
    bytes: u64,
    file: File,
    /// Every event, in seq order: the file is the durable copy, this the fast one.
    events: Vec<SealedEvent>,
    by_id: HashMap<Uuid, usize>,
    by_key: HashMap<String, usize>,
}

/// The on-disk form of `head.json`.
#[derive(Serialize, Deserialize)]
struct HeadFile {
    log_id: String,
    seq: u64,
    hash: String,
    frontier: Vec<String>,
    bytes: u64,
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("JSON-lines store: {what}"))
}

fn hash_from_hex(s: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|e| corrupt(format!("head hash {s:?}: {e}")))?;
    Ok(out)
}

impl JsonlStore {
    /// Opens the store in `dir`, creating an empty log there if there is none.
    ///
    /// # Errors
    /// [`Error::Io`] when the files cannot be read or written; [`Error::Corrupt`] when they
    /// are not a log this store wrote.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let head_file = match fs::read(dir.join("head.json")) {
            Ok(bytes) => serde_json::from_slice::<HeadFile>(&bytes)
                .map_err(|e| corrupt(format!("head.json: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let fresh = HeadFile {
                    log_id: Uuid::new_v4().to_string(),
                    seq: 0,
                    hash: hex::encode([0u8; 32]),
                    frontier: Vec::new(),
                    bytes: 0,
                };
                write_head(&dir, &fresh)?;
                fresh
            }
            Err(e) => return Err(e.into()),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("events.jsonl"))?;
        // Lines past the committed length were never acknowledged: a crash mid-append.
        if file.metadata()?.len() < head_file.bytes {
            return Err(corrupt(format!(
                "events.jsonl is shorter than the {} committed bytes head.json records",
                head_file.bytes
            )));
        }
        file.set_len(head_file.bytes)?;
        file.seek(SeekFrom::Start(0))?;
        let mut events = Vec::new();
        let mut by_id = HashMap::new();
        let mut by_key = HashMap::new();
        for (i, line) in BufReader::new(&file).lines().enumerate() {
            let e: SealedEvent = serde_json::from_str(&line?)
                .map_err(|e| corrupt(format!("events.jsonl line {}: {e}", i + 1)))?;
            by_id.insert(e.id, events.len());
            if let Some(k) = &e.idempotency_key {
                by_key.insert(k.clone(), events.len());
            }
            events.push(e);
        }
        if events.last().map_or(0, |e| e.seq) != head_file.seq {
            return Err(corrupt(format!(
                "head.json records seq {} but events.jsonl ends at {}",
                head_file.seq,
                events.last().map_or(0, |e| e.seq)
            )));
        }
        let head = Head::new(
            head_file.seq,
            hash_from_hex(&head_file.hash)?,
            head_file
                .frontier
                .iter()
                .map(|h| hash_from_hex(h))
                .collect::<Result<_>>()?,
        );
        Ok(JsonlStore {
            dir,
            state: Mutex::new(State {
                log_id: head_file.log_id,
                head,
                bytes: head_file.bytes,
                file,
                events,
                by_id,
                by_key,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // An append changes the in-memory state only after everything is on disk, so the
        // state behind a poisoned lock is consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Replaces `head.json` atomically: readers see the old head or the new one, never half.
fn write_head(dir: &Path, head: &HeadFile) -> Result<()> {
    let tmp = dir.join("head.json.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(head).map_err(corrupt)?)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join("head.json"))?;
    // Make the rename itself durable (directories cannot be opened this way on Windows).
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

impl AuditStore for JsonlStore {
    fn log_id(&self) -> Result<String> {
        Ok(self.lock().log_id.clone())
    }

    fn head(&self) -> Result<Head> {
        Ok(self.lock().head.clone())
    }

    fn append(&self, expected: u64, batch: &[SealedEvent], new_head: &Head) -> Result<()> {
        let mut st = self.lock();
        let conflict = |actual| Error::Conflict { expected, actual };
        if st.head.seq != expected {
            return Err(conflict(st.head.seq));
        }
        check_batch(expected, batch, new_head)?;
        let mut keys = std::collections::HashSet::new();
        for e in batch {
            let dup_key = e
                .idempotency_key
                .as_ref()
                .is_some_and(|k| st.by_key.contains_key(k) || !keys.insert(k));
            if dup_key || st.by_id.contains_key(&e.id) {
                return Err(conflict(st.head.seq));
            }
        }
        let mut lines = Vec::new();
        for e in batch {
            serde_json::to_writer(&mut lines, e).map_err(corrupt)?;
            lines.push(b'\n');
        }
        // Write after the committed bytes (dropping any tail of a failed append), sync, then
        // commit by replacing the head.
        let bytes = st.bytes;
        st.file.set_len(bytes)?;
        st.file.seek(SeekFrom::Start(bytes))?;
        st.file.write_all(&lines)?;
        st.file.sync_data()?;
        let committed = bytes + lines.len() as u64;
        write_head(
            &self.dir,
            &HeadFile {
                log_id: st.log_id.clone(),
                seq: new_head.seq,
                hash: hex::encode(new_head.hash),
                frontier: new_head.frontier.iter().map(hex::encode).collect(),
                bytes: committed,
            },
        )?;
        st.bytes = committed;
        st.head = new_head.clone();
        for e in batch {
            let at = st.events.len();
            st.by_id.insert(e.id, at);
            if let Some(k) = &e.idempotency_key {
                st.by_key.insert(k.clone(), at);
            }
            st.events.push(e.clone());
        }
        Ok(())
    }

    fn read(&self, from: u64, limit: usize) -> Result<Vec<SealedEvent>> {
        let st = self.lock();
        let start = st.events.partition_point(|e| e.seq < from);
        Ok(st.events[start..].iter().take(limit).cloned().collect())
    }

    // Optional: faster than the provided scans, same answers.
    fn get(&self, id: Uuid) -> Result<Option<SealedEvent>> {
        let st = self.lock();
        Ok(st.by_id.get(&id).map(|&i| st.events[i].clone()))
    }

    fn find_by_key(&self, key: &str) -> Result<Option<SealedEvent>> {
        let st = self.lock();
        Ok(st.by_key.get(key).map(|&i| st.events[i].clone()))
    }
}

/// Records one event into the log in `dir` and reports on it.
fn demo(dir: &Path, out: &mut impl Write) -> Result<()> {
    let trail = AuditTrail::new(JsonlStore::open(dir)?);
    let event = trail.record(
        NewEvent::new("booking.created")
            .tenant("clinic-42")
            .actor(Actor::user("u-17").name("Sarah").role("staff"))
            .target(Target::new("booking", "b-123").label("Haircut with Sam")),
    )?;
    writeln!(
        out,
        "recorded event {} ({}) in {}",
        event.seq,
        event.action,
        dir.display()
    )?;
    writeln!(
        out,
        "the log holds {} events; verify: {}",
        trail.count(&Query::new())?,
        trail.verify()?
    )?;
    Ok(())
}

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("auditkit-custom-store"));
    demo(&dir, &mut io::stdout().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The auditkit conformance suite, one test per check (`tests::conformance::paging`, ...).
    mod conformance {
        use super::super::JsonlStore;
        use std::sync::atomic::{AtomicUsize, Ordering};

        // Each test's factory owns a temporary directory and opens every store it makes in a
        // new subdirectory of it.
        auditkit::testkit_tests!({
            let dir = tempfile::tempdir().unwrap();
            let n = AtomicUsize::new(0);
            move || {
                let sub = dir
                    .path()
                    .join(n.fetch_add(1, Ordering::Relaxed).to_string());
                JsonlStore::open(sub).unwrap()
            }
        });
    }

    #[test]
    fn reopens_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        demo(dir.path(), &mut out).unwrap();
        demo(dir.path(), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("recorded event 1 (booking.created)"),
            "{out}"
        );
        assert_eq!(
            lines[1],
            "the log holds 1 events; verify: ok: 1 events verified through seq 1"
        );
        assert!(
            lines[2].starts_with("recorded event 2 (booking.created)"),
            "{out}"
        );
        assert_eq!(
            lines[3],
            "the log holds 2 events; verify: ok: 2 events verified through seq 2"
        );
    }

    #[test]
    fn drops_a_torn_append_on_open() {
        let dir = tempfile::tempdir().unwrap();
        demo(dir.path(), &mut io::sink()).unwrap();
        // A crash after writing part of a line, before the head was replaced.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("events.jsonl"))
            .unwrap();
        f.write_all(b"{\"seq\":2,\"id\":\"0190").unwrap();
        drop(f);
        let trail = AuditTrail::new(JsonlStore::open(dir.path()).unwrap());
        assert_eq!(trail.count(&Query::new()).unwrap(), 1);
        let e = trail.record(NewEvent::new("booking.cancelled")).unwrap();
        assert_eq!(e.seq, 2);
        assert!(trail.verify().unwrap().is_ok());
    }

    #[test]
    fn an_edited_line_fails_verify() {
        let dir = tempfile::tempdir().unwrap();
        demo(dir.path(), &mut io::sink()).unwrap();
        demo(dir.path(), &mut io::sink()).unwrap();
        let path = dir.path().join("events.jsonl");
        let text = fs::read_to_string(&path).unwrap();
        let edited = text.replacen("\"tenant\":\"clinic-42\"", "\"tenant\":\"clinic-43\"", 1);
        assert_eq!(text.len(), edited.len());
        fs::write(&path, edited).unwrap();
        let trail = AuditTrail::new(JsonlStore::open(dir.path()).unwrap());
        let report = trail.verify().unwrap();
        let fault = report.fault.expect("the edit is detected");
        assert_eq!((fault.seq, fault.kind), (1, auditkit::FaultKind::Modified));
    }
}
