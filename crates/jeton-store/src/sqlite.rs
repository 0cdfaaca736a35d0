//! The embedded default backend: one SQLite file in WAL mode, every commit synced to disk.
//!
//! The file holds the signing keys, so a database this module creates is readable by its owner
//! only (mode 0600, and SQLite gives its `-wal` and `-shm` files the same mode).

use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::sql::{self, EmbeddedMigration};
use crate::{StoreError, StoreResult};

/// The migrations in `migrations/sqlite/`, embedded in the binary.
pub(crate) const MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "service_users",
        include_str!("../migrations/sqlite/0002_service_users.sql"),
    ),
    (
        3,
        "changes",
        include_str!("../migrations/sqlite/0003_changes.sql"),
    ),
    (
        4,
        "signing_key_withdrawal",
        include_str!("../migrations/sqlite/0004_signing_key_withdrawal.sql"),
    ),
    (
        5,
        "audit_retention",
        include_str!("../migrations/sqlite/0005_audit_retention.sql"),
    ),
    (
        6,
        "token_chains",
        include_str!("../migrations/sqlite/0006_token_chains.sql"),
    ),
];

static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| sql::migrator(MIGRATIONS));

/// Connections in the pool of a database file. SQLite has one writer at a time; the others
/// serve reads concurrently thanks to WAL.
const MAX_CONNECTIONS: u32 = 4;

/// How long a statement waits for another connection's write lock, and a caller for a pooled
/// connection, before the store reports itself unavailable.
const WAIT: Duration = Duration::from_secs(5);

/// A [`Store`](crate::Store) on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database a `sqlite://FILE` URL names, or a private
    /// in-memory database for `sqlite::memory:`. Does not migrate: call
    /// [`Store::migrate`](crate::Store::migrate).
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| StoreError::Config(format!("invalid SQLite URL: {err}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the WAL at every commit: a committed write survives a power cut, not
            // only a process kill (NORMAL would keep the latter only).
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(WAIT);

        let pool_options = SqlitePoolOptions::new().acquire_timeout(WAIT);
        let pool_options = if is_in_memory(url) {
            // An in-memory database lives as long as a connection to it: keep exactly one.
            pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            create_private_file(options.get_filename())?;
            pool_options.max_connections(MAX_CONNECTIONS)
        };

        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|err| StoreError::Config(format!("cannot open SQLite database: {err}")))?;
        Ok(Self { pool })
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// True for the URLs SQLite reads as an in-memory database.
fn is_in_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|param| param == "mode=memory")
}

/// Creates an empty database file readable by its owner only, unless the file exists. SQLite
/// then gives the `-wal` and `-shm` files it creates beside it the same mode.
fn create_private_file(path: &Path) -> StoreResult<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(err) => {
            return Err(StoreError::Config(format!(
                "cannot create SQLite database {}: {err}",
                path.display()
            )));
        }
    }
    // The mode given at creation passes through the umask; state it exactly.
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|err| StoreError::Config(format!("cannot restrict {}: {err}", path.display())))?;
    Ok(())
}

/// Applies the embedded migrations inside one `BEGIN IMMEDIATE` transaction: it holds SQLite's
/// write lock throughout, so processes starting together apply each migration once (sqlx does no
/// locking of its own on SQLite). sqlx's per-migration transactions become savepoints in it.
async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|err| sql::db_error(err, "migration", is_transient))?;
    // `run_direct` is `run` on a connection we hold, without the higher-ranked `Acquire` bound
    // that the `Send` future of an `#[async_trait]` method cannot satisfy.
    MIGRATOR
        .run_direct(None, &mut *tx, false)
        .await
        .map_err(|err| sql::migrate_error(err, is_transient))?;
    tx.commit()
        .await
        .map_err(|err| sql::db_error(err, "migration", is_transient))
}

/// SQLITE_BUSY and SQLITE_LOCKED (another connection held the lock past the busy timeout),
/// SQLITE_IOERR, SQLITE_FULL and SQLITE_CANTOPEN, with their extended codes.
fn is_transient(err: &dyn DatabaseError) -> bool {
    let primary = err
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .map(|code| code & 0xff);
    matches!(primary, Some(5 | 6 | 10 | 13 | 14))
}

sql::sql_store! {
    store: SqliteStore,
    db: sqlx::Sqlite,
    backend: "sqlite",
    migrate: migrate,
    transient: is_transient,
    // SQLite runs one write statement at a time: the single INSERT … WHERE NOT EXISTS is
    // serialised by itself.
    lock_owner: None,
    watch: no_signal,
    scrub: scrub,
}

/// Rewrites the database file without its free pages (`VACUUM`), where overwritten values
/// would otherwise linger, then copies the WAL into it and truncates the WAL to nothing, so
/// that no old page survives in either file.
async fn scrub(pool: &SqlitePool) -> StoreResult<()> {
    sqlx::query("VACUUM")
        .execute(pool)
        .await
        .map_err(|err| sql::db_error(err, "vacuum", is_transient))?;
    // Columns: busy (1 when a reader or writer kept it from finishing), WAL frames, frames
    // copied.
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(pool)
        .await
        .map_err(|err| sql::db_error(err, "checkpoint", is_transient))?;
    if busy != 0 {
        return Err(StoreError::Unavailable(
            "another connection kept the WAL from being emptied; try again".into(),
        ));
    }
    Ok(())
}

/// SQLite has no change signal; instances on one file find changes by polling.
async fn no_signal(
    _pool: &SqlitePool,
    _wake: std::sync::Arc<tokio::sync::Notify>,
) -> StoreResult<Option<crate::ChangeWatch>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_urls() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://:memory:"));
        assert!(is_in_memory("sqlite://db?mode=memory&cache=shared"));
        assert!(!is_in_memory("sqlite://data/jeton.db"));
        assert!(!is_in_memory("sqlite:jeton.db?mode=rwc"));
    }
}
