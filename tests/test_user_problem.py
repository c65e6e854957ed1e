"""A user's problem from FILE.py:NAME: loading, errors, figures and the CLI's --problem."""

import textwrap

import pytest

from linflow.user_problem import load_problem

SOURCE = textwrap.dedent(
    """
    import numpy as np
    import linflow
    from linflow import losses

    mask = np.array([[True, False, True], [False, True, True]])
    values = np.where(mask, np.arange(6.0).reshape(2, 3) / 6, np.nan)
    problem = linflow.Problem(linflow.DeepLinearNetwork((3, 2, 2)), losses.MatrixCompletion(mask, values))

    def with_start():
        return problem, linflow.init.gaussian(problem.network.widths, std=0.2, seed=0)

    not_a_problem = 3
    """
)


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_problem.py"
    path.write_text(SOURCE)
    return path


def test_load_problem_returns_the_problem_and_optional_start(user_file):
    problem, w0 = load_problem(f"{user_file}:problem")
    assert problem.loss_function.kind == "completion" and w0 is None
    problem, w0 = load_problem(f"{user_file}:with_start")
    assert len(w0) == 2 and w0[0].shape == (2, 3)


@pytest.mark.parametrize(
    "suffix, error, words",
    [
        (":nope", ValueError, "defines no global 'nope'"),
        (":not_a_problem", TypeError, "must be a linflow.Problem"),
        ("", ValueError, "FILE.py:NAME"),
        (":bad name", ValueError, "FILE.py:NAME"),
    ],
)
def test_load_problem_errors_name_the_argument(user_file, suffix, error, words):
    with pytest.raises(error, match=words):
        load_problem(f"{user_file}{suffix}")
    with pytest.raises(FileNotFoundError, match="problem file must exist"):
        load_problem(f"{user_file.parent / 'missing.py'}:problem")


def test_gd_gf_figure_takes_a_problem(user_file):
    from linflow import figures

    problem, _ = load_problem(f"{user_file}:problem")
    _fig, data = figures.build("gd-gf-distance", problem=problem, horizon=0.5, learning_rates=(0.1, 0.05))
    assert data["problem"] is problem
    # GD is Euler's method for GF: the distance shrinks with η.
    d = data["comparison"].max_distance
    assert d[1] < d[0]
    with pytest.raises(TypeError, match="problem must be a linflow.Problem"):
        figures.build("gd-gf-distance", problem="mine")


def test_cli_plot_accepts_problem(user_file, tmp_path, capsys):
    from linflow.cli import main

    out = tmp_path / "gd.png"
    code = main(["plot", "gd-gf-distance", "--problem", f"{user_file}:with_start", "--horizon", "0.5",
                 "--learning-rates", "0.1", "0.05", "--out", str(out)])
    assert code == 0 and out.stat().st_size > 0
    code = main(["plot", "gd-gf-distance", "--problem", f"{user_file}:nope", "--out", str(out)])
    assert code == 2 and "defines no global" in capsys.readouterr().err


def test_cli_compare_accepts_problem(user_file, capsys):
    from linflow.cli import main

    code = main(["compare", "--problem", f"{user_file}:problem", "--horizon", "0.5", "--learning-rates", "0.1", "0.05"])
    out = capsys.readouterr().out
    assert code == 0 and "MatrixCompletion" in out and "fitted order" in out
    assert main(["compare", "--problem", f"{user_file}:missing_name"]) == 2
