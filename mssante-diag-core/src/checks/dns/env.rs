//! What every `dns.*` check of a run shares: the settings, a plain and a validating resolver
//! and the MTA-STS HTTPS client (built once per run, or once per `mssante-diag dns` audit for
//! all its domains: one cache), the timeout and language; and the pieces of judgement they
//! share (a lookup that failed, a record to publish, several domains folded into one result).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use tokio::sync::OnceCell;

use super::Settings;
use crate::checks::Outcome;
use crate::config::Config;
use crate::model::{Remedy, Status};
use crate::resolver::{self, LookupError};
use crate::{tr, Lang};

/// The resolvers and settings of a run's `dns.*` checks.
pub struct Env {
    /// `[dns]`.
    pub settings: Settings,
    /// Resolver of the configured nameservers.
    pub plain: TokioResolver,
    /// Validating resolver (DNSSEC) of the same nameservers, or why there is none.
    pub secure: Result<TokioResolver, String>,
    /// Step timeout.
    pub timeout: Duration,
    /// Language of messages.
    pub lang: Lang,
    /// The project folder (relative paths of `[dns]` start there).
    pub project_dir: PathBuf,
    /// The MTA-STS policy client, built on first use, shared with [`Env::sharing`] copies.
    http: Arc<OnceCell<Result<reqwest::Client, String>>>,
    /// The run's proxy rules, followed by the MTA-STS policy client.
    proxies: crate::proxy::Proxies,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Env {
    /// The resolvers for a configuration.
    ///
    /// # Errors
    /// The system's resolver configuration could not be read, in a few words.
    pub fn new(config: &Config) -> Result<Self, String> {
        let s = config.dns.clone();
        let timeout = config.timeout();
        let plain = resolver::build(&s.nameservers, timeout)?;
        let anchors = s.trust_anchors.as_ref().map(|p| config.project_dir.join(p));
        let secure = resolver::build_validating(&s.nameservers, timeout, anchors.as_deref());
        let proxies = crate::proxy::Proxies::resolve(config);
        Ok(Self { settings: s, plain, secure, timeout, lang: config.lang, project_dir: config.project_dir.clone(), http: Arc::default(), proxies })
    }

    /// The environment of `config` with this one's resolvers (and their cache) and HTTPS
    /// client: for runs that differ from this one's only by their domains (the audit of many
    /// domains), so that shared names (SPF includes, blocklists, MX hosts) are asked once.
    #[must_use]
    pub fn sharing(&self, config: &Config) -> Self {
        Self {
            settings: config.dns.clone(),
            plain: self.plain.clone(),
            secure: self.secure.clone(),
            timeout: config.timeout(),
            lang: config.lang,
            project_dir: config.project_dir.clone(),
            http: self.http.clone(),
            proxies: self.proxies.clone(),
        }
    }

    /// The HTTPS client of MTA-STS policy fetches: names resolved by [`Env::plain`] (by the
    /// proxy when the run's proxy rules send the request through one), the configured CA bundle
    /// (else the public roots), no redirect, no idle connection kept; built once.
    ///
    /// # Errors
    /// The CA bundle could not be read or the TLS stack set up, in a few words.
    pub async fn http(&self) -> Result<reqwest::Client, String> {
        self.http.get_or_init(|| async { self.build_http() }).await.clone()
    }

    fn build_http(&self) -> Result<reqwest::Client, String> {
        let mut b = crate::http::client_builder(self.timeout, &self.proxies)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .dns_resolver(Arc::new(resolver::ForHttp(self.plain.clone())));
        if let Some(bundle) = &self.settings.ca_bundle {
            let pem = std::fs::read(self.path(bundle)).map_err(|e| format!("{}: {e}", bundle.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("{}: {e}", bundle.display()))?;
            b = b.tls_built_in_root_certs(false);
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        b.build().map_err(|e| e.to_string())
    }

    /// A path of `[dns]` resolved against the project folder.
    #[must_use]
    pub fn path(&self, p: &std::path::Path) -> PathBuf {
        self.project_dir.join(p)
    }

    /// The addresses the platform sends from for `domain`: the configured ones, else the
    /// addresses of the domain's MX hosts (empty when none resolves).
    pub async fn addresses_for(&self, domain: &str) -> Result<Vec<IpAddr>, LookupError> {
        if !self.settings.addresses.is_empty() {
            return Ok(self.settings.addresses.clone());
        }
        let mx = match resolver::mx(&self.plain, domain).await {
            Ok(mx) => mx,
            Err(e) if e.is_empty_answer() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for m in mx.iter().filter(|m| !m.is_null()).take(10) {
            match resolver::addresses(&self.plain, &m.exchange).await {
                Ok(ips) => {
                    for ip in ips {
                        if !out.contains(&ip) {
                            out.push(ip);
                        }
                    }
                }
                Err(e) if e.is_empty_answer() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// Per-run state of the `dns.*` checks: the [`Env`], built on first use.
#[derive(Debug, Default)]
pub struct State(OnceCell<Result<Arc<Env>, String>>);

impl State {
    /// The run's environment, built on first use.
    ///
    /// # Errors
    /// Why the resolvers could not be built.
    pub async fn env(&self, config: &Config) -> Result<Arc<Env>, String> {
        self.0.get_or_init(|| async { Env::new(config).map(Arc::new) }).await.clone()
    }

    /// A state already holding `env` (a run sharing another's resolvers, see [`Env::sharing`]).
    #[must_use]
    pub fn with(env: Arc<Env>) -> Self {
        Self(OnceCell::new_with(Some(Ok(env))))
    }
}

/// A lookup of `what` that gave no usable answer, when an empty answer is not the point:
/// silence or a server error leave the check `unknown`.
#[must_use]
pub fn lookup_failed(what: &str, e: &LookupError, lang: Lang) -> Outcome {
    let why = e.describe(lang);
    Outcome::unknown(tr!(lang, "{what}: {why}", "{what} : {why}")).details(serde_json::json!({ "query": what, "error": e }))
}

/// A remedy step: publish `record` (zone-file syntax), per `guide`.
#[must_use]
pub fn publish(lang: Lang, en: &str, fr: &str, record: String, guide: &str) -> Remedy {
    Remedy { text: lang.pick(en, fr).to_owned(), command: Some(record), guide: guide.to_owned(), destructive: false }
}

/// The outcomes of several domains as one: the worst status, each summary prefixed by its
/// domain, details by domain, metrics labelled with it.
#[must_use]
pub fn fold(mut parts: Vec<(String, Outcome)>) -> Outcome {
    if parts.len() == 1 {
        if let Some((_, o)) = parts.pop() {
            return o;
        }
    }
    let status = parts.iter().fold(Status::Skipped, |s, (_, o)| s.worst(o.status));
    let summary = parts.iter().map(|(d, o)| format!("{d}: {}", o.summary)).collect::<Vec<_>>().join("; ");
    let mut out = Outcome::new(status, summary);
    let mut details = serde_json::Map::new();
    for (d, o) in parts {
        for m in o.metrics {
            out.metrics.push(m.label("domain", d.clone()));
        }
        for r in o.remediation {
            if !out.remediation.contains(&r) {
                out.remediation.push(r);
            }
        }
        details.insert(d, o.details);
    }
    out.details = serde_json::Value::Object(details);
    out
}

/// `ip` as an SPF mechanism (`ip4:192.0.2.1`, `ip6:2001:db8::1`).
#[must_use]
pub fn spf_term(ip: IpAddr) -> String {
    if ip.is_ipv4() {
        format!("ip4:{ip}")
    } else {
        format!("ip6:{ip}")
    }
}
