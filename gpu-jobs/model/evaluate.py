"""Evaluation on the val or test split: GMCNN beside the classical fills, in one run.

    python3 -m model.evaluate [--split val|test] [--model [NAME=]PATH ...] [--n N] [--json F]   # from gpu-jobs/
    npm run eval -- --split test                                                             # the same

Splits (see model.dataset): `val` makes every choice (sweeps, checkpoints, calibration); `test` is
reported once per shipped model and never used to choose anything. `--images DIR` evaluates any
folder of PNGs instead (the quality fixtures, say).

Models: without --model, the shipped ONNX model (models/gmcnn.onnx) runs through the serving path
(`gmcnn inpaint --batch`: ONNX Runtime, the same code users run); a `.pt` generator checkpoint runs
in PyTorch. Beside each model with a pre-fill, its pre-fill alone (the generator's own `prefill`,
composited) is a row of its own: the difference is what the network itself adds.

Masks are seeded and the same for every method and run: a centre 128x128 hole, and free-form
strokes (the TF training settings, 8 independent strokes). Classical methods: OpenCV Telea,
Navier-Stokes, FSR (frequency-selective reconstruction, FSR_FAST), ShiftMap (patch copying), and the
mean colour. Metrics: PSNR and SSIM of the composited image and hole-PSNR (inside the hole only),
each PSNR capped at 50 dB per image, then averaged over images; sharpness (see metrics.sharpness:
detail inside the hole, output over truth, pooled; 1.0 = as much as the truth); grid (see
metrics.grid_score: stride-aligned 8-px energy beyond the truth's, as a share of the truth's detail;
0 = none; sharpness alone also rewards such a checkerboard).

FSR and ShiftMap take seconds per 256x256 image (ShiftMap up to ~20 s on a free-form mask): they run
on --jobs processes, and their outputs are cached in runs/eval-cache/ (git-ignored; keyed by image,
mask, method and OpenCV version), so evaluating the next checkpoint costs only the model.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .classical import BASELINES, LABELS, run_classical
from .generator import composite, prefill
from .masks import centre_mask, stroke_mask
from .metrics import capped_psnr, grid_excess, grid_score, hole_gradient, sharpness, ssim

HERE = Path(__file__).resolve().parent.parent  # gpu-jobs/
ROOT = HERE.parent
SHIPPED = HERE / "models" / "gmcnn.onnx"
DEFAULT_CACHE = ROOT / "runs" / "eval-cache"
SPLITS = ("val", "test")
KINDS = ("center", "freeform")
EVAL_SEED = 1234

Images = Sequence[np.ndarray]
Runner = Callable[[Images, Images], list[np.ndarray]]  # (images, masks) -> outputs, all uint8 HxWx3


def split_folder(split: str, data: str | Path = ROOT / "data") -> Path:
    if split not in SPLITS:
        raise SystemExit(f"--split must be one of {SPLITS}, got {split!r}")
    return Path(data) / split


def eval_images(folder: str | Path, n: int | None = None) -> list[np.ndarray]:
    """The first n PNGs of a folder in name order (all when n is None)."""
    paths = sorted(Path(folder).glob("*.png"))[:n]
    if not paths:
        raise SystemExit(f"no PNG images in {folder}: run `python3 -m model.dataset` first")
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def eval_masks(kind: str, h: int, w: int, n: int) -> list[np.ndarray]:
    """The i-th image of a run always gets the i-th mask (1 = hole), whatever n is. The centre
    hole is half the shorter side (128x128 at 256x256, as the paper's test)."""
    if kind == "center":
        return [centre_mask(h, w, min(h, w) // 2) for _ in range(n)]
    rng = np.random.default_rng(EVAL_SEED)
    out = []
    while len(out) < n:
        m = stroke_mask(rng, h, w)
        if m.sum() >= 64:
            out.append(m)
    return out


def to_tensor(img: np.ndarray, device) -> torch.Tensor:
    # np.array copies: arrays from PIL are read-only, which torch.from_numpy warns about.
    return torch.from_numpy(np.array(img)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1


def to_uint8(t: torch.Tensor) -> np.ndarray:
    # Round (the TF test script truncates); rounding is the unbiased choice.
    return ((t[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


# ---- models ----

@dataclass
class Model:
    name: str
    run: Runner
    fill: str | None  # the pre-fill the network predicts a residual over; None when unknown


@torch.no_grad()
def run_model(gen, img: np.ndarray, mask: np.ndarray, device="cpu") -> np.ndarray:
    x = to_tensor(img, device)
    m = torch.from_numpy(mask)[None, None].to(device)
    return to_uint8(composite(gen(x, m), x, m))


def torch_model(name: str, gen, device="cpu") -> Model:
    return Model(name, lambda imgs, masks: [run_model(gen, im, m, device) for im, m in zip(imgs, masks)], gen.fill)


def _node() -> str:
    node = os.environ.get("GMCNN_NODE") or shutil.which("node")
    if not node:
        raise SystemExit("evaluating an ONNX model runs `gmcnn inpaint`: node is not on PATH (or set GMCNN_NODE)")
    return node


def run_onnx(path: str | Path, imgs: Images, masks: Images, threads: int = 2) -> list[np.ndarray]:
    """Inpaint through the serving path: one `gmcnn inpaint --batch` process for all pairs."""
    with tempfile.TemporaryDirectory(prefix="gmcnn-eval-") as t:
        d = Path(t)
        lines = []
        for i, (im, m) in enumerate(zip(imgs, masks)):
            Image.fromarray(im).save(d / f"{i}.png")
            Image.fromarray((m > 0.5).astype(np.uint8) * 255).save(d / f"{i}-mask.png")  # white = hole
            lines.append(f"{i}.png\t{i}-mask.png\t{i}-out.png")
        (d / "pairs.tsv").write_text("\n".join(lines) + "\n")
        cmd = [_node(), str(HERE / "bin" / "gmcnn.mjs"), "inpaint", "--batch", str(d / "pairs.tsv"),
               "--model", str(Path(path).resolve()), "--threads", str(threads)]
        # The file given, in fp32: the serving path may otherwise pick a quantized variant on some
        # CPUs. Set GMCNN_PRECISION yourself to measure one.
        env = {**os.environ, "GMCNN_PRECISION": os.environ.get("GMCNN_PRECISION", "fp32")}
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"gmcnn inpaint failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
        return [np.asarray(Image.open(d / f"{i}-out.png").convert("RGB")) for i in range(len(imgs))]


def manifest_of(onnx: str | Path) -> dict | None:
    p = Path(onnx)
    m = p.with_name(p.name.removesuffix(".onnx") + ".manifest.json")
    return json.loads(m.read_text()) if m.exists() else None


def onnx_model(path: str | Path, name: str = "", threads: int = 2) -> Model:
    man = manifest_of(path) or {}
    fill = man.get("architecture", {}).get("fill")
    if not name:
        name = f"{man['name']}@{man['version']}" if "name" in man else Path(path).stem
    return Model(name, lambda imgs, masks: run_onnx(path, imgs, masks, threads), fill)


def load_model(spec: str, threads: int = 2, device="cpu") -> Model:
    """`[NAME=]PATH`: PATH ends in .onnx (serving path) or is a generator checkpoint (PyTorch)."""
    name, _, path = spec.rpartition("=")
    if not Path(path).exists():
        raise SystemExit(f"no such model: {path}")
    if path.endswith(".onnx"):
        return onnx_model(path, name, threads)
    from .train import load_generator  # train imports this module: load lazily
    gen, _ = load_generator(path, device)
    return torch_model(name or Path(path).stem, gen.eval(), device)


@torch.no_grad()
def prefill_outputs(fill: str, imgs: Images, masks: Images) -> list[np.ndarray] | None:
    """The generator's own pre-fill alone, composited: what the network starts from. None for the
    paper's zero fill (there is nothing to compare against)."""
    outs = []
    threads = torch.get_num_threads()
    # Many small ops: on a busy 2-core machine, two OpenMP threads made them 8-20x slower (measured).
    torch.set_num_threads(1)
    try:
        for im, m in zip(imgs, masks):
            x = to_tensor(im, "cpu")
            mt = torch.from_numpy(m)[None, None]
            base = prefill(fill, x, 1 - mt)
            if base is None:
                return None
            outs.append(to_uint8(composite(base.clamp(-1, 1), x, mt)))
    finally:
        torch.set_num_threads(threads)
    return outs


# ---- scores ----

def score(out: np.ndarray, img: np.ndarray, mask: np.ndarray) -> dict:
    hole = mask > 0.5
    return {"psnr": capped_psnr(out, img), "ssim": ssim(out, img), "hole_psnr": capped_psnr(out, img, hole),
            "grad": (hole_gradient(out, hole), hole_gradient(img, hole)),
            "grid": grid_excess(out, img, hole)}


def summarise(rows: list[dict]) -> dict:
    """Means over images, and sharpness pooled over images."""
    s = {k: round(float(np.mean([r[k] for r in rows])), 3) for k in ("psnr", "ssim", "hole_psnr")}
    s["sharpness"] = round(sharpness(r["grad"] for r in rows), 3)
    s["grid"] = round(grid_score(r["grid"] for r in rows), 4)
    return s


_PREFILL_SCORES: dict = {}


@torch.no_grad()
def quick_eval(gen, folder: str, n: int, device) -> dict:
    """What the trainer tracks on the first n images of a split (val): the centre-hole metrics at
    the top level (checkpoint selection), the free-form ones under `freeform`, and, for a residual
    model, `contribution`: the network's hole-PSNR over its own pre-fill, per mask kind (dB)."""
    imgs = eval_images(folder, n)
    out: dict = {}
    for kind in KINDS:
        masks = eval_masks(kind, *imgs[0].shape[:2], len(imgs))
        s = summarise([score(run_model(gen, im, m, device), im, m) for im, m in zip(imgs, masks)])
        if kind == "center":
            out.update(s)
        else:
            out[kind] = s
        fill = getattr(gen, "fill", "zero")
        key = (str(folder), len(imgs), fill, kind)
        if key not in _PREFILL_SCORES:
            pre = prefill_outputs(fill, imgs, masks)
            _PREFILL_SCORES[key] = None if pre is None else summarise(
                [score(o, im, m) for o, im, m in zip(pre, imgs, masks)])
        if _PREFILL_SCORES[key] is not None:
            out.setdefault("contribution", {})[kind] = round(s["hole_psnr"] - _PREFILL_SCORES[key]["hole_psnr"], 3)
    out["score"] = selection_score(out)
    return out


def selection_score(m: dict) -> float:
    """What checkpoints are chosen by, on val: the mean hole-PSNR over both mask kinds (a model
    must fill big centre holes and thin strokes alike). Old records without free-form: centre."""
    return round((m["hole_psnr"] + m["freeform"]["hole_psnr"]) / 2, 3) if "freeform" in m else m["hole_psnr"]


def sharpness_score(m: dict) -> float:
    """What stage-2 checkpoints are chosen by, among those close enough in hole-PSNR: the mean val
    sharpness over both mask kinds (the 0.3.0 bar wants >= 0.5 on each)."""
    return round((m["sharpness"] + m["freeform"]["sharpness"]) / 2, 3) if "freeform" in m else m.get("sharpness", -1.0)


def grid_mean(m: dict) -> float:
    """The stride grid (metrics.grid_score) of a val record, mean over both mask kinds; 0 for records
    from before the metric."""
    kinds = [m.get("grid"), m.get("freeform", {}).get("grid")]
    kinds = [g for g in kinds if g is not None]
    return round(sum(kinds) / len(kinds), 4) if kinds else 0.0


def full_eval(models: dict, folder: str | Path, n: int | None = None, device="cpu", baselines: bool | Sequence[str] = True,
              *, jobs: int = 2, cache: Path | None = DEFAULT_CACHE, log=None) -> dict:
    """{mask kind: {method: {psnr, ssim, hole_psnr, sharpness}}} plus `_n`, `_hole_ratio` per kind,
    `_contribution` (model over its own pre-fill, hole-PSNR dB) and `_seconds` per method.
    `models` maps a name to a generator (nn.Module) or a Model."""
    imgs = eval_images(folder, n)
    shape = imgs[0].shape
    if any(im.shape != shape for im in imgs):
        raise SystemExit(f"images in {folder} differ in size: evaluation wants fixed crops")
    names = list(BASELINES) if baselines is True else list(baselines or [])
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise SystemExit(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}")
    mods = [replace(m, name=k) if isinstance(m, Model) else torch_model(k, m, device) for k, m in models.items()]
    res: dict = {"_n": len(imgs), "_size": list(shape[:2]), "_images": str(folder), "_contribution": {}, "_seconds": {}}
    prefill_row = {}
    for kind in KINDS:
        masks = eval_masks(kind, shape[0], shape[1], len(imgs))
        outs: dict[str, list[np.ndarray]] = {}

        def timed(key, f):
            t = time.perf_counter()
            out = f()
            res["_seconds"][key] = round(res["_seconds"].get(key, 0) + time.perf_counter() - t, 1)
            if log and out is not None:
                log(f"{kind} {key}: {len(imgs)} images, {res['_seconds'][key]:.1f} s so far")
            return out

        for b in names:
            outs[b] = timed(b, lambda b=b: run_classical(b, imgs, masks, jobs, cache))
        for mdl in mods:
            outs[mdl.name] = timed(mdl.name, lambda mdl=mdl: mdl.run(imgs, masks))
            if mdl.fill:
                pre = timed(f"{mdl.name} pre-fill", lambda mdl=mdl: prefill_outputs(mdl.fill, imgs, masks))
                if pre is not None:
                    prefill_row[mdl.name] = f"{mdl.name} pre-fill ({mdl.fill})"
                    outs[prefill_row[mdl.name]] = pre
        res[kind] = {k: summarise([score(o, im, m) for o, im, m in zip(v, imgs, masks)]) for k, v in outs.items()}
        res[kind]["_hole_ratio"] = round(float(np.mean([m.mean() for m in masks])), 3)
    for name, row in prefill_row.items():
        res["_contribution"][name] = {"prefill": row, **{k: round(res[k][name]["hole_psnr"] - res[k][row]["hole_psnr"], 3)
                                                         for k in KINDS}}
    return res


def table(res: dict) -> str:
    """Markdown: one row per method, centre and free-form side by side."""
    c, f = res["center"], res["freeform"]
    names = [k for k in c if not k.startswith("_")]
    # Results from before the grid metric (the committed EVAL.md of 0.2.3) keep their columns.
    grid = all("grid" in c[k] for k in names)
    lines = ["| method | centre hole-PSNR | free-form hole-PSNR | sharpness centre / free-form "
             + ("| grid centre / free-form " if grid else "")
             + "| PSNR centre / free-form | SSIM centre / free-form |", "|---|---|---|---|---|---|" + ("---|" if grid else "")]
    for name in names:
        a, b = c[name], f[name]
        lines.append(f"| {LABELS.get(name, name)} | {a['hole_psnr']:.2f} | {b['hole_psnr']:.2f} "
                     f"| {a['sharpness']:.2f} / {b['sharpness']:.2f} "
                     + (f"| {a['grid']:.4f} / {b['grid']:.4f} " if grid else "")
                     + f"| {a['psnr']:.2f} / {b['psnr']:.2f} | {a['ssim']:.4f} / {b['ssim']:.4f} |")
    for name, d in res.get("_contribution", {}).items():
        lines.append(f"\nThe network's own contribution, {name} over {d['prefill']}: "
                     f"centre {d['center']:+.2f} dB, free-form {d['freeform']:+.2f} dB hole-PSNR.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=SPLITS, default="val", help="val (default): for choosing; test: report once per shipped model")
    ap.add_argument("--data", default=str(ROOT / "data"), help="dataset root holding val/ and test/ (default: %(default)s)")
    ap.add_argument("--images", help="evaluate this folder of same-size PNGs instead of a split")
    ap.add_argument("--heldout", dest="images", help=argparse.SUPPRESS)  # the old name of --images
    ap.add_argument("--model", action="append", default=[],
                    help="[NAME=]PATH, .onnx (serving path) or a generator .pt; repeatable (default: the shipped model)")
    ap.add_argument("--baselines", default=",".join(BASELINES), help="comma-separated subset of %(default)s, or none")
    ap.add_argument("--n", type=int, help="first N images only (default: all)")
    ap.add_argument("--threads", type=int, default=2, help="model threads")
    ap.add_argument("--jobs", type=int, default=2, help="processes for FSR and ShiftMap")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="cache of FSR/ShiftMap outputs (default: %(default)s)")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--quick", action="store_true",
                    help="print the trainer's val-check record (quick_eval: both kinds, contribution over the "
                         "pre-fill, grid) of each generator .pt as a JSON line, instead of the table")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    folder = Path(a.images) if a.images else split_folder(a.split, a.data)
    if a.quick:
        from .train import load_generator  # train imports this module: import here, not at the top
        for spec in a.model:
            gen, ck = load_generator(spec.split("=", 1)[-1])
            print(json.dumps({"model": spec, "step": ck.get("step"), **quick_eval(gen.eval(), folder, a.n, "cpu")}), flush=True)
        return
    if not a.images and a.split == "test":
        print("test split: report these numbers once per shipped model; choose nothing with them", file=sys.stderr)
    models = [load_model(s, a.threads) for s in (a.model or [str(SHIPPED)])]
    baselines = [] if a.baselines == "none" else [b for b in a.baselines.split(",") if b]
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    res = full_eval({m.name: m for m in models}, folder, a.n, baselines=baselines, jobs=a.jobs,
                    cache=None if a.no_cache else Path(a.cache), log=log)
    print(table(res))
    what = f"{a.split} split" if not a.images else str(folder)
    h, w = res["_size"]
    print(f"\n{res['_n']} images ({what}), {w}x{h}; hole ratio centre {res['center']['_hole_ratio']}, "
          f"free-form {res['freeform']['_hole_ratio']}; seconds per method {res['_seconds']}", file=sys.stderr)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
