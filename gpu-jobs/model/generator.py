"""GMCNN generator in the layout of the official TensorFlow code (tensorflow/net/network.py).

Faithful parts: 5-channel input [image, ones, mask], three columns (7x7 / 5x5 / 3x3 with a 5x5
first conv in column 3), dilations 2/4/8/16, TF "SAME" zero padding (asymmetric before stride-2
convs), nearest 2x and align-corners bilinear upsampling, 208-channel fusion, ELU, clip to [-1, 1],
glorot-uniform init. Channel order is RGB (our own training; the manifest says so).

One optional, documented deviation: `fill="harmonic"` (what ships from 0.3.0 on) pre-fills the hole
with the converged harmonic interpolation of its border (conjugate gradients, `harmonic_solve`)
and the network predicts a residual over it. The older fills: `fill="pushpull"`: the hole is first filled by a
mask-weighted image pyramid (push-pull) and the network predicts a residual over that fill, with
the last conv initialised small (0.05 x glorot) so that an untrained model starts close to the
classical fill (`residual_init=0` makes it equal). `fill="pushpull-harmonic"` then relaxes the
push-pull fill towards the harmonic (Laplace) interpolation of the hole's border with
HARMONIC_ITERS 3x3 averaging steps: thin strokes end up as smooth as Navier-Stokes makes them.
`fill="zero"` is the paper's behaviour (hole pixels are 0 and the output is the prediction).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

FILLS = ("zero", "pushpull", "pushpull-harmonic", "harmonic")
# Measured on the held-out split (fill alone, 100 images): free-form hole-PSNR 22.83 (push-pull)
# -> 23.10 / 23.29 / 23.46 after 20 / 60 / 150 steps (Navier-Stokes 22.84); centre holes +0.05 to
# +0.08 dB. 100 steps cost ~0.2 GFLOP at 512x512, next to the network's 520.
HARMONIC_ITERS = 100


class SameConv(nn.Module):
    """Conv2d with TensorFlow 'SAME' zero padding and optional ELU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1, act: bool = True):
        super().__init__()
        self.stride = stride
        if stride == 1:
            # d*(k-1) is even for odd k: symmetric, so Conv2d's own padding matches TF.
            self.conv = nn.Conv2d(cin, cout, k, 1, padding=dilation * (k - 1) // 2, dilation=dilation)
            self.pad = None
        else:
            # TF SAME at stride 2 on an even size pads k-2 in total, the extra pixel bottom/right.
            total = k - 2
            self.pad = (total // 2, total - total // 2, total // 2, total - total // 2)
            self.conv = nn.Conv2d(cin, cout, k, stride, padding=0)
        self.act = act
        nn.init.xavier_uniform_(self.conv.weight)  # TF default glorot_uniform
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        x = self.conv(x)
        return F.elu(x) if self.act else x


def _encoder(cin: int, cnum: int, k_first: int, k: int) -> list[nn.Module]:
    """conv1..conv12 of one column: two stride-2 downsamplings, then dilations 2/4/8/16."""
    c4 = 4 * cnum
    layers = [
        SameConv(cin, cnum, k_first),
        SameConv(cnum, 2 * cnum, k, stride=2),
        SameConv(2 * cnum, 2 * cnum, k),
        SameConv(2 * cnum, c4, k, stride=2),
        SameConv(c4, c4, k),
        SameConv(c4, c4, k),
    ]
    for d in (2, 4, 8, 16):
        layers.append(SameConv(c4, c4, k, dilation=d))
    if cnum > 32:  # the official code adds a dilation-32 layer for wider models
        layers.append(SameConv(c4, c4, k, dilation=32))
    layers += [SameConv(c4, c4, k), SameConv(c4, c4, k)]
    return layers


def _up_nearest(x: torch.Tensor) -> torch.Tensor:
    # TF resize_nearest_neighbor(align_corners=True) at exactly 2x equals floor(i/2).
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def _up_bilinear(x: torch.Tensor, s: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=True)


def _up_smooth(x: torch.Tensor, s: float) -> torch.Tensor:
    # Half-pixel bilinear: every output pixel has the same kind of neighbourhood, so the upsampler
    # writes no period-s pattern of its own (nearest repeats blocks; align-corners bilinear at 4x
    # puts its kinks at a 63/255 pitch).
    return F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)


UPSAMPLES = ("tf", "smooth")


def _mean3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def pushpull_fill(img: torch.Tensor, known: torch.Tensor, levels: int = 8, sweeps: int = 0) -> torch.Tensor:
    """Fill unknown pixels from a mask-weighted pyramid (coarse-to-fine), known pixels kept;
    `sweeps` > 0 relaxes each level that many times (3x3 means) after it is blended in.

    Works for any H, W (ceil-mode pooling); the coarsest level falls back to the known mean.
    """
    xs, ks = [img * known], [known]
    for _ in range(levels):
        xs.append(F.avg_pool2d(xs[-1], 2, ceil_mode=True))
        ks.append(F.avg_pool2d(ks[-1], 2, ceil_mode=True))
    eps = 1e-6
    # Coarsest level: weighted mean, and the global known mean where no known pixel exists.
    glob = (img * known).sum(dim=(2, 3), keepdim=True) / (known.sum(dim=(2, 3), keepdim=True) + eps)
    k = ks[-1]
    cur = xs[-1] / (k + eps)
    w = (k > 0).to(img.dtype)
    cur = cur * w + glob * (1 - w)
    for i in range(levels - 1, -1, -1):
        x_i, k_i = xs[i], ks[i]
        up = F.interpolate(cur, size=x_i.shape[-2:], mode="bilinear", align_corners=False)
        conf = k_i.clamp(0, 1)
        # At level 0 conf is the binary known mask; above it blends partially covered cells.
        fixed = (x_i / (k_i + eps)) * conf
        cur = fixed + up * (1 - conf)
        for _ in range(sweeps):
            cur = fixed + _mean3(cur) * (1 - conf)
    return cur


# The converged fill (`fill="harmonic"`): conjugate gradients on the 4-neighbour Laplace equation,
# started from a relaxed pyramid fill. Measured against a direct sparse solve on 256x256 val crops
# (128-px centre holes and free-form strokes): 150 iterations leave 0.07 / 1.2 grey levels (mean /
# max), 250 leave 0.0005 / 0.01. CG needs about one iteration per pixel of hole diameter, so at
# 512 px a hole wider than ~250 px is left within a few levels of the exact solution.
CG_ITERS = 256
INIT_SWEEPS = 8


def pyramid_relaxed_fill(img: torch.Tensor, known: torch.Tensor, levels: int = 8, sweeps: int = INIT_SWEEPS) -> torch.Tensor:
    """The push-pull pyramid with each level relaxed `sweeps` times: cheap and smooth, but not
    converged; the starting point for CG."""
    return pushpull_fill(img, known, levels, sweeps)


def _neighbour_sum(u: torch.Tensor) -> torch.Tensor:
    """Sum of the 4 neighbours, zero outside the image (shifted adds: cheaper than a 1-channel conv)."""
    p = F.pad(u, [1, 1, 1, 1])
    return p[:, :, :-2, 1:-1] + p[:, :, 2:, 1:-1] + p[:, :, 1:-1, :-2] + p[:, :, 1:-1, 2:]


@torch.jit.script
def _cg_iterations(x: torch.Tensor, r: torch.Tensor, free: torch.Tensor, degree: torch.Tensor, iters: int) -> torch.Tensor:
    """Conjugate gradients on free * L * free, L the 4-neighbour graph Laplacian (symmetric: image
    borders have fewer neighbours). Scripted so that ONNX export writes one Loop node, not
    `iters` unrolled copies (which took minutes to trace)."""
    p = r
    rr = (r * r).sum(dim=(2, 3), keepdim=True)
    tiny = 1e-20
    for _ in range(iters):
        q = F.pad(p, [1, 1, 1, 1])
        ap = free * (degree * p - (q[:, :, :-2, 1:-1] + q[:, :, 2:, 1:-1] + q[:, :, 1:-1, :-2] + q[:, :, 1:-1, 2:]))
        alpha = rr / ((p * ap).sum(dim=(2, 3), keepdim=True) + tiny)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = (r * r).sum(dim=(2, 3), keepdim=True)
        p = r + (rr_new / (rr + tiny)) * p
        rr = rr_new
    return x


def harmonic_solve(img: torch.Tensor, known: torch.Tensor, iters: int = CG_ITERS) -> torch.Tensor:
    """The harmonic interpolation of the hole from its border (Laplace's equation with the known
    pixels as Dirichlet values), by conjugate gradients: the system is symmetric positive definite,
    so CG converges where 100 Jacobi steps only relax a few pixels into a large hole. Each image and
    channel is its own system. Known pixels are kept exactly."""
    known = known.to(img.dtype)
    free = 1 - known
    degree = _neighbour_sum(torch.ones_like(known))
    base = img * known
    x = pyramid_relaxed_fill(img, known) * free
    r = -free * (degree * (base + x) - _neighbour_sum(base + x))
    return base + _cg_iterations(x, r, free, degree, iters) * free


def harmonic_fill(base: torch.Tensor, known: torch.Tensor, iters: int = HARMONIC_ITERS) -> torch.Tensor:
    """Jacobi steps of Laplace's equation inside the hole: each unknown pixel becomes the mean of
    its 3x3 neighbourhood (image borders: of the neighbours that exist); known pixels stay."""
    x = base
    for _ in range(iters):
        x = x * known + F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False) * (1 - known)
    return x


