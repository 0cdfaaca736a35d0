//! The store contract: what every [`Store`] must do, written once as `check_*` functions and run
//! on SQLite (a fresh file in a temporary directory) and on PostgreSQL (a fresh database per test,
//! created on the server `JETON_TEST_DATABASE_URL` names and dropped afterwards).
//!
//! Without `JETON_TEST_DATABASE_URL` the PostgreSQL tests say so on stderr and pass.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use jeton_core::{
    AccessLevel, ApiKeyId, RoleId, ServiceUserId, TenantId, TokenId, TokenKind, UserId,
};
use jeton_store::postgres::PgStore;
use jeton_store::sqlite::SqliteStore;
use jeton_store::{
    ApiKeyRecord, AuditFilter, AuditRecord, ChangeEntity, PoolStatus, Revocation, RoleRecord,
    ServiceUserPatch, ServiceUserRecord, SigningKeyRecord, Store, StoreError, TenantRecord,
    TokenFilter, TokenLink, TokenRecord, UserPatch, UserRecord,
};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A check, given a migrated store and the URL it was opened with.
type Check = for<'a> fn(&'a dyn Store, &'a str) -> BoxFuture<'a>;

const PG_URL_VAR: &str = "JETON_TEST_DATABASE_URL";

/// Runs a check on a fresh, migrated SQLite file.
async fn on_sqlite(check: Check) {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = jeton_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    check(&*store, &url).await;
}

/// Runs a check on a fresh, migrated PostgreSQL database, dropped afterwards even when the check
/// panics (it runs in its own task, so the panic is caught and re-raised after the cleanup).
async fn on_postgres(check: Check) {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let url = db.url.clone();
    let outcome = tokio::spawn(async move {
        let store = jeton_store::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        check(&*store, &url).await;
    })
    .await;
    db.drop().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("jeton.db").display())
}

/// A database of its own on the test server.
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates `jeton_test_<random>`, or returns `None` (saying why) when no server is configured.
    async fn create() -> Option<Self> {
        let admin_url = match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                eprintln!(
                    "skipped: set {PG_URL_VAR} (e.g. \
                     postgres://postgres@127.0.0.1:5432/test) to run the PostgreSQL contract tests"
                );
                return None;
            }
        };
        let name = format!("jeton_test_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to {PG_URL_VAR}: {err}"));
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// Drops the database, best-effort (FORCE ends the connections a store still holds).
    async fn drop(self) {
        let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await else {
            return;
        };
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(err) = sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await {
            eprintln!("could not drop test database {}: {err}", self.name);
        }
        admin.close().await.ok();
    }
}

/// The same server URL naming another database.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Declares each check as a test on both backends: `sqlite::<name>` and `postgres::<name>`.
macro_rules! contract {
    ($($name:ident => $check:expr),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    on_sqlite($check).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    on_postgres($check).await;
                }
            )*
        }
    };
}

contract! {
    migrations_are_idempotent => |s, _| Box::pin(check_migrations_are_idempotent(s)),
    settings_first_writer_wins => |s, _| Box::pin(check_settings_first_writer_wins(s)),
    tenants => |s, _| Box::pin(check_tenants(s)),
    tenant_delete_cascades => |s, _| Box::pin(check_tenant_delete_cascades(s)),
    users => |s, _| Box::pin(check_users(s)),
    roles => |s, _| Box::pin(check_roles(s)),
    memberships => |s, _| Box::pin(check_memberships(s)),
    tokens_round_trip_and_filters => |s, _| Box::pin(check_tokens_round_trip_and_filters(s)),
    token_names_unique_among_active => |s, _| Box::pin(check_token_names_unique_among_active(s)),
    token_names_under_concurrency => |s, _| Box::pin(check_token_names_under_concurrency(s)),
    revoke_token => |s, _| Box::pin(check_revoke_token(s)),
    revoke_user_tokens => |s, _| Box::pin(check_revoke_user_tokens(s)),
    delete_token_leaves_revocation => |s, _| Box::pin(check_delete_token_leaves_revocation(s)),
    touch_tokens_never_goes_back => |s, _| Box::pin(check_touch_tokens_never_goes_back(s)),
    delete_user_cascades => |s, _| Box::pin(check_delete_user_cascades(s)),
    signing_keys => |s, _| Box::pin(check_signing_keys(s)),
    signing_key_withdrawal => |s, _| Box::pin(check_signing_key_withdrawal(s)),
    reseal_is_all_or_nothing => |s, _| Box::pin(check_reseal_is_all_or_nothing(s)),
    audit => |s, _| Box::pin(check_audit(s)),
    audit_prune => |s, _| Box::pin(check_audit_prune(s)),
    service_users => |s, _| Box::pin(check_service_users(s)),
    updates_write_only_what_they_change => {
        |s, _| Box::pin(check_updates_write_only_what_they_change(s))
    },
    api_key_rotation => |s, _| Box::pin(check_api_key_rotation(s)),
    service_user_cascades => |s, _| Box::pin(check_service_user_cascades(s)),
    record_revocations => |s, _| Box::pin(check_record_revocations(s)),
    change_feed => |s, _| Box::pin(check_change_feed(s)),
    token_links => |s, _| Box::pin(check_token_links(s)),
    revoke_user_tokens_of_kind => |s, _| Box::pin(check_revoke_user_tokens_of_kind(s)),
    pool_status => |s, _| Box::pin(check_pool_status(s)),
    corrupt_rows_are_internal_errors => |s, url| {
        Box::pin(check_corrupt_rows_are_internal_errors(s, url))
    },
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

const NOW: i64 = 1_700_000_000;
const DAY: i64 = 86_400;

fn tenant(name: &str) -> TenantRecord {
    TenantRecord {
        id: TenantId(Uuid::new_v4()),
        name: name.to_string(),
        created_at: NOW,
    }
}

fn user(tenant: &TenantRecord, username: &str) -> UserRecord {
    UserRecord {
        id: UserId(Uuid::new_v4()),
        tenant_id: tenant.id,
        username: username.to_string(),
        password_hash: Some(format!("$argon2id$v=19$m=19456,t=2,p=1$salt${username}")),
        access_level: AccessLevel::TenantUser,
        active: true,
        token_max_secs: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

fn role(tenant: &TenantRecord, name: &str) -> RoleRecord {
    RoleRecord {
        id: RoleId(Uuid::new_v4()),
        tenant_id: tenant.id,
        name: name.to_string(),
        token_max_secs: None,
        created_at: NOW,
    }
}

/// Token ids are UUIDv7 from a process-wide clock that only moves forward, so a token made later
/// has a greater id, as in production.
fn next_token_id() -> TokenId {
    static MILLIS: AtomicU64 = AtomicU64::new(1_700_000_000_000);
    let random: [u8; 10] = Uuid::new_v4().as_bytes()[..10].try_into().unwrap();
    TokenId::new_v7(MILLIS.fetch_add(1, Ordering::Relaxed), random)
}

/// An active API token of `owner`, expiring in a day.
fn token(owner: &UserRecord, name: &str) -> TokenRecord {
    TokenRecord {
        id: next_token_id(),
        tenant_id: owner.tenant_id,
        user_id: owner.id,
        kind: TokenKind::Api,
        name: name.to_string(),
        comment: String::new(),
        scopes: Vec::new(),
        created_at: NOW,
        created_by: Some(owner.id),
        expires_at: NOW + DAY,
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
    }
}

fn service_user(tenant: &TenantRecord, name: &str) -> ServiceUserRecord {
    ServiceUserRecord {
        id: ServiceUserId(Uuid::new_v4()),
        tenant_id: tenant.id,
        name: name.to_string(),
        description: format!("{name} pipeline"),
        access_level: AccessLevel::TenantUser,
        scopes: vec!["catalog".to_string()],
        active: true,
        expires_at: Some(NOW + 30 * DAY),
        created_at: NOW,
        created_by: None,
        updated_at: NOW,
        last_used_at: None,
    }
}

/// A current key of `owner` whose hash is derived from `label`.
fn api_key(owner: &ServiceUserRecord, label: &str, created_at: i64) -> ApiKeyRecord {
    static MILLIS: AtomicU64 = AtomicU64::new(1_700_000_000_000);
    let random: [u8; 10] = Uuid::new_v4().as_bytes()[..10].try_into().unwrap();
    ApiKeyRecord {
        id: ApiKeyId::new_v7(MILLIS.fetch_add(1, Ordering::Relaxed), random),
        service_user_id: owner.id,
        key_hash: format!("{label:0>64}"),
        hint: format!("jsk_{label}"),
        created_at,
        created_by: None,
        superseded_at: None,
        grace_until: None,
        revoked_at: None,
    }
}

fn signing_key(kid: &str, created_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_string(),
        algorithm: "EdDSA".to_string(),
        private_key: vec![0x30, 0x2e, 0x00, 0xff, 0x7f, 0x80, 0x00],
        public_key: (0u8..32).collect(),
        created_at,
        retired_at: None,
        revoked_at: None,
        expired_at: None,
    }
}

fn event(
    at: i64,
    tenant: Option<&TenantRecord>,
    actor: Option<&UserRecord>,
    action: &str,
) -> AuditRecord {
    AuditRecord {
        id: 0,
        at,
        tenant_id: tenant.map(|t| t.id),
        actor_id: actor.map(|u| u.id),
        actor_name: actor.map(|u| u.username.clone()),
        action: action.to_string(),
        target_type: None,
        target_id: None,
        target_name: None,
        outcome: "success".to_string(),
        client_addr: Some("192.0.2.7".to_string()),
        details: json!({}),
    }
}

/// A tenant with one user, both stored.
async fn seed(store: &dyn Store, tenant_name: &str, username: &str) -> (TenantRecord, UserRecord) {
    let t = tenant(tenant_name);
    store.create_tenant(&t).await.unwrap();
    let u = user(&t, username);
    store.create_user(&u).await.unwrap();
    (t, u)
}

fn all_tokens(filter: TokenFilter) -> TokenFilter {
    TokenFilter {
        include_inactive: true,
        now: NOW,
        limit: 100,
        ..filter
    }
}

fn active_tokens(filter: TokenFilter) -> TokenFilter {
    TokenFilter {
        include_inactive: false,
        now: NOW,
        limit: 100,
        ..filter
    }
}

fn ids(tokens: &[TokenRecord]) -> Vec<TokenId> {
    tokens.iter().map(|t| t.id).collect()
}

fn names<T>(records: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    records.iter().map(|r| name(r).to_string()).collect()
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(got)) => assert_eq!(got, what),
        other => panic!("expected Conflict({what:?}), got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}

fn assert_internal<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Internal(_))),
        "expected Internal, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

async fn check_migrations_are_idempotent(store: &dyn Store) {
    assert!(matches!(store.backend(), "sqlite" | "postgres"));
    let acme = tenant("acme");
    store.create_tenant(&acme).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.get_tenant(acme.id).await.unwrap(), Some(acme));
}

