//! Signed checkpoints (feature `sign`): C2SP signed notes with Ed25519, checked against the
//! Go reference implementation's vectors and our own pinned vector.
#![cfg(feature = "sign")]

use auditkit::integrity::sign::{key_id, NoteSigner, NoteVerifier};
use auditkit::{AuditTrail, Checkpoint, Error, MemoryStore, NewEvent};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/c2sp_note_vectors.json")).unwrap()
}

fn hex32(v: &Value) -> [u8; 32] {
    let mut out = [0; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut out).unwrap();
    out
}

#[test]
fn go_sumdb_note_vectors_match_byte_for_byte() {
    for n in vectors()["notes"].as_array().unwrap() {
        let signer = NoteSigner::from_key_string(n["signer_key"].as_str().unwrap()).unwrap();
        let verifier = NoteVerifier::from_key_string(n["verifier_key"].as_str().unwrap()).unwrap();
        assert_eq!(signer.verifier(), verifier);
        assert_eq!(format!("{:08x}", verifier.key_id()), n["key_id"]);
        assert_eq!(verifier.to_key_string(), n["verifier_key"]);
        assert_eq!(signer.to_key_string(), n["signer_key"]);
        let text = n["text"].as_str().unwrap();
        let line = signer.sign_note(text).unwrap();
        assert_eq!(line, n["signature"]);
        verifier
            .verify_note(text, std::slice::from_ref(&line))
            .unwrap();
        let altered = text.replace("cryptography", "cryptographY");
        let e = verifier.verify_note(&altered, &[line]).unwrap_err();
        assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    }
}

#[test]
fn key_ids_follow_the_c2sp_formula() {
    // SHA-256("PeterNeumann" || 0x0A || 0x01 || public key)[:4], from the Go vector.
    let v = NoteVerifier::from_key_string(
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    )
    .unwrap();
    let s = NoteSigner::from_key_string(
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    )
    .unwrap();
    assert_eq!(v.key_id(), 0xc74f_20a3);
    assert_eq!(s.key_id(), 0xc74f_20a3);
    let other = NoteSigner::from_seed("PeterNeumann2", [1; 32]).unwrap();
    assert_ne!(other.key_id(), key_id("PeterNeumann", &[0; 32]));
}

#[test]
fn pinned_checkpoint_signature() {
    for c in vectors()["checkpoints"].as_array().unwrap() {
        let signer =
            NoteSigner::from_seed(c["key_name"].as_str().unwrap(), hex32(&c["seed_hex"])).unwrap();
        let cp = Checkpoint::new(
            c["log_id"].as_str().unwrap(),
            c["size"].as_u64().unwrap(),
            hex32(&c["root_hex"]),
            hex32(&c["chain_head_hex"]),
        );
        let signed = signer.sign(&cp).unwrap().to_string();
        assert_eq!(signed, c["signed"].as_str().unwrap(), "{signed}");
        let parsed: Checkpoint = signed.parse().unwrap();
        assert_eq!(parsed.to_string(), signed);
        parsed.verify_signature(&signer.verifier()).unwrap();
    }
}

#[test]
fn bad_key_strings_are_clear_errors() {
    for bad in [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ApRc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+zz4f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+not base64",
    ] {
        let e = NoteVerifier::from_key_string(bad).unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{bad:?}: {e}");
    }
    let e = NoteSigner::from_key_string("PeterNeumann+c74f20a3+AYEK").unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    let e = NoteSigner::from_seed("has+plus", [0; 32]).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
}

#[test]
fn trail_signs_and_verifies_checkpoints() {
    let trail = AuditTrail::new(MemoryStore::new());
    for i in 0..3 {
        trail
            .record(NewEvent::new("booking.created").context("n", i))
            .unwrap();
    }
    let signer = NoteSigner::from_seed("audit.example.com/clinic-42", [9; 32]).unwrap();
    let verifier = signer.verifier();
    let signed = trail.signed_checkpoint(&signer).unwrap();
    let text = signed.to_string();
    assert!(
        text.contains("\n\n\u{2014} audit.example.com/clinic-42 "),
        "{text}"
    );
    // The body is exactly the unsigned checkpoint: unsigned checkpoints stay valid.
    assert!(text.starts_with(&trail.checkpoint().unwrap().to_string()));
    let parsed: Checkpoint = text.parse().unwrap();
    let report = trail.verify_signed(&parsed, &verifier).unwrap();
    assert!(report.is_ok(), "{report}");
    // The plain verify_against still accepts it too.
    assert!(trail.verify_against(&parsed).unwrap().is_ok());

    // A second key adds its own line; signing again with the same key replaces its line.
    let witness = NoteSigner::from_seed("witness.example.org/w1", [5; 32]).unwrap();
    let both = witness.sign(&signer.sign(&parsed).unwrap()).unwrap();
    assert_eq!(both.signatures.len(), 2);
    both.verify_signature(&verifier).unwrap();
    both.verify_signature(&witness.verifier()).unwrap();

    // Altered body: the signature fails.
    let forged = text.replacen("\n3\n", "\n2\n", 1);
    let forged: Checkpoint = forged.parse().unwrap();
    let e = trail.verify_signed(&forged, &verifier).unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    assert!(e.to_string().contains("does not verify"), "{e}");

    // Wrong key (same name, other key): not signed by the configured key.
    let impostor = NoteSigner::from_seed("audit.example.com/clinic-42", [10; 32]).unwrap();
    let e = parsed.verify_signature(&impostor.verifier()).unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    assert!(e.to_string().contains("no signature by"), "{e}");
    // A signature by the impostor, checked with the right verifier, is ignored: not signed.
    let by_impostor = impostor.sign(&trail.checkpoint().unwrap()).unwrap();
    let e = by_impostor.verify_signature(&verifier).unwrap_err();
    assert!(e.to_string().contains("no signature by"), "{e}");
    // Unsigned.
    let e = trail
        .verify_signed(&trail.checkpoint().unwrap(), &verifier)
        .unwrap_err();
    assert!(e.to_string().contains("not signed"), "{e}");
    // A garbled signature line.
    let mut garbled = parsed.clone();
    garbled.signatures = vec!["\u{2014} audit.example.com/clinic-42 AAAA".into()];
    let e = garbled.verify_signature(&verifier).unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    // A signature whose bytes were flipped.
    let mut flipped = parsed.clone();
    let line = &flipped.signatures[0];
    let (head, sig) = line.rsplit_once(' ').unwrap();
    let mut bytes = base64_decode(sig);
    bytes[10] ^= 1;
    flipped.signatures[0] = format!("{head} {}", base64_encode(&bytes));
    let e = flipped.verify_signature(&verifier).unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// What no note can carry is refused before signing, never a panic or a note that reads
/// back as another checkpoint.
#[test]
fn unsignable_names_and_extensions_are_refused() {
    for name in ["", "has space", "a+b", "ctl\u{1}x"] {
        let err = NoteSigner::from_seed(name, [1; 32]).unwrap_err();
        assert!(err.is_invalid(), "{name:?}: {err}");
    }
    let signer = NoteSigner::from_seed("audit.example.com/x", [1; 32]).unwrap();
    let trail = AuditTrail::new(MemoryStore::new());
    trail.record(NewEvent::new("booking.created")).unwrap();
    for ext in ["", "a\tb", "a\n\nb", "a\nb"] {
        let mut cp = trail.checkpoint().unwrap();
        cp.extensions.push(ext.into());
        let err = signer.sign(&cp).unwrap_err();
        assert!(err.to_string().contains("extension"), "{ext:?}: {err}");
    }
}
