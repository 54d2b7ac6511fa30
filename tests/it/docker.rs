//! Docker checks and the exec runner against the stack's real dockerd, with compose-labelled
//! busybox containers (`--network none`, image built locally, never pulled). Each test uses its
//! own compose project name and removes its containers.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mssante_diag_core::checks::docker::{self as dk, resources};
use mssante_diag_core::exec::{self, ExecError, Place};
use mssante_diag_core::{CheckResult, Config, Ctx, Report, Status};
use mssante_diag_tests::{fault, healthy, hostile_server, hung_listener, run_only, Stack};

/// A compose project of throw-away containers on the stack's dockerd, removed on drop.
struct Project {
    name: String,
    host: String,
    image: String,
}

impl Project {
    fn new(tag: &str) -> Self {
        let stack = Stack::get();
        Self {
            name: format!("mssante-it-{tag}-{}", std::process::id()),
            host: stack.var("DOCKER_HOST").to_owned(),
            image: stack.var("DOCKER_IMAGE").to_owned(),
        }
    }

    fn docker(&self, args: &[&str]) -> String {
        docker(&self.host, args)
    }

    /// Starts `<project>-<service>-1` running `cmd`, with extra `docker run` options; returns its name.
    fn run(&self, service: &str, opts: &[&str], cmd: &[&str]) -> String {
        let name = format!("{}-{service}-1", self.name);
        let project = format!("com.docker.compose.project={}", self.name);
        let svc = format!("com.docker.compose.service={service}");
        let mut args = vec!["run", "-d", "--name", &name, "--network", "none", "--stop-signal", "KILL", "--label", &project, "--label", &svc];
        args.extend_from_slice(opts);
        args.push(&self.image);
        args.extend_from_slice(cmd);
        self.docker(&args);
        name
    }

    /// A long-running healthy service.
    fn idle(&self, service: &str) -> String {
        self.run(service, &[], &["sleep", "600"])
    }

    fn wait_for(&self, name: &str, format: &str, done: impl Fn(&str) -> bool) -> String {
        wait_for(&self.host, name, format, done)
    }

    /// The stack's configuration aimed at this project and these expected services.
    fn config(&self, services: &[&str]) -> Config {
        let mut c = Stack::get().config();
        c.docker.project.clone_from(&self.name);
        c.docker.services = services.iter().map(|s| (*s).to_owned()).collect();
        c
    }
}

/// The docker CLI on the stack's engine; panics with its stderr on failure.
fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker").arg("-H").arg(host).args(args).output().expect("docker CLI runs");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits (at most 30 s) until `docker inspect -f format` of `name` satisfies `done`.
fn wait_for(host: &str, name: &str, format: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = Command::new("docker").arg("-H").arg(host).args(["inspect", "-f", format, name]).output().expect("docker CLI runs");
        let v = String::from_utf8_lossy(&v.stdout).trim().to_owned();
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{name}: `{format}` still {v:?} after 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        let ids = self.docker(&["ps", "-aq", "--filter", &filter]);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.lines());
            self.docker(&args);
        }
        let vols = self.docker(&["volume", "ls", "-q", "--filter", &filter]);
        if !vols.is_empty() {
            let mut args = vec!["volume", "rm", "-f"];
            args.extend(vols.lines());
            self.docker(&args);
        }
    }
}

fn check<'a>(report: &'a Report, id: &str) -> &'a CheckResult {
    report.check(id).unwrap_or_else(|| panic!("{id} did not run"))
}

fn show(c: &CheckResult) -> String {
    format!("{}: {} {}\n{:#}", c.id, c.status, c.summary, c.details)
}

#[test]
fn healthy_stack_project_is_all_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let report = run_only(stack.config(), &["docker"]);
    assert_eq!(report.checks.len(), 7);
    for c in &report.checks {
        assert_eq!(c.status, Status::Ok, "{}", show(c));
        assert!(c.remediation.is_empty(), "{}", show(c));
    }
    let daemon = check(&report, "docker.daemon");
    assert!(daemon.details["engine"]["version"].as_str().is_some_and(|v| !v.is_empty()), "{}", show(daemon));
    let containers = check(&report, "docker.containers");
    assert!(containers.summary.contains("6 service(s)"), "{}", show(containers));
    // The API stand-in's healthcheck is really read, not skipped.
    assert!(check(&report, "docker.health").summary.contains("1 healthcheck"), "{}", show(check(&report, "docker.health")));
    let res = check(&report, "docker.resources");
    assert_eq!(res.details["containers"].as_array().map(Vec::len), Some(6), "{}", show(res));
    assert!(res.metrics.iter().any(|m| m.name == "memory_used" && m.labels.get("container").is_some_and(|c| c == "mssante-test-api-1")));
    let logs = check(&report, "docker.logs");
    assert_eq!(logs.details["services"].as_array().map(Vec::len), Some(6), "{}", show(logs));
    let disk = check(&report, "docker.disk");
    assert!(disk.details["images"]["size_bytes"].as_u64().is_some_and(|b| b > 0), "{}", show(disk));
    assert!(disk.details["root_fs"]["available_bytes"].as_u64().is_some_and(|b| b > 0), "{}", show(disk));
}

