//! The members of the bundle: each gatherer reads, never writes, under the step timeout, and
//! either adds its member or says why it could not.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Builder;
use crate::config::{Config, CONFIG_FILE_NAME};

/// Certificate files read at most (a certificate folder is small).
const MAX_CERT_FILES: usize = 64;
/// Largest certificate or configuration file read, bytes.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Every value the bundle must never contain: the values of the `.env` keys that are
/// secret (by name, marked `# @secret`, or named by a `*_env` key of the configuration),
/// read from the process environment too, and the configuration's inline secrets.
pub(super) fn secret_values(config: &Config) -> Vec<String> {
    let mut keys = secret_env_keys(config);
    keys.extend(
        config
            .env
            .keys()
            .filter(|k| super::redact::is_secret_key(k))
            .map(str::to_owned),
    );
    let mut values: Vec<String> = keys
        .iter()
        .flat_map(|k| [config.env.get(k).map(str::to_owned), config.env.lookup(k)])
        .flatten()
        .collect();
    values.extend(crate::config::inline_secrets(config));
    values
}

/// `.env` keys marked `# @secret` and the variables the configuration reads credentials from.
fn secret_env_keys(config: &Config) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        serde_json::Value::String(s) if k.ends_with("_env") => out.push(s.clone()),
                        other => walk(other, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut keys = config
        .env
        .path
        .as_ref()
        .and_then(|p| read_bounded(p).ok())
        .map(|t| super::redact::marked_env_keys(&t))
        .unwrap_or_default();
    if let Ok(v) = serde_json::to_value(config) {
        walk(&v, &mut keys);
    }
    keys
}

/// A file read up to [`MAX_FILE_BYTES`], as text.
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {}", path.display(), e.kind()))?;
    let mut buf = Vec::new();
    f.take(MAX_FILE_BYTES)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: {}", path.display(), e.kind()))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Runs a blocking gatherer off the runtime, under the step timeout.
async fn blocking<T: Send + 'static>(
    config: &Config,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    match tokio::time::timeout(config.timeout(), tokio::task::spawn_blocking(f)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("failed internally: {e}")),
        Err(_) => Err(format!("no answer within {} s", config.timeout_secs)),
    }
}

/// Gathers every member into `b`.
pub(super) async fn all(
    config: &Arc<Config>,
    log_lines: u32,
    report: Option<crate::model::Report>,
    b: &mut Builder,
) {
    let report_task = {
        let config = config.clone();
        async move {
            match report {
                Some(r) => Ok(r),
                None => crate::runner::run(config, &crate::runner::Selection::All)
                    .await
                    .map_err(|e| e.chain()),
            }
        }
    };
    let (report, docker, database, system, network, disk) = tokio::join!(
        report_task,
        docker(config, log_lines),
        database(config),
        blocking(config, system),
        blocking(config, network),
        blocking(config, {
            let config = config.clone();
            move || disk(&config)
        }),
    );
    for (name, r) in [
        ("system.txt", system),
        ("network.txt", network),
        ("disk.txt", disk),
    ] {
        match r {
            Ok(text) => b.text(name, &text),
            Err(why) => b.missing(name, &why),
        }
    }
    match docker {
        Ok(members) => {
            for m in members {
                match m {
                    DockerMember::Json(name, v) => b.json(&name, &v),
                    DockerMember::Text(name, t) => b.text(&name, &t),
                    DockerMember::Missing(name, why) => b.missing(&name, &why),
                }
            }
        }
        Err(why) => b.missing("docker/", &why),
    }
    match database {
        Ok(text) => b.text("database.txt", &text),
        Err(why) => b.missing("database.txt", &why),
    }
    configuration(config, b);
    certificates(config, b);
    match report {
        Ok(r) => match serde_json::to_value(&r) {
            Ok(v) => b.json("report.json", &v),
            Err(e) => b.missing("report.json", &e.to_string()),
        },
        Err(why) => b.missing("report.json", &why),
    }
}

/// uname, os-release, uptime and load.
fn system() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|e| format!("({p}: {})", e.kind()))
    };
    let mut out = String::from("# uname\n");
    let _ = writeln!(
        out,
        "{} {} {} {} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/hostname"),
        read("/proc/sys/kernel/osrelease"),
        read("/proc/sys/kernel/version"),
        std::env::consts::ARCH
    );
    let _ = writeln!(out, "\n# /etc/os-release\n{}", read("/etc/os-release"));
    let uptime: f64 = read("/proc/uptime")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = uptime as u64;
    let _ = writeln!(
        out,
        "\n# uptime\nup {}d {:02}:{:02}, load average {}",
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        read("/proc/loadavg")
    );
    out
}

