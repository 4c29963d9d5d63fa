# Sourced by the CPU trainer launchers (campaign.sh, ablate.sh). Under glibc malloc the stage-2 step
# frees and re-maps its large ID-MRF and critic buffers every step: measured here (2-core Zen 5,
# bf16) 110,000 page faults/s, 37% of the trainer's CPU in the kernel and 5.6-7.3 s/step. jemalloc
# keeps freed pages for reuse: 40 faults/s, 2% system time, 2.2-2.5 s/step. PyTorch's CPU tuning
# guide recommends the same. Installed by scripts/setup.sh (libjemalloc2); skipped when absent.
jemalloc=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -n1 || true)
if [ -n "$jemalloc" ] && [ -z "${LD_PRELOAD:-}" ]; then
  export LD_PRELOAD="$jemalloc"
  # Never hand freed pages back: the trainer's peak is steady (~2.7 GB RSS), the churn is the cost.
  export MALLOC_CONF="${MALLOC_CONF:-background_thread:false,dirty_decay_ms:-1,muzzy_decay_ms:-1}"
fi
