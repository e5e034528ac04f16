"""Scores for node sets (rings, farms, any group an analyst hands over).

:func:`score_subgraphs` describes each group with four measurements and combines three
of them into one score:

``member_z``
    how anomalous the members are: node scores are robust-z-scored within their type
    (:func:`~graphad.scoring.graphview.robust_z`, so users, devices and merchants share
    one scale); ``t`` = the mean of the group's ``k`` highest. ``t`` is then itself
    robust-z-scored against ``t`` of 256 random groups with the same number of members
    of each type (seeded, so repeatable), giving ``member_sigma``: a random group
    scores about 0 however large it is, and a group whose best members are extreme
    scores high. The term is ``member_z = sign * log(1 + |member_sigma|)``, on the
    same logarithmic scale as the two terms below (so that one extreme member does
    not outweigh the structure).
``log_density``
    how tightly the members are linked: per relation, observed internal edges ``O``
    against the number ``E`` a degree-preserving random graph (configuration model)
    would place among them, as ``log((O + 1) / (E + 1))``; the term is the sum of
    the positive ones over relations: each relation in which the group is unusually
    dense is independent evidence (a ring that follows each other *and* pays the same
    merchants is more suspicious than a circle of friends dense in follows alone). For a
    relation with ``m`` edges, ``E = D_out(S_src) * D_in(S_dst) / m`` (minus the
    self-pairs ``sum_i d_out_i d_in_i / m`` for a same-type relation), where ``D(S)``
    sums the members' degrees; on an undirected graph this is the familiar
    ``sum_{i<j} d_i d_j / (2m)``. Computed from degree sums: no ``N x N`` matrix.
    Links through an observation node count as a relation of their own (``wrote.about``
    where reviews are nodes: the user reviewed the product; distinct pairs, ``m`` =
    their number), so a ring of reviewers is dense in the products it reviewed.
    ``density_ratio`` reports ``sum O / sum E`` over all relations.
``log_shared`` (shared-neighbour concentration)
    whether the members share outside neighbours that mostly serve them (one device
    behind many accounts, one photo on several profiles, a merchant only they pay):
    per relation end, ``O`` = the member links into *concentrated* neighbours, i.e.
    non-members ``v`` with ``k_v >= 2`` member neighbours making up at least half of
    its ``d_v`` distinct neighbours of that type; against ``E``, the same count
    expected if the members were a random share ``p`` of their type
    (``sum_v E[X 1{X >= max(2, d_v / 2)}]``, ``X ~ Binomial(d_v, p)``), as
    ``log((O + 1) / (E + 1))``; the term is the largest over relations. Popular
    neighbours (a big merchant many members pay) do not count: they serve everyone.
``consistency`` (descriptive, not in the score)
    mean cosine similarity of the members' latents (or inputs) among themselves minus
    their mean similarity to their outside neighbours.

``score = mean(member_z, log_density, log_shared)`` over the terms available
(``member_z`` needs node scores). Each term is about 0 for a random group of ordinary
nodes and grows logarithmically with the evidence, so they can be averaged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..data.bundle import GraphBundle, as_bundle
from ..typing import NodeType
from .normalize import MAD_TO_STD
from .graphview import (Group, GraphView, View, external_members, get_scores,
                        induced, mean_pairwise_cosine, node_embeddings, resolve_group,
                        robust_z)

SCORE_TERMS = ("member_z", "log_density", "log_shared")
NULL_DRAWS = 256
NULL_SEED = 0
MAX_SHARED_LISTED = 10


@dataclass
class Subgraph:
    """A group of nodes and what was measured about it.

    Attributes:
        members: node type -> external ids.
        score: combined subgraph score (see the module docstring); NaN if not scored.
        rank: 1 for the most suspicious of a discovery run (0 if not ranked).
        seeds: the members that were flagged by their own score (discovery only).
        details: the row of :func:`score_subgraphs` for this group.
    """

    members: Dict[NodeType, List[Any]]
    score: float = float("nan")
    rank: int = 0
    seeds: Dict[NodeType, List[Any]] = field(default_factory=dict)
    details: Dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.members.values())

    def __len__(self) -> int:
        return self.size

    def pairs(self) -> List[Tuple[NodeType, Any]]:
        """Members as ``(type, id)`` pairs."""
        return [(t, i) for t, ids in self.members.items() for i in ids]

    def members_frame(self, reason: str = "") -> "pd.DataFrame":
        """One row per member: ``subgraph, subgraph_score, description, node_type, id,
        flagged`` (a member flagged by its own score), ``reason``."""
        import pandas as pd
        flagged = {(t, str(i)) for t, ids in self.seeds.items() for i in ids}
        rows = [{"subgraph": self.rank, "subgraph_score": self.score,
                 "description": self.describe(), "node_type": t, "id": str(i),
                 "flagged": (t, str(i)) in flagged, "reason": reason}
                for t, i in self.pairs()]
        return pd.DataFrame(rows, columns=["subgraph", "subgraph_score", "description",
                                           "node_type", "id", "flagged", "reason"])

    def describe(self) -> str:
        """``"12 user, 1 device, 1 photo"``."""
        return ", ".join(f"{len(v)} {t}" for t, v in self.members.items() if v)

    def __repr__(self) -> str:
        return f"Subgraph(rank={self.rank}, score={self.score:.3f}, {self.describe()})"


GroupLike = Union[Mapping[NodeType, Iterable[Any]], Iterable[Tuple[NodeType, Any]],
                  Subgraph]


def score_subgraphs(graph: Any, groups: Union[Sequence[GroupLike], Mapping[Any, GroupLike]],
                    detector: Any = None, scores: Optional[Mapping[NodeType, Any]] = None,
                    k: int = 3, view: Optional[GraphView] = None) -> pd.DataFrame:
    """Score node sets: member scores, density, shared neighbours, consistency.

    Args:
        graph: a :class:`GraphBundle` (or ``HeteroData`` / ``Data``).
        groups: a list of groups or a ``{name: group}`` mapping; each group is
            ``{node_type: [external ids]}``, a list of ``(node_type, id)`` pairs or a
            :class:`Subgraph`.
        detector: a fitted detector; its ``decision_function`` gives node scores and
            its latents the similarities (when it has them).
        scores: ``{node_type: scores}`` to use instead of the detector's.
        k: members averaged for the top-k terms.
        view: a prebuilt :class:`GraphView` of ``graph`` (to share work).

    Returns:
        DataFrame, one row per group in the given order: ``group``, ``size``,
        ``n_<type>``, ``score_mean`` / ``score_topk`` (raw node scores), ``topk_z``
        (top-k mean of per-type robust z), ``member_sigma``, ``member_z``,
        ``internal_edges``,
        ``expected_edges``, ``density_ratio``, ``log_density``,
        ``density_by_relation`` (``{relation: (observed, expected)}``),
        ``shared_links``, ``expected_shared_links``, ``log_shared``,
        ``shared_by_relation``, ``n_shared`` (non-members linked to >= 2 members),
        ``shared`` (the most concentrated of them as ``type:id (k/d)``: ``k``
        members among its ``d`` neighbours of their type),
        ``internal_sim``, ``external_sim``, ``consistency``, ``score``.

    Example:
        >>> score_subgraphs(graph, {"suspect": {"user": ["u1", "u2", "u3"]}}, detector)
    """
    bundle = as_bundle(graph)
    if isinstance(groups, Subgraph) or (isinstance(groups, Mapping)
                                        and _looks_like_group(groups, bundle)):
        groups = [groups]                  # one group given on its own
    if isinstance(groups, Mapping):
        names, items = list(groups.keys()), list(groups.values())
    else:
        items = list(groups)
        names = [g.rank if isinstance(g, Subgraph) and g.rank else i
                 for i, g in enumerate(items)]
    resolved = [resolve_group(bundle, g) for g in items]
    scorer = GroupScorer(bundle, view or GraphView(bundle),
                         get_scores(bundle, detector, scores), detector, int(k))
    rows = []
    for name, group in zip(names, resolved):
        row = {"group": name}
        row.update(scorer.score(group))
        rows.append(row)
    return pd.DataFrame(rows)


def _looks_like_group(groups: Mapping, bundle: GraphBundle) -> bool:
    """``{node_type: ids}`` (one group) rather than ``{name: group}``."""
    return bool(groups) and all(k in bundle.ids for k in groups) and not any(
        isinstance(v, (Mapping, Subgraph)) for v in groups.values())


class GroupScorer:
    """Scores groups of one graph (the per-graph precomputation shared by all)."""

    def __init__(self, bundle: GraphBundle, view: GraphView, scores, detector, k: int):
        self.bundle, self.view, self.k = bundle, view, max(1, k)
        self.scores = ({t: s.detach().cpu().double().numpy() for t, s in scores.items()}
                       if scores is not None else None)
        self.z = robust_z(scores) if scores is not None else None
        self.detector = detector
        self._nulls: Dict[Tuple[Tuple[NodeType, int], ...], Tuple[float, float]] = {}
        self._units: Optional[Tuple[Dict[NodeType, np.ndarray], bool]] = None
        self.out_deg = {et: np.asarray(m.sum(1)).ravel() for et, m in view.counts.items()}
        self.in_deg = {et: np.asarray(m.sum(0)).ravel() for et, m in view.counts.items()}
        self.m = {et: float(m.sum()) for et, m in view.counts.items()}
        self.derived = _derived_views(view)
        # per view: distinct degrees of the b nodes and how many have each
        self.degree_hist = [np.unique(v.deg_b[v.deg_b >= 2], return_counts=True)
                            for v in view.views()]

    @property
    def units(self) -> Tuple[Dict[NodeType, np.ndarray], bool]:
        if self._units is None:
            self._units = node_embeddings(self.bundle, self.detector)
        return self._units

    def score(self, group: Group) -> Dict[str, Any]:
        row: Dict[str, Any] = {"size": int(sum(len(v) for v in group.values()))}
        for t in self.bundle.node_types:
            row[f"n_{t}"] = int(len(group.get(t, ())))
        row.update(self.scored_terms(group))
        row.update(self._consistency(group))
        return row

    def log_density(self, group: Group) -> float:
        """The group's ``log_density`` term alone (how much denser than chance)."""
        return self._density(group)["log_density"]

    def scored_terms(self, group: Group) -> Dict[str, Any]:
        """The member, density and shared-neighbour terms and their ``score`` (no
        latents needed)."""
        row: Dict[str, Any] = {}
        row.update(self._member_terms(group))
        row.update(self._density(group))
        row.update(self._shared(group))
        terms = [row[t] for t in SCORE_TERMS if np.isfinite(row[t])]
        row["score"] = float(np.mean(terms)) if terms else float("nan")
        return row

    # -------------------------------------------------------------- members
    def _member_terms(self, group: Group) -> Dict[str, float]:
        if self.scores is None:
            return {"score_mean": math.nan, "score_topk": math.nan, "topk_z": math.nan,
                    "member_sigma": math.nan, "member_z": math.nan}
        raw = np.concatenate([self.scores[t][idx] for t, idx in group.items()
                              if t in self.scores] or [np.zeros(0)])
        z = np.concatenate([self.z[t][idx] for t, idx in group.items()
                            if t in self.z] or [np.zeros(0)])
        raw, z = raw[np.isfinite(raw)], z[np.isfinite(z)]
        if raw.size == 0:
            return {"score_mean": math.nan, "score_topk": math.nan, "topk_z": math.nan,
                    "member_sigma": math.nan, "member_z": math.nan}
        top = float(np.sort(z)[-self.k:].mean())
        med, scale = self._null(tuple(sorted((t, len(idx)) for t, idx in group.items()
                                             if t in self.z and len(idx))))
        return {"score_mean": float(raw.mean()),
                "score_topk": float(np.sort(raw)[-self.k:].mean()),
                "topk_z": top, "member_sigma": (top - med) / scale,
                "member_z": math.copysign(math.log1p(abs(top - med) / scale), top - med)}

    def _null(self, composition: Tuple[Tuple[NodeType, int], ...]) -> Tuple[float, float]:
        """Median and robust spread of the top-k mean z of random groups with this
        many members of each type."""
        if composition not in self._nulls:
            rng = np.random.default_rng(NULL_SEED)
            parts = []
            for t, n in composition:
                pool = self.z[t][np.isfinite(self.z[t])]
                if pool.size == 0:
                    continue
                parts.append(pool[rng.integers(0, pool.size, size=(NULL_DRAWS, n))])
            if not parts:
                self._nulls[composition] = (0.0, 1.0)
            else:
                draws = np.sort(np.concatenate(parts, axis=1), axis=1)[:, -self.k:]
                tops = draws.mean(1)
                med = float(np.median(tops))
                scale = MAD_TO_STD * float(np.median(np.abs(tops - med)))
                self._nulls[composition] = (med, scale if scale > 1e-12 else 1.0)
        return self._nulls[composition]

    # -------------------------------------------------------------- density
    def _density(self, group: Group) -> Dict[str, Any]:
        observed = expected = 0.0
        per: Dict[str, Tuple[float, float]] = {}
        for et, mat in self.view.counts.items():
            a, b = group.get(et[0]), group.get(et[2])
            if a is None or b is None or not len(a) or not len(b) or self.m[et] == 0:
                continue
            sub = induced(mat, a, b)
            obs = float(sub.sum())
            exp = float(self.out_deg[et][a].sum() * self.in_deg[et][b].sum()) / self.m[et]
            if et[0] == et[2]:   # no self-pairs
                obs -= float(sub.diagonal().sum())
                exp -= float((self.out_deg[et][a] * self.in_deg[et][a]).sum()) / self.m[et]
            exp = max(exp, 0.0)
            observed += obs
            expected += exp
            per[et[1]] = (round(obs, 6), round(exp, 6))
        for v in self.derived:   # entity to entity through an observation node
            a, b = group.get(v.a), group.get(v.b)
            if a is None or b is None or not len(a) or not len(b) or v.adj.nnz == 0:
                continue
            sub = induced(v.adj, a, b)
            obs = float(sub.sum()) - (float(sub.diagonal().sum()) if v.a == v.b else 0.0)
            exp = float(v.deg_a[a].sum() * v.deg_b[b].sum()) / v.adj.nnz
            if v.a == v.b:
                exp -= float((v.deg_a[a] * v.deg_b[a]).sum()) / v.adj.nnz
            exp = max(exp, 0.0)
            observed += obs
            expected += exp
            per[v.name] = (round(obs, 6), round(exp, 6))
        logs = [math.log((o + 1.0) / (e + 1.0)) for o, e in per.values()]
        return {"internal_edges": observed, "expected_edges": expected,
                "density_ratio": observed / expected if expected > 0 else math.nan,
                "log_density": sum(max(v, 0.0) for v in logs),
                "density_by_relation": per}

    # -------------------------------------------------------------- shared neighbours
    def _shared(self, group: Group) -> Dict[str, Any]:
        observed = expected = 0.0
        per: Dict[str, Tuple[float, float]] = {}
        best: Dict[Tuple[NodeType, int], Tuple[int, int]] = {}
        for v, (degrees, counts) in zip(self.view.views(), self.degree_hist):
            members = group.get(v.a)
            if members is None or not len(members):
                continue
            nbrs, k = np.unique(v.adj[members].indices, return_counts=True)
            inside = group.get(v.b)
            if inside is not None and len(inside) and nbrs.size:
                keep = ~np.isin(nbrs, inside)
                nbrs, k = nbrs[keep], k[keep]
            d = v.deg_b[nbrs]
            concentrated = (k >= 2) & (2 * k >= d)
            obs = float(k[concentrated].sum())
            exp = _expected_concentrated(degrees, counts,
                                         len(members) / self.view.num_nodes[v.a])
            observed += obs
            expected += exp
            per[f"{v.a}-{v.name}-{v.b}"] = (round(obs, 6), round(exp, 6))
            for j in np.flatnonzero(k >= 2):
                key = (v.b, int(nbrs[j]))
                if key not in best or best[key][0] < k[j]:
                    best[key] = (int(k[j]), int(d[j]))
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0] / kv[1][1], -kv[1][0]))
        listed = [f"{t}:{self.bundle.ids.external(t, [idx])[0]} ({kk}/{dd})"
                  for (t, idx), (kk, dd) in ranked[:MAX_SHARED_LISTED]]
        logs = [math.log((o + 1.0) / (e + 1.0)) for o, e in per.values()]
        return {"shared_links": observed, "expected_shared_links": expected,
                "log_shared": max(logs) if logs else 0.0, "n_shared": len(best),
                "shared": listed, "shared_by_relation": per}

    # -------------------------------------------------------------- consistency
    def _consistency(self, group: Group) -> Dict[str, float]:
        units, shared_space = self.units
        if shared_space:
            stack = np.concatenate([units[t][idx] for t, idx in group.items() if len(idx)])
            internal = mean_pairwise_cosine(stack)
        else:   # inputs: compare within a type only
            tot = cnt = 0.0
            for t, idx in group.items():
                n = len(idx)
                if n >= 2:
                    tot += mean_pairwise_cosine(units[t][idx]) * n * (n - 1)
                    cnt += n * (n - 1)
            internal = tot / cnt if cnt else math.nan
        sims: List[np.ndarray] = []
        for v in self.view.views():
            members = group.get(v.a)
            if members is None or not len(members) or not (shared_space or v.a == v.b):
                continue
            sub = v.adj[members].tocoo()
            rows, cols = members[sub.row], sub.col
            inside = group.get(v.b)
            if inside is not None and len(inside):
                keep = ~np.isin(cols, inside)
                rows, cols = rows[keep], cols[keep]
            if rows.size:
                sims.append((units[v.a][rows] * units[v.b][cols]).sum(1))
        external = float(np.concatenate(sims).mean()) if sims else math.nan
        return {"internal_sim": internal, "external_sim": external,
                "consistency": internal - external}


