"""Contract v1.2 in real Envoy: verified claims for the rest of the proxy (filter state read by an
RBAC filter placed after jwtgate and by a file access log), a rate limit keyed on a header
jwtgate sets from a verified claim, step-up (RFC 9470), `{tid}` issuer templates with
`tenants`, and `clients`.

Every Envoy here is built by envoy.py's bootstrap and then edited (`customize`): filters go
between jwtgate and the router, as a user of the recipes in the README would place them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from configs import remote
from envoy import hcm_of
from helpers import CORP_ISS, Gateway, assert_401_invalid, assert_401_missing, assert_403
from hosts import ON_NGX
from servers import JwksServer
from tokens import EcKey, jwks, mint

pytestmark = pytest.mark.skipif(
    ON_NGX, reason="filter state, RBAC, local_ratelimit and access-log formats are Envoy's"
)

KEY = EcKey("claims-es-1")
JWKS_PATH = "/jwks.json"


@pytest.fixture
def idp(jwks_server):
    jwks_server.set_jwks(jwks(KEY), JWKS_PATH)
    return jwks_server


def provider(idp: JwksServer, **extra) -> dict:
    p = {
        "name": "corp",
        "issuer": CORP_ISS,
        "audiences": ["api"],
        "remote_jwks": remote(idp, JWKS_PATH),
    }
    p.update(extra)
    return p


def token(sub: str = "alice", **claims) -> str:
    return mint(KEY, iss=claims.pop("iss", CORP_ISS), aud="api", sub=sub, **claims)


def insert_after_jwtgate(boot: dict, *filters: dict) -> None:
    """Places `filters` after jwtgate, before the router."""
    chain = hcm_of(boot)["http_filters"]
    assert chain[0]["name"] == "envoy.filters.http.wasm" and chain[-1]["name"] == "envoy.filters.http.router"
    chain[1:1] = list(filters)


def wait_for_lines(path: Path, n: int, timeout: float = 10.0) -> list[str]:
    """The access log's lines once it has at least `n` (Envoy flushes it every second)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


# ---------------------------------------------------------------- claims_to_metadata


RBAC_ALICE_ONLY = {
    "name": "envoy.filters.http.rbac",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {
            "action": "ALLOW",
            "policies": {
                "alice-only": {
                    "permissions": [{"any": True}],
                    "principals": [
                        {"filter_state": {"key": "wasm.jwtgate.sub", "string_match": {"exact": "alice"}}}
                    ],
                }
            },
        },
    },
}

ACCESS_LOG_FORMAT = "sub=%FILTER_STATE(wasm.jwtgate.sub:PLAIN)% team=%FILTER_STATE(wasm.jwtgate.team:PLAIN)% status=%RESPONSE_CODE% path=%REQ(:PATH)%\n"


def rbac_and_access_log(boot: dict, envoy) -> None:
    insert_after_jwtgate(boot, RBAC_ALICE_ONLY)
    hcm_of(boot)["access_log"] = [
        {
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                "path": str(envoy.dir / "access.log"),
                "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}},
            },
        }
    ]


def test_rbac_after_jwtgate_matches_the_verified_sub_and_the_access_log_prints_it(envoy_factory, idp):
    cfg = {
        "providers": [
            provider(
                idp,
                claims_to_metadata=[{"claim": "sub", "key": "sub"}, {"claim": "org.team", "key": "team"}],
                claim_to_headers=[{"claim": "sub", "header": "x-user-id"}],
            )
        ],
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "corp"}}],
    }
    env = envoy_factory(cfg, idp=idp, customize=rbac_and_access_log)
    gw = Gateway(env)
    log = env.dir / "access.log"

    r = gw.get("/alice", token=token("alice", org={"team": "ops"}))
    assert r.upstream()["headers"]["x-user-id"] == ["alice"]

    # bob's token is valid: jwtgate lets it through, and the RBAC filter after it says no.
    r = gw.get("/bob", token=token("bob"))
    assert r.status == 403, r
    assert r.header("www-authenticate") is None, r
    assert b"RBAC" in r.body, r
    assert env.counter("jwtgate.allowed") == 2

    # No filter state can be had without a token: jwtgate's own 401 comes first.
    assert_401_missing(gw.get("/anon", headers={"x-user-id": "alice"}))
    # A client cannot write the filter state through a header of its name either.
    r = gw.get("/spoof", token=token("bob"), headers={"wasm.jwtgate.sub": "alice", "x-jwtgate-sub": "alice"})
    assert r.status == 403 and b"RBAC" in r.body, r

    lines = wait_for_lines(log, 4)
    assert lines == [
        "sub=alice team=ops status=200 path=/alice",
        "sub=bob team=- status=403 path=/bob",
        "sub=- team=- status=401 path=/anon",
        "sub=bob team=- status=403 path=/spoof",
    ], lines
    assert env.plugin_error_lines() == []