/// Interface addresses and TCP listeners with their owners.
fn network() -> String {
    let mut out = String::from("# addresses\n");
    match nix::ifaddrs::getifaddrs() {
        Ok(addrs) => {
            for a in addrs {
                let addr = a.address.as_ref().and_then(|s| {
                    s.as_sockaddr_in()
                        .map(|v4| std::net::IpAddr::V4(v4.ip()))
                        .or_else(|| s.as_sockaddr_in6().map(|v6| std::net::IpAddr::V6(v6.ip())))
                });
                if let Some(ip) = addr {
                    let _ = writeln!(out, "{:<12} {ip}", a.interface_name);
                }
            }
        }
        Err(e) => {
            let _ = writeln!(out, "(getifaddrs: {e})");
        }
    }
    out.push_str("\n# TCP listeners (address port owners)\n");
    match crate::checks::system::ports::listeners(Path::new("/proc")) {
        Ok(l) => {
            for s in &l.listeners {
                let owners: Vec<String> = s
                    .owners
                    .iter()
                    .map(|o| format!("{}/{}", o.pid, o.name))
                    .collect();
                let _ = writeln!(out, "{:<40} {:>5} {}", s.address, s.port, owners.join(","));
            }
            if l.unreadable_processes > 0 {
                let _ = writeln!(
                    out,
                    "({} processes not readable: their sockets' owners are unknown)",
                    l.unreadable_processes
                );
            }
        }
        Err(e) => {
            let _ = writeln!(out, "({e})");
        }
    }
    out
}

/// Space and inodes of the filesystems of the project, its data, Docker's data and `/`.
fn disk(config: &Config) -> String {
    let paths: Vec<PathBuf> = [
        config.project_dir.clone(),
        config.project_dir.join("data"),
        PathBuf::from("/var/lib/docker"),
        PathBuf::from("/"),
    ]
    .into();
    let (fss, unmeasured) = crate::fs::filesystems(&paths);
    let mut out = String::from("# filesystems (size available used% inodes-used% paths)\n");
    for f in &fss {
        let paths: Vec<String> = f.paths.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(
            out,
            "{:>16} {:>16} {:>6.1}% {:>6.1}% {}",
            f.total_bytes,
            f.available_bytes,
            f.used_pct,
            f.inodes_used_pct,
            paths.join(" ")
        );
    }
    for u in &unmeasured {
        let _ = writeln!(out, "not measured: {} ({})", u.path.display(), u.reason);
    }
    out
}

/// A member of the Docker part.
enum DockerMember {
    Json(String, serde_json::Value),
    Text(String, String),
    Missing(String, String),
}

