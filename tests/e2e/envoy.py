"""Launch a real Envoy with the jwtgate wasm filter and talk to it."""

from __future__ import annotations

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WASM = REPO / "target" / "wasm32-wasip1" / "release" / "jwtgate.wasm"


def wasm_path() -> Path:
    return Path(os.environ.get("JWTGATE_WASM") or DEFAULT_WASM).resolve()


def envoy_binary() -> str:
    """The Envoy to run: $ENVOY, the venv's (next to this Python), or one on PATH."""
    env = os.environ.get("ENVOY")
    if env:
        return env
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found:
        return found
    raise RuntimeError("no envoy binary: run scripts/venv.sh or set $ENVOY")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ bootstrap

# Envoy tag extractors that turn jwtgate's counter names into Prometheus labels:
#   wasmcustom.jwtgate.provider.<name>.denied.<reason> -> jwtgate_provider_denied{provider, reason}
#   wasmcustom.jwtgate.provider.<name>.<counter>       -> jwtgate_provider_<counter>{provider}
#   wasmcustom.jwtgate.denied.<reason>                 -> jwtgate_denied{reason}
# The first capture group is cut from the name, the second is the tag's value. The same list is
# in /envoy.yaml, deploy/envoy/ecds.yaml and deploy/istio/ (tests/deploy checks they agree).
STATS_TAGS = [
    {"tag_name": "provider", "regex": r"^wasmcustom\.jwtgate\.provider(\.([^.]+))\."},
    {"tag_name": "reason", "regex": r"^wasmcustom\.jwtgate\.(?:provider\.[^.]+\.)?denied(\.([^.]+))$"},
]



def wasm_filter(plugin_config: Any, wasm: Path, failure_policy: str = "FAIL_RELOAD") -> dict:
    value = plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "jwtgate",
                "root_id": "jwtgate",
                "failure_policy": failure_policy,
                "vm_config": {
                    "vm_id": "jwtgate",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(wasm)}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": value,
                },
            },
        },
    }


def _static_cluster(name: str, port: int) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}
            ],
        },
    }


# The HTTP connection manager's path settings of the shipped envoy.yaml: they agree with the
# contract's Paths section (Envoy normalizes first, and leaves %2F/%5C for the filter to refuse).
SHIPPED_HCM_PATH_SETTINGS = {
    "normalize_path": True,
    "merge_slashes": True,
    "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
}


def hcm_of(boot: dict) -> dict:
    """The HTTP connection manager of a bootstrap from bootstrap()."""
    return boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def hcm_from_env() -> dict:
    """$JWTGATE_E2E_HCM: "default" (Envoy's defaults, the default) or "shipped" (the shipped
    envoy.yaml's path settings), so that the whole suite can run with either."""
    name = os.environ.get("JWTGATE_E2E_HCM", "default")
    if name not in ("default", "shipped"):
        raise RuntimeError(f"JWTGATE_E2E_HCM={name!r}: expected 'default' or 'shipped'")
    return dict(SHIPPED_HCM_PATH_SETTINGS) if name == "shipped" else {}


def bootstrap(
    *,
    plugin_config: Any | None,
    listen_port: int,
    admin_port: int,
    upstream_port: int,
    idp_port: int,
    wasm: Path | None = None,
    failure_policy: str = "FAIL_RELOAD",
    hcm_settings: dict | None = None,
    downstream_tls: dict | None = None,
) -> dict:
    """An Envoy bootstrap: one listener -> [jwtgate wasm] -> router -> cluster `upstream`.

    downstream_tls {"cert": PEM path, "key": PEM path, "ca": PEM path} makes the listener TLS,
    asking clients for a certificate signed by `ca` (not requiring one).

    plugin_config None builds the same proxy without the wasm filter (to check the harness).
    hcm_settings are merged into the HTTP connection manager (None: Envoy's defaults; see
    SHIPPED_HCM_PATH_SETTINGS for the shipped envoy.yaml's path settings).
    """
    http_filters = []
    if plugin_config is not None:
        http_filters.append(wasm_filter(plugin_config, wasm or wasm_path(), failure_policy))
    http_filters.append(
        {"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    )
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "codec_type": "AUTO",
        "route_config": {
            "name": "local",
            "virtual_hosts": [
                {"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "30s"}}]}
            ],
        },
        "http_filters": http_filters,
    }
    hcm.update(hcm_settings or {})
    chain: dict = {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
    if downstream_tls:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "require_client_certificate": False,
                "common_tls_context": {
                    "tls_certificates": [{
                        "certificate_chain": {"filename": str(downstream_tls["cert"])},
                        "private_key": {"filename": str(downstream_tls["key"])},
                    }],
                    "validation_context": {"trusted_ca": {"filename": str(downstream_tls["ca"])}},
                },
            },
        }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "stats_config": {"stats_tags": STATS_TAGS},
        "static_resources": {
            "listeners": [
                {
                    "name": "main",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
                    "filter_chains": [chain],
                }
            ],
            "clusters": [_static_cluster("upstream", upstream_port), _static_cluster("idp", idp_port)],
        },
    }


