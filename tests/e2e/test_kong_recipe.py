"""The Kong recipe of issue 24, item 5, in plain nginx with Kong's header semantics.

Kong generates its proxy `location /` itself (fixed `proxy_set_header` lines, `proxy_pass` to
`$upstream_uri`), so a filter chain cannot declare jwtgate's `$jwtgate_*` variables there;
Kong 3.6+ includes a file into that location with `nginx_location_include`, and
deploy/kong/jwtgate-location.conf is that file. Here two servers mirror Kong's location, one
with the shipped include and one without: the filter runs the shipped kong.yml config (keys
inline instead of the IdP's). With the include, the service sees no token and exactly the
verified identity; without it, the hole the README describes is there.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from envoy import free_port, request
from hosts import ON_NGX
from ngx import ngx_quote, stripped_headers
from tokens import EcKey, jwks, mint

pytestmark = pytest.mark.skipif(not ON_NGX, reason="nginx + ngx_wasm_module (Kong's Wasm host)")

REPO = Path(__file__).resolve().parents[2]
INCLUDE = REPO / "deploy" / "kong" / "jwtgate-location.conf"
KEY = EcKey("kong-es")


def _kong_config() -> dict:
    doc = yaml.safe_load((REPO / "deploy" / "kong" / "kong.yml").read_text())
    chain = doc["services"][0]["filter_chains"][0]
    cfg = copy.deepcopy(next(f["config"] for f in chain["filters"] if f["name"] == "jwtgate"))
    for p in cfg["providers"]:
        p.pop("remote_jwks", None)
        p["local_jwks"] = {"inline": jwks(KEY)}
    return cfg


def _kong_like_server(port: int, cfg: dict, upstream_port: int, include: bool) -> str:
    """A server whose `location /` is Kong's generated one as far as headers go (Kong's
    variables hold what its Lua would have put there). Kong attaches a filter chain from its
    access handler, so the filter runs in the access phase, after every `set` of the location
    (the include's among them); `proxy_wasm_request_headers_in_access on` does the same for a
    `proxy_wasm` directive, which otherwise runs in the rewrite phase before those `set`s, and
    they would overwrite what the filter wrote."""
    inc = f"include {INCLUDE};" if include else "# no nginx_location_include"
    return f"""    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_wasm_request_headers_in_access on;
            set $upstream_host $http_host;
            set $upstream_uri $request_uri;
            set $upstream_connection '';
            proxy_http_version 1.1;
            {inc}
            proxy_set_header Host $upstream_host;
            proxy_set_header Connection $upstream_connection;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_pass_header Server;
            proxy_wasm jwtgate {ngx_quote(json.dumps(cfg, separators=(",", ":")))};
            proxy_pass http://127.0.0.1:{upstream_port}$upstream_uri;
        }}
    }}
"""


@pytest.fixture(scope="module")
def kong_like(module_envoy_factory, echo):
    cfg = _kong_config()
    ports = {"with": free_port(), "without": free_port()}
    servers = "".join(_kong_like_server(ports[k], cfg, echo.port, k == "with") for k in ports)
    module_envoy_factory(cfg, servers=servers)
    return ports


def test_the_include_declares_every_header_of_the_shipped_config():
    text = INCLUDE.read_text()
    declared = dict(re.findall(r"^set\s+\$(jwtgate_\w+)\s+(\S+);", text, flags=re.M))
    sent = {n.lower(): v for n, v in re.findall(r"^proxy_set_header\s+(\S+)\s+(\S+);", text, flags=re.M)}
    for name in stripped_headers(_kong_config()):
        var = "jwtgate_" + name.replace("-", "_")
        assert declared.get(var) == "$http_" + name.replace("-", "_"), f"no `set ${var} ...;` in {INCLUDE.name}"
        assert sent.get(name) == "$" + var, f"no `proxy_set_header {name} ${var};` in {INCLUDE.name}"
    conf = (REPO / "deploy" / "kong" / "kong.conf").read_text()
    assert f"nginx_location_include = /usr/local/kong/{INCLUDE.name}" in conf


def _forged(port: int, token: str | None):
    headers = [("Host", "orders.test"), ("X-User-Id", "forged-1"), ("X-User-Id", "forged-2"),
               ("X-User-Roles", "admin")]
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    return request(port, "/orders", headers=headers)


def test_with_the_include_the_service_sees_only_the_verified_identity(kong_like):
    token = mint(KEY, iss="https://auth.example.com/", aud="orders-api", sub="alice", roles=["buyer"])
    r = _forged(kong_like["with"], token)
    assert r.status == 200, str(r)
    seen = r.upstream()["headers"]
    assert seen.get("x-user-id") == ["alice"], seen
    assert seen.get("x-user-roles") == ["buyer"], seen
    assert "authorization" not in seen, "the token reached the service"
    # a public route: forged identity headers are removed, not passed
    r = request(kong_like["with"], "/healthz", headers=[("Host", "orders.test"), ("X-User-Id", "forged-1"),
                                                         ("X-User-Id", "forged-2")])
    assert r.status == 200 and "x-user-id" not in r.upstream()["headers"], r.upstream()["headers"]


def test_without_the_include_the_hole_is_there(kong_like):
    """Control: the location as Kong generates it, nothing added (what the README warns of)."""
    token = mint(KEY, iss="https://auth.example.com/", aud="orders-api", sub="alice", roles=["buyer"])
    seen = _forged(kong_like["without"], token).upstream()["headers"]
    assert "forged-2" in seen.get("x-user-id", []) or "authorization" in seen, seen
