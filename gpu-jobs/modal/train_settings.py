"""Settings and pure helpers of the Modal training job (no `modal` or `torch` import: unit-tested).

The job spec is what `npx gmcnn train --remote` sends (shared/schemas/training-job.ts,
`TrainingJobSpec`); `validate_spec` checks it again on this side. The names below must match
gpu-jobs/launcher/modal.ts (TRAIN_APP, TRAIN_FUNCTION).
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath

APP_NAME = "gmcnn-train"
FUNCTION_NAME = "train"
VOLUME_NAME = "gmcnn-train"
VOLUME_MOUNT = "/vol"
DEFAULT_GPU = "L40S"
TIMEOUT_S = 24 * 3600          # Modal's per-call maximum; a longer run resumes on a new call
MAX_RETRIES = 2                # preemption / container loss: the retry resumes from last.pt
SYNC_EVERY_S = 300             # copy the run folder to the Volume and commit this often

DATA_TAR = f"{VOLUME_MOUNT}/data/pack.tar"  # `modal volume put gmcnn-train data/pack.tar /data/pack.tar`
LOCAL_DATA = "/tmp/data"                     # untarred here (local disk, fast): train/ and val/
LOCAL_RUNS = "/tmp/runs"                     # the trainer writes here; synced to <VOLUME_MOUNT>/runs/<run>
VOLUME_RUNS = f"{VOLUME_MOUNT}/runs"
WEIGHTS_DIR = f"{VOLUME_MOUNT}/weights"
VGG_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG_SHA256_PREFIX = "dcbb9e9d"  # torch.hub's convention: the file name carries the sha256 prefix

RUN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?$")
# Config keys the job owns: they point at this container's disk and the Volume.
JOB_KEYS = {"data", "val", "out", "init", "vgg_weights", "vgg_sha256", "random_vgg", "stage", "threads"}
SPEC_KEYS = {"run", "stage", "config", "init_run", "init", "steps", "max_minutes", "random_vgg", "export", "eval_n"}


class SpecError(ValueError):
    pass


def _scalar(v) -> bool:
    return isinstance(v, (int, float, str, bool)) and not (isinstance(v, float) and v != v)


def validate_spec(spec: dict) -> dict:
    """Check a job spec (the TS schema's rules, again) and fill defaults. Raises SpecError."""
    if not isinstance(spec, dict):
        raise SpecError("spec must be an object")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise SpecError(f"unknown spec keys: {sorted(unknown)}")
    run = spec.get("run")
    if not isinstance(run, str) or not RUN_RE.match(run):
        raise SpecError("run must match ^[a-z0-9][a-z0-9-]{0,62}$")
    stage = spec.get("stage", 2)
    if stage not in (1, 2):
        raise SpecError("stage must be 1 or 2")
    config = spec.get("config", {})
    if not isinstance(config, dict) or not all(isinstance(k, str) and _scalar(v) for k, v in config.items()):
        raise SpecError("config must be a flat object of numbers, strings and booleans")
    owned = sorted(k for k in config if k in JOB_KEYS and not k.startswith("_"))
    config = {k: v for k, v in config.items() if not k.startswith("_") and k not in JOB_KEYS}
    init_run, init = spec.get("init_run"), spec.get("init")
    if init_run is not None and (not isinstance(init_run, str) or not RUN_RE.match(init_run)):
        raise SpecError("init_run must be a run name")
    if init is not None and (not isinstance(init, str) or not _safe_rel(init)):
        raise SpecError("init must be a relative path inside the Volume (no '..')")
    if stage == 2 and not (init_run or init):
        raise SpecError("stage 2 starts from a stage-1 generator: give init_run (or init)")
    steps = spec.get("steps")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0):
        raise SpecError("steps must be a positive integer")
    max_minutes = spec.get("max_minutes", 0)
    if not isinstance(max_minutes, (int, float)) or isinstance(max_minutes, bool) or max_minutes < 0:
        raise SpecError("max_minutes must be >= 0")
    random_vgg = spec.get("random_vgg", False)
    if not isinstance(random_vgg, bool):
        raise SpecError("random_vgg must be a boolean")
    export = spec.get("export")
    if export is not None:
        if not isinstance(export, dict) or set(export) - {"name", "version"}:
            raise SpecError("export must be {name, version}")
        name, version = export.get("name", "gmcnn"), export.get("version")
        if not isinstance(name, str) or not re.match(r"^[a-z0-9-]+$", name):
            raise SpecError("export.name must match ^[a-z0-9-]+$")
        if not isinstance(version, str) or not VERSION_RE.match(version):
            raise SpecError("export.version must be a semantic version")
        export = {"name": name, "version": version}
    eval_n = spec.get("eval_n", 100)
    if not isinstance(eval_n, int) or isinstance(eval_n, bool) or not 1 <= eval_n <= 1000:
        raise SpecError("eval_n must be an integer in 1..1000")
    return {"run": run, "stage": stage, "config": config, "ignored_config_keys": owned, "init_run": init_run,
            "init": init, "steps": steps, "max_minutes": float(max_minutes), "random_vgg": random_vgg,
            "export": export, "eval_n": eval_n}


