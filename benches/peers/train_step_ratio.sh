#!/usr/bin/env bash
# Times gzbench against PyTorch in one run, on the same machine with the same thread count, and
# prints ms/step for each and the ratio gzbench / PyTorch per case (the issue's goals: a training
# step <= 0.8x, an evaluation forward pass <= 0.7x). Cases (3x64x64 images, AdamW, one fixed
# random batch; `benches/peers/torch_train_step.py` is the PyTorch side):
#   cnn-small train, batch 32 and 128; resnet train, batch 32 and 128;
#   cnn-small and resnet eval forward (eval-mode batch norm, no gradients), batch 256.
# With CANDLE=1 it also times cnn-small batch 32 with candle's own kernels (the "before").
#
# Usage: benches/peers/train_step_ratio.sh [STEPS]
#   env: THREADS=2, ROUNDS=3, PYTHON=python3, GZBENCH=path/to/gzbench (else cargo builds it),
#        CASES="cnn32 cnn128 res32 res128 cnn-eval res-eval" (a subset to run),
#        RESNET_STEPS=3 (resnet steps are seconds each; warm-up 1)
# Needs: cargo (builds the release binary unless GZBENCH is set) and a python with torch
# (pip install torch --index-url https://download.pytorch.org/whl/cpu).
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS="${1:-20}"
THREADS="${THREADS:-2}"
PYTHON="${PYTHON:-python3}"
ROUNDS="${ROUNDS:-3}"
RESNET_STEPS="${RESNET_STEPS:-3}"
CASES="${CASES:-cnn32 cnn128 res32 res128 cnn-eval res-eval}"
if [ -z "${GZBENCH:-}" ]; then
  cargo build --release --quiet
  GZBENCH="${CARGO_TARGET_DIR:-target}/release/gzbench"
fi

# name -> arguments shared by both sides
case_args() {
  case "$1" in
    cnn32) echo "--backbone cnn-small --batch 32 --steps $STEPS --warmup 3" ;;
    cnn128) echo "--backbone cnn-small --batch 128 --steps $(((STEPS + 3) / 4)) --warmup 2" ;;
    res32) echo "--backbone resnet --batch 32 --steps $RESNET_STEPS --warmup 1" ;;
    res128) echo "--backbone resnet --batch 128 --steps $RESNET_STEPS --warmup 1" ;;
    cnn-eval) echo "--backbone cnn-small --batch 256 --steps $(((STEPS + 3) / 4)) --warmup 2 --forward-only" ;;
    res-eval) echo "--backbone resnet --batch 256 --steps $RESNET_STEPS --warmup 1 --forward-only" ;;
    *) echo "unknown case $1 (expected cnn32 cnn128 res32 res128 cnn-eval res-eval)" >&2; exit 2 ;;
  esac
}
ms() { grep '^ms_per_step=' | tail -1 | cut -d= -f2; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

# Rounds interleave the engines within each case, so a neighbour's load hits all of them
# alike; each figure is the median over rounds of the mean ms/step.
# The ratio depends on the CPU (e.g. how it runs 512-bit vectors): say which one measured it.
cpuinfo() { grep -m1 "^$1" /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'; }
avx512=$(grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes || echo no)
echo "cpu: $(cpuinfo 'model name'), family $(cpuinfo 'cpu family') model $(cpuinfo 'model')," \
  "avx512f $avx512, $(nproc) cores, $THREADS threads"
declare -A G T
C_all=()
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS"
  for c in $CASES; do
    read -r -a args <<<"$(case_args "$c") --size 64"
    g_out=$(RAYON_NUM_THREADS="$THREADS" "$GZBENCH" bench train-step "${args[@]}" --kernels gzbench)
    t_out=$(OMP_NUM_THREADS="$THREADS" "$PYTHON" benches/peers/torch_train_step.py "${args[@]}" --threads "$THREADS")
    echo "  $(echo "$g_out" | head -1)"
    echo "  $(echo "$t_out" | head -1)"
    G[$c]="${G[$c]:-} $(echo "$g_out" | ms)"
    T[$c]="${T[$c]:-} $(echo "$t_out" | ms)"
  done
  if [ "${CANDLE:-0}" = 1 ]; then
    read -r -a args <<<"$(case_args cnn32) --size 64"
    c_out=$(RAYON_NUM_THREADS="$THREADS" "$GZBENCH" bench train-step "${args[@]}" --kernels candle)
    echo "  $(echo "$c_out" | head -1)"
    C_all+=("$(echo "$c_out" | ms)")
  fi
done

echo
printf '%-30s %12s %12s %8s %8s\n' "median of $ROUNDS rounds, $THREADS threads" "gzbench ms" "torch ms" "x torch" "goal"
for c in $CASES; do
  # shellcheck disable=SC2086
  g=$(median ${G[$c]}); t=$(median ${T[$c]})
  goal=0.8; case "$c" in *eval) goal=0.7 ;; esac
  awk -v n="$c" -v g="$g" -v t="$t" -v goal="$goal" 'BEGIN {
    printf "%-30s %12.1f %12.1f %8.2f %8s\n", n, g, t, g / t, "<= " goal }'
done
if [ "${#C_all[@]}" -gt 0 ]; then
  c=$(median "${C_all[@]}")
  # shellcheck disable=SC2086
  t=$(median ${T[cnn32]:-nan})
  awk -v c="$c" -v t="$t" 'BEGIN { printf "%-30s %12.1f %12.1f %8.2f\n", "cnn32, candle kernels (before)", c, t, c / t }'
fi
