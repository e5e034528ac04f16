"""Type aliases used across graphad (mirrors ``torch_geometric.typing``)."""
from __future__ import annotations

from typing import Dict, Tuple

from torch import Tensor

NodeType = str
Relation = str
EdgeType = Tuple[str, str, str]
TensorDict = Dict[NodeType, Tensor]
EdgeTensorDict = Dict[EdgeType, Tensor]

REVERSE_PREFIX = "rev_"


def reverse_edge_type(edge_type: EdgeType) -> EdgeType:
    """``(src, rel, dst) -> (dst, rev_rel, src)`` and back."""
    src, rel, dst = edge_type
    if rel.startswith(REVERSE_PREFIX):
        return (dst, rel[len(REVERSE_PREFIX):], src)
    return (dst, REVERSE_PREFIX + rel, src)


def is_reverse(edge_type: EdgeType) -> bool:
    return edge_type[1].startswith(REVERSE_PREFIX)


def edge_type_str(edge_type: EdgeType) -> str:
    return "__".join(edge_type)
