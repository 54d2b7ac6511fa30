//! `network.annuaire` and `annuaire.mailboxes` against the stack's Annuaire Santé stand-in
//! (nginx on 127.0.77.1:13470 serving static FHIR search pages under /fhir/<case>/, see
//! tests/stack/project.d/zz-annuaire.sh) and the stack's `mailboxes` table seeded there:
//! every mailbox published (`ok`), planted differences (`planted`), 401, 403, a body that is
//! not JSON, a hung listener, an unresolvable name and a refused connection.

use mssante_diag_core::{CheckResult, Config, Secret, Status};
use mssante_diag_tests::{cli_bin, healthy, hung_listener, run_only, Stack};

const KEY: &str = "annuaire-test-key-7f3c9a1e";

/// The stack project's configuration with the stand-in's case `name` as the API's base URL.
fn case(name: &str) -> Config {
    let mut config = Stack::get().config();
    config.annuaire.url = format!("https://127.0.77.1:13470/fhir/{name}");
    config
}

fn check(config: Config, id: &str) -> CheckResult {
    let r = run_only(config, &[id]);
    let json = serde_json::to_string(&r).expect("json");
    assert!(!json.contains(KEY), "the API key is never shown");
    r.check(id).expect("ran").clone()
}

fn addresses(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|x| {
            x.as_str().map_or_else(
                || x["address"].as_str().expect("address").to_owned(),
                str::to_owned,
            )
        })
        .collect()
}

#[test]
fn the_stack_project_is_ok() {
    let stack = Stack::get();
    let _g = healthy();
    let r = run_only(stack.config(), &["network.annuaire", "annuaire.mailboxes"]);
    let net = r.check("network.annuaire").expect("ran");
    assert_eq!(net.status, Status::Ok, "{}", net.summary);
    assert!(
        net.details["key_sent"] == true && net.metrics.iter().any(|m| m.name == "latency"),
        "{:#}",
        net.details
    );
    let c = r.check("annuaire.mailboxes").expect("ran");
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    let d = &c.details;
    assert_eq!(
        (
            d["local"].as_u64(),
            d["published"].as_u64(),
            d["matched"].as_u64()
        ),
        (Some(280), Some(280), Some(280)),
        "{d:#}"
    );
    assert_eq!(d["pages"], 11, "every page followed");
    assert_eq!(d["unlisted"]["published"], 10);
    assert_eq!(
        d["ordinary_emails_ignored"], 160,
        "ordinary e-mails are not BALs"
    );
    assert_eq!(d["other_domains_ignored"], 40);
}

