"""Model-ready inputs: standardised features and precomputed neighbour means."""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData

from ..typing import EdgeType, NodeType, edge_type_str

Stats = Dict[str, Tuple[Tensor, ...]]


def nbr_key(et: EdgeType) -> str:
    """Node attribute holding the mean input of ``et``'s source neighbours."""
    return "nbr__" + edge_type_str(et)


def has_key(et: EdgeType) -> str:
    return "has__" + edge_type_str(et)


def affinity_key(et: EdgeType) -> str:
    """Node attribute holding the local affinity over a same-type relation."""
    return "aff__" + edge_type_str(et)


#: node attribute of the prepared training graph: the nodes held out of the training
#: losses and closed-form fits (:mod:`graphad.scoring.holdout`); absent = none
HOLDOUT_KEY = "holdout"


def training_rows(store) -> Optional[Tensor]:
    """``BoolTensor[n]``: the nodes of a store that losses and fits learn from; None
    where all of them do (no held-out nodes, or scoring)."""
    if HOLDOUT_KEY not in store:
        return None
    return ~store[HOLDOUT_KEY]


def training_part(values: Tensor, store) -> Tensor:
    """``values`` (per node, first dim) of the nodes that losses and fits learn from."""
    keep = training_rows(store)
    return values if keep is None else values[keep.to(values.device)]


def fit_standardiser(x: Tensor, categories: Optional[Tensor] = None
                     ) -> Tuple[Tensor, Tensor]:
    """Column mean and scale (std; 1 where a column is constant).

    ``categories`` (bool ``[d]``) marks one-hot category columns: each is scaled so that
    its rarer value lands at the normal quantile of its share ``q``,
    ``z_q = Phi^-1(1 - q / 2)``. A country held by 0.5% of the users then reads 2.8,
    not the 14 standard deviations a std gives it, which let one rare category dominate
    every squared error and every forest split (the top of a ranking filled with
    owners of a rare device kind).
    """
    mean = x.mean(0)
    std = x.std(0, unbiased=False)
    scale = torch.where(std > 1e-6, std, torch.ones_like(std))
    if categories is None or x.size(0) == 0 or not bool(categories.any()):
        return mean, scale
    binary = categories & ((x == 0) | (x == 1)).all(0) & (std > 1e-6)
    q = torch.minimum(mean, 1 - mean).clamp(min=1e-9)
    z = math.sqrt(2.0) * torch.special.erfinv((1 - q).double()).float()
    calibrated = torch.maximum(mean, 1 - mean) / z.clamp(min=1e-6)
    return mean, torch.where(binary, calibrated, scale)


def standardise(x: Tensor, stats: Tuple[Tensor, Tensor], clip: float = 10.0) -> Tensor:
    return ((x - stats[0]) / stats[1]).clamp(-clip, clip)


def fit_reduction(x: Tensor, max_dim: int) -> Optional[Tensor]:
    """PCA basis ``[d, max_dim]`` of standardised inputs wider than ``max_dim``, scaled so
    the projected columns keep unit variance on average; None when narrow enough.

    Uses the global RNG (randomised SVD): call it inside a seeded ``fork_rng``.
    """
    if x.size(1) <= max_dim:
        return None
    _, _, v = torch.pca_lowrank(x, q=min(max_dim, x.size(0)), center=False, niter=3)
    proj = x @ v
    scale = proj.std(0, unbiased=False).mean().clamp(min=1e-6)
    return v / scale


def sparse_mean(x_src: Tensor, edge_index: Tensor, num_dst: int) -> Tuple[Tensor, Tensor]:
    """Mean of source rows per destination via a sparse matrix (no ``[m, d]`` gather).

    Returns ``([num_dst, d] means, [num_dst] has-neighbour mask)``.
    """
    deg = torch.bincount(edge_index[1], minlength=num_dst).float()
    values = 1.0 / deg.clamp(min=1)[edge_index[1]]
    adj = torch.sparse_coo_tensor(edge_index.flip(0), values, (num_dst, x_src.size(0)),
                                  check_invariants=False)
    return torch.sparse.mm(adj.coalesce(), x_src), deg > 0


