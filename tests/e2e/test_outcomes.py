"""Outcome rows, headers, token sources and rules, against one shared Envoy."""

from __future__ import annotations

import json
import sys
import time

import pytest

from configs import CORP_PAYLOAD_HEADER, IDENTITY_HEADERS, shared_config
from envoy import path_query
from hosts import ON_NGX
from helpers import (
    CORP_ISS,
    ESONLY_ISS,
    PARTNER_ISS,
    Gateway,
    assert_401_invalid,
    assert_401_missing,
    assert_403,
)
from servers import JwksServer
from tokens import b64url, b64url_decode, mint, sign_raw, split, tamper_signature


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def shared_jwks():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def shared_envoy(module_envoy_factory, shared_jwks, keys):
    return module_envoy_factory(shared_config(shared_jwks, keys), idp=shared_jwks)


@pytest.fixture
def gw(request, shared_envoy):
    yield Gateway(shared_envoy)
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        sys.stderr.write(f"\n----- shared envoy log -----\n{shared_envoy.tail(40)}\n")


def corp(keys, key=None, **kw):
    kw.setdefault("aud", "api")
    kw.setdefault("typ", "at+jwt")
    return mint(key or keys.corp_es, iss=CORP_ISS, **kw)


def esonly(keys, key=None, **kw):
    kw.setdefault("aud", "api")
    return mint(key or keys.es_only_es, iss=ESONLY_ISS, **kw)


def partner(keys, **kw):
    return mint(keys.partner_es, iss=PARTNER_ISS, **kw)


def hdrs(up: dict, name: str) -> list[str]:
    return up["headers"].get(name, [])


# ------------------------------------------------------------------ outcome rows


def test_missing_token_is_401_with_realm(gw):
    assert_401_missing(gw.get("/orders"))


def test_missing_token_realm_is_the_authority(gw):
    r = gw.get("/orders", headers=[("Host", "other.example:8443")])
    assert_401_missing(r, realm="other.example:8443")


INVALID_CASES = {
    "bad_signature_es256": ("bad_signature", lambda k: tamper_signature(corp(k))),
    "bad_signature_rs256": ("bad_signature", lambda k: tamper_signature(corp(k, k.corp_rs))),
    "signed_by_other_key_same_kid": ("bad_signature", lambda k: corp(k, k.stranger_es, kid=k.corp_es.kid)),
    "expired": ("token_expired", lambda k: corp(k, iat=int(time.time()) - 7000, exp=int(time.time()) - 3600)),
    "nbf_in_future": ("token_not_yet_valid", lambda k: corp(k, nbf=int(time.time()) + 3600)),
    "exp_missing": ("exp_missing", lambda k: corp(k, exp=None)),
    "lifetime_too_long": ("lifetime_too_long", lambda k: corp(k, ttl=4 * 3600)),
    "wrong_issuer": ("wrong_issuer", lambda k: mint(k.corp_es, iss="https://evil.example/", aud="api", typ="at+jwt")),
    "wrong_audience": ("wrong_audience", lambda k: corp(k, aud="other-api")),
    "wrong_audience_array": ("wrong_audience", lambda k: corp(k, aud=["x", "y"])),
    "wrong_type": ("wrong_type", lambda k: corp(k, typ="JWT")),
    "type_missing": ("wrong_type", lambda k: corp(k, typ=None)),
    "unknown_kid": ("unknown_kid", lambda k: corp(k, k.stranger_es)),
    "kid_of_ec_key_with_rs256": ("unknown_kid", lambda k: corp(k, k.stranger_rs, kid=k.corp_es.kid)),
    "alg_hs256": ("alg_not_allowed", lambda k: sign_raw(k.corp_es, {"alg": "HS256", "typ": "at+jwt", "kid": k.corp_es.kid},
                                                         {"iss": CORP_ISS, "aud": "api", "exp": int(time.time()) + 60})),
    "alg_none": ("alg_not_allowed", lambda k: sign_raw(k.corp_es, {"alg": "none", "typ": "at+jwt", "kid": k.corp_es.kid},
                                                        {"iss": CORP_ISS, "aud": "api", "exp": int(time.time()) + 60})),
    "malformed_garbage": ("token_malformed", lambda k: "not-a-jwt"),
    "malformed_two_parts": ("token_malformed", lambda k: ".".join(corp(k).split(".")[:2])),
    "malformed_bad_base64": ("token_malformed", lambda k: "e30.%%%.e30"),
    "malformed_header_not_json": ("token_malformed", lambda k: b64url(b"{nope") + "." + corp(k).split(".", 1)[1]),
    "too_large": ("token_too_large", lambda k: corp(k, pad="x" * 5000)),
    "too_large_garbage": ("token_too_large", lambda k: "x" * 5000),
    "rsa_key_under_2048_bits": ("unknown_kid", lambda k: corp(k, k.weak_rs)),
    "jwk_use_enc": ("unknown_kid", lambda k: corp(k, k.enc_es)),
    "jwk_key_ops_without_verify": ("unknown_kid", lambda k: corp(k, k.ops_es)),
    "es256_header_on_rsa_kid": ("unknown_kid", lambda k: corp(k, k.stranger_es, kid=k.corp_rs.kid)),
    "aud_missing": ("wrong_audience", lambda k: corp(k, aud=None)),
    "iss_missing": ("wrong_issuer", lambda k: mint(k.corp_es, iss=None, aud="api", typ="at+jwt")),
    "payload_is_array": ("token_malformed", lambda k: sign_raw(k.corp_es, {"alg": "ES256", "typ": "at+jwt", "kid": k.corp_es.kid}, b"[1,2]")),
    "payload_not_json": ("token_malformed", lambda k: sign_raw(k.corp_es, {"alg": "ES256", "typ": "at+jwt", "kid": k.corp_es.kid}, b"hello")),
    "expired_beyond_skew": ("token_expired", lambda k: corp(k, iat=int(time.time()) - 600, exp=int(time.time()) - 90)),
}


