"""GMCNN trainer. Stage 1: confidence-driven reconstruction + known-region L1. Stage 2 (`stage: 2`,
see stage2.py and docs/training.md): ID-MRF + WGAN-GP with global and local critics, starting
from a stage-1 generator (`init`).

    python3 -m model.train --config configs/stage1-cpu.json [--steps N] [--threads 2] [--resume]
    python3 -m model.train --config configs/stage2-cpu.json --init ../runs/stage1-cpu/best_gen.pt \
        [--vgg-weights vgg19-dcbb9e9d.pth | --random-vgg]

Config file (JSON) first, then flags override. Checkpoints hold generator, optimiser, step and the
RNG state, so `--resume` continues exactly. Runs unchanged on CUDA when one is present.
Logs: a JSON line per `log_every` steps in <out>/log.jsonl, a progress bar on stderr. Stage 2
also saves the critics and their optimiser in last.pt, the latest generator in last_gen.pt at each
eval, and sample grids (input | output | truth) every `sample_every` steps in <out>/samples/.
"""
from __future__ import annotations

import argparse
import copy
import glob
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from .generator import GMCNNGenerator
from .losses import recon_weights, stage1_losses
from .masks import sample_mask
from .evaluate import grid_mean, quick_eval, selection_score, sharpness_score
from .provenance import generator_from_onnx, stamp


@dataclass
class Config:
    data: str = "../data/train"
    val: str = "../data/val"   # the val split: checkpoint selection and early stopping (never test)
    val_photos: str = ""       # val photographs (model.dataset's val-photos/): each val check also
                               # scores them (`photos`), and stage 2 chooses only checkpoints that stay
                               # above their pre-fill there on both mask kinds, with a grid <= grid_max
    out: str = "../runs/stage1"
    init: str = ""             # start weights from this generator checkpoint (weights only)
    committed: str = ""        # the run's committed generator checkpoint: --resume continues from it
                               # (weights, step, best) when <out>/last.pt is not there (fresh clone)
    cnum: int = 32
    upsample: str = "tf"       # "tf" (official) | "smooth" (half-pixel bilinear: generator.UPSAMPLES)
    fill: str = "harmonic"     # "zero" = the paper; "harmonic" = residual over the converged
                               # (multigrid) harmonic fill; "pushpull"/"pushpull-harmonic" = older fills
    crop: int = 128
    rotate: float = 0.0        # rotate each training crop by an angle uniform in +-rotate degrees
                               # (reflected borders; 0 = off): game textures are axis-aligned
    train_short: int = 0       # downscale training images to this shorter side at load (0 = as stored,
                               # <= 512): 256 shows crops at the scale of the 256x256 val/test images
    batch: int = 6
    steps: int = 1000
    lr: float = 1e-4
    warmup: int = 100
    beta1: float = 0.5
    beta2: float = 0.9
    recon_w: float = 1.68
    ae_w: float = 1.44
    recon_weights: str = "confidence"  # confidence (the paper's Mw over the rect's bbox) | uniform (mean over the hole)
    recon_norm: str = "l1"     # l1 (the paper) | l2 | l1+l2 (see losses.stage1_losses)
    rect_ratio: float = 0.5
    box_frac: float = 0.5
    hsize: int = 64
    iters: int = 7
    seed: int = 2018
    threads: int = 0           # 0 = every core (os.cpu_count())
    log_every: int = 10
    ckpt_every: int = 100
    eval_every: int = 200
    eval_n: int = 24
    ema: float = 0.0           # decay of an exponential moving average of the generator's weights, which
                               # val checks, best_gen.pt and shipping use (0 = off): batches of 2
                               # make single-step weights noisy
    max_minutes: float = 0.0   # stop cleanly after this wall time (0 = no limit)
    precision: str = "auto"    # auto | fp32 | bf16: auto = bf16 autocast where the CPU has AMX (or CUDA)
    channels_last: str = "auto"  # auto | on | off: auto = on with bf16 (measured win with AMX)
    # --- stage 2 (ignored in stage 1; defaults = the official TF code, gmcnn.md §2-§5) ---
    stage: int = 1             # 1 = reconstruction only; 2 = + ID-MRF + WGAN-GP (needs init or resume)
    vgg_weights: str = ""      # torchvision vgg19 state dict (vgg19-dcbb9e9d.pth)
    vgg_sha256: str = "dcbb9e9d"  # full sha256 of vgg_weights or a >= 8-digit prefix
    random_vgg: bool = False   # seeded untrained VGG19 instead of vgg_weights (recorded in manifests)
    vgg_input: str = "torchvision"  # VGG input normalisation: torchvision | caffe (see vgg.py)
    mrf_w: float = 0.07        # ID-MRF weight (1.4 x 0.05 in TF); 0 = no VGG at all
    mrf_features: str = "vgg"  # vgg (the paper: VGG19 conv3_2/conv4_2) | critic (the local critic's
                               # convs at the same strides: stage2.CriticFeatures)
    mrf_direction: str = "code"  # code (the TF code's roles) | paper
    mrf_max_1d: int = 65       # feature maps above 65x65 positions are randomly sampled to 65^2
    adv_w: float = 1e-3        # weight of -(D_global + D_local) in the generator loss
    ae_stage2_factor: float = 2.0  # the TF GAN stage adds the known-region L1 twice
    gp_lambda: float = 10.0
    psnr_drop: float = 0.3     # stage 2 picks the sharpest val checkpoint within this many dB of the init's
    psnr_floor: float = 0.0    # ... i.e. this val score (set at the start from the init's metrics)
    grid_max: float = 0.0      # ... and whose val grid (metrics.grid_score, mean of both kinds) stays
                               # at or below this (0 = unchecked): sharpness also rewards a stride grid
    n_critic: int = 5
    d_lr: float = 0.0          # critic lr; 0 = same as lr (TF shares one Adam setting)
    d_cnum: int = 64
    d_blur: bool = False       # critics low-pass before each stride-2 conv (critics.blur3); tried
                               # against the stage-2 grid, it did not remove it (README)
    d_fresh_batch: bool = True  # new batch per critic update (TF); False = one batch per step (PyTorch port)
    sample_every: int = 0      # write a sample grid every N steps (0 = never)
    sample_n: int = 6


