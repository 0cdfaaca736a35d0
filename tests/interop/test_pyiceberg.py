"""PyIceberg, unmodified, against Jeton in gateway mode in front of an Iceberg REST catalog: a
personal token (seed 000), a service user's OAuth2 client credentials (seed 004), and the
newer `auth` configuration."""

import pytest
import requests
from pyiceberg.catalog import load_catalog
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
