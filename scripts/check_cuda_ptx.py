"""Compile the CUDA kernels to PTX for a real GPU, without one: what the simulator cannot check.

numba's CUDA simulator runs the kernels as Python, so code that no GPU compiler accepts (an
array shape that is not a compile-time constant, a builtin the CUDA target does not type)
passes every simulator test. This script hands each kernel shape of
:func:`linflow._descent_cuda.make_kernel` — one thread or one block per trajectory, plain and
observing, each loss of the CUDA engine — to numba's CUDA compiler and libNVVM for compute
capability ``--cc`` (default 9.0) and prints the size of the PTX, or the compiler's error.

Needs libNVVM (the CUDA toolkit; numba finds it through ``CUDA_HOME`` or ``/usr/local/cuda``),
not a GPU or a driver: numba asks the current device for its compute capability when it
compiles a device function, which this script answers with ``--cc`` instead. Exit status 1 if a
kernel does not compile, 2 if libNVVM or libdevice is missing.

Usage::

    python scripts/check_cuda_ptx.py [--cc 9.0] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from types import SimpleNamespace

import numpy as np

#: (widths, loss) per kernel shape: whitened and regression, sensing (its local residual array)
#: and completion in the one-thread kernel; whitened, regression and sensing in the block kernel.
SHAPES = (
    ((2, 3, 2), "whitened"),
    ((2, 3, 1, 2), "regression"),
    ((3, 2, 2), "sensing"),
    ((2, 2, 3), "completion"),
    ((5, 3, 2), "whitened"),
    ((6, 4, 2), "regression"),
    ((5, 2, 3), "sensing"),
)
#: --quick: one shape per kernel kind, every observation device function included.
QUICK = (((3, 2, 2), "sensing"), ((5, 3, 2), "whitened"))


def _kernel_signature(observing: bool) -> tuple:
    """numba types of the kernel's arguments (run_descent_cuda's order)."""
    from numba import typeof, types

    f1, f2, f3 = typeof(np.zeros(1)), typeof(np.zeros((1, 1))), typeof(np.zeros((1, 1, 1)))
    i1 = typeof(np.zeros(1, dtype=np.int64))
    args = [f2, f1, f2, f2, types.int64, i1, types.float64, types.float64, f3, types.boolean, f3, types.boolean,
            f2, f2, f1, i1, i1, f1, f1, types.boolean]
    if observing:
        args += [i1, f3, f2, i1, f2, i1, types.float64, types.int64]
    return tuple(args)


def _loss_arguments(kind: str, widths) -> tuple:
    """``(cols, whitened, loss_code, n_measurements)`` of make_kernel for a loss kind."""
    from linflow._descent_numba import COMPLETION, SENSING, SQUARED

    d0 = widths[0]
    return {
        "whitened": (d0, True, SQUARED, 1),
        "regression": (3, False, SQUARED, 1),
        "sensing": (d0, True, SENSING, 4),
        "completion": (d0, True, COMPLETION, 1),
    }[kind]


def toolkit_available() -> bool:
    """Whether numba finds libNVVM and libdevice (all that compiling to PTX needs)."""
    from numba.cuda.cudadrv import libs, nvvm

    return bool(nvvm.is_available()) and libs.get_libdevice() is not None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="9.0", help="compute capability, major.minor (default 9.0)")
    parser.add_argument("--quick", action="store_true", help="one shape per kernel kind")
    args = parser.parse_args(argv)
    cc = tuple(int(v) for v in args.cc.split("."))
    if len(cc) != 2:
        parser.error(f"--cc must be major.minor; got --cc={args.cc!r}")

    if not toolkit_available():
        print("libNVVM or libdevice not found: install the CUDA toolkit or set CUDA_HOME", file=sys.stderr)
        return 2
    from numba import cuda
    from numba.cuda import compiler, dispatcher

    import linflow._descent_cuda as engine

    # No device: answer numba's question for the compute capability, skip the availability check.
    def device():
        return SimpleNamespace(compute_capability=cc)

    dispatcher.get_current_device = compiler.get_current_device = device
    engine.cuda = cuda
    engine._cuda = lambda: cuda

    failed = 0
    for widths, kind in QUICK if args.quick else SHAPES:
        cols, whitened, code, n_meas = _loss_arguments(kind, widths)
        for observing in (False, True):
            start = time.perf_counter()
            kernel, per_block = engine.make_kernel(widths, cols, whitened, None, code, n_meas, observing)
            label = f"{widths} {kind}, {'block' if per_block else 'thread'}, {'observing' if observing else 'plain'}"
            try:
                ptx, _ = cuda.compile_ptx(kernel.py_func, _kernel_signature(observing), cc=cc)
            except Exception as exc:  # report every shape, then fail
                failed += 1
                print(f"FAILED {label}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            print(f"ok     {label}: {len(ptx.splitlines())} lines of PTX for sm_{cc[0]}{cc[1]}, "
                  f"{time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
