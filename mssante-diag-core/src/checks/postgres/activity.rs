//! `postgres.connections` and `postgres.long_queries`, from `pg_stat_activity`
//! (guide: BD P2, Performance P1).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::Row;

use super::session::on_db;
use super::{list_some, one_line, TOO_MANY_STEP};
use crate::units;
use crate::checks::{grade, step, Ctx, Outcome, Step};
use super::Settings as PostgresConfig;
use crate::model::{Metric, Status};
use crate::{tr, Lang};

const TERMINATE_IDLE_STEP: Step = step!(
    "Terminate connections idle for more than {postgres.idle_minutes} minutes (find the application that leaks them first)",
    "Terminer les connexions inactives depuis plus de {postgres.idle_minutes} minutes (identifier d'abord l'application qui les laisse ouvertes)",
    guide = "BD P2",
    cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle' AND query_start < NOW() - INTERVAL '{postgres.idle_minutes} minutes'\"",
    destructive = true
);
const RAISE_MAX_STEP: Step = step!(
    "Raise max_connections in config/postgres/postgresql.conf (e.g. 200), then restart PostgreSQL",
    "Augmenter max_connections dans config/postgres/postgresql.conf (ex. 200), puis redémarrer PostgreSQL",
    guide = "BD P2",
    cmd = "{docker.compose} restart postgres",
    destructive = true
);
const POOLER_STEP: Step = step!(
    "Put a connection pooler (PgBouncer) between the API and PostgreSQL",
    "Placer un pooler de connexions (PgBouncer) entre l'API et PostgreSQL",
    guide = "Performance P2"
);
const IDLE_TX_STEP: Step = step!(
    "Find the application that leaves transactions open (idle in transaction): it holds locks and blocks VACUUM; fix it or set idle_in_transaction_session_timeout",
    "Identifier l'application qui laisse des transactions ouvertes (idle in transaction) : elles gardent des verrous et bloquent VACUUM ; la corriger ou régler idle_in_transaction_session_timeout",
    guide = "BD P2",
    cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT pid, usename, application_name, now() - xact_start AS age, query FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' ORDER BY age DESC\""
);

/// Generic remedy of `postgres.connections`.
pub(super) const CONNECTION_STEPS: &[Step] = &[TOO_MANY_STEP, TERMINATE_IDLE_STEP, RAISE_MAX_STEP, POOLER_STEP];

/// Generic remedy of `postgres.long_queries`.
pub(super) const LONG_QUERY_STEPS: &[Step] = &[
    step!(
        "List the queries running for more than {postgres.long_query_secs} s",
        "Lister les requêtes en cours depuis plus de {postgres.long_query_secs} s",
        guide = "Performance P1",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT pid, now() - query_start AS duration, query FROM pg_stat_activity WHERE (now() - query_start) > interval '{postgres.long_query_secs} seconds' AND state = 'active' ORDER BY duration DESC\""
    ),
    step!("Read the slow query's plan with EXPLAIN ANALYZE", "Lire le plan de la requête lente avec EXPLAIN ANALYZE", guide = "Performance P1"),
    step!(
        "Add the missing indexes (see postgres.indexes)",
        "Ajouter les index manquants (voir postgres.indexes)",
        guide = "Performance P1",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"CREATE INDEX idx_mailboxes_email ON mailboxes(email); CREATE INDEX idx_users_rpps ON users(rpps_id);\""
    ),
];

/// One client session, as `pg_stat_activity` shows it to the diagnosing role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backend {
    /// Server process id.
    pub pid: i32,
    /// Role.
    pub user: Option<String>,
    /// `application_name` (empty when unset).
    pub application: String,
    /// Database.
    pub database: Option<String>,
    /// `active`, `idle`, `idle in transaction`, ...; `None` when hidden from the diagnosing
    /// role (another role's session, without `pg_read_all_stats`).
    pub state: Option<String>,
    /// Seconds in the current state.
    pub state_secs: Option<f64>,
}

/// Connection slots and the sessions holding them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionStats {
    /// `max_connections`.
    pub max_connections: i64,
    /// Slots ordinary roles cannot use: `superuser_reserved_connections`, plus
    /// `reserved_connections` on 16+.
    pub reserved_connections: i64,
    /// Client sessions, this diagnostic's own excluded.
    pub backends: Vec<Backend>,
}

