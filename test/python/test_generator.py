"""The TF-layout generator: size, shapes, padding and upsampling semantics. Random init (no weights)."""
import numpy as np
import torch
import torch.nn.functional as F
import pytest

from model.generator import GMCNNGenerator, InpaintGraph, SameConv, count_params, harmonic_fill, pushpull_fill


def test_cnum32_has_exactly_the_official_parameter_count():
    assert count_params(GMCNNGenerator(32)) == 12_429_107


def test_fusion_is_208_channels_and_output_is_3():
    g = GMCNNGenerator(32)
    assert g.merge17.conv.in_channels == 208
    assert g.merge18.conv.out_channels == 3


@pytest.mark.parametrize("h,w", [(256, 256), (512, 680), (260, 388)])
@torch.no_grad()
def test_any_multiple_of_4_works(h, w):
    g = GMCNNGenerator(32).eval()
    x = torch.rand(1, 3, h, w) * 2 - 1
    m = torch.zeros(1, 1, h, w)
    m[..., h // 3: h // 2, w // 3: w // 2] = 1
    y = g(x, m)
    assert y.shape == (1, 3, h, w)
    assert y.min() >= -1 and y.max() <= 1  # clip, no tanh


def test_stride2_padding_is_tf_same_asymmetric():
    # TF SAME at stride 2 on an even size pads k-2: (2,3) for 7x7, (1,2) for 5x5, (0,1) for 3x3.
    for k, (lo, hi) in {7: (2, 3), 5: (1, 2), 3: (0, 1)}.items():
        c = SameConv(1, 1, k, stride=2, act=False)
        assert c.pad == (lo, hi, lo, hi)
        x = torch.randn(1, 1, 16, 16)
        ref = F.conv2d(F.pad(x, (lo, hi, lo, hi)), c.conv.weight, c.conv.bias, stride=2)
        assert torch.allclose(c(x), ref)
        assert c(x).shape[-1] == 8


def test_dilated_convs_keep_size_and_use_zero_padding():
    c = SameConv(1, 1, 7, dilation=16, act=False)
    assert c.conv.padding == (48, 48) and c.conv.padding_mode == "zeros"
    assert c(torch.randn(1, 1, 12, 12)).shape == (1, 1, 12, 12)


def test_nearest_2x_equals_tf_align_corners_rule():
    # TF resize_nearest_neighbor(align_corners=True) picks round(i*(n-1)/(2n-1)) == floor(i/2) at 2x.
    n = 85
    x = torch.arange(n, dtype=torch.float32).view(1, 1, 1, n)
    up = F.interpolate(x, scale_factor=2.0, mode="nearest")[0, 0, 0]
    tf = torch.tensor([round(i * (n - 1) / (2 * n - 1)) for i in range(2 * n)], dtype=torch.float32)
    assert torch.equal(up, tf)


def test_first_layers_see_five_channels_image_ones_mask():
    g = GMCNNGenerator(32)
    assert g.b1[0].conv.in_channels == 5 and g.b1[0].conv.kernel_size == (7, 7)
    assert g.b2[0].conv.kernel_size == (5, 5)
    assert g.b3[0].conv.kernel_size == (5, 5) and g.b3[1].conv.kernel_size == (3, 3)


@torch.no_grad()
def test_hole_pixels_do_not_leak_into_the_prediction():
    # The network sees x * (1 - mask): changing pixels under the hole must not change the output.
    g = GMCNNGenerator(16).eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    m = torch.zeros(1, 1, 64, 64)
    m[..., 20:40, 20:40] = 1
    x2 = x.clone()
    x2[..., 20:40, 20:40] = torch.rand(1, 3, 20, 20)
    assert torch.allclose(g(x, m), g(x2, m))
    g2 = GMCNNGenerator(16, "pushpull").eval()
    assert torch.allclose(g2(x, m), g2(x2, m))


@torch.no_grad()
def test_composite_keeps_known_pixels_exactly():
    g = InpaintGraph(GMCNNGenerator(16).eval())
    x = torch.rand(1, 3, 32, 36) * 2 - 1
    m = torch.zeros(1, 1, 32, 36)
    m[..., 5:15, 5:20] = 1
    y = g(x, m)
    assert torch.equal(y * (1 - m), x * (1 - m))


@torch.no_grad()
def test_pushpull_variant_starts_at_the_pyramid_fill():
    g = GMCNNGenerator(16, "pushpull", residual_init=0.0).eval()
    x = torch.rand(1, 3, 48, 64) * 2 - 1
    m = torch.zeros(1, 1, 48, 64)
    m[..., 10:30, 10:40] = 1
    fill = pushpull_fill(x, 1 - m)
    assert torch.allclose(g(x, m), fill.clamp(-1, 1), atol=1e-6)
    # the default small residual init starts within a few grey levels of it
    g2 = GMCNNGenerator(16, "pushpull").eval()
    assert 0 < (g2(x, m) - fill).abs().max() < 0.05
    # The fill keeps known pixels and interpolates the hole within the known range.
    assert torch.allclose(fill * (1 - m), x * (1 - m), atol=1e-5)
    assert fill.min() >= x.min() - 1e-5 and fill.max() <= x.max() + 1e-5


@torch.no_grad()
def test_pushpull_of_a_constant_image_is_that_constant():
    x = torch.full((1, 3, 40, 52), 0.3)
    m = torch.zeros(1, 1, 40, 52)
    m[..., :30, :45] = 1
    assert torch.allclose(pushpull_fill(x, 1 - m), x, atol=1e-5)


@torch.no_grad()
def test_harmonic_fill_keeps_known_pixels_and_converges_to_the_laplace_solution():
    # A linear ramp is harmonic: relaxing a hole in it must bring the fill back to the ramp.
    h, w = 40, 56
    ramp = torch.linspace(-0.8, 0.8, w).repeat(1, 3, h, 1)
    m = torch.zeros(1, 1, h, w)
    m[..., 8:32, 10:46] = 1
    known = 1 - m
    start = pushpull_fill(ramp, known)
    err = lambda x: ((x - ramp).abs() * m).sum() / m.sum()  # noqa: E731
    few, many = harmonic_fill(start, known, 10), harmonic_fill(start, known, 2000)
    assert torch.equal(few * known, start * known) and torch.equal(many * known, start * known)
    assert err(many) < err(few) < err(start)
    assert err(many) < 0.005
    # Mean-value property: every hole pixel ends between its neighbours' extremes (no overshoot).
    assert many.min() >= ramp.min() - 1e-6 and many.max() <= ramp.max() + 1e-6


@torch.no_grad()
def test_harmonic_variant_is_the_relaxed_pyramid_fill_plus_the_residual():
    g = GMCNNGenerator(16, "pushpull-harmonic", residual_init=0.0).eval()
    x = torch.rand(1, 3, 48, 64) * 2 - 1
    m = torch.zeros(1, 1, 48, 64)
    m[..., 10:30, 10:40] = 1
    want = harmonic_fill(pushpull_fill(x, 1 - m), 1 - m).clamp(-1, 1)
    assert torch.allclose(g(x, m), want, atol=1e-6)


def _direct_laplace(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Reference: a direct sparse solve of the 4-neighbour Laplace equation, known pixels fixed."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl
    h, w = known.shape
    unk = np.argwhere(known < 0.5)
    idx = -np.ones((h, w), int)
    idx[tuple(unk.T)] = np.arange(len(unk))
    rows, cols, vals, b = [], [], [], np.zeros((len(unk), img.shape[0]))
    for n, (y, x) in enumerate(unk):
        nb = [(y + dy, x + dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)) if 0 <= y + dy < h and 0 <= x + dx < w]
        rows.append(n), cols.append(n), vals.append(float(len(nb)))
        for yy, xx in nb:
            if known[yy, xx] > 0.5:
                b[n] += img[:, yy, xx]
            else:
                rows.append(n), cols.append(idx[yy, xx]), vals.append(-1.0)
    a = sp.csc_matrix((vals, (rows, cols)), shape=(len(unk), len(unk)))
    out = img.copy()
    out[:, unk[:, 0], unk[:, 1]] = spl.splu(a).solve(b).T
    return out


@torch.no_grad()
def test_harmonic_solve_converges_to_the_direct_solution_where_jacobi_does_not():
    # A textured 128x128 image with a 64-px centre hole and with strokes: CG must land on the exact
    # discrete Laplace solution (well under a grey level), where 100 Jacobi steps stay far off.
    from model.generator import harmonic_solve
    from model.masks import centre_mask, stroke_mask
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:128, 0:128] / 128.0
    img = np.stack([np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in range(3)]).astype(np.float32) * 0.8
    img += rng.normal(0, 0.05, img.shape).astype(np.float32)
    for m in (centre_mask(128, 128, 64), stroke_mask(rng, 128, 128)):
        known = (1 - m).astype(np.float32)
        want = _direct_laplace(img.astype(np.float64), known)
        t, k = torch.from_numpy(img)[None], torch.from_numpy(known)[None, None]
        got = harmonic_solve(t, k, iters=128)[0].numpy()
        jac = harmonic_fill(pushpull_fill(t, k), k)[0].numpy()
        hole = m > 0.5
        err = np.abs(got - want)[:, hole] * 127.5  # in 8-bit grey levels
        assert err.max() < 0.5, err.max()
        assert np.array_equal(got[:, ~hole], img[:, ~hole])  # known pixels exact
        if m.sum() > 3000:  # the large hole: Jacobi is visibly unconverged there
            assert (np.abs(jac - want)[:, hole] * 127.5).mean() > 10 * err.mean()


