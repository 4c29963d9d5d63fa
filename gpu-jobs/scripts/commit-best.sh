#!/usr/bin/env bash
# Commit a run's best generator (val-selected) when it beats the committed one (by the trainer's own
# rule, train.choose: val score in stage 1, sharpness within the PSNR floor in stage 2), so that training
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
from model.evaluate import quick_eval
from model.train import choose, load_config, load_generator
new = torch.load(sys.argv[1], map_location="cpu")
verify_checkpoint(new, sys.argv[1])
cfg = load_config(None, new["config"])  # stage 1: val score; stage 2: sharpness within psnr_floor
try:
    old = torch.load(sys.argv[2], map_location="cpu")
    old_m = old["metrics"]
    if "freeform" not in old_m:  # chosen by centre holes only: score it the way the new one was
        gen, _ = load_generator(sys.argv[2])
        old_m = quick_eval(gen.eval(), new["config"]["val"], int(new["config"].get("eval_n", 24)), "cpu")
    old_v = choose(old_m, cfg)
except FileNotFoundError:
    old_v = float("-inf")
new_v = choose(new["metrics"], cfg)
print("yes" if new_v > old_v else "no", new["step"], new_v, old_v)
PYEOF
)
  read -r ok step val old <<<"$better"
  if [ "$ok" = yes ]; then
    mkdir -p "$(dirname "$dest")" && cp "$best" "$dest"
    git -C "$ROOT" add "$dest"
    git -C "$ROOT" commit -q -m "checkpoint $run: step $step, val selection value $val (was $old; stage 1: hole-PSNR (centre + free-form)/2, stage 2: sharpness)" -- "$dest"
    echo "$run: committed step $step (val $val > $old)"
  else
    echo "$run: step $step val $val does not beat the committed $old"
  fi
done
