//! `bundle`: the diagnostic archive. A platform folder (a copy of the stack's, certificates and
//! private key included) is seeded with secrets of every kind — `.env` values (secret-looking,
//! marked `# @secret`, DSNs, URLs), the configuration's inline passwords, URL credentials and
//! JWT, container environment variables and log lines of a real container on the stack's
//! dockerd, a private key beside the certificate — and the archive built by the CLI must hold
//! none of them in any member, while holding every member its manifest lists, with the size
//! and SHA-256 the manifest gives.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use mssante_diag_core::bundle::{self, Manifest, MANIFEST};
use mssante_diag_tests::{cli_bin, healthy, Stack};
use sha2::{Digest, Sha256};

/// Carried by every planted secret, so a leak of any part of one shows.
const MARK: &str = "Vw9pQ";

/// A folder removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("mssante-diag-bundle-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    TempDir(dir)
}

/// Containers of a compose project of this test on the stack's dockerd, removed on drop.
struct Containers {
    host: String,
    names: Vec<String>,
}

impl Drop for Containers {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("docker").arg("-H").arg(&self.host).args(["rm", "-f", n]).output();
        }
    }
}

fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker").arg("-H").arg(host).args(args).output().expect("docker CLI runs");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The archive's members by name (below the top folder); also used by `secrets.rs`.
pub(crate) fn members(archive: &[u8]) -> (String, BTreeMap<String, Vec<u8>>) {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut out = BTreeMap::new();
    let mut root = String::new();
    for entry in tar.entries().expect("a tar.gz") {
        let mut entry = entry.expect("a readable entry");
        let path = entry.path().expect("a path").to_string_lossy().into_owned();
        let (top, name) = path.split_once('/').expect("members are below one top folder");
        root = top.to_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("readable content");
        out.insert(name.to_owned(), content);
    }
    (root, out)
}

/// Every member listed in the manifest is there with its size and SHA-256, and nothing else is.
fn assert_matches_manifest(root: &str, files: &BTreeMap<String, Vec<u8>>) -> Manifest {
    let manifest: Manifest = serde_json::from_slice(files.get(MANIFEST).expect("MANIFEST.json")).expect("a manifest");
    assert_eq!(manifest.root, root);
    for m in &manifest.members {
        let content = files.get(&m.name).unwrap_or_else(|| panic!("{} listed but absent", m.name));
        assert_eq!(content.len() as u64, m.size, "{}", m.name);
        let digest: String = Sha256::digest(content).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, m.sha256, "{}", m.name);
    }
    assert_eq!(files.len(), manifest.members.len() + 1, "members not in the manifest: {:?}", files.keys().collect::<Vec<_>>());
    manifest
}

