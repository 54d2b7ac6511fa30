//! The Annuaire Santé FHIR API (guide: Réseau P1), shared by `network.annuaire` and
//! `annuaire.mailboxes`: one client (base URL, the `ESANTE-API-KEY` header when a key is
//! configured, an optional CA bundle), the `/metadata` probe with its steps told apart (DNS,
//! TCP, TLS, HTTP), and the paged search of the MSSanté mailboxes (BALs) published for a
//! domain, bounded in pages, bytes per page and total time.
//!
//! A BAL is not a resource: it is a `telecom` ContactPoint of a `Practitioner`,
//! `PractitionerRole` or `Organization` marked with the `MSSANTE` e-mail type, its metadata
//! extension giving the BAL type (PER, ORG, APP, CAB) and the `listeRouge` flag (`publication`
//! in older versions); the legacy v1 `MailboxMSS` extension sat on the resource itself.
//! Ordinary e-mails are ignored.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::{redact_url, Secret};
use crate::http::{get_bounded, transport_cause, Failure};
use crate::probe::{Deadline, Hung, Phase};
use crate::{tr, Lang};

/// The production base URL of the FHIR API (v2). There is no sandbox.
pub const PRODUCTION_URL: &str = "https://gateway.api.esante.gouv.fr/fhir/v2";
/// The header carrying the API key.
pub const KEY_HEADER: &str = "ESANTE-API-KEY";
/// The extension telling an MSSanté address from an ordinary e-mail.
pub const EMAIL_TYPE_EXTENSION: &str =
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-contact-point-email-type";
/// The e-mail type code of an MSSanté mailbox.
pub const MSSANTE_CODE: &str = "MSSANTE";
/// The mailbox metadata extension (type, listeRouge...).
pub const METADATA_EXTENSION: &str = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata";
/// The legacy (v1) mailbox extension, on the resource itself.
pub const LEGACY_EXTENSION: &str =
    "https://annuaire.sante.gouv.fr/fhir/StructureDefinition/MailboxMSS";
/// The resource types that carry BALs, searched in this order.
pub const RESOURCE_TYPES: [&str; 3] = ["Practitioner", "PractitionerRole", "Organization"];
/// Most bytes read of `/metadata` (a CapabilityStatement is a few hundred KiB at most).
pub const METADATA_READ_LIMIT: usize = 4 << 20;
/// Largest CA bundle read.
const CA_READ_LIMIT: u64 = 4 << 20;
/// Redirects followed (same origin only, so the key never leaves the API's host).
const MAX_REDIRECTS: usize = 3;

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct Api {
    /// Base URL, e.g. [`PRODUCTION_URL`] (no trailing slash needed).
    pub base: String,
    /// The API key, sent as [`KEY_HEADER`]; never shown.
    pub key: Option<Secret>,
    /// PEM file of CA certificates trusted besides the built-in roots.
    pub ca_bundle: Option<PathBuf>,
}

impl Api {
    /// The API of a configuration's `[annuaire]`: its URL, its key (inline, else the variable
    /// `api_key_env` of the environment, then `.env`), its CA bundle (made absolute).
    #[must_use]
    pub fn from_config(config: &crate::Config) -> Self {
        let s = &config.annuaire;
        let key = s.api_key.clone().or_else(|| {
            config
                .env
                .lookup(&s.api_key_env)
                .filter(|k| !k.trim().is_empty())
                .map(Secret::new)
        });
        Self {
            base: s.url.clone(),
            key,
            ca_bundle: s.ca_bundle.as_deref().map(|p| config.project_path(p)),
        }
    }

