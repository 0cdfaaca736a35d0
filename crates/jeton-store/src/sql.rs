//! What the SQLite and PostgreSQL backends share: the one implementation of [`Store`], written
//! as the macro [`sql_store!`] over the pool type, plus the decoding of columns into domain
//! values, the mapping of database errors and the building of the embedded migrators.
//!
//! Both backends run the same SQL: `$1, $2…` placeholders (SQLite reads `$N` as the N-th
//! argument), the same column types, `ON CONFLICT … DO NOTHING` and `RETURNING`. What differs is
//! passed to the macro by each backend module: how it migrates, which database errors are
//! transient, and how an owner is locked while a token name is checked.
//!
//! [`Store`]: crate::Store

use std::borrow::Cow;
use std::str::FromStr;

use jeton_core::{AccessLevel, TokenKind};
use sqlx::SqlSafeStr;
use sqlx::error::DatabaseError;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

use crate::StoreError;
use crate::StoreResult;

/// One embedded migration: version, description, SQL. The version and description are those of
/// the file name `VVVV_description.sql`, as `sqlx migrate` reads them.
pub(crate) type EmbeddedMigration = (i64, &'static str, &'static str);

/// Builds a migrator from migrations embedded with `include_str!`. This is what `sqlx::migrate!`
/// would produce (same versions, same checksums), without the `macros` feature that it needs and
/// the workspace leaves off; the test below keeps each list equal to its folder.
pub(crate) fn migrator(migrations: &[EmbeddedMigration]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Maps a database error. A unique violation means `what` exists already; a foreign-key violation
/// means the object referred to (tenant, user, role) does not exist (any more). Lost connections
/// and errors `transient` recognises make the store unavailable; the rest is internal.
pub(crate) fn db_error(
    err: sqlx::Error,
    what: &str,
    transient: fn(&dyn DatabaseError) -> bool,
) -> StoreError {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        sqlx::Error::Database(db) if transient(&*db) => {
            StoreError::Unavailable(db.message().to_string())
        }
        err @ (sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(err.to_string()),
        err => StoreError::Internal(err.to_string()),
    }
}

/// Maps a migration failure: database errors as [`db_error`] does, the rest (a changed or missing
/// migration, a dirty database) is internal.
pub(crate) fn migrate_error(
    err: MigrateError,
    transient: fn(&dyn DatabaseError) -> bool,
) -> StoreError {
    match err {
        MigrateError::Execute(err) => db_error(err, "migration", transient),
        MigrateError::ExecuteMigration(err, version) => match db_error(err, "migration", transient)
        {
            StoreError::Internal(detail) => {
                StoreError::Internal(format!("migration {version}: {detail}"))
            }
            other => other,
        },
        other => StoreError::Internal(format!("migration: {other}")),
    }
}

/// A column that could not be read as the type the record wants.
pub(crate) fn column_error(column: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("column {column}: {err}"))
}

/// Parses an id column (`TenantId`, `UserId`, ...).
pub(crate) fn parse_id<T: FromStr<Err = uuid::Error>>(column: &str, value: &str) -> StoreResult<T> {
    value
        .parse()
        .map_err(|err| column_error(column, format!("{err} in '{value}'")))
}

/// Parses a nullable id column.
pub(crate) fn parse_opt_id<T: FromStr<Err = uuid::Error>>(
    column: &str,
    value: Option<String>,
) -> StoreResult<Option<T>> {
    value.map(|value| parse_id(column, &value)).transpose()
}

/// Parses an access level column, in its exact database spelling.
pub(crate) fn parse_access_level(value: &str) -> StoreResult<AccessLevel> {
    [
        AccessLevel::Root,
        AccessLevel::TenantAdmin,
        AccessLevel::TenantUser,
    ]
    .into_iter()
    .find(|level| level.as_str() == value)
    .ok_or_else(|| column_error("access_level", format!("unknown access level '{value}'")))
}

/// Parses a token kind column.
pub(crate) fn parse_kind(value: &str) -> StoreResult<TokenKind> {
    value.parse().map_err(|err| column_error("kind", err))
}

/// Scopes are stored space-separated; none is the empty string.
pub(crate) fn join_scopes(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// The inverse of [`join_scopes`].
pub(crate) fn split_scopes(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_string).collect()
}

/// Audit details are stored as JSON text.
pub(crate) fn details_to_text(details: &serde_json::Value) -> String {
    details.to_string()
}

/// The inverse of [`details_to_text`].
pub(crate) fn details_from_text(value: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(value).map_err(|err| column_error("details", err))
}

// Column lists, as macros so that `concat!` can build whole statements at compile time.
macro_rules! tenant_columns {
    () => {
        "id, name, created_at"
    };
}
macro_rules! user_columns {
    () => {
        "id, tenant_id, username, password_hash, access_level, active, token_max_secs, created_at, \
         updated_at"
    };
}
macro_rules! role_columns {
    () => {
        "id, tenant_id, name, token_max_secs, created_at"
    };
}
macro_rules! token_columns {
    () => {
        "id, tenant_id, user_id, kind, name, comment, scopes, created_at, created_by, expires_at, \
         last_used_at, revoked_at, revoked_by"
    };
}
macro_rules! service_user_columns {
    () => {
        "id, tenant_id, name, description, access_level, scopes, active, expires_at, created_at, \
         created_by, updated_at, last_used_at"
    };
}
macro_rules! api_key_columns {
    () => {
        "id, service_user_id, key_hash, hint, created_at, created_by, superseded_at, grace_until, \
         revoked_at"
    };
}
macro_rules! signing_key_columns {
    () => {
        "kid, algorithm, private_key, public_key, created_at, retired_at, revoked_at, expired_at"
    };
}
macro_rules! audit_columns {
    () => {
        "id, at, tenant_id, actor_id, actor_name, action, target_type, target_id, target_name, \
         outcome, client_addr, details"
    };
}
pub(crate) use {
    api_key_columns, audit_columns, role_columns, service_user_columns, signing_key_columns,
    tenant_columns, token_columns, user_columns,
};

