"""Every plugin config shipped in deploy/nginx and deploy/kong is one the filter accepts
(`jwtgate config validate`), the Kong filter metadata carries the project's schema in draft 4,
and the nginx example keeps the settings ngx_wasm_module needs (see deploy/nginx/nginx.conf).
Fixtures `cli` and `wasm` come from tests/deploy/conftest.py (make cli, make build)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schema_draft4 import meta, to_draft4  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "deploy" / "nginx" / "nginx.conf"
KONG_YML = REPO / "deploy" / "kong" / "kong.yml"
KONG_CONF = REPO / "deploy" / "kong" / "kong.conf"
KONG_META = REPO / "deploy" / "kong" / "jwtgate.meta.json"


def nginx_unquote(token: str) -> str:
    """nginx.conf's quoted-string rules: \\\\, \\', \\" stand for the character; \\n \\t \\r."""
    out, i = [], 0
    while i < len(token):
        c = token[i]
        if c == "\\" and i + 1 < len(token):
            n = token[i + 1]
            if n in "\"'\\":
                out.append(n)
                i += 2
                continue
            if n in "ntr":
                out.append({"n": "\n", "t": "\t", "r": "\r"}[n])
                i += 2
                continue
        out.append(c)
        i += 1
    return "".join(out)


def nginx_plugin_configs() -> list[str]:
    text = NGINX_CONF.read_text()
    found = re.findall(r"^\s*proxy_wasm\s+jwtgate\s+'((?:[^'\\]|\\.)*)'\s*;", text, flags=re.M)
    return [nginx_unquote(t) for t in found]


def kong_filter_configs() -> list[dict]:
    doc = yaml.safe_load(KONG_YML.read_text())
    chains = list(doc.get("filter_chains") or [])
    for svc in doc.get("services") or []:
        chains += svc.get("filter_chains") or []
        for route in svc.get("routes") or []:
            chains += route.get("filter_chains") or []
    for route in doc.get("routes") or []:
        chains += route.get("filter_chains") or []
    return [f["config"] for c in chains for f in c["filters"] if f["name"] == "jwtgate"]


def all_configs() -> list[tuple[str, str]]:
    out = [(f"nginx.conf#{i}", c) for i, c in enumerate(nginx_plugin_configs())]
    for i, c in enumerate(kong_filter_configs()):
        # Kong hands the filter a JSON object config as its JSON text
        out.append((f"kong.yml#{i}", c if isinstance(c, str) else json.dumps(c)))
    return out


