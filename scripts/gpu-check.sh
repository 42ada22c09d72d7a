#!/usr/bin/env bash
# The GPU check, run ON a lent GPU machine from the repository root (`just gpu-check`). It builds
# nothing: it needs the CUDA build of gzbench packed as .gpu/gzbench.xz (made here by
# `just build-cuda`; carry `.gpu` with the working tree). In under 6 minutes it
#   1. checks parity: every model, loss and gradient against the PyTorch fixture on CUDA and on
#      the CPU, and every engine kernel on CUDA against its CPU twin (`gzbench bench parity`);
#   2. times the training step of cnn-small and resnet at batch 32 and 256 in gzbench and in
#      PyTorch eager on the same card, in the same call, and prints the ratio against the target
#      (<= 0.8x PyTorch at batch 32, <= 1.0x at batch 256);
#   3. runs the smoke profile of every experiment on CUDA (and on the CPU, to compare tables);
#   4. trains one experiment at the cpu profile on CUDA and reports the time the training loop
#      waited for batches and the GPU's busy time (nvidia-smi utilization samples);
# and writes everything to $OUT/gpu/<card>.md (commit it as results/gpu/<card>.md).
set -uo pipefail
# Every step runs under `timeout $(cap N)`: at most N seconds, and never past the deadline, so
# the whole check ends within 6 minutes whatever hangs (a step with no time left gets 1 s).
DEADLINE=$(( $(date +%s) + ${GZBENCH_CHECK_SECONDS:-345} ))
cap() { local left=$(( DEADLINE - $(date +%s) )); [ "$left" -lt 1 ] && left=1; echo $(( $1 < left ? $1 : left )); }
OUT="${OUT:-/tmp/gzbench-gpu}"
mkdir -p "$OUT/gpu"
# GZBENCH_BIN / GZBENCH_PY replace the binary and PyTorch's python (to rehearse the script).
BIN="${GZBENCH_BIN:-.gpu/gzbench}"
if [ ! -x "$BIN" ]; then
  [ -f .gpu/gzbench.xz ] || { echo "no .gpu/gzbench.xz: run 'just build-cuda' first" >&2; exit 2; }
  python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.gpu/gzbench.xz'), open('$BIN', 'wb'))"
  chmod +x "$BIN"
