"""OIDC discovery and JWKS over https on nginx + ngx_wasm_module (issue 24, item 7).

There a callout is TLS when the filter sends `:scheme: https` (an `https://` issuer or
`jwks_uri`), the server name is the URI's host, and certificate checks are nginx's `wasm {}`
settings, off by default. On Envoy, TLS to the IdP is the cluster's `transport_socket`: nothing
of the filter's to test.
"""

from __future__ import annotations

import pytest

from helpers import Gateway, assert_503_unavailable
from hosts import ON_NGX
from servers import TlsJwksServer, self_signed_cert
from tokens import EcKey, jwks, mint

pytestmark = pytest.mark.skipif(not ON_NGX, reason="nginx's callout TLS (wasm{} tls_* settings); "
                                "Envoy takes TLS from the cluster's transport_socket")

DISCOVERY = "/tenant/.well-known/openid-configuration"
KEYS = "/tenant/keys"


@pytest.fixture
def tls_idp(tmp_path):
    cert, key = self_signed_cert(tmp_path, "idp")
    server = TlsJwksServer(cert, key)
    server.cert = cert
    yield server
    server.close()


@pytest.mark.parametrize("verify", ["off", "on", "on-untrusted"])
def test_discovery_and_jwks_over_https(envoy_factory, tls_idp, tmp_path, verify):
    """The issuer is https: discovery and the discovered JWKS are fetched over TLS; with
    `tls_verify_cert on` only a certificate under `tls_trusted_certificate` is accepted."""
    # A host name, not 127.0.0.1: ngx_wasm_module takes the TLS server name (SNI) from the
    # callout's `:authority` and refuses an IP literal there ("could not derive tls sni").
    # The callout itself still goes to the cluster, 127.0.0.1:port.
    base = f"https://localhost:{tls_idp.port}"
    issuer = f"{base}/tenant"
    key = EcKey("tls-es")
    tls_idp.set_jwks({"issuer": issuer, "jwks_uri": f"{base}{KEYS}"}, path=DISCOVERY)
    tls_idp.set_jwks(jwks(key), path=KEYS)
    directives: tuple[str, ...] = ()
    if verify != "off":
        # "on-untrusted": verification on, but the trusted file holds another certificate
        trusted = tls_idp.cert if verify == "on" else self_signed_cert(tmp_path, "other")[0]
        directives = ("tls_verify_cert on;", "tls_verify_host on;", f"tls_trusted_certificate {trusted};")
    cfg = {"providers": [{
        "name": "oidc",
        "issuer": issuer,
        "audiences": ["api"],
        "discovery": True,
        "remote_jwks": {"cluster": "idp", "timeout_ms": 2000},
        "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}],
    }]}
    env = envoy_factory(cfg, idp=tls_idp, wasm_directives=directives)
    gw = Gateway(env)
    r = gw.get("/x", token=mint(key, iss=issuer, aud="api", sub="over-tls"))
    if verify == "on-untrusted":
        assert_503_unavailable(r)
        assert tls_idp.count() == 0, f"a callout got past an untrusted certificate: {dict(tls_idp.counts)}"
        assert "tls certificate verify error" in env.log_text(), env.tail(10)
        return
    assert r.status == 200, r
    assert r.upstream()["headers"]["x-user-id"] == ["over-tls"]
    assert tls_idp.count(DISCOVERY) >= 1 and tls_idp.count(KEYS) >= 1, dict(tls_idp.counts)
