"""The GPU rental, rehearsed on CPU: the one command (gpu-train.sh) runs end to end with tiny
settings, and what it would carry and bring back fits the device tool's limits (model.rental)."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import onnx
from PIL import Image

from model import rental
from model.train import BF16_FLAGS, cpu_flags

ROOT = Path(__file__).resolve().parents[2]


def tiny_pack(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    src = tmp / "src"
    (src / "train").mkdir(parents=True)
    (src / "val").mkdir()
    for i in range(4):
        Image.fromarray((rng.random((48, 48, 3)) * 255).astype(np.uint8)).save(src / "train" / f"t{i}.jpg")
    # One val image: the val check runs the 256-iteration CG fill at 256x256, the rehearsal's main cost.
    Image.fromarray((rng.random((256, 256, 3)) * 255).astype(np.uint8)).save(src / "val" / "v0.png")
    pack = tmp / "pack.tar"
    with tarfile.open(pack, "w") as t:
        t.add(src / "train", arcname="train")
        t.add(src / "val", arcname="val")
    return pack


def test_the_gpu_command_runs_end_to_end_on_cpu_and_its_output_fits_the_rental(tmp_path):
    dest = tmp_path / "OUT"
    env = dict(os.environ, ALLOW_CPU="1", PYTHON=sys.executable, WORK=str(tmp_path / "work"))
    r = subprocess.run(["bash", str(ROOT / "gpu-jobs/scripts/gpu-train.sh"), "--pack", str(tiny_pack(tmp_path)),
                        "--dest", str(dest), "--minutes", "3", "--cnum", "4", "--crop", "32", "--batch1", "2",
                        "--batch2", "2", "--steps-cap", "2", "--selftest-seconds", "1"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = rental.return_report(dest)
    assert report["ok"], report["problems"]
    summary = json.loads((dest / "summary.json").read_text())
    assert summary["selftest"]["cuda"] is False and summary["random_vgg"] is True
    # What came back rebuilds into the checkpoints and a valid ONNX model.
    subprocess.run(["tar", "-xzf", "results.tar.gz"], cwd=dest, check=True)
    subprocess.run(["bash", "join.sh"], cwd=dest, check=True, capture_output=True)
    onnx.checker.check_model(onnx.load(str(dest / "gmcnn.onnx")))
    logs = [json.loads(x) for x in (dest / "stage2-gpu" / "log.jsonl").read_text().splitlines()]
    assert any("d_total" in x for x in logs) and any("eval" in x for x in logs)
    cfg = json.loads((dest / "stage1-gpu" / "config.json").read_text())
    assert cfg["fill"] == "harmonic"
    # Precision is picked on the host (train.resolve_precision): fp32 without bf16 units; with
    # amx_bf16 or avx512_bf16, whichever the timing probe measured faster. The run's start line
    # records what it saw and measured, so the choice is checked against that, not hard-coded.
    starts = [json.loads(x) for x in (dest / "stage1-gpu" / "log.jsonl").read_text().splitlines() if '"start"' in x]
    start = starts[-1]
    assert start["bf16_flags"] == [f for f in BF16_FLAGS if f in cpu_flags()]
    assert cfg["precision"] == start["precision"]
    if not start["bf16_flags"]:
        assert (cfg["precision"], start["probe_img_s"]) == ("fp32", {})
    else:
        rates = start["probe_img_s"]
        assert set(rates) == {"fp32", "bf16"} and all(r > 0 for r in rates.values()), rates
        assert cfg["precision"] == max(rates, key=rates.get), rates
    assert cfg["channels_last"] == ("on" if cfg["precision"] == "bf16" else "off")


def test_what_travels_to_a_rental_fits_64_mib():
    t = rental.travel_report([])
    assert t["ok"], f"{t['total_bytes'] / 2**20:.1f} MiB would travel: {t['largest']}"


def test_the_return_check_catches_what_would_not_come_back(tmp_path):
    for i in range(9):
        (tmp_path / f"f{i}").write_bytes(b"x")
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "x.txt").write_text("x")
    r = rental.return_report(tmp_path)
    assert not r["ok"]
    assert any("files" in p for p in r["problems"]) and any("folders deep" in p for p in r["problems"])
