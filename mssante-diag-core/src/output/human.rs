//! Human output: checks grouped by subsystem, one line each, remedies under the non-ok ones.

use std::fmt::Write as _;

use super::Style;
use crate::model::{Report, Status};

fn paint(style: Style, status: Status, text: &str) -> String {
    if !style.color {
        return text.to_owned();
    }
    let code = match status {
        Status::Ok => "32",
        Status::Warning => "33",
        Status::Critical => "31",
        Status::Unknown => "35",
        Status::Skipped => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The status word in a fixed-width column.
fn label(style: Style, status: Status) -> String {
    let word = super::status_word(style.lang, status).to_uppercase();
    paint(style, status, &format!("{word:<8}"))
}

pub(super) fn render(report: &Report, style: Style) -> String {
    let lang = style.lang;
    let mut out = String::new();
    let mut current = "";
    for c in &report.checks {
        if c.subsystem != current {
            current = &c.subsystem;
            let _ = writeln!(out, "\n{current}");
        }
        let _ = writeln!(out, "  {} {:<22} {}", label(style, c.status), c.id, c.summary);
        if matches!(c.status, Status::Warning | Status::Critical | Status::Unknown) {
            for r in &c.remediation {
                let warn = if r.destructive { lang.pick(" [DESTRUCTIVE]", " [DESTRUCTIF]") } else { "" };
                let _ = write!(out, "           -> {}{warn} ({})", r.text, r.guide);
                if let Some(cmd) = &r.command {
                    let _ = write!(out, "\n              $ {cmd}");
                }
                out.push('\n');
            }
        }
    }
    let counts = [Status::Ok, Status::Warning, Status::Critical, Status::Unknown, Status::Skipped]
        .map(|s| (s, report.checks.iter().filter(|c| c.status == s).count()));
    let summary: Vec<String> = counts.iter().filter(|(_, n)| *n > 0).map(|(s, n)| format!("{n} {}", super::status_word(lang, *s))).collect();
    let _ = writeln!(
        out,
        "\n{}: {} ({}, {} ms)",
        lang.pick("Overall", "Bilan"),
        label(style, report.status).trim_end(),
        summary.join(", "),
        report.duration_ms
    );
    out
}
