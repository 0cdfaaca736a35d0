//! The authorization matrix (issue 7, item 2): every HTTP endpoint and every statement of the
//! command language, called by seven callers on objects of their own, of others in their
//! tenant, of the other tenant, and made up. The expected outcome of each cell is written in the
//! two tables below. On top of the table, every cell is checked for:
//!
//! - leaks: no answer to a caller other than root holds a name or id of another tenant's object
//!   (after the object the request itself named is blanked out);
//! - isolation: an answer about another tenant's object is the answer about a made-up object of
//!   the same kind (same status, same body once the names are blanked out). Anonymous callers
//!   belong to no tenant: for them every existing object is "another tenant's";
//! - effects: a request that revokes, deletes, disables or rotates has stopped the object's
//!   credential when it answered 2xx, and left it working when it was refused; and a refused
//!   request changed nothing at all (the object, and what the request would have created, as
//!   root sees them before and after).
//!
//! One server serves the whole matrix; the cells of a row run at once. The HTTP table is run
//! again with each caller's credential in the web UI's session cookie instead of a header
//! (issue 12, item 1): once from a page of another origin, where every state-changing request
//! (and the WebSocket upgrade) must answer 403 and change nothing, and once from Jeton's own
//! origin, where every cell must answer as in the table ([`cookie_rows`]). Then the failures
//! seen in the seed system, one test each.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use futures_util::future::join_all;
use jeton_sql::Statement;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod common;
use common::*;

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

/// Cell values that are not HTTP statuses: `POST /oauth/introspect` answered 200 with
/// `{"active": true}` (ACT) or `{"active": false}` (INA); `POST /oauth/revoke` answered 200 as
/// RFC 7009 wants and did nothing (NOP), the token still works.
const ACT: u16 = 1;
const INA: u16 = 2;
const NOP: u16 = 3;

// ------------------------------------------------------------------------------------------
// Who calls, and on what.

/// The callers, in the order of the tables' columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Caller {
    /// No credential.
    Anon,
    /// `d-alice`, a tenant user of `default` (an API token as bearer).
    User,
    /// `d-dora`, a tenant admin of `default`.
    Admin,
    /// `g-gabe`, the tenant admin of `globex`: the other tenant's admin.
    Other,
    /// A tenant-user service user of `default`, with its API key in `X-API-Key`.
    Svc,
    /// A tenant-admin service user of `default`, with its API key.
    SvcAdmin,
    /// `admin`, the root user.
    Root,
}

const CALLERS: [Caller; 7] = [
    Caller::Anon,
    Caller::User,
    Caller::Admin,
    Caller::Other,
    Caller::Svc,
    Caller::SvcAdmin,
    Caller::Root,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Home {
    Default,
    Globex,
}

impl Home {
    fn tenant(self) -> &'static str {
        match self {
            Home::Default => "default",
            Home::Globex => "globex",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Home::Default => "d",
            Home::Globex => "g",
        }
    }
}

impl Caller {
    /// The tenant the caller belongs to; none for anonymous and root (root sees all).
    fn home(self) -> Option<Home> {
        match self {
            Caller::User | Caller::Admin | Caller::Svc | Caller::SvcAdmin => Some(Home::Default),
            Caller::Other => Some(Home::Globex),
            Caller::Anon | Caller::Root => None,
        }
    }

    fn is_service(self) -> bool {
        matches!(self, Caller::Svc | Caller::SvcAdmin)
    }

    /// The user behind a human caller.
    fn username(self) -> &'static str {
        match self {
            Caller::User => "d-alice",
            Caller::Admin => "d-dora",
            Caller::Other => "g-gabe",
            _ => "admin",
        }
    }
}

/// Whose object (a token, a user, a service user) a row acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Who {
    /// The caller's own: its token, itself (a service user: its id; an OAuth token of its own).
    Me,
    /// A tenant user of `default` other than the caller (`d-bob`, `d-svc`).
    Tu,
    /// A tenant admin of `default` other than the caller (`d-dan`, `d-svc-admin`).
    Ta,
    /// A root user (`d-root`) or a root service user of `default`.
    Rt,
    /// A tenant user of `globex` (`g-gina`, `g-svc`).
    Gx,
    /// Made up: a missing object of the same kind.
    No,
}

/// Which tenant a role or a tenant reference is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum At {
    Dflt,
    Glbx,
    /// A tenant created for the cell (another tenant than any caller's).
    Fresh,
    /// Made up.
    Nowhere,
}

/// The object of a row. Objects are shared by the cells of read-only rows and created afresh
/// for every cell of a row that changes something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Obj {
    Nothing,
    Token(Who),
    User(Who),
    Svc(Who),
    Role(At),
    Tenant(At),
    /// A user and a role: role membership.
    Grant(Who, At),
}

/// One row: a request on an object, and what each caller must get.
#[derive(Clone)]
struct Row {
    method: Method,
    /// The path as `/openapi.json` writes it (`{id}`, `{user}`, ...), with `?query` if any.
    path: &'static str,
    obj: Obj,
    /// JSON (`{...}`), a form (`a=b`), or for SQL rows a script. `$REF` is the object (a name
    /// for users and tenants, an id otherwise), `$ROLE` a role id, `$NAME`/`$OWNER` a token's
    /// name and owner, `$VALUE` a token's value or a key, `$NEW` a new unique name, `$LONG` a
    /// password over the length limit.
    body: &'static str,
    sql: bool,
    want: [u16; 7],
    /// How the caller's credential travels.
    mode: Mode,
}

/// How a row's callers present their credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `Authorization: Bearer` or `X-API-Key` (the session cookie for `/ui/` pages).
    Header,
    /// The session cookie, from a page on another port of Jeton's host (same site).
    CookieForeign,
    /// The session cookie, from one of Jeton's own pages.
    CookieOwn,
}

fn r(method: Method, path: &'static str, obj: Obj, body: &'static str, want: [u16; 7]) -> Row {
    Row {
        method,
        path,
        obj,
        body,
        sql: false,
        want,
        mode: Mode::Header,
    }
}

fn s(script: &'static str, obj: Obj, want: [u16; 7]) -> Row {
    Row {
        method: POST,
        path: "/api/v1/sql",
        obj,
        body: script,
        sql: true,
        want,
        mode: Mode::Header,
    }
}

impl Row {
    fn describe(&self) -> String {
        if self.sql {
            format!("SQL `{}` on {:?}", self.body, self.obj)
        } else if self.body.is_empty() {
            format!("{} {} on {:?}", self.method, self.path, self.obj)
        } else {
            format!(
                "{} {} {} on {:?}",
                self.method, self.path, self.body, self.obj
            )
        }
    }

    /// Read-only rows share their objects; the others get new ones in every cell.
    fn mutates(&self) -> bool {
        !(self.method == GET || (self.sql && self.body.starts_with("SHOW")))
    }

