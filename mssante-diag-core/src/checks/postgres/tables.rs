//! Per-table checks: `postgres.size`, `postgres.indexes`, `postgres.vacuum`
//! (guide: Performance P1-P3).

use std::sync::Arc;

use serde::Serialize;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::Row;

use super::session::on_db;
use super::list_some;
use crate::units;
use crate::checks::{grade, step, Ctx, Outcome, Step};
use super::settings::ExpectedIndex;
use super::Settings as PostgresConfig;
use crate::model::{Metric, Remedy, Status};
use crate::{tr, Lang};

/// Sequential scans a table needs before `postgres.indexes` looks at it.
pub const SEQ_SCAN_MIN: i64 = 100;
/// Mean rows read per sequential scan that make a table "read by sequential scans".
pub const SEQ_ROWS_MIN: i64 = 10_000;
/// Rows (live + dead) from which `postgres.vacuum` judges a table.
pub const VACUUM_MIN_ROWS: i64 = 1_000;
/// Dead-tuple share that warns, percent (autovacuum's default scale factor is 20 %).
pub const DEAD_WARN_PCT: f64 = 20.0;
/// Dead-tuple share that is critical, percent.
pub const DEAD_CRIT_PCT: f64 = 50.0;

const VACUUM_ANALYZE: Step = step!(
    "Reclaim dead tuples and refresh statistics",
    "Récupérer les lignes mortes et rafraîchir les statistiques",
    guide = "Performance P2",
    cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"VACUUM ANALYZE;\""
);

/// Generic remedy of `postgres.size`.
pub(super) const SIZE_STEPS: &[Step] = &[
    step!(
        "List table sizes",
        "Lister la taille des tables",
        guide = "Performance P2",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT schemaname, tablename, pg_size_pretty(pg_total_relation_size(schemaname||'.'||tablename)) AS size FROM pg_tables WHERE schemaname = 'public' ORDER BY pg_total_relation_size(schemaname||'.'||tablename) DESC\""
    ),
    step!("Archive old data (see postgres.retention)", "Archiver les anciennes données (voir postgres.retention)", guide = "Performance P2"),
    step!("Check the disk space", "Vérifier l'espace disque", guide = "Performance P3", cmd = "df -h"),
];

/// Generic remedy of `postgres.indexes`.
pub(super) const INDEX_STEPS: &[Step] = &[
    step!(
        "Add the missing indexes",
        "Ajouter les index manquants",
        guide = "Performance P1",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"CREATE INDEX idx_mailboxes_email ON mailboxes(email); CREATE INDEX idx_users_rpps ON users(rpps_id);\""
    ),
    step!("Find the queries behind the sequential scans with EXPLAIN ANALYZE", "Trouver les requêtes à l'origine des parcours séquentiels avec EXPLAIN ANALYZE", guide = "Performance P1"),
];

/// Generic remedy of `postgres.vacuum`.
pub(super) const VACUUM_STEPS: &[Step] = &[
    VACUUM_ANALYZE,
    step!(
        "Check that autovacuum is on and keeps up",
        "Vérifier qu'autovacuum est actif et suit le rythme",
        guide = "Performance P2",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT relname, n_dead_tup, last_autovacuum FROM pg_stat_user_tables ORDER BY n_dead_tup DESC LIMIT 10\""
    ),
];

// ---------------------------------------------------------------- size

/// A table's total size (with indexes and TOAST).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableSize {
    /// Table (server-quoted, schema-qualified when off the search path).
    pub table: String,
    /// `pg_total_relation_size`, bytes.
    pub bytes: i64,
    /// Planner's row estimate (`reltuples`; -1 when never analysed).
    pub rows_estimate: f64,
}

/// The database's size and its largest tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeFacts {
    /// Database name.
    pub database: String,
    /// `pg_database_size`, bytes.
    pub database_bytes: i64,
    /// The 10 largest tables, largest first.
    pub tables: Vec<TableSize>,
}

