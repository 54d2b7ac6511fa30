//! `dns.dkim`: the key record of each selector (`<selector>._domainkey.<domain>`): present,
//! parses, RSA of at least 2048 bits (1024 a warning) or Ed25519, and the same key as the
//! local OpenDKIM key when its path is configured.

use base64::Engine;
use serde::Serialize;

use super::env::{lookup_failed, publish, Env};
use crate::checks::Outcome;
use crate::model::{Metric, Status};
use crate::resolver::{self, LookupError};
use crate::{tr, Lang};

/// Largest local key file read, bytes.
const KEY_FILE_MAX: u64 = 64 * 1024;

/// A public key as published or held locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum DkimKey {
    /// RSA: modulus and exponent (big-endian, no leading zeros), size in bits.
    Rsa {
        /// Size in bits.
        bits: u32,
        #[serde(skip)]
        /// Modulus.
        modulus: Vec<u8>,
        #[serde(skip)]
        /// Public exponent.
        exponent: Vec<u8>,
    },
    /// Ed25519 (32 bytes).
    Ed25519 {
        #[serde(skip)]
        /// The key.
        key: Vec<u8>,
    },
}

/// One selector's record and what was made of it.
#[derive(Debug, Clone, Serialize)]
pub struct SelectorFacts {
    /// The selector.
    pub selector: String,
    /// The record found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The lookup's failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LookupError>,
    /// The key, when it parses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<DkimKey>,
    /// Why it does not parse (or is revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Same key as the local one (when configured and readable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches_local: Option<bool>,
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

fn rsa(modulus: &[u8], exponent: &[u8]) -> DkimKey {
    let m = strip_zeros(modulus);
    let bits = m.first().map_or(0, |b| (m.len() as u32 - 1) * 8 + (8 - b.leading_zeros()));
    DkimKey::Rsa { bits, modulus: m, exponent: strip_zeros(exponent) }
}

/// The key of a SubjectPublicKeyInfo (RSA or Ed25519), or of a bare PKCS#1 RSA public key.
fn key_of_der(der: &[u8], ed25519: bool) -> Result<DkimKey, String> {
    if ed25519 && der.len() == 32 {
        return Ok(DkimKey::Ed25519 { key: der.to_vec() });
    }
    use x509_parser::prelude::FromDer;
    if let Ok((_, spki)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der) {
        return match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(k)) => Ok(rsa(k.modulus, k.exponent)),
            Ok(_) if ed25519 => Ok(DkimKey::Ed25519 { key: spki.subject_public_key.data.to_vec() }),
            Ok(_) => Err("not an RSA key".into()),
            Err(e) => Err(e.to_string()),
        };
    }
    integers(der).and_then(|i| match i.as_slice() {
        [n, e] => Ok(rsa(n, e)),
        _ => Err("not a public key (SubjectPublicKeyInfo)".into()),
    })
}

/// The INTEGERs of a DER SEQUENCE.
fn integers(der: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let (_, obj) = x509_parser::der_parser::parse_der(der).map_err(|e| e.to_string())?;
    let items = obj.as_sequence().map_err(|e| e.to_string())?;
    Ok(items.iter().filter_map(|o| o.as_slice().ok().map(<[u8]>::to_vec)).collect())
}

/// Parses a DKIM key record (tags `v`, `k`, `p`).
///
/// # Errors
/// Why it is not a usable key: malformed tags, revoked (empty `p=`), undecodable key.
pub fn parse_record(record: &str) -> Result<DkimKey, String> {
    let tags = super::tags::parse(record).ok_or_else(|| "malformed tag list".to_owned())?;
    if super::tags::get(&tags, "v").is_some_and(|v| !v.eq_ignore_ascii_case("DKIM1")) {
        return Err("v= is not DKIM1".into());
    }
    let k = super::tags::get(&tags, "k").unwrap_or("rsa").to_ascii_lowercase();
    if k != "rsa" && k != "ed25519" {
        return Err(format!("unknown key type k={k}"));
    }
    let p: String = super::tags::get(&tags, "p").ok_or_else(|| "no p= tag".to_owned())?.chars().filter(|c| !c.is_whitespace()).collect();
    if p.is_empty() {
        return Err("the key is revoked (empty p=)".into());
    }
    let der = base64::engine::general_purpose::STANDARD.decode(p.as_bytes()).map_err(|e| format!("p= is not base64: {e}"))?;
    key_of_der(&der, k == "ed25519").map_err(|e| format!("p= is not a key: {e}"))
}