def test_without_claims_to_metadata_rbac_denies_everyone(envoy_factory, idp):
    """The RBAC policy really reads jwtgate's filter state: without it alice is denied too."""
    cfg = {"providers": [provider(idp)], "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "corp"}}]}
    env = envoy_factory(cfg, idp=idp, customize=rbac_and_access_log)
    r = Gateway(env).get("/alice", token=token("alice"))
    assert r.status == 403 and b"RBAC" in r.body, r


# ---------------------------------------------------------------- rate limit on a verified claim


LIMITED_USER_BUCKET = 3


def local_ratelimit_by_user(boot: dict, envoy) -> None:
    """Envoy's local_ratelimit after jwtgate: a descriptor from the `x-user-id` header that
    jwtgate sets from the verified `sub` (and strips from every request first)."""
    insert_after_jwtgate(
        boot,
        {
            "name": "envoy.filters.http.local_ratelimit",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                "stat_prefix": "per_user",
                "token_bucket": {"max_tokens": 10000, "tokens_per_fill": 10000, "fill_interval": "1s"},
                "filter_enabled": {"runtime_key": "per_user_enabled", "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
                "filter_enforced": {"runtime_key": "per_user_enforced", "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
                "descriptors": [
                    {
                        "entries": [{"key": "user", "value": "alice"}],
                        "token_bucket": {"max_tokens": LIMITED_USER_BUCKET, "tokens_per_fill": LIMITED_USER_BUCKET, "fill_interval": "3600s"},
                    }
                ],
            },
        },
    )
    route = hcm_of(boot)["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    route["rate_limits"] = [{"actions": [{"request_headers": {"header_name": "x-user-id", "descriptor_key": "user"}}]}]


def test_rate_limit_keyed_on_a_verified_claim(envoy_factory, idp):
    cfg = {
        "providers": [provider(idp, claim_to_headers=[{"claim": "sub", "header": "x-user-id"}])],
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "corp"}}],
    }
    env = envoy_factory(cfg, idp=idp, customize=local_ratelimit_by_user)
    gw = Gateway(env)
    alice, bob = token("alice"), token("bob")

    # bob claims to be alice in the header the limit is keyed on: jwtgate replaces it with his
    # verified sub, so he neither drains alice's bucket nor is limited as her.
    for i in range(LIMITED_USER_BUCKET + 2):
        r = gw.get(f"/spoof{i}", token=bob, headers={"x-user-id": "alice", "X_User_Id": "alice"})
        assert r.upstream()["headers"]["x-user-id"] == ["bob"], r
    # alice's bucket is whole: exactly its size passes, then 429 from the rate limiter.
    for i in range(LIMITED_USER_BUCKET):
        assert gw.get(f"/a{i}", token=alice).status == 200
    r = gw.get("/a-over", token=alice)
    assert r.status == 429, r
    # Another user is not limited by alice's bucket.
    for i in range(LIMITED_USER_BUCKET + 2):
        assert gw.get(f"/b{i}", token=bob).status == 200
    # Without a token there is no identity to be limited as: jwtgate answers first.
    assert_401_missing(gw.get("/anon", headers={"x-user-id": "carol"}))
    assert env.stats().get("per_user.http_local_rate_limit.rate_limited", 0) == 1


