//! CPU and memory of the running containers (`docker stats --no-stream`), from two readings
//! of each container's counters [`INTERVAL`] apart, all containers at once.
//!
//! The engine's stats API answers on its collector's one-second cycle, so two readings through
//! it cost one to two seconds. On a local engine the counters are read straight from each
//! container's cgroup ([`super::cgroup`]), as that collector itself reads them; a container whose
//! cgroup is not visible from here (remote engine, engine in a VM) is read through the API's
//! one-shot stats. A running container that gives no reading is listed with the reason: the
//! check is then a warning, and unknown when no container could be read at all.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCpuStats, ContainerStatsResponse};
use bollard::query_parameters::StatsOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use serde::Serialize;

use super::cgroup::{Cgroup, Counters, Host, Mounts};
use super::human_bytes;
use super::project::{ContainerFacts, Project};
use super::Settings as DockerConfig;
use crate::checks::{grade, Outcome};
use crate::docker::{Endpoint, Engine};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

/// Time between a container's two readings.
pub const INTERVAL: Duration = Duration::from_millis(200);

/// Where a container's counters were read.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Its cgroup, on this machine.
    Cgroup,
    /// The engine's stats API.
    Engine,
}

/// CPU and memory of one container.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Usage {
    /// Container name.
    pub name: String,
    /// Compose service.
    pub service: String,
    /// CPU use as `docker stats` shows it (100 = one CPU).
    pub cpu_pct: f64,
    /// CPUs the container may use: its limit, else the host's CPUs.
    pub cpu_limit: f64,
    /// CPU use in percent of `cpu_limit`.
    pub cpu_of_limit_pct: f64,
    /// Memory in use, bytes (page cache not counted, as `docker stats`).
    pub memory_bytes: u64,
    /// Memory the container may use: its limit, else the host's memory.
    pub memory_limit_bytes: u64,
    /// The memory limit is the container's own (not the host's memory).
    pub memory_limited: bool,
    /// Memory use in percent of the limit.
    pub memory_pct: f64,
    /// Where the counters were read.
    pub source: Source,
}

/// A running container whose CPU and memory could not be read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NoStats {
    /// Container name.
    pub name: String,
    /// Compose service.
    pub service: String,
    /// Why, in the report's language.
    pub reason: String,
}

impl NoStats {
    fn new(c: &ContainerFacts, reason: String) -> Self {
        Self { name: c.name.clone(), service: c.service.clone(), reason }
    }
}

/// One reading of a container's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// CPU time the container used since it started, ns.
    pub cpu_ns: u64,
    /// The clock CPU time is measured against, ns: the host's CPU time (all CPUs) in engine
    /// stats; online CPUs times a monotonic clock in cgroup readings (the same pace).
    pub system_ns: u64,
    /// CPUs online on the host.
    pub online_cpus: f64,
    /// Memory in use, bytes (inactive page cache not counted).
    pub memory_bytes: u64,
    /// Memory the container may use (its limit, at most the host's memory), bytes.
    pub memory_limit_bytes: u64,
}

/// Memory in use as `docker stats` counts it: without the inactive page cache.
fn used_memory(usage: u64, inactive_file: u64) -> u64 {
    if inactive_file < usage {
        usage - inactive_file
    } else {
        usage
    }
}

