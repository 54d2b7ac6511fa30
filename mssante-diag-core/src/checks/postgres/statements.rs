//! `postgres.statements`: the slowest statements of `pg_stat_statements`
//! (guide: Performance P2; its query uses `mean_time`, renamed `mean_exec_time` in 13).

use std::sync::Arc;

use serde::Serialize;
use sqlx::postgres::PgConnection;

use super::session::on_db;
use super::{one_line, relation};
use crate::units;
use crate::checks::{step, Ctx, Outcome, Step};
use super::Settings as PostgresConfig;
use crate::model::Metric;
use crate::{tr, Lang};

/// Generic remedy of `postgres.statements` (slow statements).
pub(super) const SLOW_STEPS: &[Step] = &[
    step!(
        "List the costliest statements (PostgreSQL 13+: mean_exec_time / total_exec_time; before: mean_time / total_time)",
        "Lister les requêtes les plus coûteuses (PostgreSQL 13+ : mean_exec_time / total_exec_time ; avant : mean_time / total_time)",
        guide = "Performance P2",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT query, calls, total_exec_time, mean_exec_time FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10\""
    ),
    step!("Read their plans with EXPLAIN ANALYZE and add the missing indexes", "Lire leurs plans avec EXPLAIN ANALYZE et ajouter les index manquants", guide = "Performance P1"),
    step!("Refresh the planner's statistics", "Rafraîchir les statistiques du planificateur", guide = "Performance P2", cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"VACUUM ANALYZE;\""),
];

const PRELOAD_STEP: Step = step!(
    "Load the library: shared_preload_libraries = 'pg_stat_statements' in config/postgres/postgresql.conf, then restart PostgreSQL",
    "Charger la bibliothèque : shared_preload_libraries = 'pg_stat_statements' dans config/postgres/postgresql.conf, puis redémarrer PostgreSQL",
    guide = "Performance P2",
    cmd = "{docker.compose} restart postgres",
    destructive = true
);
const CREATE_STEP: Step = step!(
    "Create the extension in the platform's database (as a superuser)",
    "Créer l'extension dans la base de la plateforme (en superutilisateur)",
    guide = "Performance P2",
    cmd = "{docker.compose} exec postgres psql -U postgres -d {postgres.database} -c \"CREATE EXTENSION pg_stat_statements\""
);

/// What PostgreSQL shows instead of another role's statement to a role without `pg_read_all_stats`.
const HIDDEN: &str = "<insufficient privilege>";

/// One normalised statement and its timings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    /// `queryid` (none for statements of roles the diagnosing role may not see).
    pub queryid: Option<i64>,
    /// Executions.
    pub calls: i64,
    /// Total execution time, ms.
    pub total_ms: f64,
    /// Mean execution time, ms.
    pub mean_ms: f64,
    /// Normalised text, truncated to 500 characters.
    pub query: String,
}

/// What `pg_stat_statements` offers in the current database.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum StatementsFacts {
    /// The extension is not created in this database.
    NotInstalled,
    /// The extension exists but cannot be read (not preloaded, unknown columns): the reason.
    Unusable {
        /// The server's message or what is missing.
        reason: String,
    },
    /// The slowest statements of this database by mean time (at most 10), among those called
    /// at least `min_calls` times.
    Found {
        /// Extension version.
        version: String,
        /// Timing column read: `mean_exec_time` (13+) or `mean_time`.
        column: String,
        /// Fewest calls a statement needs to be ranked.
        min_calls: i64,
        /// Statements, slowest first.
        statements: Vec<Statement>,
    },
}

