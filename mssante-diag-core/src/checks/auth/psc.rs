//! `auth.psc`: Pro Santé Connect's discovery document and key set (guide: Auth P1).
//!
//! PSC publishes its discovery at `<issuer>/.well-known/wallet-openid-configuration`; the
//! standard `openid-configuration` is tried when that path does not answer with a document.
//! Every fetch is bounded (time and bytes); what each URL answered is part of the facts.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::jwks::{self, Jwks, KeyInfo, NotJwks, UsableKey};
use super::Settings;
use crate::checks::Outcome;
use crate::config::redact_url;
use crate::http::{get_bounded, transport_cause, Failure};
use crate::model::{Metric, Status};
use crate::probe::Hung;
use crate::proxy::Proxies;
use crate::{tr, Lang};

/// Most bytes read of a discovery document or a key set (PSC's are a few KiB).
pub const DOC_READ_LIMIT: usize = 256 * 1024;
/// Largest CA bundle read.
const CA_READ_LIMIT: u64 = 4 << 20;

/// Fields of a discovery document that hold URLs the platform calls or sends users to.
pub const ENDPOINT_FIELDS: &[&str] =
    &["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "end_session_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"];
/// Fields the platform cannot work without.
pub const REQUIRED_FIELDS: &[&str] = &["authorization_endpoint", "token_endpoint", "jwks_uri"];

/// What one URL answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Answer {
    /// An HTTP answer (its body read up to [`DOC_READ_LIMIT`]).
    Http {
        /// Status code.
        http_status: u16,
        /// Body bytes read.
        bytes: usize,
        /// The body was longer than the cap.
        truncated: bool,
        /// Time to the body's end, ms.
        latency_ms: f64,
    },
    /// No HTTP answer: refused, TLS, name resolution...
    Failed {
        /// Why, in a few words.
        cause: String,
    },
    /// A step got no answer in time.
    Hung(Hung),
}

/// One URL fetched and its answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fetch {
    /// The URL (credentials redacted).
    pub url: String,
    /// What it answered.
    #[serde(flatten)]
    pub answer: Answer,
    /// The body is not what was expected there: `not_json`, `not_an_object`, `no_keys`,
    /// `too_large`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unusable_body: Option<&'static str>,
}

/// The discovery document, as far as the checks read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    /// The URL that served it.
    pub url: String,
    /// Its `issuer`, if any.
    pub issuer: Option<String>,
    /// Endpoint fields present, by name.
    pub endpoints: std::collections::BTreeMap<String, String>,
    /// Required fields absent.
    pub missing: Vec<String>,
    /// Endpoint fields that are not `https` URLs.
    pub not_https: Vec<String>,
}

/// Everything `auth.psc` found, in order.
#[derive(Debug, Clone, Serialize)]
pub struct PscFacts {
    /// The configured issuer.
    pub issuer: String,
    /// The CA bundle could not be used (the fetches were not made).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_problem: Option<String>,
    /// Discovery URLs tried, in order.
    pub attempts: Vec<Fetch>,
    /// The document that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// The key set's fetch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_fetch: Option<Fetch>,
    /// Keys of the set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeyInfo>>,
    /// Usable keys.
    pub usable_keys: usize,
    /// Discovery plus key set, ms.
    pub latency_ms: f64,
    /// The usable keys themselves (for `auth.jwt`).
    #[serde(skip)]
    pub jwks: Jwks,
}

impl PscFacts {
    /// The usable keys, or why there are none (one line, for `auth.jwt`).
    ///
    /// # Errors
    /// Why the key set is not available.
    pub fn usable_keys(&self, lang: Lang) -> Result<&[UsableKey], String> {
        if self.jwks.keys.is_empty() {
            // No latency threshold: the reason is what the set lacks.
            Err(evaluate_psc(self, u64::MAX, u64::MAX, Status::Critical, lang).summary)
        } else {
            Ok(&self.jwks.keys)
        }
    }
}