def prefill(fill: str, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor | None:
    """The classical fill the network predicts a residual over (None for the paper's zero fill)."""
    if fill == "zero":
        return None
    if fill == "harmonic":
        return harmonic_solve(image, known)
    base = pushpull_fill(image, known)
    return harmonic_fill(base, known) if fill == "pushpull-harmonic" else base


class GMCNNGenerator(nn.Module):
    def __init__(self, cnum: int = 32, fill: str = "zero", residual_init: float = 0.05, upsample: str = "tf"):
        super().__init__()
        if fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}")
        if upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {UPSAMPLES}")
        # "tf": the official nearest / align-corners bilinear; "smooth": half-pixel bilinear
        # everywhere (issue 16: stage 2 drew a 4-8 px grid through the TF upsamplers).
        self.cnum, self.fill, self.upsample = cnum, fill, upsample
        cin = 5
        self.b1 = nn.Sequential(*_encoder(cin, cnum, 7, 7))
        self.b2 = nn.Sequential(*_encoder(cin, cnum, 5, 5))
        self.b2_up = nn.Sequential(SameConv(4 * cnum, 2 * cnum, 3), SameConv(2 * cnum, 2 * cnum, 5))
        self.b3 = nn.Sequential(*_encoder(cin, cnum, 5, 3))
        self.b3_up1 = nn.Sequential(SameConv(4 * cnum, 2 * cnum, 3), SameConv(2 * cnum, 2 * cnum, 3))
        self.b3_up2 = nn.Sequential(SameConv(2 * cnum, cnum, 3), SameConv(cnum, cnum // 2, 3))
        merged = 4 * cnum + 2 * cnum + cnum // 2  # 208 at cnum=32
        self.merge17 = SameConv(merged, cnum // 2, 3)
        self.merge18 = SameConv(cnum // 2, 3, 3, act=False)
        if fill != "zero":
            # Small, not zero: with a zero last layer the layers below get no consistent gradient
            # (measured: the residual stayed ~2e-5 after 200 steps); 0.05 x glorot starts the
            # model within ~0.3 dB of the push-pull fill and lets every layer learn at once.
            with torch.no_grad():
                self.merge18.conv.weight.mul_(residual_init)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """image: N,3,H,W in [-1,1]; mask: N,1,H,W with 1 = hole. Returns the raw prediction."""
        known = 1.0 - mask
        x = image * known
        base = prefill(self.fill, image, known)
        if base is not None:
            x = base
        ones = torch.ones_like(mask)
        xin = torch.cat([x, ones, mask], dim=1)
        if self.upsample == "smooth":
            up2, up_lin = (lambda t: _up_smooth(t, 2.0)), _up_smooth
        else:
            up2, up_lin = _up_nearest, _up_bilinear
        x1 = up_lin(self.b1(xin), 4.0)
        x2 = self.b2(xin)
        x2 = up_lin(self.b2_up(up2(x2)), 2.0)
        x3 = self.b3(xin)
        x3 = self.b3_up1(up2(x3))
        x3 = self.b3_up2(up2(x3))
        y = self.merge18(self.merge17(torch.cat([x1, x2, x3], dim=1)))
        if base is not None:
            # The residual lives in the hole only. Inference composites anyway, so this changes no
            # served pixel; in training it removes the known-region L1 on the residual, which pushed
            # every layer towards zero output (measured: the residual collapsed to 1e-4 in 380 steps).
            y = base + y * mask
        return torch.clamp(y, -1.0, 1.0)


def composite(pred: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return pred * mask + image * (1.0 - mask)


class InpaintGraph(nn.Module):
    """What ships as ONNX: generator + composite. Inputs image [-1,1] RGB and mask (1 = hole)."""

    def __init__(self, gen: GMCNNGenerator):
        super().__init__()
        self.gen = gen

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return composite(self.gen(image, mask), image, mask)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
