#!/usr/bin/env bash
# Train GMCNN on a GPU machine in one command: unpack the data pack, stage 1, optionally stage 2,
# then copy logs, sample grids and checkpoints (split into pieces < 16 MiB) to an output folder.
#
#   bash gpu-jobs/scripts/gpu-train.sh [options]
#
#   --pack F            data pack (default data/pack.tar; F.part-* pieces are joined first)
#   --work D            scratch folder for the data and the runs (default /tmp/gmcnn-gpu)
#   --dest D            where results go (default $OUT/gpu-train if $OUT is set, else out/gpu-train)
#   --stage1-steps N    (default 20000)       --stage1-minutes M   stop stage 1 after M minutes
#   --init1 CKPT        start stage 1 from this generator checkpoint (e.g. a CPU-trained best_gen.pt)
#   --stage2-steps N    0 = no stage 2 (default 0)   --stage2-minutes M
#   --vgg FILE          torchvision vgg19 weights for ID-MRF (sha256 prefix dcbb9e9d)
#   --random-vgg        untrained VGG19 instead (recorded in the checkpoints' config and manifests)
#   --crop C --batch B  (default 256 and 16)   --no-last  do not copy last.pt (about 400 MB per run)
#
# Environment: PYTHON (default python3) must have torch with CUDA, numpy, pillow, opencv, scipy;
# THREADS (default nproc, at most 8) CPU threads; ALLOW_CPU=1 runs without CUDA (a smoke test).
# Both stages run with --resume, so running the script again on the same --work continues.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GJ="$ROOT/gpu-jobs"
PY="${PYTHON:-python3}"
PACK="$ROOT/data/pack.tar"
WORK="/tmp/gmcnn-gpu"
DEST="${OUT:+$OUT/gpu-train}"
DEST="${DEST:-$ROOT/out/gpu-train}"
S1_STEPS=20000 S1_MIN=0 S2_STEPS=0 S2_MIN=0 CROP=256 BATCH=16 INIT1="" VGG="" RANDOM_VGG=0 KEEP_LAST=1

die() { echo "gpu-train: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --pack) PACK="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --dest) DEST="$2"; shift 2 ;;
    --stage1-steps) S1_STEPS="$2"; shift 2 ;;
    --stage1-minutes) S1_MIN="$2"; shift 2 ;;
    --init1) INIT1="$(realpath "$2")"; shift 2 ;;
    --stage2-steps) S2_STEPS="$2"; shift 2 ;;
    --stage2-minutes) S2_MIN="$2"; shift 2 ;;
    --vgg) VGG="$(realpath "$2")"; shift 2 ;;
    --random-vgg) RANDOM_VGG=1; shift ;;
    --crop) CROP="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --no-last) KEEP_LAST=0; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
if [ "$S2_STEPS" -gt 0 ] && [ -z "$VGG" ] && [ "$RANDOM_VGG" = 0 ]; then
  die "stage 2 needs --vgg FILE (torchvision vgg19-dcbb9e9d.pth) or --random-vgg"
fi
if [ -n "$VGG" ] && [ "$RANDOM_VGG" = 1 ]; then die "--vgg and --random-vgg exclude each other"; fi

