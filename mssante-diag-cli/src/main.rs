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
use mssante_diag_core::{
    catalogue, run_with_progress, Config, Error, Lang, Report, Selection, TimeoutState,
};

/// Exit code of a usage or configuration error.
const EXIT_USAGE: u8 = 3;

/// `println!` that ignores a closed stdout (`mssante-diag list | head`) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

#[derive(Parser, Debug)]
#[command(
    name = "mssante-diag",
    version,
    about = "Diagnostics for an MSSanté platform / Diagnostic d'une plateforme MSSanté"
)]
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
    /// Colours of the human format: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, default_value = "auto")]
    color: mssante_diag_core::output::ColorChoice,
    /// Show only what changed since the previous run (new problems, resolved ones, status
    /// changes); the report is kept in a state file.
    #[arg(long, global = true)]
    changes: bool,
    /// State file of --changes (default: $XDG_STATE_HOME or ~/.local/state, mssante-diag/<project-hash>.json).
    #[arg(long, global = true)]
    state_file: Option<PathBuf>,
    /// Log what the tool does to stderr (never a secret): -v info, -vv debug, -vvv trace.
    /// Without it, MSSANTE_DIAG_LOG (`debug`, or `debug,reqwest=info`) is used; by default, no log.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
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
    /// The effective configuration: every value with where it comes from (built-in default,
    /// .env variable, configuration file and key, override); secrets as [REDACTED] with the
    /// variable they are read from. Format: human or json.
    Config,
    /// Write a commented mssante-diag.toml in the project folder holding the values discovered
    /// there (never a secret: secrets stay `*_env` variable names); an existing file is never
    /// overwritten (exit code 3).
    Init,
    /// Print the completion script of a shell (bash, zsh, fish, elvish, powershell).
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
    /// Audit the DNS of mail domains (MX, SPF, DKIM, DMARC, PTR, blocklists, MTA-STS, TLS-RPT,
    /// DANE, DNSSEC), many at once, with the [dns] settings.
    Dns {
        /// Domains to audit.
        #[arg(required = true)]
        domains: Vec<String>,
    },
    /// Prometheus exporter: `/metrics` runs the checks (or the given ones) per scrape, with a
    /// cache shared by concurrent scrapes.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:9917 (port 0: a free one, printed at start).
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Seconds a report is served again before a scrape runs the checks anew.
        #[arg(long, default_value_t = mssante_diag_core::serve::DEFAULT_CACHE_SECS)]
        cache_secs: u64,
        /// Connections served at once.
        #[arg(long, default_value_t = mssante_diag_core::serve::DEFAULT_MAX_CONNECTIONS)]
        max_connections: usize,
        /// Subsystems or check ids each scrape runs (default: every check).
        names: Vec<String>,
    },
    /// The full diagnostic archive (.tar.gz) for support: system, Docker, network, disk,
    /// database, recent logs, configuration, certificates (public parts), the JSON report and
    /// MANIFEST.json; secrets redacted before anything is written.
    Bundle {
        /// Output file (default: mssante-diagnostic-<date>_<time>.tar.gz here); `-` for stdout.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Keep e-mail addresses (masked by default).
        #[arg(long)]
        no_mask_emails: bool,
    },
    /// Annuaire Santé: `annuaire reconcile [--mask]`.
    Annuaire {
        #[command(subcommand)]
        action: AnnuaireCommand,
    },
    /// Mail logs: `logs summarize [FILE...|--docker SERVICE]`.
    Logs {
        #[command(subcommand)]
        action: LogsCommand,
    },
    /// Decode and judge a JWT (auth.jwt): expiry, clock skew, signature with JWT_SECRET or
    /// PSC's keys. `-` reads it from stdin (a command line is visible to other users).
    Jwt {
        /// The token, or `-` for stdin.
        token: String,
    },
}

#[derive(Subcommand, Debug)]
enum AnnuaireCommand {
    /// The platform's mailboxes (the `mailboxes` table) against the BALs the Annuaire Santé
    /// publishes for the [annuaire] domains: missing, extra, type mismatches; unlisted BALs
    /// counted only. Counts and first addresses in the summary, full lists with `--format json`.
    Reconcile {
        /// Show addresses masked (`d***@domain`).
        #[arg(long)]
        mask: bool,
    },
}

#[derive(Subcommand, Debug)]
enum LogsCommand {
    /// Summarise Postfix and Dovecot logs (plain or .gz files, stdin, or a service's Docker
    /// log): received, delivered, deferred, bounced, rejected, top reasons, domains, failed
    /// logins, TLS failures. Format: human or json.
    Summarize {
        /// Log files, read in this order as one log; `-` or none: standard input.
        files: Vec<PathBuf>,
        /// Read the Docker log of this compose service of the project instead.
        #[arg(long, conflicts_with = "files")]
        docker: Option<String>,
        /// Leave out lines before: RFC 3339, a date, or an age (30m, 1h, 2d).
        #[arg(long)]
        since: Option<String>,
        /// Leave out lines after (same forms as --since).
        #[arg(long)]
        until: Option<String>,
        /// Hide client addresses and e-mail addresses.
        #[arg(long)]
        mask_addresses: bool,
    },
}

