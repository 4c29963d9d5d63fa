"""GMCNN trainer (stage 1: confidence-driven reconstruction + known-region L1).

    python3 -m model.train --config configs/stage1-cpu.json [--steps N] [--threads 2] [--resume]

Config file (JSON) first, then flags override. Checkpoints hold generator, optimiser, step and the
RNG state, so `--resume` continues exactly. Runs unchanged on CUDA when one is present.
Logs: a JSON line per `log_every` steps in <out>/log.jsonl, a progress bar on stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .generator import GMCNNGenerator
from .losses import bbox_weights, confidence_weights, stage1_losses
from .masks import sample_mask
from .evaluate import quick_eval


@dataclass
class Config:
    data: str = "../data/train"
    heldout: str = "../data/heldout"
    out: str = "../runs/stage1"
    init: str = ""             # start weights from this generator checkpoint (weights only)
    cnum: int = 32
    fill: str = "pushpull"     # "zero" = the paper; "pushpull" = residual over a pyramid fill
    crop: int = 128
    batch: int = 6
    steps: int = 1000
    lr: float = 1e-4
    warmup: int = 100
    beta1: float = 0.5
    beta2: float = 0.9
    recon_w: float = 1.68
    ae_w: float = 1.44
    rect_ratio: float = 0.5
    box_frac: float = 0.5
    hsize: int = 64
    iters: int = 7
    seed: int = 2018
    threads: int = 2
    log_every: int = 10
    ckpt_every: int = 100
    eval_every: int = 200
    eval_n: int = 24
    max_minutes: float = 0.0   # stop cleanly after this wall time (0 = no limit)


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
    return cfg


class Images:
    """All training images in memory as uint8 arrays; random crops per sample."""

    def __init__(self, folder: str, crop: int):
        paths = sorted(Path(folder).glob("*.jpg")) + sorted(Path(folder).glob("*.png"))
        if not paths:
            raise SystemExit(f"no training images in {folder}: run `python3 -m model.dataset` first")
        self.crop = crop
        self.arrays = []
        for p in paths:
            im = Image.open(p).convert("RGB")
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
        return out


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
    sd = {k: v.detach().half().cpu() for k, v in gen.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    torch.save({"gen": sd, "cnum": cfg.cnum, "fill": cfg.fill, "step": step, "metrics": metrics,
                "config": asdict(cfg)}, tmp)
    os.replace(tmp, path)


def load_generator(path: str, device="cpu") -> tuple[GMCNNGenerator, dict]:
    ck = torch.load(path, map_location=device)
    gen = GMCNNGenerator(ck.get("cnum", ck.get("config", {}).get("cnum", 32)),
                         ck.get("fill", ck.get("config", {}).get("fill", "zero")))
    gen.load_state_dict({k: v.float() for k, v in ck["gen"].items()})
    return gen.to(device), ck


def train(cfg: Config, resume: bool) -> dict:
    torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = GMCNNGenerator(cfg.cnum, cfg.fill).to(device)
    opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    step, best = 0, {"hole_psnr": -1.0}
    last = out / "last.pt"
    if resume and last.exists():
        ck = torch.load(last, map_location=device)
        gen.load_state_dict(ck["gen"])
        opt.load_state_dict(ck["opt"])
        step, best = ck["step"], ck.get("best", best)
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        print(f"resumed from {last} at step {step}", file=sys.stderr)
    elif cfg.init:
        src, _ = load_generator(cfg.init, device)
        gen.load_state_dict(src.state_dict())
        print(f"initialised generator from {cfg.init}", file=sys.stderr)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    data = Images(cfg.data, cfg.crop)
    log = open(out / "log.jsonl", "a")
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    bar = Bar(cfg.steps, step)
    t0, seen, t_start = time.time(), 0, time.time()
    gen.train()
    while step < cfg.steps and not stop["now"]:
        lr = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup, 1))
        for g in opt.param_groups:
            g["lr"] = lr
        imgs = data.batch(rng, cfg.batch)
        masks, boxes = zip(*(sample_mask(rng, cfg.crop, cfg.crop, cfg.rect_ratio, cfg.box_frac) for _ in range(cfg.batch)))
        gt = torch.from_numpy(imgs).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
        m = torch.from_numpy(np.stack(masks)[:, None]).to(device)
        mw = confidence_weights(m, cfg.hsize, iters=cfg.iters)
        region, area = bbox_weights(cfg.batch, cfg.crop, cfg.crop, boxes, device)
        pred = gen(gt, m)
        L = stage1_losses(pred, gt, m, mw, region, area, cfg.recon_w, cfg.ae_w)
        opt.zero_grad(set_to_none=True)
        L["total"].backward()
        opt.step()
        step += 1
        seen += cfg.batch
        ips = seen / (time.time() - t0)
        bar.update(step, f"loss {L['total'].item():.4f} {ips:.2f} img/s")
        if step % cfg.log_every == 0:
            log.write(json.dumps({"step": step, "loss": L["total"].item(), "recon": L["recon"].item(),
                                  "ae": L["ae"].item(), "lr": lr, "img_s": round(ips, 3),
                                  "t": round(time.time() - t_start, 1)}) + "\n")
            log.flush()
        timeout = cfg.max_minutes and (time.time() - t_start) > cfg.max_minutes * 60
        if step % cfg.eval_every == 0 or step == cfg.steps or timeout:
            gen.eval()
            metrics = quick_eval(gen, cfg.heldout, cfg.eval_n, device)
            gen.train()
            log.write(json.dumps({"step": step, "eval": metrics}) + "\n")
            log.flush()
            print(f"\nstep {step} held-out {metrics}", file=sys.stderr)
            if metrics["hole_psnr"] > best["hole_psnr"]:
                best = {**metrics, "step": step}
                save_generator(out / "best_gen.pt", gen, cfg, step, metrics)
        if step % cfg.ckpt_every == 0 or timeout:
            save_ckpt(last, gen, opt, step, cfg, rng, {"best": best})
        if timeout:
            break
    save_ckpt(last, gen, opt, step, cfg, rng, {"best": best})
    log.close()
    print(f"\nstopped at step {step}; best {best}", file=sys.stderr)
    return {"step": step, "best": best}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config")
    ap.add_argument("--resume", action="store_true")
    for f in fields(Config):
        ap.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=type(f.default), default=None)
    a = vars(ap.parse_args(argv))
    cfg_path, resume = a.pop("config"), a.pop("resume")
    train(load_config(cfg_path, a), resume)


if __name__ == "__main__":
    main()
