"""Random built-in losses for the loss tests: one draw per kind, shared by the test modules."""

from __future__ import annotations

import numpy as np

import linflow.losses as ll

#: Every built-in loss kind :func:`draw_loss` knows (``end_to_end``: a generic cosh loss of W_e).
LOSS_KINDS = ("whitened", "regression", "sensing", "completion", "logistic", "cross_entropy", "end_to_end")


def draw_loss(kind: str, rng: np.random.Generator, d0: int, dn: int, m: int):
    """A loss of ``kind`` with random data for a network ``d_0 → d_N`` and m samples / measurements."""
    if kind == "whitened":
        return ll.Whitened(rng.standard_normal((dn, d0)))
    if kind == "regression":
        return ll.Regression(rng.standard_normal((d0, m)), rng.standard_normal((dn, m)))
    if kind == "sensing":
        return ll.MatrixSensing(rng.standard_normal((m, dn, d0)), rng.standard_normal(m))
    if kind == "completion":
        mask = rng.random((dn, d0)) < 0.6
        mask.flat[rng.integers(mask.size)] = True  # at least one observed entry
        return ll.MatrixCompletion(mask, np.where(mask, rng.standard_normal((dn, d0)), np.nan))
    if kind == "logistic":
        return ll.Logistic(rng.standard_normal((d0, m)), rng.choice([-1, 1], size=m))
    if kind == "cross_entropy":
        return ll.CrossEntropy(rng.standard_normal((d0, m)), rng.integers(0, dn, size=m))
    if kind == "end_to_end":
        c = rng.standard_normal((dn, d0))
        return ll.EndToEnd(lambda e: float(np.sum(np.cosh(e - c))), lambda e: np.sinh(e - c), name="cosh")
    raise AssertionError(kind)
