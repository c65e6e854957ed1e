"""Optimizers as small frozen objects, in the style of optax: ``init`` / ``update``.

Every optimizer acts on *batched* parameters: a tuple of layer arrays ``(…, d_{j+1}, d_j)``
whose leading axes (if any) are trajectories. Unlike optax, the learning rate is not part of
the optimizer (:func:`linflow.simulate_descent` takes one η per trajectory): ``update``
returns the *direction* ``u_k``, and every optimizer steps ``θ_{k+1} = θ_k − η u_k``.

With ``g_k = ∇f(θ_k)``, k = 0, 1, …:

* :class:`GD`: ``u_k = g_k``.
* :class:`Momentum` (heavy ball, PyTorch's ``SGD(momentum=β, dampening=0)``):
  ``v_{k+1} = β v_k + g_k`` with ``v_0 = 0``; ``u_k = v_{k+1}``, or with ``nesterov=True``
  ``u_k = g_k + β v_{k+1}`` (PyTorch's Nesterov form; Sutskever et al. 2013, ICML).
* :class:`ScalarRMSProp` / :class:`RMSProp` (Tieleman & Hinton 2012; the scalar variant is the
  one analysed by Cohen et al. 2025, ICLR, §5): with ``s(g) = ‖g‖²`` summed over every layer
  (scalar) or ``g ⊙ g`` per coordinate,
  ``ν_{k+1} = β₂ ν_k + (1 − β₂) s(g_k)``, ``u_k = g_k / (√ν_{k+1} + ε)``.
  Initialization ``ν_0 = s(g_0)`` by default (``nu_init="first_gradient"``, linflow's convention,
  also used by the central flow): then ``ν_1 = ν_0`` and the first step is a normalized
  gradient step, with no warm-up transient. PyTorch's ``torch.optim.RMSprop`` starts from
  ``ν_0 = 0`` (``nu_init="zero"``), so its first step is ``g_0/(√(1−β₂)|g_0| + ε)``, a factor
  ``1/√(1−β₂)`` (10 for β₂ = 0.99) larger than linflow's default.
* :class:`Adam` (Kingma & Ba 2015, ICLR, Algorithm 1; PyTorch's ``torch.optim.Adam``):
  ``m_{k+1} = β₁ m_k + (1 − β₁) g_k``, ``v_{k+1} = β₂ v_k + (1 − β₂) g_k ⊙ g_k``, ``m_0 = v_0 = 0``,
  ``u_k = m̂ / (√v̂ + ε)`` with ``m̂ = m_{k+1}/(1 − β₁^{k+1})``, ``v̂ = v_{k+1}/(1 − β₂^{k+1})``.

A coordinate whose denominator ``√ν + ε`` is 0 has ``g = 0`` there (``ν_{k+1} ≥ (1−β₂)s(g_k)``
once initialized; Adam likewise ``m = 0`` where ``v = 0``), and its direction is defined as 0.

:class:`GD`, :class:`ScalarRMSProp` and :class:`RMSProp` have central flows
(:func:`linflow.integrate_central_flow`, Cohen et al. 2025); the flow limit of the adaptive
ones is ``dν/dt = ((1−β₂)/β₂)(s(∇f) − ν)``: the factor ``1/β₂`` appears because the step uses
the *updated* ``ν_{k+1}``, and ``ν_{k+1} − ν_k = ((1−β₂)/β₂)(s(g_k) − ν_{k+1})`` exactly.

Examples
--------
>>> import numpy as np
>>> from linflow.optimizers import Momentum
>>> opt = Momentum(0.9)
>>> params = (np.array([[1.0]]),)
>>> state = opt.init(params)
>>> u, state = opt.update((np.array([[2.0]]),), state)
>>> u, state = opt.update((np.array([[2.0]]),), state)
>>> float(u[0][0, 0])      # v_2 = 0.9·2 + 2
3.8
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Optional

import numpy as np

from ._validation import check_open_unit

__all__ = ["Optimizer", "GD", "Momentum", "ScalarRMSProp", "RMSProp", "Adam", "as_optimizer"]


def _check_beta(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1); got {name}={value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must lie in [0, 1); got {name}={value!r}")
    return float(value)


def _check_open_beta(value, name: str) -> float:
    if value is None:
        raise ValueError(f"{name} in (0, 1) is required; got {name}=None")
    return check_open_unit(value, name)


def _check_eps(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"eps must be a real number; got eps={value!r}")
    if not math.isfinite(float(value)) or float(value) < 0:
        raise ValueError(f"eps must be finite and ≥ 0; got eps={value!r}")
    return float(value)


def _divide(num: np.ndarray, denom: np.ndarray) -> np.ndarray:
    """``num / denom`` where ``denom > 0``, else 0 (see the module docstring)."""
    out = np.zeros(np.broadcast_shapes(num.shape, denom.shape))
    np.divide(num, denom, out=out, where=denom > 0)
    return out


def _zeros_like(params) -> tuple:
    return tuple(np.zeros(np.shape(p)) for p in params)


class EmptyState(NamedTuple):
    """State of :class:`GD`: none."""


class MomentumState(NamedTuple):
    velocity: tuple  # v_k per layer


class SecondMomentState(NamedTuple):
    count: int  # type: ignore[assignment]  # steps taken (shadows tuple.count, never called here)
    nu: object  # ν_k: per-trajectory array (scalar) or per-layer arrays (diagonal)


class AdamState(NamedTuple):
    count: int  # type: ignore[assignment]  # steps taken (shadows tuple.count, never called here)
    mu: tuple  # m_k per layer
    nu: tuple  # v_k per layer


@dataclass(frozen=True)
class Optimizer:
    """Base class: an update rule ``θ_{k+1} = θ_k − η u_k`` with state (module docstring).

    Class attributes answer the questions of the engines and the central flow:
    ``has_central_flow``; ``adaptive`` (a preconditioner
    ``η/(√ν + ε)`` from a second moment ν); ``scalar_second_moment`` (ν is one number per
    trajectory). ``engine_code`` numbers the
    update rule for the compiled engines, ``engine_hyperparameters`` gives its numbers and
    ``engine_state`` the layout of its state there: ``(name, per_parameter)`` pairs, each one
    entry per parameter (as the weights) or one per trajectory, in this order.
    """

    has_central_flow: ClassVar[bool] = False
    adaptive: ClassVar[bool] = False
    scalar_second_moment: ClassVar[bool] = False
    engine_code: ClassVar[int] = -1
    engine_state: ClassVar[tuple] = ()

    def init(self, params: tuple):
        """The state before the first step, for ``params`` (shapes only are used)."""
        raise NotImplementedError

    def update(self, grads: tuple, state) -> tuple:
        """``(u_k, new_state)`` from the gradients ``g_k`` (tuple like the parameters)."""
        raise NotImplementedError

    def step(self, params: tuple, grads: tuple, state, learning_rate) -> tuple:
        """``(θ − η u, new_state)``; ``learning_rate`` broadcasts over the leading axes."""
        direction, state = self.update(grads, state)
        lr = np.asarray(learning_rate, dtype=np.float64)
        out = []
        for p, u in zip(params, direction):
            rate = lr.reshape(lr.shape + (1,) * (np.ndim(p) - lr.ndim))
            out.append(p - rate * u)
        return tuple(out), state

    def engine_hyperparameters(self) -> np.ndarray:
        """``[β₁, β₂, ε, flag]`` for the compiled engines (flag: Nesterov, or ``ν_0 = s(g_0)``)."""
        return np.zeros(4)

    def state_arrays(self, state) -> dict:
        """The state's arrays by name, for ``DescentResult.extra``."""
        return {}


