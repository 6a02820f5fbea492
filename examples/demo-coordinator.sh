#!/usr/bin/env bash
# Start the coordinator service with its nodes (`qorch up`), submit two circuits through
# the HTTP job API, wait for their results, list the jobs, then stop everything with
# SIGTERM. Used by `make demo`.
set -euo pipefail
QORCH=${QORCH:-.venv/bin/qorch}
DIR=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

$QORCH up --topology examples/topologies/two-nodes.toml --port 0 --data-dir "$DIR/data" \
  > "$DIR/up.out" 2> "$DIR/up.err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q '"ready"' "$DIR/up.out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "qorch up failed:" >&2; cat "$DIR/up.err" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/.*"url": "\([^"]*\)".*/\1/p' "$DIR/up.out")
[ -n "$url" ] || { echo "qorch up did not get ready:" >&2; cat "$DIR/up.err" >&2; exit 1; }
echo "coordinator at $url"
$QORCH submit examples/circuits/bell.qasm --url "$url" --shots 2000 --wait
job=$($QORCH submit examples/circuits/qft4.qasm --url "$url" --seed 3)
$QORCH submit examples/circuits/ghz5.qasm --url "$url" --wait > /dev/null
for _ in $(seq 1 300); do  # bounded: at most a minute
  $QORCH status "$job" --url "$url" | grep -qE 'COMPLETED|FAILED' && break
  sleep 0.2
done
$QORCH status "$job" --url "$url"
$QORCH result "$job" --url "$url"
