//! Redis (guide: Général, Performance).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde::Serialize;

use super::{elapsed_ms, step, CheckDef, Ctx, Outcome};
use crate::config::Config;
use crate::model::Metric;
use crate::probe::{Bounded, Deadline, Hung, Phase, Seen, Watched, READ_BUDGET};
use crate::{tr, Lang};

mod settings;
pub use settings::Settings;

/// The `redis.*` checks keep no per-run state.
pub type State = ();

/// The `redis.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "redis.reachable",
    title_en: "PING (with AUTH when set), version, latency (warn {redis.latency_warn_ms} ms)",
    title_fr: "PING (avec AUTH si configuré), version, latence (alerte {redis.latency_warn_ms} ms)",
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
    /// Round trip of PING alone, ms.
    pub latency_ms: f64,
}

/// Why a PING attempt failed.
#[derive(Debug)]
pub enum RedisFailure {
    /// What the redis client said (refused, NOAUTH, WRONGPASS...).
    Redis(redis::RedisError),
    /// The connection ended during `step` and the client said no more than that: what the
    /// server had sent (garbage, a flood, a close).
    Ended {
        /// The step.
        step: Phase,
        /// What was read.
        seen: Seen,
    },
}

impl std::fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redis(e) => e.fmt(f),
            Self::Ended { step, seen } => write!(f, "connection ended at {}: {seen:?}", step.name()),
        }
    }
}

impl From<redis::RedisError> for RedisFailure {
    fn from(e: redis::RedisError) -> Self {
        Self::Redis(e)
    }
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

/// Connects, authenticates, PINGs and reads the version, within `timeout`, reading at most
/// [`READ_BUDGET`] bytes from the server.
///
/// # Errors
/// The step that got no answer in time ([`Hung`]); inside, the redis error (refused, NOAUTH,
/// WRONGPASS, not Redis...).
pub async fn ping(info: redis::ConnectionInfo, timeout: Duration) -> Result<Result<RedisServer, RedisFailure>, Hung> {
    let host = match &info.addr {
        redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
        other => other.to_string(),
    };
    let user = info.redis.username.clone().unwrap_or_else(|| "default".to_owned());
    tracing::debug!(%host, %user, "Redis: connecting (password not logged)");
    let got = ping_within(info, timeout).await;
    match &got {
        Ok(Ok(s)) => tracing::debug!(%host, version = ?s.version, latency_ms = s.latency_ms, "Redis: PONG"),
        Ok(Err(e)) => tracing::debug!(%host, %user, cause = %e, "Redis: failed"),
        Err(h) => tracing::debug!(%host, step = ?h.step, timeout_s = h.timeout_secs, "Redis: no answer in time"),
    }
    got
}

/// [`ping`] itself.
async fn ping_within(info: redis::ConnectionInfo, timeout: Duration) -> Result<Result<RedisServer, RedisFailure>, Hung> {
    let d = Deadline::after(timeout);
    let redis::ConnectionAddr::Tcp(host, port) = &info.addr else {
        return Ok(Err(redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "only TCP addresses are probed")).into()));
    };
    let tcp = match d.step(Phase::Connect, tokio::net::TcpStream::connect((host.as_str(), *port))).await? {
        Ok(t) => t,
        Err(e) => return Ok(Err(redis::RedisError::from(e).into())),
    };
    let (stream, seen) = Watched::new(Bounded::new(tcp, READ_BUDGET));
    // The multiplexed driver ends on a server that closes or sends what does not parse, and
    // the client only says "driver terminated": tell what the server sent, at which step.
    let fail = |step: Phase, e: redis::RedisError| {
        if e.kind() == redis::ErrorKind::IoError && crate::probe::find_io_error(&e).is_none() {
            RedisFailure::Ended { step, seen: seen.lock().map(|s| s.clone()).unwrap_or_default() }
        } else {
            RedisFailure::Redis(e)
        }
    };
    let setup = redis::aio::MultiplexedConnection::new(&info.redis, stream);
    let (mut con, driver) = match d.step(Phase::Setup, setup).await? {
        Ok(c) => c,
        Err(e) => return Ok(Err(fail(Phase::Setup, e))),
    };
    let work = async {
        // The latency is PING's round trip alone, as `redis-cli --latency` measures it.
        let start = Instant::now();
        let pong: String = match d.step(Phase::Ping, redis::cmd("PING").query_async(&mut con)).await? {
            Ok(p) => p,
            Err(e) => return Ok(Err(fail(Phase::Ping, e))),
        };
        if pong != "PONG" {
            return Ok(Err(redis::RedisError::from((redis::ErrorKind::ResponseError, "unexpected PING answer", pong)).into()));
        }
        let latency_ms = elapsed_ms(start);
        let info: String = match d.step(Phase::Info, redis::cmd("INFO").arg("server").query_async(&mut con)).await? {
            Ok(i) => i,
            Err(e) => return Ok(Err(fail(Phase::Info, e))),
        };
        let version = info.lines().find_map(|l| l.strip_prefix("redis_version:")).map(|v| v.trim().to_owned());
        Ok(Ok(RedisServer { version, latency_ms }))
    };
    // The connection's driver reads the answers; when it ends, the commands fail on their own.
    let (mut work, mut driver) = (std::pin::pin!(work), std::pin::pin!(driver));
    tokio::select! {
        biased;
        r = &mut work => r,
        () = &mut driver => work.await,
    }
}

