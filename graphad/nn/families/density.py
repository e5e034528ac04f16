"""Near-cliques: a node whose neighbours are far more interlinked than its degree predicts.

Collusion rings, review rings and trust cliques are dense: their members link to each
other far more than ordinary nodes' neighbours do. An autoencoder learns such a block
like any other pattern (a ring of 10 users who all follow each other is easy to
reconstruct), so density is judged directly, as OddBall does (Akoglu, McGlohon and
Faloutsos, PAKDD 2010). For every relation between nodes of one type (``user follows
user``, ``user rates user``), taken undirected and without self-loops, node ``v`` with
degree ``N_v`` has an egonet of ``N_v + 1`` nodes and ``E_v = N_v + T_v`` edges
(``T_v``: triangles through ``v``). Over real graphs ``E`` follows a power law of the
egonet size, ``log E = a + b log (N + 1)``, fitted by least squares on the nodes of the
graph being scored with at least one neighbour. The component ``density`` (one per
relation, ``density:<rel>``, where a type has several) is the residual
``log E_v - a - b log (N_v + 1)``: positive for a near-clique, negative for a star
(which the combination ignores as no evidence). Nodes without neighbours in the
relation have no value (NaN).

Triangles come from sparse row blocks of ``S @ S`` masked by ``S`` (never ``N x N``),
so the cost is the sum of squared degrees. Computed on the whole prepared graph, so
exact in mini-batches.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import EdgeType, NodeType, is_reverse
from .base import (ComponentFamily, EdgeErrors, Errors, Latents, precomputed_errors,
                   register_precompute)

PREFIX = "density__"
ROW_BLOCK = 4096        # rows of S @ S formed at once


def egonet_counts(edge_index: Tensor, num_nodes: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(degree [n], triangles [n])`` of the undirected simple graph of ``edge_index``
    (directions merged, duplicates and self-loops dropped)."""
    ei = edge_index.cpu().numpy()
    keep = ei[0] != ei[1]
    rows, cols = ei[0][keep], ei[1][keep]
    s = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(num_nodes, num_nodes))
    s = ((s + s.T) > 0).astype(np.float64).tocsr()
    degree = np.asarray(s.sum(axis=1)).ravel()
    triangles = np.zeros(num_nodes)
    for start in range(0, num_nodes, ROW_BLOCK):
        block = s[start:start + ROW_BLOCK]
        triangles[start:start + ROW_BLOCK] = np.asarray(
            (block @ s).multiply(block).sum(axis=1)).ravel() / 2
    return degree, triangles


def density_residual(edge_index: Tensor, num_nodes: int) -> Tuple[Tensor, Tensor]:
    """``(residual [n], has neighbours [n])``: ``log E`` above the egonet power law."""
    degree, triangles = egonet_counts(edge_index, num_nodes)
    has = degree > 0
    resid = np.zeros(num_nodes)
    if has.sum() >= 2:
        log_n = np.log(degree[has] + 1)
        log_e = np.log(degree[has] + triangles[has])
        if np.ptp(log_n) > 0:
            slope, intercept = np.polyfit(log_n, log_e, 1)
        else:
            slope, intercept = 0.0, float(np.mean(log_e))
        resid[has] = log_e - (intercept + slope * log_n)
    return torch.from_numpy(resid).float(), torch.from_numpy(has)


def relation_names(edge_types: List[EdgeType]) -> Dict[EdgeType, str]:
    """Forward same-type relation -> component ``density`` (``density:<rel>`` where its
    type has several)."""
    same = [et for et in edge_types if et[0] == et[2] and not is_reverse(et)]
    out = {}
    for et in same:
        twins = [o for o in same if o[0] == et[0]]
        out[et] = "density" if len(twins) == 1 else f"density:{et[1]}"
    return out


@register_precompute
def precompute_density(data: HeteroData, own: Dict[NodeType, int]) -> None:
    for et, name in relation_names(list(data.edge_types)).items():
        t = et[0]
        if data[et].num_edges == 0:
            continue
        resid, has = density_residual(data[et].edge_index, data[t].num_nodes)
        key = PREFIX + (name.split(":", 1)[1] if ":" in name else "")
        data[t][key] = resid
        data[t][key + "__has"] = has


class DensityFamily(ComponentFamily):
    """Untrained: reads the precomputed residuals, one ``density`` component per
    same-type relation."""

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        return precomputed_errors(
            batch, PREFIX, lambda rel: f"density:{rel}" if rel else "density"), {}


def _phrase(ex, name: str, rarity: str) -> str:
    rel = f" ({name.split(':', 1)[1]})" if ":" in name else ""
    return (f"its neighbours{rel} are far more interlinked than its degree predicts: "
            f"a near-clique ({name}{rarity})")


register_component(ComponentSpec("density", "neighbours more interlinked than its degree "
                                 "predicts (near-clique)", phrase=_phrase))
