"""Print what scipy's conjugate gradient does on Rosenbrock: the numbers pinned in
`src/crowd/conjugate_gradient.rs` (`matches_scipy_on_rosenbrock`), which checks our port of
`scipy.optimize._minimize_cg` (used by `glad`'s M-step, as crowd-kit's GLAD uses scipy's).

Usage: python3 benches/peers/scipy_cg_rosenbrock.py   (numbers pinned from scipy 1.17.1)

Also reports whether each run fell back from `line_search_wolfe1` (MINPACK dcsrch) to
`line_search_wolfe2` and its zoom, so the pinned cases cover both line searches.
"""

import scipy
import scipy.optimize._linesearch as linesearch
import scipy.optimize._optimize as optimize
from scipy.optimize import minimize, rosen, rosen_der

calls = {"wolfe2": 0, "zoom": 0}


def _counting(name, fn):
    def wrapped(*args, **kwargs):
        calls[name] += 1
        return fn(*args, **kwargs)

    return wrapped


optimize.line_search_wolfe2 = _counting("wolfe2", optimize.line_search_wolfe2)
linesearch._zoom = _counting("zoom", linesearch._zoom)

CASES = [
    ([-1.2, 1.0], None, None),
    ([1.3, 0.7, 0.8, 1.9, 1.2], None, None),
    ([1.3, 0.7, 0.8, 1.9, 1.2], 1e-2, 25),  # GLAD's M-step settings
]

print(f"scipy {scipy.__version__}")
for x0, tol, maxiter in CASES:
    calls.update(wolfe2=0, zoom=0)
    options = {} if maxiter is None else {"maxiter": maxiter}
    r = minimize(rosen, x0, jac=rosen_der, method="CG", tol=tol, options=options)
    print(
        f"x0={x0} tol={tol} maxiter={maxiter}: x={[float(v) for v in r.x]} "
        f"nit={r.nit} nfev={r.nfev} njev={r.njev} status={r.status} {calls}"
    )