@pytest.mark.parametrize("case", list(INVALID_CASES))
def test_invalid_token_is_401(gw, keys, case):
    reason, make = INVALID_CASES[case]
    token = make(keys)
    assert_401_invalid(gw.get("/orders", token=token), reason, token=token)


def test_es256_signature_must_be_64_raw_bytes(gw, keys):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    good = corp(keys)
    signing_input = good.rsplit(".", 1)[0].encode()
    der = keys.corp_es.private.sign(signing_input, ec.ECDSA(hashes.SHA256()))  # DER, ~70 bytes
    token = signing_input.decode() + "." + b64url(der)
    # ES256 signatures are exactly r||s, 64 bytes (contract "Keys"): a DER one does not verify.
    assert_401_invalid(gw.get("/orders", token=token), "bad_signature", token=token)


def test_clock_skew_default_60s(gw, keys):
    now = int(time.time())
    assert gw.get("/orders", token=corp(keys, iat=now - 600, exp=now - 20)).status == 200
    assert gw.get("/orders", token=corp(keys, nbf=now + 20)).status == 200
    assert_401_invalid(gw.get("/orders", token=corp(keys, nbf=now + 120)), "token_not_yet_valid")


def test_non_bearer_authorization_is_no_token(gw):
    assert_401_missing(gw.get("/orders", headers=[("Authorization", "Basic dXNlcjpwYXNz")]))


# Each case with its exact verdict: a reason, or 200 with what x-user-id / x-user-roles carry.
NASTY_CLAIMS = {
    "nbf_far_past_overflow": ({"nbf": -8334601228800}, "token_malformed"),
    "exp_far_future": ({"exp": 10**18}, "token_malformed"),
    "exp_float_huge": ({"exp": 1e300}, "token_malformed"),
    "exp_negative_huge": ({"exp": -(10**18)}, "token_malformed"),
    "exp_string": ({"exp": "tomorrow"}, "token_malformed"),
    "iat_overflow": ({"iat": 2**70}, "token_malformed"),
    "aud_number": ({"aud": 5}, "wrong_audience"),
    "sub_object": ({"sub": {"a": 1}}, ('{"a":1}', None)),
    # An element renders as "[1,[2]]": joined with "," it would be ambiguous, so no header.
    "roles_nested_arrays": ({"roles": [[1, [2]], {"x": None}]}, ("user-1", None)),
}


