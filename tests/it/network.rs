//! `network.proxy` and the proxy rules every HTTP client follows, against the stack's forward
//! proxy (tinyproxy on `$PROXY_URL`: CONNECT to 443 and the stack's HTTPS port only, its
//! filter refusing `$PROXY_REFUSED_HOST`): no proxy (direct), proxy up, refusing a host, down,
//! hung; and auth.psc / mssante.whitelist really going through it.

use mssante_diag_core::config::{Config, CredentialUrl, EnvFile};
use mssante_diag_core::{CheckResult, Status};
use mssante_diag_tests::{fault, healthy, hung_listener, run_only, Stack};

/// The stack's configuration with the proxy on for every host (loopback included) and only
/// the endpoints served by the stack's nginx (PSC stand-in, whitelist).
fn proxied(stack: &Stack, proxy: &str) -> Config {
    let mut c = stack.config();
    c.network.proxy = Some(CredentialUrl::new(proxy));
    c.network.no_proxy = Some(String::new());
    c.annuaire.enabled = false;
    c.timeout_secs = 2.0;
    c
}

fn check<'a>(r: &'a mssante_diag_core::Report, id: &str) -> &'a CheckResult {
    r.check(id).expect("ran")
}

fn endpoint<'a>(c: &'a CheckResult, name: &str) -> &'a serde_json::Value {
    c.details["endpoints"].as_array().expect("endpoints").iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("{name} in {:#}", c.details))
}

/// Lines tinyproxy logged after byte `from` of its log.
fn proxy_log_since(stack: &Stack, from: u64) -> String {
    let text = std::fs::read(stack.var("PROXY_LOG")).expect("tinyproxy log");
    String::from_utf8_lossy(&text[usize::try_from(from).expect("offset").min(text.len())..]).into_owned()
}

fn proxy_log_len(stack: &Stack) -> u64 {
    std::fs::metadata(stack.var("PROXY_LOG")).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn no_proxy_and_direct_access_is_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let mut c = stack.config();
    c.annuaire.enabled = false;
    let r = run_only(c, &["network.proxy"]);
    let p = check(&r, "network.proxy");
    assert_eq!(p.status, Status::Ok, "{}", p.summary);
    assert!(p.summary.starts_with("No proxy in use; 2 external endpoint(s) reached directly"), "{}", p.summary);
    // No proxy for their scheme: each endpoint is reached straight.
    let psc = endpoint(p, "Pro Santé Connect");
    assert_eq!((psc["route"].as_str(), psc["result"].as_str()), (Some("direct"), Some("reached")), "{psc:#}");
}

#[test]
fn proxy_up_lets_the_endpoints_through() {
    let stack = Stack::get();
    let _g = healthy();
    let before = proxy_log_len(stack);
    let r = run_only(proxied(stack, stack.var("PROXY_URL")), &["network.proxy"]);
    let p = check(&r, "network.proxy");
    assert_eq!(p.status, Status::Ok, "{}", p.summary);
    let url = format!("{}/", stack.var("PROXY_URL"));
    assert_eq!(p.summary, format!("Proxy {url} answers and lets through 2 endpoint(s); 0 reached directly"));
    for name in ["Pro Santé Connect", "espace de confiance"] {
        let e = endpoint(p, name);
        assert_eq!((e["route"].as_str(), e["result"].as_str(), e["proxy"].as_str()), (Some("proxy"), Some("reached"), Some(url.as_str())), "{e:#}");
    }
    assert!(proxy_log_since(stack, before).contains(&format!("CONNECT {}:{}", stack.var("STACK_HOST"), stack.var("HTTPS_PORT"))));
}

