//! The platform's Node API: `GET /health` (guide: Général, Performance P1).

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;

use super::{grade, step, CheckDef, Ctx, Outcome};
use crate::config::redact_url;
use crate::model::{Metric, Status};
use crate::tr;

mod settings;
pub use settings::Settings;

/// The `api.*` checks keep no per-run state.
pub type State = ();

/// The `api.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "api.health",
    title_en: "API health endpoint: status, body, latency",
    title_fr: "Point de santé de l'API : statut, corps, latence",
    guide: "Général, Performance P1",
    quick: true,
    remedy: &[
        step!("Check the API container and its logs", "Vérifier le conteneur de l'API et ses logs", guide = "Général", cmd = "{docker.compose} ps api && {docker.compose} logs --tail=100 api"),
        step!("Measure response times", "Mesurer les temps de réponse", guide = "Performance P1", cmd = "time curl -f {api.url}"),
        step!("Restart the API", "Redémarrer l'API", guide = "Général", cmd = "{docker.compose} restart api"),
    ],
    steps: 1,
    run: |ctx| health(ctx).boxed(),
}];

/// Longest body kept in the report.
const BODY_LIMIT: usize = 512;
/// Most body bytes read (and parsed as JSON); the rest is never read.
pub const BODY_READ_LIMIT: usize = 64 * 1024;
/// Redirects followed when they keep the path (`http://` to `https://`, another host).
const MAX_REDIRECTS: usize = 5;

/// What `GET /health` answered.
#[derive(Debug, Clone, Serialize)]
pub struct HealthProbe {
    /// URL probed (credentials redacted).
    pub url: String,
    /// HTTP status code.
    pub http_status: u16,
    /// `Location` of a redirect that was not followed (it leads to another path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Body (first 512 bytes).
    pub body: String,
    /// The body was longer than [`BODY_READ_LIMIT`] bytes; the rest was not read.
    pub body_truncated: bool,
    /// `status` field of a JSON body, if any.
    pub reported_status: Option<String>,
    /// Time to the full response, ms.
    pub latency_ms: f64,
}

/// Why `GET /health` got nothing to judge: the request failed, or a step got no answer in time.
pub use crate::http::Failure as HealthFailure;

/// Follows a redirect only when it keeps the path: a redirect elsewhere (a login page) is
/// returned as the answer, for the evaluation to judge.
fn same_path_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt.previous().first().is_some_and(|first| first.path() == attempt.url().path());
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// A redirect's target as an operator reads it: the path on the same server (`/login`),
/// else the whole URL (credentials redacted).
fn shown_location(from: &reqwest::Url, location: &str) -> String {
    match from.join(location) {
        Ok(to) if to.origin() == from.origin() => match to.query() {
            Some(q) => format!("{}?{q}", to.path()),
            None => to.path().to_owned(),
        },
        Ok(to) => redact_url(to.as_str()),
        Err(_) => redact_url(location),
    }
}

/// Fetches the health endpoint within `timeout`: connection, response headers and body are
/// named steps under one deadline, and at most [`BODY_READ_LIMIT`] bytes of body are read.
/// The request follows `proxies` (list the API's host in `NO_PROXY` when a proxy is set).
///
/// # Errors
/// The transport error (refused, TLS, not HTTP...) or the step that got no answer in time.
pub async fn probe_health(url: &str, proxies: &crate::proxy::Proxies, timeout: Duration) -> Result<HealthProbe, HealthFailure> {
    let client = crate::http::client_builder(timeout, proxies).redirect(same_path_redirects()).build().map_err(HealthFailure::Transport)?;
    let got = crate::http::get_bounded(&client, url, timeout, BODY_READ_LIMIT).await?;
    let http_status = got.status.as_u16();
    let location = got
        .status
        .is_redirection()
        .then(|| got.headers.get(reqwest::header::LOCATION).map(|l| shown_location(&got.url, &String::from_utf8_lossy(l.as_bytes()))))
        .flatten();
    let body = String::from_utf8_lossy(&got.body[..got.body.len().min(BODY_LIMIT)]).into_owned();
    let reported_status = serde_json::from_slice::<serde_json::Value>(&got.body)
        .ok()
        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned));
    Ok(HealthProbe { url: redact_url(url), http_status, location, body, body_truncated: got.truncated, reported_status, latency_ms: got.latency_ms })
}

