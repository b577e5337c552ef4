"""Checks of what the repository ships for deployment: manifests (tests/deploy/test_manifests.py)
and the OCI image layout `make oci` writes (test_oci.py).

Env: JWTGATE_CLI (default target/release/jwtgate, `make cli`), JWTGATE_OCI (default target/oci,
`make oci`), JWTGATE_OCI_TAG (default the Cargo.toml version), JWTGATE_WASM (the built module).
Nothing is built or installed here: a missing tool or artifact fails the test with the make
target that provides it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deployutil import REPO, artifact  # noqa: E402


@pytest.fixture(scope="session")
def cli() -> Path:
    return artifact("JWTGATE_CLI", REPO / "target" / "release" / "jwtgate", "cli")


@pytest.fixture(scope="session")
def wasm() -> Path:
    return artifact("JWTGATE_WASM", REPO / "target" / "wasm32-wasip1" / "release" / "jwtgate.wasm", "build")
