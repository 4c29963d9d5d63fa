"""Timings of the generator graph (generator + composite, as shipped) and the machine's peaks.

    python3 -m model.bench torch --ckpt C.pt|M.onnx [--sizes 256,512] [--batches 1] [--runs 5] [--threads 2]
                                 [--modes eager,channels_last,bf16_cl] [--device cpu]
    python3 -m model.bench peaks [--threads 2] [--ort-models DIR]
    python3 -m model.bench gpu --onnx M [--fp16-onnx M16] [--ckpt C] [--sizes 256,512,1024] [--batches 1,8]

`torch` and `peaks` print one JSON object on stdout: `npm run bench` (bench/model.ts) times ONNX
Runtime in the same run and prints the table. `gpu` is the GPU benchmark
(gpu-jobs/scripts/gpu-bench.sh): ONNX Runtime CUDA fp32/fp16, TensorRT where present, PyTorch
CUDA bf16 + channels_last with and without torch.compile, one table. `--rehearse` runs the same
code on the CPU at tiny sizes (the test suite does), each GPU provider replaced by the CPU one.

Modes: eager (fp32, NCHW), channels_last (fp32), bf16_cl (bf16 autocast + channels_last),
bf16_cl_jit (the same traced and frozen per size: oneDNN fuses conv + ELU; measured ~20% faster
than bf16_cl at 512 on a Zen 5), bf16_cl_compile (through torch.compile, where this torch has it).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from .generator import InpaintGraph
from .train import cpu_flags, load_generator


def load_weights(path: str):
    """The generator from a checkpoint (.pt) or from a shipped ONNX file (its manifest beside it):
    the PyTorch paths then run exactly the weights ONNX Runtime runs."""
    if path.endswith(".onnx"):
        from .provenance import generator_from_onnx
        return generator_from_onnx(path)[0]
    return load_generator(path)[0]

ROOT = Path(__file__).resolve().parents[2]
MODES = ("eager", "channels_last", "bf16_cl", "bf16_cl_jit", "bf16_cl_compile")


def best_of(f, reps: int = 5) -> float:
    f()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def gemm_gflops(dtype: torch.dtype, n: int = 2048) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n ** 3 / best_of(lambda: a @ b) / 1e9


def write_peak_models(folder: Path, n: int = 1024) -> dict:
    """One n^3 GEMM per precision for ONNX Runtime to time: MatMul (float32, MLAS sgemm) and
    MatMulInteger (uint8 x int8 -> int32, the kernel its QLinearConv runs on)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    out = {}
    for name, op, a_type, b in (
            ("fp32", "MatMul", TensorProto.FLOAT, rng.standard_normal((n, n)).astype(np.float32)),
            ("int8", "MatMulInteger", TensorProto.UINT8, rng.integers(-127, 128, (n, n)).astype(np.int8))):
        y_type = TensorProto.FLOAT if name == "fp32" else TensorProto.INT32
        g = helper.make_graph([helper.make_node(op, ["a", "b"], ["y"])], f"{name}-peak",
                              [helper.make_tensor_value_info("a", a_type, [n, n])],
                              [helper.make_tensor_value_info("y", y_type, [n, n])], [numpy_helper.from_array(b, "b")])
        path = folder / f"{name}-peak.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        out[name] = {"path": str(path), "n": n, "gop": 2 * n ** 3 / 1e9}
    return out


def peaks(threads: int, model_dir: str | None) -> dict:
    torch.set_num_threads(threads)
    flags = cpu_flags()
    bf16 = "amx_bf16" in flags or "avx512_bf16" in flags
    out = {"torch": torch.__version__, "threads": threads, "fp32_gflops": round(gemm_gflops(torch.float32), 1),
           "bf16_gflops": round(gemm_gflops(torch.bfloat16), 1) if bf16 else None}
    if model_dir:
        out["ort_models"] = write_peak_models(Path(model_dir))
    return out


# ---------------------------------------------------------------------------------------------
# PyTorch paths
# ---------------------------------------------------------------------------------------------

def native_bf16(device: str) -> bool:
    """bf16 arithmetic in hardware: AMX tiles, or AVX512-BF16 (Zen 4/5, Cooper Lake), which oneDNN
    uses although torch's "CPU capability" line says AVX2."""
    return device == "cuda" or bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def skip_reason(mode: str, device: str, rehearse: bool = False) -> str | None:
    if mode == "bf16_cl_compile" and not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    if mode.startswith("bf16") and not native_bf16(device) and not rehearse:
        return "no AMX or AVX512-BF16: bf16 runs emulated on this CPU, slower than fp32"
    return None


