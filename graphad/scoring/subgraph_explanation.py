"""Explain a group of nodes (a discovered ring or farm, or any node set).

:func:`explain_subgraph` breaks the group's score (see
:func:`~graphad.scoring.subgraph.score_subgraphs`) into its terms, lists the members
with their scores and main component, the relations in which the group is denser
than a degree-preserving random graph, and the outside nodes it shares, and writes a
one-line reason such as ``"15 users, 1 device: 15 users share device d01623 (15 of
its 15); 46 follows among them (0.5 expected); top member u00123 (score 5.1, rank 2)"``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, List, Optional

import pandas as pd

from ..data.bundle import as_bundle
from .explain import _table_text, contributions
from .graphview import GraphView, external_members, resolve_group
from .group_evidence import GROUP
from .subgraph import SCORE_TERMS, GroupScorer

_SHARED = re.compile(r"^(?P<type>[^:]+):(?P<id>.*) \((?P<k>\d+)/(?P<d>\d+)\)$")


@dataclass
class SubgraphExplanation:
    """Why a group scores as it does.

    Attributes:
        members: node type -> external ids.
        score: the group's combined score.
        terms: ``term, value, contribution`` (the score is their mean, so each term
            contributes ``value / n_terms``; the contributions add up to the score).
        details: the full :func:`score_subgraphs` row.
        member_table: ``type, id, score, rank, flagged, main_component``, most
            anomalous first.
        relations: ``relation, observed, expected, ratio`` for internal edges.
        shared: ``neighbour, members, links`` (``members`` of its ``links``
            neighbours of the members' type are in the group).
        reason: one line of plain language.
    """

    members: dict
    score: float
    terms: pd.DataFrame
    details: dict
    member_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    relations: pd.DataFrame = field(default_factory=pd.DataFrame)
    shared: pd.DataFrame = field(default_factory=pd.DataFrame)
    reason: str = ""

    def to_text(self, max_rows: int = 10) -> str:
        lines = [self.reason, "", f"subgraph score {self.score:.3f} = mean of:",
                 _table_text(self.terms)]
        for title, table in (("members", self.member_table),
                             ("internal edges vs a degree-preserving random graph",
                              self.relations),
                             ("shared outside neighbours", self.shared)):
            if not table.empty:
                lines += ["", f"{title}:", _table_text(table.head(max_rows))]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def explain_subgraph(graph: Any, group: Any, detector: Any = None, scores=None,
                     k: int = 3, view: Optional[GraphView] = None,
                     components=None) -> SubgraphExplanation:
    """Explain a group: its score terms, members, internal density and shared nodes.

    Args:
        graph: the graph.
        group: a :class:`Subgraph`, ``{type: [ids]}`` or ``[(type, id), ...]``.
        detector: a fitted detector (node scores, components, thresholds).
        scores: ``{type: scores}`` instead of the detector's.
        k: members averaged in the member term.
        view: a prebuilt :class:`GraphView` of ``graph``.
        components: the detector's ``score_components(graph)``, if already computed.
            A :class:`Subgraph` from discovery keeps its score row, so nothing is
            scored twice.

    Example:
        >>> top = find_suspicious_subgraphs(graph, det, k=1)[0]
        >>> print(explain_subgraph(graph, top, det))
    """
    bundle = as_bundle(graph)
    idx = resolve_group(bundle, group)
    view = view or GraphView(bundle)
    comps = components
    if comps is None and detector is not None:
        comps = detector.score_components(bundle)
    if scores is None and comps is not None:
        scores = detector.combine(comps)
    row = getattr(group, "details", None)
    if not row or "density_by_relation" not in row:
        row = GroupScorer(bundle, view, scores, detector, k).score(idx)
    present = [t for t in SCORE_TERMS if math.isfinite(row[t])]
    terms = pd.DataFrame({"term": present, "value": [row[t] for t in present]})
    terms["contribution"] = terms["value"] / max(len(present), 1)
    ex = SubgraphExplanation(external_members(bundle, idx), float(row["score"]), terms,
                             row)
    ex.member_table = _members(bundle, idx, detector, comps, scores)
    ex.relations = pd.DataFrame(
        [{"relation": rel, "observed": o, "expected": e,
          "ratio": o / e if e > 0 else math.inf}
         for rel, (o, e) in row["density_by_relation"].items() if o > 0 or e > 0.5])
    ex.shared = _shared_table(row["shared"])
    ex.reason = _reason(ex)
    return ex


def _members(bundle, idx, detector, comps, scores) -> pd.DataFrame:
    rows = []
    thresholds = getattr(detector, "threshold_", None) or {}
    for t, nodes in idx.items():
        s = scores.get(t) if scores is not None else None
        for i in nodes.tolist():
            row = {"type": t, "id": bundle.ids.external(t, [i])[0]}
            if s is not None:
                row["score"] = float(s[i])
                row["rank"] = int((s > s[i]).sum()) + 1
                if t in thresholds:
                    row["flagged"] = bool(s[i] > thresholds[t])
            if comps is not None and t in comps:
                parts = contributions(detector, comps[t], i, t)
                # its own main evidence: the group component would cite this group
                own = parts[parts["component"] != GROUP]["component"]
                row["main_component"] = own.iloc[0] if len(own) else ""
            rows.append(row)
    table = pd.DataFrame(rows)
    if "score" in table:
        table = table.sort_values("score", ascending=False)
    return table.reset_index(drop=True)


def _shared_table(listed: List[str]) -> pd.DataFrame:
    rows = []
    for item in listed:
        m = _SHARED.match(item)
        if m:
            rows.append({"neighbour": f"{m['type']}:{m['id']}", "members": int(m["k"]),
                         "links": int(m["d"])})
    return pd.DataFrame(rows)


def _reason(ex: SubgraphExplanation) -> str:
    sizes = ", ".join(f"{len(v)} {t}{'s' if len(v) != 1 else ''}"
                      for t, v in ex.members.items() if v)
    parts: List[str] = []
    concentrated = ex.shared[2 * ex.shared["members"] >= ex.shared["links"]] \
        if not ex.shared.empty else ex.shared
    if not concentrated.empty:
        top = concentrated.sort_values("members", ascending=False).head(2)
        things = " and ".join(f"{r['neighbour'].replace(':', ' ', 1)} ({r['members']} of "
                              f"its {r['links']})" for _, r in top.iterrows())
        parts.append(f"share {things}")
    if not ex.relations.empty:
        dense = ex.relations[ex.relations["observed"] > 2 * ex.relations["expected"]]
        dense = dense.sort_values("ratio", ascending=False).head(2)
        if not dense.empty:
            counts = " and ".join(f"{int(r['observed'])} {r['relation']}"
                                  for _, r in dense.iterrows())
            expected = " and ".join(f"{r['expected']:.1f}" for _, r in dense.iterrows())
            parts.append(f"{counts} links among them ({expected} expected)")
    if not ex.member_table.empty and "score" in ex.member_table:
        top = ex.member_table.iloc[0]
        parts.append(f"top member {top['type']} {top['id']} (score {top['score']:.2f}, "
                     f"rank {top['rank']}, {top.get('main_component', '')})")
    return f"{sizes}: " + "; ".join(parts) if parts else sizes


__all__ = ["SubgraphExplanation", "explain_subgraph"]
