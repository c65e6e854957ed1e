"""Sweeps run locally: numbers equal direct simulate_descent calls, stores, refinements, plots."""

import subprocess
import sys

import numpy as np
import pytest

import linflow
from linflow import simulate_descent
from linflow.sweep import load_spec, make_plan
from linflow.sweep._task import (
    build_init,
    build_instance,
    build_problem,
    configuration_parameters,
    minimum_sharpness,
)

xr = pytest.importorskip("xarray")

#: Network, loss, reference and backend shared by the specs of this module.
_REGRESSION = """\
[network]
depth = 2
width = 3
[loss]
kind = "regression"
n_samples = 12
[optimizer]
sharpness_reference = "minimum"
[execution]
backend = "numpy"
"""

SPEC = """
seed = 7
n_steps = 300
record_every = 100
loss_tolerance = 1e-8
observables = ["loss", "final_sharpness", "balancedness_drift"]
""" + _REGRESSION + """\
task_size = 5
[axes]
data_seed = [0, 1]
learning_rate_fraction = [0.5, 1.0, 1.9]
init_scale = {logspace = [0.05, 0.5, 3]}
"""


def _direct(spec, config):
    """One configuration through a single, unbatched simulate_descent call."""
    p = configuration_parameters(spec, config)
    instance = build_instance(spec, p)
    problem = instance.problem
    w0 = build_init(spec, p, problem)
    eta = p["learning_rate_fraction"] * 2.0 / minimum_sharpness(instance)
    res = simulate_descent(problem, w0, learning_rate=eta, n_steps=spec.n_steps, record_every=spec.record_every,
                           loss_tolerance=spec.loss_tolerance, backend=spec.backend)
    return problem, res


def test_sweep_equals_direct_simulate_descent_calls():
    spec = load_spec(SPEC)
    ds = linflow.sweep(spec, progress=False)
    assert dict(ds.sizes) == {"data_seed": 2, "learning_rate_fraction": 3, "init_scale": 3, "step": 4}
    assert bool(ds.completed.all())
    assert ds.attrs["engine"] == "numpy" and ds.attrs["spec"] == spec.canonical
    statuses = set(np.unique(ds.status.values))
    assert {1, 2} <= statuses, statuses  # the grid crosses the stability threshold
    rng = np.random.default_rng(0)
    for flat in rng.choice(ds.status.size, size=5, replace=False):
        i, j, k = np.unravel_index(flat, ds.status.shape)
        config = {"data_seed": int(ds.data_seed[i]), "learning_rate_fraction": float(ds.learning_rate_fraction[j]),
                  "init_scale": float(ds.init_scale[k])}
        problem, res = _direct(spec, config)
        point = ds.isel(data_seed=i, learning_rate_fraction=j, init_scale=k)
        # Same arithmetic in the same order on the NumPy engine: identical numbers.
        assert float(point.final_loss) == float(res.final_loss)
        assert int(point.status) == res.status_codes
        assert int(point.divergence_step) == res.divergence_step
        assert int(point.converged_step) == res.converged_step
        np.testing.assert_array_equal(point.loss.values, res.losses)
        assert float(point.final_sharpness) == problem.sharpness(res.trajectory(0))


def test_minimum_reference_is_the_balanced_minimum_sharpness():
    spec = load_spec(SPEC.replace('kind = "regression"', 'kind = "whitened"'))
    p = configuration_parameters(spec, {"data_seed": 3})
    instance = build_instance(spec, p)
    problem = instance.problem
    s1 = np.linalg.svd(problem.target, compute_uv=False)[0]
    n = p["depth"]
    # S = N σ₁^{2−2/N} (whitened, balanced minimum). The numeric S is eigvalsh of the assembled
    # Hessian, backward stable to ~P·ε·‖H‖ ≈ 1e-14 relative here; 1e-10 leaves ample margin.
    np.testing.assert_allclose(minimum_sharpness(instance), n * s1 ** (2 - 2 / n), rtol=1e-10)
    assert np.isclose(np.linalg.norm(problem.target), p["target_norm"], rtol=1e-12)


