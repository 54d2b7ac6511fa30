//! Monitoring outputs against the real tools: the Nagios format parsed by the monitoring-plugins
//! grammar (and a real plugin's output by the same parser), the Prometheus format and `serve`'s
//! `/metrics` through `promtool check metrics`, the example alerting rules through `promtool check
//! rules` / `promtool test rules`, and a real Prometheus server scraping `serve` on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mssante_diag_core::output::{render, Format, Style};
use mssante_diag_core::{Lang, Report, Selection, Status};
use mssante_diag_tests::{cli_bin, healthy, run, Stack};

/// The checks the healthy-stack tests run: the established subsystems (what every scrape of
/// a fleet runs), fast enough for CI.
const HEALTHY: &[&str] = &[
    "api", "postgres", "redis", "smtp", "imap", "tls", "system", "postfix", "docker",
];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

// ---------------------------------------------------------------------------------------------
// The monitoring-plugins output grammar (Monitoring Plugins Development Guidelines, "Plugin
// Output" and "Performance data"), written as a parser.
// ---------------------------------------------------------------------------------------------

/// One perfdata item: `'label'=value[UOM];[warn];[crit];[min];[max]`.
#[derive(Debug)]
struct Perf {
    label: String,
    value: f64,
    uom: String,
    warn: String,
    crit: String,
    min: Option<f64>,
    max: Option<f64>,
}

/// A plugin's whole output.
#[derive(Debug)]
struct PluginOutput {
    service: String,
    status: String,
    text: String,
    perf: Vec<Perf>,
    long: Vec<String>,
}

const UOMS: &[&str] = &["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"];

/// A plain decimal number: `-?[0-9]+(.[0-9]+)?` (no exponent, no inf/NaN).
fn number(s: &str) -> Result<f64, String> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit());
    if ok {
        s.parse().map_err(|e| format!("{s}: {e}"))
    } else {
        Err(format!("`{s}` is not a plain decimal number"))
    }
}

/// A threshold range: `[@][start:][end]`, start a number or `~`.
fn range(s: &str) -> Result<(), String> {
    let r = s.strip_prefix('@').unwrap_or(s);
    let (start, end) = r.split_once(':').unwrap_or(("", r));
    if r.is_empty() {
        return Err(format!("empty range `{s}`"));
    }
    if !start.is_empty() && start != "~" {
        number(start)?;
    }
    if !end.is_empty() {
        number(end)?;
    }
    Ok(())
}

fn parse_perfdata(s: &str) -> Result<Vec<Perf>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let (label, after) = if let Some(r) = rest.strip_prefix('\'') {
            let mut label = String::new();
            let mut end = None;
            let mut chars = r.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|&(_, c)| c) == Some('\'') {
                        label.push('\'');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    label.push(c);
                }
            }
            let end = end.ok_or_else(|| format!("unterminated quoted label in `{rest}`"))?;
            (label, &r[end..])
        } else {
            let end = rest
                .find('=')
                .ok_or_else(|| format!("no `=` in `{rest}`"))?;
            let label = &rest[..end];
            if label.contains(' ') || label.contains('\'') {
                return Err(format!(
                    "label `{label}` has a space or a quote and is not quoted"
                ));
            }
            (label.to_owned(), &rest[end..])
        };
        if label.is_empty() || label.contains('=') || label.contains('|') {
            return Err(format!("bad label `{label}`"));
        }
        let after = after
            .strip_prefix('=')
            .ok_or_else(|| format!("label `{label}` not followed by `=`"))?;
        let end = after.find(' ').unwrap_or(after.len());
        let item = &after[..end];
        rest = after[end..].trim_start();
        let fields: Vec<&str> = item.split(';').collect();
        if fields.len() > 5 {
            return Err(format!("`{item}` has more than 5 fields"));
        }
        let v = fields[0];
        let num_end = v
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(v.len());
        let value = number(&v[..num_end])?;
        let uom = &v[num_end..];
        if !UOMS.contains(&uom) {
            return Err(format!(
                "`{uom}` is not a UOM of the plugin guidelines ({item})"
            ));
        }
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        for t in [field(1), field(2)] {
            if !t.is_empty() {
                range(t)?;
            }
        }
        let opt = |s: &str| {
            if s.is_empty() {
                Ok(None)
            } else {
                number(s).map(Some)
            }
        };
        out.push(Perf {
            label,
            value,
            uom: uom.to_owned(),
            warn: field(1).to_owned(),
            crit: field(2).to_owned(),
            min: opt(field(3))?,
            max: opt(field(4))?,
        });
    }
    Ok(out)
}