# ---------------------------------------------------------------- step-up, tenants, clients


TEMPLATE = "https://login.example/{tid}/v2.0"


def v12_config(idp: JwksServer) -> dict:
    return {
        "providers": [
            provider(idp),
            provider(idp, name="entra", issuer=TEMPLATE, tenants=["acme", "globex"],
                     claim_to_headers=[{"claim": "tid", "header": "x-tenant"}]),
        ],
        "rules": [
            {"match": {"prefix": "/mfa"}, "requires": {"provider": "corp", "acr_values": ["urn:mfa", "urn:hwk"], "max_age_s": 300}},
            {"match": {"prefix": "/console"}, "requires": {"provider": "corp", "clients": ["console"], "scopes": ["admin"]}},
            {"match": {"prefix": "/tenant"}, "requires": {"provider": "entra"}},
            {"match": {"prefix": "/"}, "requires": {"provider": "corp"}},
        ],
    }


@pytest.fixture
def v12(envoy_factory, idp):
    return Gateway(envoy_factory(v12_config(idp), idp=idp, concurrency=2))


def assert_step_up(resp, reason: str) -> None:
    assert resp.status == 401, resp
    assert resp.json() == {"error": "insufficient_user_authentication", "reason": reason}, resp
    www = resp.header_all("www-authenticate")
    assert www == [
        'Bearer realm="api.test", error="insufficient_user_authentication", '
        f'error_description="{reason}", acr_values="urn:mfa urn:hwk", max_age="300"'
    ], www


def test_step_up(v12):
    now = int(time.time())
    assert v12.get("/mfa", token=token(acr="urn:mfa", auth_time=now - 10)).status == 200
    assert v12.get("/mfa", token=token(acr="urn:hwk", auth_time=now)).status == 200
    assert_step_up(v12.get("/mfa", token=token(acr="urn:pwd", auth_time=now)), "acr_insufficient")
    assert_step_up(v12.get("/mfa", token=token(auth_time=now)), "acr_insufficient")
    # 300 s + the default 60 s of clock skew, with room for the test's own seconds.
    assert_step_up(v12.get("/mfa", token=token(acr="urn:mfa", auth_time=now - 400)), "auth_time_too_old")
    assert_step_up(v12.get("/mfa", token=token(acr="urn:mfa")), "auth_time_too_old")
    # The same token elsewhere needs no step-up.
    assert v12.get("/other", token=token(acr="urn:pwd")).status == 200
    env = v12.envoy
    assert env.wait_counter("jwtgate.denied.acr_insufficient", 2) == 2
    assert env.wait_counter("jwtgate.denied.auth_time_too_old", 2) == 2
    assert env.counter("jwtgate.provider.corp.denied.auth_time_too_old") == 2


def test_clients(v12):
    assert v12.get("/console", token=token(client_id="console", scope="admin")).status == 200
    assert v12.get("/console", token=token(azp="console", scope="admin")).status == 200
    assert_403(v12.get("/console", token=token(client_id="mobile", scope="admin")), "client_not_allowed")
    assert_403(v12.get("/console", token=token(client_id="mobile", azp="console", scope="admin")), "client_not_allowed")
    # The right client without the scope: the scope is what is missing.
    assert_403(v12.get("/console", token=token(client_id="console", scope="read")), "insufficient_scope", scope="admin")
    assert v12.envoy.wait_counter("jwtgate.denied.client_not_allowed", 2) == 2


def test_tenants(v12):
    for tid in ("acme", "globex"):
        r = v12.get("/tenant", token=token(iss=TEMPLATE.replace("{tid}", tid), tid=tid))
        assert r.upstream()["headers"]["x-tenant"] == [tid]
    for iss_tid, tid in (("initech", "initech"), ("acme", "globex"), ("acme", None), ("{tid}", "{tid}")):
        t = token(iss=TEMPLATE.replace("{tid}", iss_tid), tid=tid)
        assert_401_invalid(v12.get("/tenant", token=t), "wrong_issuer", token=t)
