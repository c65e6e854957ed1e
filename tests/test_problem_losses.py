"""Problems built from every loss object: gradients, HVPs, Hessians, flows, curvature bounds and
the central flow against independent computations; the subclass policy; no type dispatch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from loss_data import LOSS_KINDS, draw_loss

import linflow
from linflow import DeepLinearNetwork, HomogeneousNetwork, Problem
from linflow import losses as ll
from linflow.curvature import lambda_min_lower_bound, smoothness_bound
from linflow.network import flatten, unflatten

# Central differences with h = 1e-6 on O(1) draws: truncation h²|f'''| ≈ 1e-12 and rounding
# ε|f|/h ≈ 1e-10; 1e-6 relative leaves a wide margin while a wrong term gives O(1) errors.
_FD_STEP = 1e-6
_FD_RTOL = 1e-6

LINEAR_KINDS = list(LOSS_KINDS)
OUTPUT_KINDS = ["regression", "logistic", "cross_entropy"]


def make_loss(kind, d0, dn, rng, m=5):
    return draw_loss(kind, rng, d0, dn, m)


def _assert_curvature_bounds_hold_on_ball(problem, w, eps, rng):
    """λ_min ≥ the lower bound and ‖∇²f‖₂ ≤ the smoothness bound at 10 random points of B_ε(w)."""
    net = problem.network
    lower, upper = lambda_min_lower_bound(problem, w, epsilon=eps), smoothness_bound(problem, w, epsilon=eps)
    for _ in range(10):
        d = rng.standard_normal(net.n_params)
        d *= eps * rng.random() / np.linalg.norm(d)
        eig = np.linalg.eigvalsh(problem.hessian(unflatten(flatten(w) + d, net.shapes)))
        # eigvalsh error ≲ P·ε·‖H‖ ≈ 1e-13 here; the bounds are far from tight, so no slack is needed.
        assert eig[0] >= lower
        assert max(abs(eig[0]), abs(eig[-1])) <= upper


def _output_width(kind, dn):
    return 1 if kind == "logistic" else dn


cases = st.tuples(
    st.sampled_from(LINEAR_KINDS),
    st.lists(st.integers(1, 3), min_size=2, max_size=4),
    st.integers(0, 2**32 - 1),
)


def _fd_gradient_check(problem, w, rng):
    v = tuple(rng.standard_normal(x.shape) for x in w)

    def shifted(s):
        return tuple(a + s * b for a, b in zip(w, v))

    fd = (problem.loss(shifted(_FD_STEP)) - problem.loss(shifted(-_FD_STEP))) / (2 * _FD_STEP)
    g = problem.gradient(w)
    analytic = float(flatten(g) @ flatten(v))
    assert abs(fd - analytic) <= _FD_RTOL * (1.0 + abs(problem.loss(w)) + np.abs(flatten(g)) @ np.abs(flatten(v)))
    fd_hvp = (flatten(problem.gradient(shifted(_FD_STEP))) - flatten(problem.gradient(shifted(-_FD_STEP)))) / (
        2 * _FD_STEP
    )
    hvp = flatten(problem.hvp(w, v))
    assert np.max(np.abs(fd_hvp - hvp)) <= _FD_RTOL * (1.0 + np.max(np.abs(hvp)))
    return v


@given(case=cases)
def test_deep_linear_gradient_hvp_and_hessian_for_every_loss(case):
    kind, widths, seed = case
    rng = np.random.default_rng(seed)
    widths = tuple(widths[:-1]) + (_output_width(kind, widths[-1]),)
    net = DeepLinearNetwork(widths)
    problem = Problem(net, make_loss(kind, widths[0], widths[-1], rng))
    w = tuple(rng.standard_normal(s) for s in net.shapes)
    v = _fd_gradient_check(problem, w, rng)
    h = problem.hessian(w)
    # The Hessian's columns are the HVPs, symmetrized; asymmetry is rounding (or the
    # finite-difference HVP of EndToEnd, accurate to ~1e-10).
    np.testing.assert_allclose(h @ flatten(v), flatten(problem.hvp(w, v)), rtol=1e-8, atol=1e-8)
    eig = np.linalg.eigvalsh(h)
    assert problem.sharpness(w) == pytest.approx(eig[-1], rel=1e-12, abs=1e-12)
    assert problem.min_eigenvalue(w) == pytest.approx(eig[0], rel=1e-12, abs=1e-12)
    # Batched loss and gradient equal the one-by-one values.
    batch = tuple(np.stack([x, 0.5 * x]) for x in w)
    assert np.allclose(problem.loss(batch), [problem.loss(w), problem.loss(tuple(0.5 * x for x in w))], rtol=1e-13)


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_homogeneous_networks_take_every_output_loss(kind, activation):
    rng = np.random.default_rng(3)
    net = HomogeneousNetwork((3, 4, 4, _output_width(kind, 3)), activation)
    problem = Problem(net, make_loss(kind, 3, net.widths[-1], rng, m=6))
    assert problem.is_activated and problem.flow_integrator == "pattern"
    assert problem.activation_slope == net.negative_slope
    w = tuple(rng.standard_normal(s) for s in net.shapes)
    assert not problem.on_boundary(w)
    # Inside one activation pattern f is smooth: the differences move θ by h‖v‖ ≈ 1e-6·√P < 1e-4,
    # well inside the certified pattern radius.
    assert problem.pattern_radius(w) > 1e-3
    _fd_gradient_check(problem, w, rng)
    run = linflow.integrate_flow(problem, w, t_span=(0.0, 0.5))
    assert run.losses[-1] <= run.losses[0]
    assert problem.curvature_bounds_apply and problem.lambda_min_bound_applies


def test_activated_networks_refuse_losses_of_the_end_to_end_matrix():
    relu = HomogeneousNetwork((2, 3, 2), "relu")
    with pytest.raises(ValueError, match="needs a loss of the outputs"):
        Problem(relu, ll.MatrixCompletion(np.eye(2, dtype=bool), np.eye(2)))


@pytest.mark.parametrize("kind", LINEAR_KINDS)
def test_gradient_flow_and_descent_decrease_every_loss(kind):
    rng = np.random.default_rng(4)
    widths = (3, 3, _output_width(kind, 2))
    net = DeepLinearNetwork(widths)
    problem = Problem(net, make_loss(kind, 3, widths[-1], rng))
    w0 = tuple(0.5 * rng.standard_normal(s) for s in net.shapes)
    flow = linflow.integrate_flow(problem, w0, t_span=(0.0, 1.0), t_eval=np.linspace(0, 1, 11))
    assert flow.success
    # GF decreases the loss monotonically (up to the integrator's rtol 1e-10 on O(1) losses).
    assert np.all(np.diff(flow.losses) <= 1e-9 * (1 + flow.losses[:-1]))
    run = linflow.simulate_descent(problem, w0, learning_rate=0.01, n_steps=50, backend="numpy")
    assert float(run.final_loss) < problem.loss(w0)
    # GD iterate 50 at η = 0.01 is GF at t = 0.5 up to O(η).
    gd_w = run.final_weights
    gf_w = unflatten(flow.sol(0.5), net.shapes)
    assert np.linalg.norm(flatten(gd_w) - flatten(gf_w)) < 0.05 * (1 + np.linalg.norm(flatten(gf_w)))


def test_completion_problem_equals_sensing_problem():
    rng = np.random.default_rng(5)
    net = DeepLinearNetwork((4, 3, 3))
    completion = make_loss("completion", 4, 3, rng)
    a, b = Problem(net, completion), Problem(net, completion.as_sensing())
    w = tuple(rng.standard_normal(s) for s in net.shapes)
    # Same |Ω| squares summed in a different order: a few ulps.
    assert a.loss(w) == pytest.approx(b.loss(w), rel=1e-13)
    np.testing.assert_allclose(flatten(a.gradient(w)), flatten(b.gradient(w)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.hessian(w), b.hessian(w), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["whitened", "regression", "sensing", "completion", "logistic", "cross_entropy"])
def test_curvature_bounds_hold_for_every_convex_loss(kind):
    rng = np.random.default_rng(6)
    widths = (3, 3, 3, _output_width(kind, 2))
    net = DeepLinearNetwork(widths)
    problem = Problem(net, make_loss(kind, 3, widths[-1], rng))
    assert problem.curvature_bounds_apply and problem.lambda_min_bound_applies
    w = tuple(0.7 * rng.standard_normal(s) for s in net.shapes)
    eps = 0.1
    _assert_curvature_bounds_hold_on_ball(problem, w, eps, rng)


def test_curvature_bounds_are_refused_without_their_hypotheses():
    rng = np.random.default_rng(7)
    problem = Problem(DeepLinearNetwork((2, 2, 2)), make_loss("end_to_end", 2, 2, rng))
    w = tuple(rng.standard_normal(s) for s in problem.network.shapes)
    assert not problem.curvature_bounds_apply
    with pytest.raises(TypeError, match="curvature bound needs"):
        smoothness_bound(problem, w)
    with pytest.raises(TypeError, match="convex loss"):
        lambda_min_lower_bound(problem, w)


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
def test_pattern_curvature_bounds_hold_for_every_output_loss(kind):
    rng = np.random.default_rng(14)
    net = HomogeneousNetwork((3, 4, 4, _output_width(kind, 3)), "leaky_relu", negative_slope=0.1)
    problem = Problem(net, make_loss(kind, 3, net.widths[-1], rng, m=6))
    w = tuple(rng.standard_normal(s) for s in net.shapes)
    eps = 0.5 * problem.pattern_radius(w)
    assert eps > 0 and problem.ball_in_pattern(w, eps)
    _assert_curvature_bounds_hold_on_ball(problem, w, eps, rng)


# ---------------------------------------------------------------------- subclass policy
class _Scaled(Problem):
    """The issue's probe: a subclass that changes the loss of W_e only."""

    def end_to_end_loss(self, end_to_end_matrix):
        return 3.0 * super().end_to_end_loss(end_to_end_matrix)


