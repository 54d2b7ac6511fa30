//! Nagios plugin output: `MSSANTE-DIAG STATUS - summary | perfdata`, then one line per non-ok check.

use std::fmt::Write as _;

use crate::lang::Lang;
use crate::model::{Report, Status};

fn perf_value(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

fn unit(u: &str) -> &str {
    // Nagios units: s, ms, us, %, B, KB, MB, TB, c; others are dropped.
    match u {
        "s" | "ms" | "us" | "%" | "B" | "KB" | "MB" | "GB" | "TB" | "c" => u,
        _ => "",
    }
}

/// The status keywords (OK, WARNING, CRITICAL, UNKNOWN) are the plugin protocol's and stay in
/// English; every other word follows `lang`.
pub(super) fn render(report: &Report, lang: Lang) -> String {
    let mut bad: Vec<_> = report.checks.iter().filter(|c| matches!(c.status, Status::Warning | Status::Critical | Status::Unknown)).collect();
    // The worst first: what a status line cut short by the monitoring system must still say.
    bad.sort_by_key(|c| std::cmp::Reverse(c.status.severity()));
    let word = match report.status {
        Status::Ok | Status::Skipped => "OK",
        Status::Warning => "WARNING",
        Status::Critical => "CRITICAL",
        Status::Unknown => "UNKNOWN",
    };
    let headline = if bad.is_empty() {
        let n = report.checks.len();
        crate::tr!(lang, "{n} checks ok", "{n} vérifications correctes")
    } else {
        bad.iter().map(|c| format!("{}: {}", c.id, c.summary)).collect::<Vec<_>>().join("; ")
    };
    let mut perf = Vec::new();
    for c in &report.checks {
        for m in &c.metrics {
            let mut label = format!("{}.{}", c.id, m.name);
            for v in m.labels.values() {
                let _ = write!(label, "[{v}]");
            }
            perf.push(format!(
                "'{}'={}{};{};{};{};{}",
                label.replace('\'', ""),
                m.value,
                unit(&m.unit),
                perf_value(m.warn),
                perf_value(m.crit),
                perf_value(m.min),
                perf_value(m.max)
            ));
        }
    }
    let mut out = format!("MSSANTE-DIAG {word} - {}", headline.replace('|', "/"));
    if !perf.is_empty() {
        out.push_str(" | ");
        out.push_str(&perf.join(" "));
    }
    out.push('\n');
    for c in &bad {
        let _ = writeln!(out, "[{}] {}: {}", c.status.as_str().to_uppercase(), c.id, c.summary.replace('|', "/"));
    }
    out
}
