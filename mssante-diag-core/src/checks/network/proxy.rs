//! `network.proxy`: the proxy variables in force, which way each external endpoint of the
//! platform goes (proxy or direct, per `NO_PROXY`), whether the proxy answers, and which
//! endpoints it lets through (`CONNECT host:443` answered 200, or 403/407/5xx/no answer).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::checks::{elapsed_ms, Ctx, Outcome};
use crate::config::{redact_url, Config};
use crate::lang::Lang;
use crate::model::Metric;
use crate::probe::{Deadline, Hung, Phase};
use crate::proxy::{Proxies, Route, Variable};
use crate::tr;

/// An external endpoint of the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// What it is (`Pro Santé Connect`, `espace de confiance`...).
    pub name: String,
    /// Its URL (credentials redacted when shown; kept here to be reached).
    #[serde(serialize_with = "serialize_redacted")]
    pub url: String,
}

fn serialize_redacted<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

/// The platform's external endpoints a configuration names: the Annuaire Santé API, Pro Santé
/// Connect's issuer (when `auth.psc` runs), the whitelist's URL (when it is one) and
/// `[network] endpoints`.
#[must_use]
pub fn external_endpoints(config: &Config) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if config.annuaire.enabled {
        out.push(Endpoint { name: "Annuaire Santé".into(), url: config.annuaire.url.clone() });
    }
    if config.auth.psc {
        out.push(Endpoint { name: "Pro Santé Connect".into(), url: config.auth.issuer.clone() });
    }
    if config.mssante.whitelist.contains("://") {
        out.push(Endpoint { name: "espace de confiance".into(), url: config.mssante.whitelist.clone() });
    }
    for url in &config.network.endpoints {
        out.push(Endpoint { name: crate::config::redact_url(url), url: url.clone() });
    }
    out.retain(|e| reqwest::Url::parse(&e.url).is_ok_and(|u| u.host_str().is_some()));
    out
}

/// What a probe of one endpoint found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reach {
    /// Reached: the proxy answered 200 to CONNECT, or the direct TCP connection was made.
    Reached,
    /// The proxy answered with a refusal (403 filtered, 407 authentication, 502/503/504 ...).
    Refused {
        /// Its HTTP status.
        http_status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The proxy (or the endpoint, when direct) could not be reached, or spoke no HTTP.
    Failed {
        /// In a few words.
        cause: String,
    },
    /// A step got no answer in time.
    Hung {
        /// The step.
        step: Phase,
        /// The timeout, seconds.
        timeout_secs: f64,
    },
}

/// One endpoint: its route and what its probe found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointReach {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// `proxy`, `direct` (no proxy for its scheme) or `no_proxy` (listed in `NO_PROXY`).
    pub route: &'static str,
    /// The `NO_PROXY` entry that names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_proxy_entry: Option<String>,
    /// The proxy used (credentials redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// What the probe found.
    #[serde(flatten)]
    pub reach: Reach,
    /// Time of the probe, ms.
    pub latency_ms: f64,
}

/// A proxy and whether it accepts TCP connections.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyReach {
    /// Its URL (credentials redacted).
    pub proxy: String,
    /// What the TCP connection (and TLS for an `https://` proxy) found.
    #[serde(flatten)]
    pub reach: Reach,
    /// Connection time, ms.
    pub latency_ms: f64,
}

/// What `network.proxy` gathers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyFacts {
    /// The proxy variables found (values redacted).
    pub variables: Vec<Variable>,
    /// Values that could not be used.
    pub invalid: Vec<crate::proxy::Invalid>,
    /// Each proxy in use.
    pub proxies: Vec<ProxyReach>,
    /// Each external endpoint.
    pub endpoints: Vec<EndpointReach>,
}

/// Longest status line or header line read from a proxy.
const LINE_LIMIT: usize = 4096;
/// Most header lines read after a proxy's status line.
const MAX_HEADER_LINES: usize = 100;

/// `host:port` of a URL (default port of its scheme).
fn authority(url: &reqwest::Url) -> Option<(String, u16)> {
    let host = url.host_str()?;
    Some((host.to_owned(), url.port_or_known_default()?))
}