/// `SERVICE STATUS - text|perfdata`, then long output lines (a `|` in them starts more perfdata).
fn parse_plugin(out: &str) -> Result<PluginOutput, String> {
    let mut lines = out.lines();
    let first = lines.next().ok_or("no output")?;
    let (text, perf) = first.split_once('|').unwrap_or((first, ""));
    let (service, rest) = text.split_once(' ').ok_or("no service name")?;
    let (status, text) = rest
        .split_once(" - ")
        .or_else(|| rest.split_once(": "))
        .ok_or("no status keyword")?;
    if !["OK", "WARNING", "CRITICAL", "UNKNOWN"].contains(&status) {
        return Err(format!("`{status}` is not a plugin status"));
    }
    let mut perf = parse_perfdata(perf)?;
    let mut long = Vec::new();
    let mut in_perf = false;
    for l in lines {
        if in_perf {
            perf.extend(parse_perfdata(l)?);
        } else if let Some((t, p)) = l.split_once('|') {
            long.push(t.to_owned());
            perf.extend(parse_perfdata(p)?);
            in_perf = true;
        } else {
            long.push(l.to_owned());
        }
    }
    Ok(PluginOutput {
        service: service.to_owned(),
        status: status.to_owned(),
        text: text.trim().to_owned(),
        perf,
        long,
    })
}

fn plugin_exit(status: &str) -> i32 {
    match status {
        "OK" => 0,
        "WARNING" => 1,
        "CRITICAL" => 2,
        _ => 3,
    }
}