/// What a server sent before the connection ended, in a few words.
fn ended(seen: &Seen, lang: Lang) -> String {
    let b = crate::probe::show_bytes(&seen.first);
    if seen.failed {
        tr!(lang, "more data than a diagnostic probe accepts, or a read error", "plus de données qu'une sonde de diagnostic n'en accepte, ou une erreur de lecture")
    } else if seen.first.is_empty() {
        tr!(lang, "connection closed by the server without an answer", "connexion fermée par le serveur sans réponse")
    } else if !seen.first.first().is_some_and(|c| b"+-:$*_,#!=(|~>%".contains(c)) {
        tr!(lang, "not a Redis answer ({b})", "réponse qui n'est pas du Redis ({b})")
    } else {
        tr!(lang, "an answer that does not parse as Redis ({b})", "une réponse illisible pour Redis ({b})")
    }
}

const SLOW_STEP: super::Step = step!(
    "Find the slow commands and what loads the server",
    "Trouver les commandes lentes et ce qui charge le serveur",
    guide = "Performance",
    cmd = "{docker.compose} exec redis redis-cli SLOWLOG GET 10"
);

/// Judges a PING attempt; its round trip against `[redis] latency_warn_ms` / `latency_crit_ms`.
#[must_use]
pub fn evaluate_reachable(r: &Result<RedisServer, RedisFailure>, target: &str, cfg: &Settings, lang: Lang) -> Outcome {
    match r {
        Ok(s) => {
            let v = s.version.as_deref().unwrap_or("?");
            let (ms, warn, crit) = (s.latency_ms, cfg.latency_warn_ms, cfg.latency_crit_ms);
            let status = super::grade(ms, warn, crit);
            let o = if status == crate::Status::Ok {
                Outcome::ok(tr!(lang, "Redis {v} answers PING at {target} in {ms:.0} ms", "Redis {v} répond au PING sur {target} en {ms:.0} ms"))
            } else {
                let limit = if status == crate::Status::Critical { crit } else { warn };
                Outcome::new(
                    status,
                    tr!(
                        lang,
                        "Redis {v} at {target} is slow: PING took {ms:.0} ms (threshold {limit} ms)",
                        "Redis {v} sur {target} est lent : le PING a pris {ms:.0} ms (seuil {limit} ms)"
                    ),
                )
                .remedy(&SLOW_STEP, lang)
            };
            o.metric(Metric::new("latency", ms, "ms").thresholds(warn, crit)).details(s)
        }
        Err(RedisFailure::Ended { step, seen }) => {
            let (s, what) = (step.name(), ended(seen, lang));
            Outcome::critical(tr!(lang, "Redis at {target}, {s}: {what}", "Redis sur {target}, {s} : {what}")).details(serde_json::json!({ "target": target, "step": step }))
        }
        Err(RedisFailure::Redis(e)) => {
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
    match ping(connection_info(&ctx.config), ctx.config.timeout()).await {
        Ok(r) => evaluate_reachable(&r, &target, &ctx.config.redis, ctx.lang()),
        Err(h) => h.outcome(&ctx, &format!("Redis {target}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn latency_is_graded_against_the_thresholds() {
        let cfg = Settings { latency_warn_ms: 100.0, latency_crit_ms: 1000.0, ..Settings::default() };
        let at = |ms| Ok(RedisServer { version: Some("7.0.15".into()), latency_ms: ms });
        let o = evaluate_reachable(&at(2.4), "h:6379", &cfg, Lang::En);
        assert_eq!(o.status, Status::Ok);
        assert_eq!(o.summary, "Redis 7.0.15 answers PING at h:6379 in 2 ms");
        assert_eq!((o.metrics[0].warn, o.metrics[0].crit), (Some(100.0), Some(1000.0)));
        let o = evaluate_reachable(&at(250.0), "h:6379", &cfg, Lang::Fr);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("le PING a pris 250 ms (seuil 100 ms)"), "{}", o.summary);
        assert!(o.remediation.iter().any(|r| r.command.as_deref().is_some_and(|c| c.contains("SLOWLOG"))));
        assert_eq!(evaluate_reachable(&at(1500.0), "h:6379", &cfg, Lang::En).status, Status::Critical);
    }

    #[test]
    fn an_ended_connection_says_what_the_server_sent_and_when() {
        let cfg = Settings::default();
        let ended = |first: &[u8], closed, failed| Err(RedisFailure::Ended { step: Phase::Setup, seen: Seen { first: first.to_vec(), closed, failed } });
        let said = |r, lang| evaluate_reachable(&r, "h:6379", &cfg, lang);
        let o = said(ended(b"\x00\xffgarbage", false, false), Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert_eq!(o.summary, "Redis at h:6379, setup: not a Redis answer (0x00 0xff 0x67 0x61 0x72 0x62 0x61 0x67 ...)");
        assert!(said(ended(b"*-5\r\n", false, false), Lang::En).summary.ends_with("setup: an answer that does not parse as Redis (0x2a 0x2d 0x35 0x0d 0x0a)"));
        assert!(said(ended(b"", true, false), Lang::Fr).summary.contains("connexion fermée par le serveur sans réponse"));
        assert!(said(ended(b"-ERR AAAA", false, true), Lang::En).summary.contains("more data than a diagnostic probe accepts"));
    }
}
