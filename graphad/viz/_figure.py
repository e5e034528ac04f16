"""Figures without pyplot's global state: safe in reports, threads and notebooks.

Every plotting function of :mod:`graphad.viz` returns a ``matplotlib.figure.Figure``
built here; in a notebook with ``%matplotlib inline`` it displays itself, elsewhere
``fig.savefig(path)`` or :func:`png_bytes` writes it.
"""
from __future__ import annotations

import io
from typing import Dict, Iterable, Tuple

TYPE_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#8172B3", "#937860", "#DA8BC3",
                "#8C8C8C", "#CCB974", "#64B5CD", "#C44E52")
TYPE_MARKERS = ("o", "s", "^", "D", "v", "p", "h", "P", "*", "X")
FLAG_COLOUR = "#C0392B"
NORMAL_COLOUR = "#7F8C8D"


def new_figure(width: float, height: float):
    """A ``Figure`` of ``width`` x ``height`` inches, detached from pyplot."""
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), layout="constrained")


def png_bytes(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def type_styles(node_types: Iterable[str]) -> Dict[str, Tuple[str, str]]:
    """A stable ``(colour, marker)`` per node type (in the order given)."""
    return {t: (TYPE_COLOURS[i % len(TYPE_COLOURS)], TYPE_MARKERS[i % len(TYPE_MARKERS)])
            for i, t in enumerate(node_types)}


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
