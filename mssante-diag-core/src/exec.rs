//! Runs a read-only tool of the platform (`postqueue -p`, `doveadm who`, `postconf -n`, ...)
//! on the host or inside a compose service (`docker compose exec`, through the exec API),
//! under the step timeout and with bounded output.
//!
//! Only the commands of an allow-list run, with arguments that cannot change state
//! (`postqueue -f`, `postconf -e`, `doveadm force-resync` are refused before anything starts;
//! so are `doveadm mailbox ...` and `quota get`, which open mailboxes and may update their
//! index files). What outlives the timeout is killed: the host process by us, the process in
//! a container by `timeout -s KILL` started around it there.
//!
//! ```no_run
//! # async fn demo(ctx: &mssante_diag_core::Ctx) -> Result<(), mssante_diag_core::exec::ExecError> {
//! use mssante_diag_core::exec::{run, Place};
//! let out = run(ctx, &Place::Service("postfix".into()), &["postqueue", "-p"]).await?;
//! println!("{} (exit {:?}, truncated: {})", out.stdout, out.exit_code, out.truncated);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Instant;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::ListContainersOptionsBuilder;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::checks::{elapsed_ms, Ctx};
use crate::docker::{DaemonError, PROJECT_LABEL, SERVICE_LABEL};
use crate::{tr, Lang};

/// Bytes kept of each of stdout and stderr; the rest is read and dropped.
pub const MAX_OUTPUT: usize = 1 << 20;

/// Where a tool runs: `"host"`, or `"service:NAME"` for a compose service of the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Place {
    /// On this machine (`tokio::process`).
    Host,
    /// In the running container of this compose service (Docker exec API).
    Service(String),
}

impl TryFrom<String> for Place {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "host" => Ok(Place::Host),
            Some(("service", name)) if !name.is_empty() => Ok(Place::Service(name.to_owned())),
            _ => Err(format!("`{s}`: expected \"host\" or \"service:NAME\"")),
        }
    }
}

impl From<Place> for String {
    fn from(p: Place) -> String {
        match p {
            Place::Host => "host".into(),
            Place::Service(s) => format!("service:{s}"),
        }
    }
}

/// What a finished tool printed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Output {
    /// Exit code (none when killed by a signal or unknown).
    pub exit_code: Option<i64>,
    /// Standard output (lossy UTF-8, at most [`MAX_OUTPUT`] bytes).
    pub stdout: String,
    /// Standard error (lossy UTF-8, at most [`MAX_OUTPUT`] bytes).
    pub stderr: String,
    /// Some output was dropped.
    pub truncated: bool,
    /// Wall time, ms.
    pub duration_ms: f64,
    /// Where it ran (`host`, or `container (service)`).
    pub ran_in: String,
}

impl Output {
    /// Exit code 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Why a tool did not run to completion.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The command is not on the read-only allow-list: nothing was started.
    #[error("`{0}` is not an allowed read-only command")]
    NotAllowed(String),
    /// It did not finish within the step timeout (seconds). A host process is killed; a process
    /// in a container is killed by the `timeout -s KILL` it was started under (when the
    /// container has `timeout`: the Engine API itself cannot stop an exec).
    #[error("timed out after {0} s")]
    TimedOut(f64),
    /// The program could not be started on the host (not installed, not executable).
    #[error("cannot start `{program}`: {reason}")]
    Spawn {
        /// Program name.
        program: String,
        /// The system's reason.
        reason: String,
    },
    /// Docker cannot be used (see `docker.daemon`).
    #[error("{}", .0.describe(Lang::En))]
    Docker(DaemonError),
    /// No running container for the service in the compose project.
    #[error("no running container for service `{service}` of compose project `{project}`")]
    NoContainer {
        /// Compose service.
        service: String,
        /// Compose project.
        project: String,
    },
    /// The engine refused or broke the exec.
    #[error("docker exec failed: {0}")]
    Exec(String),
}

