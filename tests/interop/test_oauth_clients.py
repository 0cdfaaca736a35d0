"""Generic OAuth2 client libraries, unmodified, doing the client-credentials grant with a
service user's id and API key, then using the access token."""

import pytest
from authlib.integrations.base_client import OAuthError as AuthlibOAuthError
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidClientError
from requests_oauthlib import OAuth2Session as RequestsOAuthlibSession


def assert_verifies(jeton, response, service_user: dict) -> None:
    """`GET /api/v1/auth/verify` accepted the token and names the service user, as it does for
    the service user's own key."""
    assert response.status_code == 200, response.text
    for header in ("X-Jeton-User", "X-Jeton-Tenant", "X-Jeton-Scopes", "X-Jeton-Token-Id"):
        assert header in response.headers, f"{header} missing from {dict(response.headers)}"
    by_key = jeton.verify(service_user["api_key"], header="X-API-Key")
    assert by_key.status_code == 200, by_key.text
    assert response.headers["X-Jeton-User"] == by_key.headers["X-Jeton-User"]
    assert response.headers["X-Jeton-Tenant"] == "default"
    assert response.headers["X-Jeton-Token-Id"]


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials(jeton, service_user, auth_method):
    session = AuthlibSession(service_user["id"], service_user["api_key"], token_endpoint_auth_method=auth_method)
    token = session.fetch_token(f"{jeton.url}/oauth/token", grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"
    assert token["expires_in"] > 0
    # The session sends the token itself.
    assert_verifies(jeton, session.get(f"{jeton.url}/api/v1/auth/verify", timeout=30), service_user)

    wrong = AuthlibSession(service_user["id"], "jsk_wrong", token_endpoint_auth_method=auth_method)
    with pytest.raises(AuthlibOAuthError) as refused:
        wrong.fetch_token(f"{jeton.url}/oauth/token", grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


def test_requests_oauthlib_backend_application(jeton, service_user, monkeypatch):
    # oauthlib refuses plain http unless told otherwise; the test server has no TLS.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    client_id, secret = service_user["id"], service_user["api_key"]
    session = RequestsOAuthlibSession(client=BackendApplicationClient(client_id=client_id))
    token = session.fetch_token(token_url=f"{jeton.url}/oauth/token", client_id=client_id, client_secret=secret)
    assert token["access_token"]
    assert_verifies(jeton, session.get(f"{jeton.url}/api/v1/auth/verify", timeout=30), service_user)

    wrong = RequestsOAuthlibSession(client=BackendApplicationClient(client_id=client_id))
    with pytest.raises(InvalidClientError) as refused:
        wrong.fetch_token(token_url=f"{jeton.url}/oauth/token", client_id=client_id, client_secret=secret + "x")
    assert refused.value.error == "invalid_client"
