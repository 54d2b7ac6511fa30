//! `postgres.retention`: `audit_logs` rows older than the retention (guide: Performance P2).
//! Read-only: the guide's `DELETE` is printed, flagged destructive, never run.

use std::sync::Arc;

use serde::Serialize;
use sqlx::postgres::PgConnection;

use super::session::on_db;
use super::{relation};
use crate::checks::{step, Ctx, Outcome, Step};
use super::Settings as PostgresConfig;
use crate::model::Metric;
use crate::{tr, Lang};

/// The audit table and its timestamp column.
pub const AUDIT_TABLE: &str = "audit_logs";
/// The column holding each row's time.
pub const AUDIT_COLUMN: &str = "created_at";
/// Old rows counted at most (the count stays cheap on a huge table).
pub const COUNT_CAP: i64 = 1_000_000;

/// Generic remedy of `postgres.retention`: archive, then delete, then vacuum.
pub(super) const ARCHIVE_STEPS: &[Step] = &[
    step!(
        "Archive the rows older than {postgres.retention_months} months to a file first",
        "Archiver d'abord dans un fichier les lignes de plus de {postgres.retention_months} mois",
        guide = "Performance P2",
        cmd = "{docker.compose} exec -T postgres psql -U {postgres.user} -d {postgres.database} -c \"\\copy (SELECT * FROM audit_logs WHERE created_at < NOW() - INTERVAL '{postgres.retention_months} months') TO STDOUT CSV HEADER\" | gzip > audit_logs_archive.csv.gz"
    ),
    step!(
        "Then delete them from the table (irreversible: check the archive first)",
        "Puis les supprimer de la table (irréversible : vérifier l'archive d'abord)",
        guide = "Performance P2",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"DELETE FROM audit_logs WHERE created_at < NOW() - INTERVAL '{postgres.retention_months} months';\"",
        destructive = true
    ),
    step!(
        "Reclaim the space and refresh statistics",
        "Récupérer l'espace et rafraîchir les statistiques",
        guide = "Performance P2",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"VACUUM ANALYZE audit_logs;\""
    ),
];

/// What the audit table holds beyond the retention.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RetentionFacts {
    /// No `audit_logs` table.
    NoTable,
    /// The table has no `created_at` column.
    NoColumn {
        /// Table.
        table: String,
    },
    /// Counted.
    Found {
        /// Table (server-quoted).
        table: String,
        /// Rows older than the retention, at most [`COUNT_CAP`].
        older: i64,
        /// The oldest row's time, as PostgreSQL prints it.
        oldest: Option<String>,
        /// Age of the oldest row, days.
        oldest_age_days: Option<f64>,
    },
}

/// Counts the `audit_logs` rows older than `months`.
///
/// # Errors
/// The query's error.
pub async fn retention(conn: &mut PgConnection, months: u32) -> Result<RetentionFacts, sqlx::Error> {
    let Some(rel) = relation(&mut *conn, AUDIT_TABLE).await? else { return Ok(RetentionFacts::NoTable) };
    if !rel.has(AUDIT_COLUMN) {
        return Ok(RetentionFacts::NoColumn { table: rel.name });
    }
    // Identifiers: the server-quoted table name and a fixed column; values are bound.
    let t = &rel.name;
    let sql = format!(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM {t} WHERE {AUDIT_COLUMN} < now() - make_interval(months => $1) LIMIT $2) s), \
                m::text, extract(epoch FROM now() - m)::float8 / 86400 \
         FROM (SELECT min({AUDIT_COLUMN}) AS m FROM {t}) x"
    );
    let (older, oldest, oldest_age_days): (i64, Option<String>, Option<f64>) =
        sqlx::query_as(&sql).bind(i32::try_from(months).unwrap_or(i32::MAX)).bind(COUNT_CAP).fetch_one(&mut *conn).await?;
    Ok(RetentionFacts::Found { table: rel.name, older, oldest, oldest_age_days })
}

/// Judges the retention: old rows warn, with the archiving remedy.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_retention(f: &RetentionFacts, cfg: &PostgresConfig, lang: Lang) -> Outcome {
    let months = cfg.retention_months;
    match f {
        RetentionFacts::NoTable => {
            Outcome::skipped(tr!(lang, "no {AUDIT_TABLE} table in this database", "pas de table {AUDIT_TABLE} dans cette base")).details(f)
        }
        RetentionFacts::NoColumn { table } => Outcome::skipped(tr!(
            lang,
            "{table} has no {AUDIT_COLUMN} column: retention not checked",
            "{table} n'a pas de colonne {AUDIT_COLUMN} : rétention non vérifiée"
        ))
        .details(f),
        RetentionFacts::Found { table, older, oldest, .. } => {
            let mut m = Metric::new("rows_over_retention", *older as f64, "");
            m.warn = Some(1.0);
            let o = if *older > 0 {
                let n = if *older >= COUNT_CAP { format!("{COUNT_CAP}+") } else { older.to_string() };
                let since = oldest.as_deref().unwrap_or("?");
                let o = Outcome::warning(tr!(
                    lang,
                    "{n} row(s) of {table} older than {months} months (oldest {since}): archive them",
                    "{n} ligne(s) de {table} de plus de {months} mois (la plus ancienne {since}) : les archiver"
                ));
                o.remedies(ARCHIVE_STEPS, lang)
            } else {
                Outcome::ok(tr!(lang, "no row of {table} older than {months} months", "aucune ligne de {table} de plus de {months} mois"))
            };
            o.metric(m).details(f)
        }
    }
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let months = ctx.config.postgres.retention_months;
    match on_db(&ctx, |mut c| async move { retention(&mut c, months).await }).await {
        Ok(f) => evaluate_retention(&f, &ctx.config.postgres, ctx.lang()),
        Err(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn old_rows_warn_and_the_delete_is_destructive() {
        let cfg = PostgresConfig::default();
        let f = RetentionFacts::Found { table: "audit_logs".into(), older: 12, oldest: Some("2024-01-01".into()), oldest_age_days: Some(400.0) };
        let o = evaluate_retention(&f, &cfg, Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("12 row(s) of audit_logs older than 6 months"), "{}", o.summary);
        let delete = o.remediation.iter().find(|r| r.command.as_deref().is_some_and(|c| c.contains("DELETE"))).expect("a DELETE step");
        assert!(delete.destructive);
        assert!(!o.remediation[0].destructive);
        assert_eq!(evaluate_retention(&RetentionFacts::NoTable, &cfg, Lang::En).status, Status::Skipped);
    }
}
