"""The CUDA kernels compile for a real GPU (PTX for sm_90 through libNVVM, no GPU needed):
the simulator runs them as Python and cannot catch what only the GPU compiler refuses."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "check_cuda_ptx.py")


def test_kernels_compile_to_ptx():
    from numba.cuda.cudadrv import libs, nvvm

    if not nvvm.is_available() or libs.get_libdevice() is None:
        pytest.skip("needs libNVVM and libdevice (the CUDA toolkit)")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    run = subprocess.run([sys.executable, SCRIPT, "--quick"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("ok ") == 4  # thread and block kernels, plain and observing
