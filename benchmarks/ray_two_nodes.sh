#!/usr/bin/env bash
# A two-node Ray cluster on this one machine (a head and a worker node, one CPU each, each
# with its own ports), a `recbandit run --backend ray --address ...` sweep on it, and which
# node ran each run. Both nodes are stopped at the end (by the ids of their own processes,
# found through this cluster's temporary folder: other Ray instances are left alone).
#
#   bash benchmarks/ray_two_nodes.sh            # python and ray from PATH, or
#   PYTHON=.venv/bin/python bash benchmarks/ray_two_nodes.sh
#
# Prints one line per run (agent, seed, node id, host, pid) and "nodes used: N".
set -euo pipefail
PYTHON=${PYTHON:-python}
RAY=${RAY:-$(dirname "$(command -v "$PYTHON")")/ray}
PORT=${PORT:-6391}
HORIZON=${HORIZON:-10000}
SEEDS=${SEEDS:-3}
TMP=$(mktemp -d /tmp/rb2n.XXXXXX)   # short: Ray's socket paths must stay under 108 characters
OUT=${OUT:-$TMP/out}
echo "cluster folder: $TMP"

cleanup() {
  # This cluster's processes (their command lines name $TMP) and their children, by pid.
  # -ww: whole command lines even when COLUMNS is set (pytest-xdist workers have COLUMNS=80,
  # which cut every line before $TMP: nothing matched and the cluster outlived the script).
  local pids
  pids=$(ps -ww -eo pid=,ppid=,args= | awk -v tmp="$TMP" '
    { pid[NR]=$1; ppid[NR]=$2; mine[NR]=index($0, tmp) > 0 }
    END { changed=1; while (changed) { changed=0; for (i in pid) if (!mine[i]) for (j in pid)
            if (mine[j] && ppid[i]==pid[j]) { mine[i]=1; changed=1 } }
          for (i in pid) if (mine[i]) print pid[i] }')
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    for _ in $(seq 50); do
      alive=$(for p in $pids; do ps -o stat= -p "$p" 2>/dev/null | grep -qv Z && echo "$p"; done || true)
      [ -z "$alive" ] && break
      sleep 0.2
    done
    [ -n "${alive:-}" ] && kill -9 $alive 2>/dev/null || true
  fi
  [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

# Ray 2.60 turns on token authentication for a head started here (token in ~/.ray/auth_token);
# the worker node and the driver must present the same token.
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
common=(--num-cpus=1 --node-ip-address=127.0.0.1 --disable-usage-stats)
"$RAY" start --head --port="$PORT" --include-dashboard=false --temp-dir="$TMP/ray" "${common[@]}" >"$TMP/head.log" 2>&1
"$RAY" start --address="127.0.0.1:$PORT" "${common[@]}" >"$TMP/worker.log" 2>&1

start=$(date +%s.%N)
"$PYTHON" -m recbandit.cli run --backend ray --address "127.0.0.1:$PORT" --agents linucb-shared,random \
  --seeds "$SEEDS" --horizon "$HORIZON" --env-arg n_items=200 --env-arg n_users=100 \
  --out "$OUT" --quiet --no-plot --no-table
end=$(date +%s.%N)

"$PYTHON" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
nodes = set()
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    r = json.loads(path.read_text())
    n = r["node"]
    nodes.add(n["id"])
    print(f"{r['agent']:14s} seed {r['seed']}  backend {r['backend']}  node {n['id'][:12]}  {n['hostname']} {n['ip']}  pid {n['pid']}")
print(f"nodes used: {len(nodes)}")
PY
echo "sweep wall time: $(echo "$end - $start" | bc) s"
