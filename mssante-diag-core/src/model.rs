//! The report model: what every check returns and what every output prints.
//!
//! These types are the public contract shared by Rust callers, the CLI, and the
//! Python and Node bindings (which receive the same JSON).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Outcome of a check, ordered from best to worst for [`Status::worst`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not applicable or not configured; the summary says why.
    Skipped,
    /// Healthy.
    Ok,
    /// Degraded or about to fail; act soon.
    Warning,
    /// Broken; act now.
    Critical,
    /// The check could not decide (no answer in time, permission missing, ...).
    Unknown,
}

impl Status {
    /// Severity rank used to compute the overall status: skipped < ok < warning < unknown < critical.
    #[must_use]
    pub fn severity(self) -> u8 {
        match self {
            Status::Skipped => 0,
            Status::Ok => 1,
            Status::Warning => 2,
            Status::Unknown => 3,
            Status::Critical => 4,
        }
    }

    /// The worse of two statuses.
    #[must_use]
    pub fn worst(self, other: Status) -> Status {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// Process exit code, monitoring-plugins convention: 0 ok, 1 warning, 2 critical, 3 unknown.
    #[must_use]
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok | Status::Skipped => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// Lower-case name, as in the JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Skipped => "skipped",
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A measured value with the thresholds it was judged against
/// (enough for Nagios perfdata and Prometheus).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metric {
    /// Metric name, `snake_case`, unique within its check (e.g. `latency`).
    pub name: String,
    /// Measured value.
    pub value: f64,
    /// Unit: `s`, `ms`, `B`, `%`, or empty for a plain count.
    #[serde(default)]
    pub unit: String,
    /// Warning threshold, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<f64>,
    /// Critical threshold, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<f64>,
    /// Smallest possible value, if bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest possible value, if bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// What the value is about when a check measures several things (e.g. `path`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Metric {
    /// A metric with a value and unit and no thresholds.
    #[must_use]
    pub fn new(name: impl Into<String>, value: f64, unit: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
            warn: None,
            crit: None,
            min: None,
            max: None,
            labels: std::collections::BTreeMap::new(),
        }
    }

    /// Sets the warning and critical thresholds; an infinite one means "none" (JSON has no
    /// infinity: it would read back as `null`).
    #[must_use]
    pub fn thresholds(mut self, warn: f64, crit: f64) -> Self {
        self.warn = warn.is_finite().then_some(warn);
        self.crit = crit.is_finite().then_some(crit);
        self
    }

    /// Adds a label.
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Sets the value range.
    #[must_use]
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
}

/// One step of a remedy, taken from the troubleshooting guide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Remedy {
    /// What to do, in the report's language.
    pub text: String,
    /// The command to run, if the step is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The guide section this step comes from, e.g. `Démarrage P2`.
    pub guide: String,
    /// True when the step deletes data or interrupts service: read twice before running it.
    #[serde(default)]
    pub destructive: bool,
}

impl Remedy {
    /// The step with every `{section.name}` it cites replaced by the effective configuration.
    #[must_use]
    pub fn render(mut self, vars: &crate::config::Vars) -> Self {
        self.text = vars.render(&self.text);
        self.command = self.command.map(|c| vars.render(&c));
        self
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// Stable identifier, `subsystem.name` (see the catalogue).
    pub id: String,
    /// Subsystem the check belongs to (`postgres`, `smtp`, ...).
    pub subsystem: String,
    /// Outcome.
    pub status: Status,
    /// One line saying what was found.
    pub summary: String,
    /// Structured facts gathered by the check (shape depends on the check).
    #[serde(default)]
    pub details: serde_json::Value,
    /// Measured values with thresholds.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// What to do about a non-ok status, step by step.
    #[serde(default)]
    pub remediation: Vec<Remedy>,
    /// Wall time the check took, in milliseconds.
    pub duration_ms: u64,
}

/// A whole run: every selected check, in catalogue order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Version of the report format (bumped on breaking changes).
    pub schema_version: u32,
    /// Version of mssante-diag that produced it.
    pub version: String,
    /// Host name of the machine that ran the checks.
    pub host: String,
    /// Start of the run, RFC 3339.
    pub started_at: String,
    /// Wall time of the whole run, in milliseconds.
    pub duration_ms: u64,
    /// Worst status among the checks (`ok` when every check is ok or skipped).
    pub status: Status,
    /// Results, in catalogue order.
    pub checks: Vec<CheckResult>,
    /// What the user should know before reading the results (e.g. the project folder looks
    /// empty), in the report's language. Human output prints them first.
    #[serde(default)]
    pub notices: Vec<Notice>,
}

/// A remark about the whole run rather than one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notice {
    /// Stable identifier, e.g. `project.empty`.
    pub id: String,
    /// What it means and what to do, in the report's language.
    pub message: String,
}

/// Current value of [`Report::schema_version`].
pub const SCHEMA_VERSION: u32 = 1;

impl Report {
    /// Overall status of a list of results: the worst of them, `ok` for none.
    #[must_use]
    pub fn overall(checks: &[CheckResult]) -> Status {
        checks.iter().fold(Status::Ok, |acc, c| acc.worst(c.status))
    }

    /// The result of check `id`, if it ran.
    #[must_use]
    pub fn check(&self, id: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The report as pretty JSON (the stable document every binding returns).
    ///
    /// # Panics
    /// Never: the model only holds JSON-compatible values.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// JSON Schema of the report document, as serialised (fields always present are required).
    #[must_use]
    pub fn json_schema() -> serde_json::Value {
        let schema = schemars::generate::SchemaSettings::default()
            .for_serialize()
            .into_generator()
            .into_root_schema_for::<Report>();
        serde_json::to_value(schema).expect("schema serialises")
    }
}
