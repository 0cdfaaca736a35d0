//! JWT signing keys: Ed25519 (EdDSA) under a `kid`, generated on first start and kept in the
//! store sealed under the master key; signing, verification pinned to EdDSA and to the key
//! named by `kid`, and the JWKS. A key leaves the ring, for good, once revoked or once no token
//! it signed can still be live ([`KeyRing::without_expired`]).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jeton_core::token::Claims;
use jeton_store::{SigningKeyRecord, Store};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::master_key::{MasterKey, signing_key_context};

/// Why a JWT was refused (for the audit log; clients get one generic answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtRejection {
    /// Not a JWT, or a header or claims that do not parse.
    Malformed,
    /// Algorithm other than EdDSA (including `none` and HS256 confusion).
    WrongAlgorithm,
    /// `kid` missing or not one of ours.
    UnknownKey,
    /// Signature does not match.
    BadSignature,
    /// Past `exp`.
    Expired,
    /// Before `nbf`.
    NotYetValid,
    /// Wrong `iss` or `aud`.
    WrongIssuerOrAudience,
}

impl JwtRejection {
    /// Short reason for audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtRejection::Malformed => "malformed",
            JwtRejection::WrongAlgorithm => "wrong_algorithm",
            JwtRejection::UnknownKey => "unknown_key",
            JwtRejection::BadSignature => "bad_signature",
            JwtRejection::Expired => "expired",
            JwtRejection::NotYetValid => "not_yet_valid",
            JwtRejection::WrongIssuerOrAudience => "wrong_issuer_or_audience",
        }
    }
}

/// The active key, parsed once: `jsonwebtoken::encode` would parse the PKCS#8 document and
/// derive the public key (a scalar multiplication as costly as the signature) on every call.
struct Signer {
    kid: String,
    key: SigningKey,
    /// The encoded JOSE header of sessions and API tokens (`typ: JWT`).
    header: String,
    /// The encoded JOSE header of OAuth access tokens (`typ: at+jwt`, RFC 9068).
    access_header: String,
}

impl Signer {
    fn new(record: &SigningKeyRecord, master: &MasterKey) -> Result<Self, ApiError> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let der = open_private_key(record, master)?;
        let key = SigningKey::from_pkcs8_der(&der)
            .map_err(|e| ApiError::Internal(format!("bad signing key {}: {e}", record.kid)))?;
        let encode = |typ: &str| {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(record.kid.clone());
            header.typ = Some(typ.to_string());
            serde_json::to_vec(&header)
                .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
                .map_err(|e| ApiError::Internal(format!("encoding a JWT header: {e}")))
        };
        Ok(Self {
            kid: record.kid.clone(),
            key,
            header: encode(jeton_core::token::JWT_TYP)?,
            access_header: encode(jeton_core::token::ACCESS_TOKEN_TYP)?,
        })
    }
}

