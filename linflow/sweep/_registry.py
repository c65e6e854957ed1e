"""The one place where a sweep spec's names become linflow objects.

:data:`PARAMETERS` lists every parameter a spec may set (and sweep over): its flat name (the
axis / dimension name), the spec section and key it lives under, its type and whether it may
vary *inside* one batched engine call (``batched``: initialization and step size) or defines
the problem the call runs on (network, loss, data, optimizer). The factories map the spec's
kind names to constructors: :data:`NETWORKS`, :data:`LOSSES`, :data:`INITS` and
:data:`OPTIMIZERS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import init as initializers
from .. import losses, optimizers
from ..homogeneous import HomogeneousNetwork
from ..network import DeepLinearNetwork
from ..problem import Problem


@dataclass(frozen=True)
class Parameter:
    """A spec parameter: ``[section] key`` in the TOML, ``name`` as an axis / dimension.

    ``kind`` is ``int``, ``float`` or ``str``; ``domain`` names the values allowed
    (``"positive"``, ``"nonnegative"``, ``"unit"`` = the open interval (0, 1), ``"any"``, or a
    tuple of strings); ``batched`` parameters vary inside one engine call.
    """

    name: str
    section: str
    key: str
    kind: type
    default: object
    domain: object
    batched: bool
    doc: str


def _choices(table: dict) -> tuple:
    return tuple(table)


# ---------------------------------------------------------------------- networks
def _make_network(p: dict):
    widths = (p["input_dim"],) + (p["width"],) * (p["depth"] - 1) + (p["output_dim"],)
    if p["activation"] == "linear":
        return DeepLinearNetwork(widths)
    slope = p["negative_slope"] if p["activation"] == "leaky_relu" else None
    return HomogeneousNetwork(widths, p["activation"], negative_slope=slope)


NETWORKS = {"linear": _make_network, "relu": _make_network, "leaky_relu": _make_network}


# ---------------------------------------------------------------------- losses and data
class Instance(NamedTuple):
    """A problem and its ground truth: the teacher ``Φ`` (whitened, regression) or the matrix
    ``W*`` whose entries are observed (completion)."""

    problem: Problem
    truth: np.ndarray


def target_matrix(rows: int, cols: int, p: dict, rng: np.random.Generator) -> np.ndarray:
    """A ``rows × cols`` teacher ``Φ = U diag(s) Vᵀ`` of rank ``k`` with Haar-random ``U, V``.

    ``k`` is the spec's ``rank`` (default ``min(rows, cols)``); ``s`` its ``spectrum`` (zero
    padded), else ``linspace(1, 0.5, k)`` scaled to ``‖Φ‖_F = target_norm`` (distinct singular
    values).
    """
    k = min(rows, cols) if p["rank"] is None else min(p["rank"], rows, cols)
    if p["spectrum"] is not None:
        s = np.zeros(k)
        s[: min(k, len(p["spectrum"]))] = p["spectrum"][:k]
    else:
        s = np.linspace(1.0, 0.5, k) if k > 1 else np.ones(1)
        s *= p["target_norm"] / np.linalg.norm(s)
    u, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    return (u[:, :k] * s) @ v[:, :k].T


def _whitened(network, p: dict, rng: np.random.Generator) -> Instance:
    """``½‖W_e − Φ‖_F²`` with a random teacher (:func:`target_matrix`)."""
    phi = target_matrix(network.widths[-1], network.widths[0], p, rng)
    return Instance(Problem(network, losses.Whitened(phi)), phi)


def _regression(network, p: dict, rng: np.random.Generator) -> Instance:
    """``(1/2m)‖W_e X − Y‖_F²`` with ``X ~ N(0, 1)``, ``Y = ΦX + noise·N(0, 1)``."""
    d0, dn = network.widths[0], network.widths[-1]
    phi = target_matrix(dn, d0, p, rng)
    x = rng.standard_normal((d0, p["n_samples"]))
    y = phi @ x + p["noise"] * rng.standard_normal((dn, p["n_samples"]))
    return Instance(Problem(network, losses.Regression(x, y)), phi)


def _matrix_completion(network, p: dict, rng: np.random.Generator) -> Instance:
    """``(1/(2|Ω|)) Σ_Ω (W_e − W*)²`` on ``n_observations`` entries of a low-rank ``W*`` drawn
    uniformly without replacement (Arora, Cohen, Hu & Luo 2019, Sec. 2 setting); ``W*`` from
    :func:`target_matrix` (rank ``rank``), observed without noise."""
    d0, dn = network.widths[0], network.widths[-1]
    truth = target_matrix(dn, d0, p, rng)
    if p["n_observations"] > d0 * dn:
        raise ValueError(f"n_observations must be at most d_N·d_0 = {dn * d0}; got n_observations={p['n_observations']}")
    mask = np.zeros(dn * d0, dtype=bool)
    mask[rng.choice(dn * d0, size=p["n_observations"], replace=False)] = True
    return Instance(Problem(network, losses.MatrixCompletion(mask.reshape(dn, d0), truth)), truth)


LOSSES = {"whitened": _whitened, "regression": _regression, "matrix_completion": _matrix_completion}


# ---------------------------------------------------------------------- initializations
def _gaussian(widths, p, problem, rng):
    return initializers.gaussian(widths, std=p["init_scale"], seed=rng)


def _orthogonal(widths, p, problem, rng):
    return initializers.orthogonal(widths, scale=p["init_scale"], seed=rng)


def _near_identity(widths, p, problem, rng):
    return initializers.near_identity(widths, std=p["init_scale"], seed=rng)


def _balanced(widths, p, problem, rng):
    """Balanced weights with ``‖W_e‖_F = init_scale``, then ``N(0, delta²)`` added entrywise.

    ``delta = 0`` is exactly balanced (Arora et al. 2019, Procedure 1); ``delta > 0`` breaks
    balancedness by an amount of order ``delta`` (kept as the ``initial_imbalance`` observable).
    """
    weights = initializers.random_balanced(widths, scale=p["init_scale"], seed=rng)
    if p["delta"] > 0:
        weights = tuple(w + p["delta"] * rng.standard_normal(w.shape) for w in weights)
    return weights


def _margin(widths, p, problem, rng):
    """Balanced, with deficiency margin ``c = margin_fraction · σ_min(Φ)`` (whitened, square).

    ``W_e(0) = Φ + (σ_min(Φ) − c)·D`` with ``D`` a uniformly random unit direction: the
    setting of Arora, Cohen, Golowich & Hu 2019 (ICLR), Thm 1 (Definition 2, deficiency margin).
    """
    from ..tables._margin import margin_inits, sigma_min

    if problem.target is None or problem.target.shape[0] != problem.target.shape[1]:
        raise ValueError("init kind 'margin' needs the whitened loss with a square target; got "
                         f"init='margin' with {problem!r}")
    weights = margin_inits(problem, p["margin_fraction"] * sigma_min(problem.target), 1, rng)
    return tuple(w[0] for w in weights)


INITS = {
    "gaussian": _gaussian,
    "orthogonal": _orthogonal,
    "near_identity": _near_identity,
    "balanced": _balanced,
    "margin": _margin,
}


# ---------------------------------------------------------------------- optimizers
def _given(p: dict, *names) -> dict:
    """The optimizer's hyper-parameters the spec sets (the others keep the optimizer's defaults)."""
    return {name: p[name] for name in names if p[name] is not None}


#: Optimizer name → constructor of a :mod:`linflow.optimizers` object from the parameters.
OPTIMIZERS = {
    "gd": lambda p: optimizers.GD(),
    "momentum": lambda p: optimizers.Momentum(p["momentum"]),
    "scalar_rmsprop": lambda p: optimizers.ScalarRMSProp(**_given(p, "beta2", "eps")),
    "rmsprop": lambda p: optimizers.RMSProp(**_given(p, "beta2", "eps")),
    "adam": lambda p: optimizers.Adam(**_given(p, "beta1", "beta2", "eps")),
}

#: Where ``learning_rate_fraction`` takes its ``2/S``.
SHARPNESS_REFERENCES = ("minimum", "initial")

_P = Parameter
PARAMETERS = (
    _P("activation", "network", "activation", str, "linear", _choices(NETWORKS), False,
       "linear (deep linear network), relu or leaky_relu (homogeneous network)"),
    _P("depth", "network", "depth", int, 3, "positive", False, "number of layers N"),
    _P("width", "network", "width", int, 4, "positive", False, "hidden width"),
    _P("input_dim", "network", "input_dim", int, None, "positive", False, "d_0 (default: width)"),
    _P("output_dim", "network", "output_dim", int, None, "positive", False, "d_N (default: width)"),
    _P("negative_slope", "network", "negative_slope", float, 0.1, "nonnegative", False, "leaky ReLU slope"),
    _P("loss", "loss", "kind", str, "whitened", _choices(LOSSES), False,
       "whitened ½‖W_e − Φ‖², regression (1/2m)‖W_e X − Y‖², matrix_completion"),
    _P("target_norm", "loss", "target_norm", float, 1.0, "positive", False, "‖Φ‖_F of the teacher"),
    _P("rank", "loss", "rank", int, None, "positive", False, "rank of the teacher (default: full)"),
    _P("n_observations", "loss", "n_observations", int, 16, "positive", False,
       "observed entries (matrix_completion)"),
    _P("n_samples", "loss", "n_samples", int, 32, "positive", False, "m, regression samples"),
    _P("noise", "loss", "noise", float, 0.0, "nonnegative", False, "label noise std (regression)"),
    _P("data_seed", "loss", "data_seed", int, 0, "nonnegative", False, "seed of teacher and data"),
    _P("init", "init", "kind", str, "gaussian", _choices(INITS), True, "initialization kind"),
    _P("init_scale", "init", "scale", float, 0.1, "positive", True,
       "gaussian/near_identity: entry std; orthogonal: scale; balanced: ‖W_e‖_F"),
    _P("delta", "init", "delta", float, 0.0, "nonnegative", True, "balanced: imbalance perturbation std"),
    _P("margin_fraction", "init", "margin_fraction", float, 0.5, "unit", True, "margin: c / σ_min(Φ)"),
    _P("seed", "init", "seed", int, 0, "nonnegative", True, "seed of the initialization"),
    _P("optimizer", "optimizer", "kind", str, "gd", _choices(OPTIMIZERS), False, "update rule"),
    _P("learning_rate", "optimizer", "learning_rate", float, None, "positive", True, "step size η"),
    _P("learning_rate_fraction", "optimizer", "learning_rate_fraction", float, None, "positive", True,
       "η as a fraction of 2/S (see sharpness_reference)"),
    _P("momentum", "optimizer", "momentum", float, 0.9, "halfunit", False, "momentum β (heavy ball)"),
    _P("beta1", "optimizer", "beta1", float, None, "halfunit", False, "Adam β₁ (default: Adam's 0.9)"),
    _P("beta2", "optimizer", "beta2", float, 0.99, "unit", False, "RMSProp / Adam β₂"),
    _P("eps", "optimizer", "eps", float, None, "nonnegative", False,
       "RMSProp / Adam ε (default: the optimizer's, 0 resp. 1e-8)"),
)

PARAMETER = {p.name: p for p in PARAMETERS}
BY_SECTION_KEY = {(p.section, p.key): p for p in PARAMETERS}

#: Keys of a section that are settings, not sweepable parameters: key → (type, default, doc).
SETTINGS = {
    ("loss", "spectrum"): (list, None, "singular values of Φ (overrides target_norm)"),
    ("optimizer", "sharpness_reference"): (str, "minimum",
                                           "2/S of learning_rate_fraction: 'minimum' or 'initial'"),
}

#: Observables a spec may keep, beyond final_loss, status, converged_step, divergence_step.
OBSERVABLES = ("loss", "balancedness_drift", "final_sharpness", "initial_sharpness", "initial_imbalance",
               "effective_rank", "reconstruction_error")


def make_network(p: dict):
    return NETWORKS[p["activation"]](p)


def make_instance(network, p: dict, rng: np.random.Generator) -> Instance:
    return LOSSES[p["loss"]](network, p, rng)


def make_init(widths, p: dict, problem: Problem, rng: np.random.Generator) -> tuple:
    return INITS[p["init"]](widths, p, problem, rng)


def make_optimizer(p: dict):
    return OPTIMIZERS[p["optimizer"]](p)