@dataclass(frozen=True)
class GD(Optimizer):
    """Gradient descent ``θ_{k+1} = θ_k − η∇f(θ_k)``."""

    has_central_flow: ClassVar[bool] = True
    engine_code: ClassVar[int] = 0

    def init(self, params: tuple):
        return EmptyState()

    def update(self, grads: tuple, state) -> tuple:
        return tuple(grads), state


@dataclass(frozen=True)
class Momentum(Optimizer):
    """Heavy-ball momentum, PyTorch's convention: ``v_{k+1} = βv_k + g_k``, ``v_0 = 0``,
    ``θ_{k+1} = θ_k − η v_{k+1}`` (Polyak 1964); ``nesterov=True``:
    ``θ_{k+1} = θ_k − η(g_k + βv_{k+1})`` (Sutskever et al. 2013, ICML, in PyTorch's form).

    Parameters
    ----------
    beta : float in [0, 1)
    nesterov : bool
    """

    beta: float
    nesterov: bool = False
    engine_code: ClassVar[int] = 1
    engine_state: ClassVar[tuple] = (("velocity", True),)

    def __post_init__(self):
        object.__setattr__(self, "beta", _check_beta(self.beta, "beta"))
        if not isinstance(self.nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool; got nesterov={self.nesterov!r}")
        object.__setattr__(self, "nesterov", bool(self.nesterov))

    def init(self, params: tuple):
        return MomentumState(_zeros_like(params))

    def update(self, grads: tuple, state) -> tuple:
        velocity = tuple(self.beta * v + g for v, g in zip(state.velocity, grads))
        if self.nesterov:
            return tuple(g + self.beta * v for g, v in zip(grads, velocity)), MomentumState(velocity)
        return velocity, MomentumState(velocity)

    def engine_hyperparameters(self) -> np.ndarray:
        return np.array([self.beta, 0.0, 0.0, float(self.nesterov)])

    def state_arrays(self, state) -> dict:
        return {"velocity": state.velocity}


_NU_INIT = ("first_gradient", "zero")


@dataclass(frozen=True)
class _SecondMoment(Optimizer):
    beta2: float
    eps: float = 0.0
    nu_init: str = "first_gradient"
    has_central_flow: ClassVar[bool] = True
    adaptive: ClassVar[bool] = True

    def __post_init__(self):
        object.__setattr__(self, "beta2", _check_open_beta(self.beta2, "beta2"))
        object.__setattr__(self, "eps", _check_eps(self.eps))
        if not isinstance(self.nu_init, str) or self.nu_init not in _NU_INIT:
            raise ValueError(f"nu_init must be one of {_NU_INIT}; got nu_init={self.nu_init!r}")

    def squared_gradient(self, grads: tuple):
        """``s(g)``: ``‖g‖²`` per trajectory (scalar) or ``g ⊙ g`` per layer."""
        if self.scalar_second_moment:
            return sum(np.sum(g * g, axis=(-2, -1)) for g in grads)
        return tuple(g * g for g in grads)

    def flat_squared_gradient(self, g: np.ndarray):
        """``s(g)`` of one flat gradient vector (the central flow's parameters)."""
        return float(g @ g) if self.scalar_second_moment else g * g

    def flat_initial_second_moment(self, g: np.ndarray):
        """``ν_0`` from one flat first gradient ``g_0``: ``s(g_0)``, or 0 (``nu_init="zero"``)."""
        s = self.flat_squared_gradient(g)
        return s if self.nu_init == "first_gradient" else 0.0 * s

    def init(self, params: tuple):
        if self.scalar_second_moment:
            lead = np.shape(params[0])[:-2]
            return SecondMomentState(0, np.zeros(lead))
        return SecondMomentState(0, _zeros_like(params))

    def update(self, grads: tuple, state) -> tuple:
        s = self.squared_gradient(grads)
        nu = s if (state.count == 0 and self.nu_init == "first_gradient") else state.nu
        b = self.beta2
        if self.scalar_second_moment:
            nu = b * nu + (1.0 - b) * s
            denom = (np.sqrt(nu) + self.eps)[..., None, None]
            direction = tuple(_divide(g, denom) for g in grads)
        else:
            nu = tuple(b * n + (1.0 - b) * si for n, si in zip(nu, s))
            direction = tuple(_divide(g, np.sqrt(n) + self.eps) for g, n in zip(grads, nu))
        return direction, SecondMomentState(state.count + 1, nu)

    def engine_hyperparameters(self) -> np.ndarray:
        return np.array([0.0, self.beta2, self.eps, float(self.nu_init == "first_gradient")])

    def state_arrays(self, state) -> dict:
        return {"nu": state.nu}


@dataclass(frozen=True)
class ScalarRMSProp(_SecondMoment):
    """RMSProp with one second moment per trajectory: ``ν ← β₂ν + (1−β₂)‖g‖²``,
    ``θ ← θ − ηg/(√ν + ε)`` (Cohen et al. 2025, ICLR, §5).

    Parameters
    ----------
    beta2 : float in (0, 1)
    eps : float ≥ 0
    nu_init : {"first_gradient", "zero"}
        ``ν_0 = ‖g_0‖²`` (default) or ``ν_0 = 0`` (PyTorch's convention); module docstring.
    """

    scalar_second_moment: ClassVar[bool] = True
    engine_code: ClassVar[int] = 2
    engine_state: ClassVar[tuple] = (("nu", False),)


@dataclass(frozen=True)
class RMSProp(_SecondMoment):
    """RMSProp with a per-coordinate second moment: ``ν ← β₂ν + (1−β₂)g⊙g``,
    ``θ ← θ − ηg/(√ν + ε)`` (Tieleman & Hinton 2012; Cohen et al. 2025, ICLR, §5).

    Parameters
    ----------
    beta2 : float in (0, 1)
    eps : float ≥ 0
    nu_init : {"first_gradient", "zero"}
        ``ν_0 = g_0 ⊙ g_0`` (default) or ``ν_0 = 0`` (PyTorch's ``RMSprop``); module docstring.
    """

    engine_code: ClassVar[int] = 3
    engine_state: ClassVar[tuple] = (("nu", True),)


@dataclass(frozen=True)
class Adam(Optimizer):
    """Adam with bias correction, PyTorch's convention (Kingma & Ba 2015, ICLR, Algorithm 1):
    ``θ_{k+1} = θ_k − η m̂/(√v̂ + ε)`` (module docstring).

    Parameters
    ----------
    beta1 : float in [0, 1)
    beta2 : float in (0, 1)
    eps : float ≥ 0 (default 1e-8, PyTorch's)
    """

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    adaptive: ClassVar[bool] = True
    engine_code: ClassVar[int] = 4
    engine_state: ClassVar[tuple] = (("mu", True), ("nu", True))

    def __post_init__(self):
        object.__setattr__(self, "beta1", _check_beta(self.beta1, "beta1"))
        object.__setattr__(self, "beta2", _check_open_beta(self.beta2, "beta2"))
        object.__setattr__(self, "eps", _check_eps(self.eps))

    def init(self, params: tuple):
        return AdamState(0, _zeros_like(params), _zeros_like(params))

    def update(self, grads: tuple, state) -> tuple:
        b1, b2 = self.beta1, self.beta2
        mu = tuple(b1 * m + (1.0 - b1) * g for m, g in zip(state.mu, grads))
        nu = tuple(b2 * v + (1.0 - b2) * (g * g) for v, g in zip(state.nu, grads))
        k = state.count + 1
        c1, c2 = 1.0 - b1**k, 1.0 - b2**k
        direction = tuple(_divide(m / c1, np.sqrt(v) / np.sqrt(c2) + self.eps) for m, v in zip(mu, nu))
        return direction, AdamState(k, mu, nu)

    def engine_hyperparameters(self) -> np.ndarray:
        return np.array([self.beta1, self.beta2, self.eps, 0.0])

    def state_arrays(self, state) -> dict:
        return {"mu": state.mu, "nu": state.nu}


_SHORTHANDS = {"gd": GD, "scalar_rmsprop": ScalarRMSProp, "rmsprop": RMSProp}


def as_optimizer(optimizer, beta2: Optional[float] = None, eps: Optional[float] = None) -> Optimizer:
    """An :class:`Optimizer` from an object or a shorthand string.

    Strings: ``"gd"``, ``"scalar_rmsprop"``, ``"rmsprop"`` (with ``beta2`` and ``eps``, default
    0). With an object, ``beta2`` and ``eps`` must be left unset (they are its own).

    Raises
    ------
    ValueError, TypeError
        Unknown name; ``beta2``/``eps`` where they do not apply; invalid hyper-parameters.
    """
    if isinstance(optimizer, Optimizer):
        if beta2 is not None or eps is not None:
            raise ValueError(
                f"beta2/eps belong to the optimizer object; got beta2={beta2!r}, eps={eps!r} with "
                f"optimizer={optimizer!r}"
            )
        return optimizer
    if not isinstance(optimizer, str) or optimizer not in _SHORTHANDS:
        raise ValueError(
            f"optimizer must be a linflow.optimizers.Optimizer or one of {tuple(_SHORTHANDS)}; "
            f"got optimizer={optimizer!r}"
        )
    cls = _SHORTHANDS[optimizer]
    eps = 0.0 if eps is None else _check_eps(eps)
    if cls is GD:
        if beta2 is not None:
            raise ValueError(f"beta2 is only used by RMSProp; got beta2={beta2!r} with optimizer='gd'")
        if eps != 0.0:
            raise ValueError(f"eps is only used by RMSProp; got eps={eps!r} with optimizer='gd'")
        return GD()
    if beta2 is None:
        raise ValueError(f"beta2 in (0, 1) is required for optimizer={optimizer!r}; got beta2=None")
    return cls(beta2=beta2, eps=eps)
