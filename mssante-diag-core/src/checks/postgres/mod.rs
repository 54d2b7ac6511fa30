//! PostgreSQL (guide: BD P1-P4, Performance P1-P3).
//!
//! Every `postgres.*` check of a run shares one connection attempt and one small
//! read-only pool ([`PgShared`] on the run's [`Ctx`]): the first check to need the
//! database connects, the others wait for that attempt instead of repeating it.
//! When the attempt fails, `postgres.reachable` reports it (critical, or unknown on
//! a timeout) and every other check is `unknown` with a one-line pointer to it —
//! except `postgres.connections`, which reports "too many clients" as the critical
//! finding it is. When the server is full for the platform's role and
//! `[postgres.reserved]` is configured, the checks run through that role.
//!
//! Each check is a typed fact-gathering function (`&mut PgConnection` in, facts
//! out, SQL parameterised) and a pure `evaluate_*` function. Views and columns
//! that differ between servers (12 to 17) are looked up in the catalogue; when one
//! is absent the check is `skipped` with the reason.

use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};

use super::{elapsed_ms, step, CheckDef, Ctx, Outcome, Step};
use crate::config::Config;
use crate::model::Metric;
use crate::pgwire::{Cut, Relay};
use crate::probe::{Bounded, Deadline, Hung, Phase, READ_BUDGET};
use crate::{tr, Lang};

pub mod activity;
pub mod integrity;
pub mod migrations;
pub mod retention;
mod session;
pub mod statements;
pub mod tables;

pub use activity::{connection_stats, evaluate_connections, evaluate_long_queries, long_queries, Backend, ConnectionStats, LongQuery};
pub use integrity::{evaluate_integrity, integrity, ChecksumFailure, IntegrityFacts};
pub use migrations::{evaluate_migrations, migration_files, migration_ledger, version_key, Ledger, MigrationFile, MigrationLedger};
pub use retention::{evaluate_retention, retention, RetentionFacts};
pub use session::{Attempt, PgShared, Session};
pub(crate) use session::on_db;
pub use statements::{evaluate_statements, statements, Statement, StatementsFacts};
pub use tables::{
    evaluate_indexes, evaluate_size, evaluate_vacuum, index_facts, size_facts, vacuum_facts, IndexFacts, IndexInfo, ScanStats, SizeFacts,
    TableIndexes, TableSize, TableVacuum, VacuumFacts,
};

mod settings;
pub use settings::{ExpectedIndex, PgReserved, Settings};

/// Per-run state: the one connection attempt and its pool.
pub type State = PgShared;

