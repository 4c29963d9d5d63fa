"""Reduced-precision variants of a shipped ONNX model, each measured against its fp32 original.

    python3 -m model.quantize int8 --model models/gmcnn.onnx [--calib ../data/val] [--eval ../data/val] [--n 32]
    python3 -m model.quantize fp16 --model models/gmcnn.onnx [--eval ../data/val] [--n 32]
    python3 -m model.quantize bf16 --model models/gmcnn.onnx [--eval ../data/val] [--n 32]

int8: static QDQ quantisation for ONNX Runtime's int8 CPU kernels (VNNI, AMX-INT8). Every Conv
gets uint8 asymmetric per-tensor activations on its input and its output (min/max over the
calibration runs), int8 symmetric per-channel weights and an int32 bias; ONNX Runtime fuses each
DQ -> Conv -> Q into a QLinearConv. The ranges come from running the fp32 graph, with every Conv's
input and output exposed, through onnxruntime-node (gpu-jobs/runtime/batch.ts; Debian has no
Python onnxruntime) on the VAL split with a centre and a free-form mask per image. Never the test
split: that one only measures the loss.

fp16: the network (the five-channel input through the last Conv) in float16, for GPU providers.

bf16: no new file. PyTorch runs the fp32 file's own weights (read back from the ONNX graph) with
bf16 autocast + channels_last, through gpu-jobs/model/serve_torch.py (the torch runner the server
may pick: gpu-jobs/runtime/torch-session.ts); the manifest records its measured loss. It exists
for CPUs where oneDNN's bf16 kernels (AVX512-BF16, AMX) beat ONNX Runtime.

In both, the inputs, the classical fill, the clamp and the composite stay float32, so every
unmasked pixel comes back exactly. Writes the variant (default: beside --model, <stem>.<kind>.onnx)
and its manifest (<stem>.<kind>.variant.json): the fp32 file it was made from (by SHA-256), the
calibration data, and hole-PSNR against the fp32 model on --eval: VAL images, and when --eval is
the calibration folder, the n images after the n used to calibrate (the loss gates a choice, so it
is measured on val; the test split stays for reporting). Speed is not measured here: the server
times every variant within the bound at start-up and serves the fastest (runtime/select.ts);
`use_when` only says where a variant may be tried at all.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from .masks import centre_mask, stroke_mask
from .metrics import psnr

ROOT = Path(__file__).resolve().parents[2]
MASK_SEED = 1234
# Where ONNX Runtime's int8 kernels beat its fp32 ones (VNNI / AMX tiles). Measured slower on an
# AVX2-only AMD EPYC (Zen 2): vpmaddubsw gives int8 no throughput edge there (README, bench).
INT8_CPU_FEATURES = ["avx512_vnni", "avx_vnni", "amx_int8"]
INT8_SCHEME = ("QDQ; activations uint8 asymmetric per tensor (min/max), weights int8 symmetric per output "
               "channel, bias int32; fill, clamp and composite in float32")
FP16_SCHEME = "network (five-channel input .. last Conv) in float16; inputs, fill, clamp and composite in float32"
BF16_SCHEME = ("PyTorch bf16 autocast + channels_last on the fp32 file's own weights: convolutions in bf16 "
               "(oneDNN); fill, clamp and composite in float32")
# Where oneDNN has bf16 arithmetic; elsewhere bf16 is emulated and far slower than fp32.
BF16_CPU_FEATURES = ["avx512_bf16", "amx_bf16"]


# ---------------------------------------------------------------------------------------------
# Graph editing
# ---------------------------------------------------------------------------------------------

def load_fp32(path: Path) -> onnx.ModelProto:
    """The model with every Cast(initializer) folded into a float32 initializer (the shipped file
    stores weights as float16 behind Casts)."""
    m = onnx.load(str(path))
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    folded, keep, dropped = [], [], set()
    for n in g.node:
        if n.op_type == "Cast" and n.input[0] in inits and helper.get_attribute_value(n.attribute[0]) == TensorProto.FLOAT:
            arr = numpy_helper.to_array(inits[n.input[0]]).astype(np.float32)
            folded.append(numpy_helper.from_array(arr, n.output[0]))
            dropped.add(n.input[0])
        else:
            keep.append(n)
    used = {t for n in keep for t in n.input}  # an fp16 initializer may also feed other nodes
    others = [i for i in g.initializer if i.name not in dropped or i.name in used]
    del g.initializer[:]
    g.initializer.extend(others + folded)
    del g.node[:]
    g.node.extend(keep)
    return m


def convs(m: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in m.graph.node if n.op_type == "Conv"]


def calibration_tensors(m: onnx.ModelProto) -> list[str]:
    names = []
    for n in convs(m):
        for t in (n.input[0], n.output[0]):
            if t not in names:
                names.append(t)
    return names


def with_outputs(m: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy that also returns the named float tensors (for calibration)."""
    aug = onnx.ModelProto()
    aug.CopyFrom(m)
    have = {o.name for o in aug.graph.output}
    aug.graph.output.extend(
        helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names if n not in have)
    return aug


