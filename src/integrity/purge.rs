//! The purge record: what the event recording a purge states, so the live log vouches for
//! what was removed and for the archive that holds it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::Hash;
use crate::{Error, Result};

/// The action of the event that records a purge; its context is a [`PurgeRecord`].
pub const PURGE_ACTION: &str = "audit.purged";

/// What a [`PURGE_ACTION`] event's context states: the purged range and the log's Merkle root
/// and chain head at its end (base64 in the context), so the live log vouches for the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PurgeRecord {
    /// The first purged seq.
    pub from_seq: u64,
    /// The last purged seq.
    pub through_seq: u64,
    /// How many events were purged.
    pub events: u64,
    /// Events recorded before this time were purged (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub cutoff: OffsetDateTime,
    /// Whether the purged events were written to an archive first.
    pub archived: bool,
    /// The log's Merkle root at `through_seq`.
    #[serde(with = "b64")]
    pub root: Hash,
    /// The log's chain head at `through_seq`.
    #[serde(with = "b64")]
    pub chain_head: Hash,
}

impl PurgeRecord {
    /// The record of purging `from_seq..=through_seq` before `cutoff`, with the log's root and
    /// chain head at `through_seq`.
    pub fn new(
        from_seq: u64,
        through_seq: u64,
        cutoff: OffsetDateTime,
        archived: bool,
        root: Hash,
        chain_head: Hash,
    ) -> Self {
        PurgeRecord {
            from_seq,
            through_seq,
            events: (through_seq + 1).saturating_sub(from_seq),
            cutoff,
            archived,
            root,
            chain_head,
        }
    }

    /// The record as the event's context.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the cutoff cannot be written as RFC 3339.
    pub fn to_context(&self) -> Result<Map<String, Value>> {
        match serde_json::to_value(self).map_err(|e| Error::invalid("cutoff", e))? {
            Value::Object(map) => Ok(map),
            other => Err(Error::invalid(
                "purge record",
                format!("serialized to {other}, not an object"),
            )),
        }
    }

    /// Reads the record back from a [`PURGE_ACTION`] event's context.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the context is not a purge record.
    pub fn from_context(context: &Map<String, Value>) -> Result<Self> {
        Self::deserialize(Value::Object(context.clone())).map_err(not_a_record)
    }

    /// [`PurgeRecord::from_context`] from the context's JSON text, as stores keep it.
    ///
    /// # Errors
    /// As [`PurgeRecord::from_context`].
    pub fn from_context_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(not_a_record)
    }
}

fn not_a_record(e: serde_json::Error) -> Error {
    Error::corrupt(format!(
        "the {PURGE_ACTION} event's context is not a purge record: {e}"
    ))
}

/// Hashes as base64 text.
mod b64 {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Hash;

    pub(super) fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(h))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        B64.decode(&text)
            .ok()
            .and_then(|b| Hash::try_from(b).ok())
            .ok_or_else(|| {
                serde::de::Error::custom(format!("{text:?} is not a base64 SHA-256 hash"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_round_trips_and_keeps_its_keys() {
        let r = PurgeRecord::new(1, 40, OffsetDateTime::UNIX_EPOCH, true, [1; 32], [2; 32]);
        let ctx = r.to_context().unwrap();
        let keys: Vec<&str> = ctx.keys().map(String::as_str).collect();
        for k in [
            "from_seq",
            "through_seq",
            "events",
            "cutoff",
            "archived",
            "root",
            "chain_head",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        assert_eq!(ctx["cutoff"], "1970-01-01T00:00:00Z");
        assert_eq!(PurgeRecord::from_context(&ctx).unwrap(), r);
        let text = serde_json::to_string(&ctx).unwrap();
        assert_eq!(PurgeRecord::from_context_json(&text).unwrap(), r);
        assert!(PurgeRecord::from_context_json(r#"{"through_seq": 3}"#).is_err());
    }
}
