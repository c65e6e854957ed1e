"""scripts/bench_observables.py --oracle: its count of the products a Krylov method needs."""

import numpy as np
import pytest
from script_modules import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("bench_observables")


def test_exact_eigenvector_takes_one_product(script):
    hessian = np.diag([5.0, 3.0, 2.0, -1.0])
    assert script._krylov_products(hessian, np.array([1.0, 0.0, 0.0, 0.0]), 5.0, 1e-8) == 1


@pytest.mark.parametrize("k", [2, 3, 5])
def test_start_on_k_eigenvectors_takes_k_products(script, k):
    # The Krylov space of a start with components on k eigenvectors of distinct eigenvalues has
    # dimension k and holds the top eigenvector only once it is complete (k products); before
    # that the top Ritz value of these well-separated eigenvalues (gaps of 1, components of 1)
    # is off by far more than 1e-8.
    rng = np.random.default_rng(k)
    basis, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    values = np.arange(8.0, 0.0, -1.0)
    hessian = basis @ np.diag(values) @ basis.T
    start = basis[:, :k].sum(axis=1)
    assert script._krylov_products(hessian, start, values[0], 1e-8) == k


def test_a_looser_tolerance_never_needs_more(script):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((12, 12))
    hessian = a + a.T
    top = np.linalg.eigvalsh(hessian)[-1]
    start = rng.standard_normal(12)
    strict = script._krylov_products(hessian, start, top, 1e-10)
    loose = script._krylov_products(hessian, start, top, 1e-3)
    assert 1 <= loose <= strict <= 12