@pytest.mark.parametrize("case", list(NASTY_CLAIMS))
def test_hostile_claims_never_trap_the_vm(gw, keys, case):
    """Validly signed tokens with absurd claim values: a clean answer, never a dead VM (docs/hosts.md, Panics)."""
    claims, expected = NASTY_CLAIMS[case]
    token = corp(keys, **claims)
    r = gw.get("/orders", token=token)
    if isinstance(expected, str):
        assert_401_invalid(r, expected, token=token)
    else:
        up = r.upstream()
        sub, roles = expected
        assert hdrs(up, "x-user-id") == [sub], up["headers"]
        assert hdrs(up, "x-user-roles") == ([] if roles is None else [roles]), up["headers"]
    # the VM still answers correctly afterwards
    up = gw.get("/orders", token=corp(keys, sub="after")).upstream()
    assert hdrs(up, "x-user-id") == ["after"]
    assert_401_missing(gw.get("/orders"))


def test_rs256_token_where_only_es256_allowed(gw, keys):
    token = esonly(keys, keys.es_only_rs)  # kid published in that provider's JWKS, but RS256 not allowed
    assert_401_invalid(gw.get("/es/x", token=token), "alg_not_allowed", token=token)
    ok = esonly(keys)
    assert gw.get("/es/x", token=ok).status == 200


def test_two_authorization_headers_are_malformed(gw, keys):
    a, b = corp(keys), corp(keys)
    r = gw.get("/orders", headers=[("Authorization", f"Bearer {a}"), ("Authorization", f"Bearer {b}")])
    if ON_NGX:
        # nginx refuses a second Authorization header itself (400) before any filter runs
        assert r.status == 400 and r.header("www-authenticate") is None, str(r)
        return
    assert_401_invalid(r, "token_malformed")


def test_missing_scope_is_403_with_scope_param(gw, keys):
    token = corp(keys, scope="read")
    assert_403(gw.get("/admin", token=token), "insufficient_scope", scope="admin", token=token)
    token = corp(keys, scope="read")
    assert_403(gw.get("/scoped/x", token=token), "insufficient_scope", scope="read write", token=token)
    # without any scope claim
    assert_403(gw.get("/admin", token=corp(keys)), "insufficient_scope", scope="admin")


def test_scope_string_and_scp_array_grant(gw, keys):
    assert gw.get("/admin", token=corp(keys, scope="read admin")).status == 200
    assert gw.get("/admin", token=corp(keys, scp=["admin"])).status == 200
    assert gw.get("/scoped/x", token=corp(keys, scope="write read extra")).status == 200
    assert gw.get("/scoped/x", token=corp(keys, scp=["read", "write"])).status == 200
    # Istio's samples send an array `scope`, Entra ID a string `scp`: both forms of both claims.
    assert gw.get("/admin", token=corp(keys, scope=["read", "admin"])).status == 200
    assert gw.get("/admin", token=corp(keys, scp="read admin")).status == 200
    denied = corp(keys, scope=["read", "administrator"])
    assert_403(gw.get("/admin", token=denied), "insufficient_scope", scope="admin", token=denied)


def test_claim_mismatch_is_403_without_scope_param(gw, keys):
    token = corp(keys, org={"name": "acme", "tier": "silver"})
    assert_403(gw.get("/claims", token=token), "claim_mismatch", scope=None, token=token)
    assert_403(gw.get("/claims", token=corp(keys)), "claim_mismatch", scope=None)
    assert gw.get("/claims", token=corp(keys, org={"name": "acme", "tier": "gold"})).status == 200


# ------------------------------------------------------------------ valid tokens, claim headers


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_valid_token_reaches_upstream(gw, keys, alg):
    key = keys.corp_es if alg == "ES256" else keys.corp_rs
    token = corp(keys, key, sub=f"alice-{alg}")
    up = gw.get("/orders/1?x=1", token=token).upstream()
    assert up["path"] == "/orders/1?x=1"
    assert hdrs(up, "x-user-id") == [f"alice-{alg}"]


def test_audience_array_and_case_insensitive_prefix_and_typ(gw, keys):
    up = gw.get("/o", token=corp(keys, aud=["x", "api"])).upstream()
    assert hdrs(up, "x-user-id") == ["user-1"]
    tok = corp(keys, typ="AT+JWT")
    up = gw.get("/o", headers=[("Authorization", f"bearer {tok}")]).upstream()
    assert hdrs(up, "x-user-id") == ["user-1"]


