"""Trust soak: real Envoy (2 workers) + jwtgate under mixed traffic while the IdPs misbehave.

Two providers, each with its own JWKS endpoint; keys rotate every ROTATE seconds (a new key is
published, minted with, and the key two rotations old is removed). In the middle: an outage
(500s) and a reset storm (answers cut off mid-body). Traffic: valid, expired, forged (a
published kid, another key's signature) and missing tokens, each with its exact expected
verdict. Reported: requests, wrong verdicts, unexpected 5xx, JWKS fetches per provider, Envoy
RSS at start and end, traps in Envoy's log.

    make soak                 # SOAK_SECONDS=600 by default
    SOAK_SECONDS=120 make soak

Writes tests/soak/RESULTS.md. Exit status 1 if any wrong verdict, unexpected 5xx or trap.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))

from envoy import Envoy, request, wasm_path  # noqa: E402
from servers import EchoServer, JwksServer  # noqa: E402
from tokens import EcKey, RsaKey, jwks, mint  # noqa: E402

DURATION = int(os.environ.get("SOAK_SECONDS", "600"))
ROTATE = int(os.environ.get("SOAK_ROTATE_SECONDS", "60"))
THREADS = int(os.environ.get("SOAK_THREADS", "8"))
HOST = "api.test"
PROVIDERS = {"corp": "https://corp.example/", "partner": "https://partner.example/"}
FORGER_EC, FORGER_RSA = EcKey("forger-ec"), RsaKey("forger-rsa")
TRAP = re.compile(r"panicked|unreachable|wasm trap|Function: proxy_on_\w+ failed|VM failed", re.I)


class Issuer:
    """One provider's keys: the ones published, the one minting, rotation."""

    def __init__(self, name: str, server: JwksServer) -> None:
        self.name, self.iss, self.server = name, PROVIDERS[name], server
        self.path = f"/{name}/jwks.json"
        self.n = 0
        self.lock = threading.Lock()
        self.published: list = []
        self.current = None
        self.rotate()

    def new_key(self):
        self.n += 1
        kid = f"{self.name}-{self.n}"
        return EcKey(kid) if self.n % 2 else RsaKey(kid)

    def rotate(self) -> None:
        key = self.new_key()
        with self.lock:
            self.published = (self.published + [key])[-2:]  # the key two rotations old goes
            self.server.set_jwks(jwks(*self.published), path=self.path)
            self.current = key

    def token(self, **kw) -> str:
        with self.lock:
            key = self.current
        return mint(key, iss=self.iss, aud="api", **kw)

    def forged(self) -> str:
        # Another key of the same type under the current kid: an EC signature under an RSA
        # key's kid would be unknown_kid (the key does not fit the alg), not bad_signature.
        with self.lock:
            key = self.current
        forger = FORGER_EC if isinstance(key, EcKey) else FORGER_RSA
        return mint(forger, iss=self.iss, aud="api", kid=key.kid)


def plugin_config(server: JwksServer) -> dict:
    def provider(name: str) -> dict:
        return {
            "name": name,
            "issuer": PROVIDERS[name],
            "audiences": ["api"],
            "remote_jwks": {
                "cluster": "idp",
                "uri": f"http://127.0.0.1:{server.port}/{name}/jwks.json",
                "timeout_ms": 1000,
                "cache_duration_s": 30,
                "min_refetch_interval_s": 5,
                "max_stale_s": 86400,
            },
            "claim_to_headers": [{"claim": "sub", "header": f"x-{name}-sub"}],
        }

    return {
        "providers": [provider("corp"), provider("partner")],
        "rules": [{"match": {"prefix": "/"}, "requires": {"any": [{"provider": "corp"}, {"provider": "partner"}]}}],
    }


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def verdict(r) -> str:
    if r.status == 200:
        return "200"
    try:
        return f"{r.status} {json.loads(r.body).get('reason')}"
    except ValueError:
        return str(r.status)


