"""GMCNN training on a Modal GPU: the same trainer as `npx gmcnn train`, with a Volume for the data,
the VGG19 weights and the checkpoints, then ONNX + manifest export at the end.

One-time setup (Modal's Python SDK >= 1.2, so that the JS SDK can call the function):

    modal volume create gmcnn-train
    modal volume put gmcnn-train data/pack.tar /data/pack.tar      # python3 -m model.dataset --pack
    modal deploy gpu-jobs/modal/train_app.py

Then `npx gmcnn train --remote --config gpu-jobs/configs/stage2-gpu.json --run s2-a --init-run s1-a`
spawns `train(spec)` (spec: shared/schemas/training-job.ts) and prints the call id;
`--status ID` polls it and `--cancel ID` cancels it. From Python: `modal run
gpu-jobs/modal/train_app.py --run s1-a --stage 1 --config configs/stage1-gpu.json` (see `main`).

Volume layout: /data/pack.tar (train/ + val/), /weights/vgg19-dcbb9e9d.pth (downloaded once,
sha256-checked), /runs/<run>/ (config, log.jsonl, last.pt with generator + critics + optimisers,
best_gen.pt, last_gen.pt, samples/, export/<name>.onnx + manifest). The trainer writes to local
disk; the run folder is copied to the Volume and committed every SYNC_EVERY_S seconds and at the
end, so a retried or re-spawned call with the same run name resumes from the last copy.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import modal

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import train_settings as S  # noqa: E402

REMOTE_ROOT = "/root/gpu-jobs"

image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("torch==2.5.1", "numpy==1.26.4", "pillow==11.0.0", "opencv-python-headless==4.10.0.84",
                 "scipy==1.14.1", "onnx==1.17.0")
    .add_local_file(HERE / "train_settings.py", "/root/train_settings.py")
    .add_local_dir(HERE.parent / "model", f"{REMOTE_ROOT}/model", ignore=["__pycache__", "*.pyc"])
    .add_local_dir(HERE.parent / "configs", f"{REMOTE_ROOT}/configs")
)
app = modal.App(S.APP_NAME, image=image)
volume = modal.Volume.from_name(S.VOLUME_NAME, create_if_missing=True)


def log(msg: str) -> None:
    print(f"[gmcnn-train] {msg}", flush=True)


def unpack_data() -> dict:
    """pack.tar from the Volume to local disk (once per container). Returns image counts."""
    dest = Path(S.LOCAL_DATA)
    if not (dest / "train").is_dir():
        if not Path(S.DATA_TAR).is_file():
            raise RuntimeError(f"{S.DATA_TAR} missing: modal volume put {S.VOLUME_NAME} data/pack.tar /data/pack.tar")
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(S.DATA_TAR) as tar:
            tar.extractall(dest, filter="data")
    return {"train": len(list((dest / "train").glob("*"))), "val": len(list((dest / "val").glob("*.png")))}


def fetch_vgg() -> str:
    """torchvision's ImageNet VGG19 on the Volume, downloaded once and checked against its sha256 prefix."""
    sys.path.insert(0, REMOTE_ROOT)
    from model.vgg import check_sha256

    path = Path(S.WEIGHTS_DIR) / Path(S.VGG_URL).name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        log(f"downloading {S.VGG_URL}")
        urllib.request.urlretrieve(S.VGG_URL, tmp)
        check_sha256(tmp, S.VGG_SHA256_PREFIX)
        os.replace(tmp, path)
        volume.commit()
    digest = check_sha256(path, S.VGG_SHA256_PREFIX)
    log(f"VGG19 weights {path} sha256 {digest}")
    return str(path)


def sync(src: Path, dst: Path) -> None:
    """Copy new or changed files of the run folder to the Volume (atomic per file), then commit."""
    for f in src.rglob("*"):
        if not f.is_file() or f.suffix in (".tmp", ".part"):
            continue
        g = dst / f.relative_to(src)
        st = f.stat()
        if g.is_file() and g.stat().st_size == st.st_size and g.stat().st_mtime >= st.st_mtime:
            continue
        g.parent.mkdir(parents=True, exist_ok=True)
        tmp = g.with_name(g.name + ".part")
        shutil.copy2(f, tmp)
        os.replace(tmp, g)
    try:
        volume.commit()
    except Exception as e:  # a failed commit must not kill a long run; the next one retries
        log(f"volume commit failed: {e}")


def last_step(run: Path) -> int:
    step = 0
    logf = run / "log.jsonl"
    if logf.is_file():
        for line in logf.read_text().splitlines():
            try:
                step = max(step, int(json.loads(line).get("step", 0)))
            except (ValueError, AttributeError):
                pass
    return step


def gpu_name() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, check=True).stdout.strip().splitlines()[0]
    except Exception:
        return "unknown GPU"


def run_trainer(cfg_path: Path, run_local: Path, run_vol: Path) -> int:
    proc = subprocess.Popen([sys.executable, *S.trainer_argv(str(cfg_path))], cwd=REMOTE_ROOT)
    next_sync = time.time() + S.SYNC_EVERY_S
    while proc.poll() is None:
        time.sleep(5)
        if time.time() >= next_sync:
            sync(run_local, run_vol)
            next_sync = time.time() + S.SYNC_EVERY_S
    return proc.returncode


