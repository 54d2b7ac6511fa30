//! Nagios plugin output, as monitoring-plugins print it:
//! `MSSANTE-DIAG STATUS - summary | perfdata`, then one long-output line per non-ok check.
//!
//! Perfdata items are `label=value[UOM];warn;crit;min;max` (monitoring-plugins' `fperfdata`):
//! the label is quoted only when it holds a space or a quote (a quote doubled inside), never
//! holds `=` or `|`; UOM is one of `s ms us % B KB MB TB c` (other units are converted: days
//! and hours to `s`, GiB to `B`; units with no Nagios equivalent print none); a threshold
//! where lower is worse (days left, free ports) is the range `N:`; trailing empty fields are
//! dropped; a value that is not a finite number prints no perfdata at all.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::measure::{quantity, Quantity};
use crate::lang::Lang;
use crate::model::{CheckResult, Metric, Report, Status};

/// The plugin protocol's status keyword of a status (OK for skipped: nothing to alert on).
#[must_use]
pub fn keyword(status: Status) -> &'static str {
    match status {
        Status::Ok | Status::Skipped => "OK",
        Status::Warning => "WARNING",
        Status::Critical => "CRITICAL",
        Status::Unknown => "UNKNOWN",
    }
}

/// One line of plugin text: no line break, no `|` (it starts the perfdata).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '|' {
                '/'
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// A number as monitoring-plugins print it: plain decimal, no exponent.
fn number(v: f64) -> String {
    // Rust's Display of f64 never uses an exponent; -0 reads 0.
    if v == 0.0 {
        "0".to_owned()
    } else {
        format!("{v}")
    }
}

/// The UOM and factor a unit prints with: Nagios' own units stay, others convert to one.
fn nagios_unit(unit: &str) -> (&'static str, f64) {
    match unit {
        "s" => ("s", 1.0),
        "ms" => ("ms", 1.0),
        "us" => ("us", 1.0),
        "%" => ("%", 1.0),
        "B" => ("B", 1.0),
        "KB" => ("KB", 1.0),
        "MB" => ("MB", 1.0),
        "TB" => ("TB", 1.0),
        "c" => ("c", 1.0),
        // A key size or an entropy reads best as it is, with no UOM.
        "bit" | "bits" => ("", 1.0),
        other => match quantity(other) {
            (Quantity::Time, f) => ("s", f),
            (Quantity::Size, f) => ("B", f),
            (Quantity::Percent, _) => ("%", 1.0),
            (Quantity::Other, _) => ("", 1.0),
        },
    }
}

/// The perfdata label of a metric: `check.metric[label value]...`, quoted when needed.
fn label(check: &CheckResult, m: &Metric) -> String {
    let mut text = format!("{}.{}", check.id, m.name);
    for v in m.labels.values() {
        let _ = write!(text, "[{v}]");
    }
    let text: String = one_line(&text)
        .chars()
        .map(|c| if c == '=' { '_' } else { c })
        .collect();
    if text.contains(' ') || text.contains('\'') {
        format!("'{}'", text.replace('\'', "''"))
    } else {
        text
    }
}

/// One perfdata item, or `None` for a value that is not a finite number.
fn perfdata(label: &str, m: &Metric) -> Option<String> {
    if !m.value.is_finite() {
        return None;
    }
    let (uom, factor) = nagios_unit(&m.unit);
    let scaled = |v: Option<f64>| v.map(|x| x * factor).filter(|x| x.is_finite());
    let (warn, crit) = (scaled(m.warn), scaled(m.crit));
    // Lower is worse when the warning threshold is above the critical one: the range `N:`
    // ("alert below N"); else a plain number ("alert above N").
    let lower_is_worse = matches!((warn, crit), (Some(w), Some(c)) if w > c);
    let range = |v: Option<f64>| {
        v.map(|x| {
            if lower_is_worse {
                format!("{}:", number(x))
            } else {
                number(x)
            }
        })
        .unwrap_or_default()
    };
    let fields = [
        format!("{}{uom}", number(m.value * factor)),
        range(warn),
        range(crit),
        scaled(m.min).map(number).unwrap_or_default(),
        scaled(m.max).map(number).unwrap_or_default(),
    ];
    let used = fields.iter().rposition(|f| !f.is_empty()).unwrap_or(0) + 1;
    Some(format!("{label}={}", fields[..used].join(";")))
}

