//! The run's one PostgreSQL connection attempt and its small read-only pool,
//! shared by every `postgres.*` check through [`Ctx`].

use std::future::Future;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};
use tokio::sync::OnceCell;

use super::{connect, explain, reserved_options, PgFailure, PgServer, REACHABLE_STEPS};
use crate::checks::{Ctx, Outcome, TimedOut};
use crate::config::Config;
use crate::pgwire::{Relay, Upstream};
use crate::{tr, Lang};

/// Connections the shared pool may open (the checks queue on them).
const POOL_SIZE: u32 = 2;

/// Per-run PostgreSQL state: the connection attempt, made once, on first use.
#[derive(Debug, Default)]
pub struct PgShared {
    cell: OnceCell<Session>,
}

impl PgShared {
    /// The run's session: connects on the first call, later calls wait for that attempt.
    pub async fn session(&self, config: &Config) -> &Session {
        self.cell.get_or_init(|| Session::open(config)).await
    }

    /// Closes the pool's connections gracefully, if any were opened (at most [`CLOSE_GRACE`]:
    /// a server that stopped answering gets its connections dropped instead).
    pub async fn close(&self) {
        if let Some(pool) = self.cell.get().and_then(|s| s.pool.as_ref()) {
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                // Let the checks' connections come back first: sqlx reads what is left of their
                // last answer on the way, which it skips for a connection returned to a closed pool.
                while pool.num_idle() < pool.size() as usize {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                pool.close().await;
            })
            .await;
        }
    }
}

/// Longest wait for the pool's goodbye at the end of a run.
pub const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// How one connection attempt ended.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// Connected; the server's facts.
    Connected(PgServer),
    /// Refused or failed, classified.
    Failed(PgFailure),
    /// No answer within the step timeout.
    TimedOut(TimedOut),
}

/// The outcome of the run's connection attempts, and the pool the checks query through.
#[derive(Debug)]
pub struct Session {
    /// The configured role's attempt (what `postgres.reachable` judges).
    pub primary: Attempt,
    /// The `[postgres.reserved]` role's attempt, made only when the server refused the
    /// configured role with "too many clients".
    pub reserved: Option<Attempt>,
    /// Read-only pool for the checks' queries, when an attempt connected.
    pub pool: Option<PgPool>,
    /// The relay every connection of the session goes through (none if it could not start):
    /// it stops with the session.
    relay: Option<Relay>,
}

impl Session {
    /// Connects as the configured role (then as the reserved role if the server is full),
    /// all within one step timeout, and prepares the pool.
    pub async fn open(config: &Config) -> Self {
        let deadline = tokio::time::Instant::now() + config.timeout();
        let c = &config.postgres;
        let relay = match Relay::start(Upstream::of(&c.host, c.port), c.port, config.timeout()) {
            Ok(r) => r,
            Err(e) => {
                let lang = config.lang;
                let e = crate::probe::io_cause(lang, &e);
                let why = tr!(lang, "could not start the PostgreSQL relay: {e}", "impossible de démarrer le relais PostgreSQL : {e}");
                tracing::debug!(cause = %why, "PostgreSQL: no relay");
                return Self { primary: Attempt::Failed(PgFailure::Other(why)), reserved: None, pool: None, relay: None };
            }
        };
        let opts = super::connect_options(config);
        let primary = attempt(&opts, &relay, config, deadline).await;
        let (reserved, pool_opts) = match (&primary, reserved_options(config)) {
            (Attempt::Connected(_), _) => (None, Some(opts)),
            (Attempt::Failed(PgFailure::TooManyConnections(_)), Some(r)) => {
                let a = attempt(&r, &relay, config, deadline).await;
                let ok = matches!(a, Attempt::Connected(_));
                (Some(a), ok.then_some(r))
            }
            _ => (None, None),
        };
        let pool = pool_opts.map(|o| read_only_pool(relay.route(o), config));
        Self { primary, reserved, pool, relay: Some(relay) }
    }

    /// Why a query of the session failed: what the relay cut, else the error's class.
    #[must_use]
    pub fn explain(&self, e: &sqlx::Error, lang: Lang) -> PgFailure {
        explain(e, self.relay.as_ref(), lang)
    }

