#!/bin/sh
# A stand-in for nvidia-smi that prints the real
#   nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used --format=csv,noheader,nounits
# output (memory in MiB). Configure it through the environment:
#   FAKE_NVIDIA_SMI_FILE  print this file (tests rewrite it to change the measured usage)
#   FAKE_NVIDIA_SMI_CSV   print this text (lines separated by real newlines or "\n")
#   FAKE_NVIDIA_SMI_EXIT  exit with this status after printing an error, like a broken driver
# Without any of them it prints two GPUs: an RTX 4090 (24 GB) and an RTX 3070 (8 GB).
set -eu
case "$*" in
  *--query-gpu=index,name,uuid,memory.total,memory.used*--format=csv,noheader,nounits*) ;;
  *)
    echo "fake-nvidia-smi: unsupported arguments: $*" >&2
    exit 2
    ;;
esac
if [ -n "${FAKE_NVIDIA_SMI_EXIT:-}" ]; then
  echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2
  exit "$FAKE_NVIDIA_SMI_EXIT"
fi
if [ -n "${FAKE_NVIDIA_SMI_FILE:-}" ]; then
  cat "$FAKE_NVIDIA_SMI_FILE"
elif [ -n "${FAKE_NVIDIA_SMI_CSV:-}" ]; then
  printf '%b\n' "$FAKE_NVIDIA_SMI_CSV"
else
  echo "0, NVIDIA GeForce RTX 4090, GPU-4b2c9f7e-1d3a-6e5f-8a9b-0c1d2e3f4a5b, 24564, 1021"
  echo "1, NVIDIA GeForce RTX 3070, GPU-9e8d7c6b-5a4f-3e2d-1c0b-a9f8e7d6c5b4, 8192, 312"
fi
