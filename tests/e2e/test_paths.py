"""The contract's Paths (v1.1) in real Envoy: many spellings of one resource, sent raw, against a
scoped exact path `/admin`, a case-insensitive `/ops`, a scoped prefix `/api/`, a no-token
prefix `/healthz` and a catch-all; status, body and the path the echo upstream received.

Every case runs twice: with Envoy's default HTTP connection manager settings (the filter alone
must hold: a user may not set any) and with the shipped envoy.yaml's path settings
(`normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action: KEEP_UNCHANGED`), where
Envoy normalizes first. Where the two differ, the case says so.
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from envoy import REPO, SHIPPED_HCM_PATH_SETTINGS
from helpers import CORP_ISS, HOST
from hosts import ON_NGX
from tokens import jwks, mint

AMBIGUOUS_BODY = {"error": "invalid_request", "reason": "path_ambiguous"}


def paths_config(keys, **top) -> dict:
    cfg = {
        "providers": [
            {
                "name": "corp",
                "issuer": CORP_ISS,
                "local_jwks": {"inline": jwks(keys.corp_es)},
                "from_params": ["access_token"],
                "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}],
            }
        ],
        "rules": [
            {"match": {"prefix": "/healthz"}},
            {"match": {"path": "/admin"}, "requires": {"provider": "corp", "scopes": ["admin"]}},
            {"match": {"path": "/ops", "ignore_case": True}, "requires": {"provider": "corp", "scopes": ["ops"]}},
            {"match": {"prefix": "/api/"}, "requires": {"provider": "corp", "scopes": ["api"]}},
            {"match": {"prefix": "/"}, "requires": {"provider": "corp"}},
        ],
    }
    cfg.update(top)
    return cfg


class Raw:
    """A response to a raw HTTP/1.1 request (bytes on a socket: no client-side checks)."""

    def __init__(self, data: bytes):
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ")[1]) if lines and lines[0] else 0
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            self.headers.setdefault(k.strip().lower().decode("latin-1"), []).append(v.strip().decode("latin-1"))

    def header(self, name: str) -> str | None:
        return (self.headers.get(name) or [None])[0]

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.headers} {self.body[:200]!r}>"


def send(port: int, target: bytes, *, method: bytes = b"GET", headers: list[tuple[str, str]] = ()) -> Raw:
    req = method + b" " + target + b" HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nConnection: close\r\n"
    for k, v in headers:
        req += f"{k}: {v}\r\n".encode()
    req += b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(req)
        data = b""
        # Read up to the end of the body (Envoy delays its close by up to a second).
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m and len(body) >= int(m.group(1)):
                    break
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return Raw(data)


# ------------------------------------------------------------------ expectations

# An expectation: ("up", path) the echo got exactly `path`; ("ambiguous",) 400 path_ambiguous
# from the filter; ("refused",) a 400 from Envoy or the filter, never upstream; (401,) / (403,).
# A dict {"default": e1, "shipped": e2} where the two HCM settings legitimately differ, with
# "ngx" where nginx does (it answers some paths itself and decodes the path it proxies); on
# nginx a dict without "ngx" means its "default" (the HCM settings are Envoy's).
NONE, PLAIN, ADMIN, OPS, API = "none", "plain", "admin", "ops", "api"

CASES: list[tuple[bytes, str, object]] = [
    # the exact path and its spellings: the scope is needed, the upstream gets the normalized path
    (b"/admin", NONE, (401,)),
    (b"/admin", PLAIN, (403,)),
    (b"/admin", ADMIN, ("up", "/admin")),
    (b"/admin/", PLAIN, (403,)),
    (b"/admin/", ADMIN, ("up", "/admin/")),
    (b"/admin;jsessionid=1", PLAIN, (403,)),
    (b"/admin;jsessionid=1", ADMIN, ("up", "/admin;jsessionid=1")),
    (b"/admin;x/", PLAIN, (403,)),
    (b"/admin/.", PLAIN, (403,)),
    (b"/admin/.", ADMIN, ("up", "/admin/")),
    (b"/%61dmin", PLAIN, (403,)),
    (b"/%61dmin", ADMIN, ("up", "/admin")),
    (b"/%61%64%6D%69%6e", ADMIN, ("up", "/admin")),
    (b"//admin", PLAIN, (403,)),
    (b"//admin", ADMIN, ("up", "/admin")),
    (b"///admin//", ADMIN, ("up", "/admin/")),
    (b"/x/../admin", NONE, (401,)),
    (b"/x/../admin", PLAIN, (403,)),
    (b"/x/../admin", ADMIN, ("up", "/admin")),
    (b"/./admin", PLAIN, (403,)),
    (b"/./admin", ADMIN, ("up", "/admin")),
    # nginx answers a path above the root with its own 400, before any filter
    (b"/../admin", ADMIN, {"default": ("up", "/admin"), "shipped": ("up", "/admin"), "ngx": ("refused",)}),
    (b"/x/%2e%2e/admin", PLAIN, (403,)),
    (b"/x/%2E%2E/admin", ADMIN, ("up", "/admin")),
    (b"/x/.%2e/admin", ADMIN, ("up", "/admin")),
    (b"/admin%3B", PLAIN, (403,)),
    # nginx decodes the path it proxies (the filter matched `/admin%3Bx` as `/admin;x` too)
    (b"/admin%3Bx", ADMIN, {"default": ("up", "/admin%3Bx"), "shipped": ("up", "/admin%3Bx"),
                            "ngx": ("up", "/admin;x")}),
    (b"/admin/x/..", PLAIN, (403,)),
    (b"/admin/x/..", ADMIN, ("up", "/admin/")),
    (b"/admin?x=/../y&z=%2F", ADMIN, ("up", "/admin?x=/../y&z=%2F")),
    (b"/x/../admin?x=/../y&z=%2F", ADMIN, ("up", "/admin?x=/../y&z=%2F")),
    (b"http://h.test/admin", PLAIN, (403,)),
    (b"http://h.test/x/../admin?q=1", ADMIN, ("up", "/admin?q=1")),
    # other resources: the catch-all (any corp token)
    (b"/admin/x", PLAIN, ("up", "/admin/x")),
    (b"/adminx", PLAIN, ("up", "/adminx")),
    (b"/admin//x", PLAIN, ("up", "/admin/x")),
    (b"/ADMIN", PLAIN, ("up", "/ADMIN")),  # case-sensitive unless "ignore_case": true
    (b"/ADMIN", NONE, (401,)),
    # ignore_case
    (b"/OPS", PLAIN, (403,)),
    (b"/Ops/", PLAIN, (403,)),
    (b"/%4Fps", PLAIN, (403,)),
    (b"/oPs", OPS, ("up", "/oPs")),
    # a prefix rule is a string prefix of the normalized path
    (b"/api/x", PLAIN, (403,)),
    (b"//api//x", PLAIN, (403,)),
    (b"/x/../api/y", PLAIN, (403,)),
    (b"/%61pi/x", API, ("up", "/api/x")),
    (b"/api;v=1/x", PLAIN, (403,)),
    (b"/API/x", PLAIN, ("up", "/API/x")),
    # the no-token prefix: reachable only by its own spellings
    (b"/healthz", NONE, ("up", "/healthz")),
    (b"//healthz//live", NONE, ("up", "/healthz/live")),
    (b"/x/../healthz/./live?q=/../x", NONE, ("up", "/healthz/live?q=/../x")),
    (b"/healthz;v=1", NONE, ("up", "/healthz;v=1")),
    (b"/healthz/../admin", NONE, (401,)),
    (b"/healthz/%2e%2e/admin", NONE, (401,)),
    (b"/healthz/..;/admin", NONE, (401,)),
    (b"/healthz/..;/admin", ADMIN, {"default": ("up", "/healthz/..;/admin"), "shipped": ("up", "/admin")}),
    (b"/healthz/../x", NONE, (401,)),
    # refused before any rule: encoded separators, backslash, controls, bad escapes
    (b"/admin%2f", ADMIN, ("ambiguous",)),
    (b"/admin%2F", PLAIN, ("ambiguous",)),
    (b"/healthz%2F..%2Fadmin", NONE, ("ambiguous",)),
    (b"/healthz/..%2fadmin", NONE, ("ambiguous",)),
    (b"/healthz%5C..%5Cadmin", NONE, ("ambiguous",)),
    (b"/healthz%5c", NONE, ("ambiguous",)),
    # Envoy's normalize_path turns `\` into `/` before the filter: then it is an ordinary path
    (b"/healthz\\..\\admin", NONE, {"default": ("ambiguous",), "shipped": (401,)}),
    (b"/healthz\\x", NONE, {"default": ("ambiguous",), "shipped": ("up", "/healthz/x")}),
    # nginx answers a NUL and a broken escape with its own 400, before any filter
    (b"/healthz%00", NONE, {"default": ("ambiguous",), "shipped": ("refused",), "ngx": ("refused",)}),
    (b"/healthz%0a", NONE, ("ambiguous",)),
    (b"/healthz%0D", NONE, ("ambiguous",)),
    (b"/healthz%7f", NONE, ("ambiguous",)),
    (b"/healthz%1F", NONE, ("ambiguous",)),
    (b"/healthz%zz", NONE, {"default": ("ambiguous",), "ngx": ("refused",)}),
    (b"/healthz%", NONE, {"default": ("ambiguous",), "ngx": ("refused",)}),
    (b"/healthz%2", NONE, {"default": ("ambiguous",), "ngx": ("refused",)}),
    # normalize_path escapes the stray `%` as %25 and decodes the rest: no longer ambiguous
    (b"/healthz%%32%66", NONE, {"default": ("ambiguous",), "shipped": ("up", "/healthz%252f"),
                                "ngx": ("refused",)}),
    (b"/admin%2F?x=1", ADMIN, ("ambiguous",)),
    # Envoy refuses these itself (a fragment, raw controls, raw non-ASCII, `*`)
    (b"/admin#frag", PLAIN, ("refused",)),
    (b"/healthz#/../admin", NONE, ("refused",)),
    (b"/healthz\x7f", NONE, ("refused",)),
    (b"/healthz\x01", NONE, ("refused",)),
    # nginx hands raw UTF-8 to the filter: an ordinary path there
    (b"/caf\xc3\xa9", NONE, {"default": ("refused",), "shipped": ("refused",), "ngx": (401,)}),
    (b"/healthz\xff", NONE, ("refused",)),
    (b"*", NONE, ("refused",)),
    # spellings of ordinary paths
    (b"/a/b/..", PLAIN, ("up", "/a/")),
    (b"/a//../b", PLAIN, ("up", "/a/b")),
    (b"/a/./b/../../c", PLAIN, ("up", "/c")),
    (b"/%7Euser", PLAIN, ("up", "/~user")),
    (b"/a%41", PLAIN, ("up", "/aA")),
    (b"/a%c3%a9", PLAIN, {"default": ("up", "/a%c3%a9"), "shipped": ("up", "/a%c3%a9"),
                          "ngx": ("up", "/a%C3%A9")}),  # nginx escapes again, in capitals
    (b"/a%252Fb", PLAIN, ("up", "/a%252Fb")),
    (b"/a%20b", PLAIN, ("up", "/a%20b")),
    (b"/..", PLAIN, {"default": ("up", "/"), "shipped": ("up", "/"), "ngx": ("refused",)}),
]

# Envoy's HCM settings mean nothing to nginx: it runs the cases once, as "ngx".
HCM = {"ngx": {}} if ON_NGX else {"default": {}, "shipped": SHIPPED_HCM_PATH_SETTINGS}


def expectation(expect, hcm: str):
    if isinstance(expect, dict):
        return expect.get(hcm, expect.get("default"))
    return expect


@pytest.fixture(scope="module", params=sorted(HCM))
def hcm(request):
    return request.param


@pytest.fixture(scope="module")
def paths_envoy(module_envoy_factory, keys, hcm):
    return module_envoy_factory(paths_config(keys), hcm_settings=HCM[hcm])


@pytest.fixture(scope="module")
def tokens(keys):
    def tok(scope=None):
        return mint(keys.corp_es, iss=CORP_ISS, sub="paths", ttl=3600, scope=scope)

    return {NONE: None, PLAIN: tok(), ADMIN: tok("admin"), OPS: tok("ops"), API: tok("api")}


def check(resp: Raw, expect, what: str) -> None:
    kind = expect[0]
    if kind == "up":
        assert resp.status == 200, f"{what}: expected upstream, got {resp}"
        doc = resp.json()
        assert doc["target"] == expect[1], f"{what}: upstream got {doc['target']!r}, want {expect[1]!r}"
    elif kind == "ambiguous":
        assert resp.status == 400, f"{what}: expected 400 path_ambiguous, got {resp}"
        assert resp.json() == AMBIGUOUS_BODY, f"{what}: {resp}"
        assert (resp.header("content-type") or "").startswith("application/json"), f"{what}: {resp}"
        assert resp.header("www-authenticate") is None, f"{what}: {resp}"
    elif kind == "refused":
        assert resp.status == 400, f"{what}: expected a 400, got {resp}"
        assert b'"target"' not in resp.body, f"{what}: reached upstream: {resp}"
    else:
        assert resp.status == kind, f"{what}: expected {kind}, got {resp}"
        assert b'"target"' not in resp.body, f"{what}: reached upstream: {resp}"


def test_spellings(paths_envoy, tokens, hcm, echo):
    failures = []
    for target, who, expect in CASES:
        expect = expectation(expect, hcm)
        token = tokens[who]
        headers = [("Authorization", f"Bearer {token}")] if token else []
        resp = send(paths_envoy.port, target, headers=headers)
        what = f"[{hcm}] {target!r} token={who}"
        try:
            check(resp, expect, what)
        except AssertionError as exc:
            failures.append(str(exc))
        except (ValueError, KeyError) as exc:
            failures.append(f"{what}: {type(exc).__name__} {exc}: {resp}")
    assert not failures, f"{len(failures)} of {len(CASES)} cases failed:\n" + "\n".join(failures)


def test_refusal_is_counted_and_logged(paths_envoy):
    before = paths_envoy.counter("jwtgate.denied.path_ambiguous")
    resp = send(paths_envoy.port, b"/healthz%2F..%2Fadmin")
    check(resp, ("ambiguous",), "counted")
    assert paths_envoy.wait_counter("jwtgate.denied.path_ambiguous", before + 1) == before + 1
    deadline = time.monotonic() + 15  # Envoy flushes its log file every few seconds
    while not any("denied status=400 reason=path_ambiguous" in l for l in paths_envoy.wasm_log_lines()):
        assert time.monotonic() < deadline, paths_envoy.tail()
        time.sleep(0.2)


def test_refused_before_cors_preflight(paths_envoy):
    pre = [("Origin", "https://app.test"), ("Access-Control-Request-Method", "POST")]
    check(send(paths_envoy.port, b"/admin%2F", method=b"OPTIONS", headers=pre), ("ambiguous",), "preflight %2F")
    # a preflight that passes goes upstream with the normalized path
    check(send(paths_envoy.port, b"/x/../admin", method=b"OPTIONS", headers=pre), ("up", "/admin"), "preflight")


def test_access_token_stripped_from_the_normalized_path(paths_envoy, tokens):
    t = tokens[ADMIN]
    resp = send(paths_envoy.port, f"/x/../%61dmin?a=%20&access_token={t}&b=c%26d".encode())
    check(resp, ("up", "/admin?a=%20&b=c%26d"), "access_token")
    assert resp.json()["headers"].get("x-user-id") == ["paths"]
    resp = send(paths_envoy.port, f"//admin?access_token={t}".encode())
    check(resp, ("up", "/admin"), "access_token only")


def test_escaped_slashes_keep_and_report_mode(module_envoy_factory, keys, tokens, hcm):
    """`escaped_slashes: keep` passes %2F/%5C unchanged as segment characters; report mode
    still refuses ambiguous paths (a request-shape refusal, not a token failure)."""
    env = module_envoy_factory(paths_config(keys, escaped_slashes="keep", mode="report"), hcm_settings=HCM[hcm])
    plain = [("Authorization", f"Bearer {tokens[PLAIN]}")]
    if ON_NGX:
        # nginx sends %2F upstream as `/` (the rule would have matched one segment, the upstream
        # serve two): "keep" cannot hold there, so these stay refused.
        check(send(env.port, b"/admin%2F", headers=plain), ("ambiguous",), "keep %2F on nginx")
        check(send(env.port, b"/healthz%2F..%2Fadmin"), ("ambiguous",), "keep no-token on nginx")
        check(send(env.port, b"/x/a%5Cb/../c%2fd"), ("ambiguous",), "keep %5C on nginx")
    else:
        check(send(env.port, b"/admin%2F", headers=plain), ("up", "/admin%2F"), "keep %2F")
        check(send(env.port, b"/healthz%2F..%2Fadmin"), ("up", "/healthz%2F..%2Fadmin"), "keep no-token")
        check(send(env.port, b"/x/a%5Cb/../c%2fd"), ("up", "/x/c%2fd"), "keep %5C")
    check(send(env.port, b"/healthz%zz"), ("refused",) if ON_NGX else ("ambiguous",), "report mode refuses")
    check(send(env.port, b"/healthz%0a"), ("ambiguous",), "report mode refuses controls")
    # report mode: a missing token passes, with the normalized path
    check(send(env.port, b"/x/../admin"), ("up", "/admin"), "report")


def test_shipped_envoy_yaml_has_the_path_settings():
    text = (REPO / "envoy.yaml").read_text()
    for key, value in SHIPPED_HCM_PATH_SETTINGS.items():
        want = str(value).lower() if isinstance(value, bool) else value
        assert re.search(rf"^\s*{key}:\s*{want}\s*(#.*)?$", text, re.M), f"envoy.yaml lacks {key}: {want}"
