//! The `dns.*` checks against the stack's NSD serving the test zones of
//! `tests/stack/dns-zones.sh`: the healthy signed zone `ok.dns.test` is all ok; each defect zone
//! (and each defect blocklist or reverse zone) turns exactly the matching check non-ok, with an
//! explanation; a nameserver that never answers leaves the checks `unknown` within the timeout;
//! `mssante-diag dns` audits several domains.

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use mssante_diag_core::{Config, Lang, Report, Status};
use mssante_diag_tests::hostile::{self as peer, DnsTcp, Peer};
use mssante_diag_tests::{cli_bin, healthy, run_only, Stack};

fn config_for(domain: &str) -> Config {
    let mut c = Stack::get().config();
    c.dns.domains = vec![domain.to_owned()];
    c
}

/// The non-ok checks of a report (skipped counts as ok: not applicable).
fn bad(r: &Report) -> Vec<(&str, Status, &str)> {
    r.checks.iter().filter(|c| !matches!(c.status, Status::Ok | Status::Skipped)).map(|c| (c.id.as_str(), c.status, c.summary.as_str())).collect()
}

/// Runs every dns check on `config` and asserts that only `id` is non-ok, with `status`, its
/// summary containing every one of `words`.
fn only(config: Config, id: &str, status: Status, words: &[&str]) {
    let r = run_only(config, &["dns"]);
    let bad = bad(&r);
    assert_eq!(bad.len(), 1, "exactly {id} non-ok expected, got {bad:#?}");
    let (got, st, summary) = bad[0];
    assert_eq!((got, st), (id, status), "{summary}");
    for w in words {
        assert!(summary.contains(w), "{id}: `{w}` missing from: {summary}");
    }
    let c = r.check(id).expect("ran");
    assert!(!c.remediation.is_empty(), "{id}: a remedy");
    assert!(c.remediation.iter().all(|s| !s.guide.is_empty()), "{id}: remedies cite the guide");
}

#[test]
fn the_healthy_zone_is_all_ok() {
    let _g = healthy();
    let r = run_only(Stack::get().config(), &["dns"]);
    assert_eq!(r.checks.len(), 11);
    for c in &r.checks {
        assert_eq!(c.status, Status::Ok, "{}: {}\n{:#}", c.id, c.summary, c.details);
    }
    let spf = r.check("dns.spf").expect("ran");
    assert!(spf.summary.contains("authorises 127.0.77.1") && spf.summary.contains("2 lookup(s)"), "{}", spf.summary);
    let dkim = r.check("dns.dkim").expect("ran");
    assert!(dkim.summary.contains("RSA 2048"), "{}", dkim.summary);
    assert_eq!(dkim.details["selectors"][0]["matches_local"], true, "the stack's DKIM key is the published one");
    let ptr = r.check("dns.ptr").expect("ran");
    assert!(ptr.summary.contains("mail.mssante.test"), "{}", ptr.summary);
    assert!(r.check("dns.dnssec").expect("ran").summary.contains("validated"));
    assert!(r.check("dns.dane").expect("ran").summary.contains("matches the served certificate"));
}

#[test]
fn the_healthy_zone_speaks_french() {
    let _g = healthy();
    let mut c = Stack::get().config();
    c.lang = Lang::Fr;
    let r = run_only(c, &["dns.spf", "dns.mta_sts"]);
    assert!(r.check("dns.spf").expect("ran").summary.contains("un enregistrement SPF"));
    assert!(r.check("dns.mta_sts").expect("ran").summary.contains("couvre chaque MX"));
}

#[test]
fn missing_mx_is_critical() {
    let _g = healthy();
    only(config_for("mx-missing.dns.test"), "dns.mx", Status::Critical, &["no MX record"]);
}

#[test]
fn an_mx_host_without_address_is_critical() {
    let _g = healthy();
    only(config_for("mx-unresolved.dns.test"), "dns.mx", Status::Critical, &["nohost.mx-unresolved.dns.test", "NXDOMAIN"]);
}

#[test]
fn two_spf_records_are_critical() {
    let _g = healthy();
    only(config_for("spf-two.dns.test"), "dns.spf", Status::Critical, &["2 SPF records", "permerror"]);
}

#[test]
fn spf_plus_all_is_critical() {
    let _g = healthy();
    only(config_for("spf-pass-all.dns.test"), "dns.spf", Status::Critical, &["+all"]);
}

