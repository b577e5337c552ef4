#!/usr/bin/env bash
# jwtgate benchmark entry point (`make bench`): installs what is missing, builds the floor filter
# and the verify microbenchmark, then runs bench/bench.py with the venv's Python.
# Environment: VENV (default <repo>/.venv), BENCH_* (see bench/bench.py), CARGO_BUILD_JOBS.
set -euo pipefail

bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$bench/.." && pwd)"
venv="${VENV:-$repo/.venv}"
target_triple=wasm32-wasip1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

log() { printf '==> %s\n' "$*"; }

# wrk (Debian package); apt-get update only when the first install attempt fails.
if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  if ! "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; then
    "${sudo_cmd[@]}" apt-get update -q
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
  fi
fi

# The venv with Envoy (same script as the e2e suite), plus what the benchmark adds.
if [ ! -x "$venv/bin/envoy" ] || [ ! -x "$venv/bin/python" ]; then
  VENV="$venv" "$repo/scripts/venv.sh"
fi
if ! "$venv/bin/python" -c 'import cryptography, matplotlib, wasmtime' >/dev/null 2>&1; then
  log "installing Python packages for the benchmark into $venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$bench/requirements.txt"
fi

rustup target list --installed 2>/dev/null | grep -qx "$target_triple" || rustup target add "$target_triple"

# The filter under test (make bench builds it first; build it here when run on its own).
jwtgate_wasm="${JWTGATE_WASM:-$repo/target/$target_triple/release/jwtgate.wasm}"
if [ ! -f "$jwtgate_wasm" ]; then
  log "building the release jwtgate.wasm"
  (cd "$repo" && cargo build --release --target "$target_triple" --lib)
fi

log "building the floor filter"
floor_target="$repo/target/bench-floor"
(cd "$bench/floor" && CARGO_TARGET_DIR="$floor_target" cargo build --release --target "$target_triple" -q)

log "building the verify microbenchmark (native and $target_triple)"
verify_target="$repo/target/bench-verify"
(cd "$bench/verify" && CARGO_TARGET_DIR="$verify_target" cargo build --release -q)
(cd "$bench/verify" && CARGO_TARGET_DIR="$verify_target" cargo build --release --target "$target_triple" -q)

log "building the miss-path example ($target_triple)"
(cd "$repo" && CARGO_TARGET_DIR="$repo/target/bench-misspath" cargo build --release -q --example misspath --target "$target_triple")

# perf (Debian linux-perf) for the split of Envoy's CPU by region; the split is skipped without it.
if ! command -v perf >/dev/null 2>&1; then
  log "installing perf"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-perf || log "perf unavailable: no split"
fi

export VENV="$venv"
export JWTGATE_WASM="$jwtgate_wasm"
export FLOOR_WASM="$floor_target/$target_triple/release/jwtgate_bench_floor.wasm"
export VERIFY_NATIVE="$verify_target/release/verify-bench"
export MISSPATH_WASM="$repo/target/bench-misspath/$target_triple/release/examples/misspath.wasm"
export VERIFY_WASM="$verify_target/$target_triple/release/verify-bench.wasm"
exec "$venv/bin/python" "$bench/bench.py"
