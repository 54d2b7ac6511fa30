//! `auth.psc` against the stack's OIDC stand-in (nginx serving static discovery documents and
//! key sets under /oidc/<case>/, see stack.sh `oidc_generate`), hung and endless servers; and
//! `auth.jwt` on tokens signed for the purpose: with the project's JWT_SECRET (HS256/384/512),
//! with the stand-in's RSA and EC keys (RS256/ES256 through PSC's key set), expired, not yet
//! valid, issued in the future, with a wrong secret or key, `alg: none`, garbage.

use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mssante_diag_core::checks::auth::decode_jwt;
use mssante_diag_core::{CheckResult, Config, Status};
use mssante_diag_tests::{cli_bin, endless_server, healthy, hung_listener, run_only, Stack};

/// The stack project's configuration with the PSC issuer of a stand-in case.
fn case(name: &str) -> Config {
    let stack = Stack::get();
    let mut config = stack.config();
    config.auth.issuer = format!("{}/{name}", stack.var("OIDC_BASE"));
    config
}

fn check(config: Config, id: &str) -> CheckResult {
    run_only(config, &[id]).check(id).expect("ran").clone()
}

fn psc(name: &str) -> CheckResult {
    check(case(name), "auth.psc")
}

#[test]
fn the_stack_project_is_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["auth"]);
    let c = r.check("auth.psc").expect("ran");
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert_eq!(c.details["usable_keys"], 2);
    assert!(c.summary.contains("/oidc/valid/.well-known/wallet-openid-configuration"), "PSC's own path first: {}", c.summary);
    let c = r.check("auth.jwt").expect("ran");
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("signed with JWT_SECRET"), "{}", c.summary);
}

#[test]
fn the_standard_path_is_the_fallback() {
    let _g = healthy();
    let c = psc("standard");
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert_eq!(c.details["attempts"][0]["http_status"], 404, "{:#}", c.details);
    assert!(c.details["discovery"]["url"].as_str().is_some_and(|u| u.ends_with("/.well-known/openid-configuration")));
}

#[test]
fn each_stand_in_defect_is_critical_with_its_reason() {
    let _g = healthy();
    let cases = [
        ("missing", "no PSC discovery document"),
        ("badjson", "wallet-openid-configuration: not valid JSON"),
        ("emptyjwks", "the key set has no usable key (0 published)"),
        ("badkeys", "the key set has no usable key (3 published)"),
        ("mismatch", "issuer is https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet, not the configured"),
        ("http", "endpoints not in https: authorization_endpoint, token_endpoint"),
        ("jwks404", "key set unavailable: "),
    ];
    for (name, reason) in cases {
        let r = run_only(case(name), &["auth"]);
        let jwt = r.check("auth.jwt").expect("ran");
        assert_eq!(jwt.status, Status::Ok, "{name}: only auth.psc turns: {}", jwt.summary);
        let c = r.check("auth.psc").expect("ran").clone();
        assert_eq!(c.status, Status::Critical, "{name}: {}", c.summary);
        assert!(c.summary.contains(reason), "{name}: {}", c.summary);
        assert!(c.remediation.iter().any(|r| r.text.contains("redirect_uri_mismatch")), "{name}: the Auth P1 remedy");
        assert!(c.remediation.iter().any(|r| r.text.contains("invalid_client")), "{name}");
    }
    assert!(psc("missing").summary.contains("openid-configuration: HTTP 404"));
    assert!(psc("jwks404").summary.contains("missing-certs: HTTP 404"));
    let keys = psc("badkeys").details["keys"].clone();
    let why: Vec<&str> = keys.as_array().expect("keys").iter().filter_map(|k| k["unusable"].as_str()).collect();
    assert_eq!(why, ["bad_encoding", "unsupported_type", "wrong_size"]);
}

#[test]
fn an_untrusted_certificate_points_at_the_ca_bundle() {
    let _g = healthy();
    let mut config = case("valid");
    config.auth.ca_bundle = None;
    let c = check(config, "auth.psc");
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("UnknownIssuer") && c.summary.contains("[auth] ca_bundle"), "{}", c.summary);
    let mut config = case("valid");
    config.auth.ca_bundle = Some("/nonexistent/ca.pem".into());
    let c = check(config, "auth.psc");
    assert_eq!(c.status, Status::Unknown, "{}", c.summary);
    assert!(c.summary.contains("CA bundle unusable: /nonexistent/ca.pem"), "{}", c.summary);
}

#[test]
fn a_hung_issuer_is_named_by_its_step_within_the_timeout() {
    let (_listener, port) = hung_listener();
    let mut config = case("valid");
    config.auth.issuer = format!("https://127.0.0.1:{port}/psc");
    config.timeout_secs = 1.0;
    let start = Instant::now();
    let c = check(config.clone(), "auth.psc");
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("wallet-openid-configuration: connection and TLS handshake not complete within 1 s"), "{}", c.summary);
    assert_eq!(c.details["attempts"].as_array().map(Vec::len), Some(1), "one hang, one timeout: {:#}", c.details);
    config.timeout_state = mssante_diag_core::TimeoutState::Unknown;
    assert_eq!(check(config, "auth.psc").status, Status::Unknown);
}

