"""Incident-edge profile: a node whose edges, taken together, are unlike other nodes'.

For every forward relation with edge attributes, each end the node type takes (its
edges; edges to it) and each attribute column but the edges' time (when a node was
active is no oddity; ``burst`` judges times), a node's statistic is the mean of the
attribute over its edges, shrunk towards the relation's median by ``PRIOR_EDGES``
pseudo-edges (one -10 rating is weak evidence, fifteen are strong)::

    m(v) = (sum_{e at v} a_e + k * median_e a_e) / (deg(v) + k)

It is judged against the same statistic of the type's other nodes with such edges: the
deviation from their median, each side in units of its own 1.4826 MAD (a double MAD:
a skewed statistic spreads differently on its two sides), read on one side only, the
one whose tail then reaches further (the sign of the skewness of those deviations),
where the odd nodes lie. A trust network's received ratings are mostly positive and
its fraudsters a tail far below; its trusted users, rated highly by many, are the
upper edge of the bulk, and reading both sides would flag them too (choosing the tail
by skewness is ECOD's rule: Li et al., "ECOD: Unsupervised Outlier Detection Using
Empirical Cumulative Distribution Functions", TKDE 2022). A node's ``incident``
component is its largest excess over its tests, in those robust units (the training
graph's surprisal normalisation then turns it into nats: a tail model on a linear
distance lets ten alike fraudsters 20 units out stand apart from nodes 5 units out,
where a heavy-tailed transform first would compress them together); NaN for a node
without attributed edges.

Why a component of its own: ``edge`` judges each edge against its endpoints' other
edges, so a user whom all raters give -10 has no odd edge among its own; the isolation
forests see the aggregates among many other inputs (degrees, times, spreads), and on a
heavy-tailed network an extreme mean weighs no more there than any other extreme
column. Computed on the whole prepared graph (scatter sums and medians, no ``N x N``),
so exact in mini-batches; like the other untrained families (``edge``, ``peer``), its
medians, spreads and tail are those of the graph being scored.
"""
from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Dict, List, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import NodeType, is_reverse
from .base import (ComponentFamily, EdgeErrors, Errors, Latents, masked,
                   register_precompute)
from .edge_evidence import MAD_TO_STD, PRIOR_EDGES

KEY = "incident"
HAS_KEY = "incident__has"
#: fewest nodes with such edges for a test (a side's spread from fewer is noise)
MIN_NODES = 5


def shrunk_means(values: Tensor, nodes: Tensor, num_nodes: int) -> Tuple[Tensor, Tensor]:
    """``(m [n], has [n])``: each node's mean of ``values [m]`` over its edges
    (``nodes [m]``), shrunk towards the median of all ``values`` by
    :data:`PRIOR_EDGES` pseudo-edges."""
    v = values.double()
    count = torch.bincount(nodes, minlength=num_nodes).double()
    total = torch.zeros(num_nodes, dtype=torch.float64).index_add_(0, nodes, v)
    prior = float(v.median()) if v.numel() else 0.0
    return (total + PRIOR_EDGES * prior) / (count + PRIOR_EDGES), count > 0


def _half_scale(dev: Tensor) -> float:
    """1.4826 x the median of the non-negative deviations ``dev`` (0 for none)."""
    half = dev[dev >= 0]
    return MAD_TO_STD * float(half.median()) if half.numel() else 0.0


def skewed_side_excess(m: Tensor, has: Tensor) -> Tensor:
    """``[n]`` deviation of ``m`` from its median over the ``has`` nodes, each side in
    units of its own 1.4826 MAD (a double MAD: the bulk made symmetric), kept on the
    side whose tail then reaches further (the sign of the moment skewness of those
    deviations, over the nodes not tied with the median); 0 on the other side, for
    nodes without edges and where ``m`` does not vary."""
    v = m[has]
    zero = torch.zeros_like(m)
    if v.numel() < MIN_NODES or float(v.std(unbiased=False)) <= 1e-12:
        return zero
    med = v.median()
    whole = MAD_TO_STD * float((v - med).abs().median())
    fallback = whole if whole > 1e-12 else float(v.std(unbiased=False))
    lo = _half_scale(med - v) or fallback      # half the nodes or more tie the median
    hi = _half_scale(v - med) or fallback
    z = torch.where(m < med, (m - med) / lo, (m - med) / hi)
    zv = z[has & (z != 0)]       # nodes tied with the median say nothing of the tails
    skew = float(((zv - zv.mean()) ** 3).mean()) if zv.numel() else 0.0
    side = -1.0 if skew < 0 else 1.0
    return torch.where(has, (side * z).clamp(min=0), zero)


def incident_tests(data: HeteroData, node_type: NodeType) -> List[Tuple[Tensor, Tensor]]:
    """``[(excess [n], has [n])]``, one per (forward relation, end at ``node_type``,
    attribute column)."""
    n = data[node_type].num_nodes
    out = []
    for et in data.edge_types:
        store = data[et]
        if is_reverse(et) or "edge_attr" not in store or store.num_edges == 0:
            continue
        attr = store.edge_attr.view(store.num_edges, -1)
        # the edges' time says when a node was active, not how odd it is (``burst``
        # judges times): not an attribute to average here
        skip = {int(store.time_attr)} if "time_attr" in store else set()
        for end, t in ((0, et[0]), (1, et[2])):
            if t != node_type:
                continue
            for j in range(attr.size(1)):
                if j in skip:
                    continue
                ok = torch.isfinite(attr[:, j])
                m, has = shrunk_means(attr[ok, j], store.edge_index[end][ok], n)
                out.append((skewed_side_excess(m, has), has))
    return out


@register_precompute
def precompute_incident(data: HeteroData, own: Dict[NodeType, int]) -> None:
    for t in data.node_types:
        tests = incident_tests(data, t)
        if not tests:
            continue
        excess = torch.stack([torch.where(has, z, torch.full_like(z, -math.inf))
                              for z, has in tests]).float()
        has = torch.stack([h for _, h in tests]).any(0)
        best = excess.amax(0)
        data[t][KEY] = torch.where(has, best, torch.zeros_like(best))
        data[t][HAS_KEY] = has


class IncidentFamily(ComponentFamily):
    """Untrained: reads the precomputed ``incident`` component (see the module)."""

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        return {t: {"incident": masked(batch[t][KEY], batch[t][HAS_KEY])}
                for t in batch.node_types if KEY in batch[t]}, {}


def _phrase(ex, name: str, rarity: str) -> str:
    """``"its edges unlike other users' as a whole (incident: 1 in 900): mean rating
    over rates edges to it=-10 (-9.1σ)"``: the most unusual edge aggregate among the
    explanation's ``features``, where one is there."""
    text = f"its edges unlike other {ex.node_type}s' as a whole ({name}{rarity})"
    if ex.features.empty:
        return text
    edges = ex.features["feature"].str.contains(" edge", regex=False)
    timed = ex.features["value"].map(lambda v: isinstance(v, str))   # dates: not judged
    rows = ex.features[edges & ~timed]
    if rows.empty:
        return text
    from ...scoring.reasons import unusual_features_text
    rows = SimpleNamespace(features=rows, node_type=ex.node_type)
    return f"{text}: {unusual_features_text(rows, most=1)}"


register_component(ComponentSpec("incident", "its edges unlike other nodes' as a whole",
                                 phrase=_phrase))
