"""Image quality metrics on uint8 HxWx3 arrays (pure numpy; scipy for the SSIM window)."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR in dB over the whole image, or over `region` (HxW bool) when given."""
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if region is not None:
        d = d[region.astype(bool)]
    mse = float(d.mean()) if d.size else 0.0
    return 100.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


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