#[test]
fn an_endless_document_is_read_up_to_its_cap() {
    static CHUNK: [u8; 16 * 1024] = [b' '; 16 * 1024];
    let port = endless_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", &CHUNK, true);
    let mut config = case("valid");
    config.auth.issuer = format!("http://127.0.0.1:{port}/psc");
    config.auth.discovery_url = Some(format!("http://127.0.0.1:{port}/psc/.well-known/wallet-openid-configuration"));
    config.timeout_secs = 3.0;
    let start = Instant::now();
    let c = check(config, "auth.psc");
    assert!(start.elapsed() < Duration::from_secs(2), "stopped at the cap: {:?}", start.elapsed());
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("document larger than 256 KiB"), "{}", c.summary);
}

#[test]
fn the_issuer_and_discovery_url_come_from_the_env_file() {
    let stack = Stack::get();
    let _g = healthy();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = stack.var("OIDC_BASE");
    std::fs::write(dir.path().join(".env"), format!("PSC_ISSUER={base}/standard\nPSC_DISCOVERY_URL={base}/standard/.well-known/openid-configuration\n"))
        .expect("write .env");
    let config = Config::load(dir.path(), None).expect("loads");
    assert_eq!(config.auth.issuer, format!("{base}/standard"));
    let config = config.with_overrides(&serde_json::json!({"auth": {"ca_bundle": stack.var("CA_BUNDLE")}})).expect("valid");
    let c = check(config, "auth.psc");
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert_eq!(c.details["attempts"].as_array().map(Vec::len), Some(1), "only the configured URL");
    // Without either, PSC's production issuer (not fetched here: loopback only).
    let empty = tempfile::tempdir().expect("tempdir");
    assert_eq!(Config::load(empty.path(), None).expect("loads").auth.issuer, "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet");
}

// ---- auth.jwt ----

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn secret() -> String {
    Stack::get().config().env.get("JWT_SECRET").expect("the stack's JWT_SECRET").to_owned()
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &serde_json::Value, key: &EncodingKey) -> String {
    let header = Header { alg, kid: kid.map(str::to_owned), ..Header::default() };
    jsonwebtoken::encode(&header, claims, key).expect("signs")
}

fn hs(alg: Algorithm, claims: &serde_json::Value) -> String {
    sign(alg, None, claims, &EncodingKey::from_secret(secret().as_bytes()))
}

fn oidc_key(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(Stack::get().var("OIDC_DIR")).join(name)).expect("stand-in key")
}

fn fresh() -> serde_json::Value {
    serde_json::json!({"sub": "jean.dupont@mssante.test", "iss": "https://api.mssante.test", "iat": now() - 10, "exp": now() + 3600})
}

/// `auth.jwt` on one token with the stack project's configuration (as `mssante-diag jwt`).
fn judge_with(config: Config, token: &str) -> CheckResult {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let report = rt.block_on(decode_jwt(std::sync::Arc::new(config), token)).expect("runs");
    rt.shutdown_background();
    assert_eq!(report.checks.len(), 1);
    let c = report.checks[0].clone();
    let shown = serde_json::to_string(&report).expect("json");
    let signature = token.rsplit('.').next().unwrap_or_default();
    assert!(signature.len() < 8 || !shown.contains(signature), "the signature is shown: {shown}");
    assert!(!shown.contains(&secret()), "the secret is shown");
    c
}

fn judge(token: &str) -> CheckResult {
    judge_with(Stack::get().config(), token)
}

#[test]
fn tokens_signed_with_the_platform_secret_are_valid() {
    let _g = healthy();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let c = judge(&hs(alg, &fresh()));
        assert_eq!(c.status, Status::Ok, "{alg:?}: {}", c.summary);
        assert!(c.summary.contains(&format!("valid {alg:?} token signed with JWT_SECRET")), "{}", c.summary);
        assert_eq!(c.details["sub"], "j***@mssante.test");
        assert_eq!(c.details["signature"]["result"], "valid");
    }
}

#[test]
fn an_expired_token_is_critical() {
    let _g = healthy();
    let c = judge(&hs(Algorithm::HS256, &serde_json::json!({"iat": now() - 7200, "exp": now() - 3600})));
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.starts_with("expired at ") && c.summary.contains("(60 min ago)"), "{}", c.summary);
    assert!(c.remediation.iter().any(|r| r.text.contains("refresh token")), "{:?}", c.remediation);
}

