"""ID-MRF (gpu-jobs/model/idmrf.py) and the VGG19 feature extractor (vgg.py).

CPU, one thread, tiny shapes, real maths. No pretrained VGG19 can be downloaded here, so every
VGG used below is the seeded random-init one (`random_vgg19`) or a random state dict written to a
temporary file in torchvision's format.

    PYTHONPATH=gpu-jobs /usr/bin/python3 -m pytest test/python/test_idmrf.py -q
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.idmrf import IDMRF, mrf_loss, random_pool
from model.vgg import (LAYERS, VGG19Features, check_sha256, load_vgg19, random_vgg19, sha256_file)

torch.set_num_threads(1)


def reference_mrf(T: np.ndarray, I: np.ndarray, h=0.5, b=1.0, eps=1e-5) -> float:
    """The TF code's mrf_loss written out with loops (float64), T = the normalised side."""
    n, c = T.shape[:2]
    mean = T.mean(axis=(0, 2, 3))
    losses = []
    for k in range(n):
        tv = [(T[k, :, y, x] - mean) for y in range(T.shape[2]) for x in range(T.shape[3])]
        iv = [(I[k, :, y, x] - mean) for y in range(I.shape[2]) for x in range(I.shape[3])]
        tv = [v / np.linalg.norm(v) for v in tv]
        iv = [v / np.linalg.norm(v) for v in iv]
        cs = np.zeros((len(iv), len(tv)))
        for i, u in enumerate(iv):
            d = np.array([(1 - float(u @ t)) / 2 for t in tv])
            rel = d / (d.min() + eps)
            w = np.exp((b - rel) / h)
            cs[i] = w / w.sum()
        per_t = cs.max(axis=0)  # for each T position, max over I positions
        losses.append(-math.log(per_t.mean()))
    return float(np.mean(losses))


def test_mrf_loss_matches_a_loop_reference():
    g = torch.Generator().manual_seed(0)
    T = torch.randn(2, 5, 3, 4, generator=g, dtype=torch.float64)
    I = torch.randn(2, 5, 3, 4, generator=g, dtype=torch.float64)
    assert mrf_loss(T, I).item() == pytest.approx(reference_mrf(T.numpy(), I.numpy()), rel=1e-9)
    # The roles are not symmetric: swapping T and I is the paper's direction, a different number.
    assert mrf_loss(I, T).item() == pytest.approx(reference_mrf(I.numpy(), T.numpy()), rel=1e-9)
    assert abs(mrf_loss(T, I).item() - mrf_loss(I, T).item()) > 1e-3


def test_identical_features_score_lower_than_shuffled_ones():
    g = torch.Generator().manual_seed(1)
    f = torch.randn(2, 16, 8, 8, generator=g)
    same = mrf_loss(f, f.clone()).item()
    shuffled = f.flatten()[torch.randperm(f.numel(), generator=g)].view_as(f)  # destroys the feature vectors
    other = mrf_loss(shuffled, f).item()
    assert same < 1e-4
    assert other > 1.0
    # 1x1 patches carry no position: moving whole feature vectors around changes nothing.
    perm = torch.randperm(64, generator=g)
    moved = f.flatten(2)[:, :, perm].view_as(f)
    assert mrf_loss(moved, f).item() == pytest.approx(same, abs=1e-4)


def test_idmrf_on_images_is_lower_for_the_truth_and_differentiable():
    vgg = random_vgg19(0)
    loss = IDMRF(vgg)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    gt = torch.stack([torch.sin(4 * xx), torch.cos(3 * yy), xx * yy], 0)[None].repeat(2, 1, 1, 1)
    gt[1] = gt[1].flip(-1)
    g = torch.Generator().manual_seed(2)
    scrambled = gt.flatten(2)[:, :, torch.randperm(32 * 32, generator=g)].view_as(gt)
    same, _ = loss(gt.clone(), gt)
    pred = scrambled.clone().requires_grad_(True)
    other, parts = loss(pred, gt)
    assert same.item() < 1e-4 < other.item()
    assert set(parts) == {"conv3_2", "conv4_2"}
    other.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())  # VGG stays frozen


