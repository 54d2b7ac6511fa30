//! `postgres.migrations`: the migrations table against the migration files (guide: BD P4).
//!
//! Versions are compared by key ([`version_key`]): the leading digits without their
//! zeros (`001_schema.sql`, `001` and `1` are the same migration), else the name
//! without its extension. A table with a `dirty` column and a single row is read as
//! golang-migrate's (the row is the latest version, every file up to it is applied);
//! any other table has one row per applied migration.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use sqlx::postgres::PgConnection;

use super::session::on_db;
use super::{list_some, relation};
use crate::checks::{step, Ctx, Outcome, Step};
use crate::model::{Metric, Status};
use crate::{tr, Lang};

const STATE_STEP: Step = step!(
    "Check the state of the migrations",
    "Vérifier l'état des migrations",
    guide = "BD P4",
    cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT * FROM {postgres.migrations_table} ORDER BY version DESC;\""
);
const MIGRATE_STEP: Step = step!("Apply the migrations", "Appliquer les migrations", guide = "BD P4", cmd = "{docker.compose} exec api npm run migrate");

/// Generic remedy of `postgres.migrations` (a failed migration), the guide's BD P4 in order.
pub(super) const DIRTY_STEPS: &[Step] = &[
    STATE_STEP,
    step!(
        "See the last migration applied",
        "Voir la dernière migration appliquée",
        guide = "BD P4",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -c \"SELECT version, applied_at FROM {postgres.migrations_table} ORDER BY applied_at DESC LIMIT 1;\""
    ),
    step!(
        "Roll the failed migration back by hand with its database/rollback/<version>_down.sql",
        "Annuler la migration en échec à la main avec son database/rollback/<version>_down.sql",
        guide = "BD P4",
        cmd = "{docker.compose} exec postgres psql -U {postgres.user} -d {postgres.database} -f database/rollback/001_schema_down.sql",
        destructive = true
    ),
    MIGRATE_STEP,
    step!(
        "Last resort: reset the database and migrate again (all data lost)",
        "En dernier recours : réinitialiser la base et relancer les migrations (perte de toutes les données)",
        guide = "BD P4",
        cmd = "{docker.compose} down postgres && rm -rf data/postgres/* && {docker.compose} up -d postgres && sleep 10 && {docker.compose} exec api npm run migrate && {docker.compose} exec api npm run seed",
        destructive = true
    ),
];

const UNKNOWN_STEP: Step = step!(
    "Deploy the API version that matches the database, or restore the missing migration files",
    "Déployer la version de l'API qui correspond à la base, ou restaurer les fichiers de migration manquants",
    guide = "BD P4"
);

/// A row of the migrations table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedMigration {
    /// The version (or name) as recorded.
    pub version: String,
    /// `dirty` (false when the table has no such column).
    pub dirty: bool,
}

/// The migrations table as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationLedger {
    /// Table (server-quoted).
    pub table: String,
    /// Column read as the version: `version`, else `name`.
    pub column: String,
    /// Whether the table has a `dirty` column.
    pub has_dirty: bool,
    /// Its rows (at most 10,000).
    pub rows: Vec<AppliedMigration>,
}

impl MigrationLedger {
    /// golang-migrate's layout: a `dirty` column and one row holding the latest version.
    #[must_use]
    pub fn latest_only(&self) -> bool {
        self.has_dirty && self.rows.len() == 1
    }
}

/// What the migrations table looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Ledger {
    /// No such table.
    Missing {
        /// The configured name.
        table: String,
    },
    /// The table has neither a `version` nor a `name` column.
    NoVersionColumn {
        /// Table.
        table: String,
        /// Its columns.
        columns: Vec<String>,
    },
    /// The table's rows.
    Found(MigrationLedger),
}

/// A migration file of the folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationFile {
    /// File name.
    pub name: String,
    /// Its version key.
    pub version: String,
}

