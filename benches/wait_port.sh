# Sourced by the benchmark scripts.

# Waits up to 10 s for a listener on port $1, or gives up.
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.1
  done
  echo "nothing listens on port $1 after 10 s" >&2
  exit 1
}
