"""Where a generator's weights and metadata come from, and the checks `model.ship` runs on them.

Only code in this repo writes checkpoint metadata: `train.save_generator` stamps each generator
checkpoint with a digest over its weights *and* its metadata (step, fill, cnum, metrics, config).
`verify_checkpoint` refuses a checkpoint when
  - a key is there that no code writes (e.g. a hand-added `refilled_from`),
  - the digest does not match (weights or metadata edited after training),
  - fill / cnum disagree between the checkpoint, its config and the weights' shapes,
  - the run folder's config.json and log.jsonl (written while training) disagree with it: the
    trainer's start records (each run segment's first log line) name the fill and cnum it trained,
  - re-evaluating the weights on the val images does not reproduce the recorded val hole-PSNR of
    both mask kinds within METRIC_TOL_DB: a relabelled pre-fill or swapped weights cannot.
Weights are stored once: the shipped ONNX holds them (fp16), `generator_from_onnx` reads them back.

A shipped ONNX file is tied to the checkpoint it was exported from (`verify_shipped`): its own
metadata (metadata_props: gmcnn.fill, gmcnn.cnum, gmcnn.checkpoint.sha256 / .provenance_sha256 /
.step, written by `model.export`) and its manifest (architecture.fill, checkpoint) must agree; the
checkpoint (the committed file, or that path's version in git history) must have that SHA-256,
pass `verify_checkpoint` and carry that fill; the ONNX weights must be the checkpoint's; and the
graph must be, byte for byte, what exporting that checkpoint under its fill gives again (the export
is reproducible with the same torch): a graph that computes another pre-fill than its labels say,
or weights from elsewhere, cannot pass.

    python3 -m model.provenance verify models/gmcnn.onnx     # from gpu-jobs/
    python3 -m model.provenance restamp models/gmcnn.onnx --ckpt models/checkpoints/stage1-cpu.pt
`restamp` re-exports a file shipped before this metadata existed from its checkpoint, refuses
unless the graph is unchanged (same outputs), and updates the manifest's sha256, bytes and
checkpoint (everything else in the manifest stays).
"""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from .generator import GMCNNGenerator

CKPT_KEYS = {"gen", "cnum", "fill", "step", "metrics", "config", "provenance"}
WRITER = "model.train.save_generator"
# Re-evaluation vs recorded hole-PSNR, per mask kind (same images, masks and weights). Measured on
# gmcnn@0.2.1's checkpoint (2026-12-05): run to run and on 1 or 2 threads the uint8 outputs are
# bit-identical; in channels_last (as the trainer evaluates) one value in 1.6 million differs
# (7e-7 dB); the trainer's record (fp32 weights, channels_last) and model.ship's re-evaluation
# (the checkpoint's fp16 weights) agree to the recorded 3 decimals on both kinds (32 val images).
# The same weights under another fill move it by +0.045 to +0.096 dB (issue 17): 9x this bound.
METRIC_TOL_DB = 0.005
HERE = Path(__file__).resolve().parent.parent  # gpu-jobs/


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
    lines = log_file.read_text().splitlines()
    first = json.loads(lines[0]) if lines else {}
    if "start" not in first:
        raise ProvenanceError(f"{path}: {log_file} does not begin with the trainer's start record")
    for rec in (json.loads(line) for line in lines if line.startswith('{"start"')):
        for k in ("fill", "cnum"):  # start records from before 2026-12-05 name neither
            if k in rec and rec[k] != ck[k]:
                raise ProvenanceError(f"{path}: {k} is {ck[k]!r} but the trainer's start record (step {rec['start']}) "
                                      f"says the run trained {rec[k]!r}")
    evals = [json.loads(line) for line in lines if '"eval"' in line]
    at = [e["eval"] for e in evals if e.get("step") == ck["step"]]
    if not at:
        raise ProvenanceError(f"{path}: the run's log has no val evaluation at step {ck['step']}")
    if abs(at[-1]["hole_psnr"] - ck["metrics"]["hole_psnr"]) > 1e-6:
        raise ProvenanceError(f"{path}: recorded metrics differ from the run's log at step {ck['step']}")


def verify_metrics(gen, ck: dict, val: str, path: str = "checkpoint") -> dict:
    """Re-run the trainer's val check; it must reproduce the recorded hole-PSNR of each mask kind
    (centre; free-form where recorded) within METRIC_TOL_DB."""
    from .evaluate import quick_eval
    n = int(ck["config"].get("eval_n", 24))
    got = quick_eval(gen.eval(), val, n, "cpu")
    rec = ck["metrics"]
    pairs = [("centre", got["hole_psnr"], rec["hole_psnr"])]
    if "freeform" in rec:
        pairs.append(("free-form", got["freeform"]["hole_psnr"], rec["freeform"]["hole_psnr"]))
    for kind, have, want in pairs:
        if abs(have - want) > METRIC_TOL_DB:
            raise ProvenanceError(f"{path}: val {kind} hole-PSNR re-evaluates to {have:.3f}, recorded {want:.3f} "
                                  f"(tolerance {METRIC_TOL_DB} dB): the weights, fill or val split are not the ones "
                                  "it was trained and chosen with")
    return got


