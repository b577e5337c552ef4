"""tests/CONTRACT.md maps the configuration reference (docs/configuration.md) to the tests that
fail when a rule is broken. This keeps the map honest:

1. every `path::name` reference names a test that exists (Rust: a `fn name` under `#[test]`,
   also inside `proptest!`; Python: a `def name`; a parametrized `name[id]` is looked up as
   `name`, and each part of `id` must occur in that file);
2. every reason code of the reference's reason-code table appears in the map;
3. every field of the reference's field tables appears in the map (by its own name, the last
   part of its path);
4. every labelled rule of the reference (`**D14**`) has a row of that label in the map, and
   every map row whose label has the form of the reference's labels names one that exists;
5. every table row lists tests or says NONE; the number of NONE (and weak) rows is printed.

Stdlib only.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAP = REPO / "tests" / "CONTRACT.md"
SPEC = REPO / "docs" / "configuration.md"

# `tests/reasons.rs::token_revoked`, `src/claims.rs::tests::header_values`,
# `tests/e2e/test_faults.py::test_x[huge]`
REF = re.compile(
    r"^(?P<path>(?:tests|src)/[\w./-]+\.(?P<ext>rs|py))"
    r"::(?P<names>\w+(?:::\w+)*)"
    r"(?:\[(?P<param>[^\]]*)\])?$"
)
CODE_SPAN = re.compile(r"`([^`\n]+)`")


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    refs: int = 0
    rows: int = 0
    none_rows: list[str] = field(default_factory=list)
    weak_rows: list[str] = field(default_factory=list)


def _read(path: Path, cache: dict[Path, str | None]) -> str | None:
    if path not in cache:
        cache[path] = path.read_text(encoding="utf-8") if path.is_file() else None
    return cache[path]


def _rust_test_exists(text: str, name: str) -> bool:
    # `#[test]`, then other attributes, doc comments or blank lines, then `fn name`.
    pattern = (
        r"#\[test\]\s*(?:(?:#\[[^\]]*\]|//[^\n]*)\s*)*"
        r"(?:pub\s+)?(?:async\s+)?fn\s+" + re.escape(name) + r"\b"
    )
    return re.search(pattern, text) is not None


def _python_test_exists(text: str, name: str) -> bool:
    return re.search(r"^[ \t]*(?:async[ \t]+)?def[ \t]+" + re.escape(name) + r"[ \t]*\(", text, re.M) is not None


def check_reference(ref: str, repo: Path, cache: dict[Path, str | None]) -> str | None:
    """None if `ref` names an existing test, else why not."""
    m = REF.match(ref)
    if not m:
        return f"`{ref}`: not a `path::name` test reference"
    path, ext = m.group("path"), m.group("ext")
    name = m.group("names").split("::")[-1]
    text = _read(repo / path, cache)
    if text is None:
        return f"`{ref}`: no file {path}"
    if ext == "rs":
        if not _rust_test_exists(text, name):
            return f"`{ref}`: no #[test] fn {name} in {path}"
    else:
        if not name.startswith("test_"):
            return f"`{ref}`: {name} is not a pytest test name"
        if not _python_test_exists(text, name):
            return f"`{ref}`: no def {name} in {path}"
    param = m.group("param")
    if param is not None:
        for part in param.split("-"):
            if not part or part not in text:
                return f"`{ref}`: parameter id {param!r} does not occur in {path}"
    return None


def table_rows(map_text: str) -> list[list[str]]:
    """The body rows of every `| rule | tests | notes |` table, as cells."""
    rows = []
    in_table = False
    for line in map_text.splitlines():
        s = line.strip()
        if not s.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if cells and cells[0].lower() == "rule":
            in_table = True
            continue
        if in_table and cells and set("".join(cells)) <= set("-: "):
            continue
        if in_table:
            rows.append(cells)
    return rows


def _reference_tables(spec_text: str, first: str) -> list[list[str]]:
    """Body rows of the reference's tables whose first header cell is `first`."""
    rows, in_table, lines = [], False, spec_text.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if not s.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not in_table and cells and cells[0] == first and nxt.startswith("| ---"):
            in_table = True
            continue
        if in_table and set("".join(cells)) <= set("-: "):
            continue
        if in_table:
            rows.append(cells)
    return rows


def _first_span(cell: str) -> str | None:
    m = CODE_SPAN.search(cell)
    return m.group(1) if m else None


def reason_codes(spec_text: str) -> list[str]:
    """The codes of the reference's reason-code table, in order."""
    codes = [_first_span(r[0]) for r in _reference_tables(spec_text, "reason")]
    return [c for c in codes if c]


