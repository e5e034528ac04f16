"""``GraphBundle``: a built graph with everything needed to read its results."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import pandas as pd
import torch
from torch_geometric.data import Data, HeteroData

from ..typing import EdgeType, NodeType, is_reverse
from .idmap import IdMap


@dataclass
class GraphBundle:
    """A ``HeteroData`` plus its ids, raw observations and fitted feature transforms.

    Attributes:
        data: the typed graph. ``data[t].x`` is float32 ``[n_t, d_t]`` where the type has
            features (tabular columns and / or a modality embedding); types without
            features have only ``num_nodes``. ``data[e].edge_attr`` is float32
            ``[m_e, k_e]`` where the relation has attributes. Every relation
            ``(s, r, d)`` has its reverse ``(d, rev_r, s)``.
        ids: external id <-> index per node type.
        schema: the :class:`GraphSchema` it was built from (None for converted graphs).
        raw: node type -> the node table's rows in index order (for display).
        edges_raw: relation -> the relation table's rows in edge order (for display).
        feature_names: node type -> names of the columns of ``x``.
        edge_attr_names: relation -> names of the columns of ``edge_attr``.
        modality: node type -> modality (``text`` / ``image`` / ``series``) or None.
        dropped: node type -> ids of observations that could not be encoded.
        items: image and series node type -> the items its encoder saw, in index order
            (a resolved image path; a series' ``(times or None, values)`` arrays), for
            display (evidence panels, reports). Texts are in ``raw``.
        transforms: fitted feature encoders, reused when building new data.
    """

    data: HeteroData
    ids: IdMap
    schema: Any = None
    raw: Dict[NodeType, pd.DataFrame] = field(default_factory=dict)
    edges_raw: Dict[EdgeType, pd.DataFrame] = field(default_factory=dict)
    feature_names: Dict[NodeType, List[str]] = field(default_factory=dict)
    edge_attr_names: Dict[EdgeType, List[str]] = field(default_factory=dict)
    modality: Dict[NodeType, Optional[str]] = field(default_factory=dict)
    dropped: Dict[NodeType, list] = field(default_factory=dict)
    items: Dict[NodeType, list] = field(default_factory=dict)
    transforms: Dict[str, Any] = field(default_factory=dict)

    @property
    def node_types(self) -> List[NodeType]:
        return list(self.data.node_types)

    @property
    def edge_types(self) -> List[EdgeType]:
        """Forward relations only (reverse ones are implied)."""
        return [e for e in self.data.edge_types if not is_reverse(e)]

    @property
    def entity_types(self) -> List[NodeType]:
        return [t for t in self.node_types if self.modality.get(t) is None]

    def __repr__(self) -> str:
        nodes = ", ".join(f"{t}={self.data[t].num_nodes}" for t in self.node_types)
        edges = ", ".join(f"{e[1]}={self.data[e].num_edges}" for e in self.edge_types)
        return f"GraphBundle(nodes: {nodes}; edges: {edges})"


def as_bundle(graph: Any) -> GraphBundle:
    """Accept a :class:`GraphBundle`, a ``HeteroData`` or a homogeneous ``Data``.

    Plain PyG graphs get integer ids ``0..n-1``; ``Data`` becomes node type ``node``
    with relation ``('node', 'to', 'node')`` and its reverse. The input is not mutated.
    """
    if isinstance(graph, GraphBundle):
        return graph
    if isinstance(graph, Data):
        from .convert import from_data
        return from_data(graph)
    if isinstance(graph, HeteroData):
        from .convert import from_hetero_data
        return from_hetero_data(graph)
    raise TypeError(f"expected a GraphBundle, HeteroData or Data, got {type(graph).__name__}")


def node_labels(bundle: GraphBundle, labels: pd.DataFrame, node_type: NodeType,
                column: str = "label") -> torch.Tensor:
    """Align a labels table (node_type, id, label...) to the index order of a node type.

    Nodes absent from the table get 0.
    """
    sub = labels[labels["node_type"] == node_type].set_index("id")[column]
    ids = bundle.ids.ids(node_type)
    return torch.as_tensor(sub.reindex(ids).fillna(0).to_numpy().astype("int64"))