class _ScaledGradient(Problem):
    def end_to_end_gradient(self, end_to_end_matrix):
        return 3.0 * super().end_to_end_gradient(end_to_end_matrix)


@pytest.mark.parametrize("cls", [_Scaled, _ScaledGradient])
def test_subclass_overriding_the_loss_is_refused_with_the_remedy(cls):
    net = DeepLinearNetwork((2, 2))
    with pytest.raises(TypeError, match=r"overrides .*EndToEnd\(value, gradient, hvp\)"):
        cls(net, target=np.eye(2))


def test_subclass_without_loss_overrides_is_allowed():
    class Named(Problem):
        def describe(self):
            return "mine"

    prob = Named(DeepLinearNetwork((2, 2)), target=np.eye(2))
    assert prob.describe() == "mine" and prob.loss((np.eye(2),)) == 0.0


def test_the_remedy_is_consistent_everywhere():
    """The probe's loss as an EndToEnd: loss, gradient, Hessian and GD all follow it."""
    rng = np.random.default_rng(8)
    target = rng.standard_normal((2, 2))
    loss = ll.EndToEnd(
        lambda e: 1.5 * float(np.sum((e - target) ** 2)), lambda e: 3.0 * (e - target),
        lambda e, v: 3.0 * v, name="three halves", convex=True, constant_hessian=True, curvature_bound=3.0,
    )
    net = DeepLinearNetwork((2, 2, 2))
    mine, base = Problem(net, loss), Problem(net, target=target)
    w = tuple(rng.standard_normal(s) for s in net.shapes)
    assert mine.loss(w) == pytest.approx(3.0 * base.loss(w), rel=1e-13)
    np.testing.assert_allclose(flatten(mine.gradient(w)), 3.0 * flatten(base.gradient(w)), rtol=1e-13)
    np.testing.assert_allclose(mine.hessian(w), 3.0 * base.hessian(w), rtol=1e-12, atol=1e-13)
    gd_mine = linflow.simulate_descent(mine, w, learning_rate=0.01, n_steps=20, backend="numpy")
    gd_base = linflow.simulate_descent(base, w, learning_rate=0.03, n_steps=20, backend="numpy")
    np.testing.assert_allclose(gd_mine.final_loss, 3.0 * gd_base.final_loss, rtol=1e-11)
    assert smoothness_bound(mine, w) == pytest.approx(3.0 * smoothness_bound(base, w), rel=1e-12)


