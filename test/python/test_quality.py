"""Quality regression: the shipped model, run through the serving path (`gmcnn inpaint --batch`,
ONNX Runtime, the real gpu-jobs/models/gmcnn.onnx), on six committed photos and textures from
outside our data (test/fixtures/quality, see its README), with a centre hole and with free-form
strokes (the seeded masks of `model.evaluate`), in hole-PSNR:

- it beats mean fill;
- it beats OpenCV Telea, by the model card's margin;
- the network adds to its own pre-fill (the fill it predicts a residual over), by the model card's
  margin: a network that does nothing scores exactly its pre-fill, and must fail here.

The margins are the model card's bar for 0.3.0 (README, "The bar for 0.3.0"): on centre holes the
model must beat the classical reference by 0.5 dB and its own pre-fill by 0.5 dB; on free-form
strokes it must beat the classical reference and at least match its pre-fill (within 0.05 dB,
model.provenance's old re-evaluation tolerance).

A shipped model known to miss the bar is listed by the SHA-256 of its ONNX file, never by a
version string (a relabelled manifest cannot dodge the bar), as a strict expected failure: the
day that file passes, pytest reports it and the entry must go; any other file (the model
campaign's first release) meets the bar or fails."""
import hashlib
from pathlib import Path

import pytest

from model.evaluate import SHIPPED, full_eval, manifest_of, onnx_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quality"
MANIFEST = manifest_of(SHIPPED)
DIGEST = hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
KINDS = ("center", "freeform")
# Margins in hole-PSNR dB (model card: the bar for 0.3.0).
MARGIN = {
    ("center", "telea"): 0.5,
    ("freeform", "telea"): 0.0,
    ("center", "prefill"): 0.5,
    ("freeform", "prefill"): 0.0,
    ("center", "mean_fill"): 0.0,
    ("freeform", "mean_fill"): 0.0,
}
# "Matches" = no worse than this (model.provenance's re-evaluation tolerance was 0.05 dB until
# issue 17 measured re-evaluation as exact to 3 decimals; this bar keeps the 0.05 it was set with).
MATCH_TOL_DB = 0.05
# Shipped files measured below the bar: {ONNX SHA-256: {(mask kind, reference)}}.
# gmcnn@0.2.0 (measured 2026-12-03, hole-PSNR on these six images): centre 16.37 vs Telea 17.91 and
# its pre-fill 16.32 (+0.05 dB, the bar wants +0.5), free-form 19.38 vs Telea 19.81; it beats mean
# fill (14.97 / 15.32) and matches its pre-fill on free-form (19.379 vs 19.380). Its centre holes
# are a flat pyramid fill (issue 9).
# gmcnn@0.2.1 (measured 2026-12-05): centre 19.08 vs Telea 17.91 (passes) and its harmonic pre-fill
# 18.96 (+0.12 dB, the bar wants +0.5); free-form 20.92 vs Telea 19.81 and pre-fill 20.89 (passes).
# Its file was 0543e05f... until `model.provenance restamp` added the ONNX metadata (pre-fill,
# checkpoint digests): the same graph and weights, so the same outputs and the same misses.
# gmcnn@0.2.2 (measured 2026-12-05): centre 19.165 vs its harmonic pre-fill 18.964 (+0.20 dB, the
# bar wants +0.5; on the test split it adds +1.09 dB); every other bar passes.
# gmcnn@0.2.3 (measured 2026-12-05): centre 19.191 vs its harmonic pre-fill 18.964 (+0.23 dB; on
# the test split +1.33 dB); every other bar passes.
# gmcnn@0.2.4 (measured 2026-12-06): centre 18.989 vs its harmonic pre-fill 18.964 (+0.03 dB; on
# the test split +1.64 dB; 0.2.3 had +0.23 here): 1,800 more steps on game textures gained on val
# and test and lost on these photos' big holes; every other bar passes (free-form 21.02 vs 20.89).
BELOW_BAR = {
    "f73766afa5144fdbfbe863094472da0a1a29e09ca2745906efd99d9a1fd9dc32": {
        ("center", "prefill"),
    },
    "1ca14a0561c68e546e38e452e7588e2d75eea4c8c8f44d3d1d1e09ac69592633": {
        ("center", "prefill"),
    },
    "036e9ebe32672a2cedacdf3808b28b6ffc212f5e42d81d87a8f86ac2a88194b4": {
        ("center", "prefill"),
    },
    "1172ab6f067127c12456f159b4cfcf1ce1c1242846792b9a06af17c891496da3": {
        ("center", "prefill"),
    },
    "da1979b259eddcbadcf67a9946a8d7522b5e93fd093eb38a324531f580a6bf44": {
        ("center", "telea"),
        ("freeform", "telea"),
        ("center", "prefill"),
    },
}