def _safe_rel(p: str) -> bool:
    pp = PurePosixPath(p)
    return bool(p) and not pp.is_absolute() and ".." not in pp.parts


def init_path(spec: dict) -> str | None:
    """Where the stage-2 starting generator lies on the Volume."""
    if spec["init"]:
        return f"{VOLUME_MOUNT}/{spec['init']}"
    if spec["init_run"]:
        return f"{VOLUME_RUNS}/{spec['init_run']}/best_gen.pt"
    return None


def trainer_config(spec: dict, vgg_path: str | None, threads: int = 8) -> dict:
    """The JSON config the trainer gets: the spec's config, then the job's own paths."""
    cfg = dict(spec["config"])
    cfg.update(stage=spec["stage"], data=f"{LOCAL_DATA}/train", val=f"{LOCAL_DATA}/val",
               out=f"{LOCAL_RUNS}/{spec['run']}", threads=threads)
    if spec["steps"]:
        cfg["steps"] = spec["steps"]
    if spec["max_minutes"]:
        cfg["max_minutes"] = spec["max_minutes"]
    ip = init_path(spec)
    if ip:
        cfg["init"] = ip
    if spec["stage"] == 2:
        if spec["random_vgg"]:
            cfg["random_vgg"] = True
        else:
            cfg["vgg_weights"], cfg["vgg_sha256"] = vgg_path, VGG_SHA256_PREFIX
    return cfg


def trainer_argv(config_path: str) -> list[str]:
    """Always --resume: a retried or re-spawned call with the same run name continues."""
    return ["-m", "model.train", "--config", config_path, "--resume"]


def export_checkpoint(stage: int) -> str:
    """Stage 1 ships the best held-out generator; stage 2 the latest (a GAN trades PSNR for texture)."""
    return "best_gen.pt" if stage == 1 else "last_gen.pt"


# What each generator fill (gpu-jobs/model/generator.py) changes against the paper, for manifests.
FILL_DEVIATIONS = {
    "zero": "none",
    "pushpull": "fill=pushpull: the hole is pre-filled by a mask-weighted pyramid and the network predicts a "
    "residual (last conv initialised at 0.05 x glorot); the paper feeds zeros",
    "pushpull-harmonic": "fill=pushpull-harmonic: the hole is pre-filled by a mask-weighted pyramid relaxed by "
    "100 harmonic (3x3 mean) steps, and the network predicts a residual over it (last conv initialised at "
    "0.05 x glorot); the paper feeds zeros",
    "harmonic": "fill=harmonic: the hole is pre-filled by the converged harmonic interpolation of its border "
    "(conjugate gradients on the 4-neighbour Laplace equation, in the ONNX graph) and the network predicts a "
    "residual over it (last conv initialised at 0.05 x glorot); the paper feeds zeros",
}


