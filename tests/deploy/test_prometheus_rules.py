"""The alerting rules of deploy/prometheus and the Grafana dashboard use only series jwtgate exports.

The exported set is derived from the source, the way Envoy builds it: the counter names the filter
defines (src/host/metrics.rs: `jwtgate.<global>`, `jwtgate.denied.<reason>`,
`jwtgate.provider.<name>.<counter>`, `jwtgate.provider.<name>.denied.<reason>`, with the reason
codes of src/reason.rs) get Envoy's `wasmcustom.` prefix, the bootstrap's tag extractors
(envoy.STATS_TAGS, the same as /envoy.yaml) cut `provider` and `reason` out as labels, and
/stats/prometheus writes the rest with `_` for `.` and without the prefix. Renaming a counter or a
reason code in the source, or a series in the rules, fails here; tests/e2e/test_prometheus.py
checks the same rules against a live scrape of Envoy.

promtool itself (`make test-rules`) checks the syntax and that each alert fires and stays silent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from deployutil import REPO

from envoy import STATS_TAGS

RULES = REPO / "deploy" / "prometheus" / "jwtgate-alerts.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "jwtgate-alerts.test.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "jwtgate-dashboard.json"
METRICS_RS = REPO / "src" / "host" / "metrics.rs"
REASON_RS = REPO / "src" / "reason.rs"

# The reasons and the fetch counter the issue asks alerts for.
ALERTED_REASONS = {"token_expired", "wrong_issuer", "bad_signature", "jwks_unavailable"}
ALERTED_COUNTERS = {"jwtgate_provider_jwks_fetch_failed"}
SERIES = re.compile(r"\bjwtgate_[a-z_]+\b")


def rust_str_array(source: str, name: str) -> list[str]:
    m = re.search(rf"const {name}: \[&str; (\d+)\] = \[(.*?)\];", source, re.S)
    assert m, f"no const {name} in {METRICS_RS}"
    items = re.findall(r'"([^"]+)"', m.group(2))
    assert len(items) == int(m.group(1)), (name, items)
    return items


def sources() -> dict[Path, str]:
    """The two source files the exported names come from (a test swaps one for a renamed copy)."""
    return {METRICS_RS: METRICS_RS.read_text(), REASON_RS: REASON_RS.read_text()}


def reason_codes() -> list[str]:
    src = sources()[REASON_RS]
    body = re.search(r"fn as_str\(self\).*?\{(.*?)\n    \}", src, re.S)
    assert body, "no Reason::as_str in src/reason.rs"
    codes = re.findall(r'=> "([a-z_]+)"', body.group(1))
    assert len(codes) == int(re.search(r"pub const ALL: \[Reason; (\d+)\]", src).group(1)), codes
    return codes


def envoy_stat_names(providers: list[str]) -> list[str]:
    """The stat names Envoy holds for the filter, built from src/host/metrics.rs's format strings."""
    src = sources()[METRICS_RS]
    formats = re.findall(r'format!\("(jwtgate\.[^"]*)"', src)
    # the four shapes the counters are defined in; a new shape must be added here on purpose
    assert sorted(formats) == sorted(
        ["jwtgate.{n}", "jwtgate.denied.{r}", "jwtgate.provider.{}.{n}", "jwtgate.provider.{}.denied.{r}"]
    ), formats
    glob, per, reasons = rust_str_array(src, "GLOBAL"), rust_str_array(src, "PER_PROVIDER"), reason_codes()
    names = [f"jwtgate.{n}" for n in glob] + [f"jwtgate.denied.{r}" for r in reasons]
    for p in providers:
        names += [f"jwtgate.provider.{p}.{n}" for n in per]
        names += [f"jwtgate.provider.{p}.denied.{r}" for r in reasons]
    return ["wasmcustom." + n for n in names]  # Envoy's namespace for wasm-defined metrics


def prometheus_series(stat: str) -> tuple[str, dict[str, str]]:
    """(series name, labels) of one Envoy stat, as Envoy's tag extraction and Prometheus writer make it.

    Envoy matches every extractor against the full name; group 2 is the tag's value and group 1
    the text cut out of the name (all cuts are made after the matching)."""
    labels, cuts = {}, []
    for tag in STATS_TAGS:
        m = re.search(tag["regex"], stat)
        if m:
            labels[tag["tag_name"]] = m.group(2)
            cuts.append((m.start(1), m.end(1)))
    name = stat
    for start, end in sorted(cuts, reverse=True):
        name = name[:start] + name[end:]
    return name.removeprefix("wasmcustom.").replace(".", "_"), labels


def exported() -> dict[str, dict[str, set[str]]]:
    """{series name: {label: values}} for a config with two providers."""
    out: dict[str, dict[str, set[str]]] = {}
    for stat in envoy_stat_names(["corp", "partner"]):
        name, labels = prometheus_series(stat)
        entry = out.setdefault(name, {})
        for k, v in labels.items():
            entry.setdefault(k, set()).add(v)
    return out


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def alerts() -> list[dict]:
    return [r for r in rules() if "alert" in r]


def recorded() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def selectors(expr: str) -> list[tuple[str, str]]:
    """(series, label matchers text) of each jwtgate series an expression selects."""
    return [(m.group(1), m.group(2) or "") for m in re.finditer(r"\b(jwtgate_[a-z_]+)\b(?:\{([^}]*)\})?", expr)]


def dashboard_exprs() -> list[str]:
    exprs: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(DASHBOARD.read_text()))
    return exprs


