//! Attacks on Jeton, against real servers over real SQLite files with a real HTTP client and raw
//! TCP sockets: forged, foreign, stale and malformed credentials (each refused with 401 and the
//! one generic error, never a 5xx), password and client-secret guessing (throttled per name at
//! an address, per address and per name from everywhere, audited, and never a lock-out of the
//! owner), changes racing each other, and the limits on bodies, request heads, scripts, page
//! sizes and slow or idle connections.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::Signer;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::*;

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// Where credentials are checked: the caller, forward authentication and the command language.
const PLACES: [(&str, &str); 3] = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/auth/verify"),
    ("POST", "/api/v1/sql"),
];

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of a compact JWT, unverified.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A compact JWT from a header, claims and signature bytes, as an attacker writes it by hand.
fn jwt(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(claims.to_string()),
        b64(signature)
    )
}

/// A JWT signed with an Ed25519 key of the attacker's, under any header.
fn ed25519_signed(key: &ed25519_dalek::SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(signature.to_bytes()))
}

/// An HMAC-signed JWT with `secret` as the key (the algorithm-confusion attack).
fn hmac_signed(
    alg: jsonwebtoken::Algorithm,
    kid: Option<&str>,
    claims: &Value,
    secret: &[u8],
) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// The server's published key: `(kid, x)` with `x` the base64url public key.
async fn published_key(server: &Server) -> (String, String) {
    let jwks: Value = server
        .http
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    (
        key["kid"].as_str().unwrap().to_string(),
        key["x"].as_str().unwrap().to_string(),
    )
}

