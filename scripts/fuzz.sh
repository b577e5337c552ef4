#!/usr/bin/env bash
# Bounded fuzzing of every target in fuzz/ (outside CI): FUZZ_SECONDS per target (default 60),
# FUZZ_TARGETS to pick some (default: all). Reports executions per target; exits 1 on a crash,
# leaving the input in fuzz/artifacts/<target>/. Needs only a stable toolchain: cargo-fuzz runs
# with RUSTC_BOOTSTRAP=1 and --sanitizer none, and is installed here when missing.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
export RUSTC_BOOTSTRAP=1 CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked || exit 2
fi
FLAGS=(--sanitizer none --debug-assertions)
cargo fuzz build "${FLAGS[@]}" || exit 2
TARGETS=${FUZZ_TARGETS:-$(cargo fuzz list)}
mkdir -p target/fuzz-logs
status=0
summary=()
for t in $TARGETS; do
  # New inputs go to a scratch corpus; the committed seeds in corpus/<t> are only read.
  work=target/fuzz-corpus/$t
  mkdir -p "$work" "corpus/$t"
  log=target/fuzz-logs/$t.log
  echo "== $t: ${SECONDS_PER_TARGET}s"
  cargo fuzz run "${FLAGS[@]}" "$t" "$work" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="CRASH ($(grep -oE 'artifacts/[^ ]+' "$log" | tail -n1))"
    status=1
    grep -E "panicked at|assertion|ERROR: libFuzzer" "$log" | head -n3
  fi
  summary+=("$(printf '%-12s %12s execs %8s/s  cov %6s  %s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$result")")
done
echo
echo "target       executions                         result   (logs: fuzz/target/fuzz-logs/)"
printf '%s\n' "${summary[@]}"
exit $status
