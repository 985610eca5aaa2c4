#!/usr/bin/env bash
# End-to-end check on a machine with a real NVIDIA GPU and PyTorch: the coordinator discovers
# the GPU with the real nvidia-smi, real CUDA allocations run under `cf-orch run` leases, and
# memory used by an unmanaged process (no lease) is subtracted from what can be granted (§6).
#
#   CFORCH="node bin/cf-orch.js" OUT=/tmp/gpu-check bash scripts/gpu-check.sh
#
# Writes summary.txt, status.jsonl (one snapshot per step), coordinator.log, unmanaged.log
# and job*.log into $OUT.
set -u
CFORCH=${CFORCH:-node bin/cf-orch.js}
OUT=${OUT:-/tmp/gpu-check}
PORT=${PORT:-7791}
URL="http://127.0.0.1:$PORT"
mkdir -p "$OUT"
export CF_ORCH_URL="$URL"
say() { echo "[$(date +%T.%N | cut -c1-12)] $*" | tee -a "$OUT/summary.txt"; }

smi() { nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used --format=csv,noheader,nounits; }
snapshot() { echo "{\"step\":\"$1\",\"status\":$($CFORCH status --json | tr -d '\n')}" >>"$OUT/status.jsonl"; }
say "nvidia-smi: $(smi)"
total_mb=$(smi | head -1 | cut -d, -f4 | tr -d ' ')

$CFORCH coordinator --port "$PORT" --nvidia-smi auto --nvidia-smi-poll-ms 250 \
  --data-dir "$(mktemp -d)" --log-level info >"$OUT/coordinator.log" 2>&1 &
coord=$!
for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
snapshot idle
say "coordinator up; GPU total ${total_mb} MiB"

# An unmanaged process (no lease) takes 20 GiB for 20 s.
python3 - <<'PY' >"$OUT/unmanaged.log" 2>&1 &
import time, torch
x = torch.empty(20 * 2**30, dtype=torch.uint8, device="cuda"); x.fill_(1); torch.cuda.synchronize()
print("unmanaged holds 20 GiB", flush=True); time.sleep(20)
PY
unmanaged=$!
for _ in $(seq 1 600); do grep -q holds "$OUT/unmanaged.log" 2>/dev/null && break; sleep 0.1; done
sleep 1  # one nvidia-smi poll (250 ms) later the coordinator has measured it
snapshot unmanaged
say "unmanaged process holds 20 GiB (no lease)"

# Two leased jobs on an 80 GB GPU: 40 GiB, then 60 GiB. The second cannot start while the
# first runs, and after it ends still not while the unmanaged 20 GiB are in use.
job='import os, time, torch
gib = int(os.environ["CF_ORCH_VRAM_MB"]) // 1024 - 2  # leave room for the CUDA context
x = torch.empty(gib * 2**30, dtype=torch.uint8, device="cuda"); x.fill_(2); torch.cuda.synchronize()
print("start", os.environ["CF_ORCH_LEASE_ID"], os.environ["CUDA_VISIBLE_DEVICES"], os.environ["CF_ORCH_VRAM_MB"], time.time(), flush=True)
time.sleep(4)
print("end", time.time(), flush=True)'
for i in 1 2; do
  $CFORCH run --vram $((20 + 20 * i)) --service "gpu-job-$i" --verbose -- python3 -c "$job" >"$OUT/job$i.log" 2>&1 &
  eval "job$i=\$!"
  sleep 1
done
sleep 2
snapshot jobs
say "nvidia-smi during jobs: $(smi)"
say "jobs of 40 and 60 GiB submitted"
wait "$job1"; s1=$?
wait "$job2"; s2=$?
wait "$unmanaged"
sleep 1
snapshot end
say "jobs exited with $s1 and $s2"
kill -TERM "$coord"; wait "$coord"; say "coordinator exited with $?"