/// Sends one request with one extra header to a place; answers status, headers and body.
async fn send_with(
    client: &Client,
    server: &Server,
    (method, path): (&str, &str),
    header: (&str, HeaderValue),
) -> (StatusCode, HeaderMap, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client
        .request(method.clone(), format!("{}{path}", server.base))
        .header(header.0, header.1);
    if method == Method::POST {
        request = request
            .header("content-type", "text/plain")
            .body("SHOW API TOKENS;");
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Asserts that the header is refused at every place with 401, `WWW-Authenticate: Bearer` and
/// the one generic error — the same answer whatever was wrong with it.
async fn assert_header_refused(server: &Server, case: &str, name: &str, value: HeaderValue) {
    for place in PLACES {
        let (status, headers, body) =
            send_with(&server.http, server, place, (name, value.clone())).await;
        assert!(
            !status.is_server_error(),
            "{case}: {name} at {place:?} answered {status}: {body}"
        );
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{case}: {name} at {place:?}: {body}"
        );
        assert_eq!(body["error"]["code"], "unauthenticated", "{case}: {body}");
        assert_eq!(
            body["error"]["message"],
            jeton_server::error::UNAUTHENTICATED,
            "{case}: {body}"
        );
        assert_eq!(headers["www-authenticate"], "Bearer", "{case}");
    }
}

/// Asserts that a credential is refused everywhere: as `Authorization: Bearer`, as `X-API-Key`
/// and as the web UI's `auth_token` cookie.
async fn assert_refused(server: &Server, case: &str, credential: &str) {
    let carriers = [
        ("authorization", format!("Bearer {credential}")),
        ("x-api-key", credential.to_string()),
        ("cookie", format!("auth_token={credential}")),
    ];
    let mut tried = 0;
    for (name, value) in carriers {
        // Some garbage cannot even travel in a header (reqwest refuses it): nothing to test.
        if let Ok(value) = HeaderValue::from_str(&value) {
            assert_header_refused(server, case, name, value).await;
            tried += 1;
        }
    }
    assert!(tried > 0, "{case}: no carrier could send it");
}

/// Asserts that a credential works at every place (the control beside each refusal).
async fn assert_accepted(server: &Server, case: &str, credential: &str) {
    for carrier in [
        ("authorization", format!("Bearer {credential}")),
        ("x-api-key", credential.to_string()),
    ] {
        for place in PLACES {
            let value = HeaderValue::from_str(&carrier.1).unwrap();
            let (status, _, body) =
                send_with(&server.http, server, place, (carrier.0, value)).await;
            // Authenticated: 200, or for a service user's `SHOW API TOKENS` a 403 that comes
            // after authentication (service users own no API tokens).
            let authenticated = status == StatusCode::OK
                || (place.1 == "/api/v1/sql" && status == StatusCode::FORBIDDEN);
            assert!(
                authenticated,
                "{case}: {} at {place:?}: {status} {body}",
                carrier.0
            );
        }
    }
}

/// Audit events of `action` (as `admin`), newest first.
async fn audit(server: &Server, admin: &str, action: &str) -> Vec<Value> {
    // High-volume events are written by a background task; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, page) = server
        .get(&format!("/api/v1/audit?action={action}&limit=500"), admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// Creates a service user; answers its id and API key.
async fn service_user(server: &Server, by: &str, name: &str) -> (String, String) {
    let (status, created) = server
        .post("/api/v1/service-users", by, json!({"name": name}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["id"].as_str().unwrap().to_string(),
        created["api_key"].as_str().unwrap().to_string(),
    )
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes
}

// ------------------------------------------------------------------------------------------
// 3. Token attacks
// ------------------------------------------------------------------------------------------

/// Forged JWTs: `alg: none`, algorithm confusion (HMAC keyed with the public key), a valid
/// Ed25519 signature under a key that is not the server's, and tampered claims.
#[tokio::test]
async fn forged_tokens_are_refused_everywhere() {
    let server = spawn().await;
    let admin = server.admin().await;
    assert_accepted(&server, "the admin's own token (control)", &admin).await;
    let claims = payload(&admin);
    let (kid, x) = published_key(&server).await;
    let original_signature = admin.rsplit('.').next().unwrap().to_string();

    // alg: none — the real claims of a real user, not signed. Proves the signature is required
    // whatever the header says, with and without our kid, whatever the spelling.
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        let unsigned = jwt(&header, &claims, b"");
        assert_refused(&server, &format!("alg {alg:?}, empty signature"), &unsigned).await;
        let keeps_signature = format!("{}.{original_signature}", unsigned.trim_end_matches('.'));
        assert_refused(
            &server,
            &format!("alg {alg:?}, real signature"),
            &keeps_signature,
        )
        .await;
    }
    let bare = jwt(&json!({"alg": "none"}), &claims, b"");
    assert_refused(&server, "alg none without kid", &bare).await;
    assert_refused(&server, "alg none, two parts", bare.trim_end_matches('.')).await;

    // Algorithm confusion: HMAC with the server's public key as the secret — the raw 32 bytes,
    // its base64url text as published in the JWKS, and its padded standard base64. Proves the
    // algorithm is pinned to EdDSA (a verifier that let the header choose would accept these).
    let raw = URL_SAFE_NO_PAD.decode(&x).unwrap();
    let padded = STANDARD.encode(&raw);
    for (what, secret) in [
        ("raw public key", raw.as_slice()),
        ("base64url public key", x.as_bytes()),
        ("base64 public key", padded.as_bytes()),
    ] {
        for alg in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            for with_kid in [Some(kid.as_str()), None] {
                let forged = hmac_signed(alg, with_kid, &claims, secret);
                assert_refused(
                    &server,
                    &format!("{alg:?} keyed with the {what}, kid {with_kid:?}"),
                    &forged,
                )
                .await;
            }
        }
    }
    // Another asymmetric algorithm named over our real signature.
    for alg in ["RS256", "ES256", "PS256", "EdDSA "] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        let forged = format!(
            "{}.{original_signature}",
            jwt(&header, &claims, b"").trim_end_matches('.')
        );
        assert_refused(
            &server,
            &format!("alg {alg:?} over the real signature"),
            &forged,
        )
        .await;
    }

    // A valid EdDSA signature by a key of the attacker's: under an unknown kid, without kid,
    // under our kid (proves the key comes from our ring by kid, never from the token), with
    // the attacker's key embedded as `jwk`, and with path-like or padded kids.
    let attacker = ed25519_dalek::SigningKey::from_bytes(&random_bytes());
    let attacker_x = b64(attacker.verifying_key().to_bytes());
    for (what, header) in [
        (
            "unknown kid",
            json!({"alg": "EdDSA", "typ": "JWT", "kid": "attacker-key-1"}),
        ),
        ("no kid", json!({"alg": "EdDSA", "typ": "JWT"})),
        ("our kid", json!({"alg": "EdDSA", "typ": "JWT", "kid": kid})),
        (
            "embedded jwk",
            json!({"alg": "EdDSA", "typ": "JWT", "kid": kid,
                   "jwk": {"kty": "OKP", "crv": "Ed25519", "x": attacker_x}}),
        ),
        (
            "jku to the attacker",
            json!({"alg": "EdDSA", "typ": "JWT", "kid": "k", "jku": "http://127.0.0.1:9/jwks.json"}),
        ),
        (
            "path kid",
            json!({"alg": "EdDSA", "kid": "../../../../dev/null"}),
        ),
        (
            "kid with a space",
            json!({"alg": "EdDSA", "kid": format!("{kid} ")}),
        ),
        ("kid as a number", json!({"alg": "EdDSA", "kid": 1})),
    ] {
        let forged = ed25519_signed(&attacker, &header, &claims);
        assert_refused(
            &server,
            &format!("attacker's EdDSA signature, {what}"),
            &forged,
        )
        .await;
    }

    // Tampered claims under the real signature: another subject (a tenant user turning into
    // the root user), a later expiry, more scopes. Proves the signature covers the claims.
    let analyst = server.user(&admin, "analyst", "tenant-user", None).await;
    let mut escalate = payload(&analyst);
    escalate["sub"] = claims["sub"].clone();
    let mut later = payload(&analyst);
    later["exp"] = json!(later["exp"].as_i64().unwrap() + 365 * 86_400);
    let mut scoped = payload(&analyst);
    scoped["scope"] = json!("admin");
    let analyst_header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(analyst.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let analyst_signature = URL_SAFE_NO_PAD
        .decode(analyst.rsplit('.').next().unwrap())
        .unwrap();
    for (what, tampered) in [("sub", escalate), ("exp", later), ("scope", scoped)] {
        let forged = jwt(&analyst_header, &tampered, &analyst_signature);
        assert_refused(&server, &format!("tampered {what}"), &forged).await;
    }
    assert_accepted(&server, "the analyst's own token (control)", &analyst).await;
}

/// Tokens of another Jeton: another issuer, another audience, another key.
///
/// - A server with *other keys* (and another issuer and audience): its perfectly valid tokens
///   are refused because their `kid` is not in our ring — proves the key is pinned by `kid`
///   among our own keys, so no other Jeton (or anyone else with an Ed25519 key) can mint
///   tokens for us.
/// - A server over the *same database* — the same signing key, the same users — configured with
///   another issuer, or another audience: the signature and `kid` are good, the subject exists,
///   only `iss` or `aud` differ, and the token is refused. Proves `iss` and `aud` are checked
///   on their own (a deployment sharing a key between environments does not share tokens).
/// - The same again with our issuer and audience is accepted: the control that shows the
///   refusals above are due to `iss` and `aud` alone.
#[tokio::test]
async fn tokens_of_another_issuer_audience_or_key_are_refused() {
    let ours = spawn().await;
    let admin = ours.admin().await;
    assert_accepted(&ours, "our own token (control)", &admin).await;

    let stranger = spawn_with(|c| {
        c.issuer = "https://other.example".into();
        c.audience = "other".into();
    })
    .await;
    let foreign = stranger.admin().await;
    assert_ne!(published_key(&stranger).await, published_key(&ours).await);
    assert_accepted(
        &stranger,
        "the stranger's token at home (control)",
        &foreign,
    )
    .await;
    assert_refused(&ours, "token of a Jeton with other keys", &foreign).await;

    let other_issuer = spawn_beside(&ours, |c| c.issuer = "https://other.example".into()).await;
    assert_eq!(
        published_key(&other_issuer).await,
        published_key(&ours).await
    );
    let token = other_issuer.admin().await;
    assert_eq!(payload(&token)["iss"], "https://other.example");
    assert_accepted(&other_issuer, "other issuer at home (control)", &token).await;
    assert_refused(&ours, "same key, other issuer", &token).await;

    let other_audience = spawn_beside(&ours, |c| c.audience = "someone-else".into()).await;
    let token = other_audience.admin().await;
    assert_eq!(payload(&token)["aud"], "someone-else");
    assert_refused(&ours, "same key, other audience", &token).await;

    let twin = spawn_beside(&ours, |_| {}).await;
    let token = twin.admin().await;
    assert_accepted(
        &ours,
        "same key, same issuer and audience (control)",
        &token,
    )
    .await;
}

/// `exp` and `nbf`, end to end, by the issuing and verifying servers' clocks.
#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (status, created) = server
        .create_token(&admin, json!({"name": "short", "expires_in": "1h"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let used = created["token"].as_str().unwrap().to_string();
    let (_, created) = server
        .create_token(&admin, json!({"name": "unused", "expires_in": "1h"}))
        .await;
    let unused = created["token"].as_str().unwrap().to_string();
    assert_accepted(&server, "fresh token (control)", &used).await;

    // One second before expiry both work (the unused one is never presented before: a first
    // verification must apply the same clock as a cached one).
    server.clock.advance(3600 - 1);
    let (status, _) = server.get("/api/v1/auth/verify", &used).await;
    assert_eq!(status, StatusCode::OK);
    server.clock.advance(1);
    assert_refused(&server, "expired, verified before", &used).await;
    assert_refused(&server, "expired, never verified", &unused).await;
    let root = {
        // The admin's session (12 h) outlives the API tokens: it can read the audit log.
        admin.clone()
    };
    let denied = audit(&server, &root, "auth.denied").await;
    assert!(
        denied.iter().any(|e| e["details"]["reason"] == "expired"),
        "{denied:?}"
    );

    // Not yet valid: a server sharing the key whose clock runs an hour ahead issues a token;
    // presented here, it is refused until this clock reaches its `nbf`.
    let ahead = spawn_beside(&server, |_| {}).await;
    ahead.clock.advance(3600);
    let early = ahead.admin().await;
    let nbf = payload(&early)["nbf"].as_i64().unwrap();
    let here = spawn_beside(&server, |_| {}).await;
    assert!(nbf > time::OffsetDateTime::now_utc().unix_timestamp() + 3000);
    assert_refused(&here, "not yet valid", &early).await;
    here.clock.advance(3600);
    assert_accepted(
        &here,
        "the same token once its nbf has come (control)",
        &early,
    )
    .await;
}

/// The only places that take an API credential but not a session token: the OAuth token
/// endpoint's `client_secret` (an API key only) and token exchange's `subject_token` (a
/// service user's access token only). Everywhere else a session token is, by design, as good
/// as an API token of the same user: it is what the CLI and the web UI use to manage tokens.
#[tokio::test]
async fn session_tokens_are_refused_where_only_api_credentials_are_taken() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    let (_, created) = server
        .create_token(&admin, json!({"name": "personal"}))
        .await;
    let api_token = created["token"].as_str().unwrap().to_string();
    for (what, secret) in [
        ("a session token", admin.as_str()),
        ("a personal API token", api_token.as_str()),
    ] {
        let (status, body) = oauth_form(
            &server,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", secret),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
    }
    // Token exchange of a user's session token (with the service user's own credentials).
    let (status, body) = oauth_form(
        &server,
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("client_id", &id),
            ("client_secret", &key),
            ("subject_token", &admin),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
        ],
    )
    .await;
    // RFC 6749 §5.2: a grant that is not valid is `invalid_grant`, answered with 400.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
}

/// Malformed input in every shape: truncated, padded, non-UTF-8, huge, and odd `Authorization`
/// headers. All 401 with the generic error; none reaches a 5xx.
#[tokio::test]
async fn malformed_credentials_are_refused_everywhere() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (header, claims, signature) = {
        let mut parts = admin.split('.');
        (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        )
    };

    // Truncated.
    for (what, cut) in [
        ("one character short", admin[..admin.len() - 1].to_string()),
        (
            "ten characters short",
            admin[..admin.len() - 10].to_string(),
        ),
        ("no signature", format!("{header}.{claims}.")),
        ("two parts", format!("{header}.{claims}")),
        ("header only", header.clone()),
        ("header and dot", format!("{header}.")),
        ("signature only", signature.clone()),
        ("half", admin[..admin.len() / 2].to_string()),
    ] {
        assert_refused(&server, &format!("truncated: {what}"), &cut).await;
    }
    // Padded and reshaped.
    for (what, padded) in [
        ("base64 padding", format!("{admin}=")),
        ("double padding", format!("{admin}==")),
        ("extra signature bytes", format!("{admin}AA")),
        ("fourth part", format!("{admin}.AAAA")),
        ("trailing dot", format!("{admin}.")),
        ("leading dot", format!(".{admin}")),
        ("doubled", format!("{admin}{admin}")),
        ("space inside", format!("{header}. {claims}.{signature}")),
        (
            // The standard alphabet in place of the URL-safe one; the signature always gets at
            // least one `+` or `/` (a token without `-` or `_` would otherwise be unchanged).
            "standard base64 alphabet",
            format!(
                "{}.{}.+/{}",
                header.replace('-', "+").replace('_', "/"),
                claims.replace('-', "+").replace('_', "/"),
                &signature.replace('-', "+").replace('_', "/")[2..]
            ),
        ),
        ("quoted", format!("\"{admin}\"")),
        (
            "NUL-free control: tab inside",
            format!("{header}.\t{claims}.{signature}"),
        ),
        (
            "JSON instead of base64",
            format!("{{\"alg\":\"EdDSA\"}}.{claims}.{signature}"),
        ),
        ("only dots", "....".to_string()),
        ("empty parts", "..".to_string()),
        ("unicode", "jéton.ключ.令牌".to_string()),
        ("SQL", "' OR '1'='1".to_string()),
    ] {
        assert_refused(&server, &format!("padded: {what}"), &padded).await;
    }

    // Non-UTF-8 bytes in the header itself (a raw 0xFF in the token; Latin-1 text).
    let mut raw = b"Bearer ".to_vec();
    raw.extend_from_slice(header.as_bytes());
    raw.extend_from_slice(b".\xff\xfe");
    raw.extend_from_slice(claims.as_bytes());
    let latin1 = b"Bearer j\xe9ton-\xe0-la-carte".to_vec();
    for (what, bytes) in [("0xFF in a JWT", raw), ("Latin-1", latin1)] {
        let value = HeaderValue::from_bytes(&bytes).unwrap();
        assert_header_refused(
            &server,
            &format!("non-UTF-8: {what}"),
            "authorization",
            value,
        )
        .await;
        let key_bytes: Vec<u8> = bytes[7..].to_vec();
        let value = HeaderValue::from_bytes(&key_bytes).unwrap();
        assert_header_refused(
            &server,
            &format!("non-UTF-8 key: {what}"),
            "x-api-key",
            value,
        )
        .await;
        let mut cookie = b"auth_token=".to_vec();
        cookie.extend_from_slice(&key_bytes);
        let value = HeaderValue::from_bytes(&cookie).unwrap();
        assert_header_refused(
            &server,
            &format!("non-UTF-8 cookie: {what}"),
            "cookie",
            value,
        )
        .await;
    }

    // Huge: just over the longest credential looked at (4 KiB), and 64 KB (64,000 bytes, under
    // the 64 KiB request-head limit, so that it reaches the credential check).
    let big_claims = b64("x".repeat(48_000));
    for (what, huge) in [
        (
            "4 KiB + 1",
            "a".repeat(jeton_server::verify::MAX_CREDENTIAL_LEN + 1),
        ),
        ("64 KB of letters", "a".repeat(64_000)),
        (
            "64 KB JWT-shaped",
            format!("{header}.{big_claims}.{signature}")[..64_000].to_string(),
        ),
        ("64 KB key-shaped", format!("jsk_{}", "A".repeat(63_996))),
    ] {
        assert_refused(&server, &format!("huge: {what}"), &huge).await;
    }

    // Authorization headers of odd shapes.
    for (what, value) in [
        ("empty Bearer", "Bearer "),
        ("Bearer and spaces", "Bearer    "),
        ("Bearer alone", "Bearer"),
        ("lower-case bearer, empty", "bearer "),
        ("empty", ""),
        ("only spaces", "   "),
        ("Bearer garbage", "BEARER garbage"),
        ("Bearer with a comma list", "Bearer a, Bearer b"),
    ] {
        assert_header_refused(
            &server,
            &format!("header: {what}"),
            "authorization",
            HeaderValue::from_str(value).unwrap(),
        )
        .await;
    }
    // Another scheme is not Jeton's, even with a valid token or the right password in it.
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"))
    );
    for (what, value) in [
        ("Basic with the admin's password", basic),
        ("Token scheme with a valid token", format!("Token {admin}")),
        ("no scheme, just the valid token", admin.clone()),
        ("Bearer glued to a valid token", format!("Bearer{admin}")),
    ] {
        assert_header_refused(
            &server,
            &format!("header: {what}"),
            "authorization",
            HeaderValue::from_str(&value).unwrap(),
        )
        .await;
    }
    // These are well-formed by the RFCs and do work: the scheme is case-insensitive (RFC 7235
    // §2.1) and RFC 6750 §2.1 allows one or more spaces after it (`"Bearer" 1*SP b64token`).
    for (what, value) in [
        ("lower-case bearer", format!("bearer {admin}")),
        ("two spaces", format!("Bearer  {admin}")),
    ] {
        for place in PLACES {
            let (status, _, body) = send_with(
                &server.http,
                &server,
                place,
                ("authorization", HeaderValue::from_str(&value).unwrap()),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{what} at {place:?}: {body}");
        }
    }
}

/// API keys: one character changed anywhere (the checksum catches it before any lookup), and
/// a key with a valid checksum that no service user has.
#[tokio::test]
async fn altered_and_unknown_api_keys_are_refused() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (_, key) = service_user(&server, &admin, "etl").await;
    assert_accepted(&server, "the real key (control)", &key).await;

    let changed = |at: usize| {
        let mut bytes = key.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let last = key.len() - 1;
    for (what, altered) in [
        ("first body character", changed(4)),
        ("a middle character", changed(25)),
        ("last body character", changed(last - 6)),
        ("first checksum character", changed(last - 5)),
        ("last checksum character", changed(last)),
        ("prefix letter case", key.replacen("jsk_", "jsK_", 1)),
        ("upper-cased", key.to_uppercase()),
        ("one character short", key[..last].to_string()),
        ("one character more", format!("{key}A")),
        ("swapped characters", {
            let mut bytes = key.clone().into_bytes();
            bytes.swap(10, 11);
            String::from_utf8(bytes).unwrap()
        }),
    ] {
        if altered != key {
            assert_refused(&server, &format!("API key, {what}"), &altered).await;
        }
    }
    for _ in 0..3 {
        let unknown = jeton_core::apikey::generate("jsk_", random_bytes());
        assert!(jeton_core::apikey::check_format("jsk_", unknown.expose()).is_ok());
        assert_refused(&server, "well-formed unknown key", unknown.expose()).await;
    }
    end_denial_minute(&server).await;
    let denied = audit(&server, &admin, "auth.denied").await;
    let reasons: Vec<&str> = denied
        .iter()
        .filter_map(|e| e["details"]["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"malformed_key"), "{reasons:?}");
    assert!(reasons.contains(&"unknown_key"), "{reasons:?}");
    // The real key still works: none of the above locked it.
    assert_accepted(&server, "the real key afterwards", &key).await;
}

/// The OAuth token endpoint with a form body.
async fn oauth_form(server: &Server, form: &[(&str, &str)]) -> (StatusCode, Value) {
    oauth_request(
        &server.http,
        server,
        server
            .http
            .post(format!("{}/oauth/token", server.base))
            .form(form),
    )
    .await
    .0
}

async fn oauth_request(
    _client: &Client,
    _server: &Server,
    request: reqwest::RequestBuilder,
) -> ((StatusCode, Value), HeaderMap) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ),
        headers,
    )
}

/// Garbage client secrets, as form fields, JSON and HTTP Basic: always 401 `invalid_client`.
#[tokio::test]
async fn garbage_client_secrets_get_invalid_client() {
    let server = spawn_with(|c| c.login_attempts = 10_000).await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    let unknown = jeton_core::apikey::generate("jsk_", random_bytes());
    let alg_none = jwt(&json!({"alg": "none"}), &payload(&admin), b"");
    let long = "k".repeat(60_000);
    let garbage: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("space", " ".into()),
        ("one letter", "x".into()),
        ("prefix only", "jsk_".into()),
        // The last character changed (to one it is not), so that the checksum no longer fits.
        (
            "bad checksum",
            format!(
                "{}{}",
                &key[..key.len() - 1],
                if key.ends_with('A') { 'B' } else { 'A' }
            ),
        ),
        ("unknown key", unknown.expose().to_string()),
        ("alg none JWT", alg_none),
        ("60 KB", long),
        ("unicode", "ключ-🔑".into()),
        ("SQL", "' OR 1=1 --".into()),
        ("percent signs", "%%%".into()),
    ];
    let basic =
        |id: &str, secret: &str| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    for (what, secret) in &garbage {
        let (status, body) = oauth_form(
            &server,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", secret),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "form, {what}: {body}");
        assert_eq!(body["error"], "invalid_client", "form, {what}");

        let ((status, body), headers) = oauth_request(
            &server.http,
            &server,
            server
                .http
                .post(format!("{}/oauth/token", server.base))
                .header("authorization", basic(&id, secret))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "basic, {what}: {body}");
        assert_eq!(body["error"], "invalid_client", "basic, {what}");
        assert!(headers.contains_key("www-authenticate"));

        let ((status, body), _) = oauth_request(
            &server.http,
            &server,
            server
                .http
                .post(format!("{}/oauth/token", server.base))
                .json(&json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "json, {what}: {body}");
        assert_eq!(body["error"], "invalid_client", "json, {what}");
    }
    // Malformed HTTP Basic and undecodable form bytes.
    for (what, header) in [
        ("not base64", "Basic !!!not-base64!!!".to_string()),
        (
            "no colon",
            format!("Basic {}", STANDARD.encode("just-an-id")),
        ),
        (
            "non-UTF-8",
            format!("Basic {}", STANDARD.encode(b"\xff\xfe:\xff")),
        ),
        ("empty", "Basic ".to_string()),
        (
            "huge",
            format!(
                "Basic {}",
                STANDARD.encode(format!("{id}:{}", "k".repeat(30_000)))
            ),
        ),
    ] {
        let ((status, body), _) = oauth_request(
            &server.http,
            &server,
            server
                .http
                .post(format!("{}/oauth/token", server.base))
                .header("authorization", header)
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "basic {what}: {body}");
        assert_eq!(body["error"], "invalid_client", "basic {what}");
    }
    let ((status, body), _) = oauth_request(
        &server.http,
        &server,
        server
            .http
            .post(format!("{}/oauth/token", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={id}&client_secret=%FF%FE%C3"
            )),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "percent-encoded bytes: {body}"
    );
    assert_eq!(body["error"], "invalid_client");
    // A NUL (or another control character) is refused at the boundary, before any client is
    // looked up: 400 `invalid_request` (issue 12 §6), whichever way it is sent.
    for body in [
        format!("grant_type=client_credentials&client_id={id}&client_secret=%00"),
        format!("grant_type=client_credentials&client_id={id}&client_secret=%FF%FE%00%C3"),
    ] {
        let ((status, answer), _) = oauth_request(
            &server.http,
            &server,
            server
                .http
                .post(format!("{}/oauth/token", server.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"], "invalid_request", "{body}: {answer}");
    }
    // Garbage client ids with the right secret are not this client either.
    for client_id in [
        "",
        "admin",
        "00000000-0000-0000-0000-000000000000",
        "' OR 1=1 --",
    ] {
        let (status, body) = oauth_form(
            &server,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", &key),
            ],
        )
        .await;
        assert!(
            status == StatusCode::UNAUTHORIZED && body["error"] == "invalid_client",
            "client id {client_id:?}: {status} {body}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// 6. Brute force
// ------------------------------------------------------------------------------------------

async fn login_from(
    client: &Client,
    server: &Server,
    username: &str,
    password: &str,
) -> (StatusCode, HeaderMap, Value) {
    let response = client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

/// A 429 with a usable `Retry-After` (seconds, within the window) and the JSON error.
fn assert_throttled(case: &str, (status, headers, body): &(StatusCode, HeaderMap, Value)) {
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{case}: {body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{case}: Retry-After {retry}");
    assert_eq!(body["error"]["code"], "too_many_requests", "{case}: {body}");
    assert!(body["error"]["message"].is_string(), "{case}: {body}");
}

/// Password guessing against one account from one address, run through `serve_on` (the real
/// server loop, which gives handlers the client's address): the guessing address is stopped,
/// the account's owner elsewhere is not.
#[tokio::test]
async fn password_guessing_is_throttled_audited_and_ends_with_the_window() {
    let served = spawn_served(|c| c.login_attempts = 3).await;
    let server = &served.server;
    let admin = server.admin().await;
    server.user(&admin, "alice", "tenant-user", None).await;
    let attacker = client_from([127, 0, 0, 2]);
    let elsewhere = client_from([127, 0, 0, 3]);

    let guesses = ["guess-one-1", "guess-two-2", "guess-three-3"];
    for guess in guesses {
        let (status, _, body) = login_from(&attacker, server, "alice", guess).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED);
    }
    // The attacker's address is throttled for alice now, even with the right password...
    let fourth = login_from(&attacker, server, "alice", "guess-four-4").await;
    assert_throttled("fourth guess", &fourth);
    let right = login_from(&attacker, server, "alice", "password-123").await;
    assert_throttled("right password from the attacker's address", &right);
    // ... but alice, from her own address, is not locked out.
    let (status, _, body) = login_from(&elsewhere, server, "alice", "password-123").await;
    assert_eq!(status, StatusCode::OK, "the owner was locked out: {body}");

    // Audited: the failures with their reason and the client's address; the throttled tries
    // as denied. No password, wrong or right, appears in any record.
    let events = audit(server, &admin, "auth.login").await;
    let failures: Vec<&Value> = events
        .iter()
        .filter(|e| e["outcome"] == "failure" && e["actor"] == "alice")
        .collect();
    assert_eq!(failures.len(), 3, "{events:?}");
    for event in &failures {
        assert_eq!(event["details"]["reason"], "bad_password", "{event}");
        assert_eq!(event["client_addr"], "127.0.0.2", "{event}");
    }
    assert!(
        events
            .iter()
            .any(|e| e["outcome"] == "denied" && e["details"]["reason"] == "throttled"),
        "{events:?}"
    );
    let text = serde_json::to_string(&events).unwrap();
    for password in guesses.iter().chain(&["guess-four-4", "password-123"]) {
        assert!(!text.contains(password), "a password is in the audit log");
    }

    // Hammering during the window does not extend it...
    server.clock.advance(30);
    for _ in 0..10 {
        let again = login_from(&attacker, server, "alice", "more-guesses").await;
        assert_throttled("during the window", &again);
    }
    // ... which ends: the right password works again from the attacker's address too.
    server.clock.advance(31);
    let (status, _, body) = login_from(&attacker, server, "alice", "password-123").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// One address guessing across many names is stopped by the per-address count (ten times the
/// per-name limit) — without touching the accounts it did not guess at, from other addresses.
#[tokio::test]
async fn an_address_guessing_many_names_is_throttled_alone() {
    let served = spawn_served(|c| c.login_attempts = 3).await;
    let server = &served.server;
    let admin = server.admin().await;
    server.user(&admin, "alice", "tenant-user", None).await;
    let attacker = client_from([127, 0, 0, 4]);
    let elsewhere = client_from([127, 0, 0, 5]);
    for i in 0..30 {
        let name = format!("name-{i}");
        let (status, _, body) = login_from(&attacker, server, &name, "password-123").await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED);
    }
    // The address is used up, whatever the name.
    let next = login_from(&attacker, server, "alice", "password-123").await;
    assert_throttled("a fresh name from the same address", &next);
    // Alice, from elsewhere, is not affected.
    let (status, _, body) = login_from(&elsewhere, server, "alice", "password-123").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.clock.advance(61);
    let (status, _, body) = login_from(&attacker, server, "alice", "password-123").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Guessing spread over many addresses, a few guesses each (here one), meets the per-username
/// limit across addresses (ten times the per-address one): a fresh address is throttled for
/// that username, with `Retry-After`. The owner still logs in from an address where she logged
/// in before; other accounts are not affected; the window ends.
#[tokio::test]
async fn guessing_spread_over_many_addresses_meets_the_per_username_limit() {
    let served = spawn_served(|c| c.login_attempts = 3).await;
    let server = &served.server;
    let admin = server.admin().await;
    server.user(&admin, "alice", "tenant-user", None).await;
    server.user(&admin, "bob", "tenant-user", None).await;
    let home = client_from([127, 0, 3, 1]);
    let (status, _, body) = login_from(&home, server, "alice", "password-123").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for i in 0..30 {
        let bot = client_from([127, 0, 4, i]);
        let (status, _, body) = login_from(&bot, server, "alice", &format!("guess-{i}")).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED);
    }
    let fresh = client_from([127, 0, 5, 1]);
    let next = login_from(&fresh, server, "alice", "password-123").await;
    assert_throttled("alice from a fresh address", &next);
    let again = login_from(&client_from([127, 0, 4, 0]), server, "alice", "guess-x").await;
    assert_throttled("alice from a guessing address", &again);
    // Alice from where she logged in before, and bob from the fresh address, get in.
    let (status, _, body) = login_from(&home, server, "alice", "password-123").await;
    assert_eq!(status, StatusCode::OK, "the owner was locked out: {body}");
    let (status, _, body) = login_from(&fresh, server, "bob", "password-123").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Every failure is audited, each with its own address.
    let events = audit(server, &admin, "auth.login").await;
    let failures: Vec<&Value> = events
        .iter()
        .filter(|e| e["outcome"] == "failure" && e["actor"] == "alice")
        .collect();
    assert_eq!(failures.len(), 30, "{events:?}");
    assert!(
        failures
            .iter()
            .all(|e| e["details"]["reason"] == "bad_password")
    );
    assert!(
        events.iter().any(|e| e["outcome"] == "denied"
            && e["actor"] == "alice"
            && e["client_addr"] == "127.0.5.1"),
        "{events:?}"
    );
    server.clock.advance(61);
    let (status, _, body) = login_from(&fresh, server, "alice", "password-123").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Guesses sent all at once cannot outrun the count: at most `login_attempts` passwords are
/// checked per window, however many requests arrive together.
#[tokio::test]
async fn concurrent_guesses_cannot_outrun_the_throttle() {
    let served = spawn_served(|c| c.login_attempts = 3).await;
    let server = &served.server;
    let admin = server.admin().await;
    server.user(&admin, "alice", "tenant-user", None).await;
    let attacker = client_from([127, 0, 0, 6]);
    let guesses = (0..24).map(|i| {
        let attacker = attacker.clone();
        async move {
            attacker
                .post(format!("{}/api/v1/auth/login", server.base))
                .json(&json!({"username": "alice", "password": format!("parallel-guess-{i}")}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + throttled, statuses.len(), "{statuses:?}");
    assert!(
        checked <= 3,
        "{checked} of {} concurrent guesses were checked; the limit is 3",
        statuses.len()
    );
    let (status, _, body) = login_from(&attacker, server, "alice", "password-123").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

/// The OAuth token endpoint: per client id at one address, per address (across client ids) and
/// per client id across addresses; 429 with `Retry-After`; the client itself is never locked
/// out from where it authenticates; the right secret works after the window.
#[tokio::test]
async fn client_secret_guessing_is_throttled_per_client_and_address() {
    let served = spawn_served(|c| c.login_attempts = 3).await;
    let server = &served.server;
    let admin = server.admin().await;
    let (id, key) = service_user(server, &admin, "etl").await;
    let attacker = client_from([127, 0, 0, 7]);
    let elsewhere = client_from([127, 0, 0, 8]);
    let token = |client: &Client, client_id: &str, secret: &str| {
        client
            .post(format!("{}/oauth/token", server.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .send()
    };
    for guess in ["jsk_guess1", "jsk_guess2", "jsk_guess3"] {
        let response = token(&attacker, &id, guess).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = token(&attacker, &id, &key).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // The real client, elsewhere, is not locked out.
    let response = token(&elsewhere, &id, &key).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the client was locked out"
    );
    let events = audit(server, &admin, "oauth.client_auth").await;
    assert!(
        events
            .iter()
            .filter(|e| e["outcome"] == "failure")
            .all(|e| e["client_addr"] == "127.0.0.7"),
        "{events:?}"
    );
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains("jsk_guess")
    );
    server.clock.advance(61);
    let response = token(&attacker, &id, &key).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Per address: guessing across client ids uses up the address, not the real client.
    server.clock.advance(61);
    let other = |i: u8| format!("0190a0b0-c0d0-7000-8000-0000000000{i:02}");
    for i in 0..30 {
        let response = token(&attacker, &other(i), "jsk_guess").await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = token(&attacker, &id, &key).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let response = token(&elsewhere, &id, &key).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Per client id across addresses: guessing spread over many addresses stops fresh
    // addresses, not the client where it authenticated before.
    server.clock.advance(61);
    for i in 0..30 {
        let response = token(&client_from([127, 0, 6, i]), &id, "jsk_guess")
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{i}");
    }
    let response = token(&client_from([127, 0, 7, 1]), &id, &key)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let response = token(&elsewhere, &id, &key).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the client was locked out"
    );
}

// ------------------------------------------------------------------------------------------
// 7. Concurrent changes
// ------------------------------------------------------------------------------------------

/// Asserts that the directory's copy of a service user (what verification reads) is the
/// database's row, and answers the row.
async fn stored_service_user(
    service: &jeton_server::service::Service,
    id: &str,
) -> jeton_store::ServiceUserRecord {
    let id: jeton_core::ServiceUserId = id.parse().unwrap();
    let stored = service.store().get_service_user(id).await.unwrap().unwrap();
    let held = service
        .directory()
        .user(id.into())
        .expect("in the directory");
    assert_eq!(
        *held,
        jeton_server::directory::Principal::from(&stored),
        "the directory differs from the database"
    );
    stored
}

/// The same for a user, by username.
async fn stored_user(
    service: &jeton_server::service::Service,
    username: &str,
) -> jeton_store::UserRecord {
    let stored = service
        .store()
        .get_user_by_name(username)
        .await
        .unwrap()
        .unwrap();
    let held = service
        .directory()
        .user(stored.id)
        .expect("in the directory");
    assert_eq!(
        *held,
        jeton_server::directory::Principal::from(&stored),
        "the directory differs from the database"
    );
    stored
}

/// Admin B's PATCH of a service user's description reads it, admin A disables it (answered),
/// then B's PATCH writes. The disable stays: B writes its description only, answers the stored
/// truth (disabled), and the key stays refused — in the database and in the directory that
/// verification reads. The store holds B's read until A has been answered, so the interleaving
/// is the bad one every time.
#[tokio::test]
async fn a_change_from_a_stale_read_does_not_re_enable_a_disabled_service_user() {
    let (server, service, gated) = spawn_gated(|_| {}).await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    assert_eq!(
        server.get("/api/v1/auth/verify", &key).await.0,
        StatusCode::OK
    );

    common::feed_idle(&service).await;
    let held = gated.hold(&id);
    let path = format!("/api/v1/service-users/{id}");
    let describe = server.call(
        Method::PATCH,
        &path,
        Some(&admin),
        Some(json!({"description": "written from a stale read"})),
    );
    let disable = async {
        held.reached.await.unwrap();
        let answer = server
            .call(Method::POST, &format!("{path}/disable"), Some(&admin), None)
            .await;
        held.release.send(()).unwrap();
        answer
    };
    let ((status, described), (disable_status, disabled)) = tokio::join!(describe, disable);
    assert_eq!(disable_status, StatusCode::OK, "{disabled}");
    assert_eq!(disabled["active"], false, "{disabled}");
    assert_eq!(status, StatusCode::OK, "{described}");
    assert_eq!(described["description"], "written from a stale read");
    assert_eq!(
        described["active"], false,
        "answered a merged copy: {described}"
    );

    let (status, shown) = server.get(&path, &admin).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["active"], false, "re-enabled: {shown}");
    assert_eq!(shown["description"], "written from a stale read");
    assert!(!stored_service_user(&service, &id).await.active);
    let (status, body) = server.get("/api/v1/auth/verify", &key).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    // The token endpoint refuses the key too.
    let response = server
        .http
        .post(format!("{}/oauth/token", server.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", key.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Both changes are audited.
    let events = audit(&server, &admin, "service_user").await;
    for action in ["service_user.disable", "service_user.update"] {
        assert!(
            events
                .iter()
                .any(|e| e["action"] == action && e["target_id"] == id.as_str()),
            "{action} missing: {events:?}"
        );
    }
}

/// The same for users: a token-policy change read the user before an administrator
/// deactivated it, and writes after. The user stays deactivated — no login, its session
/// refused — and gets the policy.
#[tokio::test]
async fn a_policy_change_from_a_stale_read_does_not_re_activate_a_user() {
    let (server, service, gated) = spawn_gated(|_| {}).await;
    let admin = server.admin().await;
    let session = server.user(&admin, "bob", "tenant-user", None).await;

    common::feed_idle(&service).await;
    let held = gated.hold("bob");
    let set_policy = server.call(
        Method::PUT,
        "/api/v1/users/bob/token-policy",
        Some(&admin),
        Some(json!({"max_duration": "7d"})),
    );
    let deactivate = async {
        held.reached.await.unwrap();
        let answer = server
            .call(
                Method::PATCH,
                "/api/v1/users/bob",
                Some(&admin),
                Some(json!({"active": false})),
            )
            .await;
        held.release.send(()).unwrap();
        answer
    };
    let ((status, policy), (deactivate_status, deactivated)) = tokio::join!(set_policy, deactivate);
    assert_eq!(deactivate_status, StatusCode::OK, "{deactivated}");
    assert_eq!(deactivated["active"], false, "{deactivated}");
    assert_eq!(status, StatusCode::OK, "{policy}");

    let stored = stored_user(&service, "bob").await;
    assert!(!stored.active, "re-activated: {stored:?}");
    assert_eq!(stored.token_max_secs, Some(7 * 86_400));
    let (status, shown) = server.get("/api/v1/users/bob", &admin).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["active"], false, "{shown}");
    let (status, body) = server.get("/api/v1/auth/verify", &session).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "bob", "password": "password-123"})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
}

/// Free-running races over HTTP, 50 rounds: the service user is enabled (answered), then a
/// disable and a description change are sent at once. Whatever order they land in, the disable
/// is the last word on `active`: the service user ends disabled, its key refused, and the
/// directory holds exactly the database's row.
#[tokio::test]
async fn disables_racing_description_changes_always_stick() {
    let (server, service) = spawn_with_service(|_| {}).await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    let path = format!("/api/v1/service-users/{id}");
    let (enable, disable) = (format!("{path}/enable"), format!("{path}/disable"));
    for round in 0..50 {
        let (status, body) = server.call(Method::POST, &enable, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            server.get("/api/v1/auth/verify", &key).await.0,
            StatusCode::OK
        );
        let description = format!("round {round}");
        let ((disable_status, disabled), (describe_status, described)) = tokio::join!(
            server.call(Method::POST, &disable, Some(&admin), None),
            server.call(
                Method::PATCH,
                &path,
                Some(&admin),
                Some(json!({ "description": description })),
            ),
        );
        assert_eq!(disable_status, StatusCode::OK, "{disabled}");
        assert_eq!(describe_status, StatusCode::OK, "{described}");
        let stored = stored_service_user(&service, &id).await;
        assert!(!stored.active, "round {round}: the disable was undone");
        assert_eq!(stored.description, description, "round {round}");
        assert_eq!(
            server.get("/api/v1/auth/verify", &key).await.0,
            StatusCode::UNAUTHORIZED,
            "round {round}: the key still works"
        );
    }
}

// ------------------------------------------------------------------------------------------
// 8. Limits
// ------------------------------------------------------------------------------------------

/// Bodies over `max_body_bytes` (64 KiB here): 413 in the API's JSON error format, whether
/// announced by `Content-Length` or streamed in chunks, on every kind of endpoint.
#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let served = spawn_served(|c| c.max_body_bytes = 64 * 1024).await;
    let server = &served.server;
    let admin = server.admin().await;
    let big = "x".repeat(100 * 1024);
    let cases: Vec<(&str, &str, &str, String)> = vec![
        (
            "/api/v1/tokens",
            "application/json",
            "json",
            json!({"name": "t", "description": big}).to_string(),
        ),
        (
            "/api/v1/auth/login",
            "application/json",
            "json",
            json!({"username": "admin", "password": big}).to_string(),
        ),
        ("/api/v1/sql", "text/plain", "json", big.clone()),
        (
            "/api/v1/sql",
            "application/json",
            "json",
            json!({ "sql": big }).to_string(),
        ),
        (
            "/oauth/token",
            "application/x-www-form-urlencoded",
            "oauth",
            format!("grant_type=client_credentials&client_secret={big}"),
        ),
    ];
    for (path, content_type, format, body) in cases {
        for chunked in [false, true] {
            let mut request = server
                .http
                .post(format!("{}{path}", server.base))
                .bearer_auth(&admin)
                .header("content-type", content_type);
            request = if chunked {
                let chunks: Vec<Result<String, std::io::Error>> = body
                    .as_bytes()
                    .chunks(8 * 1024)
                    .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
                    .collect();
                request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    chunks,
                )))
            } else {
                request.body(body.clone())
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            let case = format!("{path} {content_type} chunked={chunked}");
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{case}: {text}");
            let json: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("{case}: not JSON: {text}"));
            match format {
                "oauth" => assert!(json["error"].is_string(), "{case}: {json}"),
                _ => assert_eq!(json["error"]["code"], "payload_too_large", "{case}: {json}"),
            }
        }
    }
    // The server is fine afterwards.
    let (status, _) = server.get("/api/v1/me", &admin).await;
    assert_eq!(status, StatusCode::OK);
}

/// Request heads over 64 KiB: 431 (hyper answers it and closes the connection), never a hang
/// or a 5xx; too many headers likewise. The server keeps serving.
#[tokio::test]
async fn oversized_request_heads_get_431() {
    let served = spawn_served(|_| {}).await;
    let server = &served.server;
    let admin = server.admin().await;
    for (what, request) in [
        (
            "one 64 KiB header",
            server
                .http
                .get(format!("{}/api/v1/me", server.base))
                .bearer_auth(&admin)
                .header("x-filler", "f".repeat(64 * 1024)),
        ),
        (
            "a 70 KB token",
            server
                .http
                .get(format!("{}/api/v1/me", server.base))
                .bearer_auth("a".repeat(70_000)),
        ),
        (
            "a 70 KB path",
            server
                .http
                .get(format!("{}/{}", server.base, "p".repeat(70_000))),
        ),
        ("200 headers", {
            let mut request = server.http.get(format!("{}/api/v1/me", server.base));
            for i in 0..200 {
                request = request.header(format!("x-h{i}"), "v");
            }
            request
        }),
    ] {
        let started = Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer in 10 s"));
        match response {
            Ok(response) => {
                let status = response.status();
                assert!(
                    status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                        || status == StatusCode::URI_TOO_LONG
                        || status == StatusCode::BAD_REQUEST,
                    "{what}: {status}"
                );
            }
            // The server may close before the client has finished sending; not a hang.
            Err(err) => assert!(started.elapsed() < Duration::from_secs(5), "{what}: {err}"),
        }
    }
    // A head just under the limit is fine.
    let response = server
        .http
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&admin)
        .header("x-filler", "f".repeat(60 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Scripts of the command language over 256 KiB: 413, even when the body limit allows them.
#[tokio::test]
async fn scripts_over_256_kib_get_413() {
    let served = spawn_served(|c| c.max_body_bytes = 1024 * 1024).await;
    let server = &served.server;
    let admin = server.admin().await;
    let script = format!(
        "SHOW USERS;{}",
        " ".repeat(jeton_server::sql::MAX_SCRIPT_BYTES)
    );
    for (content_type, body) in [
        ("text/plain", script.clone()),
        ("application/json", json!({ "sql": script }).to_string()),
    ] {
        let response = server
            .http
            .post(format!("{}/api/v1/sql", server.base))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "{content_type}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
        assert_eq!(body["results"], json!([]), "nothing ran: {body}");
    }
    let response = server
        .http
        .post(format!("{}/api/v1/sql", server.base))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("SHOW USERS;")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Page sizes: 1 to 500; anything else is a 400 with a message that says so.
#[tokio::test]
async fn page_sizes_are_bounded() {
    let server = spawn().await;
    let admin = server.admin().await;
    for path in [
        "/api/v1/tokens",
        "/api/v1/users",
        "/api/v1/users/admin/tokens",
        "/api/v1/service-users",
        "/api/v1/audit",
    ] {
        for limit in ["100000", "501", "0", "-1", "99999999999999999999", "ten"] {
            let (status, body) = server.get(&format!("{path}?limit={limit}"), &admin).await;
            assert_error(status, &body, StatusCode::BAD_REQUEST);
            assert!(
                body["error"]["message"].as_str().unwrap().contains("limit"),
                "{path}?limit={limit}: {body}"
            );
        }
        let (status, body) = server.get(&format!("{path}?limit=500"), &admin).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}

/// Reads until the server closes the connection; answers what it sent and how long it took.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => panic!(
                "the connection was still open after {limit:?} (received {:?})",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, started.elapsed()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Slow clients against the real server loop: a request line and then nothing, nothing at
/// all, and headers trickled a byte at a time. Each is disconnected once the header-read
/// timeout (1 s here) has passed — trickling does not extend it — and the server keeps
/// serving others meanwhile.
#[tokio::test]
async fn slow_clients_are_disconnected_after_the_header_read_timeout() {
    let served = spawn_served(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.idle_timeout = Duration::from_secs(30);
    })
    .await;
    let addr = served.addr();

    let request_line_only = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        until_closed(&mut stream, Duration::from_secs(5)).await
    };
    let silent = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        until_closed(&mut stream, Duration::from_secs(5)).await
    };
    let trickle = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = b"GET /healthz HTTP/1.1\r\nHost: jeton\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let started = Instant::now();
        for byte in head {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if started.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        let (received, _) = until_closed(&mut stream, Duration::from_secs(5)).await;
        (received, started.elapsed())
    };
    // Meanwhile a normal client is served.
    let normal = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        served
            .server
            .http
            .get(format!("{}/healthz", served.server.base))
            .send()
            .await
            .unwrap()
            .status()
    };
    let (line_only, silent, trickle, normal) =
        tokio::join!(request_line_only, silent, trickle, normal);
    assert_eq!(normal, StatusCode::OK);
    for (what, (received, took)) in [
        ("request line only", line_only),
        ("silent", silent),
        ("trickled headers", trickle),
    ] {
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "{what}: closed after {took:?}"
        );
        // Closed without an answer, or with a 408; never a request served.
        let text = String::from_utf8_lossy(&received);
        assert!(
            received.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{what}: {text}"
        );
    }
    // The server still answers.
    let response = served
        .server
        .http
        .get(format!("{}/healthz", served.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Sends a request on a raw connection and reads exactly one response (with Content-Length).
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(
            n > 0,
            "closed early: {}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// Keep-alive connections: reused while in use, closed once idle for the idle timeout (1 s
/// here, shorter than the header-read timeout so that the idle rule is the one seen).
#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let served = spawn_served(|c| {
        c.header_read_timeout = Duration::from_secs(20);
        c.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stream = TcpStream::connect(served.addr()).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: jeton\r\n\r\n";
    for _ in 0..3 {
        let answer = exchange(&mut stream, request).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let (received, took) = until_closed(&mut stream, Duration::from_secs(4)).await;
    assert!(received.is_empty());
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
}

/// A request being handled is bounded by the request timeout, not the idle timeout: a body
/// that pauses longer than the idle timeout still gets its answer.
#[tokio::test]
async fn a_request_in_progress_outlives_the_idle_timeout() {
    let served = spawn_served(|c| {
        c.header_read_timeout = Duration::from_secs(20);
        c.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stream = TcpStream::connect(served.addr()).await.unwrap();
    let body = json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: jeton\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let answer = exchange(&mut stream, &body.as_bytes()[5..]).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Shutdown: idle connections close at once, the loop returns, and nothing listens any more.
#[tokio::test]
async fn graceful_shutdown_closes_idle_connections_and_stops() {
    let served = spawn_served(|c| c.idle_timeout = Duration::from_secs(60)).await;
    let addr = served.addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let answer = exchange(&mut stream, b"GET /healthz HTTP/1.1\r\nHost: jeton\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), served.shut_down())
        .await
        .expect("shut down in time")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let (received, _) = until_closed(&mut stream, Duration::from_secs(2)).await;
    assert!(received.is_empty());
    assert!(TcpStream::connect(addr).await.is_err());
}

/// A request whose body never finishes arriving is answered 408, in the API's error format,
/// once the request timeout (1 s here) has passed: a slow body cannot hold a request forever.
#[tokio::test]
async fn slow_bodies_get_408_after_the_request_timeout() {
    let served = spawn_served(|c| {
        c.request_timeout = Duration::from_secs(1);
        c.idle_timeout = Duration::from_secs(30);
    })
    .await;
    let mut stream = TcpStream::connect(served.addr()).await.unwrap();
    let started = Instant::now();
    let answer = exchange(
        &mut stream,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: jeton\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
    )
    .await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
    let body: Value =
        serde_json::from_str(&answer[answer.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert!(body["error"]["message"].is_string());
}

/// The real server loop still upgrades to WebSockets, and an upgraded session is not cut by
/// the idle or header-read timeouts (1 s here): it governs itself from then on.
#[tokio::test]
async fn websockets_work_through_the_server_loop_and_outlive_its_timeouts() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let served = spawn_served(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let admin = served.admin().await;
    let url = format!("{}/api/v1/sql/ws", served.base.replace("http://", "ws://"));
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            url.as_str(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {admin}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for pause in [0, 2500] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        socket.send(Message::text("SHOW USERS;")).await.unwrap();
        let reply: Value = match socket.next().await.unwrap().unwrap() {
            Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(reply["results"][0]["rows"][0][0], "admin", "{reply}");
    }
}

/// Huge usernames are refused like any wrong one, and count against one throttle entry (the
/// first 128 characters), so that they cannot fill the throttle's memory: 30 different huge
/// names from 30 addresses use up the one per-username entry.
#[tokio::test]
async fn huge_usernames_are_refused_and_share_a_throttle_entry() {
    let served = spawn_served(|c| c.login_attempts = 3).await;
    let server = &served.server;
    let long = "u".repeat(60_000);
    for i in 0..30 {
        let (status, _, body) = login_from(
            &client_from([127, 0, 1, i]),
            server,
            &format!("{long}{i}"),
            "password-123",
        )
        .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED);
    }
    let next = login_from(
        &client_from([127, 0, 1, 200]),
        server,
        &format!("{long}x"),
        "x",
    )
    .await;
    assert_throttled("another huge name from another address", &next);
}

/// Shutdown lets a request in progress finish: its answer arrives, then the loop returns.
#[tokio::test]
async fn graceful_shutdown_finishes_a_request_in_progress() {
    let served = spawn_served(|_| {}).await;
    let mut stream = TcpStream::connect(served.addr()).await.unwrap();
    let body = json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: jeton\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(served.shut_down());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "stopped before the request finished"
    );
    let answer = exchange(&mut stream, &body.as_bytes()[5..]).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("stopped in time")
        .unwrap()
        .unwrap();
}

// ---- Issue 12 §1: The `auth_token` cookie is a credential on every API route, with no origin check ----

/// The body of every cross-origin refusal.
fn cross_origin_refusal() -> Value {
    json!({"error": {"code": "forbidden", "message": "cross-origin request refused"}})
}

/// What a browser sends from pages that are not Jeton's: another port of the same host (same
/// site, so `SameSite=Strict` lets the cookie through), another site, an opaque origin, no
/// origin at all, and Jeton's own origin contradicted by the browser's `Sec-Fetch-Site`.
fn foreign_origins(server: &Server) -> Vec<Vec<(&'static str, String)>> {
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    vec![
        vec![
            ("origin", other_port.clone()),
            ("sec-fetch-site", "same-site".to_string()),
        ],
        vec![("origin", other_port)],
        vec![
            ("origin", "http://localhost:1".to_string()),
            ("sec-fetch-site", "same-site".to_string()),
        ],
        vec![
            ("origin", "https://evil.example".to_string()),
            ("sec-fetch-site", "cross-site".to_string()),
        ],
        vec![("origin", "null".to_string())],
        vec![],
        vec![("sec-fetch-site", "same-origin".to_string())],
        vec![
            ("origin", server.base.clone()),
            ("sec-fetch-site", "same-site".to_string()),
        ],
        vec![
            ("origin", server.base.clone()),
            ("sec-fetch-site", "none".to_string()),
        ],
    ]
}

/// A request with the session cookie and `headers`.
fn with_cookie(
    server: &Server,
    method: Method,
    path: &str,
    cookie: &str,
    headers: &[(&'static str, String)],
) -> reqwest::RequestBuilder {
    let mut request = server
        .http
        .request(method, format!("{}{path}", server.base))
        .header("cookie", format!("theme=dark; auth_token={cookie}"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request
}

/// A request: method, path, and the body with its content type, if any.
type Write = (Method, String, Option<(&'static str, String)>);

/// The state-changing requests of the attack in the issue and of its class, as a page would
/// send them with the cookie: the command language as `text/plain` and as JSON, a JSON create,
/// body-less POSTs (revoke all of a user's tokens, disable a service user), PATCH and DELETE.
fn cookie_writes(alice: &str, svc_id: &str, token_id: &str) -> Vec<Write> {
    vec![
        (
            Method::POST,
            "/api/v1/sql".to_string(),
            Some((
                "text/plain",
                "CREATE USER x1 PASSWORD 'password-123' ACCESS LEVEL 'root';".to_string(),
            )),
        ),
        (
            Method::POST,
            "/api/v1/sql".to_string(),
            Some((
                "application/json",
                json!({"sql": "CREATE USER x2 PASSWORD 'password-123' ACCESS LEVEL 'root';"})
                    .to_string(),
            )),
        ),
        (
            Method::POST,
            "/api/v1/users".to_string(),
            Some((
                "application/json",
                json!({"username": "x3", "password": "password-123", "access_level": "root"})
                    .to_string(),
            )),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{alice}/tokens/revoke"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/service-users/{svc_id}/disable"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{alice}"),
            Some(("application/json", json!({"active": false}).to_string())),
        ),
        (Method::DELETE, format!("/api/v1/tokens/{token_id}"), None),
        (Method::POST, "/api/v1/tokens/revoke/self".to_string(), None),
    ]
}

/// What the requests above would change, as root sees it.
async fn cookie_write_effects(
    server: &Server,
    admin: &str,
    alice_token: &str,
    svc_key: &str,
) -> String {
    let mut seen = Vec::new();
    for user in ["x1", "x2", "x3"] {
        seen.push(
            server
                .get(&format!("/api/v1/users/{user}"), admin)
                .await
                .0
                .to_string(),
        );
    }
    seen.push(server.get("/api/v1/me", alice_token).await.0.to_string());
    let verify = server
        .http
        .get(format!("{}/api/v1/auth/verify", server.base))
        .header("x-api-key", svc_key)
        .send()
        .await
        .unwrap();
    seen.push(verify.status().to_string());
    seen.join(" ")
}

/// Every state-changing request authenticated by the session cookie from a page that is not
/// Jeton's is refused with the one 403 body, audited with its origin and path, and changes
/// nothing; the same requests from Jeton's origin work (with JSON, or no body); a `text/plain`,
/// multipart or untyped body with the cookie is refused even from Jeton's origin (415), while
/// the same `text/plain` script with a bearer credential runs; and reads with the cookie are
/// not concerned.
#[tokio::test]
async fn cookie_writes_from_other_origins_are_refused_audited_and_change_nothing() {
    let server = spawn().await;
    let admin = server.admin().await;
    // The session of an administrator logged into the UI.
    let cookie = server.admin().await;
    let alice_token = server.user(&admin, "alice", "tenant-user", None).await;
    let (svc_id, svc_key) = service_user(&server, &admin, "etl").await;
    let (status, token) = server.create_token(&admin, json!({"name": "victim"})).await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let token_id = token["id"].as_str().unwrap().to_string();
    let before = cookie_write_effects(&server, &admin, &alice_token, &svc_key).await;

    let writes = cookie_writes("alice", &svc_id, &token_id);
    let mut refused = 0;
    for origin in foreign_origins(&server) {
        for (method, path, body) in &writes {
            let mut request = with_cookie(&server, method.clone(), path, &cookie, &origin);
            if let Some((content_type, body)) = body {
                request = request
                    .header("content-type", *content_type)
                    .body(body.clone());
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let answer: Value = response.json().await.unwrap();
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} {origin:?}: {answer}"
            );
            assert_eq!(answer, cross_origin_refusal(), "{method} {path} {origin:?}");
            refused += 1;
        }
    }
    assert_eq!(
        cookie_write_effects(&server, &admin, &alice_token, &svc_key).await,
        before,
        "a refused request changed something"
    );
    // The admin's session still works: nothing was revoked in its name.
    assert_eq!(server.get("/api/v1/me", &cookie).await.0, StatusCode::OK);

    // Each refusal is audited as the admin's refused request, with the origin and the path.
    let events = audit(&server, &admin, "auth.cross_origin_refused").await;
    assert_eq!(events.len(), refused, "{events:?}");
    let other_port = foreign_origins(&server)[0][0].1.clone();
    assert!(
        events
            .iter()
            .all(|e| e["actor"] == "admin" && e["outcome"] == "denied")
    );
    assert!(
        events
            .iter()
            .any(|e| e["details"]["origin"] == other_port.as_str()
                && e["details"]["path"] == "/api/v1/sql"
                && e["details"]["sec_fetch_site"] == "same-site")
    );
    assert!(
        events
            .iter()
            .any(|e| e["details"]["reason"] == "missing_origin")
    );
    // The route, not the raw path: the sender's text may name another tenant's objects.
    assert!(
        events
            .iter()
            .any(|e| e["details"]["path"] == "/api/v1/service-users/{service_user}/disable"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.to_string().contains(&svc_id)));
    assert!(
        events
            .iter()
            .any(|e| e["details"]["reason"] == "opaque_origin")
    );

    // Reads with the cookie are not concerned, whatever the origin.
    for origin in foreign_origins(&server) {
        let response = with_cookie(&server, Method::GET, "/api/v1/me", &cookie, &origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{origin:?}");
    }

    // From Jeton's own origin, JSON or body-less writes work as before...
    let own = vec![
        ("origin", server.base.clone()),
        ("sec-fetch-site", "same-origin".to_string()),
    ];
    for (method, path, body) in writes.iter().skip(1).take(4) {
        let mut request = with_cookie(&server, method.clone(), path, &cookie, &own);
        if let Some((content_type, body)) = body {
            request = request
                .header("content-type", *content_type)
                .body(body.clone());
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{method} {path}: {}",
            response.status()
        );
    }
    assert_eq!(
        server.get("/api/v1/users/x2", &admin).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/api/v1/users/x3", &admin).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/api/v1/me", &alice_token).await.0,
        StatusCode::UNAUTHORIZED
    );

    // ... but a body a page can send without a preflight is refused even from there (415),
    // and creates nothing.
    for (content_type, body) in [
        (
            Some("text/plain"),
            "CREATE USER x4 PASSWORD 'password-123';".to_string(),
        ),
        (
            Some("text/plain;charset=UTF-8"),
            "CREATE USER x4 PASSWORD 'password-123';".to_string(),
        ),
        (
            Some("multipart/form-data; boundary=b"),
            "--b\r\n\r\nCREATE USER x4;\r\n--b--".to_string(),
        ),
        (
            Some("application/x-www-form-urlencoded"),
            "sql=CREATE+USER+x4".to_string(),
        ),
        (
            None,
            json!({"sql": "CREATE USER x4 PASSWORD 'password-123';"}).to_string(),
        ),
    ] {
        let mut request = with_cookie(&server, Method::POST, "/api/v1/sql", &cookie, &own);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.body(body).send().await.unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_error(status, &answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            answer["error"]["code"], "unsupported_media_type",
            "{content_type:?}"
        );
    }
    assert_eq!(
        server.get("/api/v1/users/x4", &admin).await.0,
        StatusCode::NOT_FOUND
    );

    // The same text/plain script with a bearer credential or an API key, from any origin, runs.
    let (status, created) = server
        .post(
            "/api/v1/service-users",
            &admin,
            json!({"name": "ops", "access_level": "tenant-admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let ops_key = created["api_key"].as_str().unwrap().to_string();
    for (name, value, script) in [
        (
            "authorization",
            format!("Bearer {admin}"),
            "CREATE USER x5 PASSWORD 'password-123';",
        ),
        (
            "x-api-key",
            ops_key,
            "CREATE USER x6 PASSWORD 'password-123';",
        ),
    ] {
        let response = server
            .http
            .post(format!("{}/api/v1/sql", server.base))
            .header(name, value)
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "text/plain")
            .body(script)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{name}: {}",
            response.text().await.unwrap()
        );
    }
    assert_eq!(
        server.get("/api/v1/users/x5", &admin).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/api/v1/users/x6", &admin).await.0,
        StatusCode::OK
    );
}

/// A WebSocket upgrade of `/api/v1/sql/ws` over a raw socket, with `headers`; answers the head.
async fn websocket_handshake(server: &Server, headers: &[(&str, String)]) -> String {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "GET /api/v1/sql/ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&received).to_string()
}

/// Cross-site WebSocket hijacking: the SQL WebSocket with the session cookie and a foreign (or
/// no, or opaque) origin is refused with 403 before the upgrade — no 101 is ever sent, so no
/// script runs; with Jeton's origin it upgrades; a bearer credential upgrades from anywhere.
#[tokio::test]
async fn the_sql_websocket_refuses_the_cookie_from_other_origins_before_the_upgrade() {
    let server = spawn().await;
    let admin = server.admin().await;
    let cookie = ("cookie", format!("auth_token={admin}"));
    for origin in foreign_origins(&server) {
        let mut headers = vec![cookie.clone()];
        headers.extend(origin.iter().map(|(n, v)| (*n, v.clone())));
        let head = websocket_handshake(&server, &headers).await;
        assert!(head.starts_with("HTTP/1.1 403"), "{origin:?}: {head}");
        assert!(!head.contains(" 101 "), "{head}");
    }
    let events = audit(&server, &admin, "auth.cross_origin_refused").await;
    assert!(
        events
            .iter()
            .any(|e| e["details"]["path"] == "/api/v1/sql/ws"),
        "{events:?}"
    );

    let own =
        websocket_handshake(&server, &[cookie.clone(), ("origin", server.base.clone())]).await;
    assert!(own.starts_with("HTTP/1.1 101"), "{own}");
    let bearer = websocket_handshake(
        &server,
        &[
            ("authorization", format!("Bearer {admin}")),
            ("origin", "https://evil.example".to_string()),
        ],
    )
    .await;
    assert!(bearer.starts_with("HTTP/1.1 101"), "{bearer}");
}

/// A Bearer credential spelt with a tab, extra spaces or another case is Jeton's credential
/// (read, and so verified, rather than passed over for the cookie behind it).
#[tokio::test]
async fn bearer_spellings_are_read_as_the_credential() {
    let server = spawn().await;
    let admin = server.admin().await;
    for value in [
        format!("Bearer\t{admin}"),
        format!("bearer   {admin}"),
        format!("BEARER \t {admin} "),
    ] {
        let response = server
            .http
            .get(format!("{}/api/v1/me", server.base))
            .header("authorization", value.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{value:?}");
    }
    // A bad Bearer credential is refused even with a good cookie behind it.
    let response = server
        .http
        .get(format!("{}/api/v1/me", server.base))
        .header("authorization", "Bearer\tnot-a-token")
        .header("cookie", format!("auth_token={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// The OAuth introspection and revocation endpoints are for programs: the session cookie is
/// not a client credential there, from any origin.
#[tokio::test]
async fn oauth_endpoints_do_not_take_the_session_cookie() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (status, token) = server.create_token(&admin, json!({"name": "kept"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let value = token["token"].as_str().unwrap();
    for path in ["/oauth/revoke", "/oauth/introspect"] {
        let response = server
            .http
            .post(format!("{}{path}", server.base))
            .header("cookie", format!("auth_token={admin}"))
            .header("origin", server.base.as_str())
            .form(&[("token", value)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(server.get("/api/v1/me", value).await.0, StatusCode::OK);
}

/// In gateway mode the UI's session cookie is scoped to `/ui/`, so that the upstream's pages
/// (same origin as Jeton) do not get it sent with their requests; the UI works with it; UI
/// pages that carry the form token refuse to be fetched by a script or framed; a cookie write
/// through the gateway from another origin is refused before the upstream sees it.
#[tokio::test]
async fn in_gateway_mode_the_ui_cookie_stays_under_ui_and_pages_refuse_scripts() {
    let upstream = Upstream::start().await;
    let server = spawn_with(|c| c.upstream = Some(upstream.base.clone())).await;
    let web = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = web
        .get(format!("{}/ui/login", server.base))
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookie_value(page.headers(), "jeton_login_csrf").unwrap();
    let html = page.text().await.unwrap();
    let csrf = form_token(&html);
    let answer = web
        .post(format!("{}/ui/login", server.base))
        .header("origin", server.base.as_str())
        .header("cookie", format!("jeton_login_csrf={login_cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let set: Vec<String> = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .filter(|v| v.starts_with("auth_token="))
        .collect();
    let session = set
        .iter()
        .find(|v| !v.contains("Max-Age=0"))
        .expect("a session cookie");
    assert!(session.contains("Path=/ui/"), "{session}");
    assert!(!session.contains("Path=/;"), "{session}");
    let session = set_cookie_value(answer.headers(), "auth_token").unwrap();

    // The UI works with it.
    let page = web
        .get(format!("{}/ui/settings/tokens", server.base))
        .header("cookie", format!("auth_token={session}"))
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = form_token(&page.text().await.unwrap());
    // A script of an upstream page cannot read a page with the form token, nor frame it.
    for (mode, dest) in [
        ("cors", "empty"),
        ("no-cors", "empty"),
        ("same-origin", "empty"),
        ("navigate", "iframe"),
    ] {
        let page = web
            .get(format!("{}/ui/settings/tokens", server.base))
            .header("cookie", format!("auth_token={session}"))
            .header("sec-fetch-mode", mode)
            .header("sec-fetch-dest", dest)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::FORBIDDEN, "{mode} {dest}");
        assert!(!page.text().await.unwrap().contains(&csrf));
    }
    // A form post with the token from a page of another origin: refused.
    let answer = web
        .post(format!("{}/ui/settings/tokens", server.base))
        .header("cookie", format!("auth_token={session}"))
        .header("origin", "http://127.0.0.1:1")
        .header("sec-fetch-site", "same-site")
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "stolen"),
            ("expires_in", "365d"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let admin = server.admin().await;
    let (_, tokens) = server.get("/api/v1/tokens", &admin).await;
    assert!(!tokens.to_string().contains("stolen"), "{tokens}");

    // A cookie write through the gateway from another origin never reaches the upstream.
    let response = server
        .http
        .post(format!("{}/upstream/write", server.base))
        .header("cookie", format!("auth_token={session}"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        upstream
            .seen()
            .iter()
            .all(|r| r["path"] != "/upstream/write")
    );
}

// ---- Issue 12 §2: Identity headers can be smuggled to the upstream ----

/// An upstream for gateway tests: records every request it receives (method, raw path, every
/// header as received, in order) and echoes it; `/set-cookie` answers `Set-Cookie` headers that
/// try to set Jeton's cookies.
struct Upstream {
    base: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Upstream {
    async fn start() -> Upstream {
        Upstream::start_at("").await
    }

    /// An upstream whose base URL has the path `base_path` (`/base`).
    async fn start_at(base_path: &str) -> Upstream {
        use axum::extract::Request;
        use axum::response::IntoResponse;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |request: Request| {
            let log = log.clone();
            async move {
                let headers: Vec<Value> = request
                    .headers()
                    .iter()
                    .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
                    .collect();
                let record = json!({
                    "method": request.method().as_str(),
                    "path": request.uri().path(),
                    "headers": headers,
                });
                log.lock().unwrap().push(record.clone());
                if request.uri().path().ends_with("/set-cookie") {
                    return (
                        [
                            ("set-cookie", "auth_token=planted; Path=/ui/"),
                            ("set-cookie", "AUTH%5FTOKEN=planted; Path=/"),
                            ("set-cookie", "auth.token=planted"),
                            ("set-cookie", "jeton_login_csrf=planted; Path=/ui/login"),
                            ("set-cookie", "theme=dark; Path=/"),
                        ],
                        axum::Json(record),
                    )
                        .into_response();
                }
                axum::Json(record).into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Upstream {
            base: format!("http://{addr}{base_path}"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
}

/// The values of the headers of a recorded request whose name, folded as a WSGI/CGI upstream
/// folds it (`_` as `-`, case ignored), is `name`.
fn folded_values(record: &Value, name: &str) -> Vec<String> {
    record["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            h[0].as_str()
                .unwrap()
                .to_ascii_lowercase()
                .replace('_', "-")
                == name
        })
        .map(|h| h[1].as_str().unwrap().to_string())
        .collect()
}

fn set_cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.contains("Max-Age=0"))
        .find_map(|v| {
            v.split(';')
                .next()?
                .strip_prefix(&format!("{name}="))
                .map(str::to_string)
        })
}

fn form_token(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a form token") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Identity headers in every spelling an upstream could fold into `X-Jeton-*`, API keys in
/// header spellings, Bearer credentials however spaced or cased, and Jeton's cookies under
/// encoded or folded names: none reaches the upstream, which sees exactly one `X-Jeton-User`,
/// Jeton's; other headers and cookies pass.
#[tokio::test]
async fn the_gateway_forwards_nothing_of_jetons_in_any_spelling() {
    let upstream = Upstream::start().await;
    let server = spawn_with(|c| c.upstream = Some(upstream.base.clone())).await;
    let admin = server.admin().await;
    let (_, key) = service_user(&server, &admin, "etl").await;
    let session = server.admin().await;
    let spoofed = [
        ("X_Jeton_User", "admin"),
        ("x-JETON-user", "admin"),
        ("X-Jeton_User", "admin"),
        ("x_jeton_tenant", "other"),
        ("X_JETON_SCOPES", "admin"),
        ("x-jeton-token-id", "00000000-0000-0000-0000-000000000000"),
        ("X_Api_Key", "jsk_smuggled"),
    ];
    let credentials = [
        ("x-api-key", key.clone()),
        ("authorization", format!("Bearer\t{key}")),
        ("authorization", format!("bearer   {key}")),
        ("authorization", format!("BEARER {key}")),
    ];
    for (i, (name, value)) in credentials.iter().enumerate() {
        let path = format!("/smuggle/{i}");
        let mut request = server
            .http
            .get(format!("{}{path}", server.base))
            .header(*name, value.as_str())
            .header("x-custom", "kept")
            .header(
                "cookie",
                format!(
                    "theme=dark; auth%5Ftoken={session}; AUTH_TOKEN={session}; auth.token={session}; auth%255Ftoken={session}; jeton_login_csrf=x"
                ),
            );
        for (spoof, spoof_value) in spoofed {
            request = request.header(spoof, spoof_value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}: {value:?}");
        let record: Value = response.json().await.unwrap();
        let text = record.to_string();
        assert_eq!(folded_values(&record, "x-jeton-user"), ["etl"], "{text}");
        assert_eq!(
            folded_values(&record, "x-jeton-tenant"),
            ["default"],
            "{text}"
        );
        assert_eq!(folded_values(&record, "x-jeton-scopes").len(), 1, "{text}");
        assert!(folded_values(&record, "x-api-key").is_empty(), "{text}");
        assert!(folded_values(&record, "authorization").is_empty(), "{text}");
        assert_eq!(folded_values(&record, "cookie"), ["theme=dark"], "{text}");
        assert_eq!(folded_values(&record, "x-custom"), ["kept"], "{text}");
        assert!(!text.contains(&key) && !text.contains(&session), "{text}");
        assert!(
            !text.contains("jsk_smuggled") && !text.contains("00000000-0000"),
            "{text}"
        );
    }
    // Another scheme is the upstream's own business, and passes.
    let response = server
        .http
        .get(format!("{}/basic", server.base))
        .header("x-api-key", &key)
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    let record: Value = response.json().await.unwrap();
    assert_eq!(
        folded_values(&record, "authorization"),
        ["Basic dXNlcjpwYXNz"]
    );
}

/// Forward auth never answers a client's identity header, and refuses a request that carries
/// one in any spelling: a proxy would pass it to the upstream beside Jeton's.
#[tokio::test]
async fn forward_auth_refuses_requests_that_carry_identity_headers() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (_, key) = service_user(&server, &admin, "etl").await;
    for name in [
        "X-Jeton-User",
        "X_Jeton_User",
        "x-JETON-user",
        "X-Jeton_User",
        "x_jeton_tenant",
    ] {
        let response = server
            .http
            .get(format!("{}/api/v1/auth/verify", server.base))
            .header("x-api-key", &key)
            .header(name, "admin")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}");
        assert!(
            response
                .headers()
                .iter()
                .all(|(_, v)| v.as_bytes() != b"admin"),
            "{name}: {:?}",
            response.headers()
        );
    }
    let response = server
        .http
        .get(format!("{}/api/v1/auth/verify", server.base))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-jeton-user"], "etl");
}

/// `--upstream http://h/base`: a path whose dot segments, in any encoding (`%2e`, `%252e`,
/// `..%2f`, backslashes, `..;`), climb out of the base path is refused with 400 and never
/// reaches the upstream; paths that stay inside are forwarded under the base.
#[tokio::test]
async fn the_gateway_refuses_paths_that_leave_the_upstream_base() {
    let upstream = Upstream::start_at("/base").await;
    let server = spawn_with(|c| c.upstream = Some(upstream.base.clone())).await;
    let admin = server.admin().await;
    let (_, key) = service_user(&server, &admin, "etl").await;
    let addr = server.base.trim_start_matches("http://").to_string();
    for path in [
        "/../secret",
        "/%2e%2e/secret",
        "/%2E%2e/secret",
        "/.%2e/secret",
        "/%252e%252e/secret",
        "/%25252e%25252e/secret",
        "/x/..%2f..%2fsecret",
        "/..%2fsecret",
        "/x/%2e%2e%2f%2e%2e%2fsecret",
        "/%5c..%5csecret",
        "/..%5csecret",
        "/..\\secret",
        "/x\\..\\..\\secret",
        "/..;/secret",
        "/x/y/../../../secret",
    ] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n"
        );
        let answer = exchange(&mut stream, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
    }
    assert!(
        upstream.seen().is_empty(),
        "the upstream saw {:?}",
        upstream.seen()
    );
    for (path, lands) in [("/inside/x", "/base/inside/x"), ("/a/../b", "/base/b")] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n"
        );
        let answer = exchange(&mut stream, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        assert!(
            answer.contains(&format!(r#""path":"{lands}""#)),
            "{path}: {answer}"
        );
    }
}

/// The client's `X-Forwarded-*` and `Forwarded` headers (in any spelling) are replaced by
/// Jeton's own unless `--trust-forwarded-headers` says a proxy in front sets them; then the
/// standard spellings pass and the address chain is extended.
#[tokio::test]
async fn forwarded_headers_from_the_client_pass_only_when_trusted() {
    for trusted in [false, true] {
        let upstream = Upstream::start().await;
        let server = spawn_with(|c| {
            c.upstream = Some(upstream.base.clone());
            c.trust_forwarded_headers = trusted;
        })
        .await;
        let admin = server.admin().await;
        let (_, key) = service_user(&server, &admin, "etl").await;
        let response = server
            .http
            .get(format!("{}/where", server.base))
            .header("x-api-key", &key)
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-for", "203.0.113.9")
            .header("forwarded", "for=203.0.113.9;host=evil.example;proto=https")
            .header("x_forwarded_host", "evil2.example")
            .header("x-real-ip", "203.0.113.9")
            .send()
            .await
            .unwrap();
        let record: Value = response.json().await.unwrap();
        let host = server.base.trim_start_matches("http://");
        let (want_host, want_proto, want_for) = if trusted {
            ("evil.example", "https", "203.0.113.9, 127.0.0.1")
        } else {
            (host, "http", "127.0.0.1")
        };
        let text = record.to_string();
        assert_eq!(
            folded_values(&record, "x-forwarded-host"),
            [want_host],
            "{trusted}: {text}"
        );
        assert_eq!(
            folded_values(&record, "x-forwarded-proto"),
            [want_proto],
            "{trusted}: {text}"
        );
        assert_eq!(
            folded_values(&record, "x-forwarded-for"),
            [want_for],
            "{trusted}: {text}"
        );
        assert!(!text.contains("evil2.example"), "{text}");
        assert_eq!(
            folded_values(&record, "forwarded").is_empty(),
            !trusted,
            "{text}"
        );
        assert_eq!(
            folded_values(&record, "x-real-ip").is_empty(),
            !trusted,
            "{text}"
        );
    }
}

/// The upstream's pages share Jeton's origin: its `Set-Cookie` for Jeton's cookies, in any
/// spelling, is dropped; its own cookies pass.
#[tokio::test]
async fn the_upstream_cannot_set_jetons_cookies() {
    let upstream = Upstream::start().await;
    let server = spawn_with(|c| c.upstream = Some(upstream.base.clone())).await;
    let admin = server.admin().await;
    let (_, key) = service_user(&server, &admin, "etl").await;
    let response = server
        .http
        .get(format!("{}/set-cookie", server.base))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set, ["theme=dark; Path=/"]);
}

// ---- Issue 12 §4: signing keys sealed at rest, and withdrawn at once ----

/// The DER of an Ed25519 PKCS#8 private key up to its 32-byte seed (RFC 8410).
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file of a SQLite database but its master key: what a dump or a copied backup holds.
fn database_files(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("jeton.db") && !name.ends_with(".master-key") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

async fn jwks_of(base: &str) -> Value {
    reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn published_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

fn kid_of(jwt: &str) -> String {
    let header = URL_SAFE_NO_PAD
        .decode(jwt.split('.').next().unwrap())
        .unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What someone holding only a dump can forge with it: an Ed25519 private key (PKCS#8, as
/// the table held them before sealing) whose public key the JWKS publishes, or the API-key
/// hashing secret — a 64-hex-character run under which a known API key hashes to a hash the
/// dump holds (with it, stolen hashes can be tested offline and keys recognised).
fn forgeries(dump: &[u8], jwks: &Value, api_key: &str) -> Vec<String> {
    let mut found = Vec::new();
    let published: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["x"].as_str().unwrap().to_string())
        .collect();
    for at in 0..dump.len().saturating_sub(48) {
        if dump[at..].starts_with(&PKCS8_ED25519_PREFIX) {
            let seed: [u8; 32] = dump[at + 16..at + 48].try_into().unwrap();
            let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
            if published.contains(&URL_SAFE_NO_PAD.encode(public.to_bytes())) {
                found.push(format!("a signing key in clear at byte {at}"));
            }
        }
    }
    let is_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let mut runs = std::collections::HashSet::new();
    let mut start = 0;
    while start < dump.len() {
        let len = dump[start..].iter().take_while(|b| is_hex(b)).count();
        if len >= 64 {
            for window in dump[start..start + len].windows(64) {
                runs.insert(window.to_vec());
            }
        }
        start += len.max(1);
    }
    for candidate in &runs {
        let hash = jeton_core::apikey::KeyHasher::new(candidate).hash(api_key);
        if runs.contains(hash.as_bytes()) {
            found.push("the API-key hashing secret in clear".to_string());
        }
    }
    found
}

/// A service user of the default tenant, made through the server at `base`: its API key.
async fn api_key_of_new_service_user(base: &str, admin: &str, name: &str) -> String {
    let response = Client::new()
        .post(format!("{base}/api/v1/service-users"))
        .bearer_auth(admin)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["api_key"].as_str().unwrap().to_string()
}

/// The status of `/api/v1/auth/verify` for a credential: an API key in `X-API-Key`, a token as
/// a bearer token.
async fn credential_status(server: &Server, credential: &str) -> StatusCode {
    let request = server
        .http
        .get(format!("{}/api/v1/auth/verify", server.base));
    let request = if credential.starts_with("jsk_") {
        request.header("X-API-Key", credential)
    } else {
        request.bearer_auth(credential)
    };
    request.send().await.unwrap().status()
}

/// Starts a service over the SQLite database in `dir` with `master_key_file`, as `jeton serve`
/// would (for a start that must fail).
async fn start_over(
    dir: &std::path::Path,
    master_key_file: Option<std::path::PathBuf>,
) -> Result<jeton_server::Running, jeton_server::ServeError> {
    let url = format!("sqlite://{}/jeton.db", dir.display());
    let mut config = jeton_server::Config::new(url.clone(), "127.0.0.1:0".parse().unwrap());
    config.bootstrap_password = Some(ADMIN_PASSWORD.to_string());
    config.master_key_file = master_key_file;
    let store = jeton_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = std::sync::Arc::new(jeton_server::service::SystemClock);
    jeton_server::start_with_store(config, store, clock).await
}

/// The sealed values of a SQLite database: each signing key's `private_key`, then the API-key
/// hashing secret.
async fn sealed_values(dir: &std::path::Path) -> (Vec<(String, String)>, String) {
    use sqlx::Connection;
    let url = format!("sqlite://{}/jeton.db", dir.display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let keys: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT kid, private_key FROM signing_keys ORDER BY created_at")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let secret: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'api_key_hmac_secret'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    db.close().await.unwrap();
    let keys = keys
        .into_iter()
        .map(|(kid, sealed)| (kid, String::from_utf8(sealed).unwrap()))
        .collect();
    (keys, secret)
}

/// The clear secrets behind the sealed values, opened with the master key the test holds:
/// each key's PKCS#8 DER, and the hashing secret.
fn open_sealed(
    master: &jeton_server::master_key::MasterKey,
    keys: &[(String, String)],
    secret: &str,
) -> (Vec<Vec<u8>>, Vec<u8>) {
    use jeton_server::master_key::{API_KEY_SECRET_CONTEXT, signing_key_context};
    let ders = keys
        .iter()
        .map(|(kid, sealed)| {
            master
                .open(&signing_key_context(kid), sealed, kid)
                .unwrap()
                .to_vec()
        })
        .collect();
    let secret = master
        .open(API_KEY_SECRET_CONTEXT, secret, "secret")
        .unwrap()
        .to_vec();
    (ders, secret)
}

/// Asserts that none of these secrets, nor their usual encodings, is in `dump`.
fn assert_absent(dump: &[u8], ders: &[Vec<u8>], secret: &[u8]) {
    for der in ders {
        let seed = &der[16..48];
        for (what, form) in [
            ("PKCS#8 key", der.clone()),
            ("seed", seed.to_vec()),
            (
                "seed in base64url",
                URL_SAFE_NO_PAD.encode(seed).into_bytes(),
            ),
            ("seed in base64", STANDARD.encode(seed).into_bytes()),
            (
                "seed in hex",
                seed.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    .into_bytes(),
            ),
        ] {
            assert!(!contains(dump, &form), "the {what} is in the dump");
        }
    }
    assert!(
        !contains(dump, secret),
        "the API-key hashing secret is in the dump"
    );
}

/// A copy of the SQLite files (a backup, a stolen disk) forges nothing: no signing key and no
/// hashing secret is in it in any form, and it does not start without its master key.
#[tokio::test]
async fn a_sqlite_dump_alone_forges_nothing() {
    let served = spawn_served(|_| {}).await;
    let admin = served.admin().await;
    let api_key = api_key_of_new_service_user(&served.base, &admin, "dump-check").await;
    let (status, rotated) = served
        .post("/api/v1/signing-keys/rotate", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let jwks = jwks_of(&served.base).await;
    assert_eq!(published_kids(&jwks).len(), 2, "{jwks}");
    let dir = served.dir().to_path_buf();
    let copy = tempfile::tempdir().unwrap();
    let dump = database_files(&dir);
    for name in ["jeton.db", "jeton.db-wal", "jeton.db-shm"] {
        if dir.join(name).exists() {
            std::fs::copy(dir.join(name), copy.path().join(name)).unwrap();
        }
    }

    assert_eq!(forgeries(&dump, &jwks, &api_key), Vec::<String>::new());
    // With the master key the test holds, the real secrets: the ones the dump must not hold.
    let master =
        jeton_server::master_key::MasterKey::read(&dir.join("jeton.db.master-key")).unwrap();
    let (keys, secret) = sealed_values(&dir).await;
    assert_eq!(keys.len(), 2);
    let (ders, secret) = open_sealed(&master, &keys, &secret);
    for der in &ders {
        let seed: [u8; 32] = der[16..48].try_into().unwrap();
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        assert!(
            jwks.to_string()
                .contains(&URL_SAFE_NO_PAD.encode(public.to_bytes())),
            "the sealed key is the published one"
        );
    }
    let hash = jeton_core::apikey::KeyHasher::new(&secret).hash(&api_key);
    assert!(contains(&dump, hash.as_bytes()), "the key's hash is stored");
    assert_absent(&dump, &ders, &secret);
    served.shut_down().await.unwrap();

    // The copy without its key: refused, and no key is made up for it.
    let err = start_over(copy.path(), None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--master-key-file"), "{err}");
    assert!(err.contains(master.id()), "{err}");
    assert!(!copy.path().join("jeton.db.master-key").exists());
}

/// The same on PostgreSQL, with `pg_dump` (or the tables' rows without it): a dump of the
/// database forges nothing. Without a master key, PostgreSQL refuses to start.
#[tokio::test]
async fn a_postgres_dump_alone_forges_nothing() {
    use sqlx::Connection;
    let Ok(admin_url) = std::env::var("JETON_TEST_DATABASE_URL") else {
        eprintln!("*** SKIPPED a_postgres_dump_alone_forges_nothing: set JETON_TEST_DATABASE_URL");
        return;
    };
    let name = format!("jeton_sealed_{}", uuid::Uuid::new_v4().simple());
    let mut pg = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut pg)
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let dir = tempfile::tempdir().unwrap();
    let mut config = jeton_server::Config::new(url.clone(), "127.0.0.1:0".parse().unwrap());
    config.bootstrap_password = Some(ADMIN_PASSWORD.to_string());
    let store = jeton_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();

    let clock = std::sync::Arc::new(jeton_server::service::SystemClock);
    let err = jeton_server::start_with_store(config.clone(), store.clone(), clock.clone())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("--master-key-file") && err.contains("JETON_MASTER_KEY_FILE"),
        "{err}"
    );

    let key_file = dir.path().join("master.key");
    let master = jeton_server::master_key::MasterKey::create_file(&key_file).unwrap();
    config.master_key_file = Some(key_file);
    let running = jeton_server::start_with_store(config, store, clock)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(jeton_server::serve_on(listener, running, async move {
        let _ = stopped.await;
    }));
    let login: Value = Client::new()
        .post(format!("{base_url}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["token"].as_str().unwrap().to_string();
    let api_key = api_key_of_new_service_user(&base_url, &admin, "pg-dump-check").await;
    let jwks = jwks_of(&base_url).await;

    let dump = match std::process::Command::new("pg_dump").arg(&url).output() {
        Ok(out) if out.status.success() => out.stdout,
        _ => {
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut bytes = Vec::new();
            for (column, table) in [("private_key", "signing_keys")] {
                let rows: Vec<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT {column} FROM {table}"
                )))
                .fetch_all(&mut db)
                .await
                .unwrap();
                rows.into_iter().for_each(|r| bytes.extend(r));
            }
            let rows: Vec<String> = sqlx::query_scalar("SELECT value FROM settings")
                .fetch_all(&mut db)
                .await
                .unwrap();
            rows.into_iter().for_each(|r| bytes.extend(r.into_bytes()));
            let hashes: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
                .fetch_all(&mut db)
                .await
                .unwrap();
            hashes
                .into_iter()
                .for_each(|r| bytes.extend(r.into_bytes()));
            bytes
        }
    };
    assert_eq!(forgeries(&dump, &jwks, &api_key), Vec::<String>::new());
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let keys: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT kid, private_key FROM signing_keys")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let secret: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'api_key_hmac_secret'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    db.close().await.unwrap();
    let keys: Vec<(String, String)> = keys
        .into_iter()
        .map(|(kid, sealed)| (kid, String::from_utf8(sealed).unwrap()))
        .collect();
    let (ders, secret) = open_sealed(&master, &keys, &secret);
    // pg_dump writes bytea in hex (`\x…`): the key must not be there in that form either.
    let dump_text = String::from_utf8_lossy(&dump).to_lowercase();
    for der in &ders {
        let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            !dump_text.contains(&hex),
            "the PKCS#8 key is in the dump, in hex"
        );
    }
    assert_absent(&dump, &ders, &secret);

    drop(stop);
    task.await.unwrap().unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut pg)
    .await
    .unwrap();
}

/// A wrong, missing or malformed master key stops the start with an error that names the file
/// and what is wrong; the database is left as it was.
#[tokio::test]
async fn a_wrong_master_key_refuses_to_start() {
    let served = spawn_served(|_| {}).await;
    let admin = served.admin().await;
    let kept = served.shut_down_keeping_dir().await;
    let dir = kept.path().to_path_buf();
    let before = sealed_values(&dir).await;
    let default_file = dir.join("jeton.db.master-key");
    let right = jeton_server::master_key::MasterKey::read(&default_file).unwrap();

    let other_dir = tempfile::tempdir().unwrap();
    let other_file = other_dir.path().join("other.key");
    let other = jeton_server::master_key::MasterKey::create_file(&other_file).unwrap();
    let err = start_over(&dir, Some(other_file.clone()))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("wrong key?"), "{err}");
    assert!(err.contains(&other_file.display().to_string()), "{err}");
    assert!(
        err.contains(right.id()) && err.contains(other.id()),
        "{err}"
    );

    let short = other_dir.path().join("short.key");
    std::fs::write(&short, format!("{}\n", STANDARD.encode([9u8; 16]))).unwrap();
    let err = start_over(&dir, Some(short))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("16 bytes") && err.contains("short.key"),
        "{err}"
    );

    let missing = other_dir.path().join("missing.key");
    let err = start_over(&dir, Some(missing))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.key"), "{err}");

    std::fs::rename(&default_file, other_dir.path().join("moved.key")).unwrap();
    let err = start_over(&dir, None).await.err().unwrap().to_string();
    assert!(err.contains("--master-key-file"), "{err}");
    assert!(
        !default_file.exists(),
        "no new key is made over sealed values"
    );

    assert_eq!(sealed_values(&dir).await, before, "nothing was changed");
    // With the right key, everything works as before.
    std::fs::rename(other_dir.path().join("moved.key"), &default_file).unwrap();
    let running = start_over(&dir, None).await.unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(running.service.verifier().verify(&admin, now).is_ok());
    running.shutdown().await;
}

/// A database whose keys and hashing secret are in clear (written before sealing existed) is
/// sealed on its first start: the same keys go on working, and no clear copy remains in the
/// files.
#[tokio::test]
async fn clear_secrets_from_before_sealing_are_sealed_on_first_start() {
    use sqlx::Connection;
    let served = spawn_served(|_| {}).await;
    let admin = served.admin().await;
    let api_key = api_key_of_new_service_user(&served.base, &admin, "legacy").await;
    let kept = served.shut_down_keeping_dir().await;
    let dir = kept.path().to_path_buf();

    // Put the database back as an older Jeton left it: clear PKCS#8 keys, a clear secret, no
    // master key file.
    let key_file = dir.join("jeton.db.master-key");
    let old_master = jeton_server::master_key::MasterKey::read(&key_file).unwrap();
    let (keys, secret) = sealed_values(&dir).await;
    let (ders, secret) = open_sealed(&old_master, &keys, &secret);
    {
        let url = format!("sqlite://{}/jeton.db", dir.display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for ((kid, _), der) in keys.iter().zip(&ders) {
            sqlx::query("UPDATE signing_keys SET private_key = $1 WHERE kid = $2")
                .bind(der)
                .bind(kid)
                .execute(&mut db)
                .await
                .unwrap();
        }
        sqlx::query("UPDATE settings SET value = $1 WHERE key = 'api_key_hmac_secret'")
            .bind(String::from_utf8(secret.clone()).unwrap())
            .execute(&mut db)
            .await
            .unwrap();
        db.close().await.unwrap();
    }
    std::fs::remove_file(&key_file).unwrap();
    assert!(
        contains(&database_files(&dir), &ders[0]),
        "the set-up is in clear"
    );

    let running = start_over(&dir, None).await.unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(running.service.verifier().verify(&admin, now).is_ok());
    assert!(running.service.verifier().verify(&api_key, now).is_ok());
    running.shutdown().await;
    let new_master = jeton_server::master_key::MasterKey::read(&key_file).unwrap();
    assert_ne!(new_master.id(), old_master.id());
    let (sealed_keys, sealed_secret) = sealed_values(&dir).await;
    assert!(
        sealed_keys
            .iter()
            .all(|(_, sealed)| sealed.starts_with("jeton-sealed-v1."))
    );
    let (reopened, resecret) = open_sealed(&new_master, &sealed_keys, &sealed_secret);
    assert_eq!((reopened, resecret.clone()), (ders.clone(), secret.clone()));
    assert_absent(&database_files(&dir), &ders, &secret);
}

/// `rewrap` seals everything under a new master key: the old key opens nothing any more, the
/// new one does, tokens and API keys issued before keep working, and no value sealed under the
/// old key is left in the files.
#[tokio::test]
async fn rewrap_moves_every_secret_to_the_new_master_key() {
    let served = spawn_served(|_| {}).await;
    let admin = served.admin().await;
    let api_key = api_key_of_new_service_user(&served.base, &admin, "rewrapped").await;
    let kept = served.shut_down_keeping_dir().await;
    let dir = kept.path().to_path_buf();
    let (old_keys, old_secret) = sealed_values(&dir).await;

    let default_file = dir.join("jeton.db.master-key");
    let old = jeton_server::master_key::MasterKey::read(&default_file).unwrap();
    let new_dir = tempfile::tempdir().unwrap();
    let new_file = new_dir.path().join("new.key");
    let new = jeton_server::master_key::MasterKey::create_file(&new_file).unwrap();
    let url = format!("sqlite://{}/jeton.db", dir.display());
    let store = jeton_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let done = jeton_server::master_key::rewrap(store.as_ref(), &old, &new)
        .await
        .unwrap();
    assert_eq!(done.signing_keys, old_keys.len());
    assert!(done.hashing_secret);
    // A second rewrap with the old key opens nothing: refused, nothing changed.
    let err = jeton_server::master_key::rewrap(store.as_ref(), &old, &new)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("wrong key?"), "{err}");
    drop(store);

    let err = start_over(&dir, None).await.err().unwrap().to_string();
    assert!(err.contains("wrong key?"), "{err}");
    let running = start_over(&dir, Some(new_file)).await.unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(running.service.verifier().verify(&admin, now).is_ok());
    assert!(running.service.verifier().verify(&api_key, now).is_ok());
    running.shutdown().await;

    let dump = database_files(&dir);
    for (_, sealed) in &old_keys {
        assert!(
            !contains(&dump, sealed.as_bytes()),
            "an old sealed key lingers"
        );
    }
    assert!(
        !contains(&dump, old_secret.as_bytes()),
        "the old sealed secret lingers"
    );
    let (keys, secret) = sealed_values(&dir).await;
    assert!(keys.iter().all(|(_, s)| s.contains(new.id())));
    assert!(secret.contains(new.id()));
}

/// Revoking a retired signing key withdraws it at once: out of the JWKS, and every token it
/// signed — of every kind, verified before and cached or not — refused on this instance and,
/// within a second, on another one on the same database. The signer cannot be revoked; only
/// root may revoke; the revocation is audited.
#[tokio::test]
async fn a_revoked_signing_key_stops_every_token_it_signed_everywhere() {
    let first = spawn_served(|_| {}).await;
    let second = spawn_beside(&first, |_| {}).await;
    let admin = first.admin().await;
    let old_kid = kid_of(&admin);
    let (status, api_token) = first
        .create_token(&admin, json!({"name": "signed-by-old"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api_token}");
    let api_token = api_token["token"].as_str().unwrap().to_string();
    let user = first.user(&admin, "keyless", "tenant-user", None).await;
    let (status, client) = first
        .post(
            "/api/v1/service-users",
            &admin,
            json!({"name": "oauth-client"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let (status, oauth) = oauth_form(
        &first,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client["id"].as_str().unwrap()),
            ("client_secret", client["api_key"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{oauth}");
    let oauth = oauth["access_token"].as_str().unwrap().to_string();
    assert_eq!(kid_of(&oauth), old_kid);
    // A session, a personal API token, another user's session, an OAuth access token.
    let old_tokens = [admin.clone(), api_token, user.clone(), oauth];
    for token in &old_tokens {
        // Verified once on each instance: their answers are cached. (The other instance
        // hears of the new user through the change feed.)
        assert_eq!(credential_status(&first, token).await, StatusCode::OK);
        let deadline = Instant::now() + Duration::from_secs(2);
        while credential_status(&second, token).await != StatusCode::OK {
            assert!(
                Instant::now() < deadline,
                "the other instance refuses a valid token"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let path = format!("/api/v1/signing-keys/{old_kid}/revoke");
    let (status, body) = first.post(&path, &user, json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = first
        .post("/api/v1/signing-keys/no-such-kid/revoke", &admin, json!({}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = first.post(&path, &admin, json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rotate first"),
        "{body}"
    );

    let (status, rotated) = first
        .post("/api/v1/signing-keys/rotate", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new_kid = rotated["kid"].as_str().unwrap().to_string();
    for token in &old_tokens {
        assert_eq!(credential_status(&first, token).await, StatusCode::OK);
    }
    // Wait until the other instance has the new key too.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !published_kids(&jwks_of(&second.base).await).contains(&new_kid) {
        assert!(
            Instant::now() < deadline,
            "the rotation did not reach the other instance"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, revoked) = first.post(&path, &admin, json!({})).await;
    let revoked_at = Instant::now();
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    for token in &old_tokens {
        assert_eq!(
            credential_status(&first, token).await,
            StatusCode::UNAUTHORIZED
        );
        let (status, _) = first.get("/api/v1/me", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert!(!published_kids(&jwks_of(&first.base).await).contains(&old_kid));
    for token in &old_tokens {
        loop {
            let status = credential_status(&second, token).await;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "still {status} on the other instance after {:?}",
                revoked_at.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(!published_kids(&jwks_of(&second.base).await).contains(&old_kid));

    // Tokens of the new key work; revoking again changes nothing; the listing and the audit
    // log say what happened.
    let fresh = second.admin().await;
    assert_eq!(kid_of(&fresh), new_kid);
    assert_eq!(credential_status(&first, &fresh).await, StatusCode::OK);
    let (status, again) = first.post(&path, &fresh, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    let (status, keys) = second.get("/api/v1/signing-keys", &fresh).await;
    assert_eq!(status, StatusCode::OK);
    let listed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .unwrap();
    assert_eq!(listed["status"], "revoked", "{keys}");
    let (status, audit) = first
        .get("/api/v1/audit?action=signing_key.revoke", &fresh)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(audit.to_string().contains(&old_kid), "{audit}");

    // A restart keeps it revoked.
    let third = spawn_beside(&first, |_| {}).await;
    assert!(!published_kids(&jwks_of(&third.base).await).contains(&old_kid));
    assert_eq!(
        credential_status(&third, &admin).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A retired key past its time leaves the JWKS and never verifies again: not when the clock
/// moves back, and not after a restart at the earlier time.
#[tokio::test]
async fn an_expired_signing_key_stays_expired_when_the_clock_moves_back() {
    let first = spawn_served(|_| {}).await;
    let admin = first.admin().await;
    let old_kid = kid_of(&admin);
    assert_eq!(credential_status(&first, &admin).await, StatusCode::OK);
    let (status, _) = first
        .post("/api/v1/signing-keys/rotate", &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        credential_status(&first, &admin).await,
        StatusCode::OK,
        "cached"
    );

    // Past the longest life of any token the old key signed (365 days by default).
    let jump = 366 * 86_400;
    first.clock.advance(jump);
    assert!(!published_kids(&jwks_of(&first.base).await).contains(&old_kid));
    assert_eq!(
        credential_status(&first, &admin).await,
        StatusCode::UNAUTHORIZED
    );
    let later = first.admin().await;
    let (status, keys) = first.get("/api/v1/signing-keys", &later).await;
    assert_eq!(status, StatusCode::OK);
    let old = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["status"], "expired", "{keys}");
    assert!(old["expired_at"].is_string(), "recorded: {keys}");

    // The clock goes back: the token's own times are fine again, the key is not.
    first.clock.advance(-jump);
    assert_eq!(
        credential_status(&first, &admin).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!published_kids(&jwks_of(&first.base).await).contains(&old_kid));
    let now_admin = first.admin().await;
    let (_, keys) = first.get("/api/v1/signing-keys", &now_admin).await;
    let old = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["status"], "expired", "{keys}");

    // Another instance, or a restart, at the earlier time: still out.
    let second = spawn_beside(&first, |_| {}).await;
    assert!(!published_kids(&jwks_of(&second.base).await).contains(&old_kid));
    assert_eq!(
        credential_status(&second, &admin).await,
        StatusCode::UNAUTHORIZED
    );
}

// ---- Issue 12 §6: Bad bytes and floods ----

/// What the boundary must refuse in any field that is not free text: NUL, a C0 control (ESC,
/// tab, newline), DEL, a C1 control, a bidirectional override.
const PLAIN_PROBES: [&str; 8] = [
    "ab\u{0}cd",
    "ab\u{1b}[2Jcd",
    "ab\tcd",
    "ab\ncd",
    "ab\u{7f}cd",
    "ab\u{9b}cd",
    "ab\u{85}cd",
    "ab\u{202e}cd",
];
/// What the boundary must refuse in free text too: everything but tab and line breaks.
const FREE_TEXT_PROBES: [&str; 5] = [
    "ab\u{0}cd",
    "ab\u{1b}]52;c;aGk=\u{7}cd",
    "ab\u{7f}cd",
    "ab\u{9b}cd",
    "ab\u{7}cd",
];
/// The body fields that hold free text (tab and line breaks allowed).
const FREE_TEXT: [&str; 6] = [
    "comment",
    "description",
    "password",
    "current_password",
    "new_password",
    "sql",
];

/// A schema of the OpenAPI document with its `$ref` followed (and the first of `oneOf`,
/// `anyOf` or `allOf`, which is how utoipa spells an optional reference).
fn resolve<'a>(openapi: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return resolve(openapi, &openapi["components"]["schemas"][name]);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[key].as_array().and_then(|options| {
            options
                .iter()
                .find(|option| option["type"] != "null")
                .or(options.first())
        }) {
            return resolve(openapi, first);
        }
    }
    schema
}

/// A plausible value for a field, so that a body is valid but for the one field probed.
fn sample(openapi: &Value, field: &str, schema: &Value) -> Value {
    let schema = resolve(openapi, schema);
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    match types.into_iter().find(|t| *t != "null") {
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(false),
        Some("array") => json!([sample(openapi, field, &schema["items"])]),
        Some("object") => json!({}),
        _ => match field {
            "max_duration" | "expires_in" | "grace" | "duration" => json!("1d"),
            "access_level" | "role" => json!("tenant-user"),
            "grant_type" => json!("client_credentials"),
            "scope" | "scopes" => json!("read"),
            _ => json!("probe-value"),
        },
    }
}

/// Whether an answer is the boundary's refusal: 400, naming control characters (in RFC 6749's
/// `invalid_request` form on the OAuth endpoints).
fn refused_at_boundary(status: StatusCode, body: &Value) -> bool {
    let message = body["error"]["message"]
        .as_str()
        .or(body["error_description"].as_str())
        .unwrap_or("");
    status == StatusCode::BAD_REQUEST && message.contains("must not contain control characters")
}

/// Sends one probe of the OpenAPI sweep; answers what went wrong, if anything.
async fn probe(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: Option<(&str, Value)>,
) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut url = reqwest::Url::parse(&format!("{}{path}", server.base)).unwrap();
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    let mut request = server.http.request(method, url).bearer_auth(token);
    match body {
        Some(("form", Value::Object(fields))) => {
            let pairs: Vec<(String, String)> = fields
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or(v.to_string(), str::to_string)))
                .collect();
            request = request.form(&pairs);
        }
        Some((_, value)) => request = request.json(&value),
        None => {}
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Every operation of `/openapi.json`, on PostgreSQL (where NUL used to give 500): each path
/// segment, each query parameter and each string field of its body in turn holds a control
/// character; the answer is the boundary's 400, never a 5xx, whoever asks (root here, so that
/// nothing stops the request before the database). Free-text fields keep tab and newline.
#[tokio::test]
async fn control_characters_in_any_field_of_any_route_get_400_on_postgres() {
    on_postgres(
        "control_characters_in_any_field_of_any_route_get_400_on_postgres",
        |_| {},
        |server, _service| async move {
            let root = server.admin().await;
            let (status, openapi) = server.get("/openapi.json", &root).await;
            assert_eq!(status, StatusCode::OK);
            let mut failures = Vec::new();
            let mut probes = 0;
            let paths = openapi["paths"].as_object().unwrap().clone();
            for (template, item) in &paths {
                for (method, operation) in item.as_object().unwrap() {
                    if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                        continue;
                    }
                    let parameters = operation["parameters"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    // A parameter is in the path when the template names it (the document
                    // does not always say `in: query` for query parameters).
                    let (path_params, query_params): (Vec<String>, Vec<String>) = parameters
                        .iter()
                        .map(|p| p["name"].as_str().unwrap().to_string())
                        .partition(|name| template.contains(&format!("{{{name}}}")));
                    let fill = |probed: Option<(&str, &str)>| -> String {
                        let mut path = template.clone();
                        for name in &path_params {
                            let value = match probed {
                                Some((p, v)) if p == name => percent_encoding::utf8_percent_encode(
                                    v,
                                    percent_encoding::NON_ALPHANUMERIC,
                                )
                                .to_string(),
                                _ => "probe-value".to_string(),
                            };
                            path = path.replace(&format!("{{{name}}}"), &value);
                        }
                        path
                    };
                    // The body: its content type, and a valid sample of each field.
                    let content = &operation["requestBody"]["content"];
                    let (kind, schema) = if let Some(json) = content.get("application/json") {
                        ("json", resolve(&openapi, &json["schema"]))
                    } else if let Some(form) = content.get("application/x-www-form-urlencoded") {
                        ("form", resolve(&openapi, &form["schema"]))
                    } else {
                        ("none", &Value::Null)
                    };
                    let properties = schema["properties"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    let base_body: serde_json::Map<String, Value> = properties
                        .iter()
                        .map(|(field, schema)| (field.clone(), sample(&openapi, field, schema)))
                        .collect();
                    let body = |fields: serde_json::Map<String, Value>| {
                        (kind != "none").then_some((kind, Value::Object(fields)))
                    };
                    let mut check = |what: String, answer: (StatusCode, Value)| {
                        probes += 1;
                        if !refused_at_boundary(answer.0, &answer.1) {
                            failures.push(format!(
                                "{what}: {} {}",
                                answer.0,
                                answer.1.to_string().chars().take(160).collect::<String>()
                            ));
                        }
                    };
                    for value in PLAIN_PROBES {
                        for name in &path_params {
                            let path = fill(Some((name, value)));
                            let answer =
                                probe(&server, &root, method, &path, &[], body(base_body.clone()))
                                    .await;
                            check(format!("{method} {template} path {name}={value:?}"), answer);
                        }
                        for name in &query_params {
                            let query = [(name.clone(), value.to_string())];
                            let answer = probe(
                                &server,
                                &root,
                                method,
                                &fill(None),
                                &query,
                                body(base_body.clone()),
                            )
                            .await;
                            check(
                                format!("{method} {template} query {name}={value:?}"),
                                answer,
                            );
                        }
                    }
                    for (field, field_schema) in &properties {
                        let free = FREE_TEXT.contains(&field.as_str());
                        let probes_here: &[&str] = if free {
                            &FREE_TEXT_PROBES
                        } else {
                            &PLAIN_PROBES
                        };
                        for value in probes_here {
                            let mut fields = base_body.clone();
                            let is_array = resolve(&openapi, field_schema)["type"]
                                .as_str()
                                .is_some_and(|t| t == "array")
                                || resolve(&openapi, field_schema)["type"]
                                    .as_array()
                                    .is_some_and(|t| t.contains(&json!("array")));
                            fields.insert(
                                field.clone(),
                                if is_array && kind == "json" {
                                    json!(["read", value])
                                } else {
                                    json!(value)
                                },
                            );
                            let answer =
                                probe(&server, &root, method, &fill(None), &[], body(fields)).await;
                            check(
                                format!("{method} {template} field {field}={value:?}"),
                                answer,
                            );
                        }
                    }
                }
            }
            assert!(
                probes > 300,
                "only {probes} probes: the sweep lost its routes"
            );
            assert!(
                failures.is_empty(),
                "{} of {probes} probes were not refused at the boundary:\n{}",
                failures.len(),
                failures.join("\n")
            );
        },
    )
    .await;
}

/// The places the sweep of `/openapi.json` cannot reach by schema: OAuth client authentication
/// (form, JSON and HTTP Basic, also at the Iceberg paths), the login username, the web UI's
/// login form, audit filters and SQL scripts (JSON, plain text, a string literal). On
/// PostgreSQL, each answers 400 and writes nothing, and the failed logins around them are all
/// audited.
#[tokio::test]
async fn nul_in_credentials_filters_and_scripts_gets_400_on_postgres() {
    on_postgres(
        "nul_in_credentials_filters_and_scripts_gets_400_on_postgres",
        |_| {},
        |server, _service| async move {
            let root = server.admin().await;
            let (client_id, key) = service_user(&server, &root, "nul-probe").await;
            let token_url = |path: &str| format!("{}{path}", server.base);
            for path in [
                "/oauth/token",
                "/v1/oauth/tokens",
                "/v1/default/v1/oauth/tokens",
            ] {
                for (id, secret) in [
                    ("a\u{0}b".to_string(), key.clone()),
                    (client_id.clone(), format!("{key}\u{0}")),
                    (format!("{client_id}\u{1b}[2J"), key.clone()),
                ] {
                    let form = [
                        ("grant_type", "client_credentials"),
                        ("client_id", id.as_str()),
                        ("client_secret", secret.as_str()),
                    ];
                    let requests = [
                        server.http.post(token_url(path)).form(&form),
                        server.http.post(token_url(path)).json(&json!({
                            "grant_type": "client_credentials",
                            "client_id": id,
                            "client_secret": secret,
                        })),
                        server
                            .http
                            .post(token_url(path))
                            .basic_auth(&id, Some(&secret))
                            .form(&[("grant_type", "client_credentials")]),
                    ];
                    for request in requests {
                        let ((status, body), _) =
                            oauth_request(&server.http, &server, request).await;
                        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {id:?}: {body}");
                        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
                    }
                }
            }
            // HTTP Basic form-encodes its parts first (RFC 6749 §2.3.1): %00 is a NUL too.
            let encoded = format!("{client_id}%00:{key}");
            let ((status, body), _) = oauth_request(
                &server.http,
                &server,
                server
                    .http
                    .post(token_url("/oauth/token"))
                    .header(
                        "authorization",
                        format!("Basic {}", STANDARD.encode(encoded)),
                    )
                    .form(&[("grant_type", "client_credentials")]),
            )
            .await;
            assert_eq!(
                (status, &body["error"]),
                (StatusCode::BAD_REQUEST, &json!("invalid_request"))
            );
            for path in ["/oauth/introspect", "/oauth/revoke"] {
                let ((status, body), _) = oauth_request(
                    &server.http,
                    &server,
                    server
                        .http
                        .post(token_url(path))
                        .basic_auth(&client_id, Some(&key))
                        .form(&[("token", "a\u{0}b")]),
                )
                .await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            }

            // Failed logins around NUL probes: every one of them is in the audit log.
            for round in 0..10 {
                let (status, body) = server
                    .call(
                        Method::POST,
                        "/api/v1/auth/login",
                        None,
                        Some(json!({"username": format!("nobody-{round}"), "password": "wrong"})),
                    )
                    .await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
                for username in ["ad\u{0}min", "admin\u{1b}]52;c;aGk=\u{7}", "admin\n"] {
                    let (status, body) = server
                        .call(
                            Method::POST,
                            "/api/v1/auth/login",
                            None,
                            Some(json!({"username": username, "password": "wrong"})),
                        )
                        .await;
                    assert_error(status, &body, StatusCode::BAD_REQUEST);
                }
            }
            let failed: Vec<Value> = audit(&server, &root, "auth.login")
                .await
                .into_iter()
                .filter(|event| event["outcome"] == "failure")
                .collect();
            assert_eq!(failed.len(), 10, "{failed:?}");

            // The web UI's login form.
            let response = server
                .http
                .post(format!("{}/ui/login", server.base))
                .form(&[("username", "ad\u{0}min"), ("password", "x"), ("csrf", "x")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);

            // Audit filters, encoded either way.
            for query in [
                "user=ad%00min",
                "action=auth%00",
                "user=a%1Bb",
                "since=%C2%9B",
            ] {
                let (status, body) = server.get(&format!("/api/v1/audit?{query}"), &root).await;
                assert_error(status, &body, StatusCode::BAD_REQUEST);
            }

            // SQL: as JSON, as plain text, and a literal spelled with a NUL.
            let (status, body) = server
                .post(
                    "/api/v1/sql",
                    &root,
                    json!({"sql": "CREATE ROLE \"r\u{0}\";"}),
                )
                .await;
            assert_error(status, &body, StatusCode::BAD_REQUEST);
            let response = server
                .http
                .post(format!("{}/api/v1/sql", server.base))
                .bearer_auth(&root)
                .header("content-type", "text/plain")
                .body("ALTER API TOKEN x SET COMMENT 'a\u{0}b';")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            // Nothing was written.
            let (_, roles) = server.get("/api/v1/roles", &root).await;
            assert!(!roles.to_string().contains("\\u0000"), "{roles}");
        },
    )
    .await;
}

/// Free text keeps tab and line breaks, stored and answered exactly, on PostgreSQL; the same
/// characters in a name are refused.
#[tokio::test]
async fn free_text_keeps_tabs_and_newlines_on_postgres() {
    on_postgres(
        "free_text_keeps_tabs_and_newlines_on_postgres",
        |_| {},
        |server, _service| async move {
            let root = server.admin().await;
            let comment = "first line\n\tindented\r\nlast";
            let (status, created) = server
                .create_token(&root, json!({"name": "multi-line", "comment": comment}))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            let id = created["id"].as_str().unwrap();
            let (status, shown) = server.get(&format!("/api/v1/tokens/{id}"), &root).await;
            assert_eq!(status, StatusCode::OK, "{shown}");
            assert_eq!(shown["comment"], comment);
            let (status, body) = server
                .post(
                    "/api/v1/service-users",
                    &root,
                    json!({"name": "described", "description": "two\nlines"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            assert_eq!(body["description"], "two\nlines");
            let (status, body) = server
                .create_token(&root, json!({"name": "tab\tname"}))
                .await;
            assert_error(status, &body, StatusCode::BAD_REQUEST);
        },
    )
    .await;
}

/// The value of a counter (summed over its label sets matching `labels`) in `/metrics`' text.
fn counter_value(name: &str, labels: &str) -> f64 {
    jeton_server::metrics::install()
        .render()
        .lines()
        .filter(|line| line.starts_with(name) && line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Audit records of `action` straight from the store, newest first.
async fn stored_events(
    service: &jeton_server::service::Service,
    action: &str,
) -> Vec<jeton_store::AuditRecord> {
    service
        .store()
        .list_audit(&jeton_store::AuditFilter {
            action: Some(action.to_string()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// A flood of made-up credentials (2,000 from two addresses, of two kinds) makes one audit
/// record per (reason, address, minute) with a `count`, written once the minute is over; a
/// known credential refused (revoked) keeps one record per use.
#[tokio::test]
async fn garbage_credential_floods_make_one_counted_record_per_reason_address_and_minute() {
    let (server, service) = spawn_with_service(|_| {}).await;
    let root = server.admin().await;
    let aggregated_before = counter_value("jeton_audit_denials_aggregated_total", "");
    let (status, created) = server
        .create_token(&root, json!({"name": "soon-revoked"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let revoked = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap();
    let (status, body) = server
        .post(&format!("/api/v1/tokens/revoke/{id}"), &root, json!({}))
        .await;
    assert!(status.is_success(), "{body}");

    let elsewhere = client_from([127, 0, 0, 2]);
    let mut sent = 0;
    for round in 0..40 {
        let mut requests = Vec::new();
        for n in 0..50 {
            // Malformed JWTs from 127.0.0.1, malformed API keys from 127.0.0.2.
            let (client, credential) = if n % 2 == 0 {
                (&server.http, format!("garbage.{round}.{n}"))
            } else {
                (
                    &elsewhere,
                    format!("jsk_{round}x{n}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                )
            };
            requests.push(
                client
                    .get(format!("{}/api/v1/me", server.base))
                    .bearer_auth(credential)
                    .send(),
            );
        }
        for response in futures_util::future::join_all(requests).await {
            assert_eq!(response.unwrap().status(), StatusCode::UNAUTHORIZED);
            sent += 1;
        }
    }
    assert_eq!(sent, 2_000);
    // Three places × three carriers: nine refusals of one known credential.
    assert_refused(&server, "revoked", &revoked).await;
    // The revoked token's refusals are written at once, each on its own.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let denied = stored_events(&service, "auth.denied").await;
    let revoked_rows: Vec<_> = denied
        .iter()
        .filter(|event| event.details["reason"] == "revoked")
        .collect();
    assert_eq!(revoked_rows.len(), 3 * PLACES.len(), "{revoked_rows:?}");
    assert!(
        revoked_rows
            .iter()
            .all(|event| event.details.get("count").is_none())
    );
    // The flood's minute is not over: nothing of it is written yet.
    assert_eq!(denied.len(), revoked_rows.len(), "{denied:?}");
    assert!(
        counter_value("jeton_audit_denials_aggregated_total", "") - aggregated_before >= 2_000.0
    );

    server.clock.advance(60);
    let deadline = Instant::now() + Duration::from_secs(10);
    let counted = loop {
        let counted: Vec<_> = stored_events(&service, "auth.denied")
            .await
            .into_iter()
            .filter(|event| event.details.get("count").is_some())
            .collect();
        if !counted.is_empty() || Instant::now() > deadline {
            break counted;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut by_key: Vec<(String, String, u64)> = counted
        .iter()
        .map(|event| {
            (
                event.details["reason"].as_str().unwrap().to_string(),
                event.client_addr.clone().unwrap_or_default(),
                event.details["count"].as_u64().unwrap(),
            )
        })
        .collect();
    by_key.sort();
    assert_eq!(
        by_key,
        vec![
            ("malformed".to_string(), "127.0.0.1".to_string(), 1_000),
            ("malformed_key".to_string(), "127.0.0.2".to_string(), 1_000),
        ],
        "{counted:?}"
    );
    for event in &counted {
        assert_eq!(event.outcome, "failure");
        assert_eq!(event.details["path"], "/api/v1/me");
    }
    // They read like any other event through the API.
    let events = audit(&server, &root, "auth.denied").await;
    assert!(
        events
            .iter()
            .any(|event| event["details"]["count"] == 1_000),
        "{events:?}"
    );
}

/// One event the database refuses (a NUL, which PostgreSQL refuses in text) loses only itself:
/// the writer writes the refused batch again event by event, and counts the drop.
#[tokio::test]
async fn an_audit_batch_never_fails_as_a_whole_on_postgres() {
    on_postgres(
        "an_audit_batch_never_fails_as_a_whole_on_postgres",
        |_| {},
        |server, service| async move {
            let dropped_before =
                counter_value("jeton_audit_events_dropped_total", "reason=\"refused\"");
            let failures_before = counter_value("jeton_audit_write_failures_total", "");
            let (log, task) =
                jeton_server::audit::AuditLog::start(service.store().clone(), server.clock.clone());
            let now = service.now();
            for n in 0..10 {
                let name = if n % 5 == 2 {
                    format!("bad\u{0}name-{n}")
                } else {
                    format!("user-{n}")
                };
                log.queue(
                    jeton_server::audit::Event::new("auth.login", now)
                        .actor_parts(None, &name, Some("192.0.2.1"))
                        .outcome("failure")
                        .detail("reason", "unknown_user"),
                );
            }
            drop(log);
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the writer finished")
                .unwrap();
            let mut names: Vec<String> = stored_events(&service, "auth.login")
                .await
                .into_iter()
                .filter(|event| event.outcome == "failure")
                .filter_map(|event| event.actor_name)
                .collect();
            names.sort();
            let expected: Vec<String> = [0, 1, 3, 4, 5, 6, 8, 9]
                .iter()
                .map(|n| format!("user-{n}"))
                .collect();
            assert_eq!(names, expected);
            assert_eq!(
                counter_value("jeton_audit_events_dropped_total", "reason=\"refused\"")
                    - dropped_before,
                2.0
            );
            assert!(counter_value("jeton_audit_write_failures_total", "") - failures_before >= 3.0);
        },
    )
    .await;
}

/// `--audit-retention`: events older than it are deleted (in batches), at start and by the
/// hourly maintenance; newer ones and the audit API stay.
#[tokio::test]
async fn audit_events_past_the_retention_are_pruned() {
    let day = 24 * 3600;
    let (server, service) =
        spawn_with_service(|config| config.audit_retention = Duration::from_secs(30 * day as u64))
            .await;
    let now = service.now();
    let old = |age: i64, name: &str| jeton_store::AuditRecord {
        id: 0,
        at: now - age,
        tenant_id: None,
        actor_id: None,
        actor_name: Some(name.to_string()),
        action: "auth.login".to_string(),
        target_type: None,
        target_id: None,
        target_name: None,
        outcome: "failure".to_string(),
        client_addr: None,
        details: json!({}),
    };
    let mut events: Vec<_> = (0..25_000).map(|n| old(31 * day + n, "ancient")).collect();
    events.push(old(29 * day, "recent"));
    service.store().append_audit(&events).await.unwrap();
    assert_eq!(service.prune_audit().await.unwrap(), 25_000);
    let names = |events: Vec<jeton_store::AuditRecord>| -> Vec<String> {
        events.into_iter().filter_map(|e| e.actor_name).collect()
    };
    assert_eq!(
        names(stored_events(&service, "auth.login").await)
            .iter()
            .filter(|n| *n == "recent")
            .count(),
        1
    );
    assert!(!names(stored_events(&service, "auth.login").await).contains(&"ancient".to_string()));
    // Two days on, the recent one is past the retention too; today's login is not.
    server.clock.advance(2 * day);
    assert_eq!(service.prune_audit().await.unwrap(), 1);
    let root = server.admin().await;
    let left = audit(&server, &root, "auth.login").await;
    assert!(!left.is_empty());
    assert!(
        left.iter().all(|event| event["actor"] == "admin"),
        "{left:?}"
    );

    // A server starting over a database with old events prunes them at start.
    service
        .store()
        .append_audit(&[old(401 * day, "older-than-the-default")])
        .await
        .unwrap();
    let beside = spawn_beside(&server, |_| {}).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while names(stored_events(&service, "auth.login").await)
        .contains(&"older-than-the-default".to_string())
    {
        assert!(Instant::now() < deadline, "not pruned at start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    beside.shut_down().await.unwrap();
}

/// Scripts over the SQL WebSocket (which no HTTP body check sees) on PostgreSQL: a literal or
/// a quoted name with a NUL, ESC or C1 control is a syntax error naming its line, column and
/// code point; nothing is written, and the socket goes on working.
#[tokio::test]
async fn control_characters_in_websocket_scripts_are_syntax_errors_on_postgres() {
    on_postgres(
        "control_characters_in_websocket_scripts_are_syntax_errors_on_postgres",
        |_| {},
        |server, _service| async move {
            use futures_util::{SinkExt, StreamExt};
            use tokio_tungstenite::tungstenite::Message;
            let root = server.admin().await;
            let url = format!("{}/api/v1/sql/ws", server.base.replace("http://", "ws://"));
            let mut request =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    url.as_str(),
                )
                .unwrap();
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {root}").parse().unwrap());
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
            for (script, found) in [
                ("CREATE ROLE \"r\u{0}\";", "U+0000"),
                (
                    "CREATE API TOKEN t COMMENT 'x\u{1b}]52;c;aGk=\u{7}';",
                    "U+001B",
                ),
                ("SHOW API TOKENS;\nCREATE ROLE \"a\u{9b}b\";", "U+009B"),
            ] {
                socket.send(Message::text(script)).await.unwrap();
                let reply: Value = match socket.next().await.unwrap().unwrap() {
                    Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
                    other => panic!("{other:?}"),
                };
                let message = reply["error"]["message"].as_str().unwrap_or("");
                assert!(message.contains(found), "{script:?}: {reply}");
                assert!(
                    reply["results"].as_array().is_none_or(Vec::is_empty),
                    "{reply}"
                );
            }
            socket.send(Message::text("SHOW ROLES;")).await.unwrap();
            let reply: Value = match socket.next().await.unwrap().unwrap() {
                Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
                other => panic!("{other:?}"),
            };
            assert!(reply["error"].is_null(), "{reply}");
            assert!(!reply.to_string().contains("\\u0000"), "{reply}");
        },
    )
    .await;
}

// ---- Issue 12 §3, §5, §7: exchange chains, accounts and child tokens, standards details ----

/// A `client_credentials` access token of a service user.
async fn client_token(server: &Server, id: &str, key: &str) -> String {
    let (status, body) = oauth_form(
        server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", key),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// RFC 8693 token exchange of `subject`, with the client's credentials (HTTP Basic) or none.
async fn token_exchange(
    server: &Server,
    subject: &str,
    client: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut request = server
        .http
        .post(format!("{}/oauth/token", server.base))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
        ]);
    if let Some((id, key)) = client {
        request = request.basic_auth(id, Some(key));
    }
    oauth_request(&server.http, server, request).await.0
}

/// Exchanges `subject` and answers the new token (the exchange must succeed).
async fn exchanged(server: &Server, subject: &str, client: Option<(&str, &str)>) -> String {
    let (status, body) = token_exchange(server, subject, client).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// The status of `/api/v1/auth/verify` for a bearer credential.
async fn verify_status(server: &Server, credential: &str) -> StatusCode {
    server.get("/api/v1/auth/verify", credential).await.0
}

/// The decoded JOSE header of a compact JWT.
fn jose_header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn now_of(server: &Server) -> i64 {
    use jeton_server::service::Clock;
    server.clock.now()
}

/// Without client authentication, token exchange never gives more time than the subject token
/// had: chained as often as one likes, the last token dies with the first.
#[tokio::test]
async fn an_exchange_without_client_authentication_never_outlives_its_subject() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    let root = client_token(&server, &id, &key).await;
    let root_claims = payload(&root);
    let root_exp = root_claims["exp"].as_i64().unwrap();

    server.clock.advance(1800);
    let (status, body) = token_exchange(&server, &root, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let child = body["access_token"].as_str().unwrap().to_string();
    assert!(body["expires_in"].as_i64().unwrap() <= 1800, "{body}");
    let claims = payload(&child);
    assert!(claims["exp"].as_i64().unwrap() <= root_exp, "{claims}");
    // The chain is in the claims.
    assert_eq!(claims["parent"], root_claims["jti"]);
    assert_eq!(claims["root_jti"], root_claims["jti"]);

    // Refreshing a stolen token over and over never extends it.
    let mut current = child;
    for _ in 0..10 {
        server.clock.advance(100);
        let next = exchanged(&server, &current, None).await;
        let claims = payload(&next);
        assert!(claims["exp"].as_i64().unwrap() <= root_exp, "{claims}");
        assert_eq!(claims["root_jti"], root_claims["jti"]);
        assert_eq!(claims["parent"], payload(&current)["jti"]);
        current = next;
    }
    // Narrower scopes only.
    let narrowed = {
        let (status, body) = oauth_form(
            &server,
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", &current),
                ("scope", "catalog"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    };
    for wider in ["admin", "warehouse", "catalog admin"] {
        let (status, body) = oauth_form(
            &server,
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", &narrowed),
                ("scope", wider),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{wider}: {body}");
        assert_eq!(body["error"], "invalid_scope", "{wider}: {body}");
    }

    // When the first token's hour is over, so is every token of its chain.
    server.clock.advance(root_exp - now_of(&server));
    for token in [&current, &narrowed] {
        assert_eq!(
            verify_status(&server, token).await,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = token_exchange(&server, token, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
}

/// With the service user's own client authentication an exchange gets a fresh lifetime; another
/// client's credentials, or a wrong secret, get nothing.
#[tokio::test]
async fn an_exchange_with_the_owners_client_authentication_gets_a_fresh_lifetime() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    let (other_id, other_key) = service_user(&server, &admin, "other").await;
    let root = client_token(&server, &id, &key).await;
    let root_exp = payload(&root)["exp"].as_i64().unwrap();
    server.clock.advance(3000);

    let (status, body) = token_exchange(&server, &root, Some((&id, &key))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 3600, "{body}");
    let fresh = body["access_token"].as_str().unwrap();
    assert!(payload(fresh)["exp"].as_i64().unwrap() > root_exp);
    // Still a member of the chain.
    assert_eq!(payload(fresh)["parent"], payload(&root)["jti"]);

    let (status, body) = token_exchange(&server, &root, Some((&other_id, &other_key))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let wrong = jeton_core::apikey::generate("jsk_", random_bytes());
    let (status, body) = token_exchange(&server, &root, Some((&id, wrong.expose()))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
}

/// Revoking any token of an exchange chain — its root, a token in the middle, by RFC 7009 or by
/// self-revocation — revokes every token exchanged from it, through every branch, with or
/// without client authentication along the way; its ancestors and other chains keep working.
#[tokio::test]
async fn revoking_a_token_revokes_every_token_exchanged_from_it() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    let root = client_token(&server, &id, &key).await;
    let a = exchanged(&server, &root, None).await;
    let b = exchanged(&server, &a, Some((&id, &key))).await;
    let c = exchanged(&server, &b, None).await;
    let d = exchanged(&server, &c, Some((&id, &key))).await;
    let a2 = exchanged(&server, &a, None).await;
    let other_root = client_token(&server, &id, &key).await;
    let other = exchanged(&server, &other_root, None).await;
    for token in [&root, &a, &b, &c, &d, &a2, &other_root, &other] {
        assert_eq!(verify_status(&server, token).await, StatusCode::OK);
    }

    // The middle of the chain, revoked by an administrator (RFC 7009).
    let response = server
        .http
        .post(format!("{}/oauth/revoke", server.base))
        .bearer_auth(&admin)
        .form(&[("token", b.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for token in [&b, &c, &d] {
        assert_eq!(
            verify_status(&server, token).await,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = token_exchange(&server, token, Some((&id, &key))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    for token in [&root, &a, &a2, &other_root, &other] {
        assert_eq!(verify_status(&server, token).await, StatusCode::OK);
    }

    // The root, revoked by the client itself (RFC 7009 with its credentials): every branch.
    let response = server
        .http
        .post(format!("{}/oauth/revoke", server.base))
        .basic_auth(&id, Some(&key))
        .form(&[("token", root.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for token in [&root, &a, &a2] {
        assert_eq!(
            verify_status(&server, token).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Self-revocation (logout) with a token in the other chain: its descendants go too.
    let (status, body) = server
        .post("/api/v1/tokens/revoke/self", &other_root, json!({}))
        .await;
    assert!(status.is_success(), "{status} {body}");
    for token in [&other_root, &other] {
        assert_eq!(
            verify_status(&server, token).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let events = audit(&server, &admin, "token.revoke_chain").await;
    assert_eq!(events.len(), 3, "{events:?}");
}

/// Tokens exchanged while an ancestor is being revoked do not survive it: eight clients keep
/// exchanging deeper and deeper while the chain's second token is revoked; afterwards every
/// token any of them received is refused.
#[tokio::test]
async fn tokens_exchanged_during_a_revocation_do_not_survive_it() {
    let server = std::sync::Arc::new(spawn().await);
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    let root = client_token(&server, &id, &key).await;
    let a = exchanged(&server, &root, None).await;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let server = server.clone();
        let start = a.clone();
        let (id, key) = (id.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut issued = Vec::new();
            let mut current = start;
            for _ in 0..60 {
                let client = (n % 2 == 0).then_some((id.as_str(), key.as_str()));
                let (status, body) = token_exchange(&server, &current, client).await;
                if status != StatusCode::OK {
                    break;
                }
                current = body["access_token"].as_str().unwrap().to_string();
                issued.push(current.clone());
            }
            issued
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let response = server
        .http
        .post(format!("{}/oauth/revoke", server.base))
        .bearer_auth(&admin)
        .form(&[("token", a.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut issued = Vec::new();
    for task in tasks {
        issued.extend(task.await.unwrap());
    }
    assert!(!issued.is_empty(), "no exchange ran before the revocation");
    for token in &issued {
        assert_eq!(
            verify_status(&server, token).await,
            StatusCode::UNAUTHORIZED,
            "a token exchanged from a revoked one still works: {}",
            payload(token)
        );
    }
    assert_eq!(verify_status(&server, &root).await, StatusCode::OK);
}

/// Another instance on the same database refuses the descendants of a token revoked through the
/// first one within a second (the revocations travel by the change feed).
#[tokio::test]
async fn another_instance_refuses_the_descendants_of_a_revoked_token_within_a_second() {
    let first = spawn().await;
    let second = spawn_beside(&first, |_| {}).await;
    let admin = first.admin().await;
    let (id, key) = service_user(&first, &admin, "etl").await;
    let root = client_token(&first, &id, &key).await;
    let a = exchanged(&first, &root, None).await;
    let b = exchanged(&first, &a, Some((&id, &key))).await;
    let c = exchanged(&first, &b, None).await;
    // The second instance learns of the new service user through the feed too.
    let known = Instant::now();
    for token in [&root, &a, &b, &c] {
        while verify_status(&second, token).await != StatusCode::OK {
            assert!(known.elapsed() < Duration::from_secs(5), "never accepted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let response = first
        .http
        .post(format!("{}/oauth/revoke", first.base))
        .basic_auth(&id, Some(&key))
        .form(&[("token", a.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let revoked_at = Instant::now();
    for token in [&a, &b, &c] {
        loop {
            if verify_status(&second, token).await == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "the other instance still accepts {}",
                payload(token)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(verify_status(&second, &root).await, StatusCode::OK);
}

async fn patch_user(server: &Server, by: &str, user: &str, body: Value) -> (StatusCode, Value) {
    server
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{user}"),
            Some(by),
            Some(body),
        )
        .await
}

async fn try_login(server: &Server, username: &str, password: &str) -> StatusCode {
    server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await
        .0
}

async fn sql(server: &Server, token: &str, script: &str) -> (StatusCode, Value) {
    server
        .post("/api/v1/sql", token, json!({ "sql": script }))
        .await
}

/// Changing one's own password needs the current one (HTTP and SQL alike); a change ends the
/// user's sessions, and its API tokens only when asked.
#[tokio::test]
async fn changing_ones_own_password_needs_the_current_one_and_ends_sessions() {
    let server = spawn().await;
    let admin = server.admin().await;
    let session = server.user(&admin, "bob", "tenant-user", None).await;
    let other_session = server.login("bob", "password-123").await;
    let (status, created) = server
        .create_token(&session, json!({"name": "ci", "expires_in": "30d"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let api = created["token"].as_str().unwrap().to_string();

    // A stolen session alone cannot change the password.
    let (status, body) = patch_user(
        &server,
        &session,
        "bob",
        json!({"password": "stolen-pass-1"}),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("current_password"),
        "{body}"
    );
    let (status, body) = patch_user(
        &server,
        &api,
        "bob",
        json!({"password": "stolen-pass-1", "current_password": "not-the-password"}),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = sql(
        &server,
        &session,
        "ALTER USER bob SET PASSWORD 'stolen-pass-1';",
    )
    .await;
    assert!(status.is_client_error(), "{status} {body}");
    assert_eq!(
        try_login(&server, "bob", "password-123").await,
        StatusCode::OK
    );
    assert_eq!(
        try_login(&server, "bob", "stolen-pass-1").await,
        StatusCode::UNAUTHORIZED
    );

    // With the current password: changed, every session ended, the API token kept.
    let (status, body) = patch_user(
        &server,
        &session,
        "bob",
        json!({"password": "new-password-1", "current_password": "password-123"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        try_login(&server, "bob", "password-123").await,
        StatusCode::UNAUTHORIZED
    );
    for old in [&session, &other_session] {
        assert_eq!(
            server.get("/api/v1/me", old).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(server.get("/api/v1/me", &api).await.0, StatusCode::OK);

    // revoke_tokens: the API tokens go too.
    let session = server.login("bob", "new-password-1").await;
    let (status, body) = patch_user(
        &server,
        &session,
        "bob",
        json!({"password": "newer-password-2", "current_password": "new-password-1", "revoke_tokens": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        server.get("/api/v1/me", &api).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get("/api/v1/me", &session).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        try_login(&server, "bob", "newer-password-2").await,
        StatusCode::OK
    );
}

/// An administrator resets passwords and mints tokens only for users below its own level: a
/// tenant admin cannot take over a peer (HTTP or SQL); root may act for anyone.
#[tokio::test]
async fn a_tenant_admin_cannot_take_over_a_peer() {
    let server = spawn().await;
    let root = server.admin().await;
    let ann = server.user(&root, "ann", "tenant-admin", None).await;
    let ben = server.user(&root, "ben", "tenant-admin", None).await;
    let cat = server.user(&root, "cat", "tenant-user", None).await;

    let (status, body) =
        patch_user(&server, &ann, "ben", json!({"password": "taken-over-1"})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = server
        .create_token(&ann, json!({"for_user": "ben", "expires_in": "1d"}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = sql(&server, &ann, "CREATE API TOKEN grab FOR USER ben;").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = sql(&server, &ann, "ALTER USER ben SET PASSWORD 'taken-over-1';").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        try_login(&server, "ben", "password-123").await,
        StatusCode::OK
    );
    assert_eq!(server.get("/api/v1/me", &ben).await.0, StatusCode::OK);

    // Below: no current password needed, and the user's sessions end.
    let (status, body) =
        patch_user(&server, &ann, "cat", json!({"password": "reset-by-ann-1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        server.get("/api/v1/me", &cat).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        try_login(&server, "cat", "reset-by-ann-1").await,
        StatusCode::OK
    );
    let (status, body) = server
        .create_token(&ann, json!({"for_user": "cat", "expires_in": "1d"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Root acts for anyone.
    let (status, body) = patch_user(
        &server,
        &root,
        "ben",
        json!({"password": "reset-by-root-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        server.get("/api/v1/me", &ben).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = server
        .create_token(&root, json!({"for_user": "ben", "expires_in": "1d"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A token creates only tokens that expire no later than itself and carry no scope it lacks,
/// over HTTP and SQL; `*` does not imply `admin`. A password session still creates a 90-day
/// API token (it proved the password).
#[tokio::test]
async fn a_token_creates_only_narrower_and_shorter_lived_tokens() {
    let server = spawn().await;
    let admin = server.admin().await;
    let session = server.user(&admin, "dev", "tenant-user", None).await;
    let (status, day) = server
        .create_token(&session, json!({"expires_in": "1d", "scopes": ["catalog"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{day}");
    let day = day["token"].as_str().unwrap().to_string();
    let day_exp = payload(&day)["exp"].as_i64().unwrap();

    for longer in ["365d", "2d", "25h"] {
        let (status, body) = server
            .create_token(&day, json!({"expires_in": longer}))
            .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, body) = sql(&server, &day, "CREATE API TOKEN long MAX DURATION '365d';").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The default lifetime is cut to the creator's.
    let (status, child) = server.create_token(&day, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{child}");
    let child_claims = payload(child["token"].as_str().unwrap());
    assert!(
        child_claims["exp"].as_i64().unwrap() <= day_exp,
        "{child_claims}"
    );
    assert_eq!(child_claims["scope"], "catalog");
    let (status, body) = server
        .create_token(
            &day,
            json!({"expires_in": "12h", "scopes": ["catalog:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for wider in [
        json!(["admin"]),
        json!(["warehouse"]),
        json!(["*"]),
        json!(["catalog", "admin"]),
    ] {
        let (status, body) = server
            .create_token(&day, json!({"expires_in": "1h", "scopes": wider}))
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN);
    }
    // Time passes; what is left shrinks with it.
    server.clock.advance(20 * 3600);
    let (status, body) = server
        .create_token(&day, json!({"expires_in": "12h"}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    // `*` covers every scope but `admin`.
    let admin_session = server.admin().await;
    let (status, star) = server
        .create_token(&admin_session, json!({"expires_in": "1d", "scopes": ["*"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{star}");
    let star = star["token"].as_str().unwrap().to_string();
    let (status, body) = server
        .create_token(&star, json!({"expires_in": "1h", "scopes": ["admin"]}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = sql(&server, &star, "CREATE API TOKEN boss SCOPES ('admin');").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = server.get("/api/v1/users", &star).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = server
        .create_token(&star, json!({"expires_in": "1h", "scopes": ["catalog"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A password session begets a long-lived API token: the core flow.
    let session = server.login("dev", "password-123").await;
    let (status, body) = server
        .create_token(&session, json!({"expires_in": "90d"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// `--issuer` with or without a trailing slash: the tokens' `iss`, the RFC 8414 metadata and
/// both verifiers agree exactly, and an instance configured with one spelling accepts the
/// tokens of an instance configured with the other.
#[tokio::test]
async fn the_issuer_is_one_spelling_everywhere() {
    for (spelling, other) in [
        ("http://jeton.example:8080/", "http://jeton.example:8080"),
        ("http://jeton.example:8080", "http://jeton.example:8080/"),
    ] {
        let server = spawn_with(|c| c.issuer = spelling.to_string()).await;
        let admin = server.admin().await;
        let metadata: Value = server
            .http
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                server.base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (id, key) = service_user(&server, &admin, "etl").await;
        let access = client_token(&server, &id, &key).await;
        for token in [&admin, &access] {
            // Compared exactly, as RFC 8414 §3.3 asks of clients.
            assert_eq!(payload(token)["iss"], metadata["issuer"], "{spelling}");
            assert_eq!(payload(token)["iss"], "http://jeton.example:8080");
            assert_eq!(verify_status(&server, token).await, StatusCode::OK);
        }
        assert_eq!(
            metadata["token_endpoint"],
            "http://jeton.example:8080/oauth/token"
        );
        let beside = spawn_beside(&server, |c| c.issuer = other.to_string()).await;
        for token in [&admin, &access] {
            assert_eq!(
                verify_status(&beside, token).await,
                StatusCode::OK,
                "{other}"
            );
        }
    }
}

/// The metadata document claims only what the endpoints do: every grant type it lists is
/// granted, every client authentication method it lists authenticates, and it lists no
/// response type (there is no authorization endpoint) and no JWT client-authentication
/// algorithms (there is no JWT client authentication).
#[tokio::test]
async fn the_metadata_publishes_only_what_is_implemented() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    let metadata: Value = server
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["response_types_supported"],
        json!([]),
        "{metadata}"
    );
    assert!(
        metadata.get("authorization_endpoint").is_none(),
        "{metadata}"
    );
    assert!(
        metadata
            .get("token_endpoint_auth_signing_alg_values_supported")
            .is_none(),
        "{metadata}"
    );
    let token_path = format!("{}/oauth/token", server.base);
    let subject = client_token(&server, &id, &key).await;
    for grant in metadata["grant_types_supported"].as_array().unwrap() {
        let grant = grant.as_str().unwrap();
        let response = match grant {
            "client_credentials" => server
                .http
                .post(&token_path)
                .basic_auth(&id, Some(&key))
                .form(&[("grant_type", grant)]),
            "urn:ietf:params:oauth:grant-type:token-exchange" => server
                .http
                .post(&token_path)
                .form(&[("grant_type", grant), ("subject_token", subject.as_str())]),
            other => panic!("the metadata lists a grant type no test knows: {other}"),
        }
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{grant}");
    }
    for field in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        let endpoint = match field {
            "token_endpoint_auth_methods_supported" => token_path.clone(),
            "introspection_endpoint_auth_methods_supported" => {
                format!("{}/oauth/introspect", server.base)
            }
            _ => format!("{}/oauth/revoke", server.base),
        };
        for method in metadata[field].as_array().unwrap() {
            let token = client_token(&server, &id, &key).await;
            let mut form = vec![
                ("grant_type", "client_credentials"),
                ("token", token.as_str()),
            ];
            let request = match method.as_str().unwrap() {
                "client_secret_basic" => server
                    .http
                    .post(&endpoint)
                    .basic_auth(&id, Some(&key))
                    .form(&form),
                "client_secret_post" => {
                    form.extend([("client_id", id.as_str()), ("client_secret", key.as_str())]);
                    server.http.post(&endpoint).form(&form)
                }
                other => panic!("{field} lists a method no test knows: {other}"),
            };
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{field} {method}");
        }
    }
}

/// OAuth access tokens carry `typ: at+jwt` (RFC 9068), other tokens `typ: JWT`; the verifier's
/// refusal of a mismatched `typ` is checked with the signing key in `keys.rs`'s unit tests
/// (`a_token_whose_typ_is_not_its_kinds_is_refused`), since only the key's holder can sign one.
#[tokio::test]
async fn access_tokens_are_typed_at_jwt_and_the_others_jwt() {
    let server = spawn().await;
    let admin = server.admin().await;
    let (id, key) = service_user(&server, &admin, "etl").await;
    let access = client_token(&server, &id, &key).await;
    let exchanged_token = exchanged(&server, &access, None).await;
    let (_, api) = server
        .create_token(&admin, json!({"expires_in": "1d"}))
        .await;
    let api = api["token"].as_str().unwrap().to_string();
    for (token, typ) in [
        (&access, "at+jwt"),
        (&exchanged_token, "at+jwt"),
        (&admin, "JWT"),
        (&api, "JWT"),
    ] {
        assert_eq!(jose_header(token)["typ"], typ, "{}", payload(token));
        assert_eq!(verify_status(&server, token).await, StatusCode::OK);
    }
}

/// The same race across two instances: clients keep exchanging deeper on the second instance,
/// which learns of the revocation only through the feed, while the first revokes the chain's
/// second token. Every token a client received is refused by both once the feed has passed: a
/// token exchanged from one the revocation had already walked past finds its parent revoked in
/// the database when it checks, and is never handed out.
#[tokio::test]
async fn tokens_exchanged_on_another_instance_during_a_revocation_do_not_survive_it() {
    let first = spawn().await;
    let admin = first.admin().await;
    let (id, key) = service_user(&first, &admin, "etl").await;
    let root = client_token(&first, &id, &key).await;
    let a = exchanged(&first, &root, None).await;
    let second = std::sync::Arc::new(spawn_beside(&first, |_| {}).await);
    assert_eq!(verify_status(&second, &a).await, StatusCode::OK);
    let mut tasks = Vec::new();
    for n in 0..6 {
        let second = second.clone();
        let start = a.clone();
        let (id, key) = (id.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut issued = Vec::new();
            let mut current = start;
            for _ in 0..400 {
                let client = (n % 2 == 0).then_some((id.as_str(), key.as_str()));
                let (status, body) = token_exchange(&second, &current, client).await;
                if status != StatusCode::OK {
                    break;
                }
                current = body["access_token"].as_str().unwrap().to_string();
                issued.push(current.clone());
            }
            issued
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let response = first
        .http
        .post(format!("{}/oauth/revoke", first.base))
        .bearer_auth(&admin)
        .form(&[("token", a.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut issued = Vec::new();
    for task in tasks {
        issued.extend(task.await.unwrap());
    }
    assert!(!issued.is_empty(), "no exchange ran before the revocation");
    // The feed reaches the second instance within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for server in [&first, &*second] {
        for token in &issued {
            assert_eq!(
                verify_status(server, token).await,
                StatusCode::UNAUTHORIZED,
                "a token exchanged from a revoked one still works: {}",
                payload(token)
            );
        }
    }
    assert_eq!(verify_status(&second, &root).await, StatusCode::OK);
}
