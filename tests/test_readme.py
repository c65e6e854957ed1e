"""Every Python block of the README runs on its own, in a fresh namespace."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text("utf-8"), flags=re.S | re.M)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs_alone(source, capsys, tmp_path, monkeypatch):
    # In a scratch directory, so that what a block writes (a sweep's Zarr store, figures) never lands
    # in the checkout; the repository's examples stay reachable under their README paths.
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    exec(compile(source, "README.md python block", "exec"), {"__name__": "__readme__"})  # noqa: S102 - our own README
    assert capsys.readouterr().out.strip()  # every block prints what it shows
