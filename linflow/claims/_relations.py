"""Relations between a measured value and a bound, with the tightness ratio of each.

Every relation returns ``(holds, value, bound, ratio)``: ``value`` and ``bound`` are the scalars
that a report shows, ``ratio`` the tightness (≤ 1 when the relation holds, > 1 when it is
violated, ``None`` where no ratio makes sense):

========================  =====================================  ==============================
relation                  holds when                             ratio
========================  =====================================  ==============================
``"<="``                  ``v ≤ b + atol + rtol|b|``             ``v/b`` (b > 0); ``b/v`` (both < 0)
``">="``                  ``v ≥ b − atol − rtol|b|``             ``b/v`` (both > 0); ``v/b`` (b < 0)
``"=="``                  ``|v − b| ≤ atol + rtol|b|`` entrywise  ``max |v − b| / (atol + rtol|b|)``
``"non-increasing"``      ``v[k+1] − v[k] ≤ atol + rtol|v[k]|``  largest increase / its allowance
``"converges"``           last ``v`` finite and ``≤ b``           ``v_last / b``
``"property"``            ``v`` is true                          ``None``
========================  =====================================  ==============================

For ``"<="``/``">="`` the ratio is ``None`` when both sides lie within ``atol`` of zero (the
noise floor of the measurement): a ratio of two noise-level numbers is not a tightness.

A measurement or bound that is no answer — ``None``, NaN, a string, a property value that is
not a bool — raises :class:`ClaimError` instead of deciding anything: NaN compares false with
everything, so judging it would report a "violation" (or, through ``bool(nan)``, a true
property) that only says the measurement failed. An infinite value *is* an answer (a run that
diverged measures ``inf``) and is judged like any other number.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["RELATIONS", "ClaimError", "normalize_relation", "judge", "is_truth_value"]

RELATIONS = ("<=", ">=", "==", "non-increasing", "converges", "property")

_ALIASES = {
    "<=": "<=", "≤": "<=", "le": "<=",
    ">=": ">=", "≥": ">=", "ge": ">=",
    "==": "==", "=": "==", "eq": "==",
    "non-increasing": "non-increasing", "nonincreasing": "non-increasing",
    "monotone": "non-increasing", "monotone non-increasing": "non-increasing",
    "converges": "converges",
    "property": "property", "bool": "property",
}


class ClaimError(ValueError):
    """A claim could not be judged: its measurement, bound or a hypothesis gave no answer.

    Raised for ``None``/NaN measurements or bounds, a missing bound, a non-bool property value
    or a NaN hypothesis margin: a broken measurement is an error of the claim, never a verdict
    about the theorem.
    """


def is_truth_value(value) -> bool:
    """Whether ``value`` is a bool (Python, NumPy, or a one-element bool array)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, np.ndarray) and value.dtype == np.bool_ and value.size == 1


def normalize_relation(relation: str) -> str:
    """The canonical spelling of ``relation`` (accepts ≤, ≥, =, "monotone", "bool", ...)."""
    if not isinstance(relation, str) or relation.strip().lower() not in _ALIASES:
        raise ValueError(f"relation must be one of {RELATIONS}; got relation={relation!r}")
    return _ALIASES[relation.strip().lower()]


def _numbers(x, name: str) -> np.ndarray:
    """``x`` as a float64 array; ClaimError for None, strings, objects and NaN entries."""
    if x is None:
        raise ClaimError(f"{name} is None: no answer to judge")
    if isinstance(x, (str, bytes)):
        raise ClaimError(f"{name} must be a number or array; got {x!r}")
    try:
        raw = np.asarray(x)
        if np.iscomplexobj(raw):
            raise ClaimError(f"{name} must be real; got {x!r}")
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ClaimError):
            raise
        raise ClaimError(f"{name} must be a number or array of numbers; got {x!r}") from exc
    if arr.size == 0:
        raise ClaimError(f"{name} is empty: no answer to judge")
    if np.any(np.isnan(arr)):
        where = "" if arr.size == 1 else f" at index {int(np.flatnonzero(np.isnan(arr.ravel()))[0])}"
        raise ClaimError(f"{name} is NaN{where}: no answer to judge (a diverged run should measure inf)")
    return arr