    /// `base` + `/` + `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// The `skipped` outcome of both Annuaire checks when `[annuaire] enabled = false`.
#[must_use]
pub fn disabled(config: &crate::Config, lang: Lang) -> Option<crate::checks::Outcome> {
    (!config.annuaire.enabled).then(|| {
        crate::checks::Outcome::skipped(tr!(
            lang,
            "the Annuaire is not used ([annuaire] enabled = false)",
            "l'Annuaire n'est pas utilisé ([annuaire] enabled = false)"
        ))
    })
}

/// The API of the configuration, its proxy rules and its client ([`client`]): what both
/// Annuaire checks start from. `Err` is the check's `unknown` outcome naming why no client
/// could be built.
pub async fn connect(
    config: &crate::Config,
    lang: Lang,
) -> Result<(Api, crate::proxy::Proxies, reqwest::Client), crate::checks::Outcome> {
    let api = Api::from_config(config);
    let proxies = crate::proxy::Proxies::resolve(config);
    match client(&api, &proxies, config.timeout(), lang).await {
        Ok(c) => Ok((api, proxies, c)),
        Err(cause) => Err(crate::checks::Outcome::unknown(tr!(
            lang,
            "Annuaire client: {cause}",
            "client de l'Annuaire : {cause}"
        ))),
    }
}

/// Builds the API's client (through [`crate::http::client_builder`]): the key as a sensitive
/// default header, the CA bundle, redirects only within the same origin. The CA file is read off
/// the async threads, within `timeout`.
///
/// # Errors
/// Why the client could not be built (unreadable CA bundle, invalid key characters), in a few words.
pub async fn client(
    api: &Api,
    proxies: &crate::proxy::Proxies,
    timeout: Duration,
    lang: Lang,
) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = &api.key {
        let mut v = reqwest::header::HeaderValue::from_str(key.expose()).map_err(|_| {
            tr!(
                lang,
                "the API key holds characters a header cannot carry",
                "la clé d'API contient des caractères interdits dans un en-tête"
            )
        })?;
        v.set_sensitive(true);
        headers.insert(KEY_HEADER, v);
    }
    let same_origin = reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let builder = crate::http::client_builder(timeout, proxies)
        .default_headers(headers)
        .redirect(same_origin);
    let builder = match api.ca_bundle.clone() {
        None => builder,
        Some(path) => {
            let read = tokio::task::spawn_blocking(move || {
                crate::http::add_ca_bundle(builder, &path, CA_READ_LIMIT)
            });
            match tokio::time::timeout(timeout, read).await {
                Ok(Ok(r)) => r?,
                Ok(Err(join)) => return Err(join.to_string()),
                Err(_) => {
                    let s = timeout.as_secs_f64();
                    return Err(tr!(
                        lang,
                        "CA bundle not read within {s} s",
                        "bundle d'AC non lu en {s} s"
                    ));
                }
            }
        }
    };
    builder.build().map_err(|e| crate::http::root_cause(&e))
}

/// A step of the way to the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetStep {
    /// Name resolution.
    Dns,
    /// The TCP connection.
    Tcp,
    /// The TLS handshake (certificate, protocol).
    Tls,
    /// The HTTP exchange.
    Http,
}

impl NetStep {
    /// Its name as summaries show it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            NetStep::Dns => "DNS",
            NetStep::Tcp => "TCP",
            NetStep::Tls => "TLS",
            NetStep::Http => "HTTP",
        }
    }
}

/// What `/metadata` answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum MetadataAnswer {
    /// An HTTP answer.
    Http {
        /// Status code.
        http_status: u16,
        /// The body is a FHIR `CapabilityStatement`.
        capability_statement: bool,
        /// Why the body is not one (`not JSON: ...`, `resourceType X`), when it is not.
        #[serde(skip_serializing_if = "Option::is_none")]
        body_problem: Option<String>,
        /// `fhirVersion` of the statement.
        #[serde(skip_serializing_if = "Option::is_none")]
        fhir_version: Option<String>,
        /// `software.name` and `software.version` of the statement.
        #[serde(skip_serializing_if = "Option::is_none")]
        software: Option<String>,
    },
    /// A step failed.
    Failed {
        /// The step.
        step: NetStep,
        /// Why, in a few words.
        cause: String,
    },
    /// A step got no answer in time.
    Hung {
        /// The step.
        step: NetStep,
        /// The probe's timer.
        hung: Hung,
    },
}

/// The `/metadata` probe's facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataProbe {
    /// The URL probed (credentials redacted).
    pub url: String,
    /// An API key was sent.
    pub key_sent: bool,
    /// The proxy the request went through (credentials redacted), if any: DNS and TCP are then
    /// the proxy's, not probed from here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// The address the name resolved to (direct connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Name resolution time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_ms: Option<f64>,
    /// TCP connection time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_ms: Option<f64>,
    /// Time of the HTTPS request (connection, TLS, answer), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_ms: Option<f64>,
    /// What came back.
    #[serde(flatten)]
    pub answer: MetadataAnswer,
}

