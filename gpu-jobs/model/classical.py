"""The classical inpainting methods the model is measured against, and a cached, parallel runner.

Each method maps (image RGB uint8 HxWx3, mask float HxW, 1 = hole) to RGB uint8 with every known
pixel kept. No torch here: the worker processes of `run_classical` start in a fraction of a second.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

Images = Sequence[np.ndarray]


def keep_known(out: np.ndarray, img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Known pixels come from the input: ShiftMap rewrites some of them, FSR rounds them."""
    out = out.copy()
    known = mask <= 0.5
    out[known] = img[known]
    return out


def mean_fill(img, mask):
    known = mask <= 0.5
    out = img.copy()
    out[~known] = img[known].mean(axis=0).round().astype(np.uint8)
    return out


def telea(img, mask):
    return keep_known(cv2.inpaint(img, (mask > 0.5).astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA), img, mask)


def navier_stokes(img, mask):
    return keep_known(cv2.inpaint(img, (mask > 0.5).astype(np.uint8) * 255, 3, cv2.INPAINT_NS), img, mask)


def _xphoto(img, mask, flag):
    hole = mask > 0.5
    src = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    src[hole] = 0  # nothing of the truth may leak into the fill
    dst = np.zeros_like(src)
    cv2.xphoto.inpaint(src, (~hole).astype(np.uint8), dst, flag)  # this mask marks VALID pixels
    return keep_known(cv2.cvtColor(dst, cv2.COLOR_BGR2RGB), img, mask)


def fsr(img, mask):
    return _xphoto(img, mask, cv2.xphoto.INPAINT_FSR_FAST)


def shiftmap(img, mask):
    return _xphoto(img, mask, cv2.xphoto.INPAINT_SHIFTMAP)


BASELINES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "telea": telea,
    "navier_stokes": navier_stokes,
    "fsr": fsr,
    "shiftmap": shiftmap,
    "mean_fill": mean_fill,
}
SLOW = {"fsr", "shiftmap"}  # seconds per image: parallel and cached
LABELS = {"telea": "OpenCV Telea", "navier_stokes": "OpenCV Navier-Stokes", "fsr": "OpenCV FSR (fast)",
          "shiftmap": "OpenCV ShiftMap", "mean_fill": "mean fill"}


def _cache_path(cache: Path, name: str, img: np.ndarray, mask: np.ndarray) -> Path:
    h = hashlib.sha1(str(img.shape).encode())
    h.update(img.tobytes())
    h.update(np.packbits(mask > 0.5).tobytes())
    return cache / f"{name}-opencv{cv2.__version__}" / f"{h.hexdigest()}.png"


def _call(args):
    name, img, mask = args
    return BASELINES[name](img, mask)


def run_classical(name: str, imgs: Images, masks: Images, jobs: int = 1, cache: Path | None = None) -> list[np.ndarray]:
    fn = BASELINES[name]
    if name not in SLOW:
        return [fn(im, m) for im, m in zip(imgs, masks)]
    outs: list[np.ndarray | None] = [None] * len(imgs)
    paths = [_cache_path(cache, name, im, m) if cache else None for im, m in zip(imgs, masks)]
    for i, p in enumerate(paths):
        if p is not None and p.exists():
            outs[i] = np.asarray(Image.open(p).convert("RGB"))
    todo = [i for i, o in enumerate(outs) if o is None]
    if jobs > 1 and len(todo) > 1:
        # spawn, not fork: a forked child of a process that has run torch's OpenMP pool can hang;
        # the workers import only this module (no torch).
        with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=mp.get_context("spawn")) as ex:
            done = list(ex.map(_call, [(name, imgs[i], masks[i]) for i in todo]))
    else:
        done = [fn(imgs[i], masks[i]) for i in todo]
    for i, out in zip(todo, done):
        outs[i] = out
        if paths[i] is not None:
            paths[i].parent.mkdir(parents=True, exist_ok=True)
            tmp = paths[i].with_suffix(f".{os.getpid()}.tmp")
            Image.fromarray(out).save(tmp, format="PNG")
            tmp.replace(paths[i])  # atomic: a concurrent run never reads half a file
    return outs  # type: ignore[return-value]
