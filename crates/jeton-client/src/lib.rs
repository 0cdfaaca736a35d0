//! A typed async client for Jeton's JSON API (`/api/v1`, `/healthz`, `/readyz`): one method per
//! endpoint, taking and returning the wire types of `jeton-api`, and one error type,
//! [`ClientError`], that tells "the server said no" apart from "the server cannot be reached".
//!
//! This crate owns the HTTP conversation only: building URLs (every path segment
//! percent-encoded), presenting the credential, and turning answers into values or errors. It
//! holds no rules (those are the server's) and no state besides the base URL and the credential;
//! it never stores, logs or prints a credential, and never puts one in a URL.
//!
//! ```no_run
//! # async fn example() -> Result<(), jeton_client::ClientError> {
//! use jeton_api::CreateTokenRequest;
//!
//! let client = jeton_client::Client::new("http://127.0.0.1:8080")?.with_token("eyJ...");
//! let created = client
//!     .create_token(&CreateTokenRequest {
//!         comment: Some("CI pipeline".into()),
//!         expires_in: Some("30d".into()),
//!         ..Default::default()
//!     })
//!     .await?;
//! println!("{} expires at {}", created.info.name, created.info.expires_at);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::time::Duration;

use jeton_api::{
    AuditEvent, AuditQuery, CreateRoleRequest, CreateServiceUserRequest, CreateTenantRequest,
    CreateTokenRequest, CreateUserRequest, CreatedToken, EffectivePolicy, ErrorBody, Health,
    LoginRequest, LoginResponse, Me, Page, PageQuery, RevokedCount, Role, RotateKeyRequest,
    ServiceUser, ServiceUserListQuery, ServiceUserWithKey, SetPolicyRequest, SqlRequest,
    SqlResponse, Tenant, Token, TokenListQuery, UpdateServiceUserRequest, UpdateTokenRequest,
    UpdateUserRequest, User,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long to wait for a TCP (and TLS) connection before calling the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in total.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest piece of a non-JSON answer quoted in an error.
const QUOTE_LIMIT: usize = 200;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status (4xx or 5xx).
    #[error("{message} ({status})")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The error's machine-readable code (`unauthenticated`, `not_found`, ...), or
        /// `http_<status>` when the body was not Jeton's error format.
        code: String,
        /// The server's message, or the raw body (or the status's reason) when the body was not
        /// Jeton's error format.
        message: String,
    },
    /// No answer: the connection was refused, the name did not resolve, or the request timed out.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// The server answered, but not with what this endpoint returns.
    #[error("unexpected answer from the server: {0}")]
    InvalidResponse(String),
    /// The request could not be built from the caller's input (a base URL that is not
    /// `http(s)://...`, or an empty, `.` or `..` path segment).
    #[error("{0}")]
    InvalidInput(String),
}

