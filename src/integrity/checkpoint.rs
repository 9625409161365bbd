//! Checkpoints in the C2SP tlog-checkpoint note form.
//!
//! ```text
//! auditkit/0193f6a2-7c1e-7b7a-9f1e-2b3c4d5e6f70
//! 1042
//! 3q2+7w0aL5Y1ZC3zE8n4m2Qk1m9xV0b6c7d8e9f0a1Y=
//! auditkit-chain-head OtTzrGb8V8l9m3q2ZB5cX1v0s8r7t6y5u4i3o2p1a0Q=
//! ```
//!
//! The first three lines are the C2SP body (origin, tree size, RFC 6962 Merkle root in base64);
//! the fourth is an extension line with the head of the hash chain. Signatures, when present,
//! follow a blank line as signed-note lines (`— <key name> <base64>`), so a checkpoint stored
//! today stays valid when signing is switched on later.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Hash;
use crate::Error;

const CHAIN_HEAD: &str = "auditkit-chain-head ";
/// Origins of auditkit logs are `auditkit/<log id>`.
pub const ORIGIN_PREFIX: &str = "auditkit/";

/// A statement of a log's state: its size, Merkle root and chain head.
///
/// Keep checkpoints outside the database (a ticket system, an email, object storage, a signed
/// note published elsewhere): [`crate::AuditTrail::verify_against`] then detects any change to
/// the events up to it, including the newest ones being cut off.
///
/// In JSON a checkpoint is its note text (what `Display` prints), not an object of its
/// fields: the text is what signatures cover and what other tlog tools read, so it is the
/// one form worth storing. Deserializing parses it as [`FromStr`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The log's origin line, `auditkit/<log id>`.
    pub origin: String,
    /// Number of events in the log when it was taken (the head `seq`).
    pub size: u64,
    /// RFC 6962 Merkle root over the leaf hashes of events `1..=size`.
    pub root: Hash,
    /// Chain hash of event `size` (the log's genesis hash when `size` is 0).
    pub chain_head: Hash,
    /// Other extension lines, kept verbatim.
    pub extensions: Vec<String>,
    /// Signature lines of the signed note (`— name base64`), kept verbatim.
    pub signatures: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint of `size` events of log `log_id`.
    pub fn new(log_id: &str, size: u64, root: Hash, chain_head: Hash) -> Self {
        Checkpoint {
            origin: format!("{ORIGIN_PREFIX}{log_id}"),
            size,
            root,
            chain_head,
            extensions: Vec::new(),
            signatures: Vec::new(),
        }
    }

    /// The id of the log the checkpoint is of: its origin without the `auditkit/` prefix
    /// (`None` for another origin).
    pub fn log_id(&self) -> Option<&str> {
        self.origin.strip_prefix(ORIGIN_PREFIX)
    }

    /// The note body: the text a signature covers (every line ends in a newline).
    pub fn body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n{}{}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            CHAIN_HEAD,
            B64.encode(self.chain_head)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }
}

impl Serialize for Checkpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Checkpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::model::text_form::deserialize(d, "a checkpoint note")
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.body())?;
        if !self.signatures.is_empty() {
            f.write_str("\n")?;
            for s in &self.signatures {
                writeln!(f, "{s}")?;
            }
        }
        Ok(())
    }
}

fn hash_b64(line: &str, what: &str) -> Result<Hash, Error> {
    let bytes = B64
        .decode(line)
        .map_err(|e| Error::malformed("checkpoint", format!("{what} is not base64: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        Error::malformed(
            "checkpoint",
            format!("{what} must be 32 bytes, got {}", b.len()),
        )
    })
}

impl FromStr for Checkpoint {
    type Err = Error;

    /// Parses the note text; trailing newline optional, `\r\n` accepted.
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.replace("\r\n", "\n");
        // Notes are plain text lines: another control character (a lone `\r`) would not
        // survive printing and parsing again unchanged.
        if let Some(c) = s.chars().find(|&c| c.is_control() && c != '\n') {
            return Err(Error::malformed(
                "checkpoint",
                format!("control character {c:?} in the note; notes are lines of plain text"),
            ));
        }
        let (body, sigs) = match s.split_once("\n\n") {
            Some((b, rest)) => (b, Some(rest)),
            None => (s.trim_end_matches('\n'), None),
        };
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| Error::malformed("checkpoint", "the first line (origin) is missing"))?;
        let size_line = lines
            .next()
            .ok_or_else(|| Error::malformed("checkpoint", "the second line (size) is missing"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(Error::malformed(
                "checkpoint",
                format!("size {size_line:?} must be a decimal number without leading zeros"),
            ));
        }
        let size: u64 = size_line
            .parse()
            .map_err(|e| Error::malformed("checkpoint", format!("size {size_line:?}: {e}")))?;
        let root_line = lines.next().ok_or_else(|| {
            Error::malformed("checkpoint", "the third line (root hash) is missing")
        })?;
        let root = hash_b64(root_line, "root hash")?;
        let mut chain_head = None;
        let mut extensions = Vec::new();
        for line in lines {
            if let Some(h) = line.strip_prefix(CHAIN_HEAD) {
                chain_head = Some(hash_b64(h, "chain head")?);
            } else if line.is_empty() {
                return Err(Error::malformed("checkpoint", "empty extension line"));
            } else {
                extensions.push(line.to_owned());
            }
        }
        let chain_head = chain_head.ok_or_else(|| {
            Error::malformed(
                "checkpoint",
                "the `auditkit-chain-head` extension line is missing",
            )
        })?;
        let signatures = match sigs {
            None => Vec::new(),
            Some(rest) => rest
                .split('\n')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    if l.starts_with("\u{2014} ") {
                        Ok(l.to_owned())
                    } else {
                        Err(Error::malformed(
                            "checkpoint",
                            format!("signature line {l:?} must start with an em dash and a space"),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            chain_head,
            extensions,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let mut cp = Checkpoint::new("log-1", 42, [7; 32], [9; 32]);
        cp.extensions.push("note something".into());
        let text = cp.to_string();
        assert!(text.starts_with("auditkit/log-1\n42\n"), "{text}");
        assert_eq!(text.parse::<Checkpoint>().unwrap(), cp);
        cp.signatures.push("\u{2014} example.com/key AAAA".into());
        assert_eq!(cp.to_string().parse::<Checkpoint>().unwrap(), cp);
    }

    #[test]
    fn bad_text_is_an_error() {
        for bad in [
            "",
            "origin",
            "origin\n01\nAAAA\n",
            "origin\n1\nnot base64!\n",
            "origin\n1\nAAAA\n",
            "origin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        ] {
            let e = bad.parse::<Checkpoint>().unwrap_err();
            assert!(matches!(e, Error::Malformed { .. }), "{bad:?}: {e}");
        }
    }
}
