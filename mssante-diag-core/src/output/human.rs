//! Human output: checks grouped by subsystem, the worst group first and the worst check first
//! within it, one line per check; under each non-ok check its guide section, its main details
//! and its remedy. Colours only when [`Style::color`] says so.

use std::fmt::Write as _;

use super::Style;
use crate::changes::{ChangeKind, Changes};
use crate::lang::Lang;
use crate::model::{CheckResult, Report, Status};

/// Details shown under a non-ok check: at most this many facts, each cut at [`DETAIL_CHARS`].
const DETAIL_FACTS: usize = 6;
const DETAIL_CHARS: usize = 160;

fn paint(style: Style, status: Status, text: &str) -> String {
    if !style.color {
        return text.to_owned();
    }
    let code = match status {
        Status::Ok => "32",
        Status::Warning => "33",
        Status::Critical => "1;31",
        Status::Unknown => "35",
        Status::Skipped => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn bold(style: Style, text: &str) -> String {
    if style.color {
        format!("\x1b[1m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// The status word in a fixed-width column.
fn label(style: Style, status: Status) -> String {
    let word = super::status_word(style.lang, status).to_uppercase();
    paint(style, status, &format!("{word:<8}"))
}

fn is_problem(s: Status) -> bool {
    matches!(s, Status::Warning | Status::Critical | Status::Unknown)
}

/// A JSON value on one line, cut at [`DETAIL_CHARS`].
fn compact(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > DETAIL_CHARS {
        let cut: String = s.chars().take(DETAIL_CHARS).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// The main facts of a check's details, `key: value`, one per line.
fn details(c: &CheckResult) -> Vec<String> {
    match &c.details {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(_, v)| {
                !matches!(v, serde_json::Value::Null) && v.as_array().is_none_or(|a| !a.is_empty())
            })
            .take(DETAIL_FACTS)
            .map(|(k, v)| format!("{k}: {}", compact(v)))
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![compact(other)],
    }
}

/// One check: its line, then for a problem its guide section, details and remedy.
fn check(out: &mut String, c: &CheckResult, style: Style, prefix: &str) {
    let lang = style.lang;
    let _ = writeln!(
        out,
        "  {prefix}{} {:<22} {}",
        label(style, c.status),
        c.id,
        c.summary
    );
    if !is_problem(c.status) {
        return;
    }
    let pad = " ".repeat(11 + prefix.chars().count());
    if let Ok(def) = crate::find(&c.id) {
        let _ = writeln!(out, "{pad}{}: {}", lang.pick("guide", "guide"), def.guide);
    }
    for d in details(c) {
        let _ = writeln!(out, "{pad}· {d}");
    }
    for r in &c.remediation {
        let warn = if r.destructive {
            lang.pick(" [DESTRUCTIVE]", " [DESTRUCTIF]")
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{pad}-> {}{} ({})",
            r.text,
            paint(style, Status::Critical, warn),
            r.guide
        );
        if let Some(cmd) = &r.command {
            let _ = writeln!(out, "{pad}   $ {cmd}");
        }
    }
}

/// Checks grouped by subsystem: groups by their worst check (worst first, then report order),
/// checks within a group worst first.
fn grouped(checks: &[CheckResult]) -> Vec<(&str, Vec<&CheckResult>)> {
    let mut groups: Vec<(&str, Vec<&CheckResult>)> = Vec::new();
    for c in checks {
        match groups.iter_mut().find(|(s, _)| *s == c.subsystem) {
            Some((_, list)) => list.push(c),
            None => groups.push((&c.subsystem, vec![c])),
        }
    }
    for (_, list) in &mut groups {
        list.sort_by_key(|c| std::cmp::Reverse(c.status.severity()));
    }
    groups.sort_by_key(|(_, list)| {
        std::cmp::Reverse(list.first().map_or(0, |c| c.status.severity()))
    });
    groups
}

fn counts(lang: Lang, checks: &[&CheckResult]) -> String {
    [
        Status::Critical,
        Status::Unknown,
        Status::Warning,
        Status::Ok,
        Status::Skipped,
    ]
    .iter()
    .map(|s| (s, checks.iter().filter(|c| c.status == *s).count()))
    .filter(|(_, n)| *n > 0)
    .map(|(s, n)| format!("{n} {}", super::status_word(lang, *s)))
    .collect::<Vec<_>>()
    .join(", ")
}

pub(super) fn render(report: &Report, style: Style) -> String {
    let lang = style.lang;
    let mut out = notices(report, style);
    for (subsystem, list) in grouped(&report.checks) {
        let worst = list.first().map_or(Status::Ok, |c| c.status);
        let _ = writeln!(
            out,
            "\n{} ({})",
            bold(style, subsystem),
            paint(style, worst, &counts(lang, &list))
        );
        for c in list {
            check(&mut out, c, style, "");
        }
    }
    let all: Vec<&CheckResult> = report.checks.iter().collect();
    let _ = writeln!(
        out,
        "\n{}: {} ({}, {} ms)",
        lang.pick("Overall", "Bilan"),
        label(style, report.status).trim_end(),
        counts(lang, &all),
        report.duration_ms
    );
    out
}

/// The report's notices, before anything else (e.g. "this folder does not look like a platform").
fn notices(report: &Report, style: Style) -> String {
    let mut out = String::new();
    for n in &report.notices {
        let _ = writeln!(
            out,
            "{} {}",
            bold(style, style.lang.pick("NOTICE:", "REMARQUE :")),
            n.message
        );
    }
    out
}

/// The word of a change (`NEW`, `RESOLVED`, `CHANGED`), fixed width.
fn change_word(lang: Lang, kind: ChangeKind) -> String {
    let w = match kind {
        ChangeKind::New => lang.pick("NEW", "NOUVEAU"),
        ChangeKind::Resolved => lang.pick("RESOLVED", "RÉSOLU"),
        ChangeKind::Changed => lang.pick("CHANGED", "MODIFIÉ"),
    };
    format!("{w:<9}")
}

pub(super) fn render_changes(changes: &Changes, style: Style) -> String {
    let lang = style.lang;
    let mut out = String::new();
    match &changes.since {
        Some(since) => {
            let _ = writeln!(
                out,
                "{}",
                crate::tr!(lang, "Changes since {since}", "Changements depuis {since}")
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{}",
                lang.pick(
                    "First run: every check is new",
                    "Première exécution : toutes les vérifications sont nouvelles"
                )
            );
        }
    }
    if changes.changes.is_empty() {
        let _ = writeln!(out, "{}", lang.pick("No change.", "Aucun changement."));
    }
    let mut ordered: Vec<_> = changes.changes.iter().collect();
    // New problems first (worst first), then other changes, then what was resolved.
    ordered.sort_by_key(|c| {
        (
            c.kind == ChangeKind::Resolved,
            std::cmp::Reverse(c.check.status.severity()),
        )
    });
    for c in ordered {
        let before = c
            .before
            .map(|b| {
                format!(
                    " ({} {})",
                    lang.pick("was", "était"),
                    super::status_word(lang, b)
                )
            })
            .unwrap_or_default();
        let prefix = format!("{} ", change_word(lang, c.kind));
        let mut line = String::new();
        check(&mut line, &c.check, style, &prefix);
        // The previous status after the summary of the check's own line.
        if let Some(end) = line.find('\n') {
            line.insert_str(end, &before);
        }
        out.push_str(&line);
    }
    let new = changes
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::New && is_problem(c.check.status))
        .count();
    let resolved = changes
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Resolved)
        .count();
    let _ = writeln!(
        out,
        "\n{}: {} ({})",
        lang.pick("Overall", "Bilan"),
        label(style, changes.status).trim_end(),
        crate::tr!(
            lang,
            "{new} new problems, {resolved} resolved",
            "{new} nouveaux problèmes, {resolved} résolus"
        )
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Remedy;

    fn result(id: &str, status: Status, summary: &str) -> CheckResult {
        CheckResult {
            id: id.into(),
            subsystem: id.split('.').next().unwrap_or(id).into(),
            status,
            summary: summary.into(),
            details: serde_json::json!({"used": 97, "max": 100, "empty": []}),
            metrics: vec![],
            remediation: if status == Status::Ok {
                vec![]
            } else {
                vec![Remedy {
                    text: "Do it".into(),
                    command: Some("run this".into()),
                    guide: "BD P2".into(),
                    destructive: true,
                }]
            },
            duration_ms: 2,
        }
    }

    fn report() -> Report {
        let checks = vec![
            result("docker.daemon", Status::Ok, "engine 24"),
            result("postgres.reachable", Status::Ok, "PostgreSQL 15"),
            result(
                "postgres.connections",
                Status::Critical,
                "97 of 100 connections",
            ),
            result("redis.memory", Status::Warning, "80 %"),
        ];
        Report {
            schema_version: 1,
            version: "t".into(),
            host: "h".into(),
            started_at: "s".into(),
            duration_ms: 5,
            status: Status::Critical,
            checks,
            notices: Vec::new(),
        }
    }

    #[test]
    fn worst_group_first_with_guide_details_and_remedy() {
        let text = render(
            &report(),
            Style {
                color: false,
                lang: Lang::En,
            },
        );
        let pg = text.find("\npostgres").expect("postgres group");
        let redis = text.find("\nredis").expect("redis group");
        let docker = text.find("\ndocker").expect("docker group");
        assert!(pg < redis && redis < docker, "{text}");
        // Within postgres, the critical check comes before the ok one.
        assert!(
            text.find("postgres.connections").expect("c")
                < text.find("postgres.reachable").expect("r"),
            "{text}"
        );
        for want in [
            "guide: BD P2",
            "· used: 97",
            "-> Do it [DESTRUCTIVE] (BD P2)",
            "$ run this",
            "Overall: CRITICAL",
        ] {
            assert!(text.contains(want), "{want} missing in {text}");
        }
        assert!(!text.contains("empty:") && !text.contains('\x1b'), "{text}");
        // Nothing under an ok check.
        let ok_line = text
            .lines()
            .position(|l| l.contains("docker.daemon"))
            .expect("line");
        assert!(
            text.lines()
                .nth(ok_line + 1)
                .is_none_or(|l| !l.starts_with("           ")),
            "{text}"
        );
    }

    #[test]
    fn french_and_colours() {
        let text = render(
            &report(),
            Style {
                color: true,
                lang: Lang::Fr,
            },
        );
        for want in ["CRITIQUE", "ALERTE", "Bilan", "[DESTRUCTIF]", "\x1b[1;31m"] {
            assert!(text.contains(want), "{want} missing in {text}");
        }
    }

    /// Every check id has its title and each remedy step in both languages, and they differ
    /// (a step the same in both is a missing translation).
    #[test]
    fn every_check_speaks_both_languages() {
        let vars = crate::Config::default().vars();
        let mut missing = Vec::new();
        for def in crate::catalogue() {
            let (en, fr) = (def.title(Lang::En, &vars), def.title(Lang::Fr, &vars));
            if en.trim().is_empty() || fr.trim().is_empty() || en == fr {
                missing.push(format!("{} title: {en:?} / {fr:?}", def.id));
            }
            let (ren, rfr) = (
                def.remediation(Lang::En, &vars),
                def.remediation(Lang::Fr, &vars),
            );
            if ren.len() != rfr.len() {
                missing.push(format!(
                    "{} remedy steps: {} / {}",
                    def.id,
                    ren.len(),
                    rfr.len()
                ));
            }
            for (a, b) in ren.iter().zip(&rfr) {
                if a.text.trim().is_empty()
                    || b.text.trim().is_empty()
                    || a.text == b.text
                    || a.guide != b.guide
                    || a.command != b.command
                {
                    missing.push(format!("{} remedy: {:?} / {:?}", def.id, a.text, b.text));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "missing translations:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn changes_listing() {
        let r = report();
        let changes = crate::changes::diff(None, &r);
        let text = render_changes(
            &changes,
            Style {
                color: false,
                lang: Lang::En,
            },
        );
        assert!(
            text.starts_with("First run")
                && text.contains("NEW       CRITICAL postgres.connections"),
            "{text}"
        );
        let mut later = r.clone();
        later.checks[2].status = Status::Ok;
        later.checks[3].status = Status::Critical;
        let changes = crate::changes::diff(Some(&r), &later);
        let text = render_changes(
            &changes,
            Style {
                color: false,
                lang: Lang::Fr,
            },
        );
        assert!(
            text.contains("RÉSOLU")
                && text.contains("(était critique)")
                && text.contains("MODIFIÉ"),
            "{text}"
        );
        assert!(
            text.find("MODIFIÉ").expect("m") < text.find("RÉSOLU").expect("r"),
            "{text}"
        );
    }
}
