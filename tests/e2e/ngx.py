"""Launch nginx with Kong's ngx_wasm_module and the jwtgate filter; the same interface as `Envoy`.

Selected by the conftest when JWTGATE_HOST=ngx; the nginx binary (built with ngx_wasm_module) is
$NGX_WASM_NGINX. What differs from Envoy, measured on nginx 1.27.4 + ngx_wasm_module 0.6.0
(wasmtime 26) with a probe filter:

- no clusters: a callout goes to `host:port`, so the plugin configs name the JWKS server by
  address (configs.py maps the cluster "idp"; this launcher also maps any leftover "idp").
- no admin endpoint and no way to read proxy_define_metric counters from plain nginx:
  stats()/counter() skip the calling test (pytest.skip) with that reason.
- the plugin JSON is one nginx.conf token: at most 4095 bytes after escaping (NGX_CONF_BUFFER).
- removing a request header (proxy_remove_header_map_value, set_http_request_headers) only marks
  it, and proxy_pass still sends it; a header the filter sets to "" is sent as `Name: `, and a
  header the client sent twice keeps its second copy. What nginx sends exactly is
  `proxy_set_header Name $var;` (nothing when $var is empty): the generated server declares
  `set $jwtgate_name $http_name;` (the client's value by default) and the location sends each
  header through that variable, for Authorization, Cookie and every header the plugin config
  names; the filter sets the variable (set_property ngx.jwtgate_name) instead of the header.
- a `:path` the filter sets reaches upstream only with a URI part in proxy_pass, hence
  `proxy_pass http://127.0.0.1:PORT/;`.
- downstream_tls (as Envoy's) makes the server `listen PORT ssl` with the CA as
  `ssl_client_certificate` and `ssl_verify_client` as `verify_client` says (Envoy's listener
  asks for a certificate without requiring one: `optional`); the filter reads the client
  certificate from `$ssl_client_raw_cert`. The readiness probe then uses a second, plain
  listener of the same server (`ready_port`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from envoy import EnvoyStartError, ProxyProcess, free_port, request, wasm_path

NGX_CONF_TOKEN_MAX = 4095  # nginx reads a config token into a 4096-byte buffer
_READY_PATH = "/__jwtgate_harness_ready"
_NO_METRICS = ("ngx_wasm_module exposes proxy_define_metric counters only through OpenResty's Lua "
               "API (Kong); plain nginx has no stats endpoint")


def nginx_binary() -> str:
    path = os.environ.get("NGX_WASM_NGINX")
    if not path:
        raise RuntimeError("JWTGATE_HOST=ngx needs NGX_WASM_NGINX=/path/to/nginx (built with ngx_wasm_module)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"NGX_WASM_NGINX={path} is not an executable")
    return path


def map_clusters(cfg: Any, idp_port: int) -> Any:
    """Envoy's cluster "idp" becomes the JWKS server's host:port (ngx has no clusters)."""
    if isinstance(cfg, dict):
        out = {}
        for k, v in cfg.items():
            if k == "cluster" and v == "idp":
                out[k] = f"127.0.0.1:{idp_port}"
            else:
                out[k] = map_clusters(v, idp_port)
        return out
    if isinstance(cfg, list):
        return [map_clusters(v, idp_port) for v in cfg]
    return cfg


def stripped_headers(cfg: Any) -> list[str]:
    """Every request header the filter may strip or replace: Authorization, Cookie and the header
    names in the plugin config (token sources, claim headers, payload headers)."""
    names = {"authorization", "cookie"}
    if isinstance(cfg, dict):
        for p in cfg.get("providers", []) if isinstance(cfg.get("providers"), list) else []:
            if not isinstance(p, dict):
                continue
            for h in p.get("from_headers") or []:
                if isinstance(h, dict) and isinstance(h.get("name"), str):
                    names.add(h["name"].lower())
            for c in p.get("claim_to_headers") or []:
                if isinstance(c, dict) and isinstance(c.get("header"), str):
                    names.add(c["header"].lower())
            if isinstance(p.get("forward_payload_header"), str):
                names.add(p["forward_payload_header"].lower())
            if isinstance(p.get("dpop"), dict):
                names.add("dpop")  # the proof goes with the token
    # only names nginx can turn into a $http_ variable
    return sorted(n for n in names if re.fullmatch(r"[a-z0-9-]+", n))


def ngx_quote(s: str) -> str:
    """A single-quoted nginx.conf token: nginx unescapes \\\\, \\' and \\" (and \\n, \\t, \\r)."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def nginx_conf(*, plugin_config: Any | None, listen_port: int, upstream_port: int, idp_port: int,
               wasm: Path, workdir: Path, workers: int, wasm_directives: tuple[str, ...] = (),
               locations: str = "", servers: str = "", downstream_tls: dict | None = None,
               verify_client: str = "optional", ready_port: int | None = None,
               skip_variables: tuple[str, ...] = ()) -> str:
    filter_lines = ""
    server_lines: list[str] = []
    wasm_block = ""
    if plugin_config is not None:
        cfg = plugin_config if isinstance(plugin_config, str) else json.dumps(
            map_clusters(plugin_config, idp_port), separators=(",", ":"))
        token = ngx_quote(cfg)
        if len(token) > NGX_CONF_TOKEN_MAX:
            raise EnvoyStartError(
                f"plugin JSON is {len(token)} bytes in nginx.conf: nginx reads at most "
                f"{NGX_CONF_TOKEN_MAX} bytes per directive argument")
        lines = [f"            proxy_wasm jwtgate {token};"]
        parsed = plugin_config if not isinstance(plugin_config, str) else None
        for name in stripped_headers(parsed):
            if name in skip_variables:  # a test of an nginx.conf that forgot one
                continue
            var = name.replace('-', '_')
            server_lines.append(f"        set $jwtgate_{var} $http_{var};")
            lines.append(f"            proxy_set_header {name} $jwtgate_{var};")
        filter_lines = "\n".join(lines) + "\n"
        extra = "".join(f"    {d}\n" for d in wasm_directives)
        wasm_block = f"""wasm {{
    module jwtgate {wasm};
    shm_kv * 8m;
    wasmtime {{ cache_config {_wasmtime_cache_config()}; }}
{extra}}}
"""
    listen = f"        listen 127.0.0.1:{listen_port};\n"
    if downstream_tls:
        listen = (f"        listen 127.0.0.1:{listen_port} ssl;\n"
                  f"        listen 127.0.0.1:{ready_port};\n"
                  f"        ssl_certificate {downstream_tls['cert']};\n"
                  f"        ssl_certificate_key {downstream_tls['key']};\n"
                  f"        ssl_client_certificate {downstream_tls['ca']};\n"
                  f"        ssl_verify_client {verify_client};\n")
    # as root, nginx runs its workers as `nobody`, who cannot enter pytest's 0700 temp dirs
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""# generated by tests/e2e/ngx.py
daemon off;
master_process on;
{user}worker_processes {workers};
error_log {workdir}/error.log info;
pid {workdir}/nginx.pid;
events {{ worker_connections 1024; }}
{wasm_block}http {{
    access_log off;
    client_body_temp_path {workdir}/tmp/body;
    proxy_temp_path {workdir}/tmp/proxy;
    fastcgi_temp_path {workdir}/tmp/fastcgi;
    uwsgi_temp_path {workdir}/tmp/uwsgi;
    scgi_temp_path {workdir}/tmp/scgi;
    proxy_http_version 1.1;
    proxy_read_timeout 30s;
{servers}    server {{
{listen}{"".join(line + chr(10) for line in server_lines)}        location = {_READY_PATH} {{ return 204; }}
{_extra_locations(locations, filter_lines, upstream_port, listen_port)}        location / {{
{filter_lines}            proxy_pass http://127.0.0.1:{upstream_port}/;
        }}
    }}
}}
"""


def _wasmtime_cache_config() -> Path:
    """wasmtime's compilation cache for every nginx of the session: each worker compiles the
    filter at start (~4 s on the 2-core test machine), a cached module loads in ~50 ms. Keyed by
    the module and the compiler settings, so a stale entry is never used."""
    base = Path(tempfile.gettempdir()) / f"jwtgate-ngx-wasmtime-{os.geteuid()}"
    (base / "cache").mkdir(parents=True, exist_ok=True)
    conf = base / "config.toml"
    text = f'[cache]\nenabled = true\ndirectory = "{base / "cache"}"\n'
    if not conf.exists() or conf.read_text() != text:
        conf.write_text(text)
    return conf


def _extra_locations(text: str, filter_lines: str, upstream_port: int, listen_port: int) -> str:
    """Locations a test adds to the server: `@FILTER@` stands for the filter and its
    proxy_set_header lines (as in `location /`), `@UPSTREAM@` for the echo upstream's
    `http://127.0.0.1:PORT`, `@SELF@` for this nginx's own `http://127.0.0.1:PORT`."""
    if not text:
        return ""
    return (text.replace("@FILTER@", filter_lines)
            .replace("@UPSTREAM@", f"http://127.0.0.1:{upstream_port}")
            .replace("@SELF@", f"http://127.0.0.1:{listen_port}")) + "\n"


