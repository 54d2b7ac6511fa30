//! Read-only queries on the platform's own tables for subsystems other than `postgres.*`
//! (`annuaire.mailboxes` reads `mailboxes`): through the run's one PostgreSQL connection
//! attempt and read-only pool (sessions `default_transaction_read_only`, `statement_timeout`
//! at the step timeout), so that a dead server costs one timeout per run and every check that
//! needs the database says the same thing about it.

use std::future::Future;

use sqlx::pool::PoolConnection;
use sqlx::Postgres;

use crate::checks::{Ctx, Outcome};

pub use crate::checks::postgres::{relation, Relation};

/// Runs `gather` on a read-only connection of the run's pool, under the step timeout.
///
/// # Errors
/// The finished outcome when it could not: PostgreSQL unavailable (`unknown`, pointing to
/// `postgres.reachable`), timed out, or the query failed (`unknown` with the reason).
pub async fn read_only<T, F, Fut>(ctx: &Ctx, gather: F) -> Result<T, Outcome>
where
    F: FnOnce(PoolConnection<Postgres>) -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    crate::checks::postgres::on_db(ctx, gather).await
}
