#!/usr/bin/env bash
# Every measurement in docs/performance.md, in one run on this machine:
#
#   bench/setup.sh      # once, as root: hyperfine, jq, curl, nginx + nchan
#   bench/run.sh        # ~12 minutes on 2 cores; prints the tables
#   bench/run.sh fanout idle   # only these sections (client memory latency startup size
#                              # ingest replay fanout idle)
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

SECTIONS="$*"

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

want() { [ -z "$SECTIONS" ] || [[ " $SECTIONS " == *" $1 "* ]]; }

if want client; then
  echo; echo "== client throughput into a pipe"
  wire client --events "$EVENTS" --runs 3
fi
if want memory; then
  echo; echo "== client memory over a long watch"
  wire client --events "$LONG_EVENTS" --runs 1 --only "ctl watch -o json" --samples yes
fi
if want latency; then
  echo; echo "== latency"
  wire latency --rate 1000 --seconds 10
fi
if want startup; then
  echo; echo "== start-up (median)"
  json=$(mktemp)
  hyperfine -N --warmup 20 --runs 200 --export-json "$json" \
    'target/release/ctl --version' 'target/release/ctl deploy --help' 'curl --version' >/dev/null
  jq -r '.results[] | "\(.command): median \(.median * 1000 | . * 100 | round / 100) ms, mean \(.mean * 1000 | . * 100 | round / 100) ms"' "$json"
  rm -f "$json"
fi
if want size; then
  echo; echo "== binary size"
  stripped=$(mktemp); strip -o "$stripped" target/release/ctl
  echo "target/release/ctl: $(( $(stat -c %s target/release/ctl) / 1024 )) KiB; stripped: $(( $(stat -c %s "$stripped") / 1024 )) KiB"
  rm -f "$stripped"
  # What dominates: code and data symbols grouped by the crate that defines them.
  nm --size-sort -C -S target/release/ctl | python3 -c '
import re, sys, collections
sizes = collections.Counter()
for line in sys.stdin:
    parts = line.split(None, 3)
    if len(parts) < 4:
        continue
    name = parts[3].strip().lstrip("<").lstrip("&")
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    sizes[m.group(1) if m else "(C and unnamed)"] += int(parts[1], 16)
total = sum(sizes.values())
for crate, size in sizes.most_common(12):
    print(f"{size / 1024:8.0f} KiB {100 * size / total:5.1f}%  {crate}")
'
fi
if want ingest; then
  echo; echo "== server: durable ingest"
  wire ingest --events "$INGEST" --batches 1,100,1000
fi
if want replay; then
  echo; echo "== server: replay"
  wire replay --events "$REPLAY" --runs 3
fi
if want fanout; then
  echo; echo "== server: fan-out"
  wire fanout --subscribers "$SUBSCRIBERS" --rate 1000 --seconds 10
fi
if want idle; then
  echo; echo "== server: idle subscribers"
  wire idle --subscribers "$IDLE"
fi
