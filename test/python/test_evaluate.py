"""Metrics and the evaluation harness on synthetic images (the real held-out split is not in CI)."""
import numpy as np
import pytest
from PIL import Image

from model.evaluate import full_eval, table
from model.generator import GMCNNGenerator
from model.metrics import psnr, ssim


def test_psnr_and_ssim_reference_values():
    a = np.full((32, 32, 3), 100, np.uint8)
    b = a + 10
    assert psnr(a, a) == 100.0
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / 100))
    region = np.zeros((32, 32), bool)
    region[:4] = True
    c = a.copy()
    c[:4] += 10
    assert psnr(a, c, region) == pytest.approx(psnr(a, b))  # hole-PSNR only looks inside
    assert ssim(a, a) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    n = rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)
    assert ssim(n, rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)) < 0.2


def test_full_eval_runs_model_and_baselines_in_one_table(tmp_path):
    x = np.linspace(0, 255, 256)
    for i in range(2):
        img = np.stack([np.add.outer(x, x) / 2, np.tile(x, (256, 1)), np.full((256, 256), 60 * i)], -1)
        Image.fromarray(img.astype(np.uint8)).save(tmp_path / f"{i}.png")
    res = full_eval({"tiny": GMCNNGenerator(8, "pushpull", residual_init=0.0).eval()}, str(tmp_path), 2)
    assert res["_n"] == 2
    for kind in ("center", "freeform"):
        assert set(res[kind]) == {"telea", "navier_stokes", "mean_fill", "pushpull", "pushpull_harmonic", "tiny", "_hole_ratio"}
        # an untrained push-pull GMCNN is exactly the push-pull fill
        assert res[kind]["tiny"] == res[kind]["pushpull"]
    # on a smooth gradient, interpolating fills beat the mean colour inside the hole
    assert res["center"]["pushpull"]["hole_psnr"] > res["center"]["mean_fill"]["hole_psnr"]
    assert "| center | telea |" in table(res)
