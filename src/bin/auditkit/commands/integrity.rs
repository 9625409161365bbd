//! Proving the log intact: verify, checkpoints, inclusion proofs and evidence bundles.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use auditkit::integrity::bundle::{
    verify_bundle as check_bundle, verify_signed_bundle, EvidenceBundle,
};
use auditkit::integrity::sign::{NoteSigner, NoteVerifier};
use auditkit::{AuditStore as _, Checkpoint, Target};

use crate::args::StoreArg;
use crate::fail::{Fail, Result, FAULT};
use crate::open;
use crate::output;
use crate::progress::Progress;

pub(crate) fn verify(store: &StoreArg, against: Option<&Path>) -> Result<ExitCode> {
    // The checkpoint first: a typo in its path should not cost a whole verify.
    let checkpoint = against.map(read_checkpoint).transpose()?;
    let opened = open::read_only(store)?;
    let on_store = |e: auditkit::Error| Fail::store(format!("{}: {e}", opened.location.name()));
    let head = opened.trail.store().head().map_err(on_store)?;
    let purged = opened
        .trail
        .store()
        .purge_anchor()
        .map_err(on_store)?
        .map_or(0, |a| a.seq);
    let progress = Progress::start(
        "verify",
        head.seq.saturating_sub(purged),
        opened.read.clone(),
    );
    let report = match &checkpoint {
        Some(c) => opened.trail.verify_against(c),
        None => opened.trail.verify(),
    };
    progress.finish();
    let report = report.map_err(|e| match e {
        auditkit::Error::Checkpoint { .. } => Fail::usage(e),
        e => on_store(e),
    })?;
    let mut out = std::io::stdout().lock();
    output::verify_report(&mut out, &report)?;
    out.flush()?;
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAULT)
    })
}

pub(crate) fn verify_bundle(file: &Path, key: Option<&str>) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Fail::store(format!("{}: {e}", file.display())))?;
    let verifier = key
        .map(|k| NoteVerifier::from_key_string(k.trim()).map_err(Fail::usage))
        .transpose()?;
    let checked = EvidenceBundle::from_json(&text).and_then(|bundle| match &verifier {
        Some(v) => verify_signed_bundle(&bundle, v),
        None => check_bundle(&bundle),
    });
    let mut out = std::io::stdout().lock();
    match checked {
        // The bundle may come from anyone; what it names is quoted in the report.
        Ok(report) => {
            writeln!(out, "{}", output::terminal_safe(&report.to_string()))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let refused = format!("REFUSED: {}: {e}", file.display());
            writeln!(out, "{}", output::terminal_safe(&refused))?;
            writeln!(
                out,
                "What it means: the file is not the evidence it claims to be (edited, cut, \
                 or signed by another key); do not rely on it."
            )?;
            Ok(ExitCode::from(FAULT))
        }
    }
}

pub(crate) fn checkpoint(
    store: &StoreArg,
    key: Option<&Path>,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let signer = key.map(read_signer).transpose()?;
    let opened = open::read_only(store)?;
    let checkpoint = match &signer {
        Some(s) => opened.trail.signed_checkpoint(s),
        None => opened.trail.checkpoint(),
    }
    .map_err(|e| Fail::store(format!("{}: {e}", opened.location.name())))?;
    let mut w = output::sink(out)?;
    write!(w, "{checkpoint}")?;
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn prove(store: &StoreArg, seq: u64, checkpoint: &Path) -> Result<ExitCode> {
    let checkpoint = read_checkpoint(checkpoint)?;
    let opened = open::read_only(store)?;
    let proof = opened.trail.prove(seq, &checkpoint)?;
    let mut out = std::io::stdout().lock();
    write!(out, "{proof}")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) struct BundleArgs {
    pub(crate) target: Target,
    pub(crate) tenant: Option<String>,
    pub(crate) checkpoint: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) without_personal_values: bool,
    pub(crate) out: Option<PathBuf>,
}

pub(crate) fn bundle(store: &StoreArg, args: &BundleArgs) -> Result<ExitCode> {
    let checkpoint = args
        .checkpoint
        .as_deref()
        .map(read_checkpoint)
        .transpose()?;
    let signer = args.key.as_deref().map(read_signer).transpose()?;
    let opened = open::read_only(store)?;
    let tenant = args.tenant.as_deref();
    let trail = &opened.trail;
    let bundle = match (&checkpoint, &signer) {
        (Some(c), _) => trail.bundle(&args.target, tenant, c),
        (None, Some(s)) => trail.signed_bundle(&args.target, tenant, s),
        (None, None) => trail
            .checkpoint()
            .and_then(|c| trail.bundle(&args.target, tenant, &c)),
    }?;
    let bundle = if args.without_personal_values {
        bundle.without_personal_values()
    } else {
        bundle
    };
    let mut w = output::sink(args.out.as_deref())?;
    // Often printed to the terminal; the same JSON value either way.
    writeln!(w, "{}", output::json_safe(&bundle.to_json()))?;
    w.flush()?;
    if let Some(path) = &args.out {
        eprintln!(
            "auditkit: {} events of {}:{} in {} (checkpoint size {})",
            bundle.events.len(),
            args.target.kind,
            args.target.id,
            path.display(),
            bundle.checkpoint.size
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::usage(format!("checkpoint {}: {e}", path.display())))?;
    text.parse()
        .map_err(|e| Fail::usage(format!("checkpoint {}: {e}", path.display())))
}

fn read_signer(path: &Path) -> Result<NoteSigner> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::usage(format!("key file {}: {e}", path.display())))?;
    // Never echo the file: it holds a private key.
    NoteSigner::from_key_string(text.trim()).map_err(|e| {
        Fail::usage(format!(
            "key file {}: not a private key in the form PRIVATE+KEY+name+keyid+base64 ({})",
            path.display(),
            match e {
                auditkit::Error::Invalid { field, .. } => format!("invalid {field}"),
                _ => "unreadable".to_owned(),
            }
        ))
    })
}