def export(spec: dict, cfg: dict, run_local: Path, counts: dict, hours: float) -> dict:
    """Held-out eval, then ONNX (fp16 weights) + manifest into <run>/export/."""
    ckpt = run_local / S.export_checkpoint(spec["stage"])
    out = run_local / "export"
    out.mkdir(exist_ok=True)
    name, version = spec["export"]["name"], spec["export"]["version"]
    subprocess.run([sys.executable, "-m", "model.evaluate", "--model", f"{name}={ckpt}", "--images",
                    f"{S.LOCAL_DATA}/val", "--n", str(spec["eval_n"]), "--json", str(out / "eval.json")],
                   cwd=REMOTE_ROOT, check=True)
    res = json.loads((out / "eval.json").read_text())
    metrics = {"split": "val", "val_images": res["_n"], "center": res["center"][name], "freeform": res["freeform"][name]}
    fill = json.loads((run_local / "config.json").read_text()).get("fill", "pushpull")
    training = S.training_block(cfg, counts, last_step(run_local), hours, f"Modal, 1x {gpu_name()}", fill)
    (out / "training.json").write_text(json.dumps(training, indent=2))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    onnx = out / f"{name}.onnx"
    subprocess.run([sys.executable, "-m", "model.export", "--ckpt", str(ckpt), "--out", str(onnx), "--fp16-weights",
                    "--name", name, "--version", version, "--training", str(out / "training.json"),
                    "--metrics", str(out / "metrics.json")], cwd=REMOTE_ROOT, check=True)
    return {"onnx": f"runs/{spec['run']}/export/{onnx.name}",
            "manifest": f"runs/{spec['run']}/export/{onnx.stem}.manifest.json", "metrics": metrics}


@app.function(gpu=S.DEFAULT_GPU, volumes={S.VOLUME_MOUNT: volume}, timeout=S.TIMEOUT_S, cpu=8.0, memory=32768,
              retries=modal.Retries(max_retries=S.MAX_RETRIES, initial_delay=10.0, backoff_coefficient=2.0))
def train(spec: dict) -> dict:
    """Run one training job (stage 1 or 2) to its configured steps; returns a JSON-able summary."""
    spec = S.validate_spec(spec)
    if spec["ignored_config_keys"]:
        log(f"config keys set by the job, ignored from the spec: {spec['ignored_config_keys']}")
    t0 = time.time()
    counts = unpack_data()
    ip = S.init_path(spec)
    if ip and not Path(ip).is_file():
        raise RuntimeError(f"starting generator {ip} not on the Volume")
    vgg = fetch_vgg() if spec["stage"] == 2 and not spec["random_vgg"] else None
    run_local, run_vol = Path(S.LOCAL_RUNS) / spec["run"], Path(S.VOLUME_RUNS) / spec["run"]
    if run_vol.is_dir() and not run_local.is_dir():
        shutil.copytree(run_vol, run_local)  # resume what an earlier call left
        log(f"restored {run_vol} (step {last_step(run_local)})")
    run_local.mkdir(parents=True, exist_ok=True)
    cfg = S.trainer_config(spec, vgg, threads=min(8, os.cpu_count() or 8))
    cfg_path = run_local / "job-config.json"
    cfg_path.write_text(json.dumps(cfg, indent=2))
    (run_local / "job-spec.json").write_text(json.dumps(spec, indent=2))
    rc = run_trainer(cfg_path, run_local, run_vol)
    timing = run_local / "job-time.json"
    hours = (json.loads(timing.read_text())["hours"] if timing.is_file() else 0.0) + (time.time() - t0) / 3600
    timing.write_text(json.dumps({"hours": hours}))
    sync(run_local, run_vol)
    if rc != 0:
        raise RuntimeError(f"trainer exited with status {rc}; see runs/{spec['run']}/log.jsonl on the Volume")
    result = {"run": spec["run"], "stage": spec["stage"], "step": last_step(run_local), "hours": round(hours, 3),
              "random_vgg": bool(spec["stage"] == 2 and spec["random_vgg"]), "checkpoint":
              f"runs/{spec['run']}/{S.export_checkpoint(spec['stage'])}"}
    if spec["export"]:
        result.update(export(spec, cfg, run_local, counts, hours))
        sync(run_local, run_vol)
    return result


@app.local_entrypoint()
def main(run: str, stage: int = 2, config: str = "configs/stage2-gpu.json", init_run: str = "", steps: int = 0,
         random_vgg: bool = False, version: str = "", wait: bool = False) -> None:
    """`modal run gpu-jobs/modal/train_app.py --run NAME [...]`: spawn (or, with --wait, run) a job."""
    spec = {"run": run, "stage": stage, "config": json.loads((HERE.parent / config).read_text()),
            "random_vgg": random_vgg}
    if init_run:
        spec["init_run"] = init_run
    if steps:
        spec["steps"] = steps
    if version:
        spec["export"] = {"name": "gmcnn", "version": version}
    S.validate_spec(spec)
    if wait:
        print(json.dumps(train.remote(spec), indent=2))
    else:
        call = train.spawn(spec)
        print(call.object_id)
