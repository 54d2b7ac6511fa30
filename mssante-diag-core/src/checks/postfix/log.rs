//! `postfix.log`: the mail log over the last `log_window_minutes` (the guide's
//! `docker compose logs postfix | grep status=deferred`, counted): deferral and bounce rates
//! and failed logins against their thresholds, the findings naming the top reasons.
//! Sources: the files of `log_paths` (zero-config: the mail logs under `data/logs/`), else
//! the Docker log of the `log_service` compose service.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Settings;
use crate::checks::{grade, step, Ctx, Outcome, Step};
use crate::maillog::{self, Options, Summarizer, Summary};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// Where the lines came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// Log files (oldest first), relative to the project folder when under it.
    Files(Vec<String>),
    /// The Docker log of a compose service's containers.
    Docker {
        /// Compose service.
        service: String,
        /// Its containers (short ids).
        containers: Vec<String>,
    },
}

/// What `postfix.log` read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogFacts {
    /// Where from.
    pub source: LogSource,
    /// Files that matched but hold nothing of the window (last written before it).
    pub older_files: usize,
    /// The window, minutes.
    pub window_minutes: f64,
    /// The summary of the window.
    pub summary: Summary,
}

/// Why no log could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogError {
    /// No file matched and the Docker log could not be read (why).
    NoSource {
        /// The patterns tried.
        patterns: Vec<String>,
        /// Why Docker did not help.
        docker: String,
    },
    /// A file could not be read.
    Read(String),
    /// This user may not read a log file: the record names it and the grant.
    Denied(crate::access::Unreadable),
}

/// The files `patterns` match (relative ones under `project_dir`), oldest first, and how
/// many of them were last written before `since` (Unix seconds) and are left out.
#[must_use]
pub fn log_files(patterns: &[String], project_dir: &Path, since: i64) -> (Vec<PathBuf>, usize) {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for p in patterns {
        let full = if Path::new(p).is_absolute() { PathBuf::from(p) } else { project_dir.join(p) };
        let Ok(paths) = glob::glob(&full.to_string_lossy()) else { continue };
        for path in paths.flatten() {
            if let Ok(meta) = std::fs::metadata(&path) {
                if meta.is_file() && !found.iter().any(|(_, f)| *f == path) {
                    found.push((meta.modified().unwrap_or(std::time::UNIX_EPOCH), path));
                }
            }
        }
    }
    found.sort();
    let cutoff = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(since).unwrap_or(0));
    let total = found.len();
    let recent: Vec<PathBuf> = found.into_iter().filter(|(m, _)| *m >= cutoff).map(|(_, p)| p).collect();
    let older = total - recent.len();
    (recent, older)
}