fi
NV=$(ls -d /opt/torch/.venv/lib/python3.*/site-packages/nvidia/*/lib 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="${NV}/usr/local/cuda/lib64:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}"
PY="${GZBENCH_PY:-/opt/torch/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
[ -d shared/data ] && export GZBENCH_SHARED_DATA="$PWD/shared/data"

CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
SLUG=$(echo "${CARD:-unknown-gpu}" | tr ' ' '-' | tr -cd 'A-Za-z0-9-' | tr 'A-Z' 'a-z')
MD="$OUT/gpu/$SLUG.md"
: > "$MD"
log() { echo "$@" >> "$MD"; }
ratio() { python3 -c "import sys; g, t = sys.argv[1:]; print(f'{float(g) / float(t):.2f}')" "$1" "$2" 2>/dev/null; }

log "# gzbench on ${CARD:-an unknown GPU}"
log ""
log "Written by \`scripts/gpu-check.sh\` on $(date -u +%FT%TZ); gzbench $(cat .gpu/BUILD 2>/dev/null || echo '(build unknown)');"
log "driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1);"
log "PyTorch $("$PY" -c 'import torch; print(torch.__version__, "cuDNN", torch.backends.cudnn.version())' 2>/dev/null)."

log ""
log "## 1. Parity"
log ""
for dev in cuda cpu; do
  timeout "$(cap 120)" "$BIN" bench parity --device "$dev" > "$OUT/parity-$dev.log" 2>&1
  rc=$?
  log "- \`gzbench bench parity --device $dev\` (exit $rc): $(grep '^parity on' "$OUT/parity-$dev.log" || tail -1 "$OUT/parity-$dev.log")"
done
log ""
log "CUDA kernels against their CPU twins (relative error, max |cuda - cpu| / max |cpu|):"
log ""
log '```'
grep ' vs cpu: ' "$OUT/parity-cuda.log" >> "$MD"
log '```'

log ""
log "## 2. Training step, ms/step (forward, BCE, backward, AdamW; 3x64x64; 30 steps after 5)"
log ""
log "| backbone | batch | gzbench | PyTorch eager | ratio | target | met |"
log "|---|---|---|---|---|---|---|"
for bb in cnn-small resnet; do
  for b in 32 256; do
    g=$(timeout "$(cap 150)" "$BIN" bench train-step --device cuda --backbone "$bb" --batch "$b" --steps 30 --warmup 5 2>"$OUT/g-$bb-$b.err" | tee "$OUT/g-$bb-$b.log" | grep '^ms_per_step=' | cut -d= -f2)
    t=$(timeout "$(cap 150)" "$PY" benches/peers/torch_train_step.py --device cuda --backbone "$bb" --batch "$b" --steps 30 --warmup 5 2>"$OUT/t-$bb-$b.err" | tee "$OUT/t-$bb-$b.log" | grep '^ms_per_step=' | cut -d= -f2)
    target=$([ "$b" -le 32 ] && echo 0.8 || echo 1.0)
    r=$(ratio "${g:-nan}" "${t:-nan}")
    met=$(python3 -c "import sys; print('yes' if float(sys.argv[1]) <= float(sys.argv[2]) else 'NO')" "${r:-nan}" "$target" 2>/dev/null)
    log "| $bb | $b | ${g:-failed} | ${t:-failed} | ${r:-} | <= $target | ${met:-} |"
  done
done

c=$(timeout "$(cap 120)" "$BIN" bench train-step --device cuda --backbone cnn-small --batch 256 --steps 20 --warmup 3 --kernels candle 2>"$OUT/c-cnn-small-256.err" | grep '^ms_per_step=' | cut -d= -f2)
log ""
log "Before the engine's GPU kernels: cnn-small at batch 256 with candle's own CUDA convolution,"
log "composed batch norm and pooling (\`--kernels candle\`; AdamW still fused): ${c:-failed} ms/step."
log ""
log "## 3. Smoke profile of every experiment"
log ""
timeout "$(cap 150)" "$BIN" reproduce --profile smoke --device cuda --results "$OUT/smoke-cuda" > "$OUT/smoke-cuda.log" 2>&1
log "- \`gzbench reproduce --profile smoke --device cuda\`: exit $?"
timeout "$(cap 60)" "$BIN" reproduce --profile smoke --device cpu --results "$OUT/smoke-cpu" > "$OUT/smoke-cpu.log" 2>&1
log "- the same on the CPU: exit $?"
log ""
log '```'
grep -E 'runs \(|^skipped' "$OUT/smoke-cuda.log" >> "$MD"
log '```'
log ""
log "| experiment | CUDA table = CPU table (to printed precision) |"
log "|---|---|"
for t in "$OUT"/smoke-cuda/*/smoke/tables/*.md; do
  [ -f "$t" ] || continue
  e=$(basename "$t" .md)
  c="${t/smoke-cuda/smoke-cpu}"
  if cmp -s "$t" "$c"; then s=yes; else s="no ($(diff "$t" "$c" | grep -c '^<') lines differ)"; fi
  log "| $e | $s |"
done

log ""
log "## 4. Data path: one training experiment at the cpu profile on CUDA"
log ""
# GPU busy time: nvidia-smi's utilization is the share of each sample period in which a kernel
# was running; sampled every 100 ms while the experiment trains.
nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 100 > "$OUT/util.csv" 2>/dev/null &
SMI=$!
START=$(date +%s.%N)
timeout "$(cap 100)" "$BIN" run experiments/rotation_invariance.yaml --profile cpu --device cuda --results "$OUT/cpu-cuda" > "$OUT/rotation-cuda.log" 2>&1
RC=$?
kill "$SMI" 2>/dev/null
python3 - "$OUT/cpu-cuda/runs" "$OUT/util.csv" "$RC" "$START" >> "$MD" <<'PYEOF'
import json, pathlib, sys, time
runs, util, rc, start = sys.argv[1:]
t = [json.loads(p.read_text()) for p in pathlib.Path(runs).glob("*/timing.json")]
total = sum(x.get("seconds", 0.0) for x in t)
wait = sum(x.get("data_wait_seconds", 0.0) for x in t)
u = [float(v) for v in pathlib.Path(util).read_text().split() if v.strip().isdigit()]
busy = sum(u) / len(u) if u else float("nan")
stopped = ", stopped by its time limit" if rc == "124" else ""
print(f"`gzbench run experiments/rotation_invariance.yaml --profile cpu --device cuda` (exit {rc}"
      f"{stopped}): {len(t)} runs finished in {total:.1f} s, of which the training loop waited "
      f"{wait:.2f} s for a batch. GPU busy (nvidia-smi utilization, {len(u)} samples over "
      f"{time.time() - float(start):.0f} s, including data generation and evaluation): "
      f"mean {busy:.0f}%.")
PYEOF
cat "$MD"
