//! The commands that write: migrate, purge and erase. Each shows what it will do, asks (unless
//! `--yes`), and only then opens the store with write access.

use std::path::Path;
use std::process::ExitCode;

use auditkit::{ActorKind, AuditStore as _, Query, Subject, Target};

use crate::args::StoreArg;
use crate::fail::{Fail, Result};
use crate::open::{self, Location};
use crate::output;

pub(crate) fn migrate(store: &StoreArg, yes: bool) -> Result<ExitCode> {
    let location = Location::parse(store);
    let name = location.name();
    let question = match open::try_read_only(&location)? {
        Ok(_) => {
            println!("{name} is at this auditkit's schema already; nothing to migrate.");
            return Ok(ExitCode::SUCCESS);
        }
        Err(auditkit::Error::SchemaTooOld { found, current }) => format!(
            "Migrate {name} from schema version {found} to {current}? Older versions of \
             auditkit cannot open it afterwards; back it up first."
        ),
        Err(e) if open::needs_pg_migration(&e) => {
            format!("Create or migrate auditkit's schema in {name}?")
        }
        Err(e) => return Err(open::refusal(&location, e)),
    };
    if !ask(&question, yes)? {
        return Ok(ExitCode::SUCCESS);
    }
    let opened = open::writable(&location)?;
    let report = opened.trail.verify()?;
    println!("migrated {name}; verify: {report}");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn purge(
    store: &StoreArg,
    before: time::OffsetDateTime,
    archive: Option<&Path>,
    yes: bool,
) -> Result<ExitCode> {
    let opened = open::read_only(store)?;
    let name = opened.location.name();
    let cutoff = before
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| before.to_string());
    // Refused before anything is asked; `create_new` below refuses it again if the file
    // appears meanwhile.
    if let Some(path) = archive {
        if path.symlink_metadata().is_ok() {
            return Err(archive_exists(path));
        }
    }
    let (from, through) = purge_range(&opened.trail, before)?;
    if through < from {
        println!("No event of {name} was recorded before {cutoff}; nothing to purge.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "This removes {} events (seq {from} to {through}, recorded before {cutoff}) from \
         {name}{}, keeps a purge anchor so the rest still verifies, and records the purge as \
         an {} event.",
        through - from + 1,
        archive.map_or(String::new(), |a| format!(
            " after writing them to {}",
            a.display()
        )),
        auditkit::PURGE_ACTION
    );
    if !ask("Purge them?", yes)? {
        return Ok(ExitCode::SUCCESS);
    }
    let location = opened.location.clone();
    drop(opened);
    let trail = open::writable(&location)?.trail;
    let report = match archive {
        Some(path) => {
            // Never over an existing file: an earlier archive may hold the only copy of
            // events purged before.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => archive_exists(path),
                    _ => Fail::output(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", path.display()),
                    )),
                })?;
            trail.purge_before_to(before, std::io::BufWriter::new(Durable::new(file, path)))
        }
        None => trail.purge_before(before),
    }?;
    let recorded = report
        .event
        .as_ref()
        .map_or(String::new(), |e| format!("; recorded as event {}", e.seq));
    println!(
        "purged {} events (seq {} to {}){recorded}.",
        report.purged, report.from_seq, report.through_seq
    );
    println!(
        "Checkpoint at seq {} (keep it with the archive):",
        report.through_seq
    );
    print!("{}", report.checkpoint);
    Ok(ExitCode::SUCCESS)
}

fn archive_exists(path: &Path) -> Fail {
    Fail::usage(format!(
        "{}: the archive file exists already; purge never overwrites one (it may be the only \
         copy of events purged earlier): name a new file",
        path.display()
    ))
}

/// The archive file, made durable by `flush`.
///
/// `purge_before_to` writes the archive, flushes it, and only then deletes the events, all
/// in one call: the CLI gets no turn in between. Its flush is that turn, so here it also
/// syncs the file (and, on Unix, the directory entry of the new file) to disk; a crash right
/// after the purge then cannot lose the only copy of the purged events. The library flushes
/// once, after the last line, so this syncs once.
#[cfg_attr(not(unix), allow(dead_code))]
struct Durable {
    file: std::fs::File,
    dir: Option<std::path::PathBuf>,
}

impl Durable {
    fn new(file: std::fs::File, path: &Path) -> Self {
        let dir = match path.parent() {
            Some(p) if p.as_os_str().is_empty() => Some(std::path::PathBuf::from(".")),
            Some(p) => Some(p.to_owned()),
            None => None,
        };
        Durable { file, dir }
    }
}