impl ConnectionStats {
    /// Slots open to ordinary roles (the platform's).
    #[must_use]
    pub fn usable(&self) -> i64 {
        (self.max_connections - self.reserved_connections).max(1)
    }

    /// Sessions in use.
    #[must_use]
    pub fn used(&self) -> usize {
        self.backends.len()
    }

    /// Sessions per state (`hidden` for states the role may not see).
    #[must_use]
    pub fn by_state(&self) -> BTreeMap<String, usize> {
        self.count(|b| b.state.clone().unwrap_or_else(|| "hidden".into()))
    }

    /// Sessions per role.
    #[must_use]
    pub fn by_user(&self) -> BTreeMap<String, usize> {
        self.count(|b| b.user.clone().unwrap_or_default())
    }

    /// Sessions per `application_name`.
    #[must_use]
    pub fn by_application(&self) -> BTreeMap<String, usize> {
        self.count(|b| b.application.clone())
    }

    fn count(&self, key: impl Fn(&Backend) -> String) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for b in &self.backends {
            *m.entry(key(b)).or_insert(0) += 1;
        }
        m
    }
}

/// Reads the connection settings and every client session.
///
/// # Errors
/// The query's error.
pub async fn connection_stats(conn: &mut PgConnection) -> Result<ConnectionStats, sqlx::Error> {
    let (max_connections, reserved_connections): (i64, i64) = sqlx::query_as(
        "SELECT current_setting('max_connections')::int8, \
                current_setting('superuser_reserved_connections')::int8 + coalesce(current_setting('reserved_connections', true)::int8, 0)",
    )
    .fetch_one(&mut *conn)
    .await?;
    let backends = sqlx::query(
        "SELECT pid, usename::text, coalesce(application_name, ''), datname::text, state, \
                extract(epoch FROM now() - state_change)::float8 \
         FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY pid",
    )
    .try_map(|r: PgRow| {
        Ok(Backend { pid: r.try_get(0)?, user: r.try_get(1)?, application: r.try_get(2)?, database: r.try_get(3)?, state: r.try_get(4)?, state_secs: r.try_get(5)? })
    })
    .fetch_all(&mut *conn)
    .await?;
    Ok(ConnectionStats { max_connections, reserved_connections, backends })
}

/// A session for a summary: `pid 123 (mssante/api, 12 min)`.
fn who(b: &Backend, lang: Lang) -> String {
    let user = b.user.as_deref().unwrap_or("?");
    let app = if b.application.is_empty() { "-" } else { &b.application };
    format!("pid {} ({user}/{app}, {})", b.pid, units::duration(b.state_secs.unwrap_or(0.0), lang))
}

/// Sessions, longest in their state first.
fn by_age(mut v: Vec<&Backend>) -> Vec<&Backend> {
    v.sort_by(|a, b| b.state_secs.unwrap_or(0.0).total_cmp(&a.state_secs.unwrap_or(0.0)));
    v
}