# ------------------------------------------------------------------ HTTP client


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    elapsed: float = 0.0
    _hmap: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for k, v in self.headers:
            self._hmap.setdefault(k.lower(), []).append(v)

    def header(self, name: str) -> str | None:
        vals = self._hmap.get(name.lower())
        return vals[0] if vals else None

    def header_all(self, name: str) -> list[str]:
        return list(self._hmap.get(name.lower(), []))

    def json(self) -> Any:
        return json.loads(self.body)

    # helpers for echo responses
    def upstream(self) -> dict:
        """The echo upstream's view of the request (fails if the request did not reach it)."""
        assert self.status == 200, f"expected the request to reach upstream, got {self.status} {self.body[:300]!r}"
        doc = self.json()
        assert "headers" in doc and "path" in doc, f"not an echo response: {self.body[:300]!r}"
        return doc

    def __str__(self) -> str:
        return f"<{self.status} {dict((k, v) for k, v in self.headers)} {self.body[:300]!r}>"


def request(
    port: int,
    path: str = "/",
    *,
    method: str = "GET",
    headers: Iterable[tuple[str, str]] | dict | None = None,
    body: bytes | None = None,
    timeout: float = 15.0,
    host: str | None = None,
) -> Response:
    """One request on a fresh connection; `headers` may repeat names (list of pairs)."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.monotonic()
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if not any(k.lower() == "host" for k, _ in headers):
            conn.putheader("Host", host or f"127.0.0.1:{port}")
        for k, v in headers:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.getheaders(), data, time.monotonic() - start)
    finally:
        conn.close()


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


# ------------------------------------------------------------------ Envoy process


class EnvoyStartError(RuntimeError):
    pass


_RUNNING: set = set()


@atexit.register
def _kill_leftovers() -> None:
    """Safety net (e.g. after Ctrl-C): no Envoy or nginx started by the suite outlives it."""
    for proxy in list(_RUNNING):
        proxy.stop()


class ProxyProcess:
    """What Envoy and nginx share as processes of the suite: start (retried on new ports when a
    port was taken meanwhile), stop, logs, traffic. A subclass sets `cmd`, `dir`, `port`,
    `log_path`, `stdout_path` and defines `_write_config` and `wait_ready`."""

    proc: subprocess.Popen | None = None
    _stdout = None

    # --- lifecycle
    def start(self, wait: bool = True, timeout: float = 20.0):
        for attempt in range(3):
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_ready(timeout)
                return self
            except EnvoyStartError:
                # A port picked by free_port() may have been taken in between: retry on new ports.
                if attempt == 2 or "Address already in use" not in self.log_text():
                    raise
                self.stop()
                for p in (self.log_path, self.stdout_path):
                    p.unlink(missing_ok=True)
                self._write_config()
        return self

    def _spawn(self) -> None:
        self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(self.dir),
        )
        _RUNNING.add(self)

    def serves(self) -> bool:
        """True if the listener answers an HTTP request at all."""
        try:
            request(self.port, "/", timeout=2.0)
            return True
        except OSError:
            return False

    def serves_through(self) -> bool:
        """True if a request reaches the upstream (the echo server answers)."""
        try:
            r = request(self.port, "/", timeout=2.0)
            return r.status == 200 and "headers" in r.json()
        except (OSError, ValueError):
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        _RUNNING.discard(self)
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if self._stdout is not None and not self._stdout.closed:
            self._stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- logs
    def log_text(self) -> str:
        out = ""
        for p in (self.log_path, self.stdout_path):
            try:
                out += p.read_text(errors="replace")
            except FileNotFoundError:
                pass
        return out

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    # --- traffic
    def get(self, path: str = "/", **kw) -> Response:
        return request(self.port, path, **kw)


class Envoy(ProxyProcess):
    """One Envoy process with a generated bootstrap; always call stop() (fixtures do)."""

    def __init__(
        self,
        plugin_config: Any | None,
        *,
        upstream_port: int,
        idp_port: int,
        concurrency: int = 1,
        wasm: Path | None = None,
        failure_policy: str = "FAIL_RELOAD",
        log_level: str = "info",
        component_log_level: str | None = "wasm:debug",
        workdir: Path | None = None,
        hcm_settings: dict | None = None,
        downstream_tls: dict | None = None,
        customize: Any | None = None,
    ) -> None:
        """hcm_settings None: as $JWTGATE_E2E_HCM says (see hcm_from_env); {}: Envoy's defaults.
        customize(bootstrap, envoy), when given, edits the generated bootstrap in place before it
        is written (filters after jwtgate, access logs, routes, clusters)."""
        self.plugin_config = plugin_config
        self.customize = customize
        self.concurrency = concurrency
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="jwtgate-e2e-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / "envoy.json"
        self.log_path = self.dir / "envoy.log"
        self.stdout_path = self.dir / "envoy.stdout"
        self.wasm = wasm or wasm_path()
        self._bootstrap_args = dict(
            plugin_config=plugin_config,
            upstream_port=upstream_port,
            idp_port=idp_port,
            wasm=self.wasm,
            failure_policy=failure_policy,
            hcm_settings=hcm_from_env() if hcm_settings is None else hcm_settings,
            downstream_tls=downstream_tls,
        )
        self._write_config()
        self.cmd = [
            envoy_binary(),
            "-c", str(self.config_path),
            "--concurrency", str(concurrency),
            "--disable-hot-restart",
            "-l", log_level,
            "--log-path", str(self.log_path),
        ]
        if component_log_level:
            self.cmd += ["--component-log-level", component_log_level]
        self.proc: subprocess.Popen | None = None

    def _write_config(self) -> None:
        """Pick fresh loopback ports and write the bootstrap."""
        self.port = free_port()
        self.admin_port = free_port()
        cfg = bootstrap(listen_port=self.port, admin_port=self.admin_port, **self._bootstrap_args)
        if self.customize is not None:
            self.customize(cfg, self)
        self.config_path.write_text(json.dumps(cfg, indent=2))

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvoyStartError(f"envoy exited with {self.proc.returncode} before ready\n{self.tail()}")
            if self._admin_ready() and self._listener_accepts():
                return
            time.sleep(0.05)
        raise EnvoyStartError(f"envoy not ready within {timeout}s\n{self.tail()}")

    def _admin_ready(self) -> bool:
        try:
            r = request(self.admin_port, "/ready", timeout=1.0)
            return r.status == 200
        except OSError:
            return False

    def _listener_accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    # --- logs
    def wasm_log_lines(self) -> list[str]:
        """Lines the plugin logged (Envoy prefixes them with `wasm log`)."""
        return [l for l in self.log_text().splitlines() if "wasm log" in l]

    def plugin_error_lines(self) -> list[str]:
        """The plugin's own error and critical lines."""
        return [l for l in self.wasm_log_lines() if "][error][" in l or "][critical][" in l]

    # --- stats
    def stats(self) -> dict[str, int]:
        """All counters and gauges from the admin /stats?format=json."""
        r = request(self.admin_port, "/stats?format=json", timeout=5.0)
        assert r.status == 200, str(r)
        out: dict[str, int] = {}
        for s in r.json().get("stats", []):
            if "name" in s and "value" in s:
                out[s["name"]] = s["value"]
        return out

    def jwtgate_stats(self, timeout: float = 5.0) -> dict[str, int]:
        """The plugin's own metrics, keyed without Envoy's prefix, once every request counted so
        far is in them.

        Envoy 1.40 lists counters defined with proxy_define_metric as `wasmcustom.<name>`
        (Prometheus: `<name>` with dots as underscores). `wasm.jwtgate.vm_reload*` are
        Envoy's stats of the plugin named jwtgate, not the plugin's.

        A VM sends its requests' counts with its next tick (src/host/metrics.rs) and holds the
        gauge `jwtgate.vms_with_unsent_counts` at 1 meanwhile: this waits for a snapshot in which
        that gauge is 0 (or absent: nothing was ever held back), then returns the next one: Envoy
        reads a snapshot's stats one after another, so a flush between its read of a counter and
        its read of the gauge would show the gauge at 0 beside the counter's old value. After
        `timeout` a snapshot is returned as it is (a VM torn down with unsent counts keeps its 1).
        """
        prefix = "wasmcustom."

        def own() -> dict[str, int]:
            return {k[len(prefix):]: v for k, v in self.stats().items() if k.startswith(prefix + "jwtgate.")}

        deadline = time.monotonic() + timeout
        while own().get(UNSENT_GAUGE, 0) != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        return own()

    def counter(self, name: str) -> int:
        """Value of the plugin metric `name` (e.g. 'jwtgate.allowed'); 0 if absent."""
        return self.jwtgate_stats().get(name, 0)

    def wait_counter(self, name: str, at_least: int, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            v = self.counter(name)
            if v >= at_least or time.monotonic() > deadline:
                return v
            time.sleep(0.1)


# The gauge of VMs holding counts not yet sent to the host (src/host/metrics.rs).
UNSENT_GAUGE = "jwtgate.vms_with_unsent_counts"


def www_auth_params(value: str) -> dict[str, str]:
    """Parse `Bearer realm="x", error="y"` into {'realm': 'x', 'error': 'y'}."""
    assert value.startswith("Bearer"), value
    return {m.group(1): m.group(2) for m in re.finditer(r'(\w+)="([^"]*)"', value)}


def path_query(path: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(path).query, keep_blank_values=True)
