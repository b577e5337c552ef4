"""DPoP (RFC 9449) and certificate-bound tokens (RFC 8705) in real Envoy, and in nginx +
ngx_wasm_module (JWTGATE_HOST=ngx).

Proofs come from a real DPoP client library (npm `dpop`, tests/e2e/dpop_client.py); the broken
ones a test needs are that library's proofs re-signed (a private `d` in the jwk, HS256, a key
other than the jwk's). A DPoP-bound token comes from the real OpenID provider (oidc-provider,
which binds a token to the key of the proof its token request carries), or is minted here with
`cnf.jkt` of the client's key. mTLS runs on a TLS listener with a CA and client certificates
generated per test session (Envoy's DownstreamTlsContext; on nginx `listen ... ssl` with
`ssl_verify_client`, the filter reading `$ssl_client_raw_cert`).

Where nginx differs: its `:authority` is server_name:port (the filter takes the client's
`Host`), its `:path` is decoded and normalized (the filter takes `$request_uri`, the request
line as sent), a local reply keeps one value per header name (the filter joins the two
challenges into one `WWW-Authenticate`), the `DPoP` header reaches the upstream only through
`proxy_set_header DPoP $jwtgate_dpop` (the harness declares it; a test shows what happens
without), and no nginx computes the SHA-256 an XFCC header needs (the XFCC test puts Envoy in
front of nginx as the TLS terminator).
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
from envoy import Envoy, Response
from helpers import Gateway, HOST, assert_401_invalid, parallel, summarize
from hosts import ON_NGX
from oidc_idp import CLIENTS, RESOURCE, TEST_UA, KeyPair, OidcProvider
from tokens import EcKey, b64url, jwks, mint, split

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


def challenges(*values: str) -> list[str]:
    """The `WWW-Authenticate` values a reply with these challenges carries: one each on Envoy;
    on nginx one value, joined (a local reply there keeps one value per name)."""
    return [", ".join(values)] if ON_NGX and values else list(values)


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
    assert r.status == 401 and challenge(r) == challenges(f'Bearer realm="{HOST}"',
                                                          f'DPoP realm="{HOST}", algs="ES256 RS256"'), r


def test_required_refuses_bearer_tokens(envoy_factory, client, issuer_key):
    env = envoy_factory(config(issuer_key, {"required": True, "algorithms": ["ES256"]}))
    gw = Gateway(env)
    plain = mint(issuer_key, iss=ISS)
    r = gw.get("/a", token=plain)
    assert r.status == 401 and r.json()["reason"] == "dpop_required", r
    assert challenge(r) == challenges(f'Bearer realm="{HOST}", error="invalid_token", error_description="dpop_required"',
                                      f'DPoP realm="{HOST}", algs="ES256"'), r
    key = client.key("ES256")
    token = bound(issuer_key, key.jkt)
    assert dpop_get(gw, "/a", token, [client.proof(key, "GET", f"{BASE}/a", token)]).status == 200


# ------------------------------------------------------------------ replays across workers


# Which worker logged a line: Envoy's thread id (`[time][thread][level]…`), nginx's worker pid
# (`date time [level] pid#tid: …`).
WORKER = re.compile(r"^\S+ \S+ \[\w+\] (\d+)#") if ON_NGX else re.compile(r"^\[[^\]]+\]\[(\d+)\]")


def test_replays_fail_on_every_worker(envoy_factory, client, issuer_key):
    env = envoy_factory(config(issuer_key, {}), concurrency=2)
    gw = Gateway(env)
    key = client.key("ES256")
    token = bound(issuer_key, key.jkt)
    proof = client.proof(key, "GET", f"{BASE}/a", token)
    assert dpop_get(gw, "/a", token, [proof]).status == 200

    def refusing_threads() -> list[str]:
        return [m.group(1) for line in env.wasm_log_lines() if "reason=dpop_replayed" in line
                for m in [WORKER.match(line)] if m]

    # Each replay on its own connection, 20 at a time: the kernel spreads concurrent
    # connections over both workers (sequential ones may all land on one nginx worker). Send
    # bursts until both workers have refused one, every one of them refused.
    sent = 0
    for _ in range(10):
        replays = parallel(20, lambda i: dpop_get(gw, "/a", token, [proof]))
        assert summarize(replays) == {"401 dpop_replayed": 20}, summarize(replays)
        sent += 20
        deadline = time.monotonic() + 15  # Envoy flushes its log file in its own time
        while len(refusing_threads()) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        if len(set(refusing_threads())) >= 2:
            break
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
        self.selfsigned = self._leaf("selfsigned", own_issuer=True)  # from no CA of the listener

    def _write(self, name: str, data: bytes) -> Path:
        p = self.dir / name
        p.write_bytes(data)
        return p

    def _leaf(self, cn: str, server: bool = False, own_issuer: bool = False) -> dict:
        import ipaddress
        now = datetime.datetime.now(datetime.timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder()
             .subject_name(subject)
             .issuer_name(subject if own_issuer else self.ca.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2)))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        cert = b.sign(key if own_issuer else self.ca_key, hashes.SHA256())
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


def tls_get(port: int, pki: Pki, cert: dict | None, token: str, headers=(), path: str = "/a",
            scheme: str = "Bearer") -> Response:
    ctx = ssl.create_default_context(cafile=str(pki.ca_path))
    if cert is not None:
        ctx.load_cert_chain(str(cert["cert"]), str(cert["key"]))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=15)
    try:
        conn.request("GET", path, headers={"Host": HOST, "Authorization": f"{scheme} {token}", **dict(headers)})
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


def test_certificate_bound_tokens_through_envoys_xfcc(envoy_factory, pki, issuer_key, tmp_path):
    # Envoy terminates TLS and sets x-forwarded-client-cert itself (SANITIZE_SET): whatever a
    # client sends in that header is replaced, or removed when it shows no certificate.
    hcm = {"forward_client_cert_details": "SANITIZE_SET", "set_current_client_cert_details": {"uri": True}}
    cfg = mtls_config(issuer_key, {"client_cert_header": "x-forwarded-client-cert"})
    if ON_NGX:
        # nginx has no SHA-256 of the client certificate to put in such a header: the TLS
        # terminator in front is Envoy (without the filter), nginx behind it runs the filter.
        ngx = envoy_factory(cfg)
        env = Envoy(None, upstream_port=ngx.port, idp_port=9, downstream_tls=pki.listener(), hcm_settings=hcm,
                    workdir=tmp_path / "terminator")
        envoy_factory.started.append(env)  # stopped with the others
        env.start()
    else:
        env = envoy_factory(cfg, downstream_tls=pki.listener(), hcm_settings=hcm)
    token = mint(issuer_key, iss=ISS, cnf={"x5t#S256": pki.client1["x5t"]})
    assert tls_get(env.port, pki, pki.client1, token).status == 200
    forged = [("x-forwarded-client-cert",
               "Hash=" + base64.urlsafe_b64decode(pki.client1["x5t"] + "=").hex())]
    for cert in (pki.client2, None):
        assert_401_invalid(tls_get(env.port, pki, cert, token, forged), "cert_mismatch", token=token)


# ------------------------------------------------------------------ an attacker's spellings


# Spellings of a target a client may send: dot segments, escapes of unreserved characters and of
# `.`, doubled slashes, an escaped slash, a query, case. nginx decodes and normalizes the path
# before the filter sees `:path`, so there the filter judges `$request_uri` (as sent).
SPELLINGS = ["/a", "/a/../b", "/b/../a", "/./a", "/%61", "/a/%2e%2e/b", "/a/%2E%2E/b", "/a%2Fb",
             "/a%2fb", "/a/b", "//a", "/a//b", "/A", "/a?x=1", "/a%3Fx", "/a;x", "/c/..%2Fa"]


def test_a_proof_is_good_only_for_the_path_the_upstream_serves(envoy_factory, client, issuer_key):
    """For every spelling and every htu: a request passes only if the upstream is asked for
    exactly the proof's path; a proof for /a opens neither /b nor /a/b, however spelled."""
    env = envoy_factory(config(issuer_key, {}))
    gw = Gateway(env)
    key = client.key("ES256")
    token = bound(issuer_key, key.jkt)
    passed = {}
    for sent in SPELLINGS:
        for htu_path in ("/a", "/b", "/a/b"):
            r = dpop_get(gw, sent, token, [client.proof(key, "GET", f"{BASE}{htu_path}", token)])
            if r.status == 200:
                served = r.upstream()["path"].split("?")[0]
                assert served == htu_path, f"proof for {htu_path} sent as {sent!r} reached {served!r}"
                passed.setdefault(sent, []).append(htu_path)
            else:
                assert r.status in (400, 401), (sent, htu_path, r)
                if r.status == 401:
                    assert r.json()["reason"] == "dpop_proof_invalid", (sent, htu_path, r)
    # What each spelling means (the same on both hosts).
    assert passed == {"/a": ["/a"], "/a/../b": ["/b"], "/b/../a": ["/a"], "/./a": ["/a"], "/%61": ["/a"],
                      "/a/%2e%2e/b": ["/b"], "/a/%2E%2E/b": ["/b"], "/a/b": ["/a/b"], "//a": ["/a"],
                      "/a//b": ["/a/b"], "/a?x=1": ["/a"]}, passed