#[test]
fn restart_loop_is_named_with_its_last_log() {
    let _g = healthy();
    let p = Project::new("loop");
    p.idle("api");
    let name = p.run("worker", &["--restart", "always"], &["sh", "-c", "echo boom; exit 1"]);
    p.wait_for(&name, "{{.RestartCount}}", |n| n.parse::<u32>().is_ok_and(|n| n >= 2));
    let report = run_only(p.config(&["api", "worker"]), &["docker.restarts", "docker.containers"]);
    let r = check(&report, "docker.restarts");
    assert_ne!(r.status, Status::Ok, "{}", show(r));
    assert!(r.summary.contains(&name) && r.summary.contains("restarts"), "{}", show(r));
    assert_eq!(r.details["looping"][0]["name"], name.as_str(), "{}", show(r));
    let logs = r.details["looping"][0]["last_logs"].as_array().expect("last logs");
    assert!(logs.iter().any(|l| l == "boom"), "{}", show(r));
    assert!(r.remediation.iter().any(|s| s.guide == "Démarrage P4" && s.command.as_deref() == Some(&*format!("docker compose -p {} logs --tail=50 worker", p.name))), "{:#?}", r.remediation);
}

#[test]
fn unhealthy_container_is_named_with_its_probe_output() {
    let _g = healthy();
    let p = Project::new("unhealthy");
    p.idle("api");
    let name = p.run(
        "db",
        &["--health-cmd", "echo probe-failed: db down; exit 1", "--health-interval", "1s", "--health-retries", "1"],
        &["sleep", "600"],
    );
    p.wait_for(&name, "{{.State.Health.Status}}", |s| s == "unhealthy");
    let report = run_only(p.config(&["api", "db"]), &["docker.health", "docker.containers"]);
    let h = check(&report, "docker.health");
    assert_eq!(h.status, Status::Critical, "{}", show(h));
    assert!(h.summary.contains(&name) && h.summary.contains("probe-failed: db down"), "{}", show(h));
    // Running, so the containers check stays ok: each check says its own thing.
    assert_eq!(check(&report, "docker.containers").status, Status::Ok, "{}", show(check(&report, "docker.containers")));
}

#[test]
fn exited_container_is_named_with_its_code() {
    let _g = healthy();
    let p = Project::new("exited");
    p.idle("api");
    let name = p.run("postfix", &[], &["sh", "-c", "exit 3"]);
    p.wait_for(&name, "{{.State.Status}}", |s| s == "exited");
    let report = run_only(p.config(&["api", "postfix"]), &["docker.containers"]);
    let c = check(&report, "docker.containers");
    assert_eq!(c.status, Status::Critical, "{}", show(c));
    assert!(c.summary.contains(&format!("{name} (postfix): exited with code 3")), "{}", show(c));
    assert!(c.remediation.iter().any(|s| s.command.as_deref().is_some_and(|c| c.ends_with("logs --tail=50 postfix"))), "{:#?}", c.remediation);
}

#[test]
fn oom_killed_container_is_named() {
    let _g = healthy();
    let p = Project::new("oom");
    p.idle("api");
    let name = p.run("redis", &["--memory", "16m", "--memory-swap", "16m"], &["sh", "-c", "sleep 1; exec dd if=/dev/zero of=/dev/null bs=64M count=1"]);
    // dockerd records the OOM event apart from the exit event: wait for both.
    p.wait_for(&name, "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}", |s| s == "exited 137 true");
    let report = run_only(p.config(&["api", "redis"]), &["docker.containers"]);
    let c = check(&report, "docker.containers");
    assert_eq!(c.status, Status::Critical, "{}", show(c));
    assert!(c.summary.contains(&name) && c.summary.contains("OOMKilled"), "{}", show(c));
    assert!(c.remediation.iter().any(|s| s.guide == "Performance P1"), "{:#?}", c.remediation);
}

