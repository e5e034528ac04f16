"""Other graph containers -> :class:`GraphBundle`: PyG ``Data`` / ``HeteroData``, networkx."""
from __future__ import annotations

from typing import Any, Iterable, List, Mapping, Optional, Union

import networkx as nx
import numpy as np
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
        if "time" in data[et] and data[et].time is not None:
            out[et].time = data[et].time.double().view(-1)
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
        if "time" in out[et]:
            out[rev].time = out[et].time
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


PerType = Union[Iterable[str], Mapping[str, Iterable[str]], None]


def _per_type(value: PerType, node_type: str) -> List[str]:
    """A list for every type, or a ``{type: list}`` mapping -> this type's list."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.get(node_type, []))
    return list(value)


def from_networkx(graph: nx.Graph, node_type_attr: str = "type",
                  edge_type_attr: str = "type", features: PerType = None,
                  edge_attrs: Optional[Iterable[str]] = None, categorical: PerType = None,
                  text: PerType = None, text_encoder: Any = None,
                  use_cache: bool = True) -> GraphBundle:
    """A networkx graph with a node ``type`` attribute -> :class:`GraphBundle`.

    Node ids are the networkx node keys. Relations are ``(src_type, edge type attr or
    'to', dst_type)``. Attributes are copied only where named (a list for every type,
    or ``{type: [...]}`` per type):

    * ``features``: numeric node attributes (missing -> NaN);
    * ``categorical``: attributes one-hot encoded, one column ``attr=value`` per value
      seen in that type (missing -> all zeros);
    * ``text``: text attributes, each a text observation of its own: node type
      ``<type>_<attr>`` (same ids as its entity, only where the text is present) linked
      by ``(<type>, has_<attr>, <type>_<attr>)``, embedded by ``text_encoder`` (the
      default text encoder where None; cached on disk unless ``use_cache=False``);
    * ``edge_attrs``: numeric edge attributes.
    """
    edge_attrs = list(edge_attrs or [])
    by_type: dict = {}
    for node, attrs in graph.nodes(data=True):
        if node_type_attr not in attrs:
            raise DataValidationError(f"node {node!r} has no '{node_type_attr}' attribute",
                                      table="networkx", column=node_type_attr, rows=[node])
        by_type.setdefault(str(attrs[node_type_attr]), []).append(node)
    data = HeteroData()
    names: dict = {}
    texts: dict = {}
    for t, nodes in by_type.items():
        data[t].num_nodes = len(nodes)
        cols, col_names = [], []
        for f in _per_type(features, t):
            cols.append([_num(graph.nodes[n].get(f, float("nan")), n, f) for n in nodes])
            col_names.append(f)
        for c in _per_type(categorical, t):
            values = [graph.nodes[n].get(c) for n in nodes]
            for level in sorted({str(v) for v in values if v is not None}):
                cols.append([1.0 if v is not None and str(v) == level else 0.0
                             for v in values])
                col_names.append(f"{c}={level}")
        if cols:
            data[t].x = torch.tensor(cols, dtype=torch.float32).t().contiguous()
            names[t] = col_names
        for a in _per_type(text, t):
            present = [(n, graph.nodes[n].get(a)) for n in nodes]
            present = [(n, v) for n, v in present if isinstance(v, str) and v.strip()]
            if present:
                texts[(t, a)] = present
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
    ids = IdMap(by_type)
    for (t, a), present in texts.items():
        obs = f"{t}_{a}"
        if obs in by_type:
            raise DataValidationError(f"text attribute '{a}' of '{t}' would become node "
                                      f"type '{obs}', which the graph already has",
                                      table="networkx", column=a)
        ids.add(obs, [n for n, _ in present])
        data[obs].x = _embed_texts([v for _, v in present], text_encoder, use_cache)
        src = ids.index(t, [n for n, _ in present], table="networkx")
        data[t, f"has_{a}", obs].edge_index = torch.stack([
            torch.as_tensor(src), torch.arange(len(present))])
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
    bundle = from_hetero_data(data, ids=ids)
    bundle.feature_names.update(names)
    for et in edges:
        if edge_attrs:
            bundle.edge_attr_names[et] = list(edge_attrs)
    for t, a in texts:
        bundle.modality[f"{t}_{a}"] = "text"
    return bundle


def _embed_texts(items: List[str], encoder: Any, use_cache: bool) -> torch.Tensor:
    """``FloatTensor[n, d]`` embeddings of texts by ``encoder`` (spec or instance)."""
    from ..encoders import EmbeddingCache, ModalityEncoder, encode_cached, get_encoder
    enc = encoder if isinstance(encoder, ModalityEncoder) else get_encoder(encoder, "text")
    if hasattr(enc, "fit") and getattr(enc, "state_hash_", None) is None:
        enc.fit(items)                      # an encoder fitted on texts (TF-IDF + SVD)
    return encode_cached(enc, items, EmbeddingCache() if use_cache else None).float()


def _num(value: Any, where: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataValidationError(f"attribute '{name}' of {where!r} is not numeric: "
                                  f"{value!r}", table="networkx", column=name,
                                  rows=[where]) from None


