"""Claims: a theorem about GD/GF as hypotheses + a measurement + a bound + a relation.

A :class:`Claim` is checked on *instances* (plain data, usually a
:class:`linflow.strategies.Instance`): its canonical instances first, then instances drawn from
its Hypothesis strategy. Each instance gets an :class:`InstanceResult` (holds / violated /
hypotheses not met, the measured value, the bound and the tightness ratio);
:func:`check_claim` aggregates them into a :class:`ClaimReport` and, when the claim is violated,
lets Hypothesis shrink the instance to a minimal, reproducible :class:`Counterexample`.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np

from . import _serialize
from ._relations import ClaimError, is_truth_value, judge, normalize_relation

__all__ = [
    "Claim",
    "Measurement",
    "HypothesisCheck",
    "InstanceResult",
    "Counterexample",
    "ClaimReport",
    "check_claim",
    "claim",
    "ClaimError",
    "VERDICTS",
    "TAGS",
]

VERDICTS = ("holds", "violated", "hypotheses_not_met")
#: Tags: "checked", "paper", "recalled" (how well the statement is known), "extrapolated" (a
#: checked statement taken beyond its theorem's hypotheses, e.g. at larger step sizes), "user"
#: for claims that carry none.
TAGS = ("checked", "paper", "recalled", "extrapolated", "user")

#: Default relative slack of ≤/≥/== comparisons: float64 round-off of the measured quantities
#: (a few hundred ulps), not a modelling tolerance. Claims whose measurement has a larger
#: numerical error (ODE integration) set their own, justified, rtol/atol.
DEFAULT_RTOL = 1e-12


@dataclass(frozen=True)
class Measurement:
    """What ``measure(instance)`` may return instead of a bare number.

    Attributes
    ----------
    value : float, array, sequence or bool
        The measured quantity (a sequence for ``"non-increasing"``/``"converges"``, an array for
        entrywise ``"=="``, a bool for ``"property"``).
    bound : optional
        The bound for *this* instance when it comes out of the same computation (overrides the
        claim's ``bound``).
    hypotheses : mapping of str to float or bool
        Hypotheses that can only be evaluated during the measurement (e.g. "GD converged"): a
        float margin (met when ≥ 0) or a bool.
    info : mapping
        Extra figures reported with the instance (and available to the claim's ``summarize``).
    """

    value: Any
    bound: Any = None
    hypotheses: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HypothesisCheck:
    """One evaluated hypothesis: its name, its margin (None for a bool predicate), whether met."""

    name: str
    margin: Optional[float]
    met: bool


@dataclass(frozen=True)
class InstanceResult:
    """Verdict of a claim on one instance.

    ``value``/``bound`` are the scalars compared (for entrywise ``"=="`` on arrays, ``value`` is
    the largest deviation and ``bound`` is None); ``ratio`` is the tightness (≤ 1 holds), see
    :mod:`linflow.claims._relations`.
    """

    verdict: str
    value: Optional[float]
    bound: Optional[float]
    ratio: Optional[float]
    hypotheses: tuple
    info: Mapping[str, Any]
    seconds: float

    @property
    def hypotheses_met(self) -> bool:
        return all(h.met for h in self.hypotheses)

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "value": _json_number(self.value),
            "bound": _json_number(self.bound),
            "ratio": _json_number(self.ratio),
            "hypotheses": [
                {"name": h.name, "margin": _json_number(h.margin), "met": h.met} for h in self.hypotheses
            ],
            "info": {k: _json_value(v) for k, v in self.info.items()},
            "seconds": self.seconds,
        }


def _json_number(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else repr(x)


def _json_value(v):
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return _json_number(v)
    if isinstance(v, np.ndarray):
        return [_json_value(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    return repr(v)


def _normalize_hypotheses(hypotheses) -> tuple:
    out = []
    for i, h in enumerate(hypotheses):
        if isinstance(h, tuple) and len(h) == 2 and isinstance(h[0], str) and callable(h[1]):
            out.append((h[0], h[1]))
        elif callable(h):
            out.append((getattr(h, "__name__", f"hypothesis {i}"), h))
        else:
            raise TypeError(
                "hypotheses must be callables or (name, callable) pairs returning a margin "
                f"(float, met when ≥ 0) or a bool; got hypotheses[{i}]={h!r}"
            )
    return tuple(out)


def _evaluate_hypothesis(name: str, value) -> HypothesisCheck:
    if is_truth_value(value):
        return HypothesisCheck(name, None, bool(value))
    if value is None or isinstance(value, (str, bytes, complex, np.complexfloating)):
        raise ClaimError(f"hypothesis {name!r} must return a margin (float, met when ≥ 0) or a bool; got {value!r}")
    try:
        margin = float(np.asarray(value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise ClaimError(
            f"hypothesis {name!r} must return a margin (float, met when ≥ 0) or a bool; got {value!r}"
        ) from None
    if math.isnan(margin):
        raise ClaimError(f"hypothesis {name!r} returned a NaN margin: neither met nor failed")
    return HypothesisCheck(name, margin, bool(margin >= 0.0))


def _describe(instance, limit: int = 400) -> str:
    """The instance as Python source, cut to ``limit`` characters (for error messages)."""
    try:
        text = _serialize.to_source(instance)
    except Exception:  # an exotic instance must not hide the error being reported
        text = repr(instance)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _constant_bound(bound):
    """A bound given as a value: a real number (float) or an array of reals, never NaN."""
    array = isinstance(bound, np.ndarray)
    if array and bound.dtype.kind in "iuf":
        values = np.asarray(bound, dtype=np.float64)
    elif not array and not isinstance(bound, (bool, np.bool_)) and isinstance(bound, numbers.Real):
        values = np.float64(bound)
    else:
        raise TypeError(
            f"bound must be callable as bound(instance), a real number or an array of reals; got bound={bound!r}"
        )
    if np.any(np.isnan(values)):
        raise ValueError(f"bound must not be NaN; got bound={bound!r}")
    return values.copy() if array else float(values)


_TAG_PATTERN = re.compile(r"\[(checked|paper|recalled)\]")


class Claim:
    """A checkable statement about deep linear networks.

    Parameters
    ----------
    name : str
        Identifier (used by ``linflow check --claim NAME``).
    source : str
        Paper, theorem and status tag (theory/index), e.g. ``"Kreisler et al. 2023, Thm 1 [paper]"``; the tag
        in brackets (checked / paper / recalled) becomes :attr:`tag`.
    instances : hypothesis strategy
        Instances built to satisfy the hypotheses (see :mod:`linflow.strategies`).
    measure : callable
        ``measure(instance)`` → a number, array, sequence or bool, or a :class:`Measurement`.
    bound : callable, float or array, optional
        ``bound(instance)`` → the bound (not needed for ``"property"``; a Measurement's own bound
        wins). A measurement that returns a bool while there is no bound is a plain property,
        whatever ``relation`` says.
    relation : str
        ``"<="``, ``">="``, ``"=="``, ``"non-increasing"``, ``"converges"`` or ``"property"``
        (also ≤, ≥, =, "monotone", "bool").
    hypotheses : sequence
        Callables ``h(instance)`` (or ``(name, h)`` pairs) returning a margin (met when ≥ 0)
        or a bool. Instances failing one are reported as "hypotheses_not_met" and never count
        as violations. A NaN margin is an error (:class:`ClaimError`), not a failed hypothesis.
    canonical : sequence
        Explicit instances checked before the random search.
    rtol, atol : float
        Slack of the comparison (see :mod:`linflow.claims._relations`); the default is float64
        round-off only.
    tag : str, optional
        Overrides the tag parsed from ``source``; one of :data:`TAGS` (``"extrapolated"``: a
        statement checked beyond its theorem's hypotheses, e.g. at larger step sizes).
    description : str
        One sentence stating the claim.
    summarize : callable, optional
        ``summarize(results)`` → a one-line note for the report (e.g. "GD needed 40× fewer
        iterations than the bound").

    Examples
    --------
    A false conjecture ("every product of two weights in [−1, 1] is ≤ 1/2"):

    >>> import linflow
    >>> from hypothesis import strategies as st
    >>> conjecture = linflow.Claim(
    ...     "small products", source="made up",
    ...     instances=st.tuples(st.floats(-1, 1), st.floats(-1, 1)),
    ...     measure=lambda ab: ab[0] * ab[1], bound=0.5, relation="<=",
    ... )
    >>> report = linflow.check_claim(conjecture, examples=50)
    >>> report.verdict
    'violated'
    >>> a, b = report.counterexample.instance
    >>> a * b > 0.5
    True
    """

    def __init__(
        self,
        name: str,
        *,
        source: str,
        instances,
        measure: Callable,
        bound=None,
        relation: str = "<=",
        hypotheses=(),
        canonical=(),
        rtol: float = DEFAULT_RTOL,
        atol: float = 0.0,
        tag: Optional[str] = None,
        description: str = "",
        summarize: Optional[Callable] = None,
    ):
        from hypothesis.strategies import SearchStrategy

        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty string; got name={name!r}")
        if not isinstance(source, str):
            raise TypeError(f"source must be a string (paper, theorem, tag); got source={source!r}")
        if not isinstance(instances, SearchStrategy):
            raise TypeError(
                f"instances must be a Hypothesis strategy (see linflow.strategies); got instances={instances!r}"
            )
        if not callable(measure):
            raise TypeError(f"measure must be callable as measure(instance); got measure={measure!r}")
        if bound is not None and not callable(bound):
            bound = _constant_bound(bound)
        relation = normalize_relation(relation)
        for label, value in (("rtol", rtol), ("atol", atol)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{label} must be a finite number ≥ 0; got {label}={value!r}")
        if tag is None:
            found = _TAG_PATTERN.search(source)
            tag = found.group(1) if found else "user"
        if tag not in TAGS:
            raise ValueError(f"tag must be one of {TAGS}; got tag={tag!r}")
        self.name = name
        self.source = source
        self.instances = instances
        self.measure = measure
        self.bound = bound
        self.relation = relation
        self.hypotheses = _normalize_hypotheses(hypotheses)
        self.canonical = tuple(canonical)
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.tag = tag
        self.description = description
        self.summarize = summarize
        #: Path of the user module the claim was loaded from (set by ``load_module``).
        self.module_path: Optional[str] = None

    def __repr__(self) -> str:
        return f"Claim({self.name!r}, source={self.source!r}, relation={self.relation!r})"

    # ------------------------------------------------------------------ one instance
    def evaluate(self, instance) -> InstanceResult:
        """Check the claim on one instance (hypotheses, measurement, bound, relation).

        A measurement that returns a bool while the claim has no bound (neither ``bound`` nor a
        :class:`Measurement` bound) is judged as a plain property, whatever ``relation`` says.

        Raises
        ------
        ClaimError
            If the measurement or the bound is no answer (None, NaN, not a number), a needed
            bound is missing, or a hypothesis returns NaN: an error of the claim, never a verdict.
        """
        start = time.perf_counter()
        try:
            checks = [_evaluate_hypothesis(name, h(instance)) for name, h in self.hypotheses]
            if not all(c.met for c in checks):
                return InstanceResult(
                    "hypotheses_not_met", None, None, None, tuple(checks), {}, time.perf_counter() - start
                )
            measured = self.measure(instance)
            info: Mapping[str, Any] = {}
            bound = None
            if isinstance(measured, Measurement):
                checks += [_evaluate_hypothesis(k, v) for k, v in measured.hypotheses.items()]
                info = dict(measured.info)
                bound = measured.bound
                measured = measured.value
            if bound is None and self.bound is not None:
                bound = self.bound(instance) if callable(self.bound) else self.bound
            relation = self.relation
            if bound is None and is_truth_value(measured):
                relation = "property"  # a bool with nothing to compare it to is a property
            met = all(c.met for c in checks)
            try:
                if measured is None:
                    raise ClaimError(
                        "measure returned None: it must return a number, array, sequence, bool or Measurement"
                    )
                holds, value, bound_value, ratio = judge(relation, measured, bound, rtol=self.rtol, atol=self.atol)
            except ClaimError:
                if met:
                    raise
                # A hypothesis found during the measurement failed: its value need not be an answer.
                holds, value, bound_value, ratio = False, None, None, None
        except ClaimError as exc:
            raise ClaimError(f"claim {self.name!r} cannot be judged: {exc} (instance {_describe(instance)})") from None
        verdict = ("holds" if holds else "violated") if met else "hypotheses_not_met"
        return InstanceResult(verdict, value, bound_value, ratio, tuple(checks), info, time.perf_counter() - start)

    def assert_holds(self, instance) -> InstanceResult:
        """Raise AssertionError (with the instance as source) if the claim is violated on it.

        For use inside a user's own ``@given(claim.instances)`` property test.
        """
        result = self.evaluate(instance)
        if result.verdict == "violated":
            raise AssertionError(
                f"claim {self.name!r} violated: measured {result.value!r} vs bound {result.bound!r} "
                f"(ratio {result.ratio!r}) on instance {_serialize.to_source(instance)}"
            )
        return result

    def check(self, *, examples: int = 100, seed: int = 0, **kwargs) -> "ClaimReport":
        """Shorthand for :func:`check_claim` ``(self, ...)``."""
        return check_claim(self, examples=examples, seed=seed, **kwargs)


def claim(name: Optional[str] = None, **kwargs) -> Callable:
    """Decorator form of :class:`Claim`: the decorated function is the measurement.

    Examples
    --------
    >>> import linflow.claims as lc
    >>> from hypothesis import strategies as st
    >>> @lc.claim(source="AM–GM", instances=st.tuples(st.floats(0, 10), st.floats(0, 10)),
    ...           bound=lambda ab: (ab[0] + ab[1]) / 2)
    ... def am_gm(ab):
    ...     return (ab[0] * ab[1]) ** 0.5
    >>> lc.check_claim(am_gm, examples=30).verdict
    'holds'
    """

    def wrap(measure: Callable) -> Claim:
        return Claim(name or measure.__name__, measure=measure, **kwargs)

    return wrap


# ---------------------------------------------------------------------------- reports
@dataclass(frozen=True)
class Counterexample:
    """A (shrunk) instance on which a claim is violated, with everything needed to replay it."""

    claim: str
    instance: Any
    result: InstanceResult
    seed: int
    shrunk: bool
    module_path: Optional[str] = None

    def snippet(self) -> str:
        """A self-contained Python snippet that rebuilds the instance and re-checks the claim."""
        lines = ["import numpy as np", "import linflow", "import linflow.claims"]
        user_classes = []
        for module, name in _serialize.namedtuple_imports(self.instance):
            if module == "linflow" or module.startswith("linflow."):
                lines.append(f"from {module} import {name.split('.')[0]}")
            else:
                user_classes.append(name.split(".")[0])
        if self.module_path is not None:
            lines.append(f"module = linflow.claims.load_module({str(self.module_path)!r})")
            lines.append(f"claim = module.claims[{self.claim!r}]")
            for name in user_classes:
                lines.append(f"{name} = getattr(module.module, {name!r})")
        else:
            lines.append(f"claim = linflow.claims.get({self.claim!r})")
        lines.append(f"instance = {_serialize.to_source(self.instance)}")
        lines.append("print(claim.evaluate(instance))  # verdict='violated'")
        return "\n".join(lines)

    def save(self, directory) -> Path:
        """Write ``<directory>/<claim>.npz`` (arrays + JSON header; readable without pickle)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.claim)
        metadata = {
            "claim": self.claim,
            "seed": self.seed,
            "shrunk": self.shrunk,
            "module_path": self.module_path,
            "result": self.result.to_dict(),
        }
        return _serialize.save_npz(directory / f"{safe}.npz", self.instance, metadata)

    def to_dict(self) -> dict:
        return {
            "claim": self.claim,
            "seed": self.seed,
            "shrunk": self.shrunk,
            "result": self.result.to_dict(),
            "snippet": self.snippet(),
        }


def load_counterexample(path, *, module=None):
    """Read a counterexample saved by :meth:`Counterexample.save`: ``(claim name, instance, metadata)``.

    Loading is data only: nothing named in the file is imported or evaluated (arrays without
    pickle, a fixed schema, bounded sizes); ``metadata["module_path"]`` is informational and
    never loaded.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` archive.
    module : str, path-like or LoadedModule, optional
        The user's claim file (a path the caller chooses, loaded with
        :func:`linflow.claims.load_module`, or its result): NamedTuple instance classes it
        defines are rebuilt as themselves, not as plain namedtuples.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not a well-formed counterexample archive (the message says why).
    """
    user_module = None
    if module is not None:
        if isinstance(module, (str, os.PathLike)):
            from . import load_module

            module = load_module(module)
        user_module = getattr(module, "module", None)
        if user_module is None:
            raise TypeError(f"module must be a path or a LoadedModule; got module={module!r}")
    instance, metadata = _serialize.load_npz(path, user_module=user_module)
    name = metadata.get("claim")
    if not isinstance(name, str):
        raise _serialize.ArchiveError(f"{str(path)!r}: metadata['claim'] must be the claim's name; got {name!r}")
    return name, instance, metadata


@dataclass(frozen=True)
class ClaimReport:
    """Outcome of :func:`check_claim`.

    Attributes
    ----------
    claim, source, tag, relation : str
    verdict : {"holds", "violated", "hypotheses_not_met"}
    instances : int
        Instances checked (canonical + distinct generated ones; shrinking not counted).
    hypotheses_met : int
        How many of them satisfied every hypothesis.
    worst_ratio : float or None
        Largest tightness ratio over instances meeting the hypotheses (> 1 means violated).
    worst : InstanceResult or None
        The result with that ratio.
    counterexample : Counterexample or None
        The shrunk violating instance (None when the claim holds).
    seconds : float
    shrink_evaluations : int
        Extra evaluations spent shrinking the counterexample.
    note : str
        The claim's summary line (``Claim.summarize``), if any.
    """

    claim: str
    source: str
    tag: str
    relation: str
    verdict: str
    instances: int
    hypotheses_met: int
    worst_ratio: Optional[float]
    worst: Optional[InstanceResult]
    counterexample: Optional[Counterexample]
    seconds: float
    shrink_evaluations: int = 0
    note: str = ""

    @property
    def finding(self) -> str:
        """A one-line statement of what a violation means (empty when the claim holds)."""
        if self.verdict != "violated":
            return ""
        if self.tag == "recalled":
            return f"the [recalled] statement {self.claim!r} is false as recalled: see the counterexample"
        if self.tag == "extrapolated":
            return f"the extrapolation {self.claim!r} fails beyond its theorem's hypotheses: see the counterexample"
        return f"claim {self.claim!r} ({self.tag}) is violated"

    def _repr_html_(self) -> str:
        from .._html import number, table

        rows = [
            ("claim", self.claim),
            ("source", f"{self.source} [{self.tag}]"),
            ("verdict", self.verdict),
            ("instances (hypotheses met)", f"{self.instances} ({self.hypotheses_met})"),
            ("worst ratio (measured / bound)", number(self.worst_ratio)),
            ("seconds", number(self.seconds)),
        ]
        if self.note:
            rows.append(("measured", self.note))
        if self.counterexample is not None:
            rows.append(("counterexample", self.counterexample.snippet()))
        return table("ClaimReport", rows)

    def to_dict(self) -> dict:
        return {
            "claim": self.claim,
            "source": self.source,
            "tag": self.tag,
            "relation": self.relation,
            "verdict": self.verdict,
            "instances": self.instances,
            "hypotheses_met": self.hypotheses_met,
            "worst_ratio": _json_number(self.worst_ratio),
            "worst": self.worst.to_dict() if self.worst is not None else None,
            "counterexample": self.counterexample.to_dict() if self.counterexample is not None else None,
            "seconds": self.seconds,
            "shrink_evaluations": self.shrink_evaluations,
            "note": self.note,
            "finding": self.finding,
        }


def _defining_file(claim_object: "Claim") -> Optional[str]:
    """The user file a claim comes from: its ``module_path``, else the file defining ``measure``.

    None for claims defined inside linflow (they are reached through the registry) or where the
    source file cannot be found (a claim typed at the interpreter).
    """
    if claim_object.module_path is not None:
        return claim_object.module_path
    import inspect

    try:
        path = inspect.getsourcefile(claim_object.measure)
    except TypeError:
        return None
    if path is None or not Path(path).is_file():
        return None
    package = Path(__file__).resolve().parents[1]
    path = Path(path).resolve()
    return None if package in path.parents else str(path)


@contextlib.contextmanager
def _pinned_constant_pool():
    """Make Hypothesis' generation independent of which local modules happen to be imported.

    Hypothesis ≥ 6.131 mixes literal constants from the source of every *local* module in
    ``sys.modules`` into generation, so the same seed drew different instances from the Python
    API and from ``linflow check`` (which imports more of linflow). During a check the local
    pool is pinned to empty (its built-in global constants stay); on Hypothesis versions
    without that machinery this does nothing.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.conjecture.providers import Constants

        original = providers._get_local_constants
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):  # other Hypothesis versions: nothing to pin
        yield
        return
    empty = Constants()
    cache.clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


#: Largest ``examples`` :func:`check_claim` accepts (~ hours of search at a millisecond an instance).
MAX_EXAMPLES = 10**6


def _check_count(value, name: str, *, minimum: Optional[int] = 0) -> int:
    """An int (Python or NumPy, not bool) ≥ ``minimum``, as a Python int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int; got {name}={value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int ≥ {minimum}; got {name}={value!r}")
    return int(value)


class _Broken(Exception):
    """Raised inside the Hypothesis test when a claim cannot be judged on an instance."""

    def __init__(self, instance, error: ClaimError):
        super().__init__(str(error))
        self.instance = instance
        self.error = error


class _Violation(Exception):
    """Raised inside the Hypothesis test to report a violating instance."""

    def __init__(self, instance, result: InstanceResult):
        super().__init__("claim violated")
        self.instance = instance
        self.result = result


def check_claim(
    claim: Claim,
    *,
    examples: int = 100,
    seed: int = 0,
    canonical: bool = True,
    shrink_seconds: float = 60.0,
    progress: Optional[Callable] = None,
) -> ClaimReport:
    """Check ``claim`` on its canonical instances and on ``examples`` Hypothesis instances.

    Parameters
    ----------
    claim : Claim
    examples : int
        Hypothesis ``max_examples`` for the search (0: canonical instances only, which needs
        ``canonical=True`` and a claim that has some). NumPy integers are accepted, bools not;
        at most :data:`MAX_EXAMPLES`.
    seed : int
        A non-negative int, like every seed of this package. The search is deterministic for a given
        seed (Hypothesis run with ``@seed(seed)``, no
        example database, and the constants Hypothesis mines from imported local modules
        pinned), so a report can be reproduced exactly.
    canonical : bool
        Check the claim's explicit instances first.
    shrink_seconds : float
        Time allowed for shrinking a counterexample; after that, unseen candidates are skipped
        and the smallest counterexample found so far is returned (it is a real, evaluated one).
    progress : callable, optional
        ``progress(evaluated, planned)`` after every evaluated instance (for progress bars).

    Returns
    -------
    ClaimReport

    Raises
    ------
    TypeError, ValueError
        Bad arguments (named in the message), or ``examples=0`` with nothing canonical to check.
    ClaimError
        The claim cannot be judged on some instance (its measurement or bound is None/NaN, a
        needed bound is missing, a hypothesis margin is NaN); found during the search, the
        instance is shrunk first and the message shows the smallest one.
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
    from hypothesis import seed as hypothesis_seed

    if not isinstance(claim, Claim):
        raise TypeError(f"claim must be a linflow.Claim; got claim={claim!r}")
    examples = _check_count(examples, "examples")
    if examples > MAX_EXAMPLES:
        raise ValueError(
            f"examples must be ≤ {MAX_EXAMPLES:,} (a search that long would not finish in practice; "
            f"run several seeds instead); got examples={examples!r}"
        )
    seed = _check_count(seed, "seed")
    if not isinstance(canonical, (bool, np.bool_)):
        raise TypeError(f"canonical must be a bool; got canonical={canonical!r}")
    canonical = bool(canonical)
    if (
        isinstance(shrink_seconds, (bool, np.bool_)) or not isinstance(shrink_seconds, (numbers.Real, np.floating))
        or not math.isfinite(shrink_seconds) or shrink_seconds < 0
    ):
        raise ValueError(f"shrink_seconds must be a finite number ≥ 0; got shrink_seconds={shrink_seconds!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable as progress(evaluated, planned) or None; got progress={progress!r}")
    if examples == 0 and not (canonical and claim.canonical):
        raise ValueError(
            f"examples=0 checks only the claim's canonical instances, and claim {claim.name!r} has "
            f"{'none' if not claim.canonical else 'them switched off (canonical=False)'}: nothing would be "
            f"checked; pass examples ≥ 1; got examples={examples!r}"
        )

    start = time.perf_counter()
    planned = (len(claim.canonical) if canonical else 0) + examples
    state = {"evaluated": 0, "shrink": 0, "shrink_start": None}
    results: list = []
    searched: list = []  # False for evaluations made while shrinking
    cache: dict = {}
    counterexample = None

    def record(result: InstanceResult, *, shrinking: bool) -> None:
        results.append(result)
        searched.append(not shrinking)
        if shrinking:
            state["shrink"] += 1
        else:
            state["evaluated"] += 1
            if progress is not None:
                progress(state["evaluated"], planned)

    if canonical:
        for instance in claim.canonical:
            result = claim.evaluate(instance)
            cache[_serialize.instance_key(instance)] = result
            record(result, shrinking=False)
            if result.verdict == "violated" and counterexample is None:
                counterexample = Counterexample(
                    claim.name, instance, result, seed, shrunk=False, module_path=_defining_file(claim)
                )

    if examples > 0:

        def search(instance):
            key = _serialize.instance_key(instance)
            result = cache.get(key)
            if result is None:
                shrinking = state["shrink_start"] is not None
                if shrinking and time.perf_counter() - state["shrink_start"] > shrink_seconds:
                    return  # out of shrinking time: leave this candidate unevaluated
                try:
                    result = claim.evaluate(instance)
                except ClaimError as error:
                    result = error
                cache[key] = result
                if isinstance(result, InstanceResult):
                    record(result, shrinking=shrinking)
            if isinstance(result, ClaimError):
                if state["shrink_start"] is None:
                    state["shrink_start"] = time.perf_counter()
                raise _Broken(instance, result)
            if result.verdict != "hypotheses_not_met" and result.ratio is not None and math.isfinite(result.ratio):
                # Guide the search towards tight instances (Hypothesis' targeted phase).
                target(min(float(result.ratio), 1e6), label="tightness ratio")
            if result.verdict == "violated":
                if state["shrink_start"] is None:
                    state["shrink_start"] = time.perf_counter()
                raise _Violation(instance, result)

        run_settings = settings(
            max_examples=examples,
            derandomize=False,  # deterministic through @seed(seed) instead
            database=None,
            deadline=None,
            verbosity=Verbosity.quiet,
            phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
            report_multiple_bugs=False,
            print_blob=False,
            suppress_health_check=list(HealthCheck),
        )
        test = hypothesis_seed(seed)(run_settings(given(claim.instances)(search)))
        try:
            with _pinned_constant_pool():
                test()
        except _Violation as found:
            counterexample = Counterexample(
                claim.name, found.instance, found.result, seed, shrunk=True, module_path=_defining_file(claim)
            )
        except _Broken as broken:
            raise ClaimError(f"{broken.error} [smallest such instance found, seed {seed}]") from None

    met = [r for r in results if r.verdict != "hypotheses_not_met"]
    rated = [r for r in met if r.ratio is not None]
    worst = max(rated, key=lambda r: r.ratio) if rated else None
    if counterexample is not None:
        verdict = "violated"
    elif met:
        verdict = "holds"
    else:
        verdict = "hypotheses_not_met"
    n_met = sum(1 for r, s in zip(results, searched) if s and r.verdict != "hypotheses_not_met")
    note = ""
    if claim.summarize is not None and met:
        note = str(claim.summarize(met))
    return ClaimReport(
        claim=claim.name,
        source=claim.source,
        tag=claim.tag,
        relation=claim.relation,
        verdict=verdict,
        instances=state["evaluated"],
        hypotheses_met=n_met,
        worst_ratio=None if worst is None else float(worst.ratio),
        worst=worst,
        counterexample=counterexample,
        seconds=time.perf_counter() - start,
        shrink_evaluations=state["shrink"],
        note=note,
    )

