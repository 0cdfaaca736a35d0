"""API fuzzing: schemathesis, unmodified, against Jeton's own `/openapi.json`.

Schemathesis generates requests for every operation of the document, from the schema (valid
ones) and against it (invalid ones: wrong types, missing fields, strings where numbers go, ...),
and checks every answer: no 5xx (`not_a_server_error`), a status the operation documents
(`status_code_conformance`), a documented content type (`content_type_conformance`), the
documented headers (`response_headers_conformance`) and a body that matches the documented
schema of that status (`response_schema_conformance`). It runs once per principal, each time on
every operation: as the root administrator, as a tenant administrator (who meets objects above
its level: the root user and its tokens) and as a tenant user, on a server of its own (the runs
create and delete users, roles, tenants, tokens and service users at will).

The run is bounded and reproducible: at most `MAX_EXAMPLES` generated cases per operation in the
fuzzing phase, plus the coverage phase's boundary and negative cases, with a fixed seed and one
worker (with two, the order in which values learned from responses are reused varies, and
Hypothesis has been seen to fail on its own in a worker thread). A failing run shows
schemathesis's report: each failure with a `curl` line that reproduces it.

Not fuzzed with the run's own credential, and why:
- `POST /api/v1/tokens/revoke/self` logs the presented token out: the first call would end the
  run. It gets a run of its own below, with a token of its own for each principal.
- Requests that would take a fuzzing principal's access away (revoking its token or all of its
  tokens, deactivating, demoting, re-passwording or deleting it) are sent about a user or token
  that does not exist instead, by the `map_case` hook in schemathesis_hooks.py, only when they
  name one of the principals or their tokens; the same operations on every other user and token
  are fuzzed as generated.
"""

import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import running_jeton

HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).with_name("st")
SEED = 20260723
MAX_EXAMPLES = 25
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]
PHASES = "examples,coverage,fuzzing"
WORKERS = 1
LOGOUT = "/api/v1/tokens/revoke/self"
PASSWORD = "fuzz-principal-password-81c3"
PRINCIPALS = ["admin", "tenant-admin", "tenant-user"]


@dataclass
class Principal:
    """Who a run authenticates as."""

    name: str
    username: str
    user_id: str
    token: str
    token_id: str


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, upstream):
    """A server of its own: the fuzzer changes whatever it may change."""
    if not ST.exists():
        pytest.skip(f"schemathesis is not installed beside {sys.executable} (pip install -r tests/interop/requirements.txt)")
    with running_jeton(tmp_path_factory.mktemp("jeton-fuzz"), upstream.url) as server:
        yield server


def principal(server, name: str, token: str) -> Principal:
    me = server.call("GET", "/api/v1/me", token=token)
    return Principal(name, me["user"]["username"], me["user"]["id"], token, me["token"]["id"])


def login(server, username: str, password: str) -> str:
    response = server.request("POST", "/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture(scope="module")
def principals(fuzz_server) -> dict[str, Principal]:
    """The root administrator (its session token), and a tenant administrator and a tenant user
    of the default tenant (personal API tokens)."""
    found = {"admin": principal(fuzz_server, "admin", fuzz_server.admin_token)}
    for level in ("tenant-admin", "tenant-user"):
        username = f"fuzz-{level}"
        fuzz_server.call("POST", "/api/v1/users", json={"username": username, "password": PASSWORD, "access_level": level})
        session = login(fuzz_server, username, PASSWORD)
        token = fuzz_server.create_token(comment="schemathesis", expires_in="1d", token=session)["token"]
        found[level] = principal(fuzz_server, level, token)
    return found


def kid_of(token: str) -> str:
    """The `kid` of a JWT's header: the signing key whose revocation would end the token."""
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def run_schemathesis(server, token: str, protected: list[Principal], workdir: Path, *selection: str) -> dict:
    """`st run` against the server with `Authorization: Bearer <token>`; answers its JSON report,
    with the console output under `output`."""
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        str(ST),
        "run",
        f"{server.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        str(WORKERS),
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(workdir / "report.json"),
        *selection,
    ]
    env = dict(os.environ)
    env.update(
        SCHEMATHESIS_HOOKS=str(HERE / "schemathesis_hooks.py"),
        JETON_FUZZ_PROTECTED_USERS=",".join(v for p in protected for v in (p.username, p.user_id)),
        JETON_FUZZ_PROTECTED_TOKENS=",".join(p.token_id for p in protected),
        JETON_FUZZ_PROTECTED_KIDS=",".join({kid_of(p.token) for p in protected} | {kid_of(token)}),
        NO_COLOR="1",
        COLUMNS="120",
    )
    started = time.monotonic()
    # The working directory takes schemathesis's and Hypothesis's caches, away from the checkout.
    done = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    report_path = workdir / "report.json"
    assert report_path.exists(), f"st run exited with {done.returncode} and wrote no report:\n{output}"
    report = json.loads(report_path.read_text())
    report["output"] = output
    report["exit"] = done.returncode
    report["seconds"] = time.monotonic() - started
    return report


def assert_clean(report: dict) -> None:
    """No failure of any check, no error, every selected operation tested."""
    summary = (
        f"schemathesis {report['schemathesis_version']}, seed {report['seed']}: "
        f"{report['operations']['tested']}/{report['operations']['selected']} operations, "
        f"{report['test_cases']['generated']} test cases in {report['seconds']:.0f} s"
    )
    print(summary)
    problems = []
    if report["failures"]:
        problems.append(f"failures: {report['failures']}")
    if report["errors"]:
        problems.append(f"errors: {report['errors']}")
    if not report["complete"] or report["stop_reason"] != "completed":
        problems.append(f"the run did not complete: {report['stop_reason']}")
    if report["operations"]["tested"] != report["operations"]["selected"] or report["operations"]["errored"]:
        problems.append(f"operations not tested: {report['operations']}")
    if report["exit"] != 0:
        problems.append(f"st run exited with {report['exit']}")
    assert not problems, f"{summary}\n" + "\n".join(problems) + "\n\n" + report["output"]


@pytest.mark.parametrize("who", PRINCIPALS)
def test_schemathesis_finds_no_server_error_or_schema_violation(fuzz_server, principals, who, tmp_path):
    me = principals[who]
    report = run_schemathesis(
        fuzz_server,
        me.token,
        list(principals.values()),
        tmp_path / who,
        # Logs out the run's own token: fuzzed below with a token of its own.
        "--exclude-path",
        LOGOUT,
    )
    assert_clean(report)
    assert report["operations"]["selected"] == report["operations"]["total"] - 1
    # The hook kept the run's credential alive: had it not, most operations would only have been
    # tested unauthenticated.
    still = fuzz_server.request("GET", "/api/v1/auth/verify", token=me.token)
    assert still.status_code == 200, f"the {who}'s token stopped working during the run: {still.text}"


@pytest.mark.parametrize("who", PRINCIPALS)
def test_schemathesis_logout_with_a_token_of_its_own(fuzz_server, principals, who, tmp_path):
    me = principals[who]
    own = fuzz_server.create_token(comment="logged out by schemathesis", expires_in="1h", token=me.token)["token"]
    report = run_schemathesis(fuzz_server, own, [me], tmp_path / who, "--include-path", LOGOUT)
    assert_clean(report)
    assert report["operations"]["tested"] == 1
    assert fuzz_server.request("GET", "/api/v1/auth/verify", token=own).status_code == 401
    assert fuzz_server.request("GET", "/api/v1/auth/verify", token=me.token).status_code == 200