/// The status keywords (OK, WARNING, CRITICAL, UNKNOWN) are the plugin protocol's and stay in
/// English; every other word follows `lang`.
pub(super) fn render(report: &Report, lang: Lang) -> String {
    let mut bad: Vec<_> = report
        .checks
        .iter()
        .filter(|c| {
            matches!(
                c.status,
                Status::Warning | Status::Critical | Status::Unknown
            )
        })
        .collect();
    // The worst first: what a status line cut short by the monitoring system must still say.
    bad.sort_by_key(|c| std::cmp::Reverse(c.status.severity()));
    let headline = if bad.is_empty() {
        let ok = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Ok)
            .count();
        let skipped = report.checks.len() - ok;
        if skipped == 0 {
            crate::tr!(lang, "{ok} checks ok", "{ok} vérifications correctes")
        } else {
            crate::tr!(
                lang,
                "{ok} checks ok, {skipped} skipped",
                "{ok} vérifications correctes, {skipped} ignorées"
            )
        }
    } else {
        bad.iter()
            .map(|c| format!("{}: {}", c.id, c.summary))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut labels = HashSet::new();
    let mut perf = Vec::new();
    for c in &report.checks {
        for m in &c.metrics {
            let mut l = label(c, m);
            // Two metrics must never share a label (graphs would merge them).
            let mut n = 2;
            while !labels.insert(l.clone()) {
                l = format!("{}_{n}", l.trim_end_matches('\''));
                if l.starts_with('\'') {
                    l.push('\'');
                }
                n += 1;
            }
            perf.extend(perfdata(&l, m));
        }
    }
    let mut out = format!(
        "MSSANTE-DIAG {} - {}",
        keyword(report.status),
        one_line(&headline)
    );
    if !perf.is_empty() {
        out.push_str(" | ");
        out.push_str(&perf.join(" "));
    }
    out.push('\n');
    for c in &bad {
        let guide = c
            .remediation
            .first()
            .map(|r| format!(" (guide: {})", r.guide))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "[{}] {}: {}{}",
            keyword(c.status),
            c.id,
            one_line(&c.summary),
            one_line(&guide)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(metrics: Vec<Metric>) -> CheckResult {
        CheckResult {
            id: "tls.cert".into(),
            subsystem: "tls".into(),
            status: Status::Ok,
            summary: "ok".into(),
            details: serde_json::Value::Null,
            metrics,
            remediation: vec![],
            duration_ms: 1,
        }
    }

    #[test]
    fn perfdata_follows_monitoring_plugins() {
        let c = check(vec![]);
        let m = Metric::new("days_left", 40.0, "d").thresholds(30.0, 7.0);
        assert_eq!(
            perfdata(&label(&c, &m), &m).as_deref(),
            Some("tls.cert.days_left=3456000s;2592000:;604800:")
        );
        let m = Metric::new("latency", 1.5, "ms")
            .thresholds(100.0, 500.0)
            .range(0.0, 5000.0);
        assert_eq!(
            perfdata(&label(&c, &m), &m).as_deref(),
            Some("tls.cert.latency=1.5ms;100;500;0;5000")
        );
        let m = Metric::new("size", 2.0, "GiB").label("path", "/data dir");
        assert_eq!(
            perfdata(&label(&c, &m), &m).as_deref(),
            Some("'tls.cert.size[/data dir]'=2147483648B")
        );
        let m = Metric::new("n", 3.0, "chars").label("k", "it's=|");
        assert_eq!(
            perfdata(&label(&c, &m), &m).as_deref(),
            Some("'tls.cert.n[it''s_/]'=3")
        );
        let m = Metric::new("n", f64::NAN, "");
        assert_eq!(perfdata(&label(&c, &m), &m), None);
    }
}