def load_config(path: str | None, overrides: dict) -> Config:
    cfg = Config()
    if path:
        for k, v in json.loads(Path(path).read_text()).items():
            if k.startswith("_"):
                continue
            if not hasattr(cfg, k):
                raise SystemExit(f"unknown config key: {k}")
            setattr(cfg, k, v)
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    for k in ("log_every", "eval_every", "ckpt_every"):  # every N steps: 0 would divide by zero mid-run
        if getattr(cfg, k) < 1:
            raise SystemExit(f"{k} must be at least 1, got {getattr(cfg, k)}")
    return cfg


class Images:
    """All training images in memory as uint8 arrays; random crops per sample."""

    def __init__(self, folder: str, crop: int, short: int = 0, rotate: float = 0.0):
        paths = sorted(Path(folder).glob("*.jpg")) + sorted(Path(folder).glob("*.png"))
        if not paths:
            raise SystemExit(f"no training images in {folder}: run `python3 -m model.dataset` first")
        self.crop, self.rotate = crop, rotate
        self.arrays = []
        for p in paths:
            im = Image.open(p).convert("RGB")
            if short and min(im.size) > short:
                f = short / min(im.size)
                im = im.resize((max(crop, round(im.width * f)), max(crop, round(im.height * f))), Image.LANCZOS)
            if min(im.size) < crop:
                f = crop / min(im.size)
                im = im.resize((math.ceil(im.width * f), math.ceil(im.height * f)), Image.BICUBIC)
            self.arrays.append(np.asarray(im))

    def batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        out = np.empty((n, self.crop, self.crop, 3), np.uint8)
        for i in range(n):
            a = self.arrays[int(rng.integers(len(self.arrays)))]
            y = int(rng.integers(0, a.shape[0] - self.crop + 1))
            x = int(rng.integers(0, a.shape[1] - self.crop + 1))
            out[i] = a[y:y + self.crop, x:x + self.crop]
            if self.rotate:
                out[i] = rotated(out[i], float(rng.uniform(-self.rotate, self.rotate)))
        return out


