"""Training masks (1 = hole), seeded through the numpy Generator passed in.

Rectangles follow the TF code (ops.py L106-164): a box of `box` px (128 at 256x256) at a random
position, shrunk by 0..box/8 px on each side, so holes are 96-128 px at 256. Free-form masks
follow ops.py L17-60 but draw `parts` *independent* strokes (the upstream regression that adds one
stroke eight times is not copied), with x/y in the right order and filled joints.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def rect_mask(rng: np.random.Generator, h: int, w: int, box_frac: float = 0.5):
    """Returns (mask HxW float32, bbox (top, left, bh, bw)) — the bbox is what the loss crops."""
    bh, bw = max(8, int(h * box_frac)), max(8, int(w * box_frac))
    top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    dh, dw = bh // 8, bw // 8
    m = np.zeros((h, w), np.float32)
    t, b = top + int(rng.integers(0, dh + 1)), top + bh - int(rng.integers(0, dh + 1))
    l, r = left + int(rng.integers(0, dw + 1)), left + bw - int(rng.integers(0, dw + 1))
    m[t:b, l:r] = 1.0
    return m, (top, left, bh, bw)


def stroke_mask(rng: np.random.Generator, h: int, w: int, parts: int = 8, max_vertex: int = 16,
                max_length: int = 80, max_width: int = 20, max_angle: int = 360) -> np.ndarray:
    scale = math.sqrt(h * w) / 256.0  # the official settings are for 256x256
    max_length = max(4, int(max_length * scale))
    max_width = max(6, int(max_width * scale))
    min_width = max(2, min(10, int(10 * scale)))
    m = np.zeros((h, w), np.uint8)
    for _ in range(parts):
        n = int(rng.integers(0, max_vertex + 1))
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        width = min_width
        for i in range(n):
            ang = rng.integers(0, max_angle + 1) / 360.0 * 2 * math.pi
            if i % 2 == 0:
                ang = 2 * math.pi - ang
            length = int(rng.integers(0, max_length + 1))
            width = int(rng.integers(min_width, max_width + 1)) // 2 * 2
            ny = int(min(max(y + length * math.cos(ang), 0), h - 1))
            nx = int(min(max(x + length * math.sin(ang), 0), w - 1))
            cv2.line(m, (x, y), (nx, ny), 1, max(1, width))
            cv2.circle(m, (x, y), width // 2, 1, -1)
            y, x = ny, nx
        if n:
            cv2.circle(m, (x, y), width // 2, 1, -1)
    return m.astype(np.float32)


def sample_mask(rng: np.random.Generator, h: int, w: int, rect_ratio: float = 0.5, box_frac: float = 0.5):
    """Mixes rectangles and strokes by `rect_ratio`. Returns (mask, bbox or None for strokes)."""
    if rng.random() < rect_ratio:
        return rect_mask(rng, h, w, box_frac)
    m = stroke_mask(rng, h, w)
    if m.sum() < 16:  # a stroke with no vertices: fall back to a rectangle so the step teaches
        return rect_mask(rng, h, w, box_frac)
    return m, None


def centre_mask(h: int, w: int, size: int = 128) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    t, l = (h - size) // 2, (w - size) // 2
    m[t:t + size, l:l + size] = 1.0
    return m