/// The discovery URLs to try: the configured one, else PSC's path then the standard one.
#[must_use]
pub fn discovery_urls(s: &Settings) -> Vec<String> {
    match &s.discovery_url {
        Some(u) => vec![u.clone()],
        None => {
            let base = s.issuer.trim_end_matches('/');
            vec![format!("{base}/.well-known/wallet-openid-configuration"), format!("{base}/.well-known/openid-configuration")]
        }
    }
}

/// The HTTP client: the built-in roots plus the CA bundle, the run's proxy rules.
fn client(s: &Settings, project_dir: &Path, proxies: &Proxies, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut b = crate::http::client_builder(timeout, proxies).redirect(reqwest::redirect::Policy::limited(5));
    if let Some(p) = &s.ca_bundle {
        let path = if p.is_absolute() { p.clone() } else { project_dir.join(p) };
        b = crate::http::add_ca_bundle(b, &path, CA_READ_LIMIT)?;
    }
    b.build().map_err(|e| crate::http::root_cause(&e))
}

/// GETs one URL; the answer, and the body when it came whole with a 2xx status.
async fn fetch(client: &reqwest::Client, url: &str, timeout: Duration, lang: Lang) -> (Fetch, Option<Vec<u8>>) {
    let shown = redact_url(url);
    match get_bounded(client, url, timeout, DOC_READ_LIMIT).await {
        Ok(got) => {
            let answer = Answer::Http { http_status: got.status.as_u16(), bytes: got.body.len(), truncated: got.truncated, latency_ms: got.latency_ms };
            let body = (got.status.is_success() && !got.truncated).then_some(got.body);
            let unusable_body = got.truncated.then_some("too_large");
            (Fetch { url: shown, answer, unusable_body }, body)
        }
        Err(Failure::Transport(e)) => {
            let mut cause = transport_cause(lang, &e);
            if crate::http::is_untrusted(&e) {
                cause.push_str(&tr!(
                    lang,
                    " (if a proxy or a private CA signs it, name that CA in [auth] ca_bundle)",
                    " (si un proxy ou une AC privée le signe, indiquer cette AC dans [auth] ca_bundle)"
                ));
            }
            (Fetch { url: shown, answer: Answer::Failed { cause }, unusable_body: None }, None)
        }
        Err(Failure::NoAnswer(h)) => (Fetch { url: shown, answer: Answer::Hung(h), unusable_body: None }, None),
    }
}

/// Reads a discovery document's fields.
fn read_discovery(url: &str, doc: &serde_json::Map<String, serde_json::Value>) -> Discovery {
    let mut endpoints = std::collections::BTreeMap::new();
    let mut not_https = Vec::new();
    for f in ENDPOINT_FIELDS {
        if let Some(v) = doc.get(*f) {
            let text = v.as_str().unwrap_or_default();
            endpoints.insert((*f).to_owned(), redact_url(text));
            if reqwest::Url::parse(text).map_or(true, |u| u.scheme() != "https") {
                not_https.push((*f).to_owned());
            }
        }
    }
    let missing = REQUIRED_FIELDS.iter().filter(|f| !endpoints.contains_key(**f)).map(|f| (*f).to_owned()).collect();
    Discovery { url: redact_url(url), issuer: doc.get("issuer").and_then(|v| v.as_str()).map(str::to_owned), endpoints, missing, not_https }
}

/// Reads `data` as an OpenID discovery document and as a key set (JWKS), as [`gather`]
/// does with the bodies it fetched (the `oidc` fuzz target). Never panics.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    if let Ok(serde_json::Value::Object(doc)) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = read_discovery("https://auth.esante.gouv.fr/auth/realms/esante-wallet/.well-known/openid-configuration", &doc);
    }
    if let Ok(set) = jwks::parse(data) {
        let _ = (set.keys.len(), set.info.len(), set.truncated);
    }
}

