//! `mssante.whitelist` against real lists: the stack's nginx serving the espace de confiance
//! list (stack.sh whitelist_generate), local copies with and without the domain, stale,
//! malformed or oversized, and mail to a domain outside the trust space deferred in the
//! stack's Postfix queue.

use std::path::{Path, PathBuf};

use mssante_diag_core::config::Config;
use mssante_diag_core::{CheckResult, Status};
use mssante_diag_tests::{fault, healthy, run_only, Deferred, Stack};

fn whitelist(config: Config) -> CheckResult {
    let r = run_only(config, &["mssante.whitelist"]);
    r.check("mssante.whitelist").expect("ran").clone()
}

/// A list generated at `date` naming `domains`, written to `dir`.
fn list_file(dir: &Path, date: &str, domains: &[&str]) -> PathBuf {
    let entries: String = domains
        .iter()
        .map(|d| format!("<Domaine><Nom>{d}</Nom><Description>x</Description><DNCertificatOperateur>CN=mx.{d}</DNCertificatOperateur><DateMAJ>{date}</DateMAJ></Domaine>\n"))
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\">\n<DateDeGeneration>{date}</DateDeGeneration>\n<ListeDomaines>\n{entries}</ListeDomaines>\n</ListeBlancheMSSante>\n"
    );
    let path = dir.join("listeblanchemssante.xml");
    std::fs::write(&path, xml).expect("write list");
    path
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

fn with_file(stack: &Stack, path: &Path) -> Config {
    let mut c = stack.config();
    c.mssante.whitelist = path.display().to_string();
    c
}

#[test]
fn the_list_served_by_nginx_names_the_domain() {
    let stack = Stack::get();
    let _g = healthy();
    let w = whitelist(stack.config());
    assert_eq!(w.status, Status::Ok, "{}", w.summary);
    assert!(w.summary.starts_with("mssante.test listed among 3 domains; generated "), "{}", w.summary);
    assert_eq!(w.details["source"], stack.var("WHITELIST_URL"));
    assert_eq!(w.details["operator_domains"][0]["listed"], true);
    assert_eq!(w.details["deferred"]["state"], "read");
}

#[test]
fn a_copy_with_and_without_the_domain() {
    let stack = Stack::get();
    let _g = healthy();
    let dir = tempfile::tempdir().expect("tmp");
    let with = list_file(dir.path(), &now(), &["peer.mssante.test", "MSSANTE.TEST"]);
    let w = whitelist(with_file(stack, &with));
    assert_eq!(w.status, Status::Ok, "{}", w.summary);
    assert!(w.summary.starts_with("mssante.test listed among 2 domains"), "{}", w.summary);

    let without = list_file(dir.path(), &now(), &["peer.mssante.test", "ch-exemple.mssante.fr"]);
    let w = whitelist(with_file(stack, &without));
    assert_eq!(w.status, Status::Critical, "{}", w.summary);
    assert!(w.summary.starts_with("not in the espace de confiance list: mssante.test"), "{}", w.summary);
    assert!(w.metrics.iter().any(|m| m.name == "operator_domains_missing" && m.value == 1.0), "{:?}", w.metrics);
    assert!(w.remediation.iter().any(|r| r.guide == "Messagerie P1"), "{:?}", w.remediation);
    let mut fr = with_file(stack, &without);
    fr.lang = mssante_diag_core::Lang::Fr;
    assert!(whitelist(fr).summary.starts_with("absent(s) de la liste de l'espace de confiance : mssante.test"));
}

#[test]
fn a_stale_copy_warns_with_its_age() {
    let stack = Stack::get();
    let _g = healthy();
    let dir = tempfile::tempdir().expect("tmp");
    let old = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let w = whitelist(with_file(stack, &list_file(dir.path(), &old, &["mssante.test"])));
    assert_eq!(w.status, Status::Warning, "{}", w.summary);
    assert!(w.summary.contains("copy generated 30 days ago (more than 7)"), "{}", w.summary);
    let age = w.metrics.iter().find(|m| m.name == "whitelist_age").expect("age metric");
    assert!((age.value / 86_400.0 - 30.0).abs() < 0.1 && age.warn == Some(7.0 * 86_400.0), "{age:?}");
}

#[test]
fn malformed_or_oversized_lists_are_unknown_with_the_reason() {
    let stack = Stack::get();
    let _g = healthy();
    // Served truncated by nginx.
    let mut c = stack.config();
    c.mssante.whitelist = stack.var("WHITELIST_URL").replace("listeblanchemssante.xml", "truncated.xml");
    let w = whitelist(c);
    assert_eq!(w.status, Status::Unknown, "{}", w.summary);
    assert!(w.summary.contains("is not a usable whitelist: malformed XML"), "{}", w.summary);
    // Not there.
    let mut c = stack.config();
    c.mssante.whitelist = stack.var("WHITELIST_URL").replace("listeblanchemssante.xml", "missing.xml");
    let w = whitelist(c);
    assert_eq!(w.status, Status::Unknown, "{}", w.summary);
    assert!(w.summary.ends_with(": HTTP 404"), "{}", w.summary);
    // Another document, and a file far larger than any list (never read whole).
    let dir = tempfile::tempdir().expect("tmp");
    let html = dir.path().join("page.html");
    std::fs::write(&html, "<html><body>maintenance</body></html>").expect("write");
    let w = whitelist(with_file(stack, &html));
    assert_eq!(w.status, Status::Unknown, "{}", w.summary);
    assert!(w.summary.contains("root element <html>, not <ListeBlancheMSSante>"), "{}", w.summary);
    let huge = dir.path().join("huge.xml");
    let f = std::fs::File::create(&huge).expect("create");
    f.set_len(40 << 20).expect("sparse file");
    let w = whitelist(with_file(stack, &huge));
    assert_eq!(w.status, Status::Unknown, "{}", w.summary);
    assert!(w.summary.contains("larger than 32 MiB: not read whole"), "{}", w.summary);
}

#[test]
fn deferred_mail_outside_the_trust_space_is_named() {
    let stack = Stack::get();
    let _g = fault();
    let inside = Deferred::send(stack, "dr.x@peer.mssante.test");
    let outside = Deferred::send(stack, "someone@hors-espace.example");
    let w = whitelist(stack.config());
    assert_eq!(w.status, Status::Warning, "{}", w.summary);
    assert!(w.summary.ends_with("deferred mail to domains outside the trust space: hors-espace.example (1)"), "{}", w.summary);
    assert!(!w.summary.contains("peer.mssante.test"), "{}", w.summary);
    assert_eq!(w.details["deferred"]["domains"], 2, "{:#}", w.details);
    assert_eq!(w.details["deferred"]["not_listed_total"], 1);
    drop((inside, outside));
    assert_eq!(whitelist(stack.config()).status, Status::Ok);
}
