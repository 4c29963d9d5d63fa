"""Ship a trained generator: evaluate it on the held-out split beside the classical baselines,
export ONNX (fp16 weights) + manifest into gpu-jobs/models/, write the model card's tables, and
keep the generator checkpoint so that the next training run resumes from it.

    python3 -m model.ship --ckpt ../runs/stage1-cpu/best_gen.pt --version 1.0.0 \
        --hardware "2-core CPU" --hours 2.5 [--n 100] [--compare faithful=../runs/x/best_gen.pt]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from .evaluate import full_eval, table
from .train import load_generator

HERE = Path(__file__).resolve().parent.parent  # gpu-jobs/
sys.path.insert(0, str(HERE / "modal"))  # the pure settings of the training job: one deviation text per fill
from train_settings import FILL_DEVIATIONS  # noqa: E402
MODELS = HERE / "models"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--name", default="gmcnn")
    ap.add_argument("--version", required=True)
    ap.add_argument("--hardware", required=True)
    ap.add_argument("--hours", type=float, required=True, help="total training wall time behind this checkpoint")
    ap.add_argument("--steps", type=int, help="total steps (default: the checkpoint's)")
    ap.add_argument("--heldout", default=str(HERE.parent / "data/heldout"))
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--compare", action="append", default=[], help="name=ckpt, evaluated in the same run")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    gen, ck = load_generator(a.ckpt)
    models = {"gmcnn (shipped)": gen.eval()}
    for spec in a.compare:
        n, _, p = spec.partition("=")
        models[n] = load_generator(p)[0].eval()
    res = full_eval(models, a.heldout, a.n)
    md = table(res)
    print(md)
    cfg = ck.get("config", {})
    ds = json.loads((Path(a.heldout).parent / "dataset.json").read_text())
    ship = res["center"]["gmcnn (shipped)"], res["freeform"]["gmcnn (shipped)"]
    training = {
        "stage": f"stage{int(cfg.get('stage', 1))}",
        "data_recipe": "python3 -m model.dataset (Debian: " + ", ".join(ds["packages"]) + "); " + ds["split"],
        "train_images": ds["counts"]["train"],
        "heldout_images": ds["counts"]["heldout"],
        "steps": a.steps or int(ck.get("step", 0)),
        "batch": int(cfg.get("batch", 6)),
        "crop": int(cfg.get("crop", 128)),
        "lr": float(cfg.get("lr", 1e-4)),
        "losses": {"confidence_recon": float(cfg.get("recon_w", 1.68)), "known_l1": float(cfg.get("ae_w", 1.44))},
        "hardware": a.hardware,
        "wall_time_hours": a.hours,
        "random_vgg": bool(cfg.get("random_vgg", False)),
        "deviations": [
            FILL_DEVIATIONS[gen.fill],
            "per-sample masks (the official code shares one mask per batch)",
            "RGB channel order (the official TF code is BGR)",
        ],
    }
    metrics = {"heldout_images": res["_n"], "center": ship[0], "freeform": ship[1]}
    MODELS.mkdir(exist_ok=True)
    onnx = MODELS / f"{a.name}.onnx"
    with tempfile.TemporaryDirectory() as t:
        (Path(t) / "training.json").write_text(json.dumps(training))
        (Path(t) / "metrics.json").write_text(json.dumps(metrics))
        subprocess.run([sys.executable, "-m", "model.export", "--ckpt", a.ckpt, "--out", str(onnx), "--fp16-weights",
                        "--name", a.name, "--version", a.version, "--training", f"{t}/training.json",
                        "--metrics", f"{t}/metrics.json"], cwd=HERE, check=True)
    ckdir = MODELS / "checkpoints"
    ckdir.mkdir(exist_ok=True)
    shutil.copyfile(a.ckpt, ckdir / f"{a.name}-gen.pt")
    (MODELS / "EVAL.md").write_text(
        f"Held-out evaluation of {a.name}@{a.version} ({res['_n']} images, 256x256; centre hole 128x128, "
        f"free-form hole ratio {res['freeform']['_hole_ratio']}). Written by `python3 -m model.ship`.\n\n{md}\n")
    (MODELS / "eval.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
