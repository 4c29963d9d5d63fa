"""PyTorch eager timings of the generator graph, and this machine's sgemm rate (the FLOP floor).

    python3 -m model.bench --ckpt models/checkpoints/gmcnn-gen.pt --sizes 256,512 --runs 5 --threads 2

Prints one JSON object on stdout. Used by `npm run bench`, which times ONNX Runtime in the same run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from .generator import InpaintGraph
from .train import load_generator


def sgemm_gflops(n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen, _ = load_generator(a.ckpt)
    graph = InpaintGraph(gen.eval())
    out = {"torch": torch.__version__, "threads": a.threads, "sgemm_gflops": round(sgemm_gflops(), 1), "eager_ms": {}}
    for s in (int(x) for x in a.sizes.split(",")):
        g = torch.Generator().manual_seed(s)
        img = torch.rand(1, 3, s, s, generator=g) * 2 - 1
        mask = torch.zeros(1, 1, s, s)
        mask[..., s // 4: 3 * s // 4, s // 4: 3 * s // 4] = 1
        graph(img, mask)  # warm-up
        times = []
        for _ in range(a.runs):
            t = time.perf_counter()
            graph(img, mask)
            times.append((time.perf_counter() - t) * 1000)
        out["eager_ms"][str(s)] = round(statistics.median(times), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