#[test]
fn the_parser_reads_a_real_monitoring_plugin() {
    let stack = Stack::get();
    let _g = healthy();
    let plugin = "/usr/lib/nagios/plugins/check_tcp";
    let out = Command::new(plugin)
        .args(["-H", stack.var("PG_HOST"), "-p", stack.var("PG_PORT")])
        .output()
        .expect("check_tcp runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let p = parse_plugin(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        (p.service.as_str(), p.status.as_str(), out.status.code()),
        ("TCP", "OK", Some(0)),
        "{text}"
    );
    assert_eq!(p.perf.len(), 1, "{p:?}");
    assert_eq!(
        (
            p.perf[0].label.as_str(),
            p.perf[0].uom.as_str(),
            p.perf[0].min,
            p.perf[0].max
        ),
        ("time", "s", Some(0.0), Some(10.0))
    );
    // Failing, same grammar: over its thresholds (1 µs) it is WARNING or CRITICAL, with thresholds in perfdata.
    for (crit, status, code) in [("10", "WARNING", 1), ("0.000001", "CRITICAL", 2)] {
        let out = Command::new(plugin)
            .args([
                "-H",
                stack.var("PG_HOST"),
                "-p",
                stack.var("PG_PORT"),
                "-w",
                "0.000001",
                "-c",
                crit,
            ])
            .output()
            .expect("check_tcp runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let p = parse_plugin(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(
            (p.status.as_str(), out.status.code(), plugin_exit(&p.status)),
            (status, Some(code), code),
            "{text}"
        );
        assert_eq!(
            (p.perf[0].warn.as_str(), p.perf[0].crit.parse::<f64>().ok()),
            ("0.000001", crit.parse().ok()),
            "{text}"
        );
    }
    // And the parser is not vacuous.
    for bad in [
        "X OK - a|'unterminated=1",
        "X OK - a|l=1e3s",
        "X OK - a|l=1GB",
        "X FINE - a",
        "X OK - a|two words=1",
        "X OK - a|l=NaN",
        "X OK - a|l=1;;;;;",
    ] {
        assert!(parse_plugin(bad).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn nagios_output_on_the_healthy_stack_is_ok_with_every_metric() {
    let stack = Stack::get();
    let _g = healthy();
    let out = Command::new(cli_bin())
        .arg("--project")
        .arg(&stack.project)
        .args(["--format", "nagios", "check"])
        .args(HEALTHY)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let p = parse_plugin(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert_eq!(
        (p.service.as_str(), p.status.as_str(), out.status.code()),
        ("MSSANTE-DIAG", "OK", Some(0)),
        "{text}"
    );
    assert!(
        p.long.is_empty(),
        "no long output when all is ok: {:?}",
        p.long
    );
    // Every finite metric of a report is in the perfdata, once, with its value in its unit.
    let report = run(
        stack.config(),
        &Selection::Only(HEALTHY.iter().map(|s| (*s).to_owned()).collect()),
    );
    let text = render(&report, Format::Nagios, Style::default());
    let p = parse_plugin(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    let metrics: Vec<_> = report
        .checks
        .iter()
        .flat_map(|c| c.metrics.iter().map(move |m| (c, m)))
        .filter(|(_, m)| m.value.is_finite())
        .collect();
    assert!(
        metrics.len() > 20,
        "the healthy stack has metrics: {}",
        metrics.len()
    );
    assert_eq!(p.perf.len(), metrics.len(), "{text}");
    let labels: std::collections::HashSet<_> = p.perf.iter().map(|x| x.label.as_str()).collect();
    assert_eq!(labels.len(), p.perf.len(), "labels are unique");
    let latency = p
        .perf
        .iter()
        .find(|x| x.label == "postgres.reachable.latency")
        .expect("postgres latency perfdata");
    assert_eq!(latency.uom, "ms");
    assert!(latency.value >= 0.0 && latency.value < 5000.0);
    // A metric where lower is worse reads as a range `N:` (alert below N).
    let days = p
        .perf
        .iter()
        .find(|x| x.label == "tls.cert.days_left")
        .expect("certificate days perfdata");
    assert_eq!(days.uom, "s", "days are converted to seconds");
    assert!(
        days.warn.ends_with(':') && days.crit.ends_with(':'),
        "{days:?}"
    );
}

#[test]
fn nagios_output_of_a_faulty_platform_names_the_worst_first() {
    let stack = Stack::get();
    let _g = healthy();
    let config = stack.faulty_config("/nonexistent/mssante-diag");
    let report = run(
        config,
        &Selection::Only(vec![
            "redis".into(),
            "api".into(),
            "system.disk".into(),
            "postgres.reachable".into(),
        ]),
    );
    assert_eq!(
        report.check("redis.reachable").map(|c| c.status),
        Some(Status::Critical)
    );
    for lang in [Lang::En, Lang::Fr] {
        let text = render(&report, Format::Nagios, Style { color: false, lang });
        let p = parse_plugin(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert_eq!(p.status, "CRITICAL", "{text}");
        assert_eq!(plugin_exit(&p.status), report.status.exit_code());
        assert!(
            p.text.starts_with("redis.reachable: "),
            "the worst check leads the status line: {text}"
        );
        // One long-output line per non-ok check, worst first, citing the guide.
        assert_eq!(p.long.len(), 3, "{text}");
        assert!(
            p.long[0].starts_with("[CRITICAL] redis.reachable: ") && p.long[0].contains("(guide: "),
            "{text}"
        );
        assert!(p.long[1].starts_with("[UNKNOWN] system.disk: "), "{text}");
        assert!(p.long[2].starts_with("[WARNING] api.health: "), "{text}");
        assert!(
            p.perf
                .iter()
                .any(|x| x.label == "api.health.latency" && x.warn == "0"),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus: promtool and the real server.
// ---------------------------------------------------------------------------------------------

fn promtool(args: &[&str], stdin: Option<&str>, dir: &Path) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's prometheus package, installed by tests/stack/stack.sh)");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write to promtool");
    }
    drop(input);
    let out = child.wait_with_output().expect("promtool ends");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn assert_promtool_metrics(text: &str) {
    let (ok, said) = promtool(&["check", "metrics"], Some(text), Path::new("."));
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics: {said}\n---\n{text}"
    );
}

/// The value of the sample `name{labels...}` of an exposition, by its exact label text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn check_exposition_matches(text: &str, report: &Report) {
    for c in &report.checks {
        let status = sample(
            text,
            &format!(
                "mssante_diag_check_status{{check=\"{}\",subsystem=\"{}\"}}",
                c.id, c.subsystem
            ),
        );
        let want = if c.status == Status::Skipped {
            -1.0
        } else {
            f64::from(c.status.exit_code())
        };
        assert_eq!(status, Some(want), "{}", c.id);
        let state = sample(
            text,
            &format!(
                "mssante_diag_check_state{{check=\"{}\",subsystem=\"{}\",status=\"{}\"}}",
                c.id, c.subsystem, c.status
            ),
        );
        assert_eq!(state, Some(1.0), "{}", c.id);
        assert!(
            text.contains(&format!(
                "mssante_diag_check_info{{check=\"{}\",subsystem=\"{}\",guide=\"",
                c.id, c.subsystem
            )),
            "{}",
            c.id
        );
    }
}

#[test]
fn prometheus_output_passes_promtool_on_healthy_and_faulty_reports() {
    let stack = Stack::get();
    let _g = healthy();
    // Every check, through the CLI: the textfile a cron job writes.
    let out = Command::new(cli_bin())
        .arg("--project")
        .arg(&stack.project)
        .args(["--format", "prometheus", "check"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_promtool_metrics(&text);
    let report = run(stack.config(), &Selection::All);
    check_exposition_matches(&text, &report);
    // Base units: the PostgreSQL latency (ms in the report) is in seconds.
    let latency = sample(&text, "mssante_diag_postgres_reachable_latency_seconds{check=\"postgres.reachable\",subsystem=\"postgres\"}").expect("postgres latency");
    assert!((0.0..5.0).contains(&latency), "{latency}");
    // Faulty: critical, warning, unknown and skipped checks, labels with characters to escape.
    let config = stack.faulty_config("/nonexistent/mssante \"diag\"\\x");
    let mut report = run(
        config,
        &Selection::Only(vec![
            "redis".into(),
            "api".into(),
            "system.disk".into(),
            "docker.daemon".into(),
        ]),
    );
    assert_eq!(report.status, Status::Critical);
    // A metric label with a quote, a backslash and a line break must come out escaped.
    if let Some(c) = report.checks.first_mut() {
        c.metrics
            .push(mssante_diag_core::Metric::new("odd", 1.0, "").label("path", "a \"b\"\\\nc"));
    }
    let text = render(&report, Format::Prometheus, Style::default());
    assert_promtool_metrics(&text);
    check_exposition_matches(&text, &report);
    assert!(text.contains("path=\"a \\\"b\\\"\\\\\\nc\""), "{text}");
    assert_eq!(sample(&text, "mssante_diag_status"), Some(2.0));
}

#[test]
fn example_rules_pass_promtool_check_and_test() {
    let dir = examples().join("prometheus");
    let (ok, said) = promtool(&["check", "rules", "mssante-diag.rules.yml"], None, &dir);
    assert!(ok, "{said}");
    let (ok, said) = promtool(
        &["test", "rules", "mssante-diag.rules.test.yml"],
        None,
        &dir,
    );
    assert!(ok, "{said}");
    let (ok, said) = promtool(&["check", "config", "prometheus.yml"], None, &dir);
    assert!(ok, "{said}");
    // One alert per check family: every subsystem of the catalogue has its critical and warning rules.
    let rules = std::fs::read_to_string(dir.join("mssante-diag.rules.yml")).expect("rules");
    for sub in mssante_diag_core::subsystems() {
        for level in [2, 1] {
            assert!(
                rules.contains(&format!(
                    "mssante_diag_check_status{{subsystem=\"{sub}\"}} == {level}"
                )),
                "no rule for {sub} at {level}"
            );
        }
    }
}

#[test]
fn nagios_command_definition_runs_as_written() {
    let stack = Stack::get();
    let _g = healthy();
    let cfg = std::fs::read_to_string(examples().join("nagios/mssante-diag.cfg"))
        .expect("nagios example");
    let line = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("command_line"))
        .expect("a command_line")
        .trim();
    let line = line
        .replace(
            "/usr/local/bin/mssante-diag",
            &cli_bin().display().to_string(),
        )
        .replace("$ARG1$", &stack.project.display().to_string())
        .replace("$ARG2$", "check postgres redis");
    let out = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .output()
        .expect("sh runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let p = parse_plugin(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert_eq!(
        (p.status.as_str(), out.status.code()),
        ("OK", Some(0)),
        "{text}"
    );
    let icinga = std::fs::read_to_string(examples().join("icinga2/mssante-diag.conf"))
        .expect("icinga example");
    assert!(
        icinga.contains("object CheckCommand \"mssante-diag\"")
            && icinga.contains("\"--format\", \"nagios\"")
    );
}

// ---------------------------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------------------------

/// A `mssante-diag serve` process on loopback, killed on drop.
struct Served {
    child: Child,
    addr: SocketAddr,
}

impl Served {
    fn start(project: &Path, args: &[&str]) -> Served {
        let mut child = Command::new(cli_bin())
            .arg("--project")
            .arg(project)
            .args(["serve", "--listen", "127.0.77.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("serve prints its address");
        let addr = line
            .trim()
            .strip_prefix("mssante-diag: listening on http://")
            .and_then(|r| r.strip_suffix("/metrics"))
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            panic!("unexpected first line: {line}");
        };
        Served { child, addr }
    }

    fn rss_kib(&self) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 GET: status code and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_owned())
}

#[test]
fn serve_exposes_metrics_shares_runs_and_resists_hostile_clients() {
    let stack = Stack::get();
    let _g = healthy();
    let served = Served::start(
        &stack.project,
        &["--cache-secs", "30", "api", "postgres", "redis"],
    );
    // A silent client holds a connection: the server still answers the others.
    let _silent = TcpStream::connect(served.addr).expect("connect");
    // Four concurrent scrapes share one run.
    let scrapes: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || get(served.addr, "/metrics")))
        .collect();
    let bodies: Vec<(u16, String)> = scrapes
        .into_iter()
        .map(|t| t.join().expect("scrape"))
        .collect();
    for (code, body) in &bodies {
        assert_eq!(*code, 200, "{body}");
        assert_promtool_metrics(body);
        assert!(
            body.contains(
                "mssante_diag_check_status{check=\"postgres.reachable\",subsystem=\"postgres\"} 0"
            ),
            "{body}"
        );
    }
    let (_, again) = get(served.addr, "/metrics");
    assert_eq!(
        sample(&again, "mssante_diag_exporter_runs_total"),
        Some(1.0),
        "one run for five scrapes within the cache:\n{again}"
    );
    assert_eq!(
        sample(&again, "mssante_diag_exporter_cache_hits_total"),
        Some(4.0),
        "{again}"
    );
    let (code, page) = get(served.addr, "/");
    assert!(code == 200 && page.contains("/metrics"), "{code} {page}");
    assert_eq!(get(served.addr, "/nope").0, 404);
    // An endless request line: refused once past the bound, memory flat, server still serving.
    let before = served.rss_kib();
    let started = Instant::now();
    let mut hostile = TcpStream::connect(served.addr).expect("connect");
    hostile
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    hostile
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let chunk = vec![b'a'; 64 * 1024];
    let _ = hostile.write_all(b"GET /");
    let mut sent = 0usize;
    let refused = loop {
        match hostile.write_all(&chunk) {
            Ok(()) if sent < 64 * 1024 * 1024 => sent += chunk.len(),
            Ok(()) => break None,
            Err(e) => break Some(e.kind()),
        }
    };
    // Closed by the server (not a write timeout of ours): the size bound, well before the 5 s
    // header timeout.
    assert!(
        matches!(
            refused,
            Some(std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)
        ),
        "the server kept reading an endless request line ({sent} bytes, {refused:?})"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        served.rss_kib() < before + 16 * 1024,
        "memory grew from {before} KiB to {} KiB",
        served.rss_kib()
    );
    assert_eq!(get(served.addr, "/metrics").0, 200);
}

/// Reads one HTTP/1.1 answer (head, then `Content-Length` bytes) off a kept-alive connection.
fn read_answer(reader: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let code = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    std::io::copy(
        &mut reader.by_ref().take(length as u64),
        &mut std::io::sink(),
    )?;
    Ok(code)
}

/// What the bindings' `close()` and a cancelled Python future do: drop the server's task.
/// A client that kept its connection alive (fetch, requests' sessions) is cut too, not
/// served on by a connection that outlived its server.
#[test]
fn a_dropped_server_closes_its_kept_alive_connections() {
    use mssante_diag_core::serve::{Options, Server};
    let stack = Stack::get();
    let _g = healthy();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let options = Options {
        cache: Duration::from_secs(300),
        selection: Selection::from_names(vec!["redis".to_owned()]),
        ..Options::new("127.0.0.1:0".parse().expect("address"))
    };
    let server = rt
        .block_on(Server::bind(std::sync::Arc::new(stack.config()), options))
        .expect("bind");
    let addr = server.local_addr().expect("address");
    let task = rt.spawn(server.run());
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    for _ in 0..2 {
        writer.write_all(request.as_bytes()).expect("send");
        assert_eq!(read_answer(&mut reader).expect("answer"), 200, "kept alive");
    }
    task.abort();
    let _ = rt.block_on(task);
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let after = writer
        .write_all(request.as_bytes())
        .and_then(|()| read_answer(&mut reader));
    assert!(
        after.is_err(),
        "served on after the server was dropped: {after:?}"
    );
    assert!(TcpStream::connect(addr).is_err(), "the port still accepts");
}

#[test]
fn a_real_prometheus_scrapes_serve_and_answers_queries() {
    let stack = Stack::get();
    let _g = healthy();
    let served = Served::start(
        &stack.project,
        &["--cache-secs", "5", "api", "postgres", "redis"],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: mssante-diag\n    static_configs:\n      - targets: ['{}']\n", served.addr),
    )
    .expect("write config");
    let port = std::net::TcpListener::bind("127.0.77.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let web: SocketAddr = format!("127.0.77.1:{port}").parse().expect("addr");
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts (Debian's prometheus package)");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    let found = loop {
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(250));
        let Ok(mut s) = TcpStream::connect_timeout(&web, Duration::from_millis(500)) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if write!(
            s,
            "GET /api/v1/query?query=mssante_diag_check_status HTTP/1.0\r\nHost: {web}\r\n\r\n"
        )
        .is_err()
        {
            continue;
        }
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        last = raw
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&last) else {
            continue;
        };
        let series = doc["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let checks: Vec<&str> = series
            .iter()
            .filter_map(|r| r["metric"]["check"].as_str())
            .collect();
        if checks.contains(&"postgres.reachable")
            && checks.contains(&"api.health")
            && checks.contains(&"redis.reachable")
        {
            assert!(
                series
                    .iter()
                    .all(|r| r["metric"]["job"] == "mssante-diag" && r["value"][1] == "0"),
                "{last}"
            );
            break true;
        }
    };
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    drop(served);
    assert!(found, "Prometheus never returned the check series: {last}");
}
