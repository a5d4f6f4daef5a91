#!/usr/bin/env bash
# Load benchmark of the callback: distinct safe-mode events against the release binary,
# next to a bare actix-web handler that answers `success` and does nothing, in the same
# run on the same machine. Installs wrk and nc with apt-get when missing.
#
#   bash benches/load.sh [DURATION_SECS] [CONNECTIONS]
#
# PAUSED=true measures ingest alone (the worker does not run).
#
# Prints: peak rates (wrk, closed loop) of both servers, then cardbot's latency at half
# of its peak rate (pace, open loop), each with latency percentiles, and the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null && return
  echo "installing $2 (apt-get)"
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq "$2"; else sudo apt-get install -y -qq "$2"; fi
}
need wrk wrk
need nc netcat-openbsd

echo "== machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
  "$(uname -sr), $(date -u +%F)"

duration=${1:-10}
connections=${2:-32}
work=target/load
mkdir -p "$work"
rm -rf "$work/store"

token=load-test-token
app_id=wx5823bf96d3bd56c7
key=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C

cargo build --release --quiet --bin cardbot --example bare_success --example gen_pushes \
  --example pace
bin=target/release
"$bin/examples/gen_pushes" 300000 "$token" "$app_id" "$key" > "$work/pushes.tsv"

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

wait_port() { for _ in $(seq 100); do nc -z 127.0.0.1 "$1" 2>/dev/null && return; sleep 0.1; done; }
run_wrk() {
  PUSHES="$work/pushes.tsv" WRK_THREADS=2 wrk -t2 -c"$connections" -d"${duration}s" \
    --latency -s benches/load.lua "$1"
}

echo "== bare actix-web handler"
"$bin/examples/bare_success" 127.0.0.1:18090 & bare=$!
wait_port 18090
run_wrk http://127.0.0.1:18090 | tee "$work/bare.txt"
kill $bare; wait $bare 2>/dev/null || true

echo "== cardbot, safe mode, distinct events"
"$bin/cardbot" serve --config "$work/config.toml" & server=$!
wait_port 18080
run_wrk http://127.0.0.1:18080 | tee "$work/cardbot.txt"

peak=$(awk '/Requests\/sec/ {print int($2)}' "$work/cardbot.txt")
half=$((peak / 2))
echo "== cardbot at half of its peak rate: $half/s (pace, open loop)"
"$bin/examples/gen_pushes" $((half * duration)) "$token" "$app_id" "$key" 1000000 \
  > "$work/pushes-fresh.tsv"
"$bin/examples/pace" http://127.0.0.1:18080 "$work/pushes-fresh.tsv" "$half" "$duration" \
  "$connections"
kill $server; wait $server 2>/dev/null || true
