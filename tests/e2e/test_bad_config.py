"""A config that does not validate refuses to start, with one log line naming the field.

Envoy 1.40 (measured with a probe filter): when on_configure returns false for a static
listener's wasm filter, Envoy logs `Wasm VM failed Failed to configure base Wasm plugin`,
`Plugin jwtgate failed to load`, `error "Unable to create Wasm plugin jwtgate" initializing
config` and exits with status 1 within a fraction of a second. The plugin's own line appears as
`[error][wasm] ... wasm log jwtgate jwtgate: <message>`.
"""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from helpers import CORP_ISS, Gateway, assert_401_missing
from hosts import ON_NGX
from tokens import EcKey, jwks, mint

_KEY = EcKey("cfg-1")

BASE = {
    "providers": [
        {
            "name": "corp",
            "issuer": CORP_ISS,
            "local_jwks": {"inline": jwks(_KEY)},
        }
    ],
    "rules": [{"match": {"prefix": "/"}, "requires": {"provider": "corp"}}],
}


def _mutate(fn):
    cfg = copy.deepcopy(BASE)
    fn(cfg)
    return cfg


def _set(path, value):
    def fn(cfg):
        obj = cfg
        for p in path[:-1]:
            obj = obj[p]
        obj[path[-1]] = value
    return fn


BAD = {
    "unknown_top_level_field": (_mutate(_set(["bogus_field"], 1)), ["bogus_field"]),
    "unknown_provider_field": (_mutate(_set(["providers", 0, "isuer"], CORP_ISS)), ["isuer"]),
    "duplicate_provider_names": (
        _mutate(lambda c: c["providers"].append(dict(c["providers"][0]))),
        ["corp", "name", "duplicate"],
    ),
    "algorithm_hs256": (_mutate(_set(["providers", 0, "algorithms"], ["HS256"])), ["HS256", "algorithms"]),
    "missing_issuer": (_mutate(lambda c: c["providers"][0].pop("issuer")), ["issuer"]),
    "remote_and_local_jwks": (
        _mutate(_set(["providers", 0, "remote_jwks"], {"cluster": "idp", "uri": "http://idp/jwks"})),
        ["remote_jwks", "local_jwks"],
    ),
    "no_jwks": (_mutate(lambda c: c["providers"][0].pop("local_jwks")), ["remote_jwks", "local_jwks"]),
    "discovery_without_remote_jwks": (_mutate(_set(["providers", 0, "discovery"], True)), ["remote_jwks", "discovery"]),
    "revocation_both_forms": (
        _mutate(_set(["providers", 0, "revocation"], {"inline": ["j1"], "uri": "http://r/x", "cluster": "r"})),
        ["revocation"],
    ),
    "null_field": (_mutate(_set(["providers", 0, "audiences"], None)), ["audiences", "null"]),
    "unknown_mode": (_mutate(_set(["mode"], "audit")), ["mode"]),
    "rule_names_unknown_provider": (
        _mutate(_set(["rules"], [{"match": {"prefix": "/"}, "requires": {"provider": "nobody"}}])),
        ["nobody", "provider"],
    ),
    "unknown_rule_field": (
        _mutate(_set(["rules"], [{"match": {"prefx": "/"}, "requires": {"provider": "corp"}}])),
        ["prefx"],
    ),
    "issuer_two_placeholders": (
        _mutate(_set(["providers", 0, "issuer"], "https://login.example/{tid}/{tid}/v2.0")),
        ["providers[0].issuer", "more than one placeholder"],
    ),
    "issuer_template_with_discovery": (
        _mutate(lambda c: c["providers"].__setitem__(0, {
            "name": "corp", "issuer": "https://login.example/{tid}/v2.0", "discovery": True,
            "remote_jwks": {"cluster": "idp"}})),
        ["providers[0].discovery"],
    ),
    "tenants_without_template": (_mutate(_set(["providers", 0, "tenants"], ["acme"])), ["providers[0].tenants"]),
    "tenants_empty": (
        _mutate(lambda c: c["providers"][0].update(issuer="https://login.example/{tid}/v2.0", tenants=[])),
        ["providers[0].tenants"],
    ),
    "metadata_key_unsafe": (
        _mutate(_set(["providers", 0, "claims_to_metadata"], [{"claim": "sub", "key": "a.b"}])),
        ["providers[0].claims_to_metadata[0].key"],
    ),
    "metadata_key_duplicate": (
        _mutate(_set(["providers", 0, "claims_to_metadata"], [{"claim": "sub", "key": "u"}, {"claim": "email", "key": "u"}])),
        ["providers[0].claims_to_metadata[1].key", "duplicate"],
    ),
    "acr_values_empty": (
        _mutate(_set(["rules"], [{"match": {"prefix": "/"}, "requires": {"provider": "corp", "acr_values": []}}])),
        ["rules[0].requires.acr_values"],
    ),
    "clients_outside_provider": (
        _mutate(_set(["rules"], [{"match": {"prefix": "/"}, "requires": {"any": [{"provider": "corp"}], "clients": ["a"]}}])),
        ["rules[0].requires", "clients"],
    ),
    "not_json": ("{not json", None),
}


def _refuses_to_start(env, timeout: float = 10.0) -> None:
    """Start the proxy, expect it to exit non-zero, or never to pass a request upstream."""
    env.start(wait=False)
    if ON_NGX:
        # ngx_wasm_module: on_configure false makes each worker exit with fatal code 2 (not
        # respawned); the master stays up with no worker, so nothing answers.
        assert env.wait_workers_gone(timeout), f"nginx workers still up with a bad config\n{env.tail()}"
        assert not env.serves_through(), f"nginx proxies with a bad config\n{env.tail()}"
        return
    try:
        rc = env.proc.wait(timeout=timeout)
        assert rc != 0, f"the proxy exited 0 with a bad config\n{env.tail()}"
    except subprocess.TimeoutExpired:
        # Still running: then the listener must not be serving requests through the filter.
        assert not env.serves(), f"envoy serves with a bad config\n{env.tail()}"


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_refuses_to_start(envoy_factory, case):
    cfg, expected = BAD[case]
    env = envoy_factory(cfg, start=False)
    _refuses_to_start(env)
    plugin_lines = env.wasm_log_lines()
    assert plugin_lines, f"the plugin logged nothing\n{env.tail()}"
    errors = env.plugin_error_lines()
    # one line per VM: Envoy refuses the config in its first VM; nginx runs one VM per worker
    vms = env.concurrency if ON_NGX else 1
    assert len(errors) == vms, f"expected exactly {vms} error line(s) from the plugin:\n" + "\n".join(plugin_lines)
    assert len({e.split("] ", 2)[-1] for e in errors}) == 1, "\n".join(errors)
    if expected:
        assert any(e in errors[0] for e in expected), f"the plugin's line names none of {expected}:\n{errors[0]}"


def test_base_config_of_bad_config_cases_starts(envoy_factory):
    """Control: the unmutated config is valid, so the failures above come from the mutation."""
    env = envoy_factory(json.loads(json.dumps(BASE)))
    assert Gateway(env).get("/", token=mint(_KEY, iss=CORP_ISS)).status == 200
    assert_401_missing(Gateway(env).get("/"))
