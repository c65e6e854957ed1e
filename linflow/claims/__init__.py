"""Theorems about GD/GF on deep linear networks as checkable claims, and their registry.

>>> import linflow.claims as lc
>>> claim = lc.get("balancedness_gd_drift")
>>> claim.tag, claim.relation
('checked', '==')

``all()`` lists the built-in claims (theory.md §2–§4, then the central flows of §6) followed by those registered with
:func:`register`; :func:`load_module` imports a user's claim file (the ``linflow check --module``
option). The built-in claims are defined in :mod:`linflow.claims.builtin` and
:mod:`linflow.claims.central_flows` and loaded on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from ._core import (
    TAGS,
    VERDICTS,
    Claim,
    ClaimError,
    ClaimReport,
    Counterexample,
    HypothesisCheck,
    InstanceResult,
    Measurement,
    check_claim,
    claim,
    load_counterexample,
)
from ._relations import RELATIONS

__all__ = [
    "Claim",
    "ClaimError",
    "ClaimReport",
    "Counterexample",
    "HypothesisCheck",
    "InstanceResult",
    "LoadedModule",
    "Measurement",
    "RELATIONS",
    "TAGS",
    "VERDICTS",
    "all",
    "check_claim",
    "claim",
    "get",
    "load_counterexample",
    "load_module",
    "names",
    "register",
]

_REGISTRY: dict = {}
_BUILTIN_LOADED = False

#: Modules of linflow.claims that register built-in claims when imported, in table order.
#: (A new family of claims adds its module name here.)
BUILTIN_MODULES = ("builtin", "central_flows", "homogeneous")


def _load_builtin() -> None:
    global _BUILTIN_LOADED
    if not _BUILTIN_LOADED:
        _BUILTIN_LOADED = True
        for name in BUILTIN_MODULES:
            importlib.import_module(f"{__name__}.{name}")


def register(claim_object: Claim, *, replace: bool = False) -> Claim:
    """Add a claim to the registry (``linflow check`` runs every registered claim).

    Raises
    ------
    ValueError
        If a different claim with the same name is registered and ``replace`` is False.
    """
    if not isinstance(claim_object, Claim):
        raise TypeError(f"claim must be a linflow.Claim; got claim={claim_object!r}")
    existing = _REGISTRY.get(claim_object.name)
    if existing is not None and existing is not claim_object and not replace:
        raise ValueError(
            f"a claim named {claim_object.name!r} is already registered; pass replace=True to replace it"
        )
    _REGISTRY[claim_object.name] = claim_object
    return claim_object


def all() -> tuple:  # noqa: A001  (the registry's natural name, as in linflow.bounds.all)
    """Every registered claim, built-in ones first, in registration order."""
    _load_builtin()
    return tuple(_REGISTRY.values())


def names() -> tuple:
    """Names of the registered claims."""
    return tuple(c.name for c in all())


def get(name: str) -> Claim:
    """The registered claim called ``name``.

    Raises
    ------
    KeyError
        With the list of known names.
    """
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no claim named {name!r}; known claims: {', '.join(_REGISTRY)}") from None


@dataclass(frozen=True)
class LoadedModule:
    """A user's claim file: the imported module and the claims it defines, by name."""

    module: object
    claims: dict
    path: str


def load_module(path) -> LoadedModule:
    """Import the Python file at ``path`` and collect the claims it defines.

    The file is imported like any script the user chose to run (``importlib`` from its path;
    nothing is evaluated from strings). Its claims are the :class:`Claim` objects among its
    global names plus any it registered while being imported.

    Raises
    ------
    FileNotFoundError, ValueError
        If the path does not exist / is not a ``.py`` file, or it defines no claim.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"module must be an existing Python file; got module={str(path)!r}")
    if path.suffix != ".py":
        raise ValueError(f"module must be a .py file; got module={str(path)!r}")
    before = set(_REGISTRY)
    module_name = f"linflow_user_claims_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses/NamedTuples defined there need it
    spec.loader.exec_module(module)
    found = {}
    for value in vars(module).values():
        if isinstance(value, Claim):
            found[value.name] = value
    for name in _REGISTRY:
        if name not in before:
            found.setdefault(name, _REGISTRY[name])
    if not found:
        raise ValueError(f"module defines no linflow.Claim; got module={str(path)!r}")
    for c in found.values():
        c.module_path = str(path)
    return LoadedModule(module=module, claims=found, path=str(path))
