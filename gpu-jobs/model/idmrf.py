"""ID-MRF loss, computed as the official TF code computes it (tensorflow/net/ops.py L239-590).

`mrf_loss(T, I)` is the TF function `mrf_loss(T_features, I_features)` (CSFlow with DotProduct):

1. centre both maps by T's per-channel mean over [N, H, W] (no division by std);
2. L2-normalise every position's feature vector over channels;
3. cosine similarity of every 1x1 patch of T with every position of I (the TF code does this as a
   conv of I with T's patches): cos[n, i, t];
4. distance d = (1 - cos) / 2;
5. relative distance d~ = d / (min over T positions + 1e-5);
6. w = exp((b - d~) / h) with b = 1, h = 0.5, normalised over T positions;
7. max over I positions, mean over T positions, -log, mean over the batch.

Direction. The TF code calls it with T = prediction and I = ground truth (`id_mrf_reg_feat`; the
author confirms the order in issue #4), so relative distance and normalisation run over the
*generated* features, the max over the *target* ones, and the mean over the generated ones: the
paper's roles of Y and Y^ swapped. `direction="code"` (the default) reproduces that, because the
released models were trained with it and the issue asks for the official code's numbers.
`direction="paper"` calls mrf_loss(T = ground truth, I = prediction): normalise over target
positions, max over generated, mean over target, as the paper's formula reads (the centring then
uses the target's mean). Neither excludes s from the normaliser (the README says the code omits it).

Layers: the TF code sums a "style" term over conv3_2 and conv4_2 and a "content" term over
conv4_2, all with weight 1, and both are this same MRF loss: net effect conv3_2 + 2 x conv4_2.
Each term is evaluated on its own (own random sampling when sampling applies), as in TF.

Sampling: a feature map with more than 65 x 65 positions is reduced to 65^2 = 4225 positions
drawn at random (one index set shared by T and I and by the whole batch, as `random_pooling`).

Numerical guards (the only additions): feature norms are clamped at 1e-12 before dividing (TF
divides by the bare norm, which is 0 only for an all-constant map and would give NaN); the loss
is computed in fp32 even under bf16 autocast, and d is clamped at 0. In bf16 a cosine rounds above
1, d goes negative, d / (min d + 1e-5) flips sign and exp() overflows to inf/inf = NaN: the first
stage-2 pilot on this CPU went NaN at step 1 that way.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .vgg import VGG19Features

DIRECTIONS = ("code", "paper")


def _flat_normalised(t: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    x = t - mean
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return x.flatten(2)  # N, C, S


def mrf_loss(T: torch.Tensor, I: torch.Tensor, h: float = 0.5, b: float = 1.0, eps: float = 1e-5,
             reduce: bool = True) -> torch.Tensor:
    """TF `mrf_loss(T_features, I_features)` for N,C,H,W maps (T and I of the same N and C).

    reduce=False returns the per-sample -log(CS) (shape N)."""
    if T.shape[:2] != I.shape[:2]:
        raise ValueError(f"feature maps differ: {tuple(T.shape)} vs {tuple(I.shape)}")
    with torch.autocast(T.device.type, enabled=False):  # fp32 always: see the module's numerical guards
        dt = torch.promote_types(T.dtype, torch.float32)  # bf16/fp16 up, fp64 (the tests' gradcheck) kept
        return _mrf_loss(T.to(dt), I.to(dt), h, b, eps, reduce)


def _mrf_loss(T: torch.Tensor, I: torch.Tensor, h: float, b: float, eps: float, reduce: bool) -> torch.Tensor:
    mean_t = T.mean(dim=(0, 2, 3), keepdim=True)
    tf = _flat_normalised(T, mean_t)  # N, C, St
    inf = _flat_normalised(I, mean_t)  # N, C, Si
    cos = torch.bmm(inf.transpose(1, 2), tf)  # N, Si, St
    d = ((1.0 - cos) * 0.5).clamp_min(0.0)
    rel = d / (d.min(dim=2, keepdim=True).values + eps)  # relative to the nearest T patch
    w = torch.exp((b - rel) / h)
    cs = w / w.sum(dim=2, keepdim=True)  # normalised over T positions
    per_sample = -torch.log(cs.max(dim=1).values.mean(dim=1))  # max over I, mean over T
    return per_sample.mean() if reduce else per_sample


def random_pool(a: torch.Tensor, b: torch.Tensor, max_1d: int, generator: torch.Generator | None = None):
    """If H*W > max_1d^2, keep max_1d^2 random positions (the same ones in a and b, for every
    sample), as the TF `random_pooling`. Returns maps of shape N,C,max_1d,max_1d (or the inputs)."""
    n, c, hh, ww = a.shape
    s = hh * ww
    k = max_1d * max_1d
    if s <= k:
        return a, b
    idx = torch.randperm(s, generator=generator)[:k].to(a.device)

    def pick(t: torch.Tensor) -> torch.Tensor:
        return t.flatten(2).index_select(2, idx).view(t.shape[0], t.shape[1], max_1d, max_1d)

    return pick(a), pick(b)


class IDMRF(nn.Module):
    """ID-MRF regulariser: sum over terms of weight x mrf_loss on VGG19 features of pred and gt.

    pred is the raw generator output (not the composite) and gt the truth, both RGB in [-1, 1]:
    the 128x128 bbox crop for rectangles and the whole image for strokes, as the TF code."""

    def __init__(self, vgg: VGG19Features, style_layers: dict | None = None, content_layers: dict | None = None,
                 style_w: float = 1.0, content_w: float = 1.0, h: float = 0.5, eps: float = 1e-5,
                 max_1d: int = 65, direction: str = "code"):
        super().__init__()
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        self.vgg = vgg
        style_layers = {"conv3_2": 1.0, "conv4_2": 1.0} if style_layers is None else style_layers
        content_layers = {"conv4_2": 1.0} if content_layers is None else content_layers
        # One entry per evaluated term, in the TF order: style terms, then content terms.
        self.terms = [(n, w * style_w) for n, w in style_layers.items()] + \
                     [(n, w * content_w) for n, w in content_layers.items()]
        self.layers = tuple(sorted({n for n, _ in self.terms}))
        self.h, self.eps, self.max_1d, self.direction = h, eps, max_1d, direction

    def layer_loss(self, fp: torch.Tensor, fg: torch.Tensor, reduce: bool = True,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        fp, fg = random_pool(fp, fg, self.max_1d, generator)
        if self.direction == "code":
            return mrf_loss(fp, fg, self.h, 1.0, self.eps, reduce)
        return mrf_loss(fg, fp, self.h, 1.0, self.eps, reduce)

    def features(self, pred: torch.Tensor, gt: torch.Tensor):
        fp = self.vgg(pred, self.layers)
        with torch.no_grad():
            fg = self.vgg(gt, self.layers)
        return fp, fg

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, reduce: bool = True,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """Returns (total, {layer: loss of one evaluation}); total = sum of weight x term."""
        fp, fg = self.features(pred, gt)
        total, parts, cache = 0.0, {}, {}
        for name, w in self.terms:
            sampled = fp[name].shape[2] * fp[name].shape[3] > self.max_1d ** 2
            if sampled or name not in cache:  # unsampled terms are deterministic: compute once
                cache[name] = self.layer_loss(fp[name], fg[name], reduce, generator)
            parts.setdefault(name, cache[name].detach())
            total = total + w * cache[name]
        return total, parts
