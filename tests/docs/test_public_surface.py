"""The library's public surface is the one docs/architecture.md describes.

`src/lib.rs` keeps every module private except a chosen few; the reference names those few, so
a module made public (or private) without the docs saying so fails here, and so does a CLI file
that reaches past the surface into a private module.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIB = (ROOT / "src" / "lib.rs").read_text()
ARCH = (ROOT / "docs" / "architecture.md").read_text()


def public_modules() -> set[str]:
    return set(re.findall(r"^pub mod (\w+);", LIB, re.M))


def internal_modules() -> set[str]:
    block = re.search(r"internal! \{(.*?)\}", LIB, re.S)
    assert block, "src/lib.rs declares no internal modules"
    return set(re.findall(r"(\w+);", block.group(1)))


def surface_section() -> str:
    m = re.search(r"## The library's surface\n(.*?)\n## ", ARCH, re.S)
    assert m, "docs/architecture.md has no section on the library's surface"
    return m.group(1)


def test_the_docs_name_exactly_the_public_modules():
    public = public_modules()
    assert public, "no public module in src/lib.rs"
    named = set(re.findall(r"`(\w+)` \(", surface_section()))
    assert named == public, f"docs name {sorted(named)}, src/lib.rs makes public {sorted(public)}"


def test_every_other_module_is_internal():
    tops = {p.stem if p.is_file() else p.name for p in (ROOT / "src").iterdir()
            if (p.suffix == ".rs" and p.name != "lib.rs") or (p.is_dir() and p.name != "bin")}
    assert tops == public_modules() | internal_modules() | {"host"}, \
        tops ^ (public_modules() | internal_modules() | {"host"})


# Crates built without the `test-support` feature: the CLI and the verify microbenchmark
# (`make bench` builds it on its own; a private path there breaks only the bench).
WITHOUT_TEST_SUPPORT = [ROOT / "src" / "bin", ROOT / "bench" / "verify" / "src"]


def test_the_cli_and_the_bench_use_only_the_surface():
    internal = internal_modules()
    files = [f for d in WITHOUT_TEST_SUPPORT for f in d.rglob("*.rs")]
    assert len(files) > 1, "no CLI or bench source found"
    for f in files:
        for m in re.findall(r"\bjwtgate::(\w+)::", f.read_text()):
            assert m not in internal, f"{f.relative_to(ROOT)} reaches the private module `{m}`"
