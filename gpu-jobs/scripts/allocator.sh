# Sourced by the CPU trainer launchers (campaign.sh, ablate.sh): run the trainer under tcmalloc.
# model.train also re-runs itself under it (train.under_tcmalloc) when started directly.
# Under glibc malloc the stage-2 step maps and unmaps its large ID-MRF and critic buffers (64 MB
# cosine matrices are over glibc's 32 MB mmap ceiling) every step. Measured here (2-core Zen 5,
# bf16, stage 2): glibc 110,000 page faults/s, 37% of the trainer's CPU in the kernel, 5.6-7.3
# s/step; tcmalloc 1,300 faults/s, 3-5% system time, 2.4-2.6 s/step, RSS steady at 2.3 GB.
# jemalloc was tried first: with its default decay, its huge-allocation arena purges eagerly
# (the same faults); with decay off, RSS grew to 24 GB in 700 steps and the kernel killed the
# trainer. PyTorch's CPU tuning guide recommends tcmalloc or jemalloc for the same reason.
# Installed by scripts/setup.sh (libtcmalloc-minimal4); skipped when absent or LD_PRELOAD is set.
tcmalloc=$(ls /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -n1 || true)
if [ -n "$tcmalloc" ] && [ -z "${LD_PRELOAD:-}" ]; then
  export LD_PRELOAD="$tcmalloc"
fi
