"""A minimal WebSocket client (RFC 6455) on the standard library: the opening handshake with its
``Sec-WebSocket-Accept`` check, masked client frames, text messages (fragmented or not), ping,
pong and close, and TLS for ``wss://``. Enough for one request/response exchange at a time."""

import base64
import hashlib
import json
import os
import select
import socket
import ssl
import struct
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from .errors import TransportError, error_for

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024


class ConnectionClosed(TransportError):
    """The WebSocket connection is closed (by the server, or it dropped)."""

    def __init__(self, message: str, close_code: Optional[int] = None):
        super().__init__(message)
        self.close_code = close_code


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``Sec-WebSocket-Key: key``."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def encode_frame(opcode: int, payload: bytes, fin: bool = True, mask: Optional[bytes] = None) -> bytes:
    """One frame as a client sends it: always masked (RFC 6455 5.3)."""
    if mask is None:
        mask = os.urandom(4)
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(0x80 | n)
    elif n < 1 << 16:
        head.append(0x80 | 126)
        head += struct.pack("!H", n)
    else:
        head.append(0x80 | 127)
        head += struct.pack("!Q", n)
    head += mask
    return bytes(head) + _mask(payload, mask)


def _mask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    # XOR with the key repeated over the payload, as one big integer operation (fast enough in
    # pure Python for scripts of megabytes).
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class WebSocket:
    """One client connection. ``request(text)`` sends a text message and answers the next text
    message the server sends, answering pings and honouring close on the way."""

    def __init__(self, url: str, headers: Dict[str, str], timeout: Optional[float] = 30):
        self.url = url
        self.timeout = timeout
        self.closed = False
        self._buf = bytearray()
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"not a ws:// or wss:// URL: {url}")
        self._secure = parts.scheme == "wss"
        host = parts.hostname or ""
        port = parts.port or (443 if self._secure else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as err:
            raise TransportError(f"cannot connect to {host}:{port}: {err}") from err
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._secure:
                context = ssl.create_default_context()
                try:
                    sock = context.wrap_socket(sock, server_hostname=host)
                except (ssl.SSLError, OSError) as err:
                    raise TransportError(f"TLS with {host}:{port} failed: {err}") from err
            self._sock = sock
            default_port = 443 if self._secure else 80
            host_header = host if ":" not in host else f"[{host}]"
            if port != default_port:
                host_header += f":{port}"
            self._handshake(path, host_header, headers)
        except BaseException:
            sock.close()
            self.closed = True
            raise

    # -- the opening handshake -------------------------------------------------------------

    def _handshake(self, path: str, host: str, headers: Dict[str, str]) -> None:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        for name, value in headers.items():
            if any(c in str(value) for c in "\r\n") or any(c in name for c in "\r\n:"):
                raise ValueError(f"invalid header {name}")
            lines.append(f"{name}: {value}")
        self._send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

        # The answer's head, up to the blank line; what follows belongs to the frames.
        while b"\r\n\r\n" not in self._buf:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise TransportError("the WebSocket handshake answer is too long")
            self._fill("during the WebSocket handshake")
        end = self._buf.index(b"\r\n\r\n")
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        status_line, *header_lines = head.split("\r\n")
        answer: Dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            answer[name.strip().lower()] = value.strip()
        try:
            status = int(status_line.split()[1])
        except (IndexError, ValueError):
            raise TransportError(f"not an HTTP answer to the WebSocket handshake: {status_line!r}") from None

        if status != 101:
            raise self._refusal(status, status_line, answer)
        if answer.get("upgrade", "").lower() != "websocket" or "upgrade" not in [
            t.strip().lower() for t in answer.get("connection", "").split(",")
        ]:
            raise TransportError("the server did not upgrade the connection to a WebSocket")
        if answer.get("sec-websocket-accept") != accept_key(key):
            raise TransportError("the server answered a wrong Sec-WebSocket-Accept")
        if answer.get("sec-websocket-extensions"):
            raise TransportError("the server chose WebSocket extensions the client did not offer")

    def _refusal(self, status: int, status_line: str, answer: Dict[str, str]):
        """The error for a handshake the server refused, from its JSON body when it sent one."""
        body = b""
        try:
            length = int(answer.get("content-length", "0"))
        except ValueError:
            length = 0
        length = min(length, MAX_HEADER_BYTES)
        try:
            while len(self._buf) < length:
                self._fill("")
            body = bytes(self._buf[:length])
        except TransportError:
            body = bytes(self._buf)
        try:
            error = json.loads(body.decode("utf-8")).get("error")
        except (ValueError, AttributeError, UnicodeDecodeError):
            error = None
        if not isinstance(error, dict):
            reason = status_line.split(" ", 2)[2] if status_line.count(" ") >= 2 else ""
            error = {"message": f"the WebSocket upgrade was refused: {status} {reason}".strip()}
        return error_for(status, error)

    # -- bytes on the wire -----------------------------------------------------------------

    def _send_raw(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as err:
            self._abort()
            raise ConnectionClosed(f"the WebSocket connection broke while sending: {err}") from err

    def _fill(self, when: str) -> None:
        """Reads more bytes into the buffer (blocking up to the timeout)."""
        try:
            chunk = self._sock.recv(65536)
        except socket.timeout as err:
            self._abort()
            raise TransportError(f"no answer from the server within {self.timeout} s {when}".rstrip()) from err
        except OSError as err:
            self._abort()
            raise ConnectionClosed(f"the WebSocket connection broke {when}: {err}".rstrip()) from err
        if not chunk:
            self._abort()
            raise ConnectionClosed(f"the server closed the connection {when}".rstrip())
        self._buf += chunk

    def _take(self, n: int, when: str) -> bytes:
        while len(self._buf) < n:
            self._fill(when)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _abort(self) -> None:
        self.closed = True
        try:
            self._sock.close()
        except OSError:
            pass

    # -- frames ----------------------------------------------------------------------------

    def _parse_frame(self, when: str, available_only: bool = False) -> Optional[Tuple[bool, int, bytes]]:
        """The next frame (fin, opcode, payload). With ``available_only``, None when the buffer
        does not hold a whole frame yet (and nothing is consumed)."""
        if available_only:
            needed = _frame_length(self._buf)
            if needed is None or len(self._buf) < needed:
                return None
        b0, b1 = self._take(2, when)
        fin, rsv, opcode = bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F
        masked, length = bool(b1 & 0x80), b1 & 0x7F
        if rsv:
            self._fail(1002, "a frame with reserved bits set")
        if masked:
            self._fail(1002, "a masked frame from the server")
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2, when))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8, when))
        if opcode >= 0x8 and (not fin or length > 125):
            self._fail(1002, "a fragmented or oversized control frame")
        if opcode not in (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
            self._fail(1002, f"an unknown opcode {opcode:#x}")
        if length > MAX_MESSAGE_BYTES:
            self._fail(1009, "a message larger than the client accepts")
        return fin, opcode, self._take(length, when)

    def _control(self, opcode: int, payload: bytes) -> None:
        """Answers a ping, ignores a pong, and honours a close (answering it, then raising)."""
        if opcode == OP_PING:
            self._send_raw(encode_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            reason = payload[2:].decode("utf-8", "replace")
            try:
                self._sock.sendall(encode_frame(OP_CLOSE, payload[:2]))
            except OSError:
                pass
            self._abort()
            detail = f" ({code}{': ' + reason if reason else ''})" if code else ""
            raise ConnectionClosed(f"the server closed the WebSocket{detail}", code)

    def _fail(self, code: int, why: str) -> None:
        try:
            self._sock.sendall(encode_frame(OP_CLOSE, struct.pack("!H", code) + why.encode()[:120]))
        except OSError:
            pass
        self._abort()
        raise TransportError(f"WebSocket protocol error: the server sent {why}")

    def send_text(self, text: str) -> None:
        if self.closed:
            raise ConnectionClosed("the WebSocket connection is closed")
        self._send_raw(encode_frame(OP_TEXT, text.encode("utf-8")))

    def receive_text(self) -> str:
        """The next whole data message (reassembled from its fragments), as text."""
        when = "while waiting for the answer"
        parts: List[bytes] = []
        message_opcode: Optional[int] = None
        total = 0
        while True:
            fin, opcode, payload = self._parse_frame(when)
            if opcode >= 0x8:
                self._control(opcode, payload)
                continue
            if opcode == OP_CONTINUATION:
                if message_opcode is None:
                    self._fail(1002, "a continuation frame outside a message")
            elif message_opcode is not None:
                self._fail(1002, "a new message inside a fragmented one")
            else:
                message_opcode = opcode
            parts.append(payload)
            total += len(payload)
            if total > MAX_MESSAGE_BYTES:
                self._fail(1009, "a message larger than the client accepts")
            if fin:
                break
        data = b"".join(parts)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            if message_opcode == OP_TEXT:
                self._fail(1007, "a text message that is not valid UTF-8")
            raise TransportError("the server sent a binary message that is not UTF-8 text") from None

    def is_usable(self) -> bool:
        """Whether the connection still looks open, without waiting: handles pings and a close
        that arrived while it was idle. A data message nobody asked for means the exchange is out
        of step, so the connection is not used any further."""
        if self.closed:
            return False
        try:
            while True:
                pending = self._sock.pending() if isinstance(self._sock, ssl.SSLSocket) else 0
                if not pending:
                    readable, _, _ = select.select([self._sock], [], [], 0)
                    if not readable:
                        break
                self._sock.setblocking(False)
                try:
                    chunk = self._sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                finally:
                    if not self.closed:
                        self._sock.settimeout(self.timeout)
                if not chunk:
                    self._abort()
                    return False
                self._buf += chunk
            while True:
                frame = self._parse_frame("", available_only=True)
                if frame is None:
                    break
                _, opcode, payload = frame
                if opcode < 0x8:
                    self.close()
                    return False
                self._control(opcode, payload)
        except (OSError, ValueError, TransportError):
            self._abort()
            return False
        return not self.closed

    def close(self) -> None:
        """Sends a normal close and closes the socket (without waiting for the server's close)."""
        if self.closed:
            return
        try:
            self._sock.settimeout(min(self.timeout or 2, 2))
            self._sock.sendall(encode_frame(OP_CLOSE, struct.pack("!H", 1000)))
        except OSError:
            pass
        self._abort()


def _frame_length(buf: bytearray) -> Optional[int]:
    """The whole length of the frame at the start of ``buf``, or None when its header is incomplete."""
    if len(buf) < 2:
        return None
    length, offset = buf[1] & 0x7F, 2
    if length == 126:
        if len(buf) < 4:
            return None
        (length,), offset = struct.unpack("!H", bytes(buf[2:4])), 4
    elif length == 127:
        if len(buf) < 10:
            return None
        (length,), offset = struct.unpack("!Q", bytes(buf[2:10])), 10
    if buf[1] & 0x80:
        offset += 4
    return offset + length