#[test]
fn the_bundle_holds_no_planted_secret_and_every_listed_member() {
    let _guard = healthy();
    let stack = Stack::get();
    let host = stack.var("DOCKER_HOST").to_owned();
    let image = stack.var("DOCKER_IMAGE").to_owned();
    let project_name = format!("mssante-it-bundle-{}", std::process::id());

    // A private key (any kind) whose body must never appear: the stack's, and a second one
    // written into the certificate file itself.
    let key_pem = std::fs::read_to_string(stack.var("SERVER_KEY")).expect("the stack's server key");
    let key_lines: Vec<String> = key_pem.lines().filter(|l| !l.starts_with("-----")).map(str::to_owned).collect();
    let jwt = format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkci5ob3VzZSJ9.c2lnLX{MARK}");

    let mut secrets: Vec<String> = [
        "jwt-secret", "psc-secret", "smtp-pass", "dsn-url-pass", "dsn-kv-pass", "marked-value",
        "api-token", "reserved-pass", "api-url-pass", "toml-comment-pass", "ctr-db-pass", "ctr-key-base", "ctr-oauth", "log-pass",
        "log-bearer", "log-url-pass", "log-pem-body", "log-basic",
    ]
    .iter()
    .map(|s| format!("{s}-{MARK}"))
    .collect();
    secrets.push(jwt.clone());
    // The stack's real passwords (the database must answer for database.txt).
    secrets.push(stack.var("PG_PASSWORD").to_owned());
    secrets.push(stack.var("REDIS_PASSWORD").to_owned());
    secrets.extend(key_lines.iter().take(5).cloned());

    // Copy of the stack's platform folder (certificates, private key, fixtures).
    let work = temp_dir("seeded");
    let project = work.0.join("platform");
    let copied = Command::new("cp").arg("-a").arg(&stack.project).arg(&project).status().expect("cp runs");
    assert!(copied.success());
    let env = format!(
        "DOMAIN=mssante.test\nPOSTGRES_HOST=postgres\nPOSTGRES_USER=mssante\nPOSTGRES_PASSWORD={pg}\nPOSTGRES_DB=mssante\n\
         REDIS_PASSWORD={redis}\nJWT_SECRET=jwt-secret-{MARK}\nPSC_CLIENT_ID=mssante-diag-test-client\n\
         PSC_CLIENT_SECRET=psc-secret-{MARK}\nSMTP_TEST_USER=dr.house@mssante.test\nSMTP_TEST_PASSWORD='smtp-pass-{MARK}'\n\
         PSC_REDIRECT_URI=https://mssante.test/auth/psc/callback\n\
         DATABASE_URL=\"postgres://mssante:dsn-url-pass-{MARK}@127.0.77.1:15432/mssante\"\n\
         PG_DSN=\"host=127.0.77.1 user=mssante password=dsn-kv-pass-{MARK} dbname=mssante\"\n\
         # @secret\nSUPPORT_NOTE=marked-value-{MARK}\nANNUAIRE_API_TOKEN=api-token-{MARK}\n",
        pg = stack.var("PG_PASSWORD"),
        redis = stack.var("REDIS_PASSWORD"),
    );
    std::fs::write(project.join(".env"), env).expect("write .env");
    let toml = seeded_toml(&project, &project_name);
    std::fs::write(project.join("mssante-diag.toml"), toml).expect("write the TOML");
    // The certificate file with a private key inside it.
    let cert = project.join("config/certificates/server/server.crt");
    let mut with_key = std::fs::read_to_string(&cert).expect("certificate");
    with_key.push_str(&key_pem);
    std::fs::write(&cert, with_key).expect("write the combined PEM");

    // A container of the project with secrets in its environment and in its log.
    let log_script = format!(
        "echo 'db login password=log-pass-{MARK} ok'; echo 'GET / Authorization: Bearer log-bearer-{MARK}'; \
         echo 'token {jwt}'; echo 'connect postgres://api:log-url-pass-{MARK}@db:5432/x'; \
         echo 'curl -H \"X: Basic log-basic-{MARK}\"'; echo 'mail from dr.house@mssante.test'; \
         echo '-----BEGIN PRIVATE KEY-----'; echo 'log-pem-body-{MARK}'; echo '-----END PRIVATE KEY-----'; sleep 600"
    );
    let name = format!("{project_name}-api-1");
    let mut containers = Containers { host: host.clone(), names: Vec::new() };
    let project_label = format!("com.docker.compose.project={project_name}");
    let db_pass = format!("DB_PASSWORD=ctr-db-pass-{MARK}");
    let key_base = format!("SECRET_KEY_BASE=ctr-key-base-{MARK}");
    let oauth = format!("OAUTH_TOKEN=ctr-oauth-{MARK}");
    docker(
        &host,
        &[
            "run", "-d", "--name", &name, "--network", "none", "--stop-signal", "KILL", "--label", &project_label, "--label",
            "com.docker.compose.service=api", "-e", &db_pass, "-e", &key_base, "-e", &oauth, &image, "sh", "-c", &log_script,
        ],
    );
    containers.names.push(name.clone());
    // Its log is written before the bundle reads it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !docker(&host, &["logs", &name]).contains("END PRIVATE KEY") {
        assert!(std::time::Instant::now() < deadline, "the container never logged");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let before = listing(&project);
    let out_file = work.0.join("out.tar.gz");
    let run = Command::new(cli_bin())
        .arg("--project")
        .arg(&project)
        .args(["--timeout", "2", "bundle", "-o"])
        .arg(&out_file)
        .output()
        .expect("the CLI runs");
    assert!(run.status.success(), "bundle failed: {}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(listing(&project), before, "the bundle wrote into the platform folder");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out_file).expect("the bundle").permissions().mode() & 0o777, 0o600);
    }

    let archive = std::fs::read(&out_file).expect("read the bundle");
    let (root, files) = members(&archive);
    let manifest = assert_matches_manifest(&root, &files);
    for want in [
        "system.txt", "network.txt", "disk.txt", "database.txt", "docker/version.json", "docker/containers.json", "docker/stats.json",
        "logs/api.log", "config/env", "config/mssante-diag.toml", "config/effective.json", "certificates/summary.txt", "report.json",
    ] {
        assert!(files.contains_key(want), "{want} missing; not collected: {:?}", manifest.missing);
    }
    // The seeded log and the environment did reach the bundle (so their absence below means redaction).
    let api_log = String::from_utf8_lossy(&files["logs/api.log"]);
    assert!(api_log.contains("db login password=[REDACTED] ok") && api_log.contains("d***@mssante.test"), "{api_log}");
    let containers_json = String::from_utf8_lossy(&files["docker/containers.json"]);
    assert!(containers_json.contains("DB_PASSWORD=[REDACTED]"), "container env not collected");
    let database = String::from_utf8_lossy(&files["database.txt"]);
    let count = |label: &str| database.lines().find_map(|l| l.strip_prefix(label)).and_then(|v| v.trim().parse::<u64>().ok());
    assert!(count("mailboxes:").is_some() && count("users:").is_some() && database.contains("PostgreSQL 15"), "{database}");
    let certs = String::from_utf8_lossy(&files["certificates/config_certificates_server_server.crt"]);
    assert!(certs.contains("BEGIN CERTIFICATE") && !certs.contains("PRIVATE KEY"), "{certs}");

    for (name, content) in &files {
        let text = String::from_utf8_lossy(content);
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "planted secret {s:?} found in member {name}");
        }
        assert!(!text.contains(MARK), "a part of a planted secret found in member {name}");
        assert!(!text.contains("dr.house"), "an unmasked e-mail address in member {name}");
    }
    drop(containers);
}

