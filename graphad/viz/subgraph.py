"""A group of nodes drawn: types as colours and shapes, scores as size, flags in red."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..data.bundle import as_bundle
from ..scoring.graphview import resolve_group
from ._figure import FLAG_COLOUR, new_figure, shorten, type_styles

MAX_EDGE_LABELS = 12


def subgraph_edges(bundle, index: Dict[str, np.ndarray]
                   ) -> List[Tuple[Tuple[str, int], Tuple[str, int], Tuple, int]]:
    """Edges of forward relations with both ends in ``index`` (type -> node indices):
    ``((src type, src), (dst type, dst), relation, edge position)``."""
    found = []
    for et in bundle.edge_types:
        s, _, d = et
        if s not in index or d not in index:
            continue
        ei = bundle.data[et].edge_index.numpy()
        keep = np.isin(ei[0], index[s]) & np.isin(ei[1], index[d])
        for e in np.flatnonzero(keep):
            found.append(((s, int(ei[0, e])), (d, int(ei[1, e])), et, int(e)))
    return found


def draw_subgraph(graph: Any, group: Any, scores: Optional[Mapping[str, Any]] = None,
                  thresholds: Optional[Mapping[str, float]] = None,
                  detector: Any = None, title: Optional[str] = None,
                  max_edge_labels: int = MAX_EDGE_LABELS, seed: int = 0,
                  width: float = 7.0, height: float = 5.5):
    """Draw a group of nodes and the edges among them.

    Node types are colours and marker shapes; the edges of every relation among the
    members are drawn (both directions of a pair, or two relations, as one line); a node's size grows with its score;
    nodes above their type's threshold (or, for a discovered
    :class:`~graphad.scoring.subgraph.Subgraph`, its seeds) get a red ring. Where the
    group has at most ``max_edge_labels`` edges with attributes (amounts, ratings),
    those are written on the edges.

    Args:
        graph: the scored graph (``GraphBundle`` ...).
        group: a :class:`~graphad.scoring.subgraph.Subgraph`, ``{type: [ids]}`` or
            ``[(type, id), ...]``.
        scores, thresholds: ``{type: Tensor[n]}`` and ``{type: float}``; from
            ``detector`` (``decision_function`` and ``threshold_``) where not given.
        seed: layout seed (the same seed draws the same picture).
    """
    import networkx as nx
    from ..scoring.subgraph import Subgraph
    bundle = as_bundle(graph)
    index = resolve_group(bundle, group)          # clear errors for unknown ids
    if scores is None and detector is not None:
        scores = detector.decision_function(bundle)
    if thresholds is None and detector is not None:
        thresholds = getattr(detector, "threshold_", None)
    scores, thresholds = scores or {}, thresholds or {}
    seeds = ({(t, str(i)) for t, ids in group.seeds.items() for i in ids}
             if isinstance(group, Subgraph) else None)

    g = nx.Graph()
    for t, idx in index.items():
        for i, ext in zip(idx.tolist(), bundle.ids.external(t, idx.tolist())):
            s = float(scores[t][i]) if t in scores else float("nan")
            thr = thresholds.get(t)
            flagged = ((t, str(ext)) in seeds if seeds is not None
                       else thr is not None and s > float(thr))
            g.add_node((t, i), type=t, label=str(ext), score=s, flagged=flagged)
    edges = subgraph_edges(bundle, index)
    for a, b, et, e in edges:
        g.add_edge(a, b, relation=et[1], pos=e, et=et)

    styles = type_styles(bundle.node_types)
    pos = nx.spring_layout(g, seed=seed, k=1.5 / max(np.sqrt(g.number_of_nodes()), 1))
    fig = new_figure(width, height)
    ax = fig.add_subplot()
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#999999", width=0.8, alpha=0.7)
    all_scores = np.array([d["score"] for _, d in g.nodes(data=True)], dtype=float)
    finite = all_scores[np.isfinite(all_scores)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    for t in index:
        nodes = [n for n, d in g.nodes(data=True) if d["type"] == t]
        s = np.array([g.nodes[n]["score"] for n in nodes], dtype=float)
        rel = np.where(np.isfinite(s), (s - lo) / (hi - lo + 1e-12), 0.0)
        sizes = 80 + 420 * np.sqrt(np.clip(rel, 0, 1))
        colour, marker = styles[t]
        rings = [FLAG_COLOUR if g.nodes[n]["flagged"] else "white" for n in nodes]
        nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=colour,
                               node_shape=marker, node_size=sizes, edgecolors=rings,
                               linewidths=2.0, ax=ax, label=f"{t} ({len(nodes)})")
    if g.number_of_nodes() <= 40:
        nx.draw_networkx_labels(g, pos, {n: shorten(d["label"], 12)
                                         for n, d in g.nodes(data=True)},
                                font_size=6, ax=ax, verticalalignment="bottom")
    labels = _edge_labels(bundle, g, max_edge_labels)
    if labels:
        nx.draw_networkx_edge_labels(g, pos, labels, font_size=6, ax=ax)
    ax.legend(loc="upper left", fontsize=7, markerscale=0.5, frameon=False)
    ax.set_axis_off()
    n_flagged = sum(d["flagged"] for _, d in g.nodes(data=True))
    ax.set_title(title or (f"{g.number_of_nodes()} nodes, {len(edges)} edges; "
                           f"{n_flagged} flagged (red ring); size = score"), fontsize=9)
    return fig


def _edge_labels(bundle, g, limit: int) -> Dict[Tuple, str]:
    """``edge -> "amount 950"`` where the group has at most ``limit`` edges that carry
    attributes."""
    with_attrs = [(a, b, d) for a, b, d in g.edges(data=True)
                  if len(bundle.edges_raw.get(d["et"], ())) > d["pos"]
                  and len(bundle.edges_raw[d["et"]].columns) > 2]
    if not with_attrs or len(with_attrs) > limit:
        return {}
    out = {}
    for a, b, d in with_attrs:
        row = bundle.edges_raw[d["et"]].iloc[d["pos"]]
        col = row.index[2]
        value = row[col]
        text = f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
        out[(a, b)] = f"{col} {shorten(text, 12)}"
    return out
