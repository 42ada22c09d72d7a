"""Speed of gzbench's aggregation vs crowd-kit on the same classification file (1M by default).

Usage (from the crate root, after `cargo build --release`; Python with crowd-kit 1.4.2, pandas):
    python3 benches/peers/crowdkit_speed.py [--galaxies 100000] [--votes 10] [--volunteers 2000]
        [--methods majority-vote,dawid-skene,...] [--repeats 3] [--seed 7]

Simulates the file with our simulator (`gzbench crowd-sim`: smooth-or-featured, 3 answers,
default crowd), then for every categorical method both have times crowd-kit (one
`fit_predict_proba`, or `fit_predict` where crowd-kit has no probabilities: M-MSR, KOS; after
loading, on the same DataFrame) and gzbench (`gzbench aggregate --time R`: the best of R runs of
the aggregation alone, rayon on every core) and prints the ratio crowd-kit / gzbench. Parameters
are crowd-kit's defaults on both sides (DS and one-coin: n_iter 100, tol 1e-5).

* kos runs on a binarised copy of the file (`smooth` -> yes, other answers -> no).
* gold-majority-vote gets a gold file: every 10th galaxy (first appearance), plus the first
  galaxy of any volunteer without a vote on those (crowd-kit refuses such volunteers), labelled
  with its majority-vote answer (the method's speed does not depend on where labels come from).
* A method gzbench does not know (yet) prints "not available" instead of a time.
* Also printed: the time to read the CSV (pandas `read_csv`; gzbench's `read_seconds`, file to
  the question's vote index, best over the runs) and the load average before and after.

Run time: crowd-kit dominates. Measured on 2 cores, 1M rows, 2,000 volunteers: majority-vote
0.6 s, wawa 1.3 s, dawid-skene 27 s, one-coin 15 s, zero-based-skill 74 s, kos 51 s,
gold-majority-vote 0.6 s (the seven: about 3 minutes with the simulation); glad about 36
minutes; mace about 4 minutes; m-msr compares every pair of volunteers in Python loops and
holds a dense volunteers x galaxies matrix: on 1M rows it ran out of a 23 GB machine's memory
after 25 minutes, so time it on a smaller crowd (`--methods m-msr --galaxies 10000
--volunteers 300`: 100 s). Choose with --methods.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import pandas as pd
import crowdkit_compat  # noqa: F401  (scikit-learn >= 1.6 compatibility patch)
from crowdkit.aggregation import (
    GLAD,
    KOS,
    MACE,
    MMSR,
    DawidSkene,
    GoldMajorityVote,
    MajorityVote,
    OneCoinDawidSkene,
    Wawa,
    ZeroBasedSkill,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release", "gzbench")

# name -> (crowd-kit call on (data, gold), which file: "main" or "binary")
METHODS = {
    "majority-vote": (lambda d, g: MajorityVote().fit_predict_proba(d), "main"),
    "wawa": (lambda d, g: Wawa().fit_predict_proba(d), "main"),
    "dawid-skene": (lambda d, g: DawidSkene(n_iter=100, tol=1e-5).fit_predict_proba(d), "main"),
    "one-coin-dawid-skene": (
        lambda d, g: OneCoinDawidSkene(n_iter=100, tol=1e-5).fit_predict_proba(d),
        "main",
    ),
    "glad": (lambda d, g: GLAD(n_iter=100, tol=1e-5, silent=True).fit_predict_proba(d), "main"),
    "mace": (lambda d, g: MACE().fit_predict_proba(d), "main"),
    "zero-based-skill": (lambda d, g: ZeroBasedSkill().fit_predict_proba(d), "main"),
    "m-msr": (lambda d, g: MMSR().fit_predict(d), "main"),
    "kos": (lambda d, g: KOS().fit_predict(d), "binary"),
    "gold-majority-vote": (lambda d, g: GoldMajorityVote().fit_predict_proba(d, g), "main"),
}


def gzbench(csv, name, repeats, gold=None):
    """(seconds, read_seconds, threads) of `gzbench aggregate --time`, or (None, reason)."""
    cmd = [BIN, "aggregate", csv, "--strategy", name, "--time", str(repeats)]
    if gold:
        cmd += ["--gold", gold]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        err = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        if "unknown strategy" in err:
            return None, "not available"
        return None, f"error: {err}"
    return json.loads(out.stdout.strip().splitlines()[-1]), None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--galaxies", type=int, default=100_000)
    ap.add_argument("--votes", type=int, default=10, help="votes per galaxy")
    ap.add_argument("--volunteers", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3, help="gzbench runs (best is reported)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        sys.exit(f"--methods: unknown {unknown}; expected some of {list(METHODS)}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as d:
        csv = os.path.join(d, "speed.csv")
        subprocess.run(
            [BIN, "crowd-sim", "--galaxies", str(args.galaxies), "--votes", str(args.votes),
             "--volunteers", str(args.volunteers), "--seed", str(args.seed), "--out", csv],
            check=True, capture_output=True,
        )
        t = time.perf_counter()
        df = pd.read_csv(csv)
        pandas_read = time.perf_counter() - t
        main_data = df.rename(columns={"galaxy": "task", "volunteer": "worker", "answer": "label"})[
            ["task", "worker", "label"]
        ]
        files = {"main": (csv, main_data)}
        if "kos" in methods:
            binary = df.assign(answer=(df.answer == "smooth").map({True: "yes", False: "no"}))
            bcsv = os.path.join(d, "speed_binary.csv")
            binary.to_csv(bcsv, index=False)
            files["binary"] = (bcsv, main_data.assign(label=binary.answer.to_numpy()))
        gold_series, gold_csv = None, None
        if "gold-majority-vote" in methods:
            mv = MajorityVote().fit_predict(main_data)
            gold_tasks = set(pd.unique(main_data.task)[::10])
            # crowd-kit refuses a worker without a gold vote: add each such worker's first task.
            covered = set(main_data[main_data.task.isin(gold_tasks)].worker)
            first = main_data.drop_duplicates("worker").set_index("worker").task
            gold_tasks |= {first[w] for w in first.index if w not in covered}
            gold_series = mv.loc[[t for t in pd.unique(main_data.task) if t in gold_tasks]]
            gold_csv = os.path.join(d, "gold.csv")
            gold_series.rename_axis("galaxy").rename("answer").to_csv(gold_csv)
        print(
            f"{len(df)} classifications, {df.galaxy.nunique()} galaxies, "
            f"{df.volunteer.nunique()} volunteers, {df.answer.nunique()} answers"
        )
        print(f"{'method':<22}{'crowd-kit s':>12}{'gzbench s':>12}{'ratio':>10}")
        read_times = []
        for name in methods:
            call, which = METHODS[name]
            path, data = files[which]
            ours, why = gzbench(path, name, args.repeats, gold_csv if name == "gold-majority-vote" else None)
            if ours is None:
                print(f"{name:<22}{'':>12}{'':>12}{'':>10}  {why}")
                continue
            read_times.append(ours["read_seconds"])
            t = time.perf_counter()
            try:
                call(data, gold_series)
            except Exception as e:  # report and go on with the other methods
                print(f"{name:<22}{'':>12}{ours['seconds']:>12.4f}{'':>10}  crowd-kit failed: {e}")
                continue
            ck = time.perf_counter() - t
            print(
                f"{name:<22}{ck:>12.3f}{ours['seconds']:>12.4f}{ck / ours['seconds']:>9.0f}x"
                f"  (gzbench on {ours['threads']} threads)",
                flush=True,
            )
        print(f"read the CSV: pandas read_csv {pandas_read:.3f} s", end="")
        if read_times:
            print(f"; gzbench (read, intern, index) {min(read_times):.3f} s best of {len(read_times)}")
        else:
            print()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