def test_the_origin_is_the_clients_host_or_the_configured_one(envoy_factory, client, issuer_key):
    # Without external_origin the origin is the scheme and the Host the client sent (nginx:
    # the `host` header, not its own server_name:port in `:authority`).
    key = client.key("ES256")
    token = bound(issuer_key, key.jkt)
    gw = Gateway(envoy_factory(config(issuer_key, {})))

    def send(gw, host, htu):
        proof = client.proof(key, "GET", htu, token)
        return gw.get("/a", headers=[("Host", host), ("Authorization", f"DPoP {token}"), ("DPoP", proof)])

    assert send(gw, "API.test", f"http://{HOST}/a").status == 200, "host compared in lowercase"
    assert send(gw, f"{HOST}:80", f"http://{HOST}/a").status == 200, "default port"
    assert send(gw, f"{HOST}:8080", f"http://{HOST}/a").status == 401
    assert send(gw, "other.test", f"http://{HOST}/a").status == 401
    assert send(gw, f"127.0.0.1:{gw.envoy.port}", f"http://{HOST}/a").status == 401
    # A client may name another host: its proof must then name that host too. Pinning the
    # origin (external_origin) makes the Host header irrelevant.
    assert send(gw, "other.test", "http://other.test/a").status == 200
    pinned = Gateway(envoy_factory(config(issuer_key, {"external_origin": "https://api.example.com"})))
    assert send(pinned, "other.test", "https://api.example.com/a").status == 200
    for host, htu in (("other.test", "http://other.test/a"), ("api.example.com", "http://api.example.com/a"),
                      (HOST, f"http://{HOST}/a")):
        r = send(pinned, host, htu)
        assert r.status == 401 and r.json()["reason"] == "dpop_proof_invalid", (host, htu, r)


