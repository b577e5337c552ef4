"""Live plugin config updates through ECDS, as Istio delivers a changed WasmPlugin.

The Envoy here runs the shipped example deploy/envoy/ecds.yaml (ports and paths rewritten): its
http filter `jwtgate` gets its whole wasm config from extension_config_discovery with a file
source (`path_config_source` + `watched_directory`). A new config is written next to the watched
file and renamed over it: Envoy sees the move into the directory and re-reads the file.

Checked in real Envoy (2 workers): a new rule and a new audience take effect without a restart;
requests during the switch all get the old or the new verdict, never a 5xx; the keys of an
unchanged provider are reused from shared data (the JWKS server counts fetches); a config the
filter refuses is rejected by ECDS (config_fail) while the old one keeps serving.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from configs import remote
from envoy import REPO, Envoy, request, wasm_path
from helpers import CORP_ISS, HOST, PARTNER_ISS
from tokens import EcKey, jwks, mint
from hosts import ON_NGX

pytestmark = pytest.mark.skipif(ON_NGX, reason="ECDS is Envoy's xDS; ngx_wasm_module takes its config from nginx.conf")

ECDS_BOOTSTRAP = REPO / "deploy" / "envoy" / "ecds.yaml"
ECDS_RESOURCE = REPO / "deploy" / "envoy" / "ecds" / "jwtgate.yaml"
STAT = "extension_config_discovery.http_filter.jwtgate."
CORP_PATH, PARTNER_PATH = "/corp/jwks.json", "/partner/jwks.json"


class EcdsEnvoy(Envoy):
    """Envoy on the shipped ECDS example; push() replaces the plugin config by an atomic rename."""

    def __init__(self, plugin_config, *, upstream_port: int, idp_port: int, workdir: Path, **kw):
        self.ecds_dir = Path(workdir) / "ecds"
        self.ecds_dir.mkdir(parents=True, exist_ok=True)
        self.ecds_file = self.ecds_dir / "jwtgate.yaml"
        self._ports = (upstream_port, idp_port)
        self.version = 0
        super().__init__(None, upstream_port=upstream_port, idp_port=idp_port, workdir=workdir, **kw)
        self.push(plugin_config)

    def _write_config(self) -> None:
        from envoy import free_port

        self.port, self.admin_port = free_port(), free_port()
        boot = yaml.safe_load(ECDS_BOOTSTRAP.read_text())
        boot["admin"]["address"]["socket_address"]["port_value"] = self.admin_port
        listener = boot["static_resources"]["listeners"][0]
        listener["address"]["socket_address"]["port_value"] = self.port
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["timeout"] = "30s"
        src = hcm["http_filters"][0]["config_discovery"]["config_source"]["path_config_source"]
        src["path"] = str(self.ecds_file)
        src["watched_directory"]["path"] = str(self.ecds_dir)
        ports = dict(zip(("upstream", "idp"), self._ports))
        for c in boot["static_resources"]["clusters"]:
            c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["port_value"] = ports[c["name"]]
        self.config_path.write_text(json.dumps(boot, indent=2))

    def push(self, plugin_config) -> int:
        """Write the shipped ECDS resource with this plugin config, atomically; returns its version."""
        self.version += 1
        doc = yaml.safe_load(ECDS_RESOURCE.read_text())
        doc["version_info"] = str(self.version)
        wasm_cfg = doc["resources"][0]["typed_config"]["config"]
        wasm_cfg["vm_config"]["code"]["local"]["filename"] = str(self.wasm)
        wasm_cfg["configuration"]["value"] = plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)
        tmp = self.ecds_dir / f".jwtgate.yaml.{self.version}.tmp"
        tmp.write_text(yaml.safe_dump(doc))
        os.rename(tmp, self.ecds_file)  # the move into the watched directory is the event Envoy reacts to
        return self.version

    def ecds_dump(self) -> tuple[str | None, str | None]:
        """(version_info, plugin configuration) of the jwtgate filter in admin /config_dump.

        Envoy 1.40: after a REJECTED file update this shows the rejected resource (version_info and
        typed_config) although the old config keeps serving; the stat `version_text` keeps the
        version really served.
        """
        r = request(self.admin_port, "/config_dump?resource=ecds_filters", timeout=5.0)
        assert r.status == 200, str(r)
        for c in r.json().get("configs", []):
            ecds = c.get("ecds_filter", {})
            if ecds.get("name") == "jwtgate":
                value = ecds["typed_config"]["config"]["configuration"]["value"]
                return c.get("version_info"), value
        return None, None

    def served_version(self) -> str | None:
        """The stat extension_config_discovery.http_filter.jwtgate.version_text (a text readout)."""
        return self.stats().get(STAT + "version_text")

    def stat(self, name: str) -> int:
        return self.stats().get(STAT + name, 0)


def wait_for(pred, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def reason_of(status: int, body: bytes) -> str:
    if status == 200:
        return "200"
    try:
        return f"{status} {json.loads(body).get('reason')}"
    except ValueError:
        return f"{status} <{body[:80]!r}>"


class Traffic:
    """Request loops across a config switch: every verdict is recorded and must be an allowed one.

    kinds: name -> (path, token or None, set of allowed verdicts). Threads use fresh connections,
    one thread a single kept-alive connection (a long-lived client sees the switch too).
    """

    def __init__(self, env: Envoy, kinds: dict, threads: int = 3):
        self.env, self.kinds = env, kinds
        self.results: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(False,), daemon=True) for _ in range(threads)]
        self.threads.append(threading.Thread(target=self._loop, args=(True,), daemon=True))

    def _one(self, conn, kind):
        path, token, _ = self.kinds[kind]
        headers = {"Host": HOST}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if conn is None:
            r = request(self.env.port, path, headers=headers, timeout=10)
            return reason_of(r.status, r.body)
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return reason_of(resp.status, resp.read())

    def _loop(self, keepalive: bool):
        conn = http.client.HTTPConnection("127.0.0.1", self.env.port, timeout=10) if keepalive else None
        names = list(self.kinds)
        i = 0
        while not self.stop.is_set():
            kind = names[i % len(names)]
            i += 1
            try:
                verdict = self._one(conn, kind)
            except Exception as exc:  # noqa: BLE001 - a failed request is a finding
                verdict = f"error {type(exc).__name__}: {exc}"
                if conn is not None:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.env.port, timeout=10)
            with self.lock:
                self.results.append((time.monotonic(), kind, verdict))
        if conn is not None:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)

    def count(self) -> int:
        with self.lock:
            return len(self.results)

    def check(self) -> None:
        bad = [(k, v) for _, k, v in self.results if v not in self.kinds[k][2]]
        summary: dict = {}
        for _, k, v in self.results:
            summary[(k, v)] = summary.get((k, v), 0) + 1
        assert not bad, f"{len(bad)} requests got a verdict of neither config: {bad[:10]}\nall: {summary}"

    def verdicts_after(self, t: float, kind: str) -> set[str]:
        return {v for ts, k, v in self.results if ts > t and k == kind}


@pytest.fixture
def idp(jwks_server):
    return jwks_server


@pytest.fixture
def ecds_envoy(echo, idp, tmp_path, request):
    started = []

    def make(cfg, concurrency: int = 2):
        if not wasm_path().is_file():
            pytest.fail(f"jwtgate wasm not found at {wasm_path()}: run `make build` or set $JWTGATE_WASM", pytrace=False)
        env = EcdsEnvoy(cfg, upstream_port=echo.port, idp_port=idp.port, workdir=tmp_path / f"envoy{len(started)}",
                        concurrency=concurrency)
        started.append(env)
        env.start()
        return env

    yield make
    failed = any(getattr(getattr(request.node, "rep_" + w, None), "failed", False) for w in ("setup", "call"))
    for env in started:
        env.stop()
        if failed:
            import sys
            sys.stderr.write(f"\n----- envoy log ({env.dir}) -----\n{env.tail(80)}\n")


def corp_provider(idp, audiences):
    return {"name": "corp", "issuer": CORP_ISS, "audiences": audiences, "remote_jwks": remote(idp, CORP_PATH)}


def config_v1(idp):
    return {
        "providers": [corp_provider(idp, ["api"])],
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "corp"}}],
    }


def config_v2(idp):
    """v1 + audience api2, a rule /open without token, and a new provider partner."""
    return {
        "providers": [
            corp_provider(idp, ["api", "api2"]),
            {"name": "partner", "issuer": PARTNER_ISS, "remote_jwks": remote(idp, PARTNER_PATH)},
        ],
        "rules": [
            {"match": {"prefix": "/open"}},
            {"match": {"prefix": "/partner"}, "requires": {"provider": "partner"}},
            {"match": {"prefix": "/"}, "requires": {"provider": "corp"}},
        ],
    }


def test_config_update_applies_live_without_failing_requests_and_reuses_keys(ecds_envoy, idp):
    corp_key, partner_key = EcKey("ecds-corp"), EcKey("ecds-partner")
    idp.set_jwks(jwks(corp_key), path=CORP_PATH)
    idp.set_jwks(jwks(partner_key), path=PARTNER_PATH)
    env = ecds_envoy(config_v1(idp))
    pid = env.proc.pid
    assert env.served_version() == "1"

    api = mint(corp_key, iss=CORP_ISS, aud="api")
    api2 = mint(corp_key, iss=CORP_ISS, aud="api2")
    kinds = {
        "api": ("/x", api, {"200"}),
        "api2": ("/x", api2, {"401 wrong_audience", "200"}),
        "open": ("/open/x", None, {"401 token_missing", "200"}),
    }
    traffic = Traffic(env, kinds)
    # the old verdicts, before any switch
    assert traffic._one(None, "api") == "200"
    assert traffic._one(None, "api2") == "401 wrong_audience"
    assert traffic._one(None, "open") == "401 token_missing"
    corp_fetches = idp.count(CORP_PATH)
    assert corp_fetches >= 1
    assert idp.count(PARTNER_PATH) == 0
    reloads = env.stat("config_reload")

    with traffic:
        wait_for(lambda: traffic.count() >= 30, 20, "traffic on the old config")
        pushed_at = time.monotonic()
        env.push(config_v2(idp))
        # the event: the new audience and the new rule are observed (not a fixed sleep)
        wait_for(lambda: traffic._one(None, "api2") == "200" and traffic._one(None, "open") == "200", 15,
                 "the new config to take effect")
        # seen once; then 8 times in a row on fresh connections (spread over both workers)
        wait_for(lambda: all(traffic._one(None, "api2") == "200" for _ in range(8)), 10, "every worker on the new config")
        switched_at = time.monotonic()
        settle = switched_at + 1.0  # the other worker may take its new config a moment later
        wait_for(lambda: sum(1 for r in list(traffic.results) if r[0] > settle) >= 60, 30, "traffic on the new config")
    traffic.check()
    assert env.alive() and env.proc.pid == pid, "Envoy restarted"
    assert env.served_version() == "2", "the stats do not show the new version"
    version_info, served = env.ecds_dump()
    assert version_info == "2" and '"api2"' in served, (version_info, served)
    assert env.stat("config_reload") > reloads, env.stats()
    assert env.stat("config_fail") == 0
    # both verdicts of each changing kind were seen, so the loop really spanned the switch
    seen = {v for _, k, v in traffic.results if k == "api2"}
    assert seen == {"401 wrong_audience", "200"}, seen
    # after the switch was observed (+1 s for the other worker) every request got the new verdict
    assert traffic.verdicts_after(settle, "api2") == {"200"}
    assert traffic.verdicts_after(settle, "open") == {"200"}
    assert switched_at - pushed_at < 15

    # the new provider's keys were fetched: the new config's VMs are running and ticking
    wait_for(lambda: idp.count(PARTNER_PATH) >= 1, 10, "the new provider's first JWKS fetch")
    assert traffic._one(None, "api") == "200"
    fresh = mint(corp_key, iss=CORP_ISS, aud="api")  # not in any token cache: needs the keys
    r = request(env.port, "/x", headers={"Host": HOST, "Authorization": f"Bearer {fresh}"})
    assert r.status == 200, r
    r = request(env.port, "/partner/y", headers={"Host": HOST, "Authorization": f"Bearer {mint(partner_key, iss=PARTNER_ISS)}"})
    assert r.status == 200, r
    # the unchanged provider's keys came from shared data: no JWKS refetch for corp
    assert idp.count(CORP_PATH) == corp_fetches, (
        f"corp's JWKS was fetched again after the config update ({corp_fetches} -> {idp.count(CORP_PATH)}): "
        "the keys in shared data were not reused"
    )


BAD_CONFIG = {"providers": [{"name": "corp", "issuer": CORP_ISS, "remote_jwks": {"cluster": "idp", "uri": "http://x/j"}}],
              "rules": [], "mode": "enforce", "bogus_field": True}


def test_refused_config_is_rejected_and_the_old_one_keeps_serving(ecds_envoy, idp):
    corp_key = EcKey("ecds-corp-2")
    idp.set_jwks(jwks(corp_key), path=CORP_PATH)
    env = ecds_envoy(config_v1(idp))
    api2 = mint(corp_key, iss=CORP_ISS, aud="api2")
    kinds = {
        "api": ("/x", mint(corp_key, iss=CORP_ISS, aud="api"), {"200"}),
        "api2": ("/x", api2, {"401 wrong_audience"}),       # the bad config never applies
        "open": ("/open/x", None, {"401 token_missing"}),
    }
    fails = env.stat("config_fail")
    assert fails == 0
    with Traffic(env, kinds) as traffic:
        wait_for(lambda: traffic.count() >= 20, 20, "traffic on the old config")
        env.push(BAD_CONFIG)
        wait_for(lambda: env.stat("config_fail") > fails, 15, "ECDS to reject the refused config")
        n = traffic.count()
        wait_for(lambda: traffic.count() >= n + 30, 30, "traffic after the rejection")
    traffic.check()
    assert env.served_version() == "1", "the rejected version is shown as served"
    # (config_dump is no witness here: Envoy 1.40 shows the rejected resource there, version and
    # typed_config, while the old one keeps serving; the verdicts above are what counts)
    assert env.stat("update_rejected") >= 1
    assert any("bogus_field" in line for line in env.wasm_log_lines()), "the plugin did not log why"

    # not JSON at all: rejected too
    fails = env.stat("config_fail")
    env.push("{not json")
    wait_for(lambda: env.stat("config_fail") > fails, 15, "ECDS to reject a config that is not JSON")
    assert traffic._one(None, "api2") == "401 wrong_audience"
    assert traffic._one(None, "api") == "200"

    # the subscription still works after rejections: a good config is applied
    env.push(config_v2(idp))
    wait_for(lambda: traffic._one(None, "api2") == "200", 15, "a good config after a rejected one")
    assert env.served_version() == str(env.version)