/// Nanoseconds of a monotonic clock (from its first use in this process).
fn monotonic_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    u64::try_from(BASE.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Reading {
    /// The counters of a stats answer (`cpu_stats`); `None` for the empty answer the engine
    /// gives for a container that is not running.
    #[must_use]
    pub fn from_stats(s: &ContainerStatsResponse) -> Option<Self> {
        Self::of(s, s.cpu_stats.as_ref()?)
    }

    /// The engine's previous collection (`precpu_stats`) of an answer, when it primed one
    /// (a stats call without `one-shot`).
    #[must_use]
    pub fn previous_from_stats(s: &ContainerStatsResponse) -> Option<Self> {
        Self::of(s, s.precpu_stats.as_ref()?)
    }

    #[allow(clippy::cast_precision_loss)]
    fn of(s: &ContainerStatsResponse, cpu: &ContainerCpuStats) -> Option<Self> {
        let system_ns = cpu.system_cpu_usage.filter(|n| *n > 0)?;
        let usage = cpu.cpu_usage.as_ref()?;
        let mem = s.memory_stats.as_ref()?;
        let online_cpus = cpu
            .online_cpus
            .filter(|n| *n > 0)
            .map(f64::from)
            .or_else(|| usage.percpu_usage.as_ref().map(|p| p.len() as f64).filter(|n| *n > 0.0))
            .unwrap_or(1.0);
        let inactive = mem.stats.as_ref().and_then(|st| st.get("total_inactive_file").or_else(|| st.get("inactive_file")).copied()).unwrap_or(0);
        Some(Self {
            cpu_ns: usage.total_usage?,
            system_ns,
            online_cpus,
            memory_bytes: used_memory(mem.usage?, inactive),
            memory_limit_bytes: mem.limit.unwrap_or(0),
        })
    }

    /// A cgroup reading taken now.
    #[must_use]
    pub fn from_cgroup(c: &Counters, host: &Host) -> Self {
        Self {
            cpu_ns: c.cpu_ns,
            system_ns: monotonic_ns().saturating_mul(u64::from(host.online_cpus)),
            online_cpus: f64::from(host.online_cpus),
            memory_bytes: used_memory(c.memory_usage, c.inactive_file),
            // As the engine: a limit above the host's memory is the host's memory.
            memory_limit_bytes: c.memory_limit.map_or(host.memory_bytes, |l| l.min(host.memory_bytes)),
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A container's usage between two readings, as `docker stats` computes it (CPU from the
/// deltas, memory from the later reading); `None` when no time passed between them.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn usage_between(before: &Reading, after: &Reading, c: &ContainerFacts, source: Source) -> Option<Usage> {
    let sys_delta = after.system_ns.checked_sub(before.system_ns).filter(|d| *d > 0)? as f64;
    let cpu_delta = after.cpu_ns.saturating_sub(before.cpu_ns) as f64;
    let online = after.online_cpus;
    let cpu_pct = cpu_delta / sys_delta * online * 100.0;
    let cpu_limit = c.cpu_limit.map_or(online, |l| l.min(online));
    let (memory_bytes, memory_limit_bytes) = (after.memory_bytes, after.memory_limit_bytes);
    Some(Usage {
        name: c.name.clone(),
        service: c.service.clone(),
        cpu_pct: round1(cpu_pct),
        cpu_limit,
        cpu_of_limit_pct: round1(cpu_pct / cpu_limit),
        memory_bytes,
        memory_limit_bytes,
        memory_limited: c.memory_limit.is_some(),
        memory_pct: if memory_limit_bytes == 0 { 0.0 } else { round1(memory_bytes as f64 * 100.0 / memory_limit_bytes as f64) },
        source,
    })
}

/// A container's usage from one stats answer that carries the engine's previous collection
/// (`precpu_stats`, a call without `one-shot`); `None` for a one-shot or empty answer.
#[must_use]
pub fn usage_from_stats(s: &ContainerStatsResponse, c: &ContainerFacts) -> Option<Usage> {
    usage_between(&Reading::previous_from_stats(s)?, &Reading::from_stats(s)?, c, Source::Engine)
}

/// CPU and memory of each running container of `p`: read from its cgroup when the engine is
/// local and the cgroup is on this machine, else through the engine's one-shot stats. Returns
/// the usages and the containers that gave none, both by name.
pub async fn sample(engine: &Engine, p: &Project) -> (Vec<Usage>, Vec<NoStats>) {
    let running: Vec<ContainerFacts> = p.running().cloned().collect();
    let (local, remote) = if matches!(engine.endpoint, Endpoint::Unix(_)) { locate(running).await } else { (Vec::new(), running) };
    let (mut a, b) = futures::join!(sample_cgroups(local, engine.lang), sample_engine(&engine.docker, &remote, engine.lang));
    a.0.extend(b.0);
    a.1.extend(b.1);
    a.0.sort_by(|x, y| x.name.cmp(&y.name));
    a.1.sort_by(|x, y| x.name.cmp(&y.name));
    a
}

/// Splits containers into those whose cgroup is on this machine and the others.
async fn locate(running: Vec<ContainerFacts>) -> (Vec<(ContainerFacts, Cgroup)>, Vec<ContainerFacts>) {
    let fallback = running.clone();
    tokio::task::spawn_blocking(move || {
        let Ok(mounts) = Mounts::read() else { return (Vec::new(), running) };
        let (mut local, mut remote) = (Vec::new(), Vec::new());
        for c in running {
            match c.pid.map(|pid| mounts.locate(pid, &c.id)) {
                Some(Ok(cg)) => local.push((c, cg)),
                _ => remote.push(c),
            }
        }
        (local, remote)
    })
    .await
    .unwrap_or((Vec::new(), fallback))
}

/// Reads the cgroups now (all of them, on a blocking thread).
async fn read_cgroups(cgroups: Vec<Cgroup>) -> Vec<std::io::Result<Reading>> {
    let n = cgroups.len();
    let read = tokio::task::spawn_blocking(move || match Host::read() {
        Ok(host) => cgroups.iter().map(|cg| cg.read().map(|c| Reading::from_cgroup(&c, &host))).collect(),
        Err(e) => cgroups.iter().map(|_| Err(std::io::Error::new(e.kind(), e.to_string()))).collect(),
    })
    .await;
    read.unwrap_or_else(|e| (0..n).map(|_| Err(std::io::Error::other(e.to_string()))).collect())
}

/// Two readings of each cgroup, [`INTERVAL`] apart.
pub async fn sample_cgroups(containers: Vec<(ContainerFacts, Cgroup)>, lang: Lang) -> (Vec<Usage>, Vec<NoStats>) {
    if containers.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let cgroups: Vec<Cgroup> = containers.iter().map(|(_, cg)| cg.clone()).collect();
    let start = Instant::now();
    let first = read_cgroups(cgroups.clone()).await;
    tokio::time::sleep_until((start + INTERVAL).into()).await;
    let second = read_cgroups(cgroups).await;
    let failed = |c: &ContainerFacts, e: &std::io::Error| {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            tr!(lang, "not running any more (its cgroup is gone)", "plus en marche (son cgroup a disparu)")
        } else {
            tr!(lang, "cgroup unreadable: {e}", "cgroup illisible : {e}")
        };
        NoStats::new(c, reason)
    };
    let results = containers.iter().zip(first.iter().zip(&second)).map(|((c, _), pair)| match pair {
        (Ok(a), Ok(b)) => usage_between(a, b, c, Source::Cgroup).ok_or_else(|| NoStats::new(c, no_time(lang))),
        (Err(e), _) | (_, Err(e)) => Err(failed(c, e)),
    });
    split(results)
}

fn no_time(lang: Lang) -> String {
    tr!(lang, "no time elapsed between the two readings", "aucun temps écoulé entre les deux mesures")
}

fn split(results: impl Iterator<Item = Result<Usage, NoStats>>) -> (Vec<Usage>, Vec<NoStats>) {
    let (mut ok, mut missed) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(u) => ok.push(u),
            Err(m) => missed.push(m),
        }
    }
    (ok, missed)
}

