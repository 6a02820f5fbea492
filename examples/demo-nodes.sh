#!/usr/bin/env bash
# Start three service nodes on 127.0.0.1 (two superconducting, one trapped-ion), list
# what they advertise with `qorch nodes`, then stop them with SIGTERM. Used by `make demo`.
set -euo pipefail
QORCH=${QORCH:-.venv/bin/qorch}
DIR=$(mktemp -d)
pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

# Runs in this shell, never in $(...): a subshell would lose the pid it records.
start() {  # name node-type [bootstrap] -> sets $address to the node's address
  local name=$1 type=$2 boot=${3:-}
  QORCH_NODE__NODE_TYPE=$type $QORCH node --name "$name" --data-dir "$DIR/$name" \
    ${boot:+--bootstrap "$boot"} > "$DIR/$name.out" 2> "$DIR/$name.err" &
  pids+=($!)
  for _ in $(seq 1 200); do
    if grep -q '^ready ' "$DIR/$name.out" 2>/dev/null; then
      address=$(cut -d' ' -f2 "$DIR/$name.out")
      return
    fi
    sleep 0.1
  done
  echo "node $name did not start:" >&2; cat "$DIR/$name.err" >&2; exit 1
}

start qpu-a superconducting
first=$address
start qpu-b superconducting "$first"
start ion-c trapped-ion "$first"
echo "three nodes up; the first is $first"
$QORCH nodes --bootstrap "$first" --wait 1.5
