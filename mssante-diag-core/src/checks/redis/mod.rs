//! Redis (guide: Général, Performance).

use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use serde::Serialize;

use super::{elapsed_ms, step, CheckDef, Ctx, Outcome};
use crate::config::Config;
use crate::model::Metric;
use crate::{tr, Lang};

mod settings;
pub use settings::Settings;

/// The `redis.*` checks keep no per-run state.
pub type State = ();

/// The `redis.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "redis.reachable",
    title_en: "PING (with AUTH when set), version, latency",
    title_fr: "PING (avec AUTH si configuré), version, latence",
    guide: "Général",
    quick: true,
    remedy: &[
        step!("Check the Redis container and its logs", "Vérifier le conteneur Redis et ses logs", guide = "Général", cmd = "{docker.compose} ps redis && {docker.compose} logs --tail=50 redis"),
        step!("Test it from inside the container", "Le tester depuis le conteneur", guide = "Général", cmd = "{docker.compose} exec redis redis-cli ping"),
        step!("Restart Redis", "Redémarrer Redis", guide = "Général", cmd = "{docker.compose} restart redis"),
    ],
    steps: 1,
    run: |ctx| reachable(ctx).boxed(),
}];

const AUTH_STEP: super::Step = step!(
    "Check REDIS_PASSWORD in .env against the server's requirepass",
    "Comparer REDIS_PASSWORD de .env au requirepass du serveur",
    guide = "Général",
    cmd = "grep REDIS .env"
);

/// Facts of a successful PING.
#[derive(Debug, Clone, Serialize)]
pub struct RedisServer {
    /// `redis_version` from INFO.
    pub version: Option<String>,
    /// Round trip of connect + AUTH + PING, ms.
    pub latency_ms: f64,
}

/// Connection info for the configured server (password resolved, never logged).
#[must_use]
pub(crate) fn connection_info(config: &Config) -> redis::ConnectionInfo {
    let c = &config.redis;
    redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp(c.host.clone(), c.port),
        redis: redis::RedisConnectionInfo {
            db: 0,
            username: c.username.clone(),
            password: config.secret(&c.credential).map(|s| s.expose().to_owned()),
            ..Default::default()
        },
    }
}

/// Connects, authenticates, PINGs and reads the version.
///
/// # Errors
/// The redis error (refused, NOAUTH, WRONGPASS, ...).
pub async fn ping(info: redis::ConnectionInfo) -> redis::RedisResult<RedisServer> {
    let start = Instant::now();
    let client = redis::Client::open(info)?;
    let mut con = client.get_multiplexed_tokio_connection().await?;
    let pong: String = redis::cmd("PING").query_async(&mut con).await?;
    if pong != "PONG" {
        return Err((redis::ErrorKind::ResponseError, "unexpected PING answer", pong).into());
    }
    let latency_ms = elapsed_ms(start);
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut con).await?;
    let version = info.lines().find_map(|l| l.strip_prefix("redis_version:")).map(|v| v.trim().to_owned());
    Ok(RedisServer { version, latency_ms })
}

/// Judges a PING attempt.
#[must_use]
pub fn evaluate_reachable(r: &redis::RedisResult<RedisServer>, target: &str, lang: Lang) -> Outcome {
    match r {
        Ok(s) => {
            let v = s.version.as_deref().unwrap_or("?");
            Outcome::ok(tr!(lang, "Redis {v} answers PING at {target}", "Redis {v} répond au PING sur {target}"))
                .metric(Metric::new("latency", s.latency_ms, "ms"))
                .details(s)
        }
        Err(e) => {
            let auth = e.kind() == redis::ErrorKind::AuthenticationFailed || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"));
            let o = if auth {
                Outcome::critical(tr!(lang, "Redis at {target} refused authentication ({})", "Redis sur {target} refuse l'authentification ({})", e.code().unwrap_or("AUTH")))
                    .remedy(&AUTH_STEP, lang)
            } else {
                let cause = if e.is_connection_refusal() {
                    crate::probe::io_cause(lang, &std::io::ErrorKind::ConnectionRefused.into())
                } else {
                    crate::probe::find_io_error(e).map_or_else(|| e.to_string(), |io| crate::probe::io_cause(lang, io))
                };
                Outcome::critical(tr!(lang, "Redis unreachable at {target}: {cause}", "Redis injoignable sur {target} : {cause}"))
            };
            o.details(serde_json::json!({ "target": target }))
        }
    }
}

async fn reachable(ctx: Arc<Ctx>) -> Outcome {
    let c = &ctx.config.redis;
    let target = format!("{}:{}", c.host, c.port);
    match ctx.step(ping(connection_info(&ctx.config))).await {
        Ok(r) => evaluate_reachable(&r, &target, ctx.lang()),
        Err(t) => ctx.timed_out(&format!("Redis {target}"), t),
    }
}
