"""Configurations of a sweep and their cut into tasks.

A full grid has one dimension per axis (in the spec's order); a random or Latin-hypercube
sample has one dimension ``sample``, the axis values being coordinates along it. The grid is
cut into hyper-rectangular chunks of at most ``task_size`` configurations — whole trailing
axes first — and each chunk is one task and one chunk of every variable in the store, so a
task writes its own chunk files and nothing else.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ._spec import Spec

SAMPLE_DIM = "sample"


@dataclass(frozen=True)
class Plan:
    """Dimensions, coordinates and chunks of a sweep.

    Attributes
    ----------
    dims : tuple of str
    shape : tuple of int
    chunks : tuple of int
        Chunk length along each dimension (the last chunk may be shorter).
    values : dict
        Axis name → ndarray of its value at every position along its dimension (grid), or at
        every sample (sample).
    sampled : bool
    """

    dims: tuple
    shape: tuple
    chunks: tuple
    values: dict
    sampled: bool

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def tasks(self) -> list:
        """Regions (tuples of slices, one per dimension) of every task, in C order."""
        starts = [range(0, n, c) for n, c in zip(self.shape, self.chunks)]
        return [tuple(slice(s, min(s + c, n)) for s, c, n in zip(start, self.chunks, self.shape))
                for start in itertools.product(*starts)]

    def configurations(self, region: tuple) -> list:
        """Axis values of every configuration in ``region``, in C order: a list of dicts."""
        if self.sampled:
            (sl,) = region
            return [{name: v[i].item() for name, v in self.values.items()} for i in range(sl.start, sl.stop)]
        ranges = [range(sl.start, sl.stop) for sl in region]
        return [{name: self.values[name][i].item() for name, i in zip(self.dims, index)}
                for index in itertools.product(*ranges)]


def chunk_lengths(shape: tuple, budget: int) -> tuple:
    """Chunks of at most ``budget`` cells: whole trailing dimensions first, then a part of one."""
    chunks = [1] * len(shape)
    room = budget
    for d in range(len(shape) - 1, -1, -1):
        chunks[d] = max(1, min(shape[d], room))
        room //= shape[d]
        if room < 1:
            break
    return tuple(chunks)


def _sample_values(spec: Spec) -> dict:
    """Random or Latin-hypercube draws of every axis (continuous on linspace/logspace axes)."""
    rng = np.random.default_rng([spec.sample.seed, 3])
    n = spec.sample.n
    out = {}
    for axis in spec.axes:
        if spec.sample.method == "latin_hypercube":
            # One draw in each of n equal strata, strata shuffled per axis (McKay et al. 1979).
            u = (rng.permutation(n) + rng.random(n)) / n
        else:
            u = rng.random(n)
        if axis.interval is not None:
            low, high, log = axis.interval
            if log:
                values = np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
            else:
                values = low + u * (high - low)
            if isinstance(axis.values[0], int):
                values = np.rint(values).astype(np.int64)
        else:
            choices = np.asarray(axis.values)
            values = choices[np.minimum((u * len(choices)).astype(np.int64), len(choices) - 1)]
        out[axis.name] = np.asarray(values)
    return out


def make_plan(spec: Spec) -> Plan:
    """The plan of ``spec``: grid (or sample) dimensions and the task chunks."""
    if spec.sample is not None:
        shape = (spec.sample.n,)
        return Plan((SAMPLE_DIM,), shape, chunk_lengths(shape, spec.task_size), _sample_values(spec), True)
    dims = spec.axis_names
    shape = tuple(len(a.values) for a in spec.axes)
    values = {a.name: np.asarray(a.values) for a in spec.axes}
    return Plan(dims, shape, chunk_lengths(shape, spec.task_size), values, False)


def is_geometric(values: np.ndarray) -> bool:
    """Whether axis values form a geometric (log-spaced) progression of at least 3 points."""
    v = np.asarray(values, dtype=float)
    if v.size < 3 or np.any(v <= 0):
        return False
    ratios = v[1:] / v[:-1]
    # Logarithmic when consecutive ratios agree to 1e-6 (they are exact up to rounding of geomspace).
    return bool(np.allclose(ratios, ratios[0], rtol=1e-6) and not np.isclose(ratios[0], 1.0))