async fn check_settings_first_writer_wins(store: &dyn Store) {
    assert_eq!(store.get_setting("key_secret").await.unwrap(), None);
    assert_eq!(
        store.init_setting("key_secret", "first").await.unwrap(),
        "first"
    );
    assert_eq!(
        store.init_setting("key_secret", "second").await.unwrap(),
        "first"
    );
    assert_eq!(
        store.get_setting("key_secret").await.unwrap().as_deref(),
        Some("first")
    );

    let (a, b) = tokio::join!(
        store.init_setting("race", "a"),
        store.init_setting("race", "b")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b, "concurrent first starts must agree");
    assert_eq!(store.get_setting("race").await.unwrap(), Some(a));
}

async fn check_tenants(store: &dyn Store) {
    let beta = tenant("beta");
    let acme = tenant("acme");
    store.create_tenant(&beta).await.unwrap();
    store.create_tenant(&acme).await.unwrap();

    assert_eq!(
        store.list_tenants().await.unwrap(),
        vec![acme.clone(), beta.clone()]
    );
    assert_eq!(store.get_tenant(acme.id).await.unwrap(), Some(acme.clone()));
    assert_eq!(
        store.get_tenant_by_name("beta").await.unwrap(),
        Some(beta.clone())
    );
    assert_eq!(
        store.get_tenant(TenantId(Uuid::new_v4())).await.unwrap(),
        None
    );
    assert_eq!(store.get_tenant_by_name("gamma").await.unwrap(), None);

    assert_conflict(store.create_tenant(&tenant("acme")).await, "tenant");

    store.delete_tenant(beta.id).await.unwrap();
    assert_eq!(store.get_tenant(beta.id).await.unwrap(), None);
    assert_not_found(store.delete_tenant(beta.id).await);
    assert_eq!(store.list_tenants().await.unwrap(), vec![acme]);
}

async fn check_tenant_delete_cascades(store: &dyn Store) {
    let (doomed, alice) = seed(store, "doomed", "alice").await;
    let (kept, bob) = seed(store, "kept", "bob").await;
    let admins = role(&doomed, "admins");
    store.create_role(&admins).await.unwrap();
    store.add_role_member(admins.id, alice.id).await.unwrap();
    let alice_token = token(&alice, "ci");
    let bob_token = token(&bob, "ci");
    store.insert_token(&alice_token, NOW).await.unwrap();
    store.insert_token(&bob_token, NOW).await.unwrap();

    store.delete_tenant(doomed.id).await.unwrap();

    assert_eq!(store.get_user(alice.id).await.unwrap(), None);
    assert_eq!(store.get_role(admins.id).await.unwrap(), None);
    assert_eq!(store.get_token(alice_token.id).await.unwrap(), None);
    assert!(store.roles_of_user(alice.id).await.unwrap().is_empty());
    assert_eq!(store.get_tenant(kept.id).await.unwrap(), Some(kept));
    assert_eq!(store.get_user(bob.id).await.unwrap(), Some(bob));
    assert_eq!(
        store.get_token(bob_token.id).await.unwrap(),
        Some(bob_token)
    );
}

