"""Fixtures for the jwtgate end-to-end suite (real Envoy, real JWKS server, echo upstream).

Run:  scripts/venv.sh && cargo build --release --target wasm32-wasip1 --lib && .venv/bin/pytest tests/e2e -q
Env:  JWTGATE_WASM (default target/wasm32-wasip1/release/jwtgate.wasm), ENVOY (default: the venv's),
      JWTGATE_E2E_HCM=shipped (run with the shipped envoy.yaml's path settings; test_paths.py runs both).
      JWTGATE_HOST=ngx runs the suite in nginx + Kong's ngx_wasm_module instead (ngx.py), with
      NGX_WASM_NGINX=/path/to/nginx built with that module.

Layout: tokens.py (keys, JWKs, minting), servers.py (JWKS server whose behaviour tests change
live; echo upstream), envoy.py (bootstrap generation, process, HTTP client, /stats), helpers.py
(contract assertions), configs.py (plugin configs). Every Envoy runs in its own session on
loopback ports and is stopped at fixture teardown (and at interpreter exit as a safety net).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envoy import Envoy, wasm_path  # noqa: E402
from hosts import HOST  # noqa: E402
from servers import EchoServer, JwksServer  # noqa: E402
from tokens import EcKey, RsaKey  # noqa: E402


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request) -> bool:
    node = request.node
    return any(getattr(getattr(node, "rep_" + w, None), "failed", False) for w in ("setup", "call"))


def require_wasm() -> Path:
    path = wasm_path()
    if not path.is_file():
        pytest.fail(
            f"jwtgate wasm not found at {path}: build it with "
            "`cargo build --release --target wasm32-wasip1 --lib` or set $JWTGATE_WASM",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def keys():
    """Keys shared by the whole session (RSA generation is slow-ish)."""
    return SimpleNamespace(
        corp_es=EcKey("corp-es-1"),
        corp_rs=RsaKey("corp-rs-1"),
        es_only_es=EcKey("esonly-es-1"),
        es_only_rs=RsaKey("esonly-rs-1"),
        partner_es=EcKey("partner-es-1"),
        stranger_es=EcKey("corp-es-unpublished"),
        stranger_rs=RsaKey("corp-rs-unpublished"),
        # published in corp's JWKS but unusable per the contract's key rules
        weak_rs=RsaKey("corp-rs-1024", bits=1024),
        enc_es=EcKey("corp-es-enc"),
        ops_es=EcKey("corp-es-signonly"),
    )


@pytest.fixture(scope="session")
def echo():
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


def _launcher():
    if HOST == "ngx":
        from ngx import Nginx

        return Nginx
    return Envoy


def pytest_report_header(config):
    if HOST == "ngx":
        return f"jwtgate host: nginx + ngx_wasm_module ({os.environ.get('NGX_WASM_NGINX')})"
    return "jwtgate host: envoy"


class EnvoyFactory:
    """Starts proxies (Envoy, or nginx with JWTGATE_HOST=ngx) on demand and stops every one of
    them at teardown."""

    def __init__(self, echo: EchoServer, tmp_path_factory):
        self.echo = echo
        self.tmp = tmp_path_factory
        self.started: list[Envoy] = []

    def __call__(self, plugin_config, *, idp: JwksServer | None = None, concurrency: int = 1,
                 start: bool = True, wasm: Path | None = None, **kw) -> Envoy:
        if plugin_config is not None and wasm is None:
            wasm = require_wasm()
        env = _launcher()(
            plugin_config,
            upstream_port=self.echo.port,
            idp_port=idp.port if idp else 9,  # port 9 (discard): nothing listens
            concurrency=concurrency,
            wasm=wasm,
            workdir=self.tmp.mktemp("envoy"),
            **kw,
        )
        self.started.append(env)
        if start:
            env.start()
        return env

    def close(self, dump: bool = False) -> None:
        for env in self.started:
            env.stop()
            if dump:
                sys.stderr.write(f"\n----- {HOST} log ({env.dir}) -----\n{env.tail(60)}\n")
        self.started.clear()


@pytest.fixture
def envoy_factory(request, echo, tmp_path_factory):
    factory = EnvoyFactory(echo, tmp_path_factory)
    yield factory
    factory.close(dump=_failed(request))


@pytest.fixture(scope="module")
def module_envoy_factory(echo, tmp_path_factory):
    factory = EnvoyFactory(echo, tmp_path_factory)
    yield factory
    factory.close()
