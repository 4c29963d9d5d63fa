"""Contact sheet of 8 cases of a split: masked input | each classical method | the model's pre-fill |
the model | truth.

    python3 -m model.contact [--model [NAME=]PATH] [--split test] --out ../docs/contact-sheet.jpg   # from gpu-jobs/

The 8 images are picked by how much detail they hold (mean gradient of the grey image), evenly
spaced from the flattest to the busiest, so flat and smooth images are shown beside textures.
Rows alternate centre hole / free-form strokes, with the same seeded masks as `model.evaluate`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .evaluate import (BASELINES, DEFAULT_CACHE, LABELS, ROOT, SHIPPED, SPLITS, eval_images, eval_masks, load_model,
                       prefill_outputs, run_classical, split_folder)
from .metrics import grey

TILE, PAD, HEAD = 256, 4, 20


def detail(img: np.ndarray) -> float:
    g = grey(img)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def pick(imgs: list[np.ndarray], n: int = 8) -> list[int]:
    """n indices spread evenly over the images ranked by detail, flattest first."""
    order = np.argsort([detail(im) for im in imgs], kind="stable")
    return [int(order[i]) for i in np.linspace(0, len(imgs) - 1, min(n, len(imgs))).round().astype(int)]


def sheet(model, folder: str | Path, n: int = 8, baselines: list[str] | None = None, jobs: int = 2,
          cache: Path | None = DEFAULT_CACHE) -> Image.Image:
    imgs = eval_images(folder)
    h, w = imgs[0].shape[:2]
    centre = eval_masks("center", h, w, len(imgs))
    free = eval_masks("freeform", h, w, len(imgs))
    picks = pick(imgs, n)
    cases = [imgs[k] for k in picks]
    masks = [(centre if i % 2 == 0 else free)[k] for i, k in enumerate(picks)]
    baselines = list(BASELINES) if baselines is None else baselines
    cols: list[tuple[str, list[np.ndarray]]] = []
    shown = []
    for im, m in zip(cases, masks):
        s = im.copy()
        s[m > 0.5] = 255
        shown.append(s)
    cols.append(("input", shown))
    cols += [(LABELS[b], run_classical(b, cases, masks, jobs, cache)) for b in baselines]
    pre = prefill_outputs(model.fill, cases, masks) if model.fill else None
    if pre is not None:
        cols.append((f"pre-fill ({model.fill})", pre))
    cols.append((model.name, model.run(cases, masks)))
    cols.append(("truth", cases))

    out = Image.new("RGB", (len(cols) * (TILE + PAD) + PAD, HEAD + len(cases) * (TILE + PAD) + PAD), "white")
    d = ImageDraw.Draw(out)
    for j, (title, tiles) in enumerate(cols):
        x = PAD + j * (TILE + PAD)
        d.text((x + 4, 4), title, fill="black")
        for i, a in enumerate(tiles):
            out.paste(Image.fromarray(a).resize((TILE, TILE)), (x, HEAD + PAD + i * (TILE + PAD)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(SHIPPED), help="[NAME=]PATH, .onnx or a generator .pt (default: the shipped model)")
    ap.add_argument("--split", choices=SPLITS, default="test")
    ap.add_argument("--data", default=str(ROOT / "data"))
    ap.add_argument("--images", help="a folder of same-size PNGs instead of a split")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a.model, a.threads)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    sheet(model, a.images or split_folder(a.split, a.data), a.n).save(a.out, quality=85)


if __name__ == "__main__":
    main()
