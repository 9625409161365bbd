//! What a database file is, read from its bytes before any SQLite connection touches it.
//!
//! Opening a file read-write is not harmless: the store switches it to WAL mode, and a
//! read-write connection on a WAL file checkpoints into it when it closes. So the file's
//! length is checked here first, from the main file's 100-byte header and from the WAL (whose
//! newest committed copy of page 1 is the real header while it is not yet checkpointed), and
//! a file that is not SQLite's, cut short, or of a newer auditkit's first format is refused
//! without a byte of it or its WAL being changed. Whether the file holds auditkit's log is
//! then read by SQLite ([`super::schema::identify`]) before anything is written.
//!
//! Formats: <https://www.sqlite.org/fileformat2.html> ("The Database Header", "The WAL File
//! Format").

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::schema::{check_legacy, LEGACY_APPLICATION_ID};
use crate::{Error, Result};

/// The first 16 bytes of every SQLite database.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The database header, at the start of page 1.
const HEADER_LEN: usize = 100;
/// The header plus page 1's b-tree page header, which says whether the schema is empty.
const PAGE1_PREFIX: usize = HEADER_LEN + 8;
/// A WAL file's header, and each frame's header before its page.
const WAL_HEADER_LEN: usize = 32;
const FRAME_HEADER_LEN: usize = 24;
/// WAL magic numbers: checksums over little-endian (…82) or big-endian (…83) words.
const WAL_MAGIC_LE: u32 = 0x377f_0682;
const WAL_MAGIC_BE: u32 = 0x377f_0683;

/// Reads the main file's header and its WAL and decides whether the file may be opened.
///
/// Returns `Ok(None)` for an intact database, and for no database yet (no file, an empty one,
/// or one with an empty schema). Returns `Ok(Some(why))` for a database that cannot be
/// trusted: its main file is shorter than the pages its header or WAL say it holds, and the
/// WAL does not hold the rest.
///
/// # Errors
/// [`Error::Corrupt`] for a file that is not an SQLite database, [`Error::SchemaTooNew`] for
/// a file of schema versions 1–4's format from a newer auditkit, [`Error::Io`] when it cannot
/// be read.
pub(super) fn inspect(path: &Path) -> Result<Option<String>> {
    // Another process may checkpoint while this reads; a second look tells a file that
    // moved on from one that is cut short.
    match inspect_once(path)? {
        Some(_) => inspect_once(path),
        None => Ok(None),
    }
}

fn inspect_once(path: &Path) -> Result<Option<String>> {
    // The WAL first, then the main file: a checkpoint writes the main file before it restarts
    // the WAL, so pages that left the WAL are already in the main file this then measures.
    let wal = Wal::read(&wal_path(path))?;
    let (main_len, main_prefix) = match File::open(path) {
        Ok(f) => {
            let len = f.metadata()?.len();
            (len, read_prefix(f, PAGE1_PREFIX)?)
        }
        // Missing: it will be created. Unreadable for another reason: opening says why.
        Err(e) if e.kind() == io::ErrorKind::NotFound => (0, Vec::new()),
        Err(_) => return Ok(None),
    };
    let page1 = match &wal.page1 {
        Some(p) => p.as_slice(),
        None => main_prefix.as_slice(),
    };
    if page1.is_empty() {
        return Ok(None);
    }
    let shown = path.display();
    if page1.len() < HEADER_LEN || &page1[..16] != MAGIC {
        return Err(Error::corrupt(format!(
            "{shown} is not a SQLite database (it does not start with a whole SQLite header); open an auditkit database or a new file"
        )));
    }
    let page_size = match be16(page1, 16) {
        1 => 65_536,
        n if n >= 512 && n.is_power_of_two() => u64::from(n),
        n => {
            return Err(Error::corrupt(format!(
                "{shown}: its header gives a page size of {n}, which SQLite never writes; the file is damaged"
            )))
        }
    };
    // The page count is only valid when the change counter matches "version valid for";
    // otherwise SQLite sizes the database by its file.
    let header_pages =
        Some(be32(page1, 28)).filter(|&n| n > 0 && be32(page1, 24) == be32(page1, 92));
    let pages = wal.db_pages.or(header_pages);
    let app_id = be32(page1, 68);
    let version = be32(page1, 60) as i32;
    if app_id == 0 && version == 0 {
        // Page 1 is the schema table's root; a leaf (0x0d) with no cells is an empty schema.
        let empty_schema =
            page1.len() >= PAGE1_PREFIX && page1[HEADER_LEN] == 0x0d && be16(page1, 103) == 0;
        if empty_schema && pages.unwrap_or(1) <= 1 {
            return Ok(None);
        }
    }
    // Whose tables these are is read from `auditkit_meta` once SQLite opens the file (files
    // of schema versions 1–4 said so in the header, and a newer one among them is refused
    // here already).
    if i64::from(app_id) == LEGACY_APPLICATION_ID {
        check_legacy(i64::from(version))?;
    }
    Ok(pages.and_then(|pages| {
        let whole = main_len / page_size;
        let missing = (whole + 1..=u64::from(pages)).find(|p| !wal.pages.contains(&(*p as u32)))?;
        Some(format!(
            "{shown} is damaged: it holds {main_len} bytes, but page {missing} of its {pages} pages of {page_size} bytes is neither in it nor in its WAL (the file was cut short, or copied while it was written)"
        ))
    }))
}

