"""Strategies for the new losses' data: what they promise holds on every draw."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import linflow.strategies as lst
from linflow import losses as ll


@given(lst.completion_data(st.tuples(st.integers(1, 4), st.integers(1, 4)), max_rank=2, min_observed=2))
def test_completion_data_observe_a_low_rank_matrix(data):
    rows, cols = data.mask.shape
    assert data.mask.sum() >= min(2, rows * cols) and data.mask.dtype == bool
    assert np.all(np.isnan(data.values[~data.mask]))
    np.testing.assert_array_equal(data.values[data.mask], data.truth[data.mask])
    assert np.linalg.matrix_rank(data.truth) <= 2
    assert data.loss.value(data.truth) == 0.0


@given(lst.sensing_data((2, 3), min_measurements=2, max_measurements=4))
def test_sensing_data_measure_the_truth(data):
    assert 2 <= data.A.shape[0] <= 4 and data.A.shape[1:] == (2, 3)
    # b = ⟨A_i, truth⟩ exactly as the loss computes it: zero loss at the truth up to rounding.
    assert data.loss.value(data.truth) <= 1e-28


@given(lst.classification_data(3, n_classes=st.integers(1, 3)))
def test_classification_data_have_valid_labels(data):
    loss = data.loss
    if data.n_classes == 1:
        assert isinstance(loss, ll.Logistic) and set(np.unique(data.labels)) <= {-1.0, 1.0}
    else:
        assert isinstance(loss, ll.CrossEntropy) and data.labels.max() < data.n_classes
    assert loss.X.shape[0] == 3


@given(lst.problems(lst.widths(max_depth=3, max_width=3), kinds=lst.LOSS_KINDS))
def test_problems_of_every_kind_fit_their_network(problem):
    w = tuple(np.full(s, 0.5) for s in problem.network.shapes)
    assert problem.loss_function.kind in lst.LOSS_KINDS
    assert np.isfinite(problem.loss(w))
    if problem.loss_function.kind == "logistic":
        assert problem.network.widths[-1] == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: lst.completion_data((2, 2), min_observed=3, max_observed=2),
        lambda: lst.sensing_data((2, 2), min_measurements=0),
        lambda: lst.classification_data(2, min_samples=5, max_samples=1),
        lambda: lst.losses((2, 2), kinds=("hinge",)),
        lambda: lst.problems((2, 2), kinds=()),
    ],
)
def test_bad_arguments_raise_invalid_argument(make):
    with pytest.raises(InvalidArgument):
        make()
