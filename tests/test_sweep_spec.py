"""Sweep specs: the schema's forms, and errors that name the key and the value."""

import numpy as np
import pytest

from linflow.sweep import load_spec, make_plan
from linflow.sweep._plan import chunk_lengths

BASE = """
n_steps = 10
[optimizer]
learning_rate = 0.1
[axes]
seed = [0, 1]
"""


def test_axis_forms_expand_to_their_values():
    spec = load_spec("""
n_steps = 10
[optimizer]
learning_rate_fraction = 0.5
[axes]
depth = {range = [2, 8, 2]}
init_scale = {logspace = [0.01, 1.0, 3]}
width = {linspace = [2, 6, 3]}
init = ["gaussian", "orthogonal"]
""")
    values = {a.name: a.values for a in spec.axes}
    assert values["depth"] == (2, 4, 6)
    np.testing.assert_allclose(values["init_scale"], (0.01, 0.1, 1.0), rtol=1e-15)
    assert values["width"] == (2, 4, 6) and all(isinstance(v, int) for v in values["width"])
    assert values["init"] == ("gaussian", "orthogonal")
    plan = make_plan(spec)
    assert plan.dims == ("depth", "init_scale", "width", "init") and plan.shape == (3, 3, 3, 2)


@pytest.mark.parametrize(
    "text, key",
    [
        (BASE + "bogus = 1\n", "axes.bogus"),                                  # unknown axis
        (BASE.replace("n_steps = 10", "n_steps = 10\nstep = 3"), "step"),      # unknown top-level key
        (BASE + "[network]\ndepht = 3\n", "network.depht"),                     # unknown section key
        (BASE.replace("n_steps = 10", 'n_steps = "10"'), "n_steps"),           # wrong type
        (BASE + "[init]\nscale = true\n", "init.scale"),                        # bool is not a number
        (BASE + "depth = []\n", "axes.depth"),                                  # empty axis
        (BASE + "[loss]\nkind = \"hinge\"\n", "loss.kind"),                     # unknown loss
        (BASE + "[optimizer]\n", "optimizer"),                                  # TOML error (redefined table)
        (BASE + "depth = {range = [5, 2]}\n", "axes.depth.range"),              # empty range
        (BASE + "init_scale = {logspace = [0.0, 1.0, 4]}\n", "axes.init_scale.logspace"),   # bad range
        (BASE + "init_scale = {linspace = [1.0, 0.5, 4]}\n", "axes.init_scale.linspace"),   # bad range
        (BASE + "init_scale = {grid = [1, 2]}\n", "axes.init_scale"),           # unknown form
        (BASE + "depth = [2, 0]\n", "axes.depth[1]"),                           # out of domain
        (BASE + "depth = [2, 2]\n", "axes.depth"),                              # repeated value
        (BASE.replace("seed = [0, 1]", "").replace("[axes]\n", ""), "axes"),   # nothing swept
        (BASE + "[sample]\nmethod = \"sobol\"\nn = 4\n", "sample.method"),      # unknown method
        (BASE + "[execution]\ntask_size = 0\n", "execution.task_size"),
        ('n_steps = 10\n[axes]\nseed = [0]\n', "learning_rate"),               # no step size
        (BASE + "learning_rate = [0.1]\n", "learning_rate"),                    # step size twice
        (BASE + "[init]\nseed = 3\n", "init.seed"),                             # set and swept
        ("loss_tolerance = 1e-8\n" + BASE + "[refine.critical]\nparameter = \"learning_rate\"\nlow = 0.1\nhigh = 1.0\n",
         "learning_rate"),
    ],
)
def test_bad_specs_name_the_key(text, key):
    with pytest.raises((ValueError, TypeError)) as info:
        load_spec(text)
    assert key in str(info.value)


def test_critical_refinement_requires_tolerance_and_gd():
    text = """
n_steps = 10
[axes]
seed = [0, 1]
[refine.critical]
parameter = "learning_rate"
low = 0.1
high = 1.0
"""
    with pytest.raises(ValueError, match="loss_tolerance"):
        load_spec(text)
    with pytest.raises(ValueError, match="optimizer.kind"):
        load_spec("loss_tolerance = 1e-8\n" + text.replace("[axes]", "[optimizer]\nkind = \"rmsprop\"\n[axes]"))
    spec = load_spec("loss_tolerance = 1e-8\n" + text)
    assert spec.critical.grid == 8 and spec.critical.rounds == 3


def test_nothing_in_a_spec_is_evaluated():
    with pytest.raises(TypeError, match="axes.depth"):
        load_spec(BASE + 'depth = "__import__(\'os\').getcwd()"\n')


def test_canonical_form_ignores_layout_but_not_values():
    a = load_spec(BASE)
    b = load_spec("# comment\n" + BASE.replace("seed = [0, 1]", "seed = [ 0,1 ]"))
    c = load_spec(BASE.replace("seed = [0, 1]", "seed = [0, 2]"))
    assert a.canonical == b.canonical != c.canonical


def test_chunks_take_whole_trailing_axes_first():
    assert chunk_lengths((3, 4, 5), 20) == (1, 4, 5)
    assert chunk_lengths((3, 4, 5), 12) == (1, 2, 5)
    assert chunk_lengths((3, 4, 5), 3) == (1, 1, 3)
    assert chunk_lengths((3, 4, 5), 1000) == (3, 4, 5)


def test_latin_hypercube_puts_one_point_in_each_stratum():
    spec = load_spec(BASE.replace("seed = [0, 1]", "init_scale = {logspace = [0.01, 1.0, 2]}\n"
                                  "learning_rate_fraction = {linspace = [0.5, 1.5, 2]}")
                     .replace("learning_rate = 0.1", "") + "[sample]\nmethod = \"latin_hypercube\"\nn = 10\nseed = 4\n")
    plan = make_plan(spec)
    assert plan.dims == ("sample",) and plan.shape == (10,)
    frac = (plan.values["learning_rate_fraction"] - 0.5) / 1.0
    log_scale = (np.log(plan.values["init_scale"]) - np.log(0.01)) / (np.log(1.0) - np.log(0.01))
    for u in (frac, log_scale):
        assert sorted(np.floor(u * 10).astype(int)) == list(range(10))


def test_configurations_that_cannot_be_built_are_refused_before_any_task(tmp_path):
    import linflow

    text = BASE.replace("seed = [0, 1]", "n_observations = [4, 17]") + '[network]\nwidth = 4\ndepth = 2\n' \
        '[loss]\nkind = "matrix_completion"\n'
    with pytest.raises(ValueError, match="n_observations=17.*at most d_N·d_0 = 16"):
        linflow.sweep(text, store=tmp_path / "s.zarr", progress=False)
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.parametrize("name", ["eos_phase", "step_size", "implicit_regularization"])
def test_example_specs_are_valid(name):
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "sweeps" / f"{name}.toml"
    spec = load_spec(path)
    plan = make_plan(spec)
    assert plan.size > 1 and len(plan.tasks()) > 1
