"""nginx (Debian's package) protects a static site with `auth_request` against Jeton's
forward-auth endpoint, as the README's deployment notes suggest."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import free_port, show_log_on_failure

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
INDEX = "<h1>protected by jeton</h1>\n"

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed: apt-get install nginx")

CONFIG = """
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/client_body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        location / {{
            auth_request /_jeton_auth;
            auth_request_set $jeton_user $upstream_http_x_jeton_user;
            add_header X-Jeton-User $jeton_user;
        }}
        location = /_jeton_auth {{
            internal;
            proxy_pass {jeton}/api/v1/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def nginx(jeton, tmp_path_factory):
    """nginx on a free port, run as the current user from a private prefix directory. The
    directory is readable by all because nginx started as root serves files as its worker user."""
    directory = Path(tempfile.mkdtemp(prefix="jeton-nginx-"))
    directory.chmod(0o755)
    (directory / "tmp").mkdir()
    (directory / "www").mkdir()
    (directory / "www" / "index.html").write_text(INDEX)
    port = free_port()
    (directory / "nginx.conf").write_text(CONFIG.format(dir=directory, port=port, jeton=jeton.url))
    command = [
        NGINX,
        "-p", str(directory),
        "-c", str(directory / "nginx.conf"),
        "-e", str(directory / "error.log"),
        "-g", f"daemon off; pid {directory}/nginx.pid; error_log {directory}/error.log;",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"nginx exited with {process.returncode}: {process.stdout.read().decode(errors='replace')}")
            with contextlib.suppress(requests.ConnectionError):
                requests.get(url, timeout=2)
                break
            if time.monotonic() > deadline:
                pytest.fail("nginx did not answer within 20 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if (directory / "error.log").exists():
            kept = tmp_path_factory.mktemp("nginx") / "error.log"
            shutil.copy(directory / "error.log", kept)
            show_log_on_failure(kept)
        shutil.rmtree(directory, ignore_errors=True)


def get(nginx: str, headers: dict | None = None) -> requests.Response:
    return requests.get(f"{nginx}/index.html", headers=headers or {}, timeout=30)


def assert_served(response: requests.Response, jeton, credential_headers: dict) -> None:
    assert response.status_code == 200, response.text
    assert response.text == INDEX
    expected_user = jeton.request("GET", "/api/v1/auth/verify", headers=credential_headers).headers["X-Jeton-User"]
    assert response.headers["X-Jeton-User"] == expected_user


def test_no_credential_is_refused(nginx):
    assert get(nginx).status_code == 401


def test_api_token_until_revoked(nginx, jeton):
    created = jeton.create_token(comment="behind nginx", expires_in="1d")
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert_served(get(nginx, headers), jeton, headers)
    jeton.call("POST", f"/api/v1/tokens/revoke/{created['id']}")
    assert get(nginx, headers).status_code == 401


def test_service_user_key_until_rotated(nginx, jeton, service_user):
    old = {"X-API-Key": service_user["api_key"]}
    assert_served(get(nginx, old), jeton, old)
    new = {"X-API-Key": jeton.rotate_key(service_user["id"])}
    assert get(nginx, old).status_code == 401
    assert_served(get(nginx, new), jeton, new)
