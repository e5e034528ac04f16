"""Lockstep blocks: nodes of two types that link to the same few of each other.

A buying ring (ten accounts that buy, over and over, only from the same eight sellers),
a review farm (accounts that all review the same client shops), or accounts that all
pay the same shell merchants form a dense block of a bipartite graph, a pattern an
autoencoder learns like any other and no single node's links show: a ring seller has
a handful of ordinary-looking orders. What shows is that its customers also buy from
the same other sellers. For two node types ``A`` and ``C`` linked directly (``user
pays merchant``) or, where no relation joins them directly, through a type ``B``
each of whose nodes belongs to one ``C`` (``buyer orders listing``, ``listing`` sold
by one ``seller``: buyer-seller), a node ``v`` of one side is compared with each
*partner*: another node of its side that shares two or more of its neighbours (each
pair of shared neighbours is a 2 x 2 biclique). A ring seller shares seven or eight
customers with each of the other ring sellers, where two ordinary sellers share one
at most. In a random bipartite graph with the same degrees, the ``W_v`` wedges of
``v`` (paths ``v - c - v'``, ``sum_c (d_c - 1)`` over its distinct neighbours) end at
``v'`` about Poisson-many times with mean ``l = W_v d_v' / sum_u!=v d_u``; the
strongest pair's surprisal ``-log P(Poisson(l) >= o)`` (``o`` shared neighbours),
less ``log n + log(n - 1)`` for the pairs of the ``n`` nodes tested (Bonferroni), and
0 below that, is ``block:<other type>``. It is 0 for a node whose overlaps are what
its degrees give (on a review site where users review a tenth of the products, every
user; two buyers who happen to share two listings) and positive for a significant
block: the ring sellers of a test market 5-14 nats, no other seller any. Nodes
without wedges have no value (NaN).

Counting a side's partners costs the sum of the squared degrees of the other side
(one sparse product in row blocks, never ``N x N``); a side is counted only where that
is at most :data:`WEDGES_PER_LINK` times the links (a merchant side through users
with a few payments each: yes; the users' side through merchants with hundreds of
payers each: no). Computed on the whole prepared graph, so exact in mini-batches.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import scipy.sparse as sp
from scipy.stats import poisson
import torch
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import EdgeType, NodeType, is_reverse
from .base import (ComponentFamily, EdgeErrors, Errors, Latents, fit_kept, is_kept,
                   precomputed_errors, register_precompute, safe_name)

PREFIX = "block__"
ROW_BLOCK = 4096            # rows of the overlap product formed at once
#: a side is counted where its wedges number at most this many per link (and always
#: below :data:`SMALL_WEDGES`)
WEDGES_PER_LINK = 64
SMALL_WEDGES = 1_000_000


def _incidence(data: HeteroData, et: EdgeType) -> sp.csr_matrix:
    """Binary ``[n_src, n_dst]`` incidence of a relation (repeated links count once)."""
    ei = data[et].edge_index.cpu().numpy()
    shape = (data[et[0]].num_nodes, data[et[2]].num_nodes)
    m = sp.csr_matrix((np.ones(ei.shape[1]), (ei[0], ei[1])), shape=shape)
    m.data[:] = 1.0
    return m


def _owner(m: sp.csr_matrix) -> Optional[np.ndarray]:
    """For an incidence ``[n_B, n_C]`` where every ``B`` links to at most one ``C``
    and some ``C`` has several ``B`` (a listing's seller; not a listing's one title):
    each ``B``'s ``C`` (-1 for none); None otherwise."""
    per_src = np.diff(m.indptr)
    if m.nnz == 0 or per_src.max() > 1 or np.asarray(m.sum(0)).max() < 2:
        return None
    owner = np.full(m.shape[0], -1)
    owner[per_src == 1] = m.indices
    return owner


def block_pairs(data: HeteroData) -> Dict[Tuple[NodeType, NodeType], sp.csr_matrix]:
    """``(A, C) -> [n_A, n_C]`` binary incidence (keyed in sorted order): relations
    between two types, and ``A - B - C`` where each ``B`` belongs to one ``C`` and no
    relation joins ``A`` and ``C`` directly."""
    forward = [et for et in data.edge_types if et[0] != et[2] and not is_reverse(et)]
    out: Dict[Tuple[NodeType, NodeType], sp.csr_matrix] = {}
    for et in forward:
        _add(out, et[0], et[2], _incidence(data, et))
    direct = {frozenset(k) for k in out}
    for bc in forward:
        m = _incidence(data, bc)
        for b, c, b_c in ((bc[0], bc[2], m), (bc[2], bc[0], m.T.tocsr())):
            owner = _owner(b_c)
            if owner is None:
                continue
            for ab in forward:
                if b not in (ab[0], ab[2]):
                    continue
                a = ab[2] if ab[0] == b else ab[0]
                if a in (b, c) or frozenset((a, c)) in direct:
                    continue
                a_b = _incidence(data, ab)
                a_b = (a_b.T.tocsr() if ab[0] == b else a_b).tocoo()     # [n_A, n_B]
                keep = owner[a_b.col] >= 0
                proj = sp.csr_matrix((np.ones(int(keep.sum())),
                                      (a_b.row[keep], owner[a_b.col[keep]])),
                                     shape=(data[a].num_nodes, data[c].num_nodes))
                proj.data[:] = 1.0
                _add(out, a, c, proj)
    return out