/// Probes `<base>/metadata` within `timeout`: DNS, then TCP (both skipped when `proxy` carries
/// the request), then the HTTPS request with the key; each failure is named by its step.
pub async fn probe_metadata(
    api: &Api,
    client: &reqwest::Client,
    proxy: Option<&reqwest::Url>,
    timeout: Duration,
    lang: Lang,
) -> MetadataProbe {
    let url = api.url("metadata");
    let deadline = Deadline::after(timeout);
    let mut p = MetadataProbe {
        url: redact_url(&url),
        key_sent: api.key.is_some(),
        proxy: proxy.map(|u| redact_url(u.as_str())),
        address: None,
        dns_ms: None,
        tcp_ms: None,
        http_ms: None,
        answer: MetadataAnswer::Failed {
            step: NetStep::Http,
            cause: String::new(),
        },
    };
    let parsed = match reqwest::Url::parse(&url) {
        Ok(u) => u,
        Err(e) => {
            p.answer = MetadataAnswer::Failed {
                step: NetStep::Http,
                cause: e.to_string(),
            };
            return p;
        }
    };
    if proxy.is_none() {
        if let Err(answer) = direct_steps(&parsed, &deadline, &mut p, lang).await {
            p.answer = answer;
            return p;
        }
    }
    let https = parsed.scheme() == "https";
    let start = Instant::now();
    let result = get_bounded(client, &url, deadline.remaining(), METADATA_READ_LIMIT).await;
    p.http_ms = Some(crate::checks::elapsed_ms(start));
    p.answer = match result {
        Ok(got) => read_metadata(got.status.as_u16(), &got.body, got.truncated),
        Err(Failure::NoAnswer(h)) => {
            let step = match h.step {
                Phase::HttpsConnect | Phase::TlsHandshake if proxy.is_none() => NetStep::Tls,
                Phase::Connect | Phase::HttpsConnect if proxy.is_some() => NetStep::Tcp,
                _ => NetStep::Http,
            };
            MetadataAnswer::Hung {
                step,
                hung: Hung {
                    timeout_secs: timeout.as_secs_f64(),
                    ..h
                },
            }
        }
        Err(Failure::Transport(e)) => {
            let step = if crate::http::tls_failure(&e).is_some()
                || (https && e.is_connect() && proxy.is_none())
            {
                NetStep::Tls
            } else if e.is_connect() {
                NetStep::Tcp
            } else {
                NetStep::Http
            };
            MetadataAnswer::Failed {
                step,
                cause: transport_cause(lang, &e),
            }
        }
    };
    p
}

/// Resolves the host and opens a TCP connection (then closes it), recording both times.
async fn direct_steps(
    url: &reqwest::Url,
    deadline: &Deadline,
    p: &mut MetadataProbe,
    lang: Lang,
) -> Result<(), MetadataAnswer> {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let start = Instant::now();
    let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => match deadline
            .step(
                Phase::AddressLookup,
                tokio::net::lookup_host((host.as_str(), port)),
            )
            .await
        {
            Err(hung) => {
                return Err(MetadataAnswer::Hung {
                    step: NetStep::Dns,
                    hung,
                })
            }
            Ok(Err(e)) => {
                let cause = tr!(
                    lang,
                    "cannot resolve {host}: {e}",
                    "impossible de résoudre {host} : {e}"
                );
                return Err(MetadataAnswer::Failed {
                    step: NetStep::Dns,
                    cause,
                });
            }
            Ok(Ok(a)) => {
                p.dns_ms = Some(crate::checks::elapsed_ms(start));
                a.collect()
            }
        },
    };
    let Some(addr) = addrs.first().copied() else {
        return Err(MetadataAnswer::Failed {
            step: NetStep::Dns,
            cause: tr!(lang, "{host} has no address", "{host} n'a pas d'adresse"),
        });
    };
    p.address = Some(addr.to_string());
    let start = Instant::now();
    match deadline
        .step(Phase::Connect, tokio::net::TcpStream::connect(addr))
        .await
    {
        Err(hung) => Err(MetadataAnswer::Hung {
            step: NetStep::Tcp,
            hung,
        }),
        Ok(Err(e)) => Err(MetadataAnswer::Failed {
            step: NetStep::Tcp,
            cause: format!("{addr}: {}", crate::probe::io_cause(lang, &e)),
        }),
        Ok(Ok(_stream)) => {
            p.tcp_ms = Some(crate::checks::elapsed_ms(start));
            Ok(())
        }
    }
}

