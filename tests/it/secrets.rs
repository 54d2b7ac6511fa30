//! No secret ever printed. Passwords are seeded into every place a secret can come from
//! (`.env`, `mssante-diag.toml`, a URL, a DSN); none may appear in any output format, in
//! either language, in the CLI's output or errors, in `list`/`explain`, or in a `{:?}`.
//! Each project is run against the live stack (healthy paths, then refused credentials)
//! and against dead and hung ports (error and timeout paths).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mssante_diag_core::output::{render, Format, Style};
use mssante_diag_core::{catalogue, Config, Ctx, Lang, Report};
use mssante_diag_tests::{healthy, hung_listener, Stack};

/// Marker carried by every seeded secret: a leak of any part of one shows it.
const MARK: &str = "Zq7xK";

/// The seeded secrets of the `.env` and TOML written by [`Project::seeded`].
fn seeded_secrets() -> Vec<String> {
    ["pg-pass", "redis-pass", "jwt-secret", "psc-secret", "smtp-pass", "dsn-pass", "reserved-pass", "api-pass"]
        .iter()
        .map(|s| format!("{s}-{MARK}"))
        .collect()
}

/// A temporary project folder, removed on drop.
struct Project(PathBuf);

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Project {
    fn new(tag: &str, env: &str, toml: Option<&str>) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mssante-diag-secrets-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // `data/`: the guide's layout, measured by `system.disk`.
        std::fs::create_dir_all(dir.join("data")).expect("create the project folder");
        std::fs::write(dir.join(".env"), env).expect("write .env");
        if let Some(toml) = toml {
            std::fs::write(dir.join("mssante-diag.toml"), toml).expect("write mssante-diag.toml");
        }
        Self(dir)
    }

    /// A copy of the folder `src` (certificates, backups, migrations: every fixture the
    /// checks read), then `env` and `toml` written over its own.
    fn copy_of(tag: &str, src: &Path, env: &str, toml: &str) -> Self {
        let project = Self::new(tag, env, Some(toml));
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(src.join("."))
            .arg(&project.0)
            .status()
            .expect("cp runs");
        assert!(copied.success(), "copy {} into {}", src.display(), project.0.display());
        std::fs::write(project.0.join(".env"), env).expect("write .env");
        std::fs::write(project.0.join("mssante-diag.toml"), toml).expect("write mssante-diag.toml");
        project
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// `.env` with a distinctive value for every secret variable of the platform, and a TOML
    /// with an inline `[postgres.reserved]` password and `user:password@` in `[api] url`.
    fn seeded(tag: &str, toml: &str) -> Self {
        let env = format!(
            "DOMAIN=mssante.test\nPOSTGRES_HOST=postgres\nPOSTGRES_USER=mssante\nPOSTGRES_PASSWORD=pg-pass-{MARK}\n\
             POSTGRES_DB=mssante\nREDIS_PASSWORD=redis-pass-{MARK}\nJWT_SECRET=jwt-secret-{MARK}\n\
             PSC_CLIENT_ID=mssante-diag\nPSC_CLIENT_SECRET=psc-secret-{MARK}\nSMTP_TEST_USER=test@mssante.test\n\
             SMTP_TEST_PASSWORD='smtp-pass-{MARK}'\nDATABASE_URL=\"postgres://mssante:dsn-pass-{MARK}@127.0.77.1:15432/mssante\"\n"
        );
        Self::new(tag, &env, Some(toml))
    }
}

/// The stack's `mssante-diag.toml` (its endpoints), with `user:password@` in `[api] url` and an
/// inline `[postgres.reserved] password`.
fn live_toml(stack: &Stack, api_password: &str, reserved_password: &str) -> String {
    let text = std::fs::read_to_string(stack.project.join("mssante-diag.toml")).expect("the stack's mssante-diag.toml");
    let (mut section, mut url, mut reserved) = (String::new(), false, false);
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_owned();
        }
        if section == "[api]" && t.starts_with("url") {
            out.push(line.replacen("://", &format!("://apiuser:{api_password}@"), 1));
            url = true;
        } else if section == "[postgres.reserved]" && t.starts_with("password") {
            out.push(format!("password = \"{reserved_password}\""));
            reserved = true;
        } else {
            out.push(line.to_owned());
        }
    }
    assert!(url, "the stack's TOML has an [api] url:\n{text}");
    if !reserved {
        out.push(format!("[postgres.reserved]\nuser = \"diagadmin\"\npassword = \"{reserved_password}\""));
    }
    out.join("\n") + "\n"
}

