//! `postgres.*` against the stack's PostgreSQL 15: a healthy platform database is all ok,
//! and each real fault turns exactly its own check non-ok, naming the row at fault.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mssante_diag_core::config::Credential;
use mssante_diag_core::{CheckResult, Config, Report, Secret, Selection, Status};
use mssante_diag_tests::postgres::PgFixture;
use mssante_diag_tests::{fault, healthy, hung_listener, Stack};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

fn block_on<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let out = rt.block_on(f);
    rt.shutdown_background();
    out
}

async fn run_pg(config: Config) -> Report {
    mssante_diag_core::run(Arc::new(config), &Selection::Only(vec!["postgres".into()])).await.expect("postgres is a subsystem")
}

fn check<'a>(r: &'a Report, id: &str) -> &'a CheckResult {
    r.check(id).unwrap_or_else(|| panic!("{id} did not run"))
}

/// Asserts `id` has `status` and every other postgres check is ok; returns `id`'s result.
fn only<'a>(r: &'a Report, id: &str, status: Status) -> &'a CheckResult {
    assert_eq!(r.checks.len(), 10, "every postgres check runs");
    for c in &r.checks {
        let want = if c.id == id { status } else { Status::Ok };
        assert_eq!(c.status, want, "{}: {}\n{:#}", c.id, c.summary, c.details);
    }
    check(r, id)
}

/// No secret of the stack in the report, whatever the format of the JSON.
fn no_secret(r: &Report) {
    let json = r.to_json();
    let stack = Stack::get();
    for key in ["PG_PASSWORD", "PG_SUPERPASSWORD"] {
        assert!(!json.contains(stack.var(key)), "{key} leaked into the report");
    }
}

#[test]
fn healthy_platform_database_is_all_ok() {
    // Exclusive: connections are counted server-wide against the default thresholds.
    let _g = fault();
    let fx = block_on(PgFixture::platform("healthy"));
    let r = block_on(run_pg(fx.exclusive_config()));
    for c in &r.checks {
        assert_eq!(c.status, Status::Ok, "{}: {}\n{:#}", c.id, c.summary, c.details);
    }
    let idx = &check(&r, "postgres.indexes").summary;
    assert!(idx.contains("mailboxes(email) (idx_mailboxes_email)") && idx.contains("users(rpps_id) (idx_users_rpps)"), "{idx}");
    assert!(check(&r, "postgres.migrations").summary.contains("latest migration applied: 002"), "{}", check(&r, "postgres.migrations").summary);
    assert!(check(&r, "postgres.integrity").summary.contains("checksums on"));
    assert_eq!(check(&r, "postgres.statements").details["column"], "mean_exec_time", "PostgreSQL 15 uses the 13+ column names");
    let conns = check(&r, "postgres.connections");
    assert_eq!(conns.details["max_connections"], 30);
    assert_eq!(conns.details["usable"], 27, "superuser_reserved_connections = 3");
    assert!(check(&r, "postgres.size").metrics.iter().any(|m| m.name == "table_size" && m.labels.get("table").is_some_and(|t| t == "mailboxes")));
    let size = check(&r, "postgres.size").metrics.iter().find(|m| m.name == "database_size").expect("database_size");
    assert_eq!((size.warn, size.crit), (Some(50.0 * GIB), Some(100.0 * GIB)), "graded against [postgres] size_warn_gib / size_crit_gib");
    no_secret(&r);
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[test]
fn server_full_is_critical_and_still_diagnosed_through_the_reserved_role() {
    let _g = fault();
    let fx = block_on(PgFixture::platform("full"));
    let stack = Stack::get();
    let (with_reserved, without) = block_on(async {
        // Take every slot open to the platform's role, until "too many clients".
        let mut held: Vec<PgConnection> = Vec::new();
        let opts = stack.pg_options(&fx.db, false);
        let refused = loop {
            match PgConnection::connect_with(&opts).await {
                Ok(c) => held.push(c),
                Err(e) => break e,
            }
            assert!(held.len() < 40, "the server never refused");
        };
        assert!(refused.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "53300"), "{refused}");
        let with_reserved = run_pg(fx.exclusive_config()).await;
        let mut cfg = fx.exclusive_config();
        cfg.postgres.reserved = None;
        let start = Instant::now();
        let without = run_pg(cfg).await;
        let took = start.elapsed();
        for c in held {
            c.close().await.ok();
        }
        assert!(took < Duration::from_secs(2), "a full server answers at once; took {took:?}");
        (with_reserved, without)
    });

    // Configured reserved role: connections is critical with the numbers, the rest is diagnosed.
    let conns = check(&with_reserved, "postgres.connections");
    assert_eq!(conns.status, Status::Critical, "{}", conns.summary);
    assert!(conns.summary.contains("PostgreSQL is full") && conns.summary.contains("of 27 connections"), "{}", conns.summary);
    assert!(conns.summary.contains("most held by mssante/mssante-diag-tests"), "{}", conns.summary);
    let reach = check(&with_reserved, "postgres.reachable");
    assert_eq!(reach.status, Status::Critical, "the platform's role is locked out: {}", reach.summary);
    assert!(reach.summary.contains("too many clients"), "{}", reach.summary);
    for c in with_reserved.checks.iter().filter(|c| !["postgres.connections", "postgres.reachable"].contains(&c.id.as_str())) {
        assert_eq!(c.status, Status::Ok, "{} through the reserved role: {}", c.id, c.summary);
    }
    no_secret(&with_reserved);

    // No reserved role: still critical, and the others say briefly why they could not check.
    let conns = check(&without, "postgres.connections");
    assert_eq!(conns.status, Status::Critical);
    assert!(conns.summary.contains("too many clients already for \"mssante\""), "{}", conns.summary);
    for c in without.checks.iter().filter(|c| !["postgres.connections", "postgres.reachable"].contains(&c.id.as_str())) {
        assert_eq!(c.status, Status::Unknown, "{}: {}", c.id, c.summary);
        assert!(c.summary.contains("too many clients") && c.summary.contains("see postgres.reachable"), "{}: {}", c.id, c.summary);
    }
}

