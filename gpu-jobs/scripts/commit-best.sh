#!/usr/bin/env bash
# Commit a run's best generator (val-selected) when it beats the committed one, so that training
# resumes on the next machine instead of restarting (`model.train --config C --resume` picks up
# `committed` when the run folder is not there). Run it from time to time while training.
#
#   bash gpu-jobs/scripts/commit-best.sh [run ...]     (default: stage1-cpu stage1-cpu-zero)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-/usr/bin/python3}"
runs=("$@"); [ ${#runs[@]} -gt 0 ] || runs=(stage1-cpu stage1-cpu-zero)
for run in "${runs[@]}"; do
  best="$ROOT/runs/$run/best_gen.pt"
  dest="$ROOT/gpu-jobs/models/checkpoints/$run.pt"
  [ -f "$best" ] || { echo "$run: no best_gen.pt yet"; continue; }
  better=$(cd "$ROOT/gpu-jobs" && "$PY" - "$best" "$dest" <<'PYEOF'
import sys, torch
from model.provenance import verify_checkpoint
new = torch.load(sys.argv[1], map_location="cpu")
verify_checkpoint(new, sys.argv[1])
try:
    old = torch.load(sys.argv[2], map_location="cpu")
    old_v = old["metrics"]["hole_psnr"]
except FileNotFoundError:
    old_v = float("-inf")
print("yes" if new["metrics"]["hole_psnr"] > old_v else "no", new["step"], new["metrics"]["hole_psnr"], old_v)
PYEOF
)
  read -r ok step val old <<<"$better"
  if [ "$ok" = yes ]; then
    mkdir -p "$(dirname "$dest")" && cp "$best" "$dest"
    git -C "$ROOT" add "$dest"
    git -C "$ROOT" commit -q -m "checkpoint $run: step $step, val centre hole-PSNR $val (was $old)" -- "$dest"
    echo "$run: committed step $step (val $val > $old)"
  else
    echo "$run: step $step val $val does not beat the committed $old"
  fi
done