def _add(out: Dict[Tuple[NodeType, NodeType], sp.csr_matrix], a: NodeType,
         c: NodeType, m: sp.csr_matrix) -> None:
    """Merge ``m`` ``[n_a, n_c]`` into the pair's incidence (keyed in sorted order)."""
    if c < a:
        a, c, m = c, a, m.T.tocsr()
    if (a, c) in out:
        m = ((out[(a, c)] + m) > 0).astype(np.float64).tocsr()
    out[(a, c)] = m


def strongest_pair(m: sp.csr_matrix) -> Tuple[np.ndarray, np.ndarray]:
    """``(wedges [n], surprisal [n])`` for the rows of a binary bipartite incidence
    ``m`` ``[n, k]``: each row's wedges (paths to other rows through its columns) and
    the largest ``-log P(Poisson(l) >= o)`` over the other rows it shares ``o >= 2``
    columns with, ``l = W_v d_v' / sum_u!=v d_u`` (0 where it shares two with none)."""
    col_deg = np.asarray(m.sum(0)).ravel()
    wedges = np.asarray(m @ (col_deg - 1)).ravel()
    degree = np.asarray(m.sum(1)).ravel()
    rate = wedges / np.maximum(degree.sum() - degree, 1.0)
    mt = m.T.tocsr()
    out = np.zeros(m.shape[0])
    for start in range(0, m.shape[0], ROW_BLOCK):
        overlap = (m[start:start + ROW_BLOCK] @ mt).tocoo()       # shared columns
        row = overlap.row + start
        hit = (row != overlap.col) & (overlap.data >= 2)
        row, col, shared = row[hit], overlap.col[hit], overlap.data[hit]
        lam = np.maximum(rate[row] * degree[col], 1e-300)
        surprise = -poisson.logsf(shared - 1, lam)
        np.maximum.at(out, row, surprise)
    return wedges, out


def affordable(m: sp.csr_matrix) -> bool:
    """Whether counting the rows' partners is cheap enough (see module doc)."""
    col_deg = np.asarray(m.sum(0)).ravel()
    cost = float((col_deg ** 2).sum())
    return cost <= max(SMALL_WEDGES, WEDGES_PER_LINK * m.nnz)


def block_evidence(m: sp.csr_matrix) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """``(evidence [n], has wedges [n])`` for the rows of ``m`` (see module doc), or
    None where fewer than 3 rows have wedges."""
    wedges, surprise = strongest_pair(m)
    has = wedges > 0
    n = int(has.sum())
    if n < 3:
        return None
    evidence = np.maximum(0.0, surprise - np.log(n) - np.log(n - 1))
    evidence[~has] = 0.0
    return torch.from_numpy(evidence).float(), torch.from_numpy(has)


@register_precompute
def precompute_block(data: HeteroData, own: Dict[NodeType, int]) -> None:
    for (a, c), m in block_pairs(data).items():
        for side, other, rows in ((a, c, m), (c, a, m.T.tocsr())):
            if not affordable(rows):
                continue
            found = block_evidence(rows)
            if found is None:
                continue
            evidence, has = found
            key = PREFIX + safe_name(other)
            data[side][key] = evidence
            data[side][key + "__has"] = has


class BlockFamily(ComponentFamily):
    """Reads the precomputed evidence, one ``block:<other type>`` component per
    bipartite pair a type takes part in; a pair without evidence for any training
    node (no significant block: most pairs of most graphs) is dropped at fit, so that
    it dilutes nothing.

    Shapes:
        - **errors:** ``{type: {"block:<other>": [n]}}`` (nats, 0 for most nodes)
    """

    fitted_prefixes = ("kept_",)

    @torch.no_grad()
    def fit(self, data: HeteroData) -> None:
        fit_kept(self, data, PREFIX, lambda values: bool((values > 0).any()))

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        found = precomputed_errors(batch, PREFIX, lambda other: f"block:{other}")
        return {t: {name: values for name, values in comps.items()
                    if is_kept(self, t, name.split(":", 1)[1])}   # not: unseen at fit
                for t, comps in found.items()}, {}


def _phrase(ex, name: str, rarity: str) -> str:
    other = name.split(":", 1)[1] if ":" in name else "other"
    return (f"its {other} neighbours are shared, pair by pair, by other nodes of its "
            f"type far more than its links predict: a lockstep block ({name}{rarity})")


register_component(ComponentSpec("block", "in a lockstep block with nodes of another "
                                 "type (a buying ring)", phrase=_phrase))