@pytest.fixture(scope="module")
def res():
    model = onnx_model(SHIPPED, threads=2)
    assert model.fill, "the manifest names no pre-fill: the network's own contribution cannot be measured"
    return full_eval({"shipped": model}, FIXTURES, baselines=["telea", "mean_fill"], cache=None)


def case(kind: str, reference: str):
    known = (kind, reference) in BELOW_BAR.get(DIGEST, set())
    return pytest.param(kind, reference, id=f"{kind}-{reference}", marks=pytest.mark.xfail(
        known, strict=True, raises=AssertionError, reason=f"the shipped file {DIGEST[:12]} is known to miss this bar"))


def hole_psnr(res, kind: str, reference: str) -> float:
    row = res["_contribution"]["shipped"]["prefill"] if reference == "prefill" else reference
    return res[kind][row]["hole_psnr"]


def test_the_manifest_describes_the_shipped_file():
    assert MANIFEST is not None
    assert MANIFEST["sha256"] == DIGEST and MANIFEST["bytes"] == SHIPPED.stat().st_size
    assert MANIFEST["architecture"].get("fill"), "the manifest names no pre-fill"


def meets(kind: str, reference: str, ours: float, theirs: float) -> bool:
    """The bar: `margin` dB above the reference; with no margin, above it (Telea, mean fill) or,
    for the model's own pre-fill, no worse than it beyond MATCH_TOL_DB."""
    margin = MARGIN[(kind, reference)]
    if margin > 0:
        return ours >= theirs + margin
    return ours >= theirs - MATCH_TOL_DB if reference == "prefill" else ours > theirs


@pytest.mark.parametrize("kind,reference", [case(k, r) for k in KINDS for r in ("mean_fill", "telea", "prefill")])
def test_the_shipped_model_beats_its_references_in_hole_psnr(res, kind, reference):
    assert res["_n"] == 6
    ours, theirs = res[kind]["shipped"]["hole_psnr"], hole_psnr(res, kind, reference)
    assert meets(kind, reference, ours, theirs), (
        f"{MANIFEST['name']}@{MANIFEST['version']} ({DIGEST[:12]}) {kind}: hole-PSNR {ours:.3f} dB, "
        f"{reference} {theirs:.3f} dB (bar: {MARGIN[(kind, reference)]:+.2f} dB)")


def test_a_network_that_does_nothing_fails_the_bar():
    """A zeroed network scores its pre-fill alone (measured on these fixtures: 16.32 / 19.38 dB,
    Telea 17.91 / 19.81, mean fill 14.97 / 15.32). The old test compared with mean fill only (the
    Telea cases were expected failures), which such a network passes; this bar does not."""
    alone = {"center": 16.32, "freeform": 19.38}
    refs = {"center": {"mean_fill": 14.97, "telea": 17.91, "prefill": 16.32},
            "freeform": {"mean_fill": 15.32, "telea": 19.81, "prefill": 19.38}}
    assert all(meets(k, "mean_fill", alone[k], refs[k]["mean_fill"]) for k in KINDS)  # what the old test asked
    assert not meets("center", "prefill", alone["center"], refs["center"]["prefill"])
    assert not meets("center", "telea", alone["center"], refs["center"]["telea"])
