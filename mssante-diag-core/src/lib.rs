//! # mssante-diag-core
//!
//! Typed diagnostics for an MSSanté platform (the French health sector's secure
//! e-mail): checks for Docker, the host, the API, PostgreSQL, Redis, SMTP and
//! IMAP, a concurrent runner and one report model shared by the CLI and the
//! Python and Node bindings.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mssante_diag_core::{Config, Selection, run};
//!
//! # async fn demo() -> Result<(), mssante_diag_core::Error> {
//! let config = Config::load(std::path::Path::new("."), None)?;
//! let report = run(Arc::new(config), &Selection::Quick).await?;
//! println!("{}", report.to_json());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod access;
pub mod account;
pub mod annuaire;
pub mod bundle;
pub mod changes;
pub mod checks;
pub mod config;
pub mod docker;
pub mod error;
pub mod exec;
pub mod fs;
#[cfg(test)]
mod fuzz_corpus;
pub mod http;
pub mod init;
pub mod lang;
pub mod log;
pub mod logscan;
pub mod maillog;
pub mod mailqueue;
pub mod model;
pub mod output;
pub mod pgread;
pub mod pgwire;
pub mod probe;
pub mod provenance;
pub mod proxy;
pub mod resolver;
pub mod runner;
pub mod serve;
pub mod starttls;
pub mod units;

pub use checks::{catalogue, find, subsystems, CheckDef, CheckInfo, Ctx, Outcome};
pub use config::{Config, Secret, TimeoutState};
pub use error::{Error, Result};
pub use lang::Lang;
pub use model::{CheckResult, Metric, Notice, Remedy, Report, Status};
pub use runner::{run, run_with_progress, Selection};

/// Version of this crate, written into every report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