def test_mrf_loss_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(3)
    T = torch.randn(1, 3, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    I = torch.randn(1, 3, 2, 2, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: mrf_loss(t, I), (T,), eps=1e-6, atol=1e-5)


def test_layer_weights_are_conv3_2_plus_twice_conv4_2_and_direction_flag():
    vgg = random_vgg19(1)
    g = torch.Generator().manual_seed(4)
    a, b = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    code = IDMRF(vgg, direction="code")
    fp, fg = code.features(a, b)
    total, parts = code(a, b)
    l3, l4 = mrf_loss(fp["conv3_2"], fg["conv3_2"]), mrf_loss(fp["conv4_2"], fg["conv4_2"])
    assert total.item() == pytest.approx((l3 + 2 * l4).item(), rel=1e-5)
    assert parts["conv3_2"].item() == pytest.approx(l3.item(), rel=1e-5)
    paper_total, _ = IDMRF(vgg, direction="paper")(a, b)
    swapped = mrf_loss(fg["conv3_2"], fp["conv3_2"]) + 2 * mrf_loss(fg["conv4_2"], fp["conv4_2"])
    assert paper_total.item() == pytest.approx(swapped.item(), rel=1e-5)
    with pytest.raises(ValueError):
        IDMRF(vgg, direction="sideways")


def test_random_pool_keeps_the_same_positions_in_both_maps():
    g = torch.Generator().manual_seed(5)
    a = torch.randn(2, 4, 5, 5, generator=g)
    pa, pb = random_pool(a, 3 * a, 3, generator=torch.Generator().manual_seed(0))
    assert pa.shape == (2, 4, 3, 3)
    assert torch.allclose(pb, 3 * pa)
    # every kept vector is one of a's positions, the same for both samples
    flat = a.flatten(2)
    for k in range(9):
        v = pa.flatten(2)[0, :, k]
        j = int(((flat[0] - v[:, None]).abs().sum(0)).argmin())
        assert torch.allclose(pa.flatten(2)[1, :, k], flat[1, :, j])
    small = torch.randn(1, 2, 4, 4, generator=g)
    assert random_pool(small, small, 4)[0] is small  # 16 <= 4^2: untouched


def torchvision_vgg19_keys() -> set[str]:
    """torchvision's vgg19 state-dict keys, written from its layer list (cfg "E")."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
    keys, i = set(), 0
    for v in cfg:
        if v == "M":
            i += 1
        else:
            keys |= {f"features.{i}.weight", f"features.{i}.bias"}
            i += 2
    for j in (0, 3, 6):
        keys |= {f"classifier.{j}.weight", f"classifier.{j}.bias"}
    return keys


def test_layer_indices_follow_torchvision():
    m = VGG19Features()
    ours = set(m.state_dict())
    tv = torchvision_vgg19_keys()
    assert ours <= tv  # conv1_1 .. conv4_2 under torchvision's names
    assert ours == {k for k in tv if k.startswith("features.") and int(k.split(".")[1]) <= 21}
    assert LAYERS["relu3_2"] == 13 and LAYERS["relu4_2"] == 22
    assert isinstance(m.features[4], torch.nn.AvgPool2d)  # average pooling, as the TF code's VGG
    assert m.features[12].in_channels == 256 and m.features[21].out_channels == 512


def test_load_vgg19_from_a_torchvision_state_dict_with_checksum(tmp_path):
    src = random_vgg19(7)
    sd = {k: v.clone() for k, v in src.state_dict().items()}
    shapes = {"features.23.weight": (512, 512, 3, 3), "classifier.0.weight": (4, 8)}  # extra keys are ignored
    for k, s in shapes.items():
        sd[k] = torch.zeros(s)
    path = tmp_path / "vgg19-test.pth"
    torch.save(sd, path)
    digest = sha256_file(path)
    m, got = load_vgg19(str(path), digest[:8])
    assert got == digest
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.equal(m(x)["relu3_2"], src(x)["relu3_2"])
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_vgg19(str(path), "0" * 64)
    with pytest.raises(ValueError):
        check_sha256(path, "abc")  # too short to mean anything
    del sd["features.21.weight"]
    torch.save(sd, path)
    with pytest.raises(ValueError, match="missing"):
        load_vgg19(str(path), sha256_file(path))


def test_input_normalisation_modes():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 1, 1)
    tv = VGG19Features(input_mode="torchvision").preprocess(x).flatten()
    caffe = VGG19Features(input_mode="caffe").preprocess(x).flatten()
    expect_tv = [(0.0 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (1.0 - 0.406) / 0.225]
    expect_caffe = [0.0 - 123.68, 127.5 - 116.779, 255.0 - 103.939]
    assert tv.tolist() == pytest.approx(expect_tv, rel=1e-5)
    assert caffe.tolist() == pytest.approx(expect_caffe, rel=1e-5)


def test_mrf_loss_stays_finite_under_bf16_autocast_with_identical_features():
    """Regression: under bf16 autocast the cosine of identical features rounded above 1, the
    distance went negative and the relative distance overflowed exp() to inf/inf = NaN (the first
    CPU stage-2 pilot, step 1). The loss is computed in fp32 and d clamped at 0."""
    torch.manual_seed(0)
    t = torch.randn(2, 64, 16, 16) * 3 + 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = mrf_loss(t.to(torch.bfloat16), t.to(torch.bfloat16))
    assert torch.isfinite(got) and got.dtype == torch.float32
    assert got.item() == pytest.approx(mrf_loss(t.to(torch.bfloat16).float(), t.to(torch.bfloat16).float()).item(), rel=1e-6)