impl Cli {
    /// The language given with `--lang`, if any.
    fn requested_lang(&self) -> Option<Lang> {
        self.lang
            .as_deref()
            .map(|l| if l == "fr" { Lang::Fr } else { Lang::En })
    }
}

/// glibc gives each thread that meets a busy allocator an arena of its own, up to eight per
/// core, and keeps what each frees: a long `serve` whose blocking threads come and go (name
/// lookups, files) would see its memory creep from arena to arena (+17 MiB in 10 minutes of
/// the soak, where two arenas stay flat). Two arenas serve our two worker threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; it is called first thing in `main`,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    limit_malloc_arenas();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    if let Err(e) = mssante_diag_core::log::init_stderr(
        cli.verbose,
        std::env::var(mssante_diag_core::log::ENV_VAR)
            .ok()
            .as_deref(),
    ) {
        eprintln!("mssante-diag: {}", e.chain());
        return ExitCode::from(EXIT_USAGE);
    }
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
            return Err(Error::Config {
                file: "--timeout".into(),
                key: "timeout".into(),
                reason: "must be between 0 and 600 seconds".into(),
            });
        }
        config.timeout_secs = t;
    }
    if let Some(state) = &cli.timeout_state {
        config.timeout_state = if state == "unknown" {
            TimeoutState::Unknown
        } else {
            TimeoutState::Critical
        };
    }
    Ok(config)
}

fn execute(cli: Cli) -> Result<ExitCode, Error> {
    let selection = match &cli.command {
        Command::Check { names } => Selection::from_names(names.clone()),
        Command::Quick => Selection::Quick,
        Command::List => return Ok(list(&cli)),
        Command::Explain { id } => return explain(&cli, id),
        Command::Logs {
            action:
                LogsCommand::Summarize {
                    files,
                    docker,
                    since,
                    until,
                    mask_addresses,
                },
        } => {
            return logs_summarize(
                &cli,
                files,
                docker.as_deref(),
                since.as_deref(),
                until.as_deref(),
                *mask_addresses,
            );
        }
        Command::Jwt { token } => return jwt(&cli, token),
        Command::Annuaire {
            action: AnnuaireCommand::Reconcile { mask },
        } => return annuaire_reconcile(&cli, *mask),
        Command::Bundle {
            output,
            no_mask_emails,
        } => return bundle(&cli, output.as_deref(), !*no_mask_emails),
        Command::Serve {
            listen,
            cache_secs,
            max_connections,
            names,
        } => return serve(&cli, *listen, *cache_secs, *max_connections, names),
        Command::Dns { domains } => return dns(&cli, domains),
        Command::Config => return show_config(&cli),
        Command::Init => return init(&cli),
        Command::Completions { shell } => return completions(*shell),
        Command::Man => return man(),
        Command::Schema => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&Report::json_schema()).unwrap_or_default()
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    let config = load_config(&cli)?;
    let lang = config.lang;
    let state_file = cli.changes.then(|| {
        cli.state_file.clone().unwrap_or_else(|| {
            mssante_diag_core::changes::default_state_file(
                &config.project_dir,
                config.source.as_deref(),
            )
        })
    });
    let report = run_report(Arc::new(config), &selection, cli.format)?;
    let style = style(&cli, lang);
    let text = match state_file {
        Some(path) => {
            let changes = mssante_diag_core::changes::track(&path, &report)?;
            mssante_diag_core::output::render_changes(&changes, &report, cli.format, style)
        }
        None => render(&report, cli.format, style),
    };
    notices_to_stderr(cli.format, &report);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    // The exit code is the whole run's, with or without --changes.
    Ok(ExitCode::from(
        u8::try_from(report.status.exit_code()).unwrap_or(EXIT_USAGE),
    ))
}

