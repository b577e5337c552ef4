"""jwtgate throughput benchmark: Envoy 1.40 with five filter setups under wrk, side by side.

Targets: (a) no auth, (b) native jwt_authn, (c) native jwt_authn with its token cache,
(d) jwtgate, (e) the floor (a proxy-wasm filter that reads Authorization and sets one header).
Workloads: one repeated token, and a round-robin pool of distinct tokens larger than every
cache (so every request is a cache miss), each for ES256 and RS256-2048. Every target runs
back to back within each workload, each in a fresh Envoy (`--concurrency 1`), Envoy pinned to
one core and wrk to the other when `taskset` exists. Also a microbenchmark of one verify
natively and in wasm runtimes. Writes bench/RESULTS.md,
bench/results.png and the raw numbers in bench/results.json.

Environment: BENCH_DURATION (s per point, default 8), BENCH_WARMUP (s, default 2),
BENCH_REPEAT (runs per point, median reported, default 3), BENCH_POOL (distinct tokens, default
12000), BENCH_CONNECTIONS (default 4), BENCH_WORKLOADS (e.g. "repeated-ES256,distinct-RS256"),
BENCH_TARGETS (e.g. "bde"), BENCH_STARTUP_ONLY (only the time to the first verified 200, into
the report from bench/results.json), BENCH_REPORT_ONLY (re-render from bench/results.json), BENCH_SOAK (seconds: run only the memory soak, writes bench/SOAK.md),
BENCH_VERIFY_ITERS (verify microbenchmark iterations, default 100), BENCH_SPLIT (0: skip the CPU
split by region and part), BENCH_DPOP (0: skip the DPoP comparison), BENCH_DPOP_ONLY (run only the
DPoP comparison and re-render the report from bench/results.json with it), BENCH_DPOP_POOL
(proofs minted, default 150000; each Envoy must see fewer requests than this), JWTGATE_WASM,
FLOOR_WASM, VERIFY_NATIVE, VERIFY_WASM, MISSPATH_WASM, VENV.

The DPoP comparison (issue 22): jwtgate with `dpop` configured, one repeated ES256 token sent as
Bearer, and the same token DPoP-bound with a fresh ES256 proof on every request (one proof verify
and one replay-memory write per request on top of the cached token); and the floor with and
without the replay memory's host calls, whose difference is that memory's cost per request.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import envoy_config  # noqa: E402
import report  # noqa: E402
from tokens import SigningKey  # noqa: E402

REPO = BENCH_DIR.parent
ALGS = ("ES256", "RS256")
KINDS = ("repeated", "distinct")


def env_float(name: str, default: float) -> float:
    """A positive number from the environment, or `default`."""
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        sys.exit(f"{name}={raw!r} is not a number")
    return value if value > 0 else default


def env_path(name: str, default: Path) -> Path:
    """A path from the environment, or `default`."""
    raw = os.environ.get(name, "").strip()
    return Path(raw) if raw else default


@dataclass
class Settings:
    """Everything a run is parametrized by."""

    venv: Path
    duration: int
    warmup: int
    repeat: int
    pool: int
    connections: int
    jwtgate_wasm: Path
    floor_wasm: Path
    baseline_wasm: Path | None
    verify_native: Path
    verify_wasm: Path
    verify_iters: int
    misspath_wasm: Path
    workloads: list[tuple[str, str]]
    targets: list[str]
    soak: int
    pin: bool
    dpop: bool
    dpop_pool: int

    @classmethod
    def from_env(cls) -> "Settings":
        venv = env_path("VENV", REPO / ".venv")
        all_workloads = [(kind, alg) for kind in KINDS for alg in ALGS]
        chosen = os.environ.get("BENCH_WORKLOADS", "").strip()
        workloads = all_workloads
        if chosen:
            names = {w.strip() for w in chosen.split(",") if w.strip()}
            workloads = [w for w in all_workloads if f"{w[0]}-{w[1]}" in names]
            if not workloads:
                sys.exit(f"BENCH_WORKLOADS={chosen!r} names none of "
                         + ", ".join(f"{k}-{a}" for k, a in all_workloads))
        targets = [t for t in os.environ.get("BENCH_TARGETS", "abcdeh") if t in envoy_config.TARGETS]
        baseline = os.environ.get("BENCH_BASELINE_WASM", "").strip()
        if "f" in targets and not baseline:
            sys.exit("BENCH_TARGETS has (f) but BENCH_BASELINE_WASM names no .wasm")
        return cls(
            venv=venv,
            duration=int(env_float("BENCH_DURATION", 8)),
            warmup=int(env_float("BENCH_WARMUP", 2)),
            repeat=int(env_float("BENCH_REPEAT", 3)),
            pool=int(env_float("BENCH_POOL", 12000)),
            connections=int(env_float("BENCH_CONNECTIONS", 4)),
            jwtgate_wasm=env_path("JWTGATE_WASM", REPO / "target/wasm32-wasip1/release/jwtgate.wasm"),
            baseline_wasm=Path(baseline) if baseline else None,
            floor_wasm=env_path(
                "FLOOR_WASM", REPO / "target/bench-floor/wasm32-wasip1/release/jwtgate_bench_floor.wasm"
            ),
            verify_native=env_path("VERIFY_NATIVE", REPO / "target/bench-verify/release/verify-bench"),
            verify_wasm=env_path(
                "VERIFY_WASM", REPO / "target/bench-verify/wasm32-wasip1/release/verify-bench.wasm"
            ),
            verify_iters=int(env_float("BENCH_VERIFY_ITERS", 100)),
            misspath_wasm=env_path(
                "MISSPATH_WASM", REPO / "target/bench-misspath/wasm32-wasip1/release/examples/misspath.wasm"
            ),
            workloads=workloads,
            targets=targets or [t for t in envoy_config.TARGETS if t not in ("f", "g")],
            soak=int(env_float("BENCH_SOAK", 0)) if os.environ.get("BENCH_SOAK") else 0,
            pin=shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2,
            dpop=os.environ.get("BENCH_DPOP", "1") != "0",
            dpop_pool=int(env_float("BENCH_DPOP_POOL", 150000)),
        )

    @property
    def envoy(self) -> Path:
        return self.venv / "bin" / "envoy"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def http_post(url: str, timeout: float = 5.0) -> int:
    """Status of an empty POST."""
    req = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (0 if unknown)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Envoy:
    """One Envoy process in its own session, pinned to core 0 when possible."""

    def __init__(self, settings: Settings, workdir: Path, name: str, filters: list[dict[str, Any]],
                 clusters: list[dict[str, Any]] | None = None):
        self.port = free_port()
        self.admin_port = free_port()
        self.dir = workdir
        self.config = workdir / f"envoy-{name}.json"
        self.log = workdir / f"envoy-{name}.log"
        self.config.write_text(json.dumps(envoy_config.bootstrap(self.port, self.admin_port, filters, clusters), indent=1))
        cmd = [
            str(settings.envoy), "-c", str(self.config), "--concurrency", "1", "--disable-hot-restart",
            "-l", "warn", "--log-path", str(self.log),
        ]
        if settings.pin:
            cmd = ["taskset", "-c", "0", *cmd]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bench"

    def admin(self, path: str) -> tuple[int, str]:
        return http_get(f"http://127.0.0.1:{self.admin_port}{path}")

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"envoy exited ({self.proc.returncode}); log:\n{self.log_tail()}")
            try:
                if self.admin("/ready")[0] == 200 and http_get(self.url, timeout=1)[0] in (200, 401):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"envoy not ready after {timeout}s; log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stats(self, needle: str) -> dict[str, int]:
        """Counters whose name contains `needle`."""
        status, body = self.admin(f"/stats?filter={needle}")
        out: dict[str, int] = {}
        if status != 200:
            return out
        for line in body.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                out[name.strip()] = int(value)
        return out

    def settled_stats(self, needles: tuple[str, ...], timeout: float = 5.0) -> dict[str, int]:
        """Counters whose name contains one of `needles`, once jwtgate's VMs have sent every count:
        a VM sends its requests' counts with its tick and holds the gauge
        `jwtgate.vms_with_unsent_counts` at 1 until then (src/host/metrics.rs). The snapshot is the
        one after the gauge read 0: Envoy reads one stat after another, so a snapshot showing the
        gauge at 0 could hold a counter read just before the flush that zeroed it."""
        deadline = time.monotonic() + timeout
        while self.stats("vms_with_unsent_counts").get("wasmcustom.jwtgate.vms_with_unsent_counts", 0) != 0:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        counters: dict[str, int] = {}
        for needle in needles:
            counters.update(self.stats(needle))
        return counters

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()


LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%.0f,"duration_us":%.0f,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,' ..
    '"mean_us":%.1f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_repeated(token: str) -> str:
    """A wrk script sending the same Authorization header on every request."""
    return f'wrk.headers["Authorization"] = "Bearer {token}"\n' + LUA_DONE


def lua_lines_round_robin(lines_file: Path, header_of_line: str, offset_comment: str, prelude: str = "") -> str:
    """A wrk script cycling round-robin through the lines of `lines_file` (one request each):
    `header_of_line` is the Lua table of a request's headers, where `line` is the line; the
    script's argument is where the round robin starts (`offset_comment` says why)."""
    return (
        f"local path = {json.dumps(str(lines_file))}\n"
        + prelude
        + r"""
local reqs = {}
local n = 0
local i = 0
init = function(args)
  -- args[1]: """
        + offset_comment
        + r"""
  local offset = tonumber(args[1]) or 0
  for line in io.lines(path) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format(nil, nil, """
        + header_of_line
        + r""")
    end
  end
  if n > 0 then i = offset % n end
end
request = function()
  i = i % n + 1
  return reqs[i]
end
"""
        + LUA_DONE
    )


