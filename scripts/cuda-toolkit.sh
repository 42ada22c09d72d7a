#!/usr/bin/env bash
# Build-time CUDA 13.0 toolkit from NVIDIA's PyPI wheels, for building `--features cuda` on a
# machine without a system CUDA (NVIDIA's wheels are the toolkit; 13.0 is pinned because the
# target driver, 580, cannot load PTX from a newer nvcc). Idempotent; cached under
# $CARGO_TARGET_DIR/cuda-toolkit (default target/cuda-toolkit), ~1.1 GB.
# Prints the environment to `eval` before `cargo build --release --features cuda`:
#   eval "$(bash scripts/cuda-toolkit.sh)"   (or: just build-cuda)
# Users with a system CUDA toolkit skip this and set CUDA_ROOT themselves.
# The driver library (libcuda.so.1) is in no wheel: a stub that defines every cu* symbol cudarc
# declares stands in for linking, in $ROOT/stub (never on a GPU machine's library path). With
# it, `cargo test --features cuda` runs here: every CPU test, plus NVRTC compiling the kernels
# (LD_LIBRARY_PATH is printed as GZBENCH_CUDA_TEST_LIBS).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
ROOT="$(mkdir -p "$TARGET/cuda-toolkit" && cd "$TARGET/cuda-toolkit" && pwd)"
WHEELS="$ROOT/wheels"
TK="$ROOT/unpacked"
CUDA="$ROOT/root"
if [ ! -f "$ROOT/.done" ]; then
  mkdir -p "$WHEELS" "$TK"
  python3 -m pip download -q --no-deps -d "$WHEELS" \
    nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
    nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96 nvidia-cublas==13.0.2.14 \
    nvidia-cuda-nvrtc==13.0.88 nvidia-curand==10.4.0.35 nvidia-cudnn-cu13 >&2
  for w in "$WHEELS"/*.whl; do python3 -m zipfile -e "$w" "$TK" >&2; done
  CU="$TK/nvidia/cu13"
  [ -d "$CU" ] || CU="$(dirname "$(find "$TK" -name nvcc -type f | head -1)")/.."
  mkdir -p "$CUDA/lib64"
  ln -sfn "$CU/include" "$CUDA/include"
  ln -sfn "$CU/bin" "$CUDA/bin"
  [ -d "$CU/nvvm" ] && ln -sfn "$CU/nvvm" "$CUDA/nvvm"
  chmod +x "$CU"/bin/* "$CU"/nvvm/bin/* 2>/dev/null || true
  for so in $(find "$TK" -name 'lib*.so*' -type f); do
    base="$(basename "$so")"; stem="${base%%.so*}"
    ln -sfn "$so" "$CUDA/lib64/$base"; ln -sfn "$so" "$CUDA/lib64/$stem.so"
  done
  # Link-time stub of the driver library (the real libcuda.so.1 replaces it at run time):
  # every cu* symbol cudarc's driver bindings declare.
  # (cudarc is an optional dependency: a CPU-only build never unpacks it, so fetch it here)
  sys() {
    ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19*/src/driver/sys 2>/dev/null \
      | head -1 || true
  }
  SYS="$(sys)"
  if [ -z "$SYS" ]; then cargo fetch >&2; SYS="$(sys)"; fi
  [ -n "$SYS" ] || { echo "cuda-toolkit.sh: cudarc 0.19 sources not found after cargo fetch" >&2; exit 1; }
  grep -rhoE 'fn cu[A-Za-z0-9_]+' "$SYS" | sed 's/fn //' | sort -u \
    | awk '{print "void " $1 "(void) {}"}' > "$ROOT/cuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$CUDA/lib64/libcuda.so" "$ROOT/cuda_stub.c"
  touch "$ROOT/.done"
fi
if [ ! -e "$ROOT/stub/libcuda.so.1" ]; then
  mkdir -p "$ROOT/stub"
  cp "$CUDA/lib64/libcuda.so" "$ROOT/stub/libcuda.so.1"
fi
echo "export CUDA_ROOT=$CUDA CUDA_PATH=$CUDA CUDA_TOOLKIT_ROOT_DIR=$CUDA PATH=$CUDA/bin:\$PATH"
echo "export CUDA_COMPUTE_CAP=90 LIBRARY_PATH=$CUDA/lib64 NVCC_PREPEND_FLAGS='-I$CUDA/include'"
echo "export GZBENCH_CUDA_TEST_LIBS=$ROOT/stub:$CUDA/lib64"
