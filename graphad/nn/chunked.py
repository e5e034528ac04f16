"""Exact whole-graph message passing in slices of destination nodes (memory-bounded
inference).

A relation conv that aggregates per destination node (SAGE's mean, GATv2's softmax over a
node's in-edges) gives the same output for a destination whether it sees the whole
graph or only that node's in-edges. :func:`by_destination` runs a conv over slices of
destinations holding at most ``chunk`` in-edges each, so the ``[m, hidden]`` message
tensors never exceed ``[chunk, hidden]``: whole-graph scoring costs O(N * hidden + E)
memory instead of O(E * hidden), with the same result as one full-batch call.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

from ..typing import EdgeType, NodeType

#: in-edges per slice of destinations (messages of ``[CHUNK_EDGES, hidden]`` at a time)
CHUNK_EDGES = 500_000


def destination_slices(dst: Tensor, num_dst: int, chunk: int):
    """``(order, ptr, bounds)``: edges sorted by destination (``order``), the CSR pointer
    ``ptr [num_dst + 1]`` and destination boundaries ``bounds`` such that each slice
    ``[bounds[i], bounds[i + 1])`` holds at most ``chunk`` in-edges (a node with more
    in-edges than that gets a slice of its own)."""
    dst_sorted, order = torch.sort(dst, stable=True)
    ptr = torch.searchsorted(dst_sorted, torch.arange(num_dst + 1, dtype=dst.dtype))
    bounds = [0]
    while bounds[-1] < num_dst:
        start = bounds[-1]
        end = int(torch.searchsorted(ptr, ptr[start] + chunk, right=True)) - 1
        bounds.append(min(max(end, start + 1), num_dst))
    return order, ptr, bounds


def by_destination(conv: nn.Module, x_src: Tensor, x_dst: Tensor, edge_index: Tensor,
                   edge_attr: Optional[Tensor], chunk: int) -> Tensor:
    """``conv((x_src, x_dst), edge_index, edge_attr=...)`` ``[n_dst, out]``, computed in
    slices of destinations with at most ``chunk`` in-edges each."""
    def call(xd: Tensor, ei: Tensor, attr: Optional[Tensor]) -> Tensor:
        if attr is None:
            return conv((x_src, xd), ei)
        return conv((x_src, xd), ei, edge_attr=attr)

    if edge_index.size(1) <= chunk:
        return call(x_dst, edge_index, edge_attr)
    order, ptr, bounds = destination_slices(edge_index[1], x_dst.size(0), chunk)
    parts: List[Tensor] = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        e = order[int(ptr[a]):int(ptr[b])]
        ei = torch.stack([edge_index[0, e], edge_index[1, e] - a])
        parts.append(call(x_dst[a:b], ei, None if edge_attr is None else edge_attr[e]))
    return torch.cat(parts)


def hetero_layer(convs: Dict[EdgeType, nn.Module], h: Dict[NodeType, Tensor],
                 edge_index_dict: Dict[EdgeType, Tensor],
                 edge_attr_dict: Optional[Dict[EdgeType, Tensor]], chunk: int
                 ) -> Dict[NodeType, Tensor]:
    """What ``HeteroConv(convs, aggr="mean")`` returns, each relation run
    :func:`by_destination`. The relations' outputs are summed as they come (in place
    without autograd), so a type with ``k`` incoming relations holds two ``[n,
    hidden]`` tensors at a time, not ``2 k`` (a stack and its mean)."""
    total: Dict[NodeType, Tensor] = {}
    count: Dict[NodeType, int] = {}
    for et, conv in convs.items():
        if et not in edge_index_dict:
            continue
        src, _, dst = et
        attr = (edge_attr_dict or {}).get(et)
        out = by_destination(conv, h[src], h[dst], edge_index_dict[et], attr, chunk)
        if dst not in total:
            total[dst] = out
        elif torch.is_grad_enabled():
            total[dst] = total[dst] + out
        else:
            total[dst].add_(out)
        count[dst] = count.get(dst, 0) + 1
    return {t: v / count[t] if count[t] > 1 else v for t, v in total.items()}