async fn check_users(store: &dyn Store) {
    let acme = tenant("acme");
    let beta = tenant("beta");
    store.create_tenant(&acme).await.unwrap();
    store.create_tenant(&beta).await.unwrap();
    let alice = UserRecord {
        access_level: AccessLevel::TenantAdmin,
        token_max_secs: Some(30 * DAY),
        ..user(&acme, "alice")
    };
    let bob = UserRecord {
        password_hash: None,
        ..user(&acme, "bob")
    };
    let carol = UserRecord {
        access_level: AccessLevel::Root,
        active: false,
        ..user(&beta, "carol")
    };
    for u in [&carol, &bob, &alice] {
        store.create_user(u).await.unwrap();
    }

    assert_eq!(store.get_user(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.get_user(carol.id).await.unwrap(), Some(carol.clone()));
    assert_eq!(
        store.get_user_by_name("bob").await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(store.get_user(UserId(Uuid::new_v4())).await.unwrap(), None);
    assert_eq!(store.get_user_by_name("dave").await.unwrap(), None);

    // Usernames are unique across tenants.
    assert_conflict(store.create_user(&user(&beta, "alice")).await, "username");
    // A user needs an existing tenant.
    assert_not_found(store.create_user(&user(&tenant("ghost"), "dave")).await);

    assert_eq!(
        store.list_users(Some(acme.id), None, 10).await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );
    assert_eq!(
        store.list_users(Some(beta.id), None, 10).await.unwrap(),
        vec![carol.clone()]
    );
    assert_eq!(
        store.list_users(None, None, 2).await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );
    assert_eq!(
        store.list_users(None, Some("bob"), 2).await.unwrap(),
        vec![carol.clone()]
    );
    assert_eq!(
        store
            .list_users(Some(acme.id), Some("alice"), 10)
            .await
            .unwrap(),
        vec![bob.clone()]
    );
    assert_eq!(
        store.all_users().await.unwrap(),
        vec![alice.clone(), bob.clone(), carol.clone()]
    );

    // update_user writes what the patch sets, and updated_at, and returns the stored row.
    let patch = UserPatch {
        password_hash: Some("$argon2id$v=19$new".to_string()),
        access_level: Some(AccessLevel::TenantAdmin),
        active: Some(false),
        token_max_secs: Some(Some(7 * DAY)),
    };
    let stored = store.update_user(alice.id, &patch, NOW + 10).await.unwrap();
    let expected = UserRecord {
        password_hash: Some("$argon2id$v=19$new".to_string()),
        access_level: AccessLevel::TenantAdmin,
        active: false,
        token_max_secs: Some(7 * DAY),
        updated_at: NOW + 10,
        ..alice.clone()
    };
    assert_eq!(stored, expected);
    assert_eq!(
        store.get_user(alice.id).await.unwrap(),
        Some(expected.clone())
    );
    // `Some(None)` clears the policy; an empty patch only moves updated_at.
    let cleared = UserPatch {
        token_max_secs: Some(None),
        ..UserPatch::default()
    };
    let stored = store
        .update_user(alice.id, &cleared, NOW + 11)
        .await
        .unwrap();
    assert_eq!(stored.token_max_secs, None);
    let stored = store
        .update_user(alice.id, &UserPatch::default(), NOW + 12)
        .await
        .unwrap();
    assert_eq!(
        stored,
        UserRecord {
            token_max_secs: None,
            updated_at: NOW + 12,
            ..expected
        }
    );
    assert_not_found(
        store
            .update_user(user(&acme, "nobody").id, &patch, NOW)
            .await,
    );

    store.delete_user(bob.id).await.unwrap();
    assert_eq!(store.get_user(bob.id).await.unwrap(), None);
    assert_not_found(store.delete_user(bob.id).await);
}

async fn check_roles(store: &dyn Store) {
    let acme = tenant("acme");
    let beta = tenant("beta");
    store.create_tenant(&acme).await.unwrap();
    store.create_tenant(&beta).await.unwrap();
    let viewers = role(&acme, "viewers");
    let admins = RoleRecord {
        token_max_secs: Some(DAY),
        ..role(&acme, "admins")
    };
    let beta_admins = role(&beta, "admins");
    for r in [&viewers, &admins, &beta_admins] {
        store.create_role(r).await.unwrap();
    }

    assert_conflict(store.create_role(&role(&acme, "admins")).await, "role");
    assert_not_found(store.create_role(&role(&tenant("ghost"), "admins")).await);

    assert_eq!(
        store.get_role(admins.id).await.unwrap(),
        Some(admins.clone())
    );
    assert_eq!(store.get_role(RoleId(Uuid::new_v4())).await.unwrap(), None);
    assert_eq!(
        store.get_role_by_name(acme.id, "viewers").await.unwrap(),
        Some(viewers.clone())
    );
    assert_eq!(
        store.get_role_by_name(beta.id, "viewers").await.unwrap(),
        None
    );
    assert_eq!(
        store.get_role_by_name(beta.id, "admins").await.unwrap(),
        Some(beta_admins.clone())
    );

    assert_eq!(
        store.list_roles(Some(acme.id)).await.unwrap(),
        vec![admins.clone(), viewers.clone()]
    );
    let all = store.list_roles(None).await.unwrap();
    assert_eq!(names(&all, |r| &r.name), ["admins", "admins", "viewers"]);

    store
        .set_role_token_max(viewers.id, Some(3600))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_role(viewers.id)
            .await
            .unwrap()
            .unwrap()
            .token_max_secs,
        Some(3600)
    );
    store.set_role_token_max(viewers.id, None).await.unwrap();
    assert_eq!(
        store.get_role(viewers.id).await.unwrap(),
        Some(viewers.clone())
    );
    assert_not_found(
        store
            .set_role_token_max(RoleId(Uuid::new_v4()), Some(1))
            .await,
    );

    store.delete_role(viewers.id).await.unwrap();
    assert_eq!(store.get_role(viewers.id).await.unwrap(), None);
    assert_not_found(store.delete_role(viewers.id).await);
    assert_eq!(store.list_roles(Some(acme.id)).await.unwrap(), vec![admins]);
}

async fn check_memberships(store: &dyn Store) {
    let (acme, alice) = seed(store, "acme", "alice").await;
    let bob = user(&acme, "bob");
    store.create_user(&bob).await.unwrap();
    let ops = role(&acme, "ops");
    let devs = role(&acme, "devs");
    store.create_role(&ops).await.unwrap();
    store.create_role(&devs).await.unwrap();

    store.add_role_member(devs.id, alice.id).await.unwrap();
    store.add_role_member(devs.id, alice.id).await.unwrap(); // already a member: fine
    store.add_role_member(ops.id, alice.id).await.unwrap();
    store.add_role_member(devs.id, bob.id).await.unwrap();
    assert_not_found(
        store
            .add_role_member(RoleId(Uuid::new_v4()), alice.id)
            .await,
    );
    assert_not_found(store.add_role_member(devs.id, UserId(Uuid::new_v4())).await);

    assert_eq!(
        store.roles_of_user(alice.id).await.unwrap(),
        vec![devs.clone(), ops.clone()]
    );
    assert_eq!(
        store.roles_of_user(bob.id).await.unwrap(),
        vec![devs.clone()]
    );
    assert_eq!(
        store.members_of_role(devs.id).await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );

    store.remove_role_member(devs.id, bob.id).await.unwrap();
    assert_not_found(store.remove_role_member(devs.id, bob.id).await);
    assert_eq!(
        store.members_of_role(devs.id).await.unwrap(),
        vec![alice.clone()]
    );
    assert!(store.roles_of_user(bob.id).await.unwrap().is_empty());

    store.delete_role(ops.id).await.unwrap();
    assert_eq!(
        store.roles_of_user(alice.id).await.unwrap(),
        vec![devs.clone()]
    );

    store.delete_user(alice.id).await.unwrap();
    assert!(store.members_of_role(devs.id).await.unwrap().is_empty());
}

async fn check_tokens_round_trip_and_filters(store: &dyn Store) {
    let (acme, alice) = seed(store, "acme", "alice").await;
    let bob = user(&acme, "bob");
    store.create_user(&bob).await.unwrap();
    let (beta, carol) = seed(store, "beta", "carol").await;

    let a1 = TokenRecord {
        comment: "deploys from CI".to_string(),
        scopes: vec!["catalog:read".to_string(), "table:write".to_string()],
        created_by: Some(bob.id),
        last_used_at: Some(NOW + 5),
        ..token(&alice, "ci")
    };
    let a2 = TokenRecord {
        kind: TokenKind::Session,
        created_by: None,
        ..token(&alice, "login")
    };
    let a3 = TokenRecord {
        expires_at: NOW - 1,
        ..token(&alice, "expired")
    };
    let a4 = TokenRecord {
        revoked_at: Some(NOW - 10),
        revoked_by: Some(bob.id),
        ..token(&alice, "revoked")
    };
    let b1 = token(&bob, "ci");
    let c1 = TokenRecord {
        kind: TokenKind::Oauth,
        ..token(&carol, "client")
    };
    for t in [&a1, &a2, &a3, &a4, &b1, &c1] {
        store.insert_token(t, NOW).await.unwrap();
    }

    // Every field comes back as written.
    for t in [&a1, &a2, &a3, &a4, &b1, &c1] {
        assert_eq!(store.get_token(t.id).await.unwrap().as_ref(), Some(t));
    }
    assert_eq!(store.get_token(next_token_id()).await.unwrap(), None);

    let of_alice = TokenFilter {
        user_id: Some(alice.id),
        ..Default::default()
    };
    assert_eq!(
        ids(&store
            .list_tokens(&all_tokens(of_alice.clone()))
            .await
            .unwrap()),
        [a4.id, a3.id, a2.id, a1.id]
    );
    assert_eq!(
        store.list_tokens(&active_tokens(of_alice)).await.unwrap(),
        vec![a2.clone(), a1.clone()]
    );

    let acme_api = TokenFilter {
        tenant_id: Some(acme.id),
        kind: Some(TokenKind::Api),
        ..Default::default()
    };
    assert_eq!(
        ids(&store
            .list_tokens(&all_tokens(acme_api.clone()))
            .await
            .unwrap()),
        [b1.id, a4.id, a3.id, a1.id]
    );
    assert_eq!(
        ids(&store.list_tokens(&active_tokens(acme_api)).await.unwrap()),
        [b1.id, a1.id]
    );
    let of_beta = TokenFilter {
        tenant_id: Some(beta.id),
        ..Default::default()
    };
    assert_eq!(
        ids(&store.list_tokens(&all_tokens(of_beta)).await.unwrap()),
        [c1.id]
    );
    let sessions = TokenFilter {
        kind: Some(TokenKind::Session),
        ..Default::default()
    };
    assert_eq!(
        ids(&store.list_tokens(&all_tokens(sessions)).await.unwrap()),
        [a2.id]
    );

    // Paging: newest first, each page after the previous page's last id.
    let page = |before: Option<TokenId>| TokenFilter {
        before,
        limit: 2,
        ..all_tokens(TokenFilter::default())
    };
    assert_eq!(
        ids(&store.list_tokens(&page(None)).await.unwrap()),
        [c1.id, b1.id]
    );
    assert_eq!(
        ids(&store.list_tokens(&page(Some(b1.id))).await.unwrap()),
        [a4.id, a3.id]
    );
    assert_eq!(
        ids(&store.list_tokens(&page(Some(a3.id))).await.unwrap()),
        [a2.id, a1.id]
    );
    assert!(
        store
            .list_tokens(&page(Some(a1.id)))
            .await
            .unwrap()
            .is_empty()
    );
    let none = TokenFilter {
        limit: 0,
        ..all_tokens(TokenFilter::default())
    };
    assert!(store.list_tokens(&none).await.unwrap().is_empty());

    assert_eq!(
        store.find_active_token(alice.id, "ci", NOW).await.unwrap(),
        Some(a1.clone())
    );
    assert_eq!(
        store
            .find_active_token(alice.id, "expired", NOW)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_active_token(alice.id, "revoked", NOW)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_active_token(alice.id, "ci", a1.expires_at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.find_active_token(carol.id, "ci", NOW).await.unwrap(),
        None
    );

    store.set_token_comment(a1.id, "rotated").await.unwrap();
    assert_eq!(
        store.get_token(a1.id).await.unwrap().unwrap().comment,
        "rotated"
    );
    assert_not_found(store.set_token_comment(next_token_id(), "x").await);

    // A token needs an existing owner; its id is unique.
    let ghost = user(&acme, "ghost");
    assert_not_found(store.insert_token(&token(&ghost, "x"), NOW).await);
    assert_conflict(
        store
            .insert_token(
                &TokenRecord {
                    name: "other".to_string(),
                    ..b1
                },
                NOW,
            )
            .await,
        "token",
    );
}

async fn check_token_names_unique_among_active(store: &dyn Store) {
    let (acme, alice) = seed(store, "acme", "alice").await;
    let bob = user(&acme, "bob");
    store.create_user(&bob).await.unwrap();

    let first = token(&alice, "deploy");
    store.insert_token(&first, NOW).await.unwrap();
    assert_conflict(
        store.insert_token(&token(&alice, "deploy"), NOW).await,
        "token name",
    );
    // Another owner may use the name.
    store
        .insert_token(&token(&bob, "deploy"), NOW)
        .await
        .unwrap();

    // A revoked token's name is free again.
    store.revoke_token(first.id, None, NOW + 1).await.unwrap();
    let second = TokenRecord {
        expires_at: NOW + 100,
        ..token(&alice, "deploy")
    };
    store.insert_token(&second, NOW + 1).await.unwrap();

    // So is an expired one's (a token expiring at `now` is no longer active).
    assert_conflict(
        store.insert_token(&token(&alice, "deploy"), NOW + 99).await,
        "token name",
    );
    store
        .insert_token(&token(&alice, "deploy"), NOW + 100)
        .await
        .unwrap();

    // A token inserted already expired or revoked does not hold its name.
    let stale = TokenRecord {
        expires_at: NOW - 1,
        ..token(&alice, "stale")
    };
    store.insert_token(&stale, NOW).await.unwrap();
    store
        .insert_token(&token(&alice, "stale"), NOW)
        .await
        .unwrap();
}

async fn check_token_names_under_concurrency(store: &dyn Store) {
    let (_, alice) = seed(store, "acme", "alice").await;
    let tokens: Vec<TokenRecord> = (0..6).map(|_| token(&alice, "race")).collect();
    let results = tokio::join!(
        store.insert_token(&tokens[0], NOW),
        store.insert_token(&tokens[1], NOW),
        store.insert_token(&tokens[2], NOW),
        store.insert_token(&tokens[3], NOW),
        store.insert_token(&tokens[4], NOW),
        store.insert_token(&tokens[5], NOW),
    );
    let results = [
        results.0, results.1, results.2, results.3, results.4, results.5,
    ];
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one insert may win: {results:?}");
    for result in results.into_iter().filter(Result::is_err) {
        assert_conflict(result, "token name");
    }
    let filter = active_tokens(TokenFilter {
        user_id: Some(alice.id),
        ..Default::default()
    });
    assert_eq!(store.list_tokens(&filter).await.unwrap().len(), 1);
}

async fn check_revoke_token(store: &dyn Store) {
    let (acme, alice) = seed(store, "acme", "alice").await;
    let admin = user(&acme, "admin");
    store.create_user(&admin).await.unwrap();
    let t = token(&alice, "ci");
    store.insert_token(&t, NOW).await.unwrap();

    let revoked = store
        .revoke_token(t.id, Some(admin.id), NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        revoked,
        TokenRecord {
            revoked_at: Some(NOW + 1),
            revoked_by: Some(admin.id),
            ..t.clone()
        }
    );
    assert_eq!(store.get_token(t.id).await.unwrap(), Some(revoked.clone()));

    // Revoking again keeps the first revocation.
    let again = store.revoke_token(t.id, None, NOW + 2).await.unwrap();
    assert_eq!(again, revoked);

    assert_eq!(
        store.list_revocations(NOW + 2).await.unwrap(),
        [Revocation {
            token_id: t.id,
            expires_at: t.expires_at
        }]
    );
    let of_alice = TokenFilter {
        user_id: Some(alice.id),
        ..Default::default()
    };
    assert!(
        store
            .list_tokens(&active_tokens(of_alice))
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(store.revoke_token(next_token_id(), None, NOW).await);
}

async fn check_revoke_user_tokens(store: &dyn Store) {
    let (acme, alice) = seed(store, "acme", "alice").await;
    let bob = user(&acme, "bob");
    store.create_user(&bob).await.unwrap();
    let t1 = token(&alice, "one");
    let t2 = TokenRecord {
        expires_at: NOW + 7 * DAY,
        ..token(&alice, "two")
    };
    let t3 = token(&alice, "three");
    let b1 = token(&bob, "one");
    for t in [&t1, &t2, &t3, &b1] {
        store.insert_token(t, NOW).await.unwrap();
    }
    store.revoke_token(t3.id, None, NOW + 1).await.unwrap();

    let mut made = store
        .revoke_user_tokens(alice.id, Some(bob.id), NOW + 5)
        .await
        .unwrap();
    made.sort_by_key(|r| r.token_id);
    assert_eq!(
        made,
        [
            Revocation {
                token_id: t1.id,
                expires_at: t1.expires_at
            },
            Revocation {
                token_id: t2.id,
                expires_at: t2.expires_at
            },
        ]
    );

    let stored = store.get_token(t1.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.revoked_at, stored.revoked_by),
        (Some(NOW + 5), Some(bob.id))
    );
    let stored = store.get_token(t3.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.revoked_at, stored.revoked_by),
        (Some(NOW + 1), None),
        "first revocation kept"
    );
    assert_eq!(store.get_token(b1.id).await.unwrap(), Some(b1.clone()));

    let mut listed: Vec<TokenId> = store
        .list_revocations(NOW + 5)
        .await
        .unwrap()
        .iter()
        .map(|r| r.token_id)
        .collect();
    listed.sort();
    assert_eq!(listed, [t1.id, t2.id, t3.id]);

    assert!(
        store
            .revoke_user_tokens(alice.id, None, NOW + 6)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn check_delete_token_leaves_revocation(store: &dyn Store) {
    let (_, alice) = seed(store, "acme", "alice").await;
    let t = TokenRecord {
        expires_at: NOW + 100,
        ..token(&alice, "ci")
    };
    store.insert_token(&t, NOW).await.unwrap();

    assert_eq!(store.delete_token(t.id, NOW + 1).await.unwrap(), t);
    assert_eq!(store.get_token(t.id).await.unwrap(), None);
    assert_not_found(store.delete_token(t.id, NOW + 2).await);
    // Its name is free again.
    store
        .insert_token(&token(&alice, "ci"), NOW + 2)
        .await
        .unwrap();

    let revocation = Revocation {
        token_id: t.id,
        expires_at: NOW + 100,
    };
    assert_eq!(store.list_revocations(NOW + 1).await.unwrap(), [revocation]);
    assert_eq!(
        store.list_revocations(NOW + 99).await.unwrap(),
        [revocation]
    );
    assert!(
        store.list_revocations(NOW + 100).await.unwrap().is_empty(),
        "forgotten once expired"
    );

    assert_eq!(store.purge_revocations(NOW + 99).await.unwrap(), 0);
    assert_eq!(store.list_revocations(NOW + 1).await.unwrap(), [revocation]);
    assert_eq!(store.purge_revocations(NOW + 100).await.unwrap(), 1);
    assert!(store.list_revocations(NOW).await.unwrap().is_empty());

    // Deleting a revoked token keeps one revocation.
    let revoked = token(&alice, "old");
    store.insert_token(&revoked, NOW).await.unwrap();
    store.revoke_token(revoked.id, None, NOW + 1).await.unwrap();
    let deleted = store.delete_token(revoked.id, NOW + 2).await.unwrap();
    assert_eq!(deleted.revoked_at, Some(NOW + 1));
    assert_eq!(
        store.list_revocations(NOW + 2).await.unwrap(),
        [Revocation {
            token_id: revoked.id,
            expires_at: revoked.expires_at
        }]
    );
}

async fn check_touch_tokens_never_goes_back(store: &dyn Store) {
    let (_, alice) = seed(store, "acme", "alice").await;
    let t1 = token(&alice, "one");
    let t2 = TokenRecord {
        last_used_at: Some(NOW + 50),
        ..token(&alice, "two")
    };
    store.insert_token(&t1, NOW).await.unwrap();
    store.insert_token(&t2, NOW).await.unwrap();
    let last_used = |id| async move { store.get_token(id).await.unwrap().unwrap().last_used_at };

    store
        .touch_tokens(&[(t1.id, NOW + 10), (t2.id, NOW + 20)])
        .await
        .unwrap();
    assert_eq!(last_used(t1.id).await, Some(NOW + 10));
    assert_eq!(last_used(t2.id).await, Some(NOW + 50));

    store.touch_tokens(&[(t1.id, NOW + 5)]).await.unwrap();
    assert_eq!(last_used(t1.id).await, Some(NOW + 10));

    // Several uses of one token in a batch, and a token deleted meanwhile.
    store
        .touch_tokens(&[(t1.id, NOW + 30), (next_token_id(), NOW), (t1.id, NOW + 20)])
        .await
        .unwrap();
    assert_eq!(last_used(t1.id).await, Some(NOW + 30));

    store.touch_tokens(&[]).await.unwrap();
}

async fn check_delete_user_cascades(store: &dyn Store) {
    let (acme, alice) = seed(store, "acme", "alice").await;
    let bob = user(&acme, "bob");
    store.create_user(&bob).await.unwrap();
    let devs = role(&acme, "devs");
    store.create_role(&devs).await.unwrap();
    store.add_role_member(devs.id, alice.id).await.unwrap();
    let alice_tokens = [token(&alice, "one"), token(&alice, "two")];
    let bob_token = token(&bob, "one");
    for t in alice_tokens.iter().chain([&bob_token]) {
        store.insert_token(t, NOW).await.unwrap();
    }

    store.delete_user(alice.id).await.unwrap();

    for t in &alice_tokens {
        assert_eq!(store.get_token(t.id).await.unwrap(), None);
    }
    let of_alice = TokenFilter {
        user_id: Some(alice.id),
        ..Default::default()
    };
    assert!(
        store
            .list_tokens(&all_tokens(of_alice))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.members_of_role(devs.id).await.unwrap().is_empty());
    assert_eq!(
        store.get_token(bob_token.id).await.unwrap(),
        Some(bob_token)
    );
}

async fn check_signing_keys(store: &dyn Store) {
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    let old = signing_key("k-old", NOW);
    let new = SigningKeyRecord {
        public_key: vec![0xff; 32],
        ..signing_key("k-new", NOW + 10)
    };
    store.insert_signing_key(&old).await.unwrap();
    store.insert_signing_key(&new).await.unwrap();
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![new.clone(), old.clone()]
    );
    assert_conflict(
        store
            .insert_signing_key(&signing_key("k-old", NOW + 20))
            .await,
        "signing key",
    );

    store.retire_signing_key("k-old", NOW + 20).await.unwrap();
    store.retire_signing_key("k-old", NOW + 30).await.unwrap(); // keeps the first time
    let retired = SigningKeyRecord {
        retired_at: Some(NOW + 20),
        ..old
    };
    assert_eq!(store.list_signing_keys().await.unwrap(), vec![new, retired]);
    assert_not_found(store.retire_signing_key("k-missing", NOW).await);
}

/// Revocation and expiry of signing keys: recorded once, the signer never revoked, and both
/// followed by the change feed.
async fn check_signing_key_withdrawal(store: &dyn Store) {
    let old = signing_key("w-old", NOW);
    store.insert_signing_key(&old).await.unwrap();
    let mark = store.latest_change().await.unwrap();

    // The signer is returned unchanged: it cannot be revoked before a rotation.
    let unchanged = store.revoke_signing_key("w-old", NOW + 1).await.unwrap();
    assert_eq!(unchanged, old);
    assert_eq!(store.changes_after(mark, 100).await.unwrap(), vec![]);

    store
        .rotate_signing_key(&signing_key("w-new", NOW + 10))
        .await
        .unwrap();
    let revoked = store.revoke_signing_key("w-old", NOW + 20).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 20));
    assert!(revoked.withdrawn());
    let again = store.revoke_signing_key("w-old", NOW + 30).await.unwrap();
    assert_eq!(again.revoked_at, Some(NOW + 20), "the first time stays");
    assert_not_found(store.revoke_signing_key("w-missing", NOW).await);

    store.expire_signing_key("w-old", NOW + 40).await.unwrap();
    store.expire_signing_key("w-old", NOW + 50).await.unwrap();
    assert_not_found(store.expire_signing_key("w-missing", NOW).await);
    let keys = store.list_signing_keys().await.unwrap();
    let stored = keys.iter().find(|k| k.kid == "w-old").unwrap();
    assert_eq!(
        (stored.retired_at, stored.revoked_at, stored.expired_at),
        (Some(NOW + 10), Some(NOW + 20), Some(NOW + 40))
    );

    let rows = store.changes_after(mark, 100).await.unwrap();
    let old_rows = rows
        .iter()
        .filter(|r| r.entity == ChangeEntity::SigningKey && r.entity_id == "w-old")
        .count();
    // Retired by the rotation, revoked, seen expired: each travels the feed.
    assert!(old_rows >= 3, "{rows:?}");
}

