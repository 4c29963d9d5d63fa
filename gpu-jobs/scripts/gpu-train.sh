#!/usr/bin/env bash
# Train GMCNN in one short GPU rental, one command, within a wall-time budget (default 9 minutes):
#   1. a 20-second CUDA self-test (bf16 conv + backward, channels_last, memory): stop early, not at minute 8;
#   2. stage 1 (configs/stage1-gpu.json: cnum 32, 256 px, residual over the harmonic fill);
#   3. stage 2 (configs/stage2-gpu.json: + ID-MRF + WGAN-GP) from stage 1's best generator;
#   4. export the stage-2 generator to ONNX (fp16 weights) and check it loads;
#   5. pack what comes back into at most 8 files of < 16 MiB in $DEST, at most 2 folders deep:
#      summary.json, results.tar.gz (logs, configs, latest sample grids, SHA256SUMS, join.sh), and
#      the big files in 15 MiB pieces (stage1_gen.pt, stage2_gen.pt, gmcnn.onnx).
#
#   bash gpu-jobs/scripts/gpu-train.sh [--pack data/pack.tar] [--dest $OUT] [--minutes 9]
#        [--stage1-share 0.55] [--vgg FILE | --random-vgg] [--cnum N --crop C --batch1 B --batch2 B] [--steps-cap N]
#
# The device machine reaches no network: ID-MRF there uses --random-vgg (the default) unless a VGG19
# file travels with it. Rehearsed on CPU by the suite (test/python/test_gpu_rehearsal.py) with
# ALLOW_CPU=1 and tiny settings, and model.rental checks what travels and comes back.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GJ="$ROOT/gpu-jobs"
PY="${PYTHON:-python3}"
PACK="$ROOT/data/pack.tar"
WORK="${WORK:-/tmp/gmcnn-gpu}"
DEST="${OUT:-$ROOT/out/gpu-train}"
MINUTES=9 SHARE1=0.55 VGG="" RANDOM_VGG=1 CNUM="" CROP="" B1="" B2="" CAP=200000 SELFTEST_S=20

die() { echo "gpu-train: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --pack) PACK="$2"; shift 2 ;;
    --dest) DEST="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --minutes) MINUTES="$2"; shift 2 ;;
    --stage1-share) SHARE1="$2"; shift 2 ;;
    --vgg) VGG="$(realpath "$2")"; RANDOM_VGG=0; shift 2 ;;
    --random-vgg) RANDOM_VGG=1; shift ;;
    --cnum) CNUM="$2"; shift 2 ;;
    --crop) CROP="$2"; shift 2 ;;
    --batch1) B1="$2"; shift 2 ;;
    --batch2) B2="$2"; shift 2 ;;
    --steps-cap) CAP="$2"; shift 2 ;;
    --selftest-seconds) SELFTEST_S="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
T0=$(date +%s)
left_min() { "$PY" -c "import sys; print(max(0.2, ($MINUTES*60 - ($(date +%s) - $T0)) / 60))"; }

# ---- 1. self-test -----------------------------------------------------------------------------
mkdir -p "$WORK" "$DEST"
"$PY" - "$SELFTEST_S" "$WORK/selftest.json" <<'PYEOF' || die "self-test failed (see above): nothing else was run"
import json, sys, time, torch
budget, out = float(sys.argv[1]), sys.argv[2]
cuda = torch.cuda.is_available()
import os
if not cuda and os.environ.get("ALLOW_CPU") != "1":
    sys.exit("no CUDA device (ALLOW_CPU=1 runs the CPU rehearsal)")
