"""Other graph containers -> :class:`GraphBundle`: PyG ``Data`` / ``HeteroData``, networkx."""
from __future__ import annotations

from typing import Any, Iterable, Optional

import networkx as nx
import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data, HeteroData
from torch_geometric.utils import is_undirected

from ..errors import DataValidationError
from ..typing import is_reverse, reverse_edge_type
from .bundle import GraphBundle
from .idmap import IdMap

HOMOGENEOUS_TYPE = "node"
HOMOGENEOUS_EDGE = ("node", "to", "node")


def from_hetero_data(data: HeteroData, ids: Optional[IdMap] = None) -> GraphBundle:
    """Wrap a ``HeteroData`` (copied, never mutated) and add missing reverse relations.

    A same-type relation that is already symmetric gets no reverse.
    """
    out = HeteroData()
    for t in data.node_types:
        store = data[t]
        out[t].num_nodes = store.num_nodes
        if "x" in store and store.x is not None:
            x = store.x
            if x.dim() == 1:
                x = x.view(-1, 1)
            out[t].x = x.float()
    for et in data.edge_types:
        ei = data[et].edge_index
        out[et].edge_index = ei
        if "edge_attr" in data[et] and data[et].edge_attr is not None:
            ea = data[et].edge_attr
            out[et].edge_attr = (ea.view(-1, 1) if ea.dim() == 1 else ea).float()
    for et in list(out.edge_types):
        rev = reverse_edge_type(et)
        if is_reverse(et) or rev in out.edge_types:
            continue
        ei = out[et].edge_index
        if et[0] == et[2] and is_undirected(ei, num_nodes=out[et[0]].num_nodes):
            continue
        out[rev].edge_index = ei.flip(0).contiguous()
        if "edge_attr" in out[et]:
            out[rev].edge_attr = out[et].edge_attr
    if ids is None:
        ids = IdMap({t: range(out[t].num_nodes) for t in out.node_types})
    bundle = GraphBundle(data=out, ids=ids)
    for t in out.node_types:
        bundle.modality[t] = None
        width = out[t].x.shape[1] if "x" in out[t] else 0
        bundle.feature_names[t] = [f"x{i}" for i in range(width)]
    for et in bundle.edge_types:
        if "edge_attr" in out[et]:
            bundle.edge_attr_names[et] = [f"attr{i}" for i in range(out[et].edge_attr.shape[1])]
    return bundle


def from_data(data: Data) -> GraphBundle:
    """A homogeneous ``Data`` -> node type ``node``, relation ``('node', 'to', 'node')``."""
    h = HeteroData()
    h[HOMOGENEOUS_TYPE].num_nodes = data.num_nodes
    if data.x is not None:
        h[HOMOGENEOUS_TYPE].x = data.x
    h[HOMOGENEOUS_EDGE].edge_index = data.edge_index
    if data.edge_attr is not None:
        h[HOMOGENEOUS_EDGE].edge_attr = data.edge_attr
    return from_hetero_data(h)


def from_networkx(graph: nx.Graph, node_type_attr: str = "type",
                  edge_type_attr: str = "type", features: Optional[Iterable[str]] = None,
                  edge_attrs: Optional[Iterable[str]] = None) -> GraphBundle:
    """A networkx graph with a node ``type`` attribute -> :class:`GraphBundle`.

    Node ids are the networkx node keys. Relations are ``(src_type, edge type attr or
    'to', dst_type)``. ``features`` / ``edge_attrs`` name numeric attributes to copy.
    """
    features, edge_attrs = list(features or []), list(edge_attrs or [])
    by_type: dict = {}
    for node, attrs in graph.nodes(data=True):
        if node_type_attr not in attrs:
            raise DataValidationError(f"node {node!r} has no '{node_type_attr}' attribute",
                                      table="networkx", column=node_type_attr, rows=[node])
        by_type.setdefault(str(attrs[node_type_attr]), []).append(node)
    ids = IdMap(by_type)
    data = HeteroData()
    for t, nodes in by_type.items():
        data[t].num_nodes = len(nodes)
        if features:
            rows = [[_num(graph.nodes[n].get(f), n, f) for f in features] for n in nodes]
            data[t].x = torch.tensor(rows, dtype=torch.float32)
    edges: dict = {}
    for u, v, attrs in graph.edges(data=True):
        tu, tv = graph.nodes[u][node_type_attr], graph.nodes[v][node_type_attr]
        et = (str(tu), str(attrs.get(edge_type_attr, "to")), str(tv))
        if not graph.is_directed() and et not in edges and et[::-1] in edges:
            # networkx yields an undirected edge in either orientation: keep one
            # relation per type pair (the first orientation seen), not two.
            et, u, v = et[::-1], v, u
        edges.setdefault(et, []).append((u, v, [_num(attrs.get(a), (u, v), a)
                                                for a in edge_attrs]))
    for et, rows in edges.items():
        src = ids.index(et[0], [r[0] for r in rows], table="networkx")
        dst = ids.index(et[2], [r[1] for r in rows], table="networkx")
        ei = torch.as_tensor(np.stack([src, dst]), dtype=torch.long)
        if not graph.is_directed() and et[0] == et[2]:
            ei = torch.cat([ei, ei.flip(0)], dim=1)
            rows = rows + rows
        data[et].edge_index = ei
        if edge_attrs:
            data[et].edge_attr = torch.tensor([r[2] for r in rows], dtype=torch.float32)
    return from_hetero_data(data, ids=ids)


def _num(value: Any, where: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataValidationError(f"attribute '{name}' of {where!r} is not numeric: "
                                  f"{value!r}", table="networkx", column=name,
                                  rows=[where]) from None