def lua_distinct(token_file: Path) -> str:
    """A wrk script cycling round-robin through the tokens of `token_file` (one per line)."""
    return lua_lines_round_robin(
        token_file,
        '{["Authorization"] = "Bearer " .. line}',
        "requests already sent from this pool (by the warm-up), so that the measured run\n"
        "  -- continues the round robin instead of replaying tokens the caches still hold.",
    )


def lua_dpop(token: str, proof_file: Path) -> str:
    """A wrk script sending `token` under the DPoP scheme with the next proof of `proof_file`
    (one per line) on every request: a repeated token, a fresh proof each time."""
    return lua_lines_round_robin(
        proof_file,
        '{["Authorization"] = auth, ["DPoP"] = line}',
        "proofs already spent by the warm-up (a proof sent twice is a replay: 401).",
        prelude=f"local auth = {json.dumps('DPoP ' + token)}\n",
    )


def run_wrk(settings: Settings, url: str, script: Path, duration: int, offset: int = 0) -> dict[str, Any]:
    """One wrk run (-t1 -c<N>); the summary printed by the script's done(). `offset` is passed to
    the script (where the distinct-token round robin starts)."""
    cmd = ["wrk", "-t1", f"-c{settings.connections}", f"-d{duration}s", "--latency", "-s", str(script), url,
           "--", str(offset)]
    if settings.pin:
        cmd = ["taskset", "-c", "1", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            result = json.loads(line[len("BENCHJSON "):])
            result["rps"] = result["requests"] / max(result["duration_us"], 1) * 1e6
            return result
    raise RuntimeError(f"wrk gave no summary (rc {out.returncode}):\n{out.stdout}\n{out.stderr}")


@dataclass
class Point:
    """The measurement of one target on one workload (the median of the repeats)."""

    workload: str
    target: str
    rps: float
    requests: int
    p50_us: float
    p99_us: float
    cpu_us_per_req: float
    errors: int
    non_2xx: int
    counters: dict[str, int] = field(default_factory=dict)
    runs: list[float] = field(default_factory=list)
    rss_kib: int = 0


def measure(settings: Settings, workdir: Path, workload: str, target: str, filters: list[dict[str, Any]],
            script: Path, sample_token: str, sample_headers: dict[str, str] | None = None,
            expect_bare: int | None = None) -> dict[str, Any]:
    """Starts Envoy for one target, checks it, warms up, measures, collects counters, stops it.
    The check: `sample_headers` (default: the sample token as Bearer) get 200, and a request
    without them `expect_bare` (default: 200 for the targets without auth, else 401)."""
    envoy = Envoy(settings, workdir, f"{workload}-{target}", filters)
    try:
        envoy.wait_ready()
        good = http_get(envoy.url, sample_headers or {"Authorization": f"Bearer {sample_token}"})[0]
        bare = http_get(envoy.url)[0]
        if expect_bare is None:
            expect_bare = 200 if target in envoy_config.WITHOUT_AUTH else 401
        if good != 200 or bare != expect_bare:
            raise RuntimeError(
                f"{workload}/{target}: sanity check failed (token -> {good}, no token -> {bare}, "
                f"expected 200 and {expect_bare}); log:\n{envoy.log_tail()}"
            )
        sent = 0
        if settings.warmup > 0:
            warm = run_wrk(settings, envoy.url, script, settings.warmup)
            # completed requests plus the ones in flight when wrk stopped
            sent = int(warm["requests"]) + settings.connections
        http_post(f"http://127.0.0.1:{envoy.admin_port}/reset_counters")
        cpu0 = cpu_seconds(envoy.proc.pid)
        result = run_wrk(settings, envoy.url, script, settings.duration, offset=sent)
        cpu1 = cpu_seconds(envoy.proc.pid)
        # After a distinct-token run the token cache is full (the pool is larger than it).
        result["rss_kib"] = rss_kib(envoy.proc.pid)
        counters = envoy.settled_stats(("jwt_authn", "jwtgate", "floor"))
        result["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / max(result["requests"], 1)
        result["counters"] = {k: v for k, v in counters.items() if v}
        return result
    finally:
        envoy.stop()


def run_throughput(settings: Settings, workdir: Path) -> list[Point]:
    """All workloads x targets; returns the median point of each."""
    keys = {alg: SigningKey.generate(alg) for alg in {a for _, a in settings.workloads}}
    points: list[Point] = []
    for kind, alg in settings.workloads:
        workload = f"{kind}-{alg}"
        key = keys[alg]
        if kind == "repeated":
            token = key.mint("user-repeated")
            script = workdir / f"{workload}.lua"
            script.write_text(lua_repeated(token))
            sample = token
        else:
            t0 = time.monotonic()
            pool = key.pool(settings.pool)
            token_file = workdir / f"{workload}.tokens"
            token_file.write_text("\n".join(pool) + "\n")
            script = workdir / f"{workload}.lua"
            script.write_text(lua_distinct(token_file))
            sample = key.mint("user-sample")
            print(f"  minted {len(pool)} {alg} tokens in {time.monotonic() - t0:.1f}s", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in settings.targets}
        for rep in range(settings.repeat):
            for target in settings.targets:
                filters = envoy_config.auth_filters(target, key.jwks_json(), settings.jwtgate_wasm,
                                                    settings.floor_wasm, settings.baseline_wasm)
                r = measure(settings, workdir, workload, target, filters, script, sample)
                runs[target].append(r)
                print(f"  {workload:16s} ({target}) {envoy_config.TARGETS[target]:26s} run {rep + 1}: "
                      f"{r['rps']:9.0f} req/s  p50 {r['p50_us']:7.0f} us  p99 {r['p99_us']:7.0f} us  "
                      f"cpu {r['cpu_us_per_req']:6.1f} us/req"
                      + (f"  non-2xx {r['status']:.0f}" if r["status"] else ""), flush=True)
        for target in settings.targets:
            ordered = sorted(runs[target], key=lambda r: r["rps"])
            med = ordered[len(ordered) // 2]
            points.append(Point(
                workload=workload, target=target, rps=med["rps"], requests=int(med["requests"]),
                p50_us=med["p50_us"], p99_us=med["p99_us"], cpu_us_per_req=med["cpu_us_per_req"],
                errors=int(med["connect"] + med["read"] + med["write"] + med["timeout"]),
                non_2xx=int(med["status"]), counters=med["counters"],
                runs=[r["rps"] for r in runs[target]], rss_kib=int(med.get("rss_kib", 0)),
            ))
    return points


# The DPoP comparison: (name, filter variant, request kind); medians of settings.repeat runs.
DPOP_POINTS = [
    ("jwtgate, Bearer", "jwtgate", "bearer"),
    ("jwtgate, DPoP (fresh proof per request)", "jwtgate", "dpop"),
    ("floor", "floor", "bearer"),
    ("floor + replay-memory host calls", "floor+replay", "bearer"),
]


def run_dpop(settings: Settings, workdir: Path) -> dict[str, Any]:
    """DPoP against Bearer in jwtgate (repeated ES256 token; ES256 proofs, a fresh one per
    request), and the replay memory's host cost (the floor with and without its calls)."""
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    issuer = SigningKey.generate("ES256")
    client = SigningKey.generate("ES256")
    bearer = issuer.mint("user-bearer")
    bound = issuer.mint("user-dpop", jkt=client.thumbprint())
    htu = envoy_config.DPOP_ORIGIN + "/bench"
    t0 = time.monotonic()
    proofs = client.proofs(bound, "GET", htu, settings.dpop_pool + 1)
    print(f"  minted {len(proofs)} ES256 DPoP proofs in {time.monotonic() - t0:.1f}s", flush=True)
    # The last proof is the sanity check's, never sent by wrk.
    sample_proof = proofs.pop()
    proof_file = workdir / "dpop.proofs"
    proof_file.write_text("\n".join(proofs) + "\n")
    scripts = {"bearer": workdir / "dpop-bearer.lua", "dpop": workdir / "dpop-dpop.lua"}
    scripts["bearer"].write_text(lua_repeated(bearer))
    scripts["dpop"].write_text(lua_dpop(bound, proof_file))
    samples = {
        "bearer": {"Authorization": f"Bearer {bearer}"},
        "dpop": {"Authorization": f"DPoP {bound}", "DPoP": sample_proof},
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in DPOP_POINTS}
    for rep in range(settings.repeat):
        for name, variant, kind in DPOP_POINTS:
            filters = envoy_config.dpop_filters(variant, issuer.jwks_json(), settings.jwtgate_wasm,
                                                settings.floor_wasm)
            r = measure(settings, workdir, f"dpop-{kind}", variant.replace("+", "-"), filters,
                        scripts[kind], bearer, samples[kind],
                        expect_bare=200 if variant.startswith("floor") else 401)
            if r["requests"] + settings.connections * 2 >= len(proofs) and kind == "dpop":
                print("  ⚠ the proof pool is too small for this rate (raise BENCH_DPOP_POOL)", flush=True)
            runs[name].append(r)
            print(f"  dpop {name:42s} run {rep + 1}: {r['rps']:9.0f} req/s  p50 {r['p50_us']:7.0f} us  "
                  f"cpu {r['cpu_us_per_req']:6.1f} us/req"
                  + (f"  non-2xx {r['status']:.0f}" if r["status"] else ""), flush=True)
    rows = []
    for name, variant, kind in DPOP_POINTS:
        ordered = sorted(runs[name], key=lambda r: r["rps"])
        med = ordered[len(ordered) // 2]
        rows.append({
            "name": name, "variant": variant, "kind": kind, "rps": med["rps"], "p50_us": med["p50_us"],
            "p99_us": med["p99_us"], "cpu_us_per_req": med["cpu_us_per_req"],
            "requests": int(med["requests"]), "non_2xx": int(med["status"]),
            "cpu_runs": [r["cpu_us_per_req"] for r in runs[name]], "rps_runs": [r["rps"] for r in runs[name]],
            "counters": med["counters"],
        })
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "pool": len(proofs), "rows": rows,
            "duration": settings.duration, "warmup": settings.warmup, "repeat": settings.repeat,
            "commit": git_describe(), "loadavg": loadavg}


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        pass


STARTUP_REPS = 5


def _first_verified_200(envoy: "Envoy", token: str, label: str) -> dict[str, float]:
    """Polls one fresh Envoy until it is ready (admin `/ready`) and then until a valid token gets
    200: ms to each event from the process start, and the RSS (KiB) at the first 200."""
    deadline = envoy.started + 30
    ready_ms = None
    while time.monotonic() < deadline:
        if envoy.proc.poll() is not None:
            raise RuntimeError(f"startup {label}: envoy exited; log:\n{envoy.log_tail()}")
        try:
            if ready_ms is None:
                if envoy.admin("/ready")[0] == 200:
                    ready_ms = (time.monotonic() - envoy.started) * 1000
            elif http_get(envoy.url, {"Authorization": f"Bearer {token}"}, timeout=2)[0] == 200:
                return {"ready_ms": ready_ms, "ms": (time.monotonic() - envoy.started) * 1000,
                        "rss_kib": rss_kib(envoy.proc.pid)}
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"startup {label}: no 200 in 30 s; log:\n{envoy.log_tail()}")


def run_startup(settings: Settings, workdir: Path) -> list[dict[str, Any]]:
    """Milliseconds from starting Envoy to the first 200 for a valid token, with the keys fetched
    from a JWKS server on loopback: process start, module compile, first JWKS fetch, key tables.
    Native jwt_authn with remote_jwks (b), jwtgate (d), the floor (e: a module of ~120 KB that
    needs no keys, so its first 200 is Envoy's start with a small module compiled) and, with
    BENCH_BASELINE_WASM, that build of jwtgate (f). Each time is split at Envoy's readiness
    (admin `/ready`: V8 compiles the module before it) and the RSS at the first 200 is kept.
    STARTUP_REPS fresh starts per target, the targets interleaved within each repetition (a
    neighbour's load then falls on all of them alike); medians."""
    targets = ["b", "d", "e"] + (["f"] if settings.baseline_wasm is not None else [])
    out: list[dict[str, Any]] = []
    for alg in ("ES256", "RS256"):
        key = SigningKey.generate(alg)
        token = key.mint("user-startup")
        handler = type("Jwks", (_JwksHandler,), {"body": key.jwks_json().encode()})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        runs: dict[str, list[dict[str, float]]] = {t: [] for t in targets}
        try:
            for rep in range(STARTUP_REPS):
                for target in targets:
                    envoy = Envoy(settings, workdir, f"startup-{alg}-{target}-{rep}",
                                  envoy_config.remote_filters(target, port, settings.jwtgate_wasm,
                                                              settings.floor_wasm, settings.baseline_wasm),
                                  [envoy_config.jwks_cluster(port)])
                    try:
                        runs[target].append(_first_verified_200(envoy, token, f"{alg}/{target}"))
                    finally:
                        envoy.stop()
        finally:
            server.shutdown()
        for target in targets:
            rs = runs[target]
            row = {"alg": alg, "target": target, "ms": statistics.median(r["ms"] for r in rs),
                   "ready_ms": statistics.median(r["ready_ms"] for r in rs),
                   "rss_kib": int(statistics.median(r["rss_kib"] for r in rs)),
                   "runs": [r["ms"] for r in rs]}
            out.append(row)
            print(f"  startup {alg} ({target}) {envoy_config.TARGETS[target]:18s} ready after "
                  f"{row['ready_ms']:5.0f} ms, first verified 200 after {row['ms']:5.0f} ms, RSS "
                  f"{row['rss_kib'] / 1024:5.1f} MiB (runs: {', '.join(f'{t:.0f}' for t in row['runs'])})",
                  flush=True)
    return out


def run_verify_micro(settings: Settings, workdir: Path) -> dict[str, Any]:
    """ns per verify (ES256, RS256) natively, in wasmtime, and in Node's V8 when present."""
    iters = str(settings.verify_iters)
    args = [iters, iters, "5"]
    out: dict[str, Any] = {"iters": settings.verify_iters}
    if settings.verify_native.exists():
        res = subprocess.run([str(settings.verify_native), *args], capture_output=True, text=True, check=True)
        out["native"] = json.loads(res.stdout.strip().splitlines()[-1])
    if settings.verify_wasm.exists():
        try:
            out["wasmtime"] = run_wasmtime(settings.verify_wasm, args, workdir)
        except Exception as err:  # noqa: BLE001 - reported, not fatal
            out["wasmtime_error"] = f"{type(err).__name__}: {err}"
        node = shutil.which("node")
        if node:
            runner = BENCH_DIR / "verify" / "node_wasi.mjs"
            res = subprocess.run([node, "--no-warnings", str(runner), str(settings.verify_wasm), *args],
                                 capture_output=True, text=True, check=False)
            if res.returncode == 0 and res.stdout.strip():
                out["node"] = json.loads(res.stdout.strip().splitlines()[-1])
                out["node_version"] = subprocess.run([node, "--version"], capture_output=True,
                                                     text=True).stdout.strip()
            else:
                out["node_error"] = res.stderr.strip()[-300:]
    return out


SPLIT_POINTS = [("d", "repeated-ES256"), ("e", "repeated-ES256"), ("d", "distinct-ES256"),
                ("d", "distinct-RS256"), ("b", "distinct-ES256"), ("b", "distinct-RS256")]


def run_split(settings: Settings, workdir: Path) -> dict[str, Any]:
    """Where a request's Envoy CPU goes: by region inside Envoy (perf), and the wasm side of a
    cache miss by part in Node's V8 (examples/misspath)."""
    import split  # bench/split.py; imported here because it imports this module

    out: dict[str, Any] = {"points": [], "parts": []}
    if split.perf_works():
        for target, workload in SPLIT_POINTS:
            if target not in envoy_config.TARGETS:
                continue
            res = split.split(settings, workdir, target, workload)
            print(f"  split {workload} ({target}): {res['cpu_us']:.1f} CPU µs/request: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in sorted(res["regions"].items(), key=lambda kv: -kv[1])),
                  flush=True)
            out["points"].append(res)
    else:
        out["perf_error"] = "perf is missing or may not sample processes here"
    node = shutil.which("node")
    if node:
        out["module"] = run_node_host(node, settings, workdir)
    if node and settings.misspath_wasm.exists():
        runner = BENCH_DIR / "verify" / "node_wasi.mjs"
        for alg in ("es", "rs"):
            res = subprocess.run([node, "--no-warnings", str(runner), str(settings.misspath_wasm), alg, "3000", "2"],
                                 capture_output=True, text=True, check=False)
            if res.returncode == 0 and res.stdout.strip():
                out["parts"].append(json.loads(res.stdout.strip().splitlines()[-1]))
            else:
                out["parts_error"] = res.stderr.strip()[-300:]
    return out


def run_node_host(node: str, settings: Settings, workdir: Path) -> list[dict[str, Any]]:
    """Each filter's own work on one repeated-token request in Node's V8 under a minimal host
    (bench/verify/node_host.mjs): ns per request and the host calls it makes."""
    key = SigningKey.generate("ES256")
    cfg = workdir / "node-host-config.json"
    cfg.write_text(envoy_config.jwtgate_config(key.jwks_json()))
    headers = workdir / "node-host-headers.json"
    # What Envoy hands over for a wrk request (measured: these seven, in this order).
    headers.write_text(json.dumps([
        [":authority", "127.0.0.1:10000"], [":path", "/"], [":method", "GET"], [":scheme", "http"],
        ["authorization", "Bearer " + key.mint("user-repeated")], ["x-forwarded-proto", "http"],
        ["x-request-id", "6c1b0c5e-8d3e-4a55-9a0c-1d2b3c4d5e6f"],
    ]))
    runner = BENCH_DIR / "verify" / "node_host.mjs"
    rows = []
    for name, wasm in (("jwtgate", settings.jwtgate_wasm), ("floor", settings.floor_wasm)):
        res = subprocess.run([node, "--no-warnings", str(runner), str(wasm), str(cfg), str(headers), "300000"],
                             capture_output=True, text=True, check=False)
        if res.returncode == 0 and res.stdout.strip():
            rows.append({"filter": name, **json.loads(res.stdout.strip().splitlines()[-1])})
        else:
            rows.append({"filter": name, "error": res.stderr.strip()[-300:]})
    return rows


def run_wasmtime(wasm: Path, args: list[str], workdir: Path) -> dict[str, Any]:
    """Runs a WASI command module under the `wasmtime` Python package; its JSON output."""
    import wasmtime  # installed into the venv by run.sh

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [wasm.name, *args]
    stdout = workdir / "verify-wasmtime.out"
    wasi.stdout_file = str(stdout)
    wasi.inherit_stderr()
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, str(wasm))
    # The jwtgate rlib brings the proxy-wasm ABI imports along; the benchmark never calls them.
    for imp in module.imports:
        if imp.module == "env" and isinstance(imp.type, wasmtime.FuncType):
            linker.define_func("env", imp.name, imp.type, _unexpected_host_call(imp.name))
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    try:
        start(store)
    except wasmtime.ExitTrap as trap:
        if trap.code != 0:
            raise
    result = json.loads(stdout.read_text().strip().splitlines()[-1])
    try:
        from importlib.metadata import version
        result["runtime"] = f"wasmtime (Python package {version('wasmtime')})"
    except Exception:  # noqa: BLE001
        result["runtime"] = "wasmtime"
    return result


def _unexpected_host_call(name: str):
    def trap(*_args: Any) -> Any:
        raise wasmtime_trap(f"unexpected host call {name}")
    return trap


def wasmtime_trap(message: str) -> Exception:
    """A wasmtime Trap (imported lazily: the package lives in the venv)."""
    import wasmtime

    return wasmtime.Trap(message)


def run_soak(settings: Settings, workdir: Path) -> list[dict[str, Any]]:
    """jwtgate under the distinct ES256 workload for settings.soak seconds, memory every 10 s."""
    key = SigningKey.generate("ES256")
    pool = key.pool(settings.pool)
    token_file = workdir / "soak.tokens"
    token_file.write_text("\n".join(pool) + "\n")
    script = workdir / "soak.lua"
    script.write_text(lua_distinct(token_file))
    filters = envoy_config.auth_filters("d", key.jwks_json(), settings.jwtgate_wasm, settings.floor_wasm)
    envoy = Envoy(settings, workdir, "soak", filters)
    samples: list[dict[str, Any]] = []
    try:
        envoy.wait_ready()
        cmd = ["wrk", "-t1", f"-c{settings.connections}", f"-d{settings.soak}s", "-s", str(script), envoy.url]
        if settings.pin:
            cmd = ["taskset", "-c", "1", *cmd]
        wrk = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
        t0 = time.monotonic()
        while True:
            elapsed = time.monotonic() - t0
            status, body = envoy.admin("/memory")
            mem = json.loads(body) if status == 200 else {}
            counters = envoy.stats("jwtgate")
            samples.append({
                "t": round(elapsed),
                "rss_kib": rss_kib(envoy.proc.pid),
                "allocated": int(mem.get("allocated", 0)),
                "heap_size": int(mem.get("heap_size", 0)),
                "allowed": counters.get("wasmcustom.jwtgate.allowed", 0),
                "misses": counters.get("wasmcustom.jwtgate.token_cache_miss", 0),
            })
            print(f"  soak t={samples[-1]['t']:4d}s rss {samples[-1]['rss_kib'] / 1024:7.1f} MiB "
                  f"allocated {samples[-1]['allocated'] / 2**20:7.1f} MiB "
                  f"allowed {samples[-1]['allowed']}", flush=True)
            if wrk.poll() is not None or elapsed >= settings.soak:
                break
            time.sleep(max(0.0, 10 - (time.monotonic() - t0 - elapsed)))
        wrk.wait(timeout=60)
    finally:
        envoy.stop()
    return samples


def git_describe() -> str:
    """Short HEAD commit of the repository, with "+ local changes" when the tree is dirty."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + local changes" if dirty else "")


def machine_info(settings: Settings) -> dict[str, Any]:
    """nproc, CPU model, Envoy and wrk versions, date, load, pinning, .wasm sizes."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    envoy_version = subprocess.run([str(settings.envoy), "--version"], capture_output=True,
                                   text=True).stdout.strip().split("version:")[-1].strip()
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[:1]
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "envoy": envoy_version,
        "wrk": wrk_version[0].split(" Copyright")[0] if wrk_version else "wrk",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "pinned": settings.pin,
        "wasm_size": settings.jwtgate_wasm.stat().st_size,
        "wasm_sha256": hashlib.sha256(settings.jwtgate_wasm.read_bytes()).hexdigest()[:16],
        "commit": git_describe(),
        "floor_size": settings.floor_wasm.stat().st_size,
        "duration": settings.duration,
        "warmup": settings.warmup,
        "repeat": settings.repeat,
        "pool": settings.pool,
        "connections": settings.connections,
    }


