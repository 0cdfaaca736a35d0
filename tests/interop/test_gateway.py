"""Gateway mode: Jeton checks the credential, then forwards the request to the upstream without
it and with the caller's identity in `X-Jeton-*` headers."""

import hashlib
import os
import uuid

import pytest
import requests

from upstream import FIXTURE_HEADER, header_values

IDENTITY_HEADERS = ("X-Jeton-User", "X-Jeton-Tenant", "X-Jeton-Token-Id", "X-Jeton-Scopes")


def credential_headers(style: str, key: str) -> dict:
    return {"X-API-Key": key} if style == "x-api-key" else {"Authorization": f"Bearer {key}"}


def assert_identity(echo: dict, expected: requests.Response) -> None:
    """The upstream got each identity header once, with the value `/api/v1/auth/verify` gives."""
    for name in IDENTITY_HEADERS:
        assert header_values(echo, name) == [expected.headers[name]], (name, echo["headers"])


@pytest.mark.parametrize("style", ["x-api-key", "bearer"])
def test_forwards_without_the_credential_and_with_the_identity(jeton, service_user, style):
    key = service_user["api_key"]
    answer = jeton.request("GET", "/echo/x?a=1", headers=credential_headers(style, key))
    assert answer.status_code == 200, answer.text
    assert answer.headers[FIXTURE_HEADER] == "1"
    echo = answer.json()
    assert (echo["method"], echo["path"], echo["query"]) == ("GET", "/echo/x", "a=1")
    assert header_values(echo, "X-API-Key") == []
    assert header_values(echo, "Authorization") == []
    assert_identity(echo, jeton.verify(key))


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_keeps_method_query_and_body(jeton, service_user, method):
    answer = jeton.request(
        method,
        "/echo/items/7?dry_run=true&tag=a&tag=b",
        headers={"X-API-Key": service_user["api_key"], "Content-Type": "application/json"},
        data=b'{"name": "seven"}',
    )
    assert answer.status_code == 200, answer.text
    echo = answer.json()
    assert (echo["method"], echo["path"], echo["query"]) == (method, "/echo/items/7", "dry_run=true&tag=a&tag=b")
    assert echo["body"] == '{"name": "seven"}'
    assert header_values(echo, "Content-Type") == ["application/json"]


def test_one_megabyte_body_arrives_intact(jeton, service_user):
    body = os.urandom(1_000_000)
    answer = jeton.request(
        "POST",
        "/echo/upload",
        headers={"X-API-Key": service_user["api_key"], "Content-Type": "application/octet-stream"},
        data=body,
    )
    assert answer.status_code == 200, answer.text[:500]
    echo = answer.json()
    assert echo["method"] == "POST"
    assert echo["body_length"] == len(body)
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_upstream_status_passes_through(jeton, service_user):
    answer = jeton.request("GET", "/status/418", headers={"X-API-Key": service_user["api_key"]})
    assert answer.status_code == 418
    assert answer.headers[FIXTURE_HEADER] == "1"
    assert answer.json() == {"status": 418, "from": "upstream"}


@pytest.mark.parametrize("credential", [None, "jsk_not-a-key", "not.a.jwt"])
def test_refused_requests_never_reach_the_upstream(jeton, upstream, credential):
    path = f"/echo/refused-{uuid.uuid4().hex}"
    headers = {"X-API-Key": credential} if credential else {}
    answer = jeton.request("POST", path, headers=headers, data=b"payload")
    assert answer.status_code == 401
    assert FIXTURE_HEADER not in answer.headers
    assert answer.json()["error"]["code"]
    assert answer.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert upstream.seen(path) == []


def test_client_sent_identity_headers_are_replaced(jeton, upstream, service_user):
    spoof = {
        "X-Jeton-User": "admin",
        "X-Jeton-User-Id": "00000000-0000-0000-0000-000000000000",
        "X-Jeton-Tenant": "other",
        "X-Jeton-Token-Id": "00000000-0000-0000-0000-000000000000",
        "X-Jeton-Scopes": "admin",
    }
    answer = jeton.request("GET", "/echo/spoof", headers={"X-API-Key": service_user["api_key"], **spoof})
    assert answer.status_code == 200, answer.text
    echo = answer.json()
    verified = jeton.verify(service_user["api_key"])
    assert_identity(echo, verified)
    assert header_values(echo, "X-Jeton-User-Id") in ([], [verified.headers["X-Jeton-User-Id"]])

    # Without a credential the spoofed headers get nowhere.
    path = f"/echo/spoof-{uuid.uuid4().hex}"
    assert jeton.request("GET", path, headers=spoof).status_code == 401
    assert upstream.seen(path) == []
