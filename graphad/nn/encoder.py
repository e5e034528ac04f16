"""Heterogeneous GNN encoder: per-type projection, then L message-passing layers."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv, HeteroConv, HGTConv

from ..typing import EdgeType, NodeType, edge_type_str
from .chunked import hetero_layer
from .conv import EdgeSAGEConv

CONVS = ("sage", "gatv2", "hgt")
HGT_HEADS = 2


class HeteroEncoder(nn.Module):
    """``{type: x}`` -> ``{type: z}`` with shared hidden size.

    Args:
        metadata: ``(node_types, edge_types)`` of the graph.
        in_dims: input width per node type.
        hidden: hidden / latent size.
        layers: message-passing layers.
        conv: ``"sage"`` (edge-aware SAGE per relation), ``"gatv2"`` (GATv2 per
            relation, edge-aware) or ``"hgt"`` (HGTConv; ignores edge attributes).
        edge_dims: edge attribute width per relation (absent / 0: none).
        dropout: dropout between layers.

    Shapes:
        - **input:** ``x_dict`` ``{t: [n_t, in_dims[t]]}``, ``edge_index_dict``,
          optional ``edge_attr_dict``
        - **output:** ``{t: [n_t, hidden]}``

    ``chunk`` (forward): run each relation in slices of destinations with at most that
    many in-edges (:mod:`graphad.nn.chunked`; same result, memory bounded by the
    slice); ignored by ``"hgt"``, whose attention spans every relation at once.
    """

    def __init__(self, metadata: Tuple[List[NodeType], List[EdgeType]],
                 in_dims: Dict[NodeType, int], hidden: int = 64, layers: int = 2,
                 conv: str = "sage", edge_dims: Optional[Dict[EdgeType, int]] = None,
                 dropout: float = 0.0):
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {CONVS}, got {conv!r}")
        node_types, edge_types = metadata
        edge_dims = edge_dims or {}
        self.conv_kind, self.dropout = conv, dropout
        self.proj = nn.ModuleDict({t: nn.Linear(in_dims[t], hidden) for t in node_types})
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(layers):
            if conv == "hgt":
                self.convs.append(HGTConv(hidden, hidden, metadata, heads=HGT_HEADS))
            else:
                self.convs.append(HeteroConv(
                    {et: self._relation_conv(conv, hidden, edge_dims.get(et) or None)
                     for et in edge_types}, aggr="mean"))
            self.norms.append(nn.ModuleDict({t: nn.LayerNorm(hidden) for t in node_types}))

    @staticmethod
    def _relation_conv(conv: str, hidden: int, edge_dim: Optional[int]) -> nn.Module:
        if conv == "gatv2":
            return GATv2Conv((hidden, hidden), hidden, heads=1, edge_dim=edge_dim,
                             add_self_loops=False)
        return EdgeSAGEConv((hidden, hidden), hidden, edge_dim=edge_dim)

    def project(self, x_dict: Dict[NodeType, Tensor]) -> Dict[NodeType, Tensor]:
        """Layer 0: each type's own input in the shared space (no neighbours)."""
        return {t: self.proj[t](x) for t, x in x_dict.items()}

    def forward(self, x_dict: Dict[NodeType, Tensor],
                edge_index_dict: Dict[EdgeType, Tensor],
                edge_attr_dict: Optional[Dict[EdgeType, Tensor]] = None,
                chunk: Optional[int] = None) -> Dict[NodeType, Tensor]:
        h = self.project(x_dict)
        for conv, norms in zip(self.convs, self.norms):
            if self.conv_kind == "hgt":
                out = conv(h, edge_index_dict)
            elif chunk is not None:
                out = hetero_layer(conv.convs, h, edge_index_dict, edge_attr_dict, chunk)
            elif edge_attr_dict:
                out = conv(h, edge_index_dict, edge_attr_dict=edge_attr_dict)
            else:
                out = conv(h, edge_index_dict)
            nxt = {}
            for t, prev in h.items():
                new = out.get(t)
                new = prev if new is None else prev + F.relu(new)
                new = norms[t](new)
                nxt[t] = F.dropout(new, self.dropout, self.training)
            h = nxt
        return h


def relation_key(et: EdgeType) -> str:
    return edge_type_str(et)