impl ExecError {
    /// One sentence for a summary.
    #[must_use]
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            Self::NotAllowed(c) => tr!(lang, "`{c}` is not an allowed read-only command", "`{c}` n'est pas une commande en lecture seule autorisée"),
            Self::TimedOut(s) => tr!(lang, "timed out after {s} s", "pas de réponse après {s} s"),
            Self::Spawn { program, reason } => tr!(lang, "cannot start `{program}`: {reason}", "impossible de lancer `{program}` : {reason}"),
            Self::Docker(e) => e.describe(lang),
            Self::NoContainer { service, project } => tr!(
                lang,
                "no running container for service `{service}` of compose project `{project}`",
                "aucun conteneur en marche pour le service `{service}` du projet compose `{project}`"
            ),
            Self::Exec(m) => tr!(lang, "docker exec failed: {m}", "échec de docker exec : {m}"),
        }
    }
}

/// Read-only tools and the arguments they accept.
struct Rule {
    program: &'static str,
    allowed: fn(&[&str]) -> bool,
}

const RULES: &[Rule] = &[
    // Show the queue (plain or JSON); -c selects a configuration directory. Not -f/-s/-i (flush).
    Rule {
        program: "postqueue",
        allowed: |a| {
            flags_only(a, "pjv", "c")
                && a.iter()
                    .any(|x| x.starts_with('-') && (x.contains('p') || x.contains('j')))
        },
    },
    // Show parameters; never -e/-X/-#/-o or name=value (edits main.cf / master.cf).
    Rule {
        program: "postconf",
        allowed: |a| flags_and_names(a, "nhdxmlaAbtfHMFPpvT", "cC"),
    },
    // Read-only doveadm commands only.
    Rule {
        program: "doveadm",
        allowed: doveadm_allowed,
    },
    // Dovecot's configuration dump has no writing mode.
    Rule {
        program: "doveconf",
        allowed: |a| flags_and_names(a, "nNaPhsSx", "cfm"),
    },
    // Reads a dump file: its table of contents, or the whole script to standard output. Never
    // -d (it would restore into a database) nor a -f other than `-`.
    Rule {
        program: "pg_restore",
        allowed: pg_restore_allowed,
    },
    // SMART health and attributes of one device. Never -s/-t/-X/-o/-S/--set (they change the disk's state).
    Rule {
        program: "smartctl",
        allowed: smartctl_allowed,
    },
];

/// `pg_restore --list FILE` or `pg_restore --file=- FILE` (the script to standard output).
fn pg_restore_allowed(args: &[&str]) -> bool {
    matches!(args, [mode, file] if ["--list", "-l", "--file=-"].contains(mode) && !file.is_empty() && !file.starts_with('-'))
}

/// `smartctl [-H] [-A] [-i] [-j|--json] [-n POWERMODE] [-d TYPE] /dev/NAME`.
fn smartctl_allowed(args: &[&str]) -> bool {
    let Some((device, flags)) = args.split_last() else {
        return false;
    };
    if !device.starts_with("/dev/") || device.contains("..") {
        return false;
    }
    let mut i = 0;
    while let Some(a) = flags.get(i) {
        match *a {
            "-H" | "-A" | "-i" | "-j" | "--json" => {}
            "-n" => {
                i += 1;
                if !flags
                    .get(i)
                    .is_some_and(|m| ["never", "sleep", "standby", "idle"].contains(m))
                {
                    return false;
                }
            }
            "-d" => {
                i += 1;
                if !flags.get(i).is_some_and(|t| {
                    !t.is_empty()
                        && t.chars()
                            .all(|c| c.is_ascii_alphanumeric() || ",_+".contains(c))
                }) {
                    return false;
                }
            }
            _ => return false,
        }
        i += 1;
    }
    true
}

/// `-x` style flags from `single`, flags from `with_value` taking the next argument.
fn flags_only(args: &[&str], single: &str, with_value: &str) -> bool {
    parse_flags(args, single, with_value).is_some_and(|rest| rest.is_empty())
}

/// Flags, then plain names (no `=`, no leading `-`).
fn flags_and_names(args: &[&str], single: &str, with_value: &str) -> bool {
    parse_flags(args, single, with_value).is_some_and(|rest| {
        rest.iter()
            .all(|n| !n.is_empty() && !n.starts_with('-') && !n.contains('='))
    })
}

