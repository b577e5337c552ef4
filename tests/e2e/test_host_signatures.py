"""RS256 through the host's `verify_signature` (Envoy): valid tokens pass, tampered ones fail, and
the counters show which path decided.

On Envoy the filter probes the foreign function once per VM, at its first request (known answers), and then hands it
every RS256 signature: `jwtgate.signature_host` counts the signatures the host decided,
`jwtgate.signature_host_fallback` the calls that fell back to the module's code. nginx has no such
function: there the module verifies (the first-request line says so; plain nginx has no stats endpoint).
"""

from __future__ import annotations

import time

from configs import single_remote_config
from helpers import CORP_ISS, Gateway, assert_401_invalid
from hosts import ON_NGX
from tokens import EcKey, RsaKey, jwks, mint, tamper_signature


def tok(key, **kw):
    kw.setdefault("aud", "api")
    return mint(key, iss=CORP_ISS, **kw)


def test_rs256_verified_by_the_host_and_tampered_refused(envoy_factory, jwks_server):
    rs, es = RsaKey("host-rs"), EcKey("host-es")
    jwks_server.set_jwks(jwks(rs, es))
    env = envoy_factory(single_remote_config(jwks_server), idp=jwks_server)
    gw = Gateway(env)

    # Distinct tokens: each one is a cache miss, so each is a signature check.
    for i in range(5):
        up = gw.get("/r", token=tok(rs, sub=f"rs-{i}")).upstream()
        assert up["headers"]["x-user-id"] == [f"rs-{i}"]
    bad = tamper_signature(tok(rs, sub="tampered"))
    assert_401_invalid(gw.get("/r", token=bad), "bad_signature", token=bad)
    # The same signature over another payload (a forged claim) is refused as well.
    h, _, s = tok(rs, sub="alice").split(".")
    _, p, _ = tok(rs, sub="admin").split(".")
    forged = f"{h}.{p}.{s}"
    assert_401_invalid(gw.get("/r", token=forged), "bad_signature", token=forged)
    # ES256 stays with the module's code and passes as before.
    assert gw.get("/r", token=tok(es, sub="es")).upstream()["headers"]["x-user-id"] == ["es"]

    # Envoy writes its log in batches: wait for the probe's line rather than read once.
    line = "signatures: by the module" if ON_NGX else "signatures: RS256 by the host's verify_signature"
    deadline = time.monotonic() + 10
    while not any(line in l for l in env.wasm_log_lines()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(line in l for l in env.wasm_log_lines()), env.tail(40)
    if ON_NGX:
        # No stats endpoint on plain nginx; no worker may have crashed on the way.
        assert not env.crashed_workers(), env.tail(40)
        return
    stats = env.jwtgate_stats()
    # 5 valid + 2 refused RS256 signatures, each decided by the host; the ES256 one is not.
    assert stats.get("jwtgate.signature_host", 0) == 7, stats
    assert stats.get("jwtgate.signature_host_fallback", 0) == 0, stats
