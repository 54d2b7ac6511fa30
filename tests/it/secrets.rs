//! No secret ever printed. Every kind of secret the platform has is seeded into every place
//! one can come from (`.env`, `mssante-diag.toml`, a `--config` file, URLs and DSNs, proxy
//! variables, tokens, API keys, private key files): none may appear in any output format, in
//! either language, in the CLI's output or errors, in `list`/`explain`, in a `{:?}`, in the
//! diagnostic bundle (each member's name and content, `MANIFEST.json`), or in the log at
//! debug and trace level (`-vv`, `-vvv`, `MSSANTE_DIAG_LOG`, libraries included). Each
//! project is run against the live stack (healthy paths, then refused credentials) and
//! against dead and hung ports (error and timeout paths); every subcommand's error paths run
//! with the debug log.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mssante_diag_core::log::ENV_VAR;
use mssante_diag_core::output::{render, Format, Style};
use mssante_diag_core::{catalogue, Config, Ctx, Lang, Report};
use mssante_diag_tests::{cli_bin, healthy, hung_listener, Stack};

/// Held by the tests that log in to the live stack: the wrong passwords of one would earn the
/// other's right ones Dovecot's and PostgreSQL's failed-login penalties if they ran at once.
static LIVE_LOGINS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Marker carried by every seeded secret: a leak of any part of one shows it.
const MARK: &str = "Zq7xK";

/// The seeded secrets of the `.env`, TOML and key files written by [`Project::seeded`] and
/// [`dead_toml`], and the token signed with the wrong secret.
fn seeded_secrets() -> Vec<String> {
    let mut secrets: Vec<String> = [
        "pg-pass", "redis-pass", "jwt-secret", "psc-secret", "smtp-pass", "dsn-pass", "reserved-pass", "api-pass", "redis-url-pass",
        "api-key", "bearer-token", "proxy-pass", "key-body", "url-pass",
    ]
    .iter()
    .map(|s| format!("{s}-{MARK}"))
    .collect();
    let token = forged_token();
    secrets.extend(token.rsplit('.').next().map(str::to_owned));
    secrets.push(token);
    secrets
}

/// A JWT of the platform's shape signed with a secret other than `JWT_SECRET` (bad signature).
fn forged_token() -> String {
    let claims = serde_json::json!({ "iss": "https://api.mssante.test", "sub": "test@mssante.test", "iat": 1_796_064_359, "exp": 4_102_444_800_u64 });
    let key = jsonwebtoken::EncodingKey::from_secret(b"not-the-platform-secret");
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("a signed token")
}