def qparams(lo: float, hi: float) -> tuple[float, int]:
    """uint8 asymmetric scale and zero point for [lo, hi] (widened to include 0, as ONNX requires
    for exact zero padding)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 or 1e-8
    return float(scale), int(np.clip(round(-lo / scale), 0, 255))


def quantize_qdq(m: onnx.ModelProto, ranges: dict[str, tuple[float, float]]) -> onnx.ModelProto:
    """QDQ around every Conv (see the module doc). `m` comes from load_fp32."""
    g = m.graph
    weights = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    added: list[onnx.TensorProto] = []
    qdq: dict[str, tuple[str, float]] = {}  # fp32 tensor -> (its dequantised name, scale)

    def q_dq(t: str, rename_output: bool = False) -> tuple[list[onnx.NodeProto], str, float]:
        """Q -> DQ of tensor t. rename_output: the DQ output takes t's name (t itself is renamed
        by the caller), so that every consumer reads the dequantised value."""
        scale, zp = qparams(*ranges[t])
        s, z = f"{t}/q_scale", f"{t}/q_zero"
        added.extend([numpy_helper.from_array(np.array(scale, np.float32), s),
                      numpy_helper.from_array(np.array(zp, np.uint8), z)])
        src = f"{t}/fp32" if rename_output else t
        dq_out = t if rename_output else f"{t}/dq"
        nodes = [helper.make_node("QuantizeLinear", [src, s, z], [f"{t}/q"], name=f"{t}/Q"),
                 helper.make_node("DequantizeLinear", [f"{t}/q", s, z], [dq_out], name=f"{t}/DQ")]
        return nodes, dq_out, scale

    out: list[onnx.NodeProto] = []
    for n in g.node:
        if n.op_type != "Conv":
            out.append(n)
            continue
        x, w = n.input[0], n.input[1]
        b = n.input[2] if len(n.input) > 2 and n.input[2] else None
        if x not in qdq:
            nodes, name, scale = q_dq(x)
            out.extend(nodes)
            qdq[x] = (name, scale)
        x_dq, x_scale = qdq[x]
        wa = weights[w]
        w_scale = np.abs(wa).reshape(wa.shape[0], -1).max(axis=1) / 127.0
        w_scale[w_scale == 0] = 1e-8
        wq = np.clip(np.round(wa / w_scale.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int8)
        added.extend([numpy_helper.from_array(wq, f"{w}/int8"),
                      numpy_helper.from_array(w_scale.astype(np.float32), f"{w}/scale"),
                      numpy_helper.from_array(np.zeros(len(w_scale), np.int8), f"{w}/zero")])
        out.append(helper.make_node("DequantizeLinear", [f"{w}/int8", f"{w}/scale", f"{w}/zero"], [f"{w}/dq"],
                                    axis=0, name=f"{w}/DQ"))
        ins = [x_dq, f"{w}/dq"]
        if b:
            b_scale = (x_scale * w_scale).astype(np.float32)
            bq = np.round(weights[b] / b_scale).astype(np.int32)
            added.extend([numpy_helper.from_array(bq, f"{b}/int32"), numpy_helper.from_array(b_scale, f"{b}/scale"),
                          numpy_helper.from_array(np.zeros(len(b_scale), np.int32), f"{b}/zero")])
            out.append(helper.make_node("DequantizeLinear", [f"{b}/int32", f"{b}/scale", f"{b}/zero"], [f"{b}/dq"],
                                        axis=0, name=f"{b}/DQ"))
            ins.append(f"{b}/dq")
        y = n.output[0]
        conv = helper.make_node("Conv", ins, [f"{y}/fp32"], name=n.name)
        conv.attribute.extend(n.attribute)
        out.append(conv)
        nodes, _, _ = q_dq(y, rename_output=True)
        out.extend(nodes)
    used = {t for n in out for t in n.input}
    inits = [i for i in list(g.initializer) + added if i.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.node[:]
    g.node.extend(out)
    onnx.checker.check_model(m)
    return m


# Inputs that ONNX requires in float32 even in a float16 graph (Resize: roi, scales).
KEEP_FP32_INPUTS = {"Resize": {1, 2}}


def to_fp16(m: onnx.ModelProto) -> onnx.ModelProto:
    """The network between the five-channel input and the last Conv in float16 (see module doc)."""
    m = onnx.shape_inference.infer_shapes(m)
    g = m.graph
    ftype = {vi.name: vi.type.tensor_type.elem_type for vi in list(g.value_info) + list(g.input) + list(g.output)}
    ftype.update({i.name: i.data_type for i in g.initializer})
    is_float = lambda t: ftype.get(t) == TensorProto.FLOAT  # noqa: E731
    producer = {o: n for n in g.node for o in n.output}
    conv_nodes = convs(m)
    conv_outs = {n.output[0] for n in conv_nodes}

    def upstream(t: str, seen: set) -> set:
        stack = [t]
        while stack:
            cur = stack.pop()
            p = producer.get(cur)
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            stack.extend(i for i in p.input if i and is_float(i))
        return seen

    # Start: what the first Convs read (no Conv upstream of it); end: the last Conv's output.
    first_inputs = {n.input[0] for n in conv_nodes if not (upstream(n.input[0], set()) & {id(c) for c in conv_nodes})}
    last = [n for n in conv_nodes if not any(n.output[0] in c.input for c in conv_nodes)
            and not any(id(n) in upstream(c.output[0], set()) for c in conv_nodes if c is not n)]
    assert len(first_inputs) == 1 and len(last) == 1, (first_inputs, [n.name for n in last])
    start, end = first_inputs.pop(), last[0].output[0]
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    fwd, stack = set(), [start]
    while stack:
        t = stack.pop()
        for c in consumers.get(t, []):
            if id(c) not in fwd:
                fwd.add(id(c))
                stack.extend(o for o in c.output if is_float(o))
    region = fwd & upstream(end, set())
    assert conv_outs, "no Conv in the graph"

    added, casts_in, out_nodes = [], {}, []
    half_inits: dict[str, str] = {}
    inits = {i.name: i for i in g.initializer}
    renamed: dict[str, str] = {}  # region-produced float outputs -> their float16 name
    for n in g.node:
        if id(n) in region:
            for k, o in enumerate(n.output):
                if is_float(o):
                    renamed[o] = f"{o}/fp16"
    for n in g.node:
        if id(n) not in region:
            out_nodes.append(n)
            continue
        if n.op_type == "Cast" and helper.get_attribute_value(n.attribute[0]) == TensorProto.FLOAT:
            n.attribute[0].i = TensorProto.FLOAT16
        keep32 = KEEP_FP32_INPUTS.get(n.op_type, set())
        for k, t in enumerate(n.input):
            if not t or k in keep32 or not is_float(t):
                continue
            if t in renamed:
                n.input[k] = renamed[t]
            elif t in inits:
                if t not in half_inits:
                    half_inits[t] = f"{t}/fp16"
                    added.append(numpy_helper.from_array(numpy_helper.to_array(inits[t]).astype(np.float16), half_inits[t]))
                n.input[k] = half_inits[t]
            else:
                if t not in casts_in:
                    casts_in[t] = f"{t}/to_fp16"
                    out_nodes.append(helper.make_node("Cast", [t], [casts_in[t]], to=TensorProto.FLOAT16,
                                                      name=f"{t}/CastFp16"))
                n.input[k] = casts_in[t]
        for k, o in enumerate(n.output):
            if o in renamed:
                n.output[k] = renamed[o]
        out_nodes.append(n)
        for o, h in renamed.items():
            if h in n.output and (any(id(c) not in region for c in consumers.get(o, [])) or o in {x.name for x in g.output}):
                out_nodes.append(helper.make_node("Cast", [h], [o], to=TensorProto.FLOAT, name=f"{o}/CastFp32"))
    used = {t for n in out_nodes for t in n.input}
    all_inits = [i for i in list(g.initializer) + added if i.name in used]
    del g.initializer[:]
    g.initializer.extend(all_inits)
    del g.node[:]
    g.node.extend(out_nodes)
    del g.value_info[:]
    onnx.checker.check_model(m)
    return m


# ---------------------------------------------------------------------------------------------
# Data, ONNX Runtime (through Node) and accuracy
# ---------------------------------------------------------------------------------------------

def images(folder: Path, n: int, skip: int = 0) -> list[tuple[str, np.ndarray]]:
    paths = sorted(folder.glob("*.png"))[skip:skip + n]
    if not paths:
        raise SystemExit(f"no PNG images in {folder} (python3 -m model.dataset writes data/val and data/test)")
    return [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in paths]


def masks_for(h: int, w: int, count: int) -> dict[str, list[np.ndarray]]:
    """A centre hole (half the shorter side) and seeded free-form strokes, one of each per image."""
    rng = np.random.default_rng(MASK_SEED)
    strokes = []
    while len(strokes) < count:
        m = stroke_mask(rng, h, w)
        if m.sum() >= 64:
            strokes.append(m)
    return {"center": [centre_mask(h, w, min(h, w) // 2)] * count, "freeform": strokes}


def write_cases(folder: Path, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Model inputs as the runtime builds them (shared/imaging/tensor.ts): [-1,1], holes zeroed."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for i, (img, mask) in enumerate(pairs):
        h, w = mask.shape
        x = img.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1
        x *= 1 - mask[None]
        x.astype("<f4").tofile(folder / f"{i}-image.bin")
        mask.astype("<f4").tofile(folder / f"{i}-mask.bin")
        cases.append({"i": i, "h": h, "w": w})
    (folder / "cases.json").write_text(json.dumps(cases))


def ort(*args: str | Path) -> None:
    """gpu-jobs/runtime/batch.ts under Node (tsx from the repo's node_modules; paths made absolute,
    since it runs from the repo root)."""
    argv = [str(a.resolve()) if isinstance(a, Path) else a for a in args]
    subprocess.run(["node", "--import", "tsx", "gpu-jobs/runtime/batch.ts", *argv], cwd=ROOT, check=True)


def calibrate(m: onnx.ModelProto, pairs, work: Path) -> dict[str, tuple[float, float]]:
    names = calibration_tensors(m)
    aug = work / "calib.onnx"
    onnx.save(with_outputs(m, names), str(aug))
    write_cases(work / "calib", pairs)
    (work / "names.json").write_text(json.dumps(names))
    ort("ranges", aug, work / "calib", work / "names.json", work / "ranges.json")
    return {k: tuple(v) for k, v in json.loads((work / "ranges.json").read_text()).items()}


def to_uint8(out: np.ndarray) -> np.ndarray:
    return ((out.transpose(1, 2, 0) + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


def run_outputs(model: Path, case_dirs: list[Path], shapes: list[tuple[int, int, int]], work: Path) -> list[list[np.ndarray]]:
    """The model's uint8 outputs for every case folder (one Node process per model)."""
    out = work / f"out-{model.stem}"
    ort("run", model, out, *case_dirs)
    return [[to_uint8(np.fromfile(out / str(k) / f"{i}-output.bin", "<f4").reshape(3, h, w)) for i in range(n)]
            for k, (n, h, w) in enumerate(shapes)]