#[test]
fn spf_softfail_is_a_warning() {
    let _g = healthy();
    only(config_for("spf-softfail.dns.test"), "dns.spf", Status::Warning, &["~all"]);
}

#[test]
fn spf_over_ten_lookups_is_critical() {
    let _g = healthy();
    only(config_for("spf-lookups.dns.test"), "dns.spf", Status::Critical, &["11 DNS lookups", "limit 10"]);
}

#[test]
fn spf_over_two_void_lookups_is_critical() {
    let _g = healthy();
    only(config_for("spf-void.dns.test"), "dns.spf", Status::Critical, &["3 void lookups", "limit 2"]);
}

#[test]
fn spf_not_authorising_the_platform_is_critical() {
    let _g = healthy();
    only(config_for("spf-unauth.dns.test"), "dns.spf", Status::Critical, &["does not authorise", "127.0.77.1", "fail"]);
}

#[test]
fn missing_dkim_key_is_critical() {
    let _g = healthy();
    only(config_for("dkim-missing.dns.test"), "dns.dkim", Status::Critical, &["no DKIM key at default._domainkey.dkim-missing.dns.test"]);
}

#[test]
fn a_1024_bit_dkim_key_is_a_warning() {
    let _g = healthy();
    let mut c = config_for("dkim-1024.dns.test");
    c.dns.dkim_key = None;
    only(c, "dns.dkim", Status::Warning, &["RSA 1024 bits"]);
}

#[test]
fn a_dkim_key_other_than_the_local_one_is_critical() {
    let _g = healthy();
    only(config_for("dkim-1024.dns.test"), "dns.dkim", Status::Critical, &["not the local OpenDKIM key"]);
}

#[test]
fn an_unparseable_dkim_key_is_critical() {
    let _g = healthy();
    only(config_for("dkim-garbage.dns.test"), "dns.dkim", Status::Critical, &["unusable", "not a key"]);
}

#[test]
fn missing_dmarc_is_critical() {
    let _g = healthy();
    only(config_for("dmarc-missing.dns.test"), "dns.dmarc", Status::Critical, &["no DMARC record"]);
}

#[test]
fn dmarc_p_none_is_a_warning() {
    let _g = healthy();
    only(config_for("dmarc-none.dns.test"), "dns.dmarc", Status::Warning, &["p=none"]);
}

#[test]
fn dmarc_without_rua_is_a_warning() {
    let _g = healthy();
    only(config_for("dmarc-norua.dns.test"), "dns.dmarc", Status::Warning, &["no rua"]);
}

#[test]
fn an_mta_sts_policy_not_covering_the_mx_is_critical() {
    let _g = healthy();
    only(config_for("mta-sts-mismatch.dns.test"), "dns.mta_sts", Status::Critical, &["does not cover MX mx.mta-sts-mismatch.dns.test", "mx.elsewhere.example"]);
}

#[test]
fn missing_tls_rpt_is_a_warning() {
    let _g = healthy();
    only(config_for("tlsrpt-missing.dns.test"), "dns.tlsrpt", Status::Warning, &["no TLS-RPT record"]);
}

#[test]
fn a_tlsa_not_matching_the_served_certificate_is_critical() {
    let _g = healthy();
    only(config_for("tlsa-mismatch.dns.test"), "dns.dane", Status::Critical, &["matches no certificate"]);
}

#[test]
fn a_bogus_signature_is_critical() {
    let _g = healthy();
    only(config_for("dnssec-bogus.dns.test"), "dns.dnssec", Status::Critical, &["MX: bogus signature"]);
}

#[test]
fn an_unsigned_zone_is_reported() {
    let _g = healthy();
    // The stack's own zone is not signed.
    let r = run_only(config_for("mssante.test"), &["dns.dnssec"]);
    let c = r.check("dns.dnssec").expect("ran");
    assert_eq!(c.status, Status::Warning, "{}", c.summary);
    assert!(c.summary.contains("not DNSSEC-signed"), "{}", c.summary);
}

#[test]
fn a_listed_address_is_critical() {
    let _g = healthy();
    let mut c = Stack::get().config();
    c.dns.blocklists = vec!["bl-listed.dns.test".into()];
    only(c, "dns.blocklist", Status::Critical, &["127.0.77.1 is listed on bl-listed.dns.test", "127.0.0.2"]);
}

