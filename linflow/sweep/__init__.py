"""Parameter sweeps of GD on deep linear / homogeneous networks, labelled and resumable.

``linflow.sweep(spec, *, store=None, client=None, resume=True)`` runs every configuration of
a spec and returns an ``xarray.Dataset``: one dimension per axis (coordinates = its values),
one variable per result, ``attrs["spec"]`` = the normalized spec (JSON), ``linflow_version``
and ``engine``. With ``store=PATH`` the results stream into a Zarr store task by task; running
the same spec on the same store again computes only the tasks not yet finished, and a
different spec on it is refused. ``xarray.open_zarr(PATH)`` reopens it. With ``client=`` (a
``dask.distributed.Client``) the tasks run on that cluster; otherwise locally, one after
another, each spread over all cores by the numba engine. This module (``linflow.sweep``) is
itself callable: ``linflow.sweep(spec)`` is :func:`sweep`.

Spec schema (TOML, read with :mod:`tomllib`; or the equivalent dict)
----------------------------------------------------------------------
Top level::

    name = "eos_phase"           # title (optional)
    seed = 0                     # base seed: data from (seed, data_seed), inits from (seed, init seed)
    n_steps = 1000               # required: GD steps of every run
    record_every = 10            # step of the "loss" series (default n_steps)
    loss_tolerance = 1e-8        # converged = loss ≤ this (optional; required by refine.critical)
    divergence_threshold = 1e100 # loss above this = diverged
    observables = ["final_sharpness", "loss"]   # kept besides the always-stored variables

Parameters (each may be set in its section *or* swept under ``[axes]`` by its axis name)::

    [network]   activation = "linear" | "relu" | "leaky_relu"   (axis: activation)
                depth = 3, width = 4, input_dim = width, output_dim = width, negative_slope = 0.1
    [loss]      kind = "whitened" | "regression" | "matrix_completion"   (axis: loss)
                target_norm = 1.0, rank (default: full), spectrum = [s1, s2, ...] (not an
                axis), n_samples = 32, noise = 0.0, n_observations = 16, data_seed = 0
    [init]      kind = "gaussian" | "orthogonal" | "near_identity" | "balanced" | "margin"
                                                                 (axis: init)
                scale = 0.1 (axis: init_scale), delta = 0.0, margin_fraction = 0.5,
                seed = 0 (axis: seed)
    [optimizer] kind = "gd" | "momentum" | "scalar_rmsprop" | "rmsprop" | "adam"  (axis: optimizer)
                learning_rate = η  or  learning_rate_fraction = f (η = f · 2/S), exactly one;
                sharpness_reference = "minimum" (S at a balanced global minimum) | "initial"
                (S at each initialization: one dense Hessian per trajectory, costly), not an axis; momentum = 0.9, beta1 (Adam's 0.9),
                beta2 = 0.99, eps (the optimizer's default: 0 for RMSProp, 1e-8 for Adam)

The whitened loss is ``½‖W_e − Φ‖_F²`` with a random teacher ``Φ = U diag(s) Vᵀ`` (``s`` =
``spectrum``, else ``linspace(1, 0.5, k)`` scaled to ``target_norm``); regression is
``(1/2m)‖W_e X − Y‖_F²`` with ``X ~ N(0, 1)``, ``Y = ΦX + noise · N(0, 1)``; matrix completion
observes ``n_observations`` entries of ``W* = Φ``, drawn uniformly without replacement, with the
loss ``(1/(2|Ω|)) Σ_Ω (W_e − W*)²`` (Arora, Cohen, Hu & Luo 2019). Init kinds:
Gaussian entries of std ``scale``; ``scale`` × Haar orthogonal; identity + N(0, scale²);
balanced (Procedure 1 of Arora et al. 2019) with ``‖W_e‖_F = scale`` plus ``N(0, delta²)``
entries; ``margin``: balanced with deficiency margin ``c = margin_fraction · σ_min(Φ)``
(Arora, Cohen, Golowich & Hu 2019, Thm 1 setting).

Axes — any parameter above by its axis name, as a list or a range::

    [axes]
    depth = [2, 3, 4]
    seed = {range = [0, 16]}                        # Python range: start, stop (excluded), step
    init_scale = {logspace = [0.01, 1.0, 9]}        # 9 geometric values, both ends included
    learning_rate_fraction = {linspace = [0.2, 1.6, 15]}

The dataset's dimensions follow the axes in the order written. A full grid by default; or a
sample of the axes (lists and ranges: a uniform choice of their values; linspace/logspace:
continuous on the interval, log-uniform for logspace), dimension ``sample``::

    [sample]
    method = "random" | "latin_hypercube"
    n = 64
    seed = 0

Refinement — instead of one run per configuration, bracket the largest step size for which GD
converges (never diverged and final loss ≤ ``loss_tolerance``) by batched bisection, as
``linflow table step-size`` does; variables ``critical_lower`` / ``critical_upper`` in units of
``parameter``::

    [refine.critical]
    parameter = "learning_rate_fraction" | "learning_rate"
    low = 0.25
    high = 1.25
    grid = 8          # step sizes per configuration per round
    rounds = 3        # batched engine calls

Or refine a 2-D phase boundary: after the grid, ``levels`` times halve the spacing of two
float axes and simulate only the new points in cells whose four corners differ in ``status``;
the other new points take their cell's common status. Level ℓ is stored as the group
``boundary_ℓ`` (``xarray.open_zarr(store, group="boundary_2")``; variable ``computed`` marks the
simulated points; ``linflow plot phase-diagram STORE --level 2``)::

    [refine.boundary]
    x = "learning_rate_fraction"
    y = "init_scale"
    levels = 2        # 1 … 6

Execution::

    [execution]
    task_size = 1024     # most configurations per task (= per chunk of the store)
    backend = "numba" | "numpy"   # default: the numba engine

Variables: ``final_loss``, ``status`` (0 = MAX_STEPS: ran all steps without converging,
1 = CONVERGED, 2 = DIVERGED), ``converged_step`` and ``divergence_step`` (−1: never),
``learning_rate_used``; ``stability_step`` (2/S) with ``learning_rate_fraction``; the kept
observables (``loss`` over dimension ``step``, ``balancedness_drift``, ``final_sharpness``,
``initial_sharpness``, ``initial_imbalance``, ``effective_rank`` and ``reconstruction_error``
``‖W_e − Φ‖_F/‖Φ‖_F`` of the final end-to-end matrix); and ``completed``, the mask of finished
tasks. Entries whose ``completed`` is False are not computed yet (a killed run): they read as
NaN (floats) or 0 (integers).
"""