def example_fields(spec_text: str) -> list[str]:
    """The names of the reference's documented fields: the last part of each field path."""
    seen: list[str] = []
    for row in _reference_tables(spec_text, "field"):
        path = _first_span(row[0])
        if not path:
            continue
        name = path.rsplit(".", 1)[-1].removesuffix("[]")
        if name not in seen:
            seen.append(name)
    return seen


LABEL = re.compile(r"\*\*([A-Z]{1,2}\d+)\*\*")


def rule_labels(spec_text: str) -> list[str]:
    """The labels of the reference's rules (`**D14**`), outside tables (a table cell only
    refers to a rule stated in the text)."""
    seen: list[str] = []
    for line in spec_text.splitlines():
        if line.lstrip().startswith("|"):
            continue
        for label in LABEL.findall(line):
            if label not in seen:
                seen.append(label)
    return seen


def _appears_in_code(word: str, spans: list[str]) -> bool:
    w = re.compile(r"(?<![\w])" + re.escape(word) + r"(?![\w])")
    return any(w.search(s) for s in spans)


def check_map(map_text: str, spec_text: str, repo: Path) -> Report:
    rep = Report()
    cache: dict[Path, str | None] = {}
    spans = CODE_SPAN.findall(map_text)
    # Codes and fields must be named in the map's own words, not only inside a test's name.
    mentions = [s for s in spans if "::" not in s]

    # (1) every reference names an existing test; anything that looks like one must be one.
    for span in spans:
        if "::" not in span:
            continue
        rep.refs += 1
        err = check_reference(span, repo, cache)
        if err:
            rep.errors.append(err)

    # (2) reason codes of the reference.
    codes = reason_codes(spec_text)
    if not codes:
        rep.errors.append("the reference has no reason-code table")
    for code in codes:
        if not _appears_in_code(code, mentions):
            rep.errors.append(f"reason code `{code}` does not appear in the map")

    # (3) fields of the reference.
    fields = example_fields(spec_text)
    if not fields:
        rep.errors.append("the reference has no field tables")
    for f in fields:
        if not _appears_in_code(f, mentions):
            rep.errors.append(f"config field `{f}` of the reference does not appear in the map")

    # (4) labelled rules of the reference, both ways.
    labels = rule_labels(spec_text)
    if not labels:
        rep.errors.append("the reference labels no rules")
    prefixes = {re.sub(r"\d+$", "", x) for x in labels}
    row_labels = [cells[0].split(" ", 1)[0] for cells in table_rows(map_text) if cells]
    for label in labels:
        if label not in row_labels:
            rep.errors.append(f"rule {label} of the reference has no row in the map")
    for label in row_labels:
        if re.sub(r"\d+$", "", label) in prefixes and label not in labels:
            rep.errors.append(f"row {label} names no rule of the reference")

    # (5) every row lists tests or says NONE.
    for cells in table_rows(map_text):
        rep.rows += 1
        if len(cells) != 3:
            rep.errors.append(f"row does not have 3 cells (rule | tests | notes): {cells[:1]}")
            continue
        rule, tests, _notes = cells
        label = rule.split(" ", 1)[0]
        if tests.upper().startswith("NONE"):
            rep.none_rows.append(rule)
            continue
        if not any("::" in s for s in CODE_SPAN.findall(tests)):
            rep.errors.append(f"row {label}: no test reference and not marked NONE")
            continue
        if "weak" in tests.lower():
            rep.weak_rows.append(rule)
    if rep.rows == 0:
        rep.errors.append("the map has no tables")
    return rep


# ------------------------------------------------------------------ tests


def _spec_text() -> str:
    if not SPEC.is_file():
        pytest.fail(f"the reference is not at {SPEC} (expected <repo>/docs/configuration.md)")
    return SPEC.read_text(encoding="utf-8")


def test_the_contract_map_is_honest():
    spec = _spec_text()
    assert MAP.is_file(), f"no {MAP}"
    rep = check_map(MAP.read_text(encoding="utf-8"), spec, REPO)
    strong = rep.rows - len(rep.none_rows) - len(rep.weak_rows)
    print(
        f"\nCONTRACT.md: {rep.rows} rules, {strong} with strong tests, {len(rep.weak_rows)} weak, "
        f"{len(rep.none_rows)} NONE; {rep.refs} test references"
    )
    for r in rep.none_rows:
        print(f"  NONE: {r}")
    for r in rep.weak_rows:
        print(f"  weak: {r}")
    assert not rep.errors, f"{len(rep.errors)} problems in tests/CONTRACT.md:\n" + "\n".join(rep.errors)
    # A map that lost its references would pass the checks above vacuously.
    assert rep.refs >= rep.rows, (rep.refs, rep.rows)
    assert len(reason_codes(spec)) >= 19, reason_codes(spec)