# ------------------------------------------------------------------ where a host has no certificate


def test_certificate_bound_tokens_fail_closed_without_tls(envoy_factory, issuer_key):
    # A plain-HTTP listener has no client certificate to report (Envoy: the property is
    # NotFound; nginx: `$ssl_client_raw_cert` is empty): every certificate-bound token fails
    # cert_mismatch, whatever header a client adds; unbound tokens are unaffected.
    env = envoy_factory(mtls_config(issuer_key, {"client_cert_header": None}))
    gw = Gateway(env)
    digest = hashlib.sha256(b"any certificate").digest()
    token = mint(issuer_key, iss=ISS, cnf={"x5t#S256": b64url(digest)})
    forged = [("x-forwarded-client-cert", f"Hash={digest.hex()}"), ("ssl-client-cert", "x")]
    assert_401_invalid(gw.get("/a", token=token, headers=forged), "cert_mismatch", token=token)
    assert gw.get("/a", token=mint(issuer_key, iss=ISS)).status == 200


def test_dpop_over_tls_binds_the_scheme(envoy_factory, pki, client, issuer_key):
    # `:scheme` is https on a TLS listener (nginx: `$scheme`): an http:// proof does not pass.
    env = envoy_factory(config(issuer_key, {}), downstream_tls=pki.listener())
    key = client.key("ES256")
    token = bound(issuer_key, key.jkt)

    def send(htu: str) -> Response:
        return tls_get(env.port, pki, None, token, [("DPoP", client.proof(key, "GET", htu, token))], scheme="DPoP")

    r = send(f"https://{HOST}/a")
    assert r.status == 200 and "dpop" not in r.upstream()["headers"], r
    assert_proof_refused(send(f"http://{HOST}/a"), "dpop_proof_invalid")
    assert_proof_refused(send(f"https://{HOST}:80/a"), "dpop_proof_invalid")
    assert send(f"https://{HOST}:443/a").status == 200


