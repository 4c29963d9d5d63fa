"""The torch runner: a shipped ONNX model's own weights run by PyTorch, for CPUs where oneDNN's bf16
kernels (AVX512-BF16, AMX) beat ONNX Runtime. The GPU-function server talks to it over stdin/stdout
(gpu-jobs/runtime/torch-session.ts) and picks it only when it measures fastest on this machine and
its recorded loss (model.quantize bf16) is within the accuracy bound (runtime/select.ts).

    python3 -m model.serve_torch --model models/gmcnn.onnx [--precision bf16|fp32] [--threads N]

Frames, little-endian. At start it writes a ready frame. Each request is uint32 height, uint32
width, then the model's inputs as float32 NCHW (image 3*h*w in [-1,1], mask h*w with 1 = hole);
h = w = 0 ends the process. Each reply is uint32 status (0 result, 1 error, 2 ready), uint32 byte
count, then the payload: the composited output (float32 3*h*w), or UTF-8 text (error, ready JSON).
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch

from .generator import InpaintGraph

OK, ERROR, READY = 0, 1, 2
# Largest region the server sends (shared/protocol MAX_INFER_PIXELS is 4 MP); a bad frame is refused.
MAX_PIXELS = 16_777_216


class TorchRunner:
    """InpaintGraph on the weights of a shipped ONNX file. bf16: autocast + channels_last, so the
    convolutions run in bf16 while the elementwise fill, clamp and composite stay float32 (every
    unmasked pixel is returned exactly)."""

    def __init__(self, model: Path | str, precision: str = "bf16", threads: int | None = None):
        from .provenance import generator_from_onnx
        if precision not in ("bf16", "fp32"):
            raise ValueError(f"precision {precision}: expected bf16 or fp32")
        if threads:
            torch.set_num_threads(threads)
        self.precision = precision
        gen, self.manifest = generator_from_onnx(str(model))
        self.graph = InpaintGraph(gen.eval()).to(memory_format=torch.channels_last)

    @torch.no_grad()
    def run(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        img = torch.from_numpy(image).contiguous(memory_format=torch.channels_last)
        m = torch.from_numpy(mask).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            out = self.graph(img, m)
        return out.float().contiguous().numpy()


def read_exact(f, n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise EOFError
    return b


def reply(out, status: int, payload: bytes) -> None:
    out.write(struct.pack("<II", status, len(payload)))
    out.write(payload)
    out.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    try:
        runner = TorchRunner(a.model, a.precision, a.threads or None)
    except Exception as e:  # the server falls back to ONNX Runtime and logs why
        reply(out, ERROR, f"torch runner did not load: {e}".encode())
        return
    reply(out, READY, json.dumps({"torch": torch.__version__, "precision": a.precision,
                                  "threads": torch.get_num_threads()}).encode())
    while True:
        try:
            h, w = struct.unpack("<II", read_exact(inp, 8))
        except EOFError:
            return
        if h == 0 and w == 0:
            return
        if h * w > MAX_PIXELS:
            reply(out, ERROR, f"region {w}x{h} is over {MAX_PIXELS} pixels".encode())
            return  # the stream cannot be resynchronised
        image = np.frombuffer(read_exact(inp, 12 * h * w), "<f4").reshape(1, 3, h, w)
        mask = np.frombuffer(read_exact(inp, 4 * h * w), "<f4").reshape(1, 1, h, w)
        try:
            res = runner.run(image.copy(), mask.copy())
            reply(out, OK, res.astype("<f4").tobytes())
        except Exception as e:
            reply(out, ERROR, str(e).encode())


if __name__ == "__main__":
    main()