#[test]
fn missing_service_is_named() {
    let _g = healthy();
    let p = Project::new("missing");
    p.idle("api");
    let report = run_only(p.config(&["api", "dovecot"]), &["docker.containers"]);
    let c = check(&report, "docker.containers");
    assert_eq!(c.status, Status::Critical, "{}", show(c));
    assert!(c.summary.contains("dovecot: missing"), "{}", show(c));
    assert_eq!(c.details["missing"], serde_json::json!(["dovecot"]));

    // A project with no container at all names the projects that do exist.
    let empty = Project::new("nothing");
    let report = run_only(empty.config(&["api"]), &["docker.containers"]);
    let c = check(&report, "docker.containers");
    assert_eq!(c.status, Status::Critical, "{}", show(c));
    assert!(c.summary.contains("mssante-test"), "{}", show(c));
}

#[test]
fn error_lines_are_counted_per_service() {
    let _g = healthy();
    let p = Project::new("errors");
    p.idle("api");
    let name = p.run(
        "api-worker",
        &[],
        &["sh", "-c", "echo starting; for i in 1 2 3; do echo \"ERROR: database unreachable $i\"; done; echo 'WARN: slow' >&2; exec sleep 600"],
    );
    p.wait_for(&name, "{{.State.Status}}", |s| s == "running");
    // The log is written by then (the echo lines come before the exec).
    std::thread::sleep(Duration::from_millis(300));
    let report = run_only(p.config(&["api", "api-worker"]), &["docker.logs", "docker.containers"]);
    let l = check(&report, "docker.logs");
    assert_eq!(l.status, Status::Warning, "{}", show(l));
    assert!(l.summary.contains(&name) && l.summary.contains("3 error line(s)") && l.summary.contains("database unreachable 3"), "{}", show(l));
    let svc = l.details["services"].as_array().expect("services").iter().find(|s| s["service"] == "api-worker").expect("scanned").clone();
    assert_eq!((svc["errors"].as_u64(), svc["warnings"].as_u64()), (Some(3), Some(1)), "{svc:#}");
    let clean = l.details["services"].as_array().expect("services").iter().find(|s| s["service"] == "api").expect("scanned").clone();
    assert_eq!(clean["errors"].as_u64(), Some(0));
    assert_eq!(check(&report, "docker.containers").status, Status::Ok);

    // Thresholds are the config's: 3 errors over a critical threshold of 2.
    let mut cfg = p.config(&["api", "api-worker"]);
    cfg.docker.log_errors_crit = 2;
    let report = run_only(cfg, &["docker.logs"]);
    assert_eq!(check(&report, "docker.logs").status, Status::Critical);
}

#[test]
fn mail_lines_of_a_service_log_are_summarised() {
    let _g = healthy();
    let p = Project::new("maillines");
    // One message from the platform: one recipient delivered, one deferred (joined by queue id).
    let lines = "Nov 30 10:00:00 mail postfix/smtpd[10]: 4ABC123DEF: client=peer.example[192.0.2.7]
Nov 30 10:00:01 mail postfix/qmgr[11]: 4ABC123DEF: from=<sender@mssante.test>, size=300, nrcpt=2 (queue active)
Nov 30 10:00:02 mail postfix/smtp[12]: 4ABC123DEF: to=<dr.x@hopital.example>, relay=mx.hopital.example[192.0.2.8]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)
Nov 30 10:00:03 mail postfix/smtp[12]: 4ABC123DEF: to=<dr.y@clinique.example>, relay=none, delay=2, delays=0/0/2/0, dsn=4.4.1, status=deferred (connect to mx.clinique.example[192.0.2.9]:25: Connection timed out)
";
    let name = p.run("postfix", &[], &["sh", "-c", &format!("printf '%s' '{lines}'; exec sleep 600")]);
    p.wait_for(&name, "{{.State.Status}}", |s| s == "running");
    std::thread::sleep(Duration::from_millis(300));
    let report = run_only(p.config(&["postfix"]), &["docker.logs"]);
    let l = check(&report, "docker.logs");
    let svc = l.details["services"].as_array().expect("services").iter().find(|s| s["service"] == "postfix").expect("scanned").clone();
    let mail = &svc["mail"];
    assert_eq!((mail["received"].as_u64(), mail["delivered"].as_u64(), mail["deferred"].as_u64()), (Some(1), Some(1), Some(1)), "{svc:#}");
    assert!(mail["top_deferral_reasons"].to_string().contains("Connection timed out"), "{mail:#}");
    let deferred = l.metrics.iter().find(|m| m.name == "mail_deferred").expect("mail_deferred metric");
    assert_eq!(deferred.value, 1.0);
    // Addresses are masked in the report.
    let text = serde_json::to_string(&l.details).expect("json");
    assert!(!text.contains("dr.y@clinique.example") && !text.contains("sender@mssante.test"), "{text}");
}