/// Reads the slowest statements called at least `min_calls` times, choosing the timing
/// columns the installed extension has.
///
/// # Errors
/// The query's error (a library not preloaded is [`StatementsFacts::Unusable`], not an error).
pub async fn statements(conn: &mut PgConnection, min_calls: i64) -> Result<StatementsFacts, sqlx::Error> {
    let ext: Option<(String, String)> = sqlx::query_as(
        "SELECT quote_ident(n.nspname), e.extversion FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
         WHERE e.extname = 'pg_stat_statements'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some((schema, version)) = ext else { return Ok(StatementsFacts::NotInstalled) };
    let Some(view) = relation(&mut *conn, &format!("{schema}.pg_stat_statements")).await? else {
        return Ok(StatementsFacts::Unusable { reason: format!("view {schema}.pg_stat_statements not found") });
    };
    let (total, mean) = if view.has("mean_exec_time") {
        ("total_exec_time", "mean_exec_time")
    } else if view.has("mean_time") {
        ("total_time", "mean_time")
    } else {
        return Ok(StatementsFacts::Unusable { reason: format!("{} has neither mean_exec_time nor mean_time", view.name) });
    };
    // Identifiers: the server-quoted view name and two fixed column names; no value is interpolated.
    let sql = format!(
        "SELECT queryid, calls, {total}::float8, {mean}::float8, left(coalesce(query, ''), 500) FROM {} \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND calls >= $1 ORDER BY {mean} DESC LIMIT 10",
        view.name
    );
    match sqlx::query_as::<_, (Option<i64>, i64, f64, f64, String)>(&sql).bind(min_calls).fetch_all(&mut *conn).await {
        Ok(rows) => Ok(StatementsFacts::Found {
            version,
            column: mean.to_owned(),
            min_calls,
            statements: rows
                .into_iter()
                .map(|(queryid, calls, total_ms, mean_ms, query)| Statement { queryid, calls, total_ms, mean_ms, query })
                .collect(),
        }),
        // object_not_in_prerequisite_state: "must be loaded via shared_preload_libraries".
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("55000") => Ok(StatementsFacts::Unusable { reason: db.message().to_owned() }),
        Err(e) => Err(e),
    }
}

/// Judges the statements: warning when the slowest mean time exceeds the long-query threshold.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_statements(f: &StatementsFacts, cfg: &PostgresConfig, lang: Lang) -> Outcome {
    let db = &cfg.database;
    match f {
        StatementsFacts::NotInstalled => {
            let o = Outcome::skipped(tr!(
                lang,
                "pg_stat_statements is not installed in database \"{db}\": preload it and run CREATE EXTENSION pg_stat_statements",
                "pg_stat_statements n'est pas installé dans la base « {db} » : le précharger et exécuter CREATE EXTENSION pg_stat_statements"
            ));
            o.remedy(&PRELOAD_STEP, lang).remedy(&CREATE_STEP, lang).details(f)
        }
        StatementsFacts::Unusable { reason } => {
            Outcome::skipped(tr!(lang, "pg_stat_statements unusable: {reason}", "pg_stat_statements inutilisable : {reason}"))
                .remedy(&PRELOAD_STEP, lang)
                .details(f)
        }
        StatementsFacts::Found { statements, min_calls, .. } => {
            let thr_ms = cfg.long_query_secs * 1000.0;
            let mut slowest = Metric::new("slowest_mean", statements.first().map_or(0.0, |s| s.mean_ms), "ms");
            slowest.warn = Some(thr_ms);
            let o = match statements.first() {
                None => Outcome::ok(tr!(
                    lang,
                    "no statement called {min_calls} times or more yet in \"{db}\"",
                    "aucune requête appelée au moins {min_calls} fois pour l'instant dans « {db} »"
                )),
                Some(s) => {
                    let (mean, calls, id) = (units::duration(s.mean_ms / 1000.0, lang), s.calls, s.queryid.map_or_else(|| "?".into(), |q| q.to_string()));
                    let text = if s.query == HIDDEN {
                        tr!(lang, "another role's statement (text hidden without pg_read_all_stats)", "requête d'un autre rôle (texte masqué sans pg_read_all_stats)")
                    } else {
                        one_line(&s.query, 80)
                    };
                    if s.mean_ms >= thr_ms {
                        let thr = units::duration(cfg.long_query_secs, lang);
                        let o = Outcome::warning(tr!(
                            lang,
                            "slowest statement takes {mean} on average (over {thr}) in {calls} call(s), queryid {id}: {text}",
                            "la requête la plus lente prend {mean} en moyenne (plus de {thr}) sur {calls} appel(s), queryid {id} : {text}"
                        ));
                        o.remedies(SLOW_STEPS, lang)
                    } else {
                        Outcome::ok(tr!(
                            lang,
                            "slowest statement called {min_calls}+ times takes {mean} on average ({calls} calls): {text}",
                            "la requête la plus lente appelée {min_calls} fois ou plus prend {mean} en moyenne ({calls} appels) : {text}"
                        ))
                    }
                }
            };
            o.metric(slowest).metric(Metric::new("statements_listed", statements.len() as f64, "")).details(f)
        }
    }
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let min_calls = ctx.config.postgres.statements_min_calls;
    match on_db(&ctx, |mut c| async move { statements(&mut c, min_calls).await }).await {
        Ok(f) => evaluate_statements(&f, &ctx.config.postgres, ctx.lang()),
        Err(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn missing_extension_is_skipped_with_the_remedy() {
        let o = evaluate_statements(&StatementsFacts::NotInstalled, &PostgresConfig::default(), Lang::En);
        assert_eq!(o.status, Status::Skipped);
        assert!(o.remediation.iter().any(|r| r.command.as_deref().is_some_and(|c| c.contains("CREATE EXTENSION pg_stat_statements"))));
        assert!(o.remediation.iter().any(|r| r.text.contains("shared_preload_libraries")));
    }

    #[test]
    fn slow_statement_warns() {
        let s = Statement { queryid: Some(42), calls: 30, total_ms: 60000.0, mean_ms: 2000.0, query: "SELECT pg_sleep($1)".into() };
        let f = StatementsFacts::Found { version: "1.10".into(), column: "mean_exec_time".into(), min_calls: 10, statements: vec![s] };
        let o = evaluate_statements(&f, &PostgresConfig::default(), Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("queryid 42") && o.summary.contains("2.0 s"), "{}", o.summary);
        let none = StatementsFacts::Found { version: "1.10".into(), column: "mean_exec_time".into(), min_calls: 10, statements: vec![] };
        let o = evaluate_statements(&none, &PostgresConfig::default(), Lang::En);
        assert_eq!(o.status, Status::Ok);
        assert_eq!(o.summary, "no statement called 10 times or more yet in \"mssante\"");
    }
}
