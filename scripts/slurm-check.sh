#!/usr/bin/env bash
# End-to-end check of `gzbench slurm` on a real Slurm: builds gzbench (release), starts the
# single-node cluster of scripts/slurm-local.sh (installing it if needed), writes the Slurm
# script of a smoke sweep into a temporary results folder, submits it with sbatch, waits for the
# job array and the report job, then runs the same sweep locally with `gzbench run` into another
# folder and compares them: the same run ids, every run's metrics.json byte for byte, the report
# tables (csv, md, tex). Prints PASS or FAIL and the wall time of each step; exits 1 on any
# difference. A cluster it started is stopped at the end (one already running is left running).
#
#   scripts/slurm-check.sh [EXPERIMENT.yaml]     (default experiments/shapes_baseline.yaml)
#   just slurm-check
set -euo pipefail
cd "$(dirname "$0")/.."

EXP=${1:-experiments/shapes_baseline.yaml}
WORK="(not created yet)"
PROFILE=smoke
T0=$SECONDS
LAST=$SECONDS
step() { echo "slurm-check: $1 ($((SECONDS - LAST)) s)"; LAST=$SECONDS; }
fail() { echo "slurm-check: FAIL: $* (kept: $WORK; $((SECONDS - T0)) s)"; exit 1; }

cargo build --release --quiet
BUILT="${CARGO_TARGET_DIR:-target}/release/gzbench"
step "built $BUILT"

started=0
bash scripts/slurm-local.sh status | grep -q '^slurmd: running' || started=1
bash scripts/slurm-local.sh start
step "slurm is up"
WORK=$(mktemp -d /var/tmp/gzbench-slurm-check.XXXXXX)
cleanup() {
    if [ "$started" = 1 ]; then bash scripts/slurm-local.sh stop; fi
}
trap cleanup EXIT

# a copy, so that a rebuild while the jobs run changes neither side
BIN=$WORK/gzbench
cp "$BUILT" "$BIN"
NAME=$("$BIN" slurm "$EXP" --profile $PROFILE --results "$WORK/slurm" --dry-run | tail -1 | cut -d: -f1)

"$BIN" slurm "$EXP" --profile $PROFILE --results "$WORK/slurm" --partition debug \
    --time 00:10:00 --out "$WORK/submit.sh"
submitted=$(bash "$WORK/submit.sh")
echo "$submitted"
array=$(sed -n 's/^array job: \([0-9]*\).*/\1/p' <<<"$submitted")
report=$(sed -n 's/^report job: \([0-9]*\).*/\1/p' <<<"$submitted")
[ -n "$array" ] && [ -n "$report" ] || fail "no job ids from the submission"
step "submitted array job $array and report job $report"

# wait until no task of either job is queued or running (finished jobs stay known to scontrol
# for MinJobAge = 600 s); a failed query is asked again
deadline=$((SECONDS + 600))
while :; do
    [ "$SECONDS" -lt "$deadline" ] || fail "jobs still queued or running after 600 s"
    if states=$(scontrol show job -o "$array" && scontrol show job -o "$report") \
        && ! grep -qE 'JobState=(PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUE)' <<<"$states"; then
        break
    fi
    sleep 1
done
# every array task and the report job ended COMPLETED (exit 0)
tasks=$(grep -c "ArrayJobId=$array " <<<"$states" || true)
bad=$(grep -o 'JobId=[0-9]* .*JobState=[A-Z_]*' <<<"$states" | grep -v 'JobState=COMPLETED' || true)
[ -z "$bad" ] || { cat "$WORK"/slurm/slurm/*.out; fail "jobs did not complete: $bad"; }
grep -q "JobId=$report .*JobState=COMPLETED" <<<"$states" || fail "report job $report did not complete"
pending=$(grep -c . < <(sed -n '/^ITEMS=(/,/^)/p' "$WORK/submit.sh" | grep -v '[()]'))
[ "$tasks" = "$pending" ] || fail "$tasks array tasks ran, the script has $pending runs"
computed=$(cat "$WORK"/slurm/slurm/"${array}"_*.out | grep -c ': 1 runs (0 already complete, 1 computed, 0 failed)' || true)
[ "$computed" = "$pending" ] || fail "$computed of $pending array tasks computed their run"
step "$tasks array tasks and the report job completed on Slurm"

"$BIN" run "$EXP" --profile $PROFILE --results "$WORK/local" >"$WORK/local.log"
step "the same sweep ran locally"

ids() { (cd "$1/runs" && for d in */; do [ -f "$d/COMPLETE" ] && echo "${d%/}"; done) | sort; }
[ "$(ids "$WORK/slurm")" = "$(ids "$WORK/local")" ] \
    || fail "run ids differ: $(diff <(ids "$WORK/slurm") <(ids "$WORK/local") | tr '\n' ' ')"
n=0
for id in $(ids "$WORK/local"); do
    cmp -s "$WORK/slurm/runs/$id/metrics.json" "$WORK/local/runs/$id/metrics.json" \
        || fail "run $id: metrics.json differs"
    n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no complete runs"
tables=0
for t in "$WORK/local/$NAME/$PROFILE/tables/"*.{csv,md,tex}; do
    cmp -s "$t" "$WORK/slurm/$NAME/$PROFILE/tables/$(basename "$t")" || fail "table $(basename "$t") differs"
    tables=$((tables + 1))
done
[ "$tables" -gt 0 ] || fail "no report tables"
step "compared $n runs' metrics.json and $tables tables"
rm -rf "$WORK"
echo "slurm-check: PASS: $n runs of $NAME ($PROFILE) through sbatch equal a local run, byte for byte, in $((SECONDS - T0)) s"