/// One one-shot stats answer of a container.
async fn one_shot(docker: &Docker, c: &ContainerFacts, lang: Lang) -> Result<ContainerStatsResponse, NoStats> {
    let mut s = docker.stats(&c.id, Some(StatsOptionsBuilder::new().stream(false).one_shot(true).build()));
    match s.next().await {
        Some(Ok(stats)) => Ok(stats),
        Some(Err(e)) => {
            let e = crate::logscan::sample(e.to_string().as_bytes());
            Err(NoStats::new(c, tr!(lang, "the engine refused: {e}", "le moteur refuse : {e}")))
        }
        None => Err(NoStats::new(c, tr!(lang, "the engine sent no stats", "le moteur n'a envoyé aucune statistique"))),
    }
}

/// A container's usage from two one-shot stats answers, [`INTERVAL`] apart at least (the
/// second one comes on the engine's next collection).
async fn engine_usage(docker: &Docker, c: &ContainerFacts, lang: Lang) -> Result<Usage, NoStats> {
    let start = Instant::now();
    let not_running = || NoStats::new(c, tr!(lang, "not running any more (empty stats)", "plus en marche (statistiques vides)"));
    let first = one_shot(docker, c, lang).await?;
    // An engine that ignores `one-shot` (API < 1.41) primed the CPU delta itself.
    if let Some(u) = usage_from_stats(&first, c) {
        return Ok(u);
    }
    let before = Reading::from_stats(&first).ok_or_else(not_running)?;
    tokio::time::sleep_until((start + INTERVAL).into()).await;
    let after = Reading::from_stats(&one_shot(docker, c, lang).await?).ok_or_else(not_running)?;
    usage_between(&before, &after, c, Source::Engine).ok_or_else(|| NoStats::new(c, no_time(lang)))
}

/// Two one-shot stats readings of each container through the engine's API, all at once.
pub async fn sample_engine(docker: &Docker, containers: &[ContainerFacts], lang: Lang) -> (Vec<Usage>, Vec<NoStats>) {
    let results = futures::future::join_all(containers.iter().map(|c| engine_usage(docker, c, lang))).await;
    split(results.into_iter())
}

