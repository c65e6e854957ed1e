"""Shared pytest set-up: Hypothesis profiles.

The default profile (``ci``) is derandomized: ``python -m pytest`` draws the same examples on
every run and machine. ``HYPOTHESIS_PROFILE=dev python -m pytest`` explores with fresh random
examples (and Hypothesis' example database) instead.
"""

import os

from hypothesis import HealthCheck, settings

# JIT compilation and ODE solves make first calls slow: no per-example deadline.
settings.register_profile("dev", deadline=None, max_examples=30)
settings.register_profile(
    "ci", deadline=None, max_examples=25, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
