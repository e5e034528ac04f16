"""Model inputs derived from a graph: node inputs, degrees, neighbour means."""
from __future__ import annotations

from typing import Dict, Iterator, List, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

from ..typing import EdgeType, NodeType, is_reverse, reverse_edge_type


def degree_features(data: HeteroData) -> Dict[NodeType, Tensor]:
    """``log1p`` in-degree per incoming relation: ``{type: FloatTensor[n, r_in]}``."""
    out: Dict[NodeType, List[Tensor]] = {t: [] for t in data.node_types}
    for et in data.edge_types:
        dst = et[2]
        n = data[dst].num_nodes
        deg = torch.bincount(data[et].edge_index[1], minlength=n).float()
        out[dst].append(torch.log1p(deg).view(-1, 1))
    return {t: (torch.cat(v, 1) if v else torch.zeros(data[t].num_nodes, 1))
            for t, v in out.items()}


#: aggregates of incident edge attributes, per relation, end and attribute column
EDGE_STATS = ("mean", "min", "max", "std")
EDGE_CLIP = 20.0
MAD_TO_STD = 1.4826


def edge_stat_features(data: HeteroData) -> Dict[NodeType, Tensor]:
    """Aggregates of incident edge attributes: ``{type: FloatTensor[n, k]}``.

    For every forward relation with ``edge_attr`` and each of its ends, per attribute
    column: the mean, min, max and std over the node's edges of that relation (a user's
    received ratings, a merchant's payment amounts), on the column robustly scaled over
    the relation (median 0, 1.4826 MAD 1, clipped at +-20), 0 where the node has no such
    edge (its degree says so). Types without attributed edges get ``[n, 0]``.
    """
    out: Dict[NodeType, List[Tensor]] = {t: [] for t in data.node_types}
    for et in data.edge_types:
        if is_reverse(et) or "edge_attr" not in data[et]:
            continue
        attr = data[et].edge_attr.float()
        attr = attr.view(-1, 1) if attr.dim() == 1 else attr
        attr = _robust_scale(attr)
        ei = data[et].edge_index
        for end in (0, 1):
            t = et[2 * end]
            n = data[t].num_nodes
            idx = ei[end]
            has = (torch.bincount(idx, minlength=n) > 0).view(-1, 1)
            mean = scatter(attr, idx, 0, dim_size=n, reduce="mean")
            sq = scatter(attr.pow(2), idx, 0, dim_size=n, reduce="mean")
            std = (sq - mean.pow(2)).clamp(min=0).sqrt()
            lo = scatter(attr, idx, 0, dim_size=n, reduce="min")
            hi = scatter(attr, idx, 0, dim_size=n, reduce="max")
            for part in (mean, lo, hi, std):
                out[t].append(torch.where(has, part, torch.zeros_like(part)))
    return {t: (torch.cat(v, 1) if v else torch.zeros(data[t].num_nodes, 0))
            for t, v in out.items()}


def category_columns(bundle, x: Dict[NodeType, Tensor]) -> Dict[NodeType, Tensor]:
    """``{type: BoolTensor[d]}``: which columns of ``x[t]`` (own features first) are
    one-hot categories of the schema (feature names ``column=value``)."""
    out = {}
    for t, v in x.items():
        names = bundle.feature_names.get(t) or []
        mask = torch.zeros(v.size(1), dtype=torch.bool)
        for j, name in enumerate(names[:v.size(1)]):
            mask[j] = "=" in str(name)
        out[t] = mask
    return out


def _attributed(data: HeteroData) -> Iterator[Tuple[EdgeType, int]]:
    """The forward relations with edge attributes and their attribute columns."""
    for et in data.edge_types:
        if is_reverse(et) or "edge_attr" not in data[et]:
            continue
        attr = data[et].edge_attr
        yield et, 1 if attr.dim() == 1 else attr.size(1)


def edge_stat_widths(data: HeteroData) -> Dict[NodeType, int]:
    """Columns :func:`edge_stat_features` gives each type (without computing them)."""
    out = {t: 0 for t in data.node_types}
    for et, cols in _attributed(data):
        for t in (et[0], et[2]):
            out[t] += len(EDGE_STATS) * cols
    return out


