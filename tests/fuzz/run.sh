#!/usr/bin/env bash
# Runs one fuzz target for a while: tests/fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags]
# Targets: xml, decrypt, callback. Installs cargo-fuzz if missing; needs a nightly toolchain.
# New inputs go to target/fuzz-corpus/TARGET (not committed); the committed seeds in
# tests/fuzz/corpus/TARGET are read, never written. Crashes land in tests/fuzz/artifacts/.
set -euo pipefail

target="${1:?usage: tests/fuzz/run.sh xml|decrypt|callback [seconds] [libfuzzer flags]}"
seconds="${2:-600}"
shift $(( $# >= 2 ? 2 : 1 ))

fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
work_corpus="$fuzz_dir/target/fuzz-corpus/$target"
mkdir -p "$work_corpus"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd "$fuzz_dir/../.."
exec cargo +nightly fuzz run --fuzz-dir tests/fuzz "$target" \
    "$work_corpus" "tests/fuzz/corpus/$target" \
    -- -max_total_time="$seconds" -print_final_stats=1 "$@"
