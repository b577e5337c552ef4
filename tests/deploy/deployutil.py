"""Helpers shared by the tests/deploy modules (a plain module: `conftest` is ambiguous when
tests/e2e and tests/deploy run in one pytest session)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests" / "e2e") not in sys.path:
    sys.path.insert(0, str(REPO / "tests" / "e2e"))  # envoy.STATS_TAGS: the e2e bootstrap's tag extractors


def artifact(env: str, default: Path, make_target: str) -> Path:
    path = Path(os.environ.get(env) or default)
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make {make_target}` (or set ${env})", pytrace=False)
    return path


def cargo_version() -> str:
    m = re.search(r'^version = "([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M)
    assert m, "no version in Cargo.toml"
    return m.group(1)
