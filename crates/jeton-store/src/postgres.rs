//! The shared backend: PostgreSQL, for several Jeton instances on one database.

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::sql::{self, EmbeddedMigration};
use crate::{StoreError, StoreResult};

/// The migrations in `migrations/postgres/`, embedded in the binary.
pub(crate) const MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "service_users",
        include_str!("../migrations/postgres/0002_service_users.sql"),
    ),
    (
        3,
        "changes",
        include_str!("../migrations/postgres/0003_changes.sql"),
    ),
    (
        4,
        "signing_key_withdrawal",
        include_str!("../migrations/postgres/0004_signing_key_withdrawal.sql"),
    ),
    (
        5,
        "audit_retention",
        include_str!("../migrations/postgres/0005_audit_retention.sql"),
    ),
    (
        6,
        "token_chains",
        include_str!("../migrations/postgres/0006_token_chains.sql"),
    ),
];

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| sql::migrator(MIGRATIONS));

/// Connections in the pool of one instance.
const MAX_CONNECTIONS: u32 = 10;

/// How long a caller waits for a pooled connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`](crate::Store) on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names (one connection is made at once, so a
    /// wrong URL fails here). Does not migrate: call [`Store::migrate`](crate::Store::migrate).
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|err| StoreError::Config(format!("invalid PostgreSQL URL: {err}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        Ok(Self { pool })
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// At start, a refused login or a missing database is a configuration mistake, not an outage.
fn open_error(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        let code = db.code().unwrap_or_default();
        // 28xxx: invalid authorization; 3D000: invalid catalog name (no such database).
        if code.starts_with("28") || code == "3D000" {
            return StoreError::Config(format!("cannot connect to PostgreSQL: {}", db.message()));
        }
    }
    sql::db_error(err, "connection", is_transient)
}

/// Applies the embedded migrations. sqlx's PostgreSQL migrator holds a session-level
/// `pg_advisory_lock` keyed on the database name while it runs, so instances starting together
/// wait for each other and then find nothing left to do. When it fails it returns without
/// unlocking: that connection is closed rather than returned to the pool with the lock held.
async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|err| sql::db_error(err, "migration", is_transient))?;
    // `run_direct` is `run` on a connection we hold, without the higher-ranked `Acquire` bound
    // that the `Send` future of an `#[async_trait]` method cannot satisfy.
    let result = MIGRATOR.run_direct(None, &mut *conn, false).await;
    if result.is_err() {
        conn.close_on_drop();
    }
    result.map_err(|err| sql::migrate_error(err, is_transient))
}

/// Errors worth retrying later: connection exceptions (08), insufficient resources (53),
/// operator intervention such as a shutdown (57P), serialization failures and deadlocks (40001,
/// 40P01).
fn is_transient(err: &dyn DatabaseError) -> bool {
    let code = err.code().unwrap_or_default();
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || code == "40001"
        || code == "40P01"
}

sql::sql_store! {
    store: PgStore,
    db: sqlx::Postgres,
    backend: "postgres",
    migrate: migrate,
    transient: is_transient,
    // Under READ COMMITTED two `INSERT … WHERE NOT EXISTS` for one owner can both see no
    // active token of the name; locking the owner's row first makes the second wait and then
    // see the first. NO KEY UPDATE does not block foreign-key checks on the row.
    lock_owner: Some("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE"),
    watch: listen,
    scrub: nothing_to_scrub,
}

/// A dump of PostgreSQL holds live rows only: an overwritten value is not in it.
async fn nothing_to_scrub(_pool: &PgPool) -> StoreResult<()> {
    Ok(())
}

/// The channel the change triggers signal on (see `migrations/postgres/0003_changes.sql`).
const CHANGE_CHANNEL: &str = "jeton_changes";

/// `LISTEN jeton_changes` on a connection of its own, waking `wake` at every signal, and also
/// when the connection was lost (signals sent meanwhile are gone: the follower must look). The
/// listener makes its connection again, and `LISTEN`s again, by itself; while the database is
/// down it retries every second.
async fn listen(
    pool: &PgPool,
    wake: std::sync::Arc<tokio::sync::Notify>,
) -> StoreResult<Option<crate::ChangeWatch>> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .map_err(|err| sql::db_error(err, "listener", is_transient))?;
    listener
        .listen(CHANGE_CHANNEL)
        .await
        .map_err(|err| sql::db_error(err, "listener", is_transient))?;
    let pool = pool.clone();
    let task = tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => wake.notify_one(),
                // Lost and made again: whatever was signalled in between is unknown.
                Ok(None) => wake.notify_one(),
                Err(err) => {
                    if pool.is_closed() {
                        return;
                    }
                    tracing::debug!(error = %err, "change listener has no connection; retrying");
                    wake.notify_one();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(Some(crate::ChangeWatch::new(task)))
}