/// Resealing writes every value or none, and never over a value changed meanwhile.
async fn check_reseal_is_all_or_nothing(store: &dyn Store) {
    use jeton_store::Resealed;
    let a = signing_key("r-a", NOW);
    let b = signing_key("r-b", NOW + 1);
    store.insert_signing_key(&a).await.unwrap();
    store.insert_signing_key(&b).await.unwrap();
    store.init_setting("r-secret", "clear").await.unwrap();

    let key = |id: &str, old: &[u8], new: &[u8]| Resealed {
        id: id.to_string(),
        old: old.to_vec(),
        new: new.to_vec(),
    };
    let setting = |old: &str, new: &str| Resealed {
        id: "r-secret".to_string(),
        old: old.to_string(),
        new: new.to_string(),
    };
    // One stale value (b is not what the caller read): nothing is written.
    let written = store
        .reseal(
            &[
                key("r-a", &a.private_key, b"sealed-a"),
                key("r-b", b"not what is stored", b"sealed-b"),
            ],
            &[setting("clear", "sealed")],
        )
        .await
        .unwrap();
    assert!(!written);
    let private = |keys: Vec<SigningKeyRecord>, kid: &str| {
        keys.into_iter().find(|k| k.kid == kid).unwrap().private_key
    };
    assert_eq!(
        private(store.list_signing_keys().await.unwrap(), "r-a"),
        a.private_key
    );
    assert_eq!(
        store.get_setting("r-secret").await.unwrap().as_deref(),
        Some("clear")
    );
    // A stale setting stops it too.
    assert!(
        !store
            .reseal(
                &[key("r-a", &a.private_key, b"sealed-a")],
                &[setting("other", "x")]
            )
            .await
            .unwrap()
    );
    assert_eq!(
        private(store.list_signing_keys().await.unwrap(), "r-a"),
        a.private_key
    );

    // All current: everything is written.
    assert!(
        store
            .reseal(
                &[
                    key("r-a", &a.private_key, b"sealed-a"),
                    key("r-b", &b.private_key, b"sealed-b"),
                ],
                &[setting("clear", "sealed")],
            )
            .await
            .unwrap()
    );
    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(private(keys.clone(), "r-a"), b"sealed-a");
    assert_eq!(private(keys, "r-b"), b"sealed-b");
    assert_eq!(
        store.get_setting("r-secret").await.unwrap().as_deref(),
        Some("sealed")
    );
    store.scrub().await.unwrap();
}

