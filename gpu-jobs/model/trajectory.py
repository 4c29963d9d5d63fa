"""A run's val trajectory from its log, and issue 16's rule for when stage 1 has flattened.

    python3 -m model.trajectory [../runs/stage1-cpu] [--every 1200] [--offset 800] [--window 2000]
    python3 -m model.trajectory ../runs/stage1-cpu --record    # keep the val history in the repo
    python3 -m model.trajectory ../runs/stage1-cpu --verdict   # prints stage1 or stage2 (campaign.sh)

Prints one markdown row per `--every` steps (images seen, val hole-PSNR, sharpness, the network's
contribution over its pre-fill, the score) and then the verdict: stage 2 is due when the best val
score gained less than 0.05 dB over the last `--window` steps (issue 16, step 5). `--offset` adds
images seen before the run's step 0 (the stage-1 run started from an 800-image ablation).

The run folder is git-ignored, so the val history also lives in the repo
(`models/checkpoints/<run>.evals.jsonl`, one line per val check): `--record` merges the run's log
into it, and the trajectory and the verdict read both, so a fresh clone knows where the campaign is.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

FLAT_DB = 0.05  # issue 16: stage 1 has flattened when it gains less than this over the window


HISTORY = Path(__file__).resolve().parents[1] / "models" / "checkpoints"


def evals(*logs: Path) -> list[dict]:
    """Every val check in the logs (a run's log.jsonl, the committed history), in step order:
    {step, score, hole_psnr, sharpness, freeform, ...}. A step checked again (a resumed run, or
    both files) keeps the later line."""
    by_step: dict[int, dict] = {}
    for log in logs:
        if not log.exists():
            continue
        for line in log.read_text().splitlines():
            if '"eval"' not in line:
                continue
            x = json.loads(line)
            by_step[int(x["step"])] = {"step": int(x["step"]), **x["eval"]}
    return [by_step[k] for k in sorted(by_step)]


def record(ev: list[dict], path: Path) -> None:
    """Write the merged history (same line format as the trainer's log: {step, eval})."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"step": e["step"], "eval": {k: v for k, v in e.items() if k != "step"}}) for e in ev]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def gain_over(ev: list[dict], window: int) -> float | None:
    """Best score so far minus the best score `window` steps before the last check (None while
    the run is shorter than the window)."""
    if not ev or ev[-1]["step"] - ev[0]["step"] < window:
        return None
    cut = ev[-1]["step"] - window
    before = max(e["score"] for e in ev if e["step"] <= cut)
    return round(max(e["score"] for e in ev) - before, 3)


def rows(ev: list[dict], every: int, batch: int, offset: int) -> list[str]:
    out = ["| images seen | step | val hole-PSNR centre / free-form | sharpness centre / free-form "
           "| grid centre / free-form | contribution centre / free-form (dB) | score |", "|---|---|---|---|---|---|---|"]
    last = None
    for e in ev:
        if last is not None and e["step"] - last < every and e is not ev[-1]:
            continue
        last = e["step"]
        c = e.get("contribution", {})
        out.append(f"| {e['step'] * batch + offset:,} | {e['step']:,} | {e['hole_psnr']:.2f} / {e['freeform']['hole_psnr']:.2f} "
                   f"| {e['sharpness']:.2f} / {e['freeform']['sharpness']:.2f} "
                   + (f"| {e['grid']:.4f} / {e['freeform']['grid']:.4f} " if "grid" in e else "| n/a ")
                   + f"| {c.get('center', float('nan')):+.3f} / {c.get('freeform', float('nan')):+.3f} | {e['score']:.3f} |")
    return out


def stage2_pick(ev: list[dict], cfg_file: Path) -> str:
    """Which val check stage 2's rule (train.choose) picks, in words."""
    from .train import choose, load_config  # torch: only for stage-2 runs
    cfg = load_config(str(cfg_file), {})
    best = max(ev, key=lambda e: choose(e, cfg))
    rule = f"sharpest val check with score >= {cfg.psnr_floor:.3f}" + (f" and grid <= {cfg.grid_max}" if cfg.grid_max else "")
    if choose(best, cfg) == float("-inf"):
        return f"stage 2: no val check qualifies yet ({rule})"
    return (f"stage 2: the {rule} is step {best['step']:,} (score {best['score']:.3f}, sharpness "
            f"{best['sharpness']:.2f} / {best['freeform']['sharpness']:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default=str(Path(__file__).resolve().parents[2] / "runs" / "stage1-cpu"))
    ap.add_argument("--every", type=int, default=1200)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--window", type=int, default=2000)
    ap.add_argument("--record", action="store_true", help="merge the run's val checks into the committed history")
    ap.add_argument("--verdict", action="store_true", help="print only stage1 (still rising, or too short) or stage2")
    a = ap.parse_args()
    run = Path(a.run)
    history = HISTORY / f"{run.name}.evals.jsonl"
    ev = evals(history, run / "log.jsonl")
    if a.record:
        record(ev, history)
    g = gain_over(ev, a.window)
    if a.verdict:
        print("stage2" if g is not None and g < FLAT_DB else "stage1")
        return
    if not ev:
        raise SystemExit(f"no val checks yet in {run}/log.jsonl or {history}")
    cfg_file = run / "config.json"
    cfg = json.loads(cfg_file.read_text()) if cfg_file.exists() else {}
    print("\n".join(rows(ev, a.every, int(cfg.get("batch", 2)), a.offset)))
    if int(cfg.get("stage", 1)) == 2:  # the flattening rule is stage 1's; stage 2 picks by sharpness
        print("\n" + stage2_pick(ev, cfg_file))
    elif g is None:
        print(f"\nthe run spans {ev[-1]['step'] - ev[0]['step']} steps: the {a.window}-step window is not full yet")
    else:
        verdict = "flattened: stage 2 is due" if g < FLAT_DB else "still rising: stage 2 waits"
        print(f"\nbest val score gained {g:+.3f} dB over the last {a.window} steps ({verdict}; threshold {FLAT_DB} dB)")


if __name__ == "__main__":
    main()
