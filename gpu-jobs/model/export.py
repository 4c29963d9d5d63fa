"""Export a generator checkpoint to ONNX (dynamic N, H, W) and write its manifest.

    python3 -m model.export --ckpt runs/.../best_gen.pt --out models/gmcnn-v1.onnx \
        [--fp16-weights] [--metrics eval.json] [--training training.json]

The graph is generator + composite: inputs `image` (float32 [N,3,H,W], RGB in [-1,1]) and `mask`
(float32 [N,1,H,W], 1 = hole); output `output` (composited, [-1,1]). With --fp16-weights the
weights are stored as float16 and cast to float32 inside the graph: half the file, fp32 compute
(ONNX Runtime folds the casts once at session start).

Provenance: the graph's own metadata (`metadata_props`) names its pre-fill and cnum, and, exported
from a checkpoint, that checkpoint's file SHA-256, its provenance digest (weights + metadata, fill
included: `model.provenance.digest`) and its step; the manifest repeats them under `checkpoint`.
`model.provenance.verify_shipped` checks them against each other, against the checkpoint, and
against the graph by exporting the checkpoint again (the export is byte-reproducible).
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
HERE = Path(__file__).resolve().parent.parent  # gpu-jobs/
META_PREFIX = "gmcnn."  # metadata_props keys: gmcnn.fill, gmcnn.cnum, gmcnn.checkpoint.{sha256,provenance_sha256,step}


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


def build(gen: GMCNNGenerator, path: Path, fp16: bool) -> None:
    """The graph of `gen`, as `model.export` writes it (before metadata): the one way a file is made,
    used again by `model.provenance` to regenerate a shipped file from its checkpoint."""
    if fp16:  # compute in fp32 on the fp16-rounded weights, exactly what the ONNX holds
        with torch.no_grad():
            for p in gen.parameters():
                if p.numel() >= 64:
                    p.copy_(p.half().float())
    export_onnx(gen, path)
    if fp16:
        weights_to_fp16(path)


def checkpoint_record(ckpt: str | Path, ck: dict) -> dict:
    """What ties an exported file to the checkpoint it came from: the file's SHA-256, its provenance
    digest (generator checkpoints written by the trainer; None for a trainer state such as last.pt),
    its step, and where it lies (the run's committed copy when that is the same file, relative to
    gpu-jobs/)."""
    ckpt = Path(ckpt).resolve()
    sha = sha256(ckpt)
    file = str(ckpt)
    committed = (ck.get("config") or {}).get("committed")
    if committed and (HERE / committed).exists() and sha256(HERE / committed) == sha:
        file = committed
    elif ckpt.is_relative_to(HERE):
        file = str(ckpt.relative_to(HERE))
    return {"file": file, "sha256": sha, "provenance_sha256": (ck.get("provenance") or {}).get("sha256"),
            "step": int(ck.get("step", 0))}


def onnx_metadata(gen: GMCNNGenerator, checkpoint: dict | None) -> dict[str, str]:
    props = {"fill": gen.fill, "cnum": str(gen.cnum)}
    if gen.upsample != "tf":  # files of the official upsamplers keep the props they always had
        props["upsample"] = gen.upsample
    for k, v in (checkpoint or {}).items():
        if k != "file" and v is not None:
            props[f"checkpoint.{k}"] = str(v)
    return {META_PREFIX + k: v for k, v in props.items()}


def write_metadata(path: Path, props: dict[str, str]) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    helper.set_model_props(model, props)
    onnx.save(model, str(path))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(path: Path, gen: GMCNNGenerator, name: str, version: str, fp16: bool, training: dict, metrics: dict,
             checkpoint: dict | None = None) -> dict:
    return {
        "name": name,
        "version": version,
        "architecture": {"family": "gmcnn", "layout": "tensorflow", "cnum": gen.cnum,
                         "params": count_params(gen), "fill": gen.fill, "upsample": gen.upsample},
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
        **({"checkpoint": {k: v for k, v in checkpoint.items() if v is not None}} if checkpoint else {}),
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }


def main() -> None:
    from .train import load_generator
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", help="generator checkpoint; omit for random init (tests only)")
    ap.add_argument("--cnum", type=int, default=32)
    ap.add_argument("--fill", default="pushpull")
    ap.add_argument("--upsample", default="tf", help="random init only: tf | smooth (a checkpoint says its own)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fp16-weights", action="store_true")
    ap.add_argument("--name", default="gmcnn")
    ap.add_argument("--version", default="0.0.0-dev")
    ap.add_argument("--training", help="JSON file with the manifest's training block")
    ap.add_argument("--metrics", help="JSON file with the manifest's metrics block")
    ap.add_argument("--parity", help="write random inputs and PyTorch outputs here (for the ORT parity test)")
    a = ap.parse_args()
    checkpoint = None
    if a.ckpt:
        gen, ck = load_generator(a.ckpt)
        checkpoint = checkpoint_record(a.ckpt, ck)
    else:
        torch.manual_seed(a.seed)
        gen = GMCNNGenerator(a.cnum, a.fill, upsample=a.upsample)
        if a.fill.startswith("pushpull") or a.upsample != "tf":  # a zero last layer would make the parity test trivial
            torch.nn.init.xavier_uniform_(gen.merge18.conv.weight)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    build(gen, out, a.fp16_weights)
    write_metadata(out, onnx_metadata(gen, checkpoint))
    if a.parity:
        write_parity(gen, Path(a.parity), a.seed)
    if a.training and a.metrics:
        m = manifest(out, gen, a.name, a.version, a.fp16_weights, json.loads(Path(a.training).read_text()),
                     json.loads(Path(a.metrics).read_text()), checkpoint)
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
