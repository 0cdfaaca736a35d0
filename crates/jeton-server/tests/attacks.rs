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
        ("bad checksum", format!("{}A", &key[..key.len() - 1])),
        ("unknown key", unknown.expose().to_string()),
        ("alg none JWT", alg_none),
        ("60 KB", long),
        ("NUL", "\0".into()),
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
                "grant_type=client_credentials&client_id={id}&client_secret=%FF%FE%00%C3"
            )),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "percent-encoded bytes: {body}"
    );
    assert_eq!(body["error"], "invalid_client");
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