/// Consumes leading flags; `None` when a flag is not allowed. Returns the operands.
fn parse_flags<'a>(args: &'a [&'a str], single: &str, with_value: &str) -> Option<&'a [&'a str]> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(cluster) = a
            .strip_prefix('-')
            .filter(|c| !c.is_empty() && !c.starts_with('-'))
        else {
            break;
        };
        i += 1;
        let chars: Vec<char> = cluster.chars().collect();
        for (k, c) in chars.iter().enumerate() {
            if with_value.contains(*c) {
                // The value is the rest of the cluster or the next argument.
                if k + 1 == chars.len() {
                    args.get(i)?;
                    i += 1;
                }
                break;
            }
            if !single.contains(*c) {
                return None;
            }
        }
    }
    Some(&args[i..])
}

/// `doveadm [-c FILE] [-f FMT] [-D|-v] COMMAND ...` for a few commands that only read.
/// Nothing that opens a mailbox (`mailbox list/status`, `quota get`, `fetch`...): opening one
/// may create or update its index files.
fn doveadm_allowed(args: &[&str]) -> bool {
    const READ_ONLY: &[&[&str]] = &[
        &["who"],
        &["process", "status"],
        &["service", "status"],
        &["log", "errors"],
        &["user"],
        &["director", "status"],
    ];
    let Some(rest) = parse_flags(args, "Dv", "cfo") else {
        return false;
    };
    // `-o key=value` would override the configuration of this one run only, but keep it simple: refuse it.
    if args.iter().any(|a| a.starts_with("-o")) {
        return false;
    }
    READ_ONLY
        .iter()
        .any(|cmd| rest.len() >= cmd.len() && rest[..cmd.len()] == **cmd)
}

/// Checks a command line against the allow-list.
///
/// # Errors
/// [`ExecError::NotAllowed`] naming the command.
pub fn check_allowed(argv: &[&str]) -> Result<(), ExecError> {
    let refused = || ExecError::NotAllowed(argv.join(" "));
    let (program, args) = argv.split_first().ok_or_else(refused)?;
    let name = program.rsplit('/').next().unwrap_or(program);
    let rule = RULES
        .iter()
        .find(|r| r.program == name)
        .ok_or_else(refused)?;
    if (rule.allowed)(args) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Runs an allowed read-only command at `place`, under the step timeout.
///
/// # Errors
/// [`ExecError`]: refused, timed out, not startable, Docker unusable, no container.
pub async fn run(ctx: &Ctx, place: &Place, argv: &[&str]) -> Result<Output, ExecError> {
    if let Err(e) = check_allowed(argv) {
        tracing::warn!(?argv, "command refused: not on the read-only allow-list");
        return Err(e);
    }
    tracing::debug!(?argv, ?place, "exec");
    let start = Instant::now();
    let ran = run_allowed(ctx, place, argv).await;
    match &ran {
        Ok((code, out, err, ran_in)) => {
            tracing::debug!(?argv, exit_code = ?code, stdout_bytes = out.0.len(), stderr_bytes = err.0.len(), %ran_in, duration_ms = elapsed_ms(start), "exec finished");
        }
        Err(e) => {
            tracing::debug!(?argv, error = %e.describe(crate::Lang::En), duration_ms = elapsed_ms(start), "exec failed")
        }
    }
    let (exit_code, stdout, stderr, ran_in) = ran?;
    let truncated = stdout.1 || stderr.1;
    Ok(Output {
        exit_code,
        stdout: String::from_utf8_lossy(&stdout.0).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.0).into_owned(),
        truncated,
        duration_ms: elapsed_ms(start),
        ran_in,
    })
}

/// Runs an allowed command at `place` under the step timeout.
async fn run_allowed(ctx: &Ctx, place: &Place, argv: &[&str]) -> Result<Ran, ExecError> {
    let timed_out = ExecError::TimedOut(ctx.config.timeout_secs);
    match place {
        Place::Host => on_host(argv, ctx.config.timeout()).await.ok_or(timed_out)?,
        Place::Service(service) => {
            let kill_after = kill_after_secs(ctx.config.timeout_secs);
            ctx.step_named("exec", in_service(ctx, service, argv, kill_after))
                .await
                .map_err(|_| timed_out)?
        }
    }
}

