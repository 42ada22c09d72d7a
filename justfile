# gzbench tasks. Without `just`, run the cargo commands shown.

# every experiment at the cpu profile, then every report
reproduce profile="cpu":
    cargo run --release -- reproduce --profile {{profile}}

# the test suite (what CI runs)
test:
    cargo test --release

# criterion benchmarks (CPU); `just bench-cuda` for the GPU kernels
bench:
    cargo bench

# formatting and lints, as CI expects them
lint:
    cargo fmt --check
    cargo clippy --release --all-targets -- -D warnings

# CUDA build for NVIDIA GPUs (sm_90: H100/H200), packed as .gpu/gzbench.xz for `just gpu-check`;
# without a system toolkit (CUDA_ROOT unset) it first fetches one from NVIDIA's wheels
build-cuda:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -z "${CUDA_ROOT:-}" ]; then eval "$(bash scripts/cuda-toolkit.sh)"; fi
    cargo build --release --features cuda
    mkdir -p .gpu
    strip -o .gpu/gzbench "${CARGO_TARGET_DIR:-target}/release/gzbench"
    rm -f .gpu/gzbench.xz
    xz -T2 -6 .gpu/gzbench
    echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes'), built $(date -u +%F)" > .gpu/BUILD
    ls -l .gpu

# the CUDA build's tests here, without a GPU: every CPU test plus NVRTC compiling the kernels
test-cuda:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -z "${CUDA_ROOT:-}" ]; then eval "$(bash scripts/cuda-toolkit.sh)"; fi
    LD_LIBRARY_PATH="${GZBENCH_CUDA_TEST_LIBS:-}:${LD_LIBRARY_PATH:-}" cargo test --release --features cuda

# criterion benches of the GPU kernels (on a machine with a GPU and a CUDA toolkit)
bench-cuda:
    cargo bench --features cuda --bench gpu_kernels

# the device check, on the lent GPU machine (after `just build-cuda` here)
gpu-check:
    bash scripts/gpu-check.sh

# `gzbench slurm` on a real single-node Slurm (scripts/slurm-local.sh: Debian's slurm-wlm and
# munge, installed if missing; needs root): the sweep through sbatch must equal a local run
slurm-check:
    bash scripts/slurm-check.sh