/// Reads a `/metadata` answer.
fn read_metadata(http_status: u16, body: &[u8], truncated: bool) -> MetadataAnswer {
    #[derive(Deserialize)]
    struct Software {
        name: Option<String>,
        version: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Capability {
        resource_type: Option<String>,
        fhir_version: Option<String>,
        software: Option<Software>,
    }
    let mut a = MetadataAnswer::Http {
        http_status,
        capability_statement: false,
        body_problem: None,
        fhir_version: None,
        software: None,
    };
    let MetadataAnswer::Http {
        capability_statement,
        body_problem,
        fhir_version,
        software,
        ..
    } = &mut a
    else {
        return a;
    };
    if truncated {
        *body_problem = Some(format!("larger than {METADATA_READ_LIMIT} bytes"));
        return a;
    }
    match serde_json::from_slice::<Capability>(body) {
        Err(e) => *body_problem = Some(format!("not JSON: {e}")),
        Ok(c) if c.resource_type.as_deref() == Some("CapabilityStatement") => {
            *capability_statement = true;
            *fhir_version = c.fhir_version;
            *software = c.software.map(|s| {
                [s.name, s.version]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        }
        Ok(c) => {
            *body_problem = Some(format!(
                "resourceType {}",
                c.resource_type.as_deref().unwrap_or("missing")
            ))
        }
    }
    a
}

/// Reads `data` as a `/metadata` answer and as a search page (Bundle, its BALs, its `next`
/// link), as the client does with a body it fetched (the `fhir` fuzz target). Never panics.
#[doc(hidden)]
pub fn exercise(data: &[u8]) {
    let _ = read_metadata(200, data, false);
    let Ok(bundle) = serde_json::from_slice::<Bundle>(data) else {
        return;
    };
    let domains = ["mssante.test".to_owned(), "mssante.example.fr".to_owned()];
    let (mut bals, mut tally) = (Vec::new(), Tally::default());
    for r in bundle.entry.iter().filter_map(|e| e.resource.as_ref()) {
        resource_bals(r, &domains, &mut bals, &mut tally);
    }
    let _ = bals.iter().map(|b| format!("{b:?}")).count();
    if let Some(link) = bundle.link.iter().find(|l| l.relation == "next") {
        let _ = reqwest::Url::parse("https://gateway.api.esante.gouv.fr/fhir/v2/Practitioner")
            .and_then(|u| u.join(&link.url));
    }
}

// ---- The paged search of BALs ----

/// A FHIR Bundle page, as far as the search reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// Must be `Bundle`.
    pub resource_type: String,
    /// Paging links.
    #[serde(default)]
    pub link: Vec<BundleLink>,
    /// The resources.
    #[serde(default)]
    pub entry: Vec<BundleEntry>,
}

/// A Bundle link (`self`, `next`...).
#[derive(Debug, Deserialize)]
pub struct BundleLink {
    /// `next`, `self`...
    pub relation: String,
    /// Its URL.
    pub url: String,
}

/// A Bundle entry.
#[derive(Debug, Deserialize)]
pub struct BundleEntry {
    /// The resource, if any.
    pub resource: Option<Resource>,
}

/// A Practitioner, PractitionerRole or Organization, as far as BALs go.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Its type.
    pub resource_type: String,
    /// Its contact points.
    #[serde(default)]
    pub telecom: Vec<ContactPoint>,
    /// Its extensions (the legacy `MailboxMSS`).
    #[serde(default)]
    pub extension: Vec<Extension>,
}

/// A FHIR ContactPoint.
#[derive(Debug, Deserialize)]
pub struct ContactPoint {
    /// `email`, `phone`...
    pub system: Option<String>,
    /// The address.
    pub value: Option<String>,
    /// Its extensions (e-mail type, mailbox metadata).
    #[serde(default)]
    pub extension: Vec<Extension>,
}

/// A FHIR extension, with the value types the Annuaire uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// Its URL (or sub-extension name).
    pub url: String,
    /// Sub-extensions.
    #[serde(default)]
    pub extension: Vec<Extension>,
    /// `valueBoolean`.
    pub value_boolean: Option<bool>,
    /// `valueString`.
    pub value_string: Option<String>,
    /// `valueCode`.
    pub value_code: Option<String>,
    /// `valueCoding`.
    pub value_coding: Option<Coding>,
    /// `valueCodeableConcept`.
    pub value_codeable_concept: Option<CodeableConcept>,
}