    /// Rows that stop the object's credential when they succeed.
    fn kills(&self) -> bool {
        if self.sql {
            let b = self.body;
            return b.starts_with("DROP API TOKEN")
                || b.starts_with("DROP ALL API TOKENS")
                || b.starts_with("DROP USER")
                || b.starts_with("DROP SERVICE USER")
                || b.contains("SET ACTIVE FALSE")
                || b.contains("ROTATE KEY");
        }
        let path = self.path;
        match self.method.as_str() {
            "POST" => [
                "/api/v1/tokens/revoke/{id}",
                "/api/v1/users/{user}/tokens/revoke",
                "/api/v1/service-users/{service_user}/disable",
                "/api/v1/service-users/{service_user}/rotate-key",
                "/oauth/revoke",
            ]
            .contains(&path),
            "DELETE" => [
                "/api/v1/tokens/{id}",
                "/api/v1/users/{user}",
                "/api/v1/service-users/{service_user}",
            ]
            .contains(&path),
            "PATCH" => path == "/api/v1/users/{user}" && self.body.contains(r#""active":false"#),
            _ => false,
        }
    }

    /// Rows after which the caller's own credential may no longer work: the caller gets a new
    /// one for the row (and the standing ones are renewed after it).
    fn kills_caller(&self) -> bool {
        self.path == "/api/v1/tokens/revoke/self" || (self.involves_me() && self.kills())
    }

    fn involves_me(&self) -> bool {
        matches!(
            self.obj,
            Obj::Token(Who::Me) | Obj::User(Who::Me) | Obj::Svc(Who::Me) | Obj::Grant(Who::Me, _)
        )
    }

    /// Rows that take a role away: the user gets it first.
    fn takes_role(&self) -> bool {
        (self.method == DELETE && self.path == "/api/v1/users/{user}/roles/{role}")
            || (self.sql && self.body.starts_with("REVOKE ROLE"))
    }

    fn is_token_endpoint(&self) -> bool {
        self.path == "/oauth/token" || self.path.ends_with("/v1/oauth/tokens")
    }

    /// Requests the session cookie's origin rule concerns: every method but GET, and the
    /// WebSocket upgrade.
    fn changes_state(&self) -> bool {
        self.method != GET || self.path == "/api/v1/sql/ws"
    }
}

/// The HTTP table again with the callers' credentials in the session cookie, from a page of
/// another origin or from Jeton's own. What each cell must answer follows from the table:
///
/// - endpoints that take no caller credential (public operations, login, the OAuth token
///   endpoint with its client's HTTP Basic) answer as in the table;
/// - OAuth introspection and revocation are for programs: the cookie is no client credential
///   there, so every caller is unauthenticated (401), and nothing is revoked;
/// - from another origin, a state-changing request of an authenticated caller answers 403
///   (`cross-origin request refused`) and changes nothing; reads answer as in the table;
/// - from Jeton's own origin, everything answers as in the table.
fn cookie_rows(rows: &[Row], mode: Mode) -> Vec<Row> {
    rows.iter()
        .map(|row| {
            let mut row = row.clone();
            row.mode = mode;
            let public = row.path == "/api/v1/auth/login"
                || row.is_token_endpoint()
                || row.want[0] != 401 && !row.path.starts_with("/ui/");
            if public {
                return row;
            }
            if row.path == "/oauth/introspect" || row.path == "/oauth/revoke" {
                row.want = [401; 7];
                return row;
            }
            if mode == Mode::CookieForeign && row.changes_state() {
                for want in row.want.iter_mut().skip(1) {
                    *want = 403;
                }
            }
            row
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// The tables.

/// Every HTTP endpoint. Columns: anonymous, tenant user, tenant admin, the other tenant's
/// admin, service user (tenant-user), service user (tenant-admin), root.
///
/// Objects: `Me` the caller's own, `Tu`/`Ta`/`Rt` a tenant user / tenant admin / root of
/// `default` other than the caller, `Gx` a tenant user of `globex`, `No` made up; `Dflt`/`Glbx`/
/// `Fresh`/`Nowhere` for roles and tenants. `default` is the home of every caller but the other
/// tenant's admin, whose home is `globex`.
#[rustfmt::skip]
fn http_table() -> Vec<Row> {
    use At::*;
    use Obj::*;
    use Who::*;
    vec![
        // Operations and metadata: public, whatever credential comes along.
        //  method  path                                                  object          body                                               anon user admin other svc svcA root
        r(GET,    "/healthz",                                             Nothing,        "",                                                [200, 200, 200, 200, 200, 200, 200]),
        r(GET,    "/readyz",                                              Nothing,        "",                                                [200, 200, 200, 200, 200, 200, 200]),
        r(GET,    "/metrics",                                             Nothing,        "",                                                [200, 200, 200, 200, 200, 200, 200]),
        r(GET,    "/.well-known/jwks.json",                               Nothing,        "",                                                [200, 200, 200, 200, 200, 200, 200]),
        r(GET,    "/.well-known/oauth-authorization-server",              Nothing,        "",                                                [200, 200, 200, 200, 200, 200, 200]),
        r(GET,    "/openapi.json",                                        Nothing,        "",                                                [200, 200, 200, 200, 200, 200, 200]),

        // Login ignores credentials; a wrong password of an existing user is a missing user.
        // ($LONG is a password over the length limit: refused before Argon2, which would take
        // most of this test's time.)
        r(POST,   "/api/v1/auth/login",                                   User(Gx),       r#"{"username":"$REF","password":"$LONG"}"#,       [401, 401, 401, 401, 401, 401, 401]),
        r(POST,   "/api/v1/auth/login",                                   User(No),       r#"{"username":"$REF","password":"$LONG"}"#,       [401, 401, 401, 401, 401, 401, 401]),
        r(GET,    "/api/v1/me",                                           Nothing,        "",                                                [401, 200, 200, 200, 200, 200, 200]),
        r(GET,    "/api/v1/auth/verify",                                  Nothing,        "",                                                [401, 200, 200, 200, 200, 200, 200]),

        // Tokens. Service users own no tokens; tenant users act on their own only.
        r(POST,   "/api/v1/tokens",                                       Nothing,        "{}",                                              [401, 201, 201, 201, 403, 403, 201]),
        r(POST,   "/api/v1/tokens",                                       User(Me),       r#"{"for_user":"$REF"}"#,                          [401, 201, 201, 201, 403, 403, 201]),
        r(POST,   "/api/v1/tokens",                                       User(Tu),       r#"{"for_user":"$REF"}"#,                          [401, 403, 201, 404, 403, 201, 201]),
        r(POST,   "/api/v1/tokens",                                       User(Ta),       r#"{"for_user":"$REF"}"#,                          [401, 403, 403, 404, 403, 403, 201]),
        r(POST,   "/api/v1/tokens",                                       User(Rt),       r#"{"for_user":"$REF"}"#,                          [401, 403, 403, 404, 403, 403, 201]),
        r(POST,   "/api/v1/tokens",                                       User(Gx),       r#"{"for_user":"$REF"}"#,                          [401, 403, 404, 201, 403, 404, 201]),
        r(POST,   "/api/v1/tokens",                                       User(No),       r#"{"for_user":"$REF"}"#,                          [401, 403, 404, 404, 403, 404, 404]),
        r(GET,    "/api/v1/tokens",                                       Nothing,        "",                                                [401, 200, 200, 200, 403, 403, 200]),
        r(GET,    "/api/v1/tokens?all=true&for_user=$REF",                User(Me),       "",                                                [401, 200, 200, 200, 403, 403, 200]),
        r(GET,    "/api/v1/tokens?all=true&for_user=$REF",                User(Tu),       "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/tokens?all=true&for_user=$REF",                User(Ta),       "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/tokens?all=true&for_user=$REF",                User(Rt),       "",                                                [401, 403, 403, 404, 403, 403, 200]),
        r(GET,    "/api/v1/tokens?all=true&for_user=$REF",                User(Gx),       "",                                                [401, 403, 404, 200, 403, 404, 200]),
        r(GET,    "/api/v1/tokens?all=true&for_user=$REF",                User(No),       "",                                                [401, 403, 404, 404, 403, 404, 404]),
        r(GET,    "/api/v1/tokens/{id}",                                  Token(Me),      "",                                                [401, 200, 200, 200, 404, 404, 200]),
        r(GET,    "/api/v1/tokens/{id}",                                  Token(Tu),      "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(GET,    "/api/v1/tokens/{id}",                                  Token(Ta),      "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(GET,    "/api/v1/tokens/{id}",                                  Token(Rt),      "",                                                [401, 404, 403, 404, 404, 403, 200]),
        r(GET,    "/api/v1/tokens/{id}",                                  Token(Gx),      "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(GET,    "/api/v1/tokens/{id}",                                  Token(No),      "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(PATCH,  "/api/v1/tokens/{id}",                                  Token(Me),      r#"{"comment":"changed"}"#,                        [401, 200, 200, 200, 404, 404, 200]),
        r(PATCH,  "/api/v1/tokens/{id}",                                  Token(Tu),      r#"{"comment":"changed"}"#,                        [401, 404, 200, 404, 404, 200, 200]),
        r(PATCH,  "/api/v1/tokens/{id}",                                  Token(Ta),      r#"{"comment":"changed"}"#,                        [401, 404, 200, 404, 404, 200, 200]),
        r(PATCH,  "/api/v1/tokens/{id}",                                  Token(Rt),      r#"{"comment":"changed"}"#,                        [401, 404, 403, 404, 404, 403, 200]),
        r(PATCH,  "/api/v1/tokens/{id}",                                  Token(Gx),      r#"{"comment":"changed"}"#,                        [401, 404, 404, 200, 404, 404, 200]),
        r(PATCH,  "/api/v1/tokens/{id}",                                  Token(No),      r#"{"comment":"changed"}"#,                        [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/tokens/{id}",                                  Token(Me),      "",                                                [401, 403, 200, 200, 404, 404, 200]),
        r(DELETE, "/api/v1/tokens/{id}",                                  Token(Tu),      "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(DELETE, "/api/v1/tokens/{id}",                                  Token(Ta),      "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(DELETE, "/api/v1/tokens/{id}",                                  Token(Rt),      "",                                                [401, 404, 403, 404, 404, 403, 200]),
        r(DELETE, "/api/v1/tokens/{id}",                                  Token(Gx),      "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(DELETE, "/api/v1/tokens/{id}",                                  Token(No),      "",                                                [401, 404, 404, 404, 404, 404, 404]),
        // An API key is not a token: log out does not apply to it.
        r(POST,   "/api/v1/tokens/revoke/self",                           Nothing,        "",                                                [401, 200, 200, 200, 422, 422, 200]),
        r(POST,   "/api/v1/tokens/revoke/{id}",                           Token(Me),      "",                                                [401, 200, 200, 200, 404, 404, 200]),
        r(POST,   "/api/v1/tokens/revoke/{id}",                           Token(Tu),      "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(POST,   "/api/v1/tokens/revoke/{id}",                           Token(Ta),      "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(POST,   "/api/v1/tokens/revoke/{id}",                           Token(Rt),      "",                                                [401, 404, 403, 404, 404, 403, 200]),
        r(POST,   "/api/v1/tokens/revoke/{id}",                           Token(Gx),      "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(POST,   "/api/v1/tokens/revoke/{id}",                           Token(No),      "",                                                [401, 404, 404, 404, 404, 404, 404]),

        // Users.
        r(GET,    "/api/v1/users",                                        Nothing,        "",                                                [401, 403, 200, 200, 403, 200, 200]),
        r(POST,   "/api/v1/users",                                        Nothing,        r#"{"username":"$NEW"}"#,                          [401, 403, 201, 201, 403, 201, 201]),
        r(POST,   "/api/v1/users",                                        Nothing,        r#"{"username":"$NEW","access_level":"tenant-admin"}"#, [401, 403, 201, 201, 403, 201, 201]),
        r(POST,   "/api/v1/users",                                        Nothing,        r#"{"username":"$NEW","access_level":"root"}"#,    [401, 403, 403, 403, 403, 403, 201]),
        r(POST,   "/api/v1/users",                                        Tenant(Dflt),   r#"{"username":"$NEW","tenant":"$REF"}"#,          [401, 403, 201, 404, 403, 201, 201]),
        r(POST,   "/api/v1/users",                                        Tenant(Glbx),   r#"{"username":"$NEW","tenant":"$REF"}"#,          [401, 404, 404, 201, 404, 404, 201]),
        r(POST,   "/api/v1/users",                                        Tenant(Nowhere),r#"{"username":"$NEW","tenant":"$REF"}"#,          [401, 404, 404, 404, 404, 404, 404]),
        r(GET,    "/api/v1/users/{user}",                                 User(Me),       "",                                                [401, 200, 200, 200, 404, 404, 200]),
        r(GET,    "/api/v1/users/{user}",                                 User(Tu),       "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(GET,    "/api/v1/users/{user}",                                 User(Ta),       "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(GET,    "/api/v1/users/{user}",                                 User(Rt),       "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(GET,    "/api/v1/users/{user}",                                 User(Gx),       "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(GET,    "/api/v1/users/{user}",                                 User(No),       "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Me),       r#"{"active":false}"#,                             [401, 403, 422, 422, 404, 404, 422]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Tu),       r#"{"active":false}"#,                             [401, 404, 200, 404, 404, 200, 200]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Ta),       r#"{"active":false}"#,                             [401, 404, 200, 404, 404, 200, 200]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Rt),       r#"{"active":false}"#,                             [401, 404, 403, 404, 404, 403, 200]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Gx),       r#"{"active":false}"#,                             [401, 404, 404, 200, 404, 404, 200]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(No),       r#"{"active":false}"#,                             [401, 404, 404, 404, 404, 404, 404]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Me),       r#"{"access_level":"tenant-admin"}"#,              [401, 403, 200, 200, 404, 404, 422]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Tu),       r#"{"access_level":"tenant-admin"}"#,              [401, 404, 200, 404, 404, 200, 200]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(No),       r#"{"access_level":"tenant-admin"}"#,              [401, 404, 404, 404, 404, 404, 404]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Me),       r#"{"access_level":"root"}"#,                      [401, 403, 422, 422, 404, 404, 200]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Tu),       r#"{"access_level":"root"}"#,                      [401, 404, 403, 404, 404, 403, 200]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Gx),       r#"{"access_level":"root"}"#,                      [401, 404, 404, 403, 404, 404, 200]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(No),       r#"{"access_level":"root"}"#,                      [401, 404, 404, 404, 404, 404, 404]),
        // A password too short for the policy: 422 means the caller got past every permission
        // check (and no Argon2 hash is computed).
        r(PATCH,  "/api/v1/users/{user}",                                 User(Me),       r#"{"password":"short"}"#,                         [401, 422, 422, 422, 404, 404, 422]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Tu),       r#"{"password":"short"}"#,                         [401, 404, 422, 404, 404, 422, 422]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(Gx),       r#"{"password":"short"}"#,                         [401, 404, 404, 422, 404, 404, 422]),
        r(PATCH,  "/api/v1/users/{user}",                                 User(No),       r#"{"password":"short"}"#,                         [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/users/{user}",                                 User(Me),       "",                                                [401, 403, 422, 422, 404, 404, 422]),
        r(DELETE, "/api/v1/users/{user}",                                 User(Tu),       "",                                                [401, 404, 204, 404, 404, 204, 204]),
        r(DELETE, "/api/v1/users/{user}",                                 User(Ta),       "",                                                [401, 404, 204, 404, 404, 204, 204]),
        r(DELETE, "/api/v1/users/{user}",                                 User(Rt),       "",                                                [401, 404, 403, 404, 404, 403, 204]),
        r(DELETE, "/api/v1/users/{user}",                                 User(Gx),       "",                                                [401, 404, 404, 204, 404, 404, 204]),
        r(DELETE, "/api/v1/users/{user}",                                 User(No),       "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(GET,    "/api/v1/users/{user}/tokens",                          User(Me),       "",                                                [401, 200, 200, 200, 403, 403, 200]),
        r(GET,    "/api/v1/users/{user}/tokens",                          User(Tu),       "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/users/{user}/tokens",                          User(Ta),       "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/users/{user}/tokens",                          User(Rt),       "",                                                [401, 403, 403, 404, 403, 403, 200]),
        r(GET,    "/api/v1/users/{user}/tokens",                          User(Gx),       "",                                                [401, 403, 404, 200, 403, 404, 200]),
        r(GET,    "/api/v1/users/{user}/tokens",                          User(No),       "",                                                [401, 403, 404, 404, 403, 404, 404]),
        r(POST,   "/api/v1/users/{user}/tokens/revoke",                   User(Me),       "",                                                [401, 200, 200, 200, 403, 403, 200]),
        r(POST,   "/api/v1/users/{user}/tokens/revoke",                   User(Tu),       "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(POST,   "/api/v1/users/{user}/tokens/revoke",                   User(Ta),       "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(POST,   "/api/v1/users/{user}/tokens/revoke",                   User(Rt),       "",                                                [401, 403, 403, 404, 403, 403, 200]),
        r(POST,   "/api/v1/users/{user}/tokens/revoke",                   User(Gx),       "",                                                [401, 403, 404, 200, 403, 404, 200]),
        r(POST,   "/api/v1/users/{user}/tokens/revoke",                   User(No),       "",                                                [401, 403, 404, 404, 403, 404, 404]),
        r(GET,    "/api/v1/users/{user}/token-policy",                    User(Me),       "",                                                [401, 200, 200, 200, 403, 403, 200]),
        r(GET,    "/api/v1/users/{user}/token-policy",                    User(Tu),       "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/users/{user}/token-policy",                    User(Ta),       "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/users/{user}/token-policy",                    User(Rt),       "",                                                [401, 403, 403, 404, 403, 403, 200]),
        r(GET,    "/api/v1/users/{user}/token-policy",                    User(Gx),       "",                                                [401, 403, 404, 200, 403, 404, 200]),
        r(GET,    "/api/v1/users/{user}/token-policy",                    User(No),       "",                                                [401, 403, 404, 404, 403, 404, 404]),
        r(PUT,    "/api/v1/users/{user}/token-policy",                    User(Me),       r#"{"max_duration":"30d"}"#,                       [401, 403, 200, 200, 404, 404, 200]),
        r(PUT,    "/api/v1/users/{user}/token-policy",                    User(Tu),       r#"{"max_duration":"30d"}"#,                       [401, 404, 200, 404, 404, 200, 200]),
        r(PUT,    "/api/v1/users/{user}/token-policy",                    User(Ta),       r#"{"max_duration":"30d"}"#,                       [401, 404, 200, 404, 404, 200, 200]),
        r(PUT,    "/api/v1/users/{user}/token-policy",                    User(Rt),       r#"{"max_duration":"30d"}"#,                       [401, 404, 403, 404, 404, 403, 200]),
        r(PUT,    "/api/v1/users/{user}/token-policy",                    User(Gx),       r#"{"max_duration":"30d"}"#,                       [401, 404, 404, 200, 404, 404, 200]),
        r(PUT,    "/api/v1/users/{user}/token-policy",                    User(No),       r#"{"max_duration":"30d"}"#,                       [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/users/{user}/token-policy",                    User(Me),       "",                                                [401, 403, 200, 200, 404, 404, 200]),
        r(DELETE, "/api/v1/users/{user}/token-policy",                    User(Tu),       "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(DELETE, "/api/v1/users/{user}/token-policy",                    User(Ta),       "",                                                [401, 404, 200, 404, 404, 200, 200]),
        r(DELETE, "/api/v1/users/{user}/token-policy",                    User(Rt),       "",                                                [401, 404, 403, 404, 404, 403, 200]),
        r(DELETE, "/api/v1/users/{user}/token-policy",                    User(Gx),       "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(DELETE, "/api/v1/users/{user}/token-policy",                    User(No),       "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(PUT,    "/api/v1/users/{user}/roles/{role}",                    Grant(Me, Dflt),   "",                                             [401, 403, 200, 404, 404, 404, 200]),
        r(PUT,    "/api/v1/users/{user}/roles/{role}",                    Grant(Tu, Dflt),   "",                                             [401, 404, 200, 404, 404, 200, 200]),
        r(PUT,    "/api/v1/users/{user}/roles/{role}",                    Grant(Rt, Dflt),   "",                                             [401, 404, 403, 404, 404, 403, 200]),
        r(PUT,    "/api/v1/users/{user}/roles/{role}",                    Grant(Tu, Glbx),   "",                                             [401, 404, 404, 404, 404, 404, 404]),
        r(PUT,    "/api/v1/users/{user}/roles/{role}",                    Grant(Gx, Glbx),   "",                                             [401, 404, 404, 200, 404, 404, 200]),
        r(PUT,    "/api/v1/users/{user}/roles/{role}",                    Grant(Me, Nowhere),"",                                             [401, 403, 404, 404, 404, 404, 404]),
        r(PUT,    "/api/v1/users/{user}/roles/{role}",                    Grant(Tu, Nowhere),"",                                             [401, 404, 404, 404, 404, 404, 404]),
        r(PUT,    "/api/v1/users/{user}/roles/{role}",                    Grant(No, Glbx),   "",                                             [401, 404, 404, 404, 404, 404, 404]),
        r(PUT,    "/api/v1/users/{user}/roles/{role}",                    Grant(No, Nowhere),"",                                             [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/users/{user}/roles/{role}",                    Grant(Me, Dflt),   "",                                             [401, 403, 200, 404, 404, 404, 200]),
        r(DELETE, "/api/v1/users/{user}/roles/{role}",                    Grant(Tu, Dflt),   "",                                             [401, 404, 200, 404, 404, 200, 200]),
        r(DELETE, "/api/v1/users/{user}/roles/{role}",                    Grant(Rt, Dflt),   "",                                             [401, 404, 403, 404, 404, 403, 200]),
        r(DELETE, "/api/v1/users/{user}/roles/{role}",                    Grant(Tu, Glbx),   "",                                             [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/users/{user}/roles/{role}",                    Grant(Gx, Glbx),   "",                                             [401, 404, 404, 200, 404, 404, 200]),
        r(DELETE, "/api/v1/users/{user}/roles/{role}",                    Grant(Me, Nowhere),"",                                             [401, 403, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/users/{user}/roles/{role}",                    Grant(Tu, Nowhere),"",                                             [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/users/{user}/roles/{role}",                    Grant(No, Glbx),   "",                                             [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/users/{user}/roles/{role}",                    Grant(No, Nowhere),"",                                             [401, 404, 404, 404, 404, 404, 404]),

        // Roles (by id).
        r(GET,    "/api/v1/roles",                                        Nothing,        "",                                                [401, 403, 200, 200, 403, 200, 200]),
        r(POST,   "/api/v1/roles",                                        Nothing,        r#"{"name":"$NEW"}"#,                              [401, 403, 201, 201, 403, 201, 201]),
        r(POST,   "/api/v1/roles",                                        Tenant(Dflt),   r#"{"name":"$NEW","tenant":"$REF"}"#,              [401, 403, 201, 404, 403, 201, 201]),
        r(POST,   "/api/v1/roles",                                        Tenant(Glbx),   r#"{"name":"$NEW","tenant":"$REF"}"#,              [401, 404, 404, 201, 404, 404, 201]),
        r(POST,   "/api/v1/roles",                                        Tenant(Nowhere),r#"{"name":"$NEW","tenant":"$REF"}"#,              [401, 404, 404, 404, 404, 404, 404]),
        r(GET,    "/api/v1/roles/{role}",                                 Role(Dflt),     "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/roles/{role}",                                 Role(Glbx),     "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(GET,    "/api/v1/roles/{role}",                                 Role(Nowhere),  "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/roles/{role}",                                 Role(Dflt),     "",                                                [401, 403, 204, 404, 403, 204, 204]),
        r(DELETE, "/api/v1/roles/{role}",                                 Role(Glbx),     "",                                                [401, 404, 404, 204, 404, 404, 204]),
        r(DELETE, "/api/v1/roles/{role}",                                 Role(Nowhere),  "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(PUT,    "/api/v1/roles/{role}/token-policy",                    Role(Dflt),     r#"{"max_duration":"30d"}"#,                       [401, 403, 200, 404, 403, 200, 200]),
        r(PUT,    "/api/v1/roles/{role}/token-policy",                    Role(Glbx),     r#"{"max_duration":"30d"}"#,                       [401, 404, 404, 200, 404, 404, 200]),
        r(PUT,    "/api/v1/roles/{role}/token-policy",                    Role(Nowhere),  r#"{"max_duration":"30d"}"#,                       [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/roles/{role}/token-policy",                    Role(Dflt),     "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(DELETE, "/api/v1/roles/{role}/token-policy",                    Role(Glbx),     "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(DELETE, "/api/v1/roles/{role}/token-policy",                    Role(Nowhere),  "",                                                [401, 404, 404, 404, 404, 404, 404]),

        // Service users (by id). Nobody gives one more than they have.
        r(GET,    "/api/v1/service-users",                                Nothing,        "",                                                [401, 403, 200, 200, 403, 200, 200]),
        r(GET,    "/api/v1/service-users?tenant=$REF",                    Tenant(Dflt),   "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/service-users?tenant=$REF",                    Tenant(Glbx),   "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(GET,    "/api/v1/service-users?tenant=$REF",                    Tenant(Nowhere),"",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(POST,   "/api/v1/service-users",                                Nothing,        r#"{"name":"$NEW"}"#,                              [401, 403, 201, 201, 403, 201, 201]),
        r(POST,   "/api/v1/service-users",                                Nothing,        r#"{"name":"$NEW","role":"TenantAdmin"}"#,         [401, 403, 201, 201, 403, 201, 201]),
        r(POST,   "/api/v1/service-users",                                Nothing,        r#"{"name":"$NEW","access_level":"root"}"#,        [401, 403, 403, 403, 403, 403, 201]),
        r(POST,   "/api/v1/service-users",                                Tenant(Dflt),   r#"{"name":"$NEW","tenant":"$REF"}"#,              [401, 403, 201, 404, 403, 201, 201]),
        r(POST,   "/api/v1/service-users",                                Tenant(Glbx),   r#"{"name":"$NEW","tenant":"$REF"}"#,              [401, 404, 404, 201, 404, 404, 201]),
        r(POST,   "/api/v1/service-users",                                Tenant(Nowhere),r#"{"name":"$NEW","tenant":"$REF"}"#,              [401, 404, 404, 404, 404, 404, 404]),
        r(GET,    "/api/v1/service-users/{service_user}",                 Svc(Me),        "",                                                [401, 404, 404, 404, 403, 200, 404]),
        r(GET,    "/api/v1/service-users/{service_user}",                 Svc(Tu),        "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/service-users/{service_user}",                 Svc(Ta),        "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/service-users/{service_user}",                 Svc(Rt),        "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/service-users/{service_user}",                 Svc(Gx),        "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(GET,    "/api/v1/service-users/{service_user}",                 Svc(No),        "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(Me),        r#"{"description":"changed"}"#,                    [401, 404, 404, 404, 403, 200, 404]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(Tu),        r#"{"description":"changed"}"#,                    [401, 403, 200, 404, 403, 200, 200]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(Ta),        r#"{"description":"changed"}"#,                    [401, 403, 200, 404, 403, 200, 200]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(Rt),        r#"{"description":"changed"}"#,                    [401, 403, 403, 404, 403, 403, 200]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(Gx),        r#"{"description":"changed"}"#,                    [401, 404, 404, 200, 404, 404, 200]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(No),        r#"{"description":"changed"}"#,                    [401, 404, 404, 404, 404, 404, 404]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(Me),        r#"{"access_level":"root"}"#,                      [401, 404, 404, 404, 403, 403, 404]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(Tu),        r#"{"access_level":"root"}"#,                      [401, 403, 403, 404, 403, 403, 200]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(Gx),        r#"{"access_level":"root"}"#,                      [401, 404, 404, 403, 404, 404, 200]),
        r(PATCH,  "/api/v1/service-users/{service_user}",                 Svc(No),        r#"{"access_level":"root"}"#,                      [401, 404, 404, 404, 404, 404, 404]),
        r(DELETE, "/api/v1/service-users/{service_user}",                 Svc(Me),        "",                                                [401, 404, 404, 404, 403, 204, 404]),
        r(DELETE, "/api/v1/service-users/{service_user}",                 Svc(Tu),        "",                                                [401, 403, 204, 404, 403, 204, 204]),
        r(DELETE, "/api/v1/service-users/{service_user}",                 Svc(Ta),        "",                                                [401, 403, 204, 404, 403, 204, 204]),
        r(DELETE, "/api/v1/service-users/{service_user}",                 Svc(Rt),        "",                                                [401, 403, 403, 404, 403, 403, 204]),
        r(DELETE, "/api/v1/service-users/{service_user}",                 Svc(Gx),        "",                                                [401, 404, 404, 204, 404, 404, 204]),
        r(DELETE, "/api/v1/service-users/{service_user}",                 Svc(No),        "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(POST,   "/api/v1/service-users/{service_user}/disable",         Svc(Me),        "",                                                [401, 404, 404, 404, 403, 200, 404]),
        r(POST,   "/api/v1/service-users/{service_user}/disable",         Svc(Tu),        "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/disable",         Svc(Ta),        "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/disable",         Svc(Rt),        "",                                                [401, 403, 403, 404, 403, 403, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/disable",         Svc(Gx),        "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/disable",         Svc(No),        "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(POST,   "/api/v1/service-users/{service_user}/enable",          Svc(Me),        "",                                                [401, 404, 404, 404, 403, 200, 404]),
        r(POST,   "/api/v1/service-users/{service_user}/enable",          Svc(Tu),        "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/enable",          Svc(Ta),        "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/enable",          Svc(Rt),        "",                                                [401, 403, 403, 404, 403, 403, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/enable",          Svc(Gx),        "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/enable",          Svc(No),        "",                                                [401, 404, 404, 404, 404, 404, 404]),
        r(POST,   "/api/v1/service-users/{service_user}/rotate-key",      Svc(Me),        "",                                                [401, 404, 404, 404, 403, 200, 404]),
        r(POST,   "/api/v1/service-users/{service_user}/rotate-key",      Svc(Tu),        "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/rotate-key",      Svc(Ta),        "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/rotate-key",      Svc(Rt),        "",                                                [401, 403, 403, 404, 403, 403, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/rotate-key",      Svc(Gx),        "",                                                [401, 404, 404, 200, 404, 404, 200]),
        r(POST,   "/api/v1/service-users/{service_user}/rotate-key",      Svc(No),        "",                                                [401, 404, 404, 404, 404, 404, 404]),

        // Tenants: root only, answered before any look-up.
        r(GET,    "/api/v1/tenants",                                      Nothing,        "",                                                [401, 403, 403, 403, 403, 403, 200]),
        r(POST,   "/api/v1/tenants",                                      Nothing,        r#"{"name":"$NEW"}"#,                              [401, 403, 403, 403, 403, 403, 201]),
        r(DELETE, "/api/v1/tenants/{tenant}",                             Tenant(Dflt),   "",                                                [401, 403, 403, 403, 403, 403, 422]),
        r(DELETE, "/api/v1/tenants/{tenant}",                             Tenant(Fresh),  "",                                                [401, 403, 403, 403, 403, 403, 204]),
        r(DELETE, "/api/v1/tenants/{tenant}",                             Tenant(Nowhere),"",                                                [401, 403, 403, 403, 403, 403, 404]),
        r(GET,    "/api/v1/signing-keys",                                 Nothing,        "",                                                [401, 403, 403, 403, 403, 403, 200]),
        r(POST,   "/api/v1/signing-keys/rotate",                          Nothing,        "",                                                [401, 403, 403, 403, 403, 403, 201]),
        // `{kid}` stays as written: no key has that id (revoking a real one is in attacks.rs).
        r(POST,   "/api/v1/signing-keys/{kid}/revoke",                    Nothing,        "",                                                [401, 403, 403, 403, 403, 403, 404]),
        r(GET,    "/api/v1/changes",                                      Nothing,        "",                                                [401, 403, 403, 403, 403, 403, 200]),

        // Audit.
        r(GET,    "/api/v1/audit",                                        Nothing,        "",                                                [401, 403, 200, 200, 403, 200, 200]),
        r(GET,    "/api/v1/audit?user=$REF",                              User(Me),       "",                                                [401, 403, 200, 200, 403, 404, 200]),
        r(GET,    "/api/v1/audit?user=$REF",                              User(Tu),       "",                                                [401, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/api/v1/audit?user=$REF",                              User(Gx),       "",                                                [401, 403, 404, 200, 403, 404, 200]),
        r(GET,    "/api/v1/audit?user=$REF",                              User(No),       "",                                                [401, 403, 404, 404, 403, 404, 404]),

        // The command language (every statement in the second table); the WebSocket upgrades.
        r(POST,   "/api/v1/sql",                                          Nothing,        r#"{"sql":"SHOW API TOKENS;"}"#,                   [401, 200, 200, 200, 403, 403, 200]),
        r(GET,    "/api/v1/sql/ws",                                       Nothing,        "",                                                [401, 101, 101, 101, 101, 101, 101]),

        // OAuth2: the client is the object's id with the caller's credential as its secret
        // (HTTP Basic); only a service user's own id and key make a client.
        r(POST,   "/oauth/token",                                         Svc(Me),        "grant_type=client_credentials",                   [401, 401, 401, 401, 200, 200, 401]),
        r(POST,   "/oauth/token",                                         Svc(Tu),        "grant_type=client_credentials",                   [401, 401, 401, 401, 401, 401, 401]),
        r(POST,   "/oauth/token",                                         Svc(Gx),        "grant_type=client_credentials",                   [401, 401, 401, 401, 401, 401, 401]),
        r(POST,   "/oauth/token",                                         Svc(No),        "grant_type=client_credentials",                   [401, 401, 401, 401, 401, 401, 401]),
        r(POST,   "/v1/oauth/tokens",                                     Svc(Me),        "grant_type=client_credentials",                   [401, 401, 401, 401, 200, 200, 401]),
        r(POST,   "/v1/{prefix}/v1/oauth/tokens",                         Svc(Me),        "grant_type=client_credentials",                   [401, 401, 401, 401, 200, 200, 401]),
        // Introspection and revocation take the caller's bearer credential (or API key).
        r(POST,   "/oauth/introspect",                                    Token(Me),      "token=$VALUE",                                    [401, ACT, ACT, ACT, ACT, ACT, ACT]),
        r(POST,   "/oauth/introspect",                                    Token(Tu),      "token=$VALUE",                                    [401, ACT, ACT, INA, ACT, ACT, ACT]),
        r(POST,   "/oauth/introspect",                                    Token(Gx),      "token=$VALUE",                                    [401, INA, INA, ACT, INA, INA, ACT]),
        r(POST,   "/oauth/introspect",                                    Token(No),      "token=$VALUE",                                    [401, INA, INA, INA, INA, INA, INA]),
        r(POST,   "/oauth/revoke",                                        Token(Me),      "token=$VALUE",                                    [401, 200, 200, 200, 200, 200, 200]),
        r(POST,   "/oauth/revoke",                                        Token(Tu),      "token=$VALUE",                                    [401, 400, 200, NOP, 400, 200, 200]),
        r(POST,   "/oauth/revoke",                                        Token(Rt),      "token=$VALUE",                                    [401, 400, 400, NOP, 400, 400, 200]),
        r(POST,   "/oauth/revoke",                                        Token(Gx),      "token=$VALUE",                                    [401, NOP, NOP, 200, NOP, NOP, 200]),
        r(POST,   "/oauth/revoke",                                        Token(No),      "token=$VALUE",                                    [401, NOP, NOP, NOP, NOP, NOP, NOP]),
        r(POST,   "/oauth/revoke",                                        Svc(Tu),        "token=$VALUE",                                    [401, 400, 400, 400, 400, 400, 400]),
        r(POST,   "/oauth/revoke",                                        Svc(No),        "token=$VALUE",                                    [401, 400, 400, 400, 400, 400, 400]),

        // The web UI's pages (outside the OpenAPI document), with the session cookie.
        r(GET,    "/ui/settings/tokens",                                  Nothing,        "",                                                [303, 200, 200, 200, 403, 403, 200]),
        r(GET,    "/ui/admin/users",                                      Nothing,        "",                                                [303, 403, 200, 200, 403, 200, 200]),
        r(GET,    "/ui/admin/users/{user}",                               User(Tu),       "",                                                [303, 403, 200, 404, 403, 200, 200]),
        r(GET,    "/ui/admin/users/{user}",                               User(Gx),       "",                                                [303, 403, 404, 200, 403, 404, 200]),
        r(GET,    "/ui/admin/users/{user}",                               User(No),       "",                                                [303, 403, 404, 404, 403, 404, 404]),
        r(GET,    "/ui/admin/roles",                                      Nothing,        "",                                                [303, 403, 200, 200, 403, 200, 200]),
        r(GET,    "/ui/identity/service-users",                           Nothing,        "",                                                [303, 403, 200, 200, 403, 200, 200]),
        r(GET,    "/ui/audit",                                            Nothing,        "",                                                [303, 403, 200, 200, 403, 200, 200]),
    ]
}

/// Every statement of the command language through `POST /api/v1/sql`; the cell is the
/// answer's status. Users by name, roles and service users by id (which is how root reaches
/// another tenant's), both quoted. Same columns as above.
#[rustfmt::skip]
fn sql_table() -> Vec<Row> {
    use At::*;
    use Obj::*;
    use Who::*;
    vec![
        //  script                                                                      object            anon user admin other svc svcA root
        s(r#"CREATE API TOKEN"#,                                                         Nothing,          [401, 200, 200, 200, 403, 403, 200]),
        s(r#"CREATE API TOKEN FOR USER "$REF""#,                                         User(Me),         [401, 200, 200, 200, 403, 403, 200]),
        s(r#"CREATE API TOKEN FOR USER "$REF""#,                                         User(Tu),         [401, 403, 200, 404, 403, 200, 200]),
        s(r#"CREATE API TOKEN FOR USER "$REF""#,                                         User(Rt),         [401, 403, 403, 404, 403, 403, 200]),
        s(r#"CREATE API TOKEN FOR USER "$REF""#,                                         User(Gx),         [401, 403, 404, 200, 403, 404, 200]),
        s(r#"CREATE API TOKEN FOR USER "$REF""#,                                         User(No),         [401, 403, 404, 404, 403, 404, 404]),
        s(r#"SHOW API TOKENS"#,                                                          Nothing,          [401, 200, 200, 200, 403, 403, 200]),
        s(r#"SHOW API TOKENS FOR USER "$REF" ALL"#,                                      User(Me),         [401, 200, 200, 200, 403, 403, 200]),
        s(r#"SHOW API TOKENS FOR USER "$REF" ALL"#,                                      User(Tu),         [401, 403, 200, 404, 403, 200, 200]),
        s(r#"SHOW API TOKENS FOR USER "$REF" ALL"#,                                      User(Rt),         [401, 403, 403, 404, 403, 403, 200]),
        s(r#"SHOW API TOKENS FOR USER "$REF" ALL"#,                                      User(Gx),         [401, 403, 404, 200, 403, 404, 200]),
        s(r#"SHOW API TOKENS FOR USER "$REF" ALL"#,                                      User(No),         [401, 403, 404, 404, 403, 404, 404]),
        s(r#"ALTER API TOKEN "$NAME" SET COMMENT 'changed'"#,                            Token(Me),        [401, 200, 200, 200, 403, 403, 200]),
        s(r#"ALTER API TOKEN "$NAME" FOR USER "$OWNER" SET COMMENT 'changed'"#,          Token(Tu),        [401, 403, 200, 404, 403, 200, 200]),
        s(r#"ALTER API TOKEN "$NAME" FOR USER "$OWNER" SET COMMENT 'changed'"#,          Token(Rt),        [401, 403, 403, 404, 403, 403, 200]),
        s(r#"ALTER API TOKEN "$NAME" FOR USER "$OWNER" SET COMMENT 'changed'"#,          Token(Gx),        [401, 403, 404, 200, 403, 404, 200]),
        s(r#"ALTER API TOKEN "$NAME" FOR USER "$OWNER" SET COMMENT 'changed'"#,          Token(No),        [401, 403, 404, 404, 403, 404, 404]),
        s(r#"DROP API TOKEN "$NAME""#,                                                   Token(Me),        [401, 200, 200, 200, 403, 403, 200]),
        s(r#"DROP API TOKEN "$NAME" FOR USER "$OWNER""#,                                 Token(Tu),        [401, 403, 200, 404, 403, 200, 200]),
        s(r#"DROP API TOKEN "$NAME" FOR USER "$OWNER""#,                                 Token(Rt),        [401, 403, 403, 404, 403, 403, 200]),
        s(r#"DROP API TOKEN "$NAME" FOR USER "$OWNER""#,                                 Token(Gx),        [401, 403, 404, 200, 403, 404, 200]),
        s(r#"DROP API TOKEN "$NAME" FOR USER "$OWNER""#,                                 Token(No),        [401, 403, 404, 404, 403, 404, 404]),
        s(r#"DROP ALL API TOKENS FOR USER "$REF""#,                                      User(Me),         [401, 200, 200, 200, 403, 403, 200]),
        s(r#"DROP ALL API TOKENS FOR USER "$REF""#,                                      User(Tu),         [401, 403, 200, 404, 403, 200, 200]),
        s(r#"DROP ALL API TOKENS FOR USER "$REF""#,                                      User(Rt),         [401, 403, 403, 404, 403, 403, 200]),
        s(r#"DROP ALL API TOKENS FOR USER "$REF""#,                                      User(Gx),         [401, 403, 404, 200, 403, 404, 200]),
        s(r#"DROP ALL API TOKENS FOR USER "$REF""#,                                      User(No),         [401, 403, 404, 404, 403, 404, 404]),
        s(r#"ALTER USER "$REF" SET API TOKEN MAX DURATION '30d'"#,                       User(Me),         [401, 403, 200, 200, 404, 404, 200]),
        s(r#"ALTER USER "$REF" SET API TOKEN MAX DURATION '30d'"#,                       User(Tu),         [401, 404, 200, 404, 404, 200, 200]),
        s(r#"ALTER USER "$REF" SET API TOKEN MAX DURATION '30d'"#,                       User(Rt),         [401, 404, 403, 404, 404, 403, 200]),
        s(r#"ALTER USER "$REF" SET API TOKEN MAX DURATION '30d'"#,                       User(Gx),         [401, 404, 404, 200, 404, 404, 200]),
        s(r#"ALTER USER "$REF" SET API TOKEN MAX DURATION '30d'"#,                       User(No),         [401, 404, 404, 404, 404, 404, 404]),
        s(r#"ALTER USER "$REF" UNSET API TOKEN MAX DURATION"#,                           User(Me),         [401, 403, 200, 200, 404, 404, 200]),
        s(r#"ALTER USER "$REF" UNSET API TOKEN MAX DURATION"#,                           User(Tu),         [401, 404, 200, 404, 404, 200, 200]),
        s(r#"ALTER USER "$REF" UNSET API TOKEN MAX DURATION"#,                           User(Rt),         [401, 404, 403, 404, 404, 403, 200]),
        s(r#"ALTER USER "$REF" UNSET API TOKEN MAX DURATION"#,                           User(Gx),         [401, 404, 404, 200, 404, 404, 200]),
        s(r#"ALTER USER "$REF" UNSET API TOKEN MAX DURATION"#,                           User(No),         [401, 404, 404, 404, 404, 404, 404]),
        s(r#"ALTER ROLE "$REF" SET API TOKEN MAX DURATION '30d'"#,                       Role(Dflt),       [401, 403, 200, 404, 403, 200, 200]),
        s(r#"ALTER ROLE "$REF" SET API TOKEN MAX DURATION '30d'"#,                       Role(Glbx),       [401, 404, 404, 200, 404, 404, 200]),
        s(r#"ALTER ROLE "$REF" SET API TOKEN MAX DURATION '30d'"#,                       Role(Nowhere),    [401, 404, 404, 404, 404, 404, 404]),
        s(r#"ALTER ROLE "$REF" UNSET API TOKEN MAX DURATION"#,                           Role(Dflt),       [401, 403, 200, 404, 403, 200, 200]),
        s(r#"ALTER ROLE "$REF" UNSET API TOKEN MAX DURATION"#,                           Role(Glbx),       [401, 404, 404, 200, 404, 404, 200]),
        s(r#"ALTER ROLE "$REF" UNSET API TOKEN MAX DURATION"#,                           Role(Nowhere),    [401, 404, 404, 404, 404, 404, 404]),
        s(r#"CREATE USER "$NEW""#,                                                       Nothing,          [401, 403, 200, 200, 403, 200, 200]),
        s(r#"CREATE USER "$NEW" ACCESS LEVEL 'tenant-admin'"#,                           Nothing,          [401, 403, 200, 200, 403, 200, 200]),
        s(r#"CREATE USER "$NEW" ACCESS LEVEL 'root'"#,                                   Nothing,          [401, 403, 403, 403, 403, 403, 200]),
        s(r#"CREATE USER "$NEW" IN TENANT "$REF""#,                                      Tenant(Dflt),     [401, 403, 200, 404, 403, 200, 200]),
        s(r#"CREATE USER "$NEW" IN TENANT "$REF""#,                                      Tenant(Glbx),     [401, 404, 404, 200, 404, 404, 200]),
        s(r#"CREATE USER "$NEW" IN TENANT "$REF""#,                                      Tenant(Nowhere),  [401, 404, 404, 404, 404, 404, 404]),
        // Too short a password: 422 once past the permission checks (see the HTTP table).
        s(r#"ALTER USER "$REF" SET PASSWORD 'short'"#,                                   User(Me),         [401, 422, 422, 422, 404, 404, 422]),
        s(r#"ALTER USER "$REF" SET PASSWORD 'short'"#,                                   User(Tu),         [401, 404, 422, 404, 404, 422, 422]),
        s(r#"ALTER USER "$REF" SET PASSWORD 'short'"#,                                   User(Gx),         [401, 404, 404, 422, 404, 404, 422]),
        s(r#"ALTER USER "$REF" SET PASSWORD 'short'"#,                                   User(No),         [401, 404, 404, 404, 404, 404, 404]),
        s(r#"ALTER USER "$REF" SET ACTIVE FALSE"#,                                       User(Me),         [401, 403, 422, 422, 404, 404, 422]),
        s(r#"ALTER USER "$REF" SET ACTIVE FALSE"#,                                       User(Tu),         [401, 404, 200, 404, 404, 200, 200]),
        s(r#"ALTER USER "$REF" SET ACTIVE FALSE"#,                                       User(Rt),         [401, 404, 403, 404, 404, 403, 200]),
        s(r#"ALTER USER "$REF" SET ACTIVE FALSE"#,                                       User(Gx),         [401, 404, 404, 200, 404, 404, 200]),
        s(r#"ALTER USER "$REF" SET ACTIVE FALSE"#,                                       User(No),         [401, 404, 404, 404, 404, 404, 404]),
        s(r#"ALTER USER "$REF" SET ACCESS LEVEL 'root'"#,                                User(Me),         [401, 403, 422, 422, 404, 404, 200]),
        s(r#"ALTER USER "$REF" SET ACCESS LEVEL 'root'"#,                                User(Tu),         [401, 404, 403, 404, 404, 403, 200]),
        s(r#"ALTER USER "$REF" SET ACCESS LEVEL 'root'"#,                                User(Gx),         [401, 404, 404, 403, 404, 404, 200]),
        s(r#"ALTER USER "$REF" SET ACCESS LEVEL 'root'"#,                                User(No),         [401, 404, 404, 404, 404, 404, 404]),
        s(r#"DROP USER "$REF""#,                                                         User(Me),         [401, 403, 422, 422, 404, 404, 422]),
        s(r#"DROP USER "$REF""#,                                                         User(Tu),         [401, 404, 200, 404, 404, 200, 200]),
        s(r#"DROP USER "$REF""#,                                                         User(Rt),         [401, 404, 403, 404, 404, 403, 200]),
        s(r#"DROP USER "$REF""#,                                                         User(Gx),         [401, 404, 404, 200, 404, 404, 200]),
        s(r#"DROP USER "$REF""#,                                                         User(No),         [401, 404, 404, 404, 404, 404, 404]),
        s(r#"SHOW USERS"#,                                                               Nothing,          [401, 403, 200, 200, 403, 200, 200]),
        s(r#"CREATE ROLE "$NEW""#,                                                       Nothing,          [401, 403, 200, 200, 403, 200, 200]),
        s(r#"DROP ROLE "$REF""#,                                                         Role(Dflt),       [401, 403, 200, 404, 403, 200, 200]),
        s(r#"DROP ROLE "$REF""#,                                                         Role(Glbx),       [401, 404, 404, 200, 404, 404, 200]),
        s(r#"DROP ROLE "$REF""#,                                                         Role(Nowhere),    [401, 404, 404, 404, 404, 404, 404]),
        s(r#"SHOW ROLES"#,                                                               Nothing,          [401, 403, 200, 200, 403, 200, 200]),
        s(r#"GRANT ROLE "$ROLE" TO USER "$REF""#,                                        Grant(Me, Dflt),  [401, 403, 200, 404, 404, 404, 200]),
        s(r#"GRANT ROLE "$ROLE" TO USER "$REF""#,                                        Grant(Tu, Dflt),  [401, 404, 200, 404, 404, 200, 200]),
        s(r#"GRANT ROLE "$ROLE" TO USER "$REF""#,                                        Grant(Rt, Dflt),  [401, 404, 403, 404, 404, 403, 200]),
        s(r#"GRANT ROLE "$ROLE" TO USER "$REF""#,                                        Grant(Tu, Glbx),  [401, 404, 404, 404, 404, 404, 404]),
        s(r#"GRANT ROLE "$ROLE" TO USER "$REF""#,                                        Grant(Gx, Glbx),  [401, 404, 404, 200, 404, 404, 200]),
        s(r#"GRANT ROLE "$ROLE" TO USER "$REF""#,                                        Grant(Me, Nowhere), [401, 403, 404, 404, 404, 404, 404]),
        s(r#"GRANT ROLE "$ROLE" TO USER "$REF""#,                                        Grant(Tu, Nowhere), [401, 404, 404, 404, 404, 404, 404]),
        s(r#"GRANT ROLE "$ROLE" TO USER "$REF""#,                                        Grant(No, Glbx),  [401, 404, 404, 404, 404, 404, 404]),
        s(r#"GRANT ROLE "$ROLE" TO USER "$REF""#,                                        Grant(No, Nowhere), [401, 404, 404, 404, 404, 404, 404]),
        s(r#"REVOKE ROLE "$ROLE" FROM USER "$REF""#,                                     Grant(Me, Dflt),  [401, 403, 200, 404, 404, 404, 200]),
        s(r#"REVOKE ROLE "$ROLE" FROM USER "$REF""#,                                     Grant(Tu, Dflt),  [401, 404, 200, 404, 404, 200, 200]),
        s(r#"REVOKE ROLE "$ROLE" FROM USER "$REF""#,                                     Grant(Rt, Dflt),  [401, 404, 403, 404, 404, 403, 200]),
        s(r#"REVOKE ROLE "$ROLE" FROM USER "$REF""#,                                     Grant(Tu, Glbx),  [401, 404, 404, 404, 404, 404, 404]),
        s(r#"REVOKE ROLE "$ROLE" FROM USER "$REF""#,                                     Grant(Gx, Glbx),  [401, 404, 404, 200, 404, 404, 200]),
        s(r#"REVOKE ROLE "$ROLE" FROM USER "$REF""#,                                     Grant(Me, Nowhere), [401, 403, 404, 404, 404, 404, 404]),
        s(r#"REVOKE ROLE "$ROLE" FROM USER "$REF""#,                                     Grant(Tu, Nowhere), [401, 404, 404, 404, 404, 404, 404]),
        s(r#"REVOKE ROLE "$ROLE" FROM USER "$REF""#,                                     Grant(No, Glbx),  [401, 404, 404, 404, 404, 404, 404]),
        s(r#"REVOKE ROLE "$ROLE" FROM USER "$REF""#,                                     Grant(No, Nowhere), [401, 404, 404, 404, 404, 404, 404]),
        s(r#"CREATE SERVICE USER "$NEW""#,                                               Nothing,          [401, 403, 200, 200, 403, 200, 200]),
        s(r#"CREATE SERVICE USER "$NEW" ACCESS LEVEL 'tenant-admin'"#,                   Nothing,          [401, 403, 200, 200, 403, 200, 200]),
        s(r#"CREATE SERVICE USER "$NEW" ACCESS LEVEL 'root'"#,                           Nothing,          [401, 403, 403, 403, 403, 403, 200]),
        s(r#"SHOW SERVICE USERS"#,                                                       Nothing,          [401, 403, 200, 200, 403, 200, 200]),
        s(r#"ALTER SERVICE USER "$REF" ROTATE KEY"#,                                     Svc(Me),          [401, 404, 404, 404, 403, 200, 404]),
        s(r#"ALTER SERVICE USER "$REF" ROTATE KEY"#,                                     Svc(Tu),          [401, 403, 200, 404, 403, 200, 200]),
        s(r#"ALTER SERVICE USER "$REF" ROTATE KEY"#,                                     Svc(Rt),          [401, 403, 403, 404, 403, 403, 200]),
        s(r#"ALTER SERVICE USER "$REF" ROTATE KEY"#,                                     Svc(Gx),          [401, 404, 404, 200, 404, 404, 200]),
        s(r#"ALTER SERVICE USER "$REF" ROTATE KEY"#,                                     Svc(No),          [401, 404, 404, 404, 404, 404, 404]),
        s(r#"ALTER SERVICE USER "$REF" SET ACTIVE FALSE"#,                               Svc(Me),          [401, 404, 404, 404, 403, 200, 404]),
        s(r#"ALTER SERVICE USER "$REF" SET ACTIVE FALSE"#,                               Svc(Tu),          [401, 403, 200, 404, 403, 200, 200]),
        s(r#"ALTER SERVICE USER "$REF" SET ACTIVE FALSE"#,                               Svc(Rt),          [401, 403, 403, 404, 403, 403, 200]),
        s(r#"ALTER SERVICE USER "$REF" SET ACTIVE FALSE"#,                               Svc(Gx),          [401, 404, 404, 200, 404, 404, 200]),
        s(r#"ALTER SERVICE USER "$REF" SET ACTIVE FALSE"#,                               Svc(No),          [401, 404, 404, 404, 404, 404, 404]),
        s(r#"ALTER SERVICE USER "$REF" SET DESCRIPTION 'changed'"#,                      Svc(Me),          [401, 404, 404, 404, 403, 200, 404]),
        s(r#"ALTER SERVICE USER "$REF" SET DESCRIPTION 'changed'"#,                      Svc(Tu),          [401, 403, 200, 404, 403, 200, 200]),
        s(r#"ALTER SERVICE USER "$REF" SET DESCRIPTION 'changed'"#,                      Svc(Rt),          [401, 403, 403, 404, 403, 403, 200]),
        s(r#"ALTER SERVICE USER "$REF" SET DESCRIPTION 'changed'"#,                      Svc(Gx),          [401, 404, 404, 200, 404, 404, 200]),
        s(r#"ALTER SERVICE USER "$REF" SET DESCRIPTION 'changed'"#,                      Svc(No),          [401, 404, 404, 404, 404, 404, 404]),
        s(r#"DROP SERVICE USER "$REF""#,                                                 Svc(Me),          [401, 404, 404, 404, 403, 200, 404]),
        s(r#"DROP SERVICE USER "$REF""#,                                                 Svc(Tu),          [401, 403, 200, 404, 403, 200, 200]),
        s(r#"DROP SERVICE USER "$REF""#,                                                 Svc(Rt),          [401, 403, 403, 404, 403, 403, 200]),
        s(r#"DROP SERVICE USER "$REF""#,                                                 Svc(Gx),          [401, 404, 404, 200, 404, 404, 200]),
        s(r#"DROP SERVICE USER "$REF""#,                                                 Svc(No),          [401, 404, 404, 404, 404, 404, 404]),
        s(r#"SHOW AUDIT LIMIT 50"#,                                                      Nothing,          [401, 403, 200, 200, 403, 200, 200]),
        s(r#"SHOW AUDIT FOR USER "$REF""#,                                               User(Me),         [401, 403, 200, 200, 403, 404, 200]),
        s(r#"SHOW AUDIT FOR USER "$REF""#,                                               User(Tu),         [401, 403, 200, 404, 403, 200, 200]),
        s(r#"SHOW AUDIT FOR USER "$REF""#,                                               User(Gx),         [401, 403, 404, 200, 403, 404, 200]),
        s(r#"SHOW AUDIT FOR USER "$REF""#,                                               User(No),         [401, 403, 404, 404, 403, 404, 404]),
    ]
}

/// A number for each statement kind; the match has no wildcard, so a new kind of statement
/// does not compile until it is listed here (and then needs a row to pass).
fn statement_kind(statement: &Statement) -> usize {
    match statement {
        Statement::CreateApiToken { .. } => 0,
        Statement::ShowApiTokens { .. } => 1,
        Statement::SetApiTokenComment { .. } => 2,
        Statement::DropApiToken { .. } => 3,
        Statement::DropAllApiTokens { .. } => 4,
        Statement::SetUserTokenMaxDuration { .. } => 5,
        Statement::UnsetUserTokenMaxDuration { .. } => 6,
        Statement::SetRoleTokenMaxDuration { .. } => 7,
        Statement::UnsetRoleTokenMaxDuration { .. } => 8,
        Statement::CreateUser { .. } => 9,
        Statement::SetUserPassword { .. } => 10,
        Statement::SetUserActive { .. } => 11,
        Statement::SetUserAccessLevel { .. } => 12,
        Statement::DropUser { .. } => 13,
        Statement::ShowUsers => 14,
        Statement::CreateRole { .. } => 15,
        Statement::DropRole { .. } => 16,
        Statement::ShowRoles => 17,
        Statement::GrantRole { .. } => 18,
        Statement::RevokeRole { .. } => 19,
        Statement::CreateServiceUser { .. } => 20,
        Statement::ShowServiceUsers => 21,
        Statement::RotateServiceUserKey { .. } => 22,
        Statement::SetServiceUserActive { .. } => 23,
        Statement::SetServiceUserDescription { .. } => 24,
        Statement::DropServiceUser { .. } => 25,
        Statement::ShowAudit { .. } => 26,
    }
}

/// How many numbers [`statement_kind`] gives.
const STATEMENT_KINDS: usize = 27;

/// Paths served beside the OpenAPI document that have rows too.
const UNDOCUMENTED: [&str; 3] = [
    "/openapi.json",
    "/v1/oauth/tokens",
    "/v1/{prefix}/v1/oauth/tokens",
];

// ------------------------------------------------------------------------------------------
// The world the cells run in.

#[derive(Clone, Debug)]
struct Tok {
    id: String,
    name: String,
    owner: String,
    value: String,
}

#[derive(Clone, Debug)]
struct Svc {
    id: String,
    name: String,
    key: String,
}

/// A caller with its credential.
#[derive(Clone, Debug)]
struct Acting {
    caller: Caller,
    secret: Option<String>,
    name: String,
    id: String,
}

/// What a cell's object turned out to be.
#[derive(Default, Debug)]
struct Target {
    /// Put for the path parameter and `$REF`.
    primary: String,
    role: Option<String>,
    name: String,
    owner: String,
    value: String,
    /// The credential the object stands for (a token, a key, a token of the user), when real.
    secret: Option<String>,
    /// False for a made-up object.
    real: bool,
}

enum Auth {
    None,
    Bearer(String),
    Key(String),
    Basic(String, String),
    Cookie(String),
}

enum Payload {
    None,
    Json(Value),
    Form(String),
}

/// A made-up JWT: well formed, signed by nobody.
const MADE_UP_TOKEN: &str =
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJub2JvZHkifQ.bm90LWEtc2lnbmF0dXJl";
/// A made-up API key: the right prefix and length, a wrong checksum.
const MADE_UP_KEY: &str = "jsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAaaaaaa";

struct World {
    server: Server,
    /// A client that does not follow redirects (the UI answers 303 to its login page).
    web: reqwest::Client,
    /// A token of `fixture-root`, a second root user that makes the objects the cells act on.
    fx: String,
    /// A token of `g-fixture`, a tenant admin of `globex`: it finds `globex`'s service users by
    /// name, which root does only in its own tenant.
    globex_fx: String,
    user_ids: HashMap<String, String>,
    /// A standing token of each named user.
    tokens: HashMap<String, Tok>,
    /// The standing service users.
    services: HashMap<Who, Svc>,
    /// The standing roles (ids).
    roles: HashMap<Home, String>,
    callers: Mutex<HashMap<Caller, Acting>>,
    /// Names and ids of each tenant's objects, which another tenant must never see.
    idents: Mutex<HashMap<Home, BTreeSet<String>>>,
    counter: AtomicUsize,
}

fn made_up_id(n: usize) -> String {
    format!("01900000-0000-7000-8000-{n:012x}")
}

fn shared_user(who: Who) -> &'static str {
    match who {
        Who::Tu => "d-bob",
        Who::Ta => "d-dan",
        Who::Rt => "d-root",
        Who::Gx => "g-gina",
        Who::Me | Who::No => unreachable!("no standing user for {who:?}"),
    }
}

/// Tenant and access level of the objects of `who`.
fn kind_of(who: Who) -> (Home, &'static str) {
    match who {
        Who::Tu => (Home::Default, "tenant-user"),
        Who::Ta => (Home::Default, "tenant-admin"),
        Who::Rt => (Home::Default, "root"),
        Who::Gx => (Home::Globex, "tenant-user"),
        Who::Me | Who::No => unreachable!("no kind for {who:?}"),
    }
}

fn jti(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["jti"].as_str().unwrap().to_string()
}

impl World {
    async fn new() -> World {
        let server = spawn_with(|c| c.login_attempts = 1_000_000).await;
        let admin = server.admin().await;
        let web = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (status, body) = server
            .post(
                "/api/v1/users",
                &admin,
                json!({"username": "fixture-root", "access_level": "root"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = server
            .create_token(&admin, json!({"for_user": "fixture-root"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut world = World {
            server,
            web,
            fx: body["token"].as_str().unwrap().to_string(),
            globex_fx: String::new(),
            user_ids: HashMap::new(),
            tokens: HashMap::new(),
            services: HashMap::new(),
            roles: HashMap::new(),
            callers: Mutex::new(HashMap::new()),
            idents: Mutex::new(HashMap::new()),
            counter: AtomicUsize::new(0),
        };
        let globex = world
            .make("/api/v1/tenants", json!({"name": "globex"}))
            .await;
        world.note(Home::Globex, &["globex", globex["id"].as_str().unwrap()]);
        let (status, me) = world.server.get("/api/v1/me", &admin).await;
        assert_eq!(status, StatusCode::OK);
        world.note(Home::Default, &[me["user"]["tenant_id"].as_str().unwrap()]);
        world
            .user_ids
            .insert("admin".into(), me["user"]["id"].as_str().unwrap().into());
        for (name, home, level) in [
            ("d-alice", Home::Default, "tenant-user"),
            ("d-bob", Home::Default, "tenant-user"),
            ("d-dora", Home::Default, "tenant-admin"),
            ("d-dan", Home::Default, "tenant-admin"),
            ("d-root", Home::Default, "root"),
            ("g-gabe", Home::Globex, "tenant-admin"),
            ("g-gina", Home::Globex, "tenant-user"),
        ] {
            let id = world.named_user(name, home, level).await;
            world.user_ids.insert(name.into(), id);
        }
        world
            .named_user("g-fixture", Home::Globex, "tenant-admin")
            .await;
        world.globex_fx = world.mint("g-fixture", Some(Home::Globex)).await.value;
        for (name, home) in [
            ("d-alice", Some(Home::Default)),
            ("d-bob", Some(Home::Default)),
            ("d-dora", Some(Home::Default)),
            ("d-dan", Some(Home::Default)),
            ("d-root", Some(Home::Default)),
            ("g-gabe", Some(Home::Globex)),
            ("g-gina", Some(Home::Globex)),
            ("admin", None),
        ] {
            let token = world.mint(name, home).await;
            world.tokens.insert(name.into(), token);
        }
        for (who, name) in [
            (Who::Tu, "d-svc"),
            (Who::Ta, "d-svc-admin"),
            (Who::Rt, "d-svc-root"),
            (Who::Gx, "g-svc"),
        ] {
            let (home, level) = kind_of(who);
            let svc = world.service_user(name, home, level).await;
            world.services.insert(who, svc);
        }
        for home in [Home::Default, Home::Globex] {
            let name = format!("{}-role", home.prefix());
            let id = world.role_named(&name, home).await;
            world.roles.insert(home, id);
        }
        for caller in CALLERS {
            let acting = world.acting(caller).await;
            world.callers.lock().unwrap().insert(caller, acting);
        }
        world
    }

    fn n(&self) -> usize {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    fn note(&self, home: Home, values: &[&str]) {
        let mut idents = self.idents.lock().unwrap();
        let set = idents.entry(home).or_default();
        for value in values {
            set.insert((*value).to_string());
        }
    }

    /// A request as `fixture-root`.
    async fn fx(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.server.call(method, path, Some(&self.fx), body).await
    }

    /// Creates something as `fixture-root`; it must work.
    async fn make(&self, path: &str, body: Value) -> Value {
        let (status, created) = self.fx(POST, path, Some(body.clone())).await;
        assert!(status.is_success(), "{path} {body}: {status} {created}");
        created
    }

    async fn named_user(&self, name: &str, home: Home, level: &str) -> String {
        let body = json!({"username": name, "access_level": level, "tenant": home.tenant()});
        let created = self.make("/api/v1/users", body).await;
        let id = created["id"].as_str().unwrap().to_string();
        self.note(home, &[name, &id]);
        id
    }

    async fn new_user(&self, home: Home, level: &str) -> String {
        let name = format!("{}-fx-{}", home.prefix(), self.n());
        self.named_user(&name, home, level).await;
        name
    }

    async fn mint(&self, owner: &str, home: Option<Home>) -> Tok {
        let name = format!("fx-{}", self.n());
        let created = self
            .make("/api/v1/tokens", json!({"for_user": owner, "name": name}))
            .await;
        let tok = Tok {
            id: created["id"].as_str().unwrap().to_string(),
            name,
            owner: owner.to_string(),
            value: created["token"].as_str().unwrap().to_string(),
        };
        if let Some(home) = home {
            self.note(home, &[&tok.id]);
        }
        tok
    }

    async fn service_user(&self, name: &str, home: Home, level: &str) -> Svc {
        let body = json!({"name": name, "access_level": level, "tenant": home.tenant()});
        let created = self.make("/api/v1/service-users", body).await;
        let svc = Svc {
            id: created["id"].as_str().unwrap().to_string(),
            name: name.to_string(),
            key: created["api_key"].as_str().unwrap().to_string(),
        };
        self.note(home, &[name, &svc.id]);
        svc
    }

    async fn role_named(&self, name: &str, home: Home) -> String {
        let created = self
            .make(
                "/api/v1/roles",
                json!({"name": name, "tenant": home.tenant()}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        self.note(home, &[name, &id]);
        id
    }

    /// A caller with a new credential.
    async fn acting(&self, caller: Caller) -> Acting {
        match caller {
            Caller::Anon => Acting {
                caller,
                secret: None,
                name: "(anonymous)".to_string(),
                id: String::new(),
            },
            Caller::Svc | Caller::SvcAdmin => {
                let level = if caller == Caller::Svc {
                    "tenant-user"
                } else {
                    "tenant-admin"
                };
                let name = format!("d-caller-{}", self.n());
                let svc = self.service_user(&name, Home::Default, level).await;
                Acting {
                    caller,
                    secret: Some(svc.key),
                    name,
                    id: svc.id,
                }
            }
            _ => {
                let name = caller.username();
                let token = self.mint(name, caller.home()).await;
                Acting {
                    caller,
                    secret: Some(token.value),
                    name: name.to_string(),
                    id: self.user_ids[name].clone(),
                }
            }
        }
    }

    /// An OAuth access token of a service user, as a token with no record.
    async fn oauth_token(&self, me: &Acting) -> Tok {
        let response = self
            .web
            .post(format!("{}/oauth/token", self.server.base))
            .basic_auth(&me.id, me.secret.as_deref())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let value = body["access_token"].as_str().unwrap().to_string();
        Tok {
            id: jti(&value),
            name: "oauth".to_string(),
            owner: me.name.clone(),
            value,
        }
    }

    fn made_up_token(&self) -> Tok {
        let n = self.n();
        Tok {
            id: made_up_id(n),
            name: format!("no-such-token-{n}"),
            owner: format!("no-such-user-{n}"),
            value: MADE_UP_TOKEN.to_string(),
        }
    }

    async fn token(&self, who: Who, me: &Acting, fresh: bool) -> (Tok, bool) {
        match who {
            Who::No => (self.made_up_token(), false),
            Who::Me if me.caller == Caller::Anon => (self.made_up_token(), false),
            Who::Me if me.caller.is_service() => (self.oauth_token(me).await, true),
            Who::Me if fresh => (self.mint(&me.name, me.caller.home()).await, true),
            Who::Me => (self.tokens[&me.name].clone(), true),
            other if fresh => (
                self.mint(shared_user(other), Some(kind_of(other).0)).await,
                true,
            ),
            other => (self.tokens[shared_user(other)].clone(), true),
        }
    }

    /// A user's name, and a credential of it when `secret`.
    async fn user(
        &self,
        who: Who,
        me: &Acting,
        fresh: bool,
        secret: bool,
    ) -> (String, Option<String>) {
        match who {
            Who::No => (format!("no-such-user-{}", self.n()), None),
            Who::Me if me.caller == Caller::Anon => (format!("no-such-user-{}", self.n()), None),
            Who::Me => (me.name.clone(), me.secret.clone()),
            other if fresh => {
                let (home, level) = kind_of(other);
                let name = self.new_user(home, level).await;
                let token = if secret {
                    Some(self.mint(&name, Some(home)).await.value)
                } else {
                    None
                };
                (name, token)
            }
            other => {
                let name = shared_user(other);
                (name.to_string(), Some(self.tokens[name].value.clone()))
            }
        }
    }

    async fn svc(&self, who: Who, me: &Acting, fresh: bool) -> (Svc, bool) {
        let made_up = || {
            let n = self.n();
            Svc {
                id: made_up_id(n),
                name: format!("no-such-service-user-{n}"),
                key: MADE_UP_KEY.to_string(),
            }
        };
        match who {
            Who::No => (made_up(), false),
            Who::Me if me.caller == Caller::Anon => (made_up(), false),
            Who::Me => (
                Svc {
                    id: me.id.clone(),
                    name: me.name.clone(),
                    key: me.secret.clone().unwrap_or_default(),
                },
                true,
            ),
            other if fresh => {
                let (home, level) = kind_of(other);
                let name = format!("{}-fx-{}", home.prefix(), self.n());
                (self.service_user(&name, home, level).await, true)
            }
            other => (self.services[&other].clone(), true),
        }
    }

    async fn role(&self, at: At, fresh: bool) -> String {
        let home = match at {
            At::Dflt => Home::Default,
            At::Glbx => Home::Globex,
            At::Nowhere => return made_up_id(self.n()),
            At::Fresh => unreachable!("roles are of a tenant"),
        };
        if fresh {
            let name = format!("{}-fx-{}", home.prefix(), self.n());
            self.role_named(&name, home).await
        } else {
            self.roles[&home].clone()
        }
    }

    async fn tenant(&self, at: At) -> String {
        match at {
            At::Dflt => "default".to_string(),
            At::Glbx => "globex".to_string(),
            At::Nowhere => format!("no-such-tenant-{}", self.n()),
            At::Fresh => {
                let name = format!("n-fx-{}", self.n());
                self.make("/api/v1/tenants", json!({ "name": name })).await;
                name
            }
        }
    }

    async fn resolve(&self, row: &Row, me: &Acting) -> Target {
        let fresh = row.mutates();
        let mut target = Target {
            real: true,
            ..Target::default()
        };
        match row.obj {
            Obj::Nothing => {}
            Obj::Token(who) => {
                let (tok, real) = self.token(who, me, fresh).await;
                target.real = real;
                target.primary = tok.id;
                target.name = tok.name;
                target.owner = tok.owner;
                target.secret = real.then(|| tok.value.clone());
                target.value = tok.value;
            }
            Obj::User(who) => {
                let (name, secret) = self.user(who, me, fresh, row.kills()).await;
                target.real = who != Who::No && me.caller != Caller::Anon;
                target.primary = name;
                target.secret = secret;
            }
            Obj::Svc(who) => {
                let (svc, real) = self.svc(who, me, fresh).await;
                target.real = real;
                target.primary = svc.id;
                target.name = svc.name;
                target.secret = real.then(|| svc.key.clone());
                target.value = svc.key;
            }
            Obj::Role(at) => {
                target.real = at != At::Nowhere;
                target.primary = self.role(at, fresh).await;
            }
            Obj::Tenant(at) => {
                target.real = at != At::Nowhere;
                target.primary = self.tenant(at).await;
            }
            Obj::Grant(who, at) => {
                target.real = who != Who::No && me.caller != Caller::Anon;
                target.primary = self.user(who, me, fresh, false).await.0;
                let role = self.role(at, fresh).await;
                if row.takes_role() {
                    // Only possible where user and role share a tenant; otherwise it stays not held.
                    let path = format!("/api/v1/users/{}/roles/{role}", target.primary);
                    self.fx(PUT, &path, None).await;
                }
                target.role = Some(role);
            }
        }
        target
    }

    /// A new name for `$NEW`, noted as its tenant's.
    fn new_name(&self, row: &Row, caller: Caller) -> String {
        let home = match row.obj {
            Obj::Tenant(At::Dflt) => Some(Home::Default),
            Obj::Tenant(At::Glbx) => Some(Home::Globex),
            Obj::Tenant(_) => None,
            _ => Some(caller.home().unwrap_or(Home::Default)),
        };
        let prefix = home.map_or("n", Home::prefix);
        let name = format!("{prefix}-new-{}", self.n());
        if let Some(home) = home {
            self.note(home, &[&name]);
        }
        name
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        payload: Payload,
        mode: Mode,
    ) -> (u16, String) {
        let mut request = self
            .web
            .request(method, format!("{}{path}", self.server.base));
        // Where the page that sends the request is, as a browser says it.
        match mode {
            Mode::Header => {}
            Mode::CookieForeign => {
                let port: u16 = self
                    .server
                    .base
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                request = request
                    .header(
                        "origin",
                        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
                    )
                    .header("sec-fetch-site", "same-site");
            }
            Mode::CookieOwn => {
                request = request
                    .header("origin", &self.server.base)
                    .header("sec-fetch-site", "same-origin");
            }
        }
        request = match auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Key(key) => request.header("X-API-Key", key),
            Auth::Basic(id, secret) => request.basic_auth(id, Some(secret)),
            Auth::Cookie(token) => request.header("Cookie", format!("auth_token={token}")),
        };
        request = match payload {
            Payload::None => request,
            Payload::Json(value) => request.json(&value),
            Payload::Form(form) => request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form),
        };
        if path == "/api/v1/sql/ws" {
            request = request
                .header("Connection", "Upgrade")
                .header("Upgrade", "websocket")
                .header("Sec-WebSocket-Version", "13")
                .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        if status == 101 {
            return (status, String::new());
        }
        (status, response.text().await.unwrap())
    }

    /// Does this token or key still authenticate?
    async fn works(&self, secret: &str) -> bool {
        let (status, _) = self
            .send(
                GET,
                "/api/v1/auth/verify",
                &Auth::Bearer(secret.to_string()),
                Payload::None,
                Mode::Header,
            )
            .await;
        assert!(status == 200 || status == 401, "verify answered {status}");
        status == 200
    }

    /// A page as `fixture-root` sees it, without what changes by itself (last use).
    async fn look(&self, path: &str) -> String {
        let (status, mut body) = self.fx(GET, path, None).await;
        strip_last_use(&mut body);
        format!("{status} {body}")
    }

    /// What there is of the cell's object, and of what the row would create, to tell whether a
    /// refused request changed anything.
    async fn snapshot(&self, row: &Row, target: &Target, new: &str) -> String {
        let mut seen = Vec::new();
        if target.real {
            let name = &target.primary;
            match row.obj {
                Obj::Nothing => {}
                Obj::Token(_) => seen.push(self.look(&format!("/api/v1/tokens/{name}")).await),
                Obj::User(_) | Obj::Grant(..) => {
                    seen.push(self.look(&format!("/api/v1/users/{name}")).await);
                    seen.push(
                        self.look(&format!("/api/v1/users/{name}/tokens?all=true&limit=500"))
                            .await,
                    );
                }
                Obj::Svc(_) => seen.push(self.look(&format!("/api/v1/service-users/{name}")).await),
                Obj::Role(_) => seen.push(self.look(&format!("/api/v1/roles/{name}")).await),
                Obj::Tenant(_) => {
                    let tenants = self.look("/api/v1/tenants").await;
                    seen.push(tenants.contains(&format!(r#""name":"{name}""#)).to_string());
                }
            }
        }
        if row.body.contains("$NEW") {
            let script = row.body;
            let created = if row.sql {
                script.split(' ').take(3).collect::<Vec<_>>().join(" ")
            } else {
                row.path.to_string()
            };
            let quoted = format!(r#""name":"{new}""#);
            seen.push(match created.as_str() {
                "/api/v1/users" | "CREATE USER \"$NEW\"" => {
                    self.look(&format!("/api/v1/users/{new}")).await
                }
                "/api/v1/roles" | "CREATE ROLE \"$NEW\"" => self
                    .look("/api/v1/roles")
                    .await
                    .contains(&quoted)
                    .to_string(),
                "/api/v1/tenants" => self
                    .look("/api/v1/tenants")
                    .await
                    .contains(&quoted)
                    .to_string(),
                "/api/v1/service-users" | "CREATE SERVICE USER" => {
                    // By name, in the tenant the name was made for.
                    let by = if new.starts_with("g-") {
                        &self.globex_fx
                    } else {
                        &self.fx
                    };
                    let path = format!("/api/v1/service-users/{new}");
                    self.server.get(&path, by).await.0.to_string()
                }
                other => panic!("what does `{other}` create?"),
            });
        }
        seen.join("\n")
    }

    /// Runs one cell, on `shared` when given (the object of the row's refused cells).
    async fn cell(&self, row: &Row, caller: Caller, want: u16, shared: Option<&Target>) -> Cell {
        let me = if row.kills_caller() && caller != Caller::Anon {
            self.acting(caller).await
        } else {
            self.callers.lock().unwrap()[&caller].clone()
        };
        let own;
        let target = match shared {
            Some(target) => target,
            None => {
                own = self.resolve(row, &me).await;
                &own
            }
        };
        let new = self.new_name(row, caller);
        let fill = |text: &str| {
            text.replace("{role}", target.role.as_deref().unwrap_or(&target.primary))
                .replace("{prefix}", "default")
                .replace("{id}", &target.primary)
                .replace("{user}", &target.primary)
                .replace("{service_user}", &target.primary)
                .replace("{tenant}", &target.primary)
                .replace("$REF", &target.primary)
                .replace("$ROLE", target.role.as_deref().unwrap_or_default())
                .replace("$NAME", &target.name)
                .replace("$OWNER", &target.owner)
                .replace("$VALUE", &target.value)
                .replace("$NEW", &new)
                .replace("$LONG", &"x".repeat(1100))
        };
        let path = fill(row.path);
        let payload = if row.sql {
            Payload::Json(json!({ "sql": fill(row.body) }))
        } else if row.body.is_empty() {
            Payload::None
        } else if row.body.starts_with('{') {
            Payload::Json(serde_json::from_str(&fill(row.body)).unwrap())
        } else {
            Payload::Form(fill(row.body))
        };
        let auth = match &me.secret {
            None => Auth::None,
            Some(secret) if row.path.starts_with("/ui/") => Auth::Cookie(secret.clone()),
            Some(secret) if row.is_token_endpoint() => {
                Auth::Basic(target.primary.clone(), secret.clone())
            }
            Some(secret) if row.mode != Mode::Header => Auth::Cookie(secret.clone()),
            Some(secret) if caller.is_service() => Auth::Key(secret.clone()),
            Some(secret) => Auth::Bearer(secret.clone()),
        };
        let before = if row.mutates() && refusal(want) {
            Some(self.snapshot(row, target, &new).await)
        } else {
            None
        };
        let (status, text) = self
            .send(row.method.clone(), &path, &auth, payload, row.mode)
            .await;

        let mut problems = Vec::new();
        let mut got = status;
        if row.path == "/oauth/introspect" && status == 200 {
            let body: Value = serde_json::from_str(&text).unwrap();
            got = if body["active"] == true { ACT } else { INA };
        }
        if row.path == "/oauth/revoke" && status == 200 {
            got = NOP;
        }
        if row.kills()
            && let Some(secret) = &target.secret
        {
            let works = self.works(secret).await;
            if row.path == "/oauth/revoke" {
                if status == 200 && !works {
                    got = 200;
                } else if status != 200 && !works {
                    problems.push(format!("answered {status}, yet the token stopped working"));
                }
            } else if (200..300).contains(&status) == works {
                problems.push(if works {
                    format!("answered {status}, yet the object's credential still works")
                } else {
                    format!("answered {status}, yet the object's credential stopped working")
                });
            }
        }

        if let Some(before) = before
            && (status >= 400 || got == NOP)
        {
            let after = self.snapshot(row, target, &new).await;
            if after != before {
                problems.push(format!(
                    "refused ({}), yet something changed: {} => {}",
                    show(got),
                    clip(&before),
                    clip(&after)
                ));
            }
        }

        let mut tags: Vec<(String, &str)> = vec![
            (target.primary.clone(), "<ref>"),
            (target.role.clone().unwrap_or_default(), "<role>"),
            (target.name.clone(), "<name>"),
            (target.owner.clone(), "<owner>"),
            (target.value.clone(), "<value>"),
            (new, "<new>"),
            (me.name.clone(), "<me>"),
            (me.id.clone(), "<me-id>"),
        ];
        tags.retain(|(value, _)| value.len() > 2);
        tags.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        let mut normalized = text.clone();
        for (value, tag) in &tags {
            normalized = normalized.replace(value.as_str(), tag);
        }
        let foreign: Vec<Home> = match caller {
            Caller::Root => vec![],
            Caller::Anon => vec![Home::Default, Home::Globex],
            _ if caller.home() == Some(Home::Default) => vec![Home::Globex],
            _ => vec![Home::Default],
        };
        {
            let idents = self.idents.lock().unwrap();
            for home in foreign {
                if let Some(leaked) = idents
                    .get(&home)
                    .into_iter()
                    .flatten()
                    .find(|ident| normalized.contains(ident.as_str()))
                {
                    problems.push(format!(
                        "leaks `{leaked}` of tenant {}: {}",
                        home.tenant(),
                        clip(&text)
                    ));
                }
            }
        }
        Cell {
            status,
            got,
            comparable: comparable(&normalized),
            text,
            problems,
        }
    }

    /// Runs a table, a row at a time, the cells of a row at once: the read-only rows first,
    /// on the standing objects as they were made.
    async fn run(&self, rows: &[Row]) -> Vec<Vec<Cell>> {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&index| rows[index].mutates());
        let mut out: Vec<Option<Vec<Cell>>> = (0..rows.len()).map(|_| None).collect();
        for index in order {
            let row = &rows[index];
            // The cells expected to be refused share one object (each checks it is unchanged);
            // the others get their own.
            let shared = if row.mutates() && !row.involves_me() {
                let root = self.callers.lock().unwrap()[&Caller::Root].clone();
                Some(self.resolve(row, &root).await)
            } else {
                None
            };
            let cells = join_all(CALLERS.iter().zip(row.want).map(|(&caller, want)| {
                let shared = shared.as_ref().filter(|_| refusal(want));
                self.cell(row, caller, want, shared)
            }))
            .await;
            if row.kills_caller() {
                // The row may have revoked every token of its caller: renew the standing ones.
                for caller in [Caller::User, Caller::Admin, Caller::Other, Caller::Root] {
                    let acting = self.acting(caller).await;
                    self.callers.lock().unwrap().insert(caller, acting);
                }
            }
            out[index] = Some(cells);
        }
        out.into_iter().flatten().collect()
    }
}

/// What a cell answered.
struct Cell {
    status: u16,
    /// The status, or ACT/INA/NOP.
    got: u16,
    /// The body with the cell's own names blanked out (for HTML pages: the error message).
    comparable: String,
    text: String,
    problems: Vec<String>,
}

fn strip_last_use(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("last_used_at");
            map.values_mut().for_each(strip_last_use);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_last_use),
        _ => {}
    }
}

fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

fn comparable(normalized: &str) -> String {
    if normalized.trim_start().starts_with('<') {
        let marker = r#"id="error-message">"#;
        match normalized.find(marker) {
            Some(start) => {
                let rest = &normalized[start + marker.len()..];
                rest[..rest.find("</p>").unwrap_or(rest.len())].to_string()
            }
            None => String::new(),
        }
    } else {
        normalized.to_string()
    }
}

/// An expected refusal (of the request, or by RFC 7009's silent success).
fn refusal(want: u16) -> bool {
    want >= 300 || want == NOP || want == INA
}

fn show(value: u16) -> String {
    match value {
        ACT => "ACT".to_string(),
        INA => "INA".to_string(),
        NOP => "NOP".to_string(),
        other => other.to_string(),
    }
}

/// The object with every part that is another tenant's (for `caller`) made up; `None` when no
/// part is.
fn twin(obj: Obj, caller: Caller) -> Option<Obj> {
    let foreign_home = |home: Home| match caller {
        Caller::Root => false,
        Caller::Anon => true,
        _ => caller.home() != Some(home),
    };
    let who = |w: Who| match w {
        Who::Tu | Who::Ta | Who::Rt if foreign_home(Home::Default) => Who::No,
        Who::Gx if foreign_home(Home::Globex) => Who::No,
        other => other,
    };
    let at = |a: At| match a {
        At::Dflt if foreign_home(Home::Default) => At::Nowhere,
        At::Glbx if foreign_home(Home::Globex) => At::Nowhere,
        At::Fresh if caller != Caller::Root => At::Nowhere,
        other => other,
    };
    let made_up = match obj {
        Obj::Nothing => Obj::Nothing,
        Obj::Token(w) => Obj::Token(who(w)),
        Obj::User(w) => Obj::User(who(w)),
        Obj::Svc(w) => Obj::Svc(who(w)),
        Obj::Role(a) => Obj::Role(at(a)),
        Obj::Tenant(a) => Obj::Tenant(at(a)),
        Obj::Grant(w, a) => Obj::Grant(who(w), at(a)),
    };
    (made_up != obj).then_some(made_up)
}

/// Everything wrong with a table's cells: unexpected outcomes, leaks, effects, and answers
/// about another tenant's objects that differ from those about made-up ones.
fn failures(table: &str, rows: &[Row], cells: &[Vec<Cell>]) -> Vec<String> {
    let mut out = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        for (column, caller) in CALLERS.iter().enumerate() {
            let cell = &cells[index][column];
            let here = format!("{table}: {} as {caller:?}", row.describe());
            if cell.got != row.want[column] {
                out.push(format!(
                    "{here}: expected {}, got {}: {}",
                    show(row.want[column]),
                    show(cell.got),
                    clip(&cell.text)
                ));
            }
            for problem in &cell.problems {
                out.push(format!("{here}: {problem}"));
            }
            let Some(made_up) = twin(row.obj, *caller) else {
                continue;
            };
            let Some(other) = rows.iter().position(|other| {
                other.method == row.method
                    && other.path == row.path
                    && other.body == row.body
                    && other.obj == made_up
            }) else {
                out.push(format!("{here}: no row on {made_up:?} to compare with"));
                continue;
            };
            let other = &cells[other][column];
            if (cell.status, &cell.comparable) != (other.status, &other.comparable) {
                out.push(format!(
                    "{here}: answers unlike the same request on {made_up:?}: {} {} / {} {}",
                    cell.status,
                    clip(&cell.comparable),
                    other.status,
                    clip(&other.comparable)
                ));
            }
        }
    }
    out
}

/// Every operation of `/openapi.json` has a row (and every row a path that is served), every
/// kind of statement has a row, and no row is there twice.
async fn assert_complete(world: &World, http: &[Row], sql: &[Row]) {
    let (status, doc) = world.server.call(GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let rows: BTreeSet<(String, String)> = http
        .iter()
        .map(|row| {
            let path = row.path.split('?').next().unwrap_or_default();
            (row.method.to_string(), path.to_string())
        })
        .collect();
    let missing: Vec<_> = documented.difference(&rows).collect();
    assert!(
        missing.is_empty(),
        "operations of /openapi.json without a row in the matrix: {missing:?}"
    );
    let unknown: Vec<_> = rows
        .iter()
        .filter(|(_, path)| {
            !documented.iter().any(|(_, served)| served == path)
                && !path.starts_with("/ui/")
                && !UNDOCUMENTED.contains(&path.as_str())
        })
        .collect();
    assert!(unknown.is_empty(), "rows for paths not served: {unknown:?}");

    let mut kinds = BTreeSet::new();
    for row in sql {
        let script = row.body.replace('$', "x");
        let statements = jeton_sql::parse(&script)
            .unwrap_or_else(|err| panic!("the row `{}` does not parse: {err}", row.body));
        assert_eq!(statements.len(), 1, "{}", row.body);
        let kind = statement_kind(&statements[0]);
        assert!(kind < STATEMENT_KINDS, "raise STATEMENT_KINDS");
        kinds.insert(kind);
    }
    let uncovered: Vec<usize> = (0..STATEMENT_KINDS)
        .filter(|k| !kinds.contains(k))
        .collect();
    assert!(
        uncovered.is_empty(),
        "statement kinds (see statement_kind) without a row: {uncovered:?}"
    );

    let mut seen = HashSet::new();
    for row in http.iter().chain(sql) {
        assert!(
            seen.insert((row.method.to_string(), row.path, row.body, row.obj)),
            "a row is there twice: {}",
            row.describe()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    let started = std::time::Instant::now();
    let world = World::new().await;
    let http = http_table();
    let sql = sql_table();
    assert_complete(&world, &http, &sql).await;

    let http_cells = world.run(&http).await;
    let sql_cells = world.run(&sql).await;
    let mut all = failures("HTTP", &http, &http_cells);
    all.extend(failures("SQL", &sql, &sql_cells));
    eprintln!(
        "authorization matrix: {} HTTP rows + {} SQL rows, x {} callers = {} cells, in {:.1?}",
        http.len(),
        sql.len(),
        CALLERS.len(),
        (http.len() + sql.len()) * CALLERS.len(),
        started.elapsed()
    );
    assert!(
        all.is_empty(),
        "{} failures:\n{}",
        all.len(),
        all.join("\n")
    );
}

/// Issue 12, item 1: every HTTP row with the callers' credentials in the session cookie, from
/// a page on another port of Jeton's host (same site, so `SameSite=Strict` lets the cookie
/// through) and from Jeton's own origin; see [`cookie_rows`] for what each cell must answer. The
/// same checks of leaks, isolation and effects apply to every cell: a refused request changed
/// nothing and left the object's credential working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_with_the_session_cookie() {
    let started = std::time::Instant::now();
    let world = World::new().await;
    let http = http_table();
    let mut all = Vec::new();
    let mut cells = 0;
    for (mode, name) in [
        (Mode::CookieForeign, "cookie from another origin"),
        (Mode::CookieOwn, "cookie from Jeton's origin"),
    ] {
        let rows = cookie_rows(&http, mode);
        let refused = rows
            .iter()
            .flat_map(|row| row.want.iter())
            .filter(|want| **want == 403)
            .count();
        assert!(refused > 0 || mode == Mode::CookieOwn);
        let results = world.run(&rows).await;
        cells += rows.len() * CALLERS.len();
        all.extend(failures(name, &rows, &results));
    }
    eprintln!(
        "authorization matrix with the session cookie: {} HTTP rows x 2 origins x {} callers = {cells} cells, in {:.1?}",
        http.len(),
        CALLERS.len(),
        started.elapsed()
    );
    assert!(
        all.is_empty(),
        "{} failures:\n{}",
        all.len(),
        all.join("\n")
    );
}

// ------------------------------------------------------------------------------------------
// The failures seen in the seed system.

/// Creates a user (no password) and answers an API token of it, made by `root`.
async fn member(
    server: &Server,
    root: &str,
    name: &str,
    level: &str,
    tenant: Option<&str>,
) -> String {
    let mut body = json!({"username": name, "access_level": level});
    if let Some(tenant) = tenant {
        body["tenant"] = json!(tenant);
    }
    let (status, created) = server.post("/api/v1/users", root, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, token) = server.create_token(root, json!({ "for_user": name })).await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    token["token"].as_str().unwrap().to_string()
}

/// Creates a service user; answers its id and key.
async fn service_user(server: &Server, by: &str, body: Value) -> (String, String) {
    let (status, created) = server.post("/api/v1/service-users", by, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["id"].as_str().unwrap().to_string(),
        created["api_key"].as_str().unwrap().to_string(),
    )
}

async fn sql(server: &Server, token: &str, script: &str) -> (StatusCode, Value) {
    server
        .post("/api/v1/sql", token, json!({ "sql": script }))
        .await
}

/// A form post to an OAuth endpoint, with a bearer credential when given.
async fn oauth(
    server: &Server,
    path: &str,
    bearer: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = server
        .http
        .post(format!("{}{path}", server.base))
        .form(form);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An OAuth access token from the client-credentials grant.
async fn access_token(server: &Server, id: &str, key: &str) -> String {
    let (status, body) = client_credentials(server, id, key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn client_credentials(server: &Server, id: &str, key: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", key),
    ];
    oauth(server, "/oauth/token", None, &form).await
}

/// Does this token or key authenticate (forward auth, and `GET /api/v1/me`, which agree)?
async fn works(server: &Server, credential: &str) -> bool {
    let verify = server.get("/api/v1/auth/verify", credential).await.0;
    let me = server.get("/api/v1/me", credential).await.0;
    assert_eq!(verify, me, "forward auth and /me disagree");
    assert!(verify == StatusCode::OK || verify == StatusCode::UNAUTHORIZED);
    verify == StatusCode::OK
}

/// What introspection by `by` says of `token`.
async fn active(server: &Server, by: &str, token: &str) -> bool {
    let (status, body) = oauth(server, "/oauth/introspect", Some(by), &[("token", token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["active"] == true
}

/// Seed failure: "a tenant admin can create a root service user whose token reaches every
/// tenant".
#[tokio::test]
async fn a_tenant_admin_cannot_create_a_service_user_above_its_own_level() {
    let server = spawn().await;
    let root = server.admin().await;
    let (status, _) = server
        .post("/api/v1/tenants", &root, json!({"name": "globex"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    member(&server, &root, "gina", "tenant-user", Some("globex")).await;
    let dora = member(&server, &root, "dora", "tenant-admin", None).await;

    // Root, in every spelling, over HTTP and in the command language: refused.
    for body in [
        json!({"name": "root-bot", "access_level": "root"}),
        json!({"name": "root-bot", "role": "Root"}),
        json!({"name": "root-bot", "access_level": "ROOT", "tenant": "default"}),
    ] {
        let (status, answer) = server.post("/api/v1/service-users", &dora, body).await;
        assert_error(status, &answer, StatusCode::FORBIDDEN);
    }
    let (status, answer) = sql(
        &server,
        &dora,
        "CREATE SERVICE USER \"root-bot\" ACCESS LEVEL 'root';",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // Its own level is allowed; a tenant-admin service user cannot go higher either.
    let (ops_id, ops_key) = service_user(
        &server,
        &dora,
        json!({"name": "ops", "role": "TenantAdmin"}),
    )
    .await;
    let (status, answer) = server
        .post(
            "/api/v1/service-users",
            &ops_key,
            json!({"name": "root-bot", "access_level": "root"}),
        )
        .await;
    assert_error(status, &answer, StatusCode::FORBIDDEN);
    // Nor can either raise an existing one to root.
    let (etl_id, _) = service_user(&server, &dora, json!({"name": "etl"})).await;
    for by in [&dora, &ops_key] {
        for id in [&etl_id, &ops_id] {
            let (status, answer) = server
                .call(
                    PATCH,
                    &format!("/api/v1/service-users/{id}"),
                    Some(by),
                    Some(json!({"access_level": "root"})),
                )
                .await;
            assert_error(status, &answer, StatusCode::FORBIDDEN);
        }
    }
    // None of it happened.
    let (status, page) = server.get("/api/v1/service-users", &root).await;
    assert_eq!(status, StatusCode::OK);
    let levels: Vec<(&str, &str)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["access_level"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        vec![("etl", "tenant-user"), ("ops", "tenant-admin")],
        "{page}"
    );
    // The tenant-admin service user's token reaches its own tenant only.
    let token = access_token(&server, &ops_id, &ops_key).await;
    let (status, _) = server.get("/api/v1/users/dora", &token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.get("/api/v1/users/gina", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.get("/api/v1/tenants", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Root may.
    let (status, _) = server
        .post(
            "/api/v1/service-users",
            &root,
            json!({"name": "root-bot", "access_level": "root"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// Seed failure: "a tenant admin can rotate another tenant's key".
#[tokio::test]
async fn rotating_another_tenants_key_answers_not_found_and_changes_nothing() {
    let server = spawn().await;
    let root = server.admin().await;
    let (status, _) = server
        .post("/api/v1/tenants", &root, json!({"name": "globex"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let dora = member(&server, &root, "dora", "tenant-admin", None).await;
    let gabe = member(&server, &root, "gabe", "tenant-admin", Some("globex")).await;
    let (id, key) = service_user(&server, &dora, json!({"name": "etl"})).await;
    let token = access_token(&server, &id, &key).await;
    let made_up = "01900000-0000-7000-8000-00000000beef";

    for action in ["rotate-key", "disable", "enable"] {
        let (status, body) = server
            .post(
                &format!("/api/v1/service-users/{id}/{action}"),
                &gabe,
                json!({}),
            )
            .await;
        let (missing_status, missing) = server
            .post(
                &format!("/api/v1/service-users/{made_up}/{action}"),
                &gabe,
                json!({}),
            )
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(
            (status, body.to_string().replace(&id, "ID")),
            (missing_status, missing.to_string().replace(made_up, "ID")),
            "{action}"
        );
    }
    let (status, _) = server
        .call(
            DELETE,
            &format!("/api/v1/service-users/{id}"),
            Some(&gabe),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // By name it is looked up in gabe's own tenant: not there either.
    let (status, _) = server
        .post("/api/v1/service-users/etl/rotate-key", &gabe, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for script in [
        format!("ALTER SERVICE USER \"{id}\" ROTATE KEY;"),
        "ALTER SERVICE USER etl ROTATE KEY;".to_string(),
    ] {
        let (status, body) = sql(&server, &gabe, &script).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    // The key and its tokens work as before.
    assert!(works(&server, &key).await);
    assert!(works(&server, &token).await);

    // Its own tenant's admin can.
    let (status, rotated) = server
        .post(
            &format!("/api/v1/service-users/{id}/rotate-key"),
            &dora,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert!(!works(&server, &key).await);
    assert!(works(&server, rotated["api_key"].as_str().unwrap()).await);
}

/// What the server's hourly maintenance does: forget the revocations of tokens that have
/// expired. Then, as a restart (or another instance) would, the directory again from the store.
async fn cleanup(service: &jeton_server::service::Service) {
    let now = service.now();
    service.store().purge_revocations(now).await.unwrap();
    service.directory().purge_revocations(now);
    service
        .directory()
        .reload(service.store().as_ref(), now)
        .await
        .unwrap();
}

/// Seed failure: "a revocation record expires after 24 hours, so a revoked long-lived token
/// works again".
#[tokio::test]
async fn a_revoked_token_stays_refused_after_cleanups_until_its_own_expiry() {
    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;
    let (server, service) = spawn_with_service(|_| {}).await;
    let session = server.admin().await;
    // A session lasts 12 hours; this test lives a month.
    let (_, root) = server
        .create_token(&session, json!({"expires_in": "365d"}))
        .await;
    let root = root["token"].as_str().unwrap().to_string();
    let alice = member(&server, &root, "alice", "tenant-user", None).await;
    let mut tokens = HashMap::new();
    for (name, days) in [("revoked", "30d"), ("deleted", "30d"), ("kept", "60d")] {
        let (status, created) = server
            .create_token(&alice, json!({"name": name, "expires_in": days}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        tokens.insert(name, created);
    }
    let value = |name: &str| tokens[name]["token"].as_str().unwrap().to_string();
    let id = |name: &str| tokens[name]["id"].as_str().unwrap().to_string();
    let (status, _) = server
        .post(
            &format!("/api/v1/tokens/revoke/{}", id("revoked")),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(
            DELETE,
            &format!("/api/v1/tokens/{}", id("deleted")),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // An OAuth access token, which has no record, revoked by value.
    let (svc, key) = service_user(&server, &root, json!({"name": "etl"})).await;
    let oauth_token = access_token(&server, &svc, &key).await;
    let (status, _) = oauth(
        &server,
        "/oauth/revoke",
        Some(&root),
        &[("token", &oauth_token)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let refused = ["revoked", "deleted"];
    for (advance, label) in [(0, "now"), (30 * 60, "after 30 minutes")] {
        server.clock.advance(advance);
        cleanup(&service).await;
        assert!(!works(&server, &oauth_token).await, "OAuth token, {label}");
        for name in refused {
            assert!(!works(&server, &value(name)).await, "{name}, {label}");
        }
        assert!(works(&server, &value("kept")).await, "{label}");
    }
    // Past the seed system's 24 hours, and up to the tokens' own expiry: still refused, and
    // the revocations still on record.
    let start = service.now() - 30 * 60;
    for (at, label) in [(25 * HOUR, "after 25 hours"), (29 * DAY, "after 29 days")] {
        server.clock.advance(start + at - service.now());
        cleanup(&service).await;
        for name in refused {
            assert!(!works(&server, &value(name)).await, "{name}, {label}");
        }
        assert!(works(&server, &value("kept")).await, "{label}");
        let on_record: Vec<String> = service
            .store()
            .list_revocations(service.now())
            .await
            .unwrap()
            .iter()
            .map(|r| r.token_id.to_string())
            .collect();
        for name in refused {
            assert!(on_record.contains(&id(name)), "{name}, {label}");
        }
    }
    // Past their expiry they are refused for that reason, and only then forgotten.
    server.clock.advance(start + 31 * DAY - service.now());
    cleanup(&service).await;
    for name in refused {
        assert!(!works(&server, &value(name)).await, "{name}, expired");
    }
    assert!(works(&server, &value("kept")).await);
    let on_record = service
        .store()
        .list_revocations(service.now())
        .await
        .unwrap();
    assert!(on_record.is_empty(), "{on_record:?}");
}

/// Seed failure: "deactivating a user or a service user leaves its tokens (and even its
/// logins) working".
#[tokio::test]
async fn a_deactivated_users_tokens_stop_working_at_once() {
    let server = spawn().await;
    let root = server.admin().await;
    let dora = member(&server, &root, "dora", "tenant-admin", None).await;
    let session = server.user(&dora, "alice", "tenant-user", None).await;
    let (_, api) = server.create_token(&session, json!({"name": "ci"})).await;
    let api = api["token"].as_str().unwrap().to_string();
    for token in [&session, &api] {
        assert!(works(&server, token).await);
    }
    let (status, body) = server
        .call(
            PATCH,
            "/api/v1/users/alice",
            Some(&dora),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for token in [&session, &api] {
        assert!(!works(&server, token).await);
        assert!(!active(&server, &dora, token).await);
        let (status, _) = sql(&server, token, "SHOW API TOKENS;").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = server
        .call(
            POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "alice", "password": "password-123"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The same through the command language.
    let bob = member(&server, &root, "bob", "tenant-user", None).await;
    let (status, body) = sql(&server, &dora, "ALTER USER bob SET ACTIVE FALSE;").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!works(&server, &bob).await);

    // A disabled service user: its key and its OAuth tokens stop, and resume when enabled.
    let (id, key) = service_user(&server, &dora, json!({"name": "etl"})).await;
    let token = access_token(&server, &id, &key).await;
    for (action, working) in [("disable", false), ("enable", true)] {
        let (status, body) = server
            .post(
                &format!("/api/v1/service-users/{id}/{action}"),
                &dora,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(works(&server, &key).await, working, "key after {action}");
        assert_eq!(
            works(&server, &token).await,
            working,
            "token after {action}"
        );
        assert_eq!(
            client_credentials(&server, &id, &key).await.0 == StatusCode::OK,
            working
        );
    }
    let (status, body) = sql(&server, &dora, "ALTER SERVICE USER etl SET ACTIVE FALSE;").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!works(&server, &key).await);
    assert!(!works(&server, &token).await);
}

/// Seed failure: "rotation ... the old key keeps working", and with it the OAuth tokens issued
/// from it.
#[tokio::test]
async fn a_rotated_keys_oauth_tokens_stop_working() {
    let server = spawn().await;
    let root = server.admin().await;
    let dora = member(&server, &root, "dora", "tenant-admin", None).await;
    let (id, first_key) = service_user(&server, &dora, json!({"name": "etl"})).await;
    let first = access_token(&server, &id, &first_key).await;
    assert!(works(&server, &first).await);

    let rotate = |body: Value| {
        let server = &server;
        let dora = &dora;
        let path = format!("/api/v1/service-users/{id}/rotate-key");
        async move {
            let (status, rotated) = server.post(&path, dora, body).await;
            assert_eq!(status, StatusCode::OK, "{rotated}");
            rotated["api_key"].as_str().unwrap().to_string()
        }
    };
    // Without a grace period: the old key and its tokens stop at once.
    let second_key = rotate(json!({})).await;
    assert!(!works(&server, &first_key).await);
    assert!(!works(&server, &first).await);
    assert!(!active(&server, &dora, &first).await);
    let (status, body) = client_credentials(&server, &id, &first_key).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );
    let exchange = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", first.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
    ];
    let (status, body) = oauth(&server, "/oauth/token", None, &exchange).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let second = access_token(&server, &id, &second_key).await;
    assert!(works(&server, &second).await);

    // With one: the old key and its tokens work until the new key is first used.
    let third_key = rotate(json!({"grace": "1h"})).await;
    assert!(works(&server, &second_key).await);
    assert!(works(&server, &second).await);
    let third = access_token(&server, &id, &third_key).await;
    assert!(!works(&server, &second_key).await);
    assert!(!works(&server, &second).await);
    assert!(works(&server, &third).await);

    // Through the command language.
    let (status, body) = sql(&server, &dora, "ALTER SERVICE USER etl ROTATE KEY;").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!works(&server, &third_key).await);
    assert!(!works(&server, &third).await);
}
