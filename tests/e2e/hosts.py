"""Which proxy the e2e suite runs in: JWTGATE_HOST=envoy (default) or ngx (nginx + ngx_wasm_module)."""

from __future__ import annotations

import os

HOST = os.environ.get("JWTGATE_HOST", "envoy").strip().lower() or "envoy"
if HOST not in ("envoy", "ngx"):
    raise RuntimeError(f"JWTGATE_HOST={HOST!r}: expected envoy or ngx")

ON_NGX = HOST == "ngx"


def idp_cluster(port: int) -> str:
    """The callout upstream of the JWKS server: Envoy's static cluster `idp`, or host:port on ngx."""
    return f"127.0.0.1:{port}" if ON_NGX else "idp"