# ---------------------------------------------------------------------- problem answers
def test_problems_answer_their_own_questions():
    rng = np.random.default_rng(9)
    linear = Problem(DeepLinearNetwork((2, 2)), target=np.eye(2))
    assert (linear.activation_slope, linear.is_activated, linear.has_end_to_end, linear.flow_integrator) == (
        1.0, False, True, "smooth")
    leaky = Problem(HomogeneousNetwork((2, 3, 1), "leaky_relu", negative_slope=0.2), X=rng.standard_normal((2, 4)),
                    Y=rng.standard_normal((1, 4)))
    assert (leaky.activation_slope, leaky.is_activated, leaky.has_end_to_end) == (0.2, True, False)
    assert isinstance(linear.loss_function, ll.Whitened) and linear.is_whitened and linear.hvp_is_exact
    assert not Problem(DeepLinearNetwork((2, 2)), make_loss("end_to_end", 2, 2, rng)).hvp_is_exact
    assert isinstance(leaky.loss_function, ll.Regression) and leaky.n_samples == 4
    completion = Problem(DeepLinearNetwork((2, 2)), ll.MatrixCompletion(np.eye(2, dtype=bool), np.eye(2)))
    assert completion.target is None and completion.X is None and not completion.is_whitened
    with pytest.raises(TypeError, match="input_covariance is defined for the whitened and regression"):
        _ = completion.input_covariance


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"loss": np.eye(2)}, TypeError, "loss must be a linflow.losses.Loss"),
        ({"loss": ll.Whitened(np.eye(2)), "target": np.eye(2)}, ValueError, "either a loss object or the shorthands"),
        ({"loss": ll.Whitened(np.eye(3))}, ValueError, "target fixes the input width to 3"),
        ({"loss": ll.CrossEntropy(np.ones((2, 3)), [0, 1, 2])}, ValueError, r"labels must lie in \[0, d_N\)"),
    ],
)
def test_problem_refuses_losses_that_do_not_fit(kwargs, error, words):
    with pytest.raises(error, match=words):
        Problem(DeepLinearNetwork((2, 2)), **kwargs)


