"""Neighbourhood consistency: a node against what its direct neighbours say about it."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import EdgeType, NodeType, edge_type_str
from ..inputs import affinity_key, has_key, nbr_key, sparse_mean, training_part
from .base import ComponentFamily, EdgeErrors, Errors, Latents, masked


class ConsistencyFamily(ComponentFamily):
    """Component ``consistency``: averaged over incoming relations, over a same-type
    relation the local affinity ``1 - mean_u cos(x_v, x_u)`` (untrained, on the
    standardised own features); across types ``1 - cos`` between a node's own features
    and a learned low-rank prediction of them from the neighbours' mean input
    (precomputed, so exact in mini-batches).

    Args:
        edge_types, in_dims, hidden: relations, input widths, the predictor's rank.
        own_dims: per type, how many leading input columns are its own features (the
            degrees and edge aggregates after them are structure, which other
            components judge: predicting them too blurred the comparison, measured on
            the fraud sample); types not named, or ``None``, compare every column.
        featureless: types without own features: nothing to compare, so no component
            (a type of sellers with none compared its degree columns, the same for
            every seller, and one seller whose prediction pointed the other way got
            100 nats).
        unmapped: types with too few training nodes to learn the prediction from
            another type (fewer than :data:`~graphad.nn.families.base.ROWS_PER_FEATURE`
            per own feature, the rule of thumb ``edge_fit`` uses): no cross-type comparison, so no
            component unless a same-type relation gives one. The 25 training merchants
            of a 300-user draw, 20 features each, were predicted so well at fit that a
            saved model read every merchant of a new draw as odd, and, through the
            users' merchant roll-up, flagged 99% of its users.
    """

    def __init__(self, edge_types: List[EdgeType], in_dims: Dict[NodeType, int],
                 hidden: int, own_dims: Optional[Dict[NodeType, int]] = None,
                 featureless: Sequence[NodeType] = (), unmapped: Sequence[NodeType] = ()):
        super().__init__()
        self.featureless = set(featureless)
        self.unmapped = set(unmapped)
        self.edge_types = [et for et in edge_types
                           if et[0] == et[2] or et[2] not in self.unmapped]
        self.width = {t: (own_dims or {}).get(t) or d for t, d in in_dims.items()}
        self.consist = nn.ModuleDict({
            edge_type_str(et): nn.Sequential(nn.Linear(in_dims[et[0]], hidden),
                                             nn.Linear(hidden, self.width[et[2]]))
            for et in self.edge_types if et[0] != et[2]})

    def _sums(self, batch: HeteroData) -> Dict[NodeType, Tuple[Tensor, Tensor]]:
        """Per type: summed ``1 - cos`` over incoming relations and relation counts."""
        out: Dict[NodeType, Tuple[Tensor, Tensor]] = {}
        for et in self.edge_types:
            dst = et[2]
            store = batch[dst]
            key = nbr_key(et)
            if key not in store or dst in self.featureless:
                continue
            mean, has = store[key], store[has_key(et)]
            if affinity_key(et) in store:  # same type: untrained local affinity
                err = 1 - store[affinity_key(et)]
            else:  # across types: what the neighbours predict, learned
                pred = self.consist[edge_type_str(et)](mean)
                own = store.x[:, :self.width[dst]]
                err = 1 - F.cosine_similarity(pred, own, dim=-1, eps=1e-6)
            err = torch.where(has, err, torch.zeros_like(err))
            zeros = torch.zeros(store.num_nodes, device=err.device)
            total, count = out.get(dst, (zeros, zeros))
            out[dst] = (total + err, count + has.float())
        return out

    def loss(self, batch: HeteroData, z: Latents,
             generator: Optional[torch.Generator] = None) -> Optional[Tensor]:
        sums = {t: (training_part(tot, batch[t]), training_part(cnt, batch[t]))
                for t, (tot, cnt) in self._sums(batch).items()}
        if not sums:
            return None
        return torch.stack([(tot / cnt.clamp(min=1)).sum() / cnt.gt(0).sum().clamp(min=1)
                            for tot, cnt in sums.values()]).mean()

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        return {t: {"consistency": masked(tot / cnt.clamp(min=1), cnt > 0)}
                for t, (tot, cnt) in self._sums(batch).items()}, {}

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        """``[(relation, per-column error [n, w], has [n])]`` for ``node_type``: each
        incoming relation's ``1 - cos`` split over the type's ``w`` own input columns
        (the rows sum to that relation's error). With unit vectors ``a`` (the node)
        and ``b`` (the prediction), ``1 - cos = |a - b|^2 / 2``, so column ``j`` holds
        ``(a_j - b_j)^2 / 2``; over a same-type relation the mean of that over the
        neighbours. The same-type split is over the node's prepared own columns: it
        adds up to the component where those are not PCA-reduced."""
        store = batch[node_type]
        width = self.width.get(node_type, 0)
        out = []
        for et in self.edge_types:
            if et[2] != node_type or nbr_key(et) not in store or width == 0:
                continue
            a = F.normalize(store.x[:, :width], dim=1, eps=1e-6)
            if et[0] == et[2]:       # mean over neighbours u of (a_v - a_u)^2 / 2
                ei = batch[et].edge_index
                mean_u, _ = sparse_mean(a, ei, store.num_nodes)
                mean_sq, _ = sparse_mean(a * a, ei, store.num_nodes)
                cols = (a * a - 2 * a * mean_u + mean_sq) / 2
            else:
                b = F.normalize(self.consist[edge_type_str(et)](store[nbr_key(et)]),
                                dim=1, eps=1e-6)
                cols = (a - b) ** 2 / 2
            out.append((edge_type_str(et), cols.detach().cpu(),
                        store[has_key(et)].detach().cpu()))
        return out


def _phrase(ex, name: str, rarity: str) -> str:
    """``"unlike its neighbours (consistency: 1 in 300): most in age=19 (61% of it)"``:
    the own features behind most of the error (the explanation's ``contrast``)."""
    text = f"unlike its neighbours (consistency{rarity})"
    table = getattr(ex, "contrast", None)
    if table is None or table.empty:
        return text
    from ...scoring.reasons import feature_text
    parts = [f"{feature_text(r['feature'], r['value'])} ({100 * r['share']:.0f}% of it)"
             for _, r in table.head(2).iterrows()]
    return f"{text}: most in {', '.join(parts)}"


register_component(ComponentSpec("consistency", "unlike its neighbours", phrase=_phrase,
                                 fitted="node"))
