"""Where an Envoy worker spends its CPU under one benchmark workload: `perf record` on the pinned
Envoy while wrk runs, then the samples split by where they fell (the JIT-compiled wasm, the Envoy
binary, libc, the kernel). Envoy's wheel is stripped and V8's wasm code has no perf map, so this is
a split by region, not by function; the wasm side is split by function in Node's V8 with
`examples/misspath.rs`.

Usage (after `make build` and `bench/run.sh` built the floor):
  .venv/bin/python bench/split.py TARGET WORKLOAD [SECONDS]
TARGET is d (jwtgate) or e (floor) or any key of envoy_config.TARGETS; WORKLOAD as in
BENCH_WORKLOADS (e.g. distinct-ES256). Prints CPU µs/request and µs/request per region.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import envoy_config  # noqa: E402
from bench import Envoy, Settings, cpu_seconds, http_get, lua_distinct, lua_repeated, run_wrk  # noqa: E402
from tokens import SigningKey  # noqa: E402


def region(dso: str) -> str:
    if dso.startswith("[kernel") or dso == "[vdso]":
        return "kernel"
    if dso.endswith("/envoy") or dso == "envoy":
        return "envoy (C++, V8 runtime)"
    if "libc" in dso or "ld-linux" in dso or "libm" in dso:
        return "libc"
    if dso in ("[unknown]", "[anon]") or dso.startswith("[JIT]") or dso.startswith("//anon") or "perf-" in dso:
        return "JIT code (wasm, V8 stubs)"
    return dso


def split(settings: Settings, workdir: Path, target: str, workload: str, seconds: int = 6) -> dict:
    """One workload on one target under `perf record`: req/s, Envoy CPU µs/request, and the µs per
    request of each region."""
    kind, alg = workload.split("-")
    key = SigningKey.generate(alg)
    work = Path(tempfile.mkdtemp(prefix=f"split-{target}-{workload}-", dir=workdir))
    script = work / "load.lua"
    if kind == "repeated":
        sample = key.mint("user-repeated")
        script.write_text(lua_repeated(sample))
    else:
        pool = work / "tokens"
        pool.write_text("\n".join(key.pool(settings.pool)) + "\n")
        script.write_text(lua_distinct(pool))
        sample = key.mint("user-sample")
    filters = envoy_config.auth_filters(target, key.jwks_json(), settings.jwtgate_wasm, settings.floor_wasm)
    envoy = Envoy(settings, work, target, filters)
    data = work / "perf.data"
    try:
        envoy.wait_ready()
        status = http_get(envoy.url, {"Authorization": f"Bearer {sample}"})[0]
        if status != 200:
            raise RuntimeError(f"split {target} {workload}: a valid token got {status}")
        warm = run_wrk(settings, envoy.url, script, 2)
        sent = int(warm["requests"]) + settings.connections
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-o", str(data),
                                 "-p", str(envoy.proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0 = cpu_seconds(envoy.proc.pid)
        result = run_wrk(settings, envoy.url, script, seconds, offset=sent)
        cpu1 = cpu_seconds(envoy.proc.pid)
        perf.send_signal(2)
        perf.wait(timeout=30)
    finally:
        envoy.stop()
    out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "dso", "-q"],
                         capture_output=True, text=True, check=False).stdout
    share: dict[str, float] = collections.Counter()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith("%"):
            share[region(parts[1])] += float(parts[0].rstrip("%"))
    reqs = max(int(result["requests"]), 1)
    us = (cpu1 - cpu0) * 1e6 / reqs
    total = sum(share.values()) or 1
    return {"target": target, "workload": workload, "rps": result["rps"], "cpu_us": us,
            "regions": {name: us * pct / total for name, pct in share.items()}}


def perf_works() -> bool:
    """perf is installed and may sample processes here (some machines forbid it)."""
    if shutil.which("perf") is None:
        return False
    res = subprocess.run(["perf", "stat", "-e", "cpu-clock", "true"], capture_output=True, text=True,
                         check=False)
    return res.returncode == 0


def main() -> None:
    target, workload = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    res = split(Settings.from_env(), Path(tempfile.mkdtemp(prefix="jwtgate-profile-")), target, workload,
                seconds)
    print(f"{target} {workload}: {res['rps']:.0f} req/s, {res['cpu_us']:.1f} CPU µs/request")
    for name, us in sorted(res["regions"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:28s} {us / res['cpu_us'] * 100:5.1f}%  {us:6.1f} µs/request")


if __name__ == "__main__":
    main()
