"""Two-hop (meta-path) consistency: a node against its peers through a shared node.

In a typed graph the peers of a node sit two hops away: the other reviews of the same
product, the other accounts on the same device, the other reviews by the same user.
For every relation ``(t, r, s)`` with ``s != t`` (reverse relations included, so both
"reviews of this product" and "products of this reviewer" exist), node ``v`` of type
``t`` is compared, on its own features (not its degrees or edge aggregates: how much a
node trades is outlyingness, not disagreement), with the mean of its peers ``u != v`` that share an
``s`` node with it (each shared node counts its members once)::

    peer_sum(v) = sum_{s in N(v)} (sum_{u in N(s)} x_u) - deg(v) x_v
    peer_cnt(v) = sum_{s in N(v)} |N(s)| - deg(v)

(two sparse products, never ``N x N``). Each input column's residual ``x_v - mean`` is
divided by ``sqrt(1 + 1 / peer_cnt)`` (fewer peers give a noisier mean) and by its
scale over the nodes of the path (the larger of the residuals' std and 1.4826 MAD: a
rating that agrees within a product to +-0.3 star is judged in those units, not in the
spread of ratings across products; the std keeps a rare one-hot category, whose MAD is
about 0, from looking like a 50-sigma event), read as a two-sided heavy-tailed surprisal
(:func:`~graphad.nn.families.base.two_sided_surprisal`: one-hot and discrete columns do
not explode), and the columns are
combined as the components are (the log of the mean of ``exp(surprisal)``, a harmonic
mean p-value): one contradicting column (the rating) shows among many agreeing ones
(64 text dimensions) instead of being averaged away. One
component per path, ``peer:<s>`` (``peer:<s>/<r>`` where ``t`` reaches ``s`` by two
relations). Computed on the whole prepared graph, so exact in mini-batches.
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component, relation_ends
from ...typing import EdgeType, NodeType
from .base import (ComponentFamily, EdgeErrors, Errors, Latents, precomputed_errors,
                   register_precompute, two_sided_surprisal)

PREFIX = "peer__"


def _sparse(rows: Tensor, cols: Tensor, shape: Tuple[int, int]) -> Tensor:
    values = torch.ones(rows.numel())
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, shape,
                                   check_invariants=False).coalesce()


def _unique_pairs(edge_index: Tensor, num_shared: int) -> Tensor:
    """The distinct columns of ``edge_index [2, m]``, sorted (one 1-D ``unique`` of
    ``node * num_shared + shared``, much faster than ``unique(dim=1)``)."""
    if edge_index.numel() == 0:
        return edge_index
    key = torch.unique(edge_index[0] * num_shared + edge_index[1])
    return torch.stack([key // num_shared, key % num_shared])


def peer_error(x: Tensor, edge_index: Tensor, num_shared: int) -> Tuple[Tensor, Tensor]:
    """``(error [n], has peers [n])`` for nodes ``x [n, d]`` linked to shared nodes by
    ``edge_index [2, m]`` (row 0: the nodes, row 1: the shared nodes)."""
    n = x.size(0)
    pairs = _unique_pairs(edge_index, num_shared)
    inc = _sparse(pairs[0], pairs[1], (n, num_shared))           # [n, s]
    inc_t = _sparse(pairs[1], pairs[0], (num_shared, n))         # [s, n]
    members = torch.sparse.mm(inc_t, x)                          # [s, d] sums
    size = torch.bincount(pairs[1], minlength=num_shared).float()  # [s]
    deg = torch.bincount(pairs[0], minlength=n).float()          # [n]
    peer_sum = torch.sparse.mm(inc, members) - deg.view(-1, 1) * x
    peer_cnt = torch.sparse.mm(inc, size.view(-1, 1)).view(-1) - deg
    has = peer_cnt > 0.5
    mean = peer_sum / peer_cnt.clamp(min=1).view(-1, 1)
    resid = (x - mean) / torch.sqrt(1 + 1 / peer_cnt.clamp(min=1)).view(-1, 1)
    if not has.any():
        return torch.zeros(n), has
    mad = 1.4826 * resid[has].abs().median(dim=0).values
    std = resid[has].std(dim=0, unbiased=False) if int(has.sum()) > 1 else mad
    scale = torch.maximum(mad, std)      # std: a one-hot column's MAD is ~0
    scale = torch.where(scale > 1e-6, scale, torch.ones_like(scale))
    s = two_sided_surprisal(resid / scale)
    err = torch.logsumexp(s, dim=1) - math.log(s.size(1))
    return torch.where(has, err, torch.zeros_like(err)), has


def path_names(edge_types: List[EdgeType]) -> Dict[EdgeType, str]:
    """Relation ``(t, r, s)`` -> component name ``peer:<s>`` (``peer:<s>/<r>`` where
    ``t`` reaches ``s`` by more than one relation)."""
    paths = [et for et in edge_types if et[0] != et[2]]
    out = {}
    for et in paths:
        twins = [o for o in paths if o[0] == et[0] and o[2] == et[2]]
        out[et] = f"peer:{et[2]}" if len(twins) == 1 else f"peer:{et[2]}/{et[1]}"
    return out


@register_precompute
def precompute_peers(data: HeteroData, own: Dict[NodeType, int]) -> None:
    for et, name in path_names(list(data.edge_types)).items():
        t = et[0]
        width = own.get(t, 0)
        if data[et].num_edges == 0 or data[t].num_nodes == 0 or width == 0:
            continue
        err, has = peer_error(data[t].x[:, :width], data[et].edge_index,
                              data[et[2]].num_nodes)
        if has.any():
            key = PREFIX + name.split(":", 1)[1]
            data[t][key] = err
            data[t][key + "__has"] = has


class PeerFamily(ComponentFamily):
    """Untrained: reads the precomputed peer errors, one ``peer:*`` component per path."""

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        return precomputed_errors(batch, PREFIX, lambda detail: "peer:" + detail), {}


def _phrase(ex, name: str, rarity: str) -> str:
    """``"unlike the other merchants of its users (peer:user: 1 in 100)"`` (``"of its
    user"`` for a node with one link to a user)."""
    via = name.split(":", 1)[1].split("/")[0]
    what = f"its {via}" if _links_to(ex, via) == 1 else f"its {via}s"
    return f"unlike the other {ex.node_type}s of {what} ({name}{rarity})"


def _links_to(ex, via: str) -> int:
    """How many links the explained node has to ``via`` nodes (its ``relations``
    table: ``"src-rel->dst"`` rows with their edge counts; 0 where unknown). Links, not
    nodes: two payments to one merchant count twice."""
    table = getattr(ex, "relations", None)
    if table is None or table.empty or "edges" not in table:
        return 0
    total = 0
    for relation, edges in zip(table["relation"], table["edges"]):
        src, dst = relation_ends(relation)
        if {src, dst} == {str(ex.node_type), via} and src != dst:
            total += int(edges)
    return total


register_component(ComponentSpec("peer", "unlike its peers through a shared node",
                                 phrase=_phrase))