def prepare(graph: torch.nn.Module, mode: str, device: str) -> torch.nn.Module:
    """The module of one mode (moved in place: modes run one after the other). torch.compile
    fails lazily, so the first (warm-up) call is where a compile error shows."""
    fmt = torch.contiguous_format if mode == "eager" else torch.channels_last
    g = graph.to(device=device, memory_format=fmt)
    return torch.compile(g) if mode == "bf16_cl_compile" else g


def time_torch(g: torch.nn.Module, mode: str, device: str, s: int, n: int, runs: int, amp: bool = True) -> float:
    """Median ms of `runs` calls. amp=False runs a bf16 mode in fp32 (the rehearsal on a CPU
    without native bf16, where emulated bf16 takes seconds even at 16x16)."""
    gen = torch.Generator().manual_seed(s)
    img = (torch.rand(n, 3, s, s, generator=gen) * 2 - 1).to(device)
    mask = torch.zeros(n, 1, s, s)
    mask[..., s // 4: 3 * s // 4, s // 4: 3 * s // 4] = 1
    mask = mask.to(device)
    if mode != "eager":
        img, mask = img.contiguous(memory_format=torch.channels_last), mask.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if mode == "bf16_cl_jit":
        # Traced for this size under the same autocast it runs with, then frozen (weights folded).
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=amp):
            g = torch.jit.freeze(torch.jit.trace(g, (img, mask), check_trace=False).eval())

    def once():
        if mode.startswith("bf16") and amp:
            with torch.autocast(device_type=device, dtype=torch.bfloat16):
                g(img, mask)
        else:
            g(img, mask)
        sync()

    once()  # warm-up (and the compile for this shape)
    if device == "cuda":
        once()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        once()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


class BudgetSpent(Exception):
    pass


@contextlib.contextmanager
def cell_deadline(deadline: float):
    """Interrupts one timed cell (a compile, a TensorRT engine build) when the budget runs out:
    the Python side of torch.compile checks for signals often enough."""
    left = deadline - time.monotonic()
    if left == float("inf") or not hasattr(signal, "setitimer"):
        yield
        return

    def stop(*_):
        raise BudgetSpent

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, max(left, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@torch.no_grad()
def torch_paths(ckpt: str, sizes: list[int], batches: list[int], runs: int, modes: list[str], device: str,
                deadline: float = float("inf"), rehearse: bool = False) -> dict:
    graph = InpaintGraph(load_weights(ckpt).eval())
    out: dict = {"torch": torch.__version__, "device": device, "ms": {}, "skipped": {}}
    for mode in modes:
        why = skip_reason(mode, device, rehearse)
        if why:
            out["skipped"][mode] = why
            continue
        g = prepare(graph, mode, device)
        cells = out["ms"].setdefault(mode, {})
        for s in sizes:
            for n in batches:
                if mode in out["skipped"]:
                    break
                if time.monotonic() > deadline:
                    out["skipped"][mode] = "time budget spent"
                    break
                try:
                    with cell_deadline(deadline):
                        cells[f"{s}x{n}"] = time_torch(g, mode, device, s, n, runs, amp=native_bf16(device))
                except BudgetSpent:
                    out["skipped"][mode] = f"time budget spent during {s}x{s} batch {n} (a torch.compile can take minutes)"
                except Exception as e:  # torch.compile without a working compiler, out of memory, ...
                    out["skipped"][mode] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160]}"
    return out


# ---------------------------------------------------------------------------------------------
# ONNX Runtime for the GPU benchmark: Python onnxruntime where installed, else onnxruntime-node
# ---------------------------------------------------------------------------------------------

PY_PROVIDERS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider", "cpu": "CPUExecutionProvider"}


def ort_python():
    try:
        import onnxruntime
        return onnxruntime
    except ImportError:
        return None


@functools.lru_cache(maxsize=1)
def node_providers() -> list[str] | None:
    try:
        probe = subprocess.run(["node", "--import", "tsx", "gpu-jobs/runtime/batch.ts", "providers"], cwd=ROOT,
                               capture_output=True, text=True)
    except FileNotFoundError:  # no node on this machine
        return None
    return json.loads(probe.stdout) if probe.returncode == 0 else None


def ort_available(provider: str) -> tuple[bool, str]:
    """(available, backend description or why not)."""
    ort = ort_python()
    if ort is not None:
        have = ort.get_available_providers()
        ok = PY_PROVIDERS[provider] in have
        return ok, (f"onnxruntime {ort.__version__} (Python)" if ok else
                    f"onnxruntime {ort.__version__} (Python) has no {PY_PROVIDERS[provider]} (has {', '.join(have)})")
    have = node_providers()
    if have is None:
        return False, "no onnxruntime: neither Python's nor onnxruntime-node runs here"
    return provider in have, ("onnxruntime-node" if provider in have else
                              f"onnxruntime-node here has no {provider} provider (install with ONNXRUNTIME_NODE_INSTALL=cuda12)")


