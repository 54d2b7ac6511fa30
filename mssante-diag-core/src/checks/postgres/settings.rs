//! `[postgres]`: the platform's database.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{check_pct, Credential, Platform, Section};

/// `[postgres]` of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Host. Default: `POSTGRES_HOST` of `.env` when it is not a compose service name, else `localhost`.
    pub host: String,
    /// Port. Default: `POSTGRES_PORT` or 5432.
    pub port: u16,
    /// User. Default: `POSTGRES_USER` or `mssante`.
    pub user: String,
    /// Database. Default: `POSTGRES_DB` or `mssante`.
    pub database: String,
    /// Password. Default: variable `POSTGRES_PASSWORD`.
    #[serde(flatten)]
    pub credential: Credential,
    /// Connections in use that warn, percent of the slots open to ordinary roles
    /// (`max_connections` minus the reserved ones). Default: 80.
    pub connections_warn_pct: f64,
    /// Connections in use that are critical, percent. Default: 95.
    pub connections_crit_pct: f64,
    /// Idle connections older than this are listed, and `idle in transaction` sessions older
    /// than this warn, minutes. Default: 10.
    pub idle_minutes: f64,
    /// Active queries running longer than this warn, as do statements whose mean time
    /// exceeds it, seconds. Default: 1.
    pub long_query_secs: f64,
    /// Active queries running longer than this are critical, seconds. Default: 30.
    pub long_query_crit_secs: f64,
    /// Statements called fewer times than this are not ranked (a one-off report is not a
    /// slow statement). Default: 10.
    pub statements_min_calls: i64,
    /// Database size that warns, GiB. Default: 50.
    pub size_warn_gib: f64,
    /// Database size that is critical, GiB. Default: 100.
    pub size_crit_gib: f64,
    /// Tables with dead rows whose last vacuum or analyze (manual or auto) is older than this
    /// warn, days. Default: 7.
    pub vacuum_warn_days: f64,
    /// Same, critical, days. Default: 30.
    pub vacuum_crit_days: f64,
    /// Rows of `audit_logs` older than this many months warn. Default: 6.
    pub retention_months: u32,
    /// Indexes the platform needs, written `table(column, ...)` (optionally `schema.table`),
    /// matched on the leading indexed columns, never on the index name.
    /// Default: `mailboxes(email)`, `users(rpps_id)`.
    pub expected_indexes: Vec<ExpectedIndex>,
    /// Table recording the applied migrations (optionally `schema.table`). Default: `schema_migrations`.
    pub migrations_table: String,
    /// Folder of the migration files, relative to the project folder. Default: `database/migrations`.
    pub migrations_dir: PathBuf,
    /// A role allowed in the slots PostgreSQL reserves (a superuser; on 16+ also a member of
    /// `pg_use_reserved_connections`), used only when the server refuses the configured user
    /// with "too many clients". Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved: Option<PgReserved>,
}

/// `[postgres.reserved]`: the role used only when the server is full for the platform's user.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PgReserved {
    /// Role name, e.g. a superuser.
    pub user: String,
    /// Its password (`password_env` preferred).
    #[serde(flatten)]
    pub credential: Credential,
}

/// An index the platform needs: a table and the columns an index must start with,
/// written `table(column, ...)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExpectedIndex {
    /// Table, optionally schema-qualified, resolved through the search path.
    pub table: String,
    /// Leading indexed columns, in order.
    pub columns: Vec<String>,
}

impl TryFrom<String> for ExpectedIndex {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        let bad = || format!("`{s}` is not `table(column, ...)`");
        let (table, rest) = s.split_once('(').ok_or_else(bad)?;
        let cols = rest.trim().strip_suffix(')').ok_or_else(bad)?;
        let table = table.trim().to_owned();
        let columns: Vec<String> = cols.split(',').map(|c| c.trim().to_owned()).collect();
        if !is_sql_name(&table, true) || !columns.iter().all(|c| is_sql_name(c, false)) {
            return Err(bad());
        }
        Ok(Self { table, columns })
    }
}

