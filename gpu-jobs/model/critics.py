"""WGAN-GP critics of the official TF code (tensorflow/net/network.py L105-165, ops.py L91-207).

- `WGANCritic(size)`: six 5x5 stride-2 convs (TF 'SAME' padding, leaky ReLU 0.2) with 64, 128,
  256, 512, 256, 128 channels, flatten, dense(1). The global critic sees the whole composited
  image (256 -> 4x4x128 -> 1, 8.40 M params); the local critic the same stack on the rectangle's
  bbox crop (128 -> 2x2x128 -> 1).
- `MaskedPatchCritic`: the free-form "local" critic: four conv5_ds (64..512), a 5x5 stride-2 conv
  to one channel (8x8 at 256), and the mean of the patch scores over the cells that contain a
  hole pixel (mask max-pooled 2x2 five times), 4.32 M params.
- WGAN losses `d = mean(neg - pos)`, `g = -mean(neg)`, interpolates `real + alpha (fake - real)`
  with one alpha ~ U[0,1) per sample, and the hole-masked gradient penalty
  `mean((sqrt(sum(grad^2 * mask)) - 1)^2)`.

Initialisation: glorot-uniform kernels and zero biases (TF's defaults for conv2d and dense).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def tf_same_pad(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """Zero padding of TF 'SAME' for a k x k kernel at stride s (extra pixel at bottom/right)."""
    ih, iw = x.shape[-2:]
    ph = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
    pw = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def blur3(x: torch.Tensor) -> torch.Tensor:
    """[1 2 1] x [1 2 1] / 16 per channel, same size (replicate edges). Before a stride-2 conv it
    zeroes the Nyquist frequency, so the conv's gradient back to the image has no 2-px checkerboard
    (a deviation from the paper, `d_blur`: issue 16 found such critics writing a 4-8 px grid into
    the generator's fills)."""
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=x.shape[1])


class ConvDS(nn.Module):
    """conv5_ds: 5x5, stride 2, 'SAME', leaky ReLU (alpha 0.2) unless act=False; `blur` low-passes
    its input first (anti-aliased downsampling, no weights of its own)."""

    def __init__(self, cin: int, cout: int, act: bool = True, blur: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 5, 2, padding=0)
        self.act, self.blur = act, blur
        nn.init.xavier_uniform_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.blur:
            x = blur3(x)
        x = self.conv(tf_same_pad(x, 5, 2))
        return F.leaky_relu(x, 0.2) if self.act else x


def out_size(size: int, n: int) -> int:
    for _ in range(n):
        size = math.ceil(size / 2)
    return size


class WGANCritic(nn.Module):
    """Global / local critic for inputs of `size` x `size` (the flatten size depends on it)."""

    def __init__(self, size: int, cnum: int = 64, blur: bool = False):
        super().__init__()
        chans = [cnum, 2 * cnum, 4 * cnum, 8 * cnum, 4 * cnum, 2 * cnum]
        layers, cin = [], 3
        for c in chans:
            layers.append(ConvDS(cin, c, blur=blur))
            cin = c
        self.convs = nn.Sequential(*layers)
        self.size = size
        s = out_size(size, len(chans))
        self.fc = nn.Linear(cin * s * s, 1)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N,3,size,size -> N scores."""
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"critic built for {self.size}x{self.size}, got {tuple(x.shape[-2:])}")
        # TF flattens NHWC; the order of the flattened features only permutes the dense weights.
        return self.fc(self.convs(x).flatten(1)).squeeze(1)


def max_downsample(mask: torch.Tensor, times: int = 5) -> torch.Tensor:
    """2x2 max pooling `times` times with TF 'SAME' (= ceil mode): 1 where a cell holds any hole."""
    for _ in range(times):
        mask = F.max_pool2d(mask, 2, 2, ceil_mode=True)
    return mask


class MaskedPatchCritic(nn.Module):
    """The free-form critic (wgan_patch_discriminator): mean patch score over cells with holes."""

    def __init__(self, cnum: int = 64, blur: bool = False):
        super().__init__()
        chans = [cnum, 2 * cnum, 4 * cnum, 8 * cnum]
        layers, cin = [], 3
        for c in chans:
            layers.append(ConvDS(cin, c, blur=blur))
            cin = c
        layers.append(ConvDS(cin, 1, act=False, blur=blur))
        self.convs = nn.Sequential(*layers)

    def patch_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)  # N,1,H/32,W/32

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: N,3,H,W; mask: N,1,H,W (1 = hole) -> N scores."""
        p = self.patch_scores(x)
        m = max_downsample(mask, 5)
        return (p * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3)).clamp_min(1.0)


def wgan_d_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """gan_wgan_loss: the critic minimises mean(neg - pos)."""
    return (neg - pos).mean()


def wgan_g_loss(neg: torch.Tensor) -> torch.Tensor:
    return -neg.mean()


def random_interpolates(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
    """real + alpha * (fake - real), one alpha ~ U[0, 1) per sample (TF random_interpolates)."""
    if alpha is None:
        alpha = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    alpha = alpha.view(-1, *([1] * (real.dim() - 1)))
    return real + alpha * (fake - real)


def gradient_penalty(critic, x: torch.Tensor, mask: torch.Tensor, reduce: bool = True, eps: float = 1e-12) -> torch.Tensor:
    """mean((sqrt(sum(grad^2 * mask)) - 1)^2) with grad = d critic(x) / d x (TF gradients_penalty).

    critic: a callable x -> N scores; x: the interpolates; mask: N,1,H,W (broadcast over channels).
    The graph is kept (create_graph) so that the penalty trains the critic. eps inside the sqrt
    only keeps the gradient finite when a sample's masked gradient is exactly 0."""
    x = x.detach().requires_grad_(True)
    y = critic(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    slopes = torch.sqrt((g * g * mask).sum(dim=(1, 2, 3)) + eps)
    pen = (slopes - 1.0) ** 2
    return pen.mean() if reduce else pen