/// Bytes kept and whether some were dropped.
type Kept = (Vec<u8>, bool);
type Ran = (Option<i64>, Kept, Kept, String);

/// Appends up to [`MAX_OUTPUT`] bytes in all; the rest is dropped (and noted).
fn keep(buf: &mut Kept, bytes: &[u8]) {
    let room = MAX_OUTPUT.saturating_sub(buf.0.len());
    buf.0.extend_from_slice(&bytes[..bytes.len().min(room)]);
    buf.1 |= bytes.len() > room;
}

/// Reads a pipe to its end, keeping at most [`MAX_OUTPUT`] bytes (draining the rest so the child never blocks).
async fn drain(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> Kept {
    let mut kept = (Vec::new(), false);
    let Some(mut pipe) = pipe else { return kept };
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        keep(&mut kept, &buf[..n]);
    }
    kept
}

/// Runs on the host; `None` when it did not finish within `limit` (the process is then killed
/// and reaped; were this future dropped instead, `kill_on_drop` kills it).
async fn on_host(argv: &[&str], limit: std::time::Duration) -> Option<Result<Ran, ExecError>> {
    let spawn_error = |e: std::io::Error| ExecError::Spawn {
        program: argv[0].to_owned(),
        reason: e.to_string(),
    };
    let mut child = match tokio::process::Command::new(argv[0])
        .args(&argv[1..])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Some(Err(spawn_error(e))),
    };
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let finished = tokio::time::timeout(limit, async {
        let (out, err) = tokio::join!(drain(stdout), drain(stderr));
        child
            .wait()
            .await
            .map(|status| (status.code().map(i64::from), out, err, "host".to_owned()))
    })
    .await;
    match finished {
        Ok(ran) => Some(ran.map_err(spawn_error)),
        Err(_) => {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
            None
        }
    }
}

/// Longest wait for a killed host process to be reaped.
const KILL_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Whole seconds after which the process in a container is killed: the step timeout, rounded up.
fn kill_after_secs(timeout_secs: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = timeout_secs.ceil().max(1.0) as u64;
    secs
}

/// The command line run in a container: `argv` under `timeout -s KILL N` when the container
/// has a working `timeout` (coreutils or BusyBox), else `argv` as is. The arguments reach the
/// shell as positional parameters, never as shell text.
fn in_container_argv<'a>(argv: &[&'a str], kill_after: &'a str) -> Vec<&'a str> {
    const WRAPPER: &str = "n=$1; shift; if timeout -s KILL 1 true >/dev/null 2>&1; then exec timeout -s KILL \"$n\" \"$@\"; fi; exec \"$@\"";
    let mut wrapped = vec!["sh", "-c", WRAPPER, "sh", kill_after];
    wrapped.extend_from_slice(argv);
    wrapped
}

async fn in_service(
    ctx: &Ctx,
    service: &str,
    argv: &[&str],
    kill_after: u64,
) -> Result<Ran, ExecError> {
    let engine = ctx.engine().await.map_err(ExecError::Docker)?;
    let d = &engine.docker;
    let project = &ctx.config.docker.project;
    let filters = HashMap::from([
        (
            "label",
            vec![
                format!("{PROJECT_LABEL}={project}"),
                format!("{SERVICE_LABEL}={service}"),
            ],
        ),
        ("status", vec!["running".to_owned()]),
    ]);
    let list = d
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| ExecError::Docker(engine.explain(&e)))?;
    let no_container = || ExecError::NoContainer {
        service: service.to_owned(),
        project: project.clone(),
    };
    let container = list
        .into_iter()
        .find_map(|c| c.id)
        .ok_or_else(no_container)?;
    let name = format!("{} ({service})", &container[..container.len().min(12)]);
    let kill_after = kill_after.to_string();
    let ran = exec_in(d, &container, &in_container_argv(argv, &kill_after)).await?;
    // A container without a shell: run the command bare (it then runs on past a timeout).
    let no_shell = matches!(ran.0, Some(126 | 127))
        && String::from_utf8_lossy(&ran.1 .0).contains("\"sh\": executable file not found");
    let (exit_code, out, err) = if no_shell {
        exec_in(d, &container, argv).await?
    } else {
        ran
    };
    Ok((exit_code, out, err, name))
}

