"""A real DPoP client for the e2e suite: tests/e2e/oidc/dpop_client.mjs, which makes proofs with
the npm `dpop` library (RFC 9449), driven over stdin/stdout one JSON line per command.

`make oidc` installs it beside oidc-provider (npm ci --prefix tests/e2e/oidc).
"""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass

from oidc_idp import OIDC_DIR, node_binary

SCRIPT = OIDC_DIR / "dpop_client.mjs"


@dataclass
class ClientKey:
    """A client key pair held by the node process: its id there and its RFC 7638 thumbprint."""

    id: str
    jkt: str
    jwk: dict


class DpopClient:
    """One node process; always close() it (the fixture does)."""

    def __init__(self) -> None:
        if not (OIDC_DIR / "node_modules" / "dpop").is_dir():
            raise RuntimeError(f"{OIDC_DIR}/node_modules/dpop is missing: run `make oidc`")
        self.proc = subprocess.Popen(
            [node_binary(), str(SCRIPT)],
            cwd=str(OIDC_DIR),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()

    def _call(self, cmd: dict) -> dict:
        with self._lock:
            assert self.proc.stdin and self.proc.stdout
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"dpop_client.mjs ended: {err}")
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"dpop_client.mjs: {out['error']}")
        return out

    def key(self, alg: str = "ES256") -> ClientKey:
        out = self._call({"op": "key", "alg": alg})
        return ClientKey(out["key"], out["jkt"], out["jwk"])

    def proof(self, key: ClientKey, htm: str, htu: str, token: str | None = None, *,
              age_s: int = 0, variant: str | None = None) -> str:
        cmd = {"op": "proof", "key": key.id, "htm": htm, "htu": htu, "age_s": age_s}
        if token is not None:
            cmd["token"] = token
        if variant:
            cmd["variant"] = variant
        return self._call(cmd)["proof"]

    def token(self, key: ClientKey, endpoint: str, client_id: str, secret: str, form: dict, ua: str) -> tuple[int, dict]:
        """A token request at `endpoint` with a proof of `key` (the provider binds the token to it)."""
        out = self._call({"op": "token", "key": key.id, "endpoint": endpoint, "client_id": client_id,
                          "secret": secret, "form": form, "ua": ua})
        return out["status"], out["body"]

    def close(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
