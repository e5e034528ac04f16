"""Held-out calibration: judge a new node against nodes the model did not train on.

A component computed from fitted state (trained weights, ridge maps;
:attr:`~graphad.components.ComponentSpec.fitted`) runs lower on the training nodes than
on any node the model has not seen: the model fitted them. Normalised against the
training nodes alone, every node of tomorrow's tables would then look rare (measured on
the fraud sample: three in four users of a second draw of the same generator above the
training threshold). So a share of each node type's training nodes is held out of the
training losses and the closed-form fits, and for each such component an affine map
(:func:`fit_shift`) puts the held-out nodes' median and spread onto the trained
nodes'. Every node the model did not train on (a new graph's, or the training graph's
held-out ones) is read through that map before it is normalised; the training graph is
recognised by its fingerprint (:func:`graph_fingerprint`), so it scores exactly as at
fit, also rebuilt from the same tables or after loading a saved model.
"""
from __future__ import annotations

import hashlib
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ..components import fitted_by
from ..typing import EdgeType, NodeType, edge_type_str
from .normalize import median_spread

#: a node type holds out at least this many nodes, and only where they are at most
#: :data:`MAX_HELD_OUT_SHARE` of it: a type of 31 merchants memorised by the model,
#: none held out, read a new draw's merchants at a median of 234 nats on `attribute`,
#: which rolled up into every user; a median and spread read off 6 held-out ones bound
#: that
MIN_HELD_OUT = 5
MAX_HELD_OUT_SHARE = 0.2


def held_out_nodes(sizes: Mapping[NodeType, int], share: float, seed: int
                   ) -> Dict[NodeType, Tensor]:
    """``{type: BoolTensor[n]}``: ``round(share * n)`` nodes per type drawn at random
    (``seed``); where that is under :data:`MIN_HELD_OUT`, that many, for the types
    where they are at most ``round(MAX_HELD_OUT_SHARE * n)`` (none where ``share`` is
    0)."""
    gen = torch.Generator().manual_seed(int(seed) + 104_729)
    out: Dict[NodeType, Tensor] = {}
    for t in sorted(sizes):
        n = int(sizes[t])
        k = int(round(share * n))
        if k < MIN_HELD_OUT:
            k = MIN_HELD_OUT if MIN_HELD_OUT <= round(MAX_HELD_OUT_SHARE * n) else 0
        if share <= 0 or k == 0:
            continue
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.randperm(n, generator=gen)[:k]] = True
        out[t] = mask
    return out


def graph_fingerprint(data: Any) -> str:
    """SHA-256 over every tensor of every node and edge store of ``data`` (with its
    key), and the node counts: equal for the same graph, built again from the same
    tables."""
    h = hashlib.sha256()
    stores = (list(data.node_stores) + list(data.edge_stores)
              if isinstance(data, HeteroData) else [data])
    for store in stores:
        h.update(f"|{getattr(store, '_key', None)}|".encode())
        for name in sorted(store.keys()):
            value = store[name]
            if isinstance(value, Tensor):
                h.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
                h.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8)
                         .numpy().tobytes())
    h.update(repr(sorted(node_counts(data).items())).encode())
    return h.hexdigest()


def node_counts(data: Any) -> Dict[str, int]:
    """Nodes per type (``{"": n}`` for a homogeneous graph)."""
    if isinstance(data, HeteroData):
        return {t: int(data[t].num_nodes or 0) for t in data.node_types}
    return {"": int(data.num_nodes or 0)}


def held_rows(data: Any, held: Mapping[NodeType, Tensor],
              raw: Mapping[NodeType, Mapping[str, Tensor]]
              ) -> Dict[NodeType, Dict[str, Tensor]]:
    """``{type: {component: BoolTensor[n]}}``: per fitted component
    (:func:`~graphad.components.fitted_by`) of a type with held-out nodes, the rows
    calibrated as held out: the held-out nodes, and for a component fitted to edges
    also the nodes none of whose edges trained (each edge has a held-out end: a photo
    of a held-out user)."""
    trained_edge = None
    out: Dict[NodeType, Dict[str, Tensor]] = {}
    for t, comps in raw.items():
        if t not in held:
            continue
        for name in comps:
            kind = fitted_by(name)
            if kind == "edges":
                if trained_edge is None:
                    trained_edge = _has_trained_edge(data, held)
                out.setdefault(t, {})[name] = held[t] | ~trained_edge[t]
            elif kind is not None:
                out.setdefault(t, {})[name] = held[t]
    return out


