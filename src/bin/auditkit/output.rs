//! How results are printed: event tables, JSON Lines, faults in words, and questions.

use std::borrow::Cow;
use std::io::{BufRead as _, Write};

use auditkit::{Event, Fault, FaultKind, Outcome, VerifyReport};

use crate::fail::{Fail, Result};

/// Where a command writes: stdout or the `--out` file.
pub(crate) fn sink(out: Option<&std::path::Path>) -> Result<Box<dyn Write>> {
    Ok(match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| {
                Fail::output(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", path.display()),
                ))
            })?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

/// `text` made safe to print on the operator's terminal: every control character (ESC,
/// C1 controls such as CSI, newlines, carriage returns, ...) is written as its Rust escape
/// (`\u{1b}`, `\n`). Recorded text comes from whoever could record an event, and a raw
/// escape sequence in it could rewrite the screen, hide rows or forge what the operator sees;
/// escaped newlines also keep one event on one line. JSON output needs none of this: serde
/// escapes control characters itself.
pub(crate) fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Formats times for tables: UTC, or local in `zone`.
pub(crate) struct Clock {
    zone: Option<jiff::tz::TimeZone>,
}

impl Clock {
    /// # Errors
    /// Exit 2 for an unknown zone name.
    pub(crate) fn new(zone: Option<&str>) -> Result<Self> {
        let zone = zone
            .map(|z| {
                jiff::tz::TimeZone::get(z).map_err(|e| {
                    Fail::usage(format!(
                        "invalid zone: {z:?} is not an IANA time zone name such as Europe/Berlin ({e})"
                    ))
                })
            })
            .transpose()?;
        Ok(Clock { zone })
    }

    pub(crate) fn format(&self, t: time::OffsetDateTime) -> String {
        let utc = t.to_offset(time::UtcOffset::UTC);
        let Some(tz) = &self.zone else {
            let f =
                time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
            return utc.format(&f).unwrap_or_else(|_| utc.to_string());
        };
        let micros = (utc.unix_timestamp_nanos() / 1_000) as i64;
        match jiff::Timestamp::from_microsecond(micros) {
            Ok(ts) => ts
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string(),
            Err(_) => utc.to_string(),
        }
    }
}

/// Events as an aligned table: one line each, with the sentence `describe` gives last.
pub(crate) fn table(out: &mut dyn Write, events: &[Event], clock: &Clock) -> Result<()> {
    let head = [
        "SEQ", "OCCURRED", "TENANT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "WHAT",
    ];
    let rows: Vec<[String; 8]> = events.iter().map(|e| row(e, clock)).collect();
    let mut widths = head.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &[&str]| -> std::io::Result<()> {
        let last = cells.len() - 1;
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == last {
                writeln!(out, "{cell}")?;
            } else if i == 0 {
                // Numbers read best right-aligned.
                write!(out, "{cell:>w$}  ")?;
            } else {
                write!(out, "{cell:<w$}  ")?;
            }
        }
        Ok(())
    };
    line(out, &head)?;
    for r in &rows {
        line(out, &r.each_ref().map(String::as_str))?;
    }
    Ok(())
}

fn row(e: &Event, clock: &Clock) -> [String; 8] {
    let actor = match &e.actor.name {
        Some(name) => format!("{}:{} ({name})", e.actor.kind, e.actor.id),
        None => format!("{}:{}", e.actor.kind, e.actor.id),
    };
    let target = e
        .target
        .as_ref()
        .map_or_else(|| "-".to_owned(), |t| format!("{}:{}", t.kind, t.id));
    let outcome = match &e.outcome {
        Outcome::Success => "success".to_owned(),
        Outcome::Failure { reason } => format!("failure: {reason}"),
        _ => "other".to_owned(),
    };
    [
        e.seq.to_string(),
        clock.format(e.occurred_at),
        e.tenant.clone().unwrap_or_else(|| "-".to_owned()),
        actor,
        e.action.clone(),
        target,
        outcome,
        e.describe(),
    ]
    // Every cell, not only the free text: which fields the library keeps free of control
    // characters is its business, and may change.
    .map(|cell| terminal_safe(&cell).into_owned())
}

/// One event as a line of JSON, the serde form `export_jsonl` writes.
pub(crate) fn json_line(out: &mut dyn Write, e: &Event) -> Result<()> {
    let line = serde_json::to_string(e).map_err(|err| Fail::output(std::io::Error::other(err)))?;
    writeln!(out, "{}", json_safe(&line))?;
    Ok(())
}