class Nginx(ProxyProcess):
    """One nginx (master + `workers` workers) with a generated nginx.conf; always call stop()."""

    host = "ngx"

    def __init__(
        self,
        plugin_config: Any | None,
        *,
        upstream_port: int,
        idp_port: int,
        concurrency: int = 1,
        wasm: Path | None = None,
        workers: int | None = None,
        workdir: Path | None = None,
        wasm_directives: tuple[str, ...] = (),
        locations: str = "",
        servers: str = "",
        downstream_tls: dict | None = None,
        verify_client: str = "optional",
        skip_variables: tuple[str, ...] = (),
        **_envoy_only: Any,  # failure_policy, log_level, component_log_level: no nginx equivalent
    ) -> None:
        self.plugin_config = plugin_config
        # two workers unless a test asks for more (Envoy's --concurrency 1 has no nginx analogue
        # worth testing: one VM per worker either way)
        self.concurrency = workers or max(2, concurrency)
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="jwtgate-ngx-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)  # nginx opens PREFIX/logs/error.log before its config
        self.config_path = self.dir / "nginx.conf"
        self.log_path = self.dir / "error.log"
        self.stdout_path = self.dir / "nginx.stdout"
        self.wasm = wasm or wasm_path()
        self._conf_args = dict(plugin_config=plugin_config, upstream_port=upstream_port, idp_port=idp_port,
                               wasm=self.wasm, workdir=self.dir, workers=self.concurrency,
                               wasm_directives=tuple(wasm_directives), locations=locations,
                               servers=servers, downstream_tls=downstream_tls,
                               verify_client=verify_client, skip_variables=tuple(skip_variables))
        self._write_config()
        self.cmd = [nginx_binary(), "-p", str(self.dir), "-c", str(self.config_path)]
        self.proc: subprocess.Popen | None = None
        self._stdout = None

    def _write_config(self) -> None:
        self.port = free_port()
        self.admin_port = None
        # with TLS on `port`, the readiness probe (plain HTTP) has a listener of its own
        self.ready_port = free_port() if self._conf_args["downstream_tls"] else self.port
        self.config_path.write_text(nginx_conf(listen_port=self.port, ready_port=self.ready_port,
                                               **self._conf_args))

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvoyStartError(f"nginx exited with {self.proc.returncode} before ready\n{self.tail()}")
            if self._ready_answers() and self._fatal() is None:
                return
            fatal = self._fatal()
            if fatal:
                raise EnvoyStartError(f"nginx workers cannot start: {fatal}\n{self.tail()}")
            time.sleep(0.05)
        raise EnvoyStartError(f"nginx not ready within {timeout}s\n{self.tail()}")

    def _fatal(self) -> str | None:
        for line in self.log_text().splitlines():
            if "[emerg]" in line or ("exited on signal" in line) or "exited with fatal code" in line:
                return line
        return None

    def _ready_answers(self) -> bool:
        try:
            return request(self.ready_port, _READY_PATH, timeout=1.0).status == 204
        except OSError:
            return False

    def wait_workers_gone(self, timeout: float = 10.0) -> bool:
        """Wait until every worker exited for good (e.g. on_configure failed: fatal code 2)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text().count("cannot be respawned") >= self.concurrency:
                return True
            if self.proc.poll() is not None:
                return True
            time.sleep(0.05)
        return False

    # --- logs
    def wasm_log_lines(self) -> list[str]:
        """Lines the plugin logged: `[level] pid#0: [*conn ][proxy-wasm]["jwtgate" #ctx] message`."""
        return [l for l in self.log_text().splitlines() if '[proxy-wasm]["jwtgate"' in l]

    def plugin_error_lines(self) -> list[str]:
        """The plugin's error and critical lines (proxy_log error -> [error], critical -> [crit])."""
        return [l for l in self.wasm_log_lines() if re.search(r"\[(error|crit|alert|emerg)\]", l)]

    def crashed_workers(self) -> list[str]:
        return [l for l in self.log_text().splitlines() if "exited on signal" in l]

    # --- stats: none on plain nginx
    def stats(self) -> dict[str, int]:
        pytest.skip(_NO_METRICS)

    def jwtgate_stats(self) -> dict[str, int]:
        pytest.skip(_NO_METRICS)

    def counter(self, name: str) -> int:
        pytest.skip(_NO_METRICS)

    def wait_counter(self, name: str, at_least: int, timeout: float = 10.0) -> int:
        pytest.skip(_NO_METRICS)

