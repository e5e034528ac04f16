"""Score distributions and one node's score broken into its components."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import GraphadError
from ._figure import FLAG_COLOUR, NORMAL_COLOUR, new_figure, shorten


def _score_frame(scores: Any) -> pd.DataFrame:
    """``node_type, score`` rows from a scores table or ``{type: Tensor[n]}``."""
    if isinstance(scores, pd.DataFrame):
        missing = {"node_type", "score"} - set(scores.columns)
        if missing:
            raise GraphadError(f"the scores table needs columns node_type, score; "
                               f"missing {sorted(missing)}")
        return scores[["node_type", "score"]]
    if isinstance(scores, Mapping):
        return pd.concat([pd.DataFrame({"node_type": t, "score": np.asarray(s, dtype=float)})
                          for t, s in scores.items()], ignore_index=True)
    raise GraphadError(f"expected a scores table or a dict of scores per type, got "
                       f"{type(scores).__name__}")


def plot_score_distribution(scores: Any, thresholds: Optional[Mapping[str, float]] = None,
                            node_types: Optional[Sequence[str]] = None, bins: int = 40,
                            width: float = 9.0):
    """Histogram of the scores of each node type with its flagging threshold.

    Args:
        scores: a scores table (``node_type``, ``score`` columns, e.g.
            ``det.scores_frame(graph)``) or ``{node_type: Tensor[n]}``.
        thresholds: ``{node_type: threshold}`` (a fitted detector's ``threshold_``);
            scores above it are drawn in red and counted in the title.
        node_types: the types to draw, in order (default: every type in ``scores``).
        bins: histogram bins (on an ``asinh`` axis, so that heavy tails stay visible).

    Returns:
        a ``matplotlib.figure.Figure`` with one panel per type.
    """
    frame = _score_frame(scores)
    types = list(node_types) if node_types is not None else list(
        dict.fromkeys(frame["node_type"]))
    unknown = [t for t in types if t not in set(frame["node_type"])]
    if unknown:
        raise GraphadError(f"no scores for node type(s) {unknown}")
    if not types:
        raise GraphadError("no scores to draw")
    cols = min(3, len(types))
    rows = -(-len(types) // cols)
    fig = new_figure(width, 2.6 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    thresholds = thresholds or {}
    for ax, t in zip(axes, types):
        s = frame.loc[frame["node_type"] == t, "score"].to_numpy(dtype=float)
        s = s[np.isfinite(s)]
        thr = thresholds.get(t)
        lo, hi = (float(s.min()), float(s.max())) if s.size else (0.0, 1.0)
        edges = np.sinh(np.linspace(np.arcsinh(lo), np.arcsinh(hi if hi > lo else lo + 1),
                                    bins + 1))
        if thr is None:
            ax.hist(s, bins=edges, color=NORMAL_COLOUR)
            title = f"{t} (n={s.size:,})"
        else:
            thr = float(thr)
            ax.hist([s[s <= thr], s[s > thr]], bins=edges, stacked=True,
                    color=[NORMAL_COLOUR, FLAG_COLOUR], label=["normal", "flagged"])
            ax.axvline(thr, color="black", lw=1, ls="--")
            flagged = int((s > thr).sum())
            title = (f"{t}: {flagged:,} of {s.size:,} flagged "
                     f"({100 * flagged / max(s.size, 1):.1f}%)")
        ax.set_xscale("asinh")
        ax.set_xlim(edges[0], edges[-1])
        _nice_ticks(ax, lo, hi)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("score", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(types):]:
        ax.set_visible(False)
    fig.suptitle("Score distribution per node type (dashed: threshold)", fontsize=10)
    return fig


def _nice_ticks(ax, lo: float, hi: float) -> None:
    """Ticks at 0, ±1, ±3, ±10, ... within ``[lo, hi]``, written plainly."""
    from matplotlib.ticker import FixedLocator, FuncFormatter
    steps = [0.0] + [s * m * 10.0 ** e for e in range(0, 7) for m in (1, 3)
                     for s in (1, -1)]
    ticks = sorted(v for v in steps if lo <= v <= hi) or [lo, hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(FixedLocator([]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def plot_contributions(explanation: Any, top: int = 8, width: float = 8.0):
    """One node's score split into its components.

    Left: the contributions, which add up to the score (the detector's own split).
    Right: every component's value ``z`` (surprisal in nats, or robust σ), so that a
    component which is unusual but outweighed by another still shows.

    Args:
        explanation: an :class:`~graphad.scoring.explain.Explanation`.
        top: components shown per panel (largest first).
    """
    table = explanation.contributions
    if table is None or table.empty:
        raise GraphadError(f"{explanation.node_type} {explanation.node_id}: the "
                           "explanation has no component contributions to draw")
    contrib = table[table["contribution"] > 1e-3 * max(explanation.score, 1e-9)].nlargest(
        top, "contribution")
    if contrib.empty:
        contrib = table.head(1)
    zs = table.dropna(subset=["z"]).nlargest(top, "z")
    fig = new_figure(width, 0.22 * max(len(contrib), len(zs), 3) + 1.0)
    left, right = fig.subplots(1, 2)
    names = [shorten(c, 24) for c in contrib["component"]][::-1]
    left.barh(names, contrib["contribution"].to_numpy()[::-1], color=FLAG_COLOUR
              if explanation.flagged else NORMAL_COLOUR)
    left.set_title(f"contributions: sum = score {explanation.score:.2f}", fontsize=9)
    if explanation.threshold is not None:
        left.axvline(explanation.threshold, color="black", lw=1, ls="--")
    right.barh([shorten(c, 24) for c in zs["component"]][::-1], zs["z"].to_numpy()[::-1],
               color=["#4C72B0" if c > 1e-3 * max(explanation.score, 1e-9) else "#BBBBBB"
                      for c in zs["contribution"]][::-1])
    right.set_title(f"z per component ({explanation.unit}); grey: adds nothing",
                    fontsize=9)
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    state = "flagged" if explanation.flagged else "not flagged"
    fig.suptitle(f"{explanation.node_type} {explanation.node_id}: rank "
                 f"{explanation.rank} of {explanation.n}, {state}", fontsize=10)
    return fig
