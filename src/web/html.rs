//! The viewer's pages: HTML built from escaped parts, with its CSS and script embedded (no
//! external assets: it works offline and under a strict CSP of `'self'`).

use std::fmt::Write as _;

use serde_json::Value;

use crate::model::event::Event;
use crate::vocab::describe::Description;

/// `s` with the five characters that mean something in HTML (text or attribute) escaped.
/// Every value the viewer shows goes through this: labels, reasons, context and ids come
/// from whoever recorded them.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --fg: #1d2430; --muted: #5b6575; --line: #e3e7ee; --ok: #17803d; --bad: #b42318; --accent: #2f5bd3; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; background: #f7f8fa; }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 12px 24px; display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header nav a { color: var(--accent); text-decoration: none; margin-right: 12px; }
main { max-width: 980px; margin: 0 auto; padding: 16px 24px 48px; }
#verify-status { font-size: 13px; padding: 4px 10px; border-radius: 12px; background: #eef1f6; color: var(--muted); }
#verify-status[data-state=ok] { background: #e6f4ea; color: var(--ok); }
#verify-status[data-state=fault] { background: #fdecea; color: var(--bad); }
form.filters { display: flex; gap: 8px; flex-wrap: wrap; align-items: end; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
form.filters input { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; min-width: 120px; }
button, .button { font: inherit; padding: 5px 12px; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; text-decoration: none; cursor: pointer; }
.button.secondary { background: #fff; color: var(--accent); }
ol.events { list-style: none; padding: 0; margin: 16px 0; }
li.event { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin-bottom: 8px; }
li.event .sentence { font-weight: 500; }
li.event.failure .sentence { color: var(--bad); }
li.event .meta { font-size: 13px; color: var(--muted); margin-top: 2px; }
li.event .meta time { border-bottom: 1px dotted var(--muted); cursor: help; }
li.event ul.changes { margin: 6px 0 0; padding-left: 18px; font-size: 13px; }
li.event ul.changes code { background: #f1f3f7; padding: 0 4px; border-radius: 3px; }
li.event .old { color: var(--bad); text-decoration: line-through; }
li.event .new { color: var(--ok); }
li.event details { margin-top: 6px; font-size: 12px; }
li.event pre { background: #f6f8fa; padding: 8px; overflow-x: auto; border-radius: 4px; }
.icon { display: inline-block; width: 1.4em; text-align: center; }
.paging { display: flex; gap: 12px; align-items: center; }
.empty { color: var(--muted); }
.error { background: #fdecea; color: var(--bad); padding: 10px 14px; border-radius: 8px; }
"#;

/// Fills in the verify status (a tenant viewer learns only whether the log holds together).
const SCRIPT: &str = r#"
(function () {
  var el = document.getElementById('verify-status');
  if (!el) return;
  fetch(el.getAttribute('data-url'), { headers: { 'accept': 'application/json' } })
    .then(function (r) { return r.json(); })
    .then(function (v) {
      el.setAttribute('data-state', v.ok ? 'ok' : 'fault');
      el.textContent = v.message;
    })
    .catch(function () { el.setAttribute('data-state', 'fault'); el.textContent = 'Verification could not be run'; });
})();
"#;

/// A whole page: `title`, the nav links under `base`, and `body`.
pub(super) fn page(base: &str, title: &str, body: &str) -> String {
    let base = esc(base);
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head><body>\
<header><h1>{title}</h1><nav><a href=\"{base}\">Audit log</a></nav>\
<span id=\"verify-status\" data-state=\"pending\" data-url=\"{base}api/verify\">Checking the log…</span></header>\
<main>{body}</main><script>{SCRIPT}</script></body></html>",
        title = esc(title),
    )
}

/// A small glyph per kind of action, so a timeline can be skimmed.
fn icon(action: &str) -> &'static str {
    let verb = action.rsplit('.').next().unwrap_or("");
    match verb {
        "created" | "booked" | "seat_booked" | "purchased" => "+",
        "cancelled" | "deleted" | "rejected" | "forfeited" | "expired" => "✕",
        "rescheduled" | "reassigned" | "moved" | "seat_rescheduled" => "⇄",
        "paid" | "refunded" | "redeemed" => "€",
        "login" | "logout" => "⎆",
        _ => "•",
    }
}

/// A changed value as a reader wants it: text as is, an RFC 3339 time in the business's
/// zone (`Sat 28 Mar 2026 10:00`), anything else as JSON.
fn value_text(v: Option<&Value>, tz: &jiff::tz::TimeZone) -> String {
    match v {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(s)) => match s.parse::<jiff::Timestamp>() {
            Ok(t) if s.len() >= 20 => t
                .to_zoned(tz.clone())
                .strftime("%a %-d %b %Y %H:%M")
                .to_string(),
            _ => s.clone(),
        },
        Some(other) => other.to_string(),
    }
}

/// One event as a timeline entry: icon, sentence, relative time with the exact time on
/// hover, actor and role, source, impersonation, tenant (for a viewer of every tenant), each
/// changed field old → new, and the raw event on demand.
pub(super) fn event_item(
    out: &mut String,
    e: &Event,
    d: &Description,
    tz: &jiff::tz::TimeZone,
    show_tenant: bool,
) {
    let failure = !e.outcome.is_success();
    let when = e
        .occurred_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let _ = write!(
        out,
        "<li class=\"event{}\" data-seq=\"{}\" data-action=\"{}\"><div class=\"line\"><span class=\"icon\" aria-hidden=\"true\">{}</span> <span class=\"sentence\">{}</span></div>",
        if failure { " failure" } else { "" },
        e.seq,
        esc(&e.action),
        icon(&e.action),
        esc(&d.sentence),
    );
    let mut actor = esc(e.actor.display_name());
    if let Some(role) = &e.actor.role {
        let _ = write!(actor, " ({})", esc(role));
    }
    let _ = write!(
        out,
        "<div class=\"meta\"><time datetime=\"{}\" title=\"{}\">{}</time> · <span class=\"actor\">{actor}</span> · <span class=\"source\">{}</span>",
        esc(&when),
        esc(&d.at),
        esc(&d.relative),
        esc(e.source.as_str()),
    );
    if let Some(by) = &e.actor.impersonator {
        let _ = write!(
            out,
            " · <span class=\"impersonation\">acted by {} on their behalf</span>",
            esc(by.display_name())
        );
    }
    if show_tenant {
        if let Some(t) = &e.tenant {
            let _ = write!(out, " · <span class=\"tenant\">{}</span>", esc(t));
        }
    }
    out.push_str("</div>");
    if !e.changes.is_empty() {
        out.push_str("<ul class=\"changes\">");
        for c in &e.changes {
            let _ = write!(
                out,
                "<li><code>{}</code>: <span class=\"old\">{}</span> → <span class=\"new\">{}</span></li>",
                esc(&c.path),
                esc(&value_text(c.old.as_ref(), tz)),
                esc(&value_text(c.new.as_ref(), tz)),
            );
        }
        out.push_str("</ul>");
    }
    let raw = serde_json::to_string_pretty(e).unwrap_or_default();
    let _ = write!(
        out,
        "<details><summary>Raw event</summary><pre>{}</pre></details></li>",
        esc(&raw)
    );
}

/// The filter form of the audit log, filled with the current values.
pub(super) fn filter_form(out: &mut String, base: &str, f: &super::params::Filters, tenants: bool) {
    let input = |name: &str, label: &str, kind: &str, value: &str, hint: &str| {
        format!(
            "<label>{label}<input type=\"{kind}\" name=\"{name}\" value=\"{}\" placeholder=\"{hint}\"></label>",
            esc(value)
        )
    };
    let _ = write!(
        out,
        "<form class=\"filters\" method=\"get\" action=\"{}\">{}{}{}{}{}{}<button type=\"submit\">Filter</button></form>",
        esc(base),
        input("from", "From (local day)", "date", &f.from, ""),
        input("to", "To (local day)", "date", &f.to, ""),
        input("actor", "Actor id", "text", &f.actor, "u-17"),
        input("action", "Action", "text", &f.action, "booking.*"),
        input("q", "Keyword", "search", &f.q, "haircut"),
        if tenants {
            input("tenant", "Tenant", "text", &f.tenant, "all")
        } else {
            String::new()
        },
    );
}

/// A refusal or bad request as a page.
pub(super) fn error_page(base: &str, message: &str) -> String {
    page(
        base,
        "Audit log",
        &format!("<p class=\"error\">{}</p>", esc(message)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_in_text_and_attributes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
