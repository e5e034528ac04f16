"""Edge evidence: each edge's attributes judged against the other edges of the same
endpoint, and the strongest such edge of each node.

An edge ``e = (u, v)`` of a relation with attributes (a payment's amount, a rating) gets,
per attribute column and per endpoint, a robust z of its value within that endpoint's
edges of the relation (this payment against that merchant's payments, this rating
against the ratings this rater gives): ``(a_e - c_g) / s_g`` with the group's median and
1.4826 MAD shrunk towards the relation-wide ones by ``PRIOR_EDGES`` pseudo-edges (a
group of one or two edges is judged against the whole relation); and one more against
the whole relation, since a dense ring that only pays itself makes every one of its
large transfers ordinary among its endpoints' own. The edge's evidence is
the largest two-sided surprisal over columns and endpoints (a heavy-tailed Student t,
:func:`~graphad.nn.families.base.two_sided_surprisal`), in nats. For a node it is
calibrated on the relation's own edges: ``-log`` of the share of its edges at least as
unusual (no tail model fits every attribute, and a miscalibrated one favours nodes with
many edges). A node's ``edge`` component is the
evidence of its most unusual incident edge less ``log`` of how many it has (a
Bonferroni correction, ``-log(deg * min p)``: a node with 500 payments is not flagged
for having one 1-in-500 payment). Edge scores keep the uncalibrated surprisal, so a
payment ten times its merchant's usual stands out by how far it is, not only by rank.

Computed on the whole prepared graph (sorting, no ``N x N``), so it is exact in
mini-batches; ``score_edges`` carries the per-edge evidence.
"""
from __future__ import annotations

import math
from typing import Dict, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

from ...components import ComponentSpec, link_text, register_component
from ...data.features import robust_center_scale
from ...typing import EdgeType, NodeType, is_reverse
from .base import (ComponentFamily, EdgeErrors, Errors, Latents, masked,
                   register_precompute, two_sided_surprisal)

PRIOR_EDGES = 5.0        # pseudo-edges pulling a group's median / scale to the relation's
MAD_TO_STD = 1.4826
EDGE_KEY = "edge_ev"     # per-edge evidence (forward relations) / per-node pooled evidence
HAS_KEY = "edge_ev_has"


