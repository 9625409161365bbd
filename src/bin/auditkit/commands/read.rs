//! Reading the trail: lists, tail, exports and stats. Every one opens the store read-only.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use auditkit::{AuditStore as _, CsvOptions, Event, GroupBy, Query};

use crate::args::StoreArg;
use crate::args::{Filters, Format, ListArgs};
use crate::fail::{Fail, Result};
use crate::open::{self, Location};
use crate::output::{self, Clock};
use crate::progress::Progress;

/// `query`, `history` and `customer`: one page of events, as a table or JSON Lines.
pub(crate) fn list(
    store: &StoreArg,
    q: Query,
    filters: &Filters,
    list: &ListArgs,
) -> Result<ExitCode> {
    let clock = Clock::new(filters.zone.as_deref())?;
    let q = if list.oldest_first {
        q.oldest_first()
    } else {
        q
    };
    let q = q.limit(list.limit);
    q.validate().map_err(Fail::usage)?;
    let opened = open::read_only(store)?;
    let page = opened.trail.query(&q)?;
    let mut out = std::io::stdout().lock();
    if list.json {
        for e in &page.events {
            output::json_line(&mut out, e)?;
        }
    } else {
        output::table(&mut out, &page.events, &clock)?;
    }
    out.flush()?;
    if page.next.is_some() {
        eprintln!(
            "auditkit: the first {} matching events are shown; more match (raise --limit, up \
             to 1000, narrow the filters, or use `auditkit export`)",
            page.events.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) struct TailArgs {
    pub(crate) query: Query,
    pub(crate) zone: Option<String>,
    pub(crate) lines: usize,
    pub(crate) follow: bool,
    pub(crate) interval: u64,
    pub(crate) json: bool,
}

/// The newest events, oldest of them first; with `follow`, then every new matching event as
/// it is recorded, polling until interrupted.
pub(crate) fn tail(store: &StoreArg, args: &TailArgs) -> Result<ExitCode> {
    let clock = Clock::new(args.zone.as_deref())?;
    // Checked before the store is opened, whatever `--lines` is: a bad `--lines` is the
    // operator's mistake (exit 2), not the store's.
    args.query.validate().map_err(Fail::usage)?;
    let newest_query =
        (args.lines > 0).then(|| args.query.clone().newest_first().limit(args.lines));
    if let Some(q) = &newest_query {
        q.validate().map_err(Fail::usage)?;
    }
    let opened = open::read_only(store)?;
    let trail = &opened.trail;
    // Taken before the newest are read, so nothing recorded in between is missed.
    let head = trail.store().head()?.seq;
    let mut newest = match &newest_query {
        Some(q) => trail.query(q)?.events,
        None => Vec::new(),
    };
    newest.reverse();
    let mut follow = Follow::new(head, newest.iter().map(|e| e.seq));
    let mut out = std::io::stdout().lock();
    let print = |out: &mut dyn std::io::Write, e: &Event| -> Result<()> {
        if args.json {
            output::json_line(out, e)
        } else {
            let line = format!(
                "#{} {} {} {}",
                e.seq,
                clock.format(e.occurred_at),
                e.action,
                e.describe()
            );
            writeln!(out, "{}", output::terminal_safe(&line))?;
            Ok(())
        }
    };
    for e in &newest {
        print(&mut out, e)?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    // New events are found by seq, not by the query's order: an event may be recorded with
    // an `occurred_at` earlier than ones already shown.
    loop {
        std::thread::sleep(Duration::from_millis(args.interval.max(10)));
        loop {
            let batch = trail.store().read(follow.next_seq(), 1_000)?;
            let Some(last) = batch.last() else { break };
            let last = last.seq;
            for sealed in &batch {
                if !follow.fresh(sealed.seq) {
                    continue;
                }
                let e = sealed.decode()?;
                if args.query.matches(&e) {
                    print(&mut out, &e)?;
                }
            }
            follow.read_through(last);
        }
        out.flush()?;
    }
}

/// Where `tail --follow` reads on from, and which events it has printed already.
///
/// The newest events are queried after the head is read, so events recorded in between can
/// be among them. Reading on from the head alone would print those twice; reading on from
/// the largest seq printed would skip any recorded in between that matched but were not
/// among the newest by `occurred_at`. So reading goes on from the head, and the few printed
/// events past it are skipped once.
#[derive(Debug)]
struct Follow {
    read_through: u64,
    shown: std::collections::BTreeSet<u64>,
}

impl Follow {
    fn new(head: u64, printed: impl IntoIterator<Item = u64>) -> Self {
        Follow {
            read_through: head,
            shown: printed.into_iter().filter(|&s| s > head).collect(),
        }
    }

    fn next_seq(&self) -> u64 {
        self.read_through + 1
    }

    /// False for an event printed already; each is skipped once, then forgotten.
    fn fresh(&mut self, seq: u64) -> bool {
        !self.shown.remove(&seq)
    }

    fn read_through(&mut self, seq: u64) {
        self.read_through = self.read_through.max(seq);
    }
}

/// Streams every matching event (the query's limit is a page size here, not a cap).
pub(crate) fn export(
    store: &StoreArg,
    format: Format,
    q: Query,
    zone: Option<&str>,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let csv = match zone {
        Some(z) => CsvOptions::new().zone(z),
        None => CsvOptions::new(),
    };
    if format == Format::Csv {
        csv.header().map_err(Fail::usage)?;
    }
    let opened = open::read_only(store)?;
    let total = opened.trail.count(&q)?;
    let mut w = output::sink(out)?;
    let progress = Progress::start("export", total, opened.read.clone());
    let written = match format {
        Format::Csv => opened.trail.export_csv_with(&q, &csv, &mut w),
        Format::Jsonl => opened.trail.export_jsonl(&q, &mut w),
    };
    progress.finish();
    let n = written?;
    w.flush()?;
    if let Some(path) = out {
        eprintln!("auditkit: exported {n} events to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Events, the file's size, and the matching events per action and per day.
pub(crate) fn stats(store: &StoreArg, q: Query, zone: Option<&str>) -> Result<ExitCode> {
    let zone = zone.unwrap_or("UTC");
    let by_day = GroupBy::day_in(zone);
    by_day.validate().map_err(Fail::usage)?;
    let opened = open::read_only(store)?;
    let trail = &opened.trail;
    let head = trail.store().head()?;
    let purged = trail.store().purge_anchor()?.map_or(0, |a| a.seq);
    let matching = trail.count(&q)?;
    let per_action = trail.summarize(&q, &GroupBy::Action)?;
    let per_day = trail.summarize(&q, &by_day)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "store:    {}", opened.location.name())?;
    writeln!(out, "log:      {}", trail.log_id()?)?;
    let stored = head.seq - purged;
    match (stored, purged) {
        (0, _) => writeln!(out, "events:   0 stored")?,
        (n, 0) => writeln!(out, "events:   {n} stored (seq 1 to {})", head.seq)?,
        (n, p) => writeln!(
            out,
            "events:   {n} stored (seq {} to {}; 1 to {p} purged)",
            p + 1,
            head.seq
        )?,
    }
    writeln!(out, "matching: {matching}")?;
    if let Location::Sqlite(path) = &opened.location {
        writeln!(out, "size:     {}", file_size(path))?;
    }
    let width = per_action.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    writeln!(out, "per action:")?;
    for (action, n) in &per_action {
        writeln!(out, "  {action:<width$}  {n:>6}")?;
    }
    writeln!(out, "per day ({zone}):")?;
    for (day, n) in &per_day {
        writeln!(out, "  {day}  {n:>6}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The database file's size, with its write-ahead log when it has one.
fn file_size(path: &Path) -> String {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).ok();
    let main = size(path).unwrap_or(0);
    let wal = size(Path::new(&format!("{}-wal", path.display()))).unwrap_or(0);
    if wal > 0 {
        format!("{} (+ {} write-ahead log)", bytes(main), bytes(wal))
    } else {
        bytes(main)
    }
}

fn bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    match n {
        n if n >= KIB * KIB * KIB => format!("{:.1} GiB", n as f64 / (KIB * KIB * KIB) as f64),
        n if n >= KIB * KIB => format!("{:.1} MiB", n as f64 / (KIB * KIB) as f64),
        n if n >= KIB => format!("{:.1} KiB", n as f64 / KIB as f64),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::Follow;

    #[test]
    fn follow_skips_what_the_newest_printed_past_the_head_and_nothing_else() {
        // Head read at 5; events 6 and 7 were recorded before the newest query, which
        // printed 4 and 7 (6 matched but had an older occurred_at).
        let mut f = Follow::new(5, [4, 7]);
        assert_eq!(f.next_seq(), 6);
        assert!(f.fresh(6), "an event recorded in between was skipped");
        assert!(!f.fresh(7), "an event printed already would print twice");
        assert!(f.fresh(8));
        f.read_through(8);
        assert_eq!(f.next_seq(), 9);
    }
}
