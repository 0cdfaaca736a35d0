"""The seed documents' command lines, run as written with real curl; only the host, the port and
the placeholders change."""

import json
import subprocess

import jwt
import requests

from conftest import running_jeton, unique
from upstream import CATALOGS

# Seed 000, "Token Revocation".
SEED_000_SELF_REVOKE = """curl -X POST http://localhost:8080/api/v1/tokens/revoke/self \\
  -H "Authorization: Bearer <TOKEN>"
"""
SEED_000_ADMIN_REVOKE = """curl -X POST http://localhost:8080/api/v1/tokens/revoke/<JTI> \\
  -H "Authorization: Bearer <ADMIN_TOKEN>"
"""
# Seed 004, service users authenticating with the X-API-Key header.
SEED_004_CURL = """curl -H "X-API-Key: pgl_YOUR_SECRET_KEY" \\
https://your-pangolin-api.com/api/v1/catalogs
"""


def run_seed(script: str, replacements: dict) -> dict:
    """Runs a seed's shell lines with bash and answers the JSON curl printed."""
    for placeholder, value in replacements.items():
        script = script.replace(placeholder, value)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{script}\nexit {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


def host(jeton) -> dict:
    return {"http://localhost:8080": jeton.url}


def test_seed_000_self_revoke(jeton):
    token = jeton.create_token(comment="seed 000 self-revoke")["token"]
    assert jeton.request("GET", "/api/v1/me", token=token).status_code == 200
    revoked = run_seed(SEED_000_SELF_REVOKE, {**host(jeton), "<TOKEN>": token})
    assert revoked["revoked_at"]
    assert jeton.request("GET", "/api/v1/me", token=token).status_code == 401


def test_seed_000_admin_revokes_another_users_token(jeton):
    username = unique("analyst")
    jeton.call("POST", "/api/v1/users", json={"username": username, "password": "analyst-password-1234"})
    token = jeton.create_token(comment="seed 000 admin revoke", for_user=username)["token"]
    assert jeton.request("GET", "/api/v1/me", token=token).status_code == 200
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    revoked = run_seed(SEED_000_ADMIN_REVOKE, {**host(jeton), "<JTI>": jti, "<ADMIN_TOKEN>": jeton.admin_token})
    assert (revoked["id"], revoked["username"]) == (jti, username)
    assert jeton.request("GET", "/api/v1/me", token=token).status_code == 401


def test_seed_004_curl_with_x_api_key(jeton, service_user):
    catalogs = run_seed(
        SEED_004_CURL,
        {"pgl_YOUR_SECRET_KEY": service_user["api_key"], "https://your-pangolin-api.com": jeton.url},
    )
    assert catalogs == CATALOGS


def test_api_key_prefix_pgl(tmp_path, upstream):
    with running_jeton(tmp_path, upstream.url, "--api-key-prefix", "pgl_") as jeton:
        service_user = jeton.create_service_user(name="etl-pipeline", role="TenantUser")
        key = service_user["api_key"]
        assert key.startswith("pgl_")
        # Seed 004's curl line, now with a key that looks like the seed's.
        assert run_seed(SEED_004_CURL, {"pgl_YOUR_SECRET_KEY": key, "https://your-pangolin-api.com": jeton.url}) == CATALOGS
        # And its requests snippet.
        headers = {"X-API-Key": key}
        response = requests.get(f"{jeton.url}/api/v1/catalogs", headers=headers, timeout=30)
        assert response.json() == CATALOGS
        # A rotated key keeps the prefix.
        assert jeton.rotate_key(service_user["id"]).startswith("pgl_")