#[test]
fn a_token_from_the_future_is_critical_beyond_the_skew() {
    let _g = healthy();
    let token = hs(Algorithm::HS256, &serde_json::json!({"iat": now() + 600, "exp": now() + 4200}));
    let c = judge(&token);
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.contains("issued in the future") && c.summary.contains("ahead of this host's clock"), "{}", c.summary);
    assert!(c.remediation.iter().any(|r| r.command.as_deref() == Some("timedatectl status")), "the Auth P2 clock remedy");
    let mut tolerant = Stack::get().config();
    tolerant.auth.clock_skew_secs = 900;
    assert_eq!(judge_with(tolerant, &token).status, Status::Ok);
    let c = judge(&hs(Algorithm::HS256, &serde_json::json!({"nbf": now() + 7300, "exp": now() + 9000})));
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert!(c.summary.starts_with("not valid before ") && c.summary.contains("(in 2.0 h)"), "{}", c.summary);
}

#[test]
fn a_wrong_secret_unsigned_or_garbage_token_is_critical() {
    let _g = healthy();
    let wrong = sign(Algorithm::HS256, None, &fresh(), &EncodingKey::from_secret(b"another-secret-of-the-same-shape-0123456789"));
    let c = judge(&wrong);
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert_eq!(c.summary, "invalid HS256 signature: does not verify with JWT_SECRET");
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(&serde_json::json!({"alg": "none", "typ": "JWT"})), b64(&fresh()));
    let c = judge(&none);
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert_eq!(c.summary, "alg none: the token is not signed");
    for garbage in ["garbage", "a.b", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", &"x.".repeat(20_000)] {
        let c = judge(garbage);
        assert_eq!(c.status, Status::Critical, "{}", c.summary);
        assert!(c.summary.starts_with("jwt malformed: "), "{}", c.summary);
    }
}

#[test]
fn rs256_and_es256_tokens_are_checked_with_the_psc_key_set() {
    let _g = healthy();
    let rsa = EncodingKey::from_rsa_pem(&oidc_key("rsa.key")).expect("RSA key");
    let ec = EncodingKey::from_ec_pem(&oidc_key("ec.key")).expect("EC key");
    let c = judge(&sign(Algorithm::RS256, Some("rsa-1"), &fresh(), &rsa));
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("signed with PSC key rsa-1"), "{}", c.summary);
    let c = judge(&sign(Algorithm::ES256, Some("ec-1"), &fresh(), &ec));
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("signed with PSC key ec-1"), "{}", c.summary);
    // No kid: every key of the family is tried.
    assert_eq!(judge(&sign(Algorithm::RS256, None, &fresh(), &rsa)).status, Status::Ok);
    // Another RSA key under the published kid.
    let other = EncodingKey::from_rsa_pem(&std::fs::read(Stack::get().var("SERVER_KEY")).expect("server key")).expect("RSA key");
    let c = judge(&sign(Algorithm::RS256, Some("rsa-1"), &fresh(), &other));
    assert_eq!(c.status, Status::Critical, "{}", c.summary);
    assert_eq!(c.summary, "invalid RS256 signature: does not verify with the PSC key set");
    let c = judge(&sign(Algorithm::RS256, Some("rotated-2"), &fresh(), &rsa));
    assert!(c.summary.contains("no key rotated-2 for RS256"), "{}", c.summary);
    // PSC unreachable: the signature is not judged, and says why.
    let c = judge_with(case("missing"), &sign(Algorithm::RS256, Some("rsa-1"), &fresh(), &rsa));
    assert_eq!(c.status, Status::Unknown, "{}", c.summary);
    assert!(c.summary.contains("signature not checked: PSC key set unavailable: no PSC discovery document"), "{}", c.summary);
}

#[test]
fn without_a_token_the_check_is_skipped() {
    let _g = healthy();
    let mut config = Stack::get().config();
    config.auth.token = None;
    let c = check(config, "auth.jwt");
    assert_eq!(c.status, Status::Skipped, "{}", c.summary);
    assert!(c.summary.contains("no token given"), "{}", c.summary);
}

#[test]
fn the_jwt_subcommand_reads_stdin_and_exits_with_the_status() {
    let stack = Stack::get();
    let _g = healthy();
    let token = hs(Algorithm::HS256, &fresh());
    let out = assert_cmd::Command::new(cli_bin())
        .args(["--project", stack.project.to_str().expect("utf-8"), "--format", "json", "jwt", "-"])
        .write_stdin(format!("Bearer {token}\n"))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains(&token) && !text.contains(token.rsplit('.').next().unwrap_or_default()), "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(doc["checks"][0]["id"], "auth.jwt");
    let out = assert_cmd::Command::new(cli_bin())
        .args(["--project", stack.project.to_str().expect("utf-8"), "--lang", "fr", "jwt", "pas-un-jeton"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("jwt malformé"), "{}", String::from_utf8_lossy(&out.stdout));
}