def _derived_views(view: GraphView) -> List[View]:
    """The links through observation nodes (``wrote.about``: a user reviewed a
    product), one direction of each: a group of reviewers dense in the products they
    reviewed is dense in them as in any direct relation."""
    out, seen = [], set()
    for v in view.views():
        if v.name in (v.edge_type[1], "rev_" + v.edge_type[1]):   # a direct relation
            continue
        parts = frozenset(p[len("rev_"):] if p.startswith("rev_") else p
                          for p in v.name.split("."))
        key = (frozenset((v.a, v.b)), parts)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def to_subgraph(bundle: GraphBundle, group: Group, row: Optional[Dict[str, Any]] = None,
                rank: int = 0, seeds: Optional[Group] = None) -> Subgraph:
    """A :class:`Subgraph` with external ids from index sets and a score row."""
    row = dict(row or {})
    return Subgraph(members=external_members(bundle, group),
                    score=float(row.get("score", math.nan)), rank=rank,
                    seeds=external_members(bundle, seeds or {}), details=row)


def _expected_concentrated(degrees: np.ndarray, counts: np.ndarray, p: float) -> float:
    """``sum_v E[X 1{X >= t_v}]`` for ``X ~ Binomial(d_v, p)``, ``t_v = max(2,
    ceil(d_v / 2))``, over neighbours grouped by degree. Uses
    ``E[X 1{X >= t}] = d p P(Binomial(d - 1, p) >= t - 1)``."""
    if not degrees.size or p <= 0:
        return 0.0
    from scipy.stats import binom
    t = np.maximum(2, np.ceil(degrees / 2))
    tail = binom.sf(t - 2, degrees - 1, min(p, 1.0))
    return float((counts * degrees * p * tail).sum())


__all__ = ["Subgraph", "score_subgraphs", "SCORE_TERMS", "to_subgraph"]