"""Shared pytest set-up: Hypothesis profiles, and :func:`load_script` for tests of ``scripts/``.

The default profile (``ci``) is derandomized: ``python -m pytest`` draws the same examples on
every run and machine. ``HYPOTHESIS_PROFILE=dev python -m pytest`` explores with fresh random
examples (and Hypothesis' example database) instead.
"""

import importlib.util
import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# JIT compilation and ODE solves make first calls slow: no per-example deadline.
settings.register_profile("dev", deadline=None, max_examples=30)
settings.register_profile(
    "ci", deadline=None, max_examples=25, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    """The module ``scripts/<name>.py``, imported for its functions (and registered in
    ``sys.modules``: dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module