impl ClientError {
    /// The HTTP status of an [`ClientError::Api`] error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A connection to one Jeton server, with or without a credential (a token or an API key, sent
/// as `Authorization: Bearer`). Cheap to clone.
#[derive(Clone)]
pub struct Client {
    base_url: Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url.as_str())
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:8080`; a path prefix such as
    /// `https://example.com/jeton` is kept). Sends no credential until [`Client::with_token`].
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let base_url = parse_base_url(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // A redirect could carry the credential to another origin: refuse to follow any.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("jeton-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::InvalidInput(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            base_url,
            token: None,
            http,
        })
    }

    /// The same client, presenting `token` (a JWT or an API key) on every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// True when a credential is presented.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    // --- operations -------------------------------------------------------------------------

    /// `GET /healthz`: the process is up.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get(&["healthz"]).await
    }

    /// `GET /readyz`: the process is up and its database answers.
    pub async fn ready(&self) -> Result<Health, ClientError> {
        self.get(&["readyz"]).await
    }

    // --- identity ---------------------------------------------------------------------------

    /// `POST /api/v1/auth/login`: exchange a username and password for a session token.
    pub async fn login(&self, request: &LoginRequest) -> Result<LoginResponse, ClientError> {
        self.send_json(Method::POST, &api(&["auth", "login"]), request)
            .await
    }

    /// `GET /api/v1/me`: who the presented credential belongs to.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.get(&api(&["me"])).await
    }

    // --- tokens -----------------------------------------------------------------------------

    /// `POST /api/v1/tokens`: create an API token; its value is in the answer, once.
    pub async fn create_token(
        &self,
        request: &CreateTokenRequest,
    ) -> Result<CreatedToken, ClientError> {
        self.send_json(Method::POST, &api(&["tokens"]), request)
            .await
    }

    /// `GET /api/v1/tokens`: one page of the caller's tokens (or, for administrators, another
    /// user's with `for_user`).
    pub async fn list_tokens(&self, query: &TokenListQuery) -> Result<Page<Token>, ClientError> {
        self.get_query(&api(&["tokens"]), query).await
    }

    /// `GET /api/v1/tokens/{id}`.
    pub async fn get_token(&self, id: &str) -> Result<Token, ClientError> {
        self.get(&api(&["tokens", id])).await
    }

    /// `PATCH /api/v1/tokens/{id}`: change a token's comment.
    pub async fn update_token(
        &self,
        id: &str,
        request: &UpdateTokenRequest,
    ) -> Result<Token, ClientError> {
        self.send_json(Method::PATCH, &api(&["tokens", id]), request)
            .await
    }

    /// `DELETE /api/v1/tokens/{id}`: delete a token record (administrators); answers the
    /// deleted record.
    pub async fn delete_token(&self, id: &str) -> Result<Token, ClientError> {
        self.send(Method::DELETE, &api(&["tokens", id])).await
    }

    /// `POST /api/v1/tokens/revoke/self`: revoke the presented token (logout).
    pub async fn revoke_self(&self) -> Result<Token, ClientError> {
        self.send(Method::POST, &api(&["tokens", "revoke", "self"]))
            .await
    }

    /// `POST /api/v1/tokens/revoke/{id}`: revoke one token by id.
    pub async fn revoke_token(&self, id: &str) -> Result<Token, ClientError> {
        self.send(Method::POST, &api(&["tokens", "revoke", id]))
            .await
    }

    // --- users ------------------------------------------------------------------------------

    /// `GET /api/v1/users`: one page of users.
    pub async fn list_users(&self, query: &PageQuery) -> Result<Page<User>, ClientError> {
        self.get_query(&api(&["users"]), query).await
    }

    /// `POST /api/v1/users`.
    pub async fn create_user(&self, request: &CreateUserRequest) -> Result<User, ClientError> {
        self.send_json(Method::POST, &api(&["users"]), request)
            .await
    }

    /// `GET /api/v1/users/{user}` (`user` is an id or a username).
    pub async fn get_user(&self, user: &str) -> Result<User, ClientError> {
        self.get(&api(&["users", user])).await
    }

    /// `PATCH /api/v1/users/{user}`.
    pub async fn update_user(
        &self,
        user: &str,
        request: &UpdateUserRequest,
    ) -> Result<User, ClientError> {
        self.send_json(Method::PATCH, &api(&["users", user]), request)
            .await
    }

    /// `DELETE /api/v1/users/{user}`.
    pub async fn delete_user(&self, user: &str) -> Result<(), ClientError> {
        self.send_no_content(Method::DELETE, &api(&["users", user]))
            .await
    }

    /// `GET /api/v1/users/{user}/tokens`: one page of a user's tokens (`for_user` in the query
    /// is ignored: the path names the user).
    pub async fn list_user_tokens(
        &self,
        user: &str,
        query: &TokenListQuery,
    ) -> Result<Page<Token>, ClientError> {
        let query = TokenListQuery {
            for_user: None,
            ..query.clone()
        };
        self.get_query(&api(&["users", user, "tokens"]), &query)
            .await
    }

    /// `POST /api/v1/users/{user}/tokens/revoke`: revoke every token of a user.
    pub async fn revoke_user_tokens(&self, user: &str) -> Result<RevokedCount, ClientError> {
        self.send(Method::POST, &api(&["users", user, "tokens", "revoke"]))
            .await
    }

    /// `GET /api/v1/users/{user}/token-policy`: the API-token limit that applies to a user.
    pub async fn get_user_policy(&self, user: &str) -> Result<EffectivePolicy, ClientError> {
        self.get(&api(&["users", user, "token-policy"])).await
    }

    /// `PUT /api/v1/users/{user}/token-policy`.
    pub async fn set_user_policy(
        &self,
        user: &str,
        request: &SetPolicyRequest,
    ) -> Result<EffectivePolicy, ClientError> {
        self.send_json(Method::PUT, &api(&["users", user, "token-policy"]), request)
            .await
    }

    /// `DELETE /api/v1/users/{user}/token-policy`.
    pub async fn unset_user_policy(&self, user: &str) -> Result<EffectivePolicy, ClientError> {
        self.send(Method::DELETE, &api(&["users", user, "token-policy"]))
            .await
    }

    /// `PUT /api/v1/users/{user}/roles/{role}`: grant a role.
    pub async fn grant_role(&self, user: &str, role: &str) -> Result<User, ClientError> {
        self.send(Method::PUT, &api(&["users", user, "roles", role]))
            .await
    }

    /// `DELETE /api/v1/users/{user}/roles/{role}`: take a role away.
    pub async fn revoke_role(&self, user: &str, role: &str) -> Result<User, ClientError> {
        self.send(Method::DELETE, &api(&["users", user, "roles", role]))
            .await
    }

    // --- service users ----------------------------------------------------------------------

    /// `POST /api/v1/service-users`: create a service user; its API key is in the answer, once.
    pub async fn create_service_user(
        &self,
        request: &CreateServiceUserRequest,
    ) -> Result<ServiceUserWithKey, ClientError> {
        self.send_json(Method::POST, &api(&["service-users"]), request)
            .await
    }

    /// `GET /api/v1/service-users`: one page of service users (the caller's tenant, or for root
    /// every tenant unless `tenant` narrows it).
    pub async fn list_service_users(
        &self,
        query: &ServiceUserListQuery,
    ) -> Result<Page<ServiceUser>, ClientError> {
        self.get_query(&api(&["service-users"]), query).await
    }

    /// `GET /api/v1/service-users/{service_user}` (`service_user` is an id, or a name in the
    /// caller's tenant).
    pub async fn get_service_user(&self, service_user: &str) -> Result<ServiceUser, ClientError> {
        self.get(&api(&["service-users", service_user])).await
    }

    /// `PATCH /api/v1/service-users/{service_user}`.
    pub async fn update_service_user(
        &self,
        service_user: &str,
        request: &UpdateServiceUserRequest,
    ) -> Result<ServiceUser, ClientError> {
        self.send_json(
            Method::PATCH,
            &api(&["service-users", service_user]),
            request,
        )
        .await
    }

    /// `POST /api/v1/service-users/{service_user}/disable`: its key and every token issued
    /// from it stop working at once.
    pub async fn disable_service_user(
        &self,
        service_user: &str,
    ) -> Result<ServiceUser, ClientError> {
        self.send(
            Method::POST,
            &api(&["service-users", service_user, "disable"]),
        )
        .await
    }

    /// `POST /api/v1/service-users/{service_user}/enable`.
    pub async fn enable_service_user(
        &self,
        service_user: &str,
    ) -> Result<ServiceUser, ClientError> {
        self.send(
            Method::POST,
            &api(&["service-users", service_user, "enable"]),
        )
        .await
    }

    /// `DELETE /api/v1/service-users/{service_user}`.
    pub async fn delete_service_user(&self, service_user: &str) -> Result<(), ClientError> {
        self.send_no_content(Method::DELETE, &api(&["service-users", service_user]))
            .await
    }

    /// `POST /api/v1/service-users/{service_user}/rotate-key`: a new API key, in the answer
    /// once; the old one stops at once, or after `grace`.
    pub async fn rotate_service_user_key(
        &self,
        service_user: &str,
        request: &RotateKeyRequest,
    ) -> Result<ServiceUserWithKey, ClientError> {
        self.send_json(
            Method::POST,
            &api(&["service-users", service_user, "rotate-key"]),
            request,
        )
        .await
    }

    // --- roles ------------------------------------------------------------------------------

    /// `GET /api/v1/roles`: one page of roles.
    pub async fn list_roles(&self, query: &PageQuery) -> Result<Page<Role>, ClientError> {
        self.get_query(&api(&["roles"]), query).await
    }

    /// `POST /api/v1/roles`.
    pub async fn create_role(&self, request: &CreateRoleRequest) -> Result<Role, ClientError> {
        self.send_json(Method::POST, &api(&["roles"]), request)
            .await
    }

    /// `GET /api/v1/roles/{role}`.
    pub async fn get_role(&self, role: &str) -> Result<Role, ClientError> {
        self.get(&api(&["roles", role])).await
    }

    /// `DELETE /api/v1/roles/{role}`.
    pub async fn delete_role(&self, role: &str) -> Result<(), ClientError> {
        self.send_no_content(Method::DELETE, &api(&["roles", role]))
            .await
    }

    /// `PUT /api/v1/roles/{role}/token-policy`.
    pub async fn set_role_policy(
        &self,
        role: &str,
        request: &SetPolicyRequest,
    ) -> Result<Role, ClientError> {
        self.send_json(Method::PUT, &api(&["roles", role, "token-policy"]), request)
            .await
    }

    /// `DELETE /api/v1/roles/{role}/token-policy`.
    pub async fn unset_role_policy(&self, role: &str) -> Result<Role, ClientError> {
        self.send(Method::DELETE, &api(&["roles", role, "token-policy"]))
            .await
    }

    // --- signing keys and the change feed -----------------------------------------------------

    /// `GET /api/v1/signing-keys` (root).
    pub async fn list_signing_keys(&self) -> Result<Vec<jeton_api::SigningKey>, ClientError> {
        self.get(&api(&["signing-keys"])).await
    }

    /// `POST /api/v1/signing-keys/rotate` (root): the new signing key.
    pub async fn rotate_signing_key(&self) -> Result<jeton_api::SigningKey, ClientError> {
        self.send(Method::POST, &api(&["signing-keys", "rotate"]))
            .await
    }

    /// `POST /api/v1/signing-keys/{kid}/revoke` (root): withdraws a retired key at once.
    pub async fn revoke_signing_key(
        &self,
        kid: &str,
    ) -> Result<jeton_api::SigningKey, ClientError> {
        self.send(Method::POST, &api(&["signing-keys", kid, "revoke"]))
            .await
    }

    /// `GET /api/v1/changes` (root access level): changes after `after`, waiting up to `wait`
    /// seconds for one.
    pub async fn changes(
        &self,
        after: Option<i64>,
        wait: u64,
    ) -> Result<jeton_api::ChangePage, ClientError> {
        let query = jeton_api::ChangeQuery {
            after,
            wait: Some(wait),
        };
        self.get_query(&api(&["changes"]), &query).await
    }

    // --- tenants ----------------------------------------------------------------------------

    /// `GET /api/v1/tenants`: one page of tenants.
    pub async fn list_tenants(&self, query: &PageQuery) -> Result<Page<Tenant>, ClientError> {
        self.get_query(&api(&["tenants"]), query).await
    }

    /// `POST /api/v1/tenants`.
    pub async fn create_tenant(
        &self,
        request: &CreateTenantRequest,
    ) -> Result<Tenant, ClientError> {
        self.send_json(Method::POST, &api(&["tenants"]), request)
            .await
    }

    /// `DELETE /api/v1/tenants/{tenant}`.
    pub async fn delete_tenant(&self, tenant: &str) -> Result<(), ClientError> {
        self.send_no_content(Method::DELETE, &api(&["tenants", tenant]))
            .await
    }

    // --- audit ------------------------------------------------------------------------------

    /// `GET /api/v1/audit`: one page of audit events.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Page<AuditEvent>, ClientError> {
        self.get_query(&api(&["audit"]), query).await
    }

    // --- command language -------------------------------------------------------------------

    /// `POST /api/v1/sql`: run a script of the command language (`SHOW API TOKENS; ...`).
    ///
    /// The answer is returned both when every statement ran (200) and when one failed with an
    /// error status whose body is a [`SqlResponse`] (400 for a syntax error, 403, 404, 409, 422,
    /// ...): then `error` says why and where, and `results` holds what the statements before it
    /// returned (they did run), so a caller can show those before the error. Any other answer
    /// (401, a proxy's 502, an unreachable server) is an error as for every other method.
    ///
    /// ```no_run
    /// # async fn example(client: &jeton_client::Client) -> Result<(), jeton_client::ClientError> {
    /// let answer = client.sql("CREATE API TOKEN ci MAX DURATION '30d';").await?;
    /// if let Some(error) = &answer.error {
    ///     eprintln!("error: {}", error.message);
    /// }
    /// for result in &answer.results {
    ///     println!("{}: {:?}", result.statement, result.rows);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn sql(&self, script: &str) -> Result<SqlResponse, ClientError> {
        self.sql_with_status(script)
            .await
            .map(|(_, response)| response)
    }

    /// Like [`Client::sql`], with the answer's HTTP status: 200 when every statement ran,
    /// otherwise the failing statement's error status (which `error.code` names in words), for
    /// callers that print it (`... already exists (409)`).
    pub async fn sql_with_status(&self, script: &str) -> Result<(u16, SqlResponse), ClientError> {
        let request = self
            .request(Method::POST, &api(&["sql"]))?
            .json(&SqlRequest {
                sql: script.to_string(),
            });
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok((status.as_u16(), parse_json(response).await?));
        }
        let body = response.text().await.unwrap_or_default();
        match serde_json::from_str::<SqlResponse>(&body) {
            Ok(answer) if answer.error.is_some() => Ok((status.as_u16(), answer)),
            _ => Err(api_error(status, &body)),
        }
    }

    // --- plumbing ---------------------------------------------------------------------------

    fn url(&self, segments: &[&str]) -> Result<Url, ClientError> {
        let mut url = self.base_url.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| ClientError::InvalidInput("the server URL has no path".into()))?;
            path.pop_if_empty();
            for segment in segments {
                // `url` silently drops `.` and `..` segments, which would turn
                // `users/..` into another endpoint; refuse them instead.
                if segment.is_empty() || *segment == "." || *segment == ".." {
                    return Err(ClientError::InvalidInput(format!(
                        "'{segment}' is not a valid id or name"
                    )));
                }
                path.push(segment);
            }
        }
        Ok(url)
    }

    fn request(&self, method: Method, segments: &[&str]) -> Result<RequestBuilder, ClientError> {
        let request = self.http.request(method, self.url(segments)?);
        Ok(match &self.token {
            // `bearer_auth` marks the header sensitive, so it is never printed by reqwest.
            Some(token) => request.bearer_auth(token),
            None => request,
        })
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        self.send(Method::GET, segments).await
    }

    async fn get_query<T: DeserializeOwned, Q: Serialize>(
        &self,
        segments: &[&str],
        query: &Q,
    ) -> Result<T, ClientError> {
        let request = self.request(Method::GET, segments)?.query(query);
        parse_json(execute(request).await?).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
    ) -> Result<T, ClientError> {
        parse_json(execute(self.request(method, segments)?).await?).await
    }

    async fn send_json<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> Result<T, ClientError> {
        let request = self.request(method, segments)?.json(body);
        parse_json(execute(request).await?).await
    }

    async fn send_no_content(&self, method: Method, segments: &[&str]) -> Result<(), ClientError> {
        execute(self.request(method, segments)?).await?;
        Ok(())
    }
}

