"""Where a generator's weights and metadata come from, and the checks `model.ship` runs on them.

Only code in this repo writes checkpoint metadata: `train.save_generator` stamps each generator
checkpoint with a digest over its weights *and* its metadata (step, fill, cnum, metrics, config).
`verify_checkpoint` refuses a checkpoint when
  - a key is there that no code writes (e.g. a hand-added `refilled_from`),
  - the digest does not match (weights or metadata edited after training),
  - fill / cnum disagree between the checkpoint, its config and the weights' shapes,
  - the run folder's config.json and log.jsonl (written while training) disagree with it,
  - re-evaluating the weights on the val images does not reproduce the recorded val metrics: a
    relabelled pre-fill or swapped weights cannot reproduce them.
Weights are stored once: the shipped ONNX holds them (fp16), `generator_from_onnx` reads them back.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from .generator import GMCNNGenerator

CKPT_KEYS = {"gen", "cnum", "fill", "step", "metrics", "config", "provenance"}
WRITER = "model.train.save_generator"
METRIC_TOL_DB = 0.05  # re-evaluation vs recorded hole-PSNR (same images, masks and weights)


class ProvenanceError(SystemExit):
    pass


def _canon(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def digest(state: dict, meta: dict) -> str:
    """sha256 over the tensors (name, dtype, shape, bytes, in name order) and the metadata JSON."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    h.update(_canon(meta))
    return h.hexdigest()


def stamp(ck: dict) -> dict:
    meta = {k: ck[k] for k in sorted(ck) if k not in ("gen", "provenance")}
    ck["provenance"] = {"writer": WRITER, "sha256": digest(ck["gen"], meta)}
    return ck


def cnum_of(state: dict) -> int:
    return int(state["b1.0.conv.weight"].shape[0])


def verify_checkpoint(ck: dict, path: str = "checkpoint") -> None:
    extra = set(ck) - CKPT_KEYS
    if extra:
        raise ProvenanceError(f"{path}: keys no code in this repo writes: {sorted(extra)}")
    missing = CKPT_KEYS - set(ck)
    if missing:
        raise ProvenanceError(f"{path}: missing {sorted(missing)} (not written by {WRITER})")
    prov = ck["provenance"]
    meta = {k: ck[k] for k in sorted(ck) if k not in ("gen", "provenance")}
    if prov.get("writer") != WRITER or prov.get("sha256") != digest(ck["gen"], meta):
        raise ProvenanceError(f"{path}: weights or metadata changed after training (digest mismatch)")
    cfg = ck["config"]
    if ck["fill"] != cfg.get("fill") or ck["cnum"] != cfg.get("cnum") or cnum_of(ck["gen"]) != ck["cnum"]:
        raise ProvenanceError(f"{path}: fill/cnum disagree: checkpoint {ck['fill']}/{ck['cnum']}, config "
                              f"{cfg.get('fill')}/{cfg.get('cnum')}, weights cnum {cnum_of(ck['gen'])}")


def verify_run(ck: dict, run_dir: Path, path: str = "checkpoint") -> None:
    """The run folder's own records (config.json, log.jsonl) must tell the same story."""
    cfg_file, log_file = run_dir / "config.json", run_dir / "log.jsonl"
    if not cfg_file.exists() or not log_file.exists():
        raise ProvenanceError(f"{path}: no config.json/log.jsonl beside it: cannot tell how it was trained")
    run_cfg = json.loads(cfg_file.read_text())
    for k in ("fill", "cnum", "crop", "lr", "stage", "data", "val", "precision"):
        if run_cfg.get(k) != ck["config"].get(k):
            raise ProvenanceError(f"{path}: config.{k} is {ck['config'].get(k)!r} but the run trained with {run_cfg.get(k)!r}")
    evals = [json.loads(line) for line in log_file.read_text().splitlines() if '"eval"' in line]
    at = [e["eval"] for e in evals if e.get("step") == ck["step"]]
    if not at:
        raise ProvenanceError(f"{path}: the run's log has no val evaluation at step {ck['step']}")
    if abs(at[-1]["hole_psnr"] - ck["metrics"]["hole_psnr"]) > 1e-6:
        raise ProvenanceError(f"{path}: recorded metrics differ from the run's log at step {ck['step']}")


def verify_metrics(gen, ck: dict, val: str, path: str = "checkpoint") -> dict:
    """Re-run the trainer's val check; it must reproduce the recorded hole-PSNR."""
    from .evaluate import quick_eval
    n = int(ck["config"].get("eval_n", 24))
    got = quick_eval(gen.eval(), val, n, "cpu")
    want = ck["metrics"]["hole_psnr"]
    if abs(got["hole_psnr"] - want) > METRIC_TOL_DB:
        raise ProvenanceError(f"{path}: val hole-PSNR re-evaluates to {got['hole_psnr']:.3f}, recorded {want:.3f}: "
                              "the weights, fill or val split are not the ones it was trained and chosen with")
    return got


def generator_from_onnx(path: str) -> tuple[GMCNNGenerator, dict]:
    """Rebuild the PyTorch generator from a shipped ONNX file and its manifest (weights stored once)."""
    import onnx
    from onnx import numpy_helper
    p = Path(path)
    man = json.loads(p.with_name(p.stem + ".manifest.json").read_text())
    arch = man["architecture"]
    gen = GMCNNGenerator(arch["cnum"], arch["fill"])
    want = gen.state_dict()
    got = {}
    for init in onnx.load(str(p)).graph.initializer:
        name = init.name[:-5] if init.name.endswith("_fp16") else init.name
        if name.startswith("gen.") and name[4:] in want:
            got[name[4:]] = torch.from_numpy(np.array(numpy_helper.to_array(init), dtype=np.float32))
    if set(got) != set(want):
        raise ProvenanceError(f"{path}: weights missing from the graph: {sorted(set(want) - set(got))[:5]}")
    gen.load_state_dict(got)
    return gen, man
