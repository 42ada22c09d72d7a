#!/usr/bin/env bash
# Times the cnn-small training step (batch 32, 3x64x64, AdamW) in gzbench and in PyTorch in one run,
# on the same machine with the same thread count, and prints ms/step for each and the ratio
# gzbench / PyTorch (goal: <= 1.0). Also times gzbench with candle's own kernels (the "before").
#
# Usage: benches/peers/train_step_ratio.sh [STEPS]
#   env: THREADS=2, ROUNDS=3, PYTHON=python3, GZBENCH=path/to/gzbench (else cargo builds it)
# Needs: cargo (builds the release binary unless GZBENCH is set) and a python with torch
# (pip install torch --index-url https://download.pytorch.org/whl/cpu).
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS="${1:-20}"
THREADS="${THREADS:-2}"
PYTHON="${PYTHON:-python3}"
if [ -z "${GZBENCH:-}" ]; then
  cargo build --release --quiet
  GZBENCH="${CARGO_TARGET_DIR:-target}/release/gzbench"
fi
args=(--batch 32 --size 64 --steps "$STEPS" --warmup 3)
ms() { grep '^ms_per_step=' | tail -1 | cut -d= -f2; }

# Rounds interleave the three engines, so a neighbour's load hits all of them alike; each
# engine's figure is the median over rounds of its mean ms/step.
ROUNDS="${ROUNDS:-3}"
g_all=(); c_all=(); t_all=()
for r in $(seq 1 "$ROUNDS"); do
  g_out=$(RAYON_NUM_THREADS="$THREADS" "$GZBENCH" bench train-step --backbone cnn-small "${args[@]}" --kernels gzbench)
  c_out=$(RAYON_NUM_THREADS="$THREADS" "$GZBENCH" bench train-step --backbone cnn-small "${args[@]}" --kernels candle)
  t_out=$(OMP_NUM_THREADS="$THREADS" "$PYTHON" benches/peers/torch_train_step.py "${args[@]}" --threads "$THREADS")
  echo "round $r/$ROUNDS"
  echo "  $(echo "$g_out" | head -1)"
  echo "  $(echo "$c_out" | head -1)"
  echo "  $(echo "$t_out" | head -1)"
  g_all+=("$(echo "$g_out" | ms)"); c_all+=("$(echo "$c_out" | ms)"); t_all+=("$(echo "$t_out" | ms)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
g=$(median "${g_all[@]}"); c=$(median "${c_all[@]}"); t=$(median "${t_all[@]}")
echo
printf '%-34s %10s %8s\n' "median of $ROUNDS rounds, $THREADS threads" "ms/step" "x torch"
awk -v g="$g" -v c="$c" -v t="$t" 'BEGIN {
  printf "%-34s %10.1f %8.2f\n", "gzbench (fused kernels)", g, g / t;
  printf "%-34s %10.1f %8.2f\n", "gzbench (candle kernels, before)", c, c / t;
  printf "%-34s %10.1f %8.2f\n", "pytorch", t, 1.0;
}'