#[test]
fn a_host_the_proxy_refuses_is_critical_and_named() {
    let stack = Stack::get();
    let _g = healthy();
    let mut c = proxied(stack, stack.var("PROXY_URL"));
    let refused = format!("https://{}/fhir/v2", stack.var("PROXY_REFUSED_HOST"));
    // A port the proxy does not CONNECT to is refused too (tinyproxy's ConnectPort).
    let port = format!("https://{}:13444/", stack.var("STACK_HOST"));
    c.network.endpoints = vec![refused.clone(), port.clone()];
    let r = run_only(c, &["network.proxy", "mssante.whitelist"]);
    let p = check(&r, "network.proxy");
    assert_eq!(p.status, Status::Critical, "{}", p.summary);
    assert!(p.summary.starts_with("The proxy does not let through 2 endpoint(s): "), "{}", p.summary);
    assert!(p.summary.contains(&format!("{refused} (HTTP 403: refused by the proxy's filter)")), "{}", p.summary);
    assert!(p.summary.contains(&port) && !p.summary.contains("Pro Santé Connect"), "{}", p.summary);
    assert_eq!(endpoint(p, &refused)["http_status"], 403);
    assert!(p.metrics.iter().any(|m| m.name == "endpoints_refused" && m.value == 2.0), "{:?}", p.metrics);
    // Only the matching check: the whitelist still comes through the same proxy.
    let w = check(&r, "mssante.whitelist");
    assert_eq!(w.status, Status::Ok, "{}", w.summary);
}

#[test]
fn a_stopped_proxy_is_critical_and_only_network_proxy_says_so() {
    let stack = Stack::get();
    let _g = fault();
    let mut c = proxied(stack, stack.var("PROXY_URL"));
    // A local copy of the list: mssante.whitelist does not need the proxy.
    let dir = tempfile::tempdir().expect("tmp");
    let copy = dir.path().join("listeblanchemssante.xml");
    std::fs::copy(format!("{}/listeblanchemssante.xml", stack.var("WHITELIST_DIR")), &copy).expect("copy");
    c.mssante.whitelist = copy.display().to_string();
    let r = {
        let _stopped = stack.stop("tinyproxy");
        run_only(c, &["network.proxy", "mssante.whitelist"])
    };
    let p = check(&r, "network.proxy");
    assert_eq!(p.status, Status::Critical, "{}", p.summary);
    assert_eq!(p.summary, format!("Proxy {}/ unreachable: connection refused (nothing listens)", stack.var("PROXY_URL")));
    let w = check(&r, "mssante.whitelist");
    assert_eq!(w.status, Status::Ok, "{}", w.summary);
}

#[test]
fn a_hung_proxy_is_critical_naming_the_step() {
    let stack = Stack::get();
    let _g = healthy();
    let (_listener, port) = hung_listener();
    let mut c = proxied(stack, &format!("http://127.0.0.1:{port}"));
    c.timeout_secs = 1.0;
    let start = std::time::Instant::now();
    let r = run_only(c, &["network.proxy"]);
    let p = check(&r, "network.proxy");
    assert_eq!(p.status, Status::Critical, "{}", p.summary);
    assert!(p.summary.contains("Pro Santé Connect (the proxy: no HTTP response within 1 s)"), "{}", p.summary);
    assert!(start.elapsed() < std::time::Duration::from_secs(3), "{:?}", start.elapsed());
}

#[test]
fn http_clients_go_through_the_configured_proxy() {
    let stack = Stack::get();
    let _g = healthy();
    // Through tinyproxy: auth.psc works, and the proxy saw its CONNECT.
    let before = proxy_log_len(stack);
    let r = run_only(proxied(stack, stack.var("PROXY_URL")), &["auth.psc", "mssante.whitelist", "api.health"]);
    for id in ["auth.psc", "mssante.whitelist", "api.health"] {
        assert_eq!(check(&r, id).status, Status::Ok, "{id}: {}", check(&r, id).summary);
    }
    let log = proxy_log_since(stack, before);
    assert!(log.contains(&format!("CONNECT {}:{}", stack.var("STACK_HOST"), stack.var("HTTPS_PORT"))), "{log}");
    // The plain-HTTP API went through it as a forwarded GET.
    assert!(log.contains(&format!("GET {}", stack.var("API_URL"))), "{log}");

    // Through a proxy that is not there: the same clients fail; NO_PROXY brings them back.
    let dead = "http://127.0.0.1:9";
    let r = run_only(proxied(stack, dead), &["auth.psc", "mssante.whitelist", "api.health"]);
    for id in ["auth.psc", "mssante.whitelist", "api.health"] {
        assert_ne!(check(&r, id).status, Status::Ok, "{id}: {}", check(&r, id).summary);
    }
    let mut c = proxied(stack, dead);
    c.network.no_proxy = Some(stack.var("STACK_HOST").to_owned());
    let r = run_only(c, &["auth.psc", "mssante.whitelist", "api.health"]);
    for id in ["auth.psc", "mssante.whitelist", "api.health"] {
        assert_eq!(check(&r, id).status, Status::Ok, "{id}: {}", check(&r, id).summary);
    }
}

