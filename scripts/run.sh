#!/usr/bin/env bash
# `make run`: the demo identity provider, an echo upstream and Envoy with envoy.yaml, then a few
# example requests. Ctrl-C stops everything this script started.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
cli="$repo/target/release/jwtgate"

if command -v envoy >/dev/null 2>&1; then
  envoy=(envoy)
elif command -v func-e >/dev/null 2>&1; then
  envoy=(func-e run)
else
  VENV="${VENV:-$repo/.venv}" scripts/venv.sh
  envoy=("${VENV:-$repo/.venv}/bin/envoy")
fi

for port in 8080 8081 10000 9901; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port on 127.0.0.1 is in use: stop whatever listens there first" >&2
    exit 1
  fi
done

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped."
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$cli" demo-idp --listen 127.0.0.1:8080 --audience demo-api & pids+=($!)
"$cli" demo-echo --listen 127.0.0.1:8081 & pids+=($!)
log="$(mktemp -t jwtgate-envoy.XXXXXX.log)"
setsid "${envoy[@]}" -c envoy.yaml --concurrency 2 -l info --log-path "$log" & pids+=($!)

for _ in $(seq 1 100); do
  curl -fs -o /dev/null http://127.0.0.1:9901/ready && break
  sleep 0.1
done
curl -fs -o /dev/null http://127.0.0.1:9901/ready || { echo "Envoy did not start; log: $log" >&2; tail -20 "$log" >&2; exit 1; }

show() {
  echo "\$ $1"
  eval "$1" 2>&1 | sed 's/^/    /'
  echo
}
TOKEN=$(curl -fs "http://127.0.0.1:8080/token?sub=alice&roles=reader,writer")
EXPIRED=$(curl -fs "http://127.0.0.1:8080/token?sub=alice&exp_in=-300")
export TOKEN EXPIRED
echo
echo "jwtgate demo: Envoy on http://127.0.0.1:10000 (admin :9901), IdP :8080, echo upstream :8081"
echo "Envoy log: $log"
echo "TOKEN and EXPIRED were minted by the demo IdP (curl 127.0.0.1:8080/token?sub=alice)."
echo
echo "# a valid token: 200, and the upstream sees x-user-id / x-user-roles from the claims"
show 'curl -s -i http://127.0.0.1:10000/hello -H "authorization: Bearer $TOKEN" | sed -n "1p;\$p"'
echo "# an expired token: 401 invalid_token"
show 'curl -s -i http://127.0.0.1:10000/hello -H "authorization: Bearer $EXPIRED" | sed -n "1p;/^www-authenticate/p;\$p"'
echo "# no token: 401 with a Bearer challenge"
show 'curl -s -i http://127.0.0.1:10000/hello | sed -n "1p;/^www-authenticate/p;\$p"'
echo "# /healthz needs no token"
show 'curl -s -o /dev/null -w "%{http_code}\n" http://127.0.0.1:10000/healthz'
echo "# the filter's counters"
show 'curl -s http://127.0.0.1:9901/stats?filter=wasmcustom'
echo "More: mint with  curl '127.0.0.1:8080/token?sub=bob&scope=read'  and rotate keys with  curl 127.0.0.1:8080/rotate"
echo "Press Ctrl-C to stop."
if [ -t 0 ]; then
  wait
else
  # Not interactive (e.g. a smoke test): stop after the examples.
  sleep "${JWTGATE_RUN_SECONDS:-0}"
fi
