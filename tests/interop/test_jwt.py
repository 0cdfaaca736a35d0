"""PyJWT verifies Jeton's tokens offline from the published JWKS and server metadata, as any
resource server would."""

import base64
import json

import jwt
import pytest


@pytest.fixture(scope="module")
def issuer(jeton):
    return jeton.call("GET", "/.well-known/oauth-authorization-server")["issuer"]


@pytest.fixture(scope="module")
def jwks(jeton):
    return jwt.PyJWKClient(f"{jeton.url}/.well-known/jwks.json")


def decode(jwks, issuer, token: str) -> dict:
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["EdDSA"], audience="jeton", issuer=issuer)


def test_api_token_verifies_offline(jeton, jwks, issuer):
    created = jeton.create_token(comment="resource server", expires_in="1d")
    claims = decode(jwks, issuer, created["token"])
    assert claims["jti"] == created["id"]
    assert claims["kind"] == "api"
    assert claims["exp"] > claims["iat"]


def test_oauth_access_token_verifies_offline(jeton, jwks, issuer, service_user):
    token = jeton.oauth_token(service_user["id"], service_user["api_key"])
    claims = decode(jwks, issuer, token)
    assert claims["kind"] == "oauth"
    verified = jeton.verify(token)
    assert verified.status_code == 200
    assert verified.headers["X-Jeton-Token-Id"] == claims["jti"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_tampered_token_fails_to_decode(jeton, jwks, issuer):
    token = jeton.create_token(comment="to tamper with", expires_in="1d")["token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "admin"
    forged_claims = ".".join([header, b64(json.dumps(claims).encode()), signature])
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    forged_signature = ".".join([header, payload, flipped])
    for forged in (forged_claims, forged_signature):
        with pytest.raises(jwt.InvalidSignatureError):
            decode(jwks, issuer, forged)
        assert jeton.verify(forged).status_code == 401
