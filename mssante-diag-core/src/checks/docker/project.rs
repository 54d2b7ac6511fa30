//! The compose project's containers: state, exit codes, health and restarts
//! (`docker compose ps`, `docker inspect`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::compose_remedy;
use crate::checks::Outcome;
pub use crate::docker::{PROJECT_LABEL, SERVICE_LABEL};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// A container restarted by its policy less than this long ago may be looping (seconds).
pub const RECENT_RESTART_SECS: i64 = 600;

/// The last healthcheck of a container.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthFacts {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failed probes.
    pub failing_streak: i64,
    /// Exit code of the last probe.
    pub last_exit_code: Option<i64>,
    /// Output of the last probe (trimmed).
    pub last_output: Option<String>,
}

/// What `docker inspect` says about one container of the project.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerFacts {
    /// Container id (12 characters).
    pub id: String,
    /// Container name.
    pub name: String,
    /// Compose service.
    pub service: String,
    /// Image reference.
    pub image: String,
    /// `running`, `exited`, `restarting`, `paused`, `created`, `dead`, `removing`.
    pub state: String,
    /// Exit code of the last run.
    pub exit_code: Option<i64>,
    /// The last run was killed by the kernel's OOM killer.
    pub oom_killed: bool,
    /// Engine error of the last start, if any.
    pub error: Option<String>,
    /// Restarts done by the restart policy.
    pub restart_count: i64,
    /// Last start, RFC 3339.
    pub started_at: Option<String>,
    /// Last exit, RFC 3339.
    pub finished_at: Option<String>,
    /// Restart policy (`always`, `unless-stopped`, `on-failure`, `no`).
    pub restart_policy: Option<String>,
    /// Healthcheck state, when the image or compose file defines one.
    pub health: Option<HealthFacts>,
    /// Memory limit in bytes (none when unlimited).
    pub memory_limit: Option<u64>,
    /// CPU limit in CPUs (none when unlimited).
    pub cpu_limit: Option<f64>,
    /// Process id of its main process on the engine's host (none when not running).
    pub pid: Option<i64>,
}

impl ContainerFacts {
    /// Built from an inspect answer and the service label.
    #[must_use]
    pub fn from_inspect(i: ContainerInspectResponse, service: String) -> Self {
        let state = i.state.unwrap_or_default();
        let host = i.host_config.unwrap_or_default();
        let time = |t: Option<String>| t.filter(|t| !t.starts_with("0001-"));
        let health = state.health.filter(|h| !matches!(h.status, None | Some(HealthStatusEnum::EMPTY | HealthStatusEnum::NONE))).map(|h| {
            let last = h.log.and_then(|mut l| l.pop());
            HealthFacts {
                status: h.status.map(|s| s.to_string()).unwrap_or_default(),
                failing_streak: h.failing_streak.unwrap_or(0),
                last_exit_code: last.as_ref().and_then(|l| l.exit_code),
                last_output: last.and_then(|l| l.output).map(|o| crate::logscan::sample(o.as_bytes())).filter(|o| !o.is_empty()),
            }
        });
        let cpu_limit = match (host.nano_cpus, host.cpu_quota, host.cpu_period) {
            (Some(n), _, _) if n > 0 => Some(n as f64 / 1e9),
            (_, Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64),
            _ => None,
        };
        Self {
            id: i.id.unwrap_or_default().chars().take(12).collect(),
            name: i.name.unwrap_or_default().trim_start_matches('/').to_owned(),
            service,
            image: i.config.and_then(|c| c.image).unwrap_or_default(),
            state: state.status.unwrap_or(ContainerStateStatusEnum::EMPTY).to_string(),
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
            error: state.error.filter(|e| !e.is_empty()),
            restart_count: i.restart_count.unwrap_or(0),
            started_at: time(state.started_at),
            finished_at: time(state.finished_at),
            restart_policy: host.restart_policy.and_then(|p| p.name).map(|n| n.to_string()).filter(|n| !n.is_empty()),
            health,
            memory_limit: host.memory.and_then(|m| u64::try_from(m).ok()).filter(|m| *m > 0),
            cpu_limit,
            pid: state.pid.filter(|p| *p > 0),
        }
    }

