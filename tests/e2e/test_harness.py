"""Checks of the harness itself; none of these needs the jwtgate wasm."""

from __future__ import annotations

import json

import pytest

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from envoy import request
from helpers import parallel
from hosts import ON_NGX
from servers import JWKS_PATH
from tokens import b64url_decode, jwks, mint, split, tamper_signature


def test_tokens_verify_with_their_jwk(keys):
    for key in (keys.corp_es, keys.corp_rs):
        tok = mint(key, iss="https://x/", aud="a", typ="at+jwt", roles=["a", "b"])
        header, payload, sig = split(tok)
        assert header == {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
        assert payload["iss"] == "https://x/" and payload["aud"] == "a" and payload["roles"] == ["a", "b"]
        assert "=" not in tok and "+" not in tok and "/" not in tok
        signing_input = tok.rsplit(".", 1)[0].encode()
        jwk = key.jwk()
        if key.alg == "ES256":
            assert len(sig) == 64
            x = int.from_bytes(b64url_decode(jwk["x"]), "big")
            y = int.from_bytes(b64url_decode(jwk["y"]), "big")
            pub = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            pub.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            assert jwk["kty"] == "RSA" and len(b64url_decode(jwk["n"])) == 256
            key.private.public_key().verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        bad = tamper_signature(tok)
        assert bad != tok and len(split(bad)[2]) == len(sig)


def test_jwks_server_modes(jwks_server, keys):
    doc = jwks(keys.corp_es)
    jwks_server.set_jwks(doc)
    r = request(jwks_server.port, JWKS_PATH)
    assert r.status == 200 and r.json() == doc
    jwks_server.set_jwks(jwks(keys.corp_rs), path="/other")
    assert request(jwks_server.port, "/other").json()["keys"][0]["kty"] == "RSA"
    jwks_server.set_mode("500")
    assert request(jwks_server.port, JWKS_PATH).status == 500
    jwks_server.set_mode("garbage")
    r = request(jwks_server.port, JWKS_PATH)
    assert r.status == 200
    try:
        json.loads(r.body)
        raise AssertionError("garbage mode served JSON")
    except ValueError:
        pass
    jwks_server.set_mode("huge")
    r = request(jwks_server.port, JWKS_PATH)
    assert r.status == 200 and len(r.body) > 1024 * 1024 and r.json()["keys"] == doc["keys"]
    assert jwks_server.count(JWKS_PATH) == 4 and jwks_server.count("/other") == 1
    assert jwks_server.count() == 5
    jwks_server.reset_counts()
    assert jwks_server.count() == 0


def test_jwks_server_delay_and_count_wait(jwks_server):
    jwks_server.set_delay(0.5)
    results = parallel(3, lambda i: request(jwks_server.port, JWKS_PATH))
    assert all(r.status == 200 and r.elapsed >= 0.45 for r in results), results
    assert jwks_server.wait_for_count(3, JWKS_PATH, timeout=1)
    assert not jwks_server.wait_for_count(4, timeout=0.2)


@pytest.mark.skipif(ON_NGX, reason="Envoy's behaviour (two Authorization headers merged, /stats); "
                    "nginx has test_ngx_without_filter_proxies_to_echo")
def test_envoy_without_filter_proxies_to_echo(envoy_factory, jwks_server):
    env = envoy_factory(None, idp=jwks_server)
    r = env.get("/a/b?x=1&y=2", headers=[("Authorization", "Bearer a"), ("Authorization", "Bearer b"),
                                         ("Cookie", "a=1; b=2"), ("X-Custom", "v")])
    up = r.upstream()
    assert up["method"] == "GET" and up["path"] == "/a/b?x=1&y=2"
    # docs/hosts.md: Envoy merges two Authorization headers into one value.
    assert up["headers"]["authorization"] == ["Bearer a,Bearer b"]
    assert up["headers"]["x-custom"] == ["v"]
    stats = env.stats()
    assert any(k.startswith("cluster.upstream.") for k in stats)


@pytest.mark.skipif(not ON_NGX, reason="nginx + ngx_wasm_module only (JWTGATE_HOST=ngx)")
def test_ngx_without_filter_proxies_to_echo(envoy_factory, jwks_server):
    env = envoy_factory(None, idp=jwks_server)
    r = env.get("/a/b?x=1&y=2", headers=[("Authorization", "Bearer a"), ("Cookie", "a=1; b=2"), ("X-Custom", "v")])
    up = r.upstream()
    assert up["method"] == "GET" and up["path"] == "/a/b?x=1&y=2"
    assert up["headers"]["authorization"] == ["Bearer a"]
    assert up["headers"]["cookie"] == ["a=1; b=2"] and up["headers"]["x-custom"] == ["v"]
    # docs/hosts.md: nginx answers 400 to two Authorization headers before any filter runs
    r = env.get("/", headers=[("Authorization", "Bearer a"), ("Authorization", "Bearer b")])
    assert r.status == 400, str(r)
