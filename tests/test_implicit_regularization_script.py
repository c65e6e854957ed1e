"""scripts/reproduce_implicit_regularization.py: effective rank and a quick run of the sweep."""

import numpy as np
import pytest
from script_modules import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("reproduce_implicit_regularization")


def test_effective_rank_of_known_spectra(script):
    # exp(entropy) of uniform singular values is their number; one nonzero value gives 1.
    assert script.effective_rank(np.eye(5)) == pytest.approx(5.0, rel=1e-14)
    assert script.effective_rank(np.diag([3.0, 0.0, 0.0])) == pytest.approx(1.0, rel=1e-14)
    # p = (2/3, 1/3): exp(−Σ p log p).
    expected = np.exp(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))
    assert script.effective_rank(np.diag([2.0, 1.0])) == pytest.approx(expected, rel=1e-14)


def test_depth_lowers_the_effective_rank(script):
    kwargs = dict(size=12, rank=1, n_seeds=2, init_scale=0.05, n_steps=3000, backend="numpy", seed=80)
    shallow = script.completion_run(2, 80, **kwargs)
    deep = script.completion_run(3, 80, **kwargs)
    assert np.all(shallow["loss"] < 1e-6) and np.all(deep["loss"] < 1e-6)
    assert np.median(deep["effective_rank"]) < np.median(shallow["effective_rank"])
    assert np.median(deep["unobserved_error"]) < np.median(shallow["unobserved_error"])
