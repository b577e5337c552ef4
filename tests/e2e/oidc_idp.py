"""A real OpenID provider for the e2e suite: `oidc-provider` (npm, OpenID certified) on Node.js.

tests/e2e/oidc/server.mjs runs it; `make oidc` installs it (npm ci). The test writes the signing
keys (a JWKS with private members) so it knows every kid and can restart the provider on the
same port with new keys. The server prints one JSON object a line: `ready` once listening, and
`request` for every request when it arrives (path, user-agent), which is how a test counts what
the filter fetched. Requests the test itself makes carry the user-agent `TEST_UA` and are not
counted as the filter's.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from envoy import free_port
from tokens import EcKey, RsaKey, _uint_bytes, b64url, sign_raw

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
SERVER = OIDC_DIR / "server.mjs"
RESOURCE = "urn:jwtgate:orders"
TEST_UA = "jwtgate-e2e-test"
CLIENTS = {"ES256": ("es-client", "es-secret"), "RS256": ("rs-client", "rs-secret")}


def node_binary() -> str:
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise RuntimeError("node is missing: tests/e2e/test_oidc_provider.py needs Node.js (and `make oidc`)")
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(f"{OIDC_DIR}/node_modules is missing: run `make oidc` (npm ci --prefix tests/e2e/oidc)")
    return node


def private_jwk(key) -> dict:
    """The key as a JWK with its private members (what the provider signs with)."""
    jwk = key.jwk()
    if isinstance(key, EcKey):
        jwk["d"] = b64url(_uint_bytes(key.private.private_numbers().private_value, 32))
    else:
        n = key.private.private_numbers()
        for name, value in (("d", n.d), ("p", n.p), ("q", n.q), ("dp", n.dmp1), ("dq", n.dmq1), ("qi", n.iqmp)):
            jwk[name] = b64url(_uint_bytes(value))
    return jwk


class KeyPair:
    """One generation of the provider's signing keys: an ES256 and an RS256 key."""

    def __init__(self, tag: str):
        suffix = uuid.uuid4().hex[:6]
        self.es = EcKey(f"oidc-es-{tag}-{suffix}")
        self.rs = RsaKey(f"oidc-rs-{tag}-{suffix}")

    def by_alg(self, alg: str):
        return {"ES256": self.es, "RS256": self.rs}[alg]

    def private_jwks(self) -> dict:
        return {"keys": [private_jwk(self.es), private_jwk(self.rs)]}


_RUNNING: set = set()


@atexit.register
def _kill_leftovers() -> None:
    """Safety net (e.g. after Ctrl-C): no provider started by the suite outlives it."""
    for provider in list(_RUNNING):
        provider.stop()


