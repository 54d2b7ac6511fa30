//! `mssante-diag`: diagnostics for an MSSanté platform.
//!
//! Exit codes follow the monitoring-plugins convention whatever the format:
//! 0 ok, 1 warning, 2 critical, 3 unknown or usage error.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use mssante_diag_core::output::{render, Format, Style};
use mssante_diag_core::{catalogue, run_with_progress, Config, Error, Lang, Report, Selection, TimeoutState};

/// Exit code of a usage or configuration error.
const EXIT_USAGE: u8 = 3;

#[derive(Parser, Debug)]
#[command(name = "mssante-diag", version, about = "Diagnostics for an MSSanté platform / Diagnostic d'une plateforme MSSanté")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The platform's project folder (holds .env and mssante-diag.toml).
    #[arg(long, global = true, default_value = ".")]
    project: PathBuf,
    /// Configuration file (default: mssante-diag.toml of the project folder, if present).
    #[arg(long, short = 'c', global = true)]
    config: Option<PathBuf>,
    /// Output format: human, json, nagios, prometheus.
    #[arg(long, short = 'f', global = true, default_value = "human")]
    format: Format,
    /// Language of messages (default: from the locale).
    #[arg(long, global = true, value_parser = ["en", "fr"])]
    lang: Option<String>,
    /// Timeout of every network or process step, seconds (default 5).
    #[arg(long, global = true)]
    timeout: Option<f64>,
    /// Status of a target that does not answer in time: critical (default) or unknown.
    #[arg(long, global = true, value_parser = ["critical", "unknown"])]
    timeout_state: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every check, or the given subsystems and check ids.
    Check {
        /// Subsystems (e.g. postgres) or check ids (e.g. smtp.submission).
        names: Vec<String>,
    },
    /// The guide's quick-check set: resources, disk, API/PostgreSQL/Redis/SMTP/IMAP health.
    Quick,
    /// List the catalogue of checks with their guide sections.
    List,
    /// Show what a check decides and the guide's remedy.
    Explain {
        /// Check id.
        id: String,
    },
    /// Print the JSON Schema of the report.
    Schema,
}

impl Cli {
    /// The language given with `--lang`, if any.
    fn requested_lang(&self) -> Option<Lang> {
        self.lang.as_deref().map(|l| if l == "fr" { Lang::Fr } else { Lang::En })
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mssante-diag: {}", e.chain());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config, Error> {
    let mut config = Config::load(&cli.project, cli.config.as_deref())?;
    if let Some(lang) = cli.requested_lang() {
        config.lang = lang;
    }
    if let Some(t) = cli.timeout {
        if !(t > 0.0 && t <= 600.0) {
            return Err(Error::Config { file: "--timeout".into(), key: "timeout".into(), reason: "must be between 0 and 600 seconds".into() });
        }
        config.timeout_secs = t;
    }
    if let Some(state) = &cli.timeout_state {
        config.timeout_state = if state == "unknown" { TimeoutState::Unknown } else { TimeoutState::Critical };
    }
    Ok(config)
}

fn execute(cli: Cli) -> Result<ExitCode, Error> {
    let selection = match &cli.command {
        Command::Check { names } => Selection::from_names(names.clone()),
        Command::Quick => Selection::Quick,
        Command::List => return Ok(list(&cli)),
        Command::Explain { id } => return explain(&cli, id),
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&Report::json_schema()).unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
    };
    let config = load_config(&cli)?;
    let lang = config.lang;
    let report = run_report(Arc::new(config), &selection, cli.format)?;
    let style = Style { color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(), lang };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(render(&report, cli.format, style).as_bytes());
    Ok(ExitCode::from(u8::try_from(report.status.exit_code()).unwrap_or(EXIT_USAGE)))
}

fn run_report(config: Arc<Config>, selection: &Selection, format: Format) -> Result<Report, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|source| Error::Io { path: "tokio runtime".into(), source })?;
    let total = selection.resolve(&config)?.len();
    let show_progress = format == Format::Human && std::io::stderr().is_terminal();
    let mut done = 0;
    let report = runtime.block_on(run_with_progress(config, selection, |r| {
        if show_progress {
            done += 1;
            eprint!("\r\x1b[2K[{done}/{total}] {} {}", r.id, r.status);
        }
    }))?;
    if show_progress {
        eprint!("\r\x1b[2K");
    }
    // Do not wait for checks abandoned at their deadline.
    runtime.shutdown_background();
    Ok(report)
}

/// The configuration `list` and `explain` cite: the project's when it loads, else the defaults.
fn catalogue_config(cli: &Cli) -> Config {
    let mut config = load_config(cli).unwrap_or_default();
    if let Some(lang) = cli.requested_lang() {
        config.lang = lang;
    }
    config
}

fn list(cli: &Cli) -> ExitCode {
    let config = catalogue_config(cli);
    let (lang, vars) = (config.lang, config.vars());
    if cli.format == Format::Json {
        let items: Vec<_> = catalogue().iter().map(|d| d.info(lang, &vars)).collect();
        println!("{}", serde_json::to_string_pretty(&items).unwrap_or_default());
    } else {
        for d in catalogue() {
            let quick = if d.quick { "*" } else { " " };
            println!("{quick} {:<22} {:<28} {}", d.id, d.guide, d.title(lang, &vars));
        }
        println!("\n* {}", lang.pick("part of `mssante-diag quick`", "fait partie de `mssante-diag quick`"));
    }
    ExitCode::SUCCESS
}

fn explain(cli: &Cli, id: &str) -> Result<ExitCode, Error> {
    let def = mssante_diag_core::find(id)?;
    let config = catalogue_config(cli);
    let (lang, vars) = (config.lang, config.vars());
    println!("{} — {}", def.id, def.title(lang, &vars));
    println!("{}: {}\n", lang.pick("Guide", "Guide"), def.guide);
    for (i, r) in def.remediation(lang, &vars).iter().enumerate() {
        let warn = if r.destructive { lang.pick(" [DESTRUCTIVE]", " [DESTRUCTIF]") } else { "" };
        println!("{}. {}{warn} ({})", i + 1, r.text, r.guide);
        if let Some(cmd) = &r.command {
            println!("   $ {cmd}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