def generator_from_onnx(path: str) -> tuple[GMCNNGenerator, dict]:
    """Rebuild the PyTorch generator from a shipped ONNX file and its manifest (weights stored once)."""
    import onnx
    from onnx import numpy_helper
    p = Path(path)
    man = json.loads(p.with_name(p.stem + ".manifest.json").read_text())
    arch = man["architecture"]
    gen = GMCNNGenerator(arch["cnum"], arch["fill"], upsample=arch.get("upsample", "tf"))
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


# ---- a shipped ONNX file and the checkpoint it was exported from ----

def onnx_metadata(model) -> dict[str, str]:
    from .export import META_PREFIX
    return {p.key[len(META_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(META_PREFIX)}


def graph_bytes(model) -> bytes:
    """The file's bytes but its metadata: what the weights and the graph (the pre-fill included) are."""
    import onnx
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.metadata_props[:]
    return m.SerializeToString()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git(*args: str, cwd: Path) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True).stdout


def find_checkpoint(sha: str, files: list[str], base: Path = HERE) -> bytes:
    """The checkpoint with this SHA-256: at one of `files` (relative to gpu-jobs/), or in that
    path's git history (a run's committed checkpoint moves on as training continues)."""
    for file in files:
        p = Path(file) if Path(file).is_absolute() else base / file
        if p.exists():
            data = p.read_bytes()
            if _sha256(data) == sha:
                return data
        try:
            top = Path(_git("rev-parse", "--show-toplevel", cwd=base).decode().strip())
            rel = str(p.resolve().relative_to(top))
            for commit in _git("rev-list", "HEAD", "--", rel, cwd=top).decode().split():
                data = _git("show", f"{commit}:{rel}", cwd=top)
                if _sha256(data) == sha:
                    return data
        except (subprocess.CalledProcessError, ValueError, OSError):
            pass
    raise ProvenanceError(f"no checkpoint with sha256 {sha[:12]}... at {' or '.join(files)} or in git history: "
                          "commit it (gpu-jobs/scripts/commit-best.sh)")


def regenerate(ck: dict) -> bytes:
    """Export the checkpoint again (fp16 weights, as model.ship does): the graph bytes, no metadata."""
    import onnx
    from .export import build
    with torch.random.fork_rng():  # building a generator draws its initial weights: leave the caller's RNG alone
        gen = GMCNNGenerator(int(ck["cnum"]), ck["fill"], upsample=ck.get("config", {}).get("upsample", "tf"))
    gen.load_state_dict({k: v.float() for k, v in ck["gen"].items()})
    with tempfile.TemporaryDirectory(prefix="gmcnn-regen-") as t:
        out = Path(t) / "m.onnx"
        build(gen.eval(), out, fp16=True)
        return graph_bytes(onnx.load(str(out)))


def verify_shipped(path: str | Path, ckpt: str | Path | None = None, regen: bool = True) -> dict:
    """The shipped file, its manifest, its own metadata and its checkpoint tell one story (module
    docstring). `ckpt` overrides where the checkpoint is looked for. Returns what was checked."""
    import onnx
    p = Path(path)
    raw = p.read_bytes()
    model = onnx.load_from_string(raw)
    meta = onnx_metadata(model)
    mpath = p.with_name(p.name.removesuffix(".onnx") + ".manifest.json")
    if not mpath.exists():
        raise ProvenanceError(f"{p}: no manifest beside it ({mpath.name})")
    man = json.loads(mpath.read_text())
    if man.get("sha256") != _sha256(raw) or man.get("bytes") != len(raw):
        raise ProvenanceError(f"{p}: the manifest's sha256/bytes are not this file's")
    if "fill" not in meta or "checkpoint.sha256" not in meta:
        raise ProvenanceError(f"{p}: its ONNX metadata names no pre-fill or checkpoint (exported before they were "
                              "recorded): `python3 -m model.provenance restamp` re-exports it from its checkpoint")
    arch, mck = man["architecture"], man.get("checkpoint") or {}
    if (arch.get("fill"), str(arch.get("cnum"))) != (meta["fill"], meta.get("cnum")):
        raise ProvenanceError(f"{p}: the manifest says fill={arch.get('fill')} cnum={arch.get('cnum')}, the graph's "
                              f"metadata fill={meta['fill']} cnum={meta.get('cnum')}")
    for k in ("sha256", "provenance_sha256", "step"):
        if str(mck.get(k)) != meta.get(f"checkpoint.{k}", "None"):
            raise ProvenanceError(f"{p}: the manifest's checkpoint.{k} {mck.get(k)!r} is not the graph's metadata "
                                  f"{meta.get(f'checkpoint.{k}')!r}")
    # where the manifest says, else the run's committed copy (commit-best.sh may have copied it after the ship)
    where = [f for f in (mck.get("file"), man.get("training", {}).get("config", {}).get("committed")) if f]
    data = Path(ckpt).read_bytes() if ckpt else find_checkpoint(meta["checkpoint.sha256"], where)
    if _sha256(data) != meta["checkpoint.sha256"]:
        raise ProvenanceError(f"{p}: exported from checkpoint {meta['checkpoint.sha256'][:12]}..., not {ckpt} "
                              f"({_sha256(data)[:12]}...)")
    ck = torch.load(io.BytesIO(data), map_location="cpu")
    verify_checkpoint(ck, str(ckpt or mck.get("file")))
    if ck["provenance"]["sha256"] != meta["checkpoint.provenance_sha256"] or str(ck["step"]) != meta["checkpoint.step"]:
        raise ProvenanceError(f"{p}: the checkpoint's digest or step is not the one the graph's metadata records")
    if (ck["fill"], str(ck["cnum"])) != (meta["fill"], meta["cnum"]):
        raise ProvenanceError(f"{p}: labelled fill={meta['fill']} cnum={meta['cnum']}, but its checkpoint (digested "
                              f"metadata) was trained with fill={ck['fill']} cnum={ck['cnum']}")
    gen, _ = generator_from_onnx(str(p))
    for k, v in gen.state_dict().items():
        if not torch.equal(v, ck["gen"][k].float()):
            raise ProvenanceError(f"{p}: weight {k} is not the checkpoint's")
    checked = {"file": str(p), "fill": meta["fill"], "cnum": int(meta["cnum"]), "checkpoint": meta["checkpoint.sha256"],
               "step": int(ck["step"]), "regenerated": False}
    if regen:
        from torch.onnx import producer_version
        if (model.producer_name, model.producer_version) != ("pytorch", producer_version):
            # another exporter writes another graph for the same weights and fill: nothing to compare
            checked["not_regenerated"] = (f"exported by {model.producer_name} {model.producer_version}, "
                                          f"this is torch.onnx {producer_version}")
        elif regenerate(ck) != graph_bytes(model):
            raise ProvenanceError(f"{p}: its graph is not what exporting its checkpoint (fill={ck['fill']}) gives: "
                                  "another pre-fill or a hand-edited graph")
        else:
            checked["regenerated"] = True
    return checked


def restamp(path: str | Path, ckpt: str | Path) -> dict:
    """Re-export a shipped file (from before the ONNX metadata) from its checkpoint, in place, with
    the metadata; refuse unless the graph is unchanged. The manifest gains `checkpoint` and a new
    sha256/bytes; everything else in it stays."""
    import onnx
    from .export import checkpoint_record, onnx_metadata as props_of, sha256
    from .train import load_generator
    p = Path(path)
    old = onnx.load(str(p))
    gen, ck = load_generator(str(ckpt))
    verify_checkpoint(ck, str(ckpt))
    if regenerate(ck) != graph_bytes(old):
        raise ProvenanceError(f"{p}: exporting {ckpt} does not give this graph: not the checkpoint it came from")
    rec = checkpoint_record(ckpt, ck)
    props = {q.key: q.value for q in old.metadata_props}
    props.update(props_of(gen, rec))
    del old.metadata_props[:]
    onnx.helper.set_model_props(old, props)
    onnx.save(old, str(p))
    mpath = p.with_name(p.name.removesuffix(".onnx") + ".manifest.json")
    man = json.loads(mpath.read_text())
    man["sha256"], man["bytes"] = sha256(p), p.stat().st_size
    rest = {k: man.pop(k) for k in [k for k in man if k == "created"]}
    man["checkpoint"] = {k: v for k, v in rec.items() if v is not None}
    man.update(rest)
    mpath.write_text(json.dumps(man, indent=2) + "\n")
    return verify_shipped(p)


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["verify", "restamp"])
    ap.add_argument("onnx")
    ap.add_argument("--ckpt", help="the checkpoint (verify: default where the manifest says, or its git history)")
    a = ap.parse_args()
    try:
        checked = restamp(a.onnx, a.ckpt) if a.command == "restamp" else verify_shipped(a.onnx, a.ckpt)
    except ProvenanceError as e:
        raise SystemExit(f"provenance: {e}")
    print(json.dumps(checked, indent=2))


if __name__ == "__main__":
    main()
