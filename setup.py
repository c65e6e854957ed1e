"""Build script: everything is declared in setup.cfg except the package list.

The executable proofs stay readable at the top level in ``proofs/`` and are shipped inside the
wheel as ``linflow/_proofs/`` (a symlink would not survive a wheel), so ``linflow prove`` works
from a non-editable install in any directory.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["linflow", "linflow.*"]) + ["linflow._proofs"],
    package_dir={"linflow._proofs": "proofs"},
)
