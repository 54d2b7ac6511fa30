//! Test support: the real test stack (`tests/stack/stack.sh`), its project
//! folder, fault injection and hostile peers.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use mssante_diag_core::{Config, Report, Selection};

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

/// A loopback server that answers every connection with `bytes` (then keeps it open a while).
#[must_use]
pub fn hostile_server(bytes: &'static [u8], repeat: bool) -> u16 {
    use std::io::Write;
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                loop {
                    if s.write_all(bytes).is_err() || !repeat || std::time::Instant::now() > deadline {
                        break;
                    }
                }
                std::thread::sleep(std::time::Duration::from_secs(10));
            });
        }
    });
    port
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
