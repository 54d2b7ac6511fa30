//! Output formats. They live in core so the CLI and the bindings print the same thing.

mod human;
mod measure;
mod nagios;
pub(crate) mod prometheus;

use crate::lang::Lang;
use crate::model::{Report, Status};

/// How to print a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Grouped by subsystem, for a person.
    #[default]
    Human,
    /// The stable JSON document.
    Json,
    /// One status line plus perfdata, as monitoring-plugins print it.
    Nagios,
    /// Text exposition format (node_exporter's textfile collector).
    Prometheus,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(Format::Human),
            "json" => Ok(Format::Json),
            "nagios" => Ok(Format::Nagios),
            "prometheus" => Ok(Format::Prometheus),
            other => Err(format!(
                "unknown format `{other}` (human, json, nagios, prometheus)"
            )),
        }
    }
}

/// Options of the human format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colours.
    pub color: bool,
    /// Language of headings.
    pub lang: Lang,
}

/// When the human format uses colours (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (non-empty) or `TERM=dumb`.
    #[default]
    Auto,
    /// Always (even through a pipe, and whatever `NO_COLOR` says).
    Always,
    /// Never.
    Never,
}

impl std::str::FromStr for ColorChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(ColorChoice::Auto),
            "always" => Ok(ColorChoice::Always),
            "never" => Ok(ColorChoice::Never),
            other => Err(format!(
                "unknown colour choice `{other}` (auto, always, never)"
            )),
        }
    }
}

impl ColorChoice {
    /// Whether to colour output going to a terminal (`terminal`) or not.
    #[must_use]
    pub fn enabled(self, terminal: bool) -> bool {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && !set("NO_COLOR") && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }
}

/// Renders what changed since the previous run (`--changes`): the human format lists the
/// changes, JSON gives the [`crate::changes::Changes`] document, Nagios and Prometheus print
/// the current report cut down to the changed checks.
#[must_use]
pub fn render_changes(
    changes: &crate::changes::Changes,
    current: &Report,
    format: Format,
    style: Style,
) -> String {
    match format {
        Format::Human => human::render_changes(changes, style),
        Format::Json => serde_json::to_string_pretty(changes).unwrap_or_default() + "\n",
        other => render(&changes.report(current), other, style),
    }
}

/// A status as a word of the language (`critical`, `critique`).
#[must_use]
pub fn status_word(lang: Lang, status: Status) -> &'static str {
    match (lang, status) {
        (Lang::En, s) => s.as_str(),
        (Lang::Fr, Status::Ok) => "ok",
        (Lang::Fr, Status::Warning) => "alerte",
        (Lang::Fr, Status::Critical) => "critique",
        (Lang::Fr, Status::Unknown) => "inconnu",
        (Lang::Fr, Status::Skipped) => "ignoré",
    }
}

/// Renders a report in a format.
#[must_use]
pub fn render(report: &Report, format: Format, style: Style) -> String {
    match format {
        Format::Human => human::render(report, style),
        Format::Json => {
            let mut s = report.to_json();
            s.push('\n');
            s
        }
        Format::Nagios => nagios::render(report, style.lang),
        Format::Prometheus => prometheus::render(report),
    }
}
