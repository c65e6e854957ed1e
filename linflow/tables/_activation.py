"""The ``--activation`` / ``--negative-slope`` options of the tables and their ReLU problems.

With ``activation="linear"`` (the default) a table keeps its deep-linear setup unchanged. With
``"relu"`` or ``"leaky_relu"`` there is no end-to-end matrix and no whitened loss: the tables use
the regression loss ``(1/2m)‖h(X) − Y‖_F²`` (theory/homogeneous) on seeded synthetic data.
"""

from __future__ import annotations

import numpy as np

from . import Option

#: Table activations, the linear default first.
ACTIVATIONS = ("linear", "relu", "leaky_relu")

ACTIVATION_OPTIONS = (
    Option("activation", str, "linear",
           "hidden activation: linear (the deep linear setup), relu or leaky_relu "
           "(regression loss on seeded synthetic data)", choices=ACTIVATIONS),
    Option("negative_slope", float, None, "slope α of leaky_relu in [0, 1] (default 0.01)"),
)


def check_activation(activation, negative_slope):
    """Validate the pair (as :class:`~linflow.HomogeneousNetwork` does) before any run.

    Returns ``(activation, α)`` with α the slope the network will use.
    """
    from ..homogeneous import HomogeneousNetwork

    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got activation={activation!r}")
    net = HomogeneousNetwork((1, 1), activation, negative_slope=negative_slope)
    return activation, net.negative_slope


def activation_text(activation: str, slope: float) -> str:
    """``"ReLU"``, ``"leaky ReLU (α = 0.01)"`` for notes."""
    return "ReLU" if activation == "relu" else f"leaky ReLU (α = {slope:g})"


def regression_problem(widths, activation: str, negative_slope, *, n_samples: int, target_norm: float, seed):
    """Seeded synthetic regression problem and He-Gaussian initialization.

    ``X`` has i.i.d. N(0, 1) entries ``(d_0, m)``; ``Y`` is Gaussian ``(d_N, m)`` scaled so that
    ``‖Y‖_F = target_norm·√m`` (RMS target norm per sample ``target_norm``); the initial weights
    are ``N(0, 2/d_j)`` (He et al. 2015), all from one generator seeded with ``seed``.

    Returns
    -------
    (HomogeneousProblem, tuple of ndarray)
    """
    from .._validation import check_positive
    from ..homogeneous import HomogeneousNetwork
    from ..problem import Problem

    n_samples = check_positive(n_samples, "n_samples", integer=True)
    target_norm = check_positive(target_norm, "target_norm")
    slope = negative_slope if activation == "leaky_relu" else None
    net = HomogeneousNetwork(widths, activation, negative_slope=slope)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((widths[0], n_samples))
    Y = rng.standard_normal((widths[-1], n_samples))
    Y *= target_norm * np.sqrt(n_samples) / np.linalg.norm(Y)
    weights0 = tuple(rng.standard_normal((widths[j + 1], widths[j])) * np.sqrt(2.0 / widths[j])
                     for j in range(len(widths) - 1))
    return Problem(net, X=X, Y=Y), weights0
