"""scikit-learn and SciPy accept ember tensors through the array API namespace.

SciPy reads ``SCIPY_ARRAY_API=1`` once, when it is first imported, and scikit-learn's
``array_api_dispatch`` requires it; so the checks run in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import numpy as np
    import sklearn
    import scipy.special
    import scipy.stats
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    import ember

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5)) @ rng.standard_normal((5, 5))
    y = (X[:, 0] + 0.5 * rng.standard_normal(60) > 0).astype(np.int64)
    Xe, ye = ember.from_numpy(X), ember.from_numpy(y)

    ref_pca = PCA(n_components=3, svd_solver="full").fit(X)
    ref_lda = LinearDiscriminantAnalysis().fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        pca = PCA(n_components=3, svd_solver="full").fit(Xe)
        Z = pca.transform(Xe)
        lda = LinearDiscriminantAnalysis().fit(Xe, ye)
        pred = lda.predict(Xe)
        proba = lda.predict_proba(Xe)
    for out in (pca.components_, pca.explained_variance_, Z, lda.coef_, pred, proba):
        assert isinstance(out, ember.Tensor), type(out)
    np.testing.assert_allclose(pca.explained_variance_.numpy(), ref_pca.explained_variance_,
                               rtol=1e-10)
    np.testing.assert_allclose(np.abs(pca.components_.numpy()),
                               np.abs(ref_pca.components_), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.abs(Z.numpy()), np.abs(ref_pca.transform(X)), rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(lda.coef_.numpy(), ref_lda.coef_, rtol=1e-8)
    np.testing.assert_array_equal(pred.numpy(), ref_lda.predict(X))
    np.testing.assert_allclose(proba.numpy(), ref_lda.predict_proba(X), rtol=1e-8, atol=1e-12)

    A = rng.standard_normal((4, 6))
    Ae = ember.from_numpy(A)
    for fn in (lambda a: scipy.special.logsumexp(a, axis=1),
               lambda a: scipy.stats.zscore(a, axis=1),
               lambda a: scipy.stats.skew(a, axis=0)):
        got, want = fn(Ae), fn(A)
        assert isinstance(got, ember.Tensor), type(got)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    print("interop ok")
""")


def test_sklearn_and_scipy_accept_ember_tensors():
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "interop ok" in proc.stdout
