"""One validation layer: every public entry point refuses bad input with an error that names the
argument, before any numeric work (tables of cases plus generated hostile values)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import linflow
from linflow import DeepLinearNetwork, HomogeneousNetwork, Problem, init

NET = DeepLinearNetwork((2, 3, 2))
PROB = Problem(NET, target=np.eye(2))
W0 = init.gaussian(NET.widths, std=0.5, seed=0)
BIG = DeepLinearNetwork((10,) * 8)  # 700 parameters: beyond the dense eigensolver cutoff
BIG_PROB = Problem(BIG, target=np.eye(10))
RELU = Problem(HomogeneousNetwork((2, 3, 1), "relu"), X=np.ones((2, 4)), Y=np.ones((1, 4)))
RELU_W0 = init.gaussian((2, 3, 1), std=0.5, seed=0)


def _flow(**kw):
    return linflow.integrate_flow(PROB, kw.pop("w", W0), t_span=kw.pop("t_span", (0.0, 1.0)), **kw)


def _gd(**kw):
    kw.setdefault("learning_rate", 0.1)
    kw.setdefault("n_steps", 3)
    return linflow.simulate_descent(PROB, kw.pop("w", W0), **kw)


def _cf(problem=PROB, w=W0, **kw):
    kw.setdefault("learning_rate", 0.1)
    kw.setdefault("n_steps", 2)
    return linflow.integrate_central_flow(problem, w, **kw)


def _table(name, **kw):
    from linflow import tables

    return tables.build(name, **kw)


CASES = [
    # (description, call, exception, words the message must contain)
    ("flatten of nothing", lambda: linflow.flatten(()), ValueError, "weights"),
    ("flatten of a string", lambda: linflow.flatten("ab"), TypeError, "weights"),
    ("flatten of 1-D arrays", lambda: linflow.flatten((np.ones(3),)), ValueError, "weights[0]"),
    (
        "flatten mixed batch",
        lambda: linflow.flatten((np.ones((2, 2, 2)), np.ones((3, 2, 2)))),
        ValueError,
        "weights[1]",
    ),
    ("unflatten wrong length", lambda: linflow.unflatten(np.ones(5), NET.shapes), ValueError, "vector"),
    ("unflatten complex", lambda: linflow.unflatten(np.ones(12) * 1j, NET.shapes), TypeError, "vector"),
    ("unflatten bad shapes", lambda: linflow.unflatten(np.ones(2), [(1, 0)]), ValueError, "shapes"),
    ("partial_product stop out of range", lambda: linflow.partial_product(W0, 0, 5), ValueError, "stop"),
    ("partial_product stop past the weights", lambda: linflow.partial_product(W0[:1], 0, 2), ValueError,
     "len(weights) = 1"),
    ("partial_product negative start", lambda: linflow.partial_product(W0, -1, 1), ValueError, "start"),
    ("partial_product start > stop", lambda: linflow.partial_product(W0, 2, 1), ValueError, "stop"),
    ("partial_product float index", lambda: linflow.partial_product(W0, 0.0, 1), TypeError, "start"),
    ("partial_product bool index", lambda: linflow.partial_product(W0, 0, True), TypeError, "stop"),
    ("end_to_end mismatched", lambda: linflow.end_to_end((np.ones((3, 2)), np.ones((2, 2)))), ValueError, "weights[1]"),
    (
        "balancedness mismatched",
        lambda: linflow.balancedness((np.ones((2, 3)), np.ones((2, 3)))),
        ValueError,
        "weights[1]",
    ),
    ("balancedness of a dict", lambda: linflow.balancedness({"a": 1}), TypeError, "weights"),
    ("widths with a bool", lambda: DeepLinearNetwork((2, True)), TypeError, "widths"),
    ("widths as a dict", lambda: DeepLinearNetwork({2: 3}), TypeError, "widths"),
    ("target complex", lambda: Problem(NET, target=np.eye(2) + 1j), TypeError, "target"),
    ("target bool", lambda: Problem(NET, target=np.eye(2, dtype=bool)), TypeError, "target"),
    ("target strings", lambda: Problem(NET, target=[["a", "b"], ["c", "d"]]), TypeError, "target"),
    ("target ragged", lambda: Problem(NET, target=[[1.0, 2.0], [3.0]]), TypeError, "target"),
    ("X complex", lambda: Problem(NET, X=np.ones((2, 3)) * 1j, Y=np.ones((2, 3))), TypeError, "X"),
    ("Y object", lambda: Problem(NET, X=np.ones((2, 3)), Y=np.array([[None] * 3] * 2)), TypeError, "Y"),
    ("weights complex", lambda: PROB.loss(tuple(w + 0j for w in W0)), TypeError, "weights[0]"),
    ("weights 4-D", lambda: PROB.loss(tuple(w[None, None] for w in W0)), ValueError, "weights[0]"),
    ("weights empty batch", lambda: PROB.loss(tuple(w[None][:0] for w in W0)), ValueError, "weights"),
    ("hvp NaN flat direction", lambda: PROB.hvp(W0, np.full(NET.n_params, np.nan)), ValueError, "direction"),
    (
        "hvp NaN tuple direction",
        lambda: PROB.hvp(W0, tuple(np.full(w.shape, np.nan) for w in W0)),
        ValueError,
        "direction",
    ),
    ("hvp complex direction", lambda: PROB.hvp(W0, np.ones(NET.n_params) * 1j), TypeError, "direction"),
    ("hvp short direction", lambda: PROB.hvp(W0, np.ones(3)), ValueError, "direction"),
    (
        "hvp batched weights",
        lambda: PROB.hvp(init.gaussian(NET.widths, std=1, seed=0, batch=2), np.ones(12)),
        ValueError,
        "single network",
    ),
    (
        "sharpness batched",
        lambda: PROB.sharpness(init.gaussian(NET.widths, std=1, seed=0, batch=2)),
        ValueError,
        "single network",
    ),
    (
        "min_eigenvalue batched",
        lambda: PROB.min_eigenvalue(init.gaussian(NET.widths, std=1, seed=0, batch=2)),
        ValueError,
        "single network",
    ),
    (
        "hessian batched",
        lambda: PROB.hessian(init.gaussian(NET.widths, std=1, seed=0, batch=2)),
        ValueError,
        "single network",
    ),
    ("gd learning_rate True", lambda: _gd(learning_rate=True), TypeError, "learning_rate"),
    ("gd learning_rate complex", lambda: _gd(learning_rate=0.1 + 0j), TypeError, "learning_rate"),
    ("gd learning_rate bool array", lambda: _gd(learning_rate=np.array([True, False])), TypeError, "learning_rate"),
    ("gd n_steps np.bool_", lambda: _gd(n_steps=np.bool_(True)), TypeError, "n_steps"),
    ("gd record_weights string", lambda: _gd(record_weights="yes"), TypeError, "record_weights"),
    ("gd n_steps huge", lambda: _gd(n_steps=10**12), ValueError, "n_steps"),
    ("flow t_span strings", lambda: _flow(t_span=("0", "1")), TypeError, "t_span"),
    ("flow t_span of three", lambda: _flow(t_span=(0, 1, 2)), TypeError, "t_span"),
    ("flow t_span bool", lambda: _flow(t_span=(False, True)), TypeError, "t_span"),
    (
        "flow batched weights",
        lambda: _flow(w=init.gaussian(NET.widths, std=1, seed=0, batch=2)),
        ValueError,
        "single network",
    ),
    ("flow max_steps zero", lambda: _flow(max_steps=0), ValueError, "max_steps"),
    ("flow max_seconds NaN", lambda: _flow(max_seconds=float("nan")), ValueError, "max_seconds"),
    ("flow method not a str", lambda: _flow(method=["RK45"]), ValueError, "method"),
    ("flow empty t_eval", lambda: _flow(t_eval=[]), ValueError, "t_eval"),
    ("central flow on ReLU", lambda: _cf(RELU, RELU_W0), TypeError, "deep linear network"),
    (
        "central flow batched",
        lambda: _cf(w=init.gaussian(NET.widths, std=1, seed=0, batch=2)),
        ValueError,
        "single network",
    ),
    ("central flow max_seconds", lambda: _cf(max_seconds=-1.0), ValueError, "max_seconds"),
    ("compare one rate", lambda: linflow.compare_descent_to_flow(PROB, W0, [0.1], 1.0), ValueError, "learning_rates"),
    (
        "compare equal rates",
        lambda: linflow.compare_descent_to_flow(PROB, W0, [0.1, 0.1], 1.0),
        ValueError,
        "learning_rates",
    ),
    (
        "compare negative horizon",
        lambda: linflow.compare_descent_to_flow(PROB, W0, [0.1, 0.05], -1.0),
        ValueError,
        "horizon",
    ),
    ("compare not a problem", lambda: linflow.compare_descent_to_flow("p", W0, [0.1, 0.05], 1.0), TypeError, "problem"),
    (
        "compare huge horizon",
        lambda: linflow.compare_descent_to_flow(PROB, W0, [1e-3, 2e-3], 1e8),
        ValueError,
        "horizon",
    ),
    ("fit_order one point", lambda: linflow.fit_order([0.1], [0.2]), ValueError, "step_sizes"),
    ("fit_order zero error", lambda: linflow.fit_order([0.1, 0.2], [0.0, 0.1]), ValueError, "errors"),
    ("fit_order lengths", lambda: linflow.fit_order([0.1, 0.2], [0.1]), ValueError, "errors"),
    ("init negative seed", lambda: init.gaussian((2, 2), std=1.0, seed=-3), ValueError, "seed"),
    ("init bool seed", lambda: init.orthogonal((2, 2), seed=True), TypeError, "seed"),
    ("init float seed", lambda: init.random_balanced((2, 2, 2), scale=1.0, seed=1.5), TypeError, "seed"),
    ("init batch bool", lambda: init.gaussian((2, 2), std=1.0, seed=0, batch=True), TypeError, "batch"),
    ("balanced negative seed", lambda: init.balanced((2, 2, 2), np.eye(2), seed=-1), ValueError, "seed"),
    (
        "spectral wrong length",
        lambda: init.spectral((2, 2, 2), np.eye(2), mode_strength=[1.0, 2.0, 3.0]),
        ValueError,
        "mode_strength",
    ),
    (
        "spectral 2-D strength",
        lambda: init.spectral((2, 2, 2), np.eye(2), mode_strength=np.ones((2, 2))),
        ValueError,
        "mode_strength",
    ),
    (
        "spectral complex strength",
        lambda: init.spectral((2, 2, 2), np.eye(2), mode_strength=1j),
        TypeError,
        "mode_strength",
    ),
    (
        "spectral negative seed",
        lambda: init.spectral((2, 2, 2), np.eye(2), mode_strength=1.0, seed=-2),
        ValueError,
        "seed",
    ),
    (
        "table negative learning rate",
        lambda: _table("gd-gf-distance", learning_rates=(0.01, -0.01)),
        ValueError,
        "learning_rates[1]",
    ),
    ("table negative horizon", lambda: _table("gd-gf-distance", horizon=-2.0), ValueError, "horizon"),
    ("table NaN epsilon", lambda: _table("iterations", epsilon=float("nan")), ValueError, "epsilon"),
    ("table negative seed", lambda: _table("sharpness", seed=-1), ValueError, "seed"),
    ("table zero inits", lambda: _table("step-size", n_inits=0), ValueError, "n_inits"),
    ("table bool steps", lambda: _table("sharpness", n_steps=True), TypeError, "n_steps"),
    ("table empty depths", lambda: _table("curvature", depths=()), TypeError, "depths"),
    ("table string scale", lambda: _table("curvature", scales=("big",)), TypeError, "scales[0]"),
    (
        "certificate tiny eta",
        lambda: linflow.curvature.error_certificate(PROB, _flow(), learning_rate=1e-12, epsilon=0.1),
        ValueError,
        "learning_rate",
    ),
]


@pytest.mark.parametrize("call, exc, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_api_input_raises_a_named_error(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value), str(info.value)


# ---------------------------------------------------------------- generated non-real inputs
_NON_REAL = st.sampled_from(["complex", "bool", "object", "str", "bytes", "datetime"])


def _non_real(kind, shape):
    base = np.ones(shape)
    return {
        "complex": base + 1j,
        "bool": base.astype(bool),
        "object": base.astype(object),
        "str": base.astype(str),
        "bytes": base.astype(bytes),
        "datetime": np.full(shape, np.datetime64("2026-01-01")),
    }[kind]


ENTRY_POINTS = {
    "target": lambda v: Problem(NET, target=v),
    "X": lambda v: Problem(NET, X=v, Y=np.ones((2, 2))),
    "Y": lambda v: Problem(NET, X=np.ones((2, 2)), Y=v),
    "weights0[0]": lambda v: linflow.simulate_descent(PROB, (v, W0[1]), learning_rate=0.1, n_steps=1),
    "weights[1]": lambda v: PROB.gradient((W0[0], v)),
    "direction": lambda v: PROB.hvp(W0, v),
    "t_eval": lambda v: _flow(t_eval=v),
    "end_to_end_matrix": lambda v: init.balanced((2, 2, 2), v),
    "reference": lambda v: _gd(reference=v),
}
SHAPES = {"target": (2, 2), "X": (2, 2), "Y": (2, 2), "weights0[0]": (3, 2), "weights[1]": (2, 3),
          "direction": (12,), "t_eval": (2,), "end_to_end_matrix": (2, 2), "reference": (4, 12)}


@given(kind=_NON_REAL, name=st.sampled_from(sorted(ENTRY_POINTS)))
def test_non_real_arrays_are_refused_everywhere(kind, name):
    value = _non_real(kind, SHAPES[name])
    with pytest.raises(TypeError) as info:
        ENTRY_POINTS[name](value)
    assert name.split("[")[0] in str(info.value)


# ---------------------------------------------------------------- NumPy scalars and bools
_INT_TYPES = [int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64]
_FLOAT_TYPES = [float, np.float32, np.float64]


@given(int_type=st.sampled_from(_INT_TYPES), n=st.integers(1, 5))
def test_numpy_integers_are_ints_everywhere(int_type, n):
    run = linflow.simulate_descent(PROB, W0, learning_rate=0.05, n_steps=int_type(n), record_every=int_type(1))
    assert run.losses.shape == (n + 1,)
    assert len(init.gaussian((2, 2), std=1.0, seed=int_type(n), batch=int_type(n))[0]) == n
    assert linflow.partial_product(W0, int_type(0), int_type(1)).shape == (3, 2)
    assert DeepLinearNetwork((int_type(2), int_type(n))).widths == (2, n)


@given(float_type=st.sampled_from(_FLOAT_TYPES + _INT_TYPES[1:]))
def test_numpy_numbers_are_numbers_and_bools_are_not(float_type):
    run = linflow.simulate_descent(PROB, W0, learning_rate=float_type(1) / 10 if float_type in _FLOAT_TYPES else 0.1,
                                   n_steps=2)
    assert np.isfinite(run.final_loss)
    for value in (True, np.bool_(True), False):
        with pytest.raises(TypeError, match="learning_rate"):
            linflow.simulate_descent(PROB, W0, learning_rate=value, n_steps=2)
        with pytest.raises(TypeError, match="n_steps"):
            linflow.simulate_descent(PROB, W0, learning_rate=0.1, n_steps=value)
        with pytest.raises(TypeError, match="seed"):
            init.gaussian((2, 2), std=1.0, seed=value)


@given(seed=st.integers(-(2**40), -1))
def test_negative_seeds_are_refused(seed):
    for call in (lambda: init.gaussian((2, 2), std=1.0, seed=seed), lambda: init.orthogonal((2, 3), seed=seed),
                 lambda: init.near_identity((2, 2), std=0.1, seed=seed)):
        with pytest.raises(ValueError, match="seed"):
            call()


def test_sharpness_at_zero_weights_beyond_the_dense_cutoff_is_zero():
    # Depth 7: every second derivative is a product of ≥ 5 weights, so the Hessian at θ = 0 is 0
    # (ARPACK used to stop with "starting vector is zero").
    zero = tuple(np.zeros(s) for s in BIG.shapes)
    assert BIG.n_params > 600
    assert BIG_PROB.sharpness(zero) == 0.0 and BIG_PROB.min_eigenvalue(zero) == 0.0
    # And away from 0 the Lanczos answer is the dense one.
    w = init.gaussian(BIG.widths, std=0.3, seed=1)
    dense = np.linalg.eigvalsh(BIG_PROB.hessian(w))
    # Lanczos at tol 1e-12 on a matrix of norm ~|λ|: agreement to 1e-8 relative is loose.
    assert BIG_PROB.sharpness(w) == pytest.approx(dense[-1], rel=1e-8)