#[test]
fn a_refusing_blocklist_is_unknown_not_a_listing() {
    let _g = healthy();
    let mut c = Stack::get().config();
    c.dns.blocklists = vec!["bl-clean.dns.test".into(), "bl-refusing.dns.test".into()];
    only(c, "dns.blocklist", Status::Unknown, &["refused", "127.255.255.254", "not a listing"]);
}

#[test]
fn an_address_without_ptr_is_critical() {
    let _g = healthy();
    let mut c = Stack::get().config();
    // 127.0.78.3 has no PTR; the zone authorises it so only the reverse DNS is wrong.
    c.dns.addresses = vec!["127.0.77.1".parse().expect("ip"), "127.0.78.3".parse().expect("ip")];
    c.dns.domains = vec!["ok.dns.test".into()];
    let r = run_only(c, &["dns.ptr"]);
    let p = r.check("dns.ptr").expect("ran");
    assert_eq!(p.status, Status::Critical, "{}", p.summary);
    assert!(p.summary.contains("127.0.78.3 has no reverse name"), "{}", p.summary);
    assert!(p.remediation.iter().any(|s| s.command.as_deref().is_some_and(|c| c.starts_with("3.78.0.127.in-addr.arpa. IN PTR"))), "{:?}", p.remediation);
}

#[test]
fn a_ptr_not_forward_confirmed_is_critical() {
    let _g = healthy();
    let mut c = Stack::get().config();
    c.dns.addresses = vec!["127.0.78.4".parse().expect("ip")];
    let r = run_only(c, &["dns.ptr"]);
    let p = r.check("dns.ptr").expect("ran");
    assert_eq!(p.status, Status::Critical, "{}", p.summary);
    assert!(p.summary.contains("fcrdns-broken.ptr.dns.test") && p.summary.contains("not forward-confirmed"), "{}", p.summary);
}

#[test]
fn a_silent_nameserver_leaves_the_checks_unknown_within_the_timeout() {
    let _g = healthy();
    // TCP: handshakes completed by the kernel, never answered; UDP: a socket that never replies.
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = tcp.local_addr().expect("addr").port();
    let udp = UdpSocket::bind(("127.0.0.1", port)).expect("bind udp");
    let mut c = Stack::get().config();
    c.timeout_secs = 1.0;
    c.dns.nameservers = vec![format!("127.0.0.1:{port}").try_into().expect("nameserver")];
    let start = Instant::now();
    let r = run_only(c, &["dns"]);
    let took = start.elapsed();
    drop((tcp, udp));
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let resolver = r.check("dns.resolver").expect("ran");
    assert_eq!(resolver.status, Status::Critical, "{}", resolver.summary);
    assert!(resolver.summary.contains("no nameserver answers"), "{}", resolver.summary);
    for c in r.checks.iter().filter(|c| c.id != "dns.resolver") {
        assert_eq!(c.status, Status::Unknown, "{}: {}", c.id, c.summary);
        assert!(c.summary.contains("no nameserver answered in time"), "{}: {}", c.id, c.summary);
    }
}

