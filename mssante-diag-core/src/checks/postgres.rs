//! PostgreSQL (guide: BD P1-P4, Performance P1-P3).

use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};

use super::{elapsed_ms, step, CheckDef, Ctx, Outcome};
use crate::config::Config;
use crate::model::Metric;
use crate::{tr, Lang};

/// The `postgres.*` checks.
pub const CHECKS: &[CheckDef] = &[CheckDef {
    id: "postgres.reachable",
    title_en: "Connect: refused, timeout, authentication, missing database; server version",
    title_fr: "Connexion : refus, délai, authentification, base absente ; version du serveur",
    guide: "BD P1",
    quick: true,
    remedy: &[
        step!("Check that PostgreSQL is running", "Vérifier que PostgreSQL est démarré", guide = "BD P1", cmd = "docker compose ps postgres"),
        step!("Read its logs", "Lire ses logs", guide = "BD P1", cmd = "docker compose logs postgres"),
        step!("Test the connection", "Tester la connexion", guide = "BD P1", cmd = "docker compose exec postgres pg_isready -U mssante"),
        step!("Check the connection settings in .env", "Vérifier les paramètres de connexion dans .env", guide = "BD P1", cmd = "grep POSTGRES .env"),
        step!("Restart PostgreSQL", "Redémarrer PostgreSQL", guide = "BD P1", cmd = "docker compose restart postgres"),
    ],
    run: |ctx| reachable(ctx).boxed(),
}];

const AUTH_STEP: super::Step = step!(
    "Check POSTGRES_USER / POSTGRES_PASSWORD in .env against the server's roles",
    "Comparer POSTGRES_USER / POSTGRES_PASSWORD de .env aux rôles du serveur",
    guide = "BD P1",
    cmd = "grep POSTGRES .env"
);
const TOO_MANY_STEP: super::Step = step!(
    "List connections by user and application, then raise max_connections or add a pooler",
    "Lister les connexions par utilisateur et application, puis augmenter max_connections ou ajouter un pooler",
    guide = "BD P2",
    cmd = "docker compose exec postgres psql -U mssante -d mssante -c \"SELECT count(*), usename, application_name, state FROM pg_stat_activity GROUP BY 2,3,4 ORDER BY 1 DESC\""
);

/// Connection options for the configured server (password resolved, never logged).
#[must_use]
pub fn connect_options(config: &Config) -> PgConnectOptions {
    let c = &config.postgres;
    let mut opts = PgConnectOptions::new_without_pgpass()
        .host(&c.host)
        .port(c.port)
        .username(&c.user)
        .database(&c.database)
        .application_name("mssante-diag");
    if let Some(pw) = config.secret(&c.credential) {
        opts = opts.password(pw.expose());
    }
    opts
}

/// A successful connection's facts.
#[derive(Debug, Clone, Serialize)]
pub struct PgServer {
    /// `server_version` setting.
    pub server_version: String,
    /// Time to connect and run one query, ms.
    pub latency_ms: f64,
}

/// Why a connection failed, told apart for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "message")]
pub enum PgFailure {
    /// Nothing listens, or the network failed.
    Unreachable(String),
    /// Wrong user or password (SQLSTATE 28P01 / 28000).
    Auth(String),
    /// The database does not exist (3D000).
    MissingDatabase(String),
    /// Every connection slot is taken (53300).
    TooManyConnections(String),
    /// The server is starting or shutting down (57P03).
    NotReady(String),
    /// Anything else.
    Other(String),
}

/// Connects once and reads the server version.
///
/// # Errors
/// The classified failure.
pub async fn connect(opts: &PgConnectOptions, lang: Lang) -> Result<(PgConnection, PgServer), PgFailure> {
    let start = Instant::now();
    let mut conn = PgConnection::connect_with(opts).await.map_err(|e| classify(&e, lang))?;
    let row = sqlx::query("SELECT current_setting('server_version')").fetch_one(&mut conn).await.map_err(|e| classify(&e, lang))?;
    let server_version: String = row.try_get(0).map_err(|e| classify(&e, lang))?;
    Ok((conn, PgServer { server_version, latency_ms: elapsed_ms(start) }))
}

/// Classifies a sqlx error by SQLSTATE or I/O cause.
#[must_use]
pub fn classify(e: &sqlx::Error, lang: Lang) -> PgFailure {
    match e {
        sqlx::Error::Database(db) => {
            let msg = db.message().to_owned();
            match db.code().as_deref() {
                Some("28P01" | "28000") => PgFailure::Auth(msg),
                Some("3D000") => PgFailure::MissingDatabase(msg),
                Some("53300") => PgFailure::TooManyConnections(msg),
                Some("57P03") => PgFailure::NotReady(msg),
                _ => PgFailure::Other(msg),
            }
        }
        sqlx::Error::Io(io) => PgFailure::Unreachable(crate::probe::io_cause(lang, io)),
        other => PgFailure::Other(other.to_string()),
    }
}

/// Judges a connection attempt.
#[must_use]
pub fn evaluate_reachable(r: &Result<PgServer, PgFailure>, target: &str, user: &str, db: &str, lang: Lang) -> Outcome {
    match r {
        Ok(s) => {
            let v = &s.server_version;
            Outcome::ok(tr!(lang, "PostgreSQL {v} accepts connections at {target}", "PostgreSQL {v} accepte les connexions sur {target}"))
                .metric(Metric::new("latency", s.latency_ms, "ms"))
                .details(s)
        }
        Err(f) => {
            let o = match f {
                PgFailure::Unreachable(m) => Outcome::critical(tr!(lang, "PostgreSQL unreachable at {target}: {m}", "PostgreSQL injoignable sur {target} : {m}")),
                PgFailure::Auth(_) => Outcome::critical(tr!(lang, "PostgreSQL refused the password of user \"{user}\"", "PostgreSQL refuse le mot de passe de l'utilisateur « {user} »"))
                    .remedy(&AUTH_STEP, lang),
                PgFailure::MissingDatabase(_) => Outcome::critical(tr!(lang, "database \"{db}\" does not exist on {target}", "la base « {db} » n'existe pas sur {target}")),
                PgFailure::TooManyConnections(_) => Outcome::critical(tr!(lang, "PostgreSQL is full: too many clients already", "PostgreSQL est saturé : trop de clients connectés"))
                    .remedy(&TOO_MANY_STEP, lang),
                PgFailure::NotReady(m) => Outcome::critical(tr!(lang, "PostgreSQL is not ready: {m}", "PostgreSQL n'est pas prêt : {m}")),
                PgFailure::Other(m) => Outcome::critical(tr!(lang, "PostgreSQL error: {m}", "Erreur PostgreSQL : {m}")),
            };
            o.details(serde_json::json!({ "target": target, "failure": f }))
        }
    }
}

async fn reachable(ctx: Arc<Ctx>) -> Outcome {
    let c = &ctx.config.postgres;
    let target = format!("{}:{}", c.host, c.port);
    let opts = connect_options(&ctx.config);
    match ctx.step(connect(&opts, ctx.lang())).await {
        Ok(r) => {
            let r = match r {
                Ok((conn, server)) => {
                    drop(conn);
                    Ok(server)
                }
                Err(f) => Err(f),
            };
            evaluate_reachable(&r, &target, &c.user, &c.database, ctx.lang())
        }
        Err(t) => ctx.timed_out(&format!("PostgreSQL {target}"), t),
    }
}
