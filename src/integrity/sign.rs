//! Ed25519-signed checkpoints (feature `sign`): C2SP signed notes.
//!
//! A [`Checkpoint`] is a C2SP tlog-checkpoint note; signing it appends a signature line after
//! a blank line, exactly as the C2SP signed-note spec (and Go's `golang.org/x/mod/sumdb/note`)
//! define:
//!
//! ```text
//! auditkit/0193f6a2-7c1e-7b7a-9f1e-2b3c4d5e6f70
//! 1042
//! 3q2+7w0aL5Y1ZC3zE8n4m2Qk1m9xV0b6c7d8e9f0a1Y=
//! auditkit-chain-head OtTzrGb8V8l9m3q2ZB5cX1v0s8r7t6y5u4i3o2p1a0Q=
//!
//! — audit.example.com/clinic-42 Ab3x…
//! ```
//!
//! The signature is `base64(key ID || Ed25519 signature over the note text)`, the key ID the
//! first four bytes of `SHA-256(key name || 0x0A || 0x01 || public key)`. The note text is the
//! same whether or not it is signed, so checkpoints stored unsigned stay valid, and the
//! Merkle root inside is the one inclusion and consistency proofs verify against.
//!
//! Keys can be written in the text form Go's `note` package uses (`name+keyid+base64`,
//! `PRIVATE+KEY+name+keyid+base64`), so a key made with `note.GenerateKey` works here and the
//! signed checkpoints verify with Go's `note.Open`.
//!
//! ```
//! # fn main() -> auditkit::Result<()> {
//! use auditkit::integrity::sign::NoteSigner;
//! use auditkit::{AuditTrail, MemoryStore, NewEvent};
//!
//! let trail = AuditTrail::new(MemoryStore::new());
//! trail.record(NewEvent::new("booking.created"))?;
//! // In production, load the seed from a secret store; 32 random bytes.
//! let signer = NoteSigner::from_seed("audit.example.com/clinic-42", [7; 32])?;
//! let verifier = signer.verifier(); // publish verifier.to_key_string()
//!
//! let signed = trail.signed_checkpoint(&signer)?;
//! let text = signed.to_string(); // store or publish this
//! let report = trail.verify_signed(&text.parse()?, &verifier)?;
//! assert!(report.is_ok());
//! # Ok(()) }
//! ```

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::checkpoint::Checkpoint;
use crate::{Error, Result};

/// The C2SP signed-note signature type byte of Ed25519.
pub const ED25519: u8 = 0x01;

const DASH: &str = "\u{2014} ";

/// The C2SP key ID: the first four bytes (big-endian) of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let h = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ED25519])
        .chain_update(public)
        .finalize();
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

fn check_name(name: &str) -> Result<()> {
    // Control characters too: a note holding one is refused by every reader, Go's included.
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(Error::invalid(
            "key name",
            format!("{name:?} must be non-empty, without spaces, control characters or '+'; use a schema-less URL such as audit.example.com/clinic-42"),
        ));
    }
    Ok(())
}

fn key_err(what: &str, problem: impl fmt::Display) -> Error {
    Error::invalid(what, problem)
}

/// Splits `name+keyid+base64(0x01 || key)` and checks the type byte and key ID.
fn parse_key(what: &str, s: &str) -> Result<(String, u32, [u8; 32])> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(key_err(what, "expected name+keyid+base64"));
    };
    check_name(name)?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(key_err(what, format!("key id {id:?} must be 8 hex digits")));
    }
    let id = u32::from_str_radix(id, 16).map_err(|e| key_err(what, e))?;
    let bytes = B64
        .decode(key)
        .map_err(|e| key_err(what, format!("key is not base64: {e}")))?;
    let Some((&ED25519, key)) = bytes.split_first() else {
        return Err(key_err(
            what,
            "only Ed25519 keys (type byte 0x01) are supported",
        ));
    };
    let key: [u8; 32] = key.try_into().map_err(|_| {
        key_err(
            what,
            format!("an Ed25519 key is 32 bytes, got {}", key.len()),
        )
    })?;
    Ok((name.to_owned(), id, key))
}

fn key_string(name: &str, id: u32, key: &[u8; 32]) -> String {
    let mut bytes = vec![ED25519];
    bytes.extend_from_slice(key);
    format!("{name}+{id:08x}+{}", B64.encode(bytes))
}