    /// Running (or paused): the process exists.
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.state == "running" || self.state == "paused"
    }

    /// Seconds since the last start.
    #[must_use]
    pub fn started_secs_ago(&self, now: DateTime<Utc>) -> Option<i64> {
        let t = DateTime::parse_from_rfc3339(self.started_at.as_deref()?).ok()?;
        Some((now - t.with_timezone(&Utc)).num_seconds().max(0))
    }

    /// `name (service)`.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.service)
    }
}

/// The containers of one compose project.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Project {
    /// Project name.
    pub name: String,
    /// Its containers, by name.
    pub containers: Vec<ContainerFacts>,
    /// Other compose projects on the engine (listed only when this one has no container).
    pub other_projects: Vec<String>,
}

impl Project {
    /// The running containers.
    pub fn running(&self) -> impl Iterator<Item = &ContainerFacts> {
        self.containers.iter().filter(|c| c.state == "running")
    }
}

/// Lists the project's containers (all states) and inspects each of them.
///
/// # Errors
/// The engine's error.
pub async fn gather(docker: &Docker, project: &str) -> Result<Project, bollard::errors::Error> {
    let filters = HashMap::from([("label", vec![format!("{PROJECT_LABEL}={project}")])]);
    let list = docker.list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build())).await?;
    let inspected = futures::future::join_all(list.into_iter().map(|c| async move {
        let id = c.id.unwrap_or_default();
        let service = c.labels.and_then(|mut l| l.remove(SERVICE_LABEL)).unwrap_or_default();
        match docker.inspect_container(&id, None::<bollard::query_parameters::InspectContainerOptions>).await {
            Ok(i) => Ok(Some(ContainerFacts::from_inspect(i, service))),
            // Removed between the list and the inspect.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }))
    .await;
    let mut containers = Vec::new();
    for c in inspected {
        containers.extend(c?);
    }
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let other_projects = if containers.is_empty() {
        let all = docker.list_containers(Some(ListContainersOptionsBuilder::new().all(true).build())).await?;
        all.into_iter().filter_map(|c| c.labels?.remove(PROJECT_LABEL)).collect::<BTreeSet<_>>().into_iter().collect()
    } else {
        Vec::new()
    };
    Ok(Project { name: project.to_owned(), containers, other_projects })
}

pub use crate::docker::{read_log, LOG_BYTES};

/// The last `lines` log lines of a container, as printable samples.
///
/// # Errors
/// The engine's error.
pub async fn last_lines(docker: &Docker, id: &str, lines: u32) -> Result<Vec<String>, bollard::errors::Error> {
    let mut buf = Vec::new();
    read_log(docker, id, lines, None, |b| buf.extend_from_slice(b)).await?;
    let text: Vec<String> = buf.split(|b| *b == b'\n').map(crate::logscan::sample).filter(|l| !l.is_empty()).collect();
    Ok(text[text.len().saturating_sub(lines as usize)..].to_vec())
}

/// How a container's state reads in a summary.
fn state_phrase(c: &ContainerFacts, lang: Lang) -> String {
    let code = c.exit_code.unwrap_or(0);
    let state = match (lang, c.state.as_str()) {
        (Lang::Fr, "exited") => "arrêté",
        (Lang::Fr, "dead") => "mort",
        (Lang::Fr, "paused") => "en pause",
        (Lang::Fr, "removing") => "en cours de suppression",
        (_, s) => s,
    };
    match c.state.as_str() {
        "exited" | "dead" if c.oom_killed => {
            tr!(lang, "{state} with code {code}, OOMKilled (out of memory)", "{state} avec le code {code}, OOMKilled (mémoire épuisée)")
        }
        "exited" | "dead" => tr!(lang, "{state} with code {code}", "{state} avec le code {code}"),
        "created" => tr!(lang, "created but never started", "créé mais jamais démarré"),
        "restarting" => tr!(lang, "restarting (last exit code {code})", "en redémarrage (dernier code de sortie {code})"),
        _ => state.to_owned(),
    }
}

/// Judges the expected services: present and running; exited (code, OOMKilled); missing.
/// Services outside the list only count when they failed (non-zero exit or OOM kill).
#[must_use]
pub fn evaluate_containers(p: &Project, expected: &[String], lang: Lang) -> Outcome {
    let name = &p.name;
    if p.containers.is_empty() {
        let others = if p.other_projects.is_empty() { "-".to_owned() } else { p.other_projects.join(", ") };
        let mut o = Outcome::critical(tr!(
            lang,
            "no container of compose project `{name}` (projects on this engine: {others})",
            "aucun conteneur du projet compose `{name}` (projets présents : {others})"
        ))
        .details(p);
        o.remediation = vec![
            compose_remedy(lang, "up -d", "Start the stack", "Démarrer la pile", "Démarrage P1"),
            compose_remedy(lang, "ps -a", "Check the project name ([docker] project, COMPOSE_PROJECT_NAME)", "Vérifier le nom du projet ([docker] project, COMPOSE_PROJECT_NAME)", "Général"),
        ];
        return o;
    }
    let mut status = Status::Ok;
    let mut problems = Vec::new();
    let mut remedies = Vec::new();
    let mut missing = Vec::new();
    let mut running_services = 0;
    let services: BTreeSet<&str> = expected.iter().map(String::as_str).chain(p.containers.iter().map(|c| c.service.as_str())).collect();
    for svc in services {
        let is_expected = expected.iter().any(|e| e == svc);
        let of: Vec<&ContainerFacts> = p.containers.iter().filter(|c| c.service == svc).collect();
        if of.is_empty() {
            status = Status::Critical;
            missing.push(svc.to_owned());
            problems.push(tr!(lang, "{svc}: missing", "{svc} : absent"));
            remedies.push(compose_remedy(lang, &format!("up -d {svc}"), &format!("Create and start {svc}"), &format!("Créer et démarrer {svc}"), "Démarrage P1"));
            continue;
        }
        let up = of.iter().filter(|c| c.is_up()).count();
        if up == of.len() && of.iter().all(|c| c.state == "running") {
            running_services += 1;
            continue;
        }
        let failed: Vec<&&ContainerFacts> = of.iter().filter(|c| !c.is_up() || c.state == "paused").collect();
        if !is_expected && failed.iter().all(|c| c.exit_code.unwrap_or(0) == 0 && !c.oom_killed && c.state != "restarting") {
            continue;
        }
        let severity = if !is_expected || up > 0 { Status::Warning } else { Status::Critical };
        status = status.worst(severity);
        for c in failed {
            problems.push(tr!(lang, "{}: {}", "{} : {}", c.label(), state_phrase(c, lang)));
            if c.oom_killed {
                remedies.push(crate::model::Remedy {
                    text: tr!(lang, "Raise the memory limit of {svc} (deploy.resources.limits.memory in docker-compose.yml) or find what uses the memory", "Augmenter la limite mémoire de {svc} (deploy.resources.limits.memory dans docker-compose.yml) ou trouver ce qui consomme la mémoire"),
                    command: None,
                    guide: "Performance P1".into(),
                    destructive: false,
                });
            }
        }
        remedies.push(compose_remedy(lang, &format!("logs --tail=50 {svc}"), &format!("Read the logs of {svc}"), &format!("Lire les logs de {svc}"), "Démarrage P4"));
        remedies.push(compose_remedy(lang, &format!("up -d {svc}"), &format!("Start {svc} again"), &format!("Redémarrer {svc}"), "Démarrage P1"));
    }
    let total = expected.len();
    let summary = if status == Status::Ok {
        tr!(lang, "{running_services} service(s) of project `{name}` running ({total} expected)", "{running_services} service(s) du projet `{name}` en marche ({total} attendus)")
    } else {
        tr!(lang, "project `{name}`: {}", "projet `{name}` : {}", problems.join("; "))
    };
    let mut o = Outcome::new(status, summary)
        .metric(Metric::new("services_running", f64::from(running_services), ""))
        .metric(Metric::new("services_missing", missing.len() as f64, ""))
        .details(serde_json::json!({ "project": name, "expected": expected, "missing": missing, "problems": problems, "containers": p.containers }));
    o.remediation = remedies;
    o
}

/// Judges the healthchecks of the running containers: unhealthy is critical, starting a warning.
#[must_use]
pub fn evaluate_health(p: &Project, lang: Lang) -> Outcome {
    let checked: Vec<&ContainerFacts> = p.running().filter(|c| c.health.is_some()).collect();
    if checked.is_empty() {
        return Outcome::skipped(tr!(lang, "no running container of project `{}` defines a healthcheck", "aucun conteneur en marche du projet `{}` n'a de healthcheck", p.name));
    }
    let mut status = Status::Ok;
    let mut problems = Vec::new();
    let mut remedies = Vec::new();
    for c in &checked {
        let h = c.health.as_ref().expect("filtered");
        let s = match h.status.as_str() {
            "healthy" => continue,
            "starting" => Status::Warning,
            _ => Status::Critical,
        };
        status = status.worst(s);
        let out = h.last_output.as_deref().unwrap_or("-");
        let code = h.last_exit_code.map_or_else(|| "-".to_owned(), |c| c.to_string());
        problems.push(tr!(
            lang,
            "{} {} (failing streak {}, last probe exit {code}: {out})",
            "{} {} (échecs consécutifs {}, dernière sonde code {code} : {out})",
            c.label(),
            h.status,
            h.failing_streak
        ));
        remedies.push(crate::model::Remedy {
            text: tr!(lang, "Read the healthcheck's last probes of {}", "Lire les dernières sondes du healthcheck de {}", c.name),
            command: Some(format!("docker inspect --format '{{{{json .State.Health}}}}' {}", c.name)),
            guide: "Démarrage P4".into(),
            destructive: false,
        });
        remedies.push(compose_remedy(lang, &format!("logs --tail=50 {}", c.service), &format!("Read the logs of {}", c.service), &format!("Lire les logs de {}", c.service), "Démarrage P4"));
    }
    let n = checked.len();
    let summary = if status == Status::Ok {
        tr!(lang, "{n} healthcheck(s) healthy", "{n} healthcheck(s) au vert")
    } else {
        problems.join("; ")
    };
    let unhealthy = checked.iter().filter(|c| c.health.as_ref().is_some_and(|h| h.status == "unhealthy")).count();
    let mut o = Outcome::new(status, summary)
        .metric(Metric::new("unhealthy", unhealthy as f64, "").thresholds(1.0, 1.0))
        .details(serde_json::json!({ "containers": checked.iter().map(|c| serde_json::json!({ "name": c.name, "service": c.service, "health": c.health })).collect::<Vec<_>>() }));
    o.remediation = remedies;
    o
}

/// How a container's restarts are judged: restarting now is critical, restarted by its policy
/// within [`RECENT_RESTART_SECS`] a warning.
#[must_use]
pub fn restart_status(c: &ContainerFacts, now: DateTime<Utc>) -> Status {
    if c.state == "restarting" {
        Status::Critical
    } else if c.restart_count > 0 && c.started_secs_ago(now).is_some_and(|s| s < RECENT_RESTART_SECS) {
        Status::Warning
    } else {
        Status::Ok
    }
}

/// Judges restart loops, with the last log lines of each looping container (`logs`, by name).
#[must_use]
pub fn evaluate_restarts(p: &Project, logs: &BTreeMap<String, Vec<String>>, now: DateTime<Utc>, lang: Lang) -> Outcome {
    if p.containers.is_empty() {
        return Outcome::skipped(tr!(lang, "no container in project `{}`", "aucun conteneur dans le projet `{}`", p.name));
    }
    let mut status = Status::Ok;
    let mut problems = Vec::new();
    let mut remedies = Vec::new();
    let mut looping = Vec::new();
    let mut o = Outcome::ok(String::new());
    for c in &p.containers {
        o = o.metric(Metric::new("restarts", c.restart_count as f64, "").label("container", &c.name));
        let s = restart_status(c, now);
        if s == Status::Ok {
            continue;
        }
        status = status.worst(s);
        let ago = c.started_secs_ago(now).map_or_else(|| "?".to_owned(), |s| s.to_string());
        let code = c.exit_code.unwrap_or(0);
        let last = logs.get(&c.name).and_then(|l| l.last()).map_or_else(String::new, |l| tr!(lang, "; last log: {l}", " ; dernier log : {l}"));
        let what = if c.state == "restarting" {
            tr!(lang, "in a restart loop", "en boucle de redémarrage")
        } else {
            tr!(lang, "restarted recently", "redémarré récemment")
        };
        problems.push(tr!(
            lang,
            "{} {what}: {} restarts, last exit code {code}, last started {ago} s ago{last}",
            "{} {what} : {} redémarrages, dernier code de sortie {code}, dernier démarrage il y a {ago} s{last}",
            c.label(),
            c.restart_count
        ));
        looping.push(serde_json::json!({ "name": c.name, "service": c.service, "state": c.state, "restart_count": c.restart_count,
            "exit_code": c.exit_code, "started_at": c.started_at, "oom_killed": c.oom_killed, "last_logs": logs.get(&c.name) }));
        let svc = &c.service;
        remedies.push(compose_remedy(lang, &format!("logs --tail=50 {svc}"), &format!("Read the logs of {svc}"), &format!("Lire les logs de {svc}"), "Démarrage P4"));
        remedies.push(crate::model::Remedy {
            text: tr!(lang, "Inspect the container", "Inspecter le conteneur"),
            command: Some(format!("docker inspect {}", c.name)),
            guide: "Démarrage P4".into(),
            destructive: false,
        });
        remedies.push(compose_remedy(lang, &format!("run --rm {svc} sh"), "Start it interactively to see the error", "Le démarrer en mode interactif pour voir l'erreur", "Démarrage P4"));
    }
    if !remedies.is_empty() {
        remedies.push(crate::model::Remedy {
            text: tr!(lang, "If it is a configuration error, check the .env file", "Si erreur de configuration, vérifier le fichier .env"),
            command: Some("grep -v '^#' .env | grep -v '^$'".into()),
            guide: "Démarrage P4".into(),
            destructive: false,
        });
    }
    o.status = status;
    let total: i64 = p.containers.iter().map(|c| c.restart_count).sum();
    o.summary = if status == Status::Ok {
        tr!(lang, "no restart loop in project `{}` ({total} restart(s) in all)", "aucune boucle de redémarrage dans le projet `{}` ({total} redémarrage(s) au total)", p.name)
    } else {
        problems.join("; ")
    };
    o.remediation = remedies;
    o.details(serde_json::json!({ "project": p.name, "looping": looping }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn facts(name: &str, service: &str, state: &str) -> ContainerFacts {
        ContainerFacts {
            id: "0123456789ab".into(),
            name: name.into(),
            service: service.into(),
            image: "img".into(),
            state: state.into(),
            exit_code: Some(0),
            oom_killed: false,
            error: None,
            restart_count: 0,
            started_at: Some("2024-01-01T00:00:00Z".into()),
            finished_at: None,
            restart_policy: None,
            health: None,
            memory_limit: None,
            cpu_limit: None,
            pid: None,
        }
    }

    fn project(containers: Vec<ContainerFacts>) -> Project {
        Project { name: "p".into(), containers, other_projects: vec![] }
    }

    #[test]
    fn containers_states() {
        let expected = vec!["api".to_owned(), "redis".to_owned()];
        let ok = project(vec![facts("p-api-1", "api", "running"), facts("p-redis-1", "redis", "running")]);
        assert_eq!(evaluate_containers(&ok, &expected, Lang::En).status, Status::Ok);
        let mut oom = facts("p-redis-1", "redis", "exited");
        oom.exit_code = Some(137);
        oom.oom_killed = true;
        let o = evaluate_containers(&project(vec![oom]), &expected, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("api: missing") && o.summary.contains("p-redis-1 (redis): exited with code 137, OOMKilled"), "{}", o.summary);
        // An extra one-shot service that exited 0 is fine.
        let done = project(vec![facts("p-api-1", "api", "running"), facts("p-redis-1", "redis", "running"), facts("p-migrate-1", "migrate", "exited")]);
        assert_eq!(evaluate_containers(&done, &expected, Lang::En).status, Status::Ok);
    }

    #[test]
    fn restarts_and_health() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:01:00Z").unwrap().with_timezone(&Utc);
        let mut c = facts("p-api-1", "api", "restarting");
        c.restart_count = 7;
        c.exit_code = Some(1);
        let logs = BTreeMap::from([("p-api-1".to_owned(), vec!["boom".to_owned()])]);
        let o = evaluate_restarts(&project(vec![c.clone()]), &logs, now, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("7 restarts") && o.summary.contains("last log: boom"), "{}", o.summary);
        c.state = "running".into();
        assert_eq!(restart_status(&c, now), Status::Warning);
        c.health = Some(HealthFacts { status: "unhealthy".into(), failing_streak: 3, last_exit_code: Some(1), last_output: Some("db down".into()) });
        let h = evaluate_health(&project(vec![c]), Lang::Fr);
        assert_eq!(h.status, Status::Critical);
        assert!(h.summary.contains("db down"), "{}", h.summary);
    }
}