/// Engine version, the project's containers (inspected), one-shot stats of the running ones,
/// and each service's recent log.
async fn docker(config: &Arc<Config>, log_lines: u32) -> Result<Vec<DockerMember>, String> {
    use bollard::query_parameters::{
        InspectContainerOptions, ListContainersOptionsBuilder, StatsOptionsBuilder,
    };
    use futures::StreamExt;
    let lang = config.lang;
    let d = &config.docker;
    let timeout = config.timeout();
    let engine = tokio::time::timeout(
        timeout,
        crate::docker::connect(&d.host, d.enabled, &config.project_dir, timeout, lang),
    )
    .await
    .map_err(|_| format!("Docker engine: no answer within {} s", config.timeout_secs))?
    .map_err(|e| e.describe(lang))?;
    let docker = &engine.docker;
    let mut out = vec![DockerMember::Json(
        "docker/version.json".into(),
        serde_json::to_value(&engine.version).unwrap_or_default(),
    )];
    let filters = std::collections::HashMap::from([(
        "label",
        vec![format!("{}={}", crate::docker::PROJECT_LABEL, d.project)],
    )]);
    let listed = tokio::time::timeout(
        timeout,
        docker.list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        )),
    )
    .await;
    let list = match listed {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            return Ok(push_missing(
                out,
                "docker/containers.json",
                engine.explain(&e).describe(lang),
            ))
        }
        Err(_) => {
            return Ok(push_missing(
                out,
                "docker/containers.json",
                format!("no answer within {} s", config.timeout_secs),
            ))
        }
    };
    let ids: Vec<String> = list.iter().filter_map(|c| c.id.clone()).collect();
    let per_container = futures::future::join_all(ids.iter().map(|id| async move {
        let inspect = tokio::time::timeout(
            timeout,
            docker.inspect_container(id, None::<InspectContainerOptions>),
        )
        .await;
        let stats = tokio::time::timeout(timeout, async {
            let mut s = docker.stats(
                id,
                Some(
                    StatsOptionsBuilder::new()
                        .stream(false)
                        .one_shot(true)
                        .build(),
                ),
            );
            s.next().await
        })
        .await;
        let inspect = match inspect {
            Ok(Ok(i)) => serde_json::to_value(i).unwrap_or_default(),
            Ok(Err(e)) => serde_json::json!({ "id": id, "error": e.to_string() }),
            Err(_) => serde_json::json!({ "id": id, "error": "no answer in time" }),
        };
        let stats = match stats {
            Ok(Some(Ok(s))) => serde_json::to_value(s).unwrap_or_default(),
            Ok(Some(Err(e))) => serde_json::json!({ "id": id, "error": e.to_string() }),
            Ok(None) => serde_json::json!({ "id": id, "error": "no stats" }),
            Err(_) => serde_json::json!({ "id": id, "error": "no answer in time" }),
        };
        (inspect, stats)
    }))
    .await;
    let (inspects, stats): (Vec<_>, Vec<_>) = per_container.into_iter().unzip();
    out.push(DockerMember::Json(
        "docker/containers.json".into(),
        serde_json::Value::Array(inspects),
    ));
    out.push(DockerMember::Json(
        "docker/stats.json".into(),
        serde_json::Value::Array(stats),
    ));
    let engine = &engine;
    let logs = futures::future::join_all(d.services.iter().map(|service| async move {
        let name = format!("logs/{service}.log");
        let found = tokio::time::timeout(
            timeout,
            crate::docker::service_containers(docker, &d.project, service),
        )
        .await;
        let id = match found {
            Ok(Ok(ids)) => match ids.into_iter().next() {
                Some(id) => id,
                None => {
                    return DockerMember::Missing(
                        name,
                        format!("no container of service {service} in project {}", d.project),
                    )
                }
            },
            Ok(Err(e)) => return DockerMember::Missing(name, engine.explain(&e).describe(lang)),
            Err(_) => return DockerMember::Missing(name, "no answer in time".into()),
        };
        let mut buf = Vec::new();
        match tokio::time::timeout(
            timeout,
            crate::docker::read_log(docker, &id, log_lines, None, |b| buf.extend_from_slice(b)),
        )
        .await
        {
            Ok(Ok(())) => DockerMember::Text(name, String::from_utf8_lossy(&buf).into_owned()),
            Ok(Err(e)) => DockerMember::Missing(name, engine.explain(&e).describe(lang)),
            // What arrived in time is kept.
            Err(_) => DockerMember::Text(
                name,
                String::from_utf8_lossy(&buf).into_owned()
                    + "\n[log read cut: no more within the timeout]\n",
            ),
        }
    }))
    .await;
    out.extend(logs);
    Ok(out)
}

fn push_missing(mut out: Vec<DockerMember>, name: &str, why: String) -> Vec<DockerMember> {
    out.push(DockerMember::Missing(name.to_owned(), why));
    out
}

/// Server version and the counts of mailboxes and users, through the checks' read-only pool.
async fn database(config: &Config) -> Result<String, String> {
    use crate::checks::postgres::{Attempt, Session};
    let session = Session::open(config).await;
    let pool = match (&session.pool, &session.primary) {
        (Some(p), _) => p.clone(),
        (None, Attempt::Failed(f)) => return Err(f.brief(config.lang)),
        (None, _) => {
            return Err(format!(
                "PostgreSQL: no answer within {} s",
                config.timeout_secs
            ))
        }
    };
    let mut out = String::new();
    for (label, sql) in [
        ("version", "SELECT version()"),
        ("mailboxes", "SELECT count(*)::text FROM mailboxes"),
        ("users", "SELECT count(*)::text FROM users"),
    ] {
        let value = match tokio::time::timeout(
            config.timeout(),
            sqlx::query_scalar::<_, String>(sql).fetch_one(&pool),
        )
        .await
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => format!(
                "(not read: {})",
                session.explain(&e, config.lang).brief(config.lang)
            ),
            Err(_) => format!("(no answer within {} s)", config.timeout_secs),
        };
        let _ = writeln!(out, "{label}: {value}");
    }
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), pool.close()).await;
    Ok(out)
}