class OidcProvider:
    """One oidc-provider process at a time on a fixed loopback port; stop() at teardown."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.node = node_binary()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.keys: KeyPair | None = None
        self._cond = threading.Condition()
        self._ready = False
        self.requests: list[dict] = []  # every `request` event of every run, in order
        self.lines: list[str] = []  # all stdout lines (for failure reports)
        self._runs = 0
        self._reader: threading.Thread | None = None

    # --- lifecycle
    def start(self, keys: KeyPair, timeout: float = 20.0) -> "OidcProvider":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.keys = keys
        self._runs += 1
        jwks_file = self.dir / f"jwks-{self._runs}.json"
        jwks_file.write_text(json.dumps(keys.private_jwks()))
        self.stderr_path = self.dir / f"stderr-{self._runs}.log"
        env = dict(os.environ, OIDC_JWKS_FILE=str(jwks_file), OIDC_RESOURCE=RESOURCE, NO_COLOR="1")
        with self._cond:
            self._ready = False
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [self.node, str(SERVER), str(self.port)],
            cwd=OIDC_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # its own session: a signal to the test's group does not hit it
        )
        _RUNNING.add(self)
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        try:
            self.wait_ready(timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def _read(self, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:  # type: ignore[union-attr]
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                try:
                    ev = json.loads(line)
                except ValueError:
                    ev = None
                if isinstance(ev, dict):
                    if ev.get("event") == "ready":
                        self._ready = True
                    elif ev.get("event") == "request":
                        ev["at"] = time.monotonic()
                        self.requests.append(ev)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._ready:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"oidc-provider exited with {self.proc.returncode} before ready\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"oidc-provider not ready within {timeout}s\n{self.tail()}")
                self._cond.wait(min(left, 0.2))
        self.ready_at = time.monotonic()

    def stop(self) -> None:
        """SIGTERM (the server closes every connection and exits), SIGKILL after 5 s; waits."""
        proc, self.proc = self.proc, None
        _RUNNING.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        if self._reader:
            self._reader.join(timeout=5)
        proc.stdout.close()  # type: ignore[union-attr]
        self._stderr.close()
        with self._cond:
            self._ready = False

    def restart(self, keys: KeyPair, gap=None) -> None:
        """Stop, run `gap()` while down (if given), start on the same port with `keys`."""
        self.stop()
        if gap is not None:
            gap()
        self.start(keys)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 40) -> str:
        with self._cond:
            out = "\n".join(self.lines[-n:])
        try:
            out += "\n--- stderr ---\n" + self.stderr_path.read_text(errors="replace")[-4000:]
        except (OSError, AttributeError):
            pass
        return out

    # --- the request log
    def sync(self, timeout: float = 5.0) -> None:
        """Barrier: every request the provider logged so far has been read.

        The provider logs a request when it arrives, before answering, but this process reads
        the log in a thread: a count taken right after an answer could miss it. One request of
        our own, seen in the log, proves that every earlier line was read (one ordered pipe).
        """
        if not self.running():
            return
        with self._cond:
            mine = sum(1 for r in self.requests if r.get("ua") == TEST_UA)
        self._http(f"{self.issuer}/.well-known/openid-configuration")
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(1 for r in self.requests if r.get("ua") == TEST_UA) <= mine:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"oidc-provider log did not show our own request within {timeout}s")
                self._cond.wait(left)

    def filter_requests(self, path: str | None = None) -> list[dict]:
        """Requests that did not come from the test itself (i.e. from Envoy's callouts), all of
        those that arrived before this call."""
        self.sync()
        with self._cond:
            return [r for r in self.requests
                    if r.get("ua") != TEST_UA and (path is None or r.get("path") == path)]

    def count(self, path: str) -> int:
        return len(self.filter_requests(path))

    def wait_count(self, path: str, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if sum(1 for r in self.requests if r.get("ua") != TEST_UA and r.get("path") == path) >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    # --- the protocol, as a client (urllib, straight to the provider)
    def _http(self, url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(url, data=data, headers={"User-Agent": TEST_UA, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def discovery(self) -> dict:
        status, doc = self._http(f"{self.issuer}/.well-known/openid-configuration")
        assert status == 200, (status, doc)
        return doc

    def jwks_path(self) -> str:
        return urllib.parse.urlsplit(self.discovery()["jwks_uri"]).path

    def token(self, alg: str = "ES256", scope: str = "orders:read", dpop_key: EcKey | None = None) -> dict:
        """client_credentials at the token endpoint from discovery; the token response."""
        endpoint = self.discovery()["token_endpoint"]
        client_id, secret = CLIENTS[alg]
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": RESOURCE, "scope": scope}).encode()
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
        if dpop_key is not None:
            headers["DPoP"] = dpop_proof(dpop_key, "POST", endpoint)
        status, body = self._http(endpoint, data=form, headers=headers)
        assert status == 200 and "access_token" in body, f"token request failed: {status} {body}"
        return body


def dpop_proof(key: EcKey, method: str, url: str) -> str:
    """A DPoP proof JWT (RFC 9449 §4.2) signed with `key`, its public JWK in the header."""
    public = {k: v for k, v in key.jwk().items() if k in ("kty", "crv", "x", "y")}
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public}
    payload = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
    return sign_raw(key, header, payload)


def jwk_thumbprint(key: EcKey) -> str:
    """RFC 7638 SHA-256 thumbprint of an EC public key (what `cnf.jkt` holds)."""
    jwk = key.jwk()
    canon = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canon.encode()).digest())
