"""Contact sheet of held-out cases: masked input | Telea | Navier-Stokes | GMCNN | truth.

    python3 -m model.contact --model ../gpu-jobs/models/checkpoints/gmcnn-gen.pt --out ../docs/contact-sheet.jpg
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .evaluate import BASELINES, eval_masks, heldout_images, run_model
from .train import load_generator


def sheet(gen, folder: str, n: int = 8, picks: list[int] | None = None) -> Image.Image:
    imgs = heldout_images(folder, 200)
    picks = picks or list(np.linspace(0, len(imgs) - 1, n).astype(int))
    centre = eval_masks("center", 256, 256, n // 2)
    free = eval_masks("freeform", 256, 256, len(imgs))
    cols = ["input", "Telea", "Navier-Stokes", "GMCNN", "truth"]
    tile, pad, head = 256, 4, 20
    W = len(cols) * (tile + pad) + pad
    H = head + n * (tile + pad) + pad
    out = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(out)
    for j, c in enumerate(cols):
        d.text((pad + j * (tile + pad) + 4, 4), c, fill="black")
    for i, k in enumerate(picks[:n]):
        img = imgs[k]
        m = centre[i] if i < n // 2 else free[k]
        shown = img.copy()
        shown[m > 0.5] = 255
        row = [shown, BASELINES["telea"](img, m), BASELINES["navier_stokes"](img, m), run_model(gen, img, m, "cpu"), img]
        for j, a in enumerate(row):
            out.paste(Image.fromarray(a), (pad + j * (tile + pad), head + pad + i * (tile + pad)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--heldout", default="../data/heldout")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen, _ = load_generator(a.model)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    sheet(gen.eval(), a.heldout).save(a.out, quality=85)


if __name__ == "__main__":
    main()
