"""Write `src/train/fixtures/logistic_sklearn.json`: scikit-learn's L2 logistic regression on
standardised features, the reference for `train::probe`'s binary logistic regression
(`src/train/probe/tests.rs`, `binary_fit_matches_sklearn`).

Usage: /var/tmp/ck/bin/python benches/peers/probe_sklearn_fixture.py   (committed from sklearn 1.9.1)

Each case holds the raw data, `lambda`, `StandardScaler`'s mean_ and scale_ (ddof 0, scale 1 for
a constant column), `LogisticRegression(C=1/lambda)`'s coef_ and intercept_ (newton-cholesky,
tol 1e-12) and its P(y = 1) on the training rows. sklearn minimises
C * sum logloss + 0.5 ||w||^2, the same minimiser as sum logloss + lambda/2 ||w||^2 with
lambda = 1 / C, and as the probe's mean logloss + (lambda / n)/2 ||w||^2. The script also prints the norm of our objective's gradient at sklearn's point.
"""

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

OUT = Path(__file__).resolve().parents[2] / "src/train/fixtures/logistic_sklearn.json"


def make(rng, n, d, shift, scales, constant=None):
    y = rng.random(n) < 0.4
    x = rng.normal(size=(n, d)) + shift * y[:, None] * np.linspace(1.0, -0.5, d)
    x = x * np.asarray(scales) + 3.0
    if constant is not None:
        x[:, constant] = 2.5
    return x, y


def case(x, y, lam):
    scaler = StandardScaler().fit(x)
    xs = scaler.transform(x)
    clf = LogisticRegression(C=1.0 / lam, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    clf.fit(xs, y)
    w, b = clf.coef_[0], clf.intercept_[0]
    p = 1.0 / (1.0 + np.exp(-(xs @ w + b)))
    grad = np.concatenate([xs.T @ (p - y) + lam * w, [np.sum(p - y)]])
    print(f"n={len(y)} d={x.shape[1]} lambda={lam}: |grad| = {np.linalg.norm(grad):.2e}, w={w}")
    return {
        "lambda": lam,
        "x": x.tolist(),
        "y": [bool(v) for v in y],
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": w.tolist(),
        "intercept": float(b),
        "proba": clf.predict_proba(xs)[:, 1].tolist(),
    }


rng = np.random.default_rng(20)
cases = [
    case(*make(rng, 80, 3, 1.0, [1.0, 5.0, 0.2]), 1.0),
    case(*make(rng, 60, 4, 1.5, [2.0, 0.5, 1.0, 1.0], constant=2), 0.1),
    case(*make(rng, 50, 2, 6.0, [1.0, 1.0]), 0.05),
    case(*make(rng, 120, 5, 0.8, [1.0] * 5), 10.0),
]
OUT.write_text(json.dumps({"sklearn": sklearn.__version__, "cases": cases}, indent=1) + "\n")
print(f"wrote {OUT}")
