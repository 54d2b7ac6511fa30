//! `postgres.integrity`: data checksums and checksum failures (guide: BD P3).

use std::sync::Arc;

use serde::Serialize;
use sqlx::postgres::PgConnection;

use super::session::on_db;
use super::{list_some, relation};
use crate::units;
use crate::checks::{step, Ctx, Outcome, Step};
use crate::model::Metric;
use crate::{tr, Lang};

/// Generic remedy of `postgres.integrity` (corruption), the guide's BD P3 in order.
pub(super) const CORRUPTION_STEPS: &[Step] = &[
    step!(
        "Back up immediately, while the data can still be read",
        "Sauvegarder immédiatement, tant que les données sont lisibles",
        guide = "BD P3",
        cmd = "{docker.compose} exec postgres pg_dumpall -U {postgres.user} > backup_emergency.sql"
    ),
    step!(
        "Stop PostgreSQL and verify every page's checksum",
        "Arrêter PostgreSQL et vérifier la somme de contrôle de chaque page",
        guide = "BD P3",
        cmd = "{docker.compose} stop postgres && {docker.compose} run --rm postgres sh -c \"pg_checksums -D /var/lib/postgresql/data --check\"",
        destructive = true
    ),
    step!(
        "Try a repair by rebuilding the indexes",
        "Tenter une réparation en reconstruisant les index",
        guide = "BD P3",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"REINDEX DATABASE {postgres.database};\"",
        destructive = true
    ),
    step!(
        "If that fails, restore from the backup (erases the data folder)",
        "En cas d'échec, restaurer depuis la sauvegarde (efface le dossier de données)",
        guide = "BD P3",
        cmd = "{docker.compose} down postgres && rm -rf data/postgres/* && {docker.compose} up -d postgres && sleep 10 && cat backup_emergency.sql | {docker.compose} exec -T postgres psql -U {postgres.user} -d {postgres.database}",
        destructive = true
    ),
];

const ENABLE_CHECKSUMS_STEP: Step = step!(
    "Enable data checksums so corruption is detected (PostgreSQL stopped, after a backup)",
    "Activer les sommes de contrôle pour détecter la corruption (PostgreSQL arrêté, après une sauvegarde)",
    guide = "BD P3",
    cmd = "{docker.compose} stop postgres && {docker.compose} run --rm postgres sh -c \"pg_checksums -D /var/lib/postgresql/data --enable\"",
    destructive = true
);

/// Checksum failures recorded for one database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecksumFailure {
    /// Database (`(shared objects)` for the cluster-wide catalogues).
    pub database: String,
    /// `checksum_failures`.
    pub failures: i64,
    /// Seconds since the last failure.
    pub last_failure_age_secs: Option<f64>,
}

/// Data checksums and the failures they caught.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntegrityFacts {
    /// The `data_checksums` setting.
    pub data_checksums: bool,
    /// Databases with failures; `None` when `pg_stat_database` has no `checksum_failures` (before 12).
    pub failures: Option<Vec<ChecksumFailure>>,
}

/// Reads the checksum setting and the failure counters of every database.
///
/// # Errors
/// The query's error.
pub async fn integrity(conn: &mut PgConnection) -> Result<IntegrityFacts, sqlx::Error> {
    let (data_checksums,): (bool,) = sqlx::query_as("SELECT current_setting('data_checksums')::bool").fetch_one(&mut *conn).await?;
    let has_column = relation(&mut *conn, "pg_catalog.pg_stat_database").await?.is_some_and(|r| r.has("checksum_failures"));
    let failures = if has_column {
        let rows: Vec<(String, i64, Option<f64>)> = sqlx::query_as(
            "SELECT coalesce(datname::text, '(shared objects)'), checksum_failures, extract(epoch FROM now() - checksum_last_failure)::float8 \
             FROM pg_stat_database WHERE checksum_failures > 0 ORDER BY checksum_failures DESC",
        )
        .fetch_all(&mut *conn)
        .await?;
        Some(rows.into_iter().map(|(database, failures, last_failure_age_secs)| ChecksumFailure { database, failures, last_failure_age_secs }).collect())
    } else {
        None
    };
    Ok(IntegrityFacts { data_checksums, failures })
}

/// Judges integrity: failures are critical, checksums off is a warning (corruption goes unseen).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_integrity(f: &IntegrityFacts, lang: Lang) -> Outcome {
    let total: i64 = f.failures.iter().flatten().map(|x| x.failures).sum();
    let o = match (&f.failures, f.data_checksums) {
        (Some(fs), _) if !fs.is_empty() => {
            let l = list_some(fs, 3, |x| {
                let ago = x.last_failure_age_secs.map_or_else(String::new, |s| tr!(lang, ", last {} ago", ", dernière il y a {}", units::duration(s, lang)));
                format!("{} ({}{ago})", x.database, x.failures)
            });
            let o = Outcome::critical(tr!(
                lang,
                "{total} data page checksum failure(s): {l}: the database is corrupted",
                "{total} erreur(s) de somme de contrôle de page : {l} : la base est corrompue"
            ));
            o.remedies(CORRUPTION_STEPS, lang)
        }
        (_, false) => Outcome::warning(tr!(
            lang,
            "data checksums are off: page corruption would go undetected",
            "les sommes de contrôle des données sont désactivées : une corruption de page passerait inaperçue"
        ))
        .remedy(&ENABLE_CHECKSUMS_STEP, lang),
        (None, true) => Outcome::ok(tr!(
            lang,
            "data checksums on (failure counters need PostgreSQL 12+)",
            "sommes de contrôle activées (compteurs d'erreurs : PostgreSQL 12+)"
        )),
        (Some(_), true) => Outcome::ok(tr!(lang, "data checksums on, no checksum failure", "sommes de contrôle activées, aucune erreur")),
    };
    o.metric(Metric::new("checksum_failures", total as f64, "").thresholds(1.0, 1.0)).details(f)
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    match on_db(&ctx, |mut c| async move { integrity(&mut c).await }).await {
        Ok(f) => evaluate_integrity(&f, ctx.lang()),
        Err(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn grades() {
        let ok = IntegrityFacts { data_checksums: true, failures: Some(vec![]) };
        assert_eq!(evaluate_integrity(&ok, Lang::En).status, Status::Ok);
        let off = IntegrityFacts { data_checksums: false, failures: None };
        assert_eq!(evaluate_integrity(&off, Lang::En).status, Status::Warning);
        let bad = IntegrityFacts {
            data_checksums: true,
            failures: Some(vec![ChecksumFailure { database: "mssante".into(), failures: 2, last_failure_age_secs: Some(60.0) }]),
        };
        let o = evaluate_integrity(&bad, Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("mssante (2, last 60.0 s ago)"), "{}", o.summary);
        assert!(o.remediation.iter().any(|r| r.destructive));
    }
}
