"""Jeton's own Python client (clients/python, installed into the virtualenv by scripts/test, not
editable) against a real `jeton serve`: seed 003's session statement by statement, over HTTP and
over the WebSocket, and the token helpers.

The client always runs in a subprocess whose environment holds only JETON_URL and JETON_TOKEN
(plus PATH, HOME and LANG), the way a user's script runs: `jeton.Client.from_env()` and nothing
else configured. Each subprocess prints one JSON line of what it saw; the assertions are here.
"""

import datetime
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from conftest import REPO, running_jeton

TRANSPORTS = ["http", "ws"]

# Prepended to every client script: the client from the environment, and `emit` for the answer.
PRELUDE = """\
import json, os, sys
import jeton

client = jeton.Client.from_env()

def emit(value):
    print(json.dumps(value, ensure_ascii=False, default=str))

def failure(run):
    \"\"\"What a call that must fail raised: class, status, code, message, where, results before it.\"\"\"
    try:
        run()
    except jeton.JetonError as err:
        return {
            "class": type(err).__name__, "status": err.status, "code": err.code, "message": err.message,
            "statement_index": err.statement_index, "line": err.line,
            "results": [list(r.columns) for r in err.results],
        }
    raise AssertionError("no error was raised")
"""


def run_client(url: str, token: str, script: str, home: Path, stdin: str = "") -> dict:
    """Runs a client script in a fresh interpreter of this virtualenv with only JETON_URL and
    JETON_TOKEN configured; answers the JSON it emitted last."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "JETON_URL": url,
        "JETON_TOKEN": token,
    }
    code = PRELUDE + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=home, input=stdin, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"client script failed ({done.returncode}):\n{code}\n--- stderr:\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"the client script printed nothing; stderr:\n{done.stderr}"
    return json.loads(lines[-1])


def client_url(jeton, transport: str) -> str:
    """The server's base URL for this transport: http://127.0.0.1:PORT or ws://127.0.0.1:PORT."""
    return jeton.url if transport == "http" else "ws" + jeton.url[len("http") :]


def me(jeton, token: str) -> requests.Response:
    return jeton.request("GET", "/api/v1/me", token=token)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def lifetime(text: str) -> datetime.timedelta:
    """'30d', '24h', '90m', '1y' (the server's display form) as a timedelta."""
    number, unit = re.fullmatch(r"(\d+)([smhdwy])", text).groups()
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}[unit]
    return datetime.timedelta(seconds=int(number) * seconds)


