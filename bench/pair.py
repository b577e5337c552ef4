"""Targets measured at the same time rather than one after another: for a change worth a few
percent on a machine whose load moves by more than that between runs.

Each target is its own Envoy pinned to core 0 and loaded by its own wrk on core 1, all at once,
so whatever a neighbour does falls on every target alike. The scheduler gives each saturated
Envoy an equal share of core 0, so the ratio of their req/s is the inverse ratio of their cost
per request. Each repetition starts fresh Envoys (in alternating order); medians of the
per-repetition ratios to the last target are printed. Absolute figures are meaningless here
(the Envoys share one core): only the ratios are.

Usage (after `make build` and `bench/run.sh` built the floor; JWTGATE_WASM, BENCH_BASELINE_WASM,
FLOOR_WASM as for bench.py):
  .venv/bin/python bench/pair.py WORKLOAD TARGETS [REPS] [SECONDS]
WORKLOAD: repeated-ES256, repeated-RS256, distinct-ES256 or distinct-RS256; TARGETS: keys of
envoy_config.TARGETS, the last one the denominator (e.g. `df`: jwtgate against the baseline
build; `dec`: jwtgate and the floor against native with its cache; `dgeab` on distinct-RS256:
jwtgate, the floor plus one host verify, the floor and no filter against native, the split of
a miss). With more targets than a wrk core can drive, the fast ones are held back by their wrk:
compare CPU µs/req then, not req/s.

A distinct workload is bench.py's: a round-robin pool of BENCH_POOL (default 12,000) distinct
tokens, larger than jwtgate's and native's token caches, so every request is a cache miss. The
pool is minted once per run and shared by every Envoy and repetition; each Envoy's wrk keeps its
own place in the round robin from its warm-up to its measured run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import envoy_config  # noqa: E402
from bench import Envoy, Settings, cpu_seconds, http_get, lua_distinct, lua_repeated, run_wrk  # noqa: E402
from tokens import SigningKey  # noqa: E402


def one_round(settings: Settings, work: Path, key: SigningKey, token: str, script: Path, order: str,
              tag: str, seconds: int) -> dict[str, dict[str, float]]:
    """Fresh Envoys for `order`, a 1 s warm-up and `seconds` measured, all loaded at once."""
    envs: dict[str, Envoy] = {}
    try:
        for t in order:
            filters = envoy_config.auth_filters(t, key.jwks_json(), settings.jwtgate_wasm, settings.floor_wasm,
                                                settings.baseline_wasm)
            envs[t] = Envoy(settings, work, f"{t}-{tag}", filters)
        for t, env in envs.items():
            env.wait_ready()
            status = http_get(env.url, {"Authorization": f"Bearer {token}"})[0]
            if status != 200:
                raise RuntimeError(f"({t}): a valid token got {status}; log:\n{env.log_tail()}")
        res: dict[str, dict] = {}

        # Requests each Envoy's wrk has sent so far: where its round robin resumes (distinct
        # tokens; a repeated-token script ignores it).
        sent = {t: 0 for t in envs}

        def load(t: str, duration: int) -> None:
            res[t] = run_wrk(settings, envs[t].url, script, duration, offset=sent[t])

        def all_at_once(duration: int) -> None:
            threads = [threading.Thread(target=load, args=(t, duration)) for t in envs]
            for th in threads:
                th.start()
            for th in threads:
                th.join()

        all_at_once(1)
        # completed requests plus the ones in flight when wrk stopped (as bench.measure counts)
        sent = {t: int(res[t]["requests"]) + settings.connections for t in envs}
        cpu0 = {t: cpu_seconds(e.proc.pid) for t, e in envs.items()}
        all_at_once(seconds)
        cpu1 = {t: cpu_seconds(e.proc.pid) for t, e in envs.items()}
        for t in envs:
            # A rejected token costs less than a verified one: a run with any is not a measure.
            if res[t]["status"] or res[t]["connect"] + res[t]["read"] + res[t]["write"] + res[t]["timeout"]:
                raise RuntimeError(f"({t}): {res[t]['status']:.0f} non-2xx answers or socket errors in the run")
    finally:
        for env in envs.values():
            env.stop()
    return {t: {"rps": res[t]["rps"], "cpu_us": (cpu1[t] - cpu0[t]) * 1e6 / max(res[t]["requests"], 1)}
            for t in envs}


def main() -> None:
    workload, targets = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    kind, _, alg = workload.partition("-")
    if kind not in ("repeated", "distinct") or alg not in ("ES256", "RS256"):
        sys.exit(f"unknown workload {workload!r}: repeated-ES256, repeated-RS256, distinct-ES256 or distinct-RS256")
    settings = Settings.from_env()
    work = Path(tempfile.mkdtemp(prefix="jwtgate-pair-"))
    key = SigningKey.generate(alg)
    script = work / "load.lua"
    if kind == "repeated":
        token = key.mint("user-repeated")
        script.write_text(lua_repeated(token))
    else:
        t0 = time.monotonic()
        token_file = work / "tokens"
        token_file.write_text("\n".join(key.pool(settings.pool)) + "\n")
        script.write_text(lua_distinct(token_file))
        # The sanity check's token is not in the pool: the round robin starts on a cold cache.
        token = key.mint("user-sample")
        print(f"minted {settings.pool} {alg} tokens in {time.monotonic() - t0:.1f}s", flush=True)
    den = targets[-1]
    ratios: dict[str, list[float]] = {t: [] for t in targets}
    cpu: dict[str, list[float]] = {t: [] for t in targets}
    for rep in range(reps):
        order = targets if rep % 2 == 0 else targets[::-1]
        r = one_round(settings, work, key, token, script, order, str(rep), seconds)
        for t in targets:
            ratios[t].append(r[t]["rps"] / r[den]["rps"])
            cpu[t].append(r[t]["cpu_us"])
        print(f"rep {rep + 1}: " + "  ".join(f"({t}) {r[t]['rps']:6.0f} req/s {r[t]['cpu_us']:6.1f} µs/req"
                                             for t in targets), flush=True)
    for t in targets[:-1]:
        print(f"({t}) {envoy_config.TARGETS[t]} × ({den}) {envoy_config.TARGETS[den]}: req/s "
              f"{statistics.median(ratios[t]):.3f} (per repetition {', '.join(f'{x:.2f}' for x in ratios[t])}); "
              f"CPU µs/req ({den})/({t}) {statistics.median(cpu[den]) / statistics.median(cpu[t]):.3f}")


if __name__ == "__main__":
    main()