/// A FHIR Coding.
#[derive(Debug, Deserialize)]
pub struct Coding {
    /// Code system.
    pub system: Option<String>,
    /// Code.
    pub code: Option<String>,
}

/// A FHIR CodeableConcept.
#[derive(Debug, Deserialize)]
pub struct CodeableConcept {
    /// Its codings.
    #[serde(default)]
    pub coding: Vec<Coding>,
}

impl Extension {
    /// A sub-extension by name.
    fn sub(&self, name: &str) -> Option<&Extension> {
        self.extension.iter().find(|e| e.url == name)
    }

    /// The value as a code: `valueCode`, `valueString`, `valueCoding.code` or the first code of
    /// `valueCodeableConcept`.
    fn code(&self) -> Option<&str> {
        self.value_code
            .as_deref()
            .or(self.value_string.as_deref())
            .or_else(|| self.value_coding.as_ref().and_then(|c| c.code.as_deref()))
            .or_else(|| {
                self.value_codeable_concept
                    .as_ref()
                    .and_then(|c| c.coding.iter().find_map(|c| c.code.as_deref()))
            })
    }

    /// The unlisted flag of a metadata extension: `listeRouge`, else the older `publication`.
    fn unlisted(&self) -> bool {
        self.sub("listeRouge")
            .or_else(|| self.sub("publication"))
            .and_then(|e| e.value_boolean)
            .unwrap_or(false)
    }
}

/// One published BAL. An unlisted one's address is for reconciliation only: never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Bal {
    /// The address, lower case.
    pub address: String,
    /// BAL type (PER, ORG, APP, CAB), upper case, when published.
    pub bal_type: Option<String>,
    /// Unlisted (`listeRouge`): counted, never printed.
    pub unlisted: bool,
    /// The resource type that carries it.
    pub resource: &'static str,
}

impl std::fmt::Debug for Bal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.unlisted {
            "[UNLISTED]"
        } else {
            self.address.as_str()
        };
        f.debug_struct("Bal")
            .field("address", &shown)
            .field("bal_type", &self.bal_type)
            .field("unlisted", &self.unlisted)
            .finish()
    }
}

/// What the BALs of a page were, beside the BALs themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Resources read.
    pub resources: u64,
    /// Ordinary (non-MSSanté) e-mails, ignored.
    pub ordinary_emails: u64,
    /// MSSanté addresses of other domains, ignored.
    pub other_domains: u64,
}

/// Whether `address` belongs to one of `domains` (lower case, without `@`).
#[must_use]
pub fn in_domains(address: &str, domains: &[String]) -> bool {
    address
        .rsplit_once('@')
        .is_some_and(|(_, d)| domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
}

/// The BALs of one resource for `domains`: MSSANTE telecoms and the legacy extension.
pub fn resource_bals(r: &Resource, domains: &[String], out: &mut Vec<Bal>, tally: &mut Tally) {
    let Some(kind) = RESOURCE_TYPES
        .iter()
        .copied()
        .find(|t| *t == r.resource_type)
    else {
        return;
    };
    tally.resources += 1;
    let mut push = |address: &str, bal_type: Option<&str>, unlisted: bool, tally: &mut Tally| {
        let address = address.trim().to_ascii_lowercase();
        if !in_domains(&address, domains) {
            tally.other_domains += 1;
            return;
        }
        out.push(Bal {
            address,
            bal_type: bal_type.map(|t| t.trim().to_ascii_uppercase()),
            unlisted,
            resource: kind,
        });
    };
    for t in &r.telecom {
        let Some(value) = t.value.as_deref() else {
            continue;
        };
        if t.system.as_deref().is_some_and(|s| s != "email") {
            continue;
        }
        let mssante = t
            .extension
            .iter()
            .any(|e| e.url == EMAIL_TYPE_EXTENSION && e.code() == Some(MSSANTE_CODE));
        if !mssante {
            tally.ordinary_emails += 1;
            continue;
        }
        let meta = t.extension.iter().find(|e| e.url == METADATA_EXTENSION);
        push(
            value,
            meta.and_then(|m| m.sub("type")).and_then(Extension::code),
            meta.is_some_and(Extension::unlisted),
            tally,
        );
    }
    for legacy in r.extension.iter().filter(|e| e.url == LEGACY_EXTENSION) {
        if let Some(value) = legacy.sub("value").and_then(Extension::code) {
            push(
                value,
                legacy.sub("type").and_then(Extension::code),
                legacy.unlisted(),
                tally,
            );
        }
    }
}

/// Bounds of one search.
#[derive(Debug, Clone, Copy)]
pub struct SearchBounds {
    /// `_count` asked for.
    pub page_size: u32,
    /// Most pages read, all searches together.
    pub max_pages: u32,
    /// Most bytes read of one page.
    pub page_bytes: usize,
    /// Longest time for every page (each request also within the step timeout).
    pub budget: Duration,
    /// The step timeout of one request.
    pub request_timeout: Duration,
    /// Most BALs kept (a hostile server's flood of pages ends here, not in memory).
    pub max_bals: usize,
}

/// Every BAL published for the domains.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The BALs, in the order read (duplicates kept).
    pub bals: Vec<Bal>,
    /// Pages read.
    pub pages: u32,
    /// Bytes read.
    pub bytes: u64,
    /// What else was read.
    pub tally: Tally,
    /// Time of the whole search, ms.
    pub fetch_ms: f64,
}