/// `.env` (secret values hidden key by key), the configuration file, and the effective
/// configuration (secrets already concealed by its serialisation).
fn configuration(config: &Config, b: &mut Builder) {
    match &config.env.path {
        Some(p) => match read_bounded(p) {
            Ok(text) => {
                let clean = b.redactor().env_file(&text, &secret_env_keys(config));
                b.text("config/env", &clean);
            }
            Err(why) => b.missing("config/env", &why),
        },
        None => b.missing(
            "config/env",
            &format!("no .env in {}", config.project_dir.display()),
        ),
    }
    let file = config
        .source
        .clone()
        .unwrap_or_else(|| config.project_dir.join(CONFIG_FILE_NAME));
    match read_bounded(&file) {
        Ok(text) => b.text("config/mssante-diag.toml", &text),
        Err(why) => b.missing("config/mssante-diag.toml", &why),
    }
    match serde_json::to_value(config) {
        Ok(v) => b.json("config/effective.json", &v),
        Err(e) => b.missing("config/effective.json", &e.to_string()),
    }
}

/// The certificate blocks (only) of every file under the certificate folders, and a summary.
fn certificates(config: &Config, b: &mut Builder) {
    let tls = &config.tls;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut roots = vec![config.project_dir.join("config/certificates")];
    for p in [&tls.cert, &tls.fullchain, &tls.ca_dir] {
        roots.push(config.project_path(p));
    }
    for root in roots {
        collect_files(&root, &mut files, 0);
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        b.missing("certificates/", "no certificate file found");
        return;
    }
    let mut summary = String::new();
    for path in files.iter().take(MAX_CERT_FILES) {
        let name = format!(
            "certificates/{}",
            path.strip_prefix(&config.project_dir)
                .unwrap_or(path)
                .display()
                .to_string()
                .trim_start_matches('/')
                .replace('/', "_")
        );
        let text = match read_bounded(path) {
            Ok(t) => t,
            Err(why) => {
                b.missing(&name, &why);
                continue;
            }
        };
        let certs: Vec<&str> = pem_blocks(&text, "CERTIFICATE").collect();
        if certs.is_empty() {
            // A key file, or DER: nothing public to copy.
            continue;
        }
        let _ = writeln!(summary, "# {}", path.display());
        for block in &certs {
            summary.push_str(&describe(block));
        }
        b.text(&name, &(certs.join("\n") + "\n"));
    }
    b.text("certificates/summary.txt", &summary);
}

fn collect_files(p: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if out.len() >= MAX_CERT_FILES || depth > 3 {
        return;
    }
    let Ok(meta) = std::fs::metadata(p) else {
        return;
    };
    if meta.is_file() {
        out.push(p.to_path_buf());
    } else if meta.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            entries.sort();
            for e in entries {
                collect_files(&e, out, depth + 1);
            }
        }
    }
}

/// The `-----BEGIN <label>----- ... -----END <label>-----` blocks of a PEM text.
fn pem_blocks<'a>(text: &'a str, label: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find(&begin)?;
        let stop = rest[start..].find(&end)? + start + end.len();
        let block = &rest[start..stop];
        rest = &rest[stop..];
        Some(block)
    })
}

/// Subject, issuer, validity and names of one PEM certificate.
fn describe(block: &str) -> String {
    let parsed = x509_parser::pem::parse_x509_pem(block.as_bytes());
    let Ok((_, pem)) = parsed else {
        return "  (not a readable PEM certificate)\n".to_owned();
    };
    let Ok(cert) = pem.parse_x509() else {
        return "  (not a readable X.509 certificate)\n".to_owned();
    };
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .map(ToString::to_string)
                .collect()
        })
        .unwrap_or_default();
    format!(
        "  subject:   {}\n  issuer:    {}\n  notBefore: {}\n  notAfter:  {}\n  serial:    {}\n  names:     {}\n\n",
        cert.subject(),
        cert.issuer(),
        cert.validity().not_before,
        cert.validity().not_after,
        cert.raw_serial_as_string(),
        names.join(", ")
    )
}
