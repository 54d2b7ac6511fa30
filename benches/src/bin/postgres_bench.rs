//! PostgreSQL subsystem benchmark (issue target): the ten `postgres.*` checks on a
//! healthy local server take at most 100 ms more than one round trip.
//!
//! "One round trip" is what any client pays to ask the server anything: connect
//! (SCRAM authentication) and run `SELECT 1`. The bench also prints `SELECT 1` on an
//! open connection. The database is a fixture with the platform's schema, so every
//! check has real work to do.
//!
//! Run: `cargo build --release -p mssante-diag-benches && target/release/postgres_bench [ROUNDS]`
//! (the test stack must be up: `tests/stack/stack.sh up`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mssante_diag_benches::Row;
use mssante_diag_core::{Selection, Status};
use mssante_diag_tests::postgres::PgFixture;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// The budget over one round trip.
const BUDGET: Duration = Duration::from_millis(100);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn timed<F: std::future::Future>(rounds: usize, mut f: impl FnMut() -> F) -> Duration {
    let mut v = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        f().await;
        v.push(start.elapsed());
    }
    median(v)
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let pass = rt.block_on(async {
        let fx = PgFixture::platform("bench").await;
        let config = Arc::new(fx.config());
        let pg = &config.postgres;
        let password = config.secret(&pg.credential).expect("the fixture has a password");
        let opts = PgConnectOptions::new_without_pgpass()
            .host(&pg.host)
            .port(pg.port)
            .username(&pg.user)
            .database(&pg.database)
            .password(password.expose());
        let only = Selection::Only(vec!["postgres".into()]);
        let run = || async { mssante_diag_core::run(config.clone(), &only).await.expect("postgres is a subsystem") };

        let report = run().await; // warm-up, and a look at the statuses
        let not_ok: Vec<String> = report.checks.iter().filter(|c| c.status != Status::Ok).map(|c| format!("{} {}", c.id, c.status)).collect();

        let connect_rtt = timed(rounds, || async {
            let mut c = PgConnection::connect_with(&opts).await.expect("connect");
            sqlx::query("SELECT 1").execute(&mut c).await.expect("SELECT 1");
            c.close().await.ok();
        })
        .await;
        let mut open = PgConnection::connect_with(&opts).await.expect("connect");
        let mut v = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            sqlx::query("SELECT 1").execute(&mut open).await.expect("SELECT 1");
            v.push(start.elapsed());
        }
        let select_rtt = median(v);
        open.close().await.ok();
        let subsystem = timed(rounds, || async {
            run().await;
        })
        .await;
        let last = run().await;
        let mut by_time: Vec<(u64, &str)> = last.checks.iter().map(|c| (c.duration_ms, c.id.as_str())).collect();
        by_time.sort_unstable_by(|a, b| b.cmp(a));
        let slowest: Vec<String> = by_time.iter().take(3).map(|(d, id)| format!("{id} {d} ms")).collect();

        let overhead = subsystem.saturating_sub(connect_rtt);
        let pass = overhead <= BUDGET;
        println!("postgres subsystem, {} checks, median of {rounds} rounds (database {}):", report.checks.len(), fx.db);
        println!("  connect + SELECT 1        {:>8.2} ms   (one round trip)", ms(connect_rtt));
        println!("  SELECT 1 (open conn.)     {:>8.2} ms", ms(select_rtt));
        println!("  all postgres.* checks     {:>8.2} ms", ms(subsystem));
        println!("  over one round trip       {:>8.2} ms   (target <= {} ms): {}", ms(overhead), BUDGET.as_millis(), if pass { "PASS" } else { "FAIL" });
        println!("  slowest checks (one run)  {}", slowest.join(", "));
        Row::new("postgres", &format!("the {} postgres.* checks on the platform's schema, median of {rounds}", report.checks.len()), format!("{:.1} ms", ms(subsystem)))
            .peer("one round trip (connect with SCRAM + SELECT 1)", format!("{:.1} ms", ms(connect_rtt)))
            .ratio(format!("+{:.1} ms", ms(overhead)))
            .target(format!("<= one round trip + {} ms", BUDGET.as_millis()), pass)
            .print();
        if !not_ok.is_empty() {
            println!("  note: not ok on this database: {}", not_ok.join(", "));
        }
        pass
    });
    rt.shutdown_background();
    if !pass {
        std::process::exit(1);
    }
}
