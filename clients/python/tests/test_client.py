"""Unit tests of the client without a Jeton server: the WebSocket client against a scripted fake
server (fragmented answers, pings, close, a connection dropped between calls, a wrong
Sec-WebSocket-Accept, a refused upgrade), results and errors. Standard library only:

    python -m unittest discover -s clients/python/tests
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import struct
import threading
import time
import unittest

import jeton
from jeton._websocket import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, accept_key, encode_frame


def server_frame(opcode, payload, fin=True):
    """A frame as a server sends it: unmasked."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(n)
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return bytes(head) + payload


class FakeServer:
    """Accepts connections and runs ``handler(conn, request_headers)`` for each, in a thread."""

    def __init__(self, handler, tls=None):
        self.handler = handler
        self.tls = tls
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(5)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests = []
        self.errors = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(1)
                    if not chunk:
                        return
                    head += chunk
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
                headers[":path"] = lines[0].split()[1]
                self.requests.append(headers)
                self.handler(conn, headers)
            except Exception as err:  # noqa: BLE001 - reported by the test
                self.errors.append(err)

    def close(self):
        self.listener.close()


def upgrade(conn, headers, accept=None):
    conn.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept or accept_key(headers['sec-websocket-key'])}\r\n\r\n"
        ).encode()
    )


