"""Envoy bootstraps for the benchmark targets.

Every bootstrap is the same proxy: an admin listener, one HTTP listener on 127.0.0.1, the HTTP
connection manager with the filter under test (if any) then the router, and a single route
answering 200 with a small body (`direct_response`), so no upstream is involved and every
difference comes from the filter.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tokens import AUDIENCE, ISSUER

TARGETS = {
    "a": "no auth",
    "b": "native jwt_authn",
    "c": "native jwt_authn + cache",
    "d": "jwtgate",
    "e": "floor (wasm)",
    # Another build of jwtgate (BENCH_BASELINE_WASM), measured interleaved with (d) so a change
    # is compared with what it replaces under the same load.
    "f": "jwtgate baseline",
    # The floor plus one host `verify_signature` of the request's RS256 token (RS256 keys only):
    # what a miss costs any filter that verifies through the host, before its own work.
    "g": "floor + host verify (RS256)",
    # The floor without the SDK's callbacks it does not implement (bench/lean_exports.py): Envoy
    # then skips its calls into the VM for response headers, log and done. What a filter with
    # only the exports it needs pays (Envoy only: ngx_wasm_module calls them unchecked).
    "h": "floor, raw ABI (wasm)",
}
# The targets that check no token: a request without one passes them.
WITHOUT_AUTH = ("a", "e", "h")
PROVIDER = "bench"
NATIVE_CACHE_SIZE = 10000
# The origin DPoP proofs name in `htu` (`dpop.external_origin`): each Envoy listens on its own
# port, and a proof pool is minted once for all of them.
DPOP_ORIGIN = "https://api.bench.local"


def _socket(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def _wasm_filter(name: str, wasm: Path, configuration: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "failure_policy": "FAIL_RELOAD",
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(wasm)}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": configuration,
                },
            },
        },
    }


def _jwt_authn(jwks_json: str, cache: bool) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "forward": True,
        "local_jwks": {"inline_string": jwks_json},
    }
    if cache:
        provider["jwt_cache_config"] = {"jwt_cache_size": NATIVE_CACHE_SIZE}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {PROVIDER: provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": PROVIDER}}],
        },
    }


def jwtgate_config(jwks_json: str, dpop: bool = False) -> str:
    """The plugin JSON: one provider, inline keys, token forwarded, default token cache; with
    `dpop`, DPoP-bound tokens accepted too (proofs naming DPOP_ORIGIN)."""
    provider: dict[str, Any] = {
        "name": PROVIDER,
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "local_jwks": {"inline": json.loads(jwks_json)},
        "forward": True,
    }
    if dpop:
        provider["dpop"] = {"external_origin": DPOP_ORIGIN}
    return json.dumps({"providers": [provider]}, separators=(",", ":"))


def dpop_filters(variant: str, jwks_json: str, jwtgate_wasm: Path, floor_wasm: Path) -> list[dict[str, Any]]:
    """The DPoP comparison's filters: "jwtgate" with `dpop` configured (Bearer and DPoP requests
    alike), "floor", and "floor+replay" (the floor making the replay memory's host calls)."""
    if variant == "jwtgate":
        return [_wasm_filter("jwtgate", jwtgate_wasm, jwtgate_config(jwks_json, dpop=True))]
    if variant == "floor":
        return [_wasm_filter("floor", floor_wasm, "{}")]
    if variant == "floor+replay":
        return [_wasm_filter("floor", floor_wasm, '{"replay":true}')]
    raise ValueError(f"unknown DPoP variant {variant}")


def auth_filters(target: str, jwks_json: str, jwtgate_wasm: Path, floor_wasm: Path,
                 baseline_wasm: Path | None = None) -> list[dict[str, Any]]:
    """The HTTP filters placed before the router for `target` (a key of TARGETS)."""
    if target == "a":
        return []
    if target == "b":
        return [_jwt_authn(jwks_json, cache=False)]
    if target == "c":
        return [_jwt_authn(jwks_json, cache=True)]
    if target == "d":
        return [_wasm_filter("jwtgate", jwtgate_wasm, jwtgate_config(jwks_json))]
    if target == "e":
        return [_wasm_filter("floor", floor_wasm, "{}")]
    if target == "f" and baseline_wasm is not None:
        return [_wasm_filter("jwtgate", baseline_wasm, jwtgate_config(jwks_json))]
    if target == "h":
        return [_wasm_filter("floor", raw_abi(floor_wasm), "{}")]
    if target == "g":
        config = json.dumps({"verify_spki": rsa_spki(jwks_json).hex()}, separators=(",", ":"))
        return [_wasm_filter("floor", floor_wasm, config)]
    raise ValueError(f"unknown target {target}")


def raw_abi(wasm: Path) -> Path:
    """A copy of `wasm` beside it without the callbacks it leaves to the SDK (lean_exports.py),
    written when missing or older than `wasm`."""
    from lean_exports import strip

    out = wasm.with_name(f"{wasm.stem}-raw-abi.wasm")
    if not out.exists() or out.stat().st_mtime < wasm.stat().st_mtime:
        out.write_bytes(strip(wasm.read_bytes())[0])
    return out


def rsa_spki(jwks_json: str) -> bytes:
    """The DER SubjectPublicKeyInfo of the first key of `jwks_json`, which must be RSA."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    jwk = json.loads(jwks_json)["keys"][0]
    if jwk.get("kty") != "RSA":
        raise ValueError("target g (floor + host verify) takes an RSA key (an RS256 workload)")

    def number(member: str) -> int:
        text = jwk[member]
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")

    key = rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def bootstrap(listen_port: int, admin_port: int, filters: list[dict[str, Any]],
              clusters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A complete bootstrap with `filters` in front of the router (and `clusters`, if any)."""
    router = {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "bench",
        "codec_type": "AUTO",
        "route_config": {
            "name": "local",
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}},
                        }
                    ],
                }
            ],
        },
        "http_filters": [*filters, router],
    }
    return {
        "admin": {"address": _socket(admin_port)},
        "static_resources": {
            "listeners": [
                {
                    "name": "bench",
                    "address": _socket(listen_port),
                    "filter_chains": [
                        {
                            "filters": [
                                {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                            ]
                        }
                    ],
                }
            ],
            **({"clusters": clusters} if clusters else {}),
        },
    }


JWKS_CLUSTER = "jwks"


def jwks_cluster(port: int) -> dict[str, Any]:
    """A static cluster for the JWKS server on 127.0.0.1:`port` (the startup measurement)."""
    return {
        "name": JWKS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": JWKS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(port)}}]}],
        },
    }


