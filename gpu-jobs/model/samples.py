"""Sample grids for a person to look at: one row per image, columns input | output | truth.

The input shows the hole in white (as the TF test script's visualisation); the output is the
composite (known pixels kept, the prediction inside the hole). The trainer writes one PNG per
`sample_every` steps to <out>/samples/step0000123.png, always on the same held-out images and
masks (alternating a rectangle and free-form strokes), so that grids from different steps compare.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .generator import composite
from .masks import rect_mask, stroke_mask

SAMPLE_SEED = 4321
GAP = 2  # pixels between tiles


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """N,3,H,W in [-1,1] -> N,H,W,3 uint8 (rounded)."""
    return ((t.detach().float().cpu().permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


def grid(gt: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor) -> np.ndarray:
    """HxWx3 uint8 grid: rows = samples, columns = input (hole white), output (composite), truth."""
    shown_input = gt * (1 - mask) + mask  # white = 1.0
    cols = [to_uint8(shown_input), to_uint8(composite(pred, gt, mask)), to_uint8(gt)]
    n, h, w, _ = cols[0].shape
    out = np.full((n * h + (n - 1) * GAP, 3 * w + 2 * GAP, 3), 255, np.uint8)
    for r in range(n):
        for c, col in enumerate(cols):
            y, x = r * (h + GAP), c * (w + GAP)
            out[y:y + h, x:x + w] = col[r]
    return out


def save_grid(path: str | Path, gt: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(grid(gt, mask, pred)).save(tmp, format="PNG")
    tmp.replace(path)
    return path


def fixed_batch(folder: str, n: int, size: int, box_frac: float = 0.5, seed: int = SAMPLE_SEED):
    """The first n held-out PNGs, centre-cropped (or resized up) to size, with seeded masks:
    even rows a rectangle, odd rows strokes. Returns (gt N,3,S,S in [-1,1], mask N,1,S,S)."""
    paths = sorted(Path(folder).glob("*.png"))[:n] or sorted(Path(folder).glob("*.jpg"))[:n]
    if not paths:
        raise FileNotFoundError(f"no images for sample grids in {folder}")
    rng = np.random.default_rng(seed)
    imgs, masks = [], []
    for i, p in enumerate(paths):
        im = Image.open(p).convert("RGB")
        if min(im.size) < size:
            f = size / min(im.size)
            im = im.resize((max(size, round(im.width * f)), max(size, round(im.height * f))), Image.BICUBIC)
        t, l = (im.height - size) // 2, (im.width - size) // 2
        imgs.append(np.asarray(im)[t:t + size, l:l + size])
        if i % 2 == 0:
            masks.append(rect_mask(rng, size, size, box_frac)[0])
        else:
            m = stroke_mask(rng, size, size)
            masks.append(m if m.sum() >= 16 else rect_mask(rng, size, size, box_frac)[0])
    gt = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return gt, torch.from_numpy(np.stack(masks)[:, None])


@torch.no_grad()
def write_samples(gen, gt: torch.Tensor, mask: torch.Tensor, path: str | Path, device="cpu") -> Path:
    was_training = gen.training
    gen.eval()
    try:
        pred = torch.cat([gen(gt[i:i + 1].to(device), mask[i:i + 1].to(device)).cpu() for i in range(gt.shape[0])])
    finally:
        gen.train(was_training)
    return save_grid(path, gt, mask, pred)