def rotated(img: np.ndarray, degrees: float) -> np.ndarray:
    """img turned about its centre, same size; corners filled by reflection (no flat wedges for
    the critics to learn as a tell)."""
    h, w = img.shape[:2]
    rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(img, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


class Bar:
    def __init__(self, total: int, start: int):
        self.total, self.start, self.t0 = total, start, time.time()
        self.tty = sys.stderr.isatty()

    def update(self, step: int, text: str) -> None:
        done = step - self.start
        el = time.time() - self.t0
        eta = el / max(done, 1) * (self.total - step)
        frac = step / max(self.total, 1)
        bar = "#" * int(frac * 30)
        line = f"[{bar:<30}] {step}/{self.total} {text} eta {eta / 60:.1f}m"
        if self.tty:
            sys.stderr.write("\r" + line)
        elif done % 50 == 0 or step == self.total:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def save_ckpt(path: Path, gen, opt, step: int, cfg: Config, rng: np.random.Generator, extra: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"gen": gen.state_dict(), "opt": opt.state_dict(), "step": step, "config": asdict(cfg),
                "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), **extra}, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint


def save_generator(path: Path, gen, cfg: Config, step: int, metrics: dict) -> None:
    """Generator weights only, fp16: what gets committed (about 24 MB at cnum=32)."""
    sd = {k: v.detach().half().cpu().contiguous() for k, v in gen.state_dict().items()}
    ck = stamp({"gen": sd, "cnum": cfg.cnum, "fill": cfg.fill, "step": step, "metrics": metrics,
                "config": asdict(cfg)})
    tmp = path.with_suffix(".tmp")
    torch.save(ck, tmp)
    os.replace(tmp, path)


def load_generator(path: str, device="cpu") -> tuple[GMCNNGenerator, dict]:
    """A generator from a checkpoint written by save_generator, or from a shipped ONNX file."""
    if str(path).endswith(".onnx"):
        gen, man = generator_from_onnx(path)
        return gen.to(device), {"cnum": gen.cnum, "fill": gen.fill, "manifest": man}
    ck = torch.load(path, map_location=device)
    gen = GMCNNGenerator(ck.get("cnum", ck.get("config", {}).get("cnum", 32)),
                         ck.get("fill", ck.get("config", {}).get("fill", "zero")),
                         upsample=ck.get("upsample", ck.get("config", {}).get("upsample", "tf")))
    gen.load_state_dict({k: v.float() for k, v in ck["gen"].items()})
    return gen.to(device), ck


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # bf16 units: AMX tiles (Xeon) or AVX512-BF16 dot products (Zen 4/5)


def resolve_precision(precision: str, channels_last: str, device, probe=None) -> tuple[str, str, dict]:
    """bf16 autocast only where it is fast: CUDA with bf16, or a CPU with bf16 units (AMX: 3.3 vs
    0.28 TFLOP/s; AVX512-BF16 on Zen 5: 2.9x fp32 per training step, both measured), confirmed by
    timing `probe(precision, channels_last) -> img/s` when given. On AVX2-only CPUs bf16 is emulated
    and slower than fp32, so auto picks fp32 there without timing. Returns the choice and the rates."""
    if precision not in ("auto", "fp32", "bf16") or channels_last not in ("auto", "on", "off"):
        raise SystemExit(f"precision must be auto|fp32|bf16 and channels_last auto|on|off, got {precision}/{channels_last}")
    rates: dict = {}
    if precision == "auto":
        if getattr(device, "type", device) == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        elif not any(f in cpu_flags() for f in BF16_FLAGS):
            precision = "fp32"
        elif probe is None:
            precision = "bf16"
        else:
            rates = {"fp32": probe("fp32", "off"), "bf16": probe("bf16", "on")}
            precision = max(rates, key=rates.get)
    if channels_last == "auto":
        channels_last = "on" if precision == "bf16" else "off"
    return precision, channels_last, rates


def timing_probe(cfg: "Config", device, steps: int = 3):
    """img/s of a few stage-1 steps on a throwaway generator, per precision (for `precision: auto`)."""
    from dataclasses import replace as _replace

    def probe(precision: str, channels_last: str) -> float:
        c = _replace(cfg, precision=precision, channels_last=channels_last)
        g = GMCNNGenerator(c.cnum, c.fill, upsample=c.upsample).to(device)
        if channels_last == "on":
            g = g.to(memory_format=torch.channels_last)
        o = torch.optim.Adam(g.parameters(), lr=0.0)
        rng = np.random.default_rng(0)
        imgs = [rng.integers(0, 256, (c.crop + 16, c.crop + 16, 3), dtype=np.uint8) for _ in range(4)]
        data = _Fixed(imgs, c.crop)
        _stage1_step(g, o, data, rng, c, device)  # warm-up: oneDNN picks its kernels
        t = time.perf_counter()
        for _ in range(steps):
            _stage1_step(g, o, data, rng, c, device)
        return round(steps * c.batch / (time.perf_counter() - t), 2)
    return probe


class _Fixed:
    """A tiny in-memory image source with Images' batch() (for the timing probe)."""

    def __init__(self, arrays, crop):
        self.arrays, self.crop, self.rotate = arrays, crop, 0.0

    batch = lambda self, rng, n: Images.batch(self, rng, n)  # noqa: E731


def train(cfg: Config, resume: bool) -> dict:
    if cfg.stage not in (1, 2):
        raise SystemExit(f"stage must be 1 or 2, got {cfg.stage}")
    if cfg.recon_weights not in ("confidence", "uniform") or cfg.recon_norm not in ("l1", "l2", "l1+l2"):
        raise SystemExit(f"recon_weights must be confidence|uniform and recon_norm l1|l2|l1+l2, got {cfg.recon_weights}/{cfg.recon_norm}")
    cfg.threads = cfg.threads or os.cpu_count() or 1
    torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(cfg.out)
    last = out / "last.pt"
    resumed = torch.load(last, map_location=device) if resume and last.exists() else None  # read once
    if resumed is not None and cfg.precision == "auto":  # a resumed run keeps what it picked: exact resume
        was = resumed.get("config", {})
        cfg.precision, cfg.channels_last = was.get("precision", "auto"), was.get("channels_last", cfg.channels_last)
    cfg.precision, cfg.channels_last, rates = resolve_precision(
        cfg.precision, cfg.channels_last, device, timing_probe(cfg, device) if cfg.stage == 1 else None)
    print(f"precision {cfg.precision}, channels_last {cfg.channels_last}, {cfg.threads} threads ({cpu_name()}; "
          f"bf16 flags: {[f for f in BF16_FLAGS if f in cpu_flags()] or 'none'}; probe img/s {rates or 'not timed'})", file=sys.stderr)
    if cfg.stage == 2 and not cfg.init and resumed is None:
        raise SystemExit("stage 2 starts from a stage-1 generator: set --init (e.g. ../runs/stage1-cpu/best_gen.pt)")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = GMCNNGenerator(cfg.cnum, cfg.fill, upsample=cfg.upsample).to(device)
    if cfg.channels_last == "on":
        gen = gen.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    s2 = None
    ema = None
    if cfg.stage == 2:
        from .stage2 import Stage2, build_vgg, sample_batch
        vgg, vgg_info = build_vgg(cfg, device)
        s2 = Stage2(gen, opt, cfg, device, vgg)
        (out / "vgg.json").write_text(json.dumps(vgg_info, indent=2))
        print(f"stage 2: VGG19 {vgg_info}", file=sys.stderr)
    step, best = 0, {"hole_psnr": -1.0, "sharpness": -1.0}
    if resumed is not None:
        ck = resumed
        gen.load_state_dict(ck["gen"])
        opt.load_state_dict(ck["opt"])
        step, best = ck["step"], ck.get("best", best)
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        if s2 is not None and "stage2" in ck:
            s2.load_state_dict(ck["stage2"])
        elif s2 is not None:
            print(f"warning: {last} has no critics (a stage-1 checkpoint?): critics start fresh", file=sys.stderr)
        print(f"resumed from {last} at step {step}", file=sys.stderr)
    elif resume and cfg.committed and Path(cfg.committed).exists():
        src, ck = load_generator(cfg.committed, device)
        if (src.cnum, src.fill) != (cfg.cnum, cfg.fill):
            raise SystemExit(f"{cfg.committed} is cnum={src.cnum} fill={src.fill}; the config says {cfg.cnum}/{cfg.fill}")
        gen.load_state_dict(src.state_dict())
        step, best = int(ck["step"]), {**ck["metrics"], "step": int(ck["step"])}
        rng = np.random.default_rng([cfg.seed, step])  # a fresh stream: not the batches already seen
        print(f"resumed from the committed {cfg.committed} at step {step} (fresh optimiser state)", file=sys.stderr)
    elif cfg.init:
        src, init_ck = load_generator(cfg.init, device)
        if src.cnum != cfg.cnum:
            raise SystemExit(f"{cfg.init} has cnum={src.cnum}; the config says cnum={cfg.cnum}")
        if src.fill != cfg.fill:
            print(f"warning: {cfg.init} was trained with fill={src.fill}; this run uses fill={cfg.fill}", file=sys.stderr)
        gen.load_state_dict(src.state_dict())
        print(f"initialised generator from {cfg.init}", file=sys.stderr)
        if cfg.stage == 2 and not cfg.psnr_floor:
            cfg.psnr_floor = stage2_floor(init_ck.get("metrics"), cfg)
    if cfg.stage == 2 and not cfg.psnr_floor:  # resumed: the floor the run started with
        cfg.psnr_floor = (resumed or ck).get("config", {}).get("psnr_floor") or 0.0
        if not cfg.psnr_floor:
            raise SystemExit("stage 2 resumed from a checkpoint without psnr_floor: set it in the config")
    if cfg.ema:  # from the weights just loaded; a resumed run restores its own average below
        ema = copy.deepcopy(gen).requires_grad_(False)
        if resumed is not None and "ema" in resumed:
            ema.load_state_dict(resumed["ema"])
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    if cfg.val_photos and not any(Path(cfg.val_photos).glob("*.png")):  # now, not at the first val check
        raise SystemExit(f"no val photos in {cfg.val_photos}: run `python3 -m model.dataset --out ../data --photos-only`")
    data = Images(cfg.data, cfg.crop, cfg.train_short, cfg.rotate)
    log = open(out / "log.jsonl", "a")
    log.write(json.dumps({"start": step, "fill": cfg.fill, "cnum": cfg.cnum,  # model.provenance checks these
                          "cpu": cpu_name(), "bf16_flags": [f for f in BF16_FLAGS if f in cpu_flags()],
                          "precision": cfg.precision, "channels_last": cfg.channels_last, "threads": cfg.threads,
                          "allocator": os.path.basename(os.environ.get("LD_PRELOAD", "")) or "glibc",
                          "probe_img_s": rates}) + "\n")
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    bar = Bar(cfg.steps, step)
    t0, seen, t_start = time.time(), 0, time.time()
    if cfg.sample_every:
        from .samples import fixed_batch, write_samples
        sample_gt, sample_mask_ = fixed_batch(cfg.val, cfg.sample_n, cfg.crop, cfg.box_frac)
    gen.train()
    while step < cfg.steps and not stop["now"]:
        lr = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup, 1))
        for g in opt.param_groups:
            g["lr"] = lr
        if s2 is not None:
            s2.set_lr(lr / cfg.lr)
            with autocast(cfg, device):  # bf16 where it is fast; losses and GP are reduced in fp32 by autocast
                L = s2.step(lambda: sample_batch(data, rng, cfg, device))
            step += 1
            if ema is not None:
                update_ema(ema, gen, cfg.ema, step)
            seen += cfg.batch * ((cfg.n_critic + 1) if cfg.d_fresh_batch else 1)
            ips = seen / (time.time() - t0)
            bar.update(step, f"g {L['g_total']:.4f} d {L['d_total']:.3f} {ips:.2f} img/s")
            if step % cfg.log_every == 0 or step == 1:  # step 1: an early sanity line
                log.write(json.dumps({"step": step, **{k: round(v, 6) for k, v in L.items()}, "lr": lr,
                                      "img_s": round(ips, 3), "t": round(time.time() - t_start, 1)}) + "\n")
                log.flush()
        else:
            L = _stage1_step(gen, opt, data, rng, cfg, device)
            step += 1
            if ema is not None:
                update_ema(ema, gen, cfg.ema, step)
            seen += cfg.batch
            ips = seen / (time.time() - t0)
            bar.update(step, f"loss {L['total'].item():.4f} {ips:.2f} img/s")
            if step % cfg.log_every == 0 or step == 1:  # step 1: an early sanity line
                log.write(json.dumps({"step": step, "loss": L["total"].item(), "recon": L["recon"].item(),
                                      "ae": L["ae"].item(), "lr": lr, "img_s": round(ips, 3),
                                      "t": round(time.time() - t_start, 1)}) + "\n")
                log.flush()
        if cfg.sample_every and (step % cfg.sample_every == 0 or step == cfg.steps):
            write_samples(ema if ema is not None else gen, sample_gt, sample_mask_, out / "samples" / f"step{step:07d}.png", device)
        timeout = cfg.max_minutes and (time.time() - t_start) > cfg.max_minutes * 60
        if step % cfg.eval_every == 0 or step == cfg.steps or timeout:
            gen.eval()
            judged = ema if ema is not None else gen  # what best_gen.pt will hold
            judged.eval()
            metrics = quick_eval(judged, cfg.val, cfg.eval_n, device)
            if cfg.val_photos:
                metrics["photos"] = quick_eval(judged, cfg.val_photos, None, device)
            gen.train()
            log.write(json.dumps({"step": step, "eval": metrics}) + "\n")
            log.flush()
            print(f"\nstep {step} held-out {metrics}", file=sys.stderr)
            if choose(metrics, cfg) > choose(best, cfg):
                best = {**metrics, "step": step}
                save_generator(out / "best_gen.pt", judged, cfg, step, metrics)
            if s2 is not None:  # a GAN trades PSNR for texture: keep the latest generator too
                save_generator(out / "last_gen.pt", gen, cfg, step, metrics)
        if step % cfg.ckpt_every == 0 or timeout:
            save_ckpt(last, gen, opt, step, cfg, rng, _extra(best, s2, ema))
        if timeout:
            break
    save_ckpt(last, gen, opt, step, cfg, rng, _extra(best, s2, ema))
    log.close()
    print(f"\nstopped at step {step}; best {best}", file=sys.stderr)
    return {"step": step, "best": best}