/// The `postgres.*` checks.
pub const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "postgres.reachable",
        title_en: "Connect: refused, timeout, authentication, missing database; server version",
        title_fr: "Connexion : refus, délai, authentification, base absente ; version du serveur",
        guide: "BD P1",
        quick: true,
        remedy: REACHABLE_STEPS,
        steps: 2,
        run: |ctx| reachable(ctx).boxed(),
    },
    CheckDef {
        id: "postgres.connections",
        title_en: "Connections used vs max_connections by state, user, application; idle > {postgres.idle_minutes} min",
        title_fr: "Connexions utilisées / max_connections par état, utilisateur, application ; inactives > {postgres.idle_minutes} min",
        guide: "BD P2",
        quick: false,
        remedy: activity::CONNECTION_STEPS,
        steps: 2,
        run: |ctx| activity::run_connections(ctx).boxed(),
    },
    CheckDef {
        id: "postgres.long_queries",
        title_en: "Active queries running longer than {postgres.long_query_secs} s (critical past {postgres.long_query_crit_secs} s)",
        title_fr: "Requêtes actives depuis plus de {postgres.long_query_secs} s (critique au-delà de {postgres.long_query_crit_secs} s)",
        guide: "Performance P1",
        quick: false,
        remedy: activity::LONG_QUERY_STEPS,
        steps: 2,
        run: |ctx| activity::run_long_queries(ctx).boxed(),
    },
    CheckDef {
        id: "postgres.statements",
        title_en: "Slowest statements called {postgres.statements_min_calls} times or more (pg_stat_statements)",
        title_fr: "Requêtes les plus lentes appelées au moins {postgres.statements_min_calls} fois (pg_stat_statements)",
        guide: "Performance P2",
        quick: false,
        remedy: statements::SLOW_STEPS,
        steps: 2,
        run: |ctx| statements::run(ctx).boxed(),
    },
    CheckDef {
        id: "postgres.size",
        title_en: "Database size against {postgres.size_warn_gib} / {postgres.size_crit_gib} GiB, largest tables",
        title_fr: "Taille de la base par rapport à {postgres.size_warn_gib} / {postgres.size_crit_gib} Gio, plus grosses tables",
        guide: "Performance P2 P3",
        quick: false,
        remedy: tables::SIZE_STEPS,
        steps: 2,
        run: |ctx| tables::run_size(ctx).boxed(),
    },
    CheckDef {
        id: "postgres.indexes",
        title_en: "Expected indexes present; tables read by sequential scans",
        title_fr: "Index attendus présents ; tables lues par parcours séquentiels",
        guide: "Performance P1",
        quick: false,
        remedy: tables::INDEX_STEPS,
        steps: 2,
        run: |ctx| tables::run_indexes(ctx).boxed(),
    },
    CheckDef {
        id: "postgres.vacuum",
        title_en: "Dead tuples, vacuum and analyze age (warn {postgres.vacuum_warn_days} d, critical {postgres.vacuum_crit_days} d)",
        title_fr: "Lignes mortes, ancienneté des VACUUM et ANALYZE (alerte {postgres.vacuum_warn_days} j, critique {postgres.vacuum_crit_days} j)",
        guide: "Performance P2",
        quick: false,
        remedy: tables::VACUUM_STEPS,
        steps: 2,
        run: |ctx| tables::run_vacuum(ctx).boxed(),
    },
    CheckDef {
        id: "postgres.integrity",
        title_en: "Data checksums enabled, checksum failures",
        title_fr: "Sommes de contrôle des données activées, erreurs de somme de contrôle",
        guide: "BD P3",
        quick: false,
        remedy: integrity::CORRUPTION_STEPS,
        steps: 2,
        run: |ctx| integrity::run(ctx).boxed(),
    },
    CheckDef {
        id: "postgres.migrations",
        title_en: "{postgres.migrations_table}: dirty, pending files, unknown versions",
        title_fr: "{postgres.migrations_table} : migrations en échec, fichiers non appliqués, versions inconnues",
        guide: "BD P4",
        quick: false,
        remedy: migrations::DIRTY_STEPS,
        steps: 2,
        run: |ctx| migrations::run(ctx).boxed(),
    },
    CheckDef {
        id: "postgres.retention",
        title_en: "audit_logs rows older than the retention ({postgres.retention_months} months)",
        title_fr: "Lignes d'audit_logs plus anciennes que la rétention ({postgres.retention_months} mois)",
        guide: "Performance P2",
        quick: false,
        remedy: retention::ARCHIVE_STEPS,
        steps: 2,
        run: |ctx| retention::run(ctx).boxed(),
    },
];

const REACHABLE_STEPS: &[Step] = &[
    step!("Check that PostgreSQL is running", "Vérifier que PostgreSQL est démarré", guide = "BD P1", cmd = "{docker.compose} ps postgres"),
    step!("Read its logs", "Lire ses logs", guide = "BD P1", cmd = "{docker.compose} logs postgres"),
    step!("Test the connection", "Tester la connexion", guide = "BD P1", cmd = "{docker.compose} exec postgres pg_isready -U {postgres.user}"),
    step!("Check the connection settings in .env", "Vérifier les paramètres de connexion dans .env", guide = "BD P1", cmd = "grep POSTGRES .env"),
    step!("Restart PostgreSQL", "Redémarrer PostgreSQL", guide = "BD P1", cmd = "{docker.compose} restart postgres", destructive = true),
];

const AUTH_STEP: Step = step!(
    "Check POSTGRES_USER / POSTGRES_PASSWORD in .env against the server's roles",
    "Comparer POSTGRES_USER / POSTGRES_PASSWORD de .env aux rôles du serveur",
    guide = "BD P1",
    cmd = "grep POSTGRES .env"
);
const TOO_MANY_STEP: Step = step!(
    "List connections by user and application, then raise max_connections or add a pooler",
    "Lister les connexions par utilisateur et application, puis augmenter max_connections ou ajouter un pooler",
    guide = "BD P2",
    cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT count(*), usename, application_name, state FROM pg_stat_activity GROUP BY 2,3,4 ORDER BY 1 DESC\""
);

