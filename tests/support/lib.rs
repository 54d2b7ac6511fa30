//! Test support: the real test stack (`tests/stack/stack.sh`), its project
//! folder, fault injection and hostile peers.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use mssante_diag_core::{Config, Report, Selection};

pub mod hostile;
pub mod maillog;
pub mod postgres;

/// The running test stack.
#[derive(Debug)]
pub struct Stack {
    /// Its state folder.
    pub dir: PathBuf,
    /// Its project folder (`.env`, `mssante-diag.toml`).
    pub project: PathBuf,
    vars: HashMap<String, String>,
}

/// The repository's `tests/stack` folder.
#[must_use]
pub fn stack_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stack")
}

fn sh(script: &str, args: &[&str]) -> String {
    let out = Command::new("bash").arg(stack_scripts().join(script)).args(args).output().expect("bash runs");
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Stack {
    /// The stack's configuration with real faults: Redis on a closed port (critical), an API
    /// slower than a 0 ms threshold (warning), `disk_path` as the only disk path (unknown when it
    /// does not exist), Docker disabled (skipped).
    pub fn faulty_config(&self, disk_path: &str) -> Config {
        let closed = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        self.config()
            .with_overrides(&serde_json::json!({
                "redis": { "host": "127.0.0.1", "port": closed },
                "api": { "latency_warn_ms": 0, "latency_crit_ms": 600000 },
                "system": { "disk_paths": [disk_path] },
                "docker": { "enabled": false },
            }))
            .expect("valid overrides")
    }

    /// Brings the stack up once per process and returns it.
    pub fn get() -> &'static Stack {
        static STACK: OnceLock<Stack> = OnceLock::new();
        STACK.get_or_init(|| {
            sh("stack.sh", &["up"]);
            let env_path = PathBuf::from(sh("stack.sh", &["env"]).trim());
            let project = PathBuf::from(sh("write-project.sh", &[]).trim().lines().last().unwrap_or_default());
            let text = std::fs::read_to_string(&env_path).expect("stack.env readable");
            let vars = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            Stack { dir: env_path.parent().expect("state dir").to_path_buf(), project, vars }
        })
    }

    /// A variable of `stack.env`.
    ///
    /// # Panics
    /// When the stack does not define it.
    #[must_use]
    pub fn var(&self, key: &str) -> &str {
        self.vars.get(key).unwrap_or_else(|| panic!("stack.env has no {key}"))
    }

    /// The healthy configuration of the stack's project folder.
    #[must_use]
    pub fn config(&self) -> Config {
        Config::load(&self.project, None).expect("stack config loads")
    }

    /// Stops a service of the stack until the guard drops (then starts it and waits for it).
    #[must_use]
    pub fn stop(&'static self, service: &'static str) -> Stopped {
        sh("stack.sh", &["stop", service]);
        Stopped(service)
    }
}

/// A stopped service, started again on drop.
#[derive(Debug)]
pub struct Stopped(&'static str);

impl Drop for Stopped {
    fn drop(&mut self) {
        sh("stack.sh", &["start", self.0]);
    }
}

static FAULTS: RwLock<()> = RwLock::new(());

/// Taken by tests that expect the stack healthy: shared with each other.
pub fn healthy() -> RwLockReadGuard<'static, ()> {
    FAULTS.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Taken by tests that break the stack: exclusive.
pub fn fault() -> RwLockWriteGuard<'static, ()> {
    FAULTS.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A loopback listener that completes TCP handshakes (kernel backlog) but never answers.
#[must_use]
pub fn hung_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

/// A loopback server that answers every connection with `bytes` (again and again for 10 s
/// when `repeat`), then keeps it open a while.
#[must_use]
pub fn hostile_server(bytes: &'static [u8], repeat: bool) -> u16 {
    endless_server(bytes, if repeat { bytes } else { b"" }, false)
}

/// Runs a selection on a configuration (a fresh runtime per call).
#[must_use]
pub fn run(config: Config, selection: &Selection) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let report = rt.block_on(mssante_diag_core::run(Arc::new(config), selection)).expect("run");
    rt.shutdown_background();
    report
}

/// Runs the given check ids or subsystems.
#[must_use]
pub fn run_only(config: Config, names: &[&str]) -> Report {
    run(config, &Selection::Only(names.iter().map(|s| (*s).to_owned()).collect()))
}

