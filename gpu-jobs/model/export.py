"""Export a generator checkpoint to ONNX (dynamic N, H, W) and write its manifest.

    python3 -m model.export --ckpt runs/.../best_gen.pt --out models/gmcnn-v1.onnx \
        [--fp16-weights] [--metrics eval.json] [--training training.json]

The graph is generator + composite: inputs `image` (float32 [N,3,H,W], RGB in [-1,1]) and `mask`
(float32 [N,1,H,W], 1 = hole); output `output` (composited, [-1,1]). With --fp16-weights the
weights are stored as float16 and cast to float32 inside the graph: half the file, fp32 compute
(ONNX Runtime folds the casts once at session start).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .generator import GMCNNGenerator, InpaintGraph, count_params

OPSET = 17


def export_onnx(gen: GMCNNGenerator, path: Path, size: int = 64) -> None:
    graph = InpaintGraph(gen.eval())
    img = torch.zeros(1, 3, size, size)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4: size // 2, size // 4: size // 2] = 1
    axes = {0: "n", 2: "h", 3: "w"}
    torch.onnx.export(graph, (img, mask), str(path), opset_version=OPSET, input_names=["image", "mask"],
                      output_names=["output"], dynamic_axes={"image": axes, "mask": axes, "output": axes},
                      do_constant_folding=True)


def weights_to_fp16(path: Path) -> None:
    """Store large float initialisers as fp16 behind a Cast to fp32."""
    model = onnx.load(str(path))
    g = model.graph
    new_inits, casts = [], []
    for init in list(g.initializer):
        arr = numpy_helper.to_array(init)
        if arr.dtype != np.float32 or arr.size < 64:
            new_inits.append(init)
            continue
        half = numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16")
        new_inits.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=init.name + "_cast"))
    del g.initializer[:]
    g.initializer.extend(new_inits)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(path: Path, gen: GMCNNGenerator, name: str, version: str, fp16: bool, training: dict, metrics: dict) -> dict:
    return {
        "name": name,
        "version": version,
        "architecture": {"family": "gmcnn", "layout": "tensorflow", "cnum": gen.cnum,
                         "params": count_params(gen), "fill": gen.fill},
        "file": path.name,
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "weights_dtype": "float16" if fp16 else "float32",
        "io": {"inputs": {"image": "float32 [N,3,H,W] in [-1,1]", "mask": "float32 [N,1,H,W], 1 = hole"},
               "output": "float32 [N,3,H,W] in [-1,1], composited", "channel_order": "RGB", "opset": OPSET},
        "input_size": {"multiple_of": 4, "min": 8, "max_recommended": 512,
                       "trained_at": int(training.get("crop", 128))},
        "training": training,
        "metrics": metrics,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }


def main() -> None:
    from .train import load_generator
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", help="generator checkpoint; omit for random init (tests only)")
    ap.add_argument("--cnum", type=int, default=32)
    ap.add_argument("--fill", default="pushpull")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fp16-weights", action="store_true")
    ap.add_argument("--name", default="gmcnn")
    ap.add_argument("--version", default="0.0.0-dev")
    ap.add_argument("--training", help="JSON file with the manifest's training block")
    ap.add_argument("--metrics", help="JSON file with the manifest's metrics block")
    ap.add_argument("--parity", help="write random inputs and PyTorch outputs here (for the ORT parity test)")
    a = ap.parse_args()
    if a.ckpt:
        gen, _ = load_generator(a.ckpt)
    else:
        torch.manual_seed(a.seed)
        gen = GMCNNGenerator(a.cnum, a.fill)
        if a.fill.startswith("pushpull"):  # a zero last layer would make the parity test trivial
            torch.nn.init.xavier_uniform_(gen.merge18.conv.weight)
    if a.fp16_weights:  # compute in fp32 on the fp16-rounded weights, exactly what the ONNX holds
        with torch.no_grad():
            for p in gen.parameters():
                if p.numel() >= 64:
                    p.copy_(p.half().float())
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(gen, out)
    if a.fp16_weights:
        weights_to_fp16(out)
    if a.parity:
        write_parity(gen, Path(a.parity), a.seed)
    if a.training and a.metrics:
        m = manifest(out, gen, a.name, a.version, a.fp16_weights, json.loads(Path(a.training).read_text()),
                     json.loads(Path(a.metrics).read_text()))
        mpath = out.with_name(out.stem + ".manifest.json")
        mpath.write_text(json.dumps(m, indent=2) + "\n")
        print(f"wrote {mpath}", file=sys.stderr)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr)


@torch.no_grad()
def write_parity(gen: GMCNNGenerator, folder: Path, seed: int) -> None:
    """Random inputs at a few sizes and the PyTorch outputs, as raw float32 + a JSON index."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    cases = []
    for i, (h, w) in enumerate([(64, 64), (96, 132)]):
        img = torch.rand(1, 3, h, w, generator=g) * 2 - 1
        mask = (torch.rand(1, 1, h, w, generator=g) > 0.6).float()
        out = InpaintGraph(gen.eval())(img, mask)
        for nm, t in (("image", img), ("mask", mask), ("output", out)):
            t.numpy().astype("<f4").tofile(folder / f"{i}-{nm}.bin")
        cases.append({"i": i, "h": h, "w": w})
    (folder / "cases.json").write_text(json.dumps(cases))


if __name__ == "__main__":
    main()