/// The WAL file next to `path` (`…-wal`).
pub(super) fn wal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push("-wal");
    PathBuf::from(s)
}

/// Up to `n` bytes from the start of `f`.
fn read_prefix(f: File, n: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    f.take(n as u64).read_to_end(&mut out)?;
    Ok(out)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// What the committed frames of a WAL file hold: the frames SQLite itself would read back
/// (salts matching the header, checksums chaining, up to the last commit frame).
#[derive(Debug, Default)]
struct Wal {
    /// Pages with a committed frame (sorted, deduplicated).
    pages: Vec<u32>,
    /// The database size in pages after the last commit, `None` without one.
    db_pages: Option<u32>,
    /// The start of the newest committed copy of page 1.
    page1: Option<Vec<u8>>,
}

impl Wal {
    /// Reads the WAL at `path`; a missing, empty or invalid one holds nothing, as for SQLite.
    fn read(path: &Path) -> Result<Wal> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Wal::default()),
            Err(e) => return Err(e.into()),
        };
        Ok(Wal::parse(&bytes))
    }

    fn parse(b: &[u8]) -> Wal {
        let mut wal = Wal::default();
        if b.len() < WAL_HEADER_LEN {
            return wal;
        }
        let big_endian = match be32(b, 0) {
            WAL_MAGIC_LE => false,
            WAL_MAGIC_BE => true,
            _ => return wal,
        };
        let page_size = be32(b, 8) as usize;
        if !(512..=65_536).contains(&page_size) || !page_size.is_power_of_two() {
            return wal;
        }
        let salts = &b[16..24];
        let mut sum = checksum(big_endian, &b[..24], (0, 0));
        if sum != (be32(b, 24), be32(b, 28)) {
            return wal;
        }
        let frame_len = FRAME_HEADER_LEN + page_size;
        let mut pending: Vec<u32> = Vec::new();
        let mut pending_page1 = None;
        for frame in b[WAL_HEADER_LEN..].chunks_exact(frame_len) {
            if &frame[8..16] != salts {
                break;
            }
            sum = checksum(big_endian, &frame[..8], sum);
            sum = checksum(big_endian, &frame[FRAME_HEADER_LEN..], sum);
            if sum != (be32(frame, 16), be32(frame, 20)) {
                break;
            }
            let page = be32(frame, 0);
            pending.push(page);
            if page == 1 {
                pending_page1 = Some(frame[FRAME_HEADER_LEN..][..PAGE1_PREFIX].to_vec());
            }
            let commit = be32(frame, 4);
            if commit > 0 {
                wal.pages.append(&mut pending);
                wal.db_pages = Some(commit);
                if let Some(p) = pending_page1.take() {
                    wal.page1 = Some(p);
                }
            }
        }
        wal.pages.sort_unstable();
        wal.pages.dedup();
        wal
    }
}

/// SQLite's WAL checksum of `data` (a multiple of 8 bytes), continuing from `(s0, s1)`.
fn checksum(big_endian: bool, data: &[u8], (mut s0, mut s1): (u32, u32)) -> (u32, u32) {
    let word = |w: &[u8]| {
        let w = [w[0], w[1], w[2], w[3]];
        if big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    };
    for pair in data.chunks_exact(8) {
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL whose frames hold `pages`, the last frame committing `db_pages`.
    fn wal(pages: &[u32], db_pages: u32, salt_of_frame: impl Fn(usize) -> [u8; 8]) -> Vec<u8> {
        let page_size = 512usize;
        let mut b = Vec::new();
        b.extend(WAL_MAGIC_LE.to_be_bytes());
        b.extend(3_007_000u32.to_be_bytes());
        b.extend((page_size as u32).to_be_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        let mut sum = checksum(false, &b[..24], (0, 0));
        b.extend(sum.0.to_be_bytes());
        b.extend(sum.1.to_be_bytes());
        for (i, &p) in pages.iter().enumerate() {
            let mut head = Vec::new();
            head.extend(p.to_be_bytes());
            let commit = if i + 1 == pages.len() { db_pages } else { 0 };
            head.extend(commit.to_be_bytes());
            let page = vec![p as u8; page_size];
            sum = checksum(false, &head, sum);
            sum = checksum(false, &page, sum);
            head.extend(salt_of_frame(i));
            head.extend(sum.0.to_be_bytes());
            head.extend(sum.1.to_be_bytes());
            b.extend(head);
            b.extend(page);
        }
        b
    }

    const SALTS: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn committed_frames_are_read_and_torn_or_stale_ones_are_not() {
        let w = Wal::parse(&wal(&[3, 2, 3], 4, |_| SALTS));
        assert_eq!((w.pages, w.db_pages), (vec![2, 3], Some(4)));
        // A frame of an earlier WAL generation ends the log, as for SQLite.
        let w = Wal::parse(&wal(&[3, 2], 4, |i| if i == 1 { [0; 8] } else { SALTS }));
        assert_eq!((w.pages, w.db_pages), (vec![], None));
        // A torn last frame, and frames after the last commit, are not committed.
        let mut torn = wal(&[5, 6], 6, |_| SALTS);
        let end = torn.len() - 1;
        torn[end] ^= 1;
        let w = Wal::parse(&torn);
        assert_eq!((w.pages, w.db_pages), (vec![], None));
        assert_eq!(Wal::parse(b"").db_pages, None);
        assert_eq!(Wal::parse(&[0xff; 64]).db_pages, None);
    }
}