    /// Whether the checks run through the reserved role (the server being full).
    #[must_use]
    pub fn via_reserved(&self) -> bool {
        matches!(self.reserved, Some(Attempt::Connected(_)))
    }

    /// Whether the server refused the configured role with "too many clients".
    #[must_use]
    pub fn refused_full(&self) -> bool {
        matches!(self.primary, Attempt::Failed(PgFailure::TooManyConnections(_)))
    }

    /// The brief `unknown` of a check that could not query: PostgreSQL is unavailable,
    /// and `postgres.reachable` says why.
    #[must_use]
    pub fn unavailable(&self, lang: Lang) -> Outcome {
        let cause = match (&self.primary, &self.reserved) {
            (_, Some(Attempt::Failed(f))) => {
                let f = f.brief(lang);
                tr!(lang, "too many clients, and the reserved role failed: {f}", "trop de clients, et le rôle réservé échoue : {f}")
            }
            (_, Some(Attempt::TimedOut(t))) | (Attempt::TimedOut(t), _) => {
                let s = t.0;
                tr!(lang, "no answer within {s} s", "pas de réponse en {s} s")
            }
            (Attempt::Failed(f), _) => f.brief(lang),
            (Attempt::Connected(_), _) => tr!(lang, "no connection", "pas de connexion"),
        };
        let o = Outcome::unknown(tr!(
            lang,
            "not checked: PostgreSQL unavailable ({cause}), see postgres.reachable",
            "non vérifié : PostgreSQL indisponible ({cause}), voir postgres.reachable"
        ));
        o.remedies(REACHABLE_STEPS, lang)
    }
}

async fn attempt(opts: &PgConnectOptions, relay: &Relay, config: &Config, deadline: tokio::time::Instant) -> Attempt {
    let steps = crate::probe::Deadline::at(deadline, config.timeout_secs);
    let (host, port, user, database) = (opts.get_host(), opts.get_port(), opts.get_username(), opts.get_database().unwrap_or_default());
    tracing::debug!(host, port, user, database, "PostgreSQL: connecting (password not logged)");
    let a = attempt_within(opts, relay, config, deadline, steps).await;
    match &a {
        Attempt::Connected(s) => tracing::debug!(host, port, user, version = %s.server_version, latency_ms = s.latency_ms, "PostgreSQL: connected"),
        Attempt::Failed(f) => tracing::debug!(host, port, user, cause = %f.brief(crate::Lang::En), "PostgreSQL: connection failed"),
        Attempt::TimedOut(t) => tracing::debug!(host, port, user, timeout_s = t.0, "PostgreSQL: no answer in time"),
    }
    a
}

/// [`attempt`] itself.
async fn attempt_within(opts: &PgConnectOptions, relay: &Relay, config: &Config, deadline: tokio::time::Instant, steps: crate::probe::Deadline) -> Attempt {
    match tokio::time::timeout_at(deadline, connect(opts, relay, config.lang, steps)).await {
        Ok(Ok((mut conn, server))) => {
            // The probe measured the round trip; the pool opens its own connections. Read the
            // probe's last messages and say goodbye, so the server logs no connection reset.
            let _ = tokio::time::timeout_at(deadline, async {
                conn.ping().await?;
                conn.close().await
            })
            .await;
            Attempt::Connected(server)
        }
        Ok(Err(f)) => Attempt::Failed(f),
        Err(_) => Attempt::TimedOut(TimedOut(config.timeout_secs)),
    }
}

/// A small pool whose sessions are read-only and whose statements stop at the step timeout.
fn read_only_pool(opts: PgConnectOptions, config: &Config) -> PgPool {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let timeout_ms = ((config.timeout_secs * 1000.0).round() as u64).to_string();
    PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .min_connections(0)
        .acquire_timeout(config.timeout())
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            let timeout_ms = timeout_ms.clone();
            Box::pin(async move {
                sqlx::query("SELECT set_config('default_transaction_read_only', 'on', false), set_config('statement_timeout', $1, false)")
                    .bind(timeout_ms)
                    .execute(conn)
                    .await
                    .map(drop)
            })
        })
        .connect_lazy_with(opts)
}

