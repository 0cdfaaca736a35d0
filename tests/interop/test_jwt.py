"""PyJWT verifies Jeton's tokens offline from the published JWKS and server metadata, as any
resource server would."""

import base64
import json

import jwt
import pytest

from conftest import running_jeton


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


@pytest.mark.parametrize("configured", ["http://jeton.example:8080/", "http://jeton.example:8080"])
def test_the_published_issuer_is_the_tokens_iss_whatever_the_trailing_slash(tmp_path, upstream, configured):
    """RFC 8414 §3.3: the metadata's `issuer` is identical to the tokens' `iss`; PyJWT compares
    them exactly. `--issuer` with a trailing slash (common at other providers) or without."""
    with running_jeton(tmp_path, upstream.url, "--issuer", configured) as server:
        meta = server.call("GET", "/.well-known/oauth-authorization-server")
        assert meta["issuer"] == "http://jeton.example:8080"
        keys = jwt.PyJWKClient(f"{server.url}/.well-known/jwks.json")
        service_user = server.create_service_user(access_level="tenant-user")
        access = server.oauth_token(service_user["id"], service_user["api_key"])
        api = server.create_token(comment="strict client", expires_in="1d")["token"]
        for token, typ in ((access, "at+jwt"), (api, "JWT")):
            assert decode(keys, meta["issuer"], token)["iss"] == meta["issuer"]
            # RFC 9068: access tokens are typed `at+jwt`; the others stay `JWT`.
            assert jwt.get_unverified_header(token)["typ"] == typ
            assert server.verify(token).status_code == 200
