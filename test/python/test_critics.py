"""Critics and WGAN-GP (gpu-jobs/model/critics.py): hand-computed penalties, TF padding and the
sizes of the official critics. CPU, one thread, small shapes, no mocks.

    PYTHONPATH=gpu-jobs /usr/bin/python3 -m pytest test/python/test_critics.py -q
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from model.critics import (MaskedPatchCritic, WGANCritic, gradient_penalty, max_downsample, random_interpolates,
                           tf_same_pad, wgan_d_loss, wgan_g_loss)

torch.set_num_threads(1)


class Linear(nn.Module):
    """D(x) = sum(w * x) + b: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x):
        return (self.w * x).sum(dim=(1, 2, 3)) + 0.3


class Quadratic(nn.Module):
    """D(x) = sum(a * x^2): input gradient 2 a x."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.a = nn.Parameter(a.clone())

    def forward(self, x):
        return (self.a * x * x).sum(dim=(1, 2, 3))


def test_gradient_penalty_of_a_linear_critic_by_hand():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 2, 3, 3, generator=g, dtype=torch.float64) * 0.4
    mask = torch.zeros(2, 1, 3, 3, dtype=torch.float64)
    mask[0, 0, 1:, 1:] = 1  # 4 hole pixels
    mask[1, 0, 0, :] = 1    # 3 hole pixels
    real = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64)
    fake = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64)
    critic = Linear(w)
    pen = gradient_penalty(critic, random_interpolates(real, fake), mask, eps=0.0)
    wn, mn = w.numpy()[0], mask.numpy()[:, 0]
    slopes = [np.sqrt(sum((wn[c] ** 2 * mn[i]).sum() for c in range(2))) for i in range(2)]
    expected = np.mean([(s - 1) ** 2 for s in slopes])
    assert pen.item() == pytest.approx(expected, rel=1e-12)
    # The penalty trains the critic: d pen / d w_j = mean_i 2 (s_i - 1) w_j m_ij / s_i.
    pen.backward()
    grad = np.zeros_like(wn)
    for i in range(2):
        grad += 2 * (slopes[i] - 1) * wn * mn[i][None] / slopes[i] / 2
    assert np.allclose(critic.w.grad.numpy()[0], grad, rtol=1e-10, atol=1e-12)


def test_gradient_penalty_uses_real_plus_alpha_times_fake_minus_real():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(1, 3, 2, 2, generator=g, dtype=torch.float64)
    real = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64)
    fake = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64)
    alpha = torch.tensor([0.25, 0.9], dtype=torch.float64)
    mask = torch.ones(2, 1, 2, 2, dtype=torch.float64)
    mask[1, 0, 0, 0] = 0
    x = random_interpolates(real, fake, alpha)
    pen = gradient_penalty(Quadratic(a), x, mask, eps=0.0).item()
    r, f, an, mn = real.numpy(), fake.numpy(), a.numpy()[0], mask.numpy()[:, 0]
    terms = []
    for i, al in enumerate([0.25, 0.9]):
        xh = r[i] + al * (f[i] - r[i])
        gr = 2 * an * xh
        terms.append((np.sqrt((gr ** 2 * mn[i][None]).sum()) - 1) ** 2)
    assert pen == pytest.approx(float(np.mean(terms)), rel=1e-12)
    assert torch.allclose(x[0], 0.75 * real[0] + 0.25 * fake[0])


def test_unreduced_penalty_and_random_alpha_range():
    torch.manual_seed(0)
    real, fake = torch.zeros(64, 1, 1, 1), torch.ones(64, 1, 1, 1)
    x = random_interpolates(real, fake)  # = alpha
    assert x.min() >= 0 and x.max() < 1 and x.std() > 0.1
    per = gradient_penalty(Linear(torch.full((1, 1, 1, 1), 2.0)), x, torch.ones(64, 1, 1, 1), reduce=False)
    assert per.shape == (64,) and torch.allclose(per, torch.ones(64), atol=1e-6)  # (|2| - 1)^2


def test_wgan_losses():
    pos, neg = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5])
    assert wgan_d_loss(pos, neg).item() == pytest.approx(((0.5 - 1) + (-0.5 - 3)) / 2)
    assert wgan_g_loss(neg).item() == pytest.approx(0.0)


@pytest.mark.parametrize("size,expect", [(8, (1, 2)), (7, (2, 2)), (5, (2, 2)), (2, (1, 2))])
def test_tf_same_padding(size, expect):
    x = torch.ones(1, 1, size, size)
    y = tf_same_pad(x, 5, 2)
    top = int((y[0, 0, :, y.shape[-1] // 2] == 0).to(torch.int)[: y.shape[-2] // 2].sum())
    assert (top, y.shape[-2] - size - top) == expect
    out = torch.nn.functional.conv2d(y, torch.ones(1, 1, 5, 5), stride=2)
    assert out.shape[-1] == -(-size // 2)  # ceil(size / 2), as TF


def test_official_critic_sizes():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(WGANCritic(256)) == 8_404_993  # gmcnn.md §2: 8.40 M
    assert count(MaskedPatchCritic()) == 4_319_361  # 4.32 M
    assert WGANCritic(256).fc.in_features == 4 * 4 * 128
    assert WGANCritic(128).fc.in_features == 2 * 2 * 128
    small = WGANCritic(40, cnum=4)
    assert small(torch.zeros(3, 3, 40, 40)).shape == (3,)
    with pytest.raises(ValueError):
        small(torch.zeros(1, 3, 32, 32))


def test_masked_patch_critic_averages_the_patches_that_contain_a_hole():
    torch.manual_seed(0)
    critic = MaskedPatchCritic(cnum=4)
    x = torch.randn(2, 3, 64, 64)
    mask = torch.zeros(2, 1, 64, 64)
    mask[0, 0, 5, 40] = 1       # one pixel: cell (0, 1)
    mask[1, 0, 30:40, 30:40] = 1  # cells (0,0), (0,1), (1,0), (1,1)
    p = critic.patch_scores(x)
    assert p.shape == (2, 1, 2, 2)
    s = critic(x, mask)
    assert s[0].item() == pytest.approx(p[0, 0, 0, 1].item(), rel=1e-6)
    assert s[1].item() == pytest.approx(p[1].mean().item(), rel=1e-6)
    cells = max_downsample(mask, 5)
    assert cells[0, 0].tolist() == [[0.0, 1.0], [0.0, 0.0]]


def test_blurred_critics_keep_their_sizes_and_weights_and_send_no_2px_checkerboard_back():
    torch.manual_seed(0)
    plain, blur = WGANCritic(64, 8), WGANCritic(64, 8, blur=True)
    blur.load_state_dict(plain.state_dict())  # the blur has no weights of its own
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    assert blur(x).shape == plain(x).shape == (2,)
    (g,) = torch.autograd.grad(blur(x).sum(), x)
    # [1 2 1] x [1 2 1] zeroes the Nyquist frequency: the gradient's (-1)^(y+x) component is
    # ~0 away from the replicate-padded border, where the plain critic's is not.
    checker = torch.tensor([[(-1.0) ** (i + j) for j in range(60)] for i in range(60)])
    (gp,) = torch.autograd.grad(plain(x).sum(), x)
    nyq = lambda t: (t[..., 2:-2, 2:-2] * checker).sum().abs() / t[..., 2:-2, 2:-2].abs().sum()  # noqa: E731
    assert nyq(g) < 1e-3 < nyq(gp)
    p = MaskedPatchCritic(8, blur=True)
    assert p(torch.randn(1, 3, 64, 64), torch.ones(1, 1, 64, 64)).shape == (1,)
