"""linflow.strategies: what each strategy generates, and its argument errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import linflow.strategies as lst
from linflow import DeepLinearNetwork, Problem, balancedness, end_to_end


@given(lst.widths(min_depth=2, max_depth=4, min_width=2, max_width=3, output_width=1, min_hidden_width=3))
def test_widths_respect_their_bounds(w):
    assert 3 <= len(w) <= 5 and w[-1] == 1 and 2 <= w[0] <= 3
    assert all(d == 3 for d in w[1:-1])


@given(lst.networks(max_width=1, min_depth=3, max_depth=3))
def test_networks_are_deep_linear_networks(net):
    assert isinstance(net, DeepLinearNetwork) and net.is_scalar and net.depth == 3


@given(
    lst.widths().flatmap(
        lambda w: st.tuples(st.just(w), lst.targets((w[-1], w[0]), min_singular_value=0.4, max_singular_value=1.3))
    )
)
def test_targets_have_singular_values_in_range(pair):
    w, phi = pair
    assert phi.shape == (w[-1], w[0]) and phi.dtype == np.float64
    s = np.linalg.svd(phi, compute_uv=False)
    # 1e-12: round-off of U diag(s) Vᵀ and of the SVD on ≤ 3×3 matrices.
    assert np.all(s >= 0.4 - 1e-12) and np.all(s <= 1.3 + 1e-12)


@given(lst.weights((2, 3, 1), min_value=-0.5, max_value=0.25))
def test_weights_entries_in_range(w):
    assert [x.shape for x in w] == [(3, 2), (1, 3)]
    assert all(np.all((x >= -0.5) & (x <= 0.25)) for x in w)


@given(lst.balanced_weights(lst.widths(min_depth=2, max_depth=4)))
def test_balanced_weights_are_balanced(w):
    scale = max(1.0, max(float(np.abs(x).max()) for x in w)) ** 2
    for b in balancedness(w):
        assert np.abs(b).max() <= 1e-12 * scale  # round-off of Procedure 1 and the rotations


@given(lst.balanced_weights((3, 3, 3, 2), end_to_end=lst.targets((2, 3))))
def test_balanced_weights_factor_the_given_product(w):
    assert np.linalg.matrix_rank(end_to_end(w), tol=1e-8) == 2


@given(lst.delta_balanced_weights(lst.widths(min_depth=2, max_depth=4), max_delta=1e-3))
def test_delta_balanced_weights_are_within_delta(w):
    assert max(float(np.linalg.norm(b)) for b in balancedness(w)) <= 1e-3


@st.composite
def _margin_draws(draw):
    phi = draw(lst.targets((2, 2), min_singular_value=0.5, max_singular_value=2.0))
    drawn = draw(lst.deficiency_margin_weights((2, 3, 2, 2), phi, margin=0.2, max_delta=1e-4, min_distance=1e-3))
    return phi, drawn


@given(_margin_draws())
def test_margin_weights_have_the_margin(pair):
    phi, drawn = pair
    assert isinstance(drawn, lst.MarginWeights) and drawn.margin == 0.2 and drawn.delta == 1e-4
    sigma_min = np.linalg.svd(phi, compute_uv=False).min()
    distance = np.linalg.norm(end_to_end(drawn.weights) - phi)
    assert distance <= sigma_min - 0.2
    assert max(float(np.linalg.norm(b)) for b in balancedness(drawn.weights)) <= 1e-4


@given(lst.near_zero_weights((3, 2, 2, 1), min_scale=1e-3, max_scale=1e-2))
def test_near_zero_weights_have_the_scale_and_are_balanced(w):
    s = np.linalg.norm(end_to_end(w))
    assert 1e-3 * (1 - 1e-12) <= s <= 1e-2 * (1 + 1e-12)
    assert all(np.abs(b).max() <= 1e-15 for b in balancedness(w))


@given(lst.near_zero_weights((2, 2, 2), min_scale=1e-2, max_scale=1e-2, balanced=False))
def test_unbalanced_near_zero_weights_have_layer_norms(w):
    assert all(np.isclose(np.linalg.norm(x), 1e-2 ** 0.5, rtol=1e-12) for x in w)


@given(lst.learning_rates(0.5, min_fraction=0.1, max_fraction=2.0))
def test_learning_rates_are_fractions_of_the_bound(eta):
    assert 0.05 <= eta <= 1.0


@given(lst.problems(lst.widths(max_depth=2)))
def test_problems_are_whitened_problems(problem):
    assert isinstance(problem, Problem) and problem.is_whitened


@given(lst.instances(weights=lambda widths, target: lst.balanced_weights(widths), horizon=st.just(2.0)))
def test_instances_are_consistent(inst):
    assert isinstance(inst, lst.Instance) and inst.horizon == 2.0 and inst.learning_rate is None
    inst.network.check(inst.weights)
    assert inst.problem.target.shape == (inst.widths[-1], inst.widths[0])


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: lst.widths(min_depth=3, max_depth=2), "min_depth=3, max_depth=2"),
        (lambda: lst.widths(min_width=0), "min_width=0"),
        (lambda: lst.widths(max_width=2.5), "max_width=2.5"),
        (lambda: lst.targets((2, 2), min_singular_value=2.0, max_singular_value=1.0), "min_singular_value=2.0"),
        (lambda: lst.targets((2, 2), min_singular_value=-1.0), "min_singular_value=-1.0"),
        (lambda: lst.weights((2, 2), min_value=1.0, max_value=0.0), "min_value=1.0"),
        (lambda: lst.weights((2,)), "widths=(2,)"),
        (lambda: lst.targets((2, 2, 2)), "shape=(2, 2, 2)"),
        (lambda: lst.balanced_weights((2, 0, 2)), "widths=(2, 0, 2)"),
        (lambda: lst.delta_balanced_weights((2, 2, 2), max_delta=-1.0), "max_delta=-1.0"),
        (lambda: lst.deficiency_margin_weights((2, 2, 2), np.eye(2), margin=0.0), "margin=0.0"),
        (lambda: lst.near_zero_weights((2, 2), min_scale=0.1, max_scale=0.01), "min_scale=0.1"),
        (lambda: lst.learning_rates(0.0), "bound=0.0"),
        (lambda: lst.learning_rates(1.0, min_fraction=2.0, max_fraction=1.0), "min_fraction=2.0"),
    ],
)
def test_bad_arguments_raise_invalid_argument_with_values(build, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        build()


def test_margin_larger_than_sigma_min_is_reported_at_draw_time():
    from hypothesis import find

    strategy = lst.deficiency_margin_weights((2, 2, 2), np.diag([1.0, 0.5]), margin=0.6)
    with pytest.raises(InvalidArgument, match="margin=0.6"):
        find(strategy, lambda _: True)


def _draw_one(strategy):
    """One generated example (no shrinking: a refusal at draw time is raised at once)."""
    from hypothesis import HealthCheck, Phase, settings

    drawn = []

    @settings(max_examples=1, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def probe(example):
        drawn.append(example)

    probe()
    return drawn[0]


_BAD_MATRICES = [
    ("complex", lambda m: m + 1j, TypeError),
    ("bool", lambda m: m > 0, TypeError),
    ("string", lambda m: "abc", TypeError),
    ("NaN", lambda m: np.full_like(m, np.nan), ValueError),
    ("inf", lambda m: np.full_like(m, np.inf), ValueError),
    ("1-D", lambda m: m.ravel(), ValueError),
]


@pytest.mark.parametrize("kind, spoil, error", _BAD_MATRICES, ids=[c[0] for c in _BAD_MATRICES])
@pytest.mark.parametrize("field", ["target", "end_to_end", "instance target"])
def test_hostile_matrices_are_refused_by_name(field, kind, spoil, error):
    good = np.diag([2.0, 1.5])
    bad = spoil(good)
    builds = {
        "target": lambda: lst.deficiency_margin_weights((2, 2, 2), bad, margin=0.5),
        "end_to_end": lambda: lst.balanced_weights((2, 2, 2), end_to_end=bad),
        "instance target": lambda: lst.instances((2, 2, 2), target=bad),
    }
    with pytest.raises(error, match=field.split()[-1]):
        _draw_one(builds[field]())


@pytest.mark.parametrize("value, error", [(-0.1, ValueError), (0.0, ValueError), (np.nan, ValueError),
                                          (np.inf, ValueError), ("0.1", TypeError), (True, TypeError),
                                          (0.1 + 0j, TypeError)])
@pytest.mark.parametrize("field", ["learning_rate", "horizon"])
def test_instance_steps_and_horizons_must_be_positive_reals(field, value, error):
    with pytest.raises(error, match=field):
        _draw_one(lst.instances((2, 2, 2), **{field: value}))


@pytest.mark.parametrize("widths, weights, error", [
    ((), None, InvalidArgument),
    ((2, 2, 2), (np.eye(2),), ValueError),  # a layer missing
    ((2, 3, 2), (np.ones((2, 3)), np.ones((3, 2))), ValueError),  # layers transposed
    ((2, 2, 2), (np.eye(2) + 1j, np.eye(2)), TypeError),
])
def test_instance_widths_and_weights_are_checked(widths, weights, error):
    with pytest.raises(error, match="widths|weights"):
        _draw_one(lst.instances(widths, weights=weights))
