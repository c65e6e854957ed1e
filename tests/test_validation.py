"""Bad input raises ValueError/TypeError naming the argument, before any work."""

import numpy as np
import pytest

from linflow import DeepLinearNetwork, Problem, init, integrate_flow, simulate_descent

NET = DeepLinearNetwork((2, 3, 2))
PROB = Problem(NET, target=np.eye(2))
W0 = init.gaussian(NET.widths, std=0.5, seed=0)


@pytest.mark.parametrize(
    "widths, exc, word",
    [
        ((2, 0, 2), ValueError, "widths"),
        ((3,), ValueError, "widths"),
        ((2, 2.5), TypeError, "widths"),
        ("22", TypeError, "widths"),
    ],
)
def test_bad_widths(widths, exc, word):
    with pytest.raises(exc, match=word):
        DeepLinearNetwork(widths)


def test_bad_problem_arguments():
    with pytest.raises(ValueError, match="target"):
        Problem(NET, target=np.ones((3, 3)))
    with pytest.raises(ValueError, match="target"):
        Problem(NET, target=np.array([[1.0, np.nan], [0, 1]]))
    with pytest.raises(ValueError, match="X"):
        Problem(NET, X=np.ones((2, 4)))
    with pytest.raises(ValueError, match="Y"):
        Problem(NET, X=np.ones((2, 4)), Y=np.ones((2, 5)))
    with pytest.raises(ValueError, match="either target"):
        Problem(NET, target=np.eye(2), X=np.ones((2, 1)), Y=np.ones((2, 1)))
    with pytest.raises(TypeError, match="network"):
        Problem((2, 2), target=np.eye(2))


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        (dict(learning_rate=-0.1, n_steps=10), ValueError, "learning_rate"),
        (dict(learning_rate=0.0, n_steps=10), ValueError, "learning_rate"),
        (dict(learning_rate=float("nan"), n_steps=10), ValueError, "learning_rate"),
        (dict(learning_rate=np.array([0.1, -1.0]), n_steps=10), ValueError, "learning_rate"),
        (dict(learning_rate="fast", n_steps=10), TypeError, "learning_rate"),
        (dict(learning_rate=0.1, n_steps=0), ValueError, "n_steps"),
        (dict(learning_rate=0.1, n_steps=2.5), TypeError, "n_steps"),
        (dict(learning_rate=0.1, n_steps=5, record_every=0), ValueError, "record_every"),
        (dict(learning_rate=0.1, n_steps=5, backend="fortran"), ValueError, "backend"),
        (dict(learning_rate=0.1, n_steps=5, reference=np.zeros((3, 12))), ValueError, "reference"),
    ],
)
def test_bad_descent_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        simulate_descent(PROB, W0, **kwargs)


def test_bad_weights():
    with pytest.raises(ValueError, match=r"weights0\[1\]"):
        simulate_descent(PROB, (W0[0], np.ones((3, 3))), learning_rate=0.1, n_steps=2)
    with pytest.raises(ValueError, match=r"weights0\[0\].*finite"):
        simulate_descent(PROB, (np.full((3, 2), np.inf), W0[1]), learning_rate=0.1, n_steps=2)
    with pytest.raises(ValueError, match="weights0"):
        simulate_descent(PROB, W0[:1], learning_rate=0.1, n_steps=2)
    with pytest.raises(TypeError, match="weights0"):
        simulate_descent(PROB, np.ones(12), learning_rate=0.1, n_steps=2)


def test_bad_flow_arguments():
    with pytest.raises(ValueError, match="t_span"):
        integrate_flow(PROB, W0, t_span=(1.0, 0.0))
    with pytest.raises(ValueError, match="t_eval"):
        integrate_flow(PROB, W0, t_span=(0.0, 1.0), t_eval=[0.5, 2.0])
    with pytest.raises(ValueError, match="method"):
        integrate_flow(PROB, W0, t_span=(0.0, 1.0), method="Euler")
    with pytest.raises(ValueError, match="rtol"):
        integrate_flow(PROB, W0, t_span=(0.0, 1.0), rtol=-1)


def test_bad_init_arguments():
    with pytest.raises(TypeError, match="seed"):
        init.gaussian((2, 2), std=1.0, seed=None)
    with pytest.raises(ValueError, match="std"):
        init.gaussian((2, 2), std=-1.0, seed=0)
    with pytest.raises(ValueError, match="rank"):
        init.balanced((3, 1, 3), np.eye(3))
