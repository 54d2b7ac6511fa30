//! Shared infrastructure for the checks that speak HTTP (`api.*`, `auth.*`): one GET whose
//! connection, response headers and body are named steps under one deadline, with a body
//! read up to a cap (a hostile or broken server's endless body is never held in memory),
//! and failures explained in a few words.

use std::time::{Duration, Instant};

use crate::checks::elapsed_ms;
use crate::lang::Lang;
use crate::probe::{Deadline, Hung, Phase};
use crate::tr;

/// What a GET answered, its body read up to the cap.
#[derive(Debug)]
pub struct Fetched {
    /// HTTP status.
    pub status: reqwest::StatusCode,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The URL that answered (after the redirects the client followed).
    pub url: reqwest::Url,
    /// The body, at most the cap.
    pub body: Vec<u8>,
    /// The body was longer than the cap; the rest was not read.
    pub truncated: bool,
    /// Time to the end of the body (or of the cap), ms.
    pub latency_ms: f64,
}

/// Why a GET got nothing to judge.
#[derive(Debug)]
pub enum Failure {
    /// The request failed: refused, TLS, name resolution, not HTTP...
    Transport(reqwest::Error),
    /// A step got no answer in time.
    NoAnswer(Hung),
}

/// A client builder whose connection attempt gives up at 90 % of `timeout`, so that a
/// connection not made in time is named as such (the rest of the time is the answer's), and
/// which follows the run's proxy rules ([`crate::proxy::Proxies`]: `HTTPS_PROXY`, `NO_PROXY`...
/// of the environment and `.env`, or `[network]`). Every HTTP client of the tool starts here.
pub fn client_builder(
    timeout: Duration,
    proxies: &crate::proxy::Proxies,
) -> reqwest::ClientBuilder {
    proxies.apply(reqwest::Client::builder().connect_timeout(timeout.mul_f64(0.9)))
}

/// Adds the CA certificates of a PEM file (at most `limit` bytes read) to a client's trusted
/// roots, beside the built-in ones: a TLS-inspecting proxy's CA, a private or test CA. A
/// blocking file read: call it off the async threads.
///
/// # Errors
/// The file and why it cannot be used (unreadable, not PEM, no certificate), in a few words.
pub fn add_ca_bundle(
    mut builder: reqwest::ClientBuilder,
    path: &std::path::Path,
    limit: u64,
) -> Result<reqwest::ClientBuilder, String> {
    use std::io::Read;
    let shown = path.display().to_string();
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut pem))
        .map_err(|e| format!("{shown}: {}", e.kind()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{shown}: {}", root_cause(&e)))?;
    if certs.is_empty() {
        return Err(format!("{shown}: no PEM certificate"));
    }
    for c in certs {
        builder = builder.add_root_certificate(c);
    }
    Ok(builder)
}

/// GETs `url` within `timeout`, reading at most `limit` bytes of body.
///
/// # Errors
/// The transport error, or the step ([`Phase::Connect`], [`Phase::HttpResponse`],
/// [`Phase::Body`]) that got no answer in time.
pub async fn get_bounded(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Fetched, Failure> {
    let shown = crate::config::redact_url(url);
    tracing::debug!(url = %shown, timeout_s = timeout.as_secs_f64(), "HTTP GET");
    let got = get_within(client, url, timeout, limit).await;
    match &got {
        Ok(f) => {
            tracing::debug!(url = %shown, status = f.status.as_u16(), bytes = f.body.len(), truncated = f.truncated, latency_ms = f.latency_ms, "HTTP answer")
        }
        Err(Failure::Transport(e)) => {
            tracing::debug!(url = %shown, cause = %root_cause(e), "HTTP request failed")
        }
        Err(Failure::NoAnswer(h)) => {
            tracing::debug!(url = %shown, step = ?h.step, timeout_s = h.timeout_secs, "HTTP: no answer in time")
        }
    }
    got
}

/// [`get_bounded`] itself.
async fn get_within(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Fetched, Failure> {
    let deadline = Deadline::after(timeout);
    let start = Instant::now();
    let mut resp = match deadline
        .step(Phase::HttpResponse, client.get(url).send())
        .await
        .map_err(Failure::NoAnswer)?
    {
        Ok(r) => r,
        Err(e) if e.is_connect() && e.is_timeout() => {
            // An HTTPS client's connection step includes the TLS handshake.
            let step = if url.starts_with("https:") {
                Phase::HttpsConnect
            } else {
                Phase::Connect
            };
            return Err(Failure::NoAnswer(Hung {
                step,
                timeout_secs: timeout.as_secs_f64(),
            }));
        }
        Err(e) => return Err(Failure::Transport(e)),
    };
    let (status, headers, url) = (resp.status(), resp.headers().clone(), resp.url().clone());
    let (body, truncated) = deadline
        .step(Phase::Body, read_bounded(&mut resp, limit))
        .await
        .map_err(Failure::NoAnswer)?
        .map_err(Failure::Transport)?;
    Ok(Fetched {
        status,
        headers,
        url,
        body,
        truncated,
        latency_ms: elapsed_ms(start),
    })
}

/// Reads at most `limit` bytes of a response's body; `true` when there was more (never read).
///
/// # Errors
/// The transport error while reading.
pub async fn read_bounded(
    resp: &mut reqwest::Response,
    limit: usize,
) -> reqwest::Result<(Vec<u8>, bool)> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            return Ok((bytes, true));
        }
    }
    Ok((bytes, false))
}

/// The innermost reason of an error chain (`invalid HTTP version parsed`, not `error sending request`).
#[must_use]
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The TLS library's reason for a failed request, if the handshake failed. (An I/O error
/// does not list the error it wraps as its source: the wrapped error is followed instead.)
#[must_use]
pub fn tls_failure(e: &reqwest::Error) -> Option<&tokio_rustls::rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<tokio_rustls::rustls::Error>() {
            return Some(tls);
        }
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner),
            None => err.source(),
        };
    }
    None
}

/// Whether a request failed because the server's certificate is not trusted (unknown issuer).
#[must_use]
pub fn is_untrusted(e: &reqwest::Error) -> bool {
    use tokio_rustls::rustls::{CertificateError, Error};
    matches!(
        tls_failure(e),
        Some(Error::InvalidCertificate(CertificateError::UnknownIssuer))
    )
}

/// A failed request in a few words: the TLS library's reason (an untrusted certificate), the
/// connection's (refused, reset), else the innermost cause (name resolution, not HTTP...).
#[must_use]
pub fn transport_cause(lang: Lang, e: &reqwest::Error) -> String {
    if let Some(tls) = tls_failure(e) {
        return tr!(lang, "TLS: {tls}", "TLS : {tls}");
    }
    match crate::probe::find_io_error(e) {
        Some(io) => crate::probe::io_cause(lang, io),
        None => root_cause(e),
    }
}