/// Reads the database size and the largest tables.
///
/// # Errors
/// The query's error.
pub async fn size_facts(conn: &mut PgConnection) -> Result<SizeFacts, sqlx::Error> {
    let (database, database_bytes): (String, i64) =
        sqlx::query_as("SELECT current_database()::text, pg_database_size(current_database())").fetch_one(&mut *conn).await?;
    let rows: Vec<(String, i64, f64)> = sqlx::query_as(
        "SELECT c.oid::regclass::text, pg_total_relation_size(c.oid), c.reltuples::float8 \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
         ORDER BY 2 DESC LIMIT 10",
    )
    .fetch_all(&mut *conn)
    .await?;
    let tables = rows.into_iter().map(|(table, bytes, rows_estimate)| TableSize { table, bytes, rows_estimate }).collect();
    Ok(SizeFacts { database, database_bytes, tables })
}

/// Bytes in a GiB.
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Judges the database's size against `size_warn_gib` / `size_crit_gib` and names the
/// largest tables (the disk space itself is `system.disk`'s).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_size(f: &SizeFacts, cfg: &PostgresConfig, lang: Lang) -> Outcome {
    let (db, size) = (&f.database, units::bytes(u64::try_from(f.database_bytes).unwrap_or(0), lang));
    let (warn, crit) = (cfg.size_warn_gib * GIB, cfg.size_crit_gib * GIB);
    let status = grade(f.database_bytes as f64, warn, crit);
    let over = match status {
        Status::Ok => String::new(),
        s => {
            let limit = if s == Status::Critical { cfg.size_crit_gib } else { cfg.size_warn_gib };
            tr!(lang, " (over {limit} GiB)", " (plus de {limit} Gio)")
        }
    };
    let summary = match f.tables.first() {
        Some(t) => {
            let (name, tsize) = (&t.table, units::bytes(u64::try_from(t.bytes).unwrap_or(0), lang));
            tr!(lang, "database \"{db}\": {size}{over}; largest table {name}: {tsize}", "base « {db} » : {size}{over} ; plus grosse table {name} : {tsize}")
        }
        None => tr!(lang, "database \"{db}\": {size}{over}; no table", "base « {db} » : {size}{over} ; aucune table"),
    };
    let o = Outcome::new(status, summary)
        .metric(Metric::new("database_size", f.database_bytes as f64, "B").thresholds(warn, crit).label("database", db.clone()));
    let o = if status == Status::Ok { o } else { o.remedies(SIZE_STEPS, lang) };
    f.tables
        .iter()
        .fold(o, |o, t| o.metric(Metric::new("table_size", t.bytes as f64, "B").label("table", t.table.clone())))
        .details(f)
}

pub(super) async fn run_size(ctx: Arc<Ctx>) -> Outcome {
    match on_db(&ctx, |mut c| async move { size_facts(&mut c).await }).await {
        Ok(f) => evaluate_size(&f, &ctx.config.postgres, ctx.lang()),
        Err(o) => o,
    }
}

// ---------------------------------------------------------------- indexes

/// An index of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexInfo {
    /// Index name.
    pub name: String,
    /// Key columns in order (`(expression)` for an expression).
    pub columns: Vec<String>,
    /// `indisvalid` (false after a failed `CREATE INDEX CONCURRENTLY`).
    pub valid: bool,
    /// Has a `WHERE` clause (serves only some rows).
    pub partial: bool,
}

impl IndexInfo {
    /// Whether this index serves lookups on `columns` (they lead its key, in order).
    #[must_use]
    pub fn serves(&self, columns: &[String]) -> bool {
        self.valid
            && !self.partial
            && self.columns.len() >= columns.len()
            && self.columns.iter().zip(columns).all(|(have, want)| have.eq_ignore_ascii_case(want))
    }
}

/// An expected table and its indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableIndexes {
    /// Table, as configured.
    pub table: String,
    /// Whether the table exists.
    pub exists: bool,
    /// Its indexes.
    pub indexes: Vec<IndexInfo>,
}

/// How a table is read, from `pg_stat_user_tables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// `schema.table`.
    pub table: String,
    /// Sequential scans.
    pub seq_scan: i64,
    /// Rows read by sequential scans.
    pub seq_tup_read: i64,
    /// Index scans.
    pub idx_scan: i64,
    /// Live rows (estimate).
    pub live_rows: i64,
}

/// The expected tables' indexes and the tables most read by sequential scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexFacts {
    /// One entry per expected table.
    pub tables: Vec<TableIndexes>,
    /// The 20 tables with the most rows read sequentially.
    pub scans: Vec<ScanStats>,
}