/// The stack's TOML aimed at this test's compose project, with an inline reserved-role
/// password, credentials in the API URL and a password in a comment.
fn seeded_toml(project: &Path, project_name: &str) -> String {
    let text = std::fs::read_to_string(project.join("mssante-diag.toml")).expect("the stack's TOML");
    let mut section = String::new();
    let mut out = vec![format!("# relay password: toml-comment-pass-{MARK}")];
    let mut reserved = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_owned();
        }
        match section.as_str() {
            "[api]" if t.starts_with("url") => out.push(line.replacen("://", &format!("://apiuser:api-url-pass-{MARK}@"), 1)),
            "[docker]" if t.starts_with("project") => out.push(format!("project = \"{project_name}\"")),
            "[docker]" if t.starts_with("services") => out.push("services = [\"api\"]".to_owned()),
            "[postgres.reserved]" if t.starts_with("password") => {
                out.push(format!("password = \"reserved-pass-{MARK}\""));
                reserved = true;
            }
            _ => out.push(line.to_owned()),
        }
    }
    if !reserved {
        out.push(format!("[postgres.reserved]\nuser = \"diagadmin\"\npassword = \"reserved-pass-{MARK}\""));
    }
    out.join("\n") + "\n"
}

/// Every path under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), meta.len(), meta.modified().ok()));
        }
    }
    out.sort();
    out
}

#[test]
fn what_cannot_be_collected_is_listed_and_the_bundle_still_written() {
    // No stack needed: a folder with no .env, a dead Docker socket and a closed PostgreSQL port.
    let work = temp_dir("missing");
    let project = work.0.join("platform");
    std::fs::create_dir_all(&project).expect("create");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    std::fs::write(
        project.join("mssante-diag.toml"),
        format!(
            "timeout_secs = 1.0\nsubsystems = [\"system\"]\n[docker]\nenabled = true\nhost = \"unix://{}/no.sock\"\n[postgres]\nhost = \"127.0.0.1\"\nport = {closed}\n",
            work.0.display()
        ),
    )
    .expect("write the TOML");
    let config = std::sync::Arc::new(mssante_diag_core::Config::load(&project, None).expect("valid"));
    let out = work.0.join("b.tar.gz");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let started = std::time::Instant::now();
    let manifest = runtime.block_on(bundle::build(config, bundle::Options::default(), &out)).expect("written");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    let missing: BTreeMap<&str, &str> = manifest.missing.iter().map(|m| (m.name.as_str(), m.reason.as_str())).collect();
    for name in ["config/env", "docker/", "database.txt", "certificates/"] {
        assert!(missing.get(name).is_some_and(|r| !r.is_empty()), "{name} not listed as missing: {missing:?}");
    }
    assert!(missing["docker/"].contains("no.sock"), "{missing:?}");
    let (root, files) = members(&std::fs::read(&out).expect("read"));
    let written = assert_matches_manifest(&root, &files);
    assert_eq!(written, manifest);
    assert!(files.contains_key("report.json") && files.contains_key("system.txt"));
}