/// The public key of a local key file: PEM private (PKCS#1, PKCS#8) or public key, or an
/// OpenDKIM `.txt` record.
///
/// # Errors
/// The file cannot be read or holds no key, in a few words.
pub fn local_key(path: &std::path::Path) -> Result<DkimKey, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = Vec::new();
    file.take(KEY_FILE_MAX).read_to_end(&mut text).map_err(|e| format!("{}: {e}", path.display()))?;
    key_of_file(&text, path)
}

/// The public key of `path`, or when this user may not read it (the monitoring user is kept
/// from private keys), of the record OpenDKIM's `opendkim-genkey` writes beside it
/// (`default.private` and `default.txt`).
fn readable_key(path: &std::path::Path) -> Result<DkimKey, String> {
    let record = path.with_extension("txt");
    if record != path && crate::access::probe(path).is_some() && record.is_file() {
        return local_key(&record);
    }
    local_key(path)
}

/// The public key of a local key file's content (`path` is named in errors only).
fn key_of_file(text: &[u8], path: &std::path::Path) -> Result<DkimKey, String> {
    let s = String::from_utf8_lossy(text);
    if !s.contains("-----BEGIN") {
        // OpenDKIM's <selector>.txt: the record in quoted pieces.
        let quoted: String = s.split('"').skip(1).step_by(2).collect();
        return parse_record(if quoted.is_empty() { s.trim() } else { quoted.as_str() });
    }
    let mut reader = std::io::BufReader::new(text);
    loop {
        match rustls_pemfile::read_one(&mut reader) {
            Ok(Some(rustls_pemfile::Item::Pkcs1Key(k))) => return pkcs1_private(k.secret_pkcs1_der()),
            Ok(Some(rustls_pemfile::Item::Pkcs8Key(k))) => {
                let (_, obj) = x509_parser::der_parser::parse_der(k.secret_pkcs8_der()).map_err(|e| e.to_string())?;
                let items = obj.as_sequence().map_err(|e| e.to_string())?;
                let inner = items.get(2).and_then(|o| o.as_slice().ok()).ok_or_else(|| "PKCS#8 key without key data".to_owned())?;
                return pkcs1_private(inner);
            }
            Ok(Some(rustls_pemfile::Item::SubjectPublicKeyInfo(k))) => return key_of_der(k.as_ref(), false),
            Ok(Some(_)) => {}
            Ok(None) => return Err(format!("{}: no RSA key in PEM form", path.display())),
            Err(e) => return Err(format!("{}: {e:?}", path.display())),
        }
    }
}

/// Parses `data` as a DKIM TXT record and as a local key file (PEM private or public key,
/// OpenDKIM `.txt`): the `dkim` fuzz target. Never panics.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    let _ = parse_record(&String::from_utf8_lossy(data));
    let _ = key_of_file(data, std::path::Path::new("fuzz.private"));
}

fn pkcs1_private(der: &[u8]) -> Result<DkimKey, String> {
    let i = integers(der)?;
    match i.as_slice() {
        [_, n, e, ..] => Ok(rsa(n, e)),
        _ => Err("not an RSA private key".into()),
    }
}

/// Looks up every configured selector of `domain` and compares with `local` when given.
pub async fn dkim_facts(env: &Env, domain: &str, local: Option<&DkimKey>) -> Vec<SelectorFacts> {
    let each = env.settings.dkim_selectors.iter().map(|sel| async move {
        let name = format!("{sel}._domainkey.{domain}");
        let mut f = SelectorFacts { selector: sel.clone(), record: None, error: None, key: None, problem: None, matches_local: None };
        match resolver::txt(&env.plain, &name).await {
            Err(e) => f.error = Some(e),
            Ok(txt) => {
                let texts: Vec<String> = txt.into_iter().map(|t| t.text).collect();
                let rec = texts.iter().find(|t| t.contains("p=")).or_else(|| texts.first()).cloned();
                match &rec {
                    None => f.error = Some(LookupError::NoRecords),
                    Some(r) => match parse_record(r) {
                        Ok(k) => {
                            f.matches_local = local.map(|l| *l == k);
                            f.key = Some(k);
                        }
                        Err(p) => f.problem = Some(p),
                    },
                }
                f.record = rec.map(|r| r.chars().take(1024).collect());
            }
        }
        f
    });
    futures::future::join_all(each).await
}

