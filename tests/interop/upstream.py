"""A tiny HTTP API that stands behind Jeton in the interoperability tests.

It plays an Iceberg REST catalog (`GET .../v1/config`, `GET .../v1/namespaces`, under any
prefix), seed 004's `GET /api/v1/catalogs`, and two routes for checking the gateway:
`/echo/...` (any method) answers with what it received, `/status/NNN` answers status NNN.
Every answer carries `X-Upstream-Fixture: 1`, so a test can tell it from one of Jeton's own, and
every request is recorded in `UpstreamServer.requests`.
"""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

NAMESPACES = [["analytics"], ["raw"]]
CATALOGS = [
    {"name": "analytics", "type": "iceberg", "warehouse": "s3://warehouse/analytics"},
    {"name": "raw", "type": "iceberg", "warehouse": "s3://warehouse/raw"},
]
FIXTURE_HEADER = "X-Upstream-Fixture"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "UpstreamServer"

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, value) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(FIXTURE_HEADER, "1")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self) -> None:
        body = self._body()
        url = urlsplit(self.path)
        path = url.path
        headers = [[name.lower(), value] for name, value in self.headers.items()]
        self.server.record({"method": self.command, "path": path, "query": url.query, "headers": headers})

        if self.command == "GET" and path.endswith("/v1/config"):
            self._answer(200, {"defaults": {}, "overrides": {}})
        elif self.command == "GET" and path.endswith("/v1/namespaces"):
            self._answer(200, {"namespaces": NAMESPACES})
        elif self.command == "GET" and path == "/api/v1/catalogs":
            self._answer(200, CATALOGS)
        elif path.startswith("/echo/"):
            self._answer(
                200,
                {
                    "method": self.command,
                    "path": path,
                    "query": url.query,
                    "headers": headers,
                    "body": body.decode("utf-8", errors="replace") if len(body) <= 4096 else None,
                    "body_length": len(body),
                    "body_sha256": hashlib.sha256(body).hexdigest(),
                },
            )
        elif path.startswith("/status/") and path[len("/status/") :].isdigit():
            status = int(path[len("/status/") :])
            self._answer(status, {"status": status, "from": "upstream"})
        else:
            self._answer(404, {"error": f"upstream fixture has no route for {self.command} {path}"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address=("127.0.0.1", 0)):
        super().__init__(address, Handler)
        self.requests: list[dict] = []
        self._lock = threading.Lock()

    def record(self, request: dict) -> None:
        with self._lock:
            self.requests.append(request)

    def seen(self, path: str) -> list[dict]:
        """The recorded requests for exactly this path."""
        with self._lock:
            return [r for r in self.requests if r["path"] == path]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "UpstreamServer":
        threading.Thread(target=self.serve_forever, name="upstream", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def header_values(echo: dict, name: str) -> list[str]:
    """All values the upstream received for one header (case-insensitive name)."""
    return [value for key, value in echo["headers"] if key == name.lower()]


if __name__ == "__main__":
    server = UpstreamServer()
    print(f"upstream fixture on {server.url}", flush=True)
    server.serve_forever()
