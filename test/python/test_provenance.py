"""What `model.ship` refuses: checkpoints whose metadata no code wrote, or whose recorded config is
not how they were trained (tiny random-init runs on synthetic images)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from model.provenance import ProvenanceError, generator_from_onnx, stamp, verify_checkpoint, verify_metrics, verify_run
from model.train import load_config, resolve_precision, save_generator, train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("prov")
    rng = np.random.default_rng(1)
    (d / "train").mkdir()
    (d / "val").mkdir()
    for i in range(3):
        Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(d / "train" / f"t{i}.jpg")
    for i in range(2):
        Image.fromarray((rng.random((256, 256, 3)) * 255).astype(np.uint8)).save(d / "val" / f"v{i}.png")
    cfg = load_config(None, dict(data=str(d / "train"), val=str(d / "val"), out=str(d / "run"), cnum=4, fill="harmonic",
                                 crop=32, batch=2, steps=2, threads=1, eval_every=2, eval_n=2, ckpt_every=2, warmup=1))
    train(cfg, resume=False)
    return d


def load(run):
    return torch.load(run / "run" / "best_gen.pt")


def test_a_checkpoint_the_trainer_wrote_passes_every_check(run):
    ck = load(run)
    verify_checkpoint(ck)
    verify_run(ck, run / "run")
    from model.train import load_generator
    gen, _ = load_generator(str(run / "run" / "best_gen.pt"))
    got = verify_metrics(gen, ck, str(run / "val"))
    assert abs(got["hole_psnr"] - ck["metrics"]["hole_psnr"]) < 1e-6
    assert ck["config"]["precision"] in ("fp32", "bf16")  # resolved, not "auto"


def test_a_key_no_code_writes_is_refused(run):
    ck = load(run)
    ck["refilled_from"] = "pushpull"
    with pytest.raises(ProvenanceError, match="refilled_from"):
        verify_checkpoint(ck)


def test_edited_weights_or_metadata_are_refused(run):
    ck = load(run)
    ck["gen"]["merge18.conv.bias"] += 0.01
    with pytest.raises(ProvenanceError, match="digest"):
        verify_checkpoint(ck)
    ck = load(run)
    ck["step"] = 5000
    with pytest.raises(ProvenanceError, match="digest"):
        verify_checkpoint(ck)


def test_a_relabelled_fill_is_refused_even_when_restamped(run):
    ck = load(run)
    ck["fill"] = "pushpull-harmonic"
    with pytest.raises(ProvenanceError, match="fill"):
        verify_checkpoint(stamp(ck))
    ck = load(run)  # relabel everywhere in the checkpoint: the run's own config.json disagrees
    ck["fill"] = ck["config"]["fill"] = "pushpull"
    verify_checkpoint(stamp(ck))
    with pytest.raises(ProvenanceError, match="config.fill"):
        verify_run(ck, run / "run")
    # and the weights under the other fill cannot reproduce the val metrics they were chosen with
    from model.generator import GMCNNGenerator
    gen = GMCNNGenerator(4, "zero")
    gen.load_state_dict({k: v.float() for k, v in ck["gen"].items()})
    with pytest.raises(ProvenanceError, match="re-evaluates"):
        verify_metrics(gen, ck, str(run / "val"))


def test_a_step_without_a_logged_val_evaluation_is_refused(run, tmp_path):
    ck = load(run)
    ck["step"] = 1
    with pytest.raises(ProvenanceError, match="no val evaluation at step 1"):
        verify_run(stamp(ck), run / "run")


def test_precision_is_picked_by_detection(monkeypatch):
    import model.train as T
    cpu = torch.device("cpu")
    monkeypatch.setattr(T, "cpu_flags", lambda: {"avx2", "avx512f", "amx_bf16", "amx_tile"})
    assert resolve_precision("auto", "auto", cpu)[:2] == ("bf16", "on")
    # AVX512-BF16 (Zen 4/5) counts too, and a timing probe has the last word.
    monkeypatch.setattr(T, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16", "avx512_vnni"})
    assert resolve_precision("auto", "auto", cpu)[:2] == ("bf16", "on")
    slow_bf16 = {"fp32": 5.0, "bf16": 2.0}
    assert resolve_precision("auto", "auto", cpu, lambda p, cl: slow_bf16[p]) == ("fp32", "off", slow_bf16)
    fast_bf16 = {"fp32": 2.0, "bf16": 5.0}
    assert resolve_precision("auto", "auto", cpu, lambda p, cl: fast_bf16[p]) == ("bf16", "on", fast_bf16)
    monkeypatch.setattr(T, "cpu_flags", lambda: {"avx2", "fma"})
    never = lambda p, cl: pytest.fail("AVX2-only CPUs are not timed: bf16 is emulated there")  # noqa: E731
    assert resolve_precision("auto", "auto", cpu, never)[:2] == ("fp32", "off")
    assert resolve_precision("bf16", "off", cpu)[:2] == ("bf16", "off")
    with pytest.raises(SystemExit):
        resolve_precision("fp16", "auto", torch.device("cpu"))


def test_weights_are_stored_once_and_read_back_from_the_onnx(run, tmp_path):
    # The ONNX (fp16 weights) is the one stored copy: the generator rebuilt from it equals the checkpoint.
    import subprocess
    import sys
    from pathlib import Path
    gj = Path(__file__).resolve().parents[2] / "gpu-jobs"
    out = tmp_path / "m.onnx"
    m = {"psnr": 1.0, "ssim": 0.5, "hole_psnr": 1.0}
    (tmp_path / "t.json").write_text(json.dumps({"stage": "stage1", "data_recipe": "t", "train_images": 3, "steps": 2,
                                                 "batch": 2, "crop": 32, "lr": 1e-4, "losses": {}, "hardware": "t",
                                                 "wall_time_hours": 0, "random_vgg": False, "deviations": []}))
    (tmp_path / "m.json").write_text(json.dumps({"center": m, "freeform": m}))
    subprocess.run([sys.executable, "-m", "model.export", "--ckpt", str(run / "run" / "best_gen.pt"), "--out", str(out),
                    "--fp16-weights", "--training", str(tmp_path / "t.json"), "--metrics", str(tmp_path / "m.json")],
                   cwd=gj, check=True, capture_output=True)
    gen, man = generator_from_onnx(str(out))
    ck = load(run)
    assert gen.fill == "harmonic" and gen.cnum == 4 and man["architecture"]["fill"] == "harmonic"
    for k, v in gen.state_dict().items():
        assert torch.equal(v, ck["gen"][k].float()), k