/// Judges the selectors' facts.
#[must_use]
pub fn evaluate_dkim(domain: &str, selectors: &[SelectorFacts], local_problem: Option<&str>, lang: Lang) -> Outcome {
    let d = domain;
    let mut findings: Vec<(Status, String)> = Vec::new();
    let mut fine = Vec::new();
    let mut o = Outcome::ok(String::new());
    for f in selectors {
        let s = &f.selector;
        let name = format!("{s}._domainkey.{d}");
        match (&f.error, &f.problem, &f.key) {
            (Some(e), _, _) if e.is_empty_answer() => findings.push((Status::Critical, tr!(lang, "no DKIM key at {name}", "aucune clé DKIM en {name}"))),
            (Some(e), _, _) => return lookup_failed(&format!("TXT {name}"), e, lang),
            (None, Some(p), _) => findings.push((Status::Critical, tr!(lang, "DKIM record {name} unusable: {p}", "enregistrement DKIM {name} inutilisable : {p}"))),
            (None, None, Some(DkimKey::Rsa { bits, .. })) => {
                o = o.metric(Metric::new("key_bits", f64::from(*bits), "").label("selector", s.clone()));
                if *bits < 1024 {
                    findings.push((Status::Critical, tr!(lang, "DKIM key {name} is RSA {bits} bits: receivers ignore it", "la clé DKIM {name} est RSA {bits} bits : les destinataires l'ignorent")));
                } else if *bits < 2048 {
                    findings.push((Status::Warning, tr!(lang, "DKIM key {name} is RSA {bits} bits (2048 expected)", "la clé DKIM {name} est RSA {bits} bits (2048 attendus)")));
                } else {
                    fine.push(format!("{s} (RSA {bits})"));
                }
            }
            (None, None, Some(DkimKey::Ed25519 { .. })) => fine.push(format!("{s} (Ed25519)")),
            (None, None, None) => {}
        }
        if f.matches_local == Some(false) {
            findings.push((Status::Critical, tr!(lang, "DKIM key {name} is not the local OpenDKIM key: signatures fail", "la clé DKIM {name} n'est pas la clé OpenDKIM locale : les signatures échouent")));
        }
    }
    if let Some(p) = local_problem {
        findings.push((Status::Unknown, tr!(lang, "local DKIM key unreadable: {p}", "clé DKIM locale illisible : {p}")));
    }
    let status = findings.iter().fold(Status::Ok, |s, (st, _)| s.worst(*st));
    o.status = status;
    o.summary = if findings.is_empty() {
        let l = fine.join(", ");
        tr!(lang, "{d}: DKIM key(s) {l}", "{d} : clé(s) DKIM {l}")
    } else {
        findings.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; ")
    };
    if status != Status::Ok {
        let s = selectors.first().map_or("default", |f| f.selector.as_str());
        o.remediation.push(publish(
            lang,
            "Generate a 2048-bit key and publish its public part (opendkim-genkey -b 2048, then the .txt file)",
            "Générer une clé de 2048 bits et publier sa partie publique (opendkim-genkey -b 2048, puis le fichier .txt)",
            format!("{s}._domainkey.{d}. IN TXT \"v=DKIM1; k=rsa; p=MIIBIj...\""),
            "Messagerie P3",
        ));
    }
    o.details(serde_json::json!({ "domain": d, "selectors": selectors }))
}

/// `dns.dkim` for one domain.
pub async fn check_dkim(env: &Env, domain: &str) -> Outcome {
    let (local, problem) = match &env.settings.dkim_key {
        None => (None, None),
        Some(p) => match readable_key(&env.path(p)) {
            Ok(k) => (Some(k), None),
            Err(e) => (None, Some(e)),
        },
    };
    let facts = dkim_facts(env, domain, local.as_ref()).await;
    evaluate_dkim(domain, &facts, problem.as_deref(), env.lang)
}