/// `bundle [-o FILE]`: the core's diagnostic archive, to a file (or stdout with `-`); the
/// manifest's summary on stderr.
fn bundle(
    cli: &Cli,
    output: Option<&std::path::Path>,
    mask_emails: bool,
) -> Result<ExitCode, Error> {
    use mssante_diag_core::bundle;
    let config = Arc::new(load_config(cli)?);
    let lang = config.lang;
    let runtime = runtime()?;
    let opts = bundle::Options {
        mask_emails,
        ..bundle::Options::default()
    };
    let (manifest, shown) = match output {
        Some(p) if p.as_os_str() == "-" => {
            let b = runtime.block_on(bundle::collect(config, opts));
            b.write(std::io::stdout().lock())
                .map_err(|source| Error::Io {
                    path: "<stdout>".into(),
                    source,
                })?;
            (b.manifest, "<stdout>".to_owned())
        }
        _ => {
            let path = output.map_or_else(
                || PathBuf::from(bundle::default_file_name()),
                std::path::Path::to_path_buf,
            );
            (
                runtime.block_on(bundle::build(config, opts, &path))?,
                path.display().to_string(),
            )
        }
    };
    runtime.shutdown_background();
    eprintln!(
        "{}",
        mssante_diag_core::tr!(
            lang,
            "mssante-diag: bundle written to {shown}: {} members, {} not collected",
            "mssante-diag : archive écrite dans {shown} : {} éléments, {} non collectés",
            manifest.members.len(),
            manifest.missing.len()
        )
    );
    for m in &manifest.missing {
        eprintln!("  - {}: {}", m.name, m.reason);
    }
    Ok(ExitCode::SUCCESS)
}

/// `jwt TOKEN`: the token from the argument or stdin (`-`, read up to a bound), judged by
/// the core's `auth.jwt`, printed in the chosen format; the exit code is its status'.
fn jwt(cli: &Cli, token: &str) -> Result<ExitCode, Error> {
    let token = if token == "-" {
        let mut text = String::new();
        let limit = u64::try_from(mssante_diag_core::checks::auth::jwt::TOKEN_MAX_BYTES * 4)
            .unwrap_or(u64::MAX);
        std::io::Read::read_to_string(
            &mut std::io::Read::take(std::io::stdin().lock(), limit),
            &mut text,
        )
        .map_err(|source| Error::Io {
            path: "<stdin>".into(),
            source,
        })?;
        text
    } else {
        token.to_owned()
    };
    let config = load_config(cli)?;
    let lang = config.lang;
    let runtime = runtime()?;
    let report = runtime.block_on(mssante_diag_core::checks::auth::decode_jwt(
        Arc::new(config),
        &token,
    ))?;
    runtime.shutdown_background();
    Ok(print_report(cli, &report, lang))
}

/// `annuaire reconcile`: the core's `annuaire.mailboxes` alone, printed in the chosen format;
/// the exit code is its status'.
fn annuaire_reconcile(cli: &Cli, mask: bool) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    let lang = config.lang;
    let runtime = runtime()?;
    let report = runtime.block_on(mssante_diag_core::checks::annuaire::reconcile_annuaire(
        Arc::new(config),
        mask,
    ))?;
    runtime.shutdown_background();
    Ok(print_report(cli, &report, lang))
}