def remote_filters(target: str, jwks_port: int, jwtgate_wasm: Path, floor_wasm: Path | None = None,
                   baseline_wasm: Path | None = None) -> list[dict[str, Any]]:
    """jwtgate (d, or the baseline build f) or native jwt_authn (b) fetching the JWKS from
    127.0.0.1:`jwks_port`; the floor (e) needs no keys."""
    uri = f"http://127.0.0.1:{jwks_port}/jwks.json"
    if target == "e" and floor_wasm is not None:
        return [_wasm_filter("floor", floor_wasm, "{}")]
    if target == "f" and baseline_wasm is not None:
        target, jwtgate_wasm = "d", baseline_wasm
    if target == "d":
        cfg = {
            "providers": [
                {
                    "name": PROVIDER,
                    "issuer": ISSUER,
                    "audiences": [AUDIENCE],
                    "remote_jwks": {"cluster": JWKS_CLUSTER, "uri": uri},
                    "forward": True,
                }
            ]
        }
        return [_wasm_filter("jwtgate", jwtgate_wasm, json.dumps(cfg, separators=(",", ":")))]
    if target == "b":
        provider = {
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "forward": True,
            "remote_jwks": {
                "http_uri": {"uri": uri, "cluster": JWKS_CLUSTER, "timeout": "5s"},
                "cache_duration": "600s",
            },
        }
        return [{
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                "providers": {PROVIDER: provider},
                "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": PROVIDER}}],
            },
        }]
    raise ValueError(f"no remote-JWKS variant of target {target}")