#[test]
fn long_query_is_named_by_its_pid() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("slow"));
    let (r, crit, pid) = block_on(async {
        let mut sleeper = fx.user().await;
        let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()").fetch_one(&mut sleeper).await.expect("pid");
        let sleeping = tokio::spawn(async move {
            let r = sqlx::query("SELECT pg_sleep(5)").execute(&mut sleeper).await.map(drop);
            sleeper.close().await.ok();
            r
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let r = run_pg(fx.config()).await;
        // Past the second threshold the same query is critical.
        let mut cfg = fx.config();
        cfg.postgres.long_query_crit_secs = 1.2;
        let crit = run_pg(cfg).await;
        let mut admin = fx.admin().await;
        sqlx::query("SELECT pg_cancel_backend($1)").bind(pid).execute(&mut admin).await.expect("cancel");
        let cancelled = sleeping.await.expect("joined");
        assert!(cancelled.is_err(), "the sleep was cancelled, so pg_stat_statements never records it");
        (r, crit, pid)
    });
    let lq = only(&r, "postgres.long_queries", Status::Warning);
    assert!(lq.summary.contains(&format!("pid {pid} (mssante/mssante-diag-tests)")) && lq.summary.contains("pg_sleep(5)"), "{}", lq.summary);
    assert!(lq.metrics.iter().any(|m| m.name == "longest_query" && m.value >= 1.0 && m.warn == Some(1.0) && m.crit == Some(30.0)));
    let lq = only(&crit, "postgres.long_queries", Status::Critical);
    assert!(lq.summary.contains(&format!("pid {pid} (")) && lq.summary.contains("(critical past 1.2 s)"), "{}", lq.summary);
}

#[test]
fn dropped_index_is_named_by_its_columns() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("noindex"));
    // users(rpps_id) keeps an index under another name: matched on columns, it still counts.
    block_on(fx.admin_sql("DROP INDEX idx_mailboxes_email; ALTER INDEX idx_users_rpps RENAME TO users_lookup;"));
    let r = block_on(run_pg(fx.config()));
    let idx = only(&r, "postgres.indexes", Status::Warning);
    assert!(idx.summary.contains("missing index on mailboxes(email)") && !idx.summary.contains("users(rpps_id)"), "{}", idx.summary);
    assert!(idx.remediation.iter().any(|s| s.command.as_deref().is_some_and(|c| c.contains("CREATE INDEX CONCURRENTLY ON mailboxes (email)"))));
}

