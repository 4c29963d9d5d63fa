"""What one stage-2 step costs on this machine, per ID-MRF feature source and critic width, so a
CPU stretch can plan stage 2 (issue 16). Real training crops, the config's generator, bf16 where
the trainer would pick it; seconds per step are the median of `--steps` after one warm-up.

    /usr/bin/python3 -m model.stage2_cost --config configs/stage2-cpu.json [--steps 3]

Run it with the cores quiet (pause a training run with kill -STOP): it is a measurement.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from .generator import GMCNNGenerator
from .stage2 import Stage2, build_vgg, sample_batch
from .train import BF16_FLAGS, Images, autocast, cpu_flags, cpu_name, load_config, resolve_precision

VARIANTS = (  # (label, overrides)
    ("no ID-MRF", {"mrf_w": 0.0}),
    ("ID-MRF on the local critic", {"mrf_features": "critic"}),
    ("ID-MRF on VGG19 (random init)", {"mrf_features": "vgg", "random_vgg": True}),
)


def time_variant(cfg, data, device, steps: int) -> float:
    torch.manual_seed(cfg.seed)
    gen = GMCNNGenerator(cfg.cnum, cfg.fill).to(device)
    if cfg.channels_last == "on":
        gen = gen.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    vgg, _ = build_vgg(cfg, device)
    s2 = Stage2(gen, opt, cfg, device, vgg)
    rng = np.random.default_rng(cfg.seed)
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        with autocast(cfg, device):
            s2.step(lambda: sample_batch(data, rng, cfg, device))
        if i:  # the first step picks oneDNN kernels
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--d-cnum", type=int, nargs="*", default=None, help="critic widths to time (default: the config's)")
    a = ap.parse_args()
    cfg = load_config(a.config, {})
    cfg.threads = cfg.threads or os.cpu_count() or 1
    torch.set_num_threads(cfg.threads)
    device = torch.device("cpu")
    cfg.precision, cfg.channels_last, _ = resolve_precision(cfg.precision, cfg.channels_last, device)
    data = Images(cfg.data, cfg.crop, cfg.train_short)
    flags = [f for f in BF16_FLAGS + ("avx512_vnni",) if f in cpu_flags()]
    print(f"{cpu_name()} ({', '.join(flags) or 'no bf16 flags'}), {cfg.threads} threads, {cfg.precision}, "
          f"cnum {cfg.cnum}, crop {cfg.crop}, batch {cfg.batch}, n_critic {cfg.n_critic}, "
          f"d_fresh_batch {cfg.d_fresh_batch}")
    print("| ID-MRF features | d_cnum | s/step | img/s |\n|---|---|---|---|")
    for d in a.d_cnum or [cfg.d_cnum]:
        for label, over in VARIANTS:
            c = replace(cfg, d_cnum=d, **over)
            s = time_variant(c, data, device, a.steps)
            print(f"| {label} | {d} | {s:.2f} | {c.batch / s:.2f} |", flush=True)
    print(f"(median of {a.steps} steps after one warm-up)", file=sys.stderr)


if __name__ == "__main__":
    main()