/// A connection to `host:port`, TLS when `tls` (the certificate is not judged: trust is
/// `tls.*`'s business).
async fn connect(host: &str, port: u16, tls: bool, deadline: &Deadline, lang: Lang) -> Result<Box<dyn Stream>, Reach> {
    let hung = |h: Hung| Reach::Hung { step: h.step, timeout_secs: h.timeout_secs };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = deadline
        .step(Phase::Connect, TcpStream::connect((bare, port)))
        .await
        .map_err(hung)?
        .map_err(|e| Reach::Failed { cause: crate::probe::io_cause(lang, &e) })?;
    if !tls {
        return Ok(Box::new(tcp));
    }
    let tls = deadline
        .step(Phase::TlsHandshake, crate::probe::tls_connector().connect(crate::probe::server_name(bare), tcp))
        .await
        .map_err(hung)?
        .map_err(|e| Reach::Failed { cause: tr!(lang, "TLS: {e}", "TLS : {e}") })?;
    Ok(Box::new(tls))
}

/// A byte stream (plain TCP or TLS).
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// `Basic` credentials of a proxy URL, if it has any.
fn proxy_authorization(proxy: &reqwest::Url) -> Option<String> {
    use base64::Engine as _;
    if proxy.username().is_empty() && proxy.password().is_none() {
        return None;
    }
    let pair = format!("{}:{}", percent_decode(proxy.username()), percent_decode(proxy.password().unwrap_or_default()));
    Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
}

/// `%XX` sequences decoded (userinfo of a URL).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A proxy URL with no host (a `[network] proxy` is validated: only a variable can be so).
fn no_host(lang: Lang) -> Reach {
    Reach::Failed { cause: tr!(lang, "proxy URL without a host", "URL de proxy sans hôte") }
}

/// Asks `proxy` to open a tunnel to `host:port` (`CONNECT`), within `timeout`: reached when it
/// answers 2xx, refused with its status otherwise.
pub async fn probe_connect(proxy: &reqwest::Url, host: &str, port: u16, timeout: std::time::Duration, lang: Lang) -> Reach {
    let deadline = Deadline::after(timeout);
    let Some((phost, pport)) = authority(proxy) else { return no_host(lang) };
    let mut stream = match connect(&phost, pport, proxy.scheme() == "https", &deadline, lang).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let target = if host.contains(':') && !host.starts_with('[') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: mssante-diag/{}\r\n", crate::VERSION);
    if let Some(auth) = proxy_authorization(proxy) {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    let answer = async {
        stream.write_all(request.as_bytes()).await?;
        let mut reader = BufReader::new(crate::probe::Bounded::new(stream, crate::probe::READ_BUDGET));
        let status = crate::probe::read_line(&mut reader, LINE_LIMIT).await?;
        // The headers, bounded, so that a proxy's answer is read whole before the tunnel closes.
        for _ in 0..MAX_HEADER_LINES {
            let line = crate::probe::read_line(&mut reader, LINE_LIMIT).await?;
            if line.is_empty() || line == b"\r\n" || line == b"\n" {
                break;
            }
        }
        Ok::<_, std::io::Error>(status)
    };
    let status = match deadline.step(Phase::HttpResponse, answer).await {
        Err(h) => return Reach::Hung { step: h.step, timeout_secs: h.timeout_secs },
        Ok(Err(e)) => return Reach::Failed { cause: crate::probe::io_cause(lang, &e) },
        Ok(Ok(s)) => s,
    };
    parse_status(&status, lang)
}

/// A proxy's status line (`HTTP/1.1 403 Filtered`) as a [`Reach`].
fn parse_status(line: &[u8], lang: Lang) -> Reach {
    let text = String::from_utf8_lossy(line);
    let mut parts = text.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(c) if version.starts_with("HTTP/") && (200..300).contains(&c) => Reach::Reached,
        Some(c) if version.starts_with("HTTP/") => Reach::Refused { http_status: c, reason: parts.next().unwrap_or_default().chars().take(100).collect() },
        _ if line.is_empty() => Reach::Failed { cause: tr!(lang, "connection closed by the proxy without an answer", "connexion fermée par le proxy sans réponse") },
        _ => {
            let bytes = crate::probe::show_bytes(line);
            Reach::Failed { cause: tr!(lang, "not an HTTP answer: {bytes}", "pas une réponse HTTP : {bytes}") }
        }
    }
}

/// A direct TCP connection to an endpoint, within `timeout`.
pub async fn probe_direct(host: &str, port: u16, timeout: std::time::Duration, lang: Lang) -> Reach {
    match connect(host, port, false, &Deadline::after(timeout), lang).await {
        Ok(_) => Reach::Reached,
        Err(r) => r,
    }
}

