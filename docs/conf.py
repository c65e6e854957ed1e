"""Sphinx configuration of the linflow documentation.

Build: ``python -m pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build/html``.

Offline builds: intersphinx inventories are fetched from the network. Each mapping below lists a
local copy first (``docs/_intersphinx/NAME.inv``, if someone saved one there) and the project's
URL second. A project whose inventory is neither saved locally nor reachable within a few seconds
is dropped from the mapping before Sphinx reads it, with a note on the console: its references
render as plain text instead of failing a ``-W`` build. Set ``LINFLOW_DOCS_OFFLINE=1`` to skip the
network probe altogether.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # document this checkout, not another installed copy

import linflow  # noqa: E402

project = "linflow"
author = "the linflow developers"
copyright = "2026, the linflow developers"
release = linflow.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_intersphinx",
    "examples",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.json",
]
html_theme = "pydata_sphinx_theme"
html_title = f"linflow {release}"
html_static_path = []
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

# API reference: one page per public module, generated from the docstrings.
autosummary_generate = True
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc renders the types written in the docstrings
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Gallery: every example runs at build time (each a few seconds).
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
}

# Intersphinx with an offline fallback (see the module docstring).
_INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sympy": "https://docs.sympy.org/latest/",
    "hypothesis": "https://hypothesis.readthedocs.io/en/latest/",
    "xarray": "https://docs.xarray.dev/en/stable/",
}
intersphinx_timeout = 5


def _reachable(url: str, timeout: float = 3.0) -> bool:
    if os.environ.get("LINFLOW_DOCS_OFFLINE"):
        return False
    host = urlsplit(url).hostname
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _intersphinx_mapping() -> dict:
    mapping, dropped = {}, []
    for name, url in _INVENTORIES.items():
        local = HERE / "_intersphinx" / f"{name}.inv"
        if local.is_file():
            mapping[name] = (url, (str(local), None))
        elif _reachable(url):
            mapping[name] = (url, None)
        else:
            dropped.append(name)
    if dropped:
        print(
            f"linflow docs: no inventory reachable for {', '.join(dropped)}; "
            "their cross-references render as plain text"
        )
    return mapping


intersphinx_mapping = _intersphinx_mapping()

# Doctests in the guide run with the test suite (tests/test_docs.py) and with `-b doctest`.
doctest_global_setup = "import numpy as np\nimport linflow"
