//! PostgreSQL fixtures: a database of its own per test (`diag_<name>`), holding the
//! platform's schema (users, mailboxes, audit_logs, schema_migrations) and a folder of
//! the migration files it has applied. Dropped again when the fixture drops.

use std::path::PathBuf;

use mssante_diag_core::Config;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};

use crate::Stack;

/// The healthy platform schema, created by the platform's role (owner of the database).
const PLATFORM_SCHEMA: &str = "
CREATE TABLE users (id serial PRIMARY KEY, rpps_id text NOT NULL, name text NOT NULL);
CREATE INDEX idx_users_rpps ON users (rpps_id);
CREATE TABLE mailboxes (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users (id), email text NOT NULL);
CREATE INDEX idx_mailboxes_email ON mailboxes (email);
CREATE TABLE audit_logs (id bigserial PRIMARY KEY, action text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE schema_migrations (version text PRIMARY KEY, dirty boolean NOT NULL DEFAULT false, applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO users (rpps_id, name) SELECT lpad(g::text, 11, '1'), 'Dr ' || g FROM generate_series(1, 50) g;
INSERT INTO mailboxes (user_id, email) SELECT id, 'dr' || id || '@mssante.test' FROM users;
INSERT INTO audit_logs (action, created_at) SELECT 'login', now() - g * interval '1 day' FROM generate_series(1, 30) g;
INSERT INTO schema_migrations (version) VALUES ('001'), ('002');
";

/// The migration files matching [`PLATFORM_SCHEMA`]'s `schema_migrations`.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_schema.sql", "CREATE TABLE users (...);\nCREATE TABLE mailboxes (...);\n"),
    ("002_audit_logs.sql", "CREATE TABLE audit_logs (...);\n"),
];

/// A test database with the platform's schema.
#[derive(Debug)]
pub struct PgFixture {
    /// Database name.
    pub db: String,
    /// Its migrations folder.
    pub migrations: PathBuf,
    stack: &'static Stack,
}

impl Stack {
    /// Options to reach the stack's PostgreSQL as the platform's role, or as the superuser.
    #[must_use]
    pub fn pg_options(&self, db: &str, superuser: bool) -> PgConnectOptions {
        let (user, pw) = if superuser { ("PG_SUPERUSER", "PG_SUPERPASSWORD") } else { ("PG_USER", "PG_PASSWORD") };
        PgConnectOptions::new_without_pgpass()
            .host(self.var("STACK_HOST"))
            .port(self.var("PG_PORT").parse().expect("PG_PORT is a port"))
            .username(self.var(user))
            .password(self.var(pw))
            .database(db)
            .application_name("mssante-diag-tests")
    }
}

impl PgFixture {
    /// Creates database `diag_<name>` (dropping a leftover first) with the healthy platform
    /// schema, `pg_stat_statements`, and a folder with the migrations it applied.
    ///
    /// # Panics
    /// When the stack's PostgreSQL refuses.
    pub async fn platform(name: &str) -> PgFixture {
        let stack = Stack::get();
        let db = format!("diag_{name}");
        drop_database(stack, &db).await;
        let mut admin = PgConnection::connect_with(&stack.pg_options("postgres", true)).await.expect("superuser connects");
        admin.execute(format!("CREATE DATABASE {db} OWNER {}", stack.var("PG_USER")).as_str()).await.expect("create database");
        admin.close().await.ok();
        let fx = PgFixture { migrations: stack.dir.join("pg-fixtures").join(&db).join("migrations"), db, stack };
        fx.admin_sql("CREATE EXTENSION pg_stat_statements").await;
        let mut user = fx.user().await;
        user.execute(sqlx::raw_sql(PLATFORM_SCHEMA)).await.expect("platform schema");
        user.close().await.ok();
        let _ = std::fs::remove_dir_all(&fx.migrations);
        std::fs::create_dir_all(&fx.migrations).expect("migrations folder");
        for (file, sql) in MIGRATIONS {
            fx.write_migration(file, sql);
        }
        fx
    }

    /// A connection to this database as the superuser.
    ///
    /// # Panics
    /// When it fails.
    pub async fn admin(&self) -> PgConnection {
        PgConnection::connect_with(&self.stack.pg_options(&self.db, true)).await.expect("superuser connects")
    }

    /// A connection to this database as the platform's role.
    ///
    /// # Panics
    /// When it fails.
    pub async fn user(&self) -> PgConnection {
        PgConnection::connect_with(&self.stack.pg_options(&self.db, false)).await.expect("platform role connects")
    }

    /// Runs SQL (several statements allowed) as the superuser.
    ///
    /// # Panics
    /// When it fails.
    pub async fn admin_sql(&self, sql: &str) {
        let mut c = self.admin().await;
        c.execute(sqlx::raw_sql(sql)).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        c.close().await.ok();
    }

    /// Adds a file to the migrations folder.
    ///
    /// # Panics
    /// When it cannot be written.
    pub fn write_migration(&self, name: &str, sql: &str) {
        std::fs::write(self.migrations.join(name), sql).expect("write migration");
    }

    /// The stack's configuration pointed at this database and migrations folder, for tests
    /// that run beside others. `postgres.connections` counts sessions server-wide, and tests
    /// running in parallel hold some: its percentage thresholds are raised to 100 %, so only a
    /// server that is really full (or an idle transaction) makes it non-ok whatever the
    /// parallelism. Tests holding the `fault()` lock use [`PgFixture::exclusive_config`].
    #[must_use]
    pub fn config(&self) -> Config {
        let mut c = self.exclusive_config();
        c.postgres.connections_warn_pct = 100.0;
        c.postgres.connections_crit_pct = 100.0;
        c
    }

    /// As [`PgFixture::config`] with the default connection thresholds: for a test holding the
    /// `fault()` lock, when no other test of the binary holds connections.
    #[must_use]
    pub fn exclusive_config(&self) -> Config {
        let mut c = self.stack.config();
        c.postgres.database.clone_from(&self.db);
        c.postgres.migrations_dir.clone_from(&self.migrations);
        c
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        let (stack, db) = (self.stack, self.db.clone());
        // Drop may run inside a runtime: do the async cleanup on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(drop_database(stack, &db));
        });
        let _ = cleanup.join();
        let _ = std::fs::remove_dir_all(self.migrations.parent().unwrap_or(&self.migrations));
    }
}

async fn drop_database(stack: &Stack, db: &str) {
    if let Ok(mut admin) = PgConnection::connect_with(&stack.pg_options("postgres", true)).await {
        let _ = admin.execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str()).await;
        admin.close().await.ok();
    }
}
