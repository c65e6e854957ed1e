"""SymPy derivations for deep linear and homogeneous networks (imports SymPy: loaded lazily).

* :mod:`linflow.symbolic.scalar` — the scalar network ``½(w_1⋯w_N − y)²`` (theory/scalar);
* :mod:`linflow.symbolic.matrix` — small concrete matrix networks, Saxe modes, the two-layer
  λ-balanced flow (theory/deep-linear);
* :mod:`linflow.symbolic.homogeneous` — Euler's identities for homogeneous networks (§5).

Everything returns SymPy objects with assumptions declared on the symbols; numeric code is
generated in one place, :mod:`linflow._codegen`.
"""

from . import homogeneous, matrix, scalar
from .scalar import (
    ScalarNetwork,
    balanced_flow_antiderivative,
    balanced_flow_n2_solution,
    balanced_flow_rhs,
    balanced_flow_time,
    gfs_sharpness_n2,
    minimal_sharpness,
)

__all__ = [
    "ScalarNetwork",
    "balanced_flow_antiderivative",
    "balanced_flow_n2_solution",
    "balanced_flow_rhs",
    "balanced_flow_time",
    "gfs_sharpness_n2",
    "homogeneous",
    "matrix",
    "minimal_sharpness",
    "scalar",
]
