"""crowd-kit 1.4.2 with scikit-learn >= 1.6: imported for its side effect by the peer scripts.

crowd-kit calls sklearn's `check_is_fitted`, which in scikit-learn >= 1.6 requires
`__sklearn_tags__` that crowd-kit's attrs classes lack; the check itself is only "was fit()
called", so it is replaced with exactly that in the modules that use it. The algorithms are
untouched.
"""

import crowdkit.aggregation.classification.gold_majority_vote as _gmv
import crowdkit.aggregation.classification.wawa as _wawa
import crowdkit.aggregation.classification.zero_based_skill as _zbs


def _check_fitted(est, attributes):
    if getattr(est, attributes, None) is None:
        raise RuntimeError(f"{type(est).__name__} is not fitted")


for _module in (_wawa, _zbs, _gmv):
    _module.check_is_fitted = _check_fitted
