//! The row codec: [`SealedEvent`] to columns and back, shared by the SQL stores.

use std::fmt::Write;

use uuid::Uuid;

use super::{Dialect, Param};
use crate::integrity::Hash;
use crate::model::event::ActorKind;
use crate::store::personal_path::{PersonalPath, PersonalPathRef};
use crate::store::sealed::{PersonalField, PersonalFieldRef, SealedEvent, SealedEventRef};
use crate::{model::time_util, Error, Result};

/// The columns of the events table, in the order [`encode`] binds and [`decode`] reads them.
pub(crate) const COLUMNS: [&str; 27] = [
    "seq",
    "id",
    "occurred_at",
    "recorded_at",
    "tenant",
    "actor_kind",
    "actor_id",
    "actor_role",
    "impersonator",
    "source",
    "request",
    "action",
    "failure",
    "target_kind",
    "target_id",
    "related",
    "before",
    "after",
    "context",
    "idempotency_key",
    "payload_version",
    "personal",
    "prev_hash",
    "hash",
    "encoding",
    "links",
    "nodes",
];

/// `e.seq, e.id, ...`: the select list for [`decode`].
pub(crate) fn select_list() -> String {
    COLUMNS
        .iter()
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `read` and `read_each` run in `dialect`: the events with `seq` at least the first
/// parameter, in `seq` order, at most the second parameter of them.
pub(crate) fn read_sql(dialect: &Dialect) -> String {
    format!(
        "SELECT {} FROM auditkit_events e WHERE e.seq >= {} ORDER BY e.seq LIMIT {}",
        select_list(),
        (dialect.placeholder)(1),
        (dialect.placeholder)(2)
    )
}

/// `read` as the stores do it: what their `read_each` lends, owned.
pub(crate) fn read_owned(
    read_each: impl FnOnce(&mut dyn FnMut(&SealedEventRef<'_>)) -> Result<()>,
) -> Result<Vec<SealedEvent>> {
    let mut out = Vec::new();
    read_each(&mut |e| out.push(e.to_owned()))?;
    Ok(out)
}

/// Reads one column of a result row.
pub(crate) trait RowAccess {
    /// An integer column, `None` for NULL.
    fn int(&self, idx: usize) -> Result<Option<i64>>;
    /// A text column, borrowed from the row; `None` for NULL.
    fn text(&self, idx: usize) -> Result<Option<&str>>;
    /// A blob column, borrowed from the row; `None` for NULL.
    fn blob(&self, idx: usize) -> Result<Option<&[u8]>>;
}

fn corrupt(col: &str, problem: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("column {col}: {problem}"))
}

fn need<T>(v: Option<T>, col: &str) -> Result<T> {
    v.ok_or_else(|| corrupt(col, "is NULL"))
}

fn hash(bytes: &[u8], col: &str) -> Result<Hash> {
    bytes
        .try_into()
        .map_err(|_| corrupt(col, format!("holds {} bytes, 32 expected", bytes.len())))
}

/// The personal commitments as stored in the `personal` column: `path` TAB `hex` per line.
fn encode_personal(fields: &[PersonalField]) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(fields.len() * 96);
    for (i, p) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        write!(out, "{}", p.path).expect("writing to a String cannot fail");
        out.push('\t');
        let mut hex = [0u8; 64];
        hex::encode_to_slice(p.commitment, &mut hex).expect("64 bytes hold 32 in hex");
        out.push_str(std::str::from_utf8(&hex).expect("hex is ASCII"));
    }
    Some(out)
}

/// The commitments of the `personal` column, values left `None`.
fn decode_personal(text: Option<&str>) -> Result<Vec<PersonalFieldRef<'_>>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split('\n')
        .map(|line| {
            // A line ends in a tab and the 64 hex digits of its commitment ([`encode_personal`]),
            // so both are found where they must be rather than searched for.
            let tab = line
                .len()
                .checked_sub(65)
                .filter(|&i| line.as_bytes()[i] == b'\t')
                .ok_or_else(|| {
                    corrupt(
                        "personal",
                        "a line does not end in a tab and a commitment's 64 hex digits",
                    )
                })?;
            let (path, h) = (&line[..tab], &line[tab + 1..]);
            let commitment = hex32(h).ok_or_else(|| {
                corrupt("personal", format!("commitment {h:?} is not 64 hex digits"))
            })?;
            Ok(PersonalFieldRef {
                path: PersonalPathRef::parse(path).map_err(|e| corrupt("personal", e))?,
                commitment,
                value: None,
            })
        })
        .collect()
}

