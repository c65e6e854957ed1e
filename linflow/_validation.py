"""Argument checks shared by the public entry points: the one validation layer.

Every check raises before any numeric work with a message that names the argument, the
requirement and the offending value, e.g. ``learning_rate must be positive; got -0.1``.

Rules applied everywhere:

* arrays must hold real numbers: float or integer dtypes only. Complex, bool, object, string,
  bytes and datetime inputs raise ``TypeError`` (a complex target would otherwise be cast to
  its real part, a bool one to 0/1, silently);
* integers: any ``numbers.Integral`` (``int``, ``numpy.int64`` …) is an int; ``bool`` and
  ``numpy.bool_`` are refused wherever a number is expected;
* seeds: a non-negative int or a ``numpy.random.Generator``;
* memory: :func:`check_memory` refuses an allocation above :func:`memory_limit` (2 GiB by
  default, overridable with the ``LINFLOW_MEMORY_LIMIT_GIB`` environment variable).
"""

from __future__ import annotations

import numbers
import os
from typing import Sequence

import numpy as np

#: Default bound on a single allocation made on the caller's behalf, in GiB.
DEFAULT_MEMORY_LIMIT_GIB = 2.0
#: Environment variable that overrides :data:`DEFAULT_MEMORY_LIMIT_GIB` (a positive number of GiB).
MEMORY_LIMIT_ENV = "LINFLOW_MEMORY_LIMIT_GIB"

_REAL_KINDS = "fiu"  # float, signed and unsigned integer dtypes