/// Gathers the facts: the rules of `proxies`, each proxy's reachability, and each endpoint
/// probed by its route (proxied ones by `CONNECT`, the others by a direct TCP connection).
pub async fn gather(proxies: &Proxies, endpoints: Vec<Endpoint>, timeout: std::time::Duration, lang: Lang) -> ProxyFacts {
    let routed: Vec<(Endpoint, Route)> = endpoints
        .into_iter()
        .map(|e| {
            let route = reqwest::Url::parse(&e.url).map_or(Route::Direct, |u| proxies.route(&u));
            (e, route)
        })
        .collect();
    // Each proxy once: can it be reached at all?
    let mut used: Vec<reqwest::Url> = Vec::new();
    for (_, r) in &routed {
        if let Route::Proxy(p) = r {
            if !used.contains(p) {
                used.push(p.clone());
            }
        }
    }
    let proxy_probes = used.iter().map(|p| async move {
        let start = Instant::now();
        let reach = match authority(p) {
            Some((h, port)) => match connect(&h, port, p.scheme() == "https", &Deadline::after(timeout), lang).await {
                Ok(_) => Reach::Reached,
                Err(r) => r,
            },
            None => no_host(lang),
        };
        ProxyReach { proxy: redact_url(p.as_str()), reach, latency_ms: elapsed_ms(start) }
    });
    let endpoint_probes = routed.into_iter().map(|(endpoint, route)| async move {
        let start = Instant::now();
        let url = reqwest::Url::parse(&endpoint.url).ok();
        let (host, port) = url.as_ref().and_then(authority).unwrap_or_default();
        let (name, entry, proxy, reach) = match &route {
            Route::Proxy(p) => ("proxy", None, Some(redact_url(p.as_str())), probe_connect(p, &host, port, timeout, lang).await),
            Route::Bypass(e) => ("no_proxy", Some(e.clone()), None, probe_direct(&host, port, timeout, lang).await),
            Route::Direct => ("direct", None, None, probe_direct(&host, port, timeout, lang).await),
        };
        EndpointReach { endpoint, route: name, no_proxy_entry: entry, proxy, reach, latency_ms: elapsed_ms(start) }
    });
    let (proxies_reach, endpoints) = futures::join!(futures::future::join_all(proxy_probes), futures::future::join_all(endpoint_probes));
    ProxyFacts { variables: proxies.variables.clone(), invalid: proxies.invalid.clone(), proxies: proxies_reach, endpoints }
}

/// What a probe found, in a few words.
fn describe(lang: Lang, r: &Reach) -> String {
    match r {
        Reach::Reached => tr!(lang, "reached", "joint"),
        Reach::Refused { http_status, reason } => match http_status {
            407 => tr!(lang, "HTTP 407: the proxy requires authentication", "HTTP 407 : le proxy exige une authentification"),
            403 => tr!(lang, "HTTP 403: refused by the proxy's filter", "HTTP 403 : refusé par le filtre du proxy"),
            502..=504 => tr!(lang, "HTTP {http_status}: the proxy could not reach it", "HTTP {http_status} : le proxy n'a pas pu le joindre"),
            _ => format!("HTTP {http_status} {reason}"),
        },
        Reach::Failed { cause } => cause.clone(),
        Reach::Hung { step, timeout_secs } => Hung { step: *step, timeout_secs: *timeout_secs }.describe(lang, &tr!(lang, "the proxy", "le proxy")),
    }
}