/// Judges a health probe against the latency thresholds. A redirect to another path (a login
/// page) is no health answer.
#[must_use]
pub fn evaluate_health(p: &HealthProbe, warn_ms: u64, crit_ms: u64, lang: crate::Lang) -> Outcome {
    #[allow(clippy::cast_precision_loss)]
    let (warn, crit) = (warn_ms as f64, crit_ms as f64);
    let latency = Metric::new("latency", p.latency_ms, "ms").thresholds(warn, crit);
    let (code, ms) = (p.http_status, p.latency_ms.round());
    let healthy_body = p.reported_status.as_deref().is_none_or(|s| matches!(s.to_ascii_lowercase().as_str(), "ok" | "healthy" | "up" | "pass"));
    let outcome = if (300..400).contains(&code) {
        let to = p.location.as_deref().unwrap_or("?");
        Outcome::critical(tr!(
            lang,
            "{} redirected to {to} (HTTP {code}): not a health endpoint",
            "{} redirige vers {to} (HTTP {code}) : ce n'est pas un point de santé",
            p.url
        ))
    } else if !(200..300).contains(&code) {
        Outcome::critical(tr!(lang, "API answered HTTP {code} on /health", "L'API répond HTTP {code} sur /health"))
    } else if !healthy_body {
        let s = p.reported_status.clone().unwrap_or_default();
        Outcome::critical(tr!(lang, "API reports status \"{s}\"", "L'API signale l'état « {s} »"))
    } else {
        match grade(p.latency_ms, warn, crit) {
            Status::Ok => Outcome::ok(tr!(lang, "API healthy (HTTP {code}, {ms} ms)", "API en bonne santé (HTTP {code}, {ms} ms)")),
            s => Outcome::new(s, tr!(lang, "API slow: {ms} ms for /health", "API lente : {ms} ms pour /health")),
        }
    };
    outcome.metric(latency).details(p)
}

async fn health(ctx: Arc<Ctx>) -> Outcome {
    let (cfg, lang) = (&ctx.config.api, ctx.lang());
    let url = cfg.url.to_string();
    match probe_health(cfg.url.expose(), &crate::proxy::Proxies::resolve(&ctx.config), ctx.config.timeout()).await {
        Ok(p) => evaluate_health(&p, cfg.latency_warn_ms, cfg.latency_crit_ms, lang),
        Err(HealthFailure::NoAnswer(h)) => h.outcome(&ctx, &tr!(lang, "API {url}", "API {url}")),
        Err(HealthFailure::Transport(e)) => {
            let o = match crate::probe::find_io_error(&e) {
                Some(io) => {
                    let cause = crate::probe::io_cause(lang, io);
                    Outcome::critical(tr!(lang, "API unreachable at {url}: {cause}", "API injoignable à {url} : {cause}"))
                }
                None => {
                    let cause = crate::http::root_cause(&e);
                    Outcome::critical(tr!(lang, "API at {url} gave no usable HTTP answer: {cause}", "L'API à {url} ne donne pas de réponse HTTP exploitable : {cause}"))
                }
            };
            o.details(serde_json::json!({ "url": url }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_shown_as_the_operator_reads_them() {
        let from = reqwest::Url::parse("http://127.0.0.1:3000/health").expect("url");
        assert_eq!(shown_location(&from, "/login"), "/login");
        assert_eq!(shown_location(&from, "http://127.0.0.1:3000/login?next=%2Fhealth"), "/login?next=%2Fhealth");
        assert_eq!(shown_location(&from, "https://sso.example/auth"), "https://sso.example/auth");
        assert_eq!(shown_location(&from, "https://u:p@sso.example/"), "https://[REDACTED]@sso.example/");
    }

    #[test]
    fn a_redirect_elsewhere_is_no_health() {
        let p = HealthProbe {
            url: "http://h/health".into(),
            http_status: 302,
            location: Some("/login".into()),
            body: String::new(),
            body_truncated: false,
            reported_status: None,
            latency_ms: 2.0,
        };
        let o = evaluate_health(&p, 1000, 3000, crate::Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert_eq!(o.summary, "http://h/health redirected to /login (HTTP 302): not a health endpoint");
        assert!(evaluate_health(&p, 1000, 3000, crate::Lang::Fr).summary.contains("redirige vers /login"));
    }
}