/// Connection options for the configured server (password resolved, never logged).
#[must_use]
pub(crate) fn connect_options(config: &Config) -> PgConnectOptions {
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

/// Connection options for the `[postgres.reserved]` role, if one is configured.
#[must_use]
pub(crate) fn reserved_options(config: &Config) -> Option<PgConnectOptions> {
    let r = config.postgres.reserved.as_ref()?;
    let mut opts = connect_options(config).username(&r.user);
    // Never fall back to the platform's password for another role.
    opts = opts.password(config.secret(&r.credential).as_ref().map_or("", |s| s.expose()));
    Some(opts)
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
    /// What answered is not PostgreSQL, or announced a message no PostgreSQL server sends.
    NotPostgres(String),
    /// A step got no answer in time.
    NoAnswer(Hung),
    /// Anything else.
    Other(String),
}

impl PgFailure {
    /// A few words for the checks that only point back to `postgres.reachable`.
    #[must_use]
    pub fn brief(&self, lang: Lang) -> String {
        match self {
            PgFailure::Unreachable(m) | PgFailure::NotPostgres(m) | PgFailure::Other(m) => m.clone(),
            PgFailure::NoAnswer(h) => h.describe(lang, &tr!(lang, "the server", "le serveur")),
            PgFailure::Auth(_) => tr!(lang, "authentication failed", "authentification refusée"),
            PgFailure::MissingDatabase(_) => tr!(lang, "database missing", "base absente"),
            PgFailure::TooManyConnections(_) => tr!(lang, "too many clients", "trop de clients"),
            PgFailure::NotReady(_) => tr!(lang, "not ready", "pas prêt"),
        }
    }
}

/// Connects once through `relay` and reads the server version, every step before
/// `deadline`. A [`pre_probe`] first makes sure the server speaks PostgreSQL; the relay
/// then cuts any message announcing more than [`crate::pgwire::MAX_MESSAGE`] (sqlx reserves
/// the length a server announces).
///
/// # Errors
/// The classified failure; [`PgFailure::NoAnswer`] names the step that got no answer in time.
pub async fn connect(opts: &PgConnectOptions, relay: &Relay, lang: Lang, deadline: Deadline) -> Result<(PgConnection, PgServer), PgFailure> {
    pre_probe(opts, lang, &deadline).await?;
    let start = Instant::now();
    let routed = relay.route(opts.clone());
    let explain = |e: sqlx::Error| explain(&e, Some(relay), lang);
    let mut conn = deadline.step(Phase::Login, PgConnection::connect_with(&routed)).await.map_err(PgFailure::NoAnswer)?.map_err(explain)?;
    let version = sqlx::query("SELECT current_setting('server_version')").fetch_one(&mut conn);
    let row = deadline.step(Phase::Query, version).await.map_err(PgFailure::NoAnswer)?.map_err(explain)?;
    let server_version: String = row.try_get(0).map_err(explain)?;
    Ok((conn, PgServer { server_version, latency_ms: elapsed_ms(start) }))
}

/// Longest authentication request a PostgreSQL server sends first (SASL lists a few mechanisms).
const MAX_AUTH_MESSAGE: u32 = 2048;
/// Longest error a PostgreSQL server sends first (`too many clients`, `database does not exist`).
const MAX_ERROR_MESSAGE: u32 = 64 * 1024;

/// The StartupMessage (protocol 3.0) sqlx sends too: user, database, application name.
fn startup_message(opts: &PgConnectOptions) -> Vec<u8> {
    let mut body = 196_608_u32.to_be_bytes().to_vec();
    let user = opts.get_username();
    let params = [("user", user), ("database", opts.get_database().unwrap_or(user)), ("application_name", "mssante-diag")];
    for (key, value) in params {
        for part in [key, value] {
            body.extend_from_slice(part.as_bytes());
            body.push(0);
        }
    }
    body.push(0);
    let mut msg = u32::try_from(body.len() + 4).unwrap_or(u32::MAX).to_be_bytes().to_vec();
    msg.extend(body);
    msg
}

/// Checks what the server answers a StartupMessage before sqlx connects: the first message
/// must be an authentication request (`R`, at most 2 KiB) or an error (`E`, at most 64 KiB).
/// Anything else is [`PgFailure::NotPostgres`], decided from 5 bytes, nothing allocated for
/// what the peer announces. The connection then ends as a client that changed its mind would
/// (no log line on the server). A Unix socket is not probed (it is the host's own server).
///
/// # Errors
/// Unreachable, not PostgreSQL, or the step that got no answer in time.
pub async fn pre_probe(opts: &PgConnectOptions, lang: Lang, deadline: &Deadline) -> Result<(), PgFailure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (host, port) = (opts.get_host(), opts.get_port());
    if opts.get_socket().is_some() || host.starts_with('/') {
        return Ok(());
    }
    let unreachable = |e: &std::io::Error| PgFailure::Unreachable(crate::probe::io_cause(lang, e));
    let tcp = deadline.step(Phase::Connect, tokio::net::TcpStream::connect((host, port))).await.map_err(PgFailure::NoAnswer)?.map_err(|e| unreachable(&e))?;
    let mut io = Bounded::new(tcp, READ_BUDGET);
    let mut head = [0u8; 5];
    let answer = async {
        io.write_all(&startup_message(opts)).await?;
        io.read_exact(&mut head).await.map(drop)
    };
    deadline.step(Phase::Startup, answer).await.map_err(PgFailure::NoAnswer)?.map_err(|e| unreachable(&e))?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    let sane = match head[0] {
        b'R' => (8..=MAX_AUTH_MESSAGE).contains(&len),
        b'E' => (5..=MAX_ERROR_MESSAGE).contains(&len),
        _ => false,
    };
    if !sane {
        let b = crate::probe::show_bytes(&head);
        return Err(PgFailure::NotPostgres(tr!(lang, "not a PostgreSQL server (answered {b})", "ce n'est pas un serveur PostgreSQL (réponse {b})")));
    }
    // The rest of this one message is small (checked above): read it, so that the goodbye is clean.
    let mut rest = vec![0u8; usize::try_from(len - 4).unwrap_or(0)];
    let read = deadline.step(Phase::Startup, io.read_exact(&mut rest)).await;
    let trusted = head[0] == b'R' && matches!(read, Ok(Ok(_))) && rest.starts_with(&[0, 0, 0, 0]);
    // Goodbye: Terminate after AuthenticationOk (trust), else just our end of the stream (no
    // log line either way); then wait briefly for the server's close, so that the backend has
    // given its slot back before sqlx connects (a nearly full server would refuse sqlx).
    let grace = std::time::Duration::from_millis(500).min(deadline.remaining());
    let _ = tokio::time::timeout(grace, async {
        if trusted {
            io.write_all(&[b'X', 0, 0, 0, 4]).await?;
        }
        io.shutdown().await?;
        let mut sink = Vec::new();
        (&mut io).take(u64::from(MAX_ERROR_MESSAGE)).read_to_end(&mut sink).await
    })
    .await;
    Ok(())
}