/// After a value is overwritten and the store scrubbed, the old bytes are in no file of the
/// SQLite database (a copy of the files is a dump).
#[tokio::test]
async fn sqlite_scrub_leaves_no_overwritten_value_in_the_files() {
    use jeton_store::Resealed;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = jeton_store::sqlite::SqliteStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let marker: Vec<u8> = b"CLEAR-KEY-MATERIAL-0123456789abcdef".to_vec();
    let key = SigningKeyRecord {
        private_key: marker.clone(),
        ..signing_key("scrub", NOW)
    };
    store.insert_signing_key(&key).await.unwrap();
    store
        .init_setting("scrub-secret", "CLEAR-SECRET-9876543210")
        .await
        .unwrap();
    // Enough other writes that the old values also reach the main file, not only the WAL.
    for i in 0..50 {
        store
            .insert_signing_key(&signing_key(&format!("filler-{i}"), NOW + i))
            .await
            .unwrap();
    }
    let files = || {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        bytes
    };
    let contains =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(&files(), &marker),
        "the test must see the value first"
    );
    assert!(
        store
            .reseal(
                &[Resealed {
                    id: "scrub".into(),
                    old: marker.clone(),
                    new: vec![0u8; marker.len()],
                }],
                &[Resealed {
                    id: "scrub-secret".into(),
                    old: "CLEAR-SECRET-9876543210".into(),
                    new: "SEALED".into(),
                }],
            )
            .await
            .unwrap()
    );
    store.scrub().await.unwrap();
    let after = files();
    assert!(
        !contains(&after, &marker),
        "an overwritten key lingers in the files"
    );
    assert!(!contains(&after, b"CLEAR-SECRET-9876543210"));
    store.close().await;
}

