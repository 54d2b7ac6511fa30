//! Prometheus text exposition format, for node_exporter's textfile collector.

use std::fmt::Write as _;

use crate::model::{Report, Status};

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

fn unit_suffix(unit: &str) -> &'static str {
    match unit {
        "ms" => "_milliseconds",
        "s" => "_seconds",
        "B" => "_bytes",
        "%" => "_percent",
        _ => "",
    }
}

pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    out.push_str("# HELP mssante_diag_check_status Check status: 0 ok, 1 warning, 2 critical, 3 unknown, -1 skipped.\n");
    out.push_str("# TYPE mssante_diag_check_status gauge\n");
    for c in &report.checks {
        let v = if c.status == Status::Skipped { -1 } else { c.status.exit_code() };
        let _ = writeln!(out, "mssante_diag_check_status{{id=\"{}\",subsystem=\"{}\"}} {v}", escape(&c.id), escape(&c.subsystem));
    }
    out.push_str("# HELP mssante_diag_check_duration_seconds Wall time of each check.\n");
    out.push_str("# TYPE mssante_diag_check_duration_seconds gauge\n");
    for c in &report.checks {
        #[allow(clippy::cast_precision_loss)]
        let secs = c.duration_ms as f64 / 1000.0;
        let _ = writeln!(out, "mssante_diag_check_duration_seconds{{id=\"{}\"}} {secs}", escape(&c.id));
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &report.checks {
        for m in &c.metrics {
            let name = format!("mssante_diag_{}_{}{}", sanitize(&c.id), sanitize(&m.name), unit_suffix(&m.unit));
            if seen.insert(name.clone()) {
                let _ = writeln!(out, "# TYPE {name} gauge");
            }
            let mut labels = vec![format!("id=\"{}\"", escape(&c.id))];
            labels.extend(m.labels.iter().map(|(k, v)| format!("{}=\"{}\"", sanitize(k), escape(v))));
            let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), m.value);
        }
    }
    let _ = writeln!(out, "# TYPE mssante_diag_status gauge\nmssante_diag_status {}", report.status.exit_code());
    out
}
