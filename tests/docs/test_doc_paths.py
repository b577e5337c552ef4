"""Every file the documentation names exists: the markdown files of the repository (README.md,
SECURITY.md, docs/*.md, tests/CONTRACT.md, deploy/*/README.md, …) name files as `code`
(`src/host/abi.rs`, `tests/e2e/test_faults.py::test_x`) and as links; a renamed or removed file
must take its mentions along.

Checked: code spans that start with a top-level directory of the repository (`src/`, `tests/`,
`deploy/`, …) or name a top-level file (`envoy.yaml`, `Makefile`, …), and relative link
targets. A `::name` or `#anchor` after a path is dropped; spans with placeholders (`<name>`, `…`)
or wildcards are matched as globs (`{a,b}` expanded) or skipped. Stdlib only.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIP = {"target", "node_modules", ".git", "corpus"}
DOCS = sorted(p for p in REPO.rglob("*.md") if not SKIP & set(p.relative_to(REPO).parts))

TOP_DIRS = ("src/", "tests/", "docs/", "deploy/", "schema/", "scripts/", "bench/", "examples/", "fuzz/", "tools/", ".cargo/")
TOP_FILES = ("envoy.yaml", "Makefile", "Cargo.toml", "Cargo.lock", "README.md", "SECURITY.md")

CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as `-`."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.*)$", doc.read_text(encoding="utf-8"), re.M)}


def _strip(ref: str) -> str:
    ref = ref.split("::", 1)[0].split("#", 1)[0]
    return ref.rstrip(".,:;)")


def named_paths(text: str) -> list[str]:
    """Repository paths a markdown text names in code spans."""
    out = []
    for span in CODE_SPAN.findall(text):
        span = span.strip()
        if " " in span or "<" in span or "…" in span or "$" in span:
            continue
        p = _strip(span)
        if p.startswith(TOP_DIRS) or p in TOP_FILES:
            out.append(p)
    return out


def linked_paths(text: str) -> list[str]:
    """Relative link targets of a markdown text (web links and pure anchors left out)."""
    out = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        out.append(_strip(target))
    return out


def expand(p: str) -> list[str]:
    """`src/{a,b}.rs` → `src/a.rs`, `src/b.rs` (one brace group)."""
    m = re.search(r"\{([^{}]*)\}", p)
    if not m:
        return [p]
    return [p[: m.start()] + alt + p[m.end() :] for alt in m.group(1).split(",")]


def missing(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    name = doc.relative_to(REPO) if doc.is_relative_to(REPO) else doc.name
    problems = []
    for p in (q for named in named_paths(text) for q in expand(named)):
        if any(c in p for c in "*?["):
            if not list(REPO.glob(p)):
                problems.append(f"{name}: `{p}` matches no file")
        elif not (REPO / p).exists():
            problems.append(f"{name}: `{p}` does not exist")
    for p in linked_paths(text):
        if p and not (doc.parent / p).exists():
            problems.append(f"{name}: link ({p}) goes nowhere")
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or "#" not in target:
            continue
        path, anchor = target.split("#", 1)
        into = doc if not path else doc.parent / path
        if into.suffix == ".md" and into.is_file() and anchor not in anchors(into):
            problems.append(f"{name}: link ({target}): no such heading")
    return problems


def test_every_named_file_exists():
    assert REPO / "README.md" in DOCS and REPO / "docs" / "configuration.md" in DOCS, DOCS
    problems = [p for doc in DOCS for p in missing(doc)]
    assert not problems, "\n".join(problems)


def test_the_checker_sees_a_file_that_is_not_there(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "See `src/host/shared.rs`, `src/jwks_cache.rs`, `tests/reasons.rs::token_missing`, "
        "`src/gate.rs`, `docs/nothing.md#part` and [the hosts](hosts.md) and [web](https://x.y/z), "
        "[here](#a-heading), [nowhere](#no-heading), `src/{gate,nothing}.rs`.\n\n## A heading\n"
    )
    got = missing(doc)
    assert "x.md: `src/host/shared.rs` does not exist" in got, got
    assert "x.md: `src/jwks_cache.rs` does not exist" in got, got
    assert "x.md: `docs/nothing.md` does not exist" in got, got
    assert "x.md: link (hosts.md) goes nowhere" in got, got
    assert "x.md: link (#no-heading): no such heading" in got, got
    assert "x.md: `src/nothing.rs` does not exist" in got, got
    assert not any("reasons.rs" in p or "gate.rs" in p or "x.y" in p or "#a-heading" in p for p in got), got
    assert slug("DPoP (v1.2)") == "dpop-v12" and slug("`remote_jwks`") == "remote_jwks"
    assert slug("Envoy's path settings") == "envoys-path-settings"