async fn check_audit(store: &dyn Store) {
    let (acme, alice) = seed(store, "acme", "alice").await;
    let admin = user(&acme, "admin");
    store.create_user(&admin).await.unwrap();
    let (beta, carol) = seed(store, "beta", "carol").await;

    let e1 = AuditRecord {
        details: json!({"method": "password"}),
        ..event(NOW, Some(&acme), Some(&alice), "auth.login")
    };
    let e2 = AuditRecord {
        target_type: Some("token".to_string()),
        target_id: Some(next_token_id().to_string()),
        target_name: Some("ci".to_string()),
        ..event(NOW + 1, Some(&acme), Some(&admin), "token.create")
    };
    let e3 = event(NOW + 2, Some(&acme), Some(&admin), "token.revoke");
    let e4 = event(NOW + 3, Some(&beta), Some(&carol), "tokens.purge");
    let e5 = AuditRecord {
        actor_name: Some("mallory".to_string()),
        outcome: "failure".to_string(),
        client_addr: None,
        details: json!({"reason": "unknown user", "attempt": 3, "nested": {"ok": false}}),
        ..event(NOW + 4, None, None, "auth.login")
    };
    let e6 = AuditRecord {
        target_type: Some("user".to_string()),
        target_id: Some(alice.id.to_string()),
        target_name: Some("alice".to_string()),
        details: json!({"fields": ["active"]}),
        ..event(NOW + 5, Some(&acme), Some(&admin), "user.update")
    };
    let written = [e1, e2, e3, e4, e5, e6];
    store.append_audit(&written[..3]).await.unwrap();
    store.append_audit(&[]).await.unwrap();
    store.append_audit(&written[3..]).await.unwrap();

    let all = store
        .list_audit(&AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    assert!(
        all.windows(2).all(|w| w[0].id > w[1].id),
        "ids increase with appends, listed newest first"
    );
    for (read, written) in all.iter().zip(written.iter().rev()) {
        assert_eq!(
            read,
            &AuditRecord {
                id: read.id,
                ..written.clone()
            }
        );
    }
    let id_of = |action_at: i64| all.iter().find(|e| e.at == action_at).unwrap().id;
    let ats = |events: Vec<AuditRecord>| events.iter().map(|e| e.at - NOW).collect::<Vec<_>>();
    let list = |filter: AuditFilter| async move {
        ats(store
            .list_audit(&AuditFilter {
                limit: 100,
                ..filter
            })
            .await
            .unwrap())
    };

    assert_eq!(
        list(AuditFilter {
            tenant_id: Some(acme.id),
            ..Default::default()
        })
        .await,
        [5, 2, 1, 0]
    );
    assert_eq!(
        list(AuditFilter {
            tenant_id: Some(beta.id),
            ..Default::default()
        })
        .await,
        [3]
    );
    // As actor or as target.
    assert_eq!(
        list(AuditFilter {
            user_id: Some(alice.id),
            ..Default::default()
        })
        .await,
        [5, 0]
    );
    assert_eq!(
        list(AuditFilter {
            user_id: Some(admin.id),
            ..Default::default()
        })
        .await,
        [5, 2, 1]
    );
    // An action, or every action under it; `_` is no wildcard and case matters.
    let action = |a: &str| AuditFilter {
        action: Some(a.to_string()),
        ..Default::default()
    };
    assert_eq!(list(action("token")).await, [2, 1]);
    assert_eq!(list(action("auth.login")).await, [4, 0]);
    assert_eq!(list(action("auth")).await, [4, 0]);
    assert_eq!(list(action("tokens")).await, [3]);
    assert!(list(action("tok_n")).await.is_empty());
    assert!(list(action("TOKEN")).await.is_empty());
    assert!(list(action("token.")).await.is_empty());
    // Time window: since inclusive, until exclusive.
    assert_eq!(
        list(AuditFilter {
            since: Some(NOW + 2),
            until: Some(NOW + 5),
            ..Default::default()
        })
        .await,
        [4, 3, 2]
    );
    // Filters combine.
    let combined = AuditFilter {
        tenant_id: Some(acme.id),
        action: Some("token".to_string()),
        since: Some(NOW + 2),
        ..Default::default()
    };
    assert_eq!(list(combined).await, [2]);

    // Paging by id.
    let page = |before: Option<i64>| async move {
        ats(store
            .list_audit(&AuditFilter {
                before,
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap())
    };
    assert_eq!(page(None).await, [5, 4]);
    assert_eq!(page(Some(id_of(NOW + 4))).await, [3, 2]);
    assert_eq!(page(Some(id_of(NOW + 2))).await, [1, 0]);
    assert!(page(Some(id_of(NOW))).await.is_empty());
}

/// Rows the store did not write (a manual edit, another version) must give `Internal`, never a
/// panic. The check writes them with plain SQL, the same for both backends.
async fn check_corrupt_rows_are_internal_errors(store: &dyn Store, url: &str) {
    let (acme, alice) = seed(store, "acme", "alice").await;
    let exec = |sql: String| async move {
        if store.backend() == "sqlite" {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
    };
    let insert_user = |id: String, username: &str, level: &str| {
        format!(
            "INSERT INTO users (id, tenant_id, username, password_hash, access_level, active, \
             token_max_secs, created_at, updated_at) \
             VALUES ('{id}', '{}', '{username}', NULL, '{level}', TRUE, NULL, 0, 0)",
            acme.id
        )
    };

    exec(insert_user(Uuid::new_v4().to_string(), "wizard", "wizard")).await;
    assert_internal(store.get_user_by_name("wizard").await);
    assert_internal(store.all_users().await);

    exec(insert_user(
        "not-a-uuid".to_string(),
        "badid",
        "tenant-user",
    ))
    .await;
    assert_internal(store.get_user_by_name("badid").await);

    let t = token(&alice, "ci");
    store.insert_token(&t, NOW).await.unwrap();
    exec(format!(
        "UPDATE tokens SET kind = 'jwt' WHERE id = '{}'",
        t.id
    ))
    .await;
    assert_internal(store.get_token(t.id).await);

    exec(
        "INSERT INTO audit_events (at, action, outcome, details) \
         VALUES (0, 'x.y', 'success', 'not json')"
            .to_string(),
    )
    .await;
    assert_internal(
        store
            .list_audit(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .await,
    );
}

// ---------------------------------------------------------------------------------------------
// Per-backend behaviour
// ---------------------------------------------------------------------------------------------

/// Two instances starting together on an empty database both succeed.
async fn check_concurrent_migrations(a: &dyn Store, b: &dyn Store) {
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    a.migrate().await.unwrap();
    let acme = tenant("acme");
    a.create_tenant(&acme).await.unwrap();
    assert_eq!(b.get_tenant(acme.id).await.unwrap(), Some(acme));
}

#[tokio::test]
async fn sqlite_concurrent_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let a = SqliteStore::open(&url).await.unwrap();
    let b = SqliteStore::open(&url).await.unwrap();
    check_concurrent_migrations(&a, &b).await;
}

#[tokio::test]
async fn postgres_concurrent_migrations() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let url = db.url.clone();
    let outcome = tokio::spawn(async move {
        let a = PgStore::open(&url).await.unwrap();
        let b = PgStore::open(&url).await.unwrap();
        check_concurrent_migrations(&a, &b).await;
    })
    .await;
    db.drop().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

#[tokio::test]
async fn postgres_missing_database_is_a_config_error() {
    let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
        eprintln!("skipped: set {PG_URL_VAR} to run the PostgreSQL contract tests");
        return;
    };
    let url = with_database(
        &admin_url,
        &format!("jeton_test_missing_{}", Uuid::new_v4().simple()),
    );
    let result = PgStore::open(&url).await;
    assert!(
        matches!(result, Err(StoreError::Config(_))),
        "got {result:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_file_database_is_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&sqlite_url(&dir)).await.unwrap();
    store.migrate().await.unwrap();
    store
        .insert_signing_key(&signing_key("k1", NOW))
        .await
        .unwrap();

    let path = dir.path().join("jeton.db");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "the database holds signing keys");
    // While the store is open, WAL mode keeps these beside the database, with recent pages.
    for suffix in ["-wal", "-shm"] {
        let side = dir.path().join(format!("jeton.db{suffix}"));
        assert_eq!(
            mode(&side),
            0o600,
            "{} is as private as the database",
            side.display()
        );
    }
    store.close().await;
}

#[tokio::test]
async fn sqlite_reopened_file_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = SqliteStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let (acme, alice) = seed(&store, "acme", "alice").await;
    let t = token(&alice, "ci");
    store.insert_token(&t, NOW).await.unwrap();
    store
        .insert_signing_key(&signing_key("k1", NOW))
        .await
        .unwrap();
    store.close().await;

    let store = SqliteStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.get_tenant(acme.id).await.unwrap(), Some(acme));
    assert_eq!(store.get_user(alice.id).await.unwrap(), Some(alice));
    assert_eq!(store.get_token(t.id).await.unwrap(), Some(t));
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        vec![signing_key("k1", NOW)]
    );
    store.close().await;
}