def test_sampled_sweep_equals_direct_calls_on_the_numba_engine():
    text = (
        SPEC.replace('backend = "numpy"', 'backend = "numba"')
        + '[sample]\nmethod = "latin_hypercube"\nn = 7\nseed = 2\n'
    )
    text = text.replace('observables = ["loss", "final_sharpness", "balancedness_drift"]', "")
    spec = load_spec(text)
    ds = linflow.sweep(spec, progress=False)
    assert ds.final_loss.dims == ("sample",) and ds.sizes["sample"] == 7
    for s in range(7):
        config = {name: ds[name].values[s].item() for name in spec.axis_names}
        _, res = _direct(spec, config)
        assert int(ds.status[s]) == res.status_codes
        assert int(ds.divergence_step[s]) == res.divergence_step
        if res.status_codes == 2:
            # Measured: a diverged run's last finite loss (~1e85 here) differs by ~1e-12 relative
            # between a batch and a single trajectory (the engine's lane grouping changes roundings,
            # which divergence amplifies); 1e-9 leaves three orders of magnitude of margin.
            np.testing.assert_allclose(float(ds.final_loss[s]), res.final_loss, rtol=1e-9)
        else:
            assert float(ds.final_loss[s]) == float(res.final_loss)


def test_store_resumes_and_refuses_a_changed_spec(tmp_path):
    store = tmp_path / "s.zarr"
    spec = load_spec(SPEC)
    first = linflow.sweep(spec, store=store, progress=False).load()
    reopened = xr.open_zarr(store)
    assert reopened.identical(first)
    from linflow.sweep._execute import run_sweep

    again, report = run_sweep(spec, store=str(store), progress=False)
    assert report.n_computed == 0 and report.n_skipped == report.n_tasks == len(make_plan(spec).tasks())
    xr.testing.assert_identical(again.load(), first)
    changed = SPEC.replace("n_steps = 300", "n_steps = 301")
    with pytest.raises(ValueError, match="different spec.*n_steps: 300 → 301"):
        linflow.sweep(changed, store=store, progress=False)
    ds = linflow.sweep(changed, store=store, resume=False, progress=False)
    assert ds.attrs["spec"] == load_spec(changed).canonical
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="not a Zarr store"):
        linflow.sweep(spec, store=tmp_path / "junk", progress=False)


def test_critical_refinement_brackets_the_largest_converging_step():
    spec = load_spec("""
n_steps = 400
loss_tolerance = 1e-8
[network]
depth = 3
width = 2
[init]
kind = "margin"
margin_fraction = 0.3
[execution]
backend = "numpy"
[axes]
seed = [0, 1, 2]
[refine.critical]
parameter = "learning_rate_fraction"
low = 0.25
high = 1.25
grid = 6
rounds = 2
""")
    ds = linflow.sweep(spec, progress=False)
    lower, upper = ds.critical_lower.values, ds.critical_upper.values
    assert np.all(np.isfinite(lower)) and np.all(np.isfinite(upper)) and np.all(lower < upper)
    for s in range(3):
        p = configuration_parameters(spec, {"seed": s})
        problem = build_problem(spec, p)
        w0 = build_init(spec, p, problem)
        stab = float(ds.stability_step[s])
        res = simulate_descent(problem, w0, learning_rate=np.array([lower[s], upper[s]]) * stab,
                               n_steps=spec.n_steps, loss_tolerance=spec.loss_tolerance, backend="numpy")
        converged = (res.status_codes != 2) & (res.final_loss <= spec.loss_tolerance)
        assert converged.tolist() == [True, False]