def _short(value, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (error messages stay one readable line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_int(value) -> bool:
    """Whether ``value`` is an integer in the sense of this package (never a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """Whether ``value`` is a real scalar number (never a bool, never complex)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_widths(widths: Sequence[int]) -> tuple:
    """Return ``widths`` as a tuple of positive ints (at least two of them)."""
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or isinstance(widths, dict):
        raise TypeError(f"widths must be a sequence of ints; got widths={_short(widths)}")
    if isinstance(widths, np.ndarray) and widths.ndim != 1:
        raise TypeError(f"widths must be a flat sequence of ints; got widths={_short(widths)}")
    out = []
    for i, d in enumerate(widths):
        if not is_int(d):
            raise TypeError(f"widths[{i}] must be an int; got widths={_short(tuple(widths))}")
        if d < 1:
            raise ValueError(f"widths[{i}] must be ≥ 1; got widths={_short(tuple(widths))}")
        out.append(int(d))
    if len(out) < 2:
        raise ValueError(
            f"widths must have at least 2 entries (d_0, d_1) for depth N ≥ 1; got widths={tuple(out)!r}"
        )
    return tuple(out)


def as_real_array(value, name: str) -> np.ndarray:
    """``value`` as a float64 array, refusing every non-real dtype (see the module docstring)."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a real array; got {name}={_short(value)}")
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:  # ragged nesting, unconvertible objects
            raise TypeError(f"{name} must be a real array (not ragged); got {name}={_short(value)}") from exc
    if arr.dtype.kind not in _REAL_KINDS:
        kind = {"c": "complex", "b": "bool", "O": "object", "U": "string", "S": "bytes", "M": "datetime",
                "m": "timedelta", "V": "structured"}.get(arr.dtype.kind, str(arr.dtype))
        raise TypeError(
            f"{name} must hold real numbers (float or int dtype); got {kind} entries ({name}.dtype={arr.dtype})"
        )
    return np.asarray(arr, dtype=np.float64)


def check_finite_array(value, name: str, *, shape=None, ndim=None) -> np.ndarray:
    """Convert to a float64 array, checking dtype (real only), shape and finiteness."""
    arr = as_real_array(value, name)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional; got {name}.shape={arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {name}.shape={arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got non-finite entries in {name}")
    return arr


def check_weights(weights, shapes, *, name: str = "weights") -> tuple:
    """Validate a tuple of weight matrices (optionally batched) against ``shapes``."""
    if isinstance(weights, np.ndarray) or not isinstance(weights, (tuple, list)):
        raise TypeError(
            f"{name} must be a tuple of {len(shapes)} arrays (one per layer); "
            f"got {type(weights).__name__}"
        )
    if len(weights) != len(shapes):
        raise ValueError(f"{name} must have {len(shapes)} layers; got len({name})={len(weights)}")
    out = []
    batch = None
    for j, (w, shape) in enumerate(zip(weights, shapes)):
        arr = check_finite_array(w, f"{name}[{j}]")
        if batch is None:
            if arr.ndim not in (2, 3):
                raise ValueError(
                    f"{name}[{j}] must have shape {tuple(shape)} (or (B, {shape[0]}, {shape[1]}) for a "
                    f"batch); got {name}[{j}].shape={arr.shape}"
                )
            batch = arr.shape[:-2]
        if arr.shape != batch + tuple(shape):
            raise ValueError(
                f"{name}[{j}] must have shape {batch + tuple(shape)}; got {name}[{j}].shape={arr.shape}"
            )
        out.append(arr)
    if batch and batch[0] == 0:
        raise ValueError(f"{name} must hold at least one trajectory; got a batch of 0 ({name}[0].shape={out[0].shape})")
    return tuple(out)


def check_single_weights(weights, shapes, *, name: str = "weights") -> tuple:
    """:func:`check_weights` for one network: batched weights are refused with a pointer."""
    out = check_weights(weights, shapes, name=name)
    if out[0].ndim != 2:
        raise ValueError(
            f"{name} must be a single network (2-D arrays); got {name}[0].shape={out[0].shape}: "
            f"loop over the trajectories of a batch"
        )
    return out


def check_weight_chain(weights, name: str = "weights", *, chain: bool = True, max_ndim: int | None = 3) -> tuple:
    """Layer arrays not tied to an architecture (for :func:`linflow.flatten` and friends).

    A non-empty tuple/list of real 2-D arrays, or arrays with leading axes (up to ``max_ndim``
    dimensions in all; None: any) sharing one leading shape; with ``chain`` the inner
    dimensions must match (``weights[j+1].shape[-1] == weights[j].shape[-2]``) so that
    ``W_N ⋯ W_1`` is defined. Non-finite entries are allowed (paths that diverged).
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of weight arrays (one per layer); got {type(weights).__name__}")
    if len(weights) == 0:
        raise ValueError(f"{name} must hold at least one layer; got {name}={_short(weights)}")
    out = []
    for j, w in enumerate(weights):
        arr = as_real_array(w, f"{name}[{j}]")
        if arr.ndim < 2 or (max_ndim is not None and arr.ndim > max_ndim):
            raise ValueError(
                f"{name}[{j}] must be a matrix (d_{{j+1}}, d_j) or a batch of them; got {name}[{j}].shape={arr.shape}"
            )
        if out and arr.shape[:-2] != out[0].shape[:-2]:
            raise ValueError(
                f"{name}[{j}] must have the batch shape of {name}[0] ({out[0].shape[:-2]}); "
                f"got {name}[{j}].shape={arr.shape}"
            )
        if chain and out and arr.shape[-1] != out[-1].shape[-2]:
            raise ValueError(
                f"{name}[{j}] must have {out[-1].shape[-2]} columns to follow {name}[{j - 1}] "
                f"(shape {out[-1].shape}); got {name}[{j}].shape={arr.shape}"
            )
        out.append(arr)
    return tuple(out)


def _check_range(value, name: str, minimum, maximum) -> None:
    """``ValueError`` naming ``name`` unless ``minimum ≤ value ≤ maximum`` (None: unbounded)."""
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}; got {name}={value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be ≤ {maximum}; got {name}={value!r}")


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (``numpy`` integers included, bools refused) within ``[minimum, maximum]``."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int; got {name}={_short(value)}")
    _check_range(value, name, minimum, maximum)
    return int(value)


def check_real(value, name: str, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite real number (bools refused) within ``[minimum, maximum]``."""
    if not is_real(value):
        raise TypeError(f"{name} must be a real number; got {name}={_short(value)}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {name}={value!r}")
    _check_range(value, name, minimum, maximum)
    return float(value)


def check_open_unit(value, name: str) -> float:
    """A real number strictly between 0 and 1 (bools refused): a decay rate or a relative tolerance."""
    if not is_real(value):
        raise TypeError(f"{name} must be a real number in (0, 1); got {name}={_short(value)}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must lie in (0, 1); got {name}={value!r}")
    return float(value)


def check_positive(value, name: str, *, integer: bool = False, allow_array: bool = False):
    """A positive finite number (or, with ``allow_array``, a 1-D array of them)."""
    if integer:
        if not is_int(value):
            raise TypeError(f"{name} must be an int; got {name}={_short(value)}")
        if value < 1:
            raise ValueError(f"{name} must be positive; got {name}={value!r}")
        return int(value)
    if allow_array and np.ndim(value) > 0:
        arr = check_finite_array(value, name, ndim=1)
        if arr.size == 0 or np.any(arr <= 0):
            raise ValueError(f"{name} must be positive; got {name}={_short(value)}")
        return arr
    if allow_array and isinstance(value, np.ndarray):  # 0-d array
        if value.dtype.kind not in _REAL_KINDS:
            raise TypeError(f"{name} must be a real number; got {name}={_short(value)}")
        value = value.item()
    if not is_real(value):
        raise TypeError(f"{name} must be a real number; got {name}={_short(value)}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite; got {name}={value!r}")
    return float(value)


def check_t_span(t_span) -> tuple:
    """``(t0, t1)`` with finite real t0 < t1."""
    if isinstance(t_span, (str, bytes)) or not hasattr(t_span, "__len__") or len(t_span) != 2:
        raise TypeError(f"t_span must be a pair (t0, t1) of numbers; got t_span={_short(t_span)}")
    for t in t_span:
        if not is_real(t):
            raise TypeError(f"t_span must be a pair (t0, t1) of real numbers; got t_span={_short(t_span)}")
    t0, t1 = (float(t) for t in t_span)
    if not (np.isfinite(t0) and np.isfinite(t1)) or t1 <= t0:
        raise ValueError(f"t_span must satisfy t0 < t1 (both finite); got t_span={_short(t_span)}")
    return t0, t1


def as_generator(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed or an existing Generator (never global state)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if not is_int(seed):
        raise TypeError(
            f"seed must be an int or a numpy.random.Generator (randomness is explicit); got seed={_short(seed)}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int; got seed={seed!r}")
    return np.random.default_rng(int(seed))


def check_seed(seed, name: str = "seed"):
    """A non-negative int or a Generator, returned unchanged (for functions that store it)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return check_int(seed, name, minimum=0)


def memory_limit() -> float:
    """Largest allocation (bytes) linflow makes for one result without refusing.

    ``LINFLOW_MEMORY_LIMIT_GIB`` (a positive number of GiB) overrides the 2 GiB default; it is
    read at every call, so it can be changed at run time.
    """
    raw = os.environ.get(MEMORY_LIMIT_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_MEMORY_LIMIT_GIB * 2**30
    try:
        gib = float(raw)
    except ValueError:
        gib = float("nan")
    if not np.isfinite(gib) or gib <= 0:
        raise ValueError(f"{MEMORY_LIMIT_ENV} must be a positive number of GiB; got {MEMORY_LIMIT_ENV}={raw!r}")
    return gib * 2**30


def format_bytes(n_bytes: float) -> str:
    """``n_bytes`` in the largest binary unit that keeps the number ≥ 1 (e.g. ``'7.0 TiB'``)."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{value:.0f} B"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


def check_memory(n_bytes: float, *, argument: str, what: str, advice: str | None = None) -> None:
    """Refuse an allocation of ``n_bytes`` above :func:`memory_limit`, before it is made.

    Parameters
    ----------
    n_bytes : float
        Estimated size (computed in floating point, so that huge products cannot overflow).
    argument : str
        The argument(s) that drive the size, with their values, e.g. ``"n_steps=10**12"``.
    what : str
        What would be allocated, e.g. ``"the recorded losses (B, R)"``.
    advice : str, optional
        What the caller can change (default: reduce the first argument named).
    """
    limit = memory_limit()
    if not n_bytes <= limit:
        advice = advice or f"reduce {argument.split('=')[0]}"
        raise ValueError(
            f"{argument} would need {format_bytes(n_bytes)} for {what}, above the memory limit of "
            f"{format_bytes(limit)}: {advice}, or raise the limit with the environment variable "
            f"{MEMORY_LIMIT_ENV}"
        )


def check_descent_memory(batch: int, n_steps: int, record_every: int, n_params: int, record_weights: bool) -> None:
    """Refuse a GD run whose recorded losses (and weights) would exceed :func:`memory_limit`.

    ``R = ⌈(n_steps + 1)/record_every⌉ + 1`` records of one float64 loss per trajectory, plus
    ``P`` floats per record and trajectory with ``record_weights``; estimated in floating point
    before anything (even the list of recorded steps) is allocated.
    """
    records = float(n_steps + 1) / float(record_every) + 1.0
    check_memory(8.0 * batch * records, argument=f"n_steps={n_steps} (record_every={record_every})",
                 what=f"the recorded losses of {batch} trajectories",
                 advice="reduce n_steps or record every k-th step (record_every=k)")
    if record_weights:
        check_memory(8.0 * batch * records * (n_params + 1),
                     argument=f"record_weights=True with n_steps={n_steps}, record_every={record_every}",
                     what=f"the recorded weights of {batch} trajectories × {n_params} parameters",
                     advice="record every k-th step (record_every=k), fewer trajectories, or no weights")


#: Option names whose numbers may take any sign (a target's entries, a slope checked downstream).
SIGNED_OPTIONS = frozenset({"target", "negative_slope"})


def check_option(name: str, kind: type, value, *, multiple: bool = False):
    """A command-style option: ``kind`` (int, float or str) values, one or a non-empty sequence.

    Numbers must be finite; ints named ``seed`` must be ≥ 0, other ints ≥ 1; floats must be
    positive unless the option is in :data:`SIGNED_OPTIONS`. Returns the converted value(s).
    """
    if multiple:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0:
            raise TypeError(f"{name} must be a non-empty sequence; got {name}={_short(value)}")
        return tuple(check_option(f"{name}[{i}]", kind, v) for i, v in enumerate(value))
    if value is None:
        return None
    base = name.split("[")[0]
    if kind is int:
        return check_int(value, name, minimum=0 if base == "seed" else 1)
    if kind is float:
        if base in SIGNED_OPTIONS:
            return check_real(value, name)
        return check_positive(value, name)
    if kind is str and not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {name}={_short(value)}")
    return value


def check_computed_finite(value, what: str, weights) -> None:
    """Raise when ``what``, computed from finite ``weights``, overflowed float64.

    Finite inputs whose derivatives overflow (entries ~1e150 in a deep product) would otherwise
    come back as inf/NaN arrays: the caller gets a ``ValueError`` naming the weights' scale.
    """
    parts = value if isinstance(value, (tuple, list)) else (value,)
    if all(np.all(np.isfinite(p)) for p in parts):
        return
    largest = max(float(np.max(np.abs(w))) if np.size(w) else 0.0 for w in weights)
    raise ValueError(
        f"weights are too large: {what} overflows float64 (largest |entry| of weights is {largest:.3g}); "
        "rescale the problem"
    )