/// Runs `gather` on a connection of the run's shared pool, under the step timeout.
///
/// # Errors
/// The finished outcome when it could not: PostgreSQL unavailable (brief `unknown`),
/// timed out, or the query failed (`unknown` with the reason).
pub(crate) async fn on_db<T, F, Fut>(ctx: &Ctx, gather: F) -> Result<T, Outcome>
where
    F: FnOnce(PoolConnection<Postgres>) -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let lang = ctx.lang();
    let session = ctx.state.postgres.session(&ctx.config).await;
    let Some(pool) = &session.pool else { return Err(session.unavailable(lang)) };
    match ctx.step(async { gather(pool.acquire().await?).await }).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => {
            let o = Outcome::unknown(query_failure(&e, session, ctx.config.timeout_secs, lang));
            Err(match &e {
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42501") => {
                    let mut o = o;
                    o.remediation = privilege_remedies(db.message(), lang);
                    o
                }
                _ => o,
            })
        }
        Err(t) => Err(ctx.timed_out("PostgreSQL", t)),
    }
}

/// The grants that let the diagnosing role read what PostgreSQL refused (docs/least-privilege.md):
/// `pg_monitor` for statistics views; for a platform table, SELECT on it (on `audit_logs`, the
/// date column only: no content).
fn privilege_remedies(message: &str, lang: Lang) -> Vec<crate::Remedy> {
    let psql = |sql: String| format!("{{docker.compose}} exec postgres psql -U postgres -d {{postgres.database}} -c \"{sql}\"");
    let remedy = |text: String, guide: &str, sql: String| crate::Remedy { text, command: Some(psql(sql)), guide: guide.to_owned(), destructive: false };
    let pg_monitor = || {
        remedy(
            tr!(lang, "Give the diagnosing role pg_monitor (statistics of every session and statement, no data)", "Donner pg_monitor au rôle de diagnostic (statistiques de toutes les sessions et requêtes, aucune donnée)"),
            "BD P2",
            "GRANT pg_monitor TO {postgres.user}".to_owned(),
        )
    };
    let mut out = Vec::new();
    let table = message.split("for table ").nth(1).map(|t| t.trim().trim_matches('"')).filter(|t| t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'));
    match table {
        Some(t) if t == super::retention::AUDIT_TABLE => out.push(remedy(
            tr!(lang, "Let it read the dates the retention check counts (that column only, no content)", "Lui permettre de lire les dates que compte la vérification de rétention (cette colonne seulement, aucun contenu)"),
            "BD P3",
            format!("GRANT SELECT ({}) ON {t} TO {{postgres.user}}", super::retention::AUDIT_COLUMN),
        )),
        Some(t) => out.push(remedy(tr!(lang, "Let it read {t}", "Lui permettre de lire {t}"), "BD P4", format!("GRANT SELECT ON {t} TO {{postgres.user}}"))),
        None => out.push(pg_monitor()),
    }
    out
}

/// Why a query failed, in a few words.
fn query_failure(e: &sqlx::Error, session: &Session, timeout_secs: f64, lang: Lang) -> String {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("42501") => {
            let m = db.message();
            tr!(lang, "cannot look: the diagnosing role lacks a grant ({m})", "impossible de regarder : il manque un droit au rôle de diagnostic ({m})")
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => {
            tr!(lang, "query cancelled by statement_timeout ({timeout_secs} s)", "requête annulée par statement_timeout ({timeout_secs} s)")
        }
        sqlx::Error::PoolTimedOut => {
            tr!(lang, "no connection to PostgreSQL within {timeout_secs} s", "pas de connexion à PostgreSQL en {timeout_secs} s")
        }
        other => {
            let f = session.explain(other, lang);
            let m = match &f {
                PgFailure::Other(m) => m.clone(),
                f => f.brief(lang),
            };
            tr!(lang, "PostgreSQL query failed: {m}", "échec de la requête PostgreSQL : {m}")
        }
    }
}
