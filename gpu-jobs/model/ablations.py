"""The stage-1 ablation table (markdown) from the lines `scripts/ablate.sh` appends.

    python3 -m model.ablations [models/ablations.jsonl]      # from gpu-jobs/

One row per run at its last val check: images seen, val hole-PSNR and the network's contribution
over its own pre-fill (both mask kinds, first `eval_n` val images), sharpness, and the rate.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
DEFAULT = HERE / "models" / "ablations.jsonl"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(runs: list[dict]) -> str:
    out = ["| run | images seen | val hole-PSNR centre / free-form | contribution centre / free-form (dB) "
           "| sharpness centre / free-form | img/s | what changes |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        e = r["evals"][-1]
        c = e.get("contribution", {})
        cfg = HERE / "configs" / "ablations" / f"{r['name']}.json"
        crop = json.loads(cfg.read_text())["crop"] if cfg.exists() else "?"
        out.append(f"| `{r['name']}` | {r['images']:,} x {crop} px | {e['hole_psnr']:.2f} / {e['freeform']['hole_psnr']:.2f} "
                   f"| {c.get('center', float('nan')):+.3f} / {c.get('freeform', float('nan')):+.3f} "
                   f"| {e['sharpness']:.2f} / {e['freeform']['sharpness']:.2f} | {r['img_s']:.1f} ({r['precision']}) "
                   f"| {r['about']} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(table(rows(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)))
