"""The library's modules import one way: no cycle between top-level modules of src/.

Each top-level module (a file `src/x.rs` or a directory `src/x/`) may name others through
`crate::...` or `super::...` paths; test code (`#[cfg(test)]` modules) is not counted.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
REF = re.compile(r"\bcrate::(\w+)")


def _non_test_code(text: str) -> str:
    # Everything from the first `#[cfg(test)]` on is test code in this project's style.
    return text.split("#[cfg(test)]", 1)[0]


def module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.rs"):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "bin" or rel.name in ("lib.rs",):
            continue
        top = rel.parts[0].removesuffix(".rs")
        if rel.name == "tests.rs":
            continue
        deps = graph.setdefault(top, set())
        for m in REF.findall(_non_test_code(path.read_text())):
            if m != top and m not in ("Reason",):
                deps.add(m)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if state.get(d) is None:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if state.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycles_between_modules():
    graph = module_graph()
    assert "gate" in graph and "jwks_cache" in graph, sorted(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