/// Reads the indexes of the expected tables (by key columns) and the scan statistics.
///
/// # Errors
/// The query's error.
pub async fn index_facts(conn: &mut PgConnection, expected: &[ExpectedIndex]) -> Result<IndexFacts, sqlx::Error> {
    let mut names: Vec<String> = expected.iter().map(|e| e.table.clone()).collect();
    names.dedup();
    // (table asked, table exists, index, valid, partial, key columns)
    type IndexRow = (String, bool, Option<String>, Option<bool>, Option<bool>, Vec<String>);
    let rows: Vec<IndexRow> = sqlx::query_as(
        "SELECT t.name, c.oid IS NOT NULL, i.relname::text, ix.indisvalid, ix.indpred IS NOT NULL, \
                ARRAY(SELECT coalesce(a.attname::text, '(expression)') \
                      FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                      LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum \
                      WHERE k.ord <= ix.indnkeyatts ORDER BY k.ord) \
         FROM unnest($1::text[]) AS t(name) \
         LEFT JOIN pg_class c ON c.oid = to_regclass(t.name) \
         LEFT JOIN pg_index ix ON ix.indrelid = c.oid \
         LEFT JOIN pg_class i ON i.oid = ix.indexrelid \
         ORDER BY i.relname",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    let tables = names
        .iter()
        .map(|name| {
            let mine = rows.iter().filter(|r| &r.0 == name);
            TableIndexes {
                table: name.clone(),
                exists: rows.iter().any(|r| &r.0 == name && r.1),
                indexes: mine
                    .filter_map(|(_, _, index, valid, partial, columns)| {
                        Some(IndexInfo { name: index.clone()?, columns: columns.clone(), valid: valid.unwrap_or(false), partial: partial.unwrap_or(false) })
                    })
                    .collect(),
            }
        })
        .collect();
    let scans: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT schemaname || '.' || relname, coalesce(seq_scan, 0), coalesce(seq_tup_read, 0), coalesce(idx_scan, 0), coalesce(n_live_tup, 0) \
         FROM pg_stat_user_tables ORDER BY seq_tup_read DESC NULLS LAST LIMIT 20",
    )
    .fetch_all(&mut *conn)
    .await?;
    let scans = scans
        .into_iter()
        .map(|(table, seq_scan, seq_tup_read, idx_scan, live_rows)| ScanStats { table, seq_scan, seq_tup_read, idx_scan, live_rows })
        .collect();
    Ok(IndexFacts { tables, scans })
}

