"""`clients` against a real OpenID provider (`oidc-provider`, tests/e2e/oidc): its RFC 9068
access tokens carry the `client_id` of the client that asked for them (client_credentials), and
a route that accepts one client refuses the other's token, valid as it is."""

from __future__ import annotations

from helpers import Gateway, assert_403
from test_oidc_provider import discovery_config, idp  # noqa: F401 - the provider fixture


def test_a_route_for_one_client_refuses_the_other_clients_tokens(envoy_factory, idp):  # noqa: F811
    cfg = discovery_config(idp.issuer)
    cfg["rules"].insert(0, {"match": {"prefix": "/console"}, "requires": {"provider": "oidc", "clients": ["rs-client"]}})
    gw = Gateway(envoy_factory(cfg, idp=idp))
    es = idp.token("ES256")["access_token"]  # issued to es-client
    rs = idp.token("RS256")["access_token"]  # issued to rs-client
    r = gw.get("/console", token=rs)
    assert r.upstream()["headers"]["x-client-id"] == ["rs-client"]
    assert_403(gw.get("/console", token=es), "client_not_allowed", token=es)
    # Elsewhere both clients' tokens pass: the refusal is the route's client list.
    assert gw.get("/orders", token=es).status == 200
