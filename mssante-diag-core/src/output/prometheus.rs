//! Prometheus text exposition format (0.0.4), for node_exporter's textfile collector and
//! `mssante-diag serve`'s `/metrics`.
//!
//! Naming follows Prometheus' rules (what `promtool check metrics` lints): every family has
//! HELP and TYPE, names are `snake_case` under `mssante_diag_`, values are in base units
//! (seconds, bytes, ratio) with the unit as the name's suffix, only counters end in `_total`.
//! Families:
//! - `mssante_diag_check_status{check,subsystem}`: 0 ok, 1 warning, 2 critical, 3 unknown,
//!   -1 skipped (the plugin exit code);
//! - `mssante_diag_check_state{check,subsystem,status}`: 1 for the check's status, 0 for the others;
//! - `mssante_diag_check_duration_seconds{check,subsystem}`;
//! - `mssante_diag_check_info{check,subsystem,guide}` (1): the guide section alerts cite;
//! - one family per metric of a check: `mssante_diag_<subsystem>_<check>_<metric>_<unit>`
//!   with `check`, `subsystem` and the metric's own labels;
//! - `mssante_diag_status`, `mssante_diag_run_duration_seconds`,
//!   `mssante_diag_run_timestamp_seconds` and `mssante_diag_info{version,host}` for the run.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::measure::{quantity, Quantity, UNIT_WORDS};
use crate::model::{CheckResult, Metric, Report, Status};

/// Every status, in the order the one-hot `mssante_diag_check_state` lists them.
const STATES: [Status; 5] = [
    Status::Ok,
    Status::Warning,
    Status::Critical,
    Status::Unknown,
    Status::Skipped,
];

/// Label values of a sample, in order.
pub(crate) type Labels = Vec<(String, String)>;

/// One metric family: name, HELP, TYPE and its samples.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    /// Metric name.
    pub name: String,
    /// HELP text (escaped when written).
    pub help: String,
    /// `gauge` or `counter`.
    pub kind: &'static str,
    /// Label sets and values.
    pub samples: Vec<(Labels, f64)>,
}

impl Family {
    /// A family with no samples yet.
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: &'static str) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            kind,
            samples: Vec::new(),
        }
    }
}

/// A label value escaped for the exposition format.
fn escape_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text escaped for the exposition format.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: Go's float syntax (`NaN`, `+Inf`, `-Inf`).
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v == 0.0 {
        "0".to_owned()
    } else {
        format!("{v}")
    }
}