/// A TOML whose every endpoint is a closed loopback port, but the API's, which never answers.
fn dead_toml(closed: u16, hung: u16) -> String {
    format!(
        "timeout_secs = 1\n[api]\nurl = \"http://apiuser:api-pass-{MARK}@127.0.0.1:{hung}/health\"\n\
         [postgres]\nhost = \"127.0.0.1\"\nport = {closed}\n[postgres.reserved]\nuser = \"diagadmin\"\npassword = \"reserved-pass-{MARK}\"\n\
         [redis]\nhost = \"127.0.0.1\"\nport = {closed}\n[smtp]\nhost = \"127.0.0.1\"\ninbound_port = {closed}\nsubmission_port = {closed}\n\
         [imap]\nhost = \"127.0.0.1\"\nport = {closed}\n[docker]\nhost = \"tcp://127.0.0.1:{closed}\"\nenabled = true\n\
         [auth]\nissuer = \"https://127.0.0.1:{closed}/psc\"\n"
    )
}

/// Fails naming the first secret found in `text` (and where), showing the text around it.
fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for needle in secrets.iter().map(String::as_str).chain([MARK]) {
        if let Some(at) = text.find(needle) {
            let mut from = at.saturating_sub(200);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            let mut to = (at + needle.len() + 200).min(text.len());
            while !text.is_char_boundary(to) {
                to += 1;
            }
            panic!("secret `{needle}` shown in {what}:\n...{}...", &text[from..to]);
        }
    }
}

/// Runs every check on one shared context (as the runner does), so the context's `{:?}`
/// is taken with every subsystem's state filled (connections, pools, inventories).
fn run_with_ctx(config: Config) -> (Report, String) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let ctx = Arc::new(Ctx::new(Arc::new(config)));
    let (checks, shown) = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, def) in catalogue().into_iter().enumerate() {
            let ctx = ctx.clone();
            set.spawn(async move { (i, mssante_diag_core::runner::run_one(def, ctx).await) });
        }
        let mut results = Vec::new();
        while let Some(joined) = set.join_next().await {
            results.push(joined.expect("run_one does not panic"));
        }
        results.sort_by_key(|(i, _)| *i);
        let shown = format!("{ctx:?}");
        ctx.state.postgres.close().await;
        (results.into_iter().map(|(_, c)| c).collect::<Vec<_>>(), shown)
    });
    rt.shutdown_background();
    let report = Report {
        schema_version: mssante_diag_core::model::SCHEMA_VERSION,
        version: mssante_diag_core::VERSION.to_owned(),
        host: "test".into(),
        started_at: "2024-01-01T00:00:00.000Z".into(),
        duration_ms: 0,
        status: Report::overall(&checks),
        checks,
        notices: Vec::new(),
    };
    (report, shown)
}

fn cli(project: &Path, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("mssante-diag")
        .expect("the CLI is built with the workspace")
        .arg("--project")
        .arg(project)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the CLI runs")
}