def stage2_floor(init_metrics: dict | None, cfg: Config) -> float:
    """The val score a stage-2 checkpoint may not fall below: the stage-1 generator's own score
    minus `psnr_drop` (issue 16: a GAN trades PSNR for texture, at most 0.3 dB of it)."""
    if not init_metrics or "hole_psnr" not in init_metrics:
        raise SystemExit(f"stage 2 selects by sharpness within {cfg.psnr_drop} dB of the stage-1 generator's val "
                         f"score: {cfg.init} records no val metrics (set psnr_floor in the config)")
    return round(selection_score(init_metrics) - cfg.psnr_drop, 3)


def choose(m: dict, cfg: Config) -> float:
    """What picks best_gen.pt on val. Stage 1: the mean hole-PSNR of both mask kinds. Stage 2: the
    sharpness, among checkpoints whose score stays at or above psnr_floor and whose grid stays at
    or below grid_max (else never chosen; records from before the grid metric are not checked), and,
    where the record scores val photos, that stays above its pre-fill on both kinds there with a
    grid at or below grid_max too (what model.ship's check 4 asks on the outside photos)."""
    if cfg.stage == 1 or m.get("hole_psnr", -1.0) < 0:
        return selection_score(m)
    if cfg.grid_max and grid_mean(m) > cfg.grid_max:
        return float("-inf")
    photos = m.get("photos")
    if photos is not None and (min(photos.get("contribution", {}).values(), default=0.0) < 0
                               or (cfg.grid_max and grid_mean(photos) > cfg.grid_max)):
        return float("-inf")
    return sharpness_score(m) if selection_score(m) >= cfg.psnr_floor else float("-inf")