/// `snake_case` words of a name: lower case ASCII letters, digits, single underscores.
fn words(name: &str) -> Vec<String> {
    let mut out = String::with_capacity(name.len());
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        });
    }
    out.split('_')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`, never `__`-prefixed (reserved), never one of ours.
fn label_name(key: &str) -> String {
    let name = words(key).join("_");
    if name.is_empty()
        || name.starts_with(|c: char| c.is_ascii_digit())
        || matches!(name.as_str(), "check" | "subsystem" | "status")
    {
        format!("metric_{name}")
    } else {
        name
    }
}

/// The unit a name's last word stands for (`ms`, `bits`, `percent`), or none.
fn unit_of_word(word: &str) -> &'static str {
    match word {
        "ms" | "milliseconds" => "ms",
        "us" | "microseconds" => "us",
        "s" | "sec" | "secs" | "seconds" => "s",
        "minutes" => "min",
        "hours" => "h",
        "days" => "d",
        "bytes" => "B",
        "bits" => "bits",
        "pct" | "percent" => "%",
        _ => "",
    }
}

/// The family name of a check's metric and the factor to its base unit.
fn metric_family(check: &CheckResult, m: &Metric) -> (String, f64, String) {
    let mut name: Vec<String> = words(&m.name);
    // A metric with no unit whose name ends in one (`key_bits`, `wait_ms`) is in that unit.
    let unit = if m.unit.is_empty() {
        name.last().map_or("", |w| unit_of_word(w))
    } else {
        m.unit.as_str()
    };
    let (q, factor) = quantity(unit);
    let suffix = match q {
        Quantity::Time => "seconds".to_owned(),
        Quantity::Size => "bytes".to_owned(),
        Quantity::Percent => "ratio".to_owned(),
        Quantity::Other => words(unit).join("_"),
    };
    if q != Quantity::Other {
        name.retain(|w| !UNIT_WORDS.contains(&w.as_str()));
    }
    if !suffix.is_empty() && name.last() != Some(&suffix) {
        name.push(suffix);
    }
    let mut full = vec!["mssante_diag".to_owned()];
    full.extend(words(&check.id));
    full.extend(name);
    let mut full = full.join("_");
    // Reserved suffixes: `_total` is for counters, `_count`/`_sum`/`_bucket` for histograms.
    if ["_total", "_count", "_sum", "_bucket", "_created"]
        .iter()
        .any(|s| full.ends_with(s))
    {
        full.push_str("_value");
    }
    let unit_note = match q {
        Quantity::Other if unit.is_empty() => String::new(),
        Quantity::Other => format!(" ({unit})"),
        _ if (factor - 1.0).abs() < f64::EPSILON => String::new(),
        _ => format!(" (measured in {unit})"),
    };
    (full, factor, unit_note)
}

/// The families of a report, in a stable order.
pub(crate) fn families(report: &Report) -> Vec<Family> {
    let base = |c: &CheckResult| {
        vec![
            ("check".to_owned(), c.id.clone()),
            ("subsystem".to_owned(), c.subsystem.clone()),
        ]
    };
    let mut status = Family::new(
        "mssante_diag_check_status",
        "Status of each check: 0 ok, 1 warning, 2 critical, 3 unknown, -1 skipped.",
        "gauge",
    );
    let mut state = Family::new(
        "mssante_diag_check_state",
        "1 for the check's current status, 0 for the others.",
        "gauge",
    );
    let mut duration = Family::new(
        "mssante_diag_check_duration_seconds",
        "Wall time each check took, in seconds.",
        "gauge",
    );
    let mut info = Family::new(
        "mssante_diag_check_info",
        "The guide section of each check (value 1): alerting rules join it to cite the remedy.",
        "gauge",
    );
    let mut metrics: Vec<Family> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut seen: HashSet<(String, Labels)> = HashSet::new();
    for c in &report.checks {
        let v = if c.status == Status::Skipped {
            -1.0
        } else {
            f64::from(c.status.exit_code())
        };
        status.samples.push((base(c), v));
        for s in STATES {
            let mut labels = base(c);
            labels.push(("status".to_owned(), s.as_str().to_owned()));
            state
                .samples
                .push((labels, if s == c.status { 1.0 } else { 0.0 }));
        }
        if let Ok(def) = crate::checks::find(&c.id) {
            let mut labels = base(c);
            labels.push(("guide".to_owned(), def.guide.to_owned()));
            info.samples.push((labels, 1.0));
        }
        #[allow(clippy::cast_precision_loss)]
        duration
            .samples
            .push((base(c), c.duration_ms as f64 / 1000.0));
        for m in &c.metrics {
            let (name, factor, note) = metric_family(c, m);
            let mut labels = base(c);
            labels.extend(m.labels.iter().map(|(k, v)| (label_name(k), v.clone())));
            // A series appears once: a later duplicate would make the whole scrape fail.
            if !seen.insert((name.clone(), labels.clone())) {
                continue;
            }
            let i = *index.entry(name.clone()).or_insert_with(|| {
                metrics.push(Family::new(
                    name.clone(),
                    format!("Metric `{}` of check {}{note}.", m.name, c.id),
                    "gauge",
                ));
                metrics.len() - 1
            });
            metrics[i].samples.push((labels, m.value * factor));
        }
    }
    let mut out = vec![status, state, duration, info];
    out.extend(metrics);
    let mut overall = Family::new(
        "mssante_diag_status",
        "Overall status of the run (worst check): 0 ok, 1 warning, 2 critical, 3 unknown.",
        "gauge",
    );
    overall
        .samples
        .push((vec![], f64::from(report.status.exit_code())));
    let mut run = Family::new(
        "mssante_diag_run_duration_seconds",
        "Wall time of the whole run, in seconds.",
        "gauge",
    );
    #[allow(clippy::cast_precision_loss)]
    run.samples
        .push((vec![], report.duration_ms as f64 / 1000.0));
    out.push(overall);
    out.push(run);
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&report.started_at) {
        let mut ts = Family::new(
            "mssante_diag_run_timestamp_seconds",
            "Start of the run, seconds since the Unix epoch.",
            "gauge",
        );
        #[allow(clippy::cast_precision_loss)]
        ts.samples
            .push((vec![], t.timestamp_millis() as f64 / 1000.0));
        out.push(ts);
    }
    let mut build = Family::new(
        "mssante_diag_info",
        "Version of mssante-diag and host it ran on (value 1).",
        "gauge",
    );
    build.samples.push((
        vec![
            ("version".to_owned(), report.version.clone()),
            ("host".to_owned(), report.host.clone()),
        ],
        1.0,
    ));
    out.push(build);
    out
}

/// Writes families in the text exposition format.
pub(crate) fn write(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help));
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, v) in &f.samples {
            out.push_str(&f.name);
            if !labels.is_empty() {
                let body: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_value(v)))
                    .collect();
                let _ = write!(out, "{{{}}}", body.join(","));
            }
            let _ = writeln!(out, " {}", value(*v));
        }
    }
    out
}

pub(super) fn render(report: &Report) -> String {
    write(&families(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str) -> CheckResult {
        CheckResult {
            id: id.into(),
            subsystem: id.split('.').next().unwrap_or_default().into(),
            status: Status::Ok,
            summary: String::new(),
            details: serde_json::Value::Null,
            metrics: vec![],
            remediation: vec![],
            duration_ms: 1,
        }
    }

    #[test]
    fn names_use_base_units_and_no_reserved_suffix() {
        let c = check("tls.cert");
        assert_eq!(
            metric_family(&c, &Metric::new("days_left", 1.0, "d")).0,
            "mssante_diag_tls_cert_left_seconds"
        );
        assert_eq!(
            metric_family(&c, &Metric::new("latency", 1.0, "ms")).0,
            "mssante_diag_tls_cert_latency_seconds"
        );
        assert_eq!(
            metric_family(&c, &Metric::new("data_bytes", 1.0, "B")).0,
            "mssante_diag_tls_cert_data_bytes"
        );
        assert_eq!(
            metric_family(&c, &Metric::new("memoryUsedPercent", 1.0, "%")).0,
            "mssante_diag_tls_cert_memory_used_ratio"
        );
        assert_eq!(
            metric_family(&c, &Metric::new("queue_total", 1.0, "")).0,
            "mssante_diag_tls_cert_queue_total_value"
        );
        assert_eq!(
            metric_family(&c, &Metric::new("key_bits", 2048.0, "bits")),
            (
                "mssante_diag_tls_cert_key_bytes".to_owned(),
                0.125,
                " (measured in bits)".to_owned()
            )
        );
        assert_eq!(
            metric_family(&c, &Metric::new("wait_ms", 1500.0, "")).0,
            "mssante_diag_tls_cert_wait_seconds"
        );
        assert_eq!(
            metric_family(&c, &Metric::new("length", 1.0, "chars")).0,
            "mssante_diag_tls_cert_length_chars"
        );
        assert_eq!(label_name("check"), "metric_check");
        assert_eq!(label_name("__x"), "x");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(escape_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