/// Judges the facts: an unusable variable, an unreachable proxy or an endpoint it does not let
/// through is critical (named); an endpoint unreachable without proxy is a warning (a proxy may
/// be required); everything reached is ok.
#[must_use]
pub fn evaluate_proxy(f: &ProxyFacts, lang: Lang) -> Outcome {
    let refused: Vec<&EndpointReach> = f.endpoints.iter().filter(|e| e.route == "proxy" && e.reach != Reach::Reached).collect();
    let direct_failed: Vec<&EndpointReach> = f.endpoints.iter().filter(|e| e.route != "proxy" && e.reach != Reach::Reached).collect();
    let down: Vec<&ProxyReach> = f.proxies.iter().filter(|p| p.reach != Reach::Reached).collect();
    let proxied = f.endpoints.iter().filter(|e| e.route == "proxy").count();
    let outcome = if let Some(bad) = f.invalid.first() {
        let (name, why) = (&bad.name, bad.problem.describe(lang));
        Outcome::critical(tr!(lang, "Unusable proxy setting {name}: {why}", "Réglage de proxy {name} inutilisable : {why}"))
    } else if let Some(p) = down.first() {
        let (url, why) = (&p.proxy, describe(lang, &p.reach));
        Outcome::critical(tr!(lang, "Proxy {url} unreachable: {why}", "Proxy {url} injoignable : {why}"))
    } else if !refused.is_empty() {
        let list = refused.iter().map(|e| format!("{} ({})", e.endpoint.name, describe(lang, &e.reach))).collect::<Vec<_>>().join(", ");
        let n = refused.len();
        Outcome::critical(tr!(lang, "The proxy does not let through {n} endpoint(s): {list}", "Le proxy ne laisse pas passer {n} point(s) d'accès : {list}"))
    } else if !direct_failed.is_empty() {
        let list = direct_failed.iter().map(|e| format!("{} ({})", e.endpoint.name, describe(lang, &e.reach))).collect::<Vec<_>>().join(", ");
        Outcome::warning(tr!(
            lang,
            "Unreachable without proxy: {list} (if the network requires a proxy, set HTTPS_PROXY)",
            "Injoignable sans proxy : {list} (si le réseau impose un proxy, définir HTTPS_PROXY)"
        ))
    } else if f.proxies.is_empty() {
        let n = f.endpoints.len();
        Outcome::ok(tr!(lang, "No proxy in use; {n} external endpoint(s) reached directly", "Aucun proxy utilisé ; {n} point(s) d'accès externe(s) joint(s) directement"))
    } else {
        let via = f.proxies.iter().map(|p| p.proxy.as_str()).collect::<Vec<_>>().join(", ");
        let direct = f.endpoints.len() - proxied;
        Outcome::ok(tr!(
            lang,
            "Proxy {via} answers and lets through {proxied} endpoint(s); {direct} reached directly",
            "Le proxy {via} répond et laisse passer {proxied} point(s) d'accès ; {direct} joint(s) directement"
        ))
    };
    #[allow(clippy::cast_precision_loss)]
    let refused_metric = Metric::new("endpoints_refused", refused.len() as f64, "").thresholds(1.0, 1.0);
    let mut outcome = outcome.metric(refused_metric);
    if let Some(p) = f.proxies.first().filter(|p| p.reach == Reach::Reached) {
        outcome = outcome.metric(Metric::new("proxy_connect", p.latency_ms, "ms"));
    }
    outcome.details(f)
}

/// `network.proxy`.
pub(super) async fn check(ctx: Arc<Ctx>) -> Outcome {
    let proxies = Proxies::resolve(&ctx.config);
    let facts = gather(&proxies, external_endpoints(&ctx.config), ctx.config.timeout(), ctx.lang()).await;
    evaluate_proxy(&facts, ctx.lang())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_as_a_proxy_means_them() {
        assert_eq!(parse_status(b"HTTP/1.1 200 Connection established\r\n", Lang::En), Reach::Reached);
        assert_eq!(parse_status(b"HTTP/1.0 403 Filtered\r\n", Lang::En), Reach::Refused { http_status: 403, reason: "Filtered".into() });
        assert!(matches!(parse_status(b"SSH-2.0-OpenSSH\r\n", Lang::Fr), Reach::Failed { cause } if cause.starts_with("pas une réponse HTTP")));
        assert!(matches!(parse_status(b"", Lang::En), Reach::Failed { .. }));
    }

    #[test]
    fn credentials_go_to_the_proxy_only() {
        let p = reqwest::Url::parse("http://j%40doe:s%3Acret@proxy:3128").expect("url");
        assert_eq!(proxy_authorization(&p).as_deref(), Some("Basic akBkb2U6czpjcmV0"));
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn a_refused_endpoint_is_named() {
        let e = |name: &str, reach| EndpointReach {
            endpoint: Endpoint { name: name.into(), url: format!("https://{name}/") },
            route: "proxy",
            no_proxy_entry: None,
            proxy: Some("http://p:3128/".into()),
            reach,
            latency_ms: 1.0,
        };
        let f = ProxyFacts {
            variables: Vec::new(),
            invalid: Vec::new(),
            proxies: vec![ProxyReach { proxy: "http://p:3128/".into(), reach: Reach::Reached, latency_ms: 1.0 }],
            endpoints: vec![e("psc.example", Reach::Reached), e("annuaire.example", Reach::Refused { http_status: 403, reason: "Filtered".into() })],
        };
        let o = evaluate_proxy(&f, Lang::En);
        assert_eq!(o.status, crate::Status::Critical);
        assert!(o.summary.contains("annuaire.example (HTTP 403") && !o.summary.contains("psc.example"), "{}", o.summary);
        assert!(evaluate_proxy(&f, Lang::Fr).summary.contains("ne laisse pas passer"));
    }
}