/// Reads the window's log: the files of `log_paths`, else the Docker log of `log_service`.
///
/// # Errors
/// [`LogError`]: nothing to read, or a file unreadable.
pub async fn read_log(ctx: &Ctx) -> Result<LogFacts, LogError> {
    let c = &ctx.config.postfix;
    let now = chrono::Utc::now().timestamp();
    #[allow(clippy::cast_possible_truncation)]
    let since = now - (c.log_window_minutes * 60.0) as i64;
    let opts = Options { since: Some(since), mask_addresses: c.mask_addresses, ..Options::default() };
    let dir = &ctx.config.project_dir;
    let (files, older_files) = log_files(&c.log_paths, dir, since);
    let shown = |p: &PathBuf| p.strip_prefix(dir).unwrap_or(p).display().to_string();
    if !files.is_empty() || older_files > 0 {
        let names: Vec<String> = files.iter().map(shown).collect();
        if let Some(denied) = files.iter().find_map(|p| crate::access::probe(p)) {
            return Err(LogError::Denied(denied));
        }
        let (f, o) = (files.clone(), opts.clone());
        let summary = ctx
            .step_named("read the mail log files", tokio::task::spawn_blocking(move || maillog::summarize_paths(&f, &o)))
            .await
            .map_err(|t| LogError::Read(format!("not read within {} s", t.0)))?
            .map_err(|e| LogError::Read(e.to_string()))?
            .map_err(|e| LogError::Read(e.chain()))?;
        return Ok(LogFacts { source: LogSource::Files(names), older_files, window_minutes: c.log_window_minutes, summary });
    }
    let no_source = |docker: String| LogError::NoSource { patterns: c.log_paths.clone(), docker };
    let engine = ctx.step_named("connect to Docker", ctx.engine()).await.map_err(|t| no_source(tr!(ctx.lang(), "Docker did not answer within {} s", "Docker n'a pas répondu en {} s", t.0)))?;
    let engine = engine.map_err(|e| no_source(e.describe(ctx.lang())))?;
    let mut s = Summarizer::new(&opts);
    let project = &ctx.config.docker.project;
    let containers = ctx
        .step_named("read the Docker log", maillog::source::feed_docker(&engine.docker, project, &c.log_service, &opts, &mut s))
        .await
        .map_err(|t| no_source(tr!(ctx.lang(), "the Docker log was not read within {} s", "le journal Docker n'a pas été lu en {} s", t.0)))?
        .map_err(|e| no_source(engine.explain(&e).describe(ctx.lang())))?;
    if containers.is_empty() {
        return Err(no_source(tr!(ctx.lang(), "no container for service `{}` of compose project `{project}`", "aucun conteneur pour le service `{}` du projet compose `{project}`", c.log_service)));
    }
    Ok(LogFacts { source: LogSource::Docker { service: c.log_service.clone(), containers }, older_files: 0, window_minutes: c.log_window_minutes, summary: s.finish() })
}

const DEFERRAL_STEPS: &[Step] = &[
    step!("Read why mail is deferred", "Lire pourquoi le courrier est différé", guide = "Messagerie P1", cmd = "{docker.compose} logs postfix | grep status=deferred"),
    step!("Look at the queue", "Regarder la file d'attente", guide = "Messagerie P1", cmd = "{docker.compose} exec postfix postqueue -p"),
    step!("Check the relay and the outgoing TLS settings", "Vérifier le relais et les réglages TLS sortants", guide = "Messagerie P1", cmd = "{docker.compose} exec postfix postconf relayhost smtp_tls_security_level"),
    step!("Once the cause is fixed, retry the queue now", "Une fois la cause corrigée, relancer la file", guide = "Messagerie P1", cmd = "{docker.compose} exec postfix postqueue -f"),
];

const BOUNCE_STEPS: &[Step] = &[
    step!("Read why mail bounces", "Lire pourquoi le courrier est rejeté", guide = "Messagerie P1", cmd = "{docker.compose} logs postfix | grep status=bounced"),
    step!("Check the recipients' domains and MX records", "Vérifier les domaines destinataires et leurs MX", guide = "Messagerie P1", cmd = "dig DOMAINE-DESTINATAIRE MX"),
];

const AUTHENTICATION_STEPS: &[Step] = &[
    step!("Check the platform's SPF record", "Vérifier l'enregistrement SPF de la plateforme", guide = "Messagerie P3", cmd = "dig {postfix.domain} TXT | grep spf"),
    step!("Check the DKIM record", "Vérifier l'enregistrement DKIM", guide = "Messagerie P3", cmd = "dig default._domainkey.{postfix.domain} TXT"),
    step!("Check the DMARC record", "Vérifier l'enregistrement DMARC", guide = "Messagerie P3", cmd = "dig _dmarc.{postfix.domain} TXT"),
];

const LOGIN_STEPS: &[Step] = &[
    step!("See which addresses fail to log in", "Voir quelles adresses échouent à se connecter", guide = "Messagerie P2", cmd = "{docker.compose} logs postfix dovecot | grep -E 'authentication failed|auth failed'"),
    step!("Check the firewall rules for the mail ports", "Vérifier les règles du pare-feu pour les ports de messagerie", guide = "Messagerie P2", cmd = "sudo iptables -L -n | grep -E '25|587|143'"),
];

