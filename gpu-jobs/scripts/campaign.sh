#!/usr/bin/env bash
# One command per stretch of the model campaign (issue 16), run in the first minutes at normal
# priority: resume stage 2 if it has started; else start it from stage 1's best generator if stage 1
# has flattened (less than +0.05 dB of val over 2,000 steps: `model.trajectory --verdict`, which
# reads the run's log and the committed history); else resume stage 1. SIGTERM stops it cleanly
# (last.pt saved). Then: scripts/commit-best.sh <run>, model.trajectory <run> --record, commit.
#
#   nohup bash gpu-jobs/scripts/campaign.sh > runs/campaign.out 2>&1 &
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-/usr/bin/python3}"
cd "$ROOT/gpu-jobs"
if [ -f ../runs/stage2-cpu/last.pt ] || [ -f models/checkpoints/stage2-cpu.pt ]; then
  stage=stage2
else
  stage=$("$PY" -m model.trajectory ../runs/stage1-cpu --verdict)
fi
echo "campaign: $stage ($(date -u +%FT%TZ))" >&2
if [ "$stage" = stage2 ]; then
  init=../runs/stage1-cpu/best_gen.pt
  [ -f "$init" ] || init=models/checkpoints/stage1-cpu.pt
  exec "$PY" -m model.train --config configs/stage2-cpu.json --init "$init" --resume
fi
exec "$PY" -m model.train --config configs/stage1-cpu.json --resume
