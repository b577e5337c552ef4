"""Envoy's /stats/prometheus shows jwtgate's counters with `provider` and `reason` as labels.

The filter names its counters `jwtgate.provider.<name>.denied.<reason>` etc. (src/host/metrics.rs);
the bootstrap's `stats_config.stats_tags` (envoy.STATS_TAGS, the same list as /envoy.yaml) cut the
provider name and the reason out of the name into tags, so Prometheus sees one series per label
set: `jwtgate_provider_denied{provider="corp",reason="token_expired"}`. The text is parsed with
prometheus-client's own parser, the way a Prometheus-compatible scraper would read it.

The Grafana dashboard shipped in deploy/grafana/ and the alerting rules of deploy/prometheus/ are
checked against the same scrape: every metric name their queries use exists, with the labels they
group by and the reason values they match.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from configs import remote
from envoy import REPO, request
from helpers import CORP_ISS, Gateway, assert_401_invalid, assert_401_missing, assert_503_unavailable
from tokens import EcKey, jwks, mint, tamper_signature
from hosts import ON_NGX

pytestmark = pytest.mark.skipif(ON_NGX, reason="Envoy's /stats/prometheus: plain nginx has no stats endpoint")

DASHBOARD = REPO / "deploy" / "grafana" / "jwtgate-dashboard.json"
ALERT_RULES = REPO / "deploy" / "prometheus" / "jwtgate-alerts.yaml"
BROKEN_ISS = "https://broken.example/"


def scrape(env) -> dict[tuple[str, tuple], float]:
    """{(series name, sorted label items): value} for every jwtgate sample of /stats/prometheus.

    The series name is the one Envoy writes (and Prometheus stores): `jwtgate_allowed`. The parser
    reports a counter's samples as `<family>_total` (its OpenMetrics normalization), so counters are
    keyed by the family name, after checking that Envoy really wrote that name.
    """
    r = request(env.admin_port, "/stats/prometheus", timeout=5.0)
    assert r.status == 200, str(r)
    text = r.body.decode()
    out: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name = family.name if family.type == "counter" else s.name
            if name.startswith("jwtgate_"):
                assert re.search(rf"^{re.escape(name)}{{", text, re.M), f"{name} is not a series Envoy wrote"
                out[(name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def wait_scrape(env, expected: dict, timeout: float = 10.0) -> dict:
    """Scrape until every (name, labels) in `expected` has its value in a scrape taken after one in
    which no VM held counts it had not sent (the gauge of src/host/metrics.rs at 0 or absent: the
    next scrape, as in Envoy.jwtgate_stats); the last scrape either way."""
    deadline = time.monotonic() + timeout
    settled = False
    while True:
        samples = scrape(env)
        if settled and all(value(samples, n, **dict(l)) == v for (n, l), v in expected.items()):
            return samples
        settled = not value(samples, "jwtgate_vms_with_unsent_counts")
        if time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


@pytest.fixture(scope="module")
def scraped(module_envoy_factory, request):
    """One Envoy, a fixed set of allowed and denied requests, then the scrape (shared by the tests)."""
    from servers import JwksServer

    corp_key, stranger = EcKey("prom-corp-1"), EcKey("prom-unpublished")
    idp = JwksServer()
    request.addfinalizer(idp.close)
    idp.set_jwks(jwks(corp_key), path="/corp/jwks.json")
    # /broken/jwks.json is never set: the server answers {"keys": []}, a failed fetch (no usable key)
    cfg = {
        "providers": [
            {"name": "corp", "issuer": CORP_ISS, "audiences": ["api"],
             "remote_jwks": remote(idp, "/corp/jwks.json")},
            {"name": "broken", "issuer": BROKEN_ISS,
             "remote_jwks": remote(idp, "/broken/jwks.json", timeout_ms=1000)},
        ],
        "rules": [
            {"match": {"prefix": "/public"}},
            {"match": {"prefix": "/broken"}, "requires": {"provider": "broken"}},
            {"match": {"prefix": "/"}, "requires": {"provider": "corp"}},
        ],
    }
    env = module_envoy_factory(cfg, idp=idp)
    gw = Gateway(env)
    now = int(time.time())

    good = mint(corp_key, iss=CORP_ISS, aud="api")
    assert gw.get("/a", token=good).status == 200            # allowed, cache miss
    assert gw.get("/a", token=good).status == 200            # allowed, cache hit
    assert gw.get("/a", token=mint(corp_key, iss=CORP_ISS, aud="api")).status == 200  # allowed, miss
    expired = mint(corp_key, iss=CORP_ISS, aud="api", iat=now - 3600, exp=now - 1800)
    assert_401_invalid(gw.get("/a", token=expired), "token_expired")
    for _ in range(2):
        wrong_aud = mint(corp_key, iss=CORP_ISS, aud="other")
        assert_401_invalid(gw.get("/a", token=wrong_aud), "wrong_audience")
    untrusted = mint(corp_key, iss="https://untrusted.example/", aud="api")
    assert_401_invalid(gw.get("/a", token=untrusted), "wrong_issuer")
    forged = tamper_signature(mint(corp_key, iss=CORP_ISS, aud="api"))
    assert_401_invalid(gw.get("/a", token=forged), "bad_signature")
    unknown = mint(stranger, iss=CORP_ISS, aud="api")
    assert_401_invalid(gw.get("/a", token=unknown), "unknown_kid")  # refetch for an unknown kid
    assert_401_missing(gw.get("/a"))
    assert gw.get("/public/x").status == 200                  # not_required
    broken_tok = mint(corp_key, iss=BROKEN_ISS)
    assert_503_unavailable(gw.get("/broken", token=broken_tok))  # paused, then jwks_unavailable

    expected = {
        ("jwtgate_allowed", ()): 3.0,
        ("jwtgate_provider_allowed", (("provider", "corp"),)): 3.0,
        ("jwtgate_provider_denied", (("provider", "corp"), ("reason", "token_expired"))): 1.0,
        ("jwtgate_denied", (("reason", "token_expired"),)): 1.0,
        ("jwtgate_provider_denied", (("provider", "corp"), ("reason", "wrong_audience"))): 2.0,
        ("jwtgate_denied", (("reason", "wrong_audience"),)): 2.0,
        ("jwtgate_denied", (("reason", "token_missing"),)): 1.0,
        ("jwtgate_denied", (("reason", "wrong_issuer"),)): 1.0,
        ("jwtgate_provider_denied", (("provider", "corp"), ("reason", "bad_signature"))): 1.0,
        ("jwtgate_not_required", ()): 1.0,
        ("jwtgate_token_cache_hit", ()): 1.0,
    }
    samples = wait_scrape(env, expected)
    return env, samples, expected


def test_counters_carry_provider_and_reason_labels(scraped):
    env, samples, expected = scraped
    for (name, labels), want in expected.items():
        got = value(samples, name, **dict(labels))
        assert got == want, f"{name}{dict(labels)} = {got}, expected {want}; jwtgate samples:\n" + _dump(samples)


def test_jwks_fetch_and_refetch_counters_are_per_provider(scraped):
    env, samples, _ = scraped
    ok = value(samples, "jwtgate_provider_jwks_fetch_ok", provider="corp")
    assert ok is not None and ok >= 1, _dump(samples)
    failed = value(samples, "jwtgate_provider_jwks_fetch_failed", provider="broken")
    assert failed is not None and failed >= 1, _dump(samples)
    refetch = value(samples, "jwtgate_provider_jwks_refetch_unknown_kid", provider="corp")
    assert refetch is not None and refetch >= 1, _dump(samples)
    assert value(samples, "jwtgate_provider_denied", provider="broken", reason="jwks_unavailable") == 1.0, _dump(samples)
    paused = value(samples, "jwtgate_paused")
    assert paused is not None and paused >= 1, _dump(samples)


def test_no_provider_or_reason_is_left_in_a_metric_name(scraped):
    """Tag extraction took every provider name and reason out of the names (no per-value series)."""
    env, samples, _ = scraped
    names = {name for name, _ in samples}
    leftovers = sorted(n for n in names if re.search(r"^jwtgate_(provider_)?denied_|_(corp|broken)(_|$)", n))
    assert not leftovers, f"names still holding a provider or reason: {leftovers}"
    # and the /stats view (not tag-extracted) still has the dotted names docs/operations.md documents
    assert env.counter("jwtgate.provider.corp.denied.token_expired") == 1


def _dump(samples: dict) -> str:
    return "\n".join(f"  {n}{dict(l)} {v}" for (n, l), v in sorted(samples.items()))


# ----------------------------------------------------------------------------- Grafana dashboard


def dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            if isinstance(node.get("query"), dict) and isinstance(node["query"].get("query"), str):
                exprs.append(node["query"]["query"])  # templating variables
            elif isinstance(node.get("query"), str) and "jwtgate_" in node["query"]:
                exprs.append(node["query"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return exprs


def test_dashboard_has_the_promised_panels():
    doc = json.loads(DASHBOARD.read_text())
    titles = " | ".join(p.get("title", "") for p in doc["panels"]).lower()
    for word in ("allowed", "denied by reason", "per provider", "jwks fetch", "cache hit ratio"):
        assert word in titles, f"no panel about {word!r}: {titles}"
    assert len(dashboard_queries()) >= 6


def test_every_dashboard_metric_exists_in_the_scrape(scraped):
    env, samples, _ = scraped
    have: dict[str, set[str]] = {}
    for name, labels in samples:
        have.setdefault(name, set()).update(k for k, _ in labels)
    for expr in dashboard_queries():
        names = set(re.findall(r"\bjwtgate_[a-z_]+\b", expr))
        assert names, f"a dashboard query uses no jwtgate metric: {expr}"
        for n in names:
            assert n in have, f"dashboard query uses {n}, which Envoy does not expose:\n{expr}\nexposed: {sorted(have)}"
        for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            for label in (g.strip() for g in group.split(",") if g.strip()):
                assert any(label in have[n] for n in names), f"{expr}: no metric of it has label {label!r}"
        for label in re.findall(r"([a-z_]+)\s*=~?\s*\"", expr):
            assert any(label in have[n] for n in names), f"{expr}: no metric of it has label {label!r}"


# ----------------------------------------------------------------------------- alerting rules


def test_every_alert_rule_series_exists_in_the_scrape(scraped):
    """deploy/prometheus's rules read series, labels and reasons Envoy really exposes (a renamed
    counter or reason code, or a typo in a rule, fails here as well as in tests/deploy)."""
    env, samples, _ = scraped
    have: dict[str, dict[str, set[str]]] = {}
    for name, labels in samples:
        for k, v in labels:
            have.setdefault(name, {}).setdefault(k, set()).add(v)
        have.setdefault(name, {})
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    exprs = [r["expr"] for g in groups for r in g["rules"]]
    assert any("alert" in r for g in groups for r in g["rules"])
    for expr in exprs:
        for m in re.finditer(r"\b(jwtgate_[a-z_]+)\b(?:\{([^}]*)\})?", expr):
            name, matchers = m.group(1), m.group(2) or ""
            assert name in have, f"rule reads {name}, which Envoy does not expose:\n{expr}\nexposed: {sorted(have)}"
            for label, val in re.findall(r'([a-z_]+)\s*=\s*"([^"]*)"', matchers):
                assert val in have[name].get(label, set()), f"{expr}: no {name}{{{label}={val!r}}} in the scrape"
            for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
                for label in (g.strip() for g in group.split(",") if g.strip()):
                    assert label in have[name], f"{expr}: {name} has no label {label!r}"
    # the reasons the alerts watch through recorded series, as Envoy labels them
    watched = set(re.findall(r'reason="([a-z_]+)"', ALERT_RULES.read_text()))
    assert {"token_expired", "wrong_issuer", "bad_signature", "jwks_unavailable"} <= watched
    assert watched <= have["jwtgate_denied"]["reason"], watched - have["jwtgate_denied"]["reason"]