/// Fetches the discovery document, then its key set, each fetch within `timeout`, through
/// the proxy `proxies` name for them.
pub async fn gather(s: &Settings, project_dir: &Path, proxies: &Proxies, timeout: Duration, lang: Lang) -> PscFacts {
    let mut facts = PscFacts {
        // As shown: credentials written in the URL are not (a served issuer never has them).
        issuer: redact_url(&s.issuer),
        ca_problem: None,
        attempts: Vec::new(),
        discovery: None,
        jwks_fetch: None,
        keys: None,
        usable_keys: 0,
        latency_ms: 0.0,
        jwks: Jwks::default(),
    };
    // Reading the CA bundle is a file read: off the async threads, under the timeout.
    let (settings, dir, proxies) = (s.clone(), project_dir.to_path_buf(), proxies.clone());
    let built = tokio::time::timeout(timeout, tokio::task::spawn_blocking(move || client(&settings, &dir, &proxies, timeout))).await;
    let client = match built {
        Ok(Ok(Ok(c))) => c,
        Ok(Ok(Err(e))) => {
            facts.ca_problem = Some(e);
            return facts;
        }
        Ok(Err(join)) => {
            facts.ca_problem = Some(join.to_string());
            return facts;
        }
        Err(_) => {
            let secs = timeout.as_secs_f64();
            facts.ca_problem = Some(tr!(lang, "not read within {secs} s", "non lu en {secs} s"));
            return facts;
        }
    };
    let start = std::time::Instant::now();
    let mut jwks_uri = None;
    for url in discovery_urls(s) {
        let (mut f, body) = fetch(&client, &url, timeout, lang).await;
        let hung = matches!(f.answer, Answer::Hung(_));
        if let Some(body) = body {
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(serde_json::Value::Object(doc)) => {
                    let d = read_discovery(&url, &doc);
                    jwks_uri = doc.get("jwks_uri").and_then(|v| v.as_str()).map(str::to_owned);
                    facts.attempts.push(f);
                    facts.discovery = Some(d);
                    break;
                }
                Ok(_) => f.unusable_body = Some("not_an_object"),
                Err(_) => f.unusable_body = Some("not_json"),
            }
        }
        facts.attempts.push(f);
        // A server that hangs on one path hangs on the next: one timeout is enough.
        if hung {
            break;
        }
    }
    if let Some(uri) = jwks_uri {
        let (mut f, body) = fetch(&client, &uri, timeout, lang).await;
        if let Some(body) = body {
            match jwks::parse(&body) {
                Ok(set) => {
                    facts.usable_keys = set.keys.len();
                    facts.keys = Some(set.info.clone());
                    facts.jwks = set;
                }
                Err(NotJwks::NotJson) => f.unusable_body = Some("not_json"),
                Err(NotJwks::NoKeys) => f.unusable_body = Some("no_keys"),
            }
        }
        facts.jwks_fetch = Some(f);
    }
    facts.latency_ms = crate::checks::elapsed_ms(start);
    facts
}

/// One fetch's failure in a sentence fragment, or `None` when it brought a usable body.
fn fetch_problem(f: &Fetch, lang: Lang) -> Option<String> {
    let url = &f.url;
    match (&f.answer, f.unusable_body) {
        (Answer::Hung(h), _) => Some(h.describe(lang, url)),
        (Answer::Failed { cause }, _) => Some(tr!(lang, "{url}: {cause}", "{url} : {cause}")),
        (Answer::Http { http_status, .. }, _) if !(200..300).contains(http_status) => {
            Some(tr!(lang, "{url}: HTTP {http_status}", "{url} : HTTP {http_status}"))
        }
        (_, Some("too_large")) => {
            let kib = DOC_READ_LIMIT / 1024;
            Some(tr!(lang, "{url}: document larger than {kib} KiB", "{url} : document de plus de {kib} Kio"))
        }
        (_, Some("not_json")) => Some(tr!(lang, "{url}: not valid JSON", "{url} : JSON invalide")),
        (_, Some("not_an_object")) => Some(tr!(lang, "{url}: JSON but not an object", "{url} : du JSON, mais pas un objet")),
        (_, Some("no_keys")) => Some(tr!(lang, "{url}: no `keys` array", "{url} : pas de tableau `keys`")),
        _ => None,
    }
}