def time_ort(model: str, provider: str, sizes: list[int], batches: list[int], runs: int, deadline: float,
             fp16: bool = False) -> dict[str, float]:
    ort = ort_python()
    if ort is None:
        budget = max(1, int(deadline - time.monotonic()))
        r = subprocess.run(["node", "--import", "tsx", "gpu-jobs/runtime/batch.ts", "time", model, provider,
                            ",".join(map(str, sizes)), ",".join(map(str, batches)), str(runs), str(budget)],
                           cwd=ROOT, capture_output=True, text=True, check=True)
        return json.loads(r.stdout)
    import numpy as np
    opts = {}
    if provider == "tensorrt":
        opts = {"trt_fp16_enable": fp16, "trt_engine_cache_enable": True,
                "trt_engine_cache_path": tempfile.mkdtemp(prefix="gmcnn-trt-")}
    providers = [(PY_PROVIDERS[provider], opts)] + (["CUDAExecutionProvider"] if provider == "tensorrt" else [])
    sess = ort.InferenceSession(model, providers=providers)
    device = "cpu" if provider == "cpu" else "cuda"
    out = {}
    for s in sizes:
        for n in batches:
            if time.monotonic() > deadline:
                continue
            rng = np.random.default_rng(s)
            img = (rng.random((n, 3, s, s), dtype=np.float32) * 2 - 1)
            mask = np.zeros((n, 1, s, s), np.float32)
            mask[..., s // 4: 3 * s // 4, s // 4: 3 * s // 4] = 1
            # Inputs and output stay on the device (I/O binding), as PyTorch's do: no PCIe copies timed.
            b = sess.io_binding()
            b.bind_ortvalue_input("image", ort.OrtValue.ortvalue_from_numpy(img, device, 0))
            b.bind_ortvalue_input("mask", ort.OrtValue.ortvalue_from_numpy(mask, device, 0))
            b.bind_output("output", device)
            try:
                with cell_deadline(deadline):
                    for _ in range(2):
                        sess.run_with_iobinding(b)
                    times = []
                    for _ in range(runs):
                        t = time.perf_counter()
                        sess.run_with_iobinding(b)
                        b.synchronize_outputs()
                        times.append((time.perf_counter() - t) * 1000)
            except BudgetSpent:
                break
            out[f"{s}x{n}"] = round(statistics.median(times), 2)
    return out


def gpu(a) -> int:
    """The GPU benchmark: every path at every size and batch, one table; see the module doc."""
    t0 = time.monotonic()
    deadline = t0 + a.budget_s
    cuda = torch.cuda.is_available()
    if not cuda and not a.rehearse:
        print("gpu-bench: no CUDA device (use --rehearse to run the same code on the CPU)", file=sys.stderr)
        return 2
    device = "cuda" if cuda else "cpu"
    # Node runs from the repo root: hand it absolute paths.
    a.onnx = str(Path(a.onnx).resolve())
    a.fp16_onnx = str(Path(a.fp16_onnx).resolve()) if a.fp16_onnx else None
    sizes, batches = [int(x) for x in a.sizes.split(",")], [int(x) for x in a.batches.split(",")]
    rows: list[tuple[str, dict[str, float], str]] = []
    try:
        signal.signal(signal.SIGTERM, _cut_off)  # gpu-bench.sh's hard stop: print what ran
        gpu_rows(a, rows, cuda, device, sizes, batches, deadline)
    except CutOff:
        rows.append(("(cut off)", {}, f"stopped at the hard limit after {time.monotonic() - t0:.0f} s"))
    print_table(a, rows, cuda, sizes, batches, t0)
    return 0


class CutOff(Exception):
    pass


def _cut_off(*_):
    raise CutOff


def gpu_rows(a, rows, cuda: bool, device: str, sizes: list[int], batches: list[int], deadline: float) -> None:
    ort_provider = "cuda" if cuda else "cpu"

    def ort_row(label: str, model: str | None, provider: str, fp16: bool = False) -> None:
        if model is None:
            rows.append((label, {}, "no fp16 graph (python3 -m model.quantize fp16 failed or was skipped)"))
            return
        ok, backend = ort_available(provider)
        if not ok:
            rows.append((label, {}, backend))
            return
        try:
            rows.append((label, time_ort(model, provider, sizes, batches, a.runs, deadline, fp16), backend))
        except Exception as e:  # the provider failed at session creation or at a size: say how
            text = (getattr(e, "stderr", None) or str(e)).strip().splitlines() or [""]
            rows.append((label, {}, f"{type(e).__name__}: {text[-1][:160]}"))

    ort_row(f"ORT {ort_provider.upper()} fp32", a.onnx, ort_provider)
    ort_row(f"ORT {ort_provider.upper()} fp16", a.fp16_onnx, ort_provider)
    pt = torch_paths(a.ckpt or a.onnx, sizes, batches, a.runs, ["bf16_cl", "bf16_cl_compile"], device, deadline,
                     rehearse=not cuda)
    where = device if native_bf16(device) else f"{device}, rehearsed in fp32: no native bf16 here"
    for mode, label in (("bf16_cl", "PyTorch bf16 channels_last"), ("bf16_cl_compile", "PyTorch bf16 channels_last + torch.compile")):
        rows.append((f"{label} ({where})", pt["ms"].get(mode, {}), pt["skipped"].get(mode, f"torch {torch.__version__}")))
    if cuda:
        ort_row("ORT TensorRT fp32", a.onnx, "tensorrt")
        ort_row("ORT TensorRT fp16", a.onnx, "tensorrt", fp16=True)
    else:
        ok, why = ort_available("tensorrt")
        rows.append(("ORT TensorRT", {}, why if not ok else "rehearsal: not run on a CPU"))



def print_table(a, rows, cuda: bool, sizes: list[int], batches: list[int], t0: float) -> None:
    name = torch.cuda.get_device_name(0) if cuda else "CPU (rehearsal, no CUDA)"
    cols = [f"{s}x{s} b{n}" for s in sizes for n in batches]
    keys = [f"{s}x{n}" for s in sizes for n in batches]
    lines = [f"GPU benchmark: {name}; torch {torch.__version__}; median of {a.runs} runs, ms per batch (ms per image)",
             "| path | " + " | ".join(cols) + " | note |", "|---|" + "---|" * (len(cols) + 1)]
    for label, ms, note in rows:
        cells = [f"{ms[k]:.1f} ({ms[k] / int(k.split('x')[1]):.1f})" if k in ms else "n/a" for k in keys]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {note} |")
    lines.append("target: <= 10 ms at 512x512, batch 1, on an H200; the article: 49.37 ms (256) and 146.11 ms (512) "
                 "on a 2018 GPU")
    lines.append(f"wall time: {time.monotonic() - t0:.0f} s (budget {a.budget_s} s)")
    print("\n".join(lines))
    if a.json:
        Path(a.json).write_text(json.dumps({"device": name, "torch": torch.__version__, "sizes": sizes,
                                            "batches": batches, "runs": a.runs,
                                            "rows": [{"path": l, "ms": m, "note": n} for l, m, n in rows]}, indent=2))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("torch")
    t.add_argument("--ckpt", required=True, help="generator checkpoint (.pt) or shipped ONNX file")
    t.add_argument("--sizes", default="256,512")
    t.add_argument("--batches", default="1")
    t.add_argument("--runs", type=int, default=5)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--modes", default="eager,channels_last,bf16_cl")
    t.add_argument("--device", default="cpu")
    p = sub.add_parser("peaks")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ort-models", help="also write ONNX Runtime's fp32 and int8 GEMM models into this folder")
    gp = sub.add_parser("gpu")
    gp.add_argument("--ckpt", help="generator checkpoint (.pt); default: the weights in --onnx")
    gp.add_argument("--onnx", required=True)
    gp.add_argument("--fp16-onnx")
    gp.add_argument("--sizes", default="256,512,1024")
    gp.add_argument("--batches", default="1,8")
    gp.add_argument("--runs", type=int, default=10)
    gp.add_argument("--budget-s", type=float, default=240)
    gp.add_argument("--rehearse", action="store_true", help="no CUDA needed: the CPU stands in (tiny sizes)")
    gp.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    if a.cmd == "peaks":
        print(json.dumps(peaks(a.threads, a.ort_models)))
        return 0
    if a.cmd == "gpu":
        torch.set_num_threads(min(8, os.cpu_count() or 1))
        return gpu(a)
    torch.set_num_threads(a.threads)
    modes = [m for m in a.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        ap.error(f"unknown mode(s) {bad}; have {MODES}")
    print(json.dumps(torch_paths(a.ckpt, [int(x) for x in a.sizes.split(",")], [int(x) for x in a.batches.split(",")],
                                 a.runs, modes, a.device)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
