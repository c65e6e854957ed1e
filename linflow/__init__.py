"""linflow: symbolic-numeric analysis of gradient descent and gradient flow on deep linear and homogeneous networks.

Conventions: a problem is a network and a loss object (:mod:`linflow.losses`: whitened,
regression, matrix sensing and completion, logistic, cross-entropy, or your own); the squared
losses have the ½ (``½‖W_e − Φ‖_F²`` or ``(1/2m)‖W_e X − Y‖_F²``),
``weights[j].shape == (d_{j+1}, d_j)``, ``W_e = W_N ⋯ W_1``, and GD iterate k approximates
gradient flow at ``t = kη``. Importing linflow compiles nothing and never imports CUDA.
"""

from . import exact, init, losses, optimizers, rescaling
from .central_flow import CentralFlowResult, integrate_central_flow
from .compare import DescentFlowComparison, compare_descent_to_flow, fit_order
from .descent import simulate_descent
from .flow import integrate_flow
from .homogeneous import HomogeneousNetwork, HomogeneousProblem, NonDifferentiableError
from .network import DeepLinearNetwork, balancedness, end_to_end, flatten, partial_product, unflatten
from .problem import Problem
from .results import DescentResult, FlowResult, Status

__version__ = "0.1.0"

# Loaded on first attribute access, so that `import linflow` imports neither SymPy nor
# Hypothesis: the SymPy-backed modules, and the claims/strategies (Hypothesis); nor dask, xarray
# or Zarr: the sweep package (callable: ``linflow.sweep(spec)`` runs a sweep).
_LAZY_MODULES = ("analysis", "bounds", "curvature", "symbolic", "claims", "strategies", "sweep")
_LAZY_ATTRIBUTES = {"Claim": "linflow.claims._core", "check_claim": "linflow.claims._core"}


def __getattr__(name):
    import importlib

    if name in _LAZY_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    if name in _LAZY_ATTRIBUTES:
        return getattr(importlib.import_module(_LAZY_ATTRIBUTES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Claim",
    "analysis",
    "DeepLinearNetwork",
    "HomogeneousNetwork",
    "HomogeneousProblem",
    "NonDifferentiableError",
    "Problem",
    "DescentResult",
    "FlowResult",
    "DescentFlowComparison",
    "CentralFlowResult",
    "Status",
    "balancedness",
    "bounds",
    "check_claim",
    "claims",
    "compare_descent_to_flow",
    "curvature",
    "end_to_end",
    "exact",
    "fit_order",
    "flatten",
    "init",
    "integrate_central_flow",
    "integrate_flow",
    "losses",
    "optimizers",
    "partial_product",
    "rescaling",
    "simulate_descent",
    "strategies",
    "sweep",
    "symbolic",
    "unflatten",
]
