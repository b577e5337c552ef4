"""Which nginx locations let the filter's verdict stand (issue 24, item 3).

ngx_wasm_module runs the filter in nginx's rewrite phase but sends its refusal from the content
phase; nginx directives that answer or re-route the request before that win. Each case is a `location` with the filter in it: a request without a token
must get the filter's 401, and a valid token must get the content. The cases the README calls
unsafe are strict xfails: if nginx ever changes, the test says so and the README must too.
"""

from __future__ import annotations

import pytest

from helpers import CORP_ISS, Gateway
from hosts import ON_NGX
from tokens import EcKey, jwks, mint

pytestmark = pytest.mark.skipif(not ON_NGX, reason="nginx locations (Envoy routes always run the filter first)")

KEY = EcKey("loc-es")
STATIC_BODY = "static file body\n"
INDEX_BODY = "index page body\n"


def _cfg() -> dict:
    return {
        "providers": [{
            "name": "corp",
            "issuer": CORP_ISS,
            "audiences": ["api"],
            "local_jwks": {"inline": jwks(KEY)},
            "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}],
        }],
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "corp"}}],
    }


# name -> (location block, what a passed request's body holds). The filter's refusal is a local
# response that ngx_wasm_module sends from the content phase: a directive that answers or
# re-routes the request before that (rewrite-phase `return`, precontent `try_files`) wins.
UNSAFE = {
    "return": ("location /return/ { @FILTER@ return 200 'from return\\n'; }", "from return"),
    "try_files": ("location /try/ { @FILTER@ try_files /nonexistent @echo; }\n"
                  "        location @echo { proxy_pass @UPSTREAM@; }", '"headers"'),
}
SAFE = {
    # content handlers: static files, an index (its internal redirect runs the filter again)
    "static": ("location /static/ { @FILTER@ alias @DIR@/; }", STATIC_BODY.strip()),
    "index": ("location /index/ { @FILTER@ alias @DIR@/; index index.html; }", INDEX_BODY.strip()),
    # the way to put the others behind the filter: its location proxies to a server that
    # answers (here on a unix socket, reachable only through the filter's location)
    "proxy_pass-to-static": ("location /pstatic/ { @FILTER@ proxy_pass http://unix:@DIR@/content.sock:/; }",
                             STATIC_BODY.strip()),
    "proxy_pass-to-return": ("location /preturn/ { @FILTER@ proxy_pass http://unix:@DIR@/content.sock:/return/; }",
                             "from content server"),
    "rewrite-break": ("location /rb/ { @FILTER@ rewrite ^/rb/(.*)$ /$1 break; proxy_pass @UPSTREAM@; }", '"headers"'),
}
PATHS = {"return": "/return/x", "static": "/static/file.txt", "index": "/index/",
         "proxy_pass-to-static": "/pstatic/file.txt", "proxy_pass-to-return": "/preturn/x",
         "rewrite-break": "/rb/x", "try_files": "/try/x"}


@pytest.fixture(scope="module")
def located(module_envoy_factory, tmp_path_factory):
    content = tmp_path_factory.mktemp("content")
    (content / "file.txt").write_text(STATIC_BODY)
    (content / "index.html").write_text(INDEX_BODY)
    locations = "\n".join("        " + block for block, _ in {**UNSAFE, **SAFE}.values())
    locations = locations.replace("@DIR@", str(content))
    # the content server: no filter of its own, reachable only through the filter's locations
    servers = f"""    server {{
        listen unix:{content}/content.sock;
        root {content};
        location /return/ {{ return 200 'from content server\\n'; }}
    }}
"""
    env = module_envoy_factory(_cfg(), locations=locations, servers=servers)
    return Gateway(env)


def _check(gw, name: str, body: str) -> None:
    denied = gw.get(PATHS[name])
    assert denied.status == 401, f"{name}: no token, yet nginx answered {denied.status} {denied.body[:80]!r}"
    ok = gw.get(PATHS[name], token=mint(KEY, iss=CORP_ISS, aud="api", sub="loc"))
    assert ok.status == 200 and body in ok.body.decode(errors="replace"), f"{name}: {ok}"


@pytest.mark.parametrize("name", sorted(SAFE))
def test_safe_locations_enforce_the_verdict(located, name):
    _check(located, name, SAFE[name][1])


@pytest.mark.xfail(strict=True, reason="nginx answers or re-runs the request around the filter's verdict "
                                        "(README: Kong and nginx, locations)")
@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_unsafe_locations_do_not(located, name):
    _check(located, name, UNSAFE[name][1])
