"""DPoP (RFC 9449) and certificate-bound tokens (RFC 8705) in real Envoy.

Proofs come from a real DPoP client library (npm `dpop`, tests/e2e/dpop_client.py); the broken
ones a test needs are that library's proofs re-signed (a private `d` in the jwk, HS256, a key
other than the jwk's). A DPoP-bound token comes from the real OpenID provider (oidc-provider,
which binds a token to the key of the proof its token request carries), or is minted here with
`cnf.jkt` of the client's key. mTLS runs on a TLS listener with a CA and client certificates
generated per test session.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import json
import re
import ssl
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dpop_client import DpopClient
from envoy import Response
from helpers import Gateway, HOST, assert_401_invalid, parallel, summarize
from hosts import ON_NGX
from oidc_idp import CLIENTS, RESOURCE, TEST_UA, KeyPair, OidcProvider
from tokens import EcKey, b64url, jwks, mint, split

# Envoy only so far: no nginx with ngx_wasm_module was at hand to run these there (the replay
# test reads Envoy's per-thread log, the mTLS tests build an Envoy TLS listener).
pytestmark = pytest.mark.skipif(ON_NGX, reason="DPoP/mTLS e2e not yet run on nginx + ngx_wasm_module")

ISS = "https://corp.example/"
BASE = f"http://{HOST}"


@pytest.fixture(scope="module")
def client():
    c = DpopClient()
    yield c
    c.close()


@pytest.fixture(scope="module")
def issuer_key():
    return EcKey("dpop-issuer")


def config(issuer_key, dpop: dict | None = None, **provider) -> dict:
    p = {"name": "corp", "issuer": ISS, "local_jwks": {"inline": jwks(issuer_key)},
         "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}], **provider}
    if dpop is not None:
        p["dpop"] = dpop
    return {"providers": [p]}


def bound(issuer_key, jkt: str, **claims) -> str:
    return mint(issuer_key, iss=ISS, cnf={"jkt": jkt}, **claims)


def dpop_get(gw: Gateway, path: str, token: str, proofs: list[str], method: str = "GET",
             scheme: str = "DPoP") -> Response:
    headers = [("Authorization", f"{scheme} {token}")] + [("DPoP", p) for p in proofs]
    return gw.get(path, headers=headers, method=method)


def challenge(resp: Response) -> list[str]:
    return resp.header_all("www-authenticate")


def assert_proof_refused(resp: Response, reason: str, algs: str = "ES256 RS256") -> None:
    assert resp.status == 401, f"expected 401 {reason}, got {resp}"
    assert resp.json() == {"error": "invalid_dpop_proof", "reason": reason}, resp
    assert challenge(resp) == [
        f'DPoP realm="{HOST}", error="invalid_dpop_proof", error_description="{reason}", algs="{algs}"'
    ], challenge(resp)


# ------------------------------------------------------------------ a real IdP, a real client


@pytest.fixture
def idp(request, tmp_path_factory):
    provider = OidcProvider(tmp_path_factory.mktemp("oidc"))
    provider.start(KeyPair("dpop"))
    yield provider
    provider.stop()


def test_token_of_a_real_provider_with_proofs_of_a_real_client(envoy_factory, idp, client, echo):
    key = client.key("ES256")
    endpoint = idp.discovery()["token_endpoint"]
    client_id, secret = CLIENTS["ES256"]
    status, body = client.token(key, endpoint, client_id, secret,
                                {"grant_type": "client_credentials", "resource": RESOURCE, "scope": "orders:read"},
                                TEST_UA)
    assert status == 200 and body["token_type"] == "DPoP", body
    token = body["access_token"]
    assert split(token)[1]["cnf"] == {"jkt": key.jkt}, "the provider bound the token to the client's key"

    cfg = {"providers": [{"name": "oidc", "issuer": idp.issuer, "discovery": True,
                          "remote_jwks": {"cluster": "idp"}, "audiences": [RESOURCE],
                          "token_types": ["at+jwt"], "dpop": {},
                          "claim_to_headers": [{"claim": "client_id", "header": "x-client-id"}]}]}
    env = envoy_factory(cfg, idp=idp, concurrency=2)
    gw = Gateway(env)
    proof = client.proof(key, "GET", f"{BASE}/orders", token)
    r = dpop_get(gw, "/orders", token, [proof])
    up = r.upstream()
    assert up["headers"].get("x-client-id") == [client_id], up
    assert "authorization" not in up["headers"] and "dpop" not in up["headers"], "forward: false keeps neither"
    # The same proof again: a replay.
    assert_proof_refused(dpop_get(gw, "/orders", token, [proof]), "dpop_replayed")
    # A fresh proof passes (the token is cached by now: its proof is still checked).
    assert dpop_get(gw, "/orders", token, [client.proof(key, "GET", f"{BASE}/orders", token)]).status == 200
    assert_proof_refused(dpop_get(gw, "/orders", token, []), "dpop_proof_missing")
    # The bound token as a Bearer token.
    assert_401_invalid(gw.get("/orders", token=token), "token_bound", token=token)


# ------------------------------------------------------------------ each check in Envoy


def test_each_check_in_envoy(envoy_factory, client, issuer_key):
    env = envoy_factory(config(issuer_key, {"max_age_s": 30}))
    gw = Gateway(env)
    key = client.key("ES256")
    token = bound(issuer_key, key.jkt)
    url = f"{BASE}/a"

    def proof(**kw):
        return client.proof(key, kw.pop("htm", "GET"), kw.pop("htu", url), kw.pop("token", token), **kw)

    assert dpop_get(gw, "/a", token, [proof()]).status == 200
    # htu with the default port, and with a query: the same URI.
    assert dpop_get(gw, "/a", token, [proof(htu=f"http://{HOST}:80/a")]).status == 200
    assert dpop_get(gw, "/a?x=1", token, [proof(htu=f"{BASE}/a?y=2")]).status == 200
    assert dpop_get(gw, "/a?x=1", token, [proof()]).status == 200
    # ... another port, another path: not.
    assert_proof_refused(dpop_get(gw, "/a", token, [proof(htu=f"http://{HOST}:8080/a")]), "dpop_proof_invalid")
    # A proof for /a sent to /a/../b.
    assert_proof_refused(dpop_get(gw, "/a/../b", token, [proof()]), "dpop_proof_invalid")
    assert dpop_get(gw, "/b/../a", token, [proof()]).status == 200
    # Method.
    assert_proof_refused(dpop_get(gw, "/a", token, [proof(htm="POST")]), "dpop_proof_invalid")
    # Older than max_age_s (30) + clock_skew_s (60); and just inside.
    assert_proof_refused(dpop_get(gw, "/a", token, [proof(age_s=100)]), "dpop_proof_invalid")
    assert dpop_get(gw, "/a", token, [proof(age_s=80)]).status == 200
    # The jwk with its private d; HS256; signed by another key than its jwk.
    for variant in ("private_d", "hs256", "other_key"):
        assert_proof_refused(dpop_get(gw, "/a", token, [proof(variant=variant)]), "dpop_proof_invalid")
    # ath of another token.
    other = bound(issuer_key, key.jkt)
    assert_proof_refused(dpop_get(gw, "/a", token, [proof(token=other)]), "dpop_proof_invalid")
    # The token bound to another key than the proof's.
    stranger = client.key("ES256")
    t2 = bound(issuer_key, stranger.jkt)
    assert_proof_refused(dpop_get(gw, "/a", t2, [proof(token=t2)]), "dpop_key_mismatch")
    # DPoP header missing, repeated.
    assert_proof_refused(dpop_get(gw, "/a", token, []), "dpop_proof_missing")
    assert_proof_refused(dpop_get(gw, "/a", token, [proof(), proof()]), "dpop_proof_invalid")
    # RSA client keys, and the scheme word in any case.
    rk = client.key("RS256")
    rt = bound(issuer_key, rk.jkt)
    assert dpop_get(gw, "/a", rt, [client.proof(rk, "GET", url, rt)], scheme="dpop").status == 200
    # An expired token under the DPoP scheme: its own failure, in the DPoP scheme.
    expired = bound(issuer_key, key.jkt, exp=1000, iat=900)
    r = dpop_get(gw, "/a", expired, [proof(token=expired)])
    assert r.status == 401 and challenge(r) == [
        f'DPoP realm="{HOST}", error="invalid_token", error_description="token_expired", algs="ES256 RS256"'], r
    # No token: both challenges.
    r = gw.get("/a")
    assert r.status == 401 and challenge(r) == [f'Bearer realm="{HOST}"', f'DPoP realm="{HOST}", algs="ES256 RS256"'], r


def test_required_refuses_bearer_tokens(envoy_factory, client, issuer_key):
    env = envoy_factory(config(issuer_key, {"required": True, "algorithms": ["ES256"]}))
    gw = Gateway(env)
    plain = mint(issuer_key, iss=ISS)
    r = gw.get("/a", token=plain)
    assert r.status == 401 and r.json()["reason"] == "dpop_required", r
    assert challenge(r) == [f'Bearer realm="{HOST}", error="invalid_token", error_description="dpop_required"',
                            f'DPoP realm="{HOST}", algs="ES256"'], r
    key = client.key("ES256")
    token = bound(issuer_key, key.jkt)
    assert dpop_get(gw, "/a", token, [client.proof(key, "GET", f"{BASE}/a", token)]).status == 200


# ------------------------------------------------------------------ replays across workers


THREAD = re.compile(r"^\[[^\]]+\]\[(\d+)\]")


def test_replays_fail_on_every_worker(envoy_factory, client, issuer_key):
    env = envoy_factory(config(issuer_key, {}), concurrency=2)
    gw = Gateway(env)
    key = client.key("ES256")
    token = bound(issuer_key, key.jkt)
    proof = client.proof(key, "GET", f"{BASE}/a", token)
    assert dpop_get(gw, "/a", token, [proof]).status == 200
    # Each request on its own connection: the kernel spreads them over both workers.
    replays = [dpop_get(gw, "/a", token, [proof]) for _ in range(40)]
    assert summarize(replays) == {"401 dpop_replayed": 40}, summarize(replays)

    def refusing_threads() -> list[str]:
        return [m.group(1) for line in env.wasm_log_lines() if "reason=dpop_replayed" in line
                for m in [THREAD.match(line)] if m]

    deadline = time.monotonic() + 15  # Envoy flushes its log file in its own time
    while len(refusing_threads()) < 40 and time.monotonic() < deadline:
        time.sleep(0.2)
    threads = set(refusing_threads())
    assert len(threads) == 2, f"replays refused on threads {threads}: both workers must refuse"

    # The same fresh proof at once from many clients: exactly one passes.
    for _ in range(3):
        proof = client.proof(key, "GET", f"{BASE}/a", token)
        results = parallel(16, lambda i: dpop_get(gw, "/a", token, [proof]))
        assert summarize(results) == {"200": 1, "401 dpop_replayed": 15}, summarize(results)


# ------------------------------------------------------------------ certificate-bound tokens


class Pki:
    """A CA, a server certificate for 127.0.0.1 and two client certificates, as PEM files."""

    def __init__(self, d: Path):
        self.dir = d
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwtgate test CA")])
        self.ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(self.ca_key, hashes.SHA256()))
        self.ca_path = self._write("ca.pem", self.ca.public_bytes(serialization.Encoding.PEM))
        self.server = self._leaf("server", server=True)
        self.client1 = self._leaf("client1")
        self.client2 = self._leaf("client2")

    def _write(self, name: str, data: bytes) -> Path:
        p = self.dir / name
        p.write_bytes(data)
        return p

    def _leaf(self, cn: str, server: bool = False) -> dict:
        import ipaddress
        now = datetime.datetime.now(datetime.timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(self.ca.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2)))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        cert = b.sign(self.ca_key, hashes.SHA256())
        der = cert.public_bytes(serialization.Encoding.DER)
        return {
            "cert": self._write(f"{cn}.pem", cert.public_bytes(serialization.Encoding.PEM)),
            "key": self._write(f"{cn}.key", key.private_bytes(serialization.Encoding.PEM,
                                                               serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption())),
            "x5t": b64url(hashlib.sha256(der).digest()),
        }

    def listener(self) -> dict:
        return {"cert": self.server["cert"], "key": self.server["key"], "ca": self.ca_path}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


def tls_get(port: int, pki: Pki, cert: dict | None, token: str, headers=(), path: str = "/a") -> Response:
    ctx = ssl.create_default_context(cafile=str(pki.ca_path))
    if cert is not None:
        ctx.load_cert_chain(str(cert["cert"]), str(cert["key"]))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=15)
    try:
        conn.request("GET", path, headers={"Host": HOST, "Authorization": f"Bearer {token}", **dict(headers)})
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def mtls_config(issuer_key, mtls: dict) -> dict:
    cfg = config(issuer_key, None, mtls=mtls)
    # A second provider without `mtls`: its certificate-bound tokens are not Bearer tokens.
    cfg["providers"].append({"name": "plain", "issuer": "https://plain.example/",
                             "local_jwks": {"inline": jwks(issuer_key)}})
    cfg["rules"] = [{"match": {"prefix": "/plain"}, "requires": {"provider": "plain"}},
                    {"match": {"prefix": "/"}, "requires": {"provider": "corp"}}]
    return cfg


def test_certificate_bound_tokens_on_a_tls_listener(envoy_factory, pki, issuer_key):
    env = envoy_factory(mtls_config(issuer_key, {"client_cert_header": None}), downstream_tls=pki.listener(),
                        concurrency=2)
    token = mint(issuer_key, iss=ISS, cnf={"x5t#S256": pki.client1["x5t"]})
    r = tls_get(env.port, pki, pki.client1, token)
    assert r.status == 200 and r.upstream()["headers"].get("x-user-id") == ["user-1"], r
    for cert in (pki.client2, None):
        assert_401_invalid(tls_get(env.port, pki, cert, token), "cert_mismatch", token=token)
    # An unbound token needs no certificate.
    assert tls_get(env.port, pki, None, mint(issuer_key, iss=ISS)).status == 200
    # A forged x-forwarded-client-cert means nothing when the connection is the source.
    forged = [("x-forwarded-client-cert", f"Hash={hashlib.sha256(b'x').hexdigest()}")]
    assert_401_invalid(tls_get(env.port, pki, pki.client2, token, forged), "cert_mismatch", token=token)
    # A provider without `mtls`: token_bound, even with the right certificate.
    plain = mint(issuer_key, iss="https://plain.example/", cnf={"x5t#S256": pki.client1["x5t"]})
    assert_401_invalid(tls_get(env.port, pki, pki.client1, plain, path="/plain"), "token_bound", token=plain)


def test_certificate_bound_tokens_through_envoys_xfcc(envoy_factory, pki, issuer_key):
    # Envoy terminates TLS and sets x-forwarded-client-cert itself (SANITIZE_SET): whatever a
    # client sends in that header is replaced, or removed when it shows no certificate.
    hcm = {"forward_client_cert_details": "SANITIZE_SET", "set_current_client_cert_details": {"uri": True}}
    env = envoy_factory(mtls_config(issuer_key, {"client_cert_header": "x-forwarded-client-cert"}),
                        downstream_tls=pki.listener(), hcm_settings=hcm)
    token = mint(issuer_key, iss=ISS, cnf={"x5t#S256": pki.client1["x5t"]})
    assert tls_get(env.port, pki, pki.client1, token).status == 200
    forged = [("x-forwarded-client-cert",
               "Hash=" + base64.urlsafe_b64decode(pki.client1["x5t"] + "=").hex())]
    for cert in (pki.client2, None):
        assert_401_invalid(tls_get(env.port, pki, cert, token, forged), "cert_mismatch", token=token)
