"""Every shipped manifest parses, and every plugin config in it is one the filter accepts.

Each YAML file under deploy/ (and /envoy.yaml) is read with PyYAML; every embedded jwtgate
config (WasmPlugin.spec.pluginConfig, EnvoyExtensionPolicy.spec.wasm[].config, an Envoy wasm
filter's `configuration` StringValue) is written to a file and checked with the CLI
`jwtgate config validate FILE` (exit 0), so an example cannot rot when the contract changes.
The Istio cluster name `outbound|<port>||<host>` is checked against the ServiceEntry and
DestinationRule that create it, and the stats tag extractors against the e2e bootstrap's.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml

from deployutil import REPO

from envoy import STATS_TAGS

DEPLOY = REPO / "deploy"
MANIFESTS = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml")) + [REPO / "envoy.yaml"]
WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"


def load(path: Path) -> list:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def all_docs() -> list[tuple[Path, dict]]:
    return [(p, d) for p in MANIFESTS for d in load(p)]


def kind_docs(kind: str) -> list[tuple[Path, dict]]:
    return [(p, d) for p, d in all_docs() if d.get("kind") == kind]


def envoy_wasm_configs(node) -> list[str]:
    """The plugin configs (StringValue JSON) of every Envoy wasm filter config found in `node`."""
    out = []
    if isinstance(node, dict):
        if node.get("@type") == WASM_TYPE and "config" in node:
            conf = node["config"].get("configuration", {})
            assert conf.get("@type") == "type.googleapis.com/google.protobuf.StringValue", conf
            out.append(conf["value"])
        for v in node.values():
            out.extend(envoy_wasm_configs(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(envoy_wasm_configs(v))
    return out


def embedded_configs() -> list[tuple[str, object]]:
    """(where, plugin config as parsed JSON/YAML) for every jwtgate config the manifests carry."""
    found = []
    for path, doc in all_docs():
        rel = path.relative_to(REPO)
        if doc.get("kind") == "WasmPlugin":
            found.append((f"{rel}: WasmPlugin {doc['metadata']['name']}", doc["spec"]["pluginConfig"]))
        elif doc.get("kind") == "EnvoyExtensionPolicy":
            for w in doc["spec"].get("wasm", []):
                found.append((f"{rel}: EnvoyExtensionPolicy {doc['metadata']['name']} wasm {w['name']}", w["config"]))
        for i, value in enumerate(envoy_wasm_configs(doc)):
            found.append((f"{rel}: wasm filter configuration #{i}", json.loads(value)))
    return found


def validate(cli: Path, cfg, tmp_path: Path) -> subprocess.CompletedProcess:
    f = tmp_path / "plugin.json"
    f.write_text(json.dumps(cfg))
    return subprocess.run([str(cli), "config", "validate", str(f)], capture_output=True, text=True, timeout=30)


# ----------------------------------------------------------------------------- parsing


def test_every_manifest_parses_and_is_a_kubernetes_object_or_envoy_config():
    assert len(MANIFESTS) >= 8, MANIFESTS
    for path in MANIFESTS:
        docs = load(path)
        assert docs, f"{path} holds no document"
        for d in docs:
            assert isinstance(d, dict), f"{path}: a document that is not a mapping"
            if "apiVersion" in d or "kind" in d:
                assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), f"{path}: {d}"
            elif "_format_version" in d:  # Kong declarative config: test_nginx_kong.py checks it
                assert d["_format_version"] == "3.0" and d.get("services"), f"{path}: {d}"
            elif path.parent.name == "prometheus":  # rules and their promtool tests: test_prometheus_rules.py
                assert d.get("groups") or (d.get("rule_files") and d.get("tests")), f"{path}: {d}"
            else:  # Envoy bootstrap or xDS resource file
                assert {"static_resources"} <= d.keys() or {"resources"} <= d.keys(), f"{path}: neither k8s nor Envoy"


EXPECTED = {
    "WasmPlugin": 1,
    "ServiceEntry": 1,
    "DestinationRule": 1,
    "EnvoyExtensionPolicy": 2,
    "EnvoyPatchPolicy": 1,
    "ConfigMap": 1,
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_the_promised_manifests_are_shipped(kind):
    assert len(kind_docs(kind)) >= EXPECTED[kind], f"no {kind} under deploy/"


# ----------------------------------------------------------------------------- plugin configs


CONFIGS = embedded_configs()


def test_configs_were_found_in_every_place():
    wheres = " ".join(w for w, _ in CONFIGS)
    for needle in ("WasmPlugin", "EnvoyExtensionPolicy", "deploy/envoy/ecds/jwtgate.yaml", "envoy.yaml"):
        assert needle in wheres, f"no plugin config found in {needle}: {wheres}"
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("where", [w for w, _ in CONFIGS])
def test_embedded_plugin_config_validates(where, cli, tmp_path):
    cfg = dict(CONFIGS)[where]
    r = validate(cli, cfg, tmp_path)
    assert r.returncode == 0, f"{where}: `jwtgate config validate` exited {r.returncode}:\n{r.stdout}{r.stderr}"


def test_validation_can_fail(cli, tmp_path):
    """Control: the CLI refuses a shipped config with one mistake, so exit 0 above means something."""
    where, cfg = next((w, c) for w, c in CONFIGS if "WasmPlugin" in w)
    broken = json.loads(json.dumps(cfg))
    broken["providers"][0]["isuer"] = broken["providers"][0].pop("issuer")
    r = validate(cli, broken, tmp_path)
    assert r.returncode != 0 and "isuer" in (r.stdout + r.stderr), (r.returncode, r.stdout, r.stderr)


# ----------------------------------------------------------------------------- Istio


def test_wasmplugin_fields():
    for path, d in kind_docs("WasmPlugin"):
        assert d["apiVersion"] == "extensions.istio.io/v1alpha1", path
        spec = d["spec"]
        assert spec["phase"] == "AUTHN"
        assert spec["failStrategy"] == "FAIL_CLOSE"
        assert spec["url"].startswith("oci://"), spec["url"]
        assert spec["selector"]["matchLabels"], "a WasmPlugin without selector applies to the whole namespace"
        assert spec["pluginName"] == "jwtgate", "Istio passes pluginName as root_id (as envoy.yaml's root_id)"


CLUSTER_RE = re.compile(r"^outbound\|(\d+)\|([^|]*)\|([^|]+)$")


def istio_clusters() -> list[tuple[Path, dict, dict]]:
    out = []
    for path, d in kind_docs("WasmPlugin"):
        for p in d["spec"]["pluginConfig"]["providers"]:
            if "remote_jwks" in p:
                out.append((path, d, p))
    assert out, "no WasmPlugin provider with remote_jwks"
    return out


def test_istio_cluster_name_matches_a_service_entry_and_tls_destination_rule():
    entries = kind_docs("ServiceEntry")
    rules = kind_docs("DestinationRule")
    for path, plugin, provider in istio_clusters():
        cluster, uri = provider["remote_jwks"]["cluster"], provider["remote_jwks"]["uri"]
        m = CLUSTER_RE.match(cluster)
        assert m, f"{cluster!r} is not an Istio outbound cluster name outbound|<port>|<subset>|<host>"
        port, subset, host = int(m.group(1)), m.group(2), m.group(3)
        assert subset == "", "a subset needs a DestinationRule subset; the example has none"
        ns = plugin["metadata"]["namespace"]
        se = [d for _, d in entries if host in d["spec"]["hosts"]]
        assert se, f"no ServiceEntry has host {host}"
        assert any(p["number"] == port for d in se for p in d["spec"]["ports"]), f"no ServiceEntry port {port} for {host}"
        assert any(d["metadata"].get("namespace") == ns or d["spec"].get("exportTo") in (None, ["*"]) for d in se)
        # the URI names the same host: :authority and :path of the callout come from it
        u = urllib.parse.urlsplit(uri)
        assert u.hostname == host, f"uri host {u.hostname} != cluster host {host}"
        assert (u.port or {"https": 443, "http": 80}[u.scheme]) == port, (uri, port)
        if u.scheme == "https":
            tls = []
            for _, d in rules:
                if d["spec"]["host"] != host:
                    continue
                pol = d["spec"].get("trafficPolicy", {})
                if pol.get("tls"):
                    tls.append(pol["tls"])
                tls += [s["tls"] for s in pol.get("portLevelSettings", []) if s["port"]["number"] == port and "tls" in s]
            assert any(t.get("mode") == "SIMPLE" and t.get("sni") == host for t in tls), \
                f"https JWKS uri but no DestinationRule originating TLS (SIMPLE, sni {host}) on port {port}"


def test_readme_names_the_cluster():
    text = (DEPLOY / "istio" / "README.md").read_text()
    for _, _, provider in istio_clusters():
        assert provider["remote_jwks"]["cluster"] in text


# ----------------------------------------------------------------------------- Envoy Gateway


def test_envoy_extension_policies():
    patched = {}
    for _, d in kind_docs("EnvoyPatchPolicy"):
        for patch in d["spec"]["jsonPatches"]:
            if patch["type"].endswith("envoy.config.cluster.v3.Cluster"):
                patched[patch["name"]] = patch["operation"]["value"]
    types = set()
    for path, d in kind_docs("EnvoyExtensionPolicy"):
        assert d["apiVersion"] == "gateway.envoyproxy.io/v1alpha1"
        assert d["spec"]["targetRefs"], path
        for w in d["spec"]["wasm"]:
            assert w["failOpen"] is False, f"{path}: failOpen must be false"
            code = w["code"]
            types.add(code["type"])
            key = {"Image": "image", "HTTP": "http"}[code["type"]]
            assert code[key]["url"], path
            if code["type"] == "HTTP":
                assert re.fullmatch(r"[0-9a-f]{64}", code["http"]["sha256"]), "HTTP code needs a sha256"
            for p in w["config"]["providers"]:
                if "remote_jwks" in p:
                    name = p["remote_jwks"]["cluster"]
                    assert name in patched, f"{path}: cluster {name} is defined by no EnvoyPatchPolicy"
                    cluster = patched[name]
                    addr = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
                    u = urllib.parse.urlsplit(p["remote_jwks"]["uri"])
                    assert addr["address"] == u.hostname and addr["port_value"] == (u.port or 443)
                    tls = cluster["transport_socket"]["typed_config"]
                    assert tls["sni"] == u.hostname
    assert types == {"Image", "HTTP"}, types


# ----------------------------------------------------------------------------- stats tags


def istio_bootstrap_override() -> dict:
    for _, d in kind_docs("ConfigMap"):
        if "custom_bootstrap.json" in d.get("data", {}):
            return json.loads(d["data"]["custom_bootstrap.json"])
    pytest.fail("no ConfigMap with custom_bootstrap.json")


def test_stats_tags_are_the_same_everywhere():
    places = {
        "envoy.yaml": yaml.safe_load((REPO / "envoy.yaml").read_text())["stats_config"]["stats_tags"],
        "deploy/envoy/ecds.yaml": yaml.safe_load((DEPLOY / "envoy" / "ecds.yaml").read_text())["stats_config"]["stats_tags"],
        "deploy/istio (bootstrapOverride)": istio_bootstrap_override()["stats_config"]["stats_tags"],
    }
    for where, tags in places.items():
        assert tags == STATS_TAGS, f"{where} stats_tags differ from tests/e2e/envoy.py's STATS_TAGS:\n{tags}"


@pytest.mark.parametrize("name, tags", [
    ("wasmcustom.jwtgate.provider.corp.denied.token_expired", {"provider": "corp", "reason": "token_expired"}),
    ("wasmcustom.jwtgate.provider.corp.jwks_fetch_ok", {"provider": "corp"}),
    ("wasmcustom.jwtgate.denied.token_missing", {"reason": "token_missing"}),
    ("wasmcustom.jwtgate.allowed", {}),
    ("wasmcustom.jwtgate.token_cache_hit", {}),
])
def test_stats_tag_regexes(name, tags):
    """What each extractor takes from a name (Python's re; test_prometheus checks Envoy itself)."""
    got = {}
    for t in STATS_TAGS:
        m = re.search(t["regex"], name)
        if m:
            got[t["tag_name"]] = m.group(2)
    assert got == tags


def test_istio_keeps_jwtgate_stats():
    """Istio drops Envoy stats not in its inclusion list: the pods' annotation must include ours."""
    found = []
    for _, d in kind_docs("Deployment"):
        ann = d["spec"]["template"]["metadata"].get("annotations", {})
        if "proxy.istio.io/config" in ann:
            matcher = yaml.safe_load(ann["proxy.istio.io/config"])["proxyStatsMatcher"]
            found += matcher.get("inclusionPrefixes", [])
            assert ann.get("sidecar.istio.io/bootstrapOverride") in {d2["metadata"]["name"] for _, d2 in kind_docs("ConfigMap")}
    assert any("wasmcustom.jwtgate.provider.corp.allowed".startswith(p) for p in found), found
