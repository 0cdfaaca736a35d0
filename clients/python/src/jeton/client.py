"""``jeton.Client``: runs scripts of the command language over HTTP (``POST /api/v1/sql``) or a
WebSocket (``/api/v1/sql/ws``), and wraps the token endpoints of the HTTP API."""

import datetime
import json
import re
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Sequence, Union

from . import __version__
from ._websocket import ConnectionClosed, WebSocket
from .config import Config
from .errors import ConfigurationError, JetonError, TransportError, error_for
from .result import CreatedToken, Result

__all__ = ["Client", "quote_identifier", "quote_literal"]

DEFAULT_TIMEOUT = 30.0
SQL_PATH = "/api/v1/sql"
WS_PATH = "/api/v1/sql/ws"
USER_AGENT = f"jeton-client/{__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def quote_identifier(name: str) -> str:
    """A name for a statement, always double-quoted (so keywords and odd characters are safe)."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A string literal for a statement: ``'it''s'``."""
    return "'" + str(value).replace("'", "''") + "'"


def _normalize_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise ConfigurationError(
            f"cannot use the URL {url!r}: give the server's base address, such as "
            "http://127.0.0.1:8080, https://jeton.example.com or ws://127.0.0.1:8080 (WebSocket)"
        )
    path = parts.path.rstrip("/")
    # Accept the endpoint itself too: ws://host/api/v1/sql/ws is the same server as ws://host.
    for suffix in (WS_PATH, SQL_PATH):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urllib.parse.SplitResult(scheme, parts.netloc, path, "", "")


def _expires_in(value: Union[None, str, int, datetime.timedelta]) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime.timedelta):
        return f"{int(value.total_seconds())}s"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value}d"  # a bare number means days, as in `jeton token create --expires-in 90`
    raise TypeError("expires_in: give a duration such as '30d' or '24h', a number of days, or a timedelta")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: the token must only go to the server it was meant for."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401
        return None


class _Http:
    """JSON requests to the HTTP API with ``Authorization: Bearer <token>``."""

    def __init__(self, base: str, token: str, timeout: Optional[float]):
        self.base = base
        self._token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def request(
        self,
        method: str,
        path: str,
        body: Optional[Dict[str, Any]] = None,
        query: Optional[Dict[str, Any]] = None,
        sql: bool = False,
    ) -> Any:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", USER_AGENT)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
            err.close()
            if 300 <= status < 400:
                raise JetonError(
                    f"the server redirected to {err.headers.get('Location')!r}; use that address as the URL",
                    status=status,
                ) from None
        except urllib.error.URLError as err:
            reason = err.reason
            if isinstance(reason, socket.timeout):
                raise TransportError(f"no answer from {self.base} within {self.timeout} s") from None
            raise TransportError(f"cannot reach {self.base}: {reason}") from None
        except socket.timeout:
            raise TransportError(f"no answer from {self.base} within {self.timeout} s") from None
        except OSError as err:
            raise TransportError(f"the connection to {self.base} broke: {err}") from None

        try:
            answer = json.loads(raw.decode("utf-8")) if raw else {}
        except (ValueError, UnicodeDecodeError):
            answer = None
        if sql and isinstance(answer, dict) and ("results" in answer or 200 <= status < 300):
            return answer, status  # a script's answer: results so far and the error, raised by the caller
        if 200 <= status < 300 and answer is not None:
            return answer
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            raise error_for(status, answer["error"])
        text = raw.decode("utf-8", "replace").strip()[:300]
        error = error_for(status, {"message": f"{method} {path} answered {status}" + (f": {text}" if text else "")})
        raise error