/// Implements [`Store`](crate::Store) for a backend's store type, in a private module of the
/// backend's own. The store type must have a field `pool: sqlx::Pool<db>`; the other arguments
/// name, in the backend's module, what differs between backends:
///
/// - `migrate`: `async fn(&Pool<db>) -> StoreResult<()>`, applying the embedded migrations;
/// - `transient`: `fn(&dyn DatabaseError) -> bool`, true for errors that mean "try again later";
/// - `lock_owner`: `Option<&'static str>`, a statement taking `$1` (a user id) that locks the
///   owner's row inside the token-insert transaction, for databases where one
///   `INSERT … WHERE NOT EXISTS` does not serialise concurrent inserts by itself;
/// - `watch`: `async fn(&Pool<db>, Arc<Notify>) -> StoreResult<Option<ChangeWatch>>`, the
///   backend's change signal (see `Store::watch_changes`).
/// - `scrub`: `async fn(&Pool<db>) -> StoreResult<()>`, see `Store::scrub`.
macro_rules! sql_store {
    (
        store: $store:ident,
        db: $db:ty,
        backend: $backend:literal,
        migrate: $migrate:ident,
        transient: $transient:ident,
        lock_owner: $lock_owner:expr,
        watch: $watch:ident,
        scrub: $scrub:ident $(,)?
    ) => {
        mod store_impl {
            use std::collections::BTreeMap;

            use async_trait::async_trait;
            use jeton_core::{RoleId, ServiceUserId, TenantId, TokenId, TokenKind, UserId};
            use sqlx::QueryBuilder;

            use crate::sql::{
                api_key_columns, audit_columns, column_error, db_error, details_from_text,
                details_to_text, join_scopes, parse_access_level, parse_id, parse_kind,
                parse_opt_id, role_columns, service_user_columns, signing_key_columns,
                split_scopes, tenant_columns, token_columns, user_columns,
            };
            use crate::{
                ApiKeyRecord, AuditFilter, AuditRecord, ChangeEntity, ChangeRecord, ChangeWatch,
                Resealed, Revocation, RoleRecord, ServiceUserPatch, ServiceUserRecord,
                SigningKeyRecord, Store, StoreError, StoreResult, TenantRecord, TokenFilter,
                TokenLink, TokenRecord, UserPatch, UserRecord,
            };

            type Db = $db;
            type DbRow = <Db as sqlx::Database>::Row;
            type DbConnection = <Db as sqlx::Database>::Connection;
            type DbQueryResult = <Db as sqlx::Database>::QueryResult;

            const LOCK_OWNER: Option<&str> = $lock_owner;

            /// Maps an error of a statement that may break the uniqueness of `what`.
            fn conflict(err: sqlx::Error, what: &'static str) -> StoreError {
                db_error(err, what, super::$transient)
            }

            /// Maps an error of a statement with no uniqueness rule at stake.
            fn fail(err: sqlx::Error) -> StoreError {
                db_error(err, "record", super::$transient)
            }

            fn get<'r, T>(row: &'r DbRow, column: &'static str) -> StoreResult<T>
            where
                T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
            {
                sqlx::Row::try_get(row, column).map_err(|err| column_error(column, err))
            }

            fn tenant_row(row: &DbRow) -> StoreResult<TenantRecord> {
                Ok(TenantRecord {
                    id: parse_id("id", &get::<String>(row, "id")?)?,
                    name: get(row, "name")?,
                    created_at: get(row, "created_at")?,
                })
            }

            fn user_row(row: &DbRow) -> StoreResult<UserRecord> {
                Ok(UserRecord {
                    id: parse_id("id", &get::<String>(row, "id")?)?,
                    tenant_id: parse_id("tenant_id", &get::<String>(row, "tenant_id")?)?,
                    username: get(row, "username")?,
                    password_hash: get(row, "password_hash")?,
                    access_level: parse_access_level(&get::<String>(row, "access_level")?)?,
                    active: get(row, "active")?,
                    token_max_secs: get(row, "token_max_secs")?,
                    created_at: get(row, "created_at")?,
                    updated_at: get(row, "updated_at")?,
                })
            }

            fn role_row(row: &DbRow) -> StoreResult<RoleRecord> {
                Ok(RoleRecord {
                    id: parse_id("id", &get::<String>(row, "id")?)?,
                    tenant_id: parse_id("tenant_id", &get::<String>(row, "tenant_id")?)?,
                    name: get(row, "name")?,
                    token_max_secs: get(row, "token_max_secs")?,
                    created_at: get(row, "created_at")?,
                })
            }

            fn token_row(row: &DbRow) -> StoreResult<TokenRecord> {
                Ok(TokenRecord {
                    id: parse_id("id", &get::<String>(row, "id")?)?,
                    tenant_id: parse_id("tenant_id", &get::<String>(row, "tenant_id")?)?,
                    user_id: parse_id("user_id", &get::<String>(row, "user_id")?)?,
                    kind: parse_kind(&get::<String>(row, "kind")?)?,
                    name: get(row, "name")?,
                    comment: get(row, "comment")?,
                    scopes: split_scopes(&get::<String>(row, "scopes")?),
                    created_at: get(row, "created_at")?,
                    created_by: parse_opt_id("created_by", get(row, "created_by")?)?,
                    expires_at: get(row, "expires_at")?,
                    last_used_at: get(row, "last_used_at")?,
                    revoked_at: get(row, "revoked_at")?,
                    revoked_by: parse_opt_id("revoked_by", get(row, "revoked_by")?)?,
                })
            }

            fn service_user_row(row: &DbRow) -> StoreResult<ServiceUserRecord> {
                Ok(ServiceUserRecord {
                    id: parse_id("id", &get::<String>(row, "id")?)?,
                    tenant_id: parse_id("tenant_id", &get::<String>(row, "tenant_id")?)?,
                    name: get(row, "name")?,
                    description: get(row, "description")?,
                    access_level: parse_access_level(&get::<String>(row, "access_level")?)?,
                    scopes: split_scopes(&get::<String>(row, "scopes")?),
                    active: get(row, "active")?,
                    expires_at: get(row, "expires_at")?,
                    created_at: get(row, "created_at")?,
                    created_by: parse_opt_id("created_by", get(row, "created_by")?)?,
                    updated_at: get(row, "updated_at")?,
                    last_used_at: get(row, "last_used_at")?,
                })
            }

            fn api_key_row(row: &DbRow) -> StoreResult<ApiKeyRecord> {
                Ok(ApiKeyRecord {
                    id: parse_id("id", &get::<String>(row, "id")?)?,
                    service_user_id: parse_id(
                        "service_user_id",
                        &get::<String>(row, "service_user_id")?,
                    )?,
                    key_hash: get(row, "key_hash")?,
                    hint: get(row, "hint")?,
                    created_at: get(row, "created_at")?,
                    created_by: parse_opt_id("created_by", get(row, "created_by")?)?,
                    superseded_at: get(row, "superseded_at")?,
                    grace_until: get(row, "grace_until")?,
                    revoked_at: get(row, "revoked_at")?,
                })
            }

            async fn insert_api_key(
                conn: &mut DbConnection,
                key: &ApiKeyRecord,
            ) -> StoreResult<()> {
                sqlx::query(concat!(
                    "INSERT INTO api_keys (",
                    api_key_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(key.id.to_string())
                .bind(key.service_user_id.to_string())
                .bind(&key.key_hash)
                .bind(&key.hint)
                .bind(key.created_at)
                .bind(key.created_by.map(|id| id.to_string()))
                .bind(key.superseded_at)
                .bind(key.grace_until)
                .bind(key.revoked_at)
                .execute(conn)
                .await
                .map_err(|err| conflict(err, "API key"))?;
                Ok(())
            }

            async fn keys_of(
                conn: &mut DbConnection,
                id: ServiceUserId,
            ) -> StoreResult<Vec<ApiKeyRecord>> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    api_key_columns!(),
                    " FROM api_keys WHERE service_user_id = $1 ORDER BY id DESC"
                ))
                .bind(id.to_string())
                .fetch_all(conn)
                .await
                .map_err(fail)?;
                rows.iter().map(api_key_row).collect()
            }

            fn signing_key_row(row: &DbRow) -> StoreResult<SigningKeyRecord> {
                Ok(SigningKeyRecord {
                    kid: get(row, "kid")?,
                    algorithm: get(row, "algorithm")?,
                    private_key: get(row, "private_key")?,
                    public_key: get(row, "public_key")?,
                    created_at: get(row, "created_at")?,
                    retired_at: get(row, "retired_at")?,
                    revoked_at: get(row, "revoked_at")?,
                    expired_at: get(row, "expired_at")?,
                })
            }

            fn audit_row(row: &DbRow) -> StoreResult<AuditRecord> {
                Ok(AuditRecord {
                    id: get(row, "id")?,
                    at: get(row, "at")?,
                    tenant_id: parse_opt_id("tenant_id", get(row, "tenant_id")?)?,
                    actor_id: parse_opt_id("actor_id", get(row, "actor_id")?)?,
                    actor_name: get(row, "actor_name")?,
                    action: get(row, "action")?,
                    target_type: get(row, "target_type")?,
                    target_id: get(row, "target_id")?,
                    target_name: get(row, "target_name")?,
                    outcome: get(row, "outcome")?,
                    client_addr: get(row, "client_addr")?,
                    details: details_from_text(&get::<String>(row, "details")?)?,
                })
            }

            /// Revokes every unrevoked token of `user` (of `kind` only, when given) and records
            /// each revocation, in one transaction; returns what it revoked.
            async fn revoke_tokens_of(
                pool: &sqlx::Pool<Db>,
                user: UserId,
                kind: Option<TokenKind>,
                by: Option<UserId>,
                at: i64,
            ) -> StoreResult<Vec<Revocation>> {
                let mut tx = pool.begin().await.map_err(fail)?;
                let rows = sqlx::query(
                    "UPDATE tokens SET revoked_at = $2, revoked_by = $3 \
                         WHERE user_id = $1 AND revoked_at IS NULL \
                         AND ($4 IS NULL OR kind = $4) \
                         RETURNING id, expires_at",
                )
                .bind(user.to_string())
                .bind(at)
                .bind(by.map(|id| id.to_string()))
                .bind(kind.map(|kind| kind.as_str()))
                .fetch_all(&mut *tx)
                .await
                .map_err(fail)?;
                let mut revocations = Vec::with_capacity(rows.len());
                for row in &rows {
                    let revocation = Revocation {
                        token_id: parse_id("id", &get::<String>(row, "id")?)?,
                        expires_at: get(row, "expires_at")?,
                    };
                    insert_revocation(&mut *tx, revocation.token_id, revocation.expires_at, at)
                        .await?;
                    revocations.push(revocation);
                }
                tx.commit().await.map_err(fail)?;
                Ok(revocations)
            }

            /// Records a revocation unless the token has one already (the first one stays).
            async fn insert_revocation(
                conn: &mut DbConnection,
                token: TokenId,
                expires_at: i64,
                revoked_at: i64,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO revocations (token_id, expires_at, revoked_at) \
                         VALUES ($1, $2, $3) \
                         ON CONFLICT (token_id) DO NOTHING",
                )
                .bind(token.to_string())
                .bind(expires_at)
                .bind(revoked_at)
                .execute(conn)
                .await
                .map_err(fail)?;
                Ok(())
            }

            /// Fails with `NotFound` when a write touched no row.
            fn found(result: DbQueryResult) -> StoreResult<()> {
                if result.rows_affected() == 0 {
                    Err(StoreError::NotFound)
                } else {
                    Ok(())
                }
            }

            #[async_trait]
            impl Store for super::$store {
                async fn migrate(&self) -> StoreResult<()> {
                    super::$migrate(&self.pool).await
                }

                async fn ping(&self) -> StoreResult<()> {
                    sqlx::query("SELECT 1")
                        .execute(&self.pool)
                        .await
                        .map_err(fail)?;
                    Ok(())
                }

                fn backend(&self) -> &'static str {
                    $backend
                }

                fn pool_status(&self) -> crate::PoolStatus {
                    crate::PoolStatus {
                        connections: self.pool.size(),
                        idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
                        max_connections: self.pool.options().get_max_connections(),
                    }
                }

                // ---- settings ----

                async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
                    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(fail)
                }

                async fn init_setting(&self, key: &str, value: &str) -> StoreResult<String> {
                    sqlx::query(
                        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await
                    .map_err(fail)?;
                    // Settings are never changed once stored, so this reads the winner's value.
                    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                        .bind(key)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(fail)
                }

                async fn reseal(
                    &self,
                    signing_keys: &[Resealed<Vec<u8>>],
                    settings: &[Resealed<String>],
                ) -> StoreResult<bool> {
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    for key in signing_keys {
                        let result = sqlx::query(
                            "UPDATE signing_keys SET private_key = $3 \
                             WHERE kid = $1 AND private_key = $2",
                        )
                        .bind(&key.id)
                        .bind(&key.old)
                        .bind(&key.new)
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                        if result.rows_affected() == 0 {
                            // Dropping the transaction rolls back what it wrote.
                            return Ok(false);
                        }
                    }
                    for setting in settings {
                        let result = sqlx::query(
                            "UPDATE settings SET value = $3 WHERE key = $1 AND value = $2",
                        )
                        .bind(&setting.id)
                        .bind(&setting.old)
                        .bind(&setting.new)
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                        if result.rows_affected() == 0 {
                            return Ok(false);
                        }
                    }
                    tx.commit().await.map_err(fail)?;
                    Ok(true)
                }

                async fn scrub(&self) -> StoreResult<()> {
                    super::$scrub(&self.pool).await
                }

                // ---- tenants ----

                async fn create_tenant(&self, tenant: &TenantRecord) -> StoreResult<()> {
                    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
                        .bind(tenant.id.to_string())
                        .bind(&tenant.name)
                        .bind(tenant.created_at)
                        .execute(&self.pool)
                        .await
                        .map_err(|err| conflict(err, "tenant"))?;
                    Ok(())
                }

                async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<TenantRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        tenant_columns!(),
                        " FROM tenants WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(tenant_row).transpose()
                }

                async fn get_tenant_by_name(
                    &self,
                    name: &str,
                ) -> StoreResult<Option<TenantRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        tenant_columns!(),
                        " FROM tenants WHERE name = $1"
                    ))
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(tenant_row).transpose()
                }

                async fn list_tenants(&self) -> StoreResult<Vec<TenantRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        tenant_columns!(),
                        " FROM tenants ORDER BY name"
                    ))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(fail)?;
                    rows.iter().map(tenant_row).collect()
                }

                async fn delete_tenant(&self, id: TenantId) -> StoreResult<()> {
                    // Users, roles, memberships and tokens go with it (ON DELETE CASCADE).
                    let result = sqlx::query("DELETE FROM tenants WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(fail)?;
                    found(result)
                }

                // ---- users ----

                async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
                    sqlx::query(concat!(
                        "INSERT INTO users (",
                        user_columns!(),
                        ") ",
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    ))
                    .bind(user.id.to_string())
                    .bind(user.tenant_id.to_string())
                    .bind(&user.username)
                    .bind(&user.password_hash)
                    .bind(user.access_level.as_str())
                    .bind(user.active)
                    .bind(user.token_max_secs)
                    .bind(user.created_at)
                    .bind(user.updated_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|err| conflict(err, "username"))?;
                    Ok(())
                }

                async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(user_row).transpose()
                }

                async fn get_user_by_name(
                    &self,
                    username: &str,
                ) -> StoreResult<Option<UserRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE username = $1"
                    ))
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(user_row).transpose()
                }

                async fn list_users(
                    &self,
                    tenant: Option<TenantId>,
                    after_username: Option<&str>,
                    limit: u32,
                ) -> StoreResult<Vec<UserRecord>> {
                    let mut query = QueryBuilder::<Db>::new(concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE 1 = 1"
                    ));
                    if let Some(tenant) = tenant {
                        query
                            .push(" AND tenant_id = ")
                            .push_bind(tenant.to_string());
                    }
                    if let Some(after) = after_username {
                        query.push(" AND username > ").push_bind(after.to_string());
                    }
                    query
                        .push(" ORDER BY username LIMIT ")
                        .push_bind(i64::from(limit));
                    let rows = query.build().fetch_all(&self.pool).await.map_err(fail)?;
                    rows.iter().map(user_row).collect()
                }

                async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users ORDER BY username"
                    ))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(fail)?;
                    rows.iter().map(user_row).collect()
                }

                async fn update_user(
                    &self,
                    id: UserId,
                    patch: &UserPatch,
                    at: i64,
                ) -> StoreResult<UserRecord> {
                    // Only the columns the patch names: a concurrent change of another column
                    // is never written back with the value this caller last read.
                    let mut query = QueryBuilder::<Db>::new("UPDATE users SET updated_at = ");
                    query.push_bind(at);
                    if let Some(hash) = &patch.password_hash {
                        query.push(", password_hash = ").push_bind(hash.clone());
                    }
                    if let Some(level) = patch.access_level {
                        query.push(", access_level = ").push_bind(level.as_str());
                    }
                    if let Some(active) = patch.active {
                        query.push(", active = ").push_bind(active);
                    }
                    if let Some(max_secs) = patch.token_max_secs {
                        query.push(", token_max_secs = ").push_bind(max_secs);
                    }
                    query
                        .push(" WHERE id = ")
                        .push_bind(id.to_string())
                        .push(concat!(" RETURNING ", user_columns!()));
                    let row = query
                        .build()
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(fail)?;
                    row.as_ref()
                        .map(user_row)
                        .transpose()?
                        .ok_or(StoreError::NotFound)
                }

                async fn delete_user(&self, id: UserId) -> StoreResult<()> {
                    // Tokens and memberships go with it (ON DELETE CASCADE).
                    let result = sqlx::query("DELETE FROM users WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(fail)?;
                    found(result)
                }

                // ---- roles ----

                async fn create_role(&self, role: &RoleRecord) -> StoreResult<()> {
                    sqlx::query(concat!(
                        "INSERT INTO roles (",
                        role_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5)"
                    ))
                    .bind(role.id.to_string())
                    .bind(role.tenant_id.to_string())
                    .bind(&role.name)
                    .bind(role.token_max_secs)
                    .bind(role.created_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|err| conflict(err, "role"))?;
                    Ok(())
                }

                async fn get_role(&self, id: RoleId) -> StoreResult<Option<RoleRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        role_columns!(),
                        " FROM roles WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(role_row).transpose()
                }

                async fn get_role_by_name(
                    &self,
                    tenant: TenantId,
                    name: &str,
                ) -> StoreResult<Option<RoleRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        role_columns!(),
                        " FROM roles WHERE tenant_id = $1 AND name = $2"
                    ))
                    .bind(tenant.to_string())
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(role_row).transpose()
                }

                async fn list_roles(
                    &self,
                    tenant: Option<TenantId>,
                ) -> StoreResult<Vec<RoleRecord>> {
                    let mut query =
                        QueryBuilder::<Db>::new(concat!("SELECT ", role_columns!(), " FROM roles"));
                    if let Some(tenant) = tenant {
                        query
                            .push(" WHERE tenant_id = ")
                            .push_bind(tenant.to_string());
                    }
                    query.push(" ORDER BY name, tenant_id");
                    let rows = query.build().fetch_all(&self.pool).await.map_err(fail)?;
                    rows.iter().map(role_row).collect()
                }

                async fn set_role_token_max(
                    &self,
                    id: RoleId,
                    max_secs: Option<i64>,
                ) -> StoreResult<()> {
                    let result = sqlx::query("UPDATE roles SET token_max_secs = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(max_secs)
                        .execute(&self.pool)
                        .await
                        .map_err(fail)?;
                    found(result)
                }

                async fn delete_role(&self, id: RoleId) -> StoreResult<()> {
                    // Memberships go with it (ON DELETE CASCADE).
                    let result = sqlx::query("DELETE FROM roles WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(fail)?;
                    found(result)
                }

                async fn add_role_member(&self, role: RoleId, user: UserId) -> StoreResult<()> {
                    // A missing role or user breaks a foreign key: NotFound.
                    sqlx::query(
                        "INSERT INTO role_members (role_id, user_id) VALUES ($1, $2) \
                             ON CONFLICT (role_id, user_id) DO NOTHING",
                    )
                    .bind(role.to_string())
                    .bind(user.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(fail)?;
                    Ok(())
                }

                async fn remove_role_member(&self, role: RoleId, user: UserId) -> StoreResult<()> {
                    let result =
                        sqlx::query("DELETE FROM role_members WHERE role_id = $1 AND user_id = $2")
                            .bind(role.to_string())
                            .bind(user.to_string())
                            .execute(&self.pool)
                            .await
                            .map_err(fail)?;
                    found(result)
                }

                async fn roles_of_user(&self, user: UserId) -> StoreResult<Vec<RoleRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        role_columns!(),
                        " FROM roles ",
                        "WHERE id IN (SELECT role_id FROM role_members WHERE user_id = $1) ",
                        "ORDER BY name"
                    ))
                    .bind(user.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(fail)?;
                    rows.iter().map(role_row).collect()
                }

                async fn members_of_role(&self, role: RoleId) -> StoreResult<Vec<UserRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users ",
                        "WHERE id IN (SELECT user_id FROM role_members WHERE role_id = $1) ",
                        "ORDER BY username"
                    ))
                    .bind(role.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(fail)?;
                    rows.iter().map(user_row).collect()
                }

                // ---- tokens ----

                async fn insert_token(&self, token: &TokenRecord, now: i64) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    if let Some(lock_owner) = LOCK_OWNER {
                        sqlx::query(lock_owner)
                            .bind(token.user_id.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(fail)?;
                    }
                    // The name check and the insert are one statement: nothing comes between them.
                    let result = sqlx::query(concat!(
                        "INSERT INTO tokens (",
                        token_columns!(),
                        ") ",
                        "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 ",
                        "WHERE NOT EXISTS (SELECT 1 FROM tokens WHERE user_id = $3 AND name = $5 ",
                        "AND revoked_at IS NULL AND expires_at > $14)"
                    ))
                    .bind(token.id.to_string())
                    .bind(token.tenant_id.to_string())
                    .bind(token.user_id.to_string())
                    .bind(token.kind.as_str())
                    .bind(&token.name)
                    .bind(&token.comment)
                    .bind(join_scopes(&token.scopes))
                    .bind(token.created_at)
                    .bind(token.created_by.map(|id| id.to_string()))
                    .bind(token.expires_at)
                    .bind(token.last_used_at)
                    .bind(token.revoked_at)
                    .bind(token.revoked_by.map(|id| id.to_string()))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| conflict(err, "token"))?;
                    if result.rows_affected() == 0 {
                        return Err(StoreError::Conflict("token name".to_string()));
                    }
                    tx.commit().await.map_err(fail)
                }

                async fn get_token(&self, id: TokenId) -> StoreResult<Option<TokenRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        token_columns!(),
                        " FROM tokens WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(token_row).transpose()
                }

                async fn find_active_token(
                    &self,
                    user: UserId,
                    name: &str,
                    now: i64,
                ) -> StoreResult<Option<TokenRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        token_columns!(),
                        " FROM tokens ",
                        "WHERE user_id = $1 AND name = $2 ",
                        "AND revoked_at IS NULL AND expires_at > $3 ",
                        "ORDER BY id DESC LIMIT 1"
                    ))
                    .bind(user.to_string())
                    .bind(name)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(token_row).transpose()
                }

                async fn list_tokens(&self, filter: &TokenFilter) -> StoreResult<Vec<TokenRecord>> {
                    let mut query = QueryBuilder::<Db>::new(concat!(
                        "SELECT ",
                        token_columns!(),
                        " FROM tokens WHERE 1 = 1"
                    ));
                    if let Some(tenant) = filter.tenant_id {
                        query
                            .push(" AND tenant_id = ")
                            .push_bind(tenant.to_string());
                    }
                    if let Some(user) = filter.user_id {
                        query.push(" AND user_id = ").push_bind(user.to_string());
                    }
                    if let Some(kind) = filter.kind {
                        query.push(" AND kind = ").push_bind(kind.as_str());
                    }
                    if !filter.include_inactive {
                        query
                            .push(" AND revoked_at IS NULL AND expires_at > ")
                            .push_bind(filter.now);
                    }
                    if let Some(before) = filter.before {
                        query.push(" AND id < ").push_bind(before.to_string());
                    }
                    query
                        .push(" ORDER BY id DESC LIMIT ")
                        .push_bind(i64::from(filter.limit));
                    let rows = query.build().fetch_all(&self.pool).await.map_err(fail)?;
                    rows.iter().map(token_row).collect()
                }

                async fn set_token_comment(&self, id: TokenId, comment: &str) -> StoreResult<()> {
                    let result = sqlx::query("UPDATE tokens SET comment = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(comment)
                        .execute(&self.pool)
                        .await
                        .map_err(fail)?;
                    found(result)
                }

                async fn revoke_token(
                    &self,
                    id: TokenId,
                    by: Option<UserId>,
                    at: i64,
                ) -> StoreResult<TokenRecord> {
                    // Writes come first in each transaction: SQLite takes its write lock at once.
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    sqlx::query(
                        "UPDATE tokens SET revoked_at = $2, revoked_by = $3 \
         WHERE id = $1 AND revoked_at IS NULL",
                    )
                    .bind(id.to_string())
                    .bind(at)
                    .bind(by.map(|id| id.to_string()))
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        token_columns!(),
                        " FROM tokens WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(fail)?
                    .ok_or(StoreError::NotFound)?;
                    let token = token_row(&row)?;
                    insert_revocation(
                        &mut *tx,
                        token.id,
                        token.expires_at,
                        token.revoked_at.unwrap_or(at),
                    )
                    .await?;
                    tx.commit().await.map_err(fail)?;
                    Ok(token)
                }

                async fn revoke_user_tokens(
                    &self,
                    user: UserId,
                    by: Option<UserId>,
                    at: i64,
                ) -> StoreResult<Vec<Revocation>> {
                    revoke_tokens_of(&self.pool, user, None, by, at).await
                }

                async fn delete_token(&self, id: TokenId, at: i64) -> StoreResult<TokenRecord> {
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    let row = sqlx::query(concat!(
                        "DELETE FROM tokens WHERE id = $1 RETURNING ",
                        token_columns!()
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(fail)?
                    .ok_or(StoreError::NotFound)?;
                    let token = token_row(&row)?;
                    insert_revocation(
                        &mut *tx,
                        token.id,
                        token.expires_at,
                        token.revoked_at.unwrap_or(at),
                    )
                    .await?;
                    tx.commit().await.map_err(fail)?;
                    Ok(token)
                }

                async fn record_revocations(
                    &self,
                    revocations: &[Revocation],
                    at: i64,
                ) -> StoreResult<()> {
                    if revocations.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    for revocation in revocations {
                        insert_revocation(&mut *tx, revocation.token_id, revocation.expires_at, at)
                            .await?;
                    }
                    tx.commit().await.map_err(fail)
                }

                async fn touch_tokens(&self, uses: &[(TokenId, i64)]) -> StoreResult<()> {
                    // The latest use per token, in id order: concurrent batches lock rows in the
                    // same order and cannot deadlock.
                    let mut latest = BTreeMap::new();
                    for &(id, at) in uses {
                        let entry = latest.entry(id).or_insert(at);
                        *entry = (*entry).max(at);
                    }
                    if latest.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    for (id, at) in latest {
                        sqlx::query(
                            "UPDATE tokens SET last_used_at = $2 \
                                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                        )
                        .bind(id.to_string())
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                    }
                    tx.commit().await.map_err(fail)
                }

                async fn list_revocations(&self, now: i64) -> StoreResult<Vec<Revocation>> {
                    let rows = sqlx::query(
                        "SELECT token_id, expires_at FROM revocations WHERE expires_at > $1 \
         ORDER BY token_id",
                    )
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(fail)?;
                    rows.iter()
                        .map(|row| {
                            Ok(Revocation {
                                token_id: parse_id("token_id", &get::<String>(row, "token_id")?)?,
                                expires_at: get(row, "expires_at")?,
                            })
                        })
                        .collect()
                }

                async fn purge_revocations(&self, now: i64) -> StoreResult<u64> {
                    let result = sqlx::query("DELETE FROM revocations WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(fail)?;
                    Ok(result.rows_affected())
                }

                async fn revoke_user_tokens_of_kind(
                    &self,
                    user: UserId,
                    kind: TokenKind,
                    by: Option<UserId>,
                    at: i64,
                ) -> StoreResult<Vec<Revocation>> {
                    revoke_tokens_of(&self.pool, user, Some(kind), by, at).await
                }

                // ---- token exchange chains ----

                async fn insert_token_link(&self, link: &TokenLink) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO token_links \
                             (token_id, parent_id, root_id, tenant_id, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(link.token_id.to_string())
                    .bind(link.parent_id.to_string())
                    .bind(link.root_id.to_string())
                    .bind(link.tenant_id.to_string())
                    .bind(link.created_at)
                    .bind(link.expires_at)
                    .execute(&self.pool)
                    .await
                    .map_err(fail)?;
                    Ok(())
                }

                async fn token_children(&self, parents: &[TokenId]) -> StoreResult<Vec<TokenLink>> {
                    let mut links = Vec::new();
                    // Bounded batches: a bind list as long as a huge chain's generation would
                    // exceed the backends' parameter limits.
                    for batch in parents.chunks(500) {
                        let mut query = QueryBuilder::<Db>::new(
                            "SELECT token_id, parent_id, root_id, tenant_id, created_at, expires_at \
                                 FROM token_links WHERE parent_id IN (",
                        );
                        let mut list = query.separated(", ");
                        for parent in batch {
                            list.push_bind(parent.to_string());
                        }
                        query.push(") ORDER BY token_id");
                        let rows = query.build().fetch_all(&self.pool).await.map_err(fail)?;
                        for row in &rows {
                            links.push(TokenLink {
                                token_id: parse_id("token_id", &get::<String>(row, "token_id")?)?,
                                parent_id: parse_id("parent_id", &get::<String>(row, "parent_id")?)?,
                                root_id: parse_id("root_id", &get::<String>(row, "root_id")?)?,
                                tenant_id: parse_id("tenant_id", &get::<String>(row, "tenant_id")?)?,
                                created_at: get(row, "created_at")?,
                                expires_at: get(row, "expires_at")?,
                            });
                        }
                    }
                    Ok(links)
                }

                async fn purge_token_links(&self, now: i64) -> StoreResult<u64> {
                    let result = sqlx::query("DELETE FROM token_links WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(fail)?;
                    Ok(result.rows_affected())
                }

                // ---- service users and API keys ----

                async fn create_service_user(
                    &self,
                    user: &ServiceUserRecord,
                    key: &ApiKeyRecord,
                ) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    sqlx::query(concat!(
                        "INSERT INTO service_users (",
                        service_user_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                    ))
                    .bind(user.id.to_string())
                    .bind(user.tenant_id.to_string())
                    .bind(&user.name)
                    .bind(&user.description)
                    .bind(user.access_level.as_str())
                    .bind(join_scopes(&user.scopes))
                    .bind(user.active)
                    .bind(user.expires_at)
                    .bind(user.created_at)
                    .bind(user.created_by.map(|id| id.to_string()))
                    .bind(user.updated_at)
                    .bind(user.last_used_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| conflict(err, "service user"))?;
                    insert_api_key(&mut tx, key).await?;
                    tx.commit().await.map_err(fail)
                }

                async fn get_service_user(
                    &self,
                    id: ServiceUserId,
                ) -> StoreResult<Option<ServiceUserRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        service_user_columns!(),
                        " FROM service_users WHERE id = $1"
                    ))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(service_user_row).transpose()
                }

                async fn get_service_user_by_name(
                    &self,
                    tenant: TenantId,
                    name: &str,
                ) -> StoreResult<Option<ServiceUserRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        service_user_columns!(),
                        " FROM service_users WHERE tenant_id = $1 AND name = $2"
                    ))
                    .bind(tenant.to_string())
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    row.as_ref().map(service_user_row).transpose()
                }

                async fn list_service_users(
                    &self,
                    tenant: Option<TenantId>,
                    after_name: Option<&str>,
                    limit: u32,
                ) -> StoreResult<Vec<ServiceUserRecord>> {
                    let mut query = QueryBuilder::<Db>::new(concat!(
                        "SELECT ",
                        service_user_columns!(),
                        " FROM service_users WHERE 1 = 1"
                    ));
                    if let Some(tenant) = tenant {
                        query
                            .push(" AND tenant_id = ")
                            .push_bind(tenant.to_string());
                    }
                    if let Some(after) = after_name {
                        query.push(" AND name > ").push_bind(after.to_string());
                    }
                    query
                        .push(" ORDER BY name LIMIT ")
                        .push_bind(i64::from(limit));
                    let rows = query.build().fetch_all(&self.pool).await.map_err(fail)?;
                    rows.iter().map(service_user_row).collect()
                }

                async fn all_service_users(&self) -> StoreResult<Vec<ServiceUserRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        service_user_columns!(),
                        " FROM service_users ORDER BY id"
                    ))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(fail)?;
                    rows.iter().map(service_user_row).collect()
                }

                async fn update_service_user(
                    &self,
                    id: ServiceUserId,
                    patch: &ServiceUserPatch,
                    at: i64,
                ) -> StoreResult<ServiceUserRecord> {
                    // Only the columns the patch names: a concurrent change of another column
                    // (a disable) is never written back with the value this caller last read.
                    let mut query =
                        QueryBuilder::<Db>::new("UPDATE service_users SET updated_at = ");
                    query.push_bind(at);
                    if let Some(name) = &patch.name {
                        query.push(", name = ").push_bind(name.clone());
                    }
                    if let Some(description) = &patch.description {
                        query.push(", description = ").push_bind(description.clone());
                    }
                    if let Some(level) = patch.access_level {
                        query.push(", access_level = ").push_bind(level.as_str());
                    }
                    if let Some(scopes) = &patch.scopes {
                        query.push(", scopes = ").push_bind(join_scopes(scopes));
                    }
                    if let Some(active) = patch.active {
                        query.push(", active = ").push_bind(active);
                    }
                    if let Some(expires_at) = patch.expires_at {
                        query.push(", expires_at = ").push_bind(expires_at);
                    }
                    query
                        .push(" WHERE id = ")
                        .push_bind(id.to_string())
                        .push(concat!(" RETURNING ", service_user_columns!()));
                    let row = query
                        .build()
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|err| conflict(err, "service user"))?;
                    row.as_ref()
                        .map(service_user_row)
                        .transpose()?
                        .ok_or(StoreError::NotFound)
                }

                async fn delete_service_user(&self, id: ServiceUserId) -> StoreResult<()> {
                    // Its keys go with it (ON DELETE CASCADE).
                    let result = sqlx::query("DELETE FROM service_users WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&self.pool)
                        .await
                        .map_err(fail)?;
                    found(result)
                }

                async fn all_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        api_key_columns!(),
                        " FROM api_keys ORDER BY id"
                    ))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(fail)?;
                    rows.iter().map(api_key_row).collect()
                }

                async fn api_keys_of(&self, id: ServiceUserId) -> StoreResult<Vec<ApiKeyRecord>> {
                    let mut conn = self.pool.acquire().await.map_err(fail)?;
                    keys_of(&mut conn, id).await
                }

                async fn rotate_api_key(
                    &self,
                    key: &ApiKeyRecord,
                    grace_until: Option<i64>,
                    at: i64,
                ) -> StoreResult<Vec<ApiKeyRecord>> {
                    let owner = key.service_user_id.to_string();
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    // Lock the owner's row first, so that concurrent rotations of one service
                    // user run one after the other, and fail cleanly if it is gone.
                    let result =
                        sqlx::query("UPDATE service_users SET updated_at = $2 WHERE id = $1")
                            .bind(&owner)
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .map_err(fail)?;
                    found(result)?;
                    // Keys already in a grace period stop now.
                    sqlx::query(
                        "UPDATE api_keys SET revoked_at = $2 WHERE service_user_id = $1 \
                             AND superseded_at IS NOT NULL AND revoked_at IS NULL",
                    )
                    .bind(&owner)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
                    // The current key is superseded: with a grace period, or stopped at once.
                    sqlx::query(
                        "UPDATE api_keys SET superseded_at = $2, grace_until = $3, \
                             revoked_at = CASE WHEN $3 IS NULL THEN $2 ELSE NULL END \
                             WHERE service_user_id = $1 AND superseded_at IS NULL",
                    )
                    .bind(&owner)
                    .bind(at)
                    .bind(grace_until)
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
                    insert_api_key(&mut tx, key).await?;
                    let keys = keys_of(&mut tx, key.service_user_id).await?;
                    tx.commit().await.map_err(fail)?;
                    Ok(keys)
                }

                async fn end_api_key_grace(&self, id: ServiceUserId, at: i64) -> StoreResult<u64> {
                    let result = sqlx::query(
                        "UPDATE api_keys SET revoked_at = $2 WHERE service_user_id = $1 \
                             AND superseded_at IS NOT NULL AND revoked_at IS NULL",
                    )
                    .bind(id.to_string())
                    .bind(at)
                    .execute(&self.pool)
                    .await
                    .map_err(fail)?;
                    Ok(result.rows_affected())
                }

                async fn touch_service_users(
                    &self,
                    uses: &[(ServiceUserId, i64)],
                ) -> StoreResult<()> {
                    let mut latest = BTreeMap::new();
                    for &(id, at) in uses {
                        let entry = latest.entry(id).or_insert(at);
                        *entry = (*entry).max(at);
                    }
                    if latest.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    for (id, at) in latest {
                        sqlx::query(
                            "UPDATE service_users SET last_used_at = $2 \
                                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                        )
                        .bind(id.to_string())
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                    }
                    tx.commit().await.map_err(fail)
                }

                // ---- signing keys ----

                async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
                    sqlx::query(concat!(
                        "INSERT INTO signing_keys (",
                        signing_key_columns!(),
                        ") ",
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    ))
                    .bind(&key.kid)
                    .bind(&key.algorithm)
                    .bind(&key.private_key)
                    .bind(&key.public_key)
                    .bind(key.created_at)
                    .bind(key.retired_at)
                    .bind(key.revoked_at)
                    .bind(key.expired_at)
                    .execute(&self.pool)
                    .await
                    .map_err(|err| conflict(err, "signing key"))?;
                    Ok(())
                }

                async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        signing_key_columns!(),
                        " FROM signing_keys ",
                        "ORDER BY created_at DESC, kid DESC"
                    ))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(fail)?;
                    rows.iter().map(signing_key_row).collect()
                }

                async fn retire_signing_key(&self, kid: &str, at: i64) -> StoreResult<()> {
                    // A key retired already keeps its first retirement time.
                    let result = sqlx::query(
        "UPDATE signing_keys SET retired_at = COALESCE(retired_at, $2) WHERE kid = $1",
        )
                            .bind(kid)
                            .bind(at)
                            .execute(&self.pool)
                            .await
                            .map_err(fail)?;
                    found(result)
                }

                async fn rotate_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                        .bind(key.created_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                    sqlx::query(concat!(
                        "INSERT INTO signing_keys (",
                        signing_key_columns!(),
                        ") ",
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    ))
                    .bind(&key.kid)
                    .bind(&key.algorithm)
                    .bind(&key.private_key)
                    .bind(&key.public_key)
                    .bind(key.created_at)
                    .bind(key.retired_at)
                    .bind(key.revoked_at)
                    .bind(key.expired_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| conflict(err, "signing key"))?;
                    tx.commit().await.map_err(fail)
                }

                async fn revoke_signing_key(
                    &self,
                    kid: &str,
                    at: i64,
                ) -> StoreResult<SigningKeyRecord> {
                    // Only a retired key: the condition is in the write itself, so a key that
                    // is (still) the signer can never be revoked, whatever runs concurrently.
                    sqlx::query(
                        "UPDATE signing_keys SET revoked_at = COALESCE(revoked_at, $2) \
                         WHERE kid = $1 AND retired_at IS NOT NULL",
                    )
                    .bind(kid)
                    .bind(at)
                    .execute(&self.pool)
                    .await
                    .map_err(fail)?;
                    let row = sqlx::query(concat!(
                        "SELECT ",
                        signing_key_columns!(),
                        " FROM signing_keys WHERE kid = $1"
                    ))
                    .bind(kid)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?
                    .ok_or(StoreError::NotFound)?;
                    signing_key_row(&row)
                }

                async fn expire_signing_key(&self, kid: &str, at: i64) -> StoreResult<()> {
                    let result = sqlx::query(
                        "UPDATE signing_keys SET expired_at = COALESCE(expired_at, $2) \
                         WHERE kid = $1",
                    )
                    .bind(kid)
                    .bind(at)
                    .execute(&self.pool)
                    .await
                    .map_err(fail)?;
                    found(result)
                }

                // ---- change feed ----

                async fn latest_change(&self) -> StoreResult<i64> {
                    let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM changes")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(fail)?;
                    Ok(latest.unwrap_or(0))
                }

                async fn oldest_change(&self) -> StoreResult<Option<i64>> {
                    sqlx::query_scalar("SELECT MIN(seq) FROM changes")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(fail)
                }

                async fn changes_after(
                    &self,
                    after: i64,
                    limit: u32,
                ) -> StoreResult<Vec<ChangeRecord>> {
                    let rows = sqlx::query(
                        "SELECT seq, entity, entity_id, at_ms FROM changes WHERE seq > $1 \
                             ORDER BY seq LIMIT $2",
                    )
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(fail)?;
                    rows.iter()
                        .map(|row| {
                            let entity: String = get(row, "entity")?;
                            Ok(ChangeRecord {
                                seq: get(row, "seq")?,
                                entity: ChangeEntity::parse(&entity).ok_or_else(|| {
                                    StoreError::Internal(format!(
                                        "unknown entity '{entity}' in the change feed"
                                    ))
                                })?,
                                entity_id: get(row, "entity_id")?,
                                at_ms: get(row, "at_ms")?,
                            })
                        })
                        .collect()
                }

                async fn prune_changes(&self, before_ms: i64) -> StoreResult<u64> {
                    let result = sqlx::query(
                        "DELETE FROM changes WHERE at_ms < $1 \
                             AND seq < (SELECT MAX(seq) FROM changes)",
                    )
                    .bind(before_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(fail)?;
                    Ok(result.rows_affected())
                }

                async fn get_revocation(&self, token: TokenId) -> StoreResult<Option<Revocation>> {
                    let expires_at: Option<i64> = sqlx::query_scalar(
                        "SELECT expires_at FROM revocations WHERE token_id = $1",
                    )
                    .bind(token.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(fail)?;
                    Ok(expires_at.map(|expires_at| Revocation {
                        token_id: token,
                        expires_at,
                    }))
                }

                async fn watch_changes(
                    &self,
                    wake: std::sync::Arc<tokio::sync::Notify>,
                ) -> StoreResult<Option<ChangeWatch>> {
                    super::$watch(&self.pool, wake).await
                }

                // ---- audit ----

                async fn append_audit(&self, events: &[AuditRecord]) -> StoreResult<()> {
                    if events.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.pool.begin().await.map_err(fail)?;
                    for event in events {
                        sqlx::query(
                            "INSERT INTO audit_events (at, tenant_id, actor_id, actor_name, \
                             action, target_type, target_id, target_name, outcome, \
                             client_addr, details) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        )
                        .bind(event.at)
                        .bind(event.tenant_id.map(|id| id.to_string()))
                        .bind(event.actor_id.map(|id| id.to_string()))
                        .bind(&event.actor_name)
                        .bind(&event.action)
                        .bind(&event.target_type)
                        .bind(&event.target_id)
                        .bind(&event.target_name)
                        .bind(&event.outcome)
                        .bind(&event.client_addr)
                        .bind(details_to_text(&event.details))
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                    }
                    tx.commit().await.map_err(fail)
                }

                async fn prune_audit(&self, before: i64, limit: u32) -> StoreResult<u64> {
                    let result = sqlx::query(
                        "DELETE FROM audit_events WHERE id IN \
                         (SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2)",
                    )
                    .bind(before)
                    .bind(i64::from(limit))
                    .execute(&self.pool)
                    .await
                    .map_err(fail)?;
                    Ok(result.rows_affected())
                }

                async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
                    let mut query = QueryBuilder::<Db>::new(concat!(
                        "SELECT ",
                        audit_columns!(),
                        " FROM audit_events WHERE 1 = 1"
                    ));
                    if let Some(tenant) = filter.tenant_id {
                        query
                            .push(" AND tenant_id = ")
                            .push_bind(tenant.to_string());
                    }
                    if let Some(user) = filter.user_id {
                        let user = user.to_string();
                        query.push(" AND (actor_id = ").push_bind(user.clone());
                        query.push(" OR target_id = ").push_bind(user).push(")");
                    }
                    if let Some(action) = &filter.action {
                        // A prefix test rather than LIKE: LIKE reads `_` as a wildcard and ignores
                        // case in SQLite.
                        let prefix = format!("{action}.");
                        query.push(" AND (action = ").push_bind(action.clone());
                        query
                            .push(" OR substr(action, 1, length(")
                            .push_bind(prefix.clone());
                        query.push(")) = ").push_bind(prefix).push(")");
                    }
                    if let Some(since) = filter.since {
                        query.push(" AND at >= ").push_bind(since);
                    }
                    if let Some(until) = filter.until {
                        query.push(" AND at < ").push_bind(until);
                    }
                    if let Some(before) = filter.before {
                        query.push(" AND id < ").push_bind(before);
                    }
                    query
                        .push(" ORDER BY id DESC LIMIT ")
                        .push_bind(i64::from(filter.limit));
                    let rows = query.build().fetch_all(&self.pool).await.map_err(fail)?;
                    rows.iter().map(audit_row).collect()
                }
            }
        }
    };
}
pub(crate) use sql_store;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each backend's embedded list must name exactly the files of its migrations folder.
    #[test]
    fn embedded_migrations_match_their_folders() {
        for (folder, embedded) in [
            ("sqlite", crate::sqlite::MIGRATIONS),
            ("postgres", crate::postgres::MIGRATIONS),
        ] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(folder);
            let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(&path).unwrap())
                })
                .collect();
            on_disk.sort();
            let listed: Vec<(String, String)> = embedded
                .iter()
                .map(|&(version, description, sql)| {
                    (format!("{version:04}_{description}.sql"), sql.to_string())
                })
                .collect();
            assert_eq!(
                listed, on_disk,
                "{folder}: the embedded list must match the folder"
            );
        }
    }

    #[test]
    fn scopes_round_trip() {
        let scopes = vec!["read:a".to_string(), "write:b".to_string()];
        assert_eq!(split_scopes(&join_scopes(&scopes)), scopes);
        assert!(split_scopes(&join_scopes(&[])).is_empty());
    }

    #[test]
    fn unknown_values_are_internal_errors() {
        assert!(matches!(
            parse_access_level("wizard"),
            Err(StoreError::Internal(_))
        ));
        assert!(matches!(
            parse_access_level("TenantAdmin"),
            Err(StoreError::Internal(_))
        ));
        assert_eq!(
            parse_access_level("tenant-admin").unwrap(),
            AccessLevel::TenantAdmin
        );
        assert!(matches!(parse_kind("jwt"), Err(StoreError::Internal(_))));
        assert!(matches!(
            parse_id::<jeton_core::UserId>("id", "not-a-uuid"),
            Err(StoreError::Internal(_))
        ));
        assert!(matches!(
            details_from_text("{"),
            Err(StoreError::Internal(_))
        ));
    }
}