/// Whether bounce reasons point at the sender's authentication (SPF, DKIM, DMARC, 5.7.x).
fn auth_related(s: &Summary) -> bool {
    s.top_bounce_reasons.iter().chain(&s.top_reject_reasons).any(|r| {
        let v = r.value.to_ascii_lowercase();
        v.contains("spf") || v.contains("dkim") || v.contains("dmarc") || v.contains(" 5.7.")
    })
}

fn top(list: &[maillog::Counted]) -> Option<String> {
    list.first().map(|r| format!("{} ({})", r.value, r.count))
}

/// Judges the window: deferral and bounce rates per delivery attempt (from
/// `log_min_attempts` attempts) and failed logins against their thresholds; the summary
/// names the counts and the top reason of each finding.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_log(f: &LogFacts, c: &Settings, lang: Lang) -> Outcome {
    let s = &f.summary;
    let attempts = s.delivered + s.deferred + s.bounced;
    let judged = attempts >= c.log_min_attempts;
    let by_deferral = if judged { grade(s.deferral_rate_pct, c.deferral_rate_warn, c.deferral_rate_crit) } else { Status::Ok };
    let by_bounce = if judged { grade(s.bounce_rate_pct, c.bounce_rate_warn, c.bounce_rate_crit) } else { Status::Ok };
    let auth = s.auth_failures.total;
    let by_auth = grade(auth as f64, c.auth_failures_warn as f64, c.auth_failures_crit as f64);
    let status = by_deferral.worst(by_bounce).worst(by_auth);
    let minutes = f.window_minutes;
    let from = match &f.source {
        LogSource::Files(files) if files.is_empty() => tr!(lang, "no log file written in the window", "aucun fichier de journal écrit dans la fenêtre"),
        LogSource::Files(files) => files.join(", "),
        LogSource::Docker { service, .. } => tr!(lang, "Docker log of {service}", "journal Docker de {service}"),
    };
    let mut text = tr!(
        lang,
        "last {minutes} min ({from}): {} received, {} delivered, {} deferral(s) ({} %), {} bounced ({} %), {} rejected, {} failed login(s)",
        "{minutes} dernières min ({from}) : {} reçu(s), {} distribué(s), {} report(s) ({} %), {} rejeté(s) ({} %), {} refusé(s), {} échec(s) de connexion",
        s.received,
        s.delivered,
        s.deferred,
        s.deferral_rate_pct,
        s.bounced,
        s.bounce_rate_pct,
        s.rejected,
        auth
    );
    if !judged && attempts > 0 {
        let min = c.log_min_attempts;
        text.push_str(&tr!(lang, " (rates not judged under {min} delivery attempts)", " (taux non jugés sous {min} tentatives de distribution)"));
    }
    let mut o = Outcome::new(status, String::new());
    if by_deferral != Status::Ok {
        let (r, w) = (s.deferral_rate_pct, c.deferral_rate_warn);
        let reason = top(&s.top_deferral_reasons).unwrap_or_default();
        text.push_str(&tr!(lang, "; deferral rate {r} % (warn {w} %), top reason: {reason}", "; taux de report {r} % (alerte {w} %), principale cause : {reason}"));
        o = o.remedies(DEFERRAL_STEPS, lang);
    }
    if by_bounce != Status::Ok {
        let (r, w) = (s.bounce_rate_pct, c.bounce_rate_warn);
        let reason = top(&s.top_bounce_reasons).unwrap_or_default();
        text.push_str(&tr!(lang, "; bounce rate {r} % (warn {w} %), top reason: {reason}", "; taux de rejet {r} % (alerte {w} %), principale cause : {reason}"));
        o = o.remedies(BOUNCE_STEPS, lang);
        if auth_related(s) {
            o = o.remedies(AUTHENTICATION_STEPS, lang);
        }
    }
    if by_auth != Status::Ok {
        let w = c.auth_failures_warn;
        let client = top(&s.auth_failures.by_client).unwrap_or_default();
        text.push_str(&tr!(lang, "; {auth} failed logins (warn {w}), top client: {client}", "; {auth} échecs de connexion (alerte {w}), principal client : {client}"));
        o = o.remedies(LOGIN_STEPS, lang);
    }
    let skipped = s.lines.skipped.total();
    if skipped > 0 {
        text.push_str(&tr!(lang, "; {skipped} unreadable line(s) skipped", "; {skipped} ligne(s) illisible(s) ignorée(s)"));
    }
    o.summary = text;
    let n = |v: u64| v as f64;
    o.metric(Metric::new("received", n(s.received), ""))
        .metric(Metric::new("delivered", n(s.delivered), ""))
        .metric(Metric::new("deferred", n(s.deferred), ""))
        .metric(Metric::new("bounced", n(s.bounced), ""))
        .metric(Metric::new("rejected", n(s.rejected), ""))
        .metric(Metric::new("deferral_rate", s.deferral_rate_pct, "%").thresholds(c.deferral_rate_warn, c.deferral_rate_crit))
        .metric(Metric::new("bounce_rate", s.bounce_rate_pct, "%").thresholds(c.bounce_rate_warn, c.bounce_rate_crit))
        .metric(Metric::new("auth_failures", n(auth), "").thresholds(c.auth_failures_warn as f64, c.auth_failures_crit as f64))
        .metric(Metric::new("tls_failures", n(s.tls_failures.handshakes), ""))
        .details(f)
}