/// Each byte's value as a hex digit, `0x80` for a byte that is not one.
const HEX_DIGIT: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The 32 bytes written as the 64 hex digits `h` (either case, as the hex crate reads them).
/// A table lookup per digit: the hex crate's branches per digit mispredict on the random
/// digits of a hash, and decoding the commitments took nearly a fifth of a verify's CPU
/// time.
fn hex32(h: &str) -> Option<[u8; 32]> {
    let h: &[u8; 64] = h.as_bytes().try_into().ok()?;
    let mut out = [0u8; 32];
    let mut bad = 0;
    for (o, pair) in out.iter_mut().zip(h.chunks_exact(2)) {
        let (hi, lo) = (HEX_DIGIT[pair[0] as usize], HEX_DIGIT[pair[1] as usize]);
        bad |= hi | lo;
        *o = (hi << 4) | lo;
    }
    (bad & 0x80 == 0).then_some(out)
}

/// A column value of [`encode_ref`], borrowed from the event where it can be.
pub(crate) enum ColumnValue<'a> {
    Null,
    Int(i64),
    Text(std::borrow::Cow<'a, str>),
    Blob(std::borrow::Cow<'a, [u8]>),
}

impl<'a> From<Option<&'a str>> for ColumnValue<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(ColumnValue::Null, |s| ColumnValue::Text(s.into()))
    }
}

impl From<ColumnValue<'_>> for Param {
    fn from(v: ColumnValue<'_>) -> Self {
        match v {
            ColumnValue::Null => Param::Null,
            ColumnValue::Int(i) => Param::Int(i),
            ColumnValue::Text(s) => Param::Text(s.into_owned()),
            ColumnValue::Blob(b) => Param::Blob(b.into_owned()),
        }
    }
}

/// The values that insert `e` into the events table, in [`COLUMNS`] order, without copying
/// the event's text and bytes.
pub(crate) fn encode_ref(e: &SealedEvent) -> [ColumnValue<'_>; 27] {
    use ColumnValue::{Blob, Int, Null, Text};
    [
        Int(e.seq as i64),
        Blob(e.id.as_bytes().into()),
        Int(time_util::to_micros(e.occurred_at)),
        Int(time_util::to_micros(e.recorded_at)),
        e.tenant.as_deref().into(),
        Text(e.actor_kind.as_str().into()),
        Text(e.actor_id.as_str().into()),
        e.actor_role.as_deref().into(),
        e.impersonator.as_deref().into(),
        Text(e.source.as_str().into()),
        e.request.as_deref().into(),
        Text(e.action.as_str().into()),
        e.failure.as_deref().into(),
        e.target_kind.as_deref().into(),
        e.target_id.as_deref().into(),
        e.related.as_deref().into(),
        e.before.as_deref().into(),
        e.after.as_deref().into(),
        e.context.as_deref().into(),
        e.idempotency_key.as_deref().into(),
        e.payload_version.map_or(Null, |v| Int(v.into())),
        encode_personal(&e.personal).map_or(Null, |s| Text(s.into())),
        Blob(e.prev_hash.as_slice().into()),
        Blob(e.hash.as_slice().into()),
        Int(e.encoding.into()),
        encode_links(&e.links).map_or(Null, Blob),
        if e.nodes.is_empty() {
            Null
        } else {
            Blob(e.nodes.as_flattened().into())
        },
    ]
}

/// The `links` column: each seq as an unsigned LEB128 varint (a few bytes where eight would
/// mostly be zeros); NULL for none.
fn encode_links(links: &[u64]) -> Option<std::borrow::Cow<'static, [u8]>> {
    if links.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(links.len() * 3);
    for &l in links {
        let mut v = l;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    Some(out.into())
}