/// `a (reason), b (reason) (+2)`.
fn list_no_stats(missed: &[NoStats]) -> String {
    let mut s = missed.iter().take(3).map(|m| format!("{} ({})", m.name, m.reason)).collect::<Vec<_>>().join(", ");
    if missed.len() > 3 {
        s.push_str(&format!(" (+{})", missed.len() - 3));
    }
    s
}

/// Judges CPU and memory against the thresholds: the worst container decides. A running
/// container without stats makes it at least a warning; none with stats makes it unknown.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_resources(usages: &[Usage], missed: &[NoStats], project: &str, cfg: &DockerConfig, lang: Lang) -> Outcome {
    let no_stats = (!missed.is_empty()).then(|| {
        let l = list_no_stats(missed);
        tr!(lang, "no stats for {l}", "aucune statistique pour {l}")
    });
    let mut no_stats_metric = Metric::new("no_stats", missed.len() as f64, "");
    no_stats_metric.warn = Some(1.0);
    let details = serde_json::json!({ "project": project, "containers": usages, "no_stats": missed });
    if usages.is_empty() {
        return match no_stats {
            Some(s) => Outcome::unknown(s).metric(no_stats_metric).details(details),
            None => Outcome::skipped(tr!(lang, "no running container in project `{project}`", "aucun conteneur en marche dans le projet `{project}`")),
        };
    }
    let mut status = Status::Ok;
    let mut problems = Vec::new();
    let mut metrics = Vec::new();
    for u in usages {
        let cpu = grade(u.cpu_of_limit_pct, cfg.cpu_warn_pct, cfg.cpu_crit_pct);
        let mem = grade(u.memory_pct, cfg.memory_warn_pct, cfg.memory_crit_pct);
        status = status.worst(cpu).worst(mem);
        let of = if u.memory_limited { tr!(lang, "its limit", "sa limite") } else { tr!(lang, "the host", "l'hôte") };
        if cpu != Status::Ok {
            problems.push(tr!(lang, "{} ({}) CPU {}% of {} CPU(s)", "{} ({}) CPU {} % de {} CPU", u.name, u.service, u.cpu_of_limit_pct, u.cpu_limit));
        }
        if mem != Status::Ok {
            problems.push(tr!(lang, "{} ({}) memory {} = {}% of {of}", "{} ({}) mémoire {} = {} % de {of}", u.name, u.service, human_bytes(u.memory_bytes), u.memory_pct));
        }
        metrics.push(Metric::new("cpu", u.cpu_of_limit_pct, "%").thresholds(cfg.cpu_warn_pct, cfg.cpu_crit_pct).range(0.0, 100.0).label("container", &u.name));
        metrics.push(Metric::new("memory", u.memory_bytes as f64, "B").range(0.0, u.memory_limit_bytes as f64).label("container", &u.name));
        metrics.push(Metric::new("memory_used", u.memory_pct, "%").thresholds(cfg.memory_warn_pct, cfg.memory_crit_pct).range(0.0, 100.0).label("container", &u.name));
    }
    metrics.push(no_stats_metric);
    let mut summary = match usages.iter().max_by(|a, b| a.memory_pct.total_cmp(&b.memory_pct)) {
        Some(top) if status == Status::Ok => {
            let cpu = usages.iter().map(|u| u.cpu_pct).sum::<f64>();
            tr!(
                lang,
                "{} container(s) within limits: {cpu:.1}% CPU in all, most memory {} ({}, {}%)",
                "{} conteneur(s) dans leurs limites : {cpu:.1} % CPU au total, plus de mémoire {} ({}, {} %)",
                usages.len(),
                top.name,
                human_bytes(top.memory_bytes),
                top.memory_pct
            )
        }
        _ => problems.join("; "),
    };
    if let Some(s) = no_stats {
        status = status.worst(Status::Warning);
        summary = tr!(lang, "{summary}; {s}", "{summary} ; {s}");
    }
    let mut o = Outcome::new(status, summary).details(details);
    o.metrics = metrics;
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerCpuUsage, ContainerMemoryStats};

    fn cpu(total: u64, sys: u64) -> ContainerCpuStats {
        ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage { total_usage: Some(total), ..Default::default() }),
            system_cpu_usage: Some(sys),
            online_cpus: Some(2),
            ..Default::default()
        }
    }

    fn memory() -> Option<ContainerMemoryStats> {
        Some(ContainerMemoryStats {
            usage: Some(60 << 20),
            limit: Some(100 << 20),
            stats: Some([("total_inactive_file".to_owned(), 10 << 20)].into()),
            ..Default::default()
        })
    }

    fn limited() -> ContainerFacts {
        let mut c = super::super::project::tests::facts("p-api-1", "api", "running");
        c.cpu_limit = Some(0.5);
        c.memory_limit = Some(100 << 20);
        c
    }

    #[test]
    fn docker_stats_formula() {
        let s = ContainerStatsResponse { cpu_stats: Some(cpu(1_500, 10_000)), precpu_stats: Some(cpu(1_000, 9_000)), memory_stats: memory(), ..Default::default() };
        let c = limited();
        let u = usage_from_stats(&s, &c).expect("primed answer");
        assert_eq!(u.cpu_pct, 100.0);
        assert_eq!(u.cpu_of_limit_pct, 200.0);
        assert_eq!(u.memory_pct, 50.0);
        // Two one-shot answers give the same figures.
        let one_shot = |total, sys| ContainerStatsResponse { cpu_stats: Some(cpu(total, sys)), memory_stats: memory(), ..Default::default() };
        assert_eq!(usage_from_stats(&one_shot(1_500, 10_000), &c), None, "a one-shot answer has no previous collection");
        let (a, b) = (Reading::from_stats(&one_shot(1_000, 9_000)).unwrap(), Reading::from_stats(&one_shot(1_500, 10_000)).unwrap());
        assert_eq!(usage_between(&a, &b, &c, Source::Engine), Some(u.clone()));
        assert_eq!(usage_between(&b, &b, &c, Source::Engine), None, "no time elapsed");
        // The empty answer of a stopped container is no reading at all.
        let empty = ContainerStatsResponse { cpu_stats: Some(ContainerCpuStats { cpu_usage: Some(ContainerCpuUsage::default()), ..Default::default() }), ..Default::default() };
        assert_eq!(Reading::from_stats(&empty), None);
        let o = evaluate_resources(&[u], &[], "p", &DockerConfig::default(), Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("p-api-1 (api) CPU"), "{}", o.summary);
    }

    #[test]
    fn cgroup_readings_use_the_same_formula() {
        let host = Host { online_cpus: 4, memory_bytes: 1 << 30 };
        let counters = |cpu_ns| Counters { cpu_ns, memory_usage: 300 << 20, inactive_file: 100 << 20, memory_limit: None };
        let a = Reading::from_cgroup(&counters(0), &host);
        std::thread::sleep(Duration::from_millis(20));
        let mut b = Reading::from_cgroup(&counters(0), &host);
        // Half a CPU over the elapsed time.
        b.cpu_ns = (b.system_ns - a.system_ns) / 4 / 2;
        let c = super::super::project::tests::facts("p-db-1", "db", "running");
        let u = usage_between(&a, &b, &c, Source::Cgroup).unwrap();
        assert_eq!((u.cpu_pct, u.cpu_limit, u.cpu_of_limit_pct), (50.0, 4.0, 12.5));
        assert_eq!((u.memory_bytes, u.memory_limit_bytes, u.memory_limited), (200 << 20, 1 << 30, false));
    }

    #[test]
    fn containers_without_stats_are_named() {
        let cfg = DockerConfig::default();
        let gone = NoStats { name: "p-worker-1".into(), service: "worker".into(), reason: "not running any more (empty stats)".into() };
        let o = evaluate_resources(&[], std::slice::from_ref(&gone), "p", &cfg, Lang::En);
        assert_eq!(o.status, Status::Unknown);
        assert_eq!(o.summary, "no stats for p-worker-1 (not running any more (empty stats))");
        let b = Reading { cpu_ns: 0, system_ns: 1_000, online_cpus: 2.0, memory_bytes: 10, memory_limit_bytes: 100 };
        let a = Reading { system_ns: 0, ..b };
        let u = usage_between(&a, &b, &super::super::project::tests::facts("p-api-1", "api", "running"), Source::Cgroup).unwrap();
        let o = evaluate_resources(&[u], &[gone], "p", &cfg, Lang::Fr);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("dans leurs limites") && o.summary.ends_with(" ; aucune statistique pour p-worker-1 (not running any more (empty stats))"), "{}", o.summary);
        assert_eq!(o.details["no_stats"][0]["name"], "p-worker-1");
        assert!(o.metrics.iter().any(|m| m.name == "no_stats" && m.value == 1.0 && m.warn == Some(1.0)));
        assert_eq!(evaluate_resources(&[], &[], "p", &cfg, Lang::En).status, Status::Skipped);
    }
}
