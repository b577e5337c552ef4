"""The project's JSON Schema (draft 2020-12) in the draft 4 that Kong accepts for a Wasm
filter's `config_schema` (Kong validates it with lua-resty-ljsonschema's draft-04 metaschema and
refuses any other `$schema`). deploy/kong/jwtgate.meta.json must equal to_draft4(schema).

    python3 tests/deploy/schema_draft4.py > deploy/kong/jwtgate.meta.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DRAFT4 = "http://json-schema.org/draft-04/schema#"


def to_draft4(schema: dict) -> dict:
    def conv(node):
        if isinstance(node, list):
            return [conv(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for k, v in node.items():
            if k == "$schema":
                out[k] = DRAFT4
            elif k == "$id":
                continue  # draft 4 spells it `id`; Kong needs none
            elif k == "$defs":
                out["definitions"] = {name: conv(d) for name, d in v.items()}
            elif k == "$ref":
                if not v.startswith("#/$defs/"):
                    raise ValueError(f"unsupported $ref {v}")
                out[k] = "#/definitions/" + v[len("#/$defs/"):]
            elif k == "const":
                out["enum"] = [v]
            elif k in ("properties", "definitions", "patternProperties"):
                out[k] = {name: conv(d) for name, d in v.items()}
            elif k in ("if", "then", "else"):
                continue  # rewritten below
            elif k in ("prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentRequired",
                       "dependentSchemas", "$anchor", "$dynamicRef"):
                raise ValueError(f"no draft-4 equivalent for {k}")
            elif k in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(v, bool):
                raise ValueError(f"numeric {k} needs a rewrite for draft 4")
            else:
                out[k] = conv(v)
        if "if" in node:
            # draft 4 has no if/then/else: (if AND then) OR (NOT if AND else)
            cond = conv(node["if"])
            then = conv(node.get("then", {}))
            other = conv(node.get("else", {}))
            branch = {"anyOf": [{"allOf": [cond, then]}, {"allOf": [{"not": cond}, other]}]}
            out.setdefault("allOf", []).append(branch)
        if "$ref" in out and len(out) > 1:
            # draft 4 ignores keywords beside $ref; 2020-12 applies them
            ref = out.pop("$ref")
            out = {"allOf": [{"$ref": ref}, out]}
        return out

    return conv(schema)


def meta() -> dict:
    schema = json.loads((REPO / "schema" / "plugin-config.schema.json").read_text())
    return {"config_schema": to_draft4(schema)}


if __name__ == "__main__":
    json.dump(meta(), sys.stdout, indent=2)
    sys.stdout.write("\n")