/// `serve --listen ADDR`: the core's Prometheus exporter, until the process is stopped.
fn serve(
    cli: &Cli,
    listen: std::net::SocketAddr,
    cache_secs: u64,
    max_connections: usize,
    names: &[String],
) -> Result<ExitCode, Error> {
    use mssante_diag_core::serve::{Options, Server};
    let config = Arc::new(load_config(cli)?);
    let options = Options {
        cache: std::time::Duration::from_secs(cache_secs),
        selection: Selection::from_names(names.to_vec()),
        max_connections,
        ..Options::new(listen)
    };
    let runtime = runtime()?;
    runtime.block_on(async {
        let server = Server::bind(config, options).await?;
        let addr = server.local_addr()?;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "mssante-diag: listening on http://{addr}/metrics");
        let _ = stdout.flush();
        drop(stdout);
        server.run().await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `logs summarize`: the core's mail log summary, printed as text or JSON.
fn logs_summarize(
    cli: &Cli,
    files: &[PathBuf],
    docker: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    mask: bool,
) -> Result<ExitCode, Error> {
    use mssante_diag_core::maillog;
    if !matches!(cli.format, Format::Human | Format::Json) {
        return Err(Error::Config {
            file: "--format".into(),
            key: "format".into(),
            reason: "logs summarize prints human or json".into(),
        });
    }
    let opts = maillog::Options::from_text(since, until, mask)?;
    let (input, lang) = match docker {
        Some(service) => {
            let config = load_config(cli)?;
            let lang = config.lang;
            (
                maillog::Input::Docker {
                    config: Box::new(config),
                    service: service.to_owned(),
                },
                lang,
            )
        }
        None => (
            maillog::Input::Files(files.to_vec()),
            cli.requested_lang().unwrap_or_else(Lang::from_env),
        ),
    };
    let summary = maillog::summarize(&input, &opts)?;
    let text = if cli.format == Format::Json {
        serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n"
    } else {
        maillog::render_human(&summary, lang)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// The report's notices on stderr for the formats whose stdout a monitoring system parses
/// (the human and JSON formats carry them).
fn notices_to_stderr(format: Format, report: &Report) {
    if matches!(format, Format::Nagios | Format::Prometheus) {
        for n in &report.notices {
            eprintln!("mssante-diag: {}", n.message);
        }
    }
}

/// `config`: the core's effective configuration with each value's source, as text or JSON.
fn show_config(cli: &Cli) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    let effective = mssante_diag_core::provenance::effective_config(&config);
    let text = match cli.format {
        Format::Json => serde_json::to_string_pretty(&effective).unwrap_or_default() + "\n",
        Format::Human => mssante_diag_core::provenance::render_human(&effective, config.lang),
        _ => {
            return Err(Error::Config {
                file: "--format".into(),
                key: "format".into(),
                reason: "config prints human or json".into(),
            })
        }
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// `init`: the core writes mssante-diag.toml of the project folder (never over an existing one).
fn init(cli: &Cli) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    let path = mssante_diag_core::init::write(&config)?;
    let shown = path.display();
    outln!(
        "{}",
        mssante_diag_core::tr!(
            config.lang,
            "mssante-diag: wrote {shown}; check it with `mssante-diag config`",
            "mssante-diag : {shown} écrit ; le vérifier avec `mssante-diag config`"
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// `completions SHELL`: the completion script generated from the clap definitions.
fn completions(shell: clap_complete::Shell) -> Result<ExitCode, Error> {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(
        shell,
        &mut command,
        "mssante-diag",
        &mut std::io::stdout().lock(),
    );
    Ok(ExitCode::SUCCESS)
}

/// `man`: the man page generated from the clap definitions.
fn man() -> Result<ExitCode, Error> {
    let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
    man.render(&mut std::io::stdout().lock())
        .map_err(|source| Error::Io {
            path: "<stdout>".into(),
            source,
        })?;
    Ok(ExitCode::SUCCESS)
}

/// A runtime for the core's async functions.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "tokio runtime".into(),
            source,
        })
}

/// How the human format looks: colours as `--color` says for stdout, in `lang`.
fn style(cli: &Cli, lang: Lang) -> Style {
    Style {
        color: cli.color.enabled(std::io::stdout().is_terminal()),
        lang,
    }
}

/// Prints a report in the chosen format; its status is the exit code.
fn print_report(cli: &Cli, report: &Report, lang: Lang) -> ExitCode {
    notices_to_stderr(cli.format, report);
    let _ = std::io::stdout()
        .lock()
        .write_all(render(report, cli.format, style(cli, lang)).as_bytes());
    ExitCode::from(u8::try_from(report.status.exit_code()).unwrap_or(EXIT_USAGE))
}

fn run_report(config: Arc<Config>, selection: &Selection, format: Format) -> Result<Report, Error> {
    let runtime = runtime()?;
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
        outln!(
            "{}",
            serde_json::to_string_pretty(&items).unwrap_or_default()
        );
    } else {
        for d in catalogue() {
            let quick = if d.quick { "*" } else { " " };
            outln!(
                "{quick} {:<22} {:<28} {}",
                d.id,
                d.guide,
                d.title(lang, &vars)
            );
        }
        outln!(
            "\n* {}",
            lang.pick(
                "part of `mssante-diag quick`",
                "fait partie de `mssante-diag quick`"
            )
        );
    }
    ExitCode::SUCCESS
}

fn explain(cli: &Cli, id: &str) -> Result<ExitCode, Error> {
    let def = mssante_diag_core::find(id)?;
    let config = catalogue_config(cli);
    let (lang, vars) = (config.lang, config.vars());
    outln!("{} — {}", def.id, def.title(lang, &vars));
    outln!("{}: {}\n", lang.pick("Guide", "Guide"), def.guide);
    for (i, r) in def.remediation(lang, &vars).iter().enumerate() {
        let warn = if r.destructive {
            lang.pick(" [DESTRUCTIVE]", " [DESTRUCTIF]")
        } else {
            ""
        };
        outln!("{}. {}{warn} ({})", i + 1, r.text, r.guide);
        if let Some(cmd) = &r.command {
            outln!("   $ {cmd}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `dns DOMAIN...`: the platform's addresses once, then each domain, in the chosen format
/// (JSON, else human).
fn dns(cli: &Cli, domains: &[String]) -> Result<ExitCode, Error> {
    let config = load_config(cli)?;
    let runtime = runtime()?;
    let audit = runtime.block_on(mssante_diag_core::checks::dns::audit(&config, domains))?;
    runtime.shutdown_background();
    let worst = audit.status;
    let text = if cli.format == Format::Json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&audit).unwrap_or_default()
        )
    } else {
        let style = style(cli, config.lang);
        mssante_diag_core::checks::dns::render_audit(&audit, style)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::from(
        u8::try_from(worst.exit_code()).unwrap_or(EXIT_USAGE),
    ))
}