def write_report(info: dict[str, Any], points: list[Point], micro: dict[str, Any]) -> None:
    """RESULTS.md (with SOAK.md's summary when present) and results.png."""
    soak_file = BENCH_DIR / "SOAK.md"
    soak_text = soak_file.read_text() if soak_file.exists() else None
    (BENCH_DIR / "RESULTS.md").write_text(report.results_markdown(info, points, micro, soak_text))
    report.chart(points, BENCH_DIR / "results.png", info)
    print(f"wrote {BENCH_DIR / 'RESULTS.md'}, {BENCH_DIR / 'results.png'} and {BENCH_DIR / 'results.json'}")


def main() -> None:
    settings = Settings.from_env()
    for path in (settings.envoy, settings.jwtgate_wasm, settings.floor_wasm, settings.baseline_wasm):
        if path is not None and not path.exists():
            sys.exit(f"missing {path} (run bench/run.sh, or make bench)")
    if shutil.which("wrk") is None:
        sys.exit("wrk not found (bench/run.sh installs it)")
    # A SIGTERM unwinds like Ctrl-C, so the Envoy of the current point is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="jwtgate-bench-"))
    try:
        # Snapshot the filters: a rebuild during the run must not change what later points load.
        for attr in ("jwtgate_wasm", "floor_wasm", "baseline_wasm"):
            if getattr(settings, attr) is None:
                continue
            copy = workdir / f"{attr}-{getattr(settings, attr).name}"
            shutil.copyfile(getattr(settings, attr), copy)
            setattr(settings, attr, copy)
        info = machine_info(settings)
        if settings.soak:
            print(f"memory soak: jwtgate, distinct ES256 tokens, {settings.soak}s", flush=True)
            samples = run_soak(settings, workdir)
            (BENCH_DIR / "SOAK.md").write_text(report.soak_markdown(info, settings.soak, samples))
            print(f"wrote {BENCH_DIR / 'SOAK.md'}")
            return
        raw = BENCH_DIR / "results.json"

        def rerun_one(part: str, measure: Any) -> None:
            """`micro[part]` of the saved results measured again (by `measure()`); re-rendered."""
            saved = json.loads(raw.read_text())
            saved["micro"][part] = measure()
            raw.write_text(json.dumps(saved, indent=1) + "\n")
            write_report(saved["info"], [Point(**p) for p in saved["points"]], saved["micro"])

        if os.environ.get("BENCH_DPOP_ONLY"):
            print(f"DPoP comparison only ({settings.warmup}s warm-up + {settings.duration}s, "
                  f"{settings.repeat} runs per point)", flush=True)
            rerun_one("dpop", lambda: run_dpop(settings, workdir))
            return
        if os.environ.get("BENCH_STARTUP_ONLY"):
            print("startup only: Envoy start to the first verified 200, keys fetched from loopback", flush=True)
            rerun_one("startup", lambda: run_startup(settings, workdir))
            return
        if os.environ.get("BENCH_REPORT_ONLY"):
            saved = json.loads(raw.read_text())
            write_report(saved["info"], [Point(**p) for p in saved["points"]], saved["micro"])
            return
        print(f"verify microbenchmark ({settings.verify_iters} iterations x 5 rounds)", flush=True)
        micro = run_verify_micro(settings, workdir)
        print("  " + json.dumps({k: v for k, v in micro.items() if k != "iters"}), flush=True)
        total = len(settings.workloads) * len(settings.targets) * settings.repeat
        print(f"throughput: {total} points x ({settings.warmup}s warm-up + {settings.duration}s), "
              f"pinned={settings.pin}", flush=True)
        print("startup: Envoy start to the first verified 200, keys fetched from loopback", flush=True)
        micro["startup"] = run_startup(settings, workdir)
        points = run_throughput(settings, workdir)
        if settings.dpop:
            print("DPoP: Bearer vs DPoP with a fresh proof per request; the replay memory's host cost",
                  flush=True)
            micro["dpop"] = run_dpop(settings, workdir)
        if os.environ.get("BENCH_SPLIT", "1") != "0":
            print("split: Envoy CPU per request by region (perf), a miss's wasm by part (Node)", flush=True)
            micro["split"] = run_split(settings, workdir)
        raw.write_text(json.dumps({"info": info, "points": [asdict(p) for p in points], "micro": micro},
                                  indent=1) + "\n")
        write_report(info, points, micro)
    finally:
        if os.environ.get("BENCH_KEEP_WORKDIR"):
            print(f"work files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
