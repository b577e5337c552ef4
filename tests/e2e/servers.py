"""Loopback HTTP servers for the e2e suite: a controllable JWKS server and an echo upstream."""

from __future__ import annotations

import collections
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JWKS_PATH = "/.well-known/jwks.json"


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # noqa: D401 - silence stderr access log
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class _TlsServer(_Server):
    """Each accepted connection is wrapped in TLS with the owner's `ssl_context`; the handshake
    happens in the connection's own thread, so a stuck client never blocks the accept loop."""

    def get_request(self):
        sock, addr = super().get_request()
        ctx = self.owner.ssl_context  # type: ignore[attr-defined]
        return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (OSError, ValueError):
            return  # a client that refused our certificate (the verification under test) or went away
        super().finish_request(request, client_address)


class _Base:
    handler_cls: type
    server_cls: type = _Server

    def __init__(self) -> None:
        self.httpd = self.server_cls(("127.0.0.1", 0), self.handler_cls)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- JWKS server


class JwksServer(_Base):
    """Serves JWKS documents; tests change its behaviour live.

    mode:
      "ok"       200 with the JWKS set for the path (or the default JWKS)
      "500"      500 with a small JSON body
      "garbage"  200 with a body that is not JSON
      "huge"     200 with a valid JWKS padded to more than 1 MiB
      "nokeys"   200 with {"keys": []}
      "reset"    200 headers and part of the body, then the connection is reset (RST)
      "drop"     the connection is reset before any response
      "flap"     alternately "ok" and "500", request by request
    `pad_to(n)`: in "ok" mode the JWKS body is padded (an extra member) to exactly n bytes.
    `refuse()` stops listening (connection refused) until `listen()` binds the same port again.
    `delay` seconds are waited before answering (interruptible at shutdown).
    Every request is counted per path when it arrives.
    """

    def __init__(self, default_jwks: dict | None = None) -> None:
        self.lock = threading.Lock()
        self.mode = "ok"
        self.delay = 0.0
        self.default_jwks: dict = default_jwks or {"keys": []}
        self.pad_bytes: int | None = None
        self.jwks_by_path: dict[str, dict] = {}
        self.counts: collections.Counter = collections.Counter()
        self.served = 0  # requests answered to the end (or reset/dropped as the mode says)
        self.log: list[tuple[float, str, dict]] = []
        self._stopping = threading.Event()
        self._cond = threading.Condition(self.lock)
        super().__init__()

    handler_cls = None  # set below

    # --- control
    def set_jwks(self, jwks: dict, path: str | None = None) -> None:
        with self.lock:
            if path is None:
                self.default_jwks = jwks
            else:
                self.jwks_by_path[path] = jwks

    def set_mode(self, mode: str) -> None:
        assert mode in ("ok", "500", "garbage", "huge", "nokeys", "reset", "drop", "flap"), mode
        with self.lock:
            self.mode = mode

    def pad_to(self, n: int | None) -> None:
        with self.lock:
            self.pad_bytes = n

    def set_delay(self, seconds: float) -> None:
        with self.lock:
            self.delay = float(seconds)

    def count(self, path: str | None = None) -> int:
        with self.lock:
            return sum(self.counts.values()) if path is None else self.counts[path]

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.log.clear()

    def wait_for_count(self, n: int, path: str | None = None, timeout: float = 10.0) -> bool:
        """Block until at least `n` requests (for `path`, or in total) arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                have = sum(self.counts.values()) if path is None else self.counts[path]
                if have >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    def wait_for_served(self, n: int, timeout: float = 10.0) -> bool:
        """Block until at least `n` requests were answered (not only arrived)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.served < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _answered(self) -> None:
        with self._cond:
            self.served += 1
            self._cond.notify_all()

    def url(self, path: str = JWKS_PATH) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._stopping.set()
        if self.httpd is not None:
            super().close()

    def refuse(self) -> None:
        """Stop listening: connections to the port are refused."""
        _Base.close(self)
        self.httpd = None  # type: ignore[assignment]

    def listen(self) -> None:
        """Listen again on the same port."""
        self.httpd = self.server_cls(("127.0.0.1", self.port), self.handler_cls)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # --- request handling
    def _respond(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        path = handler.path.split("?", 1)[0]
        with self._cond:
            self.counts[path] += 1
            self.log.append((time.monotonic(), path, {k.lower(): v for k, v in handler.headers.items()}))
            self._cond.notify_all()
            mode, delay, pad = self.mode, self.delay, self.pad_bytes
            doc = self.jwks_by_path.get(path, self.default_jwks)
        if delay > 0:
            self._stopping.wait(delay)
        if mode == "flap":
            with self.lock:
                self.flap_n = getattr(self, "flap_n", 0) + 1
                mode = "ok" if self.flap_n % 2 else "500"
        if mode in ("reset", "drop"):
            return 0, json.dumps(doc).encode(), mode
        if mode == "500":
            return 500, b'{"error":"boom"}', "application/json"
        if mode == "garbage":
            return 200, b"<html>this is not json {{{", "application/json"
        if mode == "nokeys":
            return 200, b'{"keys":[]}', "application/json"
        body = json.dumps(doc).encode()
        if mode == "huge":
            padded = dict(doc)
            padded["padding"] = "x" * (1024 * 1024 + 4096)
            body = json.dumps(padded).encode()
        if pad is not None and mode == "ok":
            body = _padded(body, pad)
        return 200, body, "application/json"


def _padded(body: bytes, n: int) -> bytes:
    """`body` (a JSON object) with a string member added so that it is exactly `n` bytes."""
    head = b'{"padding":"'
    tail = b'",' + body[1:]
    fill = n - len(head) - len(tail)
    assert fill >= 0, f"cannot pad {len(body)} bytes to {n}"
    out = head + b"x" * fill + tail
    assert len(out) == n and json.loads(out)
    return out


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close with RST (SO_LINGER 0) instead of FIN: what a crashing IdP or LB does."""
    import socket
    import struct

    try:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
    except OSError:
        pass
    handler.close_connection = True


class _JwksHandler(_QuietHandler):
    def do_GET(self):
        status, body, ctype = self.server.owner._respond(self)  # type: ignore[attr-defined]
        try:
            if ctype == "drop":
                _reset(self)
                return
            if ctype == "reset":
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body) + 4096))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                _reset(self)
                return
            self._send(status, body, ctype)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.server.owner._answered()  # type: ignore[attr-defined]


JwksServer.handler_cls = _JwksHandler


class TlsJwksServer(JwksServer):
    """A JwksServer over https with the certificate `cert` (PEM) and its key `key`."""

    server_cls = _TlsServer

    def __init__(self, cert: str, key: str, default_jwks: dict | None = None) -> None:
        import ssl

        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.load_cert_chain(cert, key)
        super().__init__(default_jwks)


def self_signed_cert(directory, name: str = "idp") -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and localhost (IP and DNS names), and its key,
    written as PEM files in `directory`: (cert path, key path)."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"jwtgate test {name}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    d = Path(directory)
    cert_path, key_path = d / f"{name}.crt", d / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


# ---------------------------------------------------------------- echo upstream


class _EchoHandler(_QuietHandler):
    def _echo(self):
        body = self._read_body()
        headers: dict[str, list[str]] = {}
        for k, v in self.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        parts = self.requestline.split(" ")
        doc = {
            "method": self.command,
            "path": self.path,
            # The request-target exactly as received: http.server reduces a leading "//" in
            # `path` to "/" (gh-87389), which would hide what the proxy really sent.
            "target": parts[1] if len(parts) == 3 else self.path,
            "headers": headers,
            "body": body.decode("latin-1"),
        }
        self.server.owner.seen += 1  # type: ignore[attr-defined]
        self._send(200, json.dumps(doc).encode(), "application/json")

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_HEAD = _echo


class EchoServer(_Base):
    """Answers 200 with {"method","path","target","headers":{name:[values]},"body"} of what it
    received (`target`: the request line's, unaltered)."""

    handler_cls = _EchoHandler

    def __init__(self) -> None:
        self.seen = 0
        super().__init__()
