//! Docker subsystem benchmark (issue target): `docker.resources` and the whole docker subsystem
//! finish within 0.5 s for 20 containers. Creates 20 compose-labelled busybox containers on the
//! stack's dockerd (`--network none`, local image), times the seven `docker.*` checks, prints
//! the container count and wall times beside `docker stats --no-stream` for the same
//! containers, and removes the containers.
//!
//! Run: `cargo build --release -p mssante-diag-benches && target/release/docker_bench`
//! (the test stack must be up: `tests/stack/stack.sh up`).

use std::process::Command;
use std::time::{Duration, Instant};

use mssante_diag_benches::{faster, secs, Row};
use mssante_diag_core::Status;
use mssante_diag_tests::{run_only, Stack};

const CONTAINERS: usize = 20;
const ROUNDS: usize = 5;
const TARGET: Duration = Duration::from_millis(500);

fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker").arg("-H").arg(host).args(args).output().expect("docker CLI runs");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The benchmark's containers, removed on drop (also after a panic).
struct Fleet {
    host: String,
    label: String,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let ids = docker(&self.host, &["ps", "-aq", "--filter", &self.label]);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.lines());
            docker(&self.host, &args);
        }
    }
}

fn stats(v: &mut [Duration]) -> (f64, f64) {
    v.sort();
    (v[v.len() / 2].as_secs_f64(), v[v.len() - 1].as_secs_f64())
}

fn main() {
    let stack = Stack::get();
    let host = stack.var("DOCKER_HOST").to_owned();
    let image = stack.var("DOCKER_IMAGE").to_owned();
    let project = format!("mssante-bench-{}", std::process::id());
    let fleet = Fleet { host: host.clone(), label: format!("label=com.docker.compose.project={project}") };
    let services: Vec<String> = (1..=CONTAINERS).map(|i| format!("svc{i:02}")).collect();
    for svc in &services {
        docker(&host, &[
            "run", "-d", "--network", "none", "--stop-signal", "KILL", "--name", &format!("{project}-{svc}-1"),
            "--label", &format!("com.docker.compose.project={project}"), "--label", &format!("com.docker.compose.service={svc}"),
            // A little output for docker.logs to scan.
            &image, "sh", "-c", "for i in $(seq 1 200); do echo \"line $i ok\"; done; echo 'ERROR sample'; exec sleep 600",
        ]);
    }
    let mut config = stack.config();
    config.docker.project.clone_from(&project);
    config.docker.services.clone_from(&services);
    config.timeout_secs = 5.0;

    // Idle engine between runs (a monitoring system runs it once a minute), then back to back.
    let mut rows = Vec::new();
    for (mode, pause) in [("idle engine (2 s pause)", Duration::from_secs(2)), ("back to back", Duration::ZERO)] {
        let (mut whole, mut res) = (Vec::new(), Vec::new());
        let (mut counted, mut from_cgroups) = (0, 0);
        for _ in 0..ROUNDS {
            std::thread::sleep(pause);
            let start = Instant::now();
            let report = run_only(config.clone(), &["docker"]);
            whole.push(start.elapsed());
            let r = report.check("docker.resources").expect("ran");
            res.push(Duration::from_millis(r.duration_ms));
            let sampled = r.details["containers"].as_array().cloned().unwrap_or_default();
            counted = sampled.len();
            from_cgroups = sampled.iter().filter(|c| c["source"] == "cgroup").count();
            let bad: Vec<String> = report
                .checks
                .iter()
                .filter(|c| !matches!(c.status, Status::Ok | Status::Skipped) && c.id != "docker.logs")
                .map(|c| format!("{} {}: {}", c.id, c.status, c.summary))
                .collect();
            assert!(bad.is_empty(), "{bad:#?}");
        }
        let (wm, wx) = stats(&mut whole);
        let (rm, rx) = stats(&mut res);
        let verdict = if wx <= TARGET.as_secs_f64() { "PASS" } else { "FAIL" };
        println!(
            "docker subsystem, {mode}: {counted} containers sampled ({from_cgroups} from their cgroups); whole subsystem median {wm:.3} s max {wx:.3} s; \
             docker.resources median {rm:.3} s max {rx:.3} s; target <= {:.1} s: {verdict}",
            TARGET.as_secs_f64()
        );
        rows.push((mode, wm, wx, counted));
    }

    let ids: Vec<String> = docker(&host, &["ps", "-q", "--filter", &fleet.label]).lines().map(str::to_owned).collect();
    let mut peer = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(2));
        let start = Instant::now();
        let mut args = vec!["stats", "--no-stream"];
        args.extend(ids.iter().map(String::as_str));
        docker(&host, &args);
        peer.push(start.elapsed());
    }
    let (pm, px) = stats(&mut peer);
    println!("peer `docker stats --no-stream` of the same {} containers (idle engine): median {pm:.3} s max {px:.3} s", ids.len());
    for (mode, wm, wx, counted) in rows {
        Row::new("docker", &format!("the docker.* checks, {counted} containers, {mode}: median (max) of {ROUNDS}"), format!("{} ({})", secs(wm), secs(wx)))
            .peer("docker stats --no-stream, same containers, idle engine", format!("{} ({})", secs(pm), secs(px)))
            .ratio(faster(wm, pm))
            .target(format!("max <= {} s", TARGET.as_secs_f64()), wx <= TARGET.as_secs_f64())
            .print();
    }
    drop(fleet);
}
