//! The platform's Node API: `GET /health` (guide: Général, Performance P1).

use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use serde::Serialize;

use super::{elapsed_ms, grade, step, CheckDef, Ctx, Outcome};
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

/// What `GET /health` answered.
#[derive(Debug, Clone, Serialize)]
pub struct HealthProbe {
    /// URL probed.
    pub url: String,
    /// HTTP status code.
    pub http_status: u16,
    /// Body (first 512 bytes).
    pub body: String,
    /// `status` field of a JSON body, if any.
    pub reported_status: Option<String>,
    /// Time to the full response, ms.
    pub latency_ms: f64,
}

/// Fetches the health endpoint.
///
/// # Errors
/// The transport error (refused, TLS, ...) as reqwest gives it.
pub async fn probe_health(url: &str, timeout: std::time::Duration) -> Result<HealthProbe, reqwest::Error> {
    let client = reqwest::Client::builder().timeout(timeout).no_proxy().build()?;
    let start = Instant::now();
    let resp = client.get(url).send().await?;
    let http_status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    let latency_ms = elapsed_ms(start);
    let body = String::from_utf8_lossy(&bytes[..bytes.len().min(BODY_LIMIT)]).into_owned();
    let reported_status = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned));
    Ok(HealthProbe { url: url.to_owned(), http_status, body, reported_status, latency_ms })
}

/// Judges a health probe against the latency thresholds.
#[must_use]
pub fn evaluate_health(p: &HealthProbe, warn_ms: u64, crit_ms: u64, lang: crate::Lang) -> Outcome {
    #[allow(clippy::cast_precision_loss)]
    let (warn, crit) = (warn_ms as f64, crit_ms as f64);
    let latency = Metric::new("latency", p.latency_ms, "ms").thresholds(warn, crit);
    let (code, ms) = (p.http_status, p.latency_ms.round());
    let healthy_body = p.reported_status.as_deref().is_none_or(|s| matches!(s.to_ascii_lowercase().as_str(), "ok" | "healthy" | "up" | "pass"));
    let outcome = if !(200..300).contains(&code) {
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
    match probe_health(&cfg.url, ctx.config.timeout()).await {
        Ok(p) => evaluate_health(&p, cfg.latency_warn_ms, cfg.latency_crit_ms, lang),
        Err(e) if e.is_timeout() => ctx.timed_out(&cfg.url, super::TimedOut(ctx.config.timeout_secs)),
        Err(e) => {
            let cause = crate::probe::find_io_error(&e).map_or_else(|| e.to_string(), |io| crate::probe::io_cause(lang, io));
            let url = &cfg.url;
            Outcome::critical(tr!(lang, "API unreachable at {url}: {cause}", "API injoignable à {url} : {cause}"))
                .details(serde_json::json!({ "url": url }))
        }
    }
}