#[test]
fn dirty_migration_and_pending_file_are_named() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("migrations"));
    block_on(fx.admin_sql("UPDATE schema_migrations SET dirty = true WHERE version = '002'"));
    fx.write_migration("003_add_index.sql", "CREATE INDEX ...;\n");
    fx.write_migration("003_add_index_down.sql", "DROP INDEX ...;\n");
    let r = block_on(run_pg(fx.config()));
    let m = only(&r, "postgres.migrations", Status::Critical);
    assert!(m.summary.contains("dirty (failed or interrupted) migration(s) in schema_migrations: 002"), "{}", m.summary);
    assert!(m.summary.contains("pending (not applied)") && m.summary.contains("003_add_index.sql") && !m.summary.contains("_down"), "{}", m.summary);
    assert!(m.remediation.iter().any(|s| s.destructive), "the reset step is flagged destructive");
}

#[test]
fn missing_migrations_table_is_explained() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("nomigrations"));
    block_on(fx.admin_sql("DROP TABLE schema_migrations"));
    let r = block_on(run_pg(fx.config()));
    let m = only(&r, "postgres.migrations", Status::Warning);
    assert!(m.summary.contains("table schema_migrations not found") && m.summary.contains("001_schema.sql"), "{}", m.summary);
}

#[test]
fn missing_pg_stat_statements_is_skipped_with_the_remedy() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("nopgss"));
    block_on(fx.admin_sql("DROP EXTENSION pg_stat_statements"));
    let r = block_on(run_pg(fx.config()));
    let s = only(&r, "postgres.statements", Status::Skipped);
    assert!(s.summary.contains("pg_stat_statements is not installed in database \"diag_nopgss\""), "{}", s.summary);
    assert!(s.remediation.iter().any(|x| x.command.as_deref().is_some_and(|c| c.contains("CREATE EXTENSION pg_stat_statements"))));
    assert!(s.remediation.iter().any(|x| x.text.contains("shared_preload_libraries")));
}

#[test]
fn slow_statement_is_named_and_one_offs_are_not_ranked() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("slowstmt"));
    block_on(async {
        let mut c = fx.user().await;
        // A one-off report, slower than anything, called once: below statements_min_calls (10).
        sqlx::query("SELECT 'monthly report', pg_sleep(0.6)").execute(&mut c).await.expect("report");
        // The statement the platform repeats.
        for _ in 0..10 {
            sqlx::query("SELECT pg_sleep(0.15)").execute(&mut c).await.expect("sleep");
        }
        c.close().await.ok();
    });
    let mut cfg = fx.config();
    cfg.postgres.long_query_secs = 0.1;
    let r = block_on(run_pg(cfg));
    let s = only(&r, "postgres.statements", Status::Warning);
    assert!(s.summary.contains("SELECT pg_sleep($1)") && s.summary.contains("in 10 call(s)"), "{}", s.summary);
    assert!(!s.summary.contains("pg_sleep($2)"), "the one-off is not ranked: {}", s.summary);
    assert_eq!(s.details["min_calls"], 10);
    // Ranked from 1 call, the one-off comes first.
    let mut cfg = fx.config();
    cfg.postgres.long_query_secs = 0.1;
    cfg.postgres.statements_min_calls = 1;
    let r = block_on(run_pg(cfg));
    let s = only(&r, "postgres.statements", Status::Warning);
    assert!(s.summary.contains("in 1 call(s)") && s.summary.contains("pg_sleep($2)"), "{}", s.summary);
}

#[test]
fn database_over_its_size_limits_is_named() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("size"));
    // The real database (a few MiB) against limits set below and around its size.
    let mut cfg = fx.config();
    (cfg.postgres.size_warn_gib, cfg.postgres.size_crit_gib) = (1.0 / 1024.0, 1.0);
    let r = block_on(run_pg(cfg));
    let s = only(&r, "postgres.size", Status::Warning);
    assert!(s.summary.contains("database \"diag_size\"") && s.summary.contains("(over 0.0009765625 GiB)"), "{}", s.summary);
    assert!(s.remediation.iter().any(|x| x.command.as_deref().is_some_and(|c| c.contains("pg_total_relation_size"))), "{:#?}", s.remediation);
    let mut cfg = fx.config();
    (cfg.postgres.size_warn_gib, cfg.postgres.size_crit_gib) = (1.0 / 2048.0, 1.0 / 1024.0);
    assert_eq!(only(&block_on(run_pg(cfg)), "postgres.size", Status::Critical).status, Status::Critical);
}