def read_frame(conn):
    """A client frame: checks that it is masked, answers (opcode, payload)."""
    def take(n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    b0, b1 = take(2)
    assert b1 & 0x80, "client frames must be masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", take(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", take(8))
    mask = take(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(take(n)))
    return b0 & 0x0F, payload


def answer(rows):
    return json.dumps({"results": [{"statement": "SHOW", "line": 1, "columns": ["n"], "rows": rows,
                                    "affected": None, "message": None}], "error": None}).encode()


class WebSocketTest(unittest.TestCase):
    def start(self, handler, tls=None):
        server = FakeServer(handler, tls)
        self.addCleanup(server.close)
        return server

    def test_fragments_pings_and_one_connection_across_calls(self):
        pongs = []

        def handler(conn, headers):
            upgrade(conn, headers)
            while True:
                try:
                    opcode, payload = read_frame(conn)
                except EOFError:
                    return
                if opcode == OP_CLOSE:
                    return
                if opcode == OP_PONG:
                    pongs.append(payload)
                    continue
                script = json.loads(payload)["sql"]
                body = answer([[script]])
                # A ping before the answer, then the answer in three fragments with a ping between.
                conn.sendall(server_frame(OP_PING, b"hello"))
                conn.sendall(server_frame(OP_TEXT, body[:5], fin=False))
                conn.sendall(server_frame(0x0, body[5:10], fin=False))
                conn.sendall(server_frame(OP_PING, b"again"))
                conn.sendall(server_frame(0x0, body[10:], fin=True))

        server = self.start(handler)
        client = jeton.Client(f"ws://127.0.0.1:{server.port}", "secret-token", timeout=5)
        self.assertEqual(client.sql("SHOW 1").column("n"), ["SHOW 1"])
        long_script = "SHOW 'x';" + "-" * 70000  # a 64-bit length frame
        self.assertEqual(client.sql(long_script).rows, [(long_script,)])
        self.assertEqual(server.connections, 1)
        self.assertEqual(server.requests[0]["authorization"], "Bearer secret-token")
        self.assertEqual(server.requests[0][":path"], "/api/v1/sql/ws")
        self.assertNotIn("secret-token", server.requests[0][":path"])
        client.close()
        self.assertFalse(server.errors, server.errors)
        self.assertIn(b"hello", pongs)

    def test_reconnects_once_when_the_connection_dropped_in_between(self):
        def handler(conn, headers):
            upgrade(conn, headers)
            opcode, payload = read_frame(conn)
            conn.sendall(server_frame(OP_TEXT, answer([[1]])))
            # Then the server goes away (a restart, an idle timeout): a close frame, then EOF.
            conn.sendall(server_frame(OP_CLOSE, struct.pack("!H", 1001)))

        server = self.start(handler)
        client = jeton.Client(f"ws://127.0.0.1:{server.port}", "t", timeout=5)
        self.addCleanup(client.close)
        self.assertEqual(client.sql("SHOW").rows, [(1,)])
        time.sleep(0.2)
        self.assertEqual(client.sql("SHOW").rows, [(1,)])
        self.assertEqual(server.connections, 2)

    def test_error_answers_raise_by_code(self):
        def handler(conn, headers):
            upgrade(conn, headers)
            read_frame(conn)
            body = {
                "results": [{"statement": "SHOW API TOKENS", "line": 1, "columns": ["name"], "rows": [["a"]]}],
                "error": {"code": "forbidden", "message": "statement 2: only administrators", "statement_index": 2,
                          "statement": "SHOW API TOKENS", "line": 1, "column": 17},
            }
            conn.sendall(server_frame(OP_TEXT, json.dumps(body).encode()))

        server = self.start(handler)
        client = jeton.Client(f"ws://127.0.0.1:{server.port}", "t", timeout=5)
        self.addCleanup(client.close)
        with self.assertRaises(jeton.PermissionDeniedError) as caught:
            client.sql("SHOW API TOKENS; SHOW API TOKENS FOR USER x")
        err = caught.exception
        self.assertEqual((err.status, err.code, err.statement_index, err.line, err.column), (403, "forbidden", 2, 1, 17))
        self.assertEqual(err.results[0].rows, [("a",)])

    def test_wrong_accept_key_is_refused(self):
        server = self.start(lambda conn, headers: upgrade(conn, headers, accept="d3Jvbmc="))
        with self.assertRaisesRegex(jeton.TransportError, "Sec-WebSocket-Accept"):
            jeton.Client(f"ws://127.0.0.1:{server.port}", "t", timeout=5).sql("SHOW")

    def test_refused_upgrade_raises_the_servers_error(self):
        def handler(conn, headers):
            body = json.dumps({"error": {"code": "unauthenticated", "message": "authentication required"}}).encode()
            conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

        server = self.start(handler)
        with self.assertRaises(jeton.AuthenticationError) as caught:
            jeton.Client(f"ws://127.0.0.1:{server.port}", "t", timeout=5).sql("SHOW")
        self.assertEqual(caught.exception.status, 401)

    def test_unreachable_server(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        for scheme in ("ws", "http"):
            with self.assertRaises(jeton.TransportError):
                jeton.Client(f"{scheme}://127.0.0.1:{port}", "t", timeout=5).sql("SHOW")

    @unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make a certificate")
    def test_wss_verifies_the_certificate(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,digitalSignature,keyCertSign"],
            check=True, capture_output=True,
        )
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)

        def handler(conn, headers):
            upgrade(conn, headers)
            while True:
                try:
                    opcode, payload = read_frame(conn)
                except (EOFError, OSError):
                    return
                if opcode == OP_CLOSE:
                    return
                conn.sendall(server_frame(OP_TEXT, answer([[json.loads(payload)["sql"]]])))

        server = self.start(handler, tls)
        url = f"wss://127.0.0.1:{server.port}"
        # Not trusted: refused.
        with self.assertRaisesRegex(jeton.TransportError, "TLS .* failed: .*CERTIFICATE_VERIFY_FAILED"):
            jeton.Client(url, "t", timeout=5).sql("SHOW")
        # Trusted (SSL_CERT_FILE, as OpenSSL reads it): one TLS connection across calls.
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = cert
        try:
            client = jeton.Client(url, "t", timeout=5)
            self.addCleanup(client.close)
            self.assertEqual(client.sql("SHOW 1").rows, [("SHOW 1",)])
            self.assertEqual(client.sql("SHOW 2").rows, [("SHOW 2",)])
        finally:
            if previous is None:
                del os.environ["SSL_CERT_FILE"]
            else:
                os.environ["SSL_CERT_FILE"] = previous
        self.assertEqual(server.connections, 2)

    def test_client_frames_are_masked(self):
        frame = encode_frame(OP_TEXT, b"abc", mask=b"\x01\x02\x03\x04")
        self.assertEqual(frame, bytes([0x81, 0x83, 1, 2, 3, 4, ord("a") ^ 1, ord("b") ^ 2, ord("c") ^ 3]))
        self.assertEqual(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")  # RFC 6455 1.3


class ResultAndConfigTest(unittest.TestCase):
    def test_result_is_a_list_of_dicts(self):
        result = jeton.Result(["name", "status"], [["a", "active"], ["b", "revoked"]], statement="SHOW API TOKENS")
        self.assertEqual(result, [{"name": "a", "status": "active"}, {"name": "b", "status": "revoked"}])
        self.assertEqual(result.rows, [("a", "active"), ("b", "revoked")])
        self.assertEqual(result.column("status"), ["active", "revoked"])
        self.assertIn("| a    | active  |", str(result))

    def test_secrets_stay_out_of_repr(self):
        client = jeton.Client("https://jeton.example.com/", "eyJsecret")
        config = jeton.Config(url="ws://h:1", token="eyJsecret")
        created = jeton.CreatedToken("eyJsecret", {"id": "i", "name": "n", "expires_at": "e", "comment": "c"})
        for text in (repr(client), str(client), repr(config), repr(created), str(created)):
            self.assertNotIn("eyJsecret", text)
        self.assertEqual(repr(client), "Client(url='https://jeton.example.com')")
        self.assertEqual((created.value, created.comment), ("eyJsecret", "c"))

    def test_urls_and_configuration(self):
        self.assertEqual(jeton.Client(jeton.Config(ws_addr="ws://h:3001/api/v1/sql/ws", ws_token="t")).url, "ws://h:3001")
        self.assertEqual(jeton.Client(config=jeton.Config(url="http://h/prefix/", token="t")).url, "http://h/prefix")
        with self.assertRaisesRegex(jeton.ConfigurationError, "JETON_TOKEN is not set"):
            jeton.Config.from_env({"JETON_URL": "http://h"})
        with self.assertRaises(jeton.ConfigurationError):
            jeton.Client("ftp://h", "t")
        with self.assertRaises(jeton.ConfigurationError):
            jeton.Client("http://h", "bad\r\ntoken")

    def test_to_pandas_or_a_clear_error(self):
        result = jeton.Result(["answer"], [[1]])
        try:
            import pandas  # noqa: F401
        except ImportError:
            with self.assertRaisesRegex(ImportError, "pip install pandas"):
                result.to_pandas()
        else:
            self.assertEqual(result.df["answer"].tolist(), [1])


if __name__ == "__main__":
    unittest.main()