/// Judges the expected indexes (matched on key columns) and the sequential-scan load.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_indexes(f: &IndexFacts, expected: &[ExpectedIndex], lang: Lang) -> Outcome {
    let table_of = |e: &ExpectedIndex| f.tables.iter().find(|t| t.table == e.table);
    let mut present = Vec::new();
    let mut missing: Vec<(&ExpectedIndex, Option<&IndexInfo>)> = Vec::new();
    let mut absent_tables: Vec<&str> = Vec::new();
    for e in expected {
        match table_of(e) {
            Some(t) if t.exists => match t.indexes.iter().find(|i| i.serves(&e.columns)) {
                Some(i) => present.push(format!("{e} ({})", i.name)),
                None => {
                    // An index on the right columns that cannot serve: invalid or partial.
                    let unusable = t.indexes.iter().find(|i| IndexInfo { valid: true, partial: false, ..(*i).clone() }.serves(&e.columns));
                    missing.push((e, unusable));
                }
            },
            _ => absent_tables.push(&e.table),
        }
    }
    absent_tables.dedup();
    let heavy: Vec<&ScanStats> = f
        .scans
        .iter()
        .filter(|s| s.seq_scan >= SEQ_SCAN_MIN && s.seq_tup_read / s.seq_scan.max(1) >= SEQ_ROWS_MIN && s.idx_scan < s.seq_scan)
        .collect();

    let mut parts = Vec::new();
    if !missing.is_empty() {
        let l = list_some(&missing, 5, |(e, unusable)| match unusable {
            Some(i) if !i.valid => tr!(lang, "{e} (index {} is INVALID)", "{e} (index {} INVALIDE)", i.name),
            Some(i) => tr!(lang, "{e} (index {} is partial)", "{e} (index {} partiel)", i.name),
            None => e.to_string(),
        });
        parts.push(tr!(lang, "missing index on {l}", "index manquant sur {l}"));
    }
    if !heavy.is_empty() {
        let l = list_some(&heavy, 3, |s| {
            let (t, n, per, idx) = (&s.table, s.seq_scan, s.seq_tup_read / s.seq_scan.max(1), s.idx_scan);
            tr!(lang, "{t} ({n} sequential scans of ~{per} rows, {idx} index scans)", "{t} ({n} parcours séquentiels de ~{per} lignes, {idx} parcours d'index)")
        });
        parts.push(tr!(lang, "read mostly by sequential scans: {l}", "lues surtout par parcours séquentiels : {l}"));
    }
    let absent_note = (!absent_tables.is_empty()).then(|| {
        let l = absent_tables.join(", ");
        tr!(lang, "table(s) not found: {l}", "table(s) introuvable(s) : {l}")
    });
    let metrics = [Metric::new("missing_indexes", missing.len() as f64, ""), Metric::new("seq_scan_heavy_tables", heavy.len() as f64, "")];
    let mut o = if !parts.is_empty() {
        let mut o = Outcome::warning(parts.join("; "));
        for (e, _) in &missing {
            o.remediation.push(Remedy {
                text: tr!(lang, "Create the index on {e} without blocking writes", "Créer l'index sur {e} sans bloquer les écritures"),
                command: Some(format!("{{docker.compose}} exec postgres psql -U {{postgres.user}} -d {{postgres.database}} -c \"CREATE INDEX CONCURRENTLY ON {} ({})\"", e.table, e.columns.join(", "))),
                guide: "Performance P1".into(),
                destructive: false,
            });
        }
        o.remedies(INDEX_STEPS, lang)
    } else if present.is_empty() && !expected.is_empty() {
        let note = absent_note.clone().unwrap_or_default();
        Outcome::skipped(tr!(lang, "expected indexes not checked: {note}", "index attendus non vérifiés : {note}"))
    } else {
        let l = if present.is_empty() { "-".to_owned() } else { present.join(", ") };
        Outcome::ok(tr!(
            lang,
            "expected indexes present: {l}; no table read mostly by sequential scans",
            "index attendus présents : {l} ; aucune table lue surtout par parcours séquentiels"
        ))
    };
    if let (Some(note), Status::Ok | Status::Warning) = (&absent_note, o.status) {
        o.summary = format!("{} ({note})", o.summary);
    }
    metrics.into_iter().fold(o, Outcome::metric).details(serde_json::json!({
        "expected": expected.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "tables": f.tables,
        "seq_scan_heavy": heavy,
    }))
}

pub(super) async fn run_indexes(ctx: Arc<Ctx>) -> Outcome {
    let expected = ctx.config.postgres.expected_indexes.clone();
    let exp = expected.clone();
    match on_db(&ctx, |mut c| async move { index_facts(&mut c, &exp).await }).await {
        Ok(f) => evaluate_indexes(&f, &expected, ctx.lang()),
        Err(o) => o,
    }
}

// ---------------------------------------------------------------- vacuum

/// A table's dead tuples and maintenance ages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableVacuum {
    /// `schema.table`.
    pub table: String,
    /// Live rows (estimate).
    pub live: i64,
    /// Dead rows (estimate).
    pub dead: i64,
    /// Seconds since the last VACUUM or autovacuum; `None`: never (since the statistics reset).
    pub vacuum_age_secs: Option<f64>,
    /// Seconds since the last ANALYZE or autoanalyze; `None`: never.
    pub analyze_age_secs: Option<f64>,
}

impl TableVacuum {
    /// Seconds since the older of its last vacuum and last analyze. One never done (since
    /// the statistics began) counts from the statistics' last reset, `stats_age_secs`; with
    /// neither known, `None`.
    #[must_use]
    pub fn maintenance_age_secs(&self, stats_age_secs: Option<f64>) -> Option<f64> {
        [self.vacuum_age_secs.or(stats_age_secs), self.analyze_age_secs.or(stats_age_secs)].into_iter().flatten().reduce(f64::max)
    }
}

impl TableVacuum {
    /// Dead share of the rows, percent.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn dead_pct(&self) -> f64 {
        let total = self.live + self.dead;
        if total == 0 {
            0.0
        } else {
            self.dead as f64 * 100.0 / total as f64
        }
    }
}