FAKE_MAP = """
## Fake

| rule | tests | notes |
| --- | --- | --- |
| X1 something | `tests/reasons.rs::token_revoked` | exists |
| X2 a test that does not exist | `tests/reasons.rs::no_such_test_anywhere` | |
| X3 a file that does not exist | `tests/nowhere.rs::token_revoked` | |
| X4 a python test that does not exist | `tests/e2e/test_faults.py::test_nothing_like_this[huge]` | |
| X5 a parameter id that does not exist | `tests/e2e/test_faults.py::test_refresh_fault_serves_stale_keys_and_recovers[zzz_no_such_id]` | |
| X6 a helper, not a test | `tests/reasons.rs::cfg_with` | |
| X7 a broken reference | `tests/e2e/test_encoded_slash_in_the_path_is_refused::x` | |
| X8 nothing listed | just words | |
| X9 declared gap | NONE | |
| D1 a rule of the reference | `tests/reasons.rs::token_revoked` | |
| D999 a label the reference does not have | `tests/reasons.rs::token_revoked` | |

Mentions `token_missing` only; and the field `providers`.
"""


def test_the_checker_fails_a_bad_map():
    spec = _spec_text()
    rep = check_map(FAKE_MAP, spec, REPO)
    text = "\n".join(rep.errors)
    assert "tests/reasons.rs::token_revoked" not in text, "an existing test was refused"
    for needle in [
        "no #[test] fn no_such_test_anywhere",
        "no file tests/nowhere.rs",
        "no def test_nothing_like_this",
        "parameter id 'zzz_no_such_id'",
        "no #[test] fn cfg_with",
        "`tests/e2e/test_encoded_slash_in_the_path_is_refused::x`: not a `path::name` test reference",
        "row X8: no test reference and not marked NONE",
        "reason code `token_revoked` does not appear",
        "reason code `path_ambiguous` does not appear",
        "config field `remote_jwks` of the reference does not appear",
        "config field `token_cache_size` of the reference does not appear",
        "config field `max_age_s` of the reference does not appear",
        "rule D14 of the reference has no row in the map",
        "rule T1 of the reference has no row in the map",
        "row D999 names no rule of the reference",
    ]:
        assert needle in text, f"the checker missed: {needle}\n{text}"
    assert "reason code `token_missing`" not in text
    assert "config field `providers`" not in text
    assert "rule D1 of the reference" not in text
    assert "row X1 names" not in text, "X is not a label of the reference"
    assert [r.split(" ", 1)[0] for r in rep.none_rows] == ["X9"]


def test_the_checker_reads_the_reference():
    spec = _spec_text()
    codes = reason_codes(spec)
    assert codes[0] == "token_missing" and "path_ambiguous" in codes, codes
    # v1.2 codes are documented ahead of the code.
    assert "dpop_proof_invalid" in codes and "client_not_allowed" in codes, codes
    fields = example_fields(spec)
    for f in ["providers", "remote_jwks", "max_stale_s", "claim_to_headers", "rules", "token_cache_size",
              "value_prefix", "ignore_case", "allow_missing_or_failed", "dpop", "claims_to_metadata"]:
        assert f in fields, fields
    # Values and words of the meaning column are not fields.
    assert not {"corp", "ES256", "enforce", "Bearer", "report"} & set(fields), fields
    labels = rule_labels(spec)
    for label in ["T1", "P35", "M13", "K8", "A11", "D26", "O8", "H5", "V4", "DP1", "CM2"]:
        assert label in labels, labels
    # A label named only in a table cell is a reference, not a rule.
    table_only = "| x | y |\n| --- | --- |\n| **Z1** | z |\n"
    assert rule_labels(table_only) == []


def test_a_missing_reference_fails_saying_so(monkeypatch, tmp_path):
    missing = tmp_path / "docs" / "configuration.md"
    monkeypatch.setattr(sys.modules[__name__], "SPEC", missing)
    with pytest.raises(pytest.fail.Exception, match="the reference is not at"):
        _spec_text()


def test_references_are_found_in_proptest_blocks_and_unit_modules():
    cache: dict[Path, str | None] = {}
    for ref in [
        "tests/paths.rs::the_forwarded_path_means_what_was_authorized",
        "src/claims.rs::tests::header_values",
        "src/jwks_cache/tests.rs::a_failed_refetch_spends_no_window_and_is_retried",
        "tests/e2e/test_faults.py::test_refresh_fault_serves_stale_keys_and_recovers[huge]",
    ]:
        assert check_reference(ref, REPO, cache) is None, ref