def edge_mean_columns(data: HeteroData) -> Dict[NodeType, List[Tuple[int, EdgeType, int]]]:
    """Where :func:`edge_stat_features` puts the *mean* of each edge attribute other
    than a relation's time column: ``{type: [(offset in its aggregates, relation into
    the type, attribute column)]}`` (the relation as seen from the type: the forward
    one at its destination end, the reverse one at its source end)."""
    out: Dict[NodeType, List[Tuple[int, EdgeType, int]]] = {t: [] for t in data.node_types}
    offset = {t: 0 for t in data.node_types}
    for et, cols in _attributed(data):
        time = int(data[et].time_attr) if "time_attr" in data[et] else -1
        for end, t in enumerate((et[0], et[2])):
            into = et if end == 1 else reverse_edge_type(et)
            out[t] += [(offset[t] + k, into, k) for k in range(cols) if k != time]
            offset[t] += len(EDGE_STATS) * cols
    return {t: v for t, v in out.items() if v}


def robust_center_scale(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Column median and 1.4826 MAD of ``x [n, d]`` (the std where the MAD is 0, then 1):
    ``([d], [d])``; ``(0, 1)`` for no rows."""
    if x.size(0) == 0:
        return x.new_zeros(x.size(1)), x.new_ones(x.size(1))
    med = x.median(dim=0).values
    mad = MAD_TO_STD * (x - med).abs().median(dim=0).values
    std = x.std(dim=0, unbiased=False) if x.size(0) > 1 else torch.ones_like(med)
    return med, torch.where(mad > 1e-9, mad,
                            torch.where(std > 1e-9, std, torch.ones_like(mad)))


def _robust_scale(attr: Tensor) -> Tensor:
    if attr.size(0) == 0:
        return attr
    med, scale = robust_center_scale(attr)
    return ((attr - med) / scale).clamp(-EDGE_CLIP, EDGE_CLIP)


def own_width(data: HeteroData, node_type: NodeType) -> int:
    """Width of a type's own ``x`` (0 where it has none)."""
    store = data[node_type]
    return int(store.x.shape[1]) if "x" in store and store.x is not None else 0


def node_inputs(data: HeteroData, with_degree: bool = False,
                with_edge_stats: bool = False) -> Dict[NodeType, Tensor]:
    """Each type's ``x``; a type without features gets its degree profile instead.

    With ``with_degree`` every type's ``x`` is followed by its degree profile (how many
    neighbours of each relation: a device shared by 15 accounts is an attribute of it);
    with ``with_edge_stats`` then by its incident edge-attribute aggregates
    (:func:`edge_stat_features`). A missing modality is a missing node, so no zero
    vectors are invented here. The own ``x`` always comes first (:func:`own_width`
    columns).
    """
    degrees = degree_features(data)
    stats = edge_stat_features(data) if with_edge_stats else {}
    out = {}
    for t in data.node_types:
        parts = [data[t].x.float()] if own_width(data, t) > 0 else []
        if with_degree or not parts:
            parts.append(degrees[t])
        if t in stats and stats[t].size(1):
            parts.append(stats[t])
        out[t] = torch.cat(parts, dim=1)
    return out


def neighbour_mean(x_src: Tensor, edge_index: Tensor, num_dst: int) -> Tensor:
    """Mean of source features over each destination's in-edges: ``[num_dst, d]``.

    Destinations without in-edges get zeros (pair with :func:`has_neighbour`).
    """
    return scatter(x_src[edge_index[0]], edge_index[1], dim=0, dim_size=num_dst,
                   reduce="mean")


def has_neighbour(edge_index: Tensor, num_dst: int) -> Tensor:
    return torch.bincount(edge_index[1], minlength=num_dst) > 0


def incoming(data: HeteroData, node_type: NodeType) -> List[EdgeType]:
    return [et for et in data.edge_types if et[2] == node_type]