impl std::io::Write for Durable {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.sync_all()?;
        #[cfg(unix)]
        if let Some(dir) = &self.dir {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// The seqs `purge_before(cutoff)` would remove, found as it finds them: the prefix of the
/// chain recorded before the cutoff, never the newest event (the purge record links to it).
fn purge_range(trail: &open::Trail, cutoff: time::OffsetDateTime) -> Result<(u64, u64)> {
    let store = trail.store();
    let head = store.head()?.seq;
    let from = store.purge_anchor()?.map_or(0, |a| a.seq) + 1;
    let mut through = from - 1;
    'scan: loop {
        let chunk = store.read(through + 1, 1_000)?;
        if chunk.is_empty() {
            break;
        }
        for e in &chunk {
            if e.recorded_at >= cutoff || e.seq >= head {
                break 'scan;
            }
            through = e.seq;
        }
    }
    Ok((from, through))
}

pub(crate) fn erase(store: &StoreArg, kind: &str, id: &str, yes: bool) -> Result<ExitCode> {
    let opened = open::read_only(store)?;
    let name = opened.location.name();
    let target = Target::new(kind, id);
    let actor_kind = kind.parse::<ActorKind>().ok();
    let subject = match actor_kind {
        Some(ActorKind::Customer) => Subject::customer(id),
        Some(k) => Subject::new().actor(k, id).target(&target),
        None => Subject::new().target(&target),
    };
    let as_target = opened.trail.count(&Query::new().involving(&target))?;
    let as_actor = match actor_kind {
        Some(k) => opened.trail.count(&Query::new().actor(id).actor_kind(k))?,
        None => 0,
    };
    if as_target == 0 && as_actor == 0 {
        println!("No event of {name} involves {kind}:{id}; nothing to erase.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "This erases the personal values of {kind}:{id} (names, emails, labels and the keys \
         recorded as personal) in {name}, in every tenant: {as_target} events involve it as \
         target or related target, {as_actor} name it as actor. The events stay and still \
         verify (counted as redacted); the erasure is recorded as an {} event.",
        auditkit::ERASURE_ACTION
    );
    let tenants = per_tenant(&opened.trail, &target, actor_kind.map(|k| (k, id)))?;
    if tenants.len() > 1 {
        // The subject is an id, not a person of one tenant: the same id in two tenants may
        // be two people, and both are erased.
        println!(
            "{kind}:{id} appears in events of {} tenants, and is erased in all of them:",
            tenants.len()
        );
        for (tenant, n) in &tenants {
            let tenant = tenant.as_deref().map_or_else(
                || "(no tenant)".to_owned(),
                |t| output::terminal_safe(t).into_owned(),
            );
            let events = if *n == 1 { "event" } else { "events" };
            println!("  {tenant}: {n} {events}");
        }
    }
    if !ask("Erase them in every tenant?", yes)? {
        return Ok(ExitCode::SUCCESS);
    }
    let location = opened.location.clone();
    drop(opened);
    let trail = open::writable(&location)?.trail;
    let report = trail.erase_subject(&subject)?;
    println!(
        "erased {} personal values in {} events; recorded as event {}.",
        report.values, report.events, report.event.seq
    );
    Ok(ExitCode::SUCCESS)
}

/// How many events involving the subject (as target or related target, or as actor) each
/// tenant has, by tenant name.
fn per_tenant(
    trail: &open::Trail,
    target: &Target,
    actor: Option<(ActorKind, &str)>,
) -> Result<std::collections::BTreeMap<Option<String>, u64>> {
    let mut queries = vec![Query::new().involving(target)];
    if let Some((kind, id)) = actor {
        queries.push(Query::new().actor(id).actor_kind(kind));
    }
    // By seq, so an event that involves the subject in two roles counts once.
    let mut tenant_of = std::collections::HashMap::new();
    for q in queries {
        let mut q = q.oldest_first().limit(1_000);
        loop {
            let page = trail.query(&q)?;
            for e in page.events {
                tenant_of.insert(e.seq, e.tenant);
            }
            let Some(next) = page.next else { break };
            q = q.after(next);
        }
    }
    let mut counts = std::collections::BTreeMap::new();
    for tenant in tenant_of.into_values() {
        *counts.entry(tenant).or_insert(0) += 1;
    }
    Ok(counts)
}

/// `--yes`, or the operator's answer; says so when nothing is done.
fn ask(question: &str, yes: bool) -> Result<bool> {
    if yes || output::confirm(question)? {
        return Ok(true);
    }
    println!("Nothing was changed.");
    Ok(false)
}