#[test]
fn old_audit_rows_warn_and_are_never_deleted() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("retention"));
    block_on(fx.admin_sql("INSERT INTO audit_logs (action, created_at) SELECT 'old', now() - interval '7 months' - g * interval '1 day' FROM generate_series(1, 5) g"));
    let r = block_on(run_pg(fx.config()));
    let ret = only(&r, "postgres.retention", Status::Warning);
    assert!(ret.summary.contains("5 row(s) of audit_logs older than 6 months"), "{}", ret.summary);
    let delete = ret.remediation.iter().find(|s| s.command.as_deref().is_some_and(|c| c.contains("DELETE FROM audit_logs"))).expect("the guide's DELETE");
    assert!(delete.destructive);
    let left: i64 = block_on(async {
        let mut c = fx.user().await;
        let n = sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE action = 'old'").fetch_one(&mut c).await.expect("count");
        c.close().await.ok();
        n
    });
    assert_eq!(left, 5, "the check never deletes");
}

#[test]
fn dead_tuples_are_named() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("vacuum"));
    block_on(async {
        fx.admin_sql(
            "CREATE TABLE sessions_log (id int, pad text) WITH (autovacuum_enabled = false); \
             INSERT INTO sessions_log SELECT g, 'x' FROM generate_series(1, 2000) g; \
             DELETE FROM sessions_log WHERE id <= 700;",
        )
        .await;
        // The deleting backend has exited and flushed its statistics: wait until they show.
        let mut c = fx.user().await;
        for _ in 0..100 {
            let dead: Option<i64> =
                sqlx::query_scalar("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'sessions_log'").fetch_optional(&mut c).await.expect("stats");
            if dead.unwrap_or(0) >= 700 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let r = block_on(run_pg(fx.config()));
    let v = only(&r, "postgres.vacuum", Status::Warning);
    assert!(v.summary.contains("public.sessions_log: 35 % dead tuples (700 of 2000)") && v.summary.contains("last vacuum never"), "{}", v.summary);
}

#[test]
fn stale_maintenance_is_named() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("maintenance"));
    block_on(async {
        // Vacuumed and analyzed once, then a few dead rows (0.5 %, far below the dead-share thresholds).
        fx.admin_sql(
            "CREATE TABLE delivery_log (id int, pad text) WITH (autovacuum_enabled = false); \
             INSERT INTO delivery_log SELECT g, 'x' FROM generate_series(1, 2000) g;",
        )
        .await;
        fx.admin_sql("VACUUM ANALYZE delivery_log").await;
        fx.admin_sql("DELETE FROM delivery_log WHERE id <= 10").await;
        let mut c = fx.user().await;
        for _ in 0..100 {
            let dead: Option<i64> =
                sqlx::query_scalar("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'delivery_log'").fetch_optional(&mut c).await.expect("stats");
            if dead.unwrap_or(0) >= 10 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    std::thread::sleep(Duration::from_millis(1100));
    // Freshly maintained by the default thresholds (7 and 30 days)...
    let r = block_on(run_pg(fx.config()));
    only(&r, "postgres.vacuum", Status::Ok);
    // ... but more than a second old, past thresholds of one second and one day.
    let mut cfg = fx.config();
    (cfg.postgres.vacuum_warn_days, cfg.postgres.vacuum_crit_days) = (1.0 / 86_400.0, 1.0);
    let r = block_on(run_pg(cfg));
    let v = only(&r, "postgres.vacuum", Status::Warning);
    assert!(v.summary.starts_with("public.delivery_log: 10 dead rows and no vacuum or analyze for "), "{}", v.summary);
    assert!(v.summary.contains("last vacuum ") && !v.summary.contains("last vacuum never"), "{}", v.summary);
    let m = v.metrics.iter().find(|m| m.name == "maintenance_age").expect("maintenance_age");
    assert!(m.value >= 1.0 && m.labels.get("table").is_some_and(|t| t == "public.delivery_log"), "{m:?}");
}

#[test]
fn idle_in_transaction_session_is_named() {
    let _g = healthy();
    let fx = block_on(PgFixture::platform("idletx"));
    let mut cfg = fx.config();
    cfg.postgres.idle_minutes = 0.02;
    let (r, pid) = block_on(async {
        let mut c = fx.user().await;
        let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()").fetch_one(&mut c).await.expect("pid");
        c.execute("BEGIN").await.expect("begin");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let r = run_pg(cfg).await;
        c.execute("ROLLBACK").await.expect("rollback");
        (r, pid)
    });
    let conns = only(&r, "postgres.connections", Status::Warning);
    assert!(conns.summary.contains("idle in transaction > 0.02 min") && conns.summary.contains(&format!("pid {pid} (mssante/mssante-diag-tests")), "{}", conns.summary);
}

#[test]
fn checksum_failure_is_critical_and_names_the_database() {
    let _g = fault();
    let stack = Stack::get();
    let fx = block_on(PgFixture::platform("corrupt"));
    let path: String = block_on(async {
        fx.admin_sql("CREATE TABLE patients_notes (id int, note text); INSERT INTO patients_notes SELECT g, repeat('n', 50) FROM generate_series(1, 100) g; CHECKPOINT;")
            .await;
        let mut c = fx.admin().await;
        sqlx::query_scalar("SELECT pg_relation_filepath('patients_notes')").fetch_one(&mut c).await.expect("path")
    });
    {
        // Damage one page on disk while the server is down: a real torn page.
        let _stopped = stack.stop("postgres");
        let file = std::path::Path::new(stack.var("PG_DATA")).join(path);
        let mut bytes = std::fs::read(&file).expect("heap file");
        bytes[4000..4100].fill(0xAB);
        std::fs::write(&file, bytes).expect("write heap file");
    }
    block_on(async {
        let mut c = fx.admin().await;
        let read = sqlx::query("SELECT count(*) FROM patients_notes").fetch_all(&mut c).await.map(drop);
        c.close().await.ok();
        assert!(read.as_ref().is_err_and(|e| e.to_string().contains("invalid page")), "the server detects the damage: {read:?}");
    });
    let r = block_on(run_pg(fx.config()));
    let i = only(&r, "postgres.integrity", Status::Critical);
    assert!(i.summary.contains("checksum failure") && i.summary.contains("diag_corrupt (1"), "{}", i.summary);
    assert!(i.remediation.first().is_some_and(|s| s.command.as_deref().is_some_and(|c| c.contains("pg_dumpall"))), "backup first");
}

#[test]
fn stopped_server_is_reported_once_and_fast() {
    let _g = fault();
    let stack = Stack::get();
    let r = {
        let _stopped = stack.stop("postgres");
        block_on(run_pg(stack.config()))
    };
    let reach = check(&r, "postgres.reachable");
    assert_eq!(reach.status, Status::Critical);
    assert!(reach.summary.contains("connection refused"), "{}", reach.summary);
    for c in r.checks.iter().filter(|c| c.id != "postgres.reachable") {
        assert_eq!(c.status, Status::Unknown, "{}: {}", c.id, c.summary);
        assert!(c.summary.contains("not checked: PostgreSQL unavailable (connection refused"), "{}: {}", c.id, c.summary);
    }
    assert!(r.duration_ms < 1000, "refused at once, not one timeout per check: {} ms", r.duration_ms);
}

#[test]
fn hung_server_costs_one_timeout_not_ten() {
    let _g = healthy();
    let (_listener, port) = hung_listener();
    let mut cfg = Stack::get().config();
    cfg.postgres.host = "127.0.0.1".into();
    cfg.postgres.port = port;
    cfg.timeout_secs = 1.0;
    let r = block_on(run_pg(cfg));
    // A timeout is critical by default (timeout_state), and says what hung.
    let reach = check(&r, "postgres.reachable");
    assert_eq!(reach.status, Status::Critical, "{}", reach.summary);
    assert!(reach.summary.contains("no answer") && reach.summary.contains("within 1 s"), "{}", reach.summary);
    for c in r.checks.iter().filter(|c| c.id != "postgres.reachable") {
        assert_eq!(c.status, Status::Unknown, "{}: {}", c.id, c.summary);
        assert!(c.summary.contains("within 1 s") && c.summary.contains("see postgres.reachable"), "{}: {}", c.id, c.summary);
    }
    assert!(r.duration_ms < 1500, "one shared 1 s attempt: {} ms", r.duration_ms);
}

#[test]
fn wrong_password_is_never_printed() {
    let _g = healthy();
    let mut cfg = Stack::get().config();
    cfg.postgres.credential = Credential { password: Some(Secret::new("Wr0ng-S3cret-pw")), password_env: None };
    let r = block_on(run_pg(cfg));
    let reach = check(&r, "postgres.reachable");
    assert_eq!(reach.status, Status::Critical);
    assert!(reach.summary.contains("refused the password of user \"mssante\""), "{}", reach.summary);
    assert!(!r.to_json().contains("Wr0ng-S3cret-pw"));
    assert!(check(&r, "postgres.size").summary.contains("authentication failed"));
    no_secret(&r);
}

/// `serve` runs the checks at every scrape, each run through its own relay (`pgwire`): the
/// relay ends with its run, leaving no listener, connection or descriptor behind.
#[test]
fn repeated_scrapes_leave_no_relay_or_descriptor_behind() {
    use std::io::{BufRead, Read, Write};
    let stack = Stack::get();
    let _g = healthy();
    let mut child = std::process::Command::new(mssante_diag_tests::cli_bin())
        .arg("--project")
        .arg(&stack.project)
        .args(["serve", "--listen", "127.0.0.1:0", "--cache-secs", "0", "postgres"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve starts");
    let pid = child.id();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("serve says where it listens");
    let addr = first.trim().strip_prefix("mssante-diag: listening on http://").and_then(|a| a.strip_suffix("/metrics")).unwrap_or_default().to_owned();
    let scrape = || {
        let mut conn = std::net::TcpStream::connect(&addr).expect("connect to serve");
        conn.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("send the scrape");
        let mut body = String::new();
        conn.read_to_string(&mut body).expect("the scrape's answer");
        assert!(body.contains("postgres.reachable") || body.contains("postgres_reachable"), "{body}");
    };
    // The relay's sockets (listeners and connections) are named after the process.
    let relay_sockets = || {
        let table = std::fs::read_to_string("/proc/net/unix").expect("/proc/net/unix");
        table.lines().filter(|l| l.contains(&format!("@mssante-diag-pg-{pid}-"))).count()
    };
    let fds = || std::fs::read_dir(format!("/proc/{pid}/fd")).map(Iterator::count).unwrap_or(0);
    // What a run leaves ends within a moment of its answer (tasks aborted, sockets closed).
    let settled = |limit: usize| {
        let start = Instant::now();
        while (relay_sockets() > 0 || fds() > limit) && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
        }
        (relay_sockets(), fds())
    };
    for _ in 0..3 {
        scrape();
    }
    let (relays, base) = settled(usize::MAX);
    assert_eq!(relays, 0, "no relay socket outlives its run");
    for _ in 0..12 {
        scrape();
    }
    let (relays, after) = settled(base);
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("serve: {base} descriptors after 3 scrapes, {after} after 15");
    assert_eq!(relays, 0, "no relay socket outlives its run");
    assert!(after <= base, "descriptors stay flat over scrapes: {base} then {after}");
}

/// `postgres.host` naming a socket folder (as libpq reads it): the relay connects to
/// `<folder>/.s.PGSQL.<port>`, the checks query through it; a folder without the socket is
/// unreachable, saying so.
#[test]
fn a_socket_folder_is_reached_through_the_relay() {
    let _g = healthy();
    let stack = Stack::get();
    let mut cfg = stack.config();
    cfg.postgres.host = stack.var("PG_SOCKET_DIR").to_owned();
    let r = block_on(run_pg(cfg.clone()));
    let reach = check(&r, "postgres.reachable");
    assert_eq!(reach.status, Status::Ok, "{}", reach.summary);
    assert!(reach.summary.contains(&format!("{}:{}", stack.var("PG_SOCKET_DIR"), stack.var("PG_PORT"))), "{}", reach.summary);
    let conns = check(&r, "postgres.connections");
    assert_ne!(conns.status, Status::Unknown, "queried through the pool: {}", conns.summary);
    cfg.postgres.host = "/nonexistent-socket-folder".into();
    let r = block_on(run_pg(cfg));
    let reach = check(&r, "postgres.reachable");
    assert_eq!(reach.status, Status::Critical, "{}", reach.summary);
    assert!(reach.summary.contains("unreachable at /nonexistent-socket-folder") && reach.summary.contains("No such file"), "{}", reach.summary);
}