def main() -> int:
    echo, server = EchoServer(), JwksServer()
    issuers = {n: Issuer(n, server) for n in PROVIDERS}
    workdir = Path(os.environ.get("SOAK_WORKDIR", "/tmp/jwtgate-soak"))
    env = Envoy(plugin_config(server), upstream_port=echo.port, idp_port=server.port, concurrency=2,
                wasm=wasm_path(), workdir=workdir, component_log_level=None)
    env.start()
    stats = {"requests": 0, "wrong": 0, "unexpected_5xx": 0, "by_kind": {}}
    wrong_examples: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    phase = {"name": "normal"}
    rss_start = rss_kib(env.proc.pid)

    def one(rng: random.Random) -> None:
        iss = issuers[rng.choice(list(issuers))]
        kind = rng.choice(["valid", "valid", "valid", "expired", "forged", "missing"])
        token, expected = {
            "valid": lambda: (iss.token(sub="s"), "200"),
            "expired": lambda: (iss.token(ttl=-3600), "401 token_expired"),
            "forged": lambda: (iss.forged(), "401 bad_signature"),
            "missing": lambda: (None, "401 token_missing"),
        }[kind]()
        headers = [("host", HOST)] + ([("authorization", f"Bearer {token}")] if token else [])
        r = request(env.port, "/soak", headers=headers, timeout=10)
        got = verdict(r)
        with lock:
            stats["requests"] += 1
            k = stats["by_kind"].setdefault(kind, {"n": 0, "wrong": 0})
            k["n"] += 1
            if r.status >= 500:
                stats["unexpected_5xx"] += 1
            if got != expected:
                stats["wrong"] += 1
                k["wrong"] += 1
                if sum(1 for w in wrong_examples if f": {kind} " in w) < 3:
                    wrong_examples.append(f"{phase['name']}: {kind} for {iss.name}: expected {expected}, got {got}")

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                one(rng)
            except Exception as exc:  # noqa: BLE001 - a failed request is a wrong verdict
                with lock:
                    stats["requests"] += 1
                    stats["wrong"] += 1
                    if len(wrong_examples) < 10:
                        wrong_examples.append(f"{phase['name']}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    fetches_start = server.count()
    next_rotate = start + ROTATE
    outage = (start + DURATION * 0.4, start + DURATION * 0.5)
    storm = (start + DURATION * 0.55, start + DURATION * 0.65)
    rotations = 0
    last_abnormal_end = -1e9
    try:
        while (now := time.monotonic()) < start + DURATION:
            if outage[0] <= now < outage[1]:
                want = "outage"
            elif storm[0] <= now < storm[1]:
                want = "reset storm"
            else:
                want = "normal"
            if want != phase["name"]:
                if phase["name"] != "normal":
                    last_abnormal_end = now
                server.set_mode({"outage": "500", "reset storm": "reset", "normal": "ok"}[want])
                phase["name"] = want
                print(f"t={now - start:5.0f}s phase {want}", flush=True)
            # Rotation needs the IdP up: a key published during an outage cannot be fetched,
            # so its tokens would rightly fail; rotate only in normal phases.
            # Not within the longest backoff (30 s) after a failure phase either: a new key's
            # tokens may then rightly fail until the retry (within one backoff step).
            if now >= next_rotate and want == "normal" and now - last_abnormal_end > 32:
                for i in issuers.values():
                    i.rotate()
                rotations += 1
                next_rotate = now + ROTATE
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    elapsed = time.monotonic() - start
    rss_end = rss_kib(env.proc.pid)
    fetches = {n: server.count(i.path) for n, i in issuers.items()}
    time.sleep(1)
    traps = [l for l in env.log_text().splitlines() if TRAP.search(l)]
    env.stop()
    server.close()
    echo.close()

    ok = stats["wrong"] == 0 and stats["unexpected_5xx"] == 0 and not traps
    lines = [
        "# jwtgate trust soak",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; Envoy `--concurrency 2`, {THREADS} client threads, "
        f"{elapsed:.0f} s; keys rotated every {ROTATE} s ({rotations} rotations per provider); outage (500) "
        f"from {DURATION * 0.4:.0f} s to {DURATION * 0.5:.0f} s, reset storm from {DURATION * 0.55:.0f} s to "
        f"{DURATION * 0.65:.0f} s. JWKS refresh period 30 s.",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| requests | {stats['requests']:,} ({stats['requests'] / elapsed:.0f}/s) |",
        f"| wrong verdicts | {stats['wrong']} |",
        f"| unexpected 5xx | {stats['unexpected_5xx']} |",
        *[f"| JWKS requests, {n} | {c} |" for n, c in fetches.items()],
        f"| Envoy RSS start → end | {rss_start / 1024:.1f} → {rss_end / 1024:.1f} MiB |",
        f"| traps in Envoy's log | {len(traps)} |",
        "",
        "| kind | requests | wrong |",
        "| --- | ---: | ---: |",
        *[f"| {k} | {v['n']:,} | {v['wrong']} |" for k, v in sorted(stats["by_kind"].items())],
        "",
        "JWKS requests include the failed ones of the outage and the storm (retried with backoff);",
        "outside them, one fetch per refresh period or rotation per provider, shared by both workers.",
    ]
    if wrong_examples:
        lines += ["", "Wrong verdicts (first 3 of each kind):", *[f"- {w}" for w in wrong_examples]]
    if traps:
        lines += ["", "Traps:", *[f"- `{t[:200]}`" for t in traps[:5]]]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    _ = fetches_start
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