from __future__ import annotations

import sys
import types
from typing import Optional

from ._execute import SweepReport, run_sweep
from ._plan import Plan, make_plan
from ._spec import Spec, load_spec

__all__ = ["Plan", "Spec", "SweepReport", "load_spec", "make_plan", "sweep"]


def sweep(spec, *, store=None, client=None, resume: bool = True, progress: Optional[bool] = None):
    """Run every configuration of a sweep spec; return the labelled results.

    Parameters
    ----------
    spec : str, path, dict or Spec
        Path of a TOML file, TOML text, its parsed dict, or a :class:`Spec` (schema: the
        :mod:`linflow.sweep` module docstring).
    store : str or path, optional
        Zarr store to stream results into (created if absent). ``None`` keeps them in memory.
    client : dask.distributed.Client, optional
        Run the tasks on this cluster; ``None`` runs them in this process.
    resume : bool
        On an existing store of the same spec, compute only unfinished tasks (default);
        ``False`` overwrites the store.
    progress : bool, optional
        Progress bar with ETA on stderr (default: when stderr is a terminal).

    Returns
    -------
    xarray.Dataset
        Lazily backed by the store when one is given, in memory otherwise.

    Raises
    ------
    ValueError, TypeError
        Invalid spec (the message names the key and the value), a store that is not a sweep
        store, or one written by a different spec; raised before any task runs.
    KeyboardInterrupt
        Re-raised after pending cluster tasks are cancelled; finished tasks stay in the store.

    Examples
    --------
    >>> import linflow
    >>> ds = linflow.sweep({"n_steps": 50, "optimizer": {"learning_rate": 0.1},
    ...                     "axes": {"seed": [0, 1], "depth": [2, 3]},
    ...                     "execution": {"backend": "numpy"}}, progress=False)
    >>> dict(ds.sizes)
    {'seed': 2, 'depth': 2}
    >>> ds.final_loss.shape
    (2, 2)
    """
    return run_sweep(spec, store=store, client=client, resume=resume, progress=progress)[0]


class _CallableModule(types.ModuleType):
    """Lets ``linflow.sweep(...)`` call :func:`sweep` although ``linflow.sweep`` is this package."""

    def __call__(self, spec, **kwargs):
        return sweep(spec, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