#[test]
fn cpu_over_the_limit_is_named() {
    let _g = healthy();
    let p = Project::new("cpu");
    // A busy loop capped at a fifth of a CPU: it uses all of its limit.
    let name = p.run("api", &["--cpus", "0.2"], &["sh", "-c", "while :; do :; done"]);
    p.wait_for(&name, "{{.State.Status}}", |s| s == "running");
    std::thread::sleep(Duration::from_millis(500));
    let mut cfg = p.config(&["api"]);
    (cfg.docker.cpu_warn_pct, cfg.docker.cpu_crit_pct) = (50.0, 70.0);
    let report = run_only(cfg, &["docker.resources"]);
    let r = check(&report, "docker.resources");
    assert_eq!(r.status, Status::Critical, "{}", show(r));
    assert!(r.summary.contains(&name) && r.summary.contains("CPU"), "{}", show(r));
    let c = &r.details["containers"][0];
    assert!((c["cpu_limit"].as_f64().expect("limit") - 0.2).abs() < 1e-9, "{c:#}");
    assert!(c["cpu_pct"].as_f64().is_some_and(|p| p > 10.0 && p < 40.0), "{c:#}");
    assert_eq!(c["source"], "cgroup", "a local engine's containers are read from their cgroups: {c:#}");

    // The engine's one-shot stats (what a remote engine gets) measure the same use.
    let ctx = Arc::new(Ctx::new(Arc::new(p.config(&["api"]))));
    let (usages, missed) = block_on(async {
        let e = ctx.engine().await.expect("engine");
        let inv = dk::project(&ctx).await.expect("inventory");
        resources::sample_engine(&e.docker, &inv.containers, e.lang).await
    });
    assert!(missed.is_empty(), "{missed:?}");
    assert_eq!(usages[0].source, resources::Source::Engine);
    assert!(usages[0].cpu_pct > 10.0 && usages[0].cpu_pct < 40.0, "{usages:?}");
}

#[test]
fn container_without_stats_is_named() {
    let _g = healthy();
    let p = Project::new("nostats");
    let api = p.idle("api");
    let worker = p.idle("worker");
    p.wait_for(&worker, "{{.State.Status}}", |s| s == "running");
    let resources_check = mssante_diag_core::find("docker.resources").expect("in the catalogue");
    let ctx = Arc::new(Ctx::new(Arc::new(p.config(&["api", "worker"]))));
    let (o, engine_missed) = block_on(async {
        // The run's inventory sees both running; the worker stops before its stats are read.
        let inv = dk::project(&ctx).await.expect("inventory");
        assert_eq!(inv.running().count(), 2);
        p.docker(&["kill", &worker]);
        p.wait_for(&worker, "{{.State.Status}}", |s| s == "exited");
        let o = (resources_check.run)(ctx.clone()).await;
        let e = ctx.engine().await.expect("engine");
        let (_, missed) = resources::sample_engine(&e.docker, &inv.containers, e.lang).await;
        (o, missed)
    });
    assert_eq!(o.status, Status::Warning, "{}: {:#}", o.summary, o.details);
    assert!(o.summary.contains(&format!("no stats for {worker} (not running any more")), "{}", o.summary);
    assert_eq!(o.details["no_stats"][0]["name"], worker.as_str(), "{:#}", o.details);
    assert_eq!(o.details["containers"][0]["name"], api.as_str(), "the other container is still measured: {:#}", o.details);
    assert!(o.metrics.iter().any(|m| m.name == "no_stats" && m.value == 1.0));
    // Through the engine's API the stopped container's empty answer is no stats either.
    assert_eq!(engine_missed.len(), 1, "{engine_missed:?}");
    assert_eq!(engine_missed[0].name, worker);
    assert!(engine_missed[0].reason.contains("empty stats"), "{engine_missed:?}");

    // No container measured at all: undecided.
    let ctx = Arc::new(Ctx::new(Arc::new(p.config(&["api", "worker"]))));
    let o = block_on(async {
        dk::project(&ctx).await.expect("inventory");
        p.docker(&["kill", &api]);
        p.wait_for(&api, "{{.State.Status}}", |s| s == "exited");
        (resources_check.run)(ctx.clone()).await
    });
    assert_eq!(o.status, Status::Unknown, "{}", o.summary);
    assert!(o.summary.starts_with(&format!("no stats for {api} (")), "{}", o.summary);
}

