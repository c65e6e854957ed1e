"""numba's disk cache of linflow's kernels follows every compiled module, not only its own."""

import ast
import shutil
from pathlib import Path

import numpy as np

import linflow._curvature_numba as curvature
import linflow._descent_blas as blas_path
import linflow._descent_numba as lanes
from linflow._jit_cache import COMPILED_MODULES, SOURCE_DIGEST, source_digest
from linflow.losses import Whitened

PACKAGE = Path(lanes.__file__).parent


def test_cached_kernels_are_named_after_the_sources():
    # numba names a function's cache files after its qualified name.
    observing = lanes.kernel_for(Whitened(np.eye(2)), observe=curvature.observe_chunk)
    for kernel in (lanes._run_chunks, blas_path._run_range, curvature.observe_chunk, observing):
        assert kernel.py_func.__qualname__.endswith("_" + SOURCE_DIGEST), kernel.py_func.__qualname__
        assert kernel._cache is not None and type(kernel._cache).__name__ == "FunctionCache"


def test_an_edit_of_any_compiled_module_changes_the_digest(tmp_path):
    for name in COMPILED_MODULES:
        shutil.copy(PACKAGE / name, tmp_path / name)
    before = source_digest(tmp_path)
    assert before == SOURCE_DIGEST
    for name in COMPILED_MODULES:
        original = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(original + b"\n# edited\n")
        assert source_digest(tmp_path) != before, name
        (tmp_path / name).write_bytes(original)
    assert source_digest(tmp_path) == before


def _uses_numba(path: Path) -> bool:
    text = path.read_text()
    return "njit" in text or "@intrinsic" in text


def test_every_compiled_module_the_kernels_import_is_digested():
    # A module imported by a cached module and holding numba code is one whose edits a cached
    # kernel may not see: it must be in the digest.
    cached = [name for name in COMPILED_MODULES if "cached_njit(" in (PACKAGE / name).read_text()]
    assert {"_descent_numba.py", "_descent_blas.py", "_curvature_numba.py"} <= set(cached)
    for name in cached:
        tree = ast.parse((PACKAGE / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                imported = node.module.split(".")[0] + ".py"
                if imported != "_jit_cache.py" and _uses_numba(PACKAGE / imported):
                    assert imported in COMPILED_MODULES, (name, imported)
    for path in PACKAGE.glob("*.py"):
        if "cached_njit(" in path.read_text() and path.name != "_jit_cache.py":
            assert path.name in COMPILED_MODULES, path.name