/// The key a version is compared by: leading digits without leading zeros, else the
/// name without its extension (`001_schema.up.sql` → `1`, `init.sql` → `init`).
#[must_use]
pub fn version_key(s: &str) -> String {
    let s = s.trim();
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        let stem = s.split('.').next().unwrap_or(s);
        stem.to_owned()
    } else {
        let t = digits.trim_start_matches('0');
        if t.is_empty() { "0".to_owned() } else { t.to_owned() }
    }
}

/// Orders keys numerically when both are numbers, else as text.
fn cmp_keys(a: &str, b: &str) -> Ordering {
    let num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if num(a) && num(b) {
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

/// Reads the migrations table (`None`-like [`Ledger::Missing`] when it does not exist).
///
/// # Errors
/// The query's error.
pub async fn migration_ledger(conn: &mut PgConnection, table: &str) -> Result<Ledger, sqlx::Error> {
    let Some(rel) = relation(&mut *conn, table).await? else { return Ok(Ledger::Missing { table: table.to_owned() }) };
    let Some(column) = ["version", "name"].into_iter().find(|c| rel.has(c)) else {
        return Ok(Ledger::NoVersionColumn { table: rel.name, columns: rel.columns });
    };
    let has_dirty = rel.has("dirty");
    let dirty = if has_dirty { "coalesce(dirty::bool, false)" } else { "false" };
    // Identifiers: the server-quoted table name and fixed column names; no value is interpolated.
    let sql = format!("SELECT {column}::text, {dirty} FROM {} LIMIT 10000", rel.name);
    let rows: Vec<(Option<String>, bool)> = sqlx::query_as(&sql).fetch_all(&mut *conn).await?;
    let rows = rows.into_iter().map(|(v, dirty)| AppliedMigration { version: v.unwrap_or_default(), dirty }).collect();
    Ok(Ledger::Found(MigrationLedger { table: rel.name, column: column.to_owned(), has_dirty, rows }))
}

/// Lists the migration files of a folder (`.sql`, `.js`, `.ts`, `.cjs`, `.mjs`; down
/// migrations left out), in version order.
///
/// # Errors
/// The folder cannot be read (`NotFound` when it does not exist).
pub async fn migration_files(dir: &Path) -> std::io::Result<Vec<MigrationFile>> {
    let mut rd = tokio::fs::read_dir(dir).await?;
    let mut files = Vec::new();
    while let Some(e) = rd.next_entry().await? {
        let name = e.file_name().to_string_lossy().into_owned();
        let ext_ok = [".sql", ".js", ".ts", ".cjs", ".mjs"].iter().any(|x| name.ends_with(x));
        let stem = name.split('.').next().unwrap_or_default();
        let down = name.contains(".down.") || stem.ends_with("_down");
        if ext_ok && !down && !name.starts_with('.') && e.file_type().await.is_ok_and(|t| t.is_file()) {
            files.push(MigrationFile { version: version_key(&name), name });
        }
    }
    files.sort_by(|a, b| cmp_keys(&a.version, &b.version).then_with(|| a.name.cmp(&b.name)));
    files.dedup_by(|a, b| a.version == b.version);
    Ok(files)
}

/// Judges the migrations: dirty rows are critical; pending files and applied versions
/// without a file warn. `files` is `None` when the folder `dir` does not exist.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_migrations(ledger: &Ledger, files: Option<&[MigrationFile]>, dir: &str, lang: Lang) -> Outcome {
    let l = match ledger {
        Ledger::Missing { table } => {
            return match files {
                Some(fs) if !fs.is_empty() => {
                    let (n, first) = (fs.len(), &fs[0].name);
                    Outcome::warning(tr!(
                        lang,
                        "table {table} not found while {dir} holds {n} migration(s) (first {first}): they never ran, or the platform records them in another table (set [postgres] migrations_table)",
                        "table {table} introuvable alors que {dir} contient {n} migration(s) (première {first}) : elles n'ont jamais été appliquées, ou la plateforme les enregistre dans une autre table (renseigner [postgres] migrations_table)"
                    ))
                    .remedy(&MIGRATE_STEP, lang)
                    .details(serde_json::json!({ "ledger": ledger, "files": fs }))
                }
                _ => Outcome::skipped(tr!(
                    lang,
                    "no migrations table {table} and no migration file in {dir} (set [postgres] migrations_table and migrations_dir)",
                    "ni table de migrations {table} ni fichier de migration dans {dir} (renseigner [postgres] migrations_table et migrations_dir)"
                ))
                .details(serde_json::json!({ "ledger": ledger })),
            };
        }
        Ledger::NoVersionColumn { table, columns } => {
            let cols = columns.join(", ");
            return Outcome::skipped(tr!(
                lang,
                "{table} has no version or name column (columns: {cols})",
                "{table} n'a pas de colonne version ou name (colonnes : {cols})"
            ))
            .details(ledger);
        }
        Ledger::Found(l) => l,
    };
    let keys: Vec<String> = l.rows.iter().map(|r| version_key(&r.version)).collect();
    let latest = l.rows.iter().zip(&keys).max_by(|a, b| cmp_keys(a.1, b.1)).map(|(r, k)| (r.version.clone(), k.clone()));
    let dirty: Vec<&AppliedMigration> = l.rows.iter().filter(|r| r.dirty).collect();
    let applied = |f: &MigrationFile| match (&latest, l.latest_only()) {
        (Some((_, k)), true) => cmp_keys(&f.version, k) != Ordering::Greater,
        _ => keys.contains(&f.version),
    };
    let pending: Vec<&MigrationFile> = files.unwrap_or_default().iter().filter(|f| !applied(f)).collect();
    let unknown: Vec<&AppliedMigration> = match files {
        Some(fs) => l.rows.iter().filter(|r| !fs.iter().any(|f| f.version == version_key(&r.version))).collect(),
        None => Vec::new(),
    };

    let table = &l.table;
    let n = l.rows.len();
    let latest_v = latest.as_ref().map_or_else(|| "-".to_owned(), |(v, _)| v.clone());
    let mut parts = Vec::new();
    if !dirty.is_empty() {
        let d = list_some(&dirty, 5, |r| r.version.clone());
        parts.push(tr!(lang, "dirty (failed or interrupted) migration(s) in {table}: {d}", "migration(s) en échec (dirty) dans {table} : {d}"));
    }
    if !pending.is_empty() {
        let p = list_some(&pending, 5, |f| f.name.clone());
        parts.push(tr!(lang, "pending (not applied) in {dir}: {p}", "non appliquée(s) dans {dir} : {p}"));
    }
    if !unknown.is_empty() {
        let u = list_some(&unknown, 5, |r| r.version.clone());
        parts.push(tr!(lang, "applied but no file in {dir}: {u}", "appliquée(s) sans fichier dans {dir} : {u}"));
    }
    let status = if !dirty.is_empty() {
        Status::Critical
    } else if !pending.is_empty() || !unknown.is_empty() {
        Status::Warning
    } else {
        Status::Ok
    };
    let mut summary = if parts.is_empty() {
        tr!(lang, "latest migration applied: {latest_v} ({n} row(s) in {table})", "dernière migration appliquée : {latest_v} ({n} ligne(s) dans {table})")
    } else {
        format!("{}; {}", parts.join("; "), tr!(lang, "latest applied: {latest_v}", "dernière appliquée : {latest_v}"))
    };
    if files.is_none() {
        summary += &tr!(lang, " (folder {dir} not found: pending files not checked)", " (dossier {dir} introuvable : fichiers en attente non vérifiés)");
    }
    let mut o = Outcome::new(status, summary)
        .metric(Metric::new("dirty_migrations", dirty.len() as f64, "").thresholds(1.0, 1.0))
        .metric(Metric::new("pending_migrations", pending.len() as f64, ""))
        .metric(Metric::new("unknown_migrations", unknown.len() as f64, ""))
        .details(serde_json::json!({
            "table": table,
            "column": l.column,
            "latest_only": l.latest_only(),
            "latest": latest_v,
            "applied": n,
            "dirty": dirty,
            "pending": pending,
            "unknown": unknown,
            "folder": dir,
            "folder_found": files.is_some(),
        }));
    if !dirty.is_empty() {
        o = o.remedies(DIRTY_STEPS, lang);
    } else if !pending.is_empty() {
        o = o.remedy(&STATE_STEP, lang).remedy(&MIGRATE_STEP, lang);
    }
    if !unknown.is_empty() {
        o = o.remedy(&UNKNOWN_STEP, lang);
    }
    o
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let cfg = &ctx.config.postgres;
    let dir = ctx.config.project_path(&cfg.migrations_dir);
    let shown = cfg.migrations_dir.display().to_string();
    let files = match ctx.step(migration_files(&dir)).await {
        Ok(Ok(f)) => Some(f),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        Ok(Err(e)) => {
            return Outcome::unknown(tr!(ctx.lang(), "cannot read {shown}: {e}", "lecture impossible de {shown} : {e}"));
        }
        Err(t) => return ctx.timed_out(&shown, t),
    };
    let table = cfg.migrations_table.clone();
    match on_db(&ctx, |mut c| async move { migration_ledger(&mut c, &table).await }).await {
        Ok(l) => evaluate_migrations(&l, files.as_deref(), &shown, ctx.lang()),
        Err(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> MigrationFile {
        MigrationFile { name: name.into(), version: version_key(name) }
    }

    fn ledger(rows: &[(&str, bool)], has_dirty: bool) -> Ledger {
        Ledger::Found(MigrationLedger {
            table: "schema_migrations".into(),
            column: "version".into(),
            has_dirty,
            rows: rows.iter().map(|(v, d)| AppliedMigration { version: (*v).into(), dirty: *d }).collect(),
        })
    }

    #[test]
    fn keys() {
        assert_eq!(version_key("001_schema.sql"), "1");
        assert_eq!(version_key("001"), "1");
        assert_eq!(version_key("20240101120000_init.up.sql"), "20240101120000");
        assert_eq!(version_key("000_base.sql"), "0");
        assert_eq!(version_key("init.sql"), "init");
        assert_eq!(cmp_keys("10", "9"), Ordering::Greater);
    }

    #[test]
    fn dirty_and_pending_are_named() {
        let files = [file("001_schema.sql"), file("002_audit.sql"), file("003_index.sql")];
        let o = evaluate_migrations(&ledger(&[("001", false), ("002", true)], true), Some(&files), "database/migrations", Lang::En);
        assert_eq!(o.status, Status::Critical);
        assert!(o.summary.contains("schema_migrations: 002") && o.summary.contains("pending (not applied) in database/migrations: 003_index.sql"), "{}", o.summary);
        assert!(o.remediation.iter().any(|r| r.destructive));
        let o = evaluate_migrations(&ledger(&[("001", false), ("002", false)], true), Some(&files[..2]), "m", Lang::En);
        assert_eq!(o.status, Status::Ok);
        assert!(o.summary.contains("latest migration applied: 002"), "{}", o.summary);
    }

    #[test]
    fn unknown_versions_and_latest_only_layout() {
        let files = [file("1_a.up.sql"), file("2_b.up.sql")];
        // golang-migrate: one row, the latest version.
        assert_eq!(evaluate_migrations(&ledger(&[("2", false)], true), Some(&files), "m", Lang::En).status, Status::Ok);
        let o = evaluate_migrations(&ledger(&[("1", false)], true), Some(&files), "m", Lang::En);
        assert!(o.summary.contains("2_b.up.sql"), "{}", o.summary);
        let o = evaluate_migrations(&ledger(&[("1", false), ("2", false), ("3", false)], false), Some(&files), "m", Lang::En);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("applied but no file in m: 3"), "{}", o.summary);
    }

    #[test]
    fn missing_table_is_explained() {
        let missing = Ledger::Missing { table: "schema_migrations".into() };
        assert_eq!(evaluate_migrations(&missing, None, "database/migrations", Lang::En).status, Status::Skipped);
        let o = evaluate_migrations(&missing, Some(&[file("001_schema.sql")]), "database/migrations", Lang::Fr);
        assert_eq!(o.status, Status::Warning);
        assert!(o.summary.contains("001_schema.sql"), "{}", o.summary);
    }
}