#[test]
fn concurrent_runs_of_docker_disk_wait_for_each_other() {
    // The engine computes one `system df` at a time and answers the others "a disk usage
    // operation is already running": runs side by side (a scrape beside a timer) all end ok.
    let _g = healthy();
    let p = Project::new("dfrace");
    // A volume of many files makes each `system df` walk for a while, so the runs overlap.
    let vol = format!("{}-many", p.name);
    let label = format!("com.docker.compose.project={}", p.name);
    p.docker(&["volume", "create", "--label", &label, &vol]);
    let mount = format!("{vol}:/data");
    let writer = p.run("writer", &["-v", &mount], &["sh", "-c", "cd /data && seq 1 20000 | xargs touch"]);
    p.wait_for(&writer, "{{.State.Status}}", |s| s == "exited");
    for round in 0..3 {
        let runs: Vec<_> = (0..6).map(|_| {
            let cfg = p.config(&[]);
            std::thread::spawn(move || run_only(cfg, &["docker.disk"]))
        }).collect();
        for r in runs {
            let report = r.join().expect("run");
            let d = check(&report, "docker.disk");
            assert_eq!(d.status, Status::Ok, "round {round}: {}", show(d));
        }
    }
}

#[test]
fn disk_reports_reclaimable_volumes_and_thresholds() {
    let _g = healthy();
    let p = Project::new("disk");
    let vol = format!("{}-data", p.name);
    let label = format!("com.docker.compose.project={}", p.name);
    p.docker(&["volume", "create", "--label", &label, &vol]);
    // 2 MB written into a volume that no container uses afterwards: reclaimable.
    let mount = format!("{vol}:/data");
    let writer = p.run("writer", &["-v", &mount], &["dd", "if=/dev/zero", "of=/data/blob", "bs=1M", "count=2"]);
    p.wait_for(&writer, "{{.State.Status}}", |s| s == "exited");
    p.docker(&["rm", &writer]);
    let report = run_only(p.config(&[]), &["docker.disk"]);
    let d = check(&report, "docker.disk");
    assert_eq!(d.status, Status::Ok, "{}", show(d));
    assert!(d.details["volumes"]["reclaimable_bytes"].as_u64().is_some_and(|b| b >= 2 << 20), "{}", show(d));

    // The Docker root is judged with [system]'s thresholds: lowered below its real use, critical.
    let mut cfg = p.config(&[]);
    cfg.system.disk_warn_pct = 0.01;
    cfg.system.disk_crit_pct = 0.02;
    let report = run_only(cfg, &["docker.disk"]);
    let d = check(&report, "docker.disk");
    assert_eq!(d.status, Status::Critical, "{}", show(d));
    let prune = d.remediation.iter().find(|s| s.command.as_deref() == Some("docker system prune -a --volumes")).expect("prune step");
    assert!(prune.destructive && prune.guide == "Démarrage P3");
}

/// GETs `path` from the stack's dockerd over its socket; returns the body.
fn stack_engine_get(path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let sock = Stack::get().var("DOCKER_HOST").trim_start_matches("unix://").to_owned();
    let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("stack dockerd socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").expect("request");
    let mut answer = Vec::new();
    s.take(16 << 20).read_to_end(&mut answer).expect("answer");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("HTTP answer");
    assert!(answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..split]));
    answer[split + 4..].to_vec()
}