fn decode_links(bytes: Option<&[u8]>) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let (mut v, mut shift) = (0u64, 0u32);
    for &b in bytes.unwrap_or_default() {
        if shift > 63 {
            return Err(corrupt("links", "a varint runs past 64 bits"));
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            out.push(v);
            (v, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    if shift > 0 {
        return Err(corrupt("links", "the last varint is cut short"));
    }
    Ok(out)
}

fn decode_nodes(bytes: Option<&[u8]>) -> Result<Vec<Hash>> {
    let bytes = bytes.unwrap_or_default();
    crate::integrity::merkle::from_bytes(bytes).ok_or_else(|| {
        corrupt(
            "nodes",
            format!("holds {} bytes, not 32 per hash", bytes.len()),
        )
    })
}

/// A sealed event from a row selected with [`select_list`]; personal values are left `None`
/// for the store to fill from its personal-values table.
pub(crate) fn decode(row: &impl RowAccess) -> Result<SealedEvent> {
    Ok(decode_ref(row)?.to_owned())
}

/// [`decode`], borrowing every field from `row`.
pub(crate) fn decode_ref<R: RowAccess + ?Sized>(row: &R) -> Result<SealedEventRef<'_>> {
    let seq = need(row.int(0)?, "seq")?;
    let id = need(row.blob(1)?, "id")?;
    let id = Uuid::from_slice(id).map_err(|e| corrupt("id", e))?;
    let kind = need(row.text(5)?, "actor_kind")?;
    Ok(SealedEventRef {
        seq: u64::try_from(seq).map_err(|e| corrupt("seq", e))?,
        id,
        occurred_at: time_util::from_micros(need(row.int(2)?, "occurred_at")?)?,
        recorded_at: time_util::from_micros(need(row.int(3)?, "recorded_at")?)?,
        tenant: row.text(4)?,
        actor_kind: kind
            .parse::<ActorKind>()
            .map_err(|e| corrupt("actor_kind", e))?,
        actor_id: need(row.text(6)?, "actor_id")?,
        actor_role: row.text(7)?,
        impersonator: row.text(8)?,
        source: need(row.text(9)?, "source")?,
        request: row.text(10)?,
        action: need(row.text(11)?, "action")?,
        failure: row.text(12)?,
        target_kind: row.text(13)?,
        target_id: row.text(14)?,
        related: row.text(15)?,
        before: row.text(16)?,
        after: row.text(17)?,
        context: row.text(18)?,
        idempotency_key: row.text(19)?,
        payload_version: row
            .int(20)?
            .map(|v| u32::try_from(v).map_err(|e| corrupt("payload_version", e)))
            .transpose()?,
        personal: decode_personal(row.text(21)?)?,
        prev_hash: hash(need(row.blob(22)?, "prev_hash")?, "prev_hash")?,
        hash: hash(need(row.blob(23)?, "hash")?, "hash")?,
        encoding: u8::try_from(need(row.int(24)?, "encoding")?)
            .map_err(|e| corrupt("encoding", e))?,
        links: decode_links(row.blob(25)?)?,
        nodes: decode_nodes(row.blob(26)?)?,
    })
}

/// Which personal values to fetch for a page of events.
pub(crate) enum PersonalLookup {
    /// A dense run of seqs (verify, exports): one range scan `lo..=hi`.
    Range(u64, u64),
    /// A scattered page: point lookups.
    Points(Vec<u64>),
}

/// An event, owned or lent, as the personal-value lookup sees it.
pub(crate) trait Personal {
    /// Its seq.
    fn seq(&self) -> u64;
    /// Whether it has personal fields, erased or not.
    fn has_personal(&self) -> bool;
}

impl Personal for SealedEvent {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn has_personal(&self) -> bool {
        !self.personal.is_empty()
    }
}

impl Personal for SealedEventRef<'_> {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn has_personal(&self) -> bool {
        !self.personal.is_empty()
    }
}

/// How to fetch the personal values of `events`, `None` when none has any.
pub(crate) fn personal_lookup(events: &[impl Personal]) -> Option<PersonalLookup> {
    let seqs: Vec<u64> = events
        .iter()
        .filter(|e| e.has_personal())
        .map(Personal::seq)
        .collect();
    let (lo, hi) = (*seqs.iter().min()?, *seqs.iter().max()?);
    Some(if (hi - lo) as usize <= 4 * seqs.len() {
        PersonalLookup::Range(lo, hi)
    } else {
        PersonalLookup::Points(seqs)
    })
}