# ---------------------------------------------------------------------- third derivatives
@pytest.mark.parametrize("kind", ["sensing", "completion", "logistic", "cross_entropy"])
def test_third_derivative_matches_differences_of_hvps(kind):
    from linflow._third_derivative import third_derivative_contraction

    rng = np.random.default_rng(10)
    widths = (3, 2, _output_width(kind, 3))
    net = DeepLinearNetwork(widths)
    problem = Problem(net, make_loss(kind, 3, widths[-1], rng))
    w = tuple(rng.standard_normal(s) for s in net.shapes)
    u, v, z = (rng.standard_normal(net.n_params) for _ in range(3))
    analytic = third_derivative_contraction(problem, w, u, v) @ z

    def uhv(shift):
        return u @ problem.hvp(unflatten(flatten(w) + shift * z, net.shapes), v)

    h = 1e-5
    fd = (uhv(h) - uhv(-h)) / (2 * h)
    # Central differences of exact HVPs: truncation h²|D⁴f| ≈ 1e-10 (the cross-entropy third
    # derivative itself is a difference with error ~1e-10); 1e-6 relative keeps the margin.
    assert abs(fd - analytic) <= 1e-6 * (1.0 + abs(analytic))


def test_central_flow_runs_for_matrix_completion():
    rng = np.random.default_rng(11)
    net = DeepLinearNetwork((3, 3, 3))
    loss = make_loss("completion", 3, 3, rng)
    problem = Problem(net, loss)
    w0 = tuple(0.3 * rng.standard_normal(s) for s in net.shapes)
    sharp = problem.sharpness(w0)
    # A step size near the edge 2/S, so that the central flow has to project.
    res = linflow.integrate_central_flow(problem, w0, learning_rate=1.5 / max(sharp, 1e-3), n_steps=40)
    assert res.status.name == "SUCCESS", res.message
    assert res.n_critical.max() >= 1  # the flow reached the edge and projected
    assert np.all(np.isfinite(res.losses))
    assert res.losses[-1] < res.losses[0]


# ---------------------------------------------------------------------- package layout
def test_no_import_cycles_in_the_package():
    import ast
    import pathlib

    root = pathlib.Path(linflow.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                # A package's own __init__ re-exports are not dependencies of its submodules.
                if t in modules and t != name and not (t == "linflow" or name.startswith(t + ".")):
                    graph[name].add(t)
    # Depth-first search for a cycle.
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " → ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_module_branches_on_a_concrete_problem_class():
    import pathlib

    root = pathlib.Path(linflow.__file__).parent
    offenders = [
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if "isinstance(problem, HomogeneousProblem)" in p.read_text() or "import HomogeneousProblem" in p.read_text()
    ]
    assert offenders == []


def test_central_flow_runs_for_the_logistic_loss():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((3, 12))
    labels = np.sign(rng.standard_normal(3) @ X)
    problem = Problem(DeepLinearNetwork((3, 3, 1)), ll.Logistic(X, labels))
    w0 = tuple(0.5 * rng.standard_normal(s) for s in problem.network.shapes)
    # Starting just below the edge: the top eigenvalue is critical at once, so the projection
    # (and the logistic third derivative in it) is exercised before the sharpness decays.
    eta = 1.99 / problem.sharpness(w0)
    res = linflow.integrate_central_flow(problem, w0, learning_rate=eta, n_steps=30)
    assert res.status.name == "SUCCESS", res.message
    assert res.n_critical.max() >= 1
    assert res.losses[-1] < res.losses[0]
    # The central flow holds ηS ≤ 2 (up to its edge tolerance).
    assert np.all(eta * res.sharpness[:, 0] <= 2.0 + 1e-6)


def test_central_flow_refuses_activated_networks():
    rng = np.random.default_rng(13)
    problem = Problem(
        HomogeneousNetwork((2, 3, 1), "relu"), X=rng.standard_normal((2, 4)), Y=rng.standard_normal((1, 4))
    )
    w0 = tuple(rng.standard_normal(s) for s in problem.network.shapes)
    with pytest.raises(TypeError, match="need a deep linear network"):
        linflow.integrate_central_flow(problem, w0, learning_rate=0.1, n_steps=2)