def torch_bf16_outputs(model: Path, case_dirs: list[Path], shapes: list[tuple[int, int, int]]) -> list[list[np.ndarray]]:
    """The torch runner's uint8 outputs (serve_torch.py's very code path) for every case folder."""
    from .serve_torch import TorchRunner
    runner = TorchRunner(model, "bf16")
    out = []
    for d, (n, h, w) in zip(case_dirs, shapes):
        out.append([to_uint8(runner.run(np.fromfile(d / f"{i}-image.bin", "<f4").reshape(1, 3, h, w),
                                        np.fromfile(d / f"{i}-mask.bin", "<f4").reshape(1, 1, h, w))[0])
                    for i in range(n)])
    return out


def accuracy(fp32: Path, variant: Path | None, imgs: list[np.ndarray], work: Path) -> dict:
    """Hole-PSNR (mean over images) of both models against the originals, per mask kind, and
    whether every unmasked pixel of the variant's output equals the input. variant=None: the
    torch bf16 runner on the fp32 file's weights."""
    h, w = imgs[0].shape[:2]
    masks = masks_for(h, w, len(imgs))
    dirs = []
    for kind, ms in masks.items():
        dirs.append(work / f"eval-{kind}")
        write_cases(dirs[-1], list(zip(imgs, ms)))
    shapes = [(len(imgs), h, w)] * len(dirs)
    a_all = run_outputs(fp32, dirs, shapes, work)
    b_all = torch_bf16_outputs(fp32, dirs, shapes) if variant is None else run_outputs(variant, dirs, shapes, work)
    res: dict = {"unmasked_exact": True}
    for (kind, ms), a, b in zip(masks.items(), a_all, b_all):
        pa = [psnr(o, g, m) for o, g, m in zip(a, imgs, ms)]
        pb = [psnr(o, g, m) for o, g, m in zip(b, imgs, ms)]
        for o, g, m in zip(b, imgs, ms):
            res["unmasked_exact"] &= bool((o[m < 0.5] == g[m < 0.5]).all())
        diff = max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a, b))
        res[kind] = {"hole_psnr_fp32": round(float(np.mean(pa)), 4), "hole_psnr": round(float(np.mean(pb)), 4),
                     "loss_db": round(float(np.mean(pa) - np.mean(pb)), 4), "max_level_diff_vs_fp32": diff}
    return res


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["int8", "fp16", "bf16"])
    ap.add_argument("--model", default=str(ROOT / "gpu-jobs/models/gmcnn.onnx"))
    ap.add_argument("--out", help="variant file (default: <model stem>.<kind>.onnx beside --model)")
    ap.add_argument("--calib", default=str(ROOT / "data/val"), help="calibration images (the val split)")
    ap.add_argument("--eval", default=str(ROOT / "data/val"),
                    help="images the loss is measured on (val; the images after --calib's when the same folder)")
    ap.add_argument("--n", type=int, default=32, help="images per split")
    ap.add_argument("--no-eval", action="store_true", help="skip the accuracy measurement")
    a = ap.parse_args()
    src = Path(a.model).resolve()
    if a.kind == "bf16":
        dst = src  # no new file: the torch runner reads the fp32 file's weights
    else:
        dst = Path(a.out).resolve() if a.out else src.with_name(f"{src.stem}.{a.kind}.onnx")
    with tempfile.TemporaryDirectory(prefix="gmcnn-quantize-") as tmp:
        work = Path(tmp)
        calibration = None
        if a.kind == "int8":
            m = load_fp32(src)
            calib = images(Path(a.calib), a.n)
            h, w = calib[0][1].shape[:2]
            ms = masks_for(h, w, len(calib))
            pairs = [(img, m_) for kind in ms for (_, img), m_ in zip(calib, ms[kind])]
            ranges = calibrate(m, pairs, work)
            variant = quantize_qdq(m, ranges)
            calibration = {
                "folder": rel(Path(a.calib)), "images": len(calib), "size": f"{w}x{h}",
                "files_sha256": hashlib.sha256("\n".join(n for n, _ in calib).encode()).hexdigest(),
                "masks": [f"centre {min(h, w) // 2}px square", f"free-form strokes (seed {MASK_SEED})"],
                "ranges": "min/max of every Conv input and output over all runs",
            }
        elif a.kind == "fp16":
            variant = to_fp16(load_fp32(src))
        if a.kind != "bf16":
            dst.parent.mkdir(parents=True, exist_ok=True)
            onnx.save(variant, str(dst))
        acc = None
        if not a.no_eval:
            # Never the calibration images: the next n of the same folder when --eval is --calib.
            same = a.kind == "int8" and Path(a.eval).resolve() == Path(a.calib).resolve()
            held = images(Path(a.eval), a.n, skip=a.n if same else 0)
            acc = {"folder": rel(Path(a.eval)), "images": len(held),
                   **accuracy(src, None if a.kind == "bf16" else dst, [img for _, img in held], work)}
    use_when = {
        "int8": {"providers": ["cpu"], "cpu_features_any": INT8_CPU_FEATURES},
        "fp16": {"providers": ["cuda", "tensorrt"], "cpu_features_any": []},
        "bf16": {"providers": ["cpu"], "cpu_features_any": BF16_CPU_FEATURES},
    }[a.kind]
    manifest = {
        "precision": a.kind,
        "runtime": "torch" if a.kind == "bf16" else "onnxruntime",
        "file": dst.name,
        "sha256": sha256(dst),
        "bytes": dst.stat().st_size,
        "base": {"file": src.name, "sha256": sha256(src)},
        "scheme": {"int8": INT8_SCHEME, "fp16": FP16_SCHEME, "bf16": BF16_SCHEME}[a.kind],
        "calibration": calibration,
        "accuracy": acc,
        "use_when": use_when,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    mpath = src.with_name(f"{src.stem}.bf16.variant.json") if a.kind == "bf16" else dst.with_name(f"{dst.stem}.variant.json")
    mpath.write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps({"variant": str(dst), "manifest": str(mpath), "accuracy": acc}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
