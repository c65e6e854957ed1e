"""The built-in claims: theory.md §2–§4 as checkable statements (registered on import).

Each claim says what is measured and how, cites its source with the theory.md tag, and draws
instances that satisfy its hypotheses by construction (the hypotheses are still evaluated, with
margins, and reported). Instances are :class:`linflow.strategies.Instance` objects: widths, a
whitened target Φ (loss ``½‖W_e − Φ‖_F²``), initial weights, a step size η and a horizon T.

A violated claim tagged [recalled] is a *finding* about the recalled statement (its constants or
hypotheses), shown in the report, never hidden or weakened.
"""

from __future__ import annotations

from . import register
from ._convergence import ARORA2019, CERTIFIED_CONVERGENCE, DESCENT, GLOBAL_CONVERGENCE, MARGIN_RATE, MARGIN_RATE_SQUARE
from ._gd_vs_gf import CURVATURE, EC21_CERTIFICATE, LOG_INTEGRAL, ORDER
from ._invariants import BALANCEDNESS_GD, BALANCEDNESS_GF, CLOSED_FORMS, IMBALANCE_RATE
from ._stability import BALANCED_MIN_SHARPNESS, KREISLER, NO_CONVERGENCE, SCALAR_MIN_SHARPNESS, STABILITY

__all__ = ["CLAIMS"]

# In the order of the list (1–12); one family of claims per module.
CLAIMS = (
    EC21_CERTIFICATE,
    ORDER,
    CURVATURE,
    LOG_INTEGRAL,
    GLOBAL_CONVERGENCE,
    CERTIFIED_CONVERGENCE,
    BALANCEDNESS_GF,
    BALANCEDNESS_GD,
    ARORA2019,
    MARGIN_RATE,
    MARGIN_RATE_SQUARE,
    DESCENT,
    STABILITY,
    NO_CONVERGENCE,
    KREISLER,
    SCALAR_MIN_SHARPNESS,
    BALANCED_MIN_SHARPNESS,
    CLOSED_FORMS,
    IMBALANCE_RATE,
)

for _claim in CLAIMS:
    register(_claim)
