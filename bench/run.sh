#!/usr/bin/env bash
# Every measurement in docs/performance.md, in one run on this machine:
#
#   bench/setup.sh      # once, as root: hyperfine, jq, curl, nginx + nchan
#   bench/run.sh        # ~10 minutes on 2 cores; prints the tables
#
# Scenario sizes can be overridden, e.g. EVENTS=200000 LONG_EVENTS=1000000 bench/run.sh for a
# quick pass. Nothing here is part of the test suite; .ci/run only checks that the benches build.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-1000000}           # client throughput
LONG_EVENTS=${LONG_EVENTS:-10000000} # client memory over a long watch
REPLAY=${REPLAY:-500000}
INGEST=${INGEST:-200000}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
IDLE=${IDLE:-10000}

for tool in hyperfine jq curl nginx; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run bench/setup.sh" >&2; exit 1; }
done

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(rustc --version)"
grep -m1 'model name' /proc/cpuinfo || true

echo "== build (release)"
cargo build --release --locked --bin ctl 2>&1 | tail -1
cargo bench --locked --bench wire --no-run 2>&1 | tail -1
wire() { cargo bench --locked --bench wire -- "$@" 2>/dev/null; }

echo; echo "== client throughput into a pipe"
wire client --events "$EVENTS" --runs 3
echo; echo "== client memory over a long watch"
wire client --events "$LONG_EVENTS" --runs 1 --only "ctl watch -o json" --samples yes
echo; echo "== latency"
wire latency --rate 1000 --seconds 10
echo; echo "== start-up"
hyperfine -N --warmup 20 --runs 200 \
  'target/release/ctl --version' 'target/release/ctl deploy --help' 'curl --version'
echo; echo "== binary size"
size=$(stat -c %s target/release/ctl)
stripped=$(mktemp); strip -o "$stripped" target/release/ctl
echo "target/release/ctl: $((size / 1024)) KiB; stripped: $(( $(stat -c %s "$stripped") / 1024 )) KiB"
# What dominates: symbol sizes grouped by crate (Rust-mangled names carry the crate path).
nm --size-sort -C -S target/release/ctl 2>/dev/null | awk '
  { size = strtonum("0x" $2); name = $4; for (i = 5; i <= NF; i++) name = name " " $i;
    sub(/^</, "", name); sub(/^_</, "", name);
    crate = name; sub(/::.*/, "", crate); sub(/ .*/, "", crate);
    if (crate !~ /^[a-z_][a-z0-9_]*$/) crate = "(other)";
    total[crate] += size; all += size }
  END { for (c in total) printf "%8.0f KiB %5.1f%%  %s\n", total[c] / 1024, 100 * total[c] / all, c }' \
  | sort -rn | head -12
rm -f "$stripped"
echo; echo "== server: durable ingest"
wire ingest --events "$INGEST" --batches 1,100,1000
echo; echo "== server: replay"
wire replay --events "$REPLAY" --runs 3
echo; echo "== server: fan-out"
wire fanout --subscribers "$SUBSCRIBERS" --rate 1000 --seconds 10
echo; echo "== server: idle subscribers"
wire idle --subscribers "$IDLE"