/// Why the search could not list every BAL.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SearchFailure {
    /// The CA bundle or the key made the client unusable.
    Client {
        /// Why.
        cause: String,
    },
    /// A page answered a non-2xx status.
    Status {
        /// The page's URL (redacted).
        url: String,
        /// Its status.
        http_status: u16,
    },
    /// A page's request failed.
    Transport {
        /// The page's URL (redacted).
        url: String,
        /// Why, in a few words.
        cause: String,
    },
    /// A page did not come in time.
    Hung {
        /// The page's URL (redacted).
        url: String,
        /// The step.
        hung: Hung,
    },
    /// A page is not a FHIR Bundle.
    NotBundle {
        /// The page's URL (redacted).
        url: String,
        /// Why.
        cause: String,
    },
    /// A page is larger than the bound.
    TooLarge {
        /// The page's URL (redacted).
        url: String,
        /// The bound, bytes.
        limit: usize,
    },
    /// More pages than the bound.
    TooManyPages {
        /// The bound.
        max_pages: u32,
    },
    /// More BALs than the bound.
    TooManyBals {
        /// The bound.
        max_bals: usize,
    },
    /// The search did not end within its time budget.
    OutOfTime {
        /// The budget, seconds.
        budget_secs: f64,
        /// Pages read by then.
        pages: u32,
    },
    /// A `next` link leads to another server, or back to a page already read.
    BadNextLink {
        /// The link (redacted).
        url: String,
    },
}

impl SearchFailure {
    /// One line, for summaries.
    #[must_use]
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            SearchFailure::Client { cause } => cause.clone(),
            SearchFailure::Status {
                url,
                http_status: c @ 401,
            } => tr!(
                lang,
                "{url}: HTTP {c} (API key missing or refused)",
                "{url} : HTTP {c} (clé d'API absente ou refusée)"
            ),
            SearchFailure::Status {
                url,
                http_status: c @ 403,
            } => tr!(
                lang,
                "{url}: HTTP {c} (API key not allowed)",
                "{url} : HTTP {c} (clé d'API non autorisée)"
            ),
            SearchFailure::Status {
                url,
                http_status: c,
            } => tr!(lang, "{url}: HTTP {c}", "{url} : HTTP {c}"),
            SearchFailure::Transport { url, cause } => format!("{url}: {cause}"),
            SearchFailure::Hung { url, hung } => hung.describe(lang, url),
            SearchFailure::NotBundle { url, cause } => tr!(
                lang,
                "{url}: not a FHIR Bundle ({cause})",
                "{url} : pas un Bundle FHIR ({cause})"
            ),
            SearchFailure::TooLarge { url, limit } => tr!(
                lang,
                "{url}: page larger than {limit} bytes",
                "{url} : page de plus de {limit} octets"
            ),
            SearchFailure::TooManyPages { max_pages } => tr!(
                lang,
                "more than {max_pages} pages of results",
                "plus de {max_pages} pages de résultats"
            ),
            SearchFailure::TooManyBals { max_bals } => tr!(
                lang,
                "more than {max_bals} BALs published",
                "plus de {max_bals} BAL publiées"
            ),
            SearchFailure::OutOfTime { budget_secs, pages } => {
                tr!(
                    lang,
                    "search not complete within {budget_secs} s ({pages} pages read)",
                    "recherche inachevée en {budget_secs} s ({pages} pages lues)"
                )
            }
            SearchFailure::BadNextLink { url } => {
                tr!(
                    lang,
                    "a next link leads elsewhere or back: {url}",
                    "un lien next mène ailleurs ou en arrière : {url}"
                )
            }
        }
    }
}

