"""Helpers of the descent engines around :mod:`linflow.optimizers` (the update rules).

The reference loop (``linflow/_descent_numpy.py``) stops a trajectory that diverges at step k
and keeps ``θ_{k−1}``; its optimizer state must then be kept at the matching step too.
:func:`select_state` does that for any optimizer's state (a NamedTuple of step counts, arrays
with the trajectory axis first, and tuples of such arrays), without knowing which optimizer
made it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["select_state"]


def select_state(mask: np.ndarray, new, old):
    """``new`` where ``mask`` (per trajectory, axis 0) is true, ``old`` elsewhere (copies).

    Step counts (Python ints) are shared by all trajectories and taken from ``new``.
    """
    if isinstance(new, tuple):
        parts = [select_state(mask, n, o) for n, o in zip(new, old)]
        return type(new)(*parts) if hasattr(new, "_fields") else tuple(parts)
    if isinstance(new, np.ndarray):
        shaped = mask.reshape(mask.shape + (1,) * (new.ndim - mask.ndim))
        return np.where(shaped, new, old)
    return new
