"""The standard OAuth2 endpoints with plain HTTP: RFC 8414 metadata, RFC 7662 introspection,
RFC 7009 revocation, and RFC 6749 error answers."""

import pytest
import requests


@pytest.fixture(scope="module")
def other_tenant(jeton):
    """A second tenant (made by root) with a service user of its own."""
    jeton.call("POST", "/api/v1/tenants", json={"name": "other"})
    return jeton.create_service_user(tenant="other")


def token_request(jeton, form: dict, auth=None, headers=None) -> requests.Response:
    return jeton.request("POST", "/oauth/token", data=form, auth=auth, headers=headers)


def test_authorization_server_metadata(jeton):
    meta = jeton.call("GET", "/.well-known/oauth-authorization-server")
    for field in ("issuer", "token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"):
        assert meta.get(field), f"{field} missing from {meta}"
    assert "client_credentials" in meta["grant_types_supported"]
    # The endpoints it names answer.
    assert requests.get(meta["jwks_uri"], timeout=30).json()["keys"]
    assert meta["token_endpoint"].endswith("/oauth/token")


def test_introspection(jeton, service_user, other_tenant):
    own = (service_user["id"], service_user["api_key"])
    token = jeton.oauth_token(*own)
    answer = jeton.request("POST", "/oauth/introspect", data={"token": token}, auth=own)
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is True

    garbage = jeton.request("POST", "/oauth/introspect", data={"token": "not-a-token"}, auth=own)
    assert garbage.status_code == 200
    assert garbage.json() == {"active": False}

    # Tenants see nothing of each other, from either side.
    others = (other_tenant["id"], other_tenant["api_key"])
    other_token = jeton.oauth_token(*others)
    assert jeton.request("POST", "/oauth/introspect", data={"token": other_token}, auth=own).json() == {"active": False}
    assert jeton.request("POST", "/oauth/introspect", data={"token": token}, auth=others).json() == {"active": False}

    # Introspection needs client authentication.
    assert jeton.request("POST", "/oauth/introspect", data={"token": token}).status_code == 401


def test_revocation(jeton, service_user):
    own = (service_user["id"], service_user["api_key"])
    token = jeton.oauth_token(*own)
    assert jeton.verify(token).status_code == 200
    answer = jeton.request("POST", "/oauth/revoke", data={"token": token}, auth=own)
    assert answer.status_code == 200, answer.text
    assert jeton.verify(token).status_code == 401
    # RFC 7009: an unknown token is not an error.
    assert jeton.request("POST", "/oauth/revoke", data={"token": "not-a-token"}, auth=own).status_code == 200


def assert_oauth_error(response: requests.Response, statuses: tuple[int, ...], error: str) -> None:
    """An RFC 6749 section 5.2 error: `{"error": "...", "error_description": "..."}`."""
    assert response.status_code in statuses, response.text
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body.get("error_description", ""), str)


def test_token_endpoint_errors(jeton, service_user):
    client = {"client_id": service_user["id"], "client_secret": service_user["api_key"]}
    assert_oauth_error(
        token_request(jeton, {"grant_type": "password", "username": "admin", "password": "x", **client}),
        (400,),
        "unsupported_grant_type",
    )
    assert_oauth_error(
        token_request(jeton, {"grant_type": "client_credentials", "scope": "admin", **client}),
        (400,),
        "invalid_scope",
    )
    assert_oauth_error(
        token_request(jeton, {"grant_type": "client_credentials", **client, "client_secret": "jsk_wrong"}),
        (400, 401),
        "invalid_client",
    )
    basic = token_request(jeton, {"grant_type": "client_credentials"}, auth=(service_user["id"], "jsk_wrong"))
    # RFC 6749: credentials sent with HTTP Basic are refused with 401 and a Basic challenge.
    assert_oauth_error(basic, (401,), "invalid_client")
    assert basic.headers.get("WWW-Authenticate", "").lower().startswith("basic"), dict(basic.headers)


def test_stale_bearer_header_is_ignored_beside_client_credentials(jeton, service_user):
    stale = jeton.create_token(comment="stale", expires_in="1d")
    jeton.call("POST", f"/api/v1/tokens/revoke/{stale['id']}")
    answer = token_request(
        jeton,
        {"grant_type": "client_credentials", "client_id": service_user["id"], "client_secret": service_user["api_key"]},
        headers={"Authorization": f"Bearer {stale['token']}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["expires_in"] > 0
    assert answer.headers.get("Cache-Control") == "no-store"  # RFC 6749 section 5.1
    assert jeton.verify(body["access_token"]).status_code == 200