/// Signs checkpoints (and any note text) with an Ed25519 key under a key name.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer named `name` (a schema-less URL such as `audit.example.com/clinic-42`) from a
    /// 32-byte Ed25519 private key seed. Generate the seed from a secure random source and
    /// keep it secret.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty name or one with spaces or `+`.
    pub fn from_seed(name: impl Into<String>, seed: [u8; 32]) -> Result<Self> {
        let name = name.into();
        check_name(&name)?;
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(&name, key.verifying_key().as_bytes());
        Ok(NoteSigner { name, key, id })
    }

    /// A signer from Go's private key text, `PRIVATE+KEY+name+keyid+base64`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the text is malformed, not Ed25519, or its key ID does not match
    /// its name and key.
    pub fn from_key_string(skey: &str) -> Result<Self> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| key_err("signer key", "must start with PRIVATE+KEY+"))?;
        let (name, id, seed) = parse_key("signer key", rest)?;
        let signer = NoteSigner::from_seed(name, seed)?;
        if signer.id != id {
            return Err(key_err(
                "signer key",
                format!("key id {id:08x} does not match the key ({:08x})", signer.id),
            ));
        }
        Ok(signer)
    }

    /// The private key in Go's text form, `PRIVATE+KEY+name+keyid+base64`. Secret.
    pub fn to_key_string(&self) -> String {
        format!(
            "PRIVATE+KEY+{}",
            key_string(&self.name, self.id, &self.key.to_bytes())
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The C2SP key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The matching verifier, to publish.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            id: self.id,
        }
    }

    /// The signature line (`— name base64`, without newline) over note `text`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `text` is empty, does not end in a newline, or holds control
    /// characters other than newline.
    pub fn sign_note(&self, text: &str) -> Result<String> {
        if !text.ends_with('\n') || text.chars().any(|c| c < ' ' && c != '\n') {
            return Err(Error::invalid(
                "note",
                "the text must end in a newline and hold no control characters but newlines",
            ));
        }
        let sig = self.key.sign(text.as_bytes());
        let mut bytes = self.id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&sig.to_bytes());
        Ok(format!("{DASH}{} {}", self.name, B64.encode(bytes)))
    }

    /// `checkpoint` with this key's signature added (replacing an earlier one by this key).
    ///
    /// # Errors
    /// [`Error::Invalid`] (`extensions`) when an extension line is empty or holds a control
    /// character (a newline or tab included): the note would not read back as the checkpoint
    /// that was signed.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<Checkpoint> {
        if let Some(bad) = checkpoint
            .extensions
            .iter()
            .find(|e| e.is_empty() || e.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                "extensions",
                format!("{bad:?} cannot be a checkpoint line: each extension is one non-empty line without control characters"),
            ));
        }
        let line = self.sign_note(&checkpoint.body())?;
        let mut out = checkpoint.clone();
        let verifier = self.verifier();
        out.signatures
            .retain(|l| parse_line(l).is_none_or(|(n, id, _)| !verifier.is(n, id)));
        out.signatures.push(line);
        Ok(out)
    }
}

/// Verifies signatures made by one [`NoteSigner`]: its name and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
    id: u32,
}

/// Splits a signature line into its key name, key ID and signature.
fn parse_line(line: &str) -> Option<(&str, u32, [u8; 64])> {
    let (name, sig) = line.strip_prefix(DASH)?.split_once(' ')?;
    let bytes = B64.decode(sig).ok()?;
    if bytes.len() != 68 {
        return None;
    }
    let id = u32::from_be_bytes(bytes[..4].try_into().ok()?);
    Some((name, id, bytes[4..].try_into().ok()?))
}

impl NoteVerifier {
    /// A verifier for key `name` with the 32-byte Ed25519 public key `public`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad name or a key that is not a valid Ed25519 point.
    pub fn new(name: impl Into<String>, public: [u8; 32]) -> Result<Self> {
        let name = name.into();
        check_name(&name)?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|e| key_err("verifier key", format!("not an Ed25519 public key: {e}")))?;
        let id = key_id(&name, &public);
        Ok(NoteVerifier { name, key, id })
    }

    /// A verifier from Go's public key text, `name+keyid+base64`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the text is malformed, not Ed25519, or its key ID does not match.
    pub fn from_key_string(vkey: &str) -> Result<Self> {
        let (name, id, public) = parse_key("verifier key", vkey)?;
        let v = NoteVerifier::new(name, public)?;
        if v.id != id {
            return Err(key_err(
                "verifier key",
                format!("key id {id:08x} does not match the key ({:08x})", v.id),
            ));
        }
        Ok(v)
    }

    /// The public key in Go's text form, `name+keyid+base64`: safe to publish.
    pub fn to_key_string(&self) -> String {
        key_string(&self.name, self.id, self.key.as_bytes())
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The C2SP key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    fn is(&self, name: &str, id: u32) -> bool {
        name == self.name && id == self.id
    }

    /// Checks that note `text` carries a valid signature by this key among `lines`
    /// (signature lines `— name base64`). Lines of other keys are ignored, as the spec says.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when no line is by this key (naming the keys that did sign), or a
    /// line by this key does not verify (the text was altered, or signed by another key under
    /// the same name).
    pub fn verify_note(&self, text: &str, lines: &[String]) -> Result<()> {
        let mut ours = 0;
        let mut others = Vec::new();
        for line in lines {
            let Some((name, id, sig)) = parse_line(line) else {
                return Err(Error::checkpoint(format!(
                    "signature line {line:?} is not `— <key name> <base64 of key id and signature>`"
                )));
            };
            if !self.is(name, id) {
                others.push(format!("{name}+{id:08x}"));
                continue;
            }
            ours += 1;
            self.key
                .verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
                .map_err(|_| {
                    Error::checkpoint(format!(
                        "the signature by {}+{:08x} does not verify: the note was altered after signing",
                        self.name, self.id
                    ))
                })?;
        }
        if ours == 0 {
            return Err(Error::checkpoint(if others.is_empty() {
                format!(
                    "it is not signed; expected a signature by {}+{:08x}",
                    self.name, self.id
                )
            } else {
                format!(
                    "it has no signature by {}+{:08x}, only by {}; check that the right public key is configured",
                    self.name,
                    self.id,
                    others.join(", ")
                )
            }));
        }
        Ok(())
    }
}

impl Checkpoint {
    /// Checks this checkpoint's signature by `verifier`'s key (feature `sign`).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when it is unsigned, not signed by that key, or the signature does
    /// not verify.
    pub fn verify_signature(&self, verifier: &NoteVerifier) -> Result<()> {
        verifier.verify_note(&self.body(), &self.signatures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_strings_round_trip() {
        let s = NoteSigner::from_seed("example.com/k", [3; 32]).unwrap();
        let again = NoteSigner::from_key_string(&s.to_key_string()).unwrap();
        assert_eq!(again.key_id(), s.key_id());
        let v = NoteVerifier::from_key_string(&s.verifier().to_key_string()).unwrap();
        assert_eq!(v, s.verifier());
        assert!(!format!("{s:?}").contains(&s.to_key_string()[20..]));
    }
}
