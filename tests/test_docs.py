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