@torch.no_grad()
def test_harmonic_variant_is_the_converged_fill_plus_the_residual():
    from model.generator import harmonic_solve, prefill
    g = GMCNNGenerator(8, "harmonic", residual_init=0.0).eval()
    x = torch.rand(1, 3, 48, 64) * 2 - 1
    m = torch.zeros(1, 1, 48, 64)
    m[..., 10:30, 10:40] = 1
    want = harmonic_solve(x, 1 - m).clamp(-1, 1)
    assert torch.allclose(g(x, m), want, atol=1e-6)
    assert prefill("zero", x, 1 - m) is None


def test_smooth_upsampling_takes_the_same_weights_and_keeps_no_period_of_its_own():
    torch.manual_seed(0)
    tf, smooth = GMCNNGenerator(8, "harmonic"), GMCNNGenerator(8, "harmonic", upsample="smooth")
    smooth.load_state_dict(tf.state_dict())  # a stage-1 generator starts a smooth stage 2 as it is
    img, mask = torch.rand(1, 3, 64, 64) * 2 - 1, torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    a, b = tf(img, mask), smooth(img, mask)
    assert a.shape == b.shape and not torch.equal(a, b)
    with pytest.raises(ValueError, match="upsample"):
        GMCNNGenerator(8, "harmonic", upsample="deconv")
    # A constant 16x16 map upsampled 4x: nearest-style blocks are what the TF path can repeat; the
    # half-pixel bilinear of a ramp is a ramp with equal steps (no 4-px pattern).
    from model.generator import _up_smooth
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    d = torch.diff(_up_smooth(ramp, 4.0)[0, 0, 8], dim=-1)[4:-4]
    assert torch.allclose(d, torch.full_like(d, 0.25))