def segment_median(values: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """Median of ``values [m]`` per group id ``group [m]``: ``[num_groups]`` (NaN where
    a group is empty)."""
    m = values.numel()
    counts = torch.bincount(group, minlength=num_groups)
    if m == 0:
        return torch.full((num_groups,), float("nan"), dtype=values.dtype)
    order = torch.argsort(values, stable=True)
    order = order[torch.argsort(group[order], stable=True)]
    ordered = values[order]
    start = torch.cumsum(counts, 0) - counts
    lo = (start + (counts - 1).clamp(min=0) // 2).clamp(max=m - 1)
    hi = (start + counts // 2).clamp(max=m - 1)
    med = 0.5 * (ordered[lo] + ordered[hi])
    return torch.where(counts > 0, med, torch.full_like(med, float("nan")))


def robust_edge_z(values: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """Robust z ``[m]`` of each value within its group, shrunk to the global median /
    scale by :data:`PRIOR_EDGES` (see the module docstring)."""
    v = values.double()
    g_med, g_scale = (float(a[0]) for a in robust_center_scale(v.view(-1, 1)))
    n = torch.bincount(group, minlength=num_groups).double()
    med = torch.nan_to_num(segment_median(v, group, num_groups), nan=g_med)
    mad = MAD_TO_STD * torch.nan_to_num(
        segment_median((v - med[group]).abs(), group, num_groups), nan=0.0)
    w = n / (n + PRIOR_EDGES)
    center = w * med + (1 - w) * g_med
    scale = torch.sqrt(w * mad.pow(2) + (1 - w) * g_scale ** 2)
    return ((v - center[group]) / scale[group]).float()


def empirical_surprisal(values: Tensor) -> Tensor:
    """``-log P(V >= v)`` of each value under the values' own empirical distribution
    (the top one of ``m`` gets ``log m``; ties share the rarer level)."""
    m = values.numel()
    if m == 0:
        return values
    ordered = torch.sort(values).values
    at_least = m - torch.searchsorted(ordered, values, right=False)
    return -torch.log(at_least.double() / m).float()


def edge_evidence(data: HeteroData, et: EdgeType) -> Tensor:
    """Per-edge evidence ``[m]`` of one relation with ``edge_attr``: the largest
    two-sided surprisal of its robust z over columns, ends and the whole relation
    (nats)."""
    store = data[et]
    attr = store.edge_attr.float()
    attr = attr.view(-1, 1) if attr.dim() == 1 else attr
    ei = store.edge_index
    sizes = (data[et[0]].num_nodes, data[et[2]].num_nodes)
    best = torch.zeros(ei.size(1))
    everyone = torch.zeros(ei.size(1), dtype=torch.long)     # the whole relation
    for group, size in ((ei[0], sizes[0]), (ei[1], sizes[1]), (everyone, 1)):
        for j in range(attr.size(1)):
            z = robust_edge_z(attr[:, j], group, size)
            best = torch.maximum(best, two_sided_surprisal(z))
    return best


@register_precompute
def precompute_edge_evidence(data: HeteroData, own: Dict[NodeType, int]) -> None:
    """Per-edge evidence on forward relations and its pooled max per node."""
    pooled = {t: torch.full((data[t].num_nodes,), -math.inf) for t in data.node_types}
    counts = {t: torch.zeros(data[t].num_nodes) for t in data.node_types}
    found = False
    for et in data.edge_types:
        if is_reverse(et) or "edge_attr" not in data[et] or data[et].num_edges == 0:
            continue
        found = True
        raw = edge_evidence(data, et)
        data[et][EDGE_KEY] = raw      # edge scores keep the magnitude
        ev = empirical_surprisal(raw)
        ei = data[et].edge_index
        for end in (0, 1):   # a same-type relation counts for both of its ends
            t = et[2 * end]
            n = data[t].num_nodes
            pooled[t] = torch.maximum(pooled[t], scatter(ev, ei[end], 0, dim_size=n,
                                                         reduce="max"))
            counts[t] += torch.bincount(ei[end], minlength=n).float()
    if not found:
        return
    for t in data.node_types:
        has = counts[t] > 0
        if has.any():
            data[t][EDGE_KEY] = torch.where(has, pooled[t] - torch.log(counts[t].clamp(min=1)),
                                            torch.zeros_like(counts[t]))
            data[t][HAS_KEY] = has


class EdgeEvidenceFamily(ComponentFamily):
    """Untrained: reads the precomputed evidence. Component ``edge``; per-edge errors
    for every forward relation with attributes."""

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        nodes: Errors = {}
        for t in batch.node_types:
            store = batch[t]
            if EDGE_KEY in store:
                nodes[t] = {"edge": masked(store[EDGE_KEY], store[HAS_KEY])}
        edges: EdgeErrors = {et: batch[et][EDGE_KEY] for et in batch.edge_types
                             if EDGE_KEY in batch[et]}
        return nodes, edges


def _phrase(ex, name: str, rarity: str) -> str:
    if not ex.edges.empty:
        e = ex.edges.iloc[0]
        attrs = ", ".join(f"{k}={v}" for k, v in e.items()
                          if k not in ("relation", "other", "z", "error") and
                          not (isinstance(v, float) and math.isnan(v)))
        return (f"unusual link: {link_text(e['relation'], e['other'])}"
                f"{f' ({attrs})' if attrs else ''}, unlike the other edges at one of "
                f"its ends (edge{rarity})")
    return f"an edge unlike the others at one of its ends (edge{rarity})"


register_component(ComponentSpec("edge", "most unusual incident edge attributes",
                                 phrase=_phrase))
