"""`model.ship` end to end on a tiny trainer-written model (random init, 2 steps, synthetic 64x64
images): what it refuses (a checkpoint no trainer wrote, a model no better than what ships, a
version >= 0.3.0 below the bar) writes nothing; what it ships is what its files say. Also the
committed gpu-jobs/models/ files against each other. The models folder is a temp folder, and the
classical baselines are not cached (nothing is written under gpu-jobs/models/ or runs/)."""
import functools
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model import evaluate, ship
from model.provenance import generator_from_onnx, stamp, verify_shipped
from model.train import load_config, train

GPU_JOBS = Path(__file__).resolve().parents[2] / "gpu-jobs"
COMMITTED = GPU_JOBS / "models"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("ship")
    rng = np.random.default_rng(2)
    for split, n, size, ext in (("train", 3, 40, "jpg"), ("val", 2, 64, "png"), ("test", 2, 64, "png")):
        (d / "data" / split).mkdir(parents=True)
        for i in range(n):
            Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(d / "data" / split / f"{split}{i}.{ext}")
    (d / "data" / "dataset.json").write_text(json.dumps({
        "packages": ["synthetic"], "split": "random images for the tests", "counts": {"train": 3, "val": 2, "test": 2}}))
    cfg = load_config(None, dict(data=str(d / "data" / "train"), val=str(d / "data" / "val"), out=str(d / "run"), cnum=4,
                                 fill="harmonic", crop=32, batch=2, steps=2, threads=1, eval_every=2, eval_n=2,
                                 ckpt_every=2, warmup=1))
    train(cfg, resume=False)
    return d


def ship_main(monkeypatch, models: Path, ckpt: Path, run: Path, version: str, *more: str) -> None:
    monkeypatch.setattr(ship, "MODELS", models)
    monkeypatch.setattr(ship, "full_eval", functools.partial(evaluate.full_eval, cache=None))
    monkeypatch.setattr(sys, "argv", ["model.ship", "--ckpt", str(ckpt), "--name", "tiny", "--version", version,
                                      "--hardware", "test", "--hours", "0", "--test", str(run / "data" / "test"),
                                      "--threads", "1", *more])
    ship.main()


