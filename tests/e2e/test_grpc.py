"""gRPC through jwtgate in real Envoy: a real gRPC client (grpcio) calls a real gRPC server
(grpcio, HTTP/2 upstream) through Envoy's listener.

jwtgate answers a gRPC request (`content-type: application/grpc…`) that it rejects with a
trailers-only response: HTTP 200, `grpc-status` 16 UNAUTHENTICATED (401), 7 PERMISSION_DENIED
(403) or 14 UNAVAILABLE (503), `grpc-message` the reason code, `WWW-Authenticate` kept. What the
client sees: that status code, the reason as its details, the challenge in its trailing
metadata.
"""

from __future__ import annotations

import json
from concurrent import futures

import pytest

from configs import remote
from envoy import hcm_of
from helpers import CORP_ISS
from hosts import ON_NGX
from servers import JwksServer
from tokens import EcKey, jwks, mint

grpc = pytest.importorskip("grpc", reason="grpcio is in tests/e2e/requirements.txt (make venv)")

pytestmark = pytest.mark.skipif(ON_NGX, reason="the gRPC route and HTTP/2 upstream here are Envoy's")

KEY = EcKey("grpc-es-1")
JWKS_PATH = "/jwks.json"
SERVICE, METHOD = "test.Echo", "Call"
FULL_METHOD = f"/{SERVICE}/{METHOD}"


class GrpcUpstream:
    """A gRPC server whose one method answers with the metadata it received, as JSON bytes."""

    def __init__(self) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))

        def call(request: bytes, context) -> bytes:
            md = {k: v for k, v in context.invocation_metadata()}
            return json.dumps({"request": request.decode(), "metadata": md}).encode()

        handler = grpc.method_handlers_generic_handler(
            SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(call)}
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def close(self) -> None:
        self.server.stop(grace=None).wait(5)


@pytest.fixture
def upstream():
    u = GrpcUpstream()
    yield u
    u.close()


@pytest.fixture
def idp(jwks_server):
    jwks_server.set_jwks(jwks(KEY), JWKS_PATH)
    return jwks_server


def grpc_route(port: int):
    """Routes the gRPC service to an HTTP/2 cluster of the gRPC server."""

    def customize(boot: dict, envoy) -> None:
        routes = hcm_of(boot)["route_config"]["virtual_hosts"][0]["routes"]
        routes.insert(0, {"match": {"prefix": f"/{SERVICE}/"}, "route": {"cluster": "grpc", "timeout": "30s"}})
        boot["static_resources"]["clusters"].append({
            "name": "grpc",
            "type": "STATIC",
            "connect_timeout": "1s",
            "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}},
                }
            },
            "load_assignment": {
                "cluster_name": "grpc",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}],
            },
        })

    return customize


def config(idp_port_server: JwksServer, **remote_overrides) -> dict:
    return {
        "providers": [{
            "name": "corp",
            "issuer": CORP_ISS,
            "audiences": ["api"],
            "remote_jwks": remote(idp_port_server, JWKS_PATH, **remote_overrides),
            "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}],
        }],
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "corp", "scopes": ["echo"]}}],
    }


def call(envoy, token: str | None = None, extra=()):
    """One unary call through Envoy; returns (response bytes, None) or (None, RpcError)."""
    md = [("authorization", f"Bearer {token}")] if token else []
    md.extend(extra)
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as ch:
        stub = ch.unary_unary(FULL_METHOD)
        try:
            return stub(b"ping", metadata=md, timeout=10), None
        except grpc.RpcError as e:
            return None, e


def token(**claims) -> str:
    return mint(KEY, iss=CORP_ISS, aud="api", sub="alice", **claims)


def assert_grpc_error(err, code, reason: str, challenge: str | None) -> None:
    assert err is not None, "the call succeeded"
    assert err.code() == code, (err.code(), err.details())
    assert err.details() == reason, err.details()
    trailers = dict(err.trailing_metadata() or ())
    assert trailers.get("www-authenticate") == challenge, trailers


def test_grpc_statuses_for_401_and_403_and_success(envoy_factory, idp, upstream):
    env = envoy_factory(config(idp), idp=idp, customize=grpc_route(upstream.port))

    ok, err = call(env, token(scope="echo"), extra=[("x-user-id", "mallory")])
    assert err is None, (err.code(), err.details())
    seen = json.loads(ok)
    assert seen["request"] == "ping"
    assert seen["metadata"]["x-user-id"] == "alice", "the spoofed identity header was replaced"
    assert "authorization" not in seen["metadata"]

    _, err = call(env)
    assert_grpc_error(err, grpc.StatusCode.UNAUTHENTICATED, "token_missing", 'Bearer realm="127.0.0.1:%d"' % env.port)

    _, err = call(env, token(scope="echo", exp=1))
    assert_grpc_error(
        err, grpc.StatusCode.UNAUTHENTICATED, "token_expired",
        'Bearer realm="127.0.0.1:%d", error="invalid_token", error_description="token_expired"' % env.port,
    )

    _, err = call(env, token(scope="read"))
    assert_grpc_error(
        err, grpc.StatusCode.PERMISSION_DENIED, "insufficient_scope",
        'Bearer realm="127.0.0.1:%d", error="insufficient_scope", scope="echo"' % env.port,
    )
    assert env.counter("jwtgate.denied.insufficient_scope") == 1
    assert env.plugin_error_lines() == []


def test_grpc_unavailable_when_no_keys_arrive(envoy_factory, upstream):
    """Nothing listens on the JWKS port: after the cold-start wait (timeout_ms), 503 → UNAVAILABLE."""
    dead = JwksServer()
    dead.close()  # its port now refuses connections
    env = envoy_factory(config(dead, timeout_ms=300), customize=grpc_route(upstream.port))
    _, err = call(env, token(scope="echo"))
    assert_grpc_error(err, grpc.StatusCode.UNAVAILABLE, "jwks_unavailable", None)