def test_token_without_kid_tries_every_key(gw, keys):
    up = gw.get("/o", token=corp(keys, keys.corp_rs, kid=None, sub="nokid")).upstream()
    assert hdrs(up, "x-user-id") == ["nokid"]


def test_claim_to_headers_types(gw, keys):
    token = corp(keys, sub="bob", roles=["admin", "dev", "ops"], tenant=42, org={"name": "acme", "tier": "gold"})
    spoof = [(h, "spoofed") for h in IDENTITY_HEADERS]
    up = gw.get("/orders", token=token, headers=spoof).upstream()
    assert hdrs(up, "x-user-id") == ["bob"]
    assert hdrs(up, "x-user-roles") == ["admin,dev,ops"]
    assert hdrs(up, "x-tenant") == ["42"]
    assert hdrs(up, "x-org-name") == ["acme"]


def test_forward_payload_header_is_base64url_payload(gw, keys):
    token = corp(keys, sub="carol", roles=["r"])
    _, payload, _ = split(token)
    up = gw.get("/orders", token=token).upstream()
    values = hdrs(up, CORP_PAYLOAD_HEADER)
    assert len(values) == 1, values
    value = values[0]
    assert "+" not in value and "/" not in value, f"not base64url: {value}"
    assert json.loads(b64url_decode(value.rstrip("="))) == payload


def test_spoofed_identity_headers_removed_on_public_route(gw):
    spoof = [(h, "spoofed") for h in IDENTITY_HEADERS]
    up = gw.get("/public/info", headers=spoof).upstream()
    for h in IDENTITY_HEADERS:
        assert h not in up["headers"], f"{h} reached upstream: {up['headers'].get(h)}"


def test_spoofed_identity_headers_removed_when_denied_and_replaced_on_success(gw, keys):
    spoof = [(h.upper(), "spoofed") for h in IDENTITY_HEADERS]
    token = corp(keys, sub="dave", tenant=7)  # no roles, no org claim
    up = gw.get("/orders", token=token, headers=spoof).upstream()
    assert hdrs(up, "x-user-id") == ["dave"]
    assert hdrs(up, "x-tenant") == ["7"]
    for h in ("x-user-roles", "x-org-name", "x-es-sub", "x-partner-sub"):
        assert h not in up["headers"], f"spoofed {h} reached upstream"
    assert hdrs(up, CORP_PAYLOAD_HEADER) and hdrs(up, CORP_PAYLOAD_HEADER) != ["spoofed"]
    # allow_missing_or_failed with a failing token: request passes, but not with the spoofed identity
    up = gw.get("/lenient", token=tamper_signature(token), headers=spoof).upstream()
    for h in IDENTITY_HEADERS:
        assert h not in up["headers"], f"spoofed {h} reached upstream"


# ------------------------------------------------------------------ forward / token sources


def test_forward_false_strips_authorization(gw, keys):
    up = gw.get("/orders", token=corp(keys)).upstream()
    assert "authorization" not in up["headers"]


def test_forward_false_strips_query_param_keeps_others(gw, keys):
    token = corp(keys, sub="q")
    up = gw.get(f"/orders/9?a=1&access_token={token}&b=two").upstream()
    assert hdrs(up, "x-user-id") == ["q"]
    assert token not in up["path"]
    assert up["path"].split("?")[0] == "/orders/9"
    q = path_query(up["path"])
    assert q == {"a": ["1"], "b": ["two"]}, up["path"]


def test_forward_false_strips_only_param_leaves_clean_path(gw, keys):
    token = corp(keys, sub="q2")
    up = gw.get(f"/orders?access_token={token}").upstream()
    assert hdrs(up, "x-user-id") == ["q2"]
    assert up["path"] in ("/orders", "/orders?"), up["path"]


def test_forward_false_strips_cookie_keeps_others(gw, keys):
    token = corp(keys, sub="c")
    up = gw.get("/orders", headers=[("Cookie", f"theme=dark; session={token}; lang=en")]).upstream()
    assert hdrs(up, "x-user-id") == ["c"]
    cookies = "; ".join(hdrs(up, "cookie"))
    assert token not in cookies
    assert "theme=dark" in cookies and "lang=en" in cookies
    assert "session=" not in cookies