/// Puts personal values `(seq, path, value, salt)` next to their commitments in `events`;
/// rows for other events or paths are ignored.
pub(crate) fn attach_personal(
    events: &mut [SealedEvent],
    rows: impl IntoIterator<Item = (i64, String, String, Vec<u8>)>,
) -> Result<()> {
    attach_rows(positions(events), rows, |i, path, text, salt| {
        // A row whose path is not one cannot belong to any field.
        let Ok(path) = path.parse::<PersonalPath>() else {
            return;
        };
        if let Some(p) = events[i].personal.iter_mut().find(|p| p.path == path) {
            p.value = Some(crate::store::sealed::PersonalValue { text, salt });
        }
    })
}

/// [`attach_personal`] for lent events, lending them the rows' values.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn attach_personal_ref<'a>(
    events: &mut [SealedEventRef<'a>],
    rows: impl IntoIterator<Item = (i64, &'a str, &'a str, &'a [u8])>,
) -> Result<()> {
    attach_rows(positions(events), rows, |i, path, text, salt| {
        if let Some(p) = events[i]
            .personal
            .iter_mut()
            .find(|p| p.path.as_str() == path)
        {
            p.value = Some((text, salt));
        }
    })
}

/// Where each event of `events` that has personal fields sits, by seq.
fn positions(events: &[impl Personal]) -> std::collections::HashMap<u64, usize> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.has_personal())
        .map(|(i, e)| (e.seq(), i))
        .collect()
}

/// Calls `put` with the event's position, the path, the value and the checked salt of every
/// row that belongs to an event in `at`.
fn attach_rows<P: AsRef<str>, T, S: AsRef<[u8]>>(
    at: std::collections::HashMap<u64, usize>,
    rows: impl IntoIterator<Item = (i64, P, T, S)>,
    mut put: impl FnMut(usize, P, T, [u8; 16]),
) -> Result<()> {
    for (seq, path, text, salt) in rows {
        let Some(&i) = at.get(&(seq as u64)) else {
            continue;
        };
        let salt: [u8; 16] = salt.as_ref().try_into().map_err(|_| {
            Error::corrupt(format!(
                "personal value {} of event {seq}: salt is not 16 bytes",
                path.as_ref()
            ))
        })?;
        put(i, path, text, salt);
    }
    Ok(())
}

/// The head row's columns as a [`crate::Head`].
pub(crate) fn decode_head(seq: i64, hash: Vec<u8>, frontier: Vec<u8>) -> Result<crate::Head> {
    let hash = hash
        .try_into()
        .map_err(|_| Error::corrupt("the head hash is not 32 bytes"))?;
    let frontier = crate::integrity::merkle::from_bytes(&frontier)
        .ok_or_else(|| Error::corrupt("the head's Merkle frontier is damaged"))?;
    let seq = u64::try_from(seq)
        .map_err(|_| Error::corrupt(format!("the head seq {seq} is negative")))?;
    Ok(crate::Head::new(seq, hash, frontier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex32_reads_what_the_hex_crate_reads() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37 + 5) as u8);
        let lower = hex::encode(bytes);
        assert_eq!(hex32(&lower), Some(bytes));
        assert_eq!(hex32(&lower.to_uppercase()), Some(bytes));
        for bad in [
            &lower[1..],
            &format!("{lower}0"),
            &lower.replacen('0', "g", 1),
        ] {
            assert_eq!(hex32(bad), None, "{bad}");
        }
        assert_eq!(hex32(&format!("{}\u{e9}", &lower[..62])), None);
    }

    #[test]
    fn personal_commitments_read_back_whatever_their_paths_hold() {
        let fields: Vec<PersonalField> = ["actor.name", "after.a b\t\u{e9}[0]", "context."]
            .iter()
            .enumerate()
            .map(|(i, p)| PersonalField {
                path: p.parse().unwrap(),
                commitment: [i as u8 * 85; 32],
                value: None,
            })
            .collect();
        let text = encode_personal(&fields).unwrap();
        let back = decode_personal(Some(&text)).unwrap();
        let pairs = |f: &[PersonalFieldRef<'_>]| -> Vec<(String, Hash)> {
            f.iter()
                .map(|p| (p.path.to_string(), p.commitment))
                .collect()
        };
        let want: Vec<(String, Hash)> = fields
            .iter()
            .map(|p| (p.path.to_string(), p.commitment))
            .collect();
        assert_eq!(pairs(&back), want);
        for bad in [&text[..text.len() - 1], &text.replacen('\t', " ", 1)] {
            assert!(decode_personal(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