def _has_trained_edge(data: HeteroData, held: Mapping[NodeType, Tensor]
                      ) -> Dict[NodeType, Tensor]:
    """``{type: BoolTensor[n]}``: the nodes with an edge between two training nodes."""
    out = {t: torch.zeros(int(data[t].num_nodes or 0), dtype=torch.bool)
           for t in data.node_types}
    for et in data.edge_types:
        ei = data[et].edge_index
        ok = torch.ones(ei.size(1), dtype=torch.bool)
        for end, t in ((0, et[0]), (1, et[2])):
            if t in held:
                ok &= ~held[t][ei[end]]
        for end, t in ((0, et[0]), (1, et[2])):
            out[t][ei[end][ok]] = True
    return out


def held_out_edges(data: HeteroData, held: Mapping[NodeType, Tensor],
                   raw: Mapping[EdgeType, Mapping[str, Tensor]]
                   ) -> Dict[str, Dict[str, Tensor]]:
    """``{"src__rel__dst": {component: BoolTensor[m]}}``: per fitted edge component, the
    edges with a held-out end (left out of the structure loss)."""
    out: Dict[str, Dict[str, Tensor]] = {}
    for et, comps in raw.items():
        ends = [held[t][data[et].edge_index[i]] for i, t in ((0, et[0]), (1, et[2]))
                if t in held]
        if ends:
            mask = ends[0] | ends[-1]
            out[edge_type_str(et)] = {name: mask for name in comps
                                      if fitted_by(name) is not None}
    return out


def fit_shift(raw: Mapping[Any, Mapping[str, Tensor]],
              held: Mapping[Any, Mapping[str, Tensor]]
              ) -> Dict[Any, Dict[str, Tuple[float, float]]]:
    """``{key: {component: (a, b)}}``: per fitted component with held-out rows
    (:func:`held_rows`, :func:`held_out_edges`), the affine map ``a * e + b`` that puts
    the held-out rows' median and spread (1.4826 MAD) onto the trained rows'. Applied
    to every node the model did not train on (:func:`apply_shift`), it reads an unseen
    node's error on the trained nodes' scale. The map never widens a spread (``a <=
    1``): unseen nodes' errors spread at least as far as fitted ones', and a spread
    read off a few held-out nodes may come out narrow by chance. A component with fewer
    than :data:`MIN_HELD_OUT` finite values on either side gets none."""
    out: Dict[Any, Dict[str, Tuple[float, float]]] = {}
    for k, masks in held.items():
        for name, mask in masks.items():
            if name not in raw.get(k, {}):
                continue
            e = raw[k][name].double()
            unseen, seen = e[mask], e[~mask]
            unseen, seen = unseen[torch.isfinite(unseen)], seen[torch.isfinite(seen)]
            if min(unseen.numel(), seen.numel()) < MIN_HELD_OUT:
                continue
            (m_u, s_u), (m_s, s_s) = median_spread(unseen), median_spread(seen)
            a = min(s_s / s_u, 1.0) if min(s_u, s_s) > 1e-12 else 1.0
            out.setdefault(k, {})[name] = (a, m_s - a * m_u)
    return out


def apply_shift(raw: Mapping[Any, Mapping[str, Tensor]],
                shift: Mapping[Any, Mapping[str, Tuple[float, float]]],
                held: Optional[Mapping[Any, Mapping[str, Tensor]]] = None
                ) -> Dict[Any, Dict[str, Tensor]]:
    """``raw`` with each shifted component mapped by its ``(a, b)`` on the rows the
    model did not train on: all rows (a new graph), or with ``held`` (the training
    graph itself) its held-out rows."""
    out = {k: dict(c) for k, c in raw.items()}
    for k, maps in shift.items():
        for name, (a, b) in maps.items():
            if name not in out.get(k, {}):
                continue
            e = out[k][name]
            mapped = (a * e.double() + b).to(e.dtype)
            out[k][name] = mapped if held is None else torch.where(held[k][name], mapped, e)
    return out