/// Judges connection use. `refused_full`: the server refused the platform's role with
/// "too many clients" (the stats were then read through the reserved role).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_connections(s: &ConnectionStats, refused_full: bool, cfg: &PostgresConfig, lang: Lang) -> Outcome {
    let (used, usable, max) = (s.used(), s.usable(), s.max_connections);
    let pct = used as f64 * 100.0 / usable as f64;
    let idle_limit = cfg.idle_minutes * 60.0;
    let older = |b: &&Backend| b.state_secs.unwrap_or(0.0) >= idle_limit;
    let idle: Vec<&Backend> = by_age(s.backends.iter().filter(|b| b.state.as_deref() == Some("idle")).filter(older).collect());
    let idle_tx: Vec<&Backend> =
        by_age(s.backends.iter().filter(|b| b.state.as_deref().is_some_and(|st| st.starts_with("idle in transaction"))).collect());
    let idle_tx_old: Vec<&Backend> = idle_tx.iter().copied().filter(older).collect();

    let mut status = grade(pct, cfg.connections_warn_pct, cfg.connections_crit_pct);
    if refused_full {
        status = Status::Critical;
    }
    if !idle_tx_old.is_empty() {
        status = status.worst(Status::Warning);
    }
    let reserved = s.reserved_connections;
    let mut summary = if refused_full {
        tr!(lang, "PostgreSQL is full (too many clients): ", "PostgreSQL est saturé (trop de clients) : ")
    } else {
        String::new()
    };
    summary += &tr!(
        lang,
        "{used} of {usable} connections in use ({pct:.0} %; max_connections {max}, {reserved} reserved)",
        "{used} connexions utilisées sur {usable} ({pct:.0} % ; max_connections {max}, {reserved} réservées)"
    );
    let by_holder = {
        let mut m: BTreeMap<(String, String), usize> = BTreeMap::new();
        for b in &s.backends {
            *m.entry((b.user.clone().unwrap_or_default(), b.application.clone())).or_insert(0) += 1;
        }
        m.into_iter().max_by_key(|(_, n)| *n)
    };
    if status != Status::Ok && pct >= cfg.connections_warn_pct {
        if let Some(((user, app), n)) = &by_holder {
            summary += &tr!(lang, "; most held by {user}/{app} ({n})", " ; surtout par {user}/{app} ({n})");
        }
    }
    let mins = cfg.idle_minutes;
    if !idle_tx_old.is_empty() {
        let n = idle_tx_old.len();
        let l = list_some(&idle_tx_old, 3, |b| who(b, lang));
        summary += &tr!(lang, "; {n} idle in transaction > {mins} min: {l}", " ; {n} inactives en transaction > {mins} min : {l}");
    }
    if !idle.is_empty() {
        let n = idle.len();
        let l = list_some(&idle, 3, |b| who(b, lang));
        summary += &tr!(lang, "; {n} idle > {mins} min: {l}", " ; {n} inactives > {mins} min : {l}");
    }

    let mut o = Outcome::new(status, summary)
        .metric(
            Metric::new("connections", used as f64, "")
                .thresholds(usable as f64 * cfg.connections_warn_pct / 100.0, usable as f64 * cfg.connections_crit_pct / 100.0)
                .range(0.0, max as f64),
        )
        .metric(Metric::new("connections_pct", pct, "%").thresholds(cfg.connections_warn_pct, cfg.connections_crit_pct).range(0.0, 100.0))
        .metric(Metric::new("idle_over_threshold", idle.len() as f64, ""))
        .metric(Metric::new("idle_in_transaction", idle_tx.len() as f64, ""))
        .details(serde_json::json!({
            "max_connections": max,
            "reserved_connections": reserved,
            "usable": usable,
            "used": used,
            "refused_full": refused_full,
            "by_state": s.by_state(),
            "by_user": s.by_user(),
            "by_application": s.by_application(),
            "idle_over_threshold": idle.iter().take(20).collect::<Vec<_>>(),
            "idle_in_transaction": idle_tx.iter().take(20).collect::<Vec<_>>(),
        }));
    if refused_full || pct >= cfg.connections_warn_pct {
        o = o.remedies(CONNECTION_STEPS, lang);
    }
    if !idle_tx_old.is_empty() {
        o = o.remedy(&IDLE_TX_STEP, lang);
    }
    o
}

pub(super) async fn run_connections(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    let session = ctx.state.postgres.session(&ctx.config).await;
    if session.pool.is_none() && session.refused_full() {
        let user = &ctx.config.postgres.user;
        let o = Outcome::critical(tr!(
            lang,
            "PostgreSQL is full: too many clients already for \"{user}\" (set [postgres.reserved] to see who holds the connections)",
            "PostgreSQL est saturé : trop de clients pour « {user} » (renseigner [postgres.reserved] pour voir qui tient les connexions)"
        ));
        return o.remedies(CONNECTION_STEPS, lang);
    }
    let refused_full = session.refused_full();
    match on_db(&ctx, |mut c| async move { connection_stats(&mut c).await }).await {
        Ok(stats) => evaluate_connections(&stats, refused_full, &ctx.config.postgres, lang),
        Err(o) => o,
    }
}

/// An active query running longer than the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LongQuery {
    /// Server process id.
    pub pid: i32,
    /// Role.
    pub user: Option<String>,
    /// `application_name`.
    pub application: String,
    /// Seconds since the query started.
    pub secs: f64,
    /// What it waits for (`Lock`, `IO`, ...), if anything.
    pub wait_event_type: Option<String>,
    /// The query text, truncated to 500 characters.
    pub query: String,
}

