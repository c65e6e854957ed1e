"""The CUDA engine reports the same balancedness drift as the others when B_j overflows: +inf."""

import numpy as np
import pytest

from linflow import DeepLinearNetwork, Problem, simulate_descent

pytestmark = [pytest.mark.cudasim, pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]


def test_overflowing_balancedness_gives_infinite_drift_on_every_backend():
    prob = Problem(DeepLinearNetwork((2, 2, 2)), target=np.eye(2))
    # W_1 ~ 1e200, W_2 ~ 1e-200: the product (and the loss) is O(1), B_1 overflows.
    w = (np.diag([1e200, 1.0]), np.diag([1e-200, 1.0]))
    runs = {b: simulate_descent(prob, w, learning_rate=0.1, n_steps=3, backend=b) for b in ("numpy", "cuda")}
    assert runs["numpy"].balancedness_drift == runs["cuda"].balancedness_drift == np.inf
    assert runs["numpy"].status is runs["cuda"].status
    np.testing.assert_allclose(runs["cuda"].losses, runs["numpy"].losses, rtol=1e-12)
