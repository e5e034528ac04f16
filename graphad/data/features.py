"""Model inputs derived from a graph: node inputs, degrees, neighbour means."""
from __future__ import annotations

from typing import Dict, List

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

from ..typing import EdgeType, NodeType


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


def node_inputs(data: HeteroData, with_degree: bool = False) -> Dict[NodeType, Tensor]:
    """Each type's ``x``; a type without features gets its degree profile instead.

    With ``with_degree`` every type's ``x`` is followed by its degree profile (how many
    neighbours of each relation: a device shared by 15 accounts is an attribute of it).
    A missing modality is a missing node, so no zero vectors are invented here.
    """
    degrees = degree_features(data)
    out = {}
    for t in data.node_types:
        store = data[t]
        has_x = "x" in store and store.x is not None and store.x.shape[1] > 0
        if not has_x:
            out[t] = degrees[t]
        elif with_degree:
            out[t] = torch.cat([store.x.float(), degrees[t]], dim=1)
        else:
            out[t] = store.x.float()
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