dev = torch.device("cuda" if cuda else "cpu")
info = {"torch": torch.__version__, "cuda": cuda, "device": torch.cuda.get_device_name(0) if cuda else "cpu"}
if cuda:
    info["memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    info["bf16"] = torch.cuda.is_bf16_supported()
conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(dev).to(memory_format=torch.channels_last)
x = torch.randn(8, 64, 128, 128, device=dev).contiguous(memory_format=torch.channels_last)
t, n = time.time(), 0
with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
    while time.time() - t < min(budget, 5.0) or n < 2:
        conv(x).float().square().mean().backward()
        n += 1
if cuda:
    torch.cuda.synchronize()
dt = time.time() - t
info["conv_tflops"] = round(n * 3 * 2 * 64 * 64 * 9 * 8 * 128 * 128 / dt / 1e12, 2)
assert torch.isfinite(conv.weight.grad).all(), "non-finite gradient"
json.dump(info, open(out, "w"))
print("self-test", info)
PYEOF

# ---- data ------------------------------------------------------------------------------------
DATA="$WORK/data"
if [ ! -d "$DATA/train" ]; then
  [ -f "$PACK" ] || die "no data pack at $PACK (python3 -m model.dataset --pack data/pack.tar)"
  mkdir -p "$DATA" && tar -xf "$PACK" -C "$DATA"
fi
echo "data: $(ls "$DATA/train" | wc -l) train, $(ls "$DATA/val" | wc -l) val images"
THREADS="$(nproc 2>/dev/null || echo 8)"; [ "$THREADS" -gt 8 ] && THREADS=8
RUNS="$WORK/runs"
common=(--data "$DATA/train" --val "$DATA/val" --threads "$THREADS" --resume --steps "$CAP")
[ -n "$CNUM" ] && common+=(--cnum "$CNUM")
[ -n "$CROP" ] && common+=(--crop "$CROP")

# ---- 2. stage 1 ------------------------------------------------------------------------------
budget_after_selftest=$(left_min)
# Export and packing take about half a minute; the rest is split between the stages.
M1=$("$PY" -c "print(round(max(0.1, ($budget_after_selftest - 0.6) * $SHARE1), 2))")
t1=$(date +%s)
s1=(--config configs/stage1-gpu.json --out "$RUNS/stage1-gpu" --max-minutes "$M1")
[ -n "$B1" ] && s1+=(--batch "$B1")
(cd "$GJ" && "$PY" -m model.train "${common[@]}" "${s1[@]}")

# ---- 3. stage 2 ------------------------------------------------------------------------------
t2=$(date +%s)
M2=$("$PY" -c "print(round(max(0.1, $(left_min) - 0.6), 2))")
s2=(--config configs/stage2-gpu.json --out "$RUNS/stage2-gpu" --init "$RUNS/stage1-gpu/best_gen.pt" --max-minutes "$M2")
[ -n "$B2" ] && s2+=(--batch "$B2")
if [ "$RANDOM_VGG" = 1 ]; then s2+=(--random-vgg); else s2+=(--vgg-weights "$VGG" --vgg-sha256 dcbb9e9d); fi
[ -d "$DATA/val-photos" ] && s2+=(--val-photos "$DATA/val-photos")  # selection sees the plaid (stretch 6)
(cd "$GJ" && "$PY" -m model.train "${common[@]}" "${s2[@]}")

# ---- 4. export -------------------------------------------------------------------------------
t3=$(date +%s)
GEN2="$RUNS/stage2-gpu/last_gen.pt"; [ -f "$GEN2" ] || GEN2="$RUNS/stage2-gpu/best_gen.pt"
(cd "$GJ" && "$PY" -m model.export --ckpt "$GEN2" --out "$WORK/export/gmcnn.onnx" --fp16-weights)
"$PY" -c "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]))" "$WORK/export/gmcnn.onnx"

# ---- 5. what comes back: <= 8 files ----------------------------------------------------------
PACKDIR="$WORK/results"
rm -rf "$PACKDIR" && mkdir -p "$PACKDIR"
cp "$WORK/selftest.json" "$PACKDIR/"
for run in stage1-gpu stage2-gpu; do
  mkdir -p "$PACKDIR/$run"
  for f in config.json vgg.json log.jsonl; do [ -f "$RUNS/$run/$f" ] && cp "$RUNS/$run/$f" "$PACKDIR/$run/"; done
  if [ -d "$RUNS/$run/samples" ]; then  # the latest 3 grids of each stage
    mkdir -p "$PACKDIR/$run/samples"
    ls "$RUNS/$run/samples" | sort | tail -n 3 | while read -r g; do cp "$RUNS/$run/samples/$g" "$PACKDIR/$run/samples/"; done
  fi
done
cp "$RUNS/stage1-gpu/best_gen.pt" "$PACKDIR/stage1_gen.pt"
cp "$GEN2" "$PACKDIR/stage2_gen.pt"
cp "$WORK/export/gmcnn.onnx" "$PACKDIR/gmcnn.onnx"
(cd "$PACKDIR" && sha256sum stage1_gen.pt stage2_gen.pt gmcnn.onnx >SHA256SUMS)
cat >"$PACKDIR/join.sh" <<'EOS'
#!/usr/bin/env bash
# In the folder the rental's files came back to: rebuild the big files from their pieces, check them.
set -euo pipefail
cd "$(dirname "$0")"
tar -xzf results.tar.gz
for f in stage1_gen.pt stage2_gen.pt gmcnn.onnx; do cat "$f".part-* >"$f" && rm "$f".part-*; done
sha256sum -c SHA256SUMS
EOS
chmod +x "$PACKDIR/join.sh"
rm -rf "$DEST"/* && mkdir -p "$DEST"
(cd "$PACKDIR" && tar -czf "$DEST/results.tar.gz" --exclude='*.pt' --exclude='*.onnx' .)
for f in stage1_gen.pt stage2_gen.pt gmcnn.onnx; do split -b 15M -d -a 3 "$PACKDIR/$f" "$DEST/$f.part-"; done
# join.sh also travels inside the tar; put it beside the pieces only if there is room (8 files).
t4=$(date +%s)
cat >"$DEST/summary.json" <<EOS
{"selftest": $(cat "$WORK/selftest.json"), "stage1_seconds": $((t2 - t1)), "stage2_seconds": $((t3 - t2)),
 "export_pack_seconds": $((t4 - t3)), "total_seconds": $((t4 - T0)), "budget_minutes": $MINUTES,
 "random_vgg": $([ "$RANDOM_VGG" = 1 ] && echo true || echo false)}
EOS
n=$(find "$DEST" -type f | wc -l)
echo "gpu-train: $n files in $DEST (tar -xzf results.tar.gz && bash join.sh rebuilds the checkpoints)"