/// Fetches every page of a paged list: calls `fetch` with `None`, then with each answer's
/// `next_cursor`, until a page has none.
///
/// ```no_run
/// # async fn example(client: &jeton_client::Client) -> Result<(), jeton_client::ClientError> {
/// use jeton_api::TokenListQuery;
///
/// let tokens = jeton_client::collect_pages(|cursor| {
///     let query = TokenListQuery { all: Some(true), cursor, ..Default::default() };
///     async move { client.list_tokens(&query).await }
/// })
/// .await?;
/// # Ok(())
/// # }
/// ```
pub async fn collect_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, ClientError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, ClientError>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(cursor.take()).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) if !next.is_empty() => cursor = Some(next),
            _ => return Ok(items),
        }
    }
}

/// The path segments of `/api/v1/<rest>`.
fn api<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut segments = vec!["api", "v1"];
    segments.extend_from_slice(rest);
    segments
}

fn parse_base_url(text: &str) -> Result<Url, ClientError> {
    let url = Url::parse(text.trim()).map_err(|e| {
        ClientError::InvalidInput(format!(
            "invalid server URL '{text}': {e} (expected e.g. http://127.0.0.1:8080)"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ClientError::InvalidInput(format!(
            "invalid server URL '{text}': use http:// or https://"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ClientError::InvalidInput(format!(
            "invalid server URL '{}': credentials do not belong in the URL; use --token or \
             'jeton login'",
            redact_userinfo(&url)
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::InvalidInput(format!(
            "invalid server URL '{text}': remove the query or fragment"
        )));
    }
    Ok(url)
}

fn redact_userinfo(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// Sends a request; an error status becomes [`ClientError::Api`].
async fn execute(request: RequestBuilder) -> Result<Response, ClientError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(api_error(status, &body))
}

async fn parse_json<T: DeserializeOwned>(response: Response) -> Result<T, ClientError> {
    let status = response.status();
    let body = response.text().await.map_err(transport_error)?;
    serde_json::from_str(&body).map_err(|e| {
        ClientError::InvalidResponse(format!(
            "answered {status} with a body that is not the expected JSON ({e}): {}",
            quote(&body)
        ))
    })
}

/// The error of an error answer: Jeton's `{"error":{"code","message"}}` when the body is that,
/// otherwise the raw text (or the status's reason when the body is empty).
fn api_error(status: StatusCode, body: &str) -> ClientError {
    if let Ok(ErrorBody { error }) = serde_json::from_str::<ErrorBody>(body) {
        return ClientError::Api {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        };
    }
    let text = body.trim();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error without a message")
            .to_lowercase()
    } else {
        quote(text)
    };
    ClientError::Api {
        status: status.as_u16(),
        code: format!("http_{}", status.as_u16()),
        message,
    }
}

fn transport_error(error: reqwest::Error) -> ClientError {
    let detail = error_chain(&error);
    if error.is_decode() || error.is_body() && !error.is_timeout() {
        ClientError::InvalidResponse(detail)
    } else {
        // Connect failures, DNS failures, timeouts and broken connections all mean the same to
        // a user: no answer came back.
        ClientError::Unreachable(detail)
    }
}

/// An error and its causes, one line; reqwest's own message says only "error sending request".
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// At most [`QUOTE_LIMIT`] characters of `text`, on one line.
fn quote(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    match trimmed.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}...", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot HTTP server: answers the first request with `response` and hands back the
    /// request's head (request line and headers).
    async fn one_shot(response: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
            String::from_utf8_lossy(&buf).into_owned()
        });
        (url, handle)
    }

    fn http(status: &str, content_type: &str, body: &str) -> &'static str {
        Box::leak(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        )
    }

    const TOKEN_JSON: &str = r#"{"id":"t1","name":"ci","kind":"api","user_id":"u1","username":"alice","tenant_id":"d","comment":"","scopes":[],"status":"revoked","created_at":"2026-01-01T00:00:00Z","expires_at":"2026-04-01T00:00:00Z","last_used_at":null,"revoked_at":"2026-01-02T00:00:00Z","revoked_by":"u1"}"#;

    #[tokio::test]
    async fn sends_the_token_as_a_bearer_header_and_never_in_the_url() {
        let (url, server) = one_shot(http("200 OK", "application/json", TOKEN_JSON)).await;
        let client = Client::new(&url).unwrap().with_token("secret-value");
        let token = client.revoke_self().await.unwrap();
        assert_eq!(token.status, "revoked");
        let head = server.await.unwrap();
        let request_line = head.lines().next().unwrap();
        assert_eq!(request_line, "POST /api/v1/tokens/revoke/self HTTP/1.1");
        assert!(
            head.to_ascii_lowercase()
                .contains("authorization: bearer secret-value")
        );
        assert!(!request_line.contains("secret-value"));
    }

    #[tokio::test]
    async fn percent_encodes_path_segments() {
        let (url, server) = one_shot(http("200 OK", "application/json", r#"{"revoked":3}"#)).await;
        let client = Client::new(&format!("{url}/prefix/")).unwrap();
        let count = client.revoke_user_tokens("a/b c?d").await.unwrap();
        assert_eq!(count.revoked, 3);
        let head = server.await.unwrap();
        assert!(
            head.starts_with("POST /prefix/api/v1/users/a%2Fb%20c%3Fd/tokens/revoke HTTP/1.1"),
            "{head}"
        );
    }

    const SERVICE_USER_WITH_KEY_JSON: &str = r#"{"id":"s1","client_id":"s1","name":"etl pipeline","description":"","tenant_id":"d","tenant":"default","access_level":"tenant-user","role":"TenantUser","scopes":[],"active":true,"status":"active","expires_at":null,"created_at":"2026-01-01T00:00:00Z","created_by":"admin","updated_at":"2026-01-01T00:00:00Z","last_used_at":null,"key_hint":"jsk_AbCd","key_created_at":"2026-01-01T00:00:00Z","previous_key_valid_until":"2026-01-01T01:00:00Z","api_key":"jsk_secret"}"#;

    #[tokio::test]
    async fn rotates_a_service_user_key_at_its_encoded_path() {
        let (url, server) = one_shot(http(
            "200 OK",
            "application/json",
            SERVICE_USER_WITH_KEY_JSON,
        ))
        .await;
        let client = Client::new(&url).unwrap().with_token("t");
        let rotated = client
            .rotate_service_user_key(
                "etl pipeline",
                &RotateKeyRequest {
                    grace: Some("1h".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(rotated.api_key, "jsk_secret");
        assert_eq!(rotated.service_user.name, "etl pipeline");
        assert_eq!(rotated.service_user.expires_at, None);
        let head = server.await.unwrap();
        assert!(
            head.starts_with("POST /api/v1/service-users/etl%20pipeline/rotate-key HTTP/1.1"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn deletes_a_service_user_with_no_content() {
        let (url, server) = one_shot("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
        Client::new(&url)
            .unwrap()
            .delete_service_user("a/b")
            .await
            .unwrap();
        let head = server.await.unwrap();
        assert!(
            head.starts_with("DELETE /api/v1/service-users/a%2Fb HTTP/1.1"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn refuses_dot_segments() {
        let client = Client::new("http://127.0.0.1:9").unwrap();
        for bad in ["", ".", ".."] {
            let err = client.get_user(bad).await.unwrap_err();
            assert!(matches!(err, ClientError::InvalidInput(_)), "{err:?}");
        }
    }

    #[tokio::test]
    async fn parses_jeton_error_bodies() {
        let body = r#"{"error":{"code":"unauthenticated","message":"not authenticated"}}"#;
        let (url, _server) = one_shot(http("401 Unauthorized", "application/json", body)).await;
        let err = Client::new(&url).unwrap().me().await.unwrap_err();
        assert_eq!(
            err,
            ClientError::Api {
                status: 401,
                code: "unauthenticated".into(),
                message: "not authenticated".into()
            }
        );
        assert_eq!(err.status(), Some(401));
    }

    #[tokio::test]
    async fn falls_back_to_the_raw_text_of_other_error_bodies() {
        let (url, _server) =
            one_shot(http("502 Bad Gateway", "text/plain", "upstream down\n")).await;
        let err = Client::new(&url).unwrap().me().await.unwrap_err();
        assert_eq!(
            err,
            ClientError::Api {
                status: 502,
                code: "http_502".into(),
                message: "upstream down".into()
            }
        );
    }

    #[tokio::test]
    async fn uses_the_reason_phrase_for_empty_error_bodies() {
        let (url, _server) = one_shot(http("404 Not Found", "text/plain", "")).await;
        let err = Client::new(&url).unwrap().get_role("x").await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Api { status: 404, message, .. } if message == "not found"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn reports_unexpected_success_bodies() {
        let (url, _server) = one_shot(http("200 OK", "text/html", "<html>hello</html>")).await;
        let err = Client::new(&url).unwrap().me().await.unwrap_err();
        assert!(matches!(err, ClientError::InvalidResponse(_)), "{err:?}");
    }

    #[tokio::test]
    async fn accepts_no_content_answers() {
        let (url, _server) = one_shot("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
        Client::new(&url)
            .unwrap()
            .delete_user("alice")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn reports_a_refused_connection_as_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = Client::new(&format!("http://{addr}"))
            .unwrap()
            .health()
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Unreachable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn follows_cursors_until_the_last_page() {
        let mut calls = Vec::new();
        let items = collect_pages(|cursor| {
            calls.push(cursor.clone());
            async move {
                Ok(match cursor.as_deref() {
                    None => Page {
                        items: vec![1, 2],
                        next_cursor: Some("p2".into()),
                    },
                    Some("p2") => Page {
                        items: vec![3],
                        next_cursor: None,
                    },
                    other => panic!("unexpected cursor {other:?}"),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(items, vec![1, 2, 3]);
        assert_eq!(calls, vec![None, Some("p2".to_string())]);
    }

    /// Reads one whole request (head and a `content-length` body) and answers `response`.
    async fn one_shot_with_body(
        response: &'static str,
    ) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break;
                    }
                }
                let n = socket.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
            String::from_utf8_lossy(&buf).into_owned()
        });
        (url, handle)
    }

    const SQL_OK: &str = r#"{"results":[{"statement":"SHOW ROLES","line":1,"columns":["name"],"rows":[["ops"]],"affected":null,"message":null}],"error":null}"#;

    const SQL_CONFLICT: &str = r#"{"results":[{"statement":"CREATE ROLE","line":1,"columns":[],"rows":[],"affected":1,"message":"role one created"}],"error":{"code":"conflict","message":"statement 2 (CREATE ROLE, line 2): a role named 'one' already exists","statement_index":2,"statement":"CREATE ROLE","line":2,"column":1}}"#;

    #[tokio::test]
    async fn sql_posts_the_script_as_json() {
        let (url, server) = one_shot_with_body(http("200 OK", "application/json", SQL_OK)).await;
        let client = Client::new(&url).unwrap().with_token("t");
        let answer = client.sql("SHOW ROLES;").await.unwrap();
        assert_eq!(answer.error, None);
        assert_eq!(answer.results[0].columns, ["name"]);
        assert_eq!(answer.results[0].rows[0][0], "ops");
        let request = server.await.unwrap();
        assert!(
            request.starts_with("POST /api/v1/sql HTTP/1.1"),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{request}"
        );
        assert!(request.ends_with(r#"{"sql":"SHOW ROLES;"}"#), "{request}");
    }

    #[tokio::test]
    async fn sql_returns_the_results_that_ran_with_the_error_of_a_failing_statement() {
        let (url, _server) =
            one_shot_with_body(http("409 Conflict", "application/json", SQL_CONFLICT)).await;
        let client = Client::new(&url).unwrap().with_token("t");
        let (status, answer) = client
            .sql_with_status("CREATE ROLE one;\nCREATE ROLE one;")
            .await
            .unwrap();
        assert_eq!(status, 409);
        assert_eq!(answer.results.len(), 1);
        assert_eq!(
            answer.results[0].message.as_deref(),
            Some("role one created")
        );
        let error = answer.error.expect("the error");
        assert_eq!(error.code, "conflict");
        assert_eq!(error.position.statement_index, Some(2));
        assert_eq!(error.position.line, Some(2));
    }

    #[tokio::test]
    async fn sql_reports_other_error_answers_as_errors() {
        let body = r#"{"error":{"code":"unauthenticated","message":"not authenticated"}}"#;
        let (url, _server) =
            one_shot_with_body(http("401 Unauthorized", "application/json", body)).await;
        let err = Client::new(&url)
            .unwrap()
            .sql("SHOW ROLES;")
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(401));
        assert!(err.to_string().contains("not authenticated"), "{err}");

        let (url, _server) =
            one_shot_with_body(http("502 Bad Gateway", "text/plain", "upstream down")).await;
        let err = Client::new(&url)
            .unwrap()
            .sql("SHOW ROLES;")
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(502));

        let (url, _server) =
            one_shot_with_body(http("200 OK", "text/html", "<html>hi</html>")).await;
        let err = Client::new(&url)
            .unwrap()
            .sql("SHOW ROLES;")
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::InvalidResponse(_)), "{err:?}");
    }

    #[test]
    fn refuses_bad_base_urls() {
        for bad in [
            "127.0.0.1:8080",
            "ftp://example.com",
            "http://user:pw@example.com",
            "http://example.com/?a=b",
            "not a url",
        ] {
            let err = Client::new(bad).unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidInput(_)),
                "{bad}: {err:?}"
            );
        }
        let err = Client::new("http://user:hunter2@example.com").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn debug_hides_the_token() {
        let client = Client::new("http://127.0.0.1:8080")
            .unwrap()
            .with_token("secret-value");
        assert!(!format!("{client:?}").contains("secret-value"));
    }
}
