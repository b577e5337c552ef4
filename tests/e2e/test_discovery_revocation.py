"""OIDC discovery, revocation lists and sender-constrained tokens, in real Envoy."""

from __future__ import annotations

import time

from envoy import request
from helpers import Gateway, assert_401_invalid, assert_503_unavailable, poll_until
from tokens import EcKey, RsaKey, jwks, mint

ISS = "http://idp.test/tenant"
DISCOVERY = "/tenant/.well-known/openid-configuration"
KEYS = "/tenant/keys"


def discovery_doc(issuer: str = ISS, jwks_uri: str = "http://idp.test/tenant/keys") -> dict:
    return {"issuer": issuer, "jwks_uri": jwks_uri, "token_endpoint": "http://idp.test/tenant/token"}


def discovery_config(**provider) -> dict:
    p = {
        "name": "oidc",
        "issuer": ISS,
        "audiences": ["api"],
        "discovery": True,
        "remote_jwks": {"cluster": "idp", "timeout_ms": 1000, "min_refetch_interval_s": 1},
        "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}],
    }
    p.update(provider)
    return {"providers": [p]}


def tok(key, iss=ISS, **kw):
    kw.setdefault("aud", "api")
    return mint(key, iss=iss, **kw)


def test_discovery_finds_the_jwks_and_fetches_each_document_once(envoy_factory, jwks_server):
    es, rs = EcKey("disc-es"), RsaKey("disc-rs")
    jwks_server.set_jwks(discovery_doc(), path=DISCOVERY)
    jwks_server.set_jwks(jwks(es, rs), path=KEYS)
    env = envoy_factory(discovery_config(), idp=jwks_server, concurrency=2)
    gw = Gateway(env)
    for key in (es, rs, es, rs):
        r = gw.get("/x", token=tok(key, sub=key.kid))
        assert r.upstream()["headers"]["x-user-id"] == [key.kid]
    assert jwks_server.count(DISCOVERY) == 1, jwks_server.counts
    assert jwks_server.count(KEYS) == 1, jwks_server.counts
    # The JWKS callout asked for the discovered location on the configured cluster.
    hosts = [h.get("host") for _, path, h in jwks_server.log if path == KEYS]
    assert hosts == ["idp.test"], hosts
    assert env.counter("jwtgate.provider.oidc.discovery_fetch_ok") == 1


def test_discovery_of_another_issuer_is_never_trusted(envoy_factory, jwks_server):
    key = EcKey("disc-evil")
    jwks_server.set_jwks(discovery_doc(issuer="http://idp.test/tenant/", jwks_uri="http://evil.test/keys"),
                         path=DISCOVERY)
    jwks_server.set_jwks(jwks(key), path="/keys")
    jwks_server.set_jwks(jwks(key), path=KEYS)
    env = envoy_factory(discovery_config(remote_jwks={"cluster": "idp", "timeout_ms": 500}), idp=jwks_server)
    gw = Gateway(env)
    assert_503_unavailable(gw.get("/x", token=tok(key)))
    assert jwks_server.count(DISCOVERY) >= 1
    assert jwks_server.count("/keys") == 0 and jwks_server.count(KEYS) == 0, jwks_server.counts
    deadline = time.monotonic() + 15  # Envoy flushes its log file in its own time
    while not any("another issuer" in l for l in env.wasm_log_lines()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any("another issuer" in l for l in env.wasm_log_lines()), env.tail(10)


def test_discovery_jwks_uri_change_is_followed(envoy_factory, jwks_server):
    old, new = EcKey("disc-old"), EcKey("disc-new")
    jwks_server.set_jwks(discovery_doc(), path=DISCOVERY)
    jwks_server.set_jwks(jwks(old), path=KEYS)
    cfg = discovery_config(remote_jwks={"cluster": "idp", "timeout_ms": 1000, "cache_duration_s": 1,
                                        "min_refetch_interval_s": 1})
    env = envoy_factory(cfg, idp=jwks_server)
    gw = Gateway(env)
    assert gw.get("/x", token=tok(old)).status == 200
    jwks_server.set_jwks(discovery_doc(jwks_uri="http://idp.test/tenant/keys-2"), path=DISCOVERY)
    jwks_server.set_jwks(jwks(new), path="/tenant/keys-2")
    r, hist = poll_until(lambda: gw.get("/x", token=tok(new)), lambda r: r.status == 200, timeout=8)
    assert r.status == 200, [x.status for x in hist]
    assert jwks_server.count("/tenant/keys-2") >= 1


def test_fetched_revocation_list_applies_to_cached_tokens_too(envoy_factory, jwks_server):
    key = EcKey("rev-1")
    jwks_server.set_jwks(jwks(key))
    jwks_server.set_jwks(["jti-1"], path="/revoked.json")
    cfg = discovery_config(
        discovery=False,
        issuer="https://corp.example/",
        remote_jwks={"cluster": "idp", "uri": f"http://127.0.0.1:{jwks_server.port}/.well-known/jwks.json"},
        revocation={"uri": "http://idp.test/revoked.json", "cluster": "idp", "cache_duration_s": 1},
    )
    env = envoy_factory(cfg, idp=jwks_server, concurrency=2)
    gw = Gateway(env)
    revoked = tok(key, iss="https://corp.example/", jti="jti-1")
    assert_401_invalid(gw.get("/x", token=revoked), "token_revoked", token=revoked)
    later = tok(key, iss="https://corp.example/", jti="jti-2")
    for _ in range(4):  # verified and cached in both workers
        assert gw.get("/x", token=later).status == 200
    jwks_server.set_jwks({"revoked": ["jti-1", "jti-2"]}, path="/revoked.json")
    r, hist = poll_until(lambda: gw.get("/x", token=later), lambda r: r.status == 401, timeout=8)
    assert_401_invalid(r, "token_revoked", token=later)
    # A failing list endpoint keeps the last list in force.
    jwks_server.set_jwks("not a list", path="/revoked.json")
    before = jwks_server.count("/revoked.json")
    assert jwks_server.wait_for_count(before + 2, "/revoked.json", timeout=10)
    for _ in range(4):
        assert_401_invalid(gw.get("/x", token=later), "token_revoked", token=later)
    assert gw.get("/x", token=tok(key, iss="https://corp.example/", jti="jti-3")).status == 200


def test_inline_revocation_and_token_bound_in_envoy(envoy_factory, jwks_server):
    key = EcKey("inline-rev")
    cfg = {
        "providers": [{
            "name": "corp",
            "issuer": "https://corp.example/",
            "local_jwks": {"inline": jwks(key)},
            "revocation": {"inline": ["jti-x"]},
        }],
    }
    env = envoy_factory(cfg)
    gw = Gateway(env)
    t = tok(key, iss="https://corp.example/", aud=None, jti="jti-x")
    assert_401_invalid(gw.get("/x", token=t), "token_revoked", token=t)
    bound = tok(key, iss="https://corp.example/", aud=None, cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
    assert_401_invalid(gw.get("/x", token=bound), "token_bound", token=bound)
    assert gw.get("/x", token=tok(key, iss="https://corp.example/", aud=None)).status == 200
