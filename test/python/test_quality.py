"""Quality regression: the shipped model, run through the serving path (`gmcnn inpaint --batch`,
ONNX Runtime, the real gpu-jobs/models/gmcnn.onnx), must beat mean fill and OpenCV Telea in hole-PSNR
on six committed photos and textures from outside our data (test/fixtures/quality, see its README),
with a centre hole and with free-form strokes (the seeded masks of `model.evaluate`)."""
import dataclasses
from pathlib import Path

import pytest

from model.evaluate import SHIPPED, full_eval, manifest_of, onnx_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quality"
VERSION = manifest_of(SHIPPED)["version"]
# Shipped versions measured below this bar, (version, mask kind, baseline). strict: the day one
# passes, pytest reports it and the entry must go. gmcnn@0.2.0 (measured 2026-12-03, hole-PSNR on
# these six images): centre 16.37 vs Telea 17.91, free-form 19.38 vs Telea 19.81; it beats mean fill
# (14.97 / 15.32). Its centre holes are a flat pyramid fill (issue 9).
BELOW_BAR = {("0.2.0", "center", "telea"), ("0.2.0", "freeform", "telea")}


@pytest.fixture(scope="module")
def res():
    model = dataclasses.replace(onnx_model(SHIPPED, threads=2), fill=None)  # no pre-fill row needed here
    return full_eval({"shipped": model}, FIXTURES, baselines=["telea", "mean_fill"], cache=None)


CASES = [
    pytest.param(kind, base, marks=pytest.mark.xfail((VERSION, kind, base) in BELOW_BAR, strict=True, raises=AssertionError,
                                                     reason=f"gmcnn@{VERSION} is known to miss this bar"))
    for kind in ("center", "freeform") for base in ("mean_fill", "telea")
]


@pytest.mark.parametrize("kind,baseline", CASES)
def test_shipped_model_beats_classical_fill_in_hole_psnr(res, kind, baseline):
    assert res["_n"] == 6
    ours, theirs = res[kind]["shipped"]["hole_psnr"], res[kind][baseline]["hole_psnr"]
    assert ours > theirs, f"gmcnn@{VERSION} {kind}: hole-PSNR {ours:.2f} dB, {baseline} {theirs:.2f} dB"