# ------------------------------------------------------------------ nginx's own settings


needs_nginx = pytest.mark.skipif(not ON_NGX, reason="nginx directives (ssl_verify_client, proxy_set_header)")


@needs_nginx
def test_nginx_ssl_verify_client_modes(envoy_factory, pki, issuer_key):
    token = mint(issuer_key, iss=ISS, cnf={"x5t#S256": pki.client1["x5t"]})
    # `on`: nginx itself refuses a connection without a certificate (400, the filter never runs).
    env = envoy_factory(mtls_config(issuer_key, {}), downstream_tls=pki.listener(), verify_client="on")
    assert tls_get(env.port, pki, pki.client1, token).status == 200
    r = tls_get(env.port, pki, None, token)
    assert r.status == 400 and b"No required SSL certificate" in r.body, r
    # `optional`: a certificate of no trusted CA is nginx's 400 too.
    env = envoy_factory(mtls_config(issuer_key, {}), downstream_tls=pki.listener(), verify_client="optional")
    assert tls_get(env.port, pki, pki.selfsigned, token).status == 400
    # `optional_no_ca`: nginx takes any certificate whose key the client holds (the handshake
    # proves it), so the binding still holds: only the certificate the token names passes
    # (RFC 8705 §2.2, self-signed certificates, works so).
    env = envoy_factory(mtls_config(issuer_key, {}), downstream_tls=pki.listener(), verify_client="optional_no_ca")
    assert_401_invalid(tls_get(env.port, pki, pki.selfsigned, token), "cert_mismatch", token=token)
    assert tls_get(env.port, pki, pki.client1, token).status == 200
    own = mint(issuer_key, iss=ISS, cnf={"x5t#S256": pki.selfsigned["x5t"]})
    assert tls_get(env.port, pki, pki.selfsigned, own).status == 200
    assert_401_invalid(tls_get(env.port, pki, pki.client2, own), "cert_mismatch", token=own)


@needs_nginx
def test_nginx_without_the_dpop_variable_blanks_the_proof(envoy_factory, client, issuer_key):
    # An nginx.conf without `proxy_set_header DPoP $jwtgate_dpop;`: the filter cannot remove the
    # header (ngx_wasm_module 0.6 only marks it), so it sets it empty in place: the proof does not
    # reach the upstream, an empty `DPoP` header does. With the variable nothing arrives (the
    # other tests); the token goes either way.
    env = envoy_factory(config(issuer_key, {}), skip_variables=("dpop",))
    gw = Gateway(env)
    key = client.key("ES256")
    token = bound(issuer_key, key.jkt)
    proof = client.proof(key, "GET", f"{BASE}/a", token)
    up = dpop_get(gw, "/a", token, [proof]).upstream()
    assert up["headers"].get("dpop") == [""], up
    assert proof not in json.dumps(up) and token not in json.dumps(up), up
