"""Which observables the CUDA backend computes inside its kernels (decided without importing
CUDA; the kernels themselves are tested under tests/cudasim)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from linflow import DeepLinearNetwork, HomogeneousNetwork, Problem, simulate_descent
from linflow._descent_cuda import SHARED_BYTES, in_engine_observables, shared_bytes
from linflow._descent_setup import prepare_descent
from linflow.descent import _in_engine_names
from linflow.optimizers import GD

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _problem(widths, relu=False):
    rng = np.random.default_rng(0)
    net = HomogeneousNetwork(widths, "relu") if relu else DeepLinearNetwork(widths)
    return Problem(net, X=rng.standard_normal((widths[0], 3)), Y=rng.standard_normal((widths[-1], 3)))


def test_offered_for_deep_linear_networks_that_fit():
    assert in_engine_observables(_problem((3, 4, 2))) == ("loss", "grad_norm", "sharpness")
    assert in_engine_observables(_problem((6, 5, 2))) == ("loss", "grad_norm", "sharpness")  # block
    assert in_engine_observables(_problem((3, 4, 2), relu=True)) == ()
    # A block kernel whose Lanczos scratch exceeds the shared memory: observables from recorded weights.
    wide = Problem(DeepLinearNetwork((24, 24, 2)), target=np.zeros((2, 24)))
    assert shared_bytes((24, 24, 2), 24, False, True) > SHARED_BYTES
    assert in_engine_observables(wide) == ()


def test_deciding_imports_no_cuda():
    code = (
        "import sys, numpy as np\n"
        "from linflow import DeepLinearNetwork, Problem\n"
        "from linflow._descent_cuda import in_engine_observables\n"
        "assert in_engine_observables(Problem(DeepLinearNetwork((2, 2)), target=np.eye(2)))\n"
        "assert 'numba.cuda' not in sys.modules\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_method_option_selects_recorded_weights():
    problem = _problem((2, 3, 2))
    w0 = tuple(np.ones(s) for s in problem.network.shapes)
    setup = prepare_descent(problem, w0, learning_rate=0.1, n_steps=2, optimizer=GD())
    names = ("loss", "sharpness", "lambda_min")
    assert _in_engine_names(setup, "cuda", names, {}) == ("loss", "sharpness")
    assert _in_engine_names(setup, "cuda", names, {"sharpness": {"method": "dense"}}) == ("loss",)


def test_observing_without_a_gpu_fails_clearly():
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a GPU (or the simulator) is available here")
    problem = _problem((2, 3, 2))
    w0 = tuple(np.ones(s) for s in problem.network.shapes)
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        simulate_descent(problem, w0, learning_rate=0.1, n_steps=2, backend="cuda", observe=("sharpness",))