/// A commit survives the process dying right after it (no pool close, no checkpoint): the test
/// runs itself as a child that writes and exits at once, then reads what the child left.
#[tokio::test]
async fn sqlite_commit_survives_process_exit() {
    const CHILD_URL: &str = "JETON_STORE_TEST_CHILD_URL";
    if let Ok(url) = std::env::var(CHILD_URL) {
        let store = SqliteStore::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
            .create_tenant(&TenantRecord {
                name: "survivor".to_string(),
                ..tenant("x")
            })
            .await
            .unwrap();
        std::process::exit(0);
    }

    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sqlite_commit_survives_process_exit",
            "--test-threads=1",
        ])
        .env(CHILD_URL, &url)
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&child.stderr)
    );

    let store = SqliteStore::open(&url).await.unwrap();
    assert!(
        store
            .get_tenant_by_name("survivor")
            .await
            .unwrap()
            .is_some()
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_database_is_shared_by_the_pool() {
    let store = jeton_store::open("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let acme = tenant("acme");
    store.create_tenant(&acme).await.unwrap();
    let (a, b) = tokio::join!(store.get_tenant(acme.id), store.list_tenants());
    assert_eq!(a.unwrap(), Some(acme.clone()));
    assert_eq!(b.unwrap(), vec![acme]);

    // Another in-memory store is another database.
    let other = jeton_store::open("sqlite::memory:").await.unwrap();
    other.migrate().await.unwrap();
    assert!(other.list_tenants().await.unwrap().is_empty());
}

#[tokio::test]
async fn open_rejects_other_schemes() {
    let result = jeton_store::open("mysql://localhost/jeton").await;
    assert!(matches!(result, Err(StoreError::Config(_))));
}

#[test]
fn test_database_urls() {
    assert_eq!(
        with_database("postgres://u@h:5432/test", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h:5432", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h/test?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
}

// ---------------------------------------------------------------------------------------------
// Service users and API keys
// ---------------------------------------------------------------------------------------------

async fn check_service_users(store: &dyn Store) {
    let (acme, _) = seed(store, "acme", "alice").await;
    let (globex, _) = seed(store, "globex", "bob").await;
    let etl = service_user(&acme, "etl");
    store
        .create_service_user(&etl, &api_key(&etl, "a1", NOW))
        .await
        .unwrap();
    assert_eq!(
        store.get_service_user(etl.id).await.unwrap(),
        Some(etl.clone())
    );
    assert_eq!(
        store
            .get_service_user_by_name(acme.id, "etl")
            .await
            .unwrap(),
        Some(etl.clone())
    );
    assert_eq!(
        store
            .get_service_user_by_name(globex.id, "etl")
            .await
            .unwrap(),
        None
    );

    // The name is unique inside a tenant only; a duplicate leaves no key behind.
    let twin = service_user(&acme, "etl");
    assert_conflict(
        store
            .create_service_user(&twin, &api_key(&twin, "a2", NOW))
            .await,
        "service user",
    );
    assert_eq!(store.api_keys_of(twin.id).await.unwrap(), vec![]);
    let other = service_user(&globex, "etl");
    store
        .create_service_user(&other, &api_key(&other, "b1", NOW))
        .await
        .unwrap();
    // Two keys can never share a hash.
    let clash = service_user(&acme, "clash");
    assert_conflict(
        store
            .create_service_user(&clash, &api_key(&clash, "a1", NOW))
            .await,
        "API key",
    );
    assert_eq!(store.get_service_user(clash.id).await.unwrap(), None);

    let bi = service_user(&acme, "bi");
    store
        .create_service_user(&bi, &api_key(&bi, "a3", NOW))
        .await
        .unwrap();
    let listed = store
        .list_service_users(Some(acme.id), None, 10)
        .await
        .unwrap();
    assert_eq!(names(&listed, |s| &s.name), ["bi", "etl"]);
    let page = store
        .list_service_users(Some(acme.id), Some("bi"), 10)
        .await
        .unwrap();
    assert_eq!(names(&page, |s| &s.name), ["etl"]);
    assert_eq!(
        store
            .list_service_users(None, None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(store.all_service_users().await.unwrap().len(), 3);

    let patch = ServiceUserPatch {
        name: None,
        description: Some("nightly loads".to_string()),
        access_level: Some(AccessLevel::TenantAdmin),
        scopes: Some(vec![]),
        active: Some(false),
        expires_at: Some(None),
    };
    let changed = ServiceUserRecord {
        description: "nightly loads".to_string(),
        access_level: AccessLevel::TenantAdmin,
        scopes: vec![],
        active: false,
        expires_at: None,
        updated_at: NOW + 5,
        ..etl.clone()
    };
    assert_eq!(
        store
            .update_service_user(etl.id, &patch, NOW + 5)
            .await
            .unwrap(),
        changed
    );
    assert_eq!(
        store.get_service_user(etl.id).await.unwrap(),
        Some(changed.clone())
    );
    let rename = |name: &str| ServiceUserPatch {
        name: Some(name.to_string()),
        ..ServiceUserPatch::default()
    };
    assert_conflict(
        store
            .update_service_user(etl.id, &rename("bi"), NOW + 6)
            .await,
        "service user",
    );
    assert_eq!(
        store.get_service_user(etl.id).await.unwrap(),
        Some(changed.clone())
    );
    let renamed = store
        .update_service_user(etl.id, &rename("etl2"), NOW + 6)
        .await
        .unwrap();
    assert_eq!(renamed.name, "etl2");
    assert_eq!(renamed.description, "nightly loads");
    assert_not_found(
        store
            .update_service_user(service_user(&acme, "ghost").id, &patch, NOW)
            .await,
    );

    store
        .touch_service_users(&[(etl.id, NOW + 50), (etl.id, NOW + 40), (bi.id, NOW + 7)])
        .await
        .unwrap();
    store
        .touch_service_users(&[(etl.id, NOW + 10)])
        .await
        .unwrap();
    let etl_now = store.get_service_user(etl.id).await.unwrap().unwrap();
    assert_eq!(etl_now.last_used_at, Some(NOW + 50));

    store.delete_service_user(bi.id).await.unwrap();
    assert_eq!(store.get_service_user(bi.id).await.unwrap(), None);
    assert_eq!(store.api_keys_of(bi.id).await.unwrap(), vec![]);
    assert_not_found(store.delete_service_user(bi.id).await);
}

/// Two admins change one principal at once: each read it before the other wrote. Every update
/// writes only what it changes, so neither undoes the other — a description change made from a
/// stale read does not re-enable a service user disabled meanwhile, nor a policy change a
/// deactivated user.
async fn check_updates_write_only_what_they_change(store: &dyn Store) {
    let (acme, alice) = seed(store, "acme", "alice").await;
    let etl = service_user(&acme, "etl");
    store
        .create_service_user(&etl, &api_key(&etl, "u1", NOW))
        .await
        .unwrap();

    // Admin B reads etl (active); admin A disables it; B then writes its description.
    let read_by_b = store.get_service_user(etl.id).await.unwrap().unwrap();
    assert!(read_by_b.active);
    let disable = ServiceUserPatch {
        active: Some(false),
        ..ServiceUserPatch::default()
    };
    let disabled = store
        .update_service_user(etl.id, &disable, NOW + 1)
        .await
        .unwrap();
    assert!(!disabled.active);
    let describe = ServiceUserPatch {
        description: Some("written from a stale read".to_string()),
        ..ServiceUserPatch::default()
    };
    let after = store
        .update_service_user(read_by_b.id, &describe, NOW + 2)
        .await
        .unwrap();
    let expected = ServiceUserRecord {
        description: "written from a stale read".to_string(),
        active: false,
        updated_at: NOW + 2,
        ..etl.clone()
    };
    assert_eq!(after, expected, "the disable was undone");
    assert_eq!(
        store.get_service_user(etl.id).await.unwrap(),
        Some(expected)
    );

    // The same for users: a deactivation, then a policy change and a password change made
    // from reads taken before it.
    let read_before = store.get_user(alice.id).await.unwrap().unwrap();
    assert!(read_before.active);
    let deactivate = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    store
        .update_user(alice.id, &deactivate, NOW + 1)
        .await
        .unwrap();
    let policy = UserPatch {
        token_max_secs: Some(Some(DAY)),
        ..UserPatch::default()
    };
    let after = store
        .update_user(read_before.id, &policy, NOW + 2)
        .await
        .unwrap();
    assert!(!after.active, "the policy change re-activated the user");
    assert_eq!(after.token_max_secs, Some(DAY));
    let password = UserPatch {
        password_hash: Some("$argon2id$v=19$other".to_string()),
        ..UserPatch::default()
    };
    let after = store
        .update_user(read_before.id, &password, NOW + 3)
        .await
        .unwrap();
    assert_eq!(
        after,
        UserRecord {
            password_hash: Some("$argon2id$v=19$other".to_string()),
            active: false,
            token_max_secs: Some(DAY),
            updated_at: NOW + 3,
            ..alice.clone()
        }
    );
    assert_eq!(store.get_user(alice.id).await.unwrap(), Some(after));
}

async fn check_api_key_rotation(store: &dyn Store) {
    let (acme, _) = seed(store, "acme", "alice").await;
    let etl = service_user(&acme, "etl");
    let first = api_key(&etl, "k1", NOW);
    store.create_service_user(&etl, &first).await.unwrap();
    assert!(first.works_at(NOW));

    // Without grace the old key stops at once.
    let second = api_key(&etl, "k2", NOW + 10);
    let keys = store.rotate_api_key(&second, None, NOW + 10).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], second);
    assert_eq!(keys[1].id, first.id);
    assert_eq!(keys[1].superseded_at, Some(NOW + 10));
    assert_eq!(keys[1].revoked_at, Some(NOW + 10));
    assert!(!keys[1].works_at(NOW + 10));

    // With grace the old key works until the grace ends.
    let third = api_key(&etl, "k3", NOW + 20);
    let keys = store
        .rotate_api_key(&third, Some(NOW + 3_600), NOW + 20)
        .await
        .unwrap();
    let graced = keys.iter().find(|k| k.id == second.id).unwrap();
    assert_eq!(graced.grace_until, Some(NOW + 3_600));
    assert_eq!(graced.revoked_at, None);
    assert!(graced.works_at(NOW + 3_599));
    assert!(!graced.works_at(NOW + 3_600));
    assert!(
        keys.iter()
            .find(|k| k.id == third.id)
            .unwrap()
            .works_at(NOW + 20)
    );

    // A second rotation ends the first one's grace at once.
    let fourth = api_key(&etl, "k4", NOW + 30);
    let keys = store
        .rotate_api_key(&fourth, Some(NOW + 7_200), NOW + 30)
        .await
        .unwrap();
    let working: Vec<_> = keys
        .iter()
        .filter(|k| k.works_at(NOW + 31))
        .map(|k| k.id)
        .collect();
    assert_eq!(working, [fourth.id, third.id]);

    // The first use of the new key ends the grace period.
    assert_eq!(store.end_api_key_grace(etl.id, NOW + 40).await.unwrap(), 1);
    assert_eq!(store.end_api_key_grace(etl.id, NOW + 41).await.unwrap(), 0);
    let keys = store.api_keys_of(etl.id).await.unwrap();
    let working: Vec<_> = keys
        .iter()
        .filter(|k| k.works_at(NOW + 41))
        .map(|k| k.id)
        .collect();
    assert_eq!(working, [fourth.id]);
    assert_eq!(store.all_api_keys().await.unwrap().len(), 4);

    // Rotating a service user that is gone changes nothing.
    let ghost = service_user(&acme, "ghost");
    assert_not_found(
        store
            .rotate_api_key(&api_key(&ghost, "k9", NOW), None, NOW)
            .await,
    );
    assert_eq!(store.all_api_keys().await.unwrap().len(), 4);
}

async fn check_service_user_cascades(store: &dyn Store) {
    let (acme, _) = seed(store, "acme", "alice").await;
    let etl = service_user(&acme, "etl");
    store
        .create_service_user(&etl, &api_key(&etl, "c1", NOW))
        .await
        .unwrap();
    store.delete_tenant(acme.id).await.unwrap();
    assert_eq!(store.get_service_user(etl.id).await.unwrap(), None);
    assert_eq!(store.all_api_keys().await.unwrap(), vec![]);
}

async fn check_record_revocations(store: &dyn Store) {
    let id = next_token_id();
    let revocation = Revocation {
        token_id: id,
        expires_at: NOW + 3_600,
    };
    store.record_revocations(&[revocation], NOW).await.unwrap();
    // Twice is fine; the first stays.
    store
        .record_revocations(&[revocation], NOW + 5)
        .await
        .unwrap();
    assert_eq!(store.list_revocations(NOW).await.unwrap(), vec![revocation]);
    // Several at once, in one transaction; none is nothing.
    let more: Vec<Revocation> = (0..3)
        .map(|n| Revocation {
            token_id: next_token_id(),
            expires_at: NOW + 60 * (n + 1),
        })
        .collect();
    store.record_revocations(&more, NOW).await.unwrap();
    store.record_revocations(&[], NOW).await.unwrap();
    let mut expected = vec![revocation];
    expected.extend(more);
    let mut listed = store.list_revocations(NOW).await.unwrap();
    listed.sort_by_key(|r| r.expires_at);
    expected.sort_by_key(|r| r.expires_at);
    assert_eq!(listed, expected);
    assert_eq!(store.list_revocations(NOW + 3_600).await.unwrap(), vec![]);
}

/// Exchange links are found by their parents, several parents at once, and forgotten once the
/// exchanged token has expired.
async fn check_token_links(store: &dyn Store) {
    let tenant = TenantId(Uuid::new_v4());
    let root = next_token_id();
    let link = |token_id, parent_id, expires_at| TokenLink {
        token_id,
        parent_id,
        root_id: root,
        tenant_id: tenant,
        created_at: NOW,
        expires_at,
    };
    let (a, b, c, d) = (
        next_token_id(),
        next_token_id(),
        next_token_id(),
        next_token_id(),
    );
    let links = [
        link(a, root, NOW + 100),
        link(b, a, NOW + 200),
        link(c, a, NOW + 300),
        link(d, b, NOW + 400),
    ];
    for l in &links {
        store.insert_token_link(l).await.unwrap();
    }
    // A token is exchanged once.
    assert!(matches!(
        store.insert_token_link(&links[0]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.token_children(&[root]).await.unwrap(), vec![links[0]]);
    assert_eq!(
        store.token_children(&[a]).await.unwrap(),
        vec![links[1], links[2]]
    );
    assert_eq!(
        store.token_children(&[root, b, c]).await.unwrap(),
        vec![links[0], links[3]]
    );
    assert_eq!(store.token_children(&[d]).await.unwrap(), vec![]);
    assert_eq!(store.token_children(&[]).await.unwrap(), vec![]);
    // More parents than one statement binds.
    let many: Vec<TokenId> = (0..1200).map(|_| next_token_id()).chain([b]).collect();
    assert_eq!(store.token_children(&many).await.unwrap(), vec![links[3]]);

    assert_eq!(store.purge_token_links(NOW + 200).await.unwrap(), 2);
    assert_eq!(store.token_children(&[a]).await.unwrap(), vec![links[2]]);
    assert_eq!(store.token_children(&[b]).await.unwrap(), vec![links[3]]);
}

/// Revoking one kind of a user's tokens (its sessions) leaves the other kinds alone.
async fn check_revoke_user_tokens_of_kind(store: &dyn Store) {
    let (_, alice) = seed(store, "kindco", "alice").await;
    let api = token(&alice, "ci");
    let session = TokenRecord {
        kind: TokenKind::Session,
        ..token(&alice, "session-1")
    };
    let revoked_session = TokenRecord {
        kind: TokenKind::Session,
        ..token(&alice, "session-2")
    };
    for t in [&api, &session, &revoked_session] {
        store.insert_token(t, NOW).await.unwrap();
    }
    store
        .revoke_token(revoked_session.id, None, NOW + 1)
        .await
        .unwrap();
    let revocations = store
        .revoke_user_tokens_of_kind(alice.id, TokenKind::Session, Some(alice.id), NOW + 2)
        .await
        .unwrap();
    assert_eq!(
        revocations,
        vec![Revocation {
            token_id: session.id,
            expires_at: session.expires_at
        }]
    );
    let stored = store.get_token(session.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.revoked_at, stored.revoked_by),
        (Some(NOW + 2), Some(alice.id))
    );
    assert_eq!(
        store.get_token(api.id).await.unwrap().unwrap().revoked_at,
        None
    );
    assert!(store.get_revocation(session.id).await.unwrap().is_some());
    assert!(store.get_revocation(api.id).await.unwrap().is_none());
}

/// Every write that verification follows leaves a feed row in its own transaction; other
/// writes (last-use times, token comments) do not.
async fn check_change_feed(store: &dyn Store) {
    let start = store.latest_change().await.unwrap();
    let (t, u) = seed(store, "feedco", "fiona").await;
    let seen = |rows: &[jeton_store::ChangeRecord]| {
        rows.iter()
            .map(|r| (r.entity, r.entity_id.clone()))
            .collect::<Vec<_>>()
    };
    let rows = store.changes_after(start, 100).await.unwrap();
    assert_eq!(
        seen(&rows),
        vec![
            (ChangeEntity::Tenant, t.id.to_string()),
            (ChangeEntity::User, u.id.to_string()),
        ]
    );
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(rows.iter().all(|r| r.at_ms > 1_600_000_000_000), "{rows:?}");
    let mark = store.latest_change().await.unwrap();
    assert_eq!(mark, rows.last().unwrap().seq);

    // Not followed: a token's creation, comment and use.
    let tok = token(&u, "ci");
    store.insert_token(&tok, NOW).await.unwrap();
    store.set_token_comment(tok.id, "nightly").await.unwrap();
    store.touch_tokens(&[(tok.id, NOW + 5)]).await.unwrap();
    assert_eq!(store.changes_after(mark, 100).await.unwrap(), vec![]);

    // Followed: a revocation, a deactivation, a signing key.
    store
        .revoke_token(tok.id, Some(u.id), NOW + 10)
        .await
        .unwrap();
    let patch = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    store.update_user(u.id, &patch, NOW + 10).await.unwrap();
    store
        .insert_signing_key(&signing_key("feed-kid", NOW))
        .await
        .unwrap();
    let rows = store.changes_after(mark, 100).await.unwrap();
    assert_eq!(
        seen(&rows),
        vec![
            (ChangeEntity::Revocation, tok.id.to_string()),
            (ChangeEntity::User, u.id.to_string()),
            (ChangeEntity::SigningKey, "feed-kid".to_string()),
        ]
    );
    let revocation = store.get_revocation(tok.id).await.unwrap().unwrap();
    assert_eq!(revocation.expires_at, tok.expires_at);
    assert_eq!(
        store.get_revocation(TokenId(Uuid::new_v4())).await.unwrap(),
        None
    );

    // Paging, and pruning that always keeps the newest row.
    let first = store.changes_after(start, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let latest = store.latest_change().await.unwrap();
    store.prune_changes(i64::MAX).await.unwrap();
    assert_eq!(store.latest_change().await.unwrap(), latest);
    assert_eq!(store.oldest_change().await.unwrap(), Some(latest));
    store.delete_user(u.id).await.unwrap();
    let rows = store.changes_after(latest, 100).await.unwrap();
    assert_eq!(seen(&rows), vec![(ChangeEntity::User, u.id.to_string())]);
    assert!(rows[0].seq > latest, "seq never restarts after pruning");
}

/// The pool's use as the metrics report it: at least the connection a query just used is open,
/// and once it is back in the pool it is idle.
async fn check_pool_status(store: &dyn Store) {
    store.ping().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        let status: PoolStatus = store.pool_status();
        assert!(status.connections >= 1, "{status:?}");
        assert!(status.connections <= status.max_connections, "{status:?}");
        assert!(status.idle <= status.connections, "{status:?}");
        // A connection goes back to the pool in a task of its own, shortly after the query.
        if status.idle >= 1 || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(
        status.idle >= 1,
        "the used connection is idle again: {status:?}"
    );
    let expected_max = if store.backend() == "sqlite" { 4 } else { 10 };
    assert_eq!(status.max_connections, expected_max, "{status:?}");
}

async fn check_audit_prune(store: &dyn Store) {
    // Ten events a day apart, written newest first so that ids and times disagree.
    let events: Vec<AuditRecord> = (0..10)
        .rev()
        .map(|day| event(NOW + day * DAY, None, None, "auth.denied"))
        .collect();
    store.append_audit(&events).await.unwrap();
    let left = || async {
        let mut ats: Vec<i64> = store
            .list_audit(&AuditFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|e| (e.at - NOW) / DAY)
            .collect();
        ats.sort_unstable();
        ats
    };
    // Before day 7: seven events, deleted three at a time, oldest first.
    assert_eq!(store.prune_audit(NOW + 7 * DAY, 3).await.unwrap(), 3);
    assert_eq!(left().await, vec![3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(store.prune_audit(NOW + 7 * DAY, 3).await.unwrap(), 3);
    assert_eq!(store.prune_audit(NOW + 7 * DAY, 3).await.unwrap(), 1);
    assert_eq!(store.prune_audit(NOW + 7 * DAY, 3).await.unwrap(), 0);
    assert_eq!(left().await, vec![7, 8, 9]);
    // An event exactly at the limit stays.
    assert_eq!(store.prune_audit(NOW + 7 * DAY, 100).await.unwrap(), 0);
}
