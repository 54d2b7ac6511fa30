//! `system.resources`: the host's load against its CPUs, available memory and swap in use
//! (guide: Performance, "Vérifier la charge système"), from `/proc/loadavg`, `/proc/meminfo`
//! and `/sys/devices/system/cpu/online`, each read with a cap.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::checks::{grade, step, Ctx, Outcome, Step};
use crate::model::{Metric, Status};
use crate::{tr, units, Lang};

/// Bytes read at most of one `/proc` or `/sys` file.
const MAX_FILE: u64 = 64 * 1024;

/// Generic remedy of `system.resources`.
pub(super) const RESOURCES_STEPS: &[Step] = &[
    step!("See which containers use the CPU and memory", "Voir quels conteneurs consomment CPU et mémoire", guide = "Performance P1", cmd = "docker stats --no-stream"),
    step!("See which processes of the host do", "Voir quels processus de l'hôte le font", guide = "Performance P1", cmd = "top -b -n 1 -o %MEM | head -20"),
    step!("Look for slow database queries", "Chercher les requêtes lentes de la base", guide = "Performance P1", cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT pid, now() - query_start AS duration, query FROM pg_stat_activity WHERE state = 'active' ORDER BY duration DESC LIMIT 10;\""),
    step!(
        "Give the services more resources (deploy.resources.limits in docker-compose.yml) or the host more memory",
        "Donner plus de ressources aux services (deploy.resources.limits dans docker-compose.yml) ou plus de mémoire à l'hôte",
        guide = "Performance P1"
    ),
];

/// The host's load, memory and swap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Resources {
    /// Load averages over 1, 5 and 15 minutes.
    pub load: [f64; 3],
    /// CPUs online.
    pub cpus: u32,
    /// `MemTotal`, bytes.
    pub memory_total: u64,
    /// `MemAvailable`, bytes (what can be had without swapping).
    pub memory_available: u64,
    /// `SwapTotal`, bytes.
    pub swap_total: u64,
    /// `SwapFree`, bytes.
    pub swap_free: u64,
}

/// Parses `/proc/loadavg`.
#[must_use]
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut f = text.split_whitespace().map(str::parse::<f64>);
    Some([f.next()?.ok()?, f.next()?.ok()?, f.next()?.ok()?])
}

/// Parses `/proc/meminfo` into (total, available, swap total, swap free), bytes.
#[must_use]
pub fn parse_meminfo(text: &str) -> Option<(u64, u64, u64, u64)> {
    let field = |key: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    let total = field("MemTotal")?;
    // Kernels before 3.14 have no MemAvailable: free + cached is the usual estimate.
    let available = field("MemAvailable").or_else(|| {
        Some(field("MemFree")? + field("Cached").unwrap_or(0) + field("Buffers").unwrap_or(0))
    })?;
    Some((
        total,
        available,
        field("SwapTotal").unwrap_or(0),
        field("SwapFree").unwrap_or(0),
    ))
}

/// Counts the CPUs of a `cpu/online` list (`0-3,6,8-9`).
#[must_use]
pub fn parse_cpu_list(text: &str) -> Option<u32> {
    let mut n = 0u32;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<u32>().ok()?.checked_sub(a.parse::<u32>().ok()?)? + 1,
            None => {
                part.parse::<u32>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// Reads the host's resources (blocking: small files of `/proc` and `/sys`).
///
/// # Errors
/// Which file could not be read or understood.
pub fn read_resources() -> Result<Resources, String> {
    let read =
        |p: &str| crate::fs::read_capped(Path::new(p), MAX_FILE).map_err(|e| format!("{p}: {e}"));
    let load = parse_loadavg(&read("/proc/loadavg")?).ok_or("/proc/loadavg: not understood")?;
    let (memory_total, memory_available, swap_total, swap_free) =
        parse_meminfo(&read("/proc/meminfo")?).ok_or("/proc/meminfo: no MemTotal")?;
    let cpus = read("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|t| parse_cpu_list(&t))
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .and_then(|n| u32::try_from(n.get()).ok())
        })
        .unwrap_or(1);
    Ok(Resources {
        load,
        cpus,
        memory_total,
        memory_available,
        swap_total,
        swap_free,
    })
}

/// Thresholds of `system.resources`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResourceLimits {
    /// 5-minute load per CPU: warning, critical.
    pub load_per_cpu: (f64, f64),
    /// Memory available, percent: warning below, critical below.
    pub memory_available_pct: (f64, f64),
    /// Swap used, percent: warning, critical.
    pub swap_used_pct: (f64, f64),
}