/// Judges the facts: no document, a wrong issuer, a missing or non-https endpoint, a key set
/// that cannot be fetched or holds no usable key is critical (`timeout_status` for a hang);
/// the latency is graded against the thresholds.
#[must_use]
pub fn evaluate_psc(f: &PscFacts, warn_ms: u64, crit_ms: u64, timeout_status: Status, lang: Lang) -> Outcome {
    if let Some(ca) = &f.ca_problem {
        return Outcome::unknown(tr!(lang, "CA bundle unusable: {ca}", "paquet d'AC inutilisable : {ca}")).details(f);
    }
    let mut problems: Vec<(Status, String)> = Vec::new();
    let status_of = |fetch: &Fetch| if matches!(fetch.answer, Answer::Hung(_)) { timeout_status } else { Status::Critical };
    match &f.discovery {
        None => {
            let why: Vec<String> = f.attempts.iter().filter_map(|a| fetch_problem(a, lang)).collect();
            let status = f.attempts.iter().map(status_of).fold(Status::Critical, |acc, s| if s == timeout_status { s } else { acc });
            let why = why.join("; ");
            problems.push((status, tr!(lang, "no PSC discovery document: {why}", "pas de document de découverte PSC : {why}")));
        }
        Some(d) => {
            let want = &f.issuer;
            match &d.issuer {
                Some(got) if got == want => {}
                Some(got) => {
                    problems.push((Status::Critical, tr!(lang, "issuer is {got}, not the configured {want}", "l'émetteur est {got}, alors que {want} est configuré")))
                }
                None => problems.push((Status::Critical, tr!(lang, "the discovery document has no issuer", "le document de découverte n'a pas d'émetteur"))),
            }
            if !d.missing.is_empty() {
                let m = d.missing.join(", ");
                problems.push((Status::Critical, tr!(lang, "missing from the discovery document: {m}", "absent du document de découverte : {m}")));
            }
            if !d.not_https.is_empty() {
                let m = d.not_https.join(", ");
                problems.push((Status::Critical, tr!(lang, "endpoints not in https: {m}", "points d'accès hors https : {m}")));
            }
            match &f.jwks_fetch {
                Some(j) => match fetch_problem(j, lang) {
                    Some(p) => problems.push((status_of(j), tr!(lang, "key set unavailable: {p}", "jeu de clés indisponible : {p}"))),
                    None if f.usable_keys == 0 => {
                        let n = f.keys.as_ref().map_or(0, Vec::len);
                        problems.push((
                            Status::Critical,
                            tr!(lang, "the key set has no usable key ({n} published)", "le jeu de clés n'a aucune clé utilisable ({n} publiées)"),
                        ));
                    }
                    None => {}
                },
                None if d.missing.iter().any(|m| m == "jwks_uri") => {}
                None => problems.push((Status::Critical, tr!(lang, "jwks_uri is not fetchable", "jwks_uri n'est pas récupérable"))),
            }
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let (warn, crit) = (warn_ms as f64, crit_ms as f64);
    let ms = f.latency_ms.round();
    let complete = problems.is_empty();
    if complete {
        let s = crate::checks::grade(f.latency_ms, warn, crit);
        if s != Status::Ok {
            problems.push((s, tr!(lang, "PSC slow: {ms} ms for discovery and keys", "PSC lent : {ms} ms pour la découverte et les clés")));
        }
    }
    let status = problems.iter().fold(Status::Ok, |acc, (s, _)| acc.worst(*s));
    let summary = if problems.is_empty() {
        let (n, url) = (f.usable_keys, f.discovery.as_ref().map_or("", |d| d.url.as_str()));
        tr!(lang, "PSC discovery fine at {url} ({n} usable keys, {ms} ms)", "Découverte PSC correcte à {url} ({n} clés utilisables, {ms} ms)")
    } else {
        problems.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("; ")
    };
    let mut o = Outcome::new(status, summary).details(f);
    if complete || f.jwks_fetch.is_some() {
        o = o.metric(Metric::new("latency", f.latency_ms, "ms").thresholds(warn, crit));
    }
    o
}