def recipe(cfg: dict, fill: str) -> tuple[dict, list[str]]:
    """The stage-1 loss weights and the recipe's deviations from the paper, for a manifest."""
    weights, norm = cfg.get("recon_weights", "confidence"), cfg.get("recon_norm", "l1")
    hole = "confidence_recon" if (weights, norm) == ("confidence", "l1") else f"hole_{norm.replace('+', '_')}_{weights}"
    losses = {hole: float(cfg.get("recon_w", 1.68)), "known_l1": float(cfg.get("ae_w", 1.44))}
    notes = [FILL_DEVIATIONS[fill]]
    if fill != "zero":
        notes.append("the residual is masked to the hole (pred = fill + M x residual), so the known-region L1 "
                     "never sees it (it shrank every layer to zero output otherwise)")
    if weights == "uniform":
        notes.append("hole loss weights every hole pixel alike (the paper: confidence-driven weights)")
    if norm != "l1":
        notes.append(f"hole loss {norm} (the paper: L1)")
    if cfg.get("train_short"):
        notes.append(f"training images downscaled to a {cfg['train_short']}-px shorter side (the val/test scale)")
    if cfg.get("ema"):
        notes.append(f"shipped weights: an exponential moving average of the training weights (decay {cfg['ema']})")
    return losses, notes


def training_block(cfg: dict, counts: dict, steps: int, hours: float, hardware: str, fill: str) -> dict:
    """The manifest's `training` object (shared/schemas/manifest.ts) for a run of this job."""
    stage2 = int(cfg.get("stage", 1)) == 2
    ae = float(cfg.get("ae_w", 1.44)) * (float(cfg.get("ae_stage2_factor", 2.0)) if stage2 else 1.0)
    losses, deviations = recipe(cfg, fill)
    losses["known_l1"] = ae
    deviations += [
        "per-sample masks (the official code shares one mask per batch)",
        "RGB channel order (the official TF code is BGR)",
    ]
    if stage2:
        losses.update(id_mrf=float(cfg.get("mrf_w", 0.07)), adversarial=float(cfg.get("adv_w", 1e-3)),
                      gp_lambda=float(cfg.get("gp_lambda", 10.0)))
        deviations += [
            f"ID-MRF direction: {cfg.get('mrf_direction', 'code')}; VGG19 input normalisation: "
            f"{cfg.get('vgg_input', 'torchvision')} (torchvision ImageNet weights, average pooling)",
            "local critic on rectangle samples' bbox crops and masked patch critic on stroke samples in one batch",
        ]
        if not cfg.get("d_fresh_batch", True):
            deviations.append("one batch per step for all critic updates (the PyTorch port's scheme)")
        if cfg.get("mrf_features", "vgg") == "critic":
            deviations.append("ID-MRF computed on the local critic's conv features at VGG19's conv3_2/conv4_2 "
                              "strides (the paper: a trained VGG19)")
        elif cfg.get("random_vgg"):
            deviations.append("ID-MRF computed on an untrained (random-init) VGG19")
        if int(cfg.get("d_cnum", 64)) != 64:
            deviations.append(f"critics {cfg['d_cnum']} channels wide at the first layer (the paper: 64)")
    return {
        "stage": "stage2" if stage2 else "stage1",
        "data_recipe": "python3 -m model.dataset --pack (Debian texture and wallpaper packages), "
                       "pack.tar on the Modal Volume",
        "train_images": int(counts.get("train", 0)),
        "val_images": int(counts.get("val", 0)),
        "steps": int(steps),
        "batch": int(cfg.get("batch", 6)),
        "crop": int(cfg.get("crop", 128)),
        "lr": float(cfg.get("lr", 1e-4)),
        "losses": losses,
        "hardware": hardware,
        "wall_time_hours": round(float(hours), 3),
        "random_vgg": bool(stage2 and cfg.get("random_vgg", False)),
        "deviations": deviations,
    }
