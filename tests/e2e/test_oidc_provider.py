"""jwtgate against a real OpenID provider: `oidc-provider` (npm, OpenID certified) on 127.0.0.1.

Tokens come from the provider's token endpoint (client_credentials, RFC 8707 resource indicator,
RFC 9068 JWT access tokens `typ: at+jwt`); the filter finds the keys by OIDC discovery through
the `idp` cluster. The provider runs from tests/e2e/oidc (`make oidc`); each test has its own
provider and Envoy, and every wait is for an event with a deadline.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid

import pytest

from hosts import ON_NGX

from helpers import Gateway, assert_401_invalid, assert_401_missing, assert_403, assert_503_unavailable, poll_until
from oidc_idp import RESOURCE, KeyPair, OidcProvider, jwk_thumbprint
from tokens import EcKey, mint, split

DISCOVERY_PATH = "/.well-known/openid-configuration"
SLACK = 0.75  # s: the root's 100 ms tick, the 100 ms poll, one request on a loaded 2-core machine
CLAIM_HEADERS = [
    {"claim": "sub", "header": "x-user-id"},
    {"claim": "client_id", "header": "x-client-id"},
    {"claim": "scope", "header": "x-scope"},
]


def _failed(request) -> bool:
    """Whether setup or call failed (conftest's hook records rep_<when> on the node)."""
    return any(getattr(getattr(request.node, "rep_" + w, None), "failed", False) for w in ("setup", "call"))


@pytest.fixture
def idp(request, tmp_path_factory):
    """An oidc-provider with fresh ES256 + RS256 keys, stopped at teardown."""
    try:
        provider = OidcProvider(tmp_path_factory.mktemp("oidc"))
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    provider.start(KeyPair("a"))
    yield provider
    provider.stop()
    if _failed(request):
        sys.stderr.write(f"\n----- oidc-provider ({provider.dir}) -----\n{provider.tail(80)}\n")


def discovery_config(issuer: str, **remote) -> dict:
    """Only the issuer, discovery and the cluster locate the keys (no uri)."""
    return {
        "providers": [
            {
                "name": "oidc",
                "issuer": issuer,
                "discovery": True,
                "remote_jwks": {"cluster": "idp", **remote},
                "audiences": [RESOURCE],
                "token_types": ["at+jwt"],
                "claim_to_headers": CLAIM_HEADERS,
            }
        ],
        "rules": [
            {"match": {"prefix": "/orders/write"}, "requires": {"provider": "oidc", "scopes": ["orders:write"]}},
            {"match": {"prefix": "/"}, "requires": {"provider": "oidc"}},
        ],
    }


def like_provider(key, issuer: str, client_id: str = "es-client", scope: str = "orders:read") -> str:
    """A token shaped exactly like the provider's access tokens, signed by a key of the test's."""
    return mint(key, iss=issuer, aud=RESOURCE, typ="at+jwt", sub=client_id, client_id=client_id, scope=scope,
                jti=uuid.uuid4().hex)


def assert_reaches(resp, sub: str, scope: str) -> None:
    up = resp.upstream()
    h = up["headers"]
    assert h.get("x-user-id") == [sub], h
    assert h.get("x-client-id") == [sub], h
    assert h.get("x-scope") == [scope], h
    assert "authorization" not in h, f"the validated token was forwarded: {h}"


# ------------------------------------------------------------------------------------ (1)


def test_discovery_validates_es256_and_rs256_access_tokens(envoy_factory, idp):
    doc = idp.discovery()
    assert doc["issuer"] == idp.issuer
    jwks_path = idp.jwks_path()
    env = envoy_factory(discovery_config(idp.issuer), idp=idp)
    gw = Gateway(env)

    es = idp.token("ES256", scope="orders:read")
    rs = idp.token("RS256", scope="orders:read orders:write")
    for resp, alg, kid in ((es, "ES256", idp.keys.es.kid), (rs, "RS256", idp.keys.rs.kid)):
        header, payload, _ = split(resp["access_token"])
        # what the provider issued (preconditions: a real RFC 9068 token of the expected key)
        assert resp["token_type"] == "Bearer", resp
        assert header == {"alg": alg, "typ": "at+jwt", "kid": kid}, header
        assert payload["iss"] == idp.issuer and payload["aud"] == RESOURCE and "cnf" not in payload, payload

    r = gw.get("/orders", token=es["access_token"])
    assert r.status == 200, f"ES256 access token of the provider refused: {r}\n{env.tail(30)}"
    assert_reaches(r, "es-client", "orders:read")
    r = gw.get("/orders", token=rs["access_token"])
    assert r.status == 200, f"RS256 access token of the provider refused: {r}\n{env.tail(30)}"
    assert_reaches(r, "rs-client", "orders:read orders:write")

    # the filter found the keys the discovery way: document first, then its jwks_uri
    assert idp.count(DISCOVERY_PATH) >= 1, idp.filter_requests()
    assert idp.count(jwks_path) >= 1, idp.filter_requests()
    first_doc = idp.filter_requests(DISCOVERY_PATH)[0]["at"]
    first_jwks = idp.filter_requests(jwks_path)[0]["at"]
    assert first_doc < first_jwks, idp.filter_requests()

    # scopes of the real token: the ES token was granted orders:read only
    assert_403(gw.get("/orders/write", token=es["access_token"]), "insufficient_scope", scope="orders:write",
               token=es["access_token"])
    assert gw.get("/orders/write", token=rs["access_token"]).status == 200
    assert_401_missing(gw.get("/orders"))
    # a token for the right issuer and audience but not signed by the provider's keys
    forged = like_provider(EcKey(idp.keys.es.kid), idp.issuer)
    assert_401_invalid(gw.get("/orders", token=forged), "bad_signature", token=forged)


# ------------------------------------------------------------------------------------ (2)


@pytest.mark.parametrize("variant", ["trailing_slash", "other_host"])
def test_discovery_document_of_another_issuer_is_not_trusted(envoy_factory, idp, variant):
    """The configured issuer differs from the document's: its jwks_uri is never fetched."""
    configured = idp.issuer + "/" if variant == "trailing_slash" else f"http://localhost:{idp.port}"
    jwks_path = idp.jwks_path()
    env = envoy_factory(discovery_config(configured, timeout_ms=1500), idp=idp)
    gw = Gateway(env)
    # signed by the provider's published key and claiming the configured issuer: it would pass
    # if the filter had taken the keys from the document's jwks_uri
    tok = like_provider(idp.keys.es, configured)
    r = gw.get("/orders", token=tok, timeout=10)
    assert_503_unavailable(r)
    assert idp.count(DISCOVERY_PATH) >= 1, f"the filter never asked for the discovery document: {idp.filter_requests()}"
    # give the filter time to retry (backoff 0.5 s): it asks for the document again, never the keys
    idp.wait_count(DISCOVERY_PATH, 2, timeout=3.0)
    assert_503_unavailable(gw.get("/orders", token=tok, timeout=10))
    assert idp.count(jwks_path) == 0, (
        f"the jwks_uri of a document naming issuer {idp.issuer!r} was fetched for {configured!r}: "
        f"{idp.filter_requests()}")
    stats = env.jwtgate_stats()
    assert stats.get("jwtgate.provider.oidc.discovery_fetch_failed", 0) >= 1, stats
    assert stats.get("jwtgate.provider.oidc.discovery_fetch_ok", 0) == 0, stats
    assert stats.get("jwtgate.provider.oidc.jwks_fetch_ok", 0) == 0, stats


# ------------------------------------------------------------------------------------ (3)


@pytest.mark.parametrize("concurrency", [1, 2])
def test_restart_with_new_key_refetches_on_unknown_kid(envoy_factory, idp, concurrency):
    jwks_path = idp.jwks_path()
    env = envoy_factory(discovery_config(idp.issuer, min_refetch_interval_s=30), idp=idp, concurrency=concurrency)
    gw = Gateway(env)
    old = idp.token("ES256")["access_token"]
    assert gw.get("/orders", token=old).status == 200
    fetches = idp.count(jwks_path)
    assert fetches >= 1

    old_keys = idp.keys
    idp.restart(KeyPair("b"))
    assert idp.keys.es.kid != old_keys.es.kid
    new = idp.token("ES256")["access_token"]
    assert split(new)[0]["kid"] == idp.keys.es.kid

    r = gw.get("/orders", token=new)
    assert r.status == 200, f"token of the restarted provider's new key refused: {r}\n{env.tail(30)}"
    assert_reaches(r, "es-client", "orders:read")
    assert idp.count(jwks_path) > fetches, f"no JWKS refetch for the unknown kid: {idp.filter_requests()}"
    assert env.counter("jwtgate.provider.oidc.jwks_refetch_unknown_kid") >= 1, env.jwtgate_stats()

    # the RS256 key came with the same refetch; the old key is gone from the set
    fetches = idp.count(jwks_path)
    assert gw.get("/orders", token=idp.token("RS256")["access_token"]).status == 200
    assert idp.count(jwks_path) == fetches, idp.filter_requests()
    # the old key is gone from the set. Another worker VM loads the new set on its next tick
    # (100 ms): until then it may still accept the old token. So: within a grace period every
    # worker refuses it, shown by 6 refusals in a row; with one worker, the VM that refetched
    # refuses it at once
    grace = 1.0 if concurrency > 1 else 0.0
    deadline = time.monotonic() + grace
    streak, statuses = 0, []
    while streak < 6:
        r = gw.get("/orders", token=old)
        statuses.append(r.status)
        if r.status == 401:
            assert_401_invalid(r, "unknown_kid", token=old)
            streak += 1
        else:
            assert r.status == 200 and time.monotonic() < deadline, (
                f"a token of the removed key still got {r.status} {grace}s after the new set was fetched: {statuses}")
            streak = 0
        time.sleep(0.02)


@pytest.mark.parametrize("down,concurrency", [("one_request", 1), ("requests_for_1.5s", 1), ("one_request", 2),
                                               ("requests_for_1.5s", 2)])
def test_refetch_during_restart_window_passes_within_a_backoff_step(envoy_factory, idp, down, concurrency):
    """The unknown-kid refetch hits the IdP while it is down (connection refused): a failed
    refetch must not spend min_refetch_interval_s (30 s), so the new key's token passes within
    one backoff step (0.5 s doubling, jittered down) of the IdP answering again."""
    jwks_path = idp.jwks_path()
    env = envoy_factory(discovery_config(idp.issuer, min_refetch_interval_s=30, timeout_ms=1000), idp=idp,
                        concurrency=concurrency)
    gw = Gateway(env)
    assert gw.get("/orders", token=idp.token("ES256")["access_token"]).status == 200
    assert idp.count(jwks_path) >= 1

    new_keys = KeyPair("b")
    # a token of the next key, as the provider will issue it once back
    new = like_provider(new_keys.es, idp.issuer)
    failed_counter = "jwtgate.provider.oidc.jwks_fetch_failed"
    seen: dict = {"answers": []}

    def while_down():
        seen["failed_before"] = env.counter(failed_counter)
        until = time.monotonic() + (1.5 if down != "one_request" else 0.0)
        while True:
            seen["answers"].append(gw.get("/orders", token=new, timeout=10))
            if time.monotonic() >= until:
                break
            time.sleep(0.2)
        seen["failed"] = env.wait_counter(failed_counter, seen["failed_before"] + 1, timeout=5)
        seen["up_from"] = time.monotonic()

    idp.restart(new_keys, gap=while_down)
    t_up = idp.ready_at
    for r in seen["answers"]:
        assert_401_invalid(r, "unknown_kid", token=new)
    failures = seen["failed"] - seen["failed_before"]
    assert failures >= 1, f"no failed fetch counted while the IdP was down: {env.jwtgate_stats()}\n{env.tail(30)}"
    # the step after the last failure: 0.5 s * 2^(failures-1) at most; SLACK for tick, poll and request
    bound = 0.5 * 2 ** (failures - 1) + SLACK
    # failures raced by the last ones (counted after our read) only make the step longer: re-read
    failures = env.counter(failed_counter) - seen["failed_before"]
    bound = max(bound, 0.5 * 2 ** (failures - 1) + SLACK)
    # a slow machine may see more failures (a longer step), but never the 30 s refetch window
    assert bound < 30 - 3, f"{failures} failed fetches in a {down} gap: the test no longer tells the window apart"

    # the IdP answers again (ready). The token must pass within a backoff step, not after 30 s.
    last, history = poll_until(lambda: gw.get("/orders", token=new, timeout=10), lambda r: r.status == 200,
                               timeout=bound + 3.0, interval=0.1)
    waited = time.monotonic() - t_up
    assert last.status == 200, (
        f"new key's token still refused {waited:.1f}s after the IdP came back: {last}; "
        f"statuses {[r.status for r in history]}; stats {env.jwtgate_stats()}\n{env.tail(40)}")
    assert waited <= bound, (
        f"passed {waited:.2f}s after the IdP came back; one backoff step after {failures} failures is <= {bound:.2f}s")
    assert_reaches(last, "es-client", "orders:read")
    assert any(r["at"] >= t_up for r in idp.filter_requests(jwks_path)), "keys not fetched from the restarted IdP"
    print(f"[{down}, {concurrency} workers] {len(seen['answers'])} requests while down, {failures} failed fetches; passed {waited:.2f}s "
          f"after the IdP was back (bound {bound:.2f}s), after {len(history)} tries")


def test_unknown_kid_while_jwks_backs_off_does_not_refetch_discovery_per_request(envoy_factory, idp):
    """After an outage the JWKS fetch is still backing off (0.5 s doubling) when the IdP answers
    again. Unknown-kid requests in that time must not make the filter fetch the (fresh, answered)
    discovery document again and again: refetches that got an answer are limited by
    min_refetch_interval_s (30 s), and there is one fetch per provider, not one per request."""
    jwks_path = idp.jwks_path()
    env = envoy_factory(discovery_config(idp.issuer, min_refetch_interval_s=30, timeout_ms=1000), idp=idp)
    gw = Gateway(env)
    assert gw.get("/orders", token=idp.token("ES256")["access_token"]).status == 200
    new_keys = KeyPair("b")
    new = like_provider(new_keys.es, idp.issuer)
    failed_counter = "jwtgate.provider.oidc.jwks_fetch_failed"

    def while_down():
        base = env.counter(failed_counter)
        assert_401_invalid(gw.get("/orders", token=new, timeout=10), "unknown_kid", token=new)
        # the failed refetch is retried with backoff while the IdP is down: after the 4th failure
        # the next try is 3-4 s away, so the IdP will be back while the JWKS still backs off
        assert env.wait_counter(failed_counter, base + 4, timeout=15) >= base + 4, env.jwtgate_stats()

    idp.restart(new_keys, gap=while_down)
    t_up = idp.ready_at
    docs_before = idp.count(DISCOVERY_PATH)
    sent = []
    lock = threading.Lock()

    def client():
        # Requests now wait for the JWKS retry rather than fail at once, so several clients
        # keep arriving while it backs off.
        while time.monotonic() - t_up < 2.0 and not any(r["at"] >= t_up for r in idp.filter_requests(jwks_path)):
            at = time.monotonic()
            status = gw.get("/orders", token=new, timeout=10).status
            with lock:
                sent.append((at, status))
            time.sleep(0.05)

    clients = [threading.Thread(target=client) for _ in range(8)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(timeout=20)
    jwks_at = [r["at"] for r in idp.filter_requests(jwks_path) if r["at"] >= t_up]
    end = jwks_at[0] if jwks_at else time.monotonic()
    in_backoff = [st for at, st in sent if at < end]
    # precondition: requests really arrived while the JWKS was backing off and the IdP was up
    assert len(in_backoff) >= 5, f"only {len(in_backoff)} requests before the JWKS retry: cannot tell"
    doc_fetches = [r for r in idp.filter_requests(DISCOVERY_PATH) if t_up <= r["at"] < end]
    assert len(doc_fetches) <= 2, (
        f"{len(doc_fetches)} discovery fetches (all answered 200) for {len(in_backoff)} unknown-kid requests in "
        f"{end - t_up:.1f}s while the JWKS backed off; statuses {in_backoff}; "
        f"{idp.count(DISCOVERY_PATH) - docs_before} in all; stats {env.jwtgate_stats()}")


@pytest.mark.skipif(ON_NGX, reason="nginx cannot wake a paused request: a cold start there is answered when its own fetch fails, not after timeout_ms (docs/deployment.md, Kong and nginx)")
def test_cold_start_idp_comes_up_after_envoy(envoy_factory, tmp_path_factory):
    """Envoy starts while the IdP is not listening yet: discovery fails (refused) and retries with
    backoff; requests get 503 jwks_unavailable after waiting timeout_ms; once the IdP is up, a
    token passes within a backoff step."""
    try:
        idp = OidcProvider(tmp_path_factory.mktemp("oidc"))
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        keys = KeyPair("a")
        env = envoy_factory(discovery_config(idp.issuer, timeout_ms=1000), idp=idp)
        gw = Gateway(env)
        tok = like_provider(keys.es, idp.issuer)
        t = time.monotonic()
        r = gw.get("/orders", token=tok, timeout=10)
        waited = time.monotonic() - t
        assert_503_unavailable(r)
        assert 0.8 <= waited <= 3.0, f"a cold request waited {waited:.2f}s for keys (timeout_ms 1000)"
        failed = env.counter("jwtgate.provider.oidc.discovery_fetch_failed")
        assert failed >= 1, env.jwtgate_stats()
        idp.start(keys)
        bound = 0.5 * 2 ** (env.counter("jwtgate.provider.oidc.discovery_fetch_failed") - 1) + SLACK
        last, history = poll_until(lambda: gw.get("/orders", token=tok, timeout=10), lambda r: r.status == 200,
                                   timeout=bound + 3.0, interval=0.1)
        waited = time.monotonic() - idp.ready_at
        assert last.status == 200, f"{last}; statuses {[r.status for r in history]}; {env.jwtgate_stats()}"
        assert waited <= bound, f"passed {waited:.2f}s after the IdP came up (bound {bound:.2f}s)"
        assert idp.count(DISCOVERY_PATH) >= 1 and idp.count(idp.jwks_path()) >= 1, idp.filter_requests()
        # and a token the provider itself issues
        assert_reaches(gw.get("/orders", token=idp.token("RS256")["access_token"]), "rs-client", "orders:read")
    finally:
        idp.stop()


# ------------------------------------------------------------------------------------ (4)


def test_dpop_bound_token_as_bearer_is_token_bound(envoy_factory, idp, echo):
    env = envoy_factory(discovery_config(idp.issuer), idp=idp)
    gw = Gateway(env)
    holder = EcKey("dpop-holder")
    resp = idp.token("ES256", dpop_key=holder)
    tok = resp["access_token"]
    header, payload, _ = split(tok)
    # preconditions: the provider bound the token to the proof's key
    assert resp["token_type"] == "DPoP", resp
    assert header["typ"] == "at+jwt" and header["kid"] == idp.keys.es.kid, header
    assert payload.get("cnf") == {"jkt": jwk_thumbprint(holder)}, payload

    # the same client's unbound token passes (so nothing but cnf differs)
    assert gw.get("/orders", token=idp.token("ES256")["access_token"]).status == 200
    seen = echo.seen
    for _ in range(2):  # also when asked again (a verified-token cache must not let it through)
        assert_401_invalid(gw.get("/orders", token=tok), "token_bound", token=tok)
    # RFC 9449's own scheme is not a Bearer token for the default from_headers (prefix "Bearer ")
    assert_401_missing(gw.get("/orders", headers=[("Authorization", f"DPoP {tok}")]))
    assert echo.seen == seen, "a refused request reached the upstream"
