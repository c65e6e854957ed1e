"""The examples in the documentation's guide and theory pages run and print what they show."""

import doctest
from pathlib import Path

import numpy as np
import pytest

import linflow

DOCS = Path(__file__).resolve().parents[1] / "docs"
# Hand-written pages only (not the generated API and gallery pages, which are gitignored).
WRITTEN = [*DOCS.glob("*.rst"), *(DOCS / "guide").glob("*.rst"), *(DOCS / "theory").glob("*.rst")]
PAGES = sorted(p for p in WRITTEN if ">>>" in p.read_text("utf-8"))


def test_the_guide_has_examples():
    assert len(PAGES) >= 5, PAGES


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_examples(page):
    # The same globals as doctest_global_setup in docs/conf.py.
    result = doctest.testfile(
        str(page),
        module_relative=False,
        globs={"np": np, "linflow": linflow},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
        report=True,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {page.name}"


def test_no_citation_points_outside_the_repository():
    """Citations use the tags of docs/theory/ (the old theory sheet is not in the repository).

    After merging a branch that still cites it, run ``python docs/tools/retag_theory_citations.py``.
    """
    import subprocess
    import sys

    script = DOCS / "tools" / "retag_theory_citations.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_theory_tags_name_existing_pages():
    import re

    root = DOCS.parent
    cited = set()
    for tree in ("linflow", "proofs", "scripts", "README.md"):
        path = root / tree
        files = [path] if path.is_file() else [p for p in path.rglob("*.py")]
        for f in files:
            cited |= set(re.findall(r"theory/([a-z][a-z-]*[a-z])", f.read_text("utf-8")))
    assert cited, "no theory tags found"
    missing = sorted(t for t in cited if not (DOCS / "theory" / f"{t}.rst").is_file())
    assert not missing, missing
