#!/usr/bin/env bash
# Stage-1 recipe ablations, one at a time on all cores: each config in configs/ablations/ (or the
# ones named) trains a fresh cnum-16 generator for the same number of images, and its val line
# (centre and free-form hole-PSNR, sharpness, contribution over the pre-fill) lands in
# gpu-jobs/models/ablations.jsonl (committed). `python3 -m model.ablations` renders the table in README.
#
#   bash gpu-jobs/scripts/ablate.sh [name ...]
#   SUMMARY_ONLY=1 bash gpu-jobs/scripts/ablate.sh name   # append the line of a run that already ended
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-/usr/bin/python3}"
cd "$ROOT/gpu-jobs"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(ls configs/ablations | sed 's/\.json$//'))
for n in "${names[@]}"; do
  cfg="configs/ablations/$n.json"
  out=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['out'])" "$cfg")
  if [ -z "${SUMMARY_ONLY:-}" ]; then
    rm -rf "$out"
    "$PY" -m model.train --config "$cfg"
  fi
  "$PY" - "$n" "$cfg" "$out" >> "$ROOT/gpu-jobs/models/ablations.jsonl" <<'PYEOF'
import json, sys
name, cfg, out = sys.argv[1:]
lines = [json.loads(l) for l in open(f"{out}/log.jsonl")]
start = next(l for l in lines if "start" in l)
ev = [l for l in lines if "eval" in l]
steps = [l for l in lines if "img_s" in l]
c = json.load(open(cfg))
print(json.dumps({"name": name, "about": c.get("_about", ""), "images": ev[-1]["step"] * c["batch"],
                  "img_s": steps[-1]["img_s"], "precision": start["precision"], "cpu": start["cpu"],
                  "evals": [{"step": e["step"], **e["eval"]} for e in ev]}))
PYEOF
done