/// serde's JSON with the control characters it leaves raw escaped too. serde escapes only
/// U+0000 to U+001F inside strings; DEL and the C1 controls (U+009B is a one-character CSI
/// to some terminals) pass through. Those are never JSON whitespace, so each is inside a
/// string, where `\u00XX` is the same text to any JSON reader; the newlines and indents of
/// pretty JSON stay as they are.
pub(crate) fn json_safe(json: &str) -> Cow<'_, str> {
    let raw = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if raw(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The verify report's first line, then, for a fault, what it means and what to do.
pub(crate) fn verify_report(out: &mut dyn Write, report: &VerifyReport) -> Result<()> {
    // A fault's detail may quote what was stored.
    writeln!(out, "{}", terminal_safe(&report.to_string()))?;
    if let Some(fault) = &report.fault {
        let (meaning, todo) = explain(fault, report);
        writeln!(out, "What it means: {meaning}")?;
        writeln!(out, "What to do: {todo}")?;
    }
    Ok(())
}

fn explain(fault: &Fault, report: &VerifyReport) -> (String, String) {
    let seq = fault.seq;
    let intact = if report.verified_through > 0 {
        format!("events up to seq {} are intact", report.verified_through)
    } else {
        "no event before it could be confirmed intact".to_owned()
    };
    let evidence = "Keep this file as it is, as evidence (do not purge or migrate it), \
                    compare it with your backups, and restore the newest backup that verifies \
                    against your last checkpoint";
    match fault.kind {
        FaultKind::Modified => (
            format!(
                "event {seq} was changed after it was recorded: its stored fields (or a \
                 personal value) no longer match the hash sealed with it; {intact}"
            ),
            format!("{evidence}."),
        ),
        FaultKind::Missing => (
            format!("event {seq} is missing: it was deleted from the middle of the log; {intact}"),
            format!("{evidence}."),
        ),
        FaultKind::Inserted => (
            format!(
                "event {seq} is intact but does not link to the event before it: it was \
                 inserted, or the event before it was replaced; {intact}"
            ),
            format!("{evidence}."),
        ),
        FaultKind::Reordered => (
            format!("events come back out of order or duplicated at seq {seq}; {intact}"),
            format!("{evidence}."),
        ),
        FaultKind::Truncated => (
            format!("the log ends before seq {seq}: the newest events were cut off; {intact}"),
            format!(
                "{evidence}; the events after seq {} are gone from this copy.",
                report.verified_through
            ),
        ),
        FaultKind::CheckpointMismatch => (
            format!(
                "the log's first {seq} events are not the history the checkpoint states: \
                 events up to it were rewritten, or the checkpoint is of another copy"
            ),
            format!(
                "Check that the checkpoint is the one kept for this store; if it is, {}.",
                evidence.to_lowercase()
            ),
        ),
        FaultKind::DerivedRow => (
            format!(
                "a row that queries answer from (a target, a change path, a search entry) of \
                 event {seq} is missing, extra or altered, so a query could hide the event or \
                 show it where it does not belong; the events themselves verified"
            ),
            "Find out who changed the database; then rebuild the indexes from the events \
             (AuditTrail::rebuild_indexes), which records that it did."
                .to_owned(),
        ),
        _ => (
            format!("event {seq}: {}", terminal_safe(&fault.detail)),
            format!("{evidence}."),
        ),
    }
}

/// Asks a yes/no question on stderr and reads the answer from stdin; anything but `y` or
/// `yes` (an empty line, end of input) is no.
pub(crate) fn confirm(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Fail::usage(format!("cannot read the answer from stdin: {e}")))?;
    let answer = answer.trim();
    Ok(answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes"))
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(terminal_safe("Haircut with Sam"), "Haircut with Sam");
        assert_eq!(
            terminal_safe("a\u{1b}]0;pwned\u{7}b\u{9b}2Jc\r\nd\te\u{7f}"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{9b}2Jc\\r\\nd\\te\\u{7f}"
        );
        assert_eq!(terminal_safe("Zoë — ok"), "Zoë — ok");
    }

    #[test]
    fn json_keeps_its_value_with_every_control_character_escaped() {
        let text = "a\u{1b}b\u{7f}c\u{9b}d\ne";
        let json = serde_json::to_string_pretty(&[text]).unwrap();
        // What serde alone leaves raw.
        assert!(json.contains('\u{9b}') && json.contains('\u{7f}'));
        let safe = super::json_safe(&json);
        assert!(!safe.chars().any(|c| c.is_control() && c != '\n'), "{safe}");
        assert_eq!(serde_json::from_str::<[String; 1]>(&safe).unwrap(), [text]);
    }
}
