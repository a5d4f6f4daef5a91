#!/usr/bin/env bash
# Pipeline benchmark: distinct encrypted redemption events pushed to the release binary
# running the example rules, against a loopback API that answers every message in
# 20 ms. Reports events/s accepted, messages/s the API accepted from the first to the
# last message, and cardbot's peak memory (VmHWM) with the backlog it had.
#
#   bash benches/pipeline.sh [EVENTS] [PUSH_RATE_PER_SEC]
#
# DRAIN_LIMIT_SECS (default 600) bounds the wait for every message to reach the API;
# past it, or when a server does not start, the script fails.
set -uo pipefail
cd "$(dirname "$0")/.."

events=${1:-20000}
rate=${2:-4000}
work=target/pipeline-bench
rm -rf "$work"; mkdir -p "$work"

token=load-test-token
app_id=wx5823bf96d3bd56c7
key=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C

cargo build --release --quiet --bin cardbot --example fake_api --example gen_pushes --example pace
bin=target/release
"$bin/examples/gen_pushes" "$events" "$token" "$app_id" "$key" 0 consume > "$work/pushes.tsv"

cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:18080"
[wechat]
token = "$token"
app_id = "$app_id"
app_secret = "bench-secret"
encoding_aes_key = "$key"
api_base = "http://127.0.0.1:18091"
[store]
path = "$work/store"
[rules]
dir = "rules"
watch = false
# The client, the fake API and cardbot share two cores: give handlers room, so that
# the wall-clock deadline measures rules, not the machine's queue.
timeout_ms = 2000
[worker]
concurrency = 8
[window]
card_events_open_window = true
[dispatcher]
concurrency = 64
poll_interval_ms = 50
[log]
level = "warn"
TOML

drain_limit=${DRAIN_LIMIT_SECS:-600}

# shellcheck source=benches/wait_port.sh
source benches/wait_port.sh

# A JSON field $2 of GET $1, or nothing when it does not answer within 5 s.
field() {
  curl -s -m 5 "$1" | python3 -c "import json, sys; print(json.load(sys.stdin)['$2'])" \
    2>/dev/null
}

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
"$bin/examples/fake_api" 127.0.0.1:18091 20 & api=$!
pids+=("$api")
wait_port 18091
"$bin/cardbot" serve --config "$work/config.toml" & server=$!
pids+=("$server")
wait_port 18080

start=$(date +%s.%N)
"$bin/examples/pace" http://127.0.0.1:18080 "$work/pushes.tsv" "$rate" \
  "$(python3 -c "print(int($events / $rate) + 1)")" 64
pushed=$(date +%s.%N)

expected=$((events * 2))
peak_inbox=0
count=0
give_up=$(( $(date +%s) + drain_limit ))
while [ "$count" -lt "$expected" ]; do
  if [ "$(date +%s)" -ge "$give_up" ]; then
    echo "only $count of $expected messages reached the API after ${drain_limit} s" >&2
    exit 1
  fi
  sleep 0.2
  count=$(field 127.0.0.1:18091/count messages)
  inbox=$(field 127.0.0.1:18080/healthz inbox)
  count=${count:-0}
  [ "${inbox:-0}" -gt "$peak_inbox" ] && peak_inbox=$inbox
done
done_at=$(date +%s.%N)

curl -s -m 5 127.0.0.1:18091/count | python3 -c "
import json, sys
c = json.load(sys.stdin)
span = (c['last_ms'] - c['first_ms']) / 1000
print(f\"messages accepted by the API: {c['messages']} in {span:.1f} s = {c['messages'] / span:.0f}/s\")
"
python3 -c "print(f'events: $events pushed in {$pushed - $start:.1f} s; all messages out after {$done_at - $start:.1f} s')"
grep -E 'VmHWM|VmRSS' /proc/$server/status
echo "peak inbox backlog seen: $peak_inbox"
