"""Image quality metrics on uint8 HxWx3 arrays (pure numpy; scipy for the SSIM window)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.ndimage import gaussian_filter

# Per-image PSNR cap: a flat sky filled exactly would score 100 dB and swamp a mean over images.
PSNR_CAP = 50.0


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR in dB over the whole image, or over `region` (HxW bool) when given (100 if identical)."""
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if region is not None:
        d = d[region.astype(bool)]
    mse = float(d.mean()) if d.size else 0.0
    return 100.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def capped_psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    return min(psnr(a, b, region), PSNR_CAP)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 SSIM, Gaussian window sigma 1.5, per channel then averaged (as MATLAB's ssim)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)
        f = lambda z: gaussian_filter(z, 1.5, truncate=3.5)  # 11x11 window
        mx, my = f(x), f(y)
        sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        out.append(s.mean())
    return float(np.mean(out))


def grey(a: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB uint8 image, as float64."""
    return a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def hole_gradient(a: np.ndarray, region: np.ndarray) -> float:
    """Sum of |dx| + |dy| of the grey image over neighbouring pixel pairs that both lie in `region`.

    Pairs that cross the hole's border are left out: a seam is not detail, and a flat fill then
    scores exactly 0 whatever its colour.
    """
    g, r = grey(a), region.astype(bool)
    dx = np.abs(np.diff(g, axis=1))[r[:, 1:] & r[:, :-1]].sum()
    dy = np.abs(np.diff(g, axis=0))[r[1:] & r[:-1]].sum()
    return float(dx + dy)


def sharpness(pairs: Iterable[tuple[float, float]]) -> float:
    """Detail inside the holes, output over truth, pooled over images: sum of the outputs'
    `hole_gradient` over the sum of the truths'. 1.0 = as much detail as the real image;
    a PDE blur scores about 0.2, a flat fill 0. NaN when every truth is flat."""
    pairs = list(pairs)
    out, truth = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    return out / truth if truth > 0 else float("nan")