/// A PEM private key of kind `kind` (`""`, `"EC "`, `"RSA "`) whose body is a seeded secret.
fn seeded_key(kind: &str) -> String {
    format!("-----BEGIN {kind}PRIVATE KEY-----\nMIIE{}key-body-{MARK}\n-----END {kind}PRIVATE KEY-----\n", kind.trim())
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

    /// `.env` with a distinctive value for every secret variable of the platform (passwords,
    /// DSNs, JWT and PSC secrets, API key, bearer token, proxies with credentials: one not
    /// supported, one dead), a TOML (the caller's: inline passwords, `user:password@` URLs), and
    /// the stack's server certificate beside private keys (in their own file and in the
    /// certificate's), whose bodies are secrets.
    fn seeded(tag: &str, toml: &str) -> Self {
        let env = format!(
            "DOMAIN=mssante.test\nPOSTGRES_HOST=postgres\nPOSTGRES_USER=mssante\nPOSTGRES_PASSWORD=pg-pass-{MARK}\n\
             POSTGRES_DB=mssante\nREDIS_PASSWORD=redis-pass-{MARK}\nJWT_SECRET=jwt-secret-{MARK}\n\
             PSC_CLIENT_ID=mssante-diag\nPSC_CLIENT_SECRET=psc-secret-{MARK}\nSMTP_TEST_USER=test@mssante.test\n\
             SMTP_TEST_PASSWORD='smtp-pass-{MARK}'\nDATABASE_URL=\"postgres://mssante:dsn-pass-{MARK}@127.0.77.1:15432/mssante\"\n\
             REDIS_URL=redis://:redis-url-pass-{MARK}@127.0.0.1:9/0\nESANTE_API_KEY=api-key-{MARK}\nSMTP_BEARER_TOKEN=bearer-token-{MARK}\n\
             HTTPS_PROXY=socks5://envproxy:proxy-pass-{MARK}@127.0.0.1:9\nHTTP_PROXY=http://envproxy:proxy-pass-{MARK}@127.0.0.1:9\n\
             ALL_PROXY=envproxy:proxy-pass-{MARK}@127.0.0.1:9\n"
        );
        let project = Self::new(tag, &env, Some(toml));
        let server = project.0.join("config/certificates/server");
        std::fs::create_dir_all(&server).expect("create the certificate folder");
        let cert = std::fs::read_to_string(Stack::get().var("SERVER_CERT")).expect("the stack's server certificate");
        std::fs::write(server.join("server.crt"), format!("{cert}{}", seeded_key("RSA "))).expect("write server.crt");
        std::fs::write(server.join("server.key"), seeded_key("") + &seeded_key("EC ")).expect("write server.key");
        project
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

/// A TOML whose every endpoint is a closed loopback port, but the API's, which never answers;
/// with a proxy holding credentials, an inline Annuaire API key, a bearer token for IMAP and
/// a token signed with the wrong secret for `auth.jwt`.
fn dead_toml(closed: u16, hung: u16) -> String {
    format!(
        "timeout_secs = 1\n[api]\nurl = \"http://apiuser:api-pass-{MARK}@127.0.0.1:{hung}/health\"\n\
         [postgres]\nhost = \"127.0.0.1\"\nport = {closed}\n[postgres.reserved]\nuser = \"diagadmin\"\npassword = \"reserved-pass-{MARK}\"\n\
         [redis]\nhost = \"127.0.0.1\"\nport = {closed}\n[smtp]\nhost = \"127.0.0.1\"\ninbound_port = {closed}\nsubmission_port = {closed}\n\
         [imap]\nhost = \"127.0.0.1\"\nport = {closed}\nbearer_token_env = \"SMTP_BEARER_TOKEN\"\n\
         [docker]\nhost = \"tcp://127.0.0.1:{closed}\"\nenabled = true\n\
         [auth]\nissuer = \"https://127.0.0.1:{closed}/psc\"\ntoken = \"{token}\"\n\
         [network]\nproxy = \"http://proxyuser:proxy-pass-{MARK}@127.0.0.1:{closed}\"\n\
         [annuaire]\nurl = \"https://127.0.0.1:{closed}/fhir\"\napi_key = \"api-key-{MARK}\"\n",
        token = forged_token()
    )
}

/// Credentials written in the URLs of plain settings (Docker host, PSC issuer and discovery,
/// whitelist, Annuaire, extra endpoints), all on a closed port; only their subsystems run.
fn credential_urls_toml(closed: u16) -> String {
    let url = |scheme: &str, path: &str| format!("\"{scheme}://user:url-pass-{MARK}@127.0.0.1:{closed}{path}\"");
    format!(
        "timeout_secs = 1\nsubsystems = [\"docker\", \"auth\", \"mssante\", \"annuaire\", \"network\"]\n\
         [docker]\nhost = {}\nenabled = true\n[auth]\nissuer = {}\ndiscovery_url = {}\n[mssante]\nwhitelist = {}\n\
         [annuaire]\nurl = {}\n[network]\nendpoints = [{}]\n",
        url("tcp", ""),
        url("https", "/psc"),
        url("https", "/psc/.well-known/openid-configuration"),
        url("https", "/liste.xml"),
        url("https", "/fhir"),
        url("https", "/x"),
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
    cli_with(project, args, &[], None)
}

/// The CLI on `project` with `args`, variables `env` (none of the caller's `MSSANTE_DIAG_LOG`)
/// and `stdin`.
fn cli_with(project: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> std::process::Output {
    let mut cmd = assert_cmd::Command::cargo_bin("mssante-diag").expect("the CLI is built with the workspace");
    cmd.arg("--project").arg(project).args(args).env("NO_COLOR", "1").env_remove(ENV_VAR);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(input) = stdin {
        cmd.write_stdin(input);
    }
    cmd.output().expect("the CLI runs")
}

/// The log went to stderr, and only there: stdout (JSON, Nagios, Prometheus) stays parseable.
fn assert_logged_on_stderr_only(what: &str, out: &std::process::Output, format: &str) {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains(" DEBUG mssante_diag_core::"), "{what}: the debug log on stderr:\n{stderr}");
    assert!(!stdout.contains("mssante_diag_core::"), "{what}: a log line on stdout:\n{stdout}");
    if format == "json" {
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}):\n{stdout}"));
    }
}

/// Every library the tool uses, at trace level, beside the tool's own events.
const EVERY_LIBRARY_AT_TRACE: &str = "trace,sqlx=trace,redis=trace,reqwest=trace,hyper=trace,hyper_util=trace,h2=trace,rustls=trace,\
     tokio_rustls=trace,bollard=trace,hickory_proto=trace,hickory_resolver=trace,lettre=trace,async_imap=trace";

/// `bundle -o FILE` (with the debug log) holds no secret in any member's name or content nor in
/// its manifest; the certificates are there, no private key. Returns the members.
fn assert_bundle_shows_no_secret(project: &Path, secrets: &[String]) -> BTreeMap<String, Vec<u8>> {
    let file = project.with_extension("tar.gz");
    let out = cli(project, &["-vv", "bundle", "-o", file.to_str().expect("a UTF-8 path")]);
    let archive = std::fs::read(&file);
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "bundle: {out:?}");
    assert_clean("`bundle` and its debug log", &both(&out), secrets);
    assert!(String::from_utf8_lossy(&out.stderr).contains("bundle: member added"), "bundle's debug log: {out:?}");
    let (_, files) = crate::bundle::members(&archive.expect("the bundle is written"));
    for want in [mssante_diag_core::bundle::MANIFEST, "report.json", "config/env", "config/effective.json", "certificates/summary.txt"] {
        assert!(files.contains_key(want), "{want} in the bundle: {:?}", files.keys());
    }
    for (name, content) in &files {
        assert_clean(&format!("the bundle's member name `{name}`"), name, secrets);
        assert_clean(&format!("the bundle's member {name}"), &String::from_utf8_lossy(content), secrets);
    }
    let certs: Vec<(&String, String)> = files
        .iter()
        .filter(|(n, _)| n.starts_with("certificates/") && n.as_str() != "certificates/summary.txt")
        .map(|(n, c)| (n, String::from_utf8_lossy(c).into_owned()))
        .collect();
    assert!(certs.iter().any(|(n, _)| n.ends_with("server.crt")), "the server certificate is bundled: {:?}", files.keys());
    for (name, text) in &certs {
        assert!(text.contains("BEGIN CERTIFICATE") && !text.contains("PRIVATE KEY"), "{name}: certificates only:\n{text}");
    }
    files
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
            .map(|(f, l)| (f, l, s.spawn(move || cli(project, &["-vvv", "check", "--format", f, "--lang", l]))))
            .collect();
        let libraries = s.spawn(|| cli_with(project, &["check", "--format", "json"], &[(ENV_VAR, EVERY_LIBRARY_AT_TRACE)], None));
        for (f, l, run) in runs {
            let out = run.join().expect("the CLI thread");
            assert!(matches!(out.status.code(), Some(0..=3)), "check --format {f}: {out:?}");
            assert_clean(&format!("`-vvv check --format {f} --lang {l}` (trace log on stderr)"), &both(&out), secrets);
            assert_logged_on_stderr_only(&format!("-vvv check --format {f}"), &out, f);
        }
        let out = libraries.join().expect("the CLI thread");
        assert_clean(&format!("`check` with {ENV_VAR}={EVERY_LIBRARY_AT_TRACE}"), &both(&out), secrets);
        assert_logged_on_stderr_only("every library at trace", &out, "json");
    });
    assert_bundle_shows_no_secret(project, secrets);
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
    let _live = LIVE_LOGINS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
    let _live = LIVE_LOGINS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // The stack's own `.env` (the passwords it accepts) and TOML: every check connects.
    let env = std::fs::read_to_string(stack.project.join(".env")).expect("the stack's .env");
    let real = [stack.var("PG_PASSWORD"), stack.var("PG_SUPERPASSWORD"), stack.var("REDIS_PASSWORD"), stack.var("MAIL_PASSWORD")];
    // The seeded PSC_CLIENT_SECRET replaces the stack's (a key defined twice is a config.env warning).
    let env: String = env.lines().filter(|l| !l.starts_with("PSC_CLIENT_SECRET=")).map(|l| format!("{l}\n")).collect();
    let env = format!("{env}\nPSC_CLIENT_SECRET=psc-secret-{MARK}\nDATABASE_URL=postgres://mssante:{}@127.0.77.1:15432/mssante\n", real[0]);
    let toml = live_toml(stack, &format!("api-pass-{MARK}"), stack.var("PG_SUPERPASSWORD"));
    let project = Project::copy_of("real", &stack.project, &env, &toml);
    let mut secrets: Vec<String> = real.iter().map(|s| (*s).to_owned()).collect();
    secrets.extend(env.lines().filter_map(|l| l.strip_prefix("JWT_SECRET=").or_else(|| l.strip_prefix("ESANTE_API_KEY="))).map(str::to_owned));
    // The TOML's inline token for auth.jwt, and the bodies of the private keys the project names.
    secrets.extend(toml.lines().filter_map(|l| l.trim().strip_prefix("token = ")).map(|t| t.trim_matches('"').to_owned()));
    for key in [stack.var("SERVER_KEY"), stack.var("DKIM_KEY")] {
        let pem = std::fs::read_to_string(key).expect("a private key of the stack");
        secrets.extend(pem.lines().filter(|l| !l.starts_with("-----") && l.len() > 16).map(str::to_owned));
    }
    assert!(secrets.iter().any(|s| s.starts_with("eyJ")), "the stack's TOML has an [auth] token");
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
        for args in [&["-vv", "check", "--format", "json"][..], &["-vvv", "quick"], &["-vv", "list"], &["-vv", "explain", "postgres.reachable"]] {
            let out = cli(project.path(), args);
            let text = both(&out);
            assert_clean(&format!("`{}` with `{bad}`", args.join(" ")), &text, &secrets);
            if args[1] != "list" && args[1] != "explain" {
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
        // Proxies with credentials that cannot be used: not a URL, a scheme not supported.
        format!("[network]\nproxy = \"http://proxyuser:proxy-pass-{MARK}@127.0.0.1:99999\"\n"),
        format!("[network]\nproxy = \"socks5://proxyuser:proxy-pass-{MARK}@127.0.0.1:1080\"\n"),
        format!("[network]\nproxy = \"http://proxyuser:proxy-pass-{MARK}@\"\n"),
        format!("[annuaire]\napi_key = \"api-key-{MARK}\"\nurl = 7\n"),
        // TLS endpoints with credentials: refused, not quoted.
        format!("[tls]\nendpoints = [\"https://user:url-pass-{MARK}@127.0.0.1:9\"]\n"),
        format!("[tls]\nendpoints = [\"smtp://user:url-pass-{MARK}@127.0.0.1:bad\"]\n"),
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
        // The project's file, and the same file given with `--config`, with the debug log.
        let elsewhere = project.path().with_extension("toml");
        std::fs::write(&elsewhere, toml).expect("write the --config file");
        let given = elsewhere.to_str().expect("a UTF-8 path");
        for args in [&["-vv", "check"][..], &["-vv", "--config", given, "quick", "--format", "json"]] {
            let out = cli(project.path(), args);
            assert_eq!(out.status.code(), Some(3), "{toml}");
            assert_clean(&format!("the CLI's error for {toml:?} ({args:?})"), &both(&out), &secrets);
        }
        let _ = std::fs::remove_file(&elsewhere);
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

/// A server process of this test, killed (by its id) when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve` with the debug log: one scrape of `/metrics`; the body and the log (`scrape answered`).
fn scrape_once(project: &Path) -> (String, String) {
    let mut child = Child(
        std::process::Command::new(cli_bin())
            .arg("--project")
            .arg(project)
            .args(["-vv", "serve", "--listen", "127.0.0.1:0", "--cache-secs", "0"])
            .env_remove(ENV_VAR)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("serve starts"),
    );
    let mut first = String::new();
    std::io::BufReader::new(child.0.stdout.take().expect("stdout")).read_line(&mut first).expect("serve says where it listens");
    let addr = first.trim().strip_prefix("mssante-diag: listening on http://").and_then(|a| a.strip_suffix("/metrics")).expect(&first).to_owned();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect to serve");
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("timeout");
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("send the scrape");
    let mut body = String::new();
    conn.read_to_string(&mut body).expect("the scrape's answer");
    assert!(body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"), "{body}");
    let _ = child.0.kill();
    let mut log = String::new();
    child.0.stderr.take().expect("stderr").read_to_string(&mut log).expect("serve's log");
    assert!(log.contains("scrape answered") && log.contains("check finished"), "serve's debug log:\n{log}");
    (body, log)
}

#[test]
fn every_commands_error_paths_with_the_debug_log_show_no_secret() {
    let _stack = Stack::get();
    let _g = healthy();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let (_hung, hung) = hung_listener();
    let project = Project::seeded("errors", &dead_toml(closed, hung));
    let p = project.path();
    let secrets = seeded_secrets();
    let (token, garbage) = (forged_token(), format!("not.a-token.{MARK}"));
    let debug = [(ENV_VAR, "debug")];
    std::thread::scope(|s| {
        let mut runs = Vec::new();
        for f in ["human", "json", "nagios", "prometheus"] {
            for cmd in [&["jwt", token.as_str()][..], &["jwt", garbage.as_str()], &["annuaire", "reconcile"]] {
                let args: Vec<&str> = ["-vv", "--format", f].iter().chain(cmd).copied().collect();
                runs.push((args.join(" "), f, s.spawn(move || cli(p, &args))));
            }
        }
        // The token on stdin, the log asked for by the environment.
        runs.push(("jwt - (stdin)".into(), "json", s.spawn(|| cli_with(p, &["--format", "json", "jwt", "-"], &debug, Some(&token)))));
        runs.push(("config".into(), "human", s.spawn(move || cli(p, &["-vv", "config"]))));
        runs.push(("config --format json".into(), "json", s.spawn(move || cli(p, &["-vv", "--format", "json", "config"]))));
        runs.push(("logs summarize --docker api".into(), "human", s.spawn(|| cli_with(p, &["logs", "summarize", "--docker", "api"], &debug, None))));
        for (what, format, run) in runs {
            let out = run.join().expect("the CLI thread");
            assert!(matches!(out.status.code(), Some(0..=3)), "{what}: {out:?}");
            assert_clean(&format!("`{what}`"), &both(&out), &secrets);
            if !what.starts_with("logs") {
                assert_logged_on_stderr_only(&what, &out, format);
            }
            if what.contains("json jwt") || what.starts_with("jwt -") {
                let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
                assert_eq!(doc["checks"][0]["status"], "critical", "{what}: {doc}");
            }
        }
    });
    let (body, log) = scrape_once(p);
    assert_clean("a scrape of `serve`", &body, &secrets);
    assert_clean("the debug log of `serve`", &log, &secrets);

    // Credentials in the URLs of plain settings: every format, `config`, `explain`, the bundle.
    let urls = Project::seeded("urls", &credential_urls_toml(closed));
    let u = urls.path();
    std::thread::scope(|s| {
        let mut runs: Vec<(String, &str, _)> = FORMATS.iter().map(|(_, f)| (format!("-vv check --format {f}"), *f, s.spawn(move || cli(u, &["-vv", "check", "--format", f])))).collect();
        for args in [&["-vv", "config"][..], &["-vv", "--format", "json", "config"], &["-vv", "explain", "auth.psc"], &["-vv", "list"]] {
            runs.push((args.join(" "), if args.contains(&"json") { "json" } else { "human" }, s.spawn(move || cli(u, args))));
        }
        for (what, format, run) in runs {
            let out = run.join().expect("the CLI thread");
            assert!(matches!(out.status.code(), Some(0..=3)), "{what}: {out:?}");
            assert_clean(&format!("`{what}` with credentials in URLs"), &both(&out), &secrets);
            if what.contains("check") {
                assert_logged_on_stderr_only(&what, &out, format);
                assert!(String::from_utf8_lossy(&out.stdout).contains("docker.daemon"), "{what}: {out:?}");
            }
        }
    });
    assert_bundle_shows_no_secret(u, &secrets);
}