/// A loopback stand-in for dockerd that answers `/_ping`, `/version`, `/containers/json` and
/// `/system/df` with the stack engine's real answers and refuses `/info` with HTTP 500.
fn engine_refusing_info() -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let answers: Vec<(&str, Vec<u8>)> =
        ["/version", "/containers/json", "/system/df"].into_iter().map(|p| (p, stack_engine_get(&format!("/v1.41{p}")))).collect();
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let answers = answers.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let mut w = conn.try_clone().expect("clone");
                let mut r = BufReader::new(conn.take(1 << 20));
                // Keep-alive: one request after the other on the connection.
                loop {
                    let mut request = String::new();
                    if r.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if r.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    let target = request.split(' ').nth(1).unwrap_or("/");
                    let path = target.split('?').next().unwrap_or("/");
                    // Strip the `/v1.NN` prefix of versioned calls.
                    let path = match path.strip_prefix("/v").and_then(|rest| rest.split_once('/')) {
                        Some((v, rest)) if v.contains('.') => format!("/{rest}"),
                        _ => path.to_owned(),
                    };
                    let (status, ctype, body) = match path.as_str() {
                        "/_ping" => ("200 OK", "text/plain", b"OK".to_vec()),
                        "/info" => ("500 Internal Server Error", "application/json", br#"{"message":"info refused by the test engine"}"#.to_vec()),
                        p => match answers.iter().find(|(a, _)| *a == p) {
                            Some((_, body)) => ("200 OK", "application/json", body.clone()),
                            None => ("404 Not Found", "application/json", br#"{"message":"page not found"}"#.to_vec()),
                        },
                    };
                    let head = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nApi-Version: 1.41\r\nContent-Length: {}\r\n\r\n", body.len());
                    if w.write_all(head.as_bytes()).and_then(|()| w.write_all(&body)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn engine_refusing_info_leaves_the_docker_root_unmeasured() {
    let _g = healthy();
    let port = engine_refusing_info();
    let mut c = Stack::get().config();
    c.docker.host = format!("tcp://127.0.0.1:{port}");
    let report = run_only(c, &["docker.daemon", "docker.disk"]);
    assert_eq!(check(&report, "docker.daemon").status, Status::Ok, "{}", show(check(&report, "docker.daemon")));
    let d = check(&report, "docker.disk");
    assert_eq!(d.status, Status::Unknown, "{}", show(d));
    assert!(d.summary.contains("free space of the Docker root not measured: `docker info` failed"), "{}", show(d));
    assert!(d.summary.contains("HTTP 500") && d.summary.contains("info refused by the test engine"), "{}", show(d));
    // What could be measured is still reported.
    assert!(d.details["images"]["size_bytes"].as_u64().is_some_and(|b| b > 0), "{}", show(d));
    assert_eq!(d.details["root_unmeasured"]["cause"], "info_failed", "{}", show(d));
    assert!(d.remediation.iter().any(|s| s.command.as_deref() == Some("docker info")), "{:#?}", d.remediation);
    assert!(d.remediation.iter().all(|s| !s.destructive), "no prune for a measurement that failed: {:#?}", d.remediation);
}

/// Runs the docker checks with another engine address (no project needed).
fn with_host(host: &str, timeout_secs: f64) -> Report {
    let mut c = Stack::get().config();
    c.docker.host = host.to_owned();
    c.timeout_secs = timeout_secs;
    run_only(c, &["docker"])
}

#[test]
fn wrong_docker_host_is_told_apart() {
    let _g = healthy();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let garbage = hostile_server(b"SSH-2.0-OpenSSH_9.2\r\n", false);
    for (host, words) in [
        ("ssh://root@127.0.0.1".to_owned(), "ssh://"),
        (format!("tcp://127.0.0.1:{closed}"), "nothing listens"),
        (format!("tcp://127.0.0.1:{garbage}"), "does not answer like a Docker engine"),
        ("unix:///etc/hostname".to_owned(), "not a socket"),
    ] {
        let report = with_host(&host, 3.0);
        for c in &report.checks {
            assert_eq!(c.status, Status::Critical, "{host}: {}", show(c));
            assert!(c.summary.contains("wrong DOCKER_HOST") && c.summary.contains(words), "{host}: {}", show(c));
            assert!(c.remediation.iter().any(|s| s.command.as_deref() == Some("echo \"$DOCKER_HOST\"")), "{:#?}", c.remediation);
        }
    }
    // An address that accepts and never answers: critical (timeout_state's default), within the timeout.
    let (_l, port) = hung_listener();
    let start = Instant::now();
    let report = with_host(&format!("tcp://127.0.0.1:{port}"), 1.0);
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    let d = check(&report, "docker.daemon");
    assert_eq!(d.status, Status::Critical, "{}", show(d));
    assert!(d.summary.contains("no answer within 1 s"), "{}", show(d));
}

#[test]
fn refused_socket_means_not_running_and_absent_docker_is_skipped() {
    let _g = healthy();
    // A socket file nobody listens on any more: what a crashed dockerd leaves behind.
    let dir = std::env::temp_dir().join(format!("mssante-it-sock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("docker.sock");
    let _ = std::fs::remove_file(&path);
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    let report = with_host(&format!("unix://{}", path.display()), 3.0);
    let d = check(&report, "docker.daemon");
    assert_eq!(d.status, Status::Critical, "{}", show(d));
    assert!(d.summary.contains("Docker is not running"), "{}", show(d));
    assert!(d.remediation.iter().any(|s| s.command.as_deref() == Some("sudo systemctl start docker")));

    // Not configured: the default host, no socket there, no compose file in the project folder.
    let mut c = Stack::get().config();
    c.docker.host = mssante_diag_core::docker::DEFAULT_DOCKER_HOST.to_owned();
    let report = run_only(c.clone(), &["docker", "redis"]);
    if std::path::Path::new("/var/run/docker.sock").exists() {
        // A system Docker exists on this machine: then the checks run against it.
        assert_ne!(check(&report, "docker.daemon").status, Status::Skipped);
    } else {
        for d in report.checks.iter().filter(|c| c.subsystem == "docker") {
            assert_eq!(d.status, Status::Skipped, "{}", show(d));
            assert!(d.summary.contains("not configured"), "{}", show(d));
        }
    }
    assert_eq!(check(&report, "redis.reachable").status, Status::Ok);
    // Asked for explicitly, the same absence is critical; disabled, skipped.
    c.docker.enabled = Some(true);
    c.docker.host = format!("unix://{}/nothing.sock", dir.display());
    assert_eq!(check(&run_only(c.clone(), &["docker.daemon"]), "docker.daemon").status, Status::Critical);
    c.docker.enabled = Some(false);
    assert_eq!(check(&run_only(c, &["docker.daemon"]), "docker.daemon").status, Status::Skipped);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// The CLI binary built beside this test binary (`cargo test` builds the workspace's binaries).
fn cli() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe.parent().and_then(std::path::Path::parent).expect("target dir").join("mssante-diag");
    assert!(bin.exists(), "{} is missing: build it with `cargo build -p mssante-diag-cli`", bin.display());
    bin
}

#[test]
fn user_outside_the_docker_group_gets_permission_denied() {
    let stack = Stack::get();
    let _g = healthy();
    // As root, mode bits never refuse: run the real CLI as `nobody`, who is not in the
    // socket's group (the stack's socket is root:docker, mode 660).
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(cli())
        .args(["check", "docker", "--format", "json", "--lang", "en", "--project"])
        .arg(&stack.project)
        .env_remove("DOCKER_HOST")
        .output()
        .expect("setpriv runs");
    let report: Report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    // The tool could not look: unknown (exit 3), never critical (issue #19).
    assert_eq!(out.status.code(), Some(3), "unknown exit code");
    let d = check(&report, "docker.daemon");
    assert_eq!(d.status, Status::Unknown, "{}", show(d));
    assert!(d.summary.contains("permission denied") && d.summary.contains("nobody is not in the docker group"), "{}", show(d));
    assert_eq!(d.details["cause"], "permission_denied");
    let cmds: Vec<&str> = d.remediation.iter().filter_map(|s| s.command.as_deref()).collect();
    assert_eq!(cmds[0], "sudo usermod -aG docker $USER");
    assert!(d.remediation.iter().any(|r| r.text.contains("read-only Docker socket proxy")), "{}", show(d));
    assert!(report.checks.iter().all(|c| c.status == Status::Unknown));
}

#[test]
fn stopped_dockerd_is_not_running_and_the_rest_is_unaffected() {
    let stack = Stack::get();
    let _g = fault();
    let start;
    let report = {
        let _stopped = stack.stop("dockerd");
        start = Instant::now();
        run_only(stack.config(), &["docker", "redis", "postgres.reachable"])
    };
    let took = start.elapsed();
    for c in report.checks.iter().filter(|c| c.subsystem == "docker") {
        assert_eq!(c.status, Status::Critical, "{}", show(c));
        assert!(c.summary.contains("Docker is not running"), "{}", show(c));
        assert!(c.remediation.iter().any(|s| s.command.as_deref() == Some("sudo systemctl status docker") && s.guide == "Démarrage P2"));
    }
    assert!(!check(&report, "docker.daemon").summary.contains("permission"), "{}", show(check(&report, "docker.daemon")));
    assert_eq!(check(&report, "redis.reachable").status, Status::Ok);
    assert_eq!(check(&report, "postgres.reachable").status, Status::Ok);
    assert!(took < Duration::from_secs(3), "a stopped engine answers at once: {took:?}");
    // dockerd is back: wait until the stack's project is healthy again before letting other tests run.
    wait_for(stack.var("DOCKER_HOST"), "mssante-test-api-1", "{{.State.Health.Status}}", |s| s == "healthy");
}

/// A context with tools planted in a container of `p`: a `postconf` that answers, a `postqueue`
/// that prints 2 MiB, a `doveadm` that hangs and a `doveconf` that fails.
fn tools_container(p: &Project) -> Ctx {
    let script = "printf '#!/bin/sh\\necho \"mail_version = 3.7.11\"\\necho \"args: $*\"\\n' > /bin/postconf; \
                  printf '#!/bin/sh\\nyes Q123ABC | head -c 2097152\\n' > /bin/postqueue; \
                  printf '#!/bin/sh\\nsleep 30\\n' > /bin/doveadm; \
                  printf '#!/bin/sh\\necho boom >&2\\nexit 5\\n' > /bin/doveconf; \
                  chmod +x /bin/postconf /bin/postqueue /bin/doveadm /bin/doveconf; touch /tmp/ready; exec sleep 600";
    let name = p.run("postfix", &[], &["sh", "-c", script]);
    p.wait_for(&name, "{{.State.Status}}", |s| s == "running");
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.docker(&["exec", &name, "sh", "-c", "test -e /tmp/ready && echo y || echo n"]) != "y" {
        assert!(Instant::now() < deadline, "tools not planted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut cfg = p.config(&["postfix"]);
    cfg.timeout_secs = 2.0;
    Ctx::new(Arc::new(cfg))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime").block_on(f)
}

#[test]
fn exec_runs_read_only_tools_in_a_service() {
    let _g = healthy();
    let p = Project::new("exec");
    let ctx = tools_container(&p);
    let svc = Place::Service("postfix".into());
    block_on(async {
        let out = exec::run(&ctx, &svc, &["postconf", "-n"]).await.expect("postconf runs");
        assert!(out.success() && out.stdout.contains("mail_version = 3.7.11") && out.stdout.contains("args: -n"), "{out:?}");
        assert!(out.ran_in.ends_with("(postfix)"), "{out:?}");

        let big = exec::run(&ctx, &svc, &["postqueue", "-p"]).await.expect("postqueue runs");
        assert!(big.truncated, "2 MiB of output is cut");
        assert_eq!(big.stdout.len(), exec::MAX_OUTPUT);

        let failed = exec::run(&ctx, &svc, &["doveconf", "-n"]).await.expect("doveconf runs");
        assert_eq!(failed.exit_code, Some(5));
        assert_eq!(failed.stderr.trim(), "boom");

        let start = Instant::now();
        let hung = exec::run(&ctx, &svc, &["doveadm", "who"]).await;
        assert_eq!(hung, Err(ExecError::TimedOut(2.0)));
        assert!(start.elapsed() < Duration::from_secs(4), "{:?}", start.elapsed());

        // Refused before anything runs; unknown services are named.
        for argv in [&["postqueue", "-f"][..], &["postconf", "-e", "relayhost=[evil]"], &["sh", "-c", "id"]] {
            assert!(matches!(exec::run(&ctx, &svc, argv).await, Err(ExecError::NotAllowed(_))), "{argv:?}");
        }
        let ghost = exec::run(&ctx, &Place::Service("ghost".into()), &["postconf", "-n"]).await;
        assert!(matches!(ghost, Err(ExecError::NoContainer { ref service, .. }) if service == "ghost"), "{ghost:?}");
    });
}

#[test]
fn exec_runs_the_real_postfix_tools_on_the_host() {
    let stack = Stack::get();
    let _g = healthy();
    let ctx = Ctx::new(Arc::new(stack.config()));
    let conf = stack.var("POSTFIX_CONFIG_DIR");
    let main_cf = std::path::Path::new(conf).join("main.cf");
    let before = std::fs::read(&main_cf).expect("main.cf");
    block_on(async {
        let out = exec::run(&ctx, &Place::Host, &["postconf", "-c", conf, "-h", "mail_version"]).await.expect("postconf runs");
        assert!(out.success() && out.stdout.trim().chars().next().is_some_and(|c| c.is_ascii_digit()), "{out:?}");
        let q = exec::run(&ctx, &Place::Host, &["postqueue", "-c", conf, "-p"]).await.expect("postqueue runs");
        assert!(q.success(), "{q:?}");
        assert_eq!(q.ran_in, "host");
        // The editing forms never run.
        let refused = exec::run(&ctx, &Place::Host, &["postconf", "-c", conf, "-e", "myhostname=evil.example"]).await;
        assert!(matches!(refused, Err(ExecError::NotAllowed(_))), "{refused:?}");
        let missing = exec::run(&ctx, &Place::Host, &["/nonexistent/postconf", "-n"]).await;
        assert!(matches!(missing, Err(ExecError::Spawn { .. })), "{missing:?}");
    });
    assert_eq!(std::fs::read(&main_cf).expect("main.cf"), before, "main.cf untouched");
}

#[test]
fn daemon_facts_are_typed() {
    let stack = Stack::get();
    let _g = healthy();
    let cfg = stack.config();
    let facts = block_on(async {
        let e = mssante_diag_core::docker::connect(&cfg.docker.host, cfg.docker.enabled, &cfg.project_dir, cfg.timeout(), cfg.lang).await.expect("engine");
        let p = mssante_diag_core::checks::docker::project::gather(&e.docker, "mssante-test").await.expect("project");
        (e.version, p)
    });
    let minor = |v: &str| v.split_once('.').and_then(|(_, m)| m.parse::<u32>().ok()).expect("1.N");
    let engine = minor(facts.0.api_version.as_deref().expect("api version"));
    assert_eq!(minor(&facts.0.client_api_version), engine.min(49), "negotiated down to the engine's API");
    let services: BTreeMap<&str, &str> = facts.1.containers.iter().map(|c| (c.service.as_str(), c.state.as_str())).collect();
    assert_eq!(services.len(), 6);
    assert!(services.values().all(|s| *s == "running"), "{services:?}");
}