/// Active queries of the current database running longer than `min_secs`, longest first
/// (at most 20; sessions of roles the diagnosing role may not see are not listed).
///
/// # Errors
/// The query's error.
pub async fn long_queries(conn: &mut PgConnection, min_secs: f64) -> Result<Vec<LongQuery>, sqlx::Error> {
    sqlx::query(
        "SELECT pid, usename::text, coalesce(application_name, ''), extract(epoch FROM now() - query_start)::float8 AS secs, \
                wait_event_type, left(coalesce(query, ''), 500) \
         FROM pg_stat_activity \
         WHERE state = 'active' AND backend_type = 'client backend' AND datname = current_database() \
           AND pid <> pg_backend_pid() AND query_start < now() - make_interval(secs => $1) \
         ORDER BY secs DESC LIMIT 20",
    )
    .bind(min_secs)
    .try_map(|r: PgRow| {
        Ok(LongQuery {
            pid: r.try_get(0)?,
            user: r.try_get(1)?,
            application: r.try_get(2)?,
            secs: r.try_get(3)?,
            wait_event_type: r.try_get(4)?,
            query: r.try_get(5)?,
        })
    })
    .fetch_all(conn)
    .await
}

/// Judges the long-running queries: warning past `long_query_secs`, critical when the
/// longest runs past `long_query_crit_secs`.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_long_queries(qs: &[LongQuery], cfg: &PostgresConfig, lang: Lang) -> Outcome {
    let (warn, crit) = (cfg.long_query_secs, cfg.long_query_crit_secs);
    let thr = units::duration(warn, lang);
    let longest = qs.first().map_or(0.0, |q| q.secs);
    let metrics = [Metric::new("long_queries", qs.len() as f64, ""), Metric::new("longest_query", longest, "s").thresholds(warn, crit)];
    let o = match qs.first() {
        None => Outcome::ok(tr!(lang, "no active query running longer than {thr}", "aucune requête active depuis plus de {thr}")),
        Some(q) => {
            let n = qs.len();
            let (pid, user, app, dur, text) = (q.pid, q.user.as_deref().unwrap_or("?"), &q.application, units::duration(q.secs, lang), one_line(&q.query, 80));
            // Listed queries are past the warning threshold already.
            let status = grade(q.secs, warn, crit).worst(Status::Warning);
            let over = if status == Status::Critical {
                let c = units::duration(crit, lang);
                tr!(lang, " (critical past {c})", " (critique au-delà de {c})")
            } else {
                String::new()
            };
            let o = Outcome::new(
                status,
                tr!(
                    lang,
                    "{n} query(ies) running longer than {thr}; longest: pid {pid} ({user}/{app}) for {dur}{over}: {text}",
                    "{n} requête(s) en cours depuis plus de {thr} ; la plus longue : pid {pid} ({user}/{app}) depuis {dur}{over} : {text}"
                ),
            );
            o.remedies(LONG_QUERY_STEPS, lang)
        }
    };
    metrics
        .into_iter()
        .fold(o, Outcome::metric)
        .details(serde_json::json!({ "threshold_secs": warn, "critical_secs": crit, "queries": qs }))
}

/// Client sessions whose state `pg_stat_activity` hides from the diagnosing role (other roles'
/// sessions, without `pg_monitor` / `pg_read_all_stats`).
///
/// # Errors
/// The query's error.
pub async fn hidden_sessions(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND state IS NULL AND pid <> pg_backend_pid()")
        .fetch_one(conn)
        .await
}

/// A clean [`evaluate_long_queries`] means nothing when sessions were hidden: `unknown`, with the grant.
#[must_use]
pub fn with_hidden_sessions(o: Outcome, hidden: i64, lang: Lang) -> Outcome {
    if hidden == 0 || o.status != Status::Ok {
        return o;
    }
    Outcome::unknown(tr!(
        lang,
        "cannot look: {hidden} session(s) of other roles are hidden from the diagnosing role (no pg_monitor), their queries unseen",
        "impossible de regarder : {hidden} session(s) d'autres rôles masquée(s) au rôle de diagnostic (sans pg_monitor), leurs requêtes invisibles"
    ))
    .remedy(&PG_MONITOR_STEP, lang)
}

/// Grants the diagnosing role the statistics of every session (docs/least-privilege.md).
const PG_MONITOR_STEP: Step = step!(
    "Give the diagnosing role pg_monitor (statistics of every session and statement, no data)",
    "Donner pg_monitor au rôle de diagnostic (statistiques de toutes les sessions et requêtes, aucune donnée)",
    guide = "BD P2",
    cmd = "{docker.compose} exec postgres psql -U postgres -d {postgres.database} -c \"GRANT pg_monitor TO {postgres.user}\""
);

