"""Training masks and the stage-1 losses: real numbers, no model weights needed."""
import numpy as np
import torch
from scipy import ndimage

from model.losses import bbox_weights, confidence_weights, gauss_kernel_1d, stage1_losses
from model.masks import centre_mask, rect_mask, sample_mask, stroke_mask


def test_rect_holes_are_96_to_128_inside_a_128_box_at_256():
    rng = np.random.default_rng(0)
    for _ in range(200):
        m, (t, l, bh, bw) = rect_mask(rng, 256, 256)
        ys, xs = np.nonzero(m)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert (bh, bw) == (128, 128)
        assert 96 <= h <= 128 and 96 <= w <= 128
        assert t <= ys.min() and ys.max() < t + bh and l <= xs.min() and xs.max() < l + bw


def test_masks_are_seeded():
    a = [sample_mask(np.random.default_rng(5), 128, 128)[0] for _ in range(3)]
    b = [sample_mask(np.random.default_rng(5), 128, 128)[0] for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_free_form_masks_have_several_independent_strokes():
    # The upstream regression drew one stroke 8 times; independent strokes start at different
    # places, so they cover far more and usually form several separate blobs.
    rng = np.random.default_rng(1)
    ratios, blobs = [], []
    for _ in range(60):
        m = stroke_mask(rng, 256, 256)
        ratios.append(m.mean())
        blobs.append(ndimage.label(m)[1])
    single = np.mean([stroke_mask(np.random.default_rng(i), 256, 256, parts=1).mean() for i in range(60)])
    assert np.mean(ratios) > 3 * single
    assert np.median(blobs) >= 2


def test_mix_ratio_is_respected():
    rng = np.random.default_rng(2)
    kinds = [sample_mask(rng, 64, 64, rect_ratio=0.3)[1] is not None for _ in range(400)]
    assert 0.2 < np.mean(kinds) < 0.45


def test_official_kernel_is_a_64x64_box_within_0_05_percent():
    k = gauss_kernel_1d(64, 1 / 40)
    k2 = torch.outer(k, k)
    assert k2.shape == (64, 64)
    assert abs(k2.sum().item() - 1) < 1e-5
    assert (k2.max() / k2.min()).item() < 1.0006


def test_confidence_weights_match_the_doc_for_a_centre_hole():
    m = torch.from_numpy(centre_mask(256, 256))[None, None]
    w = confidence_weights(m)[0, 0]
    assert w[m[0, 0] == 0].abs().max() == 0  # zero on known pixels
    assert abs(w[128, 128].item() - 0.48) < 0.02  # centre
    assert abs(w[64, 128].item() - 0.84) < 0.02  # middle of an edge
    for inside, want in ((8, 0.78), (16, 0.71), (32, 0.58)):
        assert abs(w[64 + inside, 128].item() - want) < 0.02
    # decreasing from the border inward (to near the centre: TF pads 31/32, so the minimum sits a
    # pixel or two off-centre)
    row = w[128, 64:124]
    assert torch.all(row[1:] <= row[:-1] + 1e-6)


def test_stage1_losses_use_the_official_weights_and_regions():
    torch.manual_seed(0)
    gt = torch.rand(2, 3, 32, 32) * 2 - 1
    pred = gt.clone()
    m = torch.zeros(2, 1, 32, 32)
    m[:, :, 8:16, 8:16] = 1
    mw = confidence_weights(m, 8, iters=3)
    region, area = bbox_weights(2, 32, 32, [(4, 4, 16, 16), None], "cpu")
    assert stage1_losses(pred, gt, m, mw, region, area)["total"].item() == 0
    pred2 = gt + 0.5 * m  # error only inside the hole
    L = stage1_losses(pred2, gt, m, mw, region, area)
    assert L["ae"].item() == 0 and L["recon"].item() > 0
    assert torch.isclose(L["total"], 1.68 * L["recon"])
    pred3 = gt + 0.5 * (1 - m)  # error only outside
    L3 = stage1_losses(pred3, gt, m, mw, region, area)
    assert L3["recon"].item() == 0 and abs(L3["ae"].item() - 0.5) < 1e-6