class _WebSocketTransport:
    """One WebSocket kept open across calls, opened again when it dropped in between."""

    def __init__(self, url: str, token: str, timeout: Optional[float]):
        self.url = url
        self._token = token
        self.timeout = timeout
        self._ws: Optional[WebSocket] = None
        self._lock = threading.Lock()

    def _connect(self) -> WebSocket:
        self.close()
        self._ws = WebSocket(
            self.url,
            {"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT},
            timeout=self.timeout,
        )
        return self._ws

    def run(self, script: str) -> Dict[str, Any]:
        message = json.dumps({"sql": script})
        with self._lock:
            ws = self._ws
            if ws is None or not ws.is_usable():
                ws = self._connect()
                fresh = True
            else:
                fresh = False
            try:
                ws.send_text(message)
            except ConnectionClosed:
                if fresh:
                    raise
                # It dropped since the last call: one new connection, one more try.
                ws = self._connect()
                ws.send_text(message)
            try:
                answer = json.loads(ws.receive_text())
            except ConnectionClosed as err:
                self._ws = None
                raise TransportError(
                    f"{err.message}; the script may or may not have run (check before running it again)"
                ) from err
            except (TransportError, ValueError) as err:
                # The exchange is out of step now: start afresh on the next call.
                self.close()
                if isinstance(err, ValueError):
                    raise TransportError(f"the server's WebSocket answer is not JSON: {err}") from err
                raise
            error = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(error, dict) and error.get("code") == "unauthenticated":
                self.close()  # the server ends the session after this answer
            if not isinstance(answer, dict):
                raise TransportError("the server's WebSocket answer is not a JSON object")
            return answer

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()


def _results(answer: Dict[str, Any], status: Optional[int]) -> List[Result]:
    """The results of a script's answer, or its error raised with the results before it."""
    results = [Result.from_json(r) for r in (answer.get("results") or [])]
    error = answer.get("error")
    if error:
        raise error_for(status, error, results)
    return results


class Client:
    """A connection to Jeton.

    ``url`` is the server's base address: ``http://`` or ``https://`` runs scripts with
    ``POST /api/v1/sql``; ``ws://`` or ``wss://`` on one WebSocket (``/api/v1/sql/ws``) kept
    open across calls. ``token`` is an API token (or any credential Jeton accepts as a Bearer
    token). ``timeout`` is in seconds (30 unless given here or in the config), for connecting
    and for each answer. ``Client(config)`` and ``Client(config=jeton.Config(...))`` work too,
    and :meth:`from_env` reads ``JETON_URL`` and ``JETON_TOKEN``.

    The token-management helpers always use the HTTP API (``ws://`` becomes ``http://``).
    """

    def __init__(
        self,
        url: Union[str, Config, None] = None,
        token: Optional[str] = None,
        timeout: Optional[float] = None,
        *,
        config: Optional[Config] = None,
    ):
        if isinstance(url, Config):
            config, url = url, None
        if config is not None:
            url = url or config.url
            token = token or config.token
            if timeout is None:
                timeout = config.timeout
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        if not url:
            raise ConfigurationError("no URL: pass url='http://host:8080' (or ws://...), or use Client.from_env()")
        if not token:
            raise ConfigurationError("no token: pass token='...' (an API token), or use Client.from_env()")
        if not isinstance(token, str) or any(c.isspace() or ord(c) < 0x20 for c in token.strip()):
            raise ConfigurationError("the token contains spaces or control characters")
        parts = _normalize_url(url)
        self.url = urllib.parse.urlunsplit(parts)
        self.timeout = timeout
        self.transport = "websocket" if parts.scheme in ("ws", "wss") else "http"
        http_scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        http_base = urllib.parse.urlunsplit((http_scheme, parts.netloc, parts.path, "", ""))
        self._http = _Http(http_base, token.strip(), timeout)
        self._ws: Optional[_WebSocketTransport] = None
        if self.transport == "websocket":
            self._ws = _WebSocketTransport(self.url + WS_PATH, token.strip(), timeout)

    @classmethod
    def from_env(cls, timeout: Optional[float] = 30) -> "Client":
        """A client for ``JETON_URL`` with ``JETON_TOKEN`` (a clear error when either is missing)."""
        return cls(config=Config.from_env(timeout=timeout))

    # -- the command language --------------------------------------------------------------

    def sql_all(self, script: str) -> List[Result]:
        """Runs a script (statements separated by ``;``) and answers one :class:`Result` per
        statement. Statements run in order; at the first failing one a :class:`JetonError`
        is raised, with the results of those that ran in its ``results``."""
        if not isinstance(script, str):
            raise TypeError("sql: the script must be a string")
        if self._ws is not None:
            # The WebSocket answer carries the error's code, which names the HTTP status.
            return _results(self._ws.run(script), None)
        return _results(*self._http.request("POST", SQL_PATH, {"sql": script}, sql=True))

    def sql(self, script: str) -> Union[Result, List[Result]]:
        """Runs a script. One statement answers its :class:`Result` (a list of rows as dicts,
        with ``.columns``, ``.rows``, ``.message``, ``.affected`` and ``.to_pandas()``);
        several answer a list of them."""
        results = self.sql_all(script)
        return results[0] if len(results) == 1 else results

    # -- token helpers (HTTP API) ----------------------------------------------------------

    def create_token(
        self,
        name: Optional[str] = None,
        comment: Optional[str] = None,
        expires_in: Union[None, str, int, datetime.timedelta] = None,
        scopes: Optional[Sequence[str]] = None,
        for_user: Optional[str] = None,
    ) -> CreatedToken:
        """Creates an API token (for yourself, or ``for_user`` as an administrator).
        ``expires_in``: ``'30d'``, ``'24h'``, a number of days or a ``timedelta``; the default
        and the limit come from the server's policies."""
        body: Dict[str, Any] = {
            "name": name,
            "comment": comment,
            "expires_in": _expires_in(expires_in),
            "for_user": for_user,
        }
        if scopes is not None:
            if isinstance(scopes, str):
                scopes = [scopes]
            body["scopes"] = list(scopes)
        created = self._http.request("POST", "/api/v1/tokens", {k: v for k, v in body.items() if v is not None})
        return CreatedToken(created["token"], created)

    def list_tokens(self, all: bool = False, for_user: Optional[str] = None) -> List[Dict[str, Any]]:
        """Your tokens (or ``for_user``'s), active ones only unless ``all``; every page."""
        tokens: List[Dict[str, Any]] = []
        cursor = None
        while True:
            query = {"all": "true" if all else None, "for_user": for_user, "cursor": cursor}
            page = self._http.request("GET", "/api/v1/tokens", query=query)
            tokens.extend(page.get("items") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                return tokens

    def revoke_token(self, id_or_name: str, for_user: Optional[str] = None) -> None:
        """Revokes a token at once: by id (a UUID) with ``POST /api/v1/tokens/revoke/{id}``, or
        the active token of that name (yours, or ``for_user``'s) with ``DROP API TOKEN``."""
        if _UUID.match(id_or_name or ""):
            self._http.request("POST", "/api/v1/tokens/revoke/" + urllib.parse.quote(id_or_name, safe=""))
            return
        statement = f"DROP API TOKEN {quote_identifier(id_or_name)}"
        if for_user:
            statement += f" FOR USER {quote_identifier(for_user)}"
        _results(*self._http.request("POST", SQL_PATH, {"sql": statement + ";"}, sql=True))

    def revoke_all(self, for_user: str) -> int:
        """Revokes every token of a user (offboarding); answers how many were revoked."""
        if not for_user:
            raise ValueError("revoke_all: name the user (for_user)")
        path = f"/api/v1/users/{urllib.parse.quote(for_user, safe='')}/tokens/revoke"
        return int(self._http.request("POST", path).get("revoked", 0))

    def whoami(self) -> Dict[str, Any]:
        """``GET /api/v1/me``: ``{"user": {...}, "token": {...}}`` for the token in use."""
        return self._http.request("GET", "/api/v1/me")

    # -- the connection --------------------------------------------------------------------

    def close(self) -> None:
        """Closes the WebSocket, if one is open (the client opens another when used again)."""
        if self._ws is not None:
            self._ws.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(url={self.url!r})"