"$PY" - <<'EOF' || die "PYTHON=$PY lacks a dependency (torch, numpy, PIL, cv2, scipy)"
import cv2, numpy, PIL, scipy, torch
print(f"torch {torch.__version__}, CUDA {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
EOF
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || [ "${ALLOW_CPU:-0}" = 1 ] || die "no CUDA device (ALLOW_CPU=1 to run anyway)"

# ---- data ------------------------------------------------------------------------------------
DATA="$WORK/data"
if [ ! -d "$DATA/train" ] || [ ! -d "$DATA/heldout" ]; then
  if [ ! -f "$PACK" ]; then
    compgen -G "$PACK.part-*" >/dev/null || die "no data pack at $PACK (python3 -m model.dataset --pack data/pack.tar)"
    mkdir -p "$WORK"
    cat "$PACK".part-* >"$WORK/pack.tar.joined"
    PACK="$WORK/pack.tar.joined"
  fi
  mkdir -p "$DATA"
  tar -xf "$PACK" -C "$DATA"
fi
echo "data: $(ls "$DATA/train" | wc -l) train, $(ls "$DATA/heldout" | wc -l) held-out images"
THREADS="${THREADS:-$(nproc 2>/dev/null || echo 8)}"
if [ "$THREADS" -gt 8 ]; then THREADS=8; fi
RUNS="$WORK/runs"
mkdir -p "$RUNS"
common=(--data "$DATA/train" --heldout "$DATA/heldout" --crop "$CROP" --batch "$BATCH" --threads "$THREADS" --resume)

# ---- stage 1 ---------------------------------------------------------------------------------
t0=$(date +%s)
s1=(--config configs/stage1-cpu.json --out "$RUNS/stage1-gpu" --steps "$S1_STEPS" --max-minutes "$S1_MIN"
    --log-every 20 --ckpt-every 250 --eval-every 500 --eval-n 100 --sample-every 500 --sample-n 8)
if [ -n "$INIT1" ]; then s1+=(--init "$INIT1"); fi
(cd "$GJ" && "$PY" -m model.train "${common[@]}" "${s1[@]}")
t1=$(date +%s)

# ---- stage 2 ---------------------------------------------------------------------------------
if [ "$S2_STEPS" -gt 0 ]; then
  s2=(--config configs/stage2-gpu.json --out "$RUNS/stage2-gpu" --init "$RUNS/stage1-gpu/best_gen.pt"
      --steps "$S2_STEPS" --max-minutes "$S2_MIN")
  if [ "$RANDOM_VGG" = 1 ]; then s2+=(--random-vgg); else s2+=(--vgg-weights "$VGG" --vgg-sha256 dcbb9e9d); fi
  (cd "$GJ" && "$PY" -m model.train "${common[@]}" "${s2[@]}")
fi
t2=$(date +%s)

# ---- results: small files as they are, big ones in pieces < 16 MiB ---------------------------
mkdir -p "$DEST"
for run in "$RUNS"/*/; do
  name="$(basename "$run")"
  d="$DEST/$name"
  mkdir -p "$d"
  for f in config.json vgg.json log.jsonl; do
    if [ -f "$run/$f" ]; then cp "$run/$f" "$d/"; fi
  done
  if [ -d "$run/samples" ]; then cp -r "$run/samples" "$d/"; fi
  ckpts=(best_gen.pt last_gen.pt)
  if [ "$KEEP_LAST" = 1 ]; then ckpts+=(last.pt); fi
  : >"$d/SHA256SUMS"
  for f in "${ckpts[@]}"; do
    if [ ! -f "$run/$f" ]; then continue; fi
    (cd "$run" && sha256sum "$f") >>"$d/SHA256SUMS"
    split -b 15M -d -a 3 "$run/$f" "$d/$f.part-"
  done
  cat >"$d/join.sh" <<'EOS'
#!/usr/bin/env bash
# Rebuild the checkpoints from their pieces and check them.
set -euo pipefail
cd "$(dirname "$0")"
for f in best_gen.pt last_gen.pt last.pt; do
  compgen -G "$f.part-*" >/dev/null && cat "$f".part-* >"$f" && rm "$f".part-*
done
sha256sum -c SHA256SUMS
EOS
  chmod +x "$d/join.sh"
done
cat >"$DEST/summary.json" <<EOS
{"stage1_seconds": $((t1 - t0)), "stage2_seconds": $((t2 - t1)), "crop": $CROP, "batch": $BATCH,
 "stage2_steps": $S2_STEPS, "random_vgg": $([ "$RANDOM_VGG" = 1 ] && echo true || echo false),
 "gpu": "$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")')"}
EOS
echo "results in $DEST (run each */join.sh to rebuild the checkpoints)"
