"""Sweeps on a real Dask cluster, killed and resumed sweeps, and the command line."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import linflow

xr = pytest.importorskip("xarray")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

# 12 tasks of 4 configurations; on the NumPy engine each task takes ~0.05–0.2 s here, long
# enough to kill a run between tasks.
SPEC = """
seed = 3
n_steps = 600
loss_tolerance = 1e-8
observables = ["final_sharpness"]
[network]
depth = 3
width = 3
[optimizer]
sharpness_reference = "minimum"
[execution]
backend = "numpy"
task_size = 4
[axes]
init_scale = {logspace = [0.05, 0.8, 6]}
learning_rate_fraction = {linspace = [0.4, 1.8, 8]}
"""


def _env():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}


def test_local_cluster_of_two_processes_gives_the_local_numbers():
    local = linflow.sweep(SPEC, progress=False)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        remote = linflow.sweep(SPEC, client=client, progress=False)
        pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    xr.testing.assert_identical(remote, local)
    assert set(np.unique(local.status.values)) == {0, 1, 2}


def _completed_tasks(store) -> int:
    try:
        done = zarr.open_group(str(store), mode="r")["completed"][...]
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.BaseZarrError):  # not created yet
        return 0
    return int(done.sum()) // 4


def _sweep_cli(spec, store, *extra):
    return [sys.executable, "-m", "linflow", "sweep", str(spec), "--out", str(store), "--no-progress", *extra]


def test_killed_sweep_resumes_without_recomputing_finished_tasks(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    store = tmp_path / "killed.zarr"
    proc = subprocess.Popen(_sweep_cli(spec, store), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _completed_tasks(store) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no cleanup at all
    proc.communicate()
    finished = _completed_tasks(store)
    assert 3 <= finished < 12, f"the run was not killed mid-way ({finished} of 12 tasks finished)"
    # Tasks are chunks (1, 4) of the (6, 8) grid: chunk file "i.j" of every variable.
    done = zarr.open_group(str(store), mode="r")["completed"][...]
    finished_chunks = [f"{i}.{j}" for i in range(6) for j in range(2) if done[i, 4 * j:4 * j + 4].all()]
    assert len(finished_chunks) == finished
    mtimes = {c: (store / "final_loss" / c).stat().st_mtime_ns for c in finished_chunks}

    rerun = subprocess.run(_sweep_cli(spec, store), env=_env(), capture_output=True, text=True, timeout=300,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{12 - finished} tasks computed, {finished} already there, 12 in all" in rerun.stdout, rerun.stdout
    assert {c: (store / "final_loss" / c).stat().st_mtime_ns for c in finished_chunks} == mtimes

    fresh = linflow.sweep(SPEC, store=tmp_path / "fresh.zarr", progress=False)
    xr.testing.assert_identical(xr.open_zarr(store), fresh)


def test_ctrl_c_exits_130_without_traceback_and_keeps_finished_tasks(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    store = tmp_path / "interrupted.zarr"
    proc = subprocess.Popen(_sweep_cli(spec, store), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while _completed_tasks(store) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "rerun the same command to resume" in err
    assert _completed_tasks(store) >= 1


def test_cli_refuses_a_changed_spec_and_bad_specs(tmp_path):
    from linflow.cli import main

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("n_steps = 600", "n_steps = 50"))
    store = tmp_path / "s.zarr"
    assert main(["sweep", str(spec), "--out", str(store), "--no-progress"]) == 0
    spec.write_text(SPEC.replace("n_steps = 600", "n_steps = 60"))
    assert main(["sweep", str(spec), "--out", str(store), "--no-progress"]) == 2
    spec.write_text(SPEC + "bogus = [1]\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "t.zarr"), "--no-progress"]) == 2