def test_forward_true_keeps_token_everywhere(gw, keys):
    t1 = esonly(keys, sub="f1")
    up = gw.get("/es/a", token=t1).upstream()
    assert hdrs(up, "authorization") == [f"Bearer {t1}"] and hdrs(up, "x-es-sub") == ["f1"]
    t2 = esonly(keys, sub="f2")
    up = gw.get(f"/es/a?z=1&tok={t2}").upstream()
    assert up["path"] == f"/es/a?z=1&tok={t2}" and hdrs(up, "x-es-sub") == ["f2"]
    t3 = esonly(keys, sub="f3")
    up = gw.get("/es/a", headers=[("Cookie", f"estok={t3}; x=1")]).upstream()
    assert f"estok={t3}" in "; ".join(hdrs(up, "cookie")) and hdrs(up, "x-es-sub") == ["f3"]


def test_param_and_cookie_sources_validate(gw, keys):
    assert_401_invalid(gw.get(f"/orders?access_token={tamper_signature(corp(keys))}"), "bad_signature")
    assert_401_invalid(gw.get("/orders", headers=[("Cookie", f"session={corp(keys, aud='nope')}")]), "wrong_audience")
    # a parameter/cookie of another name is not a token
    assert_401_missing(gw.get(f"/orders?token={corp(keys)}"))
    assert_401_missing(gw.get("/orders", headers=[("Cookie", f"other={corp(keys)}")]))


# ------------------------------------------------------------------ rules


def test_rule_without_requires_needs_no_token(gw):
    up = gw.get("/public/x?y=1").upstream()
    assert up["path"] == "/public/x?y=1"


def test_exact_path_rule(gw, keys):
    token = corp(keys, scope="read")
    assert_403(gw.get("/admin", token=token), "insufficient_scope", scope="admin")
    # one trailing slash, `;` parameters and other spellings of /admin are /admin (Paths v1.1)
    for path in ("/admin/", "/admin;jsessionid=1", "//admin", "/x/../admin", "/%61dmin", "/admin%3B"):
        assert_403(gw.get(path, token=token), "insufficient_scope", scope="admin")
    # /admin/x is not the exact path /admin: falls through to the catch-all (corp, no scopes)
    assert gw.get("/admin/x", token=corp(keys, scope="read")).status == 200
    assert_401_missing(gw.get("/admin/x"))


def test_any(gw, keys):
    assert hdrs(gw.get("/any", token=corp(keys, sub="c1")).upstream(), "x-user-id") == ["c1"]
    up = gw.get("/any", headers=[("x-partner-token", partner(keys, sub="p1"))]).upstream()
    assert hdrs(up, "x-partner-sub") == ["p1"] and "x-user-id" not in up["headers"]
    assert_401_missing(gw.get("/any"))
    bad = tamper_signature(corp(keys))
    assert_401_invalid(gw.get("/any", token=bad), "bad_signature", token=bad)


def test_all(gw, keys):
    up = gw.get("/all", token=corp(keys, sub="c2"), headers=[("x-partner-token", partner(keys, sub="p2"))]).upstream()
    assert hdrs(up, "x-user-id") == ["c2"] and hdrs(up, "x-partner-sub") == ["p2"]
    assert_401_missing(gw.get("/all", token=corp(keys)))
    assert_401_missing(gw.get("/all", headers=[("x-partner-token", partner(keys))]))
    r = gw.get("/all", token=corp(keys), headers=[("x-partner-token", tamper_signature(partner(keys)))])
    assert_401_invalid(r, "bad_signature")


def test_allow_missing(gw, keys):
    up = gw.get("/optional").upstream()
    assert "x-user-id" not in up["headers"]
    bad = corp(keys, aud="nope")
    assert_401_invalid(gw.get("/optional", token=bad), "wrong_audience", token=bad)
    up = gw.get("/optional", token=corp(keys, sub="opt")).upstream()
    assert hdrs(up, "x-user-id") == ["opt"]


