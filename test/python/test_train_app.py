"""The Modal training job's pure helpers (gpu-jobs/modal/train_settings.py): spec checks, the
trainer config it writes, and the manifest's training block (validated against the JSON Schema
exported from shared/schemas/manifest.ts). The Modal function itself needs Modal's cloud and is
not run here.

    PYTHONPATH=gpu-jobs /usr/bin/python3 -m pytest test/python/test_train_app.py -q
"""
from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "gpu-jobs" / "modal"))
import train_settings as S  # noqa: E402

from model.train import Config  # noqa: E402


def gpu_config() -> dict:
    return json.loads((ROOT / "gpu-jobs/configs/stage2-gpu.json").read_text())


def test_validate_spec_fills_defaults_and_drops_job_keys():
    spec = S.validate_spec({"run": "s2-a", "init_run": "s1-a", "config": gpu_config()})
    assert spec["stage"] == 2 and spec["random_vgg"] is False and spec["eval_n"] == 100 and spec["export"] is None
    assert "vgg_weights" not in spec["config"] and "out" not in spec["config"] and "_about" not in spec["config"]
    assert set(spec["ignored_config_keys"]) >= {"vgg_weights", "out", "data", "init", "stage"}
    assert spec["config"]["crop"] == 256


@pytest.mark.parametrize("bad,msg", [
    ({"run": "Bad Name"}, "run"),
    ({"run": "a", "stage": 3}, "stage"),
    ({"run": "a", "stage": 2}, "stage-1 generator"),
    ({"run": "a", "stage": 1, "steps": 0}, "steps"),
    ({"run": "a", "stage": 1, "config": {"lr": [1]}}, "config"),
    ({"run": "a", "stage": 2, "init": "../etc/passwd"}, "init"),
    ({"run": "a", "stage": 1, "export": {"version": "one"}}, "version"),
    ({"run": "a", "stage": 1, "surprise": 1}, "unknown"),
])
def test_validate_spec_refuses(bad, msg):
    with pytest.raises(S.SpecError, match=msg):
        S.validate_spec(bad)


def test_trainer_config_points_at_the_container_and_the_volume():
    spec = S.validate_spec({"run": "s2-a", "init_run": "s1-a", "config": gpu_config(), "steps": 500})
    cfg = S.trainer_config(spec, "/vol/weights/vgg19-dcbb9e9d.pth")
    assert cfg["out"] == "/tmp/runs/s2-a" and cfg["data"] == "/tmp/data/train" and cfg["val"] == "/tmp/data/val"
    assert cfg["init"] == "/vol/runs/s1-a/best_gen.pt" and cfg["steps"] == 500 and cfg["stage"] == 2
    assert cfg["vgg_weights"].endswith("vgg19-dcbb9e9d.pth") and cfg["vgg_sha256"] == "dcbb9e9d"
    known = {f.name for f in fields(Config)}
    assert set(cfg) <= known, set(cfg) - known  # the trainer refuses unknown keys
    rnd = S.trainer_config(S.validate_spec({"run": "r", "init": "runs/x/gen.pt", "random_vgg": True}), None)
    assert rnd["random_vgg"] is True and "vgg_weights" not in rnd and rnd["init"] == "/vol/runs/x/gen.pt"
    s1 = S.trainer_config(S.validate_spec({"run": "s1", "stage": 1}), None)
    assert s1["stage"] == 1 and "init" not in s1 and "random_vgg" not in s1
    assert S.trainer_argv("/tmp/runs/s1/job-config.json")[-1] == "--resume"
    assert S.export_checkpoint(1) == "best_gen.pt" and S.export_checkpoint(2) == "last_gen.pt"


def test_training_block_matches_the_manifest_schema():
    schema = json.loads((ROOT / "shared/schema/model-manifest.schema.json").read_text())["properties"]["training"]
    spec = S.validate_spec({"run": "s2-a", "init_run": "s1-a", "config": gpu_config(), "random_vgg": True})
    cfg = S.trainer_config(spec, None)
    block = S.training_block(cfg, {"train": 1710, "val": 190}, 1234, 2.5, "Modal, 1x NVIDIA L40S", "pushpull")
    jsonschema.validate(block, schema)
    assert block["stage"] == "stage2" and block["random_vgg"] is True
    assert block["losses"]["known_l1"] == pytest.approx(2.88) and block["losses"]["id_mrf"] == pytest.approx(0.07)
    assert any("untrained" in d for d in block["deviations"])
    cpu2 = S.training_block({**cfg, "mrf_features": "critic", "d_cnum": 32}, {}, 10, 0.1, "cpu", "harmonic")
    jsonschema.validate(cpu2, schema)
    assert any("local critic's conv features" in d for d in cpu2["deviations"])
    assert not any("untrained" in d for d in cpu2["deviations"])  # no VGG19 at all, random or not
    assert any("32 channels" in d for d in cpu2["deviations"])
    s1 = S.training_block({"stage": 1, "random_vgg": True}, {}, 10, 0.1, "cpu", "zero")
    jsonschema.validate(s1, schema)
    assert s1["stage"] == "stage1" and s1["random_vgg"] is False and s1["losses"]["known_l1"] == pytest.approx(1.44)


def test_names_match_the_typescript_launcher():
    ts = (ROOT / "gpu-jobs/launcher/modal.ts").read_text()
    assert f'TRAIN_APP = "{S.APP_NAME}"' in ts and f'TRAIN_FUNCTION = "{S.FUNCTION_NAME}"' in ts
    schema_ts = (ROOT / "shared/schemas/training-job.ts").read_text()
    for key in S.JOB_KEYS:
        assert f'"{key}"' in schema_ts, key