/// Opens a stored signing key's sealed private half (PKCS#8 DER).
pub fn open_private_key(
    record: &SigningKeyRecord,
    master: &MasterKey,
) -> Result<zeroize::Zeroizing<Vec<u8>>, ApiError> {
    let sealed = std::str::from_utf8(&record.private_key)
        .map_err(|_| ApiError::Internal(format!("signing key {} is not sealed", record.kid)))?;
    master
        .open(
            &signing_key_context(&record.kid),
            sealed,
            &format!("signing key {}", record.kid),
        )
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A key the ring publishes and verifies with.
#[derive(Clone)]
struct Published {
    kid: String,
    /// The public key, base64url (the JWK's `x`).
    x: String,
    /// When it leaves the ring: `None` while it signs.
    until: Option<i64>,
}

/// The server's signing keys: the newest active one signs; all published ones verify.
pub struct KeyRing {
    signer: std::sync::Arc<Signer>,
    published: Vec<Published>,
    verifiers: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
    validation: Validation,
}

/// Seconds a token's `nbf` may lie ahead of this server's clock (clock skew between instances).
pub const NBF_LEEWAY_SECS: i64 = 5;

/// The time rules of a verified token at `now`: expired from its `exp` on, not valid before its
/// `nbf` (less [`NBF_LEEWAY_SECS`]).
pub fn check_times(claims: &Claims, now: i64) -> Result<(), JwtRejection> {
    check_window(claims.exp, claims.nbf, now)
}

/// [`check_times`] on the two times alone (what the verification cache keeps of them).
pub fn check_window(exp: i64, nbf: i64, now: i64) -> Result<(), JwtRejection> {
    if exp <= now {
        return Err(JwtRejection::Expired);
    }
    if nbf > now + NBF_LEEWAY_SECS {
        return Err(JwtRejection::NotYetValid);
    }
    Ok(())
}

/// The `kid` of a public key: the first 16 characters of its base64url SHA-256.
fn kid_for(public_key: &[u8]) -> String {
    let digest = Sha256::digest(public_key);
    URL_SAFE_NO_PAD.encode(digest)[..16].to_string()
}

/// Until when a key stays published: `None` while it signs; once retired, for as long as a
/// token it signed may live (`longest_token_secs`).
pub fn published_until(key: &SigningKeyRecord, longest_token_secs: i64) -> Option<i64> {
    key.retired_at
        .map(|retired| retired.saturating_add(longest_token_secs))
}

/// The keys to publish at `now`: those still signing, and those retired less than
/// `longest_token_secs` ago (a token they signed may still be live) — never one revoked or
/// once seen expired, whatever the clock says now. Newest first, as given.
pub fn published(
    records: Vec<SigningKeyRecord>,
    now: i64,
    longest_token_secs: i64,
) -> Vec<SigningKeyRecord> {
    records
        .into_iter()
        .filter(|k| {
            !k.withdrawn() && published_until(k, longest_token_secs).is_none_or(|until| until > now)
        })
        .collect()
}

/// The keys that are past their time at `now` but not yet recorded as expired: the caller
/// records them, so that a clock moved back later does not bring them back.
pub fn newly_expired(
    records: &[SigningKeyRecord],
    now: i64,
    longest_token_secs: i64,
) -> Vec<String> {
    records
        .iter()
        .filter(|k| {
            !k.withdrawn()
                && published_until(k, longest_token_secs).is_some_and(|until| until <= now)
        })
        .map(|k| k.kid.clone())
        .collect()
}

/// Generates a new Ed25519 key record from 32 random bytes, its private half sealed under
/// `master`.
pub fn generate_key(
    seed: [u8; 32],
    now: i64,
    master: &MasterKey,
) -> Result<SigningKeyRecord, ApiError> {
    let signing = SigningKey::from_bytes(&seed);
    let der = signing
        .to_pkcs8_der()
        .map_err(|e| ApiError::Internal(format!("encoding signing key: {e}")))?;
    let public = signing.verifying_key().to_bytes().to_vec();
    let kid = kid_for(&public);
    let sealed = master.seal(&signing_key_context(&kid), der.as_bytes());
    Ok(SigningKeyRecord {
        kid,
        algorithm: "EdDSA".to_string(),
        private_key: sealed.into_bytes(),
        public_key: public,
        created_at: now,
        retired_at: None,
        revoked_at: None,
        expired_at: None,
    })
}

impl KeyRing {
    /// Loads the keys from the store, generating the first one if there is none. Keys found
    /// past their time are recorded as expired.
    pub async fn load(
        store: &dyn Store,
        issuer: &str,
        audience: &str,
        now: i64,
        longest_token_secs: i64,
        master: &MasterKey,
    ) -> Result<Self, ApiError> {
        let all = store.list_signing_keys().await?;
        for kid in newly_expired(&all, now, longest_token_secs) {
            store.expire_signing_key(&kid, now).await?;
            tracing::info!(kid = %kid, "signing key expired: no token it signed can be live");
        }
        let mut records = published(all, now, longest_token_secs);
        if !records.iter().any(|k| k.retired_at.is_none()) {
            let mut seed = [0u8; 32];
            rand::fill(&mut seed);
            let record = generate_key(seed, now, master)?;
            zeroize::Zeroize::zeroize(&mut seed);
            store.insert_signing_key(&record).await?;
            tracing::info!(kid = %record.kid, "generated a new signing key");
            records = published(store.list_signing_keys().await?, now, longest_token_secs);
        }
        Self::from_records(&records, issuer, audience, master, longest_token_secs)
    }

    /// Builds the ring from stored records (newest first, as [`published`] leaves them): the
    /// signer's private half is opened with `master`; each retired key verifies until
    /// [`published_until`].
    pub fn from_records(
        records: &[SigningKeyRecord],
        issuer: &str,
        audience: &str,
        master: &MasterKey,
        longest_token_secs: i64,
    ) -> Result<Self, ApiError> {
        let active = records
            .iter()
            .filter(|k| k.retired_at.is_none() && k.algorithm == "EdDSA")
            // Ties (two instances that started together on an empty database each made one)
            // are broken the same way everywhere.
            .max_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)))
            .ok_or_else(|| ApiError::Internal("no active signing key".to_string()))?;
        let published = records
            .iter()
            .filter(|k| k.algorithm == "EdDSA" && !k.withdrawn())
            .map(|record| Published {
                kid: record.kid.clone(),
                x: URL_SAFE_NO_PAD.encode(&record.public_key),
                until: published_until(record, longest_token_secs),
            })
            .collect();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // `exp` and `nbf` are checked by `check_times`, against the service's clock rather
        // than the library's reading of the system time, so that every path (a first
        // verification and a cached one) applies the same rule at the same instant.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self::assemble(
            std::sync::Arc::new(Signer::new(active, master)?),
            published,
            validation,
        )
    }

    fn assemble(
        signer: std::sync::Arc<Signer>,
        published: Vec<Published>,
        validation: Validation,
    ) -> Result<Self, ApiError> {
        let mut verifiers = HashMap::new();
        let mut jwks_keys = Vec::new();
        for key in &published {
            let decoding = DecodingKey::from_ed_components(&key.x)
                .map_err(|e| ApiError::Internal(format!("bad public key {}: {e}", key.kid)))?;
            verifiers.insert(key.kid.clone(), decoding);
            jwks_keys.push(serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "use": "sig",
                "alg": "EdDSA",
                "kid": key.kid,
                "x": key.x,
            }));
        }
        Ok(Self {
            signer,
            published,
            verifiers,
            jwks: serde_json::json!({ "keys": jwks_keys }),
            validation,
        })
    }

    /// The first time at which a key of this ring is past its time (`i64::MAX` if never): from
    /// then on, [`KeyRing::without_expired`] must be applied before the ring is used.
    pub fn next_expiry(&self) -> i64 {
        self.published
            .iter()
            .filter_map(|k| k.until)
            .min()
            .unwrap_or(i64::MAX)
    }

    /// This ring without the keys past their time at `now`, and the `kid`s it dropped. The
    /// signer stays: it has no end until a rotation retires it.
    pub fn without_expired(&self, now: i64) -> Result<(KeyRing, Vec<String>), ApiError> {
        let (kept, dropped): (Vec<Published>, Vec<Published>) = self
            .published
            .iter()
            .cloned()
            .partition(|k| k.until.is_none_or(|until| until > now));
        let ring = Self::assemble(self.signer.clone(), kept, self.validation.clone())?;
        Ok((ring, dropped.into_iter().map(|k| k.kid).collect()))
    }

    /// The `kid` of the signing key.
    pub fn current_kid(&self) -> &str {
        &self.signer.kid
    }

    /// Signs claims into a compact JWT (JWS compact serialization, EdDSA over
    /// `header.payload`; byte for byte what `jsonwebtoken::encode` makes).
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        use ed25519_dalek::Signer as _;
        let payload = serde_json::to_vec(claims)
            .map_err(|e| ApiError::Internal(format!("signing token: {e}")))?;
        let header = match claims.kind {
            jeton_core::TokenKind::Oauth => &self.signer.access_header,
            jeton_core::TokenKind::Session | jeton_core::TokenKind::Api => &self.signer.header,
        };
        let mut jwt = String::with_capacity(header.len() + payload.len() * 4 / 3 + 92);
        jwt.push_str(header);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jwt);
        let signature = self.signer.key.sign(jwt.as_bytes());
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut jwt);
        Ok(jwt)
    }

    /// Verifies a compact JWT now, by the system clock; see [`KeyRing::verify_at`].
    pub fn verify(&self, token: &str) -> Result<Claims, JwtRejection> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.verify_at(token, now)
    }

    /// Verifies a compact JWT at `now` (Unix seconds, the service's clock): algorithm pinned to
    /// EdDSA, key chosen by `kid` among ours, signature, `iss`, `aud`, then `exp` and `nbf`
    /// ([`check_times`]).
    pub fn verify_at(&self, token: &str, now: i64) -> Result<Claims, JwtRejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtRejection::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(JwtRejection::WrongAlgorithm);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifiers.get(kid))
            .ok_or(JwtRejection::UnknownKey)?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| {
                use jsonwebtoken::errors::ErrorKind;
                match err.kind() {
                    ErrorKind::InvalidSignature => JwtRejection::BadSignature,
                    ErrorKind::ExpiredSignature => JwtRejection::Expired,
                    ErrorKind::ImmatureSignature => JwtRejection::NotYetValid,
                    ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                        JwtRejection::WrongIssuerOrAudience
                    }
                    ErrorKind::InvalidAlgorithm => JwtRejection::WrongAlgorithm,
                    _ => JwtRejection::Malformed,
                }
            })?;
        // The header's `typ` must be the one of the token's kind (RFC 9068 §4): an access
        // token cannot pass for another kind of token, nor another kind for an access token.
        // Refused as malformed, an offline check on the header already parsed.
        if header.typ.as_deref() != Some(claims.typ()) {
            return Err(JwtRejection::Malformed);
        }
        check_times(&claims, now)?;
        Ok(claims)
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jeton_core::{TenantId, TokenId, TokenKind, UserId};
    use uuid::Uuid;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "http://jeton.test".into(),
            aud: "jeton".into(),
            sub: UserId(Uuid::from_u128(1)),
            tid: TenantId(Uuid::from_u128(2)),
            jti: TokenId(Uuid::from_u128(3)),
            kind: TokenKind::Api,
            scope: String::new(),
            iat: now,
            nbf: now,
            exp: now + 3600,
            akid: None,
            root_jti: None,
            parent: None,
        }
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn master() -> MasterKey {
        MasterKey::from_bytes([42; 32], "test")
    }

    fn ring(seed: u8) -> KeyRing {
        let record = generate_key([seed; 32], 1, &master()).unwrap();
        KeyRing::from_records(&[record], "http://jeton.test", "jeton", &master(), 3600).unwrap()
    }

    #[test]
    fn signs_byte_for_byte_like_jsonwebtoken() {
        let record = generate_key([9; 32], 1, &master()).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(record.kid.clone());
        let der = open_private_key(&record, &master()).unwrap();
        let key = jsonwebtoken::EncodingKey::from_ed_der(&der);
        let ring = KeyRing::from_records(&[record], "http://jeton.test", "jeton", &master(), 3600)
            .unwrap();
        for claims in [
            claims(1_800_000_000),
            Claims {
                scope: "catalog catalog:read".into(),
                akid: Some(jeton_core::ApiKeyId(Uuid::from_u128(4))),
                root_jti: Some(TokenId(Uuid::from_u128(5))),
                parent: Some(TokenId(Uuid::from_u128(6))),
                kind: TokenKind::Oauth,
                ..claims(1_800_000_000)
            },
        ] {
            let ours = ring.sign(&claims).unwrap();
            header.typ = Some(claims.typ().to_string());
            assert_eq!(ours, jsonwebtoken::encode(&header, &claims, &key).unwrap());
            assert_eq!(ring.verify_at(&ours, 1_800_000_001).unwrap(), claims);
        }
    }

    #[test]
    fn a_token_whose_typ_is_not_its_kinds_is_refused() {
        let record = generate_key([7; 32], 1, &master()).unwrap();
        let der = open_private_key(&record, &master()).unwrap();
        let key = jsonwebtoken::EncodingKey::from_ed_der(&der);
        let ring = KeyRing::from_records(
            std::slice::from_ref(&record),
            "http://jeton.test",
            "jeton",
            &master(),
            3600,
        )
        .unwrap();
        let now = 1_800_000_000;
        let oauth = Claims {
            kind: TokenKind::Oauth,
            akid: Some(jeton_core::ApiKeyId(Uuid::from_u128(4))),
            ..claims(now)
        };
        for (typ, claims, ok) in [
            (Some("JWT"), claims(now), true),
            (Some("at+jwt"), oauth.clone(), true),
            // An API token dressed as an access token, and the other way round.
            (Some("at+jwt"), claims(now), false),
            (Some("JWT"), oauth.clone(), false),
            (None, claims(now), false),
            (None, oauth.clone(), false),
            (Some("application/at+jwt"), oauth.clone(), false),
            (Some("jwt"), claims(now), false),
        ] {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(record.kid.clone());
            header.typ = typ.map(str::to_string);
            let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
            let verified = ring.verify_at(&token, now + 1);
            assert_eq!(
                verified.is_ok(),
                ok,
                "typ {typ:?} on a {} token",
                claims.kind
            );
            if !ok {
                assert_eq!(verified, Err(JwtRejection::Malformed));
            }
        }
    }

    #[test]
    fn signs_and_verifies() {
        let ring = ring(1);
        let token = ring.sign(&claims(now())).unwrap();
        assert_eq!(
            ring.verify_at(&token, now()).unwrap(),
            claims_like(&token, &ring)
        );
        assert_eq!(ring.jwks()["keys"][0]["kid"], ring.current_kid());
    }

    fn claims_like(token: &str, ring: &KeyRing) -> Claims {
        ring.verify_at(token, now()).unwrap()
    }

    #[test]
    fn times_follow_the_given_clock_not_the_system_time() {
        let ring = ring(1);
        // Far from the system time, as a test clock or a skewed instance would be.
        let t = now() + 10 * 86_400;
        let token = ring.sign(&claims(t)).unwrap();
        assert!(ring.verify_at(&token, t).is_ok());
        assert!(ring.verify_at(&token, t + 3599).is_ok());
        assert_eq!(ring.verify_at(&token, t + 3600), Err(JwtRejection::Expired));
        assert!(ring.verify_at(&token, t - NBF_LEEWAY_SECS).is_ok());
        assert_eq!(
            ring.verify_at(&token, t - NBF_LEEWAY_SECS - 1),
            Err(JwtRejection::NotYetValid)
        );
    }

    #[test]
    fn refuses_other_keys_algorithms_and_times() {
        let ring_a = ring(1);
        let ring_b = ring(2);
        let token_b = ring_b.sign(&claims(now())).unwrap();
        assert_eq!(
            ring_a.verify_at(&token_b, now()),
            Err(JwtRejection::UnknownKey)
        );

        let mut expired = claims(now() - 7200);
        expired.exp = now() - 3600;
        assert_eq!(
            ring_a.verify_at(&ring_a.sign(&expired).unwrap(), now()),
            Err(JwtRejection::Expired)
        );

        let mut future = claims(now());
        future.nbf = now() + 3600;
        assert_eq!(
            ring_a.verify_at(&ring_a.sign(&future).unwrap(), now()),
            Err(JwtRejection::NotYetValid)
        );

        let mut foreign = claims(now());
        foreign.iss = "http://elsewhere".into();
        assert_eq!(
            ring_a.verify_at(&ring_a.sign(&foreign).unwrap(), now()),
            Err(JwtRejection::WrongIssuerOrAudience)
        );

        // alg: none, with our kid.
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#,
            ring_a.current_kid()
        ));
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now())).unwrap());
        assert!(
            ring_a
                .verify_at(&format!("{header}.{body}."), now())
                .is_err()
        );

        // HS256 signed with the public key as the secret.
        let public = URL_SAFE_NO_PAD
            .decode(ring_a.jwks()["keys"][0]["x"].as_str().unwrap())
            .unwrap();
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(ring_a.current_kid().to_string());
        let forged = jsonwebtoken::encode(
            &hs,
            &claims(now()),
            &jsonwebtoken::EncodingKey::from_secret(&public),
        )
        .unwrap();
        assert_eq!(
            ring_a.verify_at(&forged, now()),
            Err(JwtRejection::WrongAlgorithm)
        );

        // Tampered payload.
        let token = ring_a.sign(&claims(now())).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut other = claims(now());
        other.sub = UserId(Uuid::from_u128(99));
        let tampered_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        parts[1] = &tampered_body;
        assert_eq!(
            ring_a.verify_at(&parts.join("."), now()),
            Err(JwtRejection::BadSignature)
        );

        for garbage in ["", "abc", "a.b.c", "....", &"x".repeat(10_000)] {
            assert!(ring_a.verify_at(garbage, now()).is_err());
        }
    }

    #[test]
    fn the_private_key_is_sealed_and_opens_only_with_its_master_key() {
        let record = generate_key([5; 32], 1, &master()).unwrap();
        let seed = [5u8; 32];
        assert!(
            !record.private_key.windows(32).any(|w| w == seed),
            "the seed is not stored in clear"
        );
        let other = MasterKey::from_bytes([43; 32], "other.key");
        assert!(
            KeyRing::from_records(
                std::slice::from_ref(&record),
                "http://jeton.test",
                "jeton",
                &other,
                3600
            )
            .is_err()
        );
        match open_private_key(&record, &other) {
            Err(ApiError::Internal(detail)) => assert!(detail.contains("wrong key?"), "{detail}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn retired_keys_leave_the_ring_at_their_time_and_withdrawn_ones_never_enter() {
        let signer = generate_key([1; 32], 2_000, &master()).unwrap();
        let retired = SigningKeyRecord {
            retired_at: Some(1_000),
            ..generate_key([2; 32], 500, &master()).unwrap()
        };
        let token = {
            let only = SigningKeyRecord {
                retired_at: None,
                ..retired.clone()
            };
            let ring = KeyRing::from_records(&[only], "http://jeton.test", "jeton", &master(), 600)
                .unwrap();
            let mut c = claims(900);
            c.exp = 5_000;
            ring.sign(&c).unwrap()
        };
        let records = vec![signer.clone(), retired.clone()];
        let ring =
            KeyRing::from_records(&records, "http://jeton.test", "jeton", &master(), 600).unwrap();
        assert_eq!(ring.next_expiry(), 1_600);
        assert!(ring.verify_at(&token, 1_599).is_ok());
        let (after, dropped) = ring.without_expired(1_600).unwrap();
        assert_eq!(dropped, vec![retired.kid.clone()]);
        assert_eq!(
            after.verify_at(&token, 1_599),
            Err(JwtRejection::UnknownKey)
        );
        assert_eq!(after.jwks()["keys"].as_array().unwrap().len(), 1);
        assert_eq!(after.current_kid(), signer.kid);
        assert_eq!(after.next_expiry(), i64::MAX);
        assert_eq!(
            newly_expired(&records, 1_600, 600),
            vec![retired.kid.clone()]
        );
        assert!(newly_expired(&records, 1_599, 600).is_empty());

        // Recorded as expired or revoked: out, whatever the time.
        for withdrawn in [
            SigningKeyRecord {
                expired_at: Some(1_600),
                ..retired.clone()
            },
            SigningKeyRecord {
                revoked_at: Some(1_100),
                ..retired.clone()
            },
        ] {
            let records = vec![signer.clone(), withdrawn];
            assert_eq!(published(records.clone(), 1_000, 600).len(), 1);
            assert!(newly_expired(&records, 9_999, 600).is_empty());
            let ring =
                KeyRing::from_records(&records, "http://jeton.test", "jeton", &master(), 600)
                    .unwrap();
            assert_eq!(ring.verify_at(&token, 1_001), Err(JwtRejection::UnknownKey));
            assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 1);
        }
    }
}
