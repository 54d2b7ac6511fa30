//! Error and warning lines in the recent logs of each service (`docker compose logs | grep -i error`),
//! and what the mail lines among them say (the [`crate::maillog`] summary: Postfix and Dovecot
//! outcomes, `docker compose logs postfix | grep status=deferred` of the guide).

use bollard::Docker;
use serde::Serialize;

use super::project::{read_log, Project};
use super::compose_remedy;
use crate::checks::{grade, Outcome};
use super::Settings as DockerConfig;
use crate::logscan::{Matcher, Tally, DEFAULT_SAMPLES};
use crate::maillog::{self, Summarizer, Summary};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// The scan of one service's containers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceLog {
    /// Compose service.
    pub service: String,
    /// Its containers.
    pub containers: Vec<String>,
    /// Counts and the last matching lines.
    #[serde(flatten)]
    pub tally: Tally,
    /// The mail log summary of its Postfix and Dovecot lines (addresses masked); absent when
    /// its log has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<Summary>,
}

/// Scans the recent log of every container of the project, grouped by service.
///
/// # Errors
/// The engine's error.
pub async fn scan(docker: &Docker, p: &Project, cfg: &DockerConfig, matcher: &Matcher) -> Result<Vec<ServiceLog>, bollard::errors::Error> {
    let mut services: Vec<(&str, Vec<&super::project::ContainerFacts>)> = Vec::new();
    for c in &p.containers {
        match services.iter_mut().find(|(s, _)| *s == c.service) {
            Some((_, cs)) => cs.push(c),
            None => services.push((&c.service, vec![c])),
        }
    }
    let logs = futures::future::join_all(services.into_iter().map(|(service, containers)| scan_service(docker, cfg, matcher, service, containers))).await;
    let mut out = Vec::new();
    for log in logs {
        out.extend(log?);
    }
    Ok(out)
}

/// Scans the containers of one service, one after the other (their mail lines are joined by
/// queue id across restarts); `None` when every one was removed since it was listed.
async fn scan_service(docker: &Docker, cfg: &DockerConfig, matcher: &Matcher, service: &str, containers: Vec<&super::project::ContainerFacts>) -> Result<Option<ServiceLog>, bollard::errors::Error> {
    let mut mail = Summarizer::new(&maillog::Options { mask_addresses: true, ..maillog::Options::default() });
    let mut log = ServiceLog { service: service.to_owned(), containers: Vec::new(), tally: Tally::default(), mail: None };
    for c in containers {
        let mut lines = matcher.stream();
        match read_log(docker, &c.id, cfg.log_lines, Some(cfg.log_since_secs), |b| {
            lines.feed(b);
            mail.feed(b);
        })
        .await
        {
            Ok(()) => {}
            // Removed since it was listed.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => continue,
            Err(e) => return Err(e),
        }
        mail.end_stream();
        log.containers.push(c.name.clone());
        log.tally.merge(lines.finish(), DEFAULT_SAMPLES);
    }
    if log.containers.is_empty() {
        return Ok(None);
    }
    let mail = mail.finish();
    log.mail = (mail.lines.postfix + mail.lines.dovecot > 0).then_some(mail);
    Ok(Some(log))
}

/// Judges error lines per service against `log_errors_warn` / `log_errors_crit`.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_logs(logs: &[ServiceLog], project: &str, cfg: &DockerConfig, lang: Lang) -> Outcome {
    if logs.is_empty() {
        return Outcome::skipped(tr!(lang, "no container in project `{project}`", "aucun conteneur dans le projet `{project}`"));
    }
    let (warn, crit) = (cfg.log_errors_warn as f64, cfg.log_errors_crit as f64);
    let mut status = Status::Ok;
    let mut problems = Vec::new();
    let mut remedies = Vec::new();
    let mut metrics = Vec::new();
    for s in logs {
        let t = &s.tally;
        let st = if t.errors == 0 { Status::Ok } else { grade(t.errors as f64, warn, crit) };
        status = status.worst(st);
        metrics.push(Metric::new("errors", t.errors as f64, "").thresholds(warn, crit).label("service", &s.service));
        metrics.push(Metric::new("warnings", t.warnings as f64, "").label("service", &s.service));
        if let Some(m) = &s.mail {
            metrics.push(Metric::new("mail_delivered", m.delivered as f64, "").label("service", &s.service));
            metrics.push(Metric::new("mail_deferred", m.deferred as f64, "").label("service", &s.service));
            metrics.push(Metric::new("mail_bounced", m.bounced as f64, "").label("service", &s.service));
            metrics.push(Metric::new("mail_rejected", m.rejected as f64, "").label("service", &s.service));
        }
        if st != Status::Ok {
            let last = t.error_samples.back().map_or("", String::as_str);
            problems.push(tr!(
                lang,
                "{} ({}): {} error line(s), last: {last}",
                "{} ({}) : {} ligne(s) d'erreur, dernière : {last}",
                s.service,
                s.containers.join(", "),
                t.errors
            ));
            let svc = &s.service;
            remedies.push(compose_remedy(
                lang,
                &format!("logs --tail=100 --timestamps {svc}"),
                &format!("Read the errors of {svc} in context"),
                &format!("Lire les erreurs de {svc} dans leur contexte"),
                "Général",
            ));
        }
    }
    let window = tr!(lang, "last {} lines / {} s", "{} dernières lignes / {} s", cfg.log_lines, cfg.log_since_secs);
    let summary = if status == Status::Ok {
        let warnings: u64 = logs.iter().map(|s| s.tally.warnings).sum();
        tr!(lang, "no error line in the logs of {} service(s) ({window}); {warnings} warning line(s)", "aucune ligne d'erreur dans les logs de {} service(s) ({window}) ; {warnings} ligne(s) d'avertissement", logs.len())
    } else {
        problems.join("; ")
    };
    let mut o = Outcome::new(status, summary).details(serde_json::json!({ "project": project, "window": { "lines": cfg.log_lines, "since_secs": cfg.log_since_secs }, "services": logs }));
    o.metrics = metrics;
    o.remediation = remedies;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_service_counts() {
        let m = Matcher::defaults();
        let mut t = Tally::default();
        m.scan(b"ok\nERROR db gone\nwarn slow\n", &mut t);
        let logs = vec![
            ServiceLog { service: "api".into(), containers: vec!["p-api-1".into()], tally: t, mail: None },
            ServiceLog { service: "redis".into(), containers: vec!["p-redis-1".into()], tally: Tally::default(), mail: None },
        ];
        let o = evaluate_logs(&logs, "p", &DockerConfig::default(), Lang::En);
        let vars = crate::config::Config::from_toml_str("", std::path::Path::new("/srv/mssante")).unwrap().vars();
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("api (p-api-1): 1 error line(s), last: ERROR db gone"), "{}", o.summary);
        assert_eq!(o.remediation[0].clone().render(&vars).command.as_deref(), Some("docker compose logs --tail=100 --timestamps api"));
    }
}
