"""Harness of the interoperability suite: a fixture upstream, `jeton serve` in gateway mode on a
temporary SQLite database, an admin session, and fresh service users per test.

The binary is `$JETON_BIN` (default `target/debug/jeton`); `scripts/test` sets it. When a test
fails, the logs of every server started (Jeton's, nginx's) are printed at the end of the run.
"""

import contextlib
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from upstream import UpstreamServer

REPO = Path(__file__).resolve().parents[2]
JETON_BIN = os.environ.get("JETON_BIN") or str(REPO / "target" / "debug" / "jeton")
ADMIN_PASSWORD = "interop-admin-password-2f9c"
HTTP_TIMEOUT = 30

# The clients under test talk to 127.0.0.1 directly, and PyIceberg takes no catalog settings
# from the environment (it reads them when first imported, so this runs before the tests load).
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for _name in [name for name in os.environ if name.upper().startswith("PYICEBERG_")]:
    del os.environ[_name]

_server_logs: list[Path] = []


def show_log_on_failure(log: Path) -> None:
    """Prints this log file at the end of a run that had a failure."""
    _server_logs.append(log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Jeton:
    """A running `jeton serve`, and the few calls the tests make to set things up."""

    def __init__(self, url: str):
        self.url = url
        self.admin_token = ""

    def request(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        """One HTTP request to Jeton, with `Authorization: Bearer <token>` when a token is given."""
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return requests.request(method, self.url + path, headers=headers, **kwargs)

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> dict:
        """A set-up call (as admin unless a token is given) that must succeed; answers its JSON."""
        response = self.request(method, path, token=token or self.admin_token, **kwargs)
        assert response.ok, f"{method} {path} answered {response.status_code}: {response.text}"
        return response.json() if response.content else {}

    def create_token(self, comment: str = "interop", expires_in: str = "1d", token: str | None = None, **fields) -> dict:
        """`POST /api/v1/tokens`: a personal API token (`token`, `id`, ...)."""
        body = {"comment": comment, "expires_in": expires_in, **fields}
        return self.call("POST", "/api/v1/tokens", token=token, json=body)

    def create_service_user(self, token: str | None = None, **fields) -> dict:
        """`POST /api/v1/service-users`: a new service user with its `api_key`."""
        body = {"name": unique("svc"), "description": "interop test", **fields}
        created = self.call("POST", "/api/v1/service-users", token=token, json=body)
        assert created["api_key"], created
        return created

    def rotate_key(self, service_user_id: str, **body) -> str:
        """`POST /api/v1/service-users/{id}/rotate-key`: the new key."""
        return self.call("POST", f"/api/v1/service-users/{service_user_id}/rotate-key", json=body)["api_key"]

    def oauth_token(self, client_id: str, client_secret: str, **form) -> str:
        """An access token from `POST /oauth/token` (client credentials in the form body)."""
        response = self.request(
            "POST",
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret, **form},
        )
        assert response.status_code == 200, f"/oauth/token answered {response.status_code}: {response.text}"
        return response.json()["access_token"]

    def verify(self, credential: str, header: str = "Authorization") -> requests.Response:
        """`GET /api/v1/auth/verify` with the credential as a Bearer token or in another header."""
        value = f"Bearer {credential}" if header == "Authorization" else credential
        return self.request("GET", "/api/v1/auth/verify", headers={header: value})


@contextlib.contextmanager
def running_jeton(directory: Path, upstream_url: str, *extra_args: str):
    """Starts `jeton serve` on a free port with its own SQLite database in `directory`, logs in
    as `admin`, and stops the server afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = directory / "jeton.log"
    show_log_on_failure(log)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JETON_")}
    env.update(
        JETON_BOOTSTRAP_PASSWORD=ADMIN_PASSWORD,
        JETON_CONFIG_DIR=str(directory),
        JETON_LOG="info",
        NO_COLOR="1",
    )
    args = [
        JETON_BIN,
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--database-url",
        f"sqlite://{directory}/jeton.db",
        "--upstream",
        upstream_url,
        # Every client here comes from 127.0.0.1 and many tests send wrong secrets on purpose:
        # the default (10 failures a minute per address) would throttle the suite itself.
        "--login-attempts",
        "1000",
        *extra_args,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    try:
        jeton = Jeton(url)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"jeton serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(url + "/healthz", timeout=2).ok:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"jeton serve did not answer /healthz within 60 s:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        login = requests.post(
            url + "/api/v1/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
            timeout=HTTP_TIMEOUT,
        )
        assert login.status_code == 200, f"admin login answered {login.status_code}: {login.text}"
        jeton.admin_token = login.json()["token"]
        yield jeton
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def upstream():
    server = UpstreamServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def jeton(tmp_path_factory, upstream):
    with running_jeton(tmp_path_factory.mktemp("jeton"), upstream.url) as server:
        yield server


@pytest.fixture
def make_service_user(jeton):
    """Creates a fresh service user per call (`make_service_user(access_level=..., ...)`), so
    that rotating or disabling it disturbs no other test."""
    return jeton.create_service_user


@pytest.fixture
def service_user(make_service_user):
    """A fresh `tenant-user` service user of the default tenant, with its `api_key`."""
    return make_service_user(access_level="tenant-user")


def pytest_terminal_summary(terminalreporter, exitstatus):
    if exitstatus == 0:
        return
    for log in _server_logs:
        if log.exists():
            lines = log.read_text(errors="replace").splitlines()
            terminalreporter.section(f"{log} (last 200 lines)")
            terminalreporter.write_line("\n".join(lines[-200:]))
