//! The report: its rows (a figure, the raw figure, their ratio and the target), printed as a
//! table with notes and written as a JSON summary.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub auditkit: f64,
    pub raw: Option<f64>,
    /// (how the ratio is read, bound): `>=` for throughputs, `<=` for times and sizes.
    pub target: Option<(&'static str, f64)>,
    /// Ratio over something other than `raw` (the 8-thread speed-up).
    pub ratio_override: Option<f64>,
}

impl Row {
    pub fn ratio(&self) -> Option<f64> {
        self.ratio_override
            .or_else(|| self.raw.map(|r| self.auditkit / r))
    }
    pub fn met(&self) -> Option<bool> {
        let (op, bound) = self.target?;
        let r = self.ratio()?;
        Some(if op == ">=" { r >= bound } else { r <= bound })
    }
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        name: impl Into<String>,
        unit: &'static str,
        auditkit: f64,
        raw: Option<f64>,
        target: Option<(&'static str, f64)>,
    ) {
        let row = Row {
            name: name.into(),
            unit,
            auditkit,
            raw,
            target,
            ratio_override: None,
        };
        eprintln!("  {}", fmt_row(&row));
        self.rows.push(row);
    }

    pub fn add_ratio(&mut self, name: &str, unit: &'static str, value: f64, base: f64, bound: f64) {
        let row = Row {
            name: name.into(),
            unit,
            auditkit: value,
            raw: Some(base),
            target: Some((">=", bound)),
            ratio_override: None,
        };
        eprintln!("  {}", fmt_row(&row));
        self.rows.push(row);
    }

    /// Prints the table and the notes, and writes the JSON summary to `out`.
    pub fn finish(&self, n: u64, durable_n: usize, queries: usize, out: &Path) {
        let mut table = String::new();
        writeln!(
            table,
            "| measurement | unit | auditkit | raw | ratio | target | met |\n|---|---|---:|---:|---:|---|---|"
        )
        .unwrap();
        for r in &self.rows {
            writeln!(table, "{}", fmt_row(r)).unwrap();
        }
        println!("\n{table}");
        for note in &self.notes {
            println!("- {note}");
        }
        let summary = json!({
            "events": n,
            "durable_events": durable_n,
            "queries_per_kind": queries,
            "rows": self.rows.iter().map(|r| json!({
                "name": r.name,
                "unit": r.unit,
                "auditkit": r.auditkit,
                "raw": r.raw,
                "ratio": r.ratio(),
                "target": r.target.map(|(op, b)| format!("{op} {b}")),
                "met": r.met(),
            })).collect::<Vec<_>>(),
            "notes": self.notes,
        });
        std::fs::write(out, serde_json::to_string_pretty(&summary).unwrap()).expect("write json");
        println!("\nJSON summary: {}", out.display());
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_row(r: &Row) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        r.name,
        r.unit,
        num(r.auditkit),
        r.raw.map(num).unwrap_or_else(|| "—".into()),
        r.ratio()
            .map(|x| format!("{x:.2}"))
            .unwrap_or_else(|| "—".into()),
        r.target
            .map(|(op, b)| format!("{op} {b}"))
            .unwrap_or_else(|| "—".into()),
        match r.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        }
    )
}