/// Autovacuum's setting and the tables with the most dead tuples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VacuumFacts {
    /// The `autovacuum` setting.
    pub autovacuum: bool,
    /// Seconds since the database's statistics were last reset; `None`: never reset.
    pub stats_age_secs: Option<f64>,
    /// The 20 tables with the most dead tuples.
    pub tables: Vec<TableVacuum>,
}

/// Reads the dead tuples and maintenance ages.
///
/// # Errors
/// The query's error.
pub async fn vacuum_facts(conn: &mut PgConnection) -> Result<VacuumFacts, sqlx::Error> {
    let (autovacuum, stats_age_secs): (bool, Option<f64>) = sqlx::query_as(
        "SELECT current_setting('autovacuum')::bool, \
                (SELECT extract(epoch FROM now() - stats_reset)::float8 FROM pg_stat_database WHERE datname = current_database())",
    )
    .fetch_one(&mut *conn)
    .await?;
    let tables = sqlx::query(
        "SELECT schemaname || '.' || relname, coalesce(n_live_tup, 0), coalesce(n_dead_tup, 0), \
                extract(epoch FROM now() - greatest(last_vacuum, last_autovacuum))::float8, \
                extract(epoch FROM now() - greatest(last_analyze, last_autoanalyze))::float8 \
         FROM pg_stat_user_tables ORDER BY n_dead_tup DESC NULLS LAST, n_live_tup DESC LIMIT 20",
    )
    .try_map(|r: PgRow| {
        Ok(TableVacuum { table: r.try_get(0)?, live: r.try_get(1)?, dead: r.try_get(2)?, vacuum_age_secs: r.try_get(3)?, analyze_age_secs: r.try_get(4)? })
    })
    .fetch_all(&mut *conn)
    .await?;
    Ok(VacuumFacts { autovacuum, stats_age_secs, tables })
}

/// Seconds in a day.
const DAY: f64 = 86_400.0;