fn both(out: &std::process::Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

const FORMATS: [(Format, &str); 4] = [(Format::Human, "human"), (Format::Json, "json"), (Format::Nagios, "nagios"), (Format::Prometheus, "prometheus")];

/// Everything a user or a log can see of a project: the configuration's and a run's
/// `{:?}`, every format in both languages through the core and through the CLI, `list`
/// and `explain` of every check. Returns the report for the caller's own assertions.
fn assert_project_shows_no_secret(project: &Path, secrets: &[String]) -> Report {
    let config = Config::load(project, None).expect("the project's configuration loads");
    assert_clean("Config {:?}", &format!("{config:?} {config:#?}"), secrets);
    assert_clean("Config as JSON", &serde_json::to_string(&config).expect("serialises"), secrets);
    assert_clean("a fresh Ctx {:?}", &format!("{:?}", Ctx::new(Arc::new(config.clone()))), secrets);
    let (report, ctx_shown) = run_with_ctx(config);
    assert_clean("the Ctx {:?} after a run", &ctx_shown, secrets);
    assert_clean("the report {:?}", &format!("{report:?}"), secrets);
    for (format, name) in FORMATS {
        for lang in [Lang::En, Lang::Fr] {
            let text = render(&report, format, Style { color: false, lang });
            assert_clean(&format!("render({name}, {lang:?})"), &text, secrets);
        }
    }
    std::thread::scope(|s| {
        let runs: Vec<_> = FORMATS
            .iter()
            .flat_map(|(_, f)| ["en", "fr"].map(move |l| (*f, l)))
            .map(|(f, l)| (f, l, s.spawn(move || cli(project, &["check", "--format", f, "--lang", l]))))
            .collect();
        for (f, l, run) in runs {
            let out = run.join().expect("the CLI thread");
            assert!(matches!(out.status.code(), Some(0..=3)), "check --format {f}: {out:?}");
            assert_clean(&format!("`check --format {f} --lang {l}`"), &both(&out), secrets);
        }
    });
    for args in [&["list"][..], &["list", "--format", "json"], &["list", "--lang", "fr"]] {
        let out = cli(project, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_clean(&format!("`{}`", args.join(" ")), &both(&out), secrets);
    }
    for def in catalogue() {
        for lang in ["en", "fr"] {
            let out = cli(project, &["explain", def.id, "--lang", lang]);
            assert!(out.status.success(), "explain {}: {out:?}", def.id);
            assert_clean(&format!("`explain {} --lang {lang}`", def.id), &both(&out), secrets);
        }
    }
    report
}

#[test]
fn seeded_secrets_never_show_on_the_live_stack() {
    let stack = Stack::get();
    let _g = healthy();
    let project = Project::seeded("live", &live_toml(stack, &format!("api-pass-{MARK}"), &format!("reserved-pass-{MARK}")));
    let report = assert_project_shows_no_secret(project.path(), &seeded_secrets());
    // The wrong passwords were really sent: the servers refused them.
    let status = |id: &str| report.check(id).map(|c| c.status.as_str());
    assert_ne!(status("postgres.reachable"), Some("ok"), "PostgreSQL refused pg-pass");
    assert_ne!(status("redis.reachable"), Some("ok"), "Redis refused redis-pass");
}

#[test]
fn the_stacks_real_passwords_never_show_on_healthy_paths() {
    let stack = Stack::get();
    let _g = healthy();
    // The stack's own `.env` (the passwords it accepts) and TOML: every check connects.
    let env = std::fs::read_to_string(stack.project.join(".env")).expect("the stack's .env");
    let real = [stack.var("PG_PASSWORD"), stack.var("PG_SUPERPASSWORD"), stack.var("REDIS_PASSWORD"), stack.var("MAIL_PASSWORD")];
    // The seeded PSC_CLIENT_SECRET replaces the stack's (a key defined twice is a config.env warning).
    let env: String = env.lines().filter(|l| !l.starts_with("PSC_CLIENT_SECRET=")).map(|l| format!("{l}\n")).collect();
    let env = format!("{env}\nPSC_CLIENT_SECRET=psc-secret-{MARK}\nDATABASE_URL=postgres://mssante:{}@127.0.77.1:15432/mssante\n", real[0]);
    let toml = live_toml(stack, &format!("api-pass-{MARK}"), stack.var("PG_SUPERPASSWORD"));
    let project = Project::copy_of("real", &stack.project, &env, &toml);
    let mut secrets: Vec<String> = real.iter().map(|s| (*s).to_owned()).collect();
    secrets.extend(env.lines().filter_map(|l| l.strip_prefix("JWT_SECRET=")).map(str::to_owned));
    secrets.extend(["psc-secret", "api-pass"].map(|s| format!("{s}-{MARK}")));
    let report = assert_project_shows_no_secret(project.path(), &secrets);
    // Skipped only where the TOML switches the check off (`[storage] smart = false`).
    let not_ok: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.status.as_str() != "ok" && !(c.status.as_str() == "skipped" && mssante_diag_tests::disabled_in(&toml, &c.id)))
        .map(|c| format!("{}: {} {}", c.id, c.status, c.summary))
        .collect();
    assert!(not_ok.is_empty(), "the real passwords connect, every check runs its healthy path: {not_ok:#?}");
}

#[test]
fn seeded_secrets_never_show_on_dead_and_hung_ports() {
    let _stack = Stack::get();
    let _g = healthy();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let (_hung, hung) = hung_listener();
    let project = Project::seeded("dead", &dead_toml(closed, hung));
    let report = assert_project_shows_no_secret(project.path(), &seeded_secrets());
    let status = |id: &str| report.check(id).map(|c| c.status.as_str());
    // The error paths ran: refused everywhere, the API timed out, Docker unreachable.
    for id in ["postgres.reachable", "redis.reachable", "smtp.submission", "imap.reachable", "api.health", "docker.daemon"] {
        assert_eq!(status(id), Some("critical"), "{id}");
    }
}

/// `.env` lines dotenvy cannot parse, each holding a password.
const BROKEN_ENV_LINES: [&str; 5] = [
    "POSTGRES_PASSWORD=pg-pass-Zq7xK and more",
    "POSTGRES_PASSWORD=\"pg-pass-Zq7xK never closed",
    "POSTGRES_PASSWORD='pg-pass-Zq7xK' trailing",
    "POSTGRES_PASSWORD=pg-pass-Zq7xK\\q",
    "export POSTGRES_PASSWORD=pg-pass-Zq7xK ${",
];

#[test]
fn a_broken_env_line_is_named_never_quoted() {
    let secrets = seeded_secrets();
    for bad in BROKEN_ENV_LINES {
        let project = Project::new("env", &format!("DOMAIN=mssante.test\n# a comment\n{bad}\nREDIS_PASSWORD=redis-pass-{MARK}\n"), None);
        let e = Config::load(project.path(), None).expect_err(bad);
        let shown = format!("{e} | {} | {e:?}", e.chain());
        assert_clean(&format!("the error for `{bad}`"), &shown, &secrets);
        assert!(shown.contains(".env:3") && shown.contains("POSTGRES_PASSWORD"), "file, line and key named for `{bad}`: {shown}");
        for args in [&["check", "--format", "json"][..], &["quick"], &["list"], &["explain", "postgres.reachable"]] {
            let out = cli(project.path(), args);
            let text = both(&out);
            assert_clean(&format!("`{}` with `{bad}`", args.join(" ")), &text, &secrets);
            if args[0] != "list" && args[0] != "explain" {
                assert_eq!(out.status.code(), Some(3), "{text}");
                assert!(text.contains(".env:3") && text.contains("POSTGRES_PASSWORD"), "{text}");
            }
        }
    }
}

#[test]
fn a_bad_toml_value_never_quotes_a_password() {
    let secrets = seeded_secrets();
    let bad_files = [
        // Unquoted (numeric) passwords: serde would quote the rejected value.
        "[postgres]\npassword = 7731977\n".to_owned(),
        "[postgres.reserved]\nuser = \"r\"\npassword = 77319.77\n".to_owned(),
        "[redis]\npassword = true\n".to_owned(),
        // A syntax error on the password's line.
        format!("[postgres]\npassword = \"pg-pass-{MARK}\n"),
        format!("[postgres]\npassword = pg-pass-{MARK}\n"),
        // An invalid URL with credentials, a misspelt key beside a password.
        format!("[api]\nurl = \"http://apiuser:api-pass-{MARK}@127.0.0.1:99999/health\"\n"),
        format!("[postgres]\npasword = \"pg-pass-{MARK}\"\n"),
        format!("[postgres.reserved]\npassword = \"reserved-pass-{MARK}\"\n"),
    ];
    let mut secrets = secrets;
    secrets.extend(["7731977", "77319.77"].map(str::to_owned));
    for toml in &bad_files {
        let project = Project::new("toml", "", Some(toml));
        let e = Config::load(project.path(), None).expect_err(toml);
        assert_eq!(e.code(), "CONFIG");
        assert_clean(&format!("the error for {toml:?}"), &format!("{e} | {} | {e:?}", e.chain()), &secrets);
        let out = cli(project.path(), &["check"]);
        assert_eq!(out.status.code(), Some(3), "{toml}");
        assert_clean(&format!("the CLI's error for {toml:?}"), &both(&out), &secrets);
    }
    // The same values given as overrides (the bindings' path): the error says what is
    // wrong (a password, in `[redis]`) without the value.
    for overrides in
        [serde_json::json!({ "redis": { "password": 7_731_977 } }), serde_json::json!({ "postgres": { "reserved": { "user": "r", "password": 77_319.77 } } })]
    {
        let e = Config::default().with_overrides(&overrides).expect_err("a number is no password");
        let shown = format!("{e} | {e:?}");
        assert_clean("the overrides' error", &shown, &secrets);
        assert!(shown.contains("password") && (shown.contains("redis") || shown.contains("postgres.reserved")), "{shown}");
    }
}