def _extra(best: dict, s2, ema=None) -> dict:
    """What last.pt holds besides the generator: the best metrics, the weight average, and in stage
    2 the critics."""
    return {"best": best, **({"stage2": s2.state_dict()} if s2 is not None else {}),
            **({"ema": ema.state_dict()} if ema is not None else {})}


@torch.no_grad()
def update_ema(ema, gen, decay: float, step: int) -> None:
    """ema <- d * ema + (1 - d) * gen, with d ramped up over the first steps (as in Keras/timm)."""
    d = min(decay, (1 + step) / (10 + step))
    for pe, p in zip(ema.parameters(), gen.parameters()):
        pe.lerp_(p.detach(), 1 - d)


def _stage1_step(gen, opt, data, rng, cfg, device) -> dict:
    """One stage-1 update (the maths and RNG order of the original loop body)."""
    imgs = data.batch(rng, cfg.batch)
    masks, boxes = zip(*(sample_mask(rng, cfg.crop, cfg.crop, cfg.rect_ratio, cfg.box_frac) for _ in range(cfg.batch)))
    gt = torch.from_numpy(imgs).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
    m = torch.from_numpy(np.stack(masks)[:, None]).to(device)
    if cfg.channels_last == "on":
        gt, m = gt.contiguous(memory_format=torch.channels_last), m.contiguous(memory_format=torch.channels_last)
    mw, region, area = recon_weights(cfg.recon_weights, m, boxes, cfg.hsize, cfg.iters)
    with autocast(cfg, device):
        pred = gen(gt, m)
    L = stage1_losses(pred.float(), gt, m, mw, region, area, cfg.recon_w, cfg.ae_w, cfg.recon_norm)
    opt.zero_grad(set_to_none=True)
    L["total"].backward()
    opt.step()
    return L