#[test]
fn the_env_file_proxy_is_used_and_its_password_never_shown() {
    let stack = Stack::get();
    let _g = healthy();
    let mut c = stack.config();
    c.annuaire.enabled = false;
    c.network.no_proxy = None;
    let proxy = stack.var("PROXY_URL").replace("http://", "http://ops:s3cr3t-pw@");
    let mut pairs: Vec<(String, String)> = c.env.keys().filter_map(|k| c.env.get(k).map(|v| (k.to_owned(), v.to_owned()))).collect();
    pairs.push(("HTTPS_PROXY".into(), proxy));
    pairs.push(("NO_PROXY".into(), "localhost,.mssante.test".into()));
    c.env = EnvFile::from_pairs(pairs);
    let r = run_only(c, &["network.proxy", "auth.psc"]);
    let p = check(&r, "network.proxy");
    assert_eq!(p.status, Status::Ok, "{}", p.summary);
    let vars = p.details["variables"].as_array().expect("variables");
    let https = vars.iter().find(|v| v["name"] == "HTTPS_PROXY").expect("HTTPS_PROXY found");
    assert_eq!(https["origin"], "env_file");
    assert_eq!(https["value"], format!("http://[REDACTED]@{}/", stack.var("PROXY_URL").trim_start_matches("http://")));
    assert_eq!(endpoint(p, "Pro Santé Connect")["route"], "proxy");
    assert_eq!(check(&r, "auth.psc").status, Status::Ok, "{}", check(&r, "auth.psc").summary);
    let json = r.to_json();
    assert!(!json.contains("s3cr3t-pw"), "the proxy password leaked");
}

#[test]
fn a_proxy_that_floods_its_answer_is_critical_never_held() {
    let stack = Stack::get();
    let _g = healthy();
    // "200" then one endless header line: read up to the cap, then given up.
    let port = mssante_diag_tests::endless_server(b"HTTP/1.1 200 Connection established\r\nX-Flood: ", b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true);
    let r = run_only(proxied(stack, &format!("http://127.0.0.1:{port}")), &["network.proxy"]);
    let p = check(&r, "network.proxy");
    assert_eq!(p.status, Status::Critical, "{}", p.summary);
    assert!(p.summary.contains("Pro Santé Connect (line longer than 4096 bytes)"), "{}", p.summary);
}

#[test]
fn an_unusable_proxy_variable_is_critical_and_a_bad_setting_rejected() {
    let stack = Stack::get();
    let _g = healthy();
    let mut c = stack.config();
    c.network.no_proxy = None;
    c.env = EnvFile::from_pairs([("HTTPS_PROXY".to_owned(), "socks5://ops:pw@127.0.0.1:1080".to_owned())]);
    let r = run_only(c, &["network.proxy"]);
    let p = check(&r, "network.proxy");
    assert_eq!(p.status, Status::Critical, "{}", p.summary);
    assert_eq!(p.summary, "Unusable proxy setting HTTPS_PROXY: unsupported proxy scheme socks5: only http:// and https:// proxies are supported");
    assert!(!r.to_json().contains(":pw@"), "the password leaked");
    let err = Config::from_toml_str("[network]\nproxy = \"socks5://u:secret@p:1080\"\n", &stack.project).expect_err("rejected");
    let text = err.to_string();
    assert!(text.contains("network.proxy") && text.contains("socks5") && !text.contains("secret"), "{text}");
}