#[test]
fn reconciliation_finds_exactly_the_planted_differences() {
    let _g = healthy();
    let c = check(case("planted"), "annuaire.mailboxes");
    assert_eq!(c.status, Status::Warning, "{}", c.summary);
    let d = &c.details;
    assert_eq!(
        addresses(&d["missing"]),
        [
            "app2@mssante.test",
            "dr3@mssante.test",
            "service7@mssante.test"
        ]
    );
    assert_eq!(
        addresses(&d["extra"]),
        [
            "new1@mssante.test",
            "new2@mssante.test",
            "orphan-service@mssante.test"
        ]
    );
    let mism: Vec<(String, String, String)> = d["mismatched"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| {
            (
                m["address"].as_str().unwrap_or_default().into(),
                m["local_type"].as_str().unwrap_or_default().into(),
                m["published_type"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(
        mism,
        [
            ("cab5@mssante.test".into(), "CAB".into(), "PER".into()),
            ("service9@mssante.test".into(), "ORG".into(), "APP".into())
        ]
    );
    assert_eq!(
        d["unlisted"],
        serde_json::json!({ "published": 12, "extra": 2, "mismatched": 1 })
    );
    let all = format!("{} {d}", c.summary);
    for unlisted in ["hidden1@", "hidden2@", "dr45@"] {
        assert!(
            !all.contains(unlisted),
            "an unlisted BAL is never printed: {unlisted}"
        );
    }
    assert!(c.summary.contains("3 missing from the Annuaire (app2@mssante.test, dr3@mssante.test, service7@mssante.test)"), "{}", c.summary);
    assert!(
        c.summary
            .contains("unlisted BALs: 2 with no local mailbox, 1 of another type"),
        "{}",
        c.summary
    );
    assert_eq!(
        c.metrics
            .iter()
            .find(|m| m.name == "missing")
            .map(|m| m.value),
        Some(3.0)
    );

    let mut config = case("planted");
    config.annuaire.mask = true;
    config.annuaire.show_first = 1;
    config.lang = mssante_diag_core::Lang::Fr;
    let c = check(config, "annuaire.mailboxes");
    assert!(
        c.summary
            .contains("3 absentes de l'Annuaire (a***@mssante.test, +2)"),
        "{}",
        c.summary
    );
    assert!(
        !c.details.to_string().contains("dr3@"),
        "masked in the details too"
    );
}

#[test]
fn each_api_answer_gives_its_own_finding() {
    let _g = healthy();
    let mut no_key = case("ok");
    no_key.annuaire.api_key_env = "NO_SUCH_ANNUAIRE_KEY".into();
    let mut wrong_key = case("ok");
    wrong_key.annuaire.api_key = Some(Secret::new("not-the-key"));
    let cases = [
        (
            no_key,
            "HTTP 401, an API key is required and none is set (NO_SUCH_ANNUAIRE_KEY)",
            "HTTP 401 (API key missing or refused)",
        ),
        (
            wrong_key,
            "HTTP 401, the API key (ESANTE_API_KEY) is refused",
            "HTTP 401",
        ),
        (
            case("unauthorized"),
            "HTTP 401, the API key (ESANTE_API_KEY) is refused",
            "HTTP 401",
        ),
        (
            case("forbidden"),
            "HTTP 403, the API key (ESANTE_API_KEY) is not allowed",
            "HTTP 403 (API key not allowed)",
        ),
        (
            case("garbage"),
            "HTTP 200 but no FHIR CapabilityStatement (not JSON",
            "not a FHIR Bundle",
        ),
    ];
    for (config, net_says, mailboxes_say) in cases {
        let net = check(config.clone(), "network.annuaire");
        assert_eq!(net.status, Status::Critical, "{}", net.summary);
        assert!(
            net.summary.contains(net_says),
            "{} / {net_says}",
            net.summary
        );
        let m = check(config, "annuaire.mailboxes");
        assert_eq!(m.status, Status::Unknown, "{}", m.summary);
        assert!(
            m.summary.contains(mailboxes_say) && m.summary.contains("see network.annuaire"),
            "{} / {mailboxes_say}",
            m.summary
        );
    }
    let key_steps = check(case("forbidden"), "network.annuaire").remediation;
    assert!(
        key_steps
            .iter()
            .any(|s| s.text.contains("API key in ESANTE_API_KEY")),
        "{key_steps:?}"
    );
}

#[test]
fn dns_tcp_and_hung_tls_are_told_apart() {
    let _g = healthy();
    let (_listener, port) = hung_listener();
    let at = |url: String, timeout: f64| {
        let mut c = Stack::get().config();
        c.annuaire.url = url;
        c.timeout_secs = timeout;
        c
    };
    let dns = check(
        at("https://annuaire.invalid/fhir/v2".into(), 3.0),
        "network.annuaire",
    );
    assert_eq!(dns.status, Status::Critical);
    assert!(
        dns.summary
            .contains("DNS failed: cannot resolve annuaire.invalid"),
        "{}",
        dns.summary
    );
    let tcp = check(
        at("https://127.0.77.1:9/fhir/v2".into(), 3.0),
        "network.annuaire",
    );
    assert!(
        tcp.summary
            .contains("TCP failed: 127.0.77.1:9: connection refused"),
        "{}",
        tcp.summary
    );
    assert_eq!(tcp.details["step"], "tcp");
    let start = std::time::Instant::now();
    let hung = check(
        at(format!("https://127.0.0.1:{port}/fhir/v2"), 1.0),
        "network.annuaire",
    );
    assert!(
        start.elapsed().as_secs_f64() < 3.0,
        "bounded by the timeout"
    );
    assert_eq!(hung.status, Status::Critical, "a hang is the timeout state");
    assert!(
        hung.summary.starts_with("TLS step:") && hung.summary.contains("within 1 s"),
        "{}",
        hung.summary
    );
    assert!(
        hung.details["tcp_ms"].is_number(),
        "TCP went through: {:#}",
        hung.details
    );
    let mut unknown = at(format!("https://127.0.0.1:{port}/fhir/v2"), 1.0);
    unknown.timeout_state = mssante_diag_core::TimeoutState::Unknown;
    assert_eq!(check(unknown, "network.annuaire").status, Status::Unknown);
    let m = check(
        at(format!("https://127.0.0.1:{port}/fhir/v2"), 1.0),
        "annuaire.mailboxes",
    );
    assert_eq!(m.status, Status::Unknown, "{}", m.summary);
}

#[test]
fn cli_reconcile_prints_the_full_lists_masked_on_request() {
    let stack = Stack::get();
    let _g = healthy();
    let toml = std::fs::read_to_string(stack.project.join("mssante-diag.toml"))
        .expect("toml")
        .replace("/fhir/ok\"", "/fhir/planted\"");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("planted.toml");
    std::fs::write(&file, toml).expect("write");
    let out = std::process::Command::new(cli_bin())
        .args([
            "--project",
            stack.project.to_str().expect("utf-8"),
            "--config",
            file.to_str().expect("utf-8"),
            "annuaire",
            "reconcile",
            "--mask",
            "--format",
            "json",
        ])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "warning: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let checks = report["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 1);
    assert_eq!(
        addresses(&checks[0]["details"]["missing"]),
        [
            "a***@mssante.test",
            "d***@mssante.test",
            "s***@mssante.test"
        ]
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hidden"));
}