def prepare_inputs(data: HeteroData, x_dict: Dict[NodeType, Tensor],
                   node_stats: Optional[Stats] = None, edge_stats: Optional[Stats] = None,
                   max_dim: int = 64, own: Optional[Dict[NodeType, int]] = None,
                   keep: Optional[Dict[NodeType, int]] = None,
                   categories: Optional[Dict[NodeType, Tensor]] = None,
                   time_attrs: bool = True, time_evidence: bool = False,
                   derive_times: bool = True,
                   modality: Optional[Dict[NodeType, Optional[str]]] = None
                   ) -> Tuple[HeteroData, Stats, Stats]:
    """A new ``HeteroData`` with standardised ``x`` / ``edge_attr`` and, per relation,
    the destination's neighbour-mean input (``nbr_key``) and mask (``has_key``); over
    same-type relations also the local affinity (``affinity_key``).

    Inputs wider than ``max_dim`` (text / image embeddings, bag-of-words) are reduced
    by PCA to ``max_dim`` columns after standardisation, except their last ``keep[t]``
    columns (the incident edge-attribute aggregates), which are kept as they are, so a
    PCA of 384 text dimensions does not wash out a review's rating. ``own[t]`` says how
    many leading columns are the type's own features (for the precompute steps; all
    when not given); ``categories[t]`` marks one-hot category columns
    (:func:`fit_standardiser`). Local affinity is computed on the standardised own
    features (all columns of a type without features): a node's degree profile is
    structure, which other components judge, and mixing it into the cosine weakened
    the comparison on 8 of the 9 one-type benchmark sets.
    Statistics are fitted when not given (training graph) and reused otherwise. The
    precompute steps of the component families (:mod:`graphad.nn.families`) then add
    their whole-graph evidence. Edge times (``data[rel].time``) are kept; with
    ``time_attrs`` so is which ``edge_attr`` column holds them (``time_attr``), which
    the ``incident`` component then leaves out (models saved before it averaged it),
    and edge evidence too unless ``time_evidence`` (models saved before judged it).
    ``derive_times``: ``burst`` also judges relations whose edges take a node's one
    time (:func:`~graphad.nn.families.burst.edge_times`; models saved before did not).
    ``modality``: the types whose nodes carry a modality (``text``, ``image``,
    ``series``), kept as ``modality`` on the result for the precompute steps.
    """
    from .families import precompute_all
    fit_nodes, fit_edges = node_stats is None, edge_stats is None
    own_out: Dict[NodeType, int] = {}
    node_stats = {} if fit_nodes else node_stats
    edge_stats = {} if fit_edges else edge_stats
    out = HeteroData()
    full: Dict[NodeType, Tensor] = {}
    own_full: Dict[NodeType, int] = {}   # own feature columns of ``full`` (all if none)
    for t in data.node_types:
        x = x_dict[t].float()
        if fit_nodes:
            mean, std = fit_standardiser(x, (categories or {}).get(t))
            width = x.size(1) - (keep or {}).get(t, 0)
            basis = fit_reduction(standardise(x, (mean, std))[:, :width], max_dim)
            node_stats[t] = (mean, std) if basis is None else (mean, std, basis)
        stats = node_stats[t]
        full[t] = standardise(x, stats[:2])
        out[t].x = full[t] if len(stats) == 2 else reduce(full[t], stats[2])
        width = x.size(1) if own is None else min(own.get(t, x.size(1)), x.size(1))
        own_out[t] = prepared_own_width(stats, width)
        own_full[t] = width if width > 0 else x.size(1)
        out[t].num_nodes = x.size(0)
    for et in data.edge_types:
        ei = data[et].edge_index
        out[et].edge_index = ei
        if "edge_attr" in data[et]:
            key = edge_type_str(et)
            ea = data[et].edge_attr.float()
            if fit_edges:
                edge_stats[key] = fit_standardiser(ea)
            out[et].edge_attr = standardise(ea, edge_stats[key])
        if "time" in data[et]:
            out[et].time = data[et].time.double()
            if time_attrs and "time_attr" in data[et]:
                out[et].time_attr = int(data[et].time_attr)
                if time_evidence:        # a model saved before judged the time too
                    out[et].time_evidence = True
        mean, has = sparse_mean(out[et[0]].x, ei, out[et[2]].num_nodes)
        out[et[2]][nbr_key(et)] = mean
        out[et[2]][has_key(et)] = has
        if et[0] == et[2]:  # local affinity: mean cosine to the neighbours' features
            unit = F.normalize(full[et[0]][:, :own_full[et[0]]], dim=1)
            unit_mean, _ = sparse_mean(unit, ei, out[et[2]].num_nodes)
            out[et[2]][affinity_key(et)] = (unit * unit_mean).sum(dim=1)
    out.modality = {t: m for t, m in sorted((modality or {}).items()) if m and t in full}
    if derive_times:        # bursts also over relations that take a node's one time
        out.derive_times = True
    precompute_all(out, own_out)
    return out, node_stats, edge_stats


def prepared_own_width(stats: Tuple[Tensor, ...], raw_width: int) -> int:
    """How many leading columns of a prepared ``x`` are the type's own features:
    ``raw_width`` (the width of its ``x`` before degrees and edge aggregates were
    appended), or all the PCA columns where its input was reduced (``stats`` as
    :func:`prepare_inputs` fits them). 0 where the type has no features of its own."""
    return raw_width if len(stats) == 2 else stats[2].size(1)


def reduce(x: Tensor, basis: Tensor) -> Tensor:
    """PCA-reduce the first ``basis.size(0)`` columns of ``x``, keep the rest."""
    width = basis.size(0)
    return torch.cat([x[:, :width] @ basis, x[:, width:]], dim=1)
