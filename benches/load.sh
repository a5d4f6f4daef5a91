#!/usr/bin/env bash
# Load benchmark of the callback: distinct safe-mode events against the release binary,
# next to a bare actix-web handler that answers `success` and does nothing, in the same
# run on the same machine. Installs wrk with apt-get when missing.
#
#   bash benches/load.sh [DURATION_SECS] [CONNECTIONS]
#
# PAUSED=true measures ingest alone (the worker does not run). MAX_RATE (default
# 10000/s) sizes the file of distinct events for wrk: MAX_RATE x DURATION_SECS of them.
#
# Prints: peak rates (wrk, closed loop) of both servers, then cardbot's latency at half
# of its peak rate (pace, open loop), each with latency percentiles, and the machine.
# Exits non-zero when any answer was not a 2xx (or, from pace, not `success`), when a
# request got no answer, or when wrk ran out of distinct events and repeated some.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null || missing+=(wrk)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

echo "== machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
  "$(uname -sr), $(date -u +%F)"

duration=${1:-10}
connections=${2:-32}
max_rate=${MAX_RATE:-10000}
events=$((max_rate * duration))
work=target/load
mkdir -p "$work"
rm -rf "$work/store"

token=load-test-token
app_id=wx5823bf96d3bd56c7
key=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C

cargo build --release --quiet --bin cardbot --example bare_success --example gen_pushes \
  --example pace
bin=target/release
"$bin/examples/gen_pushes" "$events" "$token" "$app_id" "$key" > "$work/pushes.tsv"

cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:18080"
[wechat]
token = "$token"
app_id = "$app_id"
encoding_aes_key = "$key"
[store]
path = "$work/store"
[rules]
dir = "$work/rules"
watch = false
[worker]
paused = ${PAUSED:-false}
[log]
level = "warn"
TOML
mkdir -p "$work/rules"

# shellcheck source=benches/wait_port.sh
source benches/wait_port.sh
run_wrk() {
  PUSHES="$work/pushes.tsv" WRK_THREADS=2 wrk -t2 -c"$connections" -d"${duration}s" \
    --latency -s benches/load.lua "$1"
}

# What went wrong in a run, from wrk's report $1 ($2 names the server); remembered for
# the exit status. wrk prints these lines only when their counts are not zero.
failed=0
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
check_wrk() {
  local non_2xx errors requests
  non_2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$1")
  errors=$(awk '/Socket errors:/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i}
    END {print n + 0}' "$1")
  requests=$(awk '/requests in/ {print $1}' "$1")
  echo "-- $2: ${requests:-0} requests, ${non_2xx:-0} non-2xx answers," \
    "${errors:-0} socket errors (connect, read, write, timeout)"
  if [ "${non_2xx:-0}" -gt 0 ] || [ "${errors:-0}" -gt 0 ]; then
    echo "-- $2: FAILED, not every request was answered 2xx" >&2
    failed=1
  fi
  if [ "$3" = distinct ] && [ "${requests:-0}" -gt "$events" ]; then
    echo "-- $2: FAILED, $requests requests but $events distinct events: some were" \
      "repeats (dedup hits); raise MAX_RATE" >&2
    failed=1
  fi
}

echo "== bare actix-web handler"
"$bin/examples/bare_success" 127.0.0.1:18090 & bare=$!
pids+=("$bare")
wait_port 18090
run_wrk http://127.0.0.1:18090 | tee "$work/bare.txt"
kill $bare; wait $bare 2>/dev/null || true
check_wrk "$work/bare.txt" "bare handler" any

echo "== cardbot, safe mode, distinct events"
"$bin/cardbot" serve --config "$work/config.toml" & server=$!
pids+=("$server")
wait_port 18080
run_wrk http://127.0.0.1:18080 | tee "$work/cardbot.txt"
check_wrk "$work/cardbot.txt" cardbot distinct

peak=$(awk '/Requests\/sec/ {print int($2)}' "$work/cardbot.txt")
half=$((peak / 2))
echo "== cardbot at half of its peak rate: $half/s (pace, open loop)"
"$bin/examples/gen_pushes" $((half * duration)) "$token" "$app_id" "$key" 1000000 \
  > "$work/pushes-fresh.tsv"
"$bin/examples/pace" http://127.0.0.1:18080 "$work/pushes-fresh.tsv" "$half" "$duration" \
  "$connections" | tee "$work/pace.txt"
kill $server; wait $server 2>/dev/null || true
pace_failures=$(awk '{for (i = 1; i < NF; i++) if ($i == "failures") print $(i + 1)}' \
  "$work/pace.txt")
if [ "${pace_failures:-1}" -ne 0 ]; then
  echo "-- cardbot at half its peak: FAILED, ${pace_failures:-unknown} requests not answered" \
    "success" >&2
  failed=1
fi
exit "$failed"
