"""Checks of what the repository ships for deployment: manifests (tests/deploy/test_manifests.py)
and the OCI image layout `make oci` writes (test_oci.py).

Env: JWTGATE_CLI (default target/release/jwtgate, `make cli`), JWTGATE_OCI (default target/oci,
`make oci`), JWTGATE_OCI_TAG (default the Cargo.toml version), JWTGATE_WASM (the built module).
Nothing is built or installed here: a missing tool or artifact fails the test with the make
target that provides it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))  # envoy.STATS_TAGS: the e2e bootstrap's tag extractors


def artifact(env: str, default: Path, make_target: str) -> Path:
    path = Path(os.environ.get(env) or default)
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make {make_target}` (or set ${env})", pytrace=False)
    return path


@pytest.fixture(scope="session")
def cli() -> Path:
    return artifact("JWTGATE_CLI", REPO / "target" / "release" / "jwtgate", "cli")


@pytest.fixture(scope="session")
def wasm() -> Path:
    return artifact("JWTGATE_WASM", REPO / "target" / "wasm32-wasip1" / "release" / "jwtgate.wasm", "build")


def cargo_version() -> str:
    m = re.search(r'^version = "([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M)
    assert m, "no version in Cargo.toml"
    return m.group(1)