/// Classifies a sqlx error, first by why the relay cut the connection (a message too large,
/// the server unreachable), if it did, then by [`classify`].
#[must_use]
pub fn explain(e: &sqlx::Error, relay: Option<&Relay>, lang: Lang) -> PgFailure {
    if !matches!(e, sqlx::Error::Database(_)) {
        if let Some(cut) = relay.and_then(Relay::take_cut) {
            let m = cut.describe(lang);
            return match cut {
                Cut::Upstream(_) => PgFailure::Unreachable(m),
                Cut::Oversized(..) | Cut::Malformed(..) => PgFailure::NotPostgres(m),
                Cut::Budget(_) => PgFailure::Other(m),
            };
        }
    }
    classify(e, lang)
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
                PgFailure::NotPostgres(m) => Outcome::critical(format!("{target}: {m}")),
                PgFailure::NoAnswer(h) => Outcome::critical(h.describe(lang, &format!("PostgreSQL {target}"))),
                PgFailure::Other(m) => Outcome::critical(tr!(lang, "PostgreSQL error: {m}", "Erreur PostgreSQL : {m}")),
            };
            o.details(serde_json::json!({ "target": target, "failure": f }))
        }
    }
}

async fn reachable(ctx: Arc<Ctx>) -> Outcome {
    let c = &ctx.config.postgres;
    let target = format!("{}:{}", c.host, c.port);
    match &ctx.state.postgres.session(&ctx.config).await.primary {
        Attempt::Connected(server) => evaluate_reachable(&Ok(server.clone()), &target, &c.user, &c.database, ctx.lang()),
        Attempt::Failed(PgFailure::NoAnswer(h)) => h.outcome(&ctx, &format!("PostgreSQL {target}")),
        Attempt::Failed(f) => evaluate_reachable(&Err(f.clone()), &target, &c.user, &c.database, ctx.lang()),
        Attempt::TimedOut(t) => ctx.timed_out(&format!("PostgreSQL {target}"), *t),
    }
}

