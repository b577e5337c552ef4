"""Plugin configurations used by the tests (the JSON of the contract, as dicts)."""

from __future__ import annotations

import json

from helpers import CORP_ISS, ESONLY_ISS, PARTNER_ISS
from hosts import idp_cluster
from servers import JwksServer
from tokens import jwks

CORP_JWKS_PATH = "/corp/jwks.json"
ESONLY_JWKS_PATH = "/esonly/jwks.json"

CORP_CLAIM_HEADERS = [
    {"claim": "sub", "header": "x-user-id"},
    {"claim": "roles", "header": "x-user-roles"},
    {"claim": "tenant", "header": "x-tenant"},
    {"claim": "org.name", "header": "x-org-name"},
]
CORP_PAYLOAD_HEADER = "x-jwt-payload"
IDENTITY_HEADERS = ["x-user-id", "x-user-roles", "x-tenant", "x-org-name", "x-jwt-payload", "x-es-sub", "x-partner-sub"]


def remote(server: JwksServer, path: str, **overrides) -> dict:
    cfg = {
        "cluster": idp_cluster(server.port),  # Envoy: the static cluster `idp`; ngx: host:port
        "uri": f"http://127.0.0.1:{server.port}{path}",
        "timeout_ms": 5000,
        "cache_duration_s": 600,
        "min_refetch_interval_s": 1,
        "max_stale_s": 86400,
    }
    cfg.update(overrides)
    return cfg


def shared_config(server: JwksServer, keys) -> dict:
    """The config of the module-shared Envoy; also publishes its JWKS on `server`."""
    server.set_jwks(
        jwks(
            keys.corp_es,
            keys.corp_rs,
            keys.weak_rs,  # 1024-bit modulus: never used
            keys.enc_es.jwk(use="enc"),  # not a signing key
            keys.ops_es.jwk(key_ops=["sign"]),  # key_ops without "verify"
        ),
        path=CORP_JWKS_PATH,
    )
    server.set_jwks(jwks(keys.es_only_es, keys.es_only_rs), path=ESONLY_JWKS_PATH)
    return {
        "providers": [
            {
                "name": "corp",
                "issuer": CORP_ISS,
                "audiences": ["api"],
                "algorithms": ["ES256", "RS256"],
                "remote_jwks": remote(server, CORP_JWKS_PATH),
                "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                "from_params": ["access_token"],
                "from_cookies": ["session"],
                "clock_skew_s": 60,
                "require_expiration": True,
                "max_lifetime_s": 7200,
                "token_types": ["at+jwt"],
                "forward": False,
                "claim_to_headers": CORP_CLAIM_HEADERS,
                "forward_payload_header": CORP_PAYLOAD_HEADER,
            },
            {
                "name": "esonly",
                "issuer": ESONLY_ISS,
                "audiences": ["api"],
                "algorithms": ["ES256"],
                "remote_jwks": remote(server, ESONLY_JWKS_PATH),
                "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                "from_params": ["tok"],
                "from_cookies": ["estok"],
                "forward": True,
                "claim_to_headers": [{"claim": "sub", "header": "x-es-sub"}],
            },
            {
                "name": "partner",
                "issuer": PARTNER_ISS,
                "local_jwks": {"inline": json.dumps(jwks(keys.partner_es))},
                "from_headers": [{"name": "x-partner-token"}],
                "forward": True,
                "claim_to_headers": [{"claim": "sub", "header": "x-partner-sub"}],
            },
        ],
        "rules": [
            {"match": {"prefix": "/public"}},
            {"match": {"path": "/admin"}, "requires": {"provider": "corp", "scopes": ["admin"]}},
            {"match": {"prefix": "/scoped"}, "requires": {"provider": "corp", "scopes": ["read", "write"]}},
            {"match": {"prefix": "/claims"}, "requires": {"provider": "corp", "claims": {"org.tier": ["gold", "platinum"]}}},
            {"match": {"prefix": "/any"}, "requires": {"any": [{"provider": "corp"}, {"provider": "partner"}]}},
            {"match": {"prefix": "/all"}, "requires": {"all": [{"provider": "corp"}, {"provider": "partner"}]}},
            {"match": {"prefix": "/optional"}, "requires": {"allow_missing": {"provider": "corp"}}},
            {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {"provider": "corp"}}},
            {"match": {"prefix": "/es"}, "requires": {"provider": "esonly"}},
            {"match": {"prefix": "/"}, "requires": {"provider": "corp"}},
        ],
        "mode": "enforce",
        "bypass_cors_preflight": True,
        "max_token_size": 4096,
        "token_cache_size": 1024,
    }


def single_remote_config(server: JwksServer, path: str = "/.well-known/jwks.json", *, issuer: str = CORP_ISS,
                         **remote_overrides) -> dict:
    """One remote provider `corp` (ES256 + RS256, typ not checked), every path requires it."""
    return {
        "providers": [
            {
                "name": "corp",
                "issuer": issuer,
                "audiences": ["api"],
                "remote_jwks": remote(server, path, **remote_overrides),
                "claim_to_headers": [{"claim": "sub", "header": "x-user-id"}],
            }
        ],
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "corp"}}],
    }
