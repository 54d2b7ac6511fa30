//! CPU and memory of the running containers, one stats sample each (`docker stats --no-stream`).

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use serde::Serialize;

use super::project::{ContainerFacts, Project};
use super::human_bytes;
use crate::checks::{grade, Outcome};
use super::Settings as DockerConfig;
use crate::model::{Metric, Status};
use crate::{tr, Lang};

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
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Computes a container's usage from one stats answer (with its `precpu_stats`), as `docker stats` does.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn usage_from_stats(s: &ContainerStatsResponse, c: &ContainerFacts) -> Usage {
    let cpu = s.cpu_stats.clone().unwrap_or_default();
    let pre = s.precpu_stats.clone().unwrap_or_default();
    let total = |c: &bollard::models::ContainerCpuStats| c.cpu_usage.as_ref().and_then(|u| u.total_usage).unwrap_or(0);
    let cpu_delta = total(&cpu).saturating_sub(total(&pre)) as f64;
    let sys_delta = cpu.system_cpu_usage.unwrap_or(0).saturating_sub(pre.system_cpu_usage.unwrap_or(0)) as f64;
    let online = cpu
        .online_cpus
        .filter(|n| *n > 0)
        .map(f64::from)
        .or_else(|| cpu.cpu_usage.as_ref().and_then(|u| u.percpu_usage.as_ref()).map(|p| p.len() as f64).filter(|n| *n > 0.0))
        .unwrap_or(1.0);
    let cpu_pct = if sys_delta > 0.0 && pre.system_cpu_usage.is_some() { cpu_delta / sys_delta * online * 100.0 } else { 0.0 };
    let cpu_limit = c.cpu_limit.map_or(online, |l| l.min(online));
    let mem = s.memory_stats.clone().unwrap_or_default();
    let cache = mem.stats.as_ref().and_then(|st| st.get("total_inactive_file").or_else(|| st.get("inactive_file")).copied()).unwrap_or(0);
    let used = mem.usage.unwrap_or(0);
    let memory_bytes = if cache < used { used - cache } else { used };
    let memory_limit_bytes = mem.limit.unwrap_or(0);
    Usage {
        name: c.name.clone(),
        service: c.service.clone(),
        cpu_pct: round1(cpu_pct),
        cpu_limit,
        cpu_of_limit_pct: round1(cpu_pct / cpu_limit),
        memory_bytes,
        memory_limit_bytes,
        memory_limited: c.memory_limit.is_some(),
        memory_pct: if memory_limit_bytes == 0 { 0.0 } else { round1(memory_bytes as f64 * 100.0 / memory_limit_bytes as f64) },
    }
}

/// One stats sample of each running container (`stream=false`: the engine answers with two
/// consecutive collections of its one-second cycle, the earlier one for the CPU delta), taken
/// concurrently. Returns the samples and the names of the containers the engine gave none for
/// (stopped meanwhile, or an error).
pub async fn sample(docker: &Docker, p: &Project) -> (Vec<Usage>, Vec<String>) {
    let samples = futures::future::join_all(p.running().map(|c| async move {
        let mut s = docker.stats(&c.id, Some(StatsOptionsBuilder::new().stream(false).build()));
        match s.next().await {
            Some(Ok(stats)) => Ok(usage_from_stats(&stats, c)),
            _ => Err(c.name.clone()),
        }
    }))
    .await;
    let (mut ok, mut missed) = (Vec::new(), Vec::new());
    for s in samples {
        match s {
            Ok(u) => ok.push(u),
            Err(name) => missed.push(name),
        }
    }
    (ok, missed)
}

/// Judges CPU and memory against the thresholds: the worst container decides.
#[must_use]
pub fn evaluate_resources(usages: &[Usage], missed: &[String], project: &str, cfg: &DockerConfig, lang: Lang) -> Outcome {
    if usages.is_empty() && !missed.is_empty() {
        return Outcome::unknown(tr!(lang, "the engine gave no stats for {}", "le moteur n'a donné aucune statistique pour {}", missed.join(", ")));
    }
    if usages.is_empty() {
        return Outcome::skipped(tr!(lang, "no running container in project `{project}`", "aucun conteneur en marche dans le projet `{project}`"));
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
    let summary = if status == Status::Ok {
        let top = usages.iter().max_by(|a, b| a.memory_pct.total_cmp(&b.memory_pct)).expect("non-empty");
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
    } else {
        problems.join("; ")
    };
    let mut o = Outcome::new(status, summary).details(serde_json::json!({ "project": project, "containers": usages, "not_sampled": missed }));
    o.metrics = metrics;
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};

    #[test]
    fn docker_stats_formula() {
        let cpu = |total, sys| ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage { total_usage: Some(total), ..Default::default() }),
            system_cpu_usage: Some(sys),
            online_cpus: Some(2),
            ..Default::default()
        };
        let s = ContainerStatsResponse {
            cpu_stats: Some(cpu(1_500, 10_000)),
            precpu_stats: Some(cpu(1_000, 9_000)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(60 << 20),
                limit: Some(100 << 20),
                stats: Some([("total_inactive_file".to_owned(), 10 << 20)].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut c = super::super::project::tests::facts("p-api-1", "api", "running");
        c.cpu_limit = Some(0.5);
        c.memory_limit = Some(100 << 20);
        let u = usage_from_stats(&s, &c);
        assert_eq!(u.cpu_pct, 100.0);
        assert_eq!(u.cpu_of_limit_pct, 200.0);
        assert_eq!(u.memory_pct, 50.0);
        let o = evaluate_resources(&[u], &[], "p", &DockerConfig::default(), Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("p-api-1 (api) CPU"), "{}", o.summary);
    }
}