/// One exec in a container: its exit code and bounded output.
async fn exec_in(
    d: &bollard::Docker,
    container: &str,
    argv: &[&str],
) -> Result<(Option<i64>, Kept, Kept), ExecError> {
    let exec_err = |e: bollard::errors::Error| ExecError::Exec(e.to_string());
    let exec = d
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(argv.to_vec()),
                env: Some(vec!["LC_ALL=C"]),
                ..Default::default()
            },
        )
        .await
        .map_err(exec_err)?;
    let (mut out, mut err) = ((Vec::new(), false), (Vec::new(), false));
    if let StartExecResults::Attached { mut output, .. } =
        d.start_exec(&exec.id, None).await.map_err(exec_err)?
    {
        while let Some(frame) = output.next().await {
            match frame.map_err(exec_err)? {
                bollard::container::LogOutput::StdErr { message } => keep(&mut err, &message),
                other => keep(&mut out, other.as_ref()),
            }
        }
    }
    let inspect = d.inspect_exec(&exec.id).await.map_err(exec_err)?;
    Ok((inspect.exit_code, out, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        for ok in [
            &["postqueue", "-p"][..],
            &["/usr/sbin/postqueue", "-c", "/etc/postfix", "-p"],
            &["postqueue", "-j"],
            &["postconf", "-n"],
            &[
                "postconf",
                "-c",
                "/etc/pf",
                "-h",
                "relayhost",
                "smtp_tls_security_level",
            ],
            &["postconf", "-nc/etc/pf"],
            &["doveadm", "who"],
            &["doveadm", "-c", "/etc/dovecot/dovecot.conf", "who", "-1"],
            &["doveadm", "user", "a@b"],
            &["doveconf", "-n"],
            &["pg_restore", "--list", "/backup/db.dump"],
            &["pg_restore", "--file=-", "/backup/db.dump"],
            &["smartctl", "-H", "-A", "-j", "-n", "standby", "/dev/sda"],
            &["smartctl", "-H", "-j", "-d", "megaraid,0", "/dev/sda"],
        ] {
            assert!(check_allowed(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            &["postqueue", "-f"][..],
            &["postqueue", "-p", "-f"],
            &["postqueue", "-i", "ABC"],
            &["postqueue"],
            &["postconf", "-e", "relayhost=x"],
            &["postconf", "relayhost=x"],
            &["postconf", "-X", "relayhost"],
            &["postconf", "-#", "relayhost"],
            &["postconf", "-ne"],
            &["doveadm", "force-resync", "-u", "a", "INBOX"],
            &["doveadm", "expunge", "-A", "mailbox", "INBOX", "all"],
            &["doveadm", "-o", "x=y", "who"],
            // Opening a mailbox may write its index files.
            &[
                "doveadm", "mailbox", "status", "-u", "a@b", "messages", "INBOX",
            ],
            &["doveadm", "mailbox", "list", "-u", "a@b"],
            &["doveadm", "quota", "get", "-u", "a@b"],
            &["pg_restore", "-d", "mssante", "/backup/db.dump"],
            &["pg_restore", "--file=/etc/passwd", "/backup/db.dump"],
            &["pg_restore", "-f", "out.sql", "/backup/db.dump"],
            &["pg_restore", "--list", "--clean", "/backup/db.dump"],
            &["smartctl", "-s", "off", "/dev/sda"],
            &["smartctl", "-t", "long", "/dev/sda"],
            &["smartctl", "-H", "-X", "/dev/sda"],
            &["smartctl", "-H", "/etc/passwd"],
            &["smartctl", "-H", "-n", "now", "/dev/sda"],
            &["rm", "-rf", "/"],
            &["sh", "-c", "postqueue -p"],
            &[],
        ] {
            assert!(check_allowed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn places() {
        assert_eq!(Place::try_from("host".to_owned()), Ok(Place::Host));
        assert_eq!(
            Place::try_from("service:postfix".to_owned()),
            Ok(Place::Service("postfix".into()))
        );
        assert!(Place::try_from("postfix".to_owned()).is_err());
        assert_eq!(
            String::from(Place::Service("dovecot".into())),
            "service:dovecot"
        );
    }
}
