//! `KeyRing::verify` never panics, and accepts only tokens the ring itself signed: on random
//! input, and on a token of the ring with a piece cut out and random bytes put in its place.

#![no_main]

use std::sync::OnceLock;

use jeton_core::token::Claims;
use jeton_core::{TenantId, TokenId, TokenKind, UserId};
use jeton_server::keys::{KeyRing, generate_key};
use jeton_server::master_key::MasterKey;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

const ISSUER: &str = "http://jeton.fuzz";
const AUDIENCE: &str = "jeton";

/// The ring (one Ed25519 key from a fixed seed) and a token it signed that is valid until 2100.
fn ring() -> &'static (KeyRing, String) {
    static RING: OnceLock<(KeyRing, String)> = OnceLock::new();
    RING.get_or_init(|| {
        let master = MasterKey::from_bytes([9; 32], "fuzz");
        let record = generate_key([7; 32], 1, &master).expect("key");
        let ring = KeyRing::from_records(&[record], ISSUER, AUDIENCE, &master, 365 * 86_400)
            .expect("ring");
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: UserId(Uuid::from_u128(1)),
            tid: TenantId(Uuid::from_u128(2)),
            jti: TokenId(Uuid::from_u128(3)),
            kind: TokenKind::Api,
            scope: "catalog:read".into(),
            iat: 1_700_000_000,
            nbf: 1_700_000_000,
            exp: 4_102_444_800,
            akid: None,
            root_jti: None,
            parent: None,
        };
        let token = ring.sign(&claims).expect("sign");
        assert_eq!(ring.verify(&token), Ok(claims));
        (ring, token)
    })
}

fuzz_target!(|data: &[u8]| {
    let (ring, valid) = ring();
    check(ring, &String::from_utf8_lossy(data));

    // The valid token with `cut` bytes at `at` replaced by the rest of the input.
    if let [a, b, cut, insert @ ..] = data {
        let at = usize::from(u16::from_le_bytes([*a, *b])) % (valid.len() + 1);
        let end = (at + usize::from(*cut % 16)).min(valid.len());
        let tampered = format!(
            "{}{}{}",
            &valid[..at],
            String::from_utf8_lossy(insert),
            &valid[end..]
        );
        check(ring, &tampered);
    }
});

/// No panic; accepted only if it is exactly what the ring signs for the claims it holds
/// (Ed25519 signatures and the JSON encoding are deterministic).
fn check(ring: &KeyRing, token: &str) {
    match ring.verify(token) {
        Ok(claims) => assert_eq!(
            ring.sign(&claims).expect("sign").as_str(),
            token,
            "accepted a token the ring did not sign"
        ),
        Err(rejection) => assert!(!rejection.as_str().is_empty()),
    }
}