/// A loopback server that sends `prefix` once, then `chunk` again and again (for 10 s per
/// connection): a peer that never stops talking, shaped like the protocol it impersonates.
/// With `client_first` it waits for the client's first bytes (an HTTP request) before.
#[must_use]
pub fn endless_server(prefix: &'static [u8], chunk: &'static [u8], client_first: bool) -> u16 {
    use std::io::{Read, Write};
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                if client_first {
                    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                    let _ = s.read(&mut [0u8; 4096]);
                }
                if s.write_all(prefix).is_err() {
                    return;
                }
                while !chunk.is_empty() && std::time::Instant::now() < deadline && s.write_all(chunk).is_ok() {}
                // Keep the connection open: the peer must give up on its own timeout.
                std::thread::sleep(deadline.saturating_duration_since(std::time::Instant::now()));
            });
        }
    });
    port
}

/// Whether a project's TOML switches check `id` off explicitly (`[subsystem] name = false`,
/// e.g. `[storage] smart = false`): the only reason a check may be `skipped` on the healthy stack.
#[must_use]
pub fn disabled_in(toml_text: &str, id: &str) -> bool {
    let Ok(table) = toml_text.parse::<toml::Table>() else { return false };
    id.split_once('.').is_some_and(|(sub, name)| table.get(sub).and_then(|s| s.get(name)).and_then(toml::Value::as_bool) == Some(false))
}

/// The `mssante-diag` binary built beside the test binaries (`cargo test` builds the workspace's binaries).
///
/// # Panics
/// When it was not built.
#[must_use]
pub fn cli_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe.parent().and_then(Path::parent).expect("target dir").join("mssante-diag");
    assert!(bin.exists(), "{} is missing: build it with `cargo build -p mssante-diag-cli`", bin.display());
    bin
}

/// Runs a command to its end and returns its output and its peak resident memory (`VmHWM`,
/// KiB), sampled from `/proc` every few milliseconds while it runs.
///
/// # Panics
/// When the command cannot start.
#[must_use]
pub fn run_measuring_memory(mut cmd: Command) -> (std::process::Output, u64) {
    use std::process::Stdio;
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("command starts");
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    let status_file = format!("/proc/{pid}/status");
    let field = |text: &str, key: &str| text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
    let mut peak = 0;
    while !waiter.is_finished() {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            // Only while it is still our child (a pid is reused once reaped).
            if field(&text, "PPid:") == Some(u64::from(std::process::id())) {
                peak = peak.max(field(&text, "VmHWM:").unwrap_or(0));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let out = waiter.join().expect("waiter").expect("command ran");
    (out, peak)
}

/// `postqueue -c DIR FLAG` of the stack's Postfix: what it prints.
///
/// # Panics
/// When postqueue cannot run.
#[must_use]
pub fn postqueue(stack: &Stack, flag: &str) -> String {
    let out = Command::new("postqueue").args(["-c", stack.var("POSTFIX_CONFIG_DIR"), flag]).output().expect("postqueue runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A message to a recipient nobody serves (the stack's Postfix relays to a closed port),
/// sitting in the deferred queue with its reason until dropped (then deleted). Its queue id: `.1`.
#[derive(Debug)]
pub struct Deferred(pub &'static Stack, pub String);

impl Deferred {
    /// Sends one message to `recipient` and waits until it is deferred (at most 10 s).
    ///
    /// # Panics
    /// When sendmail fails or the message is not deferred in time.
    #[must_use]
    pub fn send(stack: &'static Stack, recipient: &str) -> Self {
        use mssante_diag_core::checks::postfix::parse_json;
        use std::process::Stdio;
        use std::time::{Duration, Instant};
        let mut child = Command::new("sendmail")
            .args(["-C", stack.var("POSTFIX_CONFIG_DIR"), "-f", "probe@mssante.test", recipient])
            .stdin(Stdio::piped())
            .spawn()
            .expect("sendmail runs");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), b"Subject: deferred\n\nqueued by a test\n").expect("message");
        drop(child.stdin.take());
        assert!(child.wait().expect("sendmail ends").success());
        // Pickup, cleanup, then one refused delivery attempt: deferred with its reason.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (messages, _) = parse_json(&postqueue(stack, "-j"));
            if let Some(m) = messages.iter().find(|m| m.queue == "deferred" && m.recipients.iter().any(|r| r.0 == recipient && r.1.is_some())) {
                return Self(stack, m.id.clone());
            }
            assert!(Instant::now() < deadline, "the message never reached the deferred queue: {}", postqueue(stack, "-p"));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        let _ = Command::new("postsuper").args(["-c", self.0.var("POSTFIX_CONFIG_DIR"), "-d", &self.1]).output();
    }
}
