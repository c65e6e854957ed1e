"""Every command × hostile option values: one line on stderr naming the option and the value,
exit status 2, no traceback, nothing computed or written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from linflow import figures, tables
from linflow.cli import main

ROOT = Path(__file__).resolve().parents[1]
#: A path no one can create a file in, even root (procfs refuses new files).
UNWRITABLE = "/proc/linflow-test/out"


def run_cli(argv, capsys):
    """``(exit status, stdout, stderr)`` of ``linflow ARGV`` in this process."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(argv, capsys, *needles):
    code, out, err = run_cli(argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (argv, code, out, err)
    assert len(lines) == 1 and "Traceback" not in err + out, (argv, err)
    for needle in needles:
        assert needle in lines[0], (argv, needle, lines[0])
    return lines[0]


@pytest.fixture
def paths(tmp_path):
    """Hostile output paths: a missing parent, an existing file, a file as parent, a directory."""
    existing = tmp_path / "file.txt"
    existing.write_text("keep me")
    return {
        "missing parent": str(tmp_path / "no" / "such" / "out.png"),
        "file as parent": str(existing / "out.png"),
        "unwritable": UNWRITABLE + ".png",
        "existing file": str(existing),
        "directory": str(tmp_path),
    }


# --------------------------------------------------------------------------------- numbers
NUMBER_CASES = [
    (["check", "--examples", "-1"], "--examples", "-1"),
    (["check", "--examples", "2.5"], "--examples", "2.5"),
    (["check", "--seed", "-3"], "--seed", "-3"),
    (["check", "--seed", "nan"], "--seed", "nan"),
    (["check", "--shrink-seconds", "nan"], "--shrink-seconds", "nan"),
    (["check", "--shrink-seconds", "-1"], "--shrink-seconds", "-1"),
    (["compare", "--seed", "-1"], "--seed", "-1"),
    (["compare", "--horizon", "nan"], "--horizon", "nan"),
    (["compare", "--horizon", "inf"], "--horizon", "inf"),
    (["compare", "--horizon", "-2"], "--horizon", "-2"),
    (["compare", "--horizon", "0"], "--horizon", "0"),
    (["compare", "--learning-rates", "0.1"], "--learning-rates", "0.1"),
    (["compare", "--learning-rates", "0.1", "0.1"], "--learning-rates", "0.1"),
    (["compare", "--learning-rates", "0.1", "-0.05"], "--learning-rates", "-0.05"),
    (["compare", "--learning-rates", "0.1", "0"], "--learning-rates", "0"),
    (["compare", "--learning-rates", "0.1", "nan"], "--learning-rates", "nan"),
    (["compare", "--learning-rates", "1e999", "0.1"], "--learning-rates", "1e999"),
]


@pytest.mark.parametrize(
    "argv, option, value", NUMBER_CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_bad_numbers(argv, option, value, capsys):
    assert_one_line_error(argv, capsys, option, value)


def _option_cases(registry):
    """Every int option of every table/figure with -1 and 'x'; every float option with nan/inf."""
    for name in registry.names():
        spec = registry.get(name)
        for opt in getattr(spec, "OPTIONS", None) or spec.options:
            bad = {int: ["-1", "x", "1e3"], float: ["nan", "-inf", "x"]}.get(opt.type, [])
            for value in bad:
                yield name, opt.flag, value


@pytest.mark.parametrize("name, flag, value", list(_option_cases(tables)))
def test_every_table_option_refuses_hostile_numbers(name, flag, value, capsys):
    assert_one_line_error(["table", name, f"{flag}={value}", "--no-progress"], capsys, flag, value)


@pytest.mark.parametrize("name, flag, value", list(_option_cases(figures)))
def test_every_figure_option_refuses_hostile_numbers(name, flag, value, capsys, tmp_path):
    assert_one_line_error(["plot", name, f"{flag}={value}", "--out", str(tmp_path / "f.png")], capsys, flag, value)


# --------------------------------------------------------------------------------- output paths
FILE_OPTIONS = [
    (["compare", "--plot"], []),
    (["table", "iterations", "--out"], ["--no-progress"]),
    (["plot", "gd-gf-distance", "--out"], []),
]


@pytest.mark.parametrize("kind", ["missing parent", "file as parent", "unwritable", "directory"])
@pytest.mark.parametrize("prefix, suffix", FILE_OPTIONS, ids=lambda v: " ".join(v))
def test_output_files_are_checked_before_computing(prefix, suffix, kind, paths, capsys, monkeypatch):
    import dataclasses

    import linflow.compare
    import linflow.figures
    from linflow.tables import iterations

    def no_computing(*_, **__):
        raise AssertionError("computed before checking the output path")

    real_get = linflow.figures.get
    monkeypatch.setattr(linflow.compare, "compare_descent_to_flow", no_computing)
    monkeypatch.setattr(iterations, "build", no_computing)
    monkeypatch.setattr(linflow.figures, "get", lambda name: dataclasses.replace(real_get(name), builder=no_computing))
    value = paths[kind]
    assert_one_line_error([*prefix, value, *suffix], capsys, prefix[-1], value)


@pytest.mark.parametrize("kind", ["existing file", "file as parent", "unwritable"])
def test_output_directories_are_checked_before_computing(kind, paths, capsys, monkeypatch):
    import linflow.claims as lc
    import linflow.report

    def no_computing(*_, **__):
        raise AssertionError("computed before checking the output path")

    monkeypatch.setattr(lc, "check_claim", no_computing)
    monkeypatch.setattr(linflow.report, "write_report", no_computing)
    value = paths[kind].removesuffix(".png")
    assert_one_line_error(["check", "--claim", "descent_lemma", "--save", value], capsys, "--save", value)
    assert_one_line_error(["report", "--out", value, "--quick"], capsys, "--out", value)


def test_figure_extension_is_checked_before_computing(tmp_path, capsys):
    bad = str(tmp_path / "figure.doc")
    assert_one_line_error(["plot", "gd-gf-distance", "--out", bad], capsys, "--out", bad, "path must end in")
    assert_one_line_error(["compare", "--plot", bad], capsys, "--plot", bad)


# --------------------------------------------------------------------------------- user code
MODULES = {
    "syntax error": ("x = (\n", "syntax error at line"),
    "raises at import": ("raise RuntimeError('boom')\n", "raised RuntimeError at line 1"),
    "sys.exit at import": ("import sys\nsys.exit(0)\n", "called sys.exit(0)"),
    "no claim": ("x = 1\n", "defines no linflow.Claim"),
}


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_bad_claim_modules(kind, tmp_path, capsys):
    source, expected = MODULES[kind]
    module = tmp_path / "claims.py"
    module.write_text(source)
    assert_one_line_error(["check", "--module", str(module)], capsys, "--module", str(module), expected)


@pytest.mark.parametrize(
    "command", [["plot", "gd-gf-distance", "--out", "{tmp}/f.png"], ["compare"]], ids=["plot", "compare"]
)
@pytest.mark.parametrize("kind", sorted(MODULES))
def test_bad_problem_files(kind, command, tmp_path, capsys):
    source, expected = MODULES[kind]
    module = tmp_path / "problem.py"
    module.write_text(source)
    value = f"{module}:problem"
    expected = "defines no global 'problem'" if kind == "no claim" else expected
    argv = [part.format(tmp=tmp_path) for part in command] + ["--problem", value]
    assert_one_line_error(argv, capsys, "--problem", value, expected)


@pytest.mark.parametrize("value", ["problem.py", "/no/such/file.py:p", "{tmp}/p.py:not-a-name"])
def test_problem_specs(value, tmp_path, capsys):
    (tmp_path / "p.py").write_text("p = 1\n")
    value = value.format(tmp=tmp_path)
    assert_one_line_error(["plot", "gd-gf-distance", "--problem", value, "--out", str(tmp_path / "f.png")], capsys,
                          "--problem", value)


@pytest.mark.parametrize("value", ["/no/such/file.py", "{tmp}", "{tmp}/claims.txt"])
def test_claim_module_paths(value, tmp_path, capsys):
    (tmp_path / "claims.txt").write_text("")
    value = value.format(tmp=tmp_path)
    assert_one_line_error(["check", "--module", value], capsys, "--module", value)


def test_a_proof_that_exits_fails(tmp_path, capsys):
    (tmp_path / "quits.py").write_text("import sys\ndef main():\n    sys.exit(0)\n")
    (tmp_path / "quits_at_import.py").write_text("import sys\nsys.exit(0)\n")
    code, out, _ = run_cli(["prove", "--directory", str(tmp_path)], capsys)
    assert code == 1 and "0/2 proofs passed" in out and out.count("called sys.exit(0)") == 2


def test_unknown_names(capsys, tmp_path):
    assert_one_line_error(["check", "--claim", "nope"], capsys, "--claim", "nope")
    assert_one_line_error(["bounds", "nope"], capsys, "nope")
    assert_one_line_error(["prove", "nope"], capsys, "nope")
    assert_one_line_error(["prove", "--directory", str(tmp_path / "missing")], capsys, "--directory", "missing")
    assert_one_line_error(["table", "nope"], capsys, "nope")
    assert_one_line_error(["table", "iterations", "--format", "docx"], capsys, "--format", "docx")
    assert_one_line_error(["report", "--out", str(tmp_path), "--tables", "nope", "--no-checks"], capsys, "nope")
    assert_one_line_error(["frobnicate"], capsys, "frobnicate")
    assert_one_line_error([], capsys, "COMMAND is required", "check")
    assert_one_line_error(["table"], capsys, "NAME is required", "step-size")
    assert_one_line_error(["plot"], capsys, "NAME is required", "gd-gf-distance")


def test_debug_shows_the_traceback(tmp_path, capsys):
    module = tmp_path / "claims.py"
    module.write_text("raise RuntimeError('boom')\n")
    code, _, err = run_cli(["check", "--module", str(module), "--debug"], capsys)
    assert code == 2 and "Traceback" in err and "boom" in err


def test_internal_errors_are_one_line_with_status_70(monkeypatch, capsys):
    import linflow.commands.bounds as command

    def broken(args):
        raise IndexError("synthetic bug")

    monkeypatch.setattr(command, "run", broken)
    monkeypatch.setattr(command, "register", _register_with(broken, command.register))
    code, _, err = run_cli(["bounds"], capsys)
    assert code == 70 and len(err.strip().splitlines()) == 1 and "IndexError: synthetic bug" in err


def _register_with(func, register):
    def patched(subparsers):
        register(subparsers)
        subparsers.choices["bounds"].set_defaults(func=func)

    return patched


def test_closed_pipe_ends_quietly():
    """``linflow bounds --latex | head -1``: no BrokenPipeError, exit status 141 (SIGPIPE)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "linflow", "bounds", "--latex"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as head does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err


@pytest.mark.parametrize("argv, flag", [
    (["table", "step-size", "--depths", "0"], "--depths 0"),
    (["table", "iterations", "--learning-rates", "-1"], "--learning-rates -1.0"),
    (["table", "sharpness", "--init-std", "-1"], "--init-std -1.0"),
])
def test_builder_refusals_name_the_option_on_one_short_line(argv, flag, capsys):
    line = assert_one_line_error([*argv, "--no-progress"], capsys, flag)
    assert len(line) < 400


@pytest.mark.parametrize("argv, needles", [
    # Overflowing sizes and times are refused by the builder before any row is computed.
    (["table", "iterations", "--target-norm", "1e308"], ("target_norm", "1e+308")),
    (["table", "gd-gf-distance", "--horizon", "1e308"], ("horizon", "1e+308")),
    (["table", "gd-gf-distance", "--horizon", "1e6"], ("horizon", "1000000.0")),
    (["table", "gd-gf-distance", "--learning-rates", "1e308"], ("learning_rates", "1e+308")),
    (["table", "sharpness", "--init-std", "1e308"], ("--init-std", "1e+308")),
    (["table", "sharpness", "--target-norm", "1e308"], ("target_norm", "1e+308")),
])
def test_builder_refuses_overflowing_sizes(argv, needles, capsys):
    assert_one_line_error([*argv, "--no-progress"], capsys, *needles)


@pytest.mark.parametrize("flag, value", [
    ("--beta2", "-1"), ("--beta2", "0"), ("--beta2", "1e308"), ("--rmsprop-learning-rate", "-1"),
    ("--rmsprop-learning-rate", "1e308"), ("--rmsprop-steps", "0"), ("--learning-rate", "1e308"),
])
def test_central_flow_figure_checks_every_option_before_computing(flag, value, capsys, tmp_path, monkeypatch):
    import linflow

    def forbidden(*args, **kwargs):
        raise AssertionError("computed before checking the options")

    monkeypatch.setattr(linflow, "simulate_descent", forbidden)
    monkeypatch.setattr("linflow.descent.simulate_descent", forbidden)
    assert_one_line_error(["plot", "central-flow", flag, value, "--out", str(tmp_path / "f.png")], capsys, flag)


def test_sweep_errors_name_the_argument(tmp_path, capsys):
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    (tmp_path / "bad.toml").write_text("x = (\n")
    (tmp_path / "key.toml").write_text("bogus = [1]\n")
    store = str(tmp_path / "s.zarr")
    assert_one_line_error(["sweep", str(tmp_path / "none.toml"), "--out", store], capsys, "SPEC.toml", "none.toml")
    assert_one_line_error(["sweep", str(tmp_path / "bad.toml"), "--out", store], capsys, "SPEC.toml", "TOML")
    assert_one_line_error(["sweep", str(tmp_path / "key.toml"), "--out", store], capsys, "SPEC.toml", "'bogus'")
    assert_one_line_error(["sweep", str(tmp_path / "key.toml"), "--out", store, "--workers", "0"], capsys,
                          "--workers", "'0'")


def test_sweep_checks_the_store_path_before_computing(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('n_steps = 5\n[network]\ndepth = 2\nwidth = 2\n[optimizer]\nlearning_rate = 0.1\n'
                    '[execution]\nbackend = "numpy"\n'
                    '[axes]\nseed = [0, 1]\n')
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    for out in (str(existing), str(existing / "s.zarr"), UNWRITABLE):
        assert_one_line_error(["sweep", str(spec), "--out", out], capsys, "--out")


def test_numpy_runtime_warnings_stay_off_the_error_line(tmp_path):
    # A user module that overflows (a NumPy RuntimeWarning) and then fails at import: one
    # error line without --debug, the warning shown with it.
    module = tmp_path / "warns.py"
    module.write_text(
        "import numpy as np\n"
        "np.exp(np.float64(1000.0))\n"
        "raise ValueError('user module refuses')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [sys.executable, "-m", "linflow", "check", "--module", str(module)]
    quiet = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert quiet.returncode == 2 and len(quiet.stderr.strip().splitlines()) == 1, quiet.stderr
    assert "RuntimeWarning" not in quiet.stderr
    loud = subprocess.run([*argv, "--debug"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert loud.returncode == 2 and "RuntimeWarning" in loud.stderr, loud.stderr