/// Judges tables of at least [`VACUUM_MIN_ROWS`] rows: their dead-tuple share, and, for those
/// with dead rows, how long ago they were last vacuumed and analyzed (`vacuum_warn_days` /
/// `vacuum_crit_days`); and autovacuum being off.
#[must_use]
pub fn evaluate_vacuum(f: &VacuumFacts, cfg: &PostgresConfig, lang: Lang) -> Outcome {
    let age = |s: Option<f64>| s.map_or_else(|| tr!(lang, "never", "jamais"), |s| tr!(lang, "{} ago", "il y a {}", units::duration(s, lang)));
    let worst = f.tables.iter().filter(|t| t.live + t.dead >= VACUUM_MIN_ROWS).max_by(|a, b| a.dead_pct().total_cmp(&b.dead_pct()));
    let pct = worst.map_or(0.0, TableVacuum::dead_pct);
    let mut status = grade(pct, DEAD_WARN_PCT, DEAD_CRIT_PCT);
    let mut summary = match worst {
        Some(t) => {
            let (name, dead, total, v, a) = (&t.table, t.dead, t.live + t.dead, age(t.vacuum_age_secs), age(t.analyze_age_secs));
            tr!(
                lang,
                "{name}: {pct:.0} % dead tuples ({dead} of {total}); last vacuum {v}, last analyze {a}",
                "{name} : {pct:.0} % de lignes mortes ({dead} sur {total}) ; dernier vacuum {v}, dernier analyze {a}"
            )
        }
        None => tr!(lang, "no table of {VACUUM_MIN_ROWS} rows or more", "aucune table d'au moins {VACUUM_MIN_ROWS} lignes"),
    };
    // The table with dead rows whose maintenance is the oldest.
    let stale = f
        .tables
        .iter()
        .filter(|t| t.live + t.dead >= VACUUM_MIN_ROWS && t.dead > 0)
        .filter_map(|t| Some((t, t.maintenance_age_secs(f.stats_age_secs)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let (warn_days, crit_days) = (cfg.vacuum_warn_days, cfg.vacuum_crit_days);
    let stale_status = stale.map_or(Status::Ok, |(_, secs)| grade(secs / DAY, warn_days, crit_days));
    if let (Some((t, secs)), Status::Warning | Status::Critical) = (stale, stale_status) {
        status = status.worst(stale_status);
        let limit = if stale_status == Status::Critical { crit_days } else { warn_days };
        let (name, dead, for_, v, a) = (&t.table, t.dead, units::duration(secs, lang), age(t.vacuum_age_secs), age(t.analyze_age_secs));
        summary = tr!(
            lang,
            "{name}: {dead} dead rows and no vacuum or analyze for {for_} (over {limit} d: last vacuum {v}, last analyze {a}); {summary}",
            "{name} : {dead} lignes mortes et ni vacuum ni analyze depuis {for_} (plus de {limit} j : dernier vacuum {v}, dernier analyze {a}) ; {summary}"
        );
    }
    if !f.autovacuum {
        status = status.worst(Status::Warning);
        summary = tr!(lang, "autovacuum is off; {summary}", "autovacuum est désactivé ; {summary}");
    }
    let mut m = Metric::new("dead_tuples_pct", pct, "%").thresholds(DEAD_WARN_PCT, DEAD_CRIT_PCT).range(0.0, 100.0);
    if let Some(t) = worst {
        m = m.label("table", t.table.clone());
    }
    let mut age_metric = Metric::new("maintenance_age", stale.map_or(0.0, |(_, secs)| secs), "s").thresholds(warn_days * DAY, crit_days * DAY);
    if let Some((t, _)) = stale {
        age_metric = age_metric.label("table", t.table.clone());
    }
    let o = Outcome::new(status, summary).metric(m).metric(age_metric).details(f);
    if status == Status::Ok {
        o
    } else {
        o.remedies(VACUUM_STEPS, lang)
    }
}

pub(super) async fn run_vacuum(ctx: Arc<Ctx>) -> Outcome {
    match on_db(&ctx, |mut c| async move { vacuum_facts(&mut c).await }).await {
        Ok(f) => evaluate_vacuum(&f, &ctx.config.postgres, ctx.lang()),
        Err(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(name: &str, cols: &[&str]) -> IndexInfo {
        IndexInfo { name: name.into(), columns: cols.iter().map(|c| (*c).to_owned()).collect(), valid: true, partial: false }
    }

    fn expected() -> Vec<ExpectedIndex> {
        PostgresConfig::default().expected_indexes
    }

    #[test]
    fn indexes_match_on_columns_not_names() {
        let f = IndexFacts {
            tables: vec![
                TableIndexes { table: "mailboxes".into(), exists: true, indexes: vec![idx("whatever_name", &["Email", "id"])] },
                TableIndexes { table: "users".into(), exists: true, indexes: vec![idx("idx_users_rpps", &["id"]), idx("users_pkey", &["id"])] },
            ],
            scans: vec![],
        };
        let o = evaluate_indexes(&f, &expected(), Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("missing index on users(rpps_id)") && !o.summary.contains("mailboxes"), "{}", o.summary);
        assert!(o.remediation[0].command.as_deref().is_some_and(|c| c.contains("CREATE INDEX CONCURRENTLY ON users (rpps_id)")));
    }

    #[test]
    fn invalid_index_is_named_and_absent_tables_skip() {
        let mut bad = idx("idx_mb", &["email"]);
        bad.valid = false;
        let f = IndexFacts {
            tables: vec![
                TableIndexes { table: "mailboxes".into(), exists: true, indexes: vec![bad] },
                TableIndexes { table: "users".into(), exists: false, indexes: vec![] },
            ],
            scans: vec![],
        };
        let o = evaluate_indexes(&f, &expected(), Lang::En);
        assert!(o.summary.contains("idx_mb is INVALID") && o.summary.contains("not found: users"), "{}", o.summary);
        let none = IndexFacts {
            tables: vec![TableIndexes { table: "mailboxes".into(), exists: false, indexes: vec![] }, TableIndexes { table: "users".into(), exists: false, indexes: vec![] }],
            scans: vec![],
        };
        assert_eq!(evaluate_indexes(&none, &expected(), Lang::En).status, Status::Skipped);
    }

    #[test]
    fn sequential_scans_warn() {
        let f = IndexFacts {
            tables: vec![],
            scans: vec![ScanStats { table: "public.mailboxes".into(), seq_scan: 500, seq_tup_read: 500 * 50_000, idx_scan: 2, live_rows: 50_000 }],
        };
        let o = evaluate_indexes(&f, &[], Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("public.mailboxes (500 sequential scans of ~50000 rows"), "{}", o.summary);
    }

    #[test]
    fn dead_tuples_grade() {
        let cfg = PostgresConfig::default();
        let t = |dead| TableVacuum { table: "public.t".into(), live: 1000, dead, vacuum_age_secs: None, analyze_age_secs: Some(90.0) };
        let f = VacuumFacts { autovacuum: true, stats_age_secs: None, tables: vec![t(10)] };
        assert_eq!(evaluate_vacuum(&f, &cfg, Lang::En).status, Status::Ok);
        let f = VacuumFacts { autovacuum: true, stats_age_secs: None, tables: vec![t(500)] };
        let o = evaluate_vacuum(&f, &cfg, Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("public.t: 33 % dead tuples") && o.summary.contains("last vacuum never"), "{}", o.summary);
        let f = VacuumFacts { autovacuum: false, stats_age_secs: None, tables: vec![] };
        assert_eq!(evaluate_vacuum(&f, &cfg, Lang::En).status, Status::Warning);
    }

    #[test]
    fn maintenance_age_grades() {
        let cfg = PostgresConfig::default();
        let t = |dead, vacuum: Option<f64>, analyze: Option<f64>| TableVacuum {
            table: "public.mailboxes".into(),
            live: 5000,
            dead,
            vacuum_age_secs: vacuum.map(|d| d * DAY),
            analyze_age_secs: analyze.map(|d| d * DAY),
        };
        let facts = |tables, stats_days: Option<f64>| VacuumFacts { autovacuum: true, stats_age_secs: stats_days.map(|d| d * DAY), tables };
        // Recent maintenance, or none needed (no dead rows): ok.
        assert_eq!(evaluate_vacuum(&facts(vec![t(10, Some(1.0), Some(1.0))], None), &cfg, Lang::En).status, Status::Ok);
        assert_eq!(evaluate_vacuum(&facts(vec![t(0, Some(90.0), Some(90.0))], None), &cfg, Lang::En).status, Status::Ok);
        // The older of vacuum and analyze decides.
        let o = evaluate_vacuum(&facts(vec![t(10, Some(1.0), Some(8.0))], None), &cfg, Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.starts_with("public.mailboxes: 10 dead rows and no vacuum or analyze for 8 d (over 7 d"), "{}", o.summary);
        let m = o.metrics.iter().find(|m| m.name == "maintenance_age").expect("metric");
        assert_eq!((m.value, m.warn, m.crit), (8.0 * DAY, Some(7.0 * DAY), Some(30.0 * DAY)));
        let o = evaluate_vacuum(&facts(vec![t(10, Some(40.0), Some(2.0))], None), &cfg, Lang::Fr);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("ni vacuum ni analyze depuis 40 j (plus de 30 j"), "{}", o.summary);
        // Never maintained: as old as the statistics when their reset is known, else not graded.
        assert_eq!(evaluate_vacuum(&facts(vec![t(10, None, None)], Some(45.0)), &cfg, Lang::En).status, Status::Critical);
        assert_eq!(evaluate_vacuum(&facts(vec![t(10, None, None)], None), &cfg, Lang::En).status, Status::Ok);
        // Small tables are not judged.
        let mut small = t(10, Some(90.0), Some(90.0));
        small.live = 20;
        assert_eq!(evaluate_vacuum(&facts(vec![small], None), &cfg, Lang::En).status, Status::Ok);
    }

    #[test]
    fn size_grades_against_the_limits() {
        let cfg = PostgresConfig::default();
        let f = |gib: f64| SizeFacts {
            database: "mssante".into(),
            #[allow(clippy::cast_possible_truncation)]
            database_bytes: (gib * GIB) as i64,
            tables: vec![TableSize { table: "audit_logs".into(), bytes: 1 << 30, rows_estimate: 1e6 }],
        };
        let o = evaluate_size(&f(2.0), &cfg, Lang::En);
        assert_eq!(o.status, Status::Ok);
        assert!(o.remediation.is_empty());
        let m = o.metrics.iter().find(|m| m.name == "database_size").expect("metric");
        assert_eq!((m.warn, m.crit), (Some(50.0 * GIB), Some(100.0 * GIB)));
        let o = evaluate_size(&f(60.0), &cfg, Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("60.0 GiB (over 50 GiB); largest table audit_logs"), "{}", o.summary);
        assert!(!o.remediation.is_empty());
        let o = evaluate_size(&f(120.0), &cfg, Lang::Fr);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("(plus de 100 Gio)"), "{}", o.summary);
    }
}
