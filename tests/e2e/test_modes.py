"""Local JWKS with no rules, and report mode: each with its own Envoy."""

from __future__ import annotations

import json
import time

from helpers import CORP_ISS, PARTNER_ISS, Gateway, assert_401_invalid, assert_401_missing, poll_until
from tokens import jwks, mint, tamper_signature


def local_only_config(keys) -> dict:
    return {
        "providers": [
            {
                "name": "as_string",
                "issuer": CORP_ISS,
                "local_jwks": {"inline": json.dumps(jwks(keys.corp_es, keys.corp_rs))},
                "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}],
            },
            {
                "name": "as_object",
                "issuer": PARTNER_ISS,
                "local_jwks": {"inline": jwks(keys.partner_es)},
                "from_headers": [{"name": "x-partner-token"}],
                "claim_to_headers": [{"claim": "sub", "header": "x-partner-sub"}],
            },
        ],
        # no rules: every request requires any provider
        "bypass_cors_preflight": False,
    }


def test_local_jwks_no_rules_any_provider_no_callouts(envoy_factory, jwks_server, keys):
    env = envoy_factory(local_only_config(keys), idp=jwks_server)
    gw = Gateway(env)
    for key in (keys.corp_es, keys.corp_rs):
        up = gw.get("/x", token=mint(key, iss=CORP_ISS, sub=f"s-{key.alg}")).upstream()
        assert up["headers"].get("x-user-id") == [f"s-{key.alg}"]
    up = gw.get("/y", headers=[("x-partner-token", mint(keys.partner_es, iss=PARTNER_ISS, sub="p"))]).upstream()
    assert up["headers"].get("x-partner-sub") == ["p"]
    # no rules: every path needs a token from some provider
    assert_401_missing(gw.get("/healthz"))
    bad = tamper_signature(mint(keys.corp_es, iss=CORP_ISS))
    assert_401_invalid(gw.get("/x", token=bad), "bad_signature", token=bad)
    # a key of the other provider does not validate this provider's issuer
    tok = mint(keys.partner_es, iss=CORP_ISS)
    assert_401_invalid(gw.get("/x", token=tok), "unknown_kid", token=tok)
    # bypass_cors_preflight false: a preflight needs a token too
    pre = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")]
    assert_401_missing(gw.get("/x", method="OPTIONS", headers=pre))
    assert jwks_server.count() == 0, f"local JWKS made callouts: {dict(jwks_server.counts)}"
    assert env.counter("jwtgate.provider.as_string.allowed") >= 2
    assert env.counter("jwtgate.provider.as_object.allowed") >= 1


def report_config(keys) -> dict:
    return {
        "providers": [
            {
                "name": "corp",
                "issuer": CORP_ISS,
                "audiences": ["api"],
                "local_jwks": {"inline": jwks(keys.corp_es)},
                "from_params": ["access_token"],
                "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}],
            }
        ],
        "rules": [
            {"match": {"path": "/admin"}, "requires": {"provider": "corp", "scopes": ["admin"]}},
            {"match": {"prefix": "/"}, "requires": {"provider": "corp"}},
        ],
        "mode": "report",
    }


def test_report_mode_never_rejects(envoy_factory, keys):
    env = envoy_factory(report_config(keys))
    gw = Gateway(env)
    # missing token
    up = gw.get("/x").upstream()
    assert "x-user-id" not in up["headers"]
    # bad token reaches upstream unchanged, no identity headers (spoofed one removed)
    bad = tamper_signature(mint(keys.corp_es, iss=CORP_ISS, aud="api"))
    up = gw.get("/x", headers=[("Authorization", f"Bearer {bad}"), ("x-user-id", "spoofed")]).upstream()
    assert up["headers"].get("authorization") == [f"Bearer {bad}"]
    assert "x-user-id" not in up["headers"]
    bad_q = mint(keys.corp_es, iss=CORP_ISS, aud="other")
    up = gw.get(f"/x?a=1&access_token={bad_q}").upstream()
    assert up["path"] == f"/x?a=1&access_token={bad_q}"
    # scope missing: still passes
    up = gw.get("/admin", token=mint(keys.corp_es, iss=CORP_ISS, aud="api", sub="s1")).upstream()
    assert up["path"] == "/admin"
    # a valid token is annotated
    up = gw.get("/x", token=mint(keys.corp_es, iss=CORP_ISS, aud="api", sub="rep")).upstream()
    assert up["headers"].get("x-user-id") == ["rep"]
    # and the denials are counted
    s = env.jwtgate_stats()
    assert s.get("jwtgate.denied.token_missing", 0) >= 1, s
    assert s.get("jwtgate.denied.bad_signature", 0) >= 1, s


def test_cached_token_still_expires(envoy_factory, keys):
    """A verified token kept in the token cache is rejected once its `exp` passes."""
    cfg = {
        "providers": [
            {
                "name": "corp",
                "issuer": CORP_ISS,
                "local_jwks": {"inline": jwks(keys.corp_es)},
                "clock_skew_s": 0,
                "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}],
            }
        ],
        "token_cache_size": 16,
    }
    env = envoy_factory(cfg)
    gw = Gateway(env)
    now = int(time.time())
    token = mint(keys.corp_es, iss=CORP_ISS, iat=now, exp=now + 2, sub="short")
    assert gw.get("/x", token=token).status == 200
    hits = env.counter("jwtgate.token_cache_hit")
    assert gw.get("/x", token=token).status == 200  # second time: from the cache
    assert env.wait_counter("jwtgate.token_cache_hit", hits + 1) >= hits + 1, "not served from the cache"
    last, history = poll_until(lambda: gw.get("/x", token=token), lambda r: r.status != 200, timeout=8, interval=0.2)
    assert_401_invalid(last, "token_expired", token=token)
    assert time.time() >= now + 2 - 0.5, "rejected before exp"
