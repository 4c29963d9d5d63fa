"""Trainer (tiny shapes, random init), export + manifest against the shared JSON Schema, dataset rules."""
import json
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from model import dataset
from model.export import main as export_main
from model.train import load_config, load_generator, train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    (d / "train").mkdir()
    (d / "val").mkdir()
    for i in range(4):
        a = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
        Image.fromarray(a).save(d / "train" / f"t{i}.jpg")
    for i in range(2):
        a = np.tile(np.linspace(0, 255, 256, dtype=np.uint8)[None, :, None], (256, 1, 3))
        Image.fromarray(a).save(d / "val" / f"h{i}.png")
    return d


# fp32 pinned: `auto` times both precisions per run, and two runs that pick differently cannot match
def cfg(data, out, steps, **kw):
    return load_config(None, dict(data=str(data / "train"), val=str(data / "val"), out=str(out), cnum=8,
                                  crop=32, batch=2, steps=steps, threads=1, eval_every=3, eval_n=2, ckpt_every=1,
                                  log_every=1, warmup=1, **{"precision": "fp32", **kw}))


def test_train_logs_checkpoints_and_resumes_exactly(data, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train(cfg(data, a, 5), resume=False)
    train(cfg(data, b, 3), resume=False)
    r = train(cfg(data, b, 5), resume=True)
    assert r["step"] == 5
    wa = torch.load(a / "last.pt")["gen"]
    wb = torch.load(b / "last.pt")["gen"]
    assert all(torch.allclose(wa[k], wb[k]) for k in wa), "resume must continue exactly where it stopped"
    lines = [json.loads(l) for l in (a / "log.jsonl").read_text().splitlines()]
    steps = [l for l in lines if "loss" in l]
    assert [l["step"] for l in steps] == [1, 2, 3, 4, 5]
    assert all({"recon", "ae", "lr", "img_s"} <= l.keys() for l in steps)
    assert any("eval" in l for l in lines)
    gen, ck = load_generator(str(a / "best_gen.pt"))
    assert gen.cnum == 8 and ck["gen"]["merge18.conv.weight"].dtype == torch.float16


def test_training_moves_the_weights(data, tmp_path):
    train(cfg(data, tmp_path, 2, fill="zero", lr=1e-3), resume=False)
    ck = torch.load(tmp_path / "last.pt")
    torch.manual_seed(2018)
    from model.generator import GMCNNGenerator
    init = GMCNNGenerator(8, "zero").state_dict()
    assert not torch.allclose(ck["gen"]["b1.0.conv.weight"], init["b1.0.conv.weight"])


def test_export_writes_dynamic_onnx_and_a_manifest_valid_against_the_shared_schema(data, tmp_path, monkeypatch):
    train(cfg(data, tmp_path / "run", 1), resume=False)
    (tmp_path / "training.json").write_text(json.dumps({
        "stage": "stage1", "data_recipe": "test", "train_images": 4, "heldout_images": 2, "steps": 1, "batch": 2,
        "crop": 32, "lr": 1e-4, "losses": {"confidence_recon": 1.68, "known_l1": 1.44}, "hardware": "test",
        "wall_time_hours": 0.0, "random_vgg": False, "deviations": []}))
    m = {"psnr": 20.0, "ssim": 0.5, "hole_psnr": 15.0}
    (tmp_path / "metrics.json").write_text(json.dumps({"heldout_images": 2, "center": m, "freeform": m}))
    out = tmp_path / "m.onnx"
    monkeypatch.setattr("sys.argv", ["export", "--ckpt", str(tmp_path / "run/last.pt"), "--out", str(out), "--fp16-weights",
                                     "--training", str(tmp_path / "training.json"), "--metrics", str(tmp_path / "metrics.json")])
    export_main()
    model = onnx.load(str(out))
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["n", 3, "h", "w"]
    assert [i.name for i in model.graph.input] == ["image", "mask"]
    manifest = json.loads((tmp_path / "m.manifest.json").read_text())
    schema = json.loads((ROOT / "shared/schema/model-manifest.schema.json").read_text())
    jsonschema.validate(manifest, schema)
    assert manifest["weights_dtype"] == "float16" and manifest["architecture"]["cnum"] == 8
    bad = dict(manifest, sha256="nope")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_three_splits_by_whole_source_image_disjoint_and_stable():
    names = [f"ufoai/textures/wall_{i}.png" for i in range(3000)]
    splits = {n: dataset.split_of(n) for n in names}
    for s in ("val", "test"):
        assert 0.07 < sum(v == s for v in splits.values()) / len(names) < 0.13
    assert set(splits.values()) == {"train", "val", "test"}
    assert all(dataset.split_of(n) == splits[n] for n in names)  # a name always lands in one split


def test_val_photos_take_each_picture_once_at_its_largest_size(tmp_path):
    bg = tmp_path / "usr/share/backgrounds/mate/nature"
    bg.mkdir(parents=True)
    for name, size in [("Elephants.jpg", 10), ("Elephants_3840x2160.jpg", 30), ("Elephants_5640x3172.jpg", 20),
                       ("Wood.jpg", 5), ("notes.txt", 99)]:
        (bg / name).write_bytes(b"x" * size)
    got = {n: len(read()) for n, read in dataset.photo_sources(tmp_path)}
    assert got == {"photos/Elephants": 30, "photos/Wood": 5}
    assert not set(dataset.PHOTO_PACKAGES) & set(dataset.PACKAGES)  # never a training package


def test_non_colour_maps_are_skipped():
    for n in ["tex/brick_nm.png", "tex/metal_gloss.tga", "tex/wall_norm.tga", "a_bump.jpg", "b_glow.jpg", "c_sm.png"]:
        assert dataset.NON_COLOUR.search(n), n
    for n in ["tex/brick.png", "tex/normandy.jpg", "tex/grass_dirt.tga"]:
        assert not dataset.NON_COLOUR.search(n), n
