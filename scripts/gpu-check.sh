#!/usr/bin/env bash
# The device check, run ON the GPU machine from the repository root (see ../shared/gpu/README.md):
#   1. correctness: the smoke experiments on CPU and on CUDA, metrics compared;
#   2. speed: the cnn-small training step (batch 32 and 256) in gzbench on CUDA and in PyTorch on
#      the same card, in the same call; ms/step and the ratio.
# Expects the CUDA build of gzbench as .gpu/gzbench.xz (built here with
# `eval "$(bash benches/gpu/cuda-toolkit.sh)"; cargo build --release --features cuda`, stripped,
# `xz -T2 -6`). Writes a summary to $OUT/summary.md.
set -uo pipefail
OUT="${OUT:-/tmp/gzbench-gpu}"
mkdir -p "$OUT"
BIN=.gpu/gzbench
if [ ! -x "$BIN" ]; then
  python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.gpu/gzbench.xz'), open('$BIN', 'wb'))"
  chmod +x "$BIN"
fi
NV=$(ls -d /opt/torch/.venv/lib/python3.*/site-packages/nvidia/*/lib 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="${NV}/usr/local/cuda/lib64:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}"
PY=/opt/torch/.venv/bin/python
[ -x "$PY" ] || PY=python3
S="$OUT/summary.md"
echo "# gzbench device check $(date -u +%FT%TZ)" > "$S"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >> "$S" 2>&1

echo "## correctness: smoke experiments, cpu vs cuda" >> "$S"
for e in shapes_baseline synthetic_features; do
  "$BIN" run "experiments/$e.yaml" --profile smoke --device cpu --results "$OUT/cpu" > "$OUT/$e.cpu.log" 2>&1
  "$BIN" run "experiments/$e.yaml" --profile smoke --device cuda --results "$OUT/cuda" > "$OUT/$e.cuda.log" 2>&1
  echo "exit codes: cpu $? (see $e.cuda.log)" >> "$S"
  echo '```' >> "$S"
  paste -d'\n' "$OUT/cpu/$e/smoke/tables/$e.md" "$OUT/cuda/$e/smoke/tables/$e.md" 2>&1 | head -40 >> "$S"
  echo '```' >> "$S"
done

echo "## speed: cnn-small train step, ms/step (lower is better)" >> "$S"
echo "| batch | gzbench cuda | pytorch cuda | ratio |" >> "$S"
echo "|---|---|---|---|" >> "$S"
for b in 32 256; do
  g=$("$BIN" bench train-step --device cuda --batch "$b" --steps 30 --warmup 5 2>"$OUT/g$b.err" | grep '^ms_per_step=' | cut -d= -f2)
  t=$("$PY" benches/peers/torch_train_step.py --device cuda --batch "$b" --steps 30 --warmup 5 2>"$OUT/t$b.err" | grep '^ms_per_step=' | cut -d= -f2)
  r=$(python3 -c "print(f'{float(\"${g:-nan}\")/float(\"${t:-nan}\"):.2f}')" 2>/dev/null)
  echo "| $b | ${g:-failed} | ${t:-failed} | ${r:-} |" >> "$S"
done

echo "## CPU: cnn-small train step, batch 32, 3x64x64, 2 threads pinned to cores 0-1, ms/step" >> "$S"
echo "| round | gzbench fused | gzbench candle ops | pytorch | gzbench / pytorch |" >> "$S"
echo "|---|---|---|---|---|" >> "$S"
for r in 1 2 3; do
  g=$(RAYON_NUM_THREADS=2 taskset -c 0,1 "$BIN" bench train-step --device cpu --batch 32 --steps 10 --warmup 3 | grep '^ms_per_step=' | cut -d= -f2)
  c=$(RAYON_NUM_THREADS=2 taskset -c 0,1 "$BIN" bench train-step --device cpu --batch 32 --steps 5 --warmup 1 --kernels candle | grep '^ms_per_step=' | cut -d= -f2)
  t=$(OMP_NUM_THREADS=2 taskset -c 0,1 "$PY" benches/peers/torch_train_step.py --batch 32 --steps 10 --warmup 3 --threads 2 | grep '^ms_per_step=' | cut -d= -f2)
  rr=$(python3 -c "print(f'{float(\"${g:-nan}\")/float(\"${t:-nan}\"):.2f}')" 2>/dev/null)
  echo "| $r | ${g:-failed} | ${c:-failed} | ${t:-failed} | ${rr:-} |" >> "$S"
done
cat "$S"
