"""Held-out evaluation: GMCNN against Telea, Navier-Stokes, mean fill and the push-pull fills.

    python3 -m model.evaluate --model ../gpu-jobs/models/gmcnn.pt [--n 100] [--json out.json]

Masks: a centre 128x128 hole on 256x256 crops, and seeded free-form strokes (the TF training
settings, 8 independent strokes). Metrics: PSNR and SSIM of the composited image, and PSNR
inside the hole only (hole-PSNR), averaged per image (as the authors' MATLAB protocol).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from .generator import composite, harmonic_fill, pushpull_fill
from .masks import centre_mask, stroke_mask
from .metrics import psnr, ssim

EVAL_SEED = 1234


def heldout_images(folder: str, n: int) -> list[np.ndarray]:
    paths = sorted(Path(folder).glob("*.png"))[:n]
    if not paths:
        raise SystemExit(f"no held-out images in {folder}: run `python3 -m model.dataset` first")
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def eval_masks(kind: str, h: int, w: int, n: int) -> list[np.ndarray]:
    if kind == "center":
        return [centre_mask(h, w, 128) for _ in range(n)]
    rng = np.random.default_rng(EVAL_SEED)
    out = []
    while len(out) < n:
        m = stroke_mask(rng, h, w)
        if m.sum() >= 64:
            out.append(m)
    return out


def to_tensor(img: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1


def to_uint8(t: torch.Tensor) -> np.ndarray:
    # Round (the TF test script truncates); rounding is the unbiased choice.
    return ((t[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


@torch.no_grad()
def run_model(gen, img: np.ndarray, mask: np.ndarray, device) -> np.ndarray:
    x = to_tensor(img, device)
    m = torch.from_numpy(mask)[None, None].to(device)
    return to_uint8(composite(gen(x, m), x, m))


def mean_fill(img, mask):
    known = mask < 0.5
    out = img.copy()
    out[~known] = img[known].mean(axis=0).round().astype(np.uint8)
    return out


def pushpull(img, mask):
    x = to_tensor(img, "cpu")
    m = torch.from_numpy(mask)[None, None]
    return to_uint8(composite(pushpull_fill(x, 1 - m), x, m))


def pushpull_harmonic(img, mask):
    """The classical part of the shipped fill alone (no network): push-pull, then harmonic steps."""
    x = to_tensor(img, "cpu")
    m = torch.from_numpy(mask)[None, None]
    return to_uint8(composite(harmonic_fill(pushpull_fill(x, 1 - m), 1 - m), x, m))


def cv_inpaint(flag):
    def f(img, mask):
        return cv2.inpaint(img, (mask > 0.5).astype(np.uint8) * 255, 3, flag)
    return f


BASELINES = {
    "telea": cv_inpaint(cv2.INPAINT_TELEA),
    "navier_stokes": cv_inpaint(cv2.INPAINT_NS),
    "mean_fill": mean_fill,
    "pushpull": pushpull,
    "pushpull_harmonic": pushpull_harmonic,
}


def score(out, img, mask) -> dict:
    return {"psnr": psnr(out, img), "ssim": ssim(out, img), "hole_psnr": psnr(out, img, mask > 0.5)}


def mean_scores(rows: list[dict]) -> dict:
    return {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]}


@torch.no_grad()
def quick_eval(gen, folder: str, n: int, device) -> dict:
    """Centre-hole metrics on the first n held-out images: what the trainer tracks."""
    imgs = heldout_images(folder, n)
    rows = [score(run_model(gen, im, m, device), im, m) for im, m in zip(imgs, eval_masks("center", 256, 256, len(imgs)))]
    return mean_scores(rows)


def full_eval(models: dict, folder: str, n: int, device="cpu", baselines=True) -> dict:
    """{mask kind: {method: {psnr, ssim, hole_psnr}}}; models maps a name to a generator."""
    imgs = heldout_images(folder, n)
    methods = dict(BASELINES) if baselines else {}
    for name, gen in models.items():
        methods[name] = lambda im, m, g=gen: run_model(g, im, m, device)
    res = {}
    for kind in ("center", "freeform"):
        masks = eval_masks(kind, 256, 256, len(imgs))
        res[kind] = {name: mean_scores([score(f(im, m), im, m) for im, m in zip(imgs, masks)])
                     for name, f in methods.items()}
        res[kind]["_hole_ratio"] = round(float(np.mean([m.mean() for m in masks])), 3)
    res["_n"] = len(imgs)
    return res


def table(res: dict) -> str:
    lines = ["| mask | method | PSNR | SSIM | hole-PSNR |", "|---|---|---|---|---|"]
    for kind in ("center", "freeform"):
        for name, s in res[kind].items():
            if not name.startswith("_"):
                lines.append(f"| {kind} | {name} | {s['psnr']:.2f} | {s['ssim']:.4f} | {s['hole_psnr']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    from .train import load_generator
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[], help="generator checkpoint (repeatable), name=path allowed")
    ap.add_argument("--heldout", default="../data/heldout")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = {}
    for spec in a.model:
        name, _, path = spec.rpartition("=")
        gen, _ = load_generator(path)
        models[name or "gmcnn"] = gen.eval()
    res = full_eval(models, a.heldout, a.n)
    print(table(res))
    print(f"\n{res['_n']} held-out images; hole ratio centre {res['center']['_hole_ratio']}, "
          f"free-form {res['freeform']['_hole_ratio']}", file=sys.stderr)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