def test_allow_missing_or_failed(gw, keys):
    up = gw.get("/lenient").upstream()
    assert "x-user-id" not in up["headers"]
    bad = tamper_signature(corp(keys, sub="x"))
    up = gw.get("/lenient", token=bad).upstream()
    assert "x-user-id" not in up["headers"]
    assert hdrs(up, "authorization") == [f"Bearer {bad}"], "a failed token must be passed on unchanged"
    up = gw.get("/lenient", token=corp(keys, sub="len")).upstream()
    assert hdrs(up, "x-user-id") == ["len"]


def test_allow_missing_or_failed_failures_are_reported(gw, keys, shared_envoy):
    """Contract v1.1: counted and logged like a report-mode failure, though the request passes."""
    before = shared_envoy.counter("jwtgate.provider.corp.reported")
    bad = tamper_signature(corp(keys, sub="rep"))
    gw.get("/lenient", token=bad).upstream()
    assert shared_envoy.wait_counter("jwtgate.provider.corp.reported", before + 1) == before + 1
    assert shared_envoy.counter("jwtgate.denied.bad_signature") >= 1
    deadline = time.monotonic() + 15  # Envoy flushes its log file in its own time
    line = "report-only reason=bad_signature provider=corp"
    while not any(line in l for l in shared_envoy.wasm_log_lines()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any(line in l for l in shared_envoy.wasm_log_lines()), shared_envoy.tail(10)
    assert bad.split(".")[2] not in shared_envoy.log_text()


def test_cors_preflight_bypass(gw):
    pre = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")]
    up = gw.get("/orders", method="OPTIONS", headers=pre).upstream()
    assert up["method"] == "OPTIONS"
    # Not a preflight: an OPTIONS without Access-Control-Request-Method needs a token
    assert_401_missing(gw.get("/orders", method="OPTIONS", headers=[("Origin", "https://app.example")]))
    # A GET with preflight headers is not a preflight either
    assert_401_missing(gw.get("/orders", headers=pre))


# ------------------------------------------------------------------ metrics


def test_metrics_on_stats(gw, keys, shared_envoy):
    assert gw.get("/orders", token=corp(keys)).status == 200
    assert_401_missing(gw.get("/orders"))
    stats = shared_envoy.stats()
    # Envoy puts proxy_define_metric counters under `wasmcustom.`
    names = [k for k in stats if k.startswith("wasmcustom.jwtgate.")]
    assert names, "no jwtgate metrics on /stats: " + ", ".join(k for k in stats if "jwtgate" in k)
    s = shared_envoy.jwtgate_stats()
    assert s.get("jwtgate.allowed", 0) >= 1, s
    assert s.get("jwtgate.denied.token_missing", 0) >= 1, s
    assert s.get("jwtgate.provider.corp.allowed", 0) >= 1, s
    assert s.get("jwtgate.provider.corp.jwks_fetch_ok", 0) >= 1, s
    assert s.get("jwtgate.token_cache_miss", 0) >= 1, s
    # the same token again is served from the verified-token cache
    token = corp(keys)
    hits = s.get("jwtgate.token_cache_hit", 0)
    assert gw.get("/orders", token=token).status == 200
    assert gw.get("/orders", token=token).status == 200
    assert shared_envoy.counter("jwtgate.token_cache_hit") >= hits + 1
    # a reason counter moves with its denial
    before = s.get("jwtgate.denied.wrong_audience", 0)
    assert_401_invalid(gw.get("/orders", token=corp(keys, aud="nope")), "wrong_audience")
    after = shared_envoy.jwtgate_stats()
    assert after.get("jwtgate.denied.wrong_audience", 0) == before + 1, after
    assert after.get("jwtgate.provider.corp.denied.wrong_audience", 0) >= 1, after


def test_log_lines_never_carry_tokens(gw, keys, shared_envoy):
    token = corp(keys, aud="nope")
    assert gw.get("/orders", token=token).status == 401
    sig = token.split(".")[2]
    assert sig not in shared_envoy.log_text()


# ------------------------------------------------------------------ edges


def _token_of_length(keys, length: int) -> str:
    pad = ""
    while True:
        t = corp(keys, pad=pad, jti="fixed")
        if len(t) >= length:
            break
        pad += "x" * max(1, (length - len(t)) * 3 // 4)
    while len(t) > length:
        pad = pad[:-1]
        t = corp(keys, pad=pad, jti="fixed")
    return t


def test_max_token_size_boundary(gw, keys):
    """max_token_size is 4096: a token of exactly 4096 bytes is parsed, 4097+ is token_too_large."""
    exact = None
    for n in range(4096, 4080, -1):  # base64 granularity: find a length within 16 bytes of the limit
        t = _token_of_length(keys, n)
        if len(t) == n:
            exact = t
            break
    assert exact is not None and len(exact) <= 4096
    r = gw.get("/orders", token=exact)
    assert r.status == 200, f"a {len(exact)}-byte token was rejected: {r}"
    over = _token_of_length(keys, 4110)
    assert len(over) > 4096
    assert_401_invalid(gw.get("/orders", token=over), "token_too_large")


def test_param_and_cookie_names_match_exactly(gw, keys):
    token = corp(keys, sub="exact")
    up = gw.get(f"/orders?xaccess_token=keep&access_token={token}&access_token_x=keep2").upstream()
    assert hdrs(up, "x-user-id") == ["exact"]
    assert path_query(up["path"]) == {"xaccess_token": ["keep"], "access_token_x": ["keep2"]}, up["path"]
    token = corp(keys, sub="exact2")
    up = gw.get("/orders", headers=[("Cookie", f"mysession=keep; session={token}; session_x=keep2")]).upstream()
    assert hdrs(up, "x-user-id") == ["exact2"]
    cookies = "; ".join(hdrs(up, "cookie"))
    assert "mysession=keep" in cookies and "session_x=keep2" in cookies and token not in cookies, cookies


def test_param_first_in_query_is_stripped(gw, keys):
    token = corp(keys, sub="first")
    up = gw.get(f"/orders?access_token={token}&a=1").upstream()
    assert hdrs(up, "x-user-id") == ["first"]
    assert up["path"] == "/orders?a=1", up["path"]


def test_repeated_spoofed_header_all_removed(gw, keys):
    spoof = [("x-user-id", "evil-1"), ("x-user-id", "evil-2"), ("x-jwt-payload", "e30"), ("x-jwt-payload", "e30")]
    up = gw.get("/public/x", headers=spoof).upstream()
    assert "x-user-id" not in up["headers"] and "x-jwt-payload" not in up["headers"]
    up = gw.get("/orders", token=corp(keys, sub="real"), headers=spoof).upstream()
    assert hdrs(up, "x-user-id") == ["real"]
    assert len(hdrs(up, "x-jwt-payload")) == 1


def test_underscore_spellings_of_identity_headers_never_reach_upstream(gw, keys):
    """WSGI, PHP and Rack read a client's `x_user_id` as `X-User-Id`, and Envoy forwards
    underscores by default (nginx drops such headers itself): removed like any other spelling."""
    spoof = [(h.replace("-", "_"), "spoofed") for h in IDENTITY_HEADERS] + [("x_trace_id", "t1")]
    for path, token in (("/public/u", None), ("/orders", corp(keys, sub="erin"))):
        up = gw.get(path, token=token, headers=spoof).upstream()
        for h in IDENTITY_HEADERS:
            assert h.replace("-", "_") not in up["headers"], f"{h} as {h.replace('-', '_')} reached upstream"
        if not ON_NGX:
            assert hdrs(up, "x_trace_id") == ["t1"], "an unrelated underscore header was removed"
    assert hdrs(up, "x-user-id") == ["erin"]


def test_any_passes_when_one_alternative_is_valid(gw, keys):
    bad_corp = tamper_signature(corp(keys))
    up = gw.get("/any", token=bad_corp, headers=[("x-partner-token", partner(keys, sub="p9"))]).upstream()
    assert hdrs(up, "x-partner-sub") == ["p9"] and "x-user-id" not in up["headers"]
    r = gw.get("/any", token=bad_corp, headers=[("x-partner-token", tamper_signature(partner(keys)))])
    assert_401_invalid(r, "bad_signature", token=bad_corp)


@pytest.mark.parametrize("sig", ["zeros64", "rsa_255_bytes", "empty"])
def test_degenerate_signatures_are_rejected(gw, keys, sig):
    if sig == "rsa_255_bytes":
        good = corp(keys, keys.corp_rs)
        token = good.rsplit(".", 1)[0] + "." + b64url(b64url_decode(good.rsplit(".", 1)[1])[:255])
    else:
        good = corp(keys)
        token = good.rsplit(".", 1)[0] + "." + (b64url(bytes(64)) if sig == "zeros64" else "")
    # An empty signature segment is no compact JWS at all; the others are signatures that fail.
    reason = "token_malformed" if sig == "empty" else "bad_signature"
    assert_401_invalid(gw.get("/orders", token=token), reason, token=token)


def test_header_supplied_keys_are_never_trusted(gw, keys, shared_jwks):
    """`jku` and embedded `jwk` headers must not be fetched or used."""
    from tokens import jwks as make_jwks

    evil = keys.stranger_es
    shared_jwks.set_jwks(make_jwks(evil), path="/evil/jwks.json")
    before = shared_jwks.count("/evil/jwks.json")
    t1 = corp(keys, evil, header_extra={"jku": shared_jwks.url("/evil/jwks.json")})
    assert_401_invalid(gw.get("/orders", token=t1), "unknown_kid", token=t1)
    t2 = corp(keys, evil, header_extra={"jwk": evil.jwk()})
    assert_401_invalid(gw.get("/orders", token=t2), "unknown_kid", token=t2)
    t3 = corp(keys, evil, kid=None, header_extra={"jwk": evil.jwk()})
    assert_401_invalid(gw.get("/orders", token=t3), "bad_signature", token=t3)
    assert shared_jwks.count("/evil/jwks.json") == before


@pytest.mark.parametrize("sub", ["a\r\nx-injected: 1", "a\nx-injected: 1", "a\x00b", "Jos\u00e9 \u2603"])
def test_claim_values_cannot_inject_headers(gw, keys, sub):
    up = gw.get("/orders", token=corp(keys, sub=sub)).upstream()
    assert "x-injected" not in up["headers"], up["headers"]
    if any(ord(c) < 0x20 for c in sub):
        # A value with control characters is not set; the request is not failed for it.
        assert "x-user-id" not in up["headers"], up["headers"]
    else:
        assert len(hdrs(up, "x-user-id")) == 1, up["headers"]
        for v in hdrs(up, "x-user-id"):
            assert "\r" not in v and "\n" not in v and "\x00" not in v, repr(v)
    # and the VM is fine afterwards
    assert hdrs(gw.get("/orders", token=corp(keys, sub="ok")).upstream(), "x-user-id") == ["ok"]


def test_query_stripping_keeps_other_params_byte_for_byte(gw, keys):
    token = corp(keys, sub="enc")
    up = gw.get(f"/p/a%2Cb?x=%20y&access_token={token}&z=c%26d&e=").upstream()
    assert hdrs(up, "x-user-id") == ["enc"]
    # nginx sends the path part with its own escaping (`%2C` goes as `,`, with or without the
    # filter); the query, which the filter rewrote, byte for byte on every host
    want = "/p/a,b?x=%20y&z=c%26d&e=" if ON_NGX else "/p/a%2Cb?x=%20y&z=c%26d&e="
    assert up["path"] == want, up["path"]
    # the path part normalized, the query as sent
    up = gw.get(f"/p/./x/../a%7Eb?x=/../%2F&access_token={token}").upstream()
    assert up["path"] == "/p/a~b?x=/../%2F", up["path"]


def test_encoded_slash_in_the_path_is_refused(gw, keys):
    """Paths v1.1: %2F (any case) is refused before any rule, with or without a valid token."""
    token = corp(keys, sub="enc")
    for path in (f"/p/a%2Fb?access_token={token}", "/p/a%2fb", "/public/..%2Fadmin"):
        r = gw.get(path)
        assert r.status == 400, r
        assert r.json() == {"error": "invalid_request", "reason": "path_ambiguous"}, r
        assert r.header("www-authenticate") is None, r


def test_token_in_second_cookie_header(gw, keys):
    """HTTP/1.1 clients may send several Cookie headers; Envoy keeps them apart (a single-value
    lookup sees only the first)."""
    token = corp(keys, sub="cookie2")
    up = gw.get("/orders", headers=[("Cookie", "theme=dark"), ("Cookie", f"session={token}; lang=en")]).upstream()
    assert hdrs(up, "x-user-id") == ["cookie2"]
    cookies = "; ".join(hdrs(up, "cookie"))
    assert token not in cookies and "theme=dark" in cookies and "lang=en" in cookies, cookies