def files(d: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def export(ckpt: Path, out: Path, version: str) -> None:
    m = {"psnr": 1.0, "ssim": 0.5, "hole_psnr": 1.0}
    (out.parent / "t.json").write_text(json.dumps({"stage": "stage1", "data_recipe": "t", "train_images": 3, "steps": 2,
                                                   "batch": 2, "crop": 32, "lr": 1e-4, "losses": {}, "hardware": "t",
                                                   "wall_time_hours": 0, "random_vgg": False, "deviations": []}))
    (out.parent / "m.json").write_text(json.dumps({"center": m, "freeform": m}))
    subprocess.run([sys.executable, "-m", "model.export", "--ckpt", str(ckpt), "--out", str(out), "--fp16-weights",
                    "--name", "tiny", "--version", version, "--training", str(out.parent / "t.json"),
                    "--metrics", str(out.parent / "m.json")], cwd=GPU_JOBS, check=True, capture_output=True)
    (out.parent / "t.json").unlink()
    (out.parent / "m.json").unlink()


# ---- the 0.3.0 bar ----

def results(center=20.5, freeform=20.0, sharp=(0.5, 0.5), contribution=0.5):
    row = lambda hp, s: {"hole_psnr": hp, "sharpness": s}  # noqa: E731
    res = {"center": {"fsr": row(20.0, 0.2), "cand": row(center, sharp[0])},
           "freeform": {"fsr": row(20.0, 0.3), "cand": row(freeform, sharp[1])}, "_contribution": {}}
    if contribution is not None:
        res["_contribution"]["cand"] = {"center": contribution, "freeform": 0.0}
    return res


def test_the_bar_is_met_exactly_at_its_margins():
    assert ship.bar_check(results(), "cand") == []


@pytest.mark.parametrize("change,miss", [
    (dict(center=20.49), "centre hole-PSNR"),
    (dict(freeform=19.99), "free-form hole-PSNR"),
    (dict(sharp=(0.49, 0.5)), "centre sharpness"),
    (dict(sharp=(0.5, 0.49)), "free-form sharpness"),
    (dict(contribution=0.49), "contribution"),
    (dict(contribution=None), "n/a (no pre-fill)"),
])
def test_each_miss_of_the_bar_is_reported(change, miss):
    fails = ship.bar_check(results(**change), "cand")
    assert len(fails) == 1 and miss in fails[0], fails


def test_the_bar_applies_from_0_3_0():
    assert ship.version_tuple("0.2.9") < (0, 3, 0) <= ship.version_tuple("0.3.0") <= ship.version_tuple("0.3.0-rc1")


# ---- refusals write nothing ----

def test_a_checkpoint_no_trainer_wrote_is_refused(run, tmp_path, monkeypatch):
    shutil.copytree(run / "run", tmp_path / "run")
    models = tmp_path / "models"
    models.mkdir()
    ck = torch.load(run / "run" / "best_gen.pt")
    ck["gen"]["merge18.conv.bias"] += 0.01  # edited weights, digest not redone
    torch.save(ck, tmp_path / "run" / "edited.pt")
    ck = torch.load(run / "run" / "best_gen.pt")
    ck["refilled_from"] = "pushpull"  # a key no code writes, restamped
    torch.save(stamp(ck), tmp_path / "run" / "relabelled.pt")
    for name, why in (("edited.pt", "digest"), ("relabelled.pt", "refilled_from")):
        with pytest.raises(SystemExit, match=f"refusing to ship: .*{why}"):
            ship_main(monkeypatch, models, tmp_path / "run" / name, run, "0.2.9")
    assert files(models) == {}


def test_a_model_no_better_than_what_ships_is_refused(run, tmp_path, monkeypatch):
    # What ships is this very checkpoint: its val score is the candidate's, not 0.1 dB below it.
    models = tmp_path / "models"
    models.mkdir()
    export(run / "run" / "best_gen.pt", models / "tiny.onnx", "0.1.0")
    before = files(models)
    with pytest.raises(SystemExit, match=r"refusing to ship: val hole-PSNR .* is not 0\.1 dB higher \(.*\) than the shipped tiny@0\.1\.0"):
        ship_main(monkeypatch, models, run / "run" / "best_gen.pt", run, "0.2.9", "--check-only")
    assert files(models) == before


def _m(centre, free, sc, sf):
    return {"hole_psnr": centre, "sharpness": sc, "freeform": {"hole_psnr": free, "sharpness": sf}}


def test_better_than_what_ships_is_psnr_in_stage_1_and_sharpness_within_the_drop_in_stage_2():
    shipped = _m(21.5, 24.3, 0.23, 0.27)  # score 22.9, sharpness 0.25
    s1, s2 = {"stage": 1}, {"stage": 2, "psnr_drop": 0.3}
    assert ship.not_better(_m(21.6, 24.4, 0.23, 0.27), shipped, s1) == ""          # +0.1 dB
    assert "not 0.1 dB higher" in ship.not_better(_m(21.55, 24.35, 0.9, 0.9), shipped, s1)  # sharper is not enough
    assert ship.not_better(_m(21.3, 24.1, 0.28, 0.32), shipped, s2) == ""          # +0.05 sharper, -0.2 dB
    assert "more than 0.3 dB lower" in ship.not_better(_m(21.1, 24.0, 0.5, 0.5), shipped, s2)  # -0.35 dB
    assert "not 0.05 higher" in ship.not_better(_m(21.6, 24.4, 0.27, 0.31), shipped, s2)


def test_check_only_passes_a_trainer_written_checkpoint_when_nothing_ships(run, tmp_path, monkeypatch, capsys):
    models = tmp_path / "models"
    models.mkdir()
    ship_main(monkeypatch, models, run / "run" / "best_gen.pt", run, "0.2.9", "--check-only")
    checked = json.loads(capsys.readouterr().out)
    ck = torch.load(run / "run" / "best_gen.pt")
    assert abs(checked["val_metrics"]["hole_psnr"] - ck["metrics"]["hole_psnr"]) < 1e-6
    assert files(models) == {}


def test_a_version_from_0_3_0_below_the_bar_is_refused(run, tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    with pytest.raises(SystemExit, match="refusing to ship 0.3.0: the 0.3.0 bar is not met on the test split"):
        ship_main(monkeypatch, models, run / "run" / "best_gen.pt", run, "0.3.0")
    assert files(models) == {}


def test_a_version_from_0_3_0_with_a_grid_or_below_its_prefill_on_outside_photos_is_refused(run, tmp_path, monkeypatch):
    # The test-split bar is taken as met here (the tiny model cannot meet it); check 4 then runs the
    # candidate on the outside photos (the run's own test images stand in) and refuses.
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(ship, "bar_check", lambda res, name: [])
    monkeypatch.setattr(ship, "OUTSIDE_GRID_MAX", -1.0)  # any grid at all is too much
    with pytest.raises(SystemExit, match=r"refusing to ship 0.3.0: on the outside photos:(.|\n)*stride grid"):
        ship_main(monkeypatch, models, run / "run" / "best_gen.pt", run, "0.3.0", "--outside", str(run / "data" / "test"))
    assert files(models) == {}


def test_outside_check_wants_the_prefill_matched_and_no_grid():
    def res(c, f, grid_c=0.0, grid_f=0.0):
        return {"center": {"m": {"grid": grid_c}}, "freeform": {"m": {"grid": grid_f}},
                "_contribution": {"m": {"prefill": "m pre-fill", "center": c, "freeform": f}}}
    assert ship.outside_check(res(0.2, 0.1, 0.0003, 0.0003), "m") == []
    assert ship.outside_check(res(-0.54, 0.1), "m") == ["centre hole-PSNR over its own pre-fill -0.54 dB < 0 on the outside photos"]
    assert ship.outside_check(res(0.2, 0.1, 0.015, 0.0017), "m") == ["centre stride grid 0.0150 > 0.002 on the outside photos"]
    assert len(ship.outside_check({**res(0, 0), "_contribution": {}}, "m")) == 2  # no pre-fill: nothing to compare


# ---- a successful ship ----

def test_a_ship_below_0_3_0_writes_files_that_agree(run, tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    ckpt = run / "run" / "best_gen.pt"
    ship_main(monkeypatch, models, ckpt, run, "0.2.9")
    assert sorted(files(models)) == ["EVAL.md", "eval.json", "tiny.manifest.json", "tiny.onnx"]
    man = json.loads((models / "tiny.manifest.json").read_text())
    ev = json.loads((models / "eval.json").read_text())
    ck = torch.load(ckpt)
    onnx_bytes = (models / "tiny.onnx").read_bytes()
    assert man["sha256"] == hashlib.sha256(onnx_bytes).hexdigest() and man["bytes"] == len(onnx_bytes)
    assert (man["name"], man["version"], man["architecture"]["fill"]) == ("tiny", "0.2.9", "harmonic")
    # The manifest's metrics are the test split's, as eval.json has them; the bar's verdict is recorded.
    assert man["metrics"]["split"] == "test" and man["metrics"]["test_images"] == ev["_n"] == 2
    for kind in ("center", "freeform"):
        assert man["metrics"][kind] == ev[kind]["gmcnn (candidate)"]
    assert man["metrics"]["bar_0_3_0"] == {"met": False, "misses": ship.bar_check(ev, "gmcnn (candidate)")}
    assert man["metrics"]["val"]["hole_psnr"] == pytest.approx(ck["metrics"]["hole_psnr"], abs=1e-6)
    # The training block is the checkpoint's own config and step.
    assert man["training"]["config"] == ck["config"] and man["training"]["steps"] == int(ck["step"])
    assert man["training"]["test_images"] == 2
    # EVAL.md is what ship writes: its header names this version, the split, the image count and
    # the sizes the evaluation used (64x64 test images here, so a 32x32 centre hole; ship.py wrote
    # a fixed "256x256; centre hole 128x128" before), then the table of eval.json.
    md = (models / "EVAL.md").read_text()
    assert md.startswith("Test-split evaluation of tiny@0.2.9 (2 images, 64x64; centre hole 32x32, free-form hole "
                         f"ratio {ev['freeform']['_hole_ratio']}). "), md.splitlines()[0]
    assert evaluate.table(ev) in md
    # The file is tied to its checkpoint: the ONNX metadata and the manifest name it, and exporting
    # it again gives this very graph.
    ck_sha = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert man["checkpoint"] == {"file": str(ckpt.resolve()), "sha256": ck_sha,
                                 "provenance_sha256": ck["provenance"]["sha256"], "step": int(ck["step"])}
    checked = verify_shipped(models / "tiny.onnx", ckpt)
    assert checked["regenerated"] and checked["fill"] == "harmonic" and checked["checkpoint"] == ck_sha
    # The weights in the ONNX are the checkpoint's (fp16-rounded).
    gen, _ = generator_from_onnx(str(models / "tiny.onnx"))
    for k, v in gen.state_dict().items():
        assert torch.equal(v, ck["gen"][k].half().float()), k


# ---- the committed models folder ----

def test_the_committed_manifest_metrics_are_its_eval_rows():
    man = json.loads((COMMITTED / "gmcnn.manifest.json").read_text())
    ev = json.loads((COMMITTED / "eval.json").read_text())
    for kind in ("center", "freeform"):
        rows = [name for name, row in ev[kind].items() if name.startswith("gmcnn (")
                and {k: row.get(k) for k in ("psnr", "ssim", "hole_psnr")} == {k: man["metrics"][kind][k] for k in ("psnr", "ssim", "hole_psnr")}]
        assert len(rows) == 1, f"{kind}: the manifest's metrics are no single model row of eval.json"


# The committed EVAL.md says "Held-out evaluation of gmcnn@0.2.0 (100 images ...)": it predates the
# three-split dataset and is not what `model.ship` writes (issue 17, section 3). Keyed on the file's
# digest: re-shipping replaces it and the expectation goes.
STALE_EVAL_MD = "964b373c60559be92859ec9328a5360fde02293242bd53d742a189cb1eae2121"


def _eval_md_digest() -> str:
    return hashlib.sha256((COMMITTED / "EVAL.md").read_bytes()).hexdigest()


@pytest.mark.xfail(_eval_md_digest() == STALE_EVAL_MD, strict=True, raises=AssertionError,
                   reason="the committed EVAL.md predates model.ship's current format (issue 17, section 3)")
def test_the_committed_eval_md_is_what_ship_writes():
    man = json.loads((COMMITTED / "gmcnn.manifest.json").read_text())
    ev = json.loads((COMMITTED / "eval.json").read_text())
    md = (COMMITTED / "EVAL.md").read_text()
    assert md.splitlines()[0] == ship.eval_header(man["name"], man["version"], ev)
    assert evaluate.table(ev) in md


def test_the_eval_md_header_gives_the_sizes_the_evaluation_used():
    res = {"_n": 3, "_size": [96, 160], "freeform": {"_hole_ratio": 0.2}}
    assert ship.eval_header("m", "1.0.0", res).startswith(
        "Test-split evaluation of m@1.0.0 (3 images, 96x160; centre hole 48x48, free-form hole ratio 0.2). ")
