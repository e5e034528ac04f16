"""Edge evidence: each edge's attributes judged against the other edges of the same
endpoint, and the strongest such edge of each node.

An edge ``e = (u, v)`` of a relation with attributes (a payment's amount, a rating) gets,
per attribute column and per endpoint, a robust z of its value within that endpoint's
edges of the relation (this payment against that merchant's payments, this rating
against the ratings this rater gives): ``(a_e - c_g) / s_g`` with the group's median and
1.4826 MAD shrunk towards the relation-wide ones by ``PRIOR_EDGES`` pseudo-edges (a
group of one or two edges is judged against the whole relation); and one more against
the whole relation, since a dense ring that only pays itself makes every one of its
large transfers ordinary among its endpoints' own. The edge's time (the schema's
time column) is not judged here: when an edge was made is ``burst``'s to judge. The
edge's evidence is the largest two-sided surprisal over columns and endpoints (a heavy-tailed Student t,
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
from typing import Any, Dict, List, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

from ...components import (ComponentSpec, first_row, link_text, number_text,
                           register_component)
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
    return edge_evidence_sources(data, et)[0]


def edge_evidence_sources(data: HeteroData, et: EdgeType
                          ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`edge_evidence` and where it comes from: ``(evidence [m], against [m],
    column [m], z [m])`` with ``against`` 0 (the other edges of its source), 1 (of its
    destination) or 2 (the whole relation), ``column`` the ``edge_attr`` column and
    ``z`` its signed robust z there."""
    store = data[et]
    attr = store.edge_attr.float()
    attr = attr.view(-1, 1) if attr.dim() == 1 else attr
    ei = store.edge_index
    m = ei.size(1)
    sizes = (data[et[0]].num_nodes, data[et[2]].num_nodes)
    best = torch.zeros(m)
    against = torch.full((m,), 2, dtype=torch.long)
    column = torch.zeros(m, dtype=torch.long)
    signed = torch.zeros(m)
    everyone = torch.zeros(m, dtype=torch.long)     # the whole relation
    for g, (group, size) in enumerate(((ei[0], sizes[0]), (ei[1], sizes[1]),
                                       (everyone, 1))):
        for j in judged_columns(store):
            z = robust_edge_z(attr[:, j], group, size)
            s = two_sided_surprisal(z)
            more = s > best
            best = torch.where(more, s, best)
            against = torch.where(more, torch.full_like(against, g), against)
            column = torch.where(more, torch.full_like(column, j), column)
            signed = torch.where(more, z, signed)
    return best, against, column, signed


def judged_columns(store: Any) -> List[int]:
    """The ``edge_attr`` columns edge evidence judges: all but the edge time's
    (``time_attr``; when an edge was made is the ``burst`` component's to judge, and a
    first review years before the others is an old account, not an odd edge; models
    saved before judged it, and their prepared graph says ``time_evidence``); ``[]``
    without attributes."""
    if "edge_attr" not in store or store.edge_attr is None:
        return []
    width = 1 if store.edge_attr.dim() == 1 else store.edge_attr.size(1)
    judged = "time_attr" not in store or "time_evidence" in store   # saved before
    time = -1 if judged else int(store.time_attr)
    return [j for j in range(width) if j != time]


@register_precompute
def precompute_edge_evidence(data: HeteroData, own: Dict[NodeType, int]) -> None:
    """Per-edge evidence on forward relations and its pooled max per node."""
    pooled = {t: torch.full((data[t].num_nodes,), -math.inf) for t in data.node_types}
    counts = {t: torch.zeros(data[t].num_nodes) for t in data.node_types}
    found = False
    for et in data.edge_types:
        if is_reverse(et) or not judged_columns(data[et]) or data[et].num_edges == 0:
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

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        """``[(relation, evidence [m], calibrated [m], against [m], column [m], z [m])]``
        for each forward relation with attributes at the type (either end):
        :func:`edge_evidence_sources` and the relation-calibrated evidence the ``edge``
        component pools (``-log`` of the share of the relation's edges at least as
        unusual)."""
        out = []
        for et in batch.edge_types:
            store = batch[et]
            if is_reverse(et) or node_type not in (et[0], et[2]) or \
                    not judged_columns(store) or store.num_edges == 0:
                continue
            raw, against, column, z = edge_evidence_sources(batch, et)
            out.append((et, raw, empirical_surprisal(raw), against, column, z))
        return out


def judged_text(row: Any) -> str:
    """``"its amount 5000 where merchant m01's 120 pays edges have a median of 42"``:
    a row of an explanation's ``edge_evidence`` table in words."""
    return (f"its {row['attribute']} {number_text(row['value'])} where {row['against']} "
            f"have a median of {number_text(row['median'])}")


def _phrase(ex, name: str, rarity: str) -> str:
    """``"unusual link: pays merchant m01, its amount 5000 where merchant m01's 120
    pays edges have a median of 42 (edge: 1 in 900)"``: the node's most unusual edge
    and what it was judged against."""
    r = first_row(ex, "edge_evidence")
    if r is None:
        return f"an edge unlike the others at one of its ends (edge{rarity})"
    return (f"unusual link: {link_text(r['relation'], r['other'])}, {judged_text(r)} "
            f"(edge{rarity})")


register_component(ComponentSpec("edge", "most unusual incident edge attributes",
                                 phrase=_phrase))
