"""Perturbations of a built graph, for robustness benchmarks only (never user data).

Real multimodal data is incomplete, noisy and misaligned: a third of the accounts have
no photo, an encoder returns noise for a blurry upload, an observation hangs off the
wrong account. Each function returns a new :class:`GraphBundle` (the input is never
modified) and is deterministic for a seed:

* :func:`drop_observations`: remove a share of a modality's observation nodes (and
  their edges), as if they had never been uploaded;
* :func:`noise_embeddings`: add Gaussian noise to a share of a type's inputs, in units
  of each column's standard deviation;
* :func:`misalign_observations`: re-attach a share of a type's observations to a random
  other entity of the same type (an observation on the wrong account);
* :func:`shift_series`: move a share of a series type's points later in time (a feed
  recorded a day late) and embed them again with the graph's own fitted encoder.

Entities (the labelled nodes) are never removed, so labels stay valid.
"""
from __future__ import annotations

import copy
from typing import Tuple

import numpy as np
import torch
from torch import Tensor

from ..data.bundle import GraphBundle
from ..data.idmap import IdMap
from ..errors import GraphadError
from ..typing import EdgeType, NodeType, reverse_edge_type


def _check(bundle: GraphBundle, node_type: NodeType, share: float) -> None:
    if node_type not in bundle.node_types:
        raise GraphadError(f"no node type '{node_type}' (the graph has "
                           f"{bundle.node_types})")
    if not 0.0 <= share <= 1.0:
        raise GraphadError(f"share must be in [0, 1], got {share!r}")


def _pick(n: int, share: float, seed: int) -> np.ndarray:
    """Sorted positions of ``round(share * n)`` of ``n`` items drawn without repeats."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, int(round(share * n)), replace=False))


def _copy(bundle: GraphBundle) -> GraphBundle:
    out = copy.copy(bundle)
    out.data = copy.deepcopy(bundle.data)
    out.raw, out.edges_raw = dict(bundle.raw), dict(bundle.edges_raw)
    out.items = dict(bundle.items)
    return out


def drop_observations(bundle: GraphBundle, node_type: NodeType, share: float,
                      seed: int = 0) -> GraphBundle:
    """A copy without ``share`` of the ``node_type`` nodes (and every edge touching
    them); ids and raw rows follow."""
    _check(bundle, node_type, share)
    n = bundle.data[node_type].num_nodes
    gone = _pick(n, share, seed)
    keep = np.setdiff1d(np.arange(n), gone)
    out = _copy(bundle)
    out.data = bundle.data.subgraph({node_type: torch.as_tensor(keep, dtype=torch.long)})
    ids = {t: bundle.ids.ids(t) for t in bundle.ids.node_types}
    ids[node_type] = ids[node_type][keep]
    out.ids = IdMap(ids)
    if node_type in bundle.raw:
        out.raw[node_type] = bundle.raw[node_type].iloc[keep].reset_index(drop=True)
    if node_type in bundle.items:
        out.items[node_type] = [bundle.items[node_type][i] for i in keep]
    for et in bundle.edge_types:
        if node_type in (et[0], et[2]) and et in bundle.edges_raw:
            out.edges_raw.pop(et)          # edge order changed: no raw rows to show
    return out


def noise_embeddings(bundle: GraphBundle, node_type: NodeType, level: float,
                     share: float = 1.0, seed: int = 0) -> GraphBundle:
    """A copy where ``share`` of the ``node_type`` rows get ``x + level * std * N(0,
    1)`` (``std`` per column, over the type)."""
    _check(bundle, node_type, share)
    if "x" not in bundle.data[node_type]:
        raise GraphadError(f"'{node_type}' nodes have no inputs to add noise to")
    out = _copy(bundle)
    x = bundle.data[node_type].x
    rows = torch.as_tensor(_pick(x.size(0), share, seed), dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    std = torch.nan_to_num(x.std(dim=0, keepdim=True), nan=0.0)
    noisy = x.clone()
    noisy[rows] = x[rows] + level * std * torch.randn(len(rows), x.size(1), generator=g)
    out.data[node_type].x = noisy
    return out


def _owner_relation(bundle: GraphBundle, node_type: NodeType) -> EdgeType:
    """The one forward relation ``(entity, rel, node_type)`` linking observations to
    their entity."""
    found = [et for et in bundle.edge_types if et[2] == node_type and et[0] != node_type]
    if len(found) != 1:
        raise GraphadError(f"'{node_type}' needs exactly one relation from its entity "
                           f"to be misaligned, found {found}")
    return found[0]


def misalign_observations(bundle: GraphBundle, node_type: NodeType, share: float,
                          seed: int = 0) -> Tuple[GraphBundle, Tensor]:
    """A copy where ``share`` of the edges from entities to their ``node_type``
    observations point from a random *other* entity instead; also returns the moved
    edge positions ``LongTensor[k]``."""
    _check(bundle, node_type, share)
    et = _owner_relation(bundle, node_type)
    out = _copy(bundle)
    ei = bundle.data[et].edge_index.clone()
    moved = torch.as_tensor(_pick(ei.size(1), share, seed), dtype=torch.long)
    n_owner = bundle.data[et[0]].num_nodes
    if n_owner < 2 and len(moved):
        raise GraphadError(f"'{et[0]}' has fewer than two nodes: nothing to misalign to")
    g = torch.Generator().manual_seed(seed)
    step = torch.randint(1, max(n_owner, 2), (len(moved),), generator=g)
    ei[0, moved] = (ei[0, moved] + step) % n_owner          # never the same entity
    out.data[et].edge_index = ei
    rev = reverse_edge_type(et)
    if rev in out.data.edge_types:
        out.data[rev].edge_index = ei.flip(0).contiguous()
    out.edges_raw.pop(et, None)
    return out, moved


def shift_series(bundle: GraphBundle, node_type: NodeType, share: float, shift: float,
                 seed: int = 0) -> Tuple[GraphBundle, Tensor]:
    """A copy where ``share`` of the ``node_type`` series have every time moved by
    ``shift`` (in the series' time unit, e.g. 86400 s for a day), re-embedded with the
    bundle's fitted series encoder; also returns the shifted node indices
    ``LongTensor[k]``. Series without times cannot be shifted (an error)."""
    _check(bundle, node_type, share)
    items = bundle.items.get(node_type)
    encoder = bundle.transforms.get(f"encoder:{node_type}")
    if bundle.modality.get(node_type) != "series" or items is None or encoder is None:
        raise GraphadError(f"'{node_type}' is not a series type built from tables")
    rows = _pick(len(items), share, seed)
    if any(items[i][0] is None for i in rows):
        raise GraphadError(f"'{node_type}' series have no times to shift")
    out = _copy(bundle)
    shifted = list(items)
    for i in rows:
        shifted[i] = (np.asarray(items[i][0]) + shift, items[i][1])
    out.items[node_type] = shifted
    x = bundle.data[node_type].x.clone()
    cols = [j for j, name in enumerate(bundle.feature_names[node_type])
            if name.startswith("series_")]
    if len(rows):
        emb = encoder.encode([shifted[i] for i in rows]).float()
        x[torch.as_tensor(rows).view(-1, 1), torch.as_tensor(cols).view(1, -1)] = emb
    out.data[node_type].x = x
    return out, torch.as_tensor(rows, dtype=torch.long)