def test_phase_diagram_draws_the_store(tmp_path):
    from linflow import figures
    from linflow.cli import main

    store = tmp_path / "s.zarr"
    ds = linflow.sweep(SPEC, store=store, progress=False)
    _, data = figures.build("phase-diagram", store=str(store), x="learning_rate_fraction", y="init_scale")
    # Over data_seed the status is reduced by its most frequent value (ties: the lowest code).
    status = ds.status.transpose("init_scale", "learning_rate_fraction", "data_seed").values
    expected = [[np.bincount(c, minlength=3).argmax() for c in row] for row in status]
    np.testing.assert_array_equal(data["values"], expected)
    out = tmp_path / "p.png"
    assert main(["plot", "phase-diagram", str(store), "--x", "learning_rate_fraction", "--y", "init_scale",
                 "--color", "final_loss", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", "phase-diagram", str(store), "--x", "depth", "--y", "init_scale", "--out", str(out)]) == 2


def test_import_linflow_imports_no_dask_xarray_zarr():
    code = (
        "import sys, linflow; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'xarray', 'zarr')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert callable(linflow.sweep)


def test_optimizer_axis_runs_each_optimizer_object():
    from linflow.optimizers import GD, Adam, Momentum, RMSProp

    spec = load_spec("""
n_steps = 120
[optimizer]
learning_rate = 0.02
momentum = 0.8
beta2 = 0.95
[execution]
backend = "numpy"
[axes]
optimizer = ["gd", "momentum", "rmsprop", "adam"]
seed = [0, 1]
""")
    ds = linflow.sweep(spec, progress=False)
    objects = {"gd": GD(), "momentum": Momentum(0.8), "rmsprop": RMSProp(0.95), "adam": Adam(beta2=0.95)}
    losses = set()
    for name, optimizer in objects.items():
        p = configuration_parameters(spec, {"optimizer": name, "seed": 1})
        problem = build_problem(spec, p)
        res = simulate_descent(problem, build_init(spec, p, problem), learning_rate=0.02, n_steps=120,
                               optimizer=optimizer, backend="numpy")
        assert float(ds.final_loss.sel(optimizer=name, seed=1)) == float(res.final_loss)
        losses.add(float(res.final_loss))
    assert len(losses) == 4  # four different update rules


def test_table_sweep_summarizes_a_store(tmp_path, capsys):
    from linflow.cli import main
    from linflow.sweep._table import sweep_table

    store = tmp_path / "s.zarr"
    ds = linflow.sweep(SPEC, store=store, progress=False)
    table = sweep_table(store, over=("data_seed", "init_scale"), variables=("final_loss", "status"))
    assert [r["learning_rate_fraction"] for r in table.rows] == ds.learning_rate_fraction.values.tolist()
    for row in table.rows:
        point = ds.sel(learning_rate_fraction=row["learning_rate_fraction"])
        assert row["final_loss"] == float(np.median(point.final_loss.values))
        assert row["converged"] == float(np.mean(point.status.values == 1))
    assert main(["table", "sweep", str(store), "--over", "data_seed", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("learning_rate_fraction,init_scale,") and len(lines) == 1 + 9
    assert main(["table", "sweep", str(store), "--over", "depth"]) == 2


BOUNDARY = """
n_steps = 400
loss_tolerance = 1e-8
""" + _REGRESSION + """\
task_size = 16
[axes]
init_scale = {logspace = [0.05, 1.0, 4]}
learning_rate_fraction = {logspace = [0.5, 2.5, 5]}
"""


def test_boundary_points_split_mixed_cells_and_fill_uniform_ones():
    from linflow.sweep._boundary import boundary_points

    status = np.array([[1, 1, 2], [1, 1, 2]])
    need, filled = boundary_points(status)
    assert need.shape == (3, 5)
    # Cell (0, 0) is uniform (all 1): its new points take 1; cell (0, 1) is mixed: simulated.
    np.testing.assert_array_equal(need.astype(int), [[0, 0, 0, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 1, 0]])
    np.testing.assert_array_equal(filled, [[1, 1, 1, -1, 2], [1, 1, -1, -1, -1], [1, 1, 1, -1, 2]])


def test_boundary_refinement_matches_the_full_fine_grid_where_simulated(tmp_path):
    from linflow.sweep._boundary import refine_coordinates
    from linflow.sweep._execute import open_boundary, run_sweep

    spec = BOUNDARY + '[refine.boundary]\nx = "learning_rate_fraction"\ny = "init_scale"\nlevels = 2\n'
    store = str(tmp_path / "b.zarr")
    base, _ = run_sweep(spec, store=store, progress=False)
    level2 = open_boundary(store, 2).load()
    simulated = level2.computed.values
    assert 0 < simulated.sum() < simulated.size  # refined only near the boundary
    xs = refine_coordinates(refine_coordinates(base.learning_rate_fraction.values))
    ys = refine_coordinates(refine_coordinates(base.init_scale.values))
    np.testing.assert_allclose(level2.learning_rate_fraction.values, xs, rtol=0)
    fine_spec = BOUNDARY.replace("init_scale = {logspace = [0.05, 1.0, 4]}", f"init_scale = {ys.tolist()}") \
                        .replace("learning_rate_fraction = {logspace = [0.5, 2.5, 5]}",
                                 f"learning_rate_fraction = {xs.tolist()}")
    fine = linflow.sweep(fine_spec, progress=False)
    np.testing.assert_array_equal(level2.status.values[simulated], fine.status.values[simulated])
    np.testing.assert_array_equal(level2.final_loss.values[simulated], fine.final_loss.values[simulated])
    # A rerun reuses the stored grid and levels: nothing is simulated again.
    _, again = run_sweep(spec, store=store, progress=False)
    assert again.n_computed == 0
