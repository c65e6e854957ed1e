"""Rewrite citations of the old, out-of-repository ``theory.md`` into tags of ``docs/theory/``.

Usage (from the repository root)::

    python docs/tools/retag_theory_citations.py          # rewrite in place, print a summary
    python docs/tools/retag_theory_citations.py --check  # list remaining citations; exit 1 if any

``theory.md §n`` becomes the tag of the page that now holds that section (the tag is the page's
path: ``theory/deep-linear`` is ``docs/theory/deep-linear.rst``); a few phrasings that name the
file without a section are rewritten by hand-written rules; anything else becomes
``theory/index``. Bound sources (``linflow.bounds.Source.section``) change from ``"§n"`` to the
tag. The script is idempotent: run it again after merging a branch that still cites theory.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREES = ("linflow", "proofs", "scripts", "tests", "README.md", "docs/examples")
SUFFIXES = {".py", ".md", ".rst"}

#: Section of the old theory sheet → page of docs/theory/.
PAGES = {
    "1": "theory/references",
    "2": "theory/gd-vs-gf",
    "3": "theory/deep-linear",
    "4": "theory/scalar",
    "5": "theory/homogeneous",
    "6": "theory/central-flows",
    "7": "theory/numerics",
}

#: Phrasings without a section, rewritten literally before the generic rules.
PHRASES = [
    ('theory.md, "Conventions"', 'theory/index, "Conventions"'),
    ("theory.md's [checked] closed form", "the [checked] closed form of theory/central-flows"),
    ("theory.md's numerical example", "the numerical example in theory/deep-linear"),
    ("with the ½ of theory.md", 'with the ½ (theory/index, "Conventions")'),
    ("which is theory.md's form", "linflow's convention, theory/index"),
    ("Conventions (theory.md)", "Conventions (theory/index)"),
    ('source and theory.md "', 'source and status "'),
    ("(paper, theorem, theory.md tag)", "(paper, theorem, theory page and status tag)"),
    ("the theory.md section and tag", "the theory page and the status tag"),
    ("[theory.md {self.section}: {self.tag}]", "[{self.section}: {self.tag}]"),
    ("(theory.md {b.source.section})", "({b.source.section})"),
    ("(theory.md formulas, by name)", "(formulas of the theory pages, by name)"),
    ("(not from theory.md)", "(not from linflow's theory pages)"),
    ("# theory.md tags ", "# The theory pages tag "),
    ("theory.md tags", "status tags (theory/index)"),
    ("theory.md tag", "status tag (theory/index)"),
    ("(theory.md)", "(theory/index)"),
    ("from_theory_md", "from_the_theory_pages"),
    ("[checked]: the §2 bound per sample", "[checked]: the deep-linear curvature bound per sample"),
    ("then the central flows of §6)", "then the central flows, theory/central-flows)"),
    ("theory.md §5's bound", "the bound of theory/homogeneous"),
    ("(``min_sharpness_balanced``) and §4 (GD", "(``min_sharpness_balanced``) and theory/scalar (GD"),
    ("(implicit t(π)) and §7 (SymPy", "(implicit t(π)) and theory/numerics (SymPy"),
]

_RANGE = re.compile(r"theory\.md §(\d)\s*[–-]\s*§(\d)")
_SECTION = re.compile(r"theory\.md §(\d)")
# After a page tag (and an optional [status]), a bare ", §n" continues the list of sections.
_CONTINUED = re.compile(r"(theory/[a-z-]+(?: \[[a-z, ]+\])?), §(\d)")
_SOURCE_SECTION = re.compile(r'"§(\d)"')


def _range(match: re.Match) -> str:
    first, last = int(match.group(1)), int(match.group(2))
    return ", ".join(PAGES[str(n)] for n in range(first, last + 1))


def retag(text: str, *, bounds_module: bool = False) -> str:
    """``text`` with every theory.md citation replaced by a theory-page tag."""
    for old, new in PHRASES:
        text = text.replace(old, new)
    text = _RANGE.sub(_range, text)
    text = _SECTION.sub(lambda m: PAGES[m.group(1)], text)
    while _CONTINUED.search(text):
        text = _CONTINUED.sub(lambda m: f"{m.group(1)}, {PAGES[m.group(2)]}", text)
    if bounds_module:
        text = _SOURCE_SECTION.sub(lambda m: f'"{PAGES[m.group(1)]}"', text)
    return text.replace("theory.md", "theory/index")


def files() -> list:
    out = []
    for name in TREES:
        path = ROOT / name
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            out.extend(p for p in sorted(path.rglob("*")) if p.suffix in SUFFIXES and "__pycache__" not in p.parts)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list remaining citations; exit 1 if any")
    args = parser.parse_args(argv)
    pattern = re.compile(r"theory[._]md")
    remaining, changed = [], 0
    for path in files():
        text = path.read_text("utf-8")
        if args.check:
            remaining += [
                f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
                for i, line in enumerate(text.splitlines(), 1)
                if pattern.search(line)
            ]
            continue
        is_bounds = path == ROOT / "linflow" / "bounds.py"
        new = retag(text, bounds_module=is_bounds)
        if new != text:
            path.write_text(new, "utf-8")
            changed += 1
    if args.check:
        print("\n".join(remaining) if remaining else "no citation of theory.md left")
        return 1 if remaining else 0
    print(f"rewrote {changed} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