def assert_expires_in(expires_at: str, expected: datetime.timedelta) -> None:
    remaining = at(expires_at) - datetime.datetime.now(datetime.timezone.utc)
    assert expected - datetime.timedelta(minutes=5) < remaining <= expected, (expires_at, expected)


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_seed_003_session(tmp_path, home, upstream, transport):
    # A server of its own, so that the seed's names (analyst, service_accounts) are used as written.
    with running_jeton(tmp_path, upstream.url) as jeton:
        url = client_url(jeton, transport)
        # Outlives the 30-day tokens it creates (a token creates only tokens that expire no later).
        admin_token = jeton.create_token(comment="admin, for the Python client", expires_in="365d")["token"]

        # The administrator sets up what the seed takes for granted, through the client.
        setup = run_client(
            url,
            admin_token,
            """
            results = client.sql("CREATE USER analyst PASSWORD 'analyst-password-1234'; CREATE ROLE service_accounts;")
            emit({"transport": client.transport, "messages": [r.message for r in results]})
            """,
            home,
        )
        assert setup["transport"] == {"http": "http", "ws": "websocket"}[transport]
        assert setup["messages"] == ["user analyst created", "role service_accounts created"]
        # Long enough for the tokens it creates below: a token creates only tokens that expire no
        # later than itself.
        analyst_token = jeton.create_token(comment="analyst's CI secret", expires_in="365d", for_user="analyst")["token"]
        default_lifetime = lifetime(jeton.call("GET", "/api/v1/users/analyst/token-policy")["default_duration"])

        # Issuing a token, exactly as the seed writes it.
        issued = run_client(
            url,
            analyst_token,
            """
            result = client.sql(\"\"\"CREATE API TOKEN ci_pipeline
            MAX DURATION '30d'
            COMMENT 'Токен для сборочного конвейера';\"\"\")
            emit({"type": type(result).__name__, "statement": result.statement, "columns": result.columns,
                  "rows": result.rows, "dicts": list(result)})
            """,
            home,
        )
        assert issued["type"] == "Result" and issued["statement"] == "CREATE API TOKEN"
        assert issued["columns"] == ["name", "token", "expires_at"]
        row = issued["dicts"][0]
        assert issued["rows"] == [[row["name"], row["token"], row["expires_at"]]]
        assert row["name"] == "ci_pipeline"
        assert_expires_in(row["expires_at"], datetime.timedelta(days=30))
        ci_token = row["token"]
        # The token authenticates a request as its owner.
        answer = me(jeton, ci_token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["user"]["username"] == "analyst"

        # No name, no expiry: a generated name and the default expiry; then the seed's next
        # statements, one call each.
        session = run_client(
            url,
            analyst_token,
            """
            out = {}
            generated = client.sql("CREATE API TOKEN;")
            out["generated"] = generated[0]
            out["shown"] = list(client.sql("SHOW API TOKENS;"))
            altered = client.sql("ALTER API TOKEN ci_pipeline SET COMMENT 'Перенесен на новый раннер';")
            out["altered"] = [altered.statement, altered.message, altered.affected]
            out["comments"] = client.sql("SHOW API TOKENS;").column("comment")
            dropped = client.sql("DROP API TOKEN ci_pipeline;")
            out["dropped"] = [dropped.statement, dropped.message, dropped.affected]
            out["after_drop"] = client.sql("SHOW API TOKENS").column("name")
            out["all"] = [[t["name"], t["status"]] for t in client.sql("SHOW API TOKENS ALL")]
            # A standard user cannot use FOR USER.
            out["for_user"] = [
                failure(lambda: client.sql("SHOW API TOKENS FOR USER admin;")),
                failure(lambda: client.sql("CREATE API TOKEN sneaky FOR USER admin MAX DURATION '1d';")),
            ]
            emit(out)
            """,
            home,
        )
        generated = session["generated"]
        assert generated["name"] and generated["name"] != "ci_pipeline"
        assert_expires_in(generated["expires_at"], default_lifetime)
        shown = {t["name"]: t for t in session["shown"]}
        assert {"ci_pipeline", generated["name"]} <= set(shown)
        assert shown["ci_pipeline"]["comment"] == "Токен для сборочного конвейера"
        assert all(t["status"] == "active" for t in shown.values())
        assert "token" not in shown["ci_pipeline"], "SHOW API TOKENS must never show values"
        assert session["altered"][0] == "ALTER API TOKEN SET COMMENT" and session["altered"][2] == 1
        assert "Перенесен на новый раннер" in session["comments"]
        assert session["dropped"][0] == "DROP API TOKEN" and session["dropped"][2] == 1
        assert "ci_pipeline" not in session["after_drop"]
        assert ["ci_pipeline", "revoked"] in session["all"]
        assert me(jeton, ci_token).status_code == 401
        for refused in session["for_user"]:
            assert (refused["class"], refused["status"], refused["code"]) == (
                "PermissionDeniedError",
                403,
                "forbidden",
            ), refused
        assert me(jeton, generated["token"]).status_code == 200

        # Administration: the user's limit refuses a 30-day token, naming the limit; a role the
        # user holds allows longer (the longer limit wins); then offboarding.
        admin = run_client(
            url,
            admin_token,
            """
            out = {}
            # The analyst's own client (token on stdin), opened before the offboarding and used
            # after it: over ws:// one connection, which the server must stop serving at once.
            analyst = jeton.Client(os.environ["JETON_URL"], token=sys.stdin.readline().strip())
            out["analyst_before"] = len(analyst.sql("SHOW API TOKENS"))
            out["user_limit"] = client.sql("ALTER USER analyst SET API TOKEN MAX DURATION '24h';").message
            out["refused"] = failure(lambda: client.sql(
                "CREATE API TOKEN report_bot FOR USER analyst MAX DURATION '30d' "
                "COMMENT 'Сервисный токен для выгрузки отчетов';"))
            results = client.sql(
                "ALTER ROLE service_accounts SET API TOKEN MAX DURATION '30d';\\n"
                "GRANT ROLE service_accounts TO USER analyst;")
            out["role_limit"] = [r.message for r in results]
            # The seed's statement with the 30 days the role allows (its '90d' is above both limits).
            created = client.sql(\"\"\"CREATE API TOKEN report_bot
            FOR USER analyst
            MAX DURATION '30d'
            COMMENT 'Сервисный токен для выгрузки отчетов';\"\"\")
            out["report_bot"] = created[0]
            out["analyst_tokens"] = client.sql("SHOW API TOKENS FOR USER analyst;").column("name")
            out["still_limited"] = failure(lambda: client.sql(
                "CREATE API TOKEN report_bot_2 FOR USER analyst MAX DURATION '31d';"))
            out["drop_one"] = client.sql("DROP API TOKEN report_bot FOR USER analyst;").message
            out["spare"] = client.sql("CREATE API TOKEN spare FOR USER analyst MAX DURATION '1d';")[0]["token"]
            dropped = client.sql("DROP ALL API TOKENS FOR USER analyst;")
            out["drop_all"] = [dropped.message, dropped.affected]
            out["left"] = client.sql("SHOW API TOKENS FOR USER analyst;").rows
            out["analyst_after"] = [failure(lambda: analyst.sql("SHOW API TOKENS")) for _ in range(2)]
            analyst.close()
            emit(out)
            """,
            home,
            stdin=analyst_token + "\n",
        )
        assert admin["analyst_before"] >= 2
        assert admin["user_limit"] == "API token max duration of user analyst set to 24h"
        refused = admin["refused"]
        assert (refused["class"], refused["status"], refused["code"]) == ("InvalidRequestError", 422, "unprocessable")
        assert "1d" in refused["message"] and "analyst" in refused["message"], refused
        assert refused["statement_index"] == 1 and refused["results"] == []
        assert len(admin["role_limit"]) == 2
        report_bot = admin["report_bot"]
        assert report_bot["name"] == "report_bot"
        assert_expires_in(report_bot["expires_at"], datetime.timedelta(days=30))
        assert "report_bot" in admin["analyst_tokens"]
        assert admin["still_limited"]["class"] == "InvalidRequestError" and "30d" in admin["still_limited"]["message"]
        assert admin["drop_one"] == "token report_bot revoked"
        assert me(jeton, report_bot["token"]).status_code == 401
        assert admin["drop_all"][1] >= 3, admin["drop_all"]  # the CI secret, the generated one, spare
        assert admin["left"] == []
        # Every one of analyst's tokens fails now, through the client too.
        for token in (analyst_token, generated["token"], admin["spare"]):
            assert me(jeton, token).status_code == 401
        for refused in admin["analyst_after"]:
            assert (refused["class"], refused["status"], refused["code"]) == (
                "AuthenticationError",
                401,
                "unauthenticated",
            ), refused
        again = run_client(url, analyst_token, 'emit(failure(lambda: client.sql("SHOW API TOKENS")))', home)
        assert again["class"] == "AuthenticationError"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_helpers(jeton, home, transport):
    url = client_url(jeton, transport)
    # Outlives the 2-day token it creates (a token creates only tokens that expire no later).
    admin_token = jeton.create_token(comment="admin, for the helpers", expires_in="7d")["token"]
    out = run_client(
        url,
        admin_token,
        """
        import datetime
        out = {"client_repr": repr(client), "client_str": str(client)}
        made = client.create_token(name="helper_bot", comment="made by a helper", expires_in="2d", scopes=["read"])
        out["repr"], out["str"] = repr(made), str(made)
        out["made"] = {"value": made.value, "id": made.id, "name": made.name, "expires_at": made.expires_at,
                       "comment": made.comment, "scopes": made.scopes}
        out["as_owner"] = jeton.Client(os.environ["JETON_URL"], made.value).whoami()["user"]["username"]
        out["listed"] = [t["name"] for t in client.list_tokens()]
        client.revoke_token("helper_bot")                  # by name: DROP API TOKEN
        out["listed_all"] = {t["name"]: t["status"] for t in client.list_tokens(all=True)}
        by_id = client.create_token(comment="revoked by id", expires_in=datetime.timedelta(hours=1))
        out["by_id"] = {"value": by_id.value, "expires_at": by_id.expires_at}
        client.revoke_token(by_id.id)                     # by id: POST /api/v1/tokens/revoke/{id}
        out["whoami"] = client.whoami()
        out["missing"] = failure(lambda: client.revoke_token("no_such_token"))
        out["syntax"] = failure(lambda: client.sql("SHOW API TOKENZ"))
        out["partial"] = failure(lambda: client.sql("SHOW API TOKENS; DROP API TOKEN no_such_token;"))
        several = client.sql("SHOW API TOKENS; SHOW USERS")
        out["several"] = [type(several).__name__, len(several)]
        out["sql_all"] = len(client.sql_all("SHOW API TOKENS"))
        df = client.sql("SHOW API TOKENS").to_pandas()
        out["df"] = [type(df).__name__, list(df.columns), len(df), len(client.sql("SHOW API TOKENS").df)]
        sys.modules["pandas"] = None  # as if pandas were not installed
        out["no_pandas"] = ""
        try:
            client.sql("SHOW API TOKENS").to_pandas()
        except ImportError as err:
            out["no_pandas"] = str(err)
        client.close()
        emit(out)
        """,
        home,
    )
    made = out["made"]
    value = made["value"]
    # The token value never shows in a repr, the client's own token neither.
    for text in (out["client_repr"], out["client_str"], out["repr"], out["str"]):
        assert value not in text and admin_token not in text, text
    assert out["client_repr"] == f"Client(url={url!r})"
    assert out["repr"].startswith("CreatedToken(name='helper_bot'") and "<hidden>" in out["repr"]
    assert made["name"] == "helper_bot" and made["comment"] == "made by a helper" and made["scopes"] == ["read"]
    assert_expires_in(made["expires_at"], datetime.timedelta(days=2))
    assert out["as_owner"] == "admin"
    assert "helper_bot" in out["listed"]
    assert out["listed_all"]["helper_bot"] == "revoked"
    assert me(jeton, value).status_code == 401
    assert_expires_in(out["by_id"]["expires_at"], datetime.timedelta(hours=1))
    assert me(jeton, out["by_id"]["value"]).status_code == 401
    assert out["whoami"]["user"]["username"] == "admin" and out["whoami"]["token"]["kind"] == "api"
    assert (out["missing"]["class"], out["missing"]["status"]) == ("NotFoundError", 404)
    syntax = out["syntax"]
    assert (syntax["class"], syntax["status"], syntax["line"]) == ("InvalidRequestError", 400, 1)
    assert syntax["statement_index"] is None and "TOKENS" in syntax["message"]
    partial = out["partial"]
    assert (partial["class"], partial["statement_index"]) == ("NotFoundError", 2)
    assert len(partial["results"]) == 1 and "name" in partial["results"][0]
    assert out["several"] == ["list", 2] and out["sql_all"] == 1
    df_type, columns, rows, rows_again = out["df"]
    assert df_type == "DataFrame" and {"name", "status", "expires_at"} <= set(columns) and rows == rows_again >= 1
    assert "pip install pandas" in out["no_pandas"]

    # revoke_all: offboarding through the helper.
    username = f"leaver-{transport}"
    user = jeton.call("POST", "/api/v1/users", json={"username": username, "password": "leaver-password-1234"})
    tokens = [jeton.create_token(for_user=user["username"], expires_in="1d")["token"] for _ in range(2)]
    revoked = run_client(url, admin_token, f'emit(client.revoke_all({user["username"]!r}))', home)
    assert revoked == 2
    assert all(me(jeton, token).status_code == 401 for token in tokens)


def test_from_env_says_what_is_missing(jeton, home):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "JETON_URL": jeton.url}
    done = subprocess.run(
        [sys.executable, "-c", "import jeton; jeton.Client.from_env()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "jeton.errors.ConfigurationError: JETON_TOKEN is not set" in done.stderr, done.stderr


def test_the_package_is_installed_not_imported_from_the_source_tree(home):
    done = subprocess.run(
        [sys.executable, "-c", "import jeton; print(jeton.__file__)"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(home)},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "site-packages" in done.stdout, done.stdout


def test_client_unit_tests(home):
    """The package's own unit tests (a scripted WebSocket server: fragments, pings, a connection
    dropped between calls, a wrong Sec-WebSocket-Accept), against the installed package."""
    done = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", str(REPO / "clients" / "python" / "tests")],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stderr, done.stderr