impl From<ExpectedIndex> for String {
    fn from(i: ExpectedIndex) -> String {
        i.to_string()
    }
}

impl std::fmt::Display for ExpectedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.table, self.columns.join(", "))
    }
}

/// A plain SQL identifier (`[A-Za-z_][A-Za-z0-9_$]*`), or `schema.name` when `qualified`.
fn is_sql_name(s: &str, qualified: bool) -> bool {
    let part = |p: &str| {
        let mut c = p.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    match s.split_once('.') {
        Some((schema, name)) if qualified => part(schema) && part(name),
        Some(_) => false,
        None => part(s),
    }
}

impl Section for Settings {
    fn defaults(p: &Platform<'_>) -> Self {
        Self {
            host: p.host("POSTGRES_HOST"),
            port: p.port("POSTGRES_PORT", 5432),
            user: p.value("POSTGRES_USER", "mssante"),
            database: p.value("POSTGRES_DB", "mssante"),
            credential: Credential::from_env("POSTGRES_PASSWORD"),
            connections_warn_pct: 80.0,
            connections_crit_pct: 95.0,
            idle_minutes: 10.0,
            long_query_secs: 1.0,
            long_query_crit_secs: 30.0,
            statements_min_calls: 10,
            size_warn_gib: 50.0,
            size_crit_gib: 100.0,
            vacuum_warn_days: 7.0,
            vacuum_crit_days: 30.0,
            retention_months: 6,
            expected_indexes: [("mailboxes", "email"), ("users", "rpps_id")]
                .map(|(t, c)| ExpectedIndex { table: t.into(), columns: vec![c.into()] })
                .to_vec(),
            migrations_table: "schema_migrations".into(),
            migrations_dir: PathBuf::from("database/migrations"),
            reserved: None,
        }
    }

    fn vars(&self, _: &Platform<'_>) -> Vec<(&'static str, String)> {
        vec![
            ("user", self.user.clone()),
            ("database", self.database.clone()),
            ("host", self.host.clone()),
            ("port", self.port.to_string()),
            ("retention_months", self.retention_months.to_string()),
            ("long_query_secs", self.long_query_secs.to_string()),
            ("long_query_crit_secs", self.long_query_crit_secs.to_string()),
            ("idle_minutes", self.idle_minutes.to_string()),
            ("migrations_table", self.migrations_table.clone()),
            ("statements_min_calls", self.statements_min_calls.to_string()),
            ("size_warn_gib", self.size_warn_gib.to_string()),
            ("size_crit_gib", self.size_crit_gib.to_string()),
            ("vacuum_warn_days", self.vacuum_warn_days.to_string()),
            ("vacuum_crit_days", self.vacuum_crit_days.to_string()),
        ]
    }

    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        check_pct("connections_warn_pct", self.connections_warn_pct, self.connections_crit_pct)?;
        for (key, warn, crit) in [
            ("long_query_secs", self.long_query_secs, self.long_query_crit_secs),
            ("size_warn_gib", self.size_warn_gib, self.size_crit_gib),
            ("vacuum_warn_days", self.vacuum_warn_days, self.vacuum_crit_days),
        ] {
            if !(warn.is_finite() && crit.is_finite() && warn > 0.0 && warn <= crit) {
                return Err((key, "must be more than 0 and not exceed its critical threshold".into()));
            }
        }
        if !(self.idle_minutes.is_finite() && self.idle_minutes >= 0.0) {
            return Err(("idle_minutes", "must be 0 or more".into()));
        }
        if self.retention_months == 0 {
            return Err(("retention_months", "must be at least 1".into()));
        }
        if !is_sql_name(&self.migrations_table, true) {
            return Err(("migrations_table", format!("`{}` is not a table name", self.migrations_table)));
        }
        if self.reserved.as_ref().is_some_and(|r| r.user.is_empty()) {
            return Err(("reserved.user", "must not be empty".into()));
        }
        Ok(())
    }
}