def validate(cli: Path, text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    f = tmp_path / "plugin.json"
    f.write_text(text)
    return subprocess.run([str(cli), "config", "validate", str(f)], capture_output=True, text=True, timeout=30)


def test_configs_are_found():
    assert len(nginx_plugin_configs()) >= 1, "no `proxy_wasm jwtgate '...'` in deploy/nginx/nginx.conf"
    assert len(kong_filter_configs()) >= 1, "no jwtgate filter in deploy/kong/kong.yml"


@pytest.mark.parametrize("name,text", all_configs(), ids=[n for n, _ in all_configs()])
def test_shipped_config_validates(name, text, cli, tmp_path):
    r = validate(cli, text, tmp_path)
    assert r.returncode == 0, f"{name}: jwtgate config validate refused it:\n{r.stdout}{r.stderr}"


def test_validate_refuses_a_broken_config(cli, tmp_path):
    """Control for the test above: the CLI does refuse (exit 1) a config with an unknown field."""
    cfg = json.loads(nginx_plugin_configs()[0])
    cfg["providers"][0]["isuer"] = cfg["providers"][0].pop("issuer")
    r = validate(cli, json.dumps(cfg), tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "isuer" in r.stdout + r.stderr


def test_kong_meta_is_the_project_schema_in_draft4():
    doc = json.loads(KONG_META.read_text())
    assert doc == meta(), "deploy/kong/jwtgate.meta.json is stale: python3 tests/deploy/schema_draft4.py > deploy/kong/jwtgate.meta.json"
    schema = doc["config_schema"]
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(schema)


def test_kong_meta_schema_judges_like_the_project_schema():
    """The draft-4 schema accepts the shipped configs and refuses what the 2020-12 one refuses."""
    project = json.loads((REPO / "schema" / "plugin-config.schema.json").read_text())
    d4 = jsonschema.Draft4Validator(to_draft4(project))
    d2020 = jsonschema.Draft202012Validator(project)
    good = [json.loads(t) for _, t in all_configs()]
    bad = []
    for cfg in good:
        for mutate in (
            lambda c: c.update(bogus=1),
            lambda c: c["providers"][0].update(discovery=True, algorithms=["HS256"]),
            lambda c: c["providers"][0].pop("issuer"),
            lambda c: c.update(mode="audit"),
        ):
            c = json.loads(json.dumps(cfg))
            mutate(c)
            bad.append(c)
    for c in good:
        assert d4.is_valid(c) and d2020.is_valid(c), list(d4.iter_errors(c))
    for c in bad:
        assert not d4.is_valid(c) and not d2020.is_valid(c), c
    # the if/then/else of `discovery` (draft 4 has none: rewritten as anyOf): both drafts agree
    verdicts = []
    for discovery in (None, False, True):
        for jwks in ("uri", "no_uri", "none"):
            c = json.loads(json.dumps(good[0]))
            p = c["providers"][0]
            if discovery is not None:
                p["discovery"] = discovery
            if jwks == "no_uri":
                p["remote_jwks"].pop("uri")
            elif jwks == "none":
                p.pop("remote_jwks")
                if not discovery:
                    p["local_jwks"] = {"inline": {"keys": []}}
            verdicts.append((discovery, jwks, d2020.is_valid(c)))
            assert d4.is_valid(c) == d2020.is_valid(c), (discovery, jwks, list(d4.iter_errors(c)))
    assert {v for *_, v in verdicts} == {True, False}, verdicts


def test_kong_conf_has_what_jwtgate_needs():
    settings = {}
    for line in KONG_CONF.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            k, v = (p.strip() for p in line.split("=", 1))
            settings[k] = v
    assert settings.get("wasm") == "on"
    assert settings.get("wasm_filters_path")
    assert any(k == "nginx_wasm_shm_kv" or k.startswith("nginx_wasm_shm_kv_") for k in settings), settings
    assert settings.get("nginx_wasm_tls_verify_cert") == "on" and settings.get("nginx_wasm_tls_verify_host") == "on"


def test_nginx_example_has_what_ngx_wasm_module_needs():
    text = NGINX_CONF.read_text()
    assert re.search(r"^\s*shm_kv\s+\S+\s+\d+[kKmM]?;", text, flags=re.M), "no shm_kv zone"
    passes = re.findall(r"^\s*proxy_pass\s+(\S+);", text, flags=re.M)
    assert passes and all(re.fullmatch(r"https?://[^/]+/.*", p) for p in passes), \
        f"proxy_pass needs a URI part for the filter's :path to reach upstream: {passes}"
    sent = {m.lower(): v for m, v in re.findall(r"^\s*proxy_set_header\s+(\S+)\s+(\S+);", text, flags=re.M)}
    for cfg in map(json.loads, nginx_plugin_configs()):
        names = {"authorization", "cookie"}
        for p in cfg["providers"]:
            names |= {h["name"].lower() for h in p.get("from_headers", [])}
            names |= {c["header"].lower() for c in p.get("claim_to_headers", [])}
            if p.get("forward_payload_header"):
                names.add(p["forward_payload_header"].lower())
        declared = dict(re.findall(r"^\s*set\s+\$(jwtgate_\w+)\s+(\S+);", text, flags=re.M))
        for n in names:
            var = "jwtgate_" + n.replace("-", "_")
            assert sent.get(n) == "$" + var, f"no `proxy_set_header {n} ${var};`"
            assert declared.get(var) == "$http_" + n.replace("-", "_"), f"no `set ${var} $http_...;`"
    for token in re.findall(r"proxy_wasm\s+jwtgate\s+('(?:[^'\\]|\\.)*')", text):
        assert len(token) <= 4095, "nginx reads at most 4095 bytes per directive argument"


@pytest.mark.skipif(not os.environ.get("NGX_WASM_NGINX"), reason="set NGX_WASM_NGINX=/path/to/nginx (with ngx_wasm_module) to run `nginx -t` on the example")
def test_nginx_example_passes_nginx_t(wasm, tmp_path):
    (tmp_path / "logs").mkdir()
    conf = NGINX_CONF.read_text().replace("/etc/nginx/wasm/jwtgate.wasm", str(wasm))
    (tmp_path / "nginx.conf").write_text(conf)
    r = subprocess.run([os.environ["NGX_WASM_NGINX"], "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "test is successful" in r.stderr, r.stderr