def _scalar(x, name: str) -> float:
    arr = _numbers(x, name)
    if arr.size != 1:
        raise ClaimError(f"{name} must be a number for this relation; got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def _ratio_le(v: float, b: float):
    if not math.isfinite(v):
        return math.inf
    if b > 0:
        return max(v, 0.0) / b
    if b < 0:
        return b / v if v < 0 else math.inf
    return None


def _ratio_ge(v: float, b: float):
    if not math.isfinite(v):
        return math.inf
    if b > 0:
        return b / v if v > 0 else math.inf
    if b < 0:
        return v / b if v < 0 else 0.0
    return None


def judge(relation: str, value, bound, *, rtol: float, atol: float):
    """Decide whether ``value`` stands in ``relation`` to ``bound``; see the module table."""
    if relation == "property":
        if not is_truth_value(value):
            raise ClaimError(f"a property's measured value must be a bool; got {value!r}")
        return bool(value), float(bool(value)), None, None
    if relation in ("<=", ">="):
        if bound is None:
            raise ClaimError(f"relation {relation!r} needs a bound; got bound=None")
        v, b = _scalar(value, "the measured value"), _scalar(bound, "the bound")
        slack = atol + rtol * abs(b)
        # Both sides within the absolute noise floor: the comparison holds or fails on noise,
        # and their ratio means nothing.
        noise = atol > 0 and abs(v) <= atol and abs(b) <= atol
        if relation == "<=":
            return bool(v <= b + slack), v, b, None if noise else _ratio_le(v, b)
        return bool(v >= b - slack), v, b, None if noise else _ratio_ge(v, b)
    if relation == "==":
        if bound is None:
            raise ClaimError("relation '==' needs a bound (the predicted value); got bound=None")
        v = _numbers(value, "the measured value")
        b = _numbers(bound, "the bound")
        try:
            np.broadcast_shapes(v.shape, b.shape)
        except ValueError:
            raise ClaimError(
                f"the measured value (shape {v.shape}) and the bound (shape {b.shape}) do not broadcast"
            ) from None
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(b))):
            # ±inf on either side: equal only where both are the same infinity.
            same = np.all(np.where(np.isfinite(v) & np.isfinite(b), True, v == b))
            if not same:
                return False, math.inf, None, math.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.where(np.isfinite(v) & np.isfinite(b), np.abs(v - b), 0.0)
            allowed = atol + rtol * np.where(np.isfinite(b), np.abs(b), 0.0)
            ratios = np.where(allowed > 0, err / np.where(allowed > 0, allowed, 1.0), np.where(err > 0, np.inf, 0.0))
        ratio = float(np.max(ratios)) if ratios.size else 0.0
        holds = bool(np.all(err <= allowed))
        if v.size == 1 and b.size == 1:
            return holds, float(v.reshape(())), float(b.reshape(())), ratio
        return holds, float(np.max(err)) if err.size else 0.0, None, ratio
    if relation == "non-increasing":
        seq = _numbers(value, "the measured sequence").ravel()
        if seq.size < 2:
            return True, 0.0, None, None
        with np.errstate(invalid="ignore"):
            steps = np.diff(seq)
        # inf − inf (a sequence that stays at the same infinity) does not increase.
        steps = np.where(np.isnan(steps), 0.0, steps)
        if np.any(steps == math.inf):
            return False, math.inf, None, math.inf
        allowed = atol + rtol * np.where(np.isfinite(seq[:-1]), np.abs(seq[:-1]), 0.0)
        holds = bool(np.all(steps <= allowed))
        worst = float(np.max(steps))
        ratio = None
        if np.all(allowed > 0):
            ratio = max(float(np.max(steps / allowed)), 0.0)
        return holds, worst, None, ratio
    if relation == "converges":
        if bound is None:
            raise ClaimError("relation 'converges' needs a bound (the tolerance); got bound=None")
        seq = _numbers(value, "the measured sequence").ravel()
        last = float(seq[-1])
        b = _scalar(bound, "the bound")
        holds = bool(math.isfinite(last) and last <= b)
        return holds, last, b, (_ratio_le(last, b) if math.isfinite(last) else math.inf)
    raise ValueError(f"relation must be one of {RELATIONS}; got relation={relation!r}")
