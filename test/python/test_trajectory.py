"""model.trajectory: the val trajectory of a run's log and issue 16's flattening rule.

    PYTHONPATH=gpu-jobs /usr/bin/python3 -m pytest test/python/test_trajectory.py -q
"""
from __future__ import annotations

import json

from model.trajectory import evals, gain_over, rows


def write_log(path, scores):
    lines = [{"start": 0, "fill": "harmonic", "cnum": 16}]
    for step, s in scores:
        lines.append({"step": step, "loss": 0.1, "img_s": 2.0})
        lines.append({"step": step, "eval": {"hole_psnr": s - 1, "sharpness": 0.2, "score": s,
                                             "contribution": {"center": 0.5, "freeform": 1.0},
                                             "freeform": {"hole_psnr": s + 1, "sharpness": 0.3}}})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def test_rising_then_flat(tmp_path):
    log = tmp_path / "log.jsonl"
    write_log(log, [(0, 22.0), (1000, 22.2), (2000, 22.4), (3000, 22.43), (4000, 22.44)])
    ev = evals(log)
    assert [e["step"] for e in ev] == [0, 1000, 2000, 3000, 4000]
    assert gain_over(ev, 2000) == 0.04          # 22.44 - best up to step 2000 (22.4): flat
    assert gain_over(ev[:3], 2000) == 0.4       # 22.4 - 22.0: rising
    assert gain_over(ev[:2], 2000) is None      # the window is not full


def test_a_val_dip_does_not_count_as_gain_and_a_recheck_replaces(tmp_path):
    log = tmp_path / "log.jsonl"
    write_log(log, [(0, 22.5), (1000, 22.1), (2000, 22.3), (2000, 22.35)])  # resumed: step 2000 checked again
    ev = evals(log)
    assert [e["score"] for e in ev] == [22.5, 22.1, 22.35]
    assert gain_over(ev, 2000) == 0.0           # the best is still step 0's


def test_rows_sample_every_n_steps_and_keep_the_last(tmp_path):
    log = tmp_path / "log.jsonl"
    write_log(log, [(s, 22 + s / 10000) for s in range(0, 3100, 300)])
    out = rows(evals(log), 1200, 2, 800)
    body = out[2:]
    assert [r.split("|")[2].strip() for r in body] == ["0", "1,200", "2,400", "3,000"]
    assert body[1].startswith("| 3,200 |")      # images = step x batch + offset


def test_the_verdict_reads_the_run_log(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    run = tmp_path / "verdict-test-run"  # no committed history under this name
    run.mkdir()
    gpu_jobs = Path(__file__).resolve().parents[2] / "gpu-jobs"
    def verdict():
        return subprocess.run([sys.executable, "-m", "model.trajectory", str(run), "--verdict"], cwd=gpu_jobs,
                              capture_output=True, text=True, check=True).stdout.strip()
    write_log(run / "log.jsonl", [(0, 22.0), (1000, 22.2)])
    assert verdict() == "stage1"                # the window is not full: keep training stage 1
    write_log(run / "log.jsonl", [(0, 22.0), (1000, 22.2), (2000, 22.4)])
    assert verdict() == "stage1"                # +0.4 dB over 2,000 steps: still rising
    write_log(run / "log.jsonl", [(0, 22.0), (1000, 22.2), (2000, 22.4), (4000, 22.44)])
    assert verdict() == "stage2"                # +0.04 dB: flattened


def test_a_stage2_run_reports_its_own_pick_not_the_stage1_rule(tmp_path):
    from model.trajectory import stage2_pick
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"stage": 2, "batch": 2, "psnr_floor": 22.0, "grid_max": 0.005}))

    def e(step, score, sharp, grid):
        return {"step": step, "score": score, "hole_psnr": score - 1, "sharpness": sharp, "grid": grid,
                "freeform": {"hole_psnr": score + 1, "sharpness": sharp, "grid": grid}}
    ev = [e(0, 22.3, 0.2, 0.0), e(150, 22.1, 0.4, 0.002), e(300, 21.9, 0.6, 0.001), e(450, 22.2, 0.7, 0.02)]
    # 300 is under the floor and 450 is a grid: 150 is the pick
    assert stage2_pick(ev, cfg).startswith("stage 2: the sharpest val check with score >= 22.000 and grid <= 0.005 is step 150 ")
    assert stage2_pick(ev[2:], cfg).startswith("stage 2: no val check qualifies yet")
    assert "n/a" in rows([{k: v for k, v in ev[0].items() if k != "grid"}], 1, 2, 0)[2]  # records before the metric
