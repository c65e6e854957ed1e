"""Hostile inputs against every public function and every CLI command: GOOD / POOR / BAD per case.

Each case calls one public entry point with one argument replaced by a hostile value (wrong
type, NaN/inf, negative/zero/huge numbers, empty or mismatched shapes, complex or bool arrays,
NumPy scalars, absurd sizes) or runs ``linflow.cli.main([...])`` with a hostile option. All in
this process, each under a wall-clock limit (SIGALRM), with the address space capped so that an
absurd allocation fails fast instead of exhausting the machine.

Verdicts
    GOOD  the input was refused with ValueError/TypeError naming the argument (CLI: exit status
          2 and one line naming the option), or a value that should work worked (finite result,
          or a status saying what happened).
    POOR  refused with the right exception type / exit status, but the message does not name
          the argument or option.
    BAD   any other exception, a traceback, a hang (time limit), a memory error instead of a
          refusal by estimate, a silent NaN from finite inputs, or success where a refusal was
          due.

Usage::

    python scripts/fuzz_inputs.py              # every case (a few minutes)
    python scripts/fuzz_inputs.py --quick      # a representative subset (CI: < 40 s)
    python scripts/fuzz_inputs.py --only cli --show bad --json results.json

Exit status: 1 if a case of the enforced groups (``--enforce``, default: all) is BAD.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import os
import resource
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Optional

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

REJECT, ACCEPT, EITHER = "reject", "accept", "either"
NAN, INF = float("nan"), float("inf")


# ====================================================================== cases and verdicts
@dataclass
class Case:
    """One call: ``group`` (api / cli), a name, the argument it attacks, what must happen."""

    group: str
    name: str
    call: Callable[[], Any]
    argument: str
    expect: str = REJECT
    finite_input: bool = True  # False: NaN/inf went in, so NaN may come out
    quick: bool = True
    #: Exceptions that count as a clear refusal (OSError for paths, KeyError for registry names).
    errors: tuple = (ValueError, TypeError)
    #: Seconds this case may take at least (a valid value that runs a whole table: not a hang).
    min_seconds: float = 0.0


@dataclass
class Outcome:
    case: Case
    verdict: str
    detail: str
    seconds: float


class _CaseTimeout(BaseException):
    """Raised by SIGALRM in the main thread (not an Exception: nothing may swallow it)."""


def _on_alarm(signum, frame):
    raise _CaseTimeout()


def _has_nan(value, depth: int = 0) -> bool:
    """A NaN among the numbers of a plain result (floats, arrays, tuples, lists, dicts)."""
    if depth > 4:
        return False
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fc" and bool(np.isnan(value).any())
    if isinstance(value, (tuple, list)):
        return any(_has_nan(v, depth + 1) for v in value[:1000])
    if isinstance(value, dict):
        return any(_has_nan(v, depth + 1) for v in list(value.values())[:1000])
    return False


def _silent_nan(result) -> str:
    """Why ``result`` hides a NaN behind a successful status (empty if it does not)."""
    from linflow.results import DescentResult, FlowResult, Status

    if isinstance(result, DescentResult):
        ok = result.status_codes != Status.DIVERGED.code
        for name in ("final_loss", "balancedness_drift"):
            values = np.asarray(getattr(result, name), dtype=float)
            if values.shape == ok.shape and np.isnan(values[ok]).any():
                return f"{name} is NaN on a trajectory that did not diverge"
        return ""
    if isinstance(result, FlowResult):
        if result.status is Status.SUCCESS and _has_nan(result.losses):
            return "NaN loss with status SUCCESS"
        return ""
    if dataclasses.is_dataclass(result):
        if hasattr(result, "status") or hasattr(result, "statuses"):
            return ""  # a result with a status says what happened
        for f in dataclasses.fields(result):
            if _has_nan(getattr(result, f.name)):
                return f"field {f.name} is NaN"
        return ""
    return "NaN in the result" if _has_nan(result) else ""


def judge_api(case: Case, result=None, error: Optional[BaseException] = None) -> tuple:
    if error is None:
        why = _silent_nan(result) if case.finite_input else ""
        if why:
            return "BAD", f"silent NaN: {why}"
        if case.expect == REJECT:
            return "BAD", f"accepted: returned {type(result).__name__}"
        return "GOOD", f"returned {type(result).__name__}"
    text = f"{type(error).__name__}: {error}".replace("\n", " ")
    if isinstance(error, case.errors) and not isinstance(error, np.linalg.LinAlgError):
        if case.expect == ACCEPT:
            return "BAD", f"refused a valid value: {text}"
        named = case.argument in str(error)
        return ("GOOD" if named else "POOR"), text
    return "BAD", text


def judge_cli(case: Case, code, out: str, err: str) -> tuple:
    lines = [line for line in err.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if "Traceback" in out + err:
        return "BAD", "traceback: " + (lines[-1] if lines else "")
    if code == 2:
        if len(lines) != 1:
            return "POOR", f"exit 2 with {len(lines)} lines on stderr"
        flag, name = case.argument, case.argument.lstrip("-").replace("-", "_")
        named = flag in first or name in first
        return ("GOOD" if named else "POOR"), first
    if code == 70:
        return "BAD", "internal error: " + first
    if code in (0, 1) and case.expect != REJECT:
        return "GOOD", f"exit {code}"
    return "BAD", f"exit {code}: {first or out.strip()[-200:]}"


def run_case(case: Case, time_limit: float) -> Outcome:
    time_limit = max(time_limit, case.min_seconds)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    start = time.perf_counter()
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                result = case.call()
                error = None
            except SystemExit as exc:  # argparse
                result, error = exc.code, None
            except _CaseTimeout:
                raise
            except MemoryError as exc:
                result, error = None, exc
            except Exception as exc:  # noqa: BLE001 - judged below
                result, error = None, exc
        signal.setitimer(signal.ITIMER_REAL, 0)
        if error is not None and time.perf_counter() - start >= 0.99 * time_limit:
            # The limit's interrupt came back as another exception (Hypothesis wraps it).
            raise _CaseTimeout()
        if case.group == "cli":
            verdict, detail = judge_cli(case, result if error is None else None, out.getvalue(), err.getvalue())
            if error is not None:
                verdict, detail = "BAD", f"{type(error).__name__} escaped main(): {error}"
        else:
            verdict, detail = judge_api(case, result, error)
            if isinstance(error, MemoryError):
                detail = "MemoryError (no refusal by a memory estimate): " + detail
    except _CaseTimeout:
        verdict, detail = "BAD", f"hang: still running after {time_limit:g} s"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return Outcome(case, verdict, detail[:300], time.perf_counter() - start)


# ====================================================================== hostile values
def _v(label, value, expect=REJECT, finite=True, quick=True):
    return (label, value, expect, finite, quick)


def counts(*, zero=EITHER, none=REJECT, huge=REJECT):
    """Values for a count (n_steps, examples, batch, …); ``huge`` 10**15 must be refused (a
    memory or time estimate) unless it costs nothing (a recording interval)."""
    return [
        _v("-1", -1), _v("0", 0, zero), _v("1.5", 1.5), _v("nan", NAN, finite=False), _v("'3'", "3"),
        _v("True", True), _v("None", None, none), _v("10**15", 10**15, huge, quick=False),
        _v("np.int64(3)", np.int64(3), ACCEPT), _v("[3]", [3], quick=False), _v("3+0j", 3 + 0j, quick=False),
    ]


def positives(*, zero=REJECT, none=REJECT):
    """Values for a positive real (step size, std, horizon, tolerance)."""
    return [
        _v("-0.1", -0.1), _v("0.0", 0.0, zero), _v("nan", NAN, finite=False), _v("inf", INF, finite=False),
        _v("'0.1'", "0.1"), _v("True", True), _v("None", None, none), _v("0.1+0j", 0.1 + 0j),
        _v("np.float64(0.05)", np.float64(0.05), ACCEPT), _v("-inf", -INF, finite=False, quick=False),
        _v("1e308", 1e308, EITHER, quick=False),
    ]


def seeds():
    return [_v("-1", -1), _v("1.5", 1.5), _v("'0'", "0"), _v("nan", NAN, finite=False),
            _v("np.int64(2)", np.int64(2), ACCEPT), _v("2**128", 2**128, EITHER, quick=False)]


def widths_values():
    return [
        _v("()", ()), _v("(3,)", (3,), EITHER), _v("(3, 0, 2)", (3, 0, 2)), _v("(3, -1, 2)", (3, -1, 2)),
        _v("(3.5, 2)", (3.5, 2)), _v("('3', 2)", ("3", 2)), _v("(True, 2)", (True, 2)), _v("None", None),
        _v("3", 3), _v("np.array([3, 2])", np.array([3, 2]), ACCEPT),
        _v("(10**6,)*3", (10**6,) * 3, EITHER, quick=False), _v("(2.0, 3.0)", (2.0, 3.0), quick=False),
    ]


def matrices(shape, *, any_shape=False):
    """Values for a real matrix argument of ``shape`` (``any_shape``: a function that takes no
    architecture accepts every 2-D shape, so another shape is valid there)."""
    rng = np.random.default_rng(1)
    good = rng.standard_normal(shape)
    return [
        _v("None", None), _v("'abc'", "abc"), _v("NaN matrix", np.full(shape, NAN), EITHER, finite=False),
        _v("inf matrix", np.full(shape, INF), EITHER, finite=False), _v("complex", good + 1j),
        _v("bool", good > 0), _v("wrong shape", rng.standard_normal((shape[0] + 1, shape[1] + 2)), EITHER if any_shape else REJECT),
        _v("empty", np.zeros((0,))), _v("object", np.array([[object()]], dtype=object)),
        _v("int64", np.ones(shape, dtype=np.int64), EITHER, quick=False),
        _v("list of lists", good.tolist(), EITHER, quick=False),
        _v("1e200 matrix", np.full(shape, 1e200), EITHER, quick=False),
    ]


def weights_values(w0, *, architecture="network"):
    """Hostile weights for ``w0``. A function that takes no architecture cannot tell a missing
    layer from a shallower network (``architecture="chain"``: it still checks that consecutive
    layers multiply) nor, if it does not even multiply them (``"none"``), a swapped or
    transposed layer from other widths: those values are valid there."""
    chain_ok = EITHER if architecture in ("chain", "none") else REJECT
    loose_ok = EITHER if architecture == "none" else REJECT
    return [
        _v("()", ()), _v("one layer missing", tuple(w0[:-1]), chain_ok), _v("layers swapped", tuple(reversed(w0)), loose_ok),
        _v("transposed", tuple(w.T for w in w0), loose_ok), _v("NaN weights", tuple(np.full_like(w, NAN) for w in w0), EITHER, finite=False),
        _v("complex", tuple(w + 1j for w in w0)), _v("'x'", "x"), _v("None", None),
        _v("1e150 weights", tuple(np.full_like(w, 1e150) for w in w0), EITHER),
        _v("bool", tuple(w > 0 for w in w0), quick=False),
        _v("lists", [w.tolist() for w in w0], EITHER, quick=False),
        _v("mismatched batch", (np.stack([w0[0]] * 2), np.stack([w0[1]] * 3)), quick=False),
    ]


def strings(*valid):
    return [_v("'nope'", "nope"), _v("3", 3), _v("None", None, EITHER), _v("''", "")] + [
        _v(repr(v), v, ACCEPT, quick=False) for v in valid
    ]


# ====================================================================== the API cases
def _base():
    """Small valid inputs every case starts from (built once)."""
    if not hasattr(_base, "cache"):
        import linflow

        rng = np.random.default_rng(0)
        net = linflow.DeepLinearNetwork((3, 4, 2))
        target = rng.standard_normal((2, 3))
        problem = linflow.Problem(net, target=target)
        w0 = linflow.init.gaussian(net.widths, std=0.5, seed=0)
        relu_net = linflow.HomogeneousNetwork((3, 4, 2), activation="relu")
        X, Y = rng.standard_normal((3, 6)), rng.standard_normal((2, 6))
        _base.cache = SimpleNamespace(
            linflow=linflow, net=net, target=target, problem=problem, w0=w0, relu_net=relu_net, X=X, Y=Y,
            relu_problem=linflow.Problem(relu_net, X=X, Y=Y),
        )
    return _base.cache


def api_cases() -> list:
    """``(function name, callable factory, valid keyword arguments, {argument: hostile values})``."""
    import linflow
    from linflow import bounds, curvature, exact, init, rescaling

    B = _base()
    w0, target, problem = B.w0, B.target, B.problem
    specs = [
        ("DeepLinearNetwork", lambda: linflow.DeepLinearNetwork, dict(widths=(3, 4, 2)),
         {"widths": widths_values()}),
        ("HomogeneousNetwork", lambda: linflow.HomogeneousNetwork, dict(widths=(3, 4, 2), activation="leaky_relu", negative_slope=0.1),
         {"widths": widths_values(), "activation": strings("leaky_relu"), "negative_slope": positives(zero=EITHER, none=EITHER)}),
        ("Problem(target)", lambda: linflow.Problem, dict(network=B.net, target=target),
         {"target": matrices((2, 3)), "network": [_v("None", None), _v("(3, 4, 2)", (3, 4, 2)), _v("'net'", "net")]}),
        ("Problem(X, Y)", lambda: linflow.Problem, dict(network=B.net, X=B.X, Y=B.Y),
         {"X": matrices((3, 6)), "Y": matrices((2, 6))}),
        ("simulate_descent", lambda: linflow.simulate_descent,
         dict(problem=problem, weights0=w0, learning_rate=0.05, n_steps=20, backend="numpy"),
         {"weights0": weights_values(w0), "learning_rate": positives(zero=EITHER),
          "n_steps": counts(), "record_every": counts(zero=REJECT, huge=EITHER), "backend": strings("numba"),
          "divergence_threshold": positives(), "problem": [_v("None", None), _v("'p'", "p")]}),
        ("simulate_descent[numba]", lambda: linflow.simulate_descent,
         dict(problem=problem, weights0=w0, learning_rate=0.05, n_steps=20, backend="numba"),
         {"weights0": weights_values(w0)[:9], "n_steps": counts()[:8]}),
        ("simulate_descent[observe]", lambda: linflow.simulate_descent,
         dict(problem=problem, weights0=w0, learning_rate=0.05, n_steps=20, backend="numba",
              observe=("sharpness", "grad_norm")),
         {"weights0": weights_values(w0)[:9], "learning_rate": positives(zero=EITHER), "n_steps": counts()[:8],
          "observe_every": counts(zero=REJECT, huge=EITHER),
          "observe": [_v("()", (), EITHER), _v("('x',)", ("x",)), _v("'sharpness'", "sharpness", EITHER), _v("None", None, EITHER),
                      _v("('sharpness', 'sharpness')", ("sharpness", "sharpness")), _v("3", 3)],
          "observe_options": [_v("{'sharpness': {'tol': 0}}", {"sharpness": {"tol": 0.0}}),
                              _v("{'sharpness': {'tol': nan}}", {"sharpness": {"tol": NAN}}),
                              _v("{'sharpness': {'tol': 'x'}}", {"sharpness": {"tol": "x"}}),
                              _v("{'sharpness': {'tol': 1e-3}}", {"sharpness": {"tol": 1e-3}}, EITHER),
                              _v("{'sharpness': {'method': 'x'}}", {"sharpness": {"method": "x"}}),
                              _v("{'sharpness': 1}", {"sharpness": 1}), _v("'x'", "x")]}),
        ("integrate_flow", lambda: linflow.integrate_flow, dict(problem=problem, weights0=w0, t_span=(0.0, 0.5)),
         {"weights0": weights_values(w0), "t_span": [
             _v("()", ()), _v("(1, 0)", (1.0, 0.0)), _v("(0, nan)", (0.0, NAN), finite=False), _v("(0, inf)", (0.0, INF), finite=False),
             _v("'x'", "x"), _v("None", None)],
          "rtol": positives(), "atol": positives(zero=EITHER), "method": strings("RK45")}),
        # A horizon far beyond what can be integrated ends in BUDGET_EXHAUSTED; by default only
        # after 120 s of work, so the case gives the flow a small budget to see that status.
        ("integrate_flow[budget]", lambda: linflow.integrate_flow,
         dict(problem=problem, weights0=w0, t_span=(0.0, 0.5), max_seconds=1.0, max_steps=10_000),
         {"t_span": [_v("(0, 1e9)", (0.0, 1e9), EITHER)]}),
        ("integrate_flow[relu]", lambda: linflow.integrate_flow, dict(problem=B.relu_problem, weights0=w0, t_span=(0.0, 0.5)),
         {"weights0": weights_values(w0)[:9]}),
        ("integrate_central_flow", lambda: linflow.integrate_central_flow,
         dict(problem=problem, weights0=w0, learning_rate=0.05, n_steps=10),
         {"weights0": weights_values(w0)[:9], "learning_rate": positives(), "n_steps": counts(),
          "optimizer": strings("gd"), "substeps": counts(zero=REJECT), "problem": [_v("ReLU problem", B.relu_problem)]}),
        ("compare_descent_to_flow", lambda: linflow.compare_descent_to_flow,
         dict(problem=problem, weights0=w0, learning_rates=[0.04, 0.02], horizon=0.5),
         {"learning_rates": [_v("[0.04]", [0.04]), _v("[]", []), _v("[0.04, -0.02]", [0.04, -0.02]),
                             _v("[0.04, nan]", [0.04, NAN], finite=False), _v("0.04", 0.04), _v("'x'", "x"),
                             _v("[0.04, 0.04]", [0.04, 0.04])],
          "horizon": positives() + [_v("1e5", 1e5, EITHER, quick=False)], "weights0": weights_values(w0)[:9]}),
        ("fit_order", lambda: linflow.fit_order, dict(step_sizes=[0.1, 0.05], errors=[1e-2, 5e-3]),
         {"step_sizes": [_v("[0.1]", [0.1]), _v("[]", []), _v("[0.1, -0.05]", [0.1, -0.05]), _v("[0.1, 0.1]", [0.1, 0.1]),
                         _v("[0.1, nan]", [0.1, NAN], finite=False), _v("'x'", "x")],
          "errors": [_v("[0, 0]", [0.0, 0.0]), _v("[1e-2]", [1e-2]), _v("[nan, 1]", [NAN, 1.0], finite=False),
                     _v("[-1, 1]", [-1.0, 1.0])]}),
        ("end_to_end", lambda: linflow.end_to_end, dict(weights=w0), {"weights": weights_values(w0, architecture="chain")}),
        ("balancedness", lambda: linflow.balancedness, dict(weights=w0), {"weights": weights_values(w0, architecture="chain")}),
        ("flatten", lambda: linflow.flatten, dict(weights=w0), {"weights": weights_values(w0, architecture="none")}),
        ("unflatten", lambda: linflow.unflatten, dict(vector=np.zeros(20), shapes=[(4, 3), (2, 4)]),
         {"vector": [_v("too short", np.zeros(5)), _v("2-D", np.zeros((4, 5))), _v("'x'", "x"), _v("complex", np.zeros(20) + 1j)],
          "shapes": [_v("[]", []), _v("[(4, -3)]", [(4, -3), (2, 4)]), _v("'x'", "x"), _v("[(4.5, 3)]", [(4.5, 3), (2, 4)])]}),
        ("partial_product", lambda: linflow.partial_product, dict(weights=w0, start=0, stop=2),
         {"start": [_v("-1", -1), _v("5", 5), _v("1.5", 1.5), _v("'0'", "0")],
          "stop": [_v("9", 9), _v("-4", -4), _v("None", None), _v("True", True, EITHER)],
          "weights": weights_values(w0)[:8]}),
        ("init.gaussian", lambda: init.gaussian, dict(widths=(3, 4, 2), std=0.5, seed=0),
         {"widths": widths_values(), "std": positives(zero=EITHER), "seed": seeds(), "batch": counts(none=ACCEPT)}),
        ("init.orthogonal", lambda: init.orthogonal, dict(widths=(3, 4, 2), seed=0),
         {"widths": widths_values(), "seed": seeds(), "scale": positives(zero=EITHER), "batch": counts(none=ACCEPT),
          "widths ": [_v("(6000, 3)", (6000, 3), ACCEPT, quick=False)]}),
        ("init.random_balanced", lambda: init.random_balanced, dict(widths=(3, 4, 2), scale=0.1, seed=0),
         {"widths": widths_values(), "scale": positives(zero=EITHER), "seed": seeds()}),
        ("init.near_identity", lambda: init.near_identity, dict(widths=(3, 3, 3), std=0.1, seed=0),
         {"widths": widths_values()[:10], "std": positives(zero=EITHER), "seed": seeds()}),
        ("init.identity", lambda: init.identity, dict(widths=(3, 3, 3)),
         {"widths": widths_values()[:10], "scale": positives(zero=EITHER)}),
        ("init.balanced", lambda: init.balanced, dict(widths=(3, 4, 2), end_to_end_matrix=target, seed=0),
         {"end_to_end_matrix": matrices((2, 3)), "widths": widths_values()[:10], "seed": seeds()}),
        ("init.spectral", lambda: init.spectral, dict(widths=(3, 4, 2), target=target, mode_strength=0.1, seed=0),
         {"target": matrices((2, 3)), "mode_strength": positives(zero=EITHER) + [_v("wrong length", np.ones(7))],
          "widths": widths_values()[:10]}),
        ("rescaling.layer_balance", lambda: rescaling.layer_balance, dict(weights=w0), {"weights": weights_values(w0, architecture="chain")}),
        ("rescaling.neuron_balance", lambda: rescaling.neuron_balance, dict(weights=w0), {"weights": weights_values(w0, architecture="chain")}),
        ("rescaling.layer_balance_step_change", lambda: rescaling.layer_balance_step_change,
         dict(gradients=w0, learning_rate=0.1), {"gradients": weights_values(w0, architecture="chain")[:8], "learning_rate": positives(zero=EITHER)}),
        ("exact.scalar_balanced_n2", lambda: exact.scalar_balanced_n2, dict(target=1.0, product0=0.1, t=np.linspace(0, 1, 5)),
         {"target": positives(zero=EITHER)[:8], "product0": positives(zero=EITHER)[:8],
          "t": [_v("nan", NAN, EITHER, finite=False), _v("[-1]", [-1.0], EITHER), _v("'x'", "x"), _v("1e300", 1e300, EITHER)]}),
        ("exact.saxe_mode", lambda: exact.saxe_mode, dict(singular_value=1.0, strength0=0.1, t=np.linspace(0, 1, 5)),
         {"singular_value": positives()[:8], "strength0": positives(zero=EITHER)[:8], "tau": positives(),
          "t": [_v("nan", NAN, EITHER, finite=False), _v("'x'", "x"), _v("1e300", 1e300, EITHER)]}),
        ("exact.saxe_end_to_end", lambda: exact.saxe_end_to_end, dict(target=target, strength0=0.1, t=np.linspace(0, 1, 5)),
         {"target": matrices((2, 3), any_shape=True)[:9], "strength0": positives(zero=EITHER)[:8]}),
        ("bounds.get", lambda: bounds.get, dict(name="stability_threshold"),
         {"name": [_v("'nope'", "nope"), _v("3", 3), _v("None", None)]}),
        ("curvature.lambda_min_lower_bound", lambda: curvature.lambda_min_lower_bound,
         dict(problem=problem, weights=w0, epsilon=0.0),
         {"weights": weights_values(w0), "epsilon": positives(zero=ACCEPT)}),
        ("curvature.smoothness_bound", lambda: curvature.smoothness_bound, dict(problem=problem, weights=w0, epsilon=0.0),
         {"weights": weights_values(w0), "epsilon": positives(zero=ACCEPT)}),
        ("curvature.gradient_norm", lambda: curvature.gradient_norm, dict(problem=problem, weights=w0),
         {"weights": weights_values(w0)}),
        ("curvature.error_certificate", lambda: curvature.error_certificate,
         dict(problem=problem, path=tuple(np.stack([w] * 5) for w in w0), learning_rate=0.05, epsilon=0.1),
         {"learning_rate": positives(), "epsilon": positives(),
          "path": [_v("None", None), _v("'x'", "x"), _v("unbatched weights", w0), _v("()", ())]}),
        ("Problem.loss", lambda: problem.loss, dict(weights=w0), {"weights": weights_values(w0)}),
        ("Problem.gradient", lambda: problem.gradient, dict(weights=w0), {"weights": weights_values(w0)}),
        ("Problem.hessian", lambda: problem.hessian, dict(weights=w0),
         {"weights": weights_values(w0) + [_v("batched", tuple(np.stack([w] * 2) for w in w0), EITHER)]}),
        ("Problem.sharpness", lambda: problem.sharpness, dict(weights=w0),
         {"weights": weights_values(w0) + [_v("batched", tuple(np.stack([w] * 2) for w in w0), EITHER)]}),
        ("Problem.hvp", lambda: problem.hvp, dict(weights=w0, direction=tuple(np.ones_like(w) for w in w0)),
         {"direction": weights_values(w0)[:9]}),
    ]
    cases = []
    for fname, get, valid, attacks in specs:
        for argument, values in attacks.items():
            for label, value, expect, finite, quick in values:
                kwargs = dict(valid)
                kwargs[argument.strip()] = value
                errors = (ValueError, TypeError, KeyError) if argument == "name" else (ValueError, TypeError)
                cases.append(Case(
                    "api", f"{fname}({argument.strip()}={label})", _api_call(get, kwargs), argument.strip(),
                    expect, finite, quick and "[numba]" not in fname, errors,
                ))
    cases += _claim_cases()
    cases += _bound_cases()
    cases += _strategy_cases()
    return cases


def _bound_cases() -> list:
    """Every registered bound at hostile values of each parameter, from a valid point."""
    import itertools

    from linflow import bounds

    cases = []
    grid = (2, 0.5, -1.0, 3, 0.1)
    for bound in bounds.all():
        names = bound.parameter_names
        valid = None
        for combo in itertools.islice(itertools.product(grid, repeat=len(names)), 5000):
            try:
                value = bound.evaluate(**dict(zip(names, combo)))
            except (ValueError, TypeError):
                continue
            if np.isfinite(value):
                valid = dict(zip(names, combo))
                break
        if valid is None:
            print(f"note: no valid point of bound {bound.name!r} on the grid {grid}; its cases are skipped")
            continue
        for name in names:
            for label, value, expect, finite, quick in [
                _v("nan", NAN, finite=False), _v("inf", INF, finite=False), _v("'x'", "x"), _v("1+1j", 1 + 1j),
                _v("None", None), _v("np.float64", np.float64(valid[name]), ACCEPT),
                _v("-1", -1.0, EITHER), _v("0", 0.0, EITHER), _v("1e300", 1e300, EITHER),
                _v("1e-300", 1e-300, EITHER), _v("-1e300", -1e300, EITHER, quick=False), _v("2**60", 2**60, EITHER, quick=False),
            ]:
                kwargs = dict(valid, **{name: value})
                cases.append(Case("api", f"bounds.get({bound.name!r}).evaluate({name}={label})",
                                  _api_call(lambda b=bound: b.evaluate, kwargs), name, expect, finite, quick))
    return cases


def _strategy_cases() -> list:
    """Public Hypothesis strategies with hostile arguments; one draw makes lazy checks run."""
    from hypothesis import HealthCheck, Phase, given, settings

    from linflow import strategies as lst
    from linflow.symbolic import ScalarNetwork

    def draw(factory):
        """Build the strategy and draw one example (generation only: no shrinking)."""

        def call(**kwargs):
            strategy = factory(**kwargs)
            drawn = []

            @settings(max_examples=1, database=None, derandomize=True, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(strategy)
            def probe(example):
                drawn.append(example)

            probe()
            return drawn[0] if drawn else None

        return call

    B = _base()
    specs = [
        ("strategies.widths", lst.widths, dict(), {
            "min_depth": counts(zero=EITHER)[:8], "max_depth": [_v("-1", -1), _v("0", 0), _v("10**6", 10**6, EITHER, quick=False)],
            "min_width": counts()[:8], "max_width": [_v("0", 0), _v("nan", NAN, finite=False)]}),
        ("strategies.targets", lst.targets, dict(shape=(2, 3)), {
            "shape": [_v("()", ()), _v("(2, -3)", (2, -3)), _v("(2.5, 3)", (2.5, 3)), _v("'x'", "x"), _v("(0, 3)", (0, 3))],
            "min_singular_value": positives(zero=EITHER)[:8], "max_singular_value": [_v("-1", -1.0), _v("nan", NAN, finite=False)]}),
        ("strategies.weights", lst.weights, dict(widths=(3, 4, 2)), {
            "widths": widths_values()[:10], "min_value": [_v("nan", NAN, finite=False), _v("'x'", "x")],
            "max_value": [_v("-2", -2.0), _v("inf", INF, finite=False)]}),
        ("strategies.balanced_weights", lst.balanced_weights, dict(widths=(3, 4, 2)), {
            # σ_min = 0 is valid: a rank-deficient product has exactly balanced factors too.
            "widths": widths_values()[:10], "min_singular_value": positives(zero=EITHER)[:8]}),
        ("strategies.learning_rates", lst.learning_rates, dict(bound=1.0), {
            "bound": positives()[:9], "min_fraction": positives()[:8], "max_fraction": [_v("2", 2.0, EITHER), _v("-1", -1.0)]}),
        ("strategies.deficiency_margin_weights", lst.deficiency_margin_weights,
         dict(widths=(2, 2, 2), target=np.eye(2), margin=0.1), {
             "margin": positives()[:8], "target": matrices((2, 2))[:9], "max_delta": [_v("-1", -1.0), _v("nan", NAN, finite=False)]}),
        ("strategies.instances", lst.instances, dict(), {
            "widths": [_v("()", ()), _v("(3, 0)", (3, 0)), _v("'x'", "x")], "learning_rate": positives(none=ACCEPT)[:8],
            # target=None is the documented default (a drawn target), not a hostile value.
            "target": [_v("None (default)", None, ACCEPT)] + matrices((2, 3))[1:9],
            "weights": [_v("B.w0 for other widths", B.w0)]}),
    ]
    cases = []
    for fname, factory, valid, attacks in specs:
        for argument, values in attacks.items():
            for label, value, expect, finite, quick in values:
                kwargs = dict(valid, **{argument: value})
                # (instances builds problems per draw: seconds a case, so only in the full run)
                cases.append(Case("api", f"{fname}({argument}={label})", _api_call(lambda f=factory: draw(f), kwargs),
                                  argument, expect, finite, quick and fname != "strategies.instances"))
    for label, value in [("-1", -1), ("0", 0), ("1.5", 1.5), ("'2'", "2"), ("True", True), ("None", None)]:
        cases.append(Case("api", f"symbolic.ScalarNetwork(depth={label})",
                          _api_call(lambda: ScalarNetwork, {"depth": value}), "depth"))
    return cases


def _api_call(get, kwargs):
    def call():
        return get()(**kwargs)

    return call


def _claim_cases() -> list:
    import linflow
    import linflow.claims as lc

    claim = lc.get("descent_lemma")
    cases = []
    for argument, values in {
        "examples": counts(zero=ACCEPT)[:9], "seed": seeds(), "shrink_seconds": positives(zero=ACCEPT)[:8],
        "claim": [_v("'descent_lemma'", "descent_lemma"), _v("None", None)],
    }.items():
        for label, value, expect, finite, quick in values:
            kwargs = dict(claim=claim, examples=0, seed=0)
            kwargs[argument] = value
            cases.append(Case("api", f"check_claim({argument}={label})",
                              _api_call(lambda: linflow.check_claim, kwargs), argument, expect, finite, quick))
    from hypothesis import strategies as st

    just = st.just(1.0)
    for label, kwargs, argument in [
        ("name=3", dict(name=3, source="s", instances=just, measure=abs), "name"),
        ("instances=None", dict(name="c", source="s", instances=None, measure=abs), "instances"),
        ("measure='abs'", dict(name="c", source="s", instances=just, measure="abs"), "measure"),
        ("relation='~'", dict(name="c", source="s", instances=just, measure=abs, bound=1.0, relation="~"), "relation"),
        ("rtol=nan", dict(name="c", source="s", instances=just, measure=abs, bound=1.0, rtol=NAN), "rtol"),
        ("rtol=-1", dict(name="c", source="s", instances=just, measure=abs, bound=1.0, rtol=-1.0), "rtol"),
    ]:
        cases.append(Case("api", f"Claim({label})", _api_call(lambda: linflow.Claim, kwargs), argument))
    tmp = Path(tempfile.mkdtemp(prefix="linflow-fuzz-"))
    (tmp / "garbage.npz").write_bytes(b"PK\x03\x04 not really")
    (tmp / "plain.npz").write_bytes(b"")
    for label, path in [("missing file", tmp / "missing.npz"), ("directory", tmp), ("garbage zip", tmp / "garbage.npz"),
                        ("empty file", tmp / "plain.npz")]:
        cases.append(Case("api", f"claims.load_counterexample(path={label})",
                          _api_call(lambda: lc.load_counterexample, {"path": path}), "path", errors=(ValueError, TypeError, OSError)))
    for label, path in [("missing", tmp / "missing.py"), ("not .py", tmp / "garbage.npz")]:
        cases.append(Case("api", f"claims.load_module(path={label})", _api_call(lambda: lc.load_module, {"path": path}),
                          "module", errors=(ValueError, TypeError, OSError)))
    return cases


# ====================================================================== the CLI cases
def cli_cases() -> list:
    from linflow import figures, tables

    tmp = Path(tempfile.mkdtemp(prefix="linflow-fuzz-cli-"))
    existing = tmp / "file.txt"
    existing.write_text("x")
    (tmp / "syntax.py").write_text("x = (\n")
    (tmp / "raises.py").write_text("raise RuntimeError('boom')\n")
    (tmp / "exits.py").write_text("import sys\nsys.exit(0)\n")
    bad_files = {"missing dir": str(tmp / "no" / "f.png"), "file as parent": str(existing / "f.png"),
                 "directory": str(tmp), "unwritable": "/proc/linflow-fuzz/f.png"}
    bad_dirs = {"existing file": str(existing), "file as parent": str(existing / "d"), "unwritable": "/proc/linflow-fuzz"}
    specs = [
        (["check", "--examples", "-1"], "--examples"), (["check", "--examples", "x"], "--examples"),
        (["check", "--seed", "-1"], "--seed"), (["check", "--seed", "nan"], "--seed"),
        (["check", "--shrink-seconds", "nan"], "--shrink-seconds"), (["check", "--claim", "nope"], "--claim"),
        (["check", "--module", str(tmp / "syntax.py")], "--module"), (["check", "--module", str(tmp / "raises.py")], "--module"),
        (["check", "--module", str(tmp / "exits.py")], "--module"), (["check", "--module", str(tmp / "none.py")], "--module"),
        (["check", "--module", str(existing)], "--module"),
        (["compare", "--learning-rates", "0.1"], "--learning-rates"), (["compare", "--learning-rates", "0.1", "-0.1"], "--learning-rates"),
        (["compare", "--learning-rates", "0.1", "nan"], "--learning-rates"), (["compare", "--seed", "-2"], "--seed"),
        (["compare", "--horizon", "nan"], "--horizon"), (["compare", "--horizon", "-1"], "--horizon"),
        (["bounds", "nope"], "nope"), (["prove", "nope"], "nope"), (["prove", "--directory", str(tmp / "none")], "--directory"),
        (["table", "nope"], "nope"), (["table", "iterations", "--format", "docx"], "--format"),
        (["plot", "nope"], "nope"), (["report", "--out", str(tmp / "r"), "--tables", "nope", "--no-checks"], "nope"),
        (["plot", "gd-gf-distance", "--problem", f"{tmp / 'syntax.py'}:p", "--out", str(tmp / "p.png")], "--problem"),
        (["plot", "gd-gf-distance", "--problem", f"{tmp / 'raises.py'}:p", "--out", str(tmp / "p.png")], "--problem"),
        (["plot", "gd-gf-distance", "--problem", "nocolon.py", "--out", str(tmp / "p.png")], "--problem"),
        (["sweep", str(tmp / "none.toml"), "--out", str(tmp / "s.zarr")], "none.toml"),
        (["sweep", str(tmp / "syntax.py"), "--out", str(tmp / "s.zarr")], "TOML"),
        (["table", "sweep", str(tmp / "none.zarr")], "none.zarr"),
        (["frobnicate"], "frobnicate"), ([], "COMMAND"), (["table"], "NAME"), (["plot"], "NAME"),
    ]
    for value in bad_files.values():
        specs += [(["compare", "--plot", value], "--plot"), (["table", "iterations", "--out", value, "--no-progress"], "--out"),
                  (["plot", "gd-gf-distance", "--out", value], "--out")]
    for value in bad_dirs.values():
        specs += [(["check", "--claim", "descent_lemma", "--save", value], "--save"), (["report", "--out", value, "--quick"], "--out")]
    specs.append((["plot", "gd-gf-distance", "--out", str(tmp / "f.doc")], "--out"))
    # Table and figure options: parse-time refusals, then values only the builders can judge.
    for registry, command in ((tables, "table"), (figures, "plot")):
        for name in registry.names():
            spec = registry.get(name)
            for opt in getattr(spec, "OPTIONS", None) or spec.options:
                extra = ["--no-progress"] if command == "table" else ["--out", str(tmp / f"{name}.png")]
                if opt.type is int:
                    values, quick = (["-1", "x"] if opt.name == "seed" else ["-1", "x", "0"]), ["-1"]
                elif opt.type is float:
                    values, quick = ["nan", "-1", "0", "1e308"], ["nan"]
                else:
                    values, quick = ["nope"], ["nope"]
                for value in values:
                    specs.append(([command, name, f"{opt.flag}={value}", *extra], opt.flag, value in quick, value))
    cases = []
    for spec in specs:
        argv, option = spec[0], spec[1]
        quick = spec[2] if len(spec) > 2 else True
        value = spec[3] if len(spec) > 3 else None
        # Zero and huge values may be valid for some options: refused clearly or run in time.
        # Accepted, they build the whole default table (6–9 s on a loaded 2-core machine),
        # so they get a limit above that.
        expect = EITHER if value in ("0", "1e308") else REJECT
        cases.append(Case("cli", "linflow " + " ".join(argv), _cli_call(argv), option, expect, True, quick,
                          min_seconds=30.0 if expect == EITHER else 0.0))
    return cases


def _cli_call(argv):
    def call():
        from linflow.cli import main

        return main(list(argv))

    return call


# ====================================================================== main
def _limit_memory(gib: float) -> None:
    """Cap the address space: an absurd allocation then fails at once (MemoryError)."""
    limit = int(gib * 2**30)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _warm_up() -> None:
    """Compile the numba engine once, outside every time limit: a cold JIT cache (a fresh
    checkout) costs seconds of compilation that are not a hang."""
    import linflow

    B = _base()
    linflow.simulate_descent(B.problem, B.w0, learning_rate=0.05, n_steps=2, backend="numba")
    linflow.simulate_descent(B.relu_problem, B.w0, learning_rate=0.05, n_steps=2, backend="numba")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a representative subset (CI)")
    parser.add_argument("--only", choices=("api", "cli"), help="one group of cases")
    parser.add_argument("--match", default="", help="only cases whose name contains this text")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per case (default 10, quick 3)")
    parser.add_argument("--memory-gib", type=float, default=8.0, help="address-space cap in GiB (default 8)")
    parser.add_argument("--show", choices=("all", "bad", "poor"), default="all", help="rows to print")
    parser.add_argument("--json", metavar="FILE", help="also write the outcomes as JSON")
    parser.add_argument("--enforce", nargs="*", default=None, metavar="PREFIX",
                        help="exit 1 only for BAD cases whose name starts with one of these (default: all)")
    args = parser.parse_args(argv)
    time_limit = args.time_limit or (3.0 if args.quick else 10.0)
    _limit_memory(args.memory_gib)

    cases = []
    if args.only in (None, "api"):
        cases += api_cases()
    if args.only in (None, "cli"):
        cases += cli_cases()
    cases = [c for c in cases if (c.quick or not args.quick) and args.match in c.name]
    _warm_up()
    start = time.perf_counter()
    outcomes = [run_case(c, time_limit) for c in cases]
    total = time.perf_counter() - start

    shown = [o for o in outcomes if args.show == "all" or o.verdict == args.show.upper()
             or (args.show == "poor" and o.verdict == "BAD")]
    width = min(max((len(o.case.name) for o in shown), default=4), 70)
    print(f"{'verdict':7}  {'group':5}  {'case':{width}}  {'s':>5}  detail")
    for o in shown:
        print(f"{o.verdict:7}  {o.case.group:5}  {o.case.name[:width]:{width}}  {o.seconds:5.2f}  {o.detail[:160]}")
    print()
    for group in ("api", "cli"):
        mine = [o for o in outcomes if o.case.group == group]
        if mine:
            counts_ = {v: sum(o.verdict == v for o in mine) for v in ("GOOD", "POOR", "BAD")}
            print(f"{group}: {len(mine)} cases: {counts_['GOOD']} GOOD, {counts_['POOR']} POOR, {counts_['BAD']} BAD")
    print(f"{len(outcomes)} cases in {total:.1f} s (limit {time_limit:g} s per case, address space {args.memory_gib:g} GiB)")
    if args.json:
        Path(args.json).write_text(json.dumps([
            {"group": o.case.group, "case": o.case.name, "verdict": o.verdict, "detail": o.detail, "seconds": o.seconds}
            for o in outcomes
        ], indent=1))
    enforced = [o for o in outcomes if o.verdict == "BAD"
                and (args.enforce is None or any(o.case.name.startswith(p) for p in args.enforce))]
    return 1 if enforced else 0


if __name__ == "__main__":
    sys.exit(main())