/// Judges load per CPU (5-minute average), memory available and swap in use; the worst decides.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_resources(r: &Resources, lim: &ResourceLimits, lang: Lang) -> Outcome {
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let per_cpu = (r.load[1] / f64::from(r.cpus) * 100.0).round() / 100.0;
    let mem_pct = if r.memory_total == 0 {
        100.0
    } else {
        round(r.memory_available as f64 * 100.0 / r.memory_total as f64)
    };
    let swap_used = r.swap_total.saturating_sub(r.swap_free);
    let swap_pct = if r.swap_total == 0 {
        0.0
    } else {
        round(swap_used as f64 * 100.0 / r.swap_total as f64)
    };
    let load_s = grade(per_cpu, lim.load_per_cpu.0, lim.load_per_cpu.1);
    // Lower is worse: grade the shortfall.
    let mem_s = grade(
        -mem_pct,
        -lim.memory_available_pct.0,
        -lim.memory_available_pct.1,
    );
    let swap_s = if r.swap_total == 0 {
        Status::Ok
    } else {
        grade(swap_pct, lim.swap_used_pct.0, lim.swap_used_pct.1)
    };
    let mut problems = Vec::new();
    if load_s != Status::Ok {
        problems.push(tr!(
            lang,
            "load {} over {} CPU(s) ({per_cpu} per CPU, threshold {})",
            "charge {} pour {} CPU ({per_cpu} par CPU, seuil {})",
            r.load[1],
            r.cpus,
            lim.load_per_cpu.0
        ));
    }
    if mem_s != Status::Ok {
        problems.push(tr!(
            lang,
            "only {mem_pct}% of memory available ({} of {})",
            "seulement {mem_pct} % de mémoire disponible ({} sur {})",
            units::bytes(r.memory_available, lang),
            units::bytes(r.memory_total, lang)
        ));
    }
    if swap_s != Status::Ok {
        problems.push(tr!(
            lang,
            "swap {swap_pct}% used ({})",
            "swap utilisé à {swap_pct} % ({})",
            units::bytes(swap_used, lang)
        ));
    }
    let status = load_s.worst(mem_s).worst(swap_s);
    let summary = if problems.is_empty() {
        tr!(
            lang,
            "load {} over {} CPU(s), {mem_pct}% of memory available, swap {swap_pct}% used",
            "charge {} pour {} CPU, {mem_pct} % de mémoire disponible, swap utilisé à {swap_pct} %",
            r.load[1],
            r.cpus
        )
    } else {
        problems.join("; ")
    };
    let mut o = Outcome::new(status, summary)
        .details(r)
        .metric(
            Metric::new("load5_per_cpu", per_cpu, "")
                .thresholds(lim.load_per_cpu.0, lim.load_per_cpu.1),
        )
        .metric(Metric::new("memory_available", mem_pct, "%").range(0.0, 100.0));
    if r.swap_total > 0 {
        o = o.metric(
            Metric::new("swap_used", swap_pct, "%")
                .thresholds(lim.swap_used_pct.0, lim.swap_used_pct.1)
                .range(0.0, 100.0),
        );
    }
    o
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    let s = &ctx.config.system;
    let lim = ResourceLimits {
        load_per_cpu: (s.load_warn_per_cpu, s.load_crit_per_cpu),
        memory_available_pct: (s.memory_warn_pct, s.memory_crit_pct),
        swap_used_pct: (s.swap_warn_pct, s.swap_crit_pct),
    };
    match ctx
        .step_named("read /proc", tokio::task::spawn_blocking(read_resources))
        .await
    {
        Ok(Ok(Ok(r))) => evaluate_resources(&r, &lim, lang),
        Ok(Ok(Err(e))) => Outcome::unknown(e),
        Ok(Err(e)) => Outcome::unknown(e.to_string()),
        Err(t) => ctx.timed_out(&tr!(lang, "reading /proc", "lecture de /proc"), t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: ResourceLimits = ResourceLimits {
        load_per_cpu: (1.5, 3.0),
        memory_available_pct: (15.0, 5.0),
        swap_used_pct: (50.0, 80.0),
    };

    fn res(load5: f64, avail: u64, swap_free: u64) -> Resources {
        Resources {
            load: [0.0, load5, 0.0],
            cpus: 4,
            memory_total: 1000,
            memory_available: avail,
            swap_total: 100,
            swap_free,
        }
    }

    #[test]
    fn parsers() {
        assert_eq!(
            parse_loadavg("0.14 1.06 1.68 2/221 30869\n"),
            Some([0.14, 1.06, 1.68])
        );
        assert_eq!(parse_loadavg("garbage"), None);
        let m = "MemTotal:       24684096 kB\nMemFree:        20503676 kB\nMemAvailable:   23983260 kB\nSwapTotal:  0 kB\nSwapFree: 0 kB\n";
        assert_eq!(
            parse_meminfo(m),
            Some((24_684_096 * 1024, 23_983_260 * 1024, 0, 0))
        );
        assert_eq!(parse_meminfo("nothing"), None);
        assert_eq!(parse_cpu_list("0-3,6,8-9\n"), Some(7));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("3-1"), None);
    }

    #[test]
    fn thresholds() {
        assert_eq!(
            evaluate_resources(&res(2.0, 500, 100), &LIM, Lang::En).status,
            Status::Ok
        );
        let busy = evaluate_resources(&res(8.0, 500, 100), &LIM, Lang::En);
        assert_eq!(busy.status, Status::Warning);
        assert!(busy.summary.contains("per CPU"), "{}", busy.summary);
        let oom = evaluate_resources(&res(1.0, 40, 100), &LIM, Lang::Fr);
        assert_eq!(oom.status, Status::Critical);
        assert!(oom.summary.contains("mémoire"), "{}", oom.summary);
        assert_eq!(
            evaluate_resources(&res(1.0, 500, 10), &LIM, Lang::En).status,
            Status::Critical
        );
    }

    #[test]
    fn the_host_reads() {
        let r = read_resources().expect("/proc readable");
        assert!(r.cpus >= 1 && r.memory_total > 0);
    }
}