# ----------------------------------------------------------------------------- the derivation


def test_the_derived_series_are_the_documented_ones():
    """The derivation gives the series the README and a live Envoy show (tests/e2e/test_prometheus.py)."""
    have = exported()
    assert have["jwtgate_allowed"] == {}
    assert "token_expired" in have["jwtgate_denied"]["reason"]
    assert have["jwtgate_provider_denied"]["provider"] == {"corp", "partner"}
    assert "jwks_unavailable" in have["jwtgate_provider_denied"]["reason"]
    assert set(have["jwtgate_provider_jwks_fetch_failed"]) == {"provider"}
    assert not any(re.search(r"corp|partner|token_expired", n) for n in have), sorted(have)


# ----------------------------------------------------------------------------- the rules


def test_every_series_and_label_the_rules_use_is_exported():
    have, records = exported(), recorded()
    text = RULES.read_text()
    used = set(SERIES.findall(text))
    assert used, "the rules use no jwtgate series"
    missing = sorted(used - set(have))
    assert not missing, f"the rules use series jwtgate does not export: {missing}\nexported: {sorted(have)}"
    for rule in rules():
        expr = rule["expr"]
        for name, matchers in selectors(expr):
            for label, value in re.findall(r'([a-z_]+)\s*=~?\s*"([^"]*)"', matchers):
                assert label in have[name], f"{name} has no label {label!r}: {expr}"
                assert value in have[name][label] or label == "provider", f"{name}{{{label}={value!r}}}: no such value"
        for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            for label in (g.strip() for g in group.split(",") if g.strip()):
                names = [n for n, _ in selectors(expr)]
                assert any(label in have[n] for n in names), f"no series of {expr!r} has label {label!r}"
        for rec in re.findall(r"\bjwtgate:[a-z0-9_:]+", expr):
            assert rec in records, f"{rec} is recorded by no rule"
    # matchers on recorded series: their reason values are reason codes too
    codes = set(reason_codes())
    for value in re.findall(r'jwtgate:[a-z0-9_:]+\{reason="([^"]*)"\}', text):
        assert value in codes, f"reason {value!r} is not a reason code of src/reason.rs"


def test_each_promised_alert_watches_its_series():
    watched_reasons: set[str] = set()
    watched_series: set[str] = set()
    for a in alerts():
        watched_reasons |= set(re.findall(r'reason="([a-z_]+)"', a["expr"]))
        watched_series |= set(SERIES.findall(a["expr"]))
    assert ALERTED_REASONS <= watched_reasons, ALERTED_REASONS - watched_reasons
    assert ALERTED_COUNTERS <= watched_series, ALERTED_COUNTERS - watched_series


def test_every_alert_has_for_severity_and_runbook_and_names_no_claim():
    """Annotations give counts, reason codes and provider names; no template reaches a token or claim."""
    for a in alerts():
        name = a["alert"]
        assert re.fullmatch(r"\d+m", a.get("for", "")), f"{name}: no `for` in minutes"
        assert a["labels"]["severity"] in {"warning", "critical"}, name
        ann = a["annotations"]
        assert {"summary", "description", "runbook"} <= ann.keys(), name
        for text in ann.values():
            for var in re.findall(r"\$labels\.([a-z_]+)", text):
                assert var in {"provider", "reason"}, f"{name}: annotation reads label {var}"
            assert not re.search(r"\b(sub|email|jti|token_value|claims?)\b\s*[:=]", text), f"{name}: {text}"


def test_every_alert_is_unit_tested_firing_and_silent():
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired: set[str] = set()
    silent: set[str] = set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names <= fired, f"never shown firing: {names - fired}"
    assert names <= silent, f"never shown silent: {names - silent}"


# ----------------------------------------------------------------------------- the dashboard


def test_every_dashboard_series_is_exported():
    have = exported()
    for expr in dashboard_exprs():
        for name, _ in selectors(expr):
            assert name in have, f"dashboard query uses {name}, which jwtgate does not export:\n{expr}"


def test_the_dashboard_shows_what_the_rules_alert_on():
    """Each raw series an alert reads, and each reason it watches, is on a dashboard panel."""
    exprs = dashboard_exprs()
    shown_series = {n for e in exprs for n, _ in selectors(e)}
    shown_reasons = {r for e in exprs for r in re.findall(r'reason=~?"([^"]*)"', e) for r in r.split("|")}
    for a in alerts():
        for name in SERIES.findall(a["expr"]):
            assert name in shown_series, f"{a['alert']} reads {name}, which no dashboard panel shows"
        for reason in re.findall(r'reason="([a-z_]+)"', a["expr"]):
            assert reason in shown_reasons, f"{a['alert']} watches {reason}, which no dashboard panel picks out"


@pytest.mark.parametrize("path, name", [(METRICS_RS, "jwks_fetch_failed"), (REASON_RS, "token_expired")])
def test_a_renamed_counter_or_reason_fails_the_check(path, name, monkeypatch):
    """The check reads the source: with one name changed there, the rules' series are missing."""
    real = sources()
    renamed = real[path].replace(f'"{name}"', f'"{name}_renamed"')
    assert renamed != real[path]
    monkeypatch.setattr(f"{__name__}.sources", lambda: {**real, path: renamed})
    with pytest.raises(AssertionError, match="does not export|no such value|not a reason code"):
        test_every_series_and_label_the_rules_use_is_exported()
