"""Small HTML tables for Jupyter's rich display (``_repr_html_``) of results and reports."""

from __future__ import annotations

import html
import math
from typing import Iterable


def number(value) -> str:
    """Compact text for a number: 4 significant digits, ``—`` for a missing one."""
    if value is None:
        return "—"
    value = float(value)
    if math.isnan(value):
        return "NaN"
    return f"{value:.4g}"


def table(caption: str, rows: Iterable[tuple]) -> str:
    """A two-column HTML table ``name | value`` with a caption; every cell is escaped."""
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
        f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table><caption>{html.escape(caption)}</caption>{body}</table>"