/// A relation as the server resolves a name (search path applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relation {
    /// The name as PostgreSQL quotes it (`regclass` text): safe to put in a query.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<String>,
}

impl Relation {
    /// Whether it has a column of that name.
    #[must_use]
    pub fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }
}

/// Looks a table or view up by name (`to_regclass`): `None` when it does not exist.
///
/// # Errors
/// The query's error.
pub async fn relation(conn: &mut PgConnection, name: &str) -> Result<Option<Relation>, sqlx::Error> {
    let row: Option<(String, Vec<String>)> = sqlx::query_as(
        "SELECT c.oid::regclass::text, \
                ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum) \
         FROM pg_class c WHERE c.oid = to_regclass($1)",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(name, columns)| Relation { name, columns }))
}

/// A query text on one line, at most `max` characters.
fn one_line(q: &str, max: usize) -> String {
    let flat = q.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// A list of items for a summary, at most `n` then `+k`.
fn list_some<T>(items: &[T], n: usize, f: impl Fn(&T) -> String) -> String {
    let mut s = items.iter().take(n).map(f).collect::<Vec<_>>().join(", ");
    if items.len() > n {
        s.push_str(&format!(" (+{})", items.len() - n));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_format() {
        assert_eq!(one_line("SELECT  *\n FROM t", 100), "SELECT * FROM t");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(list_some(&[1, 2, 3], 2, ToString::to_string), "1, 2 (+1)");
    }

    #[test]
    fn startup_message_is_protocol_3() {
        let opts = PgConnectOptions::new_without_pgpass().username("mssante").database("mail");
        let msg = startup_message(&opts);
        assert_eq!(u32::from_be_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize, msg.len());
        assert_eq!(&msg[4..8], &[0, 3, 0, 0]);
        assert_eq!(&msg[8..], b"user\0mssante\0database\0mail\0application_name\0mssante-diag\0\0");
    }

    #[test]
    fn config_section_parses_and_validates() {
        let c = Config::from_toml_str(
            "[postgres]\nexpected_indexes = [\"public.mailboxes(email, id)\"]\nmigrations_table = \"app.migrations\"\n\
             [postgres.reserved]\nuser = \"admin\"\npassword_env = \"PG_ADMIN_PW\"\n",
            std::path::Path::new("."),
        )
        .expect("valid");
        assert_eq!(c.postgres.expected_indexes[0].table, "public.mailboxes");
        assert_eq!(c.postgres.expected_indexes[0].columns, ["email", "id"]);
        assert_eq!(c.postgres.reserved.as_ref().map(|r| r.user.as_str()), Some("admin"));
        let d = Config::default();
        assert_eq!(d.postgres.expected_indexes.iter().map(ToString::to_string).collect::<Vec<_>>(), ["mailboxes(email)", "users(rpps_id)"]);
        assert_eq!(d.postgres.migrations_table, "schema_migrations");
        for bad in [
            "expected_indexes = [\"mailboxes email\"]",
            "expected_indexes = [\"m;drop(x)\"]",
            "migrations_table = \"a b\"",
            "connections_warn_pct = 99",
            "retention_months = 0",
        ] {
            let e = Config::from_toml_str(&format!("[postgres]\n{bad}\n"), std::path::Path::new(".")).expect_err("invalid");
            assert!(e.to_string().contains("postgres."), "{bad}: {e}");
        }
    }
}
