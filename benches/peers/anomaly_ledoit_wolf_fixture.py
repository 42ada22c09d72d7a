"""Write `src/repr/anomaly/fixtures/ledoit_wolf_sklearn.json`: scikit-learn's Ledoit-Wolf Gaussian
on standardised features, the reference for `repr::anomaly::Gaussian` (`src/repr/anomaly/tests.rs`,
`gaussian_matches_sklearn_ledoit_wolf`).

Usage: /var/tmp/ck/bin/python benches/peers/anomaly_ledoit_wolf_fixture.py

Each case holds the rows (rounded to float32, as gzbench reads them), `StandardScaler`'s mean_ and
scale_ (population sd), `LedoitWolf().fit(z)`'s shrinkage_, its squared Mahalanobis distance of
every row (`mahalanobis`) and the covariance in the original units, diag(scale) covariance_
diag(scale).
"""

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.covariance import LedoitWolf
from sklearn.preprocessing import StandardScaler

OUT = Path(__file__).resolve().parents[2] / "src/repr/anomaly/fixtures/ledoit_wolf_sklearn.json"


def case(name, x):
    x = x.astype(np.float32).astype(np.float64)
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    lw = LedoitWolf().fit(z)
    s = scaler.scale_
    return {
        "name": name,
        "x": x.tolist(),
        "mean": scaler.mean_.tolist(),
        "scale": s.tolist(),
        "shrinkage": float(lw.shrinkage_),
        "mahalanobis": lw.mahalanobis(z).tolist(),
        "covariance": (lw.covariance_ * np.outer(s, s)).tolist(),
    }


def main():
    rng = np.random.default_rng(21)
    mix = rng.normal(size=(6, 6))
    a = rng.normal(size=(40, 6)) @ mix * np.array([1.0, 10.0, 0.1, 3.0, 1.0, 50.0]) + 5.0
    b = rng.normal(size=(12, 20)) * np.linspace(0.5, 4.0, 20)
    c = rng.normal(size=(200, 8)) + 0.3 * rng.normal(size=(200, 1))
    cases = [case("correlated_scaled", a), case("wide_d_gt_n", b), case("near_independent", c)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"sklearn": sklearn.__version__, "cases": cases}))
    for k in cases:
        print(k["name"], k["shrinkage"])


if __name__ == "__main__":
    main()
