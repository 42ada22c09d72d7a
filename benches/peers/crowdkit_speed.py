"""Speed of gzbench's aggregation vs crowd-kit on the same 1M classifications.

Usage (from the crate root, after `cargo build --release`; `pip install crowd-kit pandas`):
    python3 benches/peers/crowdkit_speed.py [N_GALAXIES=100000] [VOTES_PER_GALAXY=10]

Generates the data with our simulator (`gzbench crowd-sim`, 2,000 volunteers, default crowd),
times crowd-kit's MajorityVote / Wawa / DawidSkene / OneCoinDawidSkene (fit_predict_proba, n_iter
and tol as ours, best of 1 run after loading) and ours (`gzbench aggregate --time 3`, aggregation
only, best of 3), in the same run, and prints the ratio per strategy.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import crowdkit.aggregation.classification.wawa as _wawa
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote, OneCoinDawidSkene, Wawa


def _check_fitted(est, attributes):  # see crowdkit_check.py: sklearn >= 1.6 incompatibility
    if getattr(est, attributes, None) is None:
        raise RuntimeError(f"{type(est).__name__} is not fitted")


_wawa.check_is_fitted = _check_fitted

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release", "gzbench")

STRATEGIES = [
    ("majority-vote", lambda: MajorityVote()),
    ("wawa", lambda: Wawa()),
    ("dawid-skene", lambda: DawidSkene(n_iter=100, tol=1e-5)),
    ("one-coin-dawid-skene", lambda: OneCoinDawidSkene(n_iter=100, tol=1e-5)),
]


def main() -> None:
    n_gal = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as d:
        csv = os.path.join(d, "speed.csv")
        subprocess.run(
            [BIN, "crowd-sim", "--galaxies", str(n_gal), "--votes", str(k), "--volunteers", "2000",
             "--seed", "7", "--out", csv],
            check=True,
        )
        df = pd.read_csv(csv)
        data = df.rename(columns={"galaxy": "task", "volunteer": "worker", "answer": "label"})[
            ["task", "worker", "label"]
        ]
        print(f"{len(data)} classifications, {data.task.nunique()} galaxies, {data.worker.nunique()} volunteers")
        print(f"{'strategy':<22}{'crowd-kit s':>12}{'gzbench s':>12}{'ratio':>10}")
        for name, make in STRATEGIES:
            t = time.perf_counter()
            make().fit_predict_proba(data)
            ck = time.perf_counter() - t
            out = subprocess.run(
                [BIN, "aggregate", csv, "--strategy", name, "--time", "3"],
                check=True, capture_output=True, text=True,
            )
            ours = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{name:<22}{ck:>12.3f}{ours['seconds']:>12.4f}{ck / ours['seconds']:>9.1f}x  (rayon threads: {ours['threads']})")


if __name__ == "__main__":
    main()