def autocast(cfg: Config, device):
    """bf16 autocast for the forward pass when the run's precision is bf16 (losses stay fp32)."""
    dev = getattr(device, "type", str(device))
    # Stage 2 runs the generator under no_grad for the critics, then with grad: autocast's weight
    # cache would hand the second pass the bf16 weights cast without grad (torch 1.13), and the
    # generator loss would have no graph at all. Stage 1 always has grad: keep the cache.
    return torch.autocast(dev, dtype=torch.bfloat16, enabled=cfg.precision == "bf16", cache_enabled=cfg.stage == 1)


def _flag_bool(v: str) -> bool:
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {v!r}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config")
    ap.add_argument("--resume", action="store_true")
    for f in fields(Config):
        if isinstance(f.default, bool):  # `--random-vgg` alone = true; `--d-fresh-batch false`
            ap.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=_flag_bool, nargs="?", const=True, default=None)
        else:
            ap.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=type(f.default), default=None)
    a = vars(ap.parse_args(argv))
    cfg_path, resume = a.pop("config"), a.pop("resume")
    train(load_config(cfg_path, a), resume)


TCMALLOC_GLOB = "/usr/lib/*/libtcmalloc_minimal.so.4"


def under_tcmalloc() -> None:
    """Re-run this command under tcmalloc when it is installed and nothing is preloaded yet.

    Under glibc malloc a stage-2 step maps and unmaps its 64 MB ID-MRF and critic buffers (over
    glibc's 32 MB mmap ceiling) every step: measured on the 2-core Zen 5, 110,000 page faults/s,
    37% of the CPU in the kernel and 5.6-7.3 s/step; under tcmalloc 1,300 faults/s, 3-5% system
    time, 2.4-2.6 s/step, RSS steady at 2.3 GB. jemalloc purged its huge allocations as eagerly
    with default decay, and with decay off grew to 24 GB in 700 steps (OOM-killed). The library
    must be loaded before Python starts, hence the exec; launchers need nothing of their own.
    GMCNN_ALLOCATOR=glibc keeps glibc; scripts/setup.sh installs libtcmalloc-minimal4."""
    if os.environ.get("LD_PRELOAD") or os.environ.get("GMCNN_ALLOCATOR") == "glibc":
        return
    lib = next(iter(sorted(glob.glob(TCMALLOC_GLOB))), None)
    if lib is not None:
        os.environ["LD_PRELOAD"] = lib
        os.execv(sys.executable, sys.orig_argv)


if __name__ == "__main__":
    under_tcmalloc()
    main()