pub(super) async fn run_long_queries(ctx: Arc<Ctx>) -> Outcome {
    let min = ctx.config.postgres.long_query_secs;
    match on_db(&ctx, |mut c| async move { Ok((long_queries(&mut c, min).await?, hidden_sessions(&mut c).await?)) }).await {
        Ok((qs, hidden)) => with_hidden_sessions(evaluate_long_queries(&qs, &ctx.config.postgres, ctx.lang()), hidden, ctx.lang()),
        Err(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_sessions_make_a_clean_result_unknown_with_the_grant() {
        let clean = || Outcome::ok("no active query");
        assert_eq!(with_hidden_sessions(clean(), 0, Lang::En).status, Status::Ok);
        let o = with_hidden_sessions(clean(), 3, Lang::Fr);
        assert_eq!(o.status, Status::Unknown);
        assert!(o.summary.contains("3 session(s)") && o.summary.contains("pg_monitor"), "{}", o.summary);
        assert!(o.remediation.iter().any(|r| r.command.as_deref().is_some_and(|c| c.contains("GRANT pg_monitor TO {postgres.user}"))));
        // A real finding stays.
        assert_eq!(with_hidden_sessions(Outcome::new(Status::Critical, "long"), 3, Lang::En).status, Status::Critical);
    }

    fn backend(pid: i32, state: Option<&str>, secs: f64) -> Backend {
        Backend {
            pid,
            user: Some("mssante".into()),
            application: "api".into(),
            database: Some("mssante".into()),
            state: state.map(str::to_owned),
            state_secs: Some(secs),
        }
    }

    fn stats(n: usize) -> ConnectionStats {
        let backends = (0..n).map(|i| backend(i32::try_from(i).unwrap_or(0) + 100, Some("active"), 1.0)).collect();
        ConnectionStats { max_connections: 30, reserved_connections: 3, backends }
    }

    #[test]
    fn thresholds_are_against_usable_slots() {
        let cfg = PostgresConfig::default();
        assert_eq!(evaluate_connections(&stats(10), false, &cfg, Lang::En).status, Status::Ok);
        assert_eq!(evaluate_connections(&stats(22), false, &cfg, Lang::En).status, Status::Warning);
        let full = evaluate_connections(&stats(27), false, &cfg, Lang::En);
        assert_eq!(full.status, Status::Critical);
        assert!(full.summary.contains("27 of 27") && full.summary.contains("mssante/api (27)"), "{}", full.summary);
        assert_eq!(evaluate_connections(&stats(5), true, &cfg, Lang::En).status, Status::Critical);
    }

    #[test]
    fn idle_sessions_are_named() {
        let cfg = PostgresConfig::default();
        let mut s = stats(2);
        s.backends.push(backend(4242, Some("idle"), 900.0));
        s.backends.push(backend(7, Some("idle"), 30.0));
        let o = evaluate_connections(&s, false, &cfg, Lang::En);
        assert_eq!(o.status, Status::Ok);
        assert!(o.summary.contains("1 idle > 10 min: pid 4242 (mssante/api, 15 min)"), "{}", o.summary);
        s.backends.push(backend(99, Some("idle in transaction"), 1200.0));
        let o = evaluate_connections(&s, false, &cfg, Lang::Fr);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("pid 99"), "{}", o.summary);
        assert_eq!(s.by_state().get("idle"), Some(&2));
    }

    #[test]
    fn long_query_names_pid() {
        let cfg = PostgresConfig::default();
        assert_eq!(evaluate_long_queries(&[], &cfg, Lang::En).status, Status::Ok);
        let q = LongQuery {
            pid: 321,
            user: Some("mssante".into()),
            application: "psql".into(),
            secs: 5.2,
            wait_event_type: Some("Timeout".into()),
            query: "SELECT pg_sleep(5)".into(),
        };
        let o = evaluate_long_queries(std::slice::from_ref(&q), &cfg, Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("pid 321") && o.summary.contains("pg_sleep") && !o.summary.contains("critical"), "{}", o.summary);
        let m = o.metrics.iter().find(|m| m.name == "longest_query").expect("metric");
        assert_eq!((m.warn, m.crit), (Some(1.0), Some(30.0)));
        // Past the second threshold: critical.
        let o = evaluate_long_queries(&[LongQuery { secs: 45.0, ..q }], &cfg, Lang::Fr);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("depuis 45.0 s (critique au-delà de 30.0 s)"), "{}", o.summary);
    }
}
