"""Stage-1 losses of the official TF code (ops.py L63-88, network.py L178-220).

The confidence weights Mw come from `priority_loss_mask(mask, hsize=64, sigma=1/40, iters=7)`:
DeepFill's `gauss_kernel` samples the normal CDF over +-sigma *standard deviations*, so at
sigma=1/40 the 64x64 kernel is a box to within 0.05%. It is separable (outer product of the
square roots of a 1-D kernel), so we convolve rows then columns: the same numbers, 30x cheaper.
TF 'SAME' for an even kernel pads 31 before and 32 after, with zeros.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gauss_kernel_1d(size: int = 64, sigma: float = 1 / 40) -> torch.Tensor:
    """sqrt of DeepFill's 1-D CDF-difference kernel; outer(k, k) is the normalised 2-D kernel."""
    interval = (2 * sigma + 1.0) / size
    xs = torch.linspace(-sigma - interval / 2, sigma + interval / 2, size + 1, dtype=torch.float64)
    cdf = 0.5 * (1 + torch.erf(xs / math.sqrt(2)))
    k = torch.sqrt(torch.diff(cdf))
    k = k / k.sum()  # outer(k,k) then sums to 1, as DeepFill's kernel_raw / sum
    return k.float()


def confidence_weights(mask: torch.Tensor, hsize: int = 64, sigma: float = 1 / 40, iters: int = 7) -> torch.Tensor:
    """Mw: 0 on known pixels, in (0,1) in the hole, lower deeper inside. mask: N,1,H,W (1 = hole)."""
    k = gauss_kernel_1d(hsize, sigma).to(mask.device, mask.dtype)
    before, after = (hsize - 1) // 2, hsize // 2
    kr, kc = k.view(1, 1, 1, hsize), k.view(1, 1, hsize, 1)
    init = 1 - mask
    mw = torch.zeros_like(mask)
    with torch.no_grad():
        for _ in range(iters):
            x = F.conv2d(F.pad(init, (before, after, 0, 0)), kr)
            x = F.conv2d(F.pad(x, (0, 0, before, after)), kc)
            mw = x * mask
            init = mw + (1 - mask)
    return mw


def bbox_weights(n: int, h: int, w: int, bboxes, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample region (N,1,H,W) over which the recon mean runs: the rect's bbox, else the image."""
    region = torch.zeros(n, 1, h, w, device=device)
    for i, bb in enumerate(bboxes):
        if bb is None:
            region[i] = 1
        else:
            t, l, bh, bw = bb
            region[i, :, t:t + bh, l:l + bw] = 1
    area = region.sum(dim=(1, 2, 3)).clamp(min=1)
    return region, area


def recon_weights(kind: str, mask: torch.Tensor, boxes, hsize: int = 64, iters: int = 7):
    """(Mw, region, area) of the hole loss, for both stages: `confidence` = the paper's Mw averaged
    over the rect's bbox (the image for strokes); `uniform` = every hole pixel alike, mean over the
    hole (the stage-1 recipe that learns, README ablations)."""
    if kind == "uniform":
        return mask, torch.ones_like(mask), mask.sum(dim=(1, 2, 3)).clamp(min=1)
    if kind != "confidence":
        raise ValueError(f"recon_weights must be confidence or uniform, got {kind!r}")
    n, _, h, w = mask.shape
    region, area = bbox_weights(n, h, w, boxes, mask.device)
    return confidence_weights(mask, hsize, iters=iters), region, area


def stage1_losses(pred, gt, mask, mw, region, area, recon_w: float = 1.68, ae_w: float = 1.44,
                  norm: str = "l1") -> dict:
    """recon = recon_w * mean_over_region(d(gt, pred) * Mw); ae = ae_w * mean(|gt-pred|*(1-M))/mean(1-M).

    Both use the raw prediction, not the composite (as the TF code does). `norm`: "l1" (the paper),
    "l2" (squared error), or "l1+l2" (their sum: L2 pulls big structural errors, L1 keeps the
    gradient alive once errors are small). Pass `mw = mask` and `region = 1` for uniform hole weights.
    """
    err = gt - pred
    if norm == "l1":
        d = err.abs()
    elif norm == "l2":
        d = err * err
    elif norm == "l1+l2":
        d = err.abs() + err * err
    else:
        raise ValueError(f"norm must be l1, l2 or l1+l2, got {norm!r}")
    n = pred.shape[0]
    recon = ((d * mw * region).sum(dim=(1, 2, 3)) / (area * 3)).mean()
    known = 1 - mask
    ae = (err.abs() * known).mean() / known.mean().clamp(min=1e-6)
    total = recon_w * recon + ae_w * ae
    return {"total": total, "recon": recon.detach(), "ae": ae.detach(), "n": n}