/// The first page of one search: `<base>/<Type>?mailbox-mss:contains=@<domain>&_count=<n>`.
#[must_use]
pub fn search_url(api: &Api, resource: &str, domain: &str, page_size: u32) -> String {
    let mut u = api.url(resource);
    u.push_str("?mailbox-mss:contains=");
    u.push_str(&url_encode(&format!("@{domain}")));
    u.push_str(&format!("&_count={page_size}"));
    u
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Lists every BAL published for `domains`: each resource type, each domain, following the
/// `next` links (same origin as the base URL only, never a page twice), within `bounds`.
///
/// # Errors
/// The first page that could not be read, or the bound that was reached.
pub async fn search_mailboxes(
    api: &Api,
    client: &reqwest::Client,
    domains: &[String],
    bounds: SearchBounds,
    lang: Lang,
) -> Result<Published, SearchFailure> {
    let start = Instant::now();
    let origin = reqwest::Url::parse(&api.base)
        .map(|u| u.origin())
        .map_err(|e| SearchFailure::Client {
            cause: e.to_string(),
        })?;
    let mut out = Published::default();
    let mut seen: HashSet<String> = HashSet::new();
    let out_of_time = |pages| SearchFailure::OutOfTime {
        budget_secs: bounds.budget.as_secs_f64(),
        pages,
    };
    for domain in domains {
        for resource in RESOURCE_TYPES {
            let mut next = Some(search_url(api, resource, domain, bounds.page_size));
            while let Some(url) = next.take() {
                if out.pages >= bounds.max_pages {
                    return Err(SearchFailure::TooManyPages {
                        max_pages: bounds.max_pages,
                    });
                }
                let left = bounds.budget.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(out_of_time(out.pages));
                }
                let shown = redact_url(&url);
                let timeout = left.min(bounds.request_timeout);
                let got = match get_bounded(client, &url, timeout, bounds.page_bytes).await {
                    Ok(g) => g,
                    Err(Failure::NoAnswer(_)) if timeout < bounds.request_timeout => {
                        return Err(out_of_time(out.pages))
                    }
                    Err(Failure::NoAnswer(hung)) => {
                        return Err(SearchFailure::Hung { url: shown, hung })
                    }
                    Err(Failure::Transport(e)) => {
                        return Err(SearchFailure::Transport {
                            url: shown,
                            cause: transport_cause(lang, &e),
                        })
                    }
                };
                out.pages += 1;
                out.bytes += got.body.len() as u64;
                if !got.status.is_success() {
                    return Err(SearchFailure::Status {
                        url: shown,
                        http_status: got.status.as_u16(),
                    });
                }
                if got.truncated {
                    return Err(SearchFailure::TooLarge {
                        url: shown,
                        limit: bounds.page_bytes,
                    });
                }
                let bundle: Bundle =
                    serde_json::from_slice(&got.body).map_err(|e| SearchFailure::NotBundle {
                        url: shown.clone(),
                        cause: e.to_string(),
                    })?;
                if bundle.resource_type != "Bundle" {
                    return Err(SearchFailure::NotBundle {
                        url: shown,
                        cause: format!("resourceType {}", bundle.resource_type),
                    });
                }
                seen.insert(url);
                for r in bundle.entry.iter().filter_map(|e| e.resource.as_ref()) {
                    resource_bals(r, domains, &mut out.bals, &mut out.tally);
                }
                if out.bals.len() > bounds.max_bals {
                    return Err(SearchFailure::TooManyBals {
                        max_bals: bounds.max_bals,
                    });
                }
                if let Some(link) = bundle.link.into_iter().find(|l| l.relation == "next") {
                    let joined =
                        reqwest::Url::parse(got.url.as_ref()).and_then(|u| u.join(&link.url));
                    match joined {
                        Ok(u) if u.origin() == origin && !seen.contains(u.as_str()) => {
                            next = Some(u.to_string())
                        }
                        _ => {
                            return Err(SearchFailure::BadNextLink {
                                url: redact_url(&link.url),
                            })
                        }
                    }
                }
            }
        }
    }
    out.fetch_ms = crate::checks::elapsed_ms(start);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(json: &str) -> Vec<Bal> {
        let b: Bundle = serde_json::from_str(json).expect("bundle");
        let (mut out, mut t) = (Vec::new(), Tally::default());
        for r in b.entry.iter().filter_map(|e| e.resource.as_ref()) {
            resource_bals(r, &["mssante.test".to_owned()], &mut out, &mut t);
        }
        out
    }

    #[test]
    fn bals_are_told_from_ordinary_emails() {
        let json = format!(
            r#"{{"resourceType":"Bundle","entry":[{{"resource":{{"resourceType":"Practitioner","telecom":[
              {{"system":"email","value":"Dr1@MSSante.test","extension":[
                {{"url":"{EMAIL_TYPE_EXTENSION}","valueCoding":{{"code":"MSSANTE"}}}},
                {{"url":"{METADATA_EXTENSION}","extension":[{{"url":"type","valueCodeableConcept":{{"coding":[{{"code":"PER"}}]}}}},{{"url":"listeRouge","valueBoolean":false}}]}}]}},
              {{"system":"email","value":"contact@mssante.test"}},
              {{"system":"phone","value":"0102030405"}},
              {{"system":"email","value":"x@other.test","extension":[{{"url":"{EMAIL_TYPE_EXTENSION}","valueCoding":{{"code":"MSSANTE"}}}}]}},
              {{"system":"email","value":"red@mssante.test","extension":[{{"url":"{EMAIL_TYPE_EXTENSION}","valueCoding":{{"code":"MSSANTE"}}}},
                {{"url":"{METADATA_EXTENSION}","extension":[{{"url":"publication","valueBoolean":true}}]}}]}}],
              "extension":[{{"url":"{LEGACY_EXTENSION}","extension":[{{"url":"value","valueString":"old@mssante.test"}},{{"url":"type","valueString":"cab"}}]}}]}}}},
              {{"resource":{{"resourceType":"OperationOutcome"}}}}]}}"#
        );
        let bals = page(&json);
        assert_eq!(bals.len(), 3, "{bals:?}");
        assert_eq!(
            (
                bals[0].address.as_str(),
                bals[0].bal_type.as_deref(),
                bals[0].unlisted
            ),
            ("dr1@mssante.test", Some("PER"), false)
        );
        assert!(bals[1].unlisted && bals[1].bal_type.is_none());
        assert!(
            !format!("{:?}", bals[1]).contains("red@"),
            "an unlisted address is never shown"
        );
        assert_eq!(
            (bals[2].address.as_str(), bals[2].bal_type.as_deref()),
            ("old@mssante.test", Some("CAB"))
        );
    }

    #[test]
    fn search_urls_are_encoded() {
        let api = Api {
            base: "https://h/fhir/v2/".into(),
            key: None,
            ca_bundle: None,
        };
        assert_eq!(
            search_url(&api, "Organization", "mssante.test", 50),
            "https://h/fhir/v2/Organization?mailbox-mss:contains=%40mssante.test&_count=50"
        );
        assert!(
            in_domains("a@MSSANTE.test", &["mssante.test".into()])
                && !in_domains("a@x.mssante.test", &["mssante.test".into()])
        );
    }

    #[test]
    fn metadata_bodies_are_judged() {
        let ok = read_metadata(200, br#"{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","software":{"name":"HAPI","version":"7"}}"#, false);
        assert!(
            matches!(ok, MetadataAnswer::Http { capability_statement: true, ref software, .. } if software.as_deref() == Some("HAPI 7"))
        );
        let bad = read_metadata(200, b"<html>", false);
        assert!(
            matches!(bad, MetadataAnswer::Http { capability_statement: false, body_problem: Some(ref p), .. } if p.starts_with("not JSON"))
        );
    }
}
