#!/usr/bin/env bash
# The GPU benchmark in one command, at most 5 minutes: ONNX Runtime CUDA fp32 and fp16, the
# TensorRT provider where installed, PyTorch CUDA bf16 + channels_last (and + torch.compile where
# it works), at 256, 512 and 1024 px, batch 1 and 8, printed as one table. Run it on the GPU
# machine after training (gpu-train.sh), from the repo root:
#
#   bash gpu-jobs/scripts/gpu-bench.sh [options]
#
#   --rehearse         the same code on a CPU at tiny sizes (16,32 px, batch 1,2, 2 runs): the test suite runs this
#   --sizes S          (default 256,512,1024)   --batches B (default 1,8)   --runs N (default 10)
#   --budget S         seconds for the timed cells (default 240); cells past it print n/a, and a hard
#                      stop at budget + 45 s still prints the table of what ran
#   --dest D           where gpu-bench.md and gpu-bench.json go (default $OUT/gpu-bench if $OUT is set, else out/gpu-bench)
#
# Environment: PYTHON (default python3) with torch (CUDA for a real run) and onnx (for the fp16
# graph); ONNX Runtime from Python's onnxruntime(-gpu) where installed, else onnxruntime-node
# (CUDA binaries with ONNXRUNTIME_NODE_INSTALL=cuda12). A missing provider is a row saying why.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GJ="$ROOT/gpu-jobs"
PY="${PYTHON:-python3}"
SIZES="" BATCHES="" RUNS="" BUDGET="" REHEARSE=0
DEST="${OUT:+$OUT/gpu-bench}"
DEST="${DEST:-$ROOT/out/gpu-bench}"

die() { echo "gpu-bench: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) REHEARSE=1; shift ;;
    --sizes) SIZES="$2"; shift 2 ;;
    --batches) BATCHES="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --budget) BUDGET="$2"; shift 2 ;;
    --dest) DEST="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
if [ "$REHEARSE" = 1 ]; then
  SIZES=${SIZES:-16,32} BATCHES=${BATCHES:-1,2} RUNS=${RUNS:-2} BUDGET=${BUDGET:-120}
else
  SIZES=${SIZES:-256,512,1024} BATCHES=${BATCHES:-1,8} RUNS=${RUNS:-10} BUDGET=${BUDGET:-240}
fi

"$PY" -c "import torch" 2>/dev/null || die "PYTHON=$PY has no torch"
mkdir -p "$DEST"
WORK="$(mktemp -d -t gmcnn-gpu-bench-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

cd "$GJ"
FP16=()
if "$PY" -m model.quantize fp16 --no-eval --model models/gmcnn.onnx --out "$WORK/gmcnn.fp16.onnx" >"$WORK/fp16.log" 2>&1; then
  FP16=(--fp16-onnx "$WORK/gmcnn.fp16.onnx")
else
  echo "gpu-bench: no fp16 graph (its row will say so): $(tail -n 1 "$WORK/fp16.log")" >&2
fi
ARGS=(gpu --onnx models/gmcnn.onnx "${FP16[@]}" --sizes "$SIZES"
  --batches "$BATCHES" --runs "$RUNS" --budget-s "$BUDGET" --json "$DEST/gpu-bench.json")
[ "$REHEARSE" = 1 ] && ARGS+=(--rehearse)
# SIGTERM at the hard stop makes model.bench print the table of the cells that finished.
PYTHONUNBUFFERED=1 timeout --preserve-status -s TERM $((BUDGET + 45)) "$PY" -m model.bench "${ARGS[@]}" | tee "$DEST/gpu-bench.md"