/// The outcome when no log could be read: `unknown`, naming the keys to set.
#[must_use]
pub fn explain_error(e: &LogError, lang: Lang) -> Outcome {
    match e {
        LogError::NoSource { patterns, docker } => {
            let p = patterns.join(", ");
            Outcome::unknown(tr!(
                lang,
                "no mail log: no file matches {p}, and the Docker log is out of reach ({docker}); set postfix.log_paths or postfix.log_service",
                "aucun journal de messagerie : aucun fichier ne correspond à {p}, et le journal Docker est inaccessible ({docker}) ; renseigner postfix.log_paths ou postfix.log_service"
            ))
        }
        LogError::Read(why) => Outcome::unknown(tr!(lang, "cannot read the mail log: {why}", "impossible de lire le journal de messagerie : {why}")),
        LogError::Denied(u) => {
            let why = u.describe(lang);
            let mut o = Outcome::unknown(tr!(lang, "cannot read the mail log: {why}", "impossible de lire le journal de messagerie : {why}")).details(u);
            o.remediation = crate::access::grant_remedy(u, "Général", lang);
            o
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(log: &str) -> LogFacts {
        let summary = maillog::summarize_reader(log.as_bytes(), &Options { now: Some(1_732_971_600), ..Options::default() }).unwrap();
        LogFacts { source: LogSource::Files(vec!["data/logs/mail.log".into()]), older_files: 0, window_minutes: 60.0, summary }
    }

    fn line(i: usize, status: &str, reason: &str) -> String {
        format!("Nov 30 12:00:{:02} mail postfix/smtp[1]: ABCDE{i:05}: to=<u{i}@peer.fr>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status={status} ({reason})\n", i % 60)
    }

    #[test]
    fn rates_need_enough_attempts_and_name_the_top_reason() {
        let c = Settings::default();
        let few: String = (0..5).map(|i| line(i, "deferred", "connect to mx.peer.fr[192.0.2.1]:25: Connection timed out")).collect();
        let o = evaluate_log(&facts(&few), &c, Lang::En);
        assert_eq!(o.status, Status::Ok, "{}", o.summary);
        assert!(o.summary.contains("rates not judged under 20"), "{}", o.summary);
        let many: String = (0..30).map(|i| if i < 20 { line(i, "deferred", "connect to mx.peer.fr[192.0.2.1]:25: Connection timed out") } else { line(i, "sent", "250 ok") }).collect();
        let o = evaluate_log(&facts(&many), &c, Lang::Fr);
        assert_eq!(o.status, Status::Critical, "{}", o.summary);
        assert!(o.summary.contains("principale cause : connect to mx.peer.fr[192.0.2.1]:25: Connection timed out (20)"), "{}", o.summary);
        assert_eq!(o.remediation[0].guide, "Messagerie P1");
    }
}
