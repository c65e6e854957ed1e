"""numba's disk cache for linflow's kernels, renewed whenever any compiled module changes.

numba keys a cached function on its own source file only: changes in functions it calls from
another file are not seen (numba documentation, "Notes on Caching", cache limitations), so a
kernel cached before an edit of its callee's module would go on loading the old machine code —
silently wrong results (an editable install after an edit; an upgrade whose cache files
outlive the old sources). linflow's kernels call across :data:`COMPILED_MODULES` (the lane
engine calls the in-engine observables, the BLAS path calls the lane engine's helpers, all call
:mod:`linflow._simd`), so every cached function's qualified name, which numba's cache files are
named after, carries a digest of all their sources: a change in any of them starts fresh cache
entries (the old ones stay on disk, unused).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba import njit

#: linflow's modules whose numba-compiled functions the cached kernels call or are.
COMPILED_MODULES = ("_simd.py", "_blas.py", "_descent_numba.py", "_descent_blas.py", "_curvature_numba.py")


def source_digest(directory: Path, names: tuple = COMPILED_MODULES) -> str:
    """Twelve hex digits of the SHA-256 of the files ``names`` in ``directory``, in order."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode())
        digest.update((Path(directory) / name).read_bytes())
    return digest.hexdigest()[:12]


SOURCE_DIGEST = source_digest(Path(__file__).parent)


def cached_njit(**options):
    """``numba.njit(cache=True, **options)`` for a function whose cache entries belong to the
    current :data:`SOURCE_DIGEST` (appended to its ``__qualname__``)."""

    def compile_cached(fn):
        fn.__qualname__ = f"{fn.__qualname__}_{SOURCE_DIGEST}"
        return njit(cache=True, **options)(fn)

    return compile_cached
