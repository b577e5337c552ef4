"""The plugin configs shown in README.md and docs/*.md validate against the JSON Schema and the
filter's parser alike, and configs both must refuse are refused by both."""
import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "schema" / "plugin-config.schema.json").read_text())


def cli() -> Path:
    for cand in (os.environ.get("JWTGATE_CLI"), REPO / "target/debug/jwtgate", REPO / "target/release/jwtgate"):
        if cand and Path(cand).is_file():
            return Path(cand)
    subprocess.run(["cargo", "build", "--bin", "jwtgate"], cwd=REPO, check=True)
    return REPO / "target/debug/jwtgate"


DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def documented_configs() -> list[tuple[str, dict]]:
    """Every complete config (a JSON block with `providers`) of the docs, with where it is."""
    out = []
    for doc in DOCS:
        blocks = re.findall(r"```json\n(.*?)```", doc.read_text(), flags=re.S)
        for i, b in enumerate(blocks):
            c = json.loads(b)
            if isinstance(c, dict) and "providers" in c:
                out.append((f"{doc.relative_to(REPO)}#{i}", c))
    return out


def parser_accepts(cfg, tmp_path) -> tuple[bool, str]:
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps(cfg))
    r = subprocess.run([str(cli()), "config", "validate", str(f)], capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode == 0, r.stdout.strip()


def schema_accepts(cfg) -> bool:
    try:
        jsonschema.validate(cfg, SCHEMA, cls=jsonschema.Draft202012Validator)
        return True
    except jsonschema.ValidationError:
        return False


def test_the_docs_have_examples():
    where = [w for w, _ in documented_configs()]
    assert any(w.startswith("README.md") for w in where), where
    assert any(w.startswith("docs/configuration.md") for w in where), where


@pytest.mark.parametrize("where,cfg", documented_configs(), ids=[w for w, _ in documented_configs()])
def test_documented_example_is_valid(where, cfg, tmp_path):
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(cfg, SCHEMA, cls=jsonschema.Draft202012Validator)
    ok, out = parser_accepts(cfg, tmp_path)
    assert ok, out


BASE = {"name": "p", "issuer": "https://i/", "remote_jwks": {"cluster": "c", "uri": "http://i/jwks"}}

BAD = {
    "unknown top-level field": {"providers": [BASE], "typo": 1},
    "unknown provider field": {"providers": [dict(BASE, audience=["x"])]},
    "HS256": {"providers": [dict(BASE, algorithms=["HS256"])]},
    "no jwks": {"providers": [{"name": "p", "issuer": "https://i/"}]},
    "both jwks": {"providers": [dict(BASE, local_jwks={"inline": {"keys": []}})]},
    "header with space": {"providers": [dict(BASE, claim_to_headers=[{"claim": "sub", "header": "X User"}])]},
    "null field": {"providers": [dict(BASE, audiences=None)]},
    "zero refetch interval": {"providers": [dict(BASE, remote_jwks={"cluster": "c", "uri": "http://i/j", "min_refetch_interval_s": 0})]},
    "remote without uri": {"providers": [dict(BASE, remote_jwks={"cluster": "c"})]},
    "revocation both forms": {"providers": [dict(BASE, revocation={"inline": ["a"], "uri": "http://r/x", "cluster": "r"})]},
    "zero timeout": {"providers": [dict(BASE, remote_jwks={"cluster": "c", "uri": "http://i/j", "timeout_ms": 0})]},
    "bad uri": {"providers": [dict(BASE, remote_jwks={"cluster": "c", "uri": "ftp://i/j"})]},
    "no providers": {"providers": []},
    "bad mode": {"providers": [BASE], "mode": "audit"},
    "two forms": {"providers": [BASE], "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "p", "any": [{"provider": "p"}]}}]},
    "match without form": {"providers": [BASE], "rules": [{"match": {}}]},
    "discovery with local keys": {"providers": [{"name": "p", "issuer": "https://i/", "discovery": True, "local_jwks": {"inline": {"keys": []}}}]},
    "bad escaped_slashes": {"providers": [BASE], "escaped_slashes": "allow"},
    "ignore_case not a boolean": {"providers": [BASE], "rules": [{"match": {"path": "/a", "ignore_case": "yes"}}]},
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_schema_and_parser_refuse_alike(name, tmp_path):
    cfg = BAD[name]
    ok, out = parser_accepts(cfg, tmp_path)
    assert not ok, f"parser accepted {name}"
    assert "invalid configuration" in out and "\n" not in out
    assert not schema_accepts(cfg), f"schema accepted {name}"


GOOD = {
    "discovery without uri": {"providers": [{"name": "p", "issuer": "https://i/", "discovery": True, "remote_jwks": {"cluster": "c"}}]},
    "inline revocation": {"providers": [dict(BASE, revocation={"inline": ["jti-1"]})]},
    "fetched revocation": {"providers": [dict(BASE, revocation={"uri": "http://r/revoked.json", "cluster": "r", "cache_duration_s": 60})]},
    "header in any case": {"providers": [dict(BASE, claim_to_headers=[{"claim": "sub", "header": "X-User-Id"}])]},
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_schema_and_parser_accept_alike(name, tmp_path):
    cfg = GOOD[name]
    jsonschema.validate(cfg, SCHEMA, cls=jsonschema.Draft202012Validator)
    ok, out = parser_accepts(cfg, tmp_path)
    assert ok, out
