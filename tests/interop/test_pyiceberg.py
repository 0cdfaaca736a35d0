"""PyIceberg, unmodified, against Jeton in gateway mode in front of an Iceberg REST catalog: a
personal token (seed 000), a service user's OAuth2 client credentials (seed 004), and the
newer `auth` configuration."""

import jwt
import pytest
import requests
from pyiceberg.catalog import load_catalog
from pyiceberg.catalog.rest import TOKEN_EXCHANGE
from pyiceberg.exceptions import OAuthError, UnauthorizedError

from conftest import unique
from upstream import NAMESPACES

EXPECTED = [tuple(ns) for ns in NAMESPACES]


@pytest.mark.parametrize(
    "name, properties",
    [
        ("jeton", lambda url: {"type": "rest", "uri": url}),
        # Seed 000 as written: no type (inferred from the URI), a prefix in the URI.
        ("my_catalog", lambda url: {"uri": f"{url}/v1/my_catalog"}),
    ],
    ids=["base-uri", "seed-000"],
)
def test_personal_token_through_the_gateway_until_revoked(jeton, name, properties):
    created = jeton.create_token(comment="PyIceberg automation", expires_in="1d")
    catalog = load_catalog(name, **properties(jeton.url), token=created["token"])
    assert sorted(catalog.list_namespaces()) == EXPECTED

    jeton.call("POST", f"/api/v1/tokens/revoke/{created['id']}")
    with pytest.raises(UnauthorizedError):
        catalog.list_namespaces()


def seed_004_catalog(jeton, client_id: str, api_key: str, token_path: str):
    """The seed's configuration, with only host and port changed."""
    return load_catalog(
        "pangolin",
        **{
            "uri": f"{jeton.url}/v1/default/",
            "credential": f"{client_id}:{api_key}",
            "oauth2-server-uri": f"{jeton.url}{token_path}",
            "scope": "catalog",
            "type": "rest",
        },
    )


@pytest.mark.parametrize("token_path", ["/v1/default/v1/oauth/tokens", "/v1/oauth/tokens"])
def test_service_user_client_credentials_rotation_and_disable(jeton, token_path):
    # Created with the seed's spelling: --role "TenantUser".
    service_user = jeton.create_service_user(name=unique("etl-pipeline"), role="TenantUser")
    client_id, old_key = service_user["id"], service_user["api_key"]
    assert service_user["client_id"] == client_id

    first = seed_004_catalog(jeton, client_id, old_key, token_path)
    assert sorted(first.list_namespaces()) == EXPECTED

    new_key = jeton.rotate_key(client_id)
    assert new_key != old_key
    with pytest.raises(OAuthError) as refused:
        seed_004_catalog(jeton, client_id, old_key, token_path)
    # PyIceberg parsed Jeton's RFC 6749 error body.
    assert str(refused.value).startswith("invalid_client")

    second = seed_004_catalog(jeton, client_id, new_key, token_path)
    assert sorted(second.list_namespaces()) == EXPECTED

    jeton.call("POST", f"/api/v1/service-users/{client_id}/disable")
    with pytest.raises(OAuthError):
        seed_004_catalog(jeton, client_id, new_key, token_path)
    # The access token `second` already holds stops working too: its request is refused (401),
    # and PyIceberg's retry, which asks for a new token, is refused as well.
    with pytest.raises((UnauthorizedError, OAuthError)):
        second.list_namespaces()


def oauth2_auth_catalog(jeton, client_id: str, client_secret: str):
    """PyIceberg's newer `auth` configuration: HTTP Basic client credentials at a token URL."""
    return load_catalog(
        "jeton",
        type="rest",
        uri=jeton.url,
        auth={
            "type": "oauth2",
            "oauth2": {
                "client_id": client_id,
                "client_secret": client_secret,
                "token_url": f"{jeton.url}/oauth/token",
                "scope": "catalog",
            },
        },
    )


def test_oauth2_auth_manager(jeton, service_user):
    catalog = oauth2_auth_catalog(jeton, service_user["id"], service_user["api_key"])
    assert sorted(catalog.list_namespaces()) == EXPECTED

    # This manager does not parse OAuth errors: it raises the HTTP error of the token request.
    with pytest.raises(requests.HTTPError) as refused:
        oauth2_auth_catalog(jeton, service_user["id"], service_user["api_key"] + "x")
    assert refused.value.response.status_code == 401
    assert refused.value.response.json()["error"] == "invalid_client"


def exchange_refresh(jeton, token_path: str, subject: str, client: tuple[str, str] | None) -> requests.Response:
    """A token-exchange refresh as the Iceberg REST OAuth2 flow defines it (PyIceberg's own
    `TOKEN_EXCHANGE` grant): the current token as `subject_token`, with the client's
    credentials (HTTP Basic) or without them."""
    return requests.post(
        f"{jeton.url}{token_path}",
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "scope": "catalog",
        },
        auth=client,
        timeout=10,
    )


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize("with_client", [True, False], ids=["client-authenticated", "token-only"])
def test_refresh_by_token_exchange_ends_with_the_original(jeton, with_client):
    """PyIceberg with the seed's client credentials; its token refreshed by token exchange, with
    and without client authentication. A refresh never outlives the original without the
    client's credentials; once the original is revoked (RFC 7009), every refreshed token stops
    working and no further refresh is granted, in either mode. PyIceberg's own refresh (a new
    client-credentials grant after a 401) keeps working: the client still holds its key."""
    token_path = "/v1/default/v1/oauth/tokens"
    service_user = jeton.create_service_user(name=unique("etl-refresh"), role="TenantUser")
    client_id, api_key = service_user["id"], service_user["api_key"]
    client = (client_id, api_key) if with_client else None
    catalog = seed_004_catalog(jeton, client_id, api_key, token_path)
    assert sorted(catalog.list_namespaces()) == EXPECTED
    original = catalog._session.auth.auth_manager._token  # pylint: disable=protected-access
    original_claims = claims(original)

    refreshed = exchange_refresh(jeton, token_path, original, client)
    assert refreshed.status_code == 200, refreshed.text
    first = refreshed.json()["access_token"]
    again = exchange_refresh(jeton, token_path, first, client)
    assert again.status_code == 200, again.text
    second = again.json()["access_token"]
    for token, parent in [(first, original), (second, first)]:
        assert claims(token)["root_jti"] == original_claims["jti"]
        assert claims(token)["parent"] == claims(parent)["jti"]
        if not with_client:
            assert claims(token)["exp"] <= original_claims["exp"]
        # PyIceberg works with the refreshed token.
        refreshed_catalog = load_catalog("jeton", type="rest", uri=jeton.url, token=token)
        assert sorted(refreshed_catalog.list_namespaces()) == EXPECTED

    revoked = requests.post(
        f"{jeton.url}/oauth/revoke", data={"token": original}, auth=(client_id, api_key), timeout=10
    )
    assert revoked.status_code == 200, revoked.text
    for token in (original, first, second):
        assert jeton.verify(token).status_code == 401
        refused = exchange_refresh(jeton, token_path, token, client)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"
        # PyIceberg refused from its first request (the catalog's configuration).
        with pytest.raises(UnauthorizedError):
            load_catalog("jeton", type="rest", uri=jeton.url, token=token).list_namespaces()

    # The seed's catalog: its token was revoked, PyIceberg refreshes with its credentials.
    assert sorted(catalog.list_namespaces()) == EXPECTED
    assert catalog._session.auth.auth_manager._token != original  # pylint: disable=protected-access