#[test]
fn the_cli_audits_several_domains() {
    let stack = Stack::get();
    let _g = healthy();
    let out = std::process::Command::new(cli_bin())
        .args(["--project", stack.project.to_str().expect("utf-8"), "dns", "ok.dns.test", "dmarc-none.dns.test", "spf-pass-all.dns.test", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["status"], "critical");
    let domains = v["domains"].as_array().expect("one entry per domain");
    let status = |d: &str| domains.iter().find(|x| x["domain"] == d).map(|x| x["status"].as_str().unwrap_or("").to_owned());
    assert_eq!(status("ok.dns.test").as_deref(), Some("ok"));
    assert_eq!(status("dmarc-none.dns.test").as_deref(), Some("warning"));
    assert_eq!(status("spf-pass-all.dns.test").as_deref(), Some("critical"));
    // The platform's address is judged once for the audit, not once per domain.
    let ids = |checks: &serde_json::Value| checks.as_array().into_iter().flatten().map(|c| c["id"].as_str().unwrap_or("").to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(&v["addresses"]), ["dns.ptr", "dns.blocklist"], "{}", v["addresses"]);
    assert!(v["addresses"].as_array().into_iter().flatten().all(|c| c["status"] == "ok"), "{}", v["addresses"]);
    for d in domains {
        let ids = ids(&d["checks"]);
        assert!(ids.contains(&"dns.mx".to_owned()) && !ids.iter().any(|i| i == "dns.ptr" || i == "dns.blocklist" || i == "dns.resolver"), "{ids:?}");
    }
    let human = std::process::Command::new(cli_bin())
        .args(["--project", stack.project.to_str().expect("utf-8"), "--lang", "fr", "dns", "ok.dns.test"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(0), "{text}");
    assert!(text.contains("== ok.dns.test") && text.contains("1 domaine(s) audité(s)"), "{text}");
    assert_eq!(text.matches("== adresses de la plateforme").count(), 1, "{text}");
}

/// A nameserver whose TXT answers (one record of ~62 KiB, hundreds of strings) only fit over
/// TCP: UDP answers are truncated, TCP ones carry the record (other types: no record).
fn huge_txt_nameserver() -> Peer {
    peer::over_tcp(|mut s| {
        while let Some(q) = peer::read_dns_tcp(&mut s) {
            let txt = |q: &hickory_proto::op::Query| if q.query_type() == hickory_proto::rr::RecordType::TXT { peer::huge_txt(q, 62_000) } else { Vec::new() };
            let a = peer::reply(&q, txt, false).unwrap_or_default();
            if s.write_all(&peer::framed(&a)).is_err() {
                return;
            }
        }
    })
}

/// A nameserver answering every query, over UDP and TCP, with the query's id then nonsense
/// (a header announcing 7 answers, a compression pointer past the end).
fn garbage_nameserver() -> Peer {
    fn garbage(q: &[u8]) -> Vec<u8> {
        let mut g = q.get(..2).unwrap_or(&[0, 0]).to_vec();
        g.extend_from_slice(&[0x81, 0x80, 0x00, 0x01, 0x00, 0x07, 0xff, 0xff, 0x00, 0x03, 0xc0, 0xff, 0x17, 0x00, 0xfe]);
        g
    }
    peer::dns_peer(
        |sock, q, from| {
            let _ = sock.send_to(&garbage(q), from);
        },
        DnsTcp::Script(Box::new(|mut s| {
            while let Some(q) = peer::read_dns_tcp(&mut s) {
                if s.write_all(&peer::framed(&garbage(&q))).is_err() {
                    return;
                }
            }
        })),
    )
}

fn hostile_config(port: u16) -> Config {
    let mut c = config_for("hostile.test");
    c.timeout_secs = 1.0;
    c.dns.nameservers = vec![format!("127.0.0.1:{port}").try_into().expect("nameserver")];
    c.dns.addresses = vec!["127.0.77.1".parse().expect("ip")];
    c
}

#[test]
fn a_64_kib_txt_answer_makes_spf_and_dmarc_critical_not_a_panic() {
    let server = huge_txt_nameserver();
    let config = hostile_config(server.port);
    let start = Instant::now();
    let r = run_only(config, &["dns.spf", "dns.dmarc"]);
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    let spf = r.check("dns.spf").expect("ran");
    assert_eq!(spf.status, Status::Critical, "{}", spf.summary);
    assert!(spf.summary.contains("SPF record of hostile.test is longer than 16 KiB"), "{}", spf.summary);
    let dmarc = r.check("dns.dmarc").expect("ran");
    assert_eq!(dmarc.status, Status::Critical, "{}", dmarc.summary);
    assert!(dmarc.summary.contains("DMARC record of hostile.test is longer than 16 KiB"), "{}", dmarc.summary);
    for c in [spf, dmarc] {
        assert!(c.summary.len() < 300, "the summary does not carry the record: {}", c.summary.len());
        let kept: usize = c.details["records"].as_array().expect("records").iter().map(|t| t.as_str().map_or(0, str::len)).sum();
        assert!(kept <= 16 * 1024, "{}: {kept} bytes kept of the 62 KiB answer", c.id);
        assert!(!c.remediation.is_empty(), "{}: a remedy", c.id);
    }
}

#[test]
fn a_garbage_dns_answer_is_unknown_with_a_reason() {
    let server = garbage_nameserver();
    let config = hostile_config(server.port);
    let start = Instant::now();
    let r = run_only(config, &["dns.spf", "dns.dmarc", "dns.mx"]);
    assert!(start.elapsed() < Duration::from_secs(4), "took {:?}", start.elapsed());
    for c in &r.checks {
        assert_eq!(c.status, Status::Unknown, "{}: {}", c.id, c.summary);
        assert!(c.summary.contains("hostile.test") && c.summary.contains("answers that do not parse"), "{}: a reason: {}", c.id, c.summary);
    }
}
