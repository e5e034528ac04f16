"""``MultimodalGAEModule``: the pure ``torch.nn.Module`` behind ``MultimodalGAE``.

Four error components per node (higher = more anomalous):

* ``attribute``: squared error of reconstructing the node's input from its latent ``z``.
* ``structure``: mean over incident edges of ``-log sigmoid(z_u^T W_r z_v)`` plus the
  edge-attribute reconstruction error (each edge also gets its own score).
* ``consistency``: how far the node's input is from what its neighbours say, averaged
  over incoming relations: over a same-type relation the local affinity
  ``1 - mean_u cos(x_v, x_u)`` (untrained, on standardised inputs); across types
  ``1 - cos`` to a learned low-rank prediction from the neighbours' mean input.
* ``cross_modal:<a>~<b>``: for an entity with observations of two or more types, how
  badly modality ``a``'s view predicts ``b``'s and back (closed-form ridge maps fitted
  on the training graph, ``1 - cos``), one component per modality pair
  (:class:`CrossModalRidge`).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

from ..typing import (EdgeType, NodeType, edge_type_str, is_reverse,
                      reverse_edge_type)
from .decoders import AttributeDecoder, EdgeDecoder
from .crossmodal import CrossModalRidge
from .encoder import HeteroEncoder
from .inputs import affinity_key, has_key, nbr_key

Errors = Dict[NodeType, Dict[str, Tensor]]


class MultimodalGAEModule(nn.Module):
    """Heterogeneous graph autoencoder with consistency and cross-modal heads.

    Args:
        metadata: ``(node_types, edge_types)``.
        in_dims: input width per node type.
        edge_dims: edge attribute width per relation.
        views: entity type -> relations ``(observation type, rel, entity type)`` whose
            sources are its modality observations (for the cross-modal component).
        hidden, layers, conv, dropout: see :class:`HeteroEncoder`.
        trim: share of the largest per-node / per-edge errors left out of each training
            loss (robust autoencoder; the likely anomalies are not learned).
        bottleneck: attribute decoders narrower than their output (see
            :class:`AttributeDecoder`).
    """

    def __init__(self, metadata: Tuple[List[NodeType], List[EdgeType]],
                 in_dims: Dict[NodeType, int], edge_dims: Dict[EdgeType, int],
                 views: Dict[NodeType, List[EdgeType]], hidden: int = 64,
                 layers: int = 2, conv: str = "sage", dropout: float = 0.0,
                 trim: float = 0.0, bottleneck: bool = False):
        super().__init__()
        node_types, edge_types = metadata
        self.edge_types = list(edge_types)
        self.trim = trim
        self.forward_types = [et for et in edge_types if not is_reverse(et)]
        self.encoder = HeteroEncoder(metadata, in_dims, hidden, layers, conv, edge_dims,
                                     dropout)
        self.attr_dec = nn.ModuleDict({
            t: AttributeDecoder(hidden, in_dims[t], bottleneck) for t in node_types})
        self.edge_dec = nn.ModuleDict({edge_type_str(et): EdgeDecoder(hidden,
                                                                      edge_dims.get(et, 0))
                                       for et in self.forward_types})
        self.consist = nn.ModuleDict({
            edge_type_str(et): nn.Sequential(nn.Linear(in_dims[et[0]], hidden),
                                             nn.Linear(hidden, in_dims[et[2]]))
            for et in edge_types if et[0] != et[2]})
        self.cross = CrossModalRidge(views)

    # ------------------------------------------------------------------ pieces
    def encode(self, batch: HeteroData) -> Dict[NodeType, Tensor]:
        return self.encoder(batch.x_dict, batch.edge_index_dict,
                            batch.edge_attr_dict if self._has_edge_attr(batch) else None)

    @staticmethod
    def _has_edge_attr(batch: HeteroData) -> bool:
        return any("edge_attr" in batch[et] for et in batch.edge_types)

    def _consistency(self, batch: HeteroData) -> Dict[NodeType, Tuple[Tensor, Tensor]]:
        """Per type: summed ``1 - cos`` over incoming relations and relation counts.

        Uses the precomputed neighbour means ``batch[dst][nbr_key(et)]`` (see
        :func:`graphad.nn.inputs.add_neighbour_means`), exact also in mini-batches.
        """
        out: Dict[NodeType, Tuple[Tensor, Tensor]] = {}
        for et in self.edge_types:
            dst = et[2]
            store = batch[dst]
            key = nbr_key(et)
            if key not in store:
                continue
            mean, has = store[key], store[has_key(et)]
            if affinity_key(et) in store:  # same type: untrained local affinity
                err = 1 - store[affinity_key(et)]
            else:  # across types: what the neighbours predict, learned
                pred = self.consist[edge_type_str(et)](mean)
                err = 1 - F.cosine_similarity(pred, store.x, dim=-1, eps=1e-6)
            err = torch.where(has, err, torch.zeros_like(err))
            n = store.num_nodes
            zeros = torch.zeros(n, device=err.device)
            total, count = out.get(dst, (zeros, zeros))
            out[dst] = (total + err, count + has.float())
        return out

    # ------------------------------------------------------------------ training
    def loss(self, batch: HeteroData, generator: Optional[torch.Generator] = None
             ) -> Tensor:
        """Sum of the attribute, structure and consistency losses (the cross-modal maps
        are closed-form, fitted once by :meth:`CrossModalRidge.fit`)."""
        z = self.encode(batch)
        terms: List[Tensor] = []
        terms.append(torch.stack([self._trimmed(self.attr_dec[t].error(z[t], batch[t].x))
                                  for t in z if batch[t].num_nodes > 0]).mean())
        struct = []
        for et in self.forward_types:
            ei = batch[et].edge_index
            if ei.numel() == 0:
                continue
            dec = self.edge_dec[edge_type_str(et)]
            logit, attr = dec(z[et[0]], z[et[2]], ei)
            neg = ei.clone()
            neg[1] = torch.randint(0, batch[et[2]].num_nodes, (ei.size(1),),
                                   generator=generator).to(ei.device)
            neg_logit = dec.logits(z[et[0]], z[et[2]], neg)
            pos = F.softplus(-logit)
            if attr is not None and "edge_attr" in batch[et]:
                pos = pos + (attr - batch[et].edge_attr).pow(2).mean(dim=-1)
            struct.append(self._trimmed(pos) + F.softplus(neg_logit).mean())
        if struct:
            terms.append(torch.stack(struct).mean())
        cons = self._consistency(batch)
        if cons:
            terms.append(torch.stack([(tot / cnt.clamp(min=1)).sum() / cnt.gt(0).sum()
                                      .clamp(min=1) for tot, cnt in cons.values()]).mean())
        return torch.stack(terms).sum()

    def _trimmed(self, err: Tensor) -> Tensor:
        """Mean of the smallest ``1 - trim`` share of per-item errors.

        The largest errors are most likely anomalies: leaving them out of the loss keeps
        the autoencoder from learning to reproduce them (a robust autoencoder).
        """
        n = err.numel()
        keep = n - int(self.trim * n)
        if keep <= 0 or keep == n:
            return err.mean()
        return torch.topk(err, keep, largest=False, sorted=False).values.mean()

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def errors(self, batch: HeteroData) -> Tuple[Errors, Dict[EdgeType, Tensor]]:
        """Raw per-node components for every node of ``batch`` and per-edge errors."""
        z = self.encode(batch)
        out: Errors = {t: {"attribute": self.attr_dec[t].error(z[t], batch[t].x)}
                       for t in z}
        edge_err: Dict[EdgeType, Tensor] = {}
        s_tot = {t: z[t].new_zeros(batch[t].num_nodes) for t in z}
        s_cnt = {t: z[t].new_zeros(batch[t].num_nodes) for t in z}
        # A node's incident edges are its in-edges over every relation (a reverse one
        # scored by its forward decoder), since a mini-batch samples the seeds' in-edges;
        # both ends count only where a relation has no reverse.
        for et in self.edge_types:
            fwd = reverse_edge_type(et) if is_reverse(et) else et
            if fwd not in self.forward_types:
                continue
            ei = batch[et].edge_index
            err = self.edge_dec[edge_type_str(fwd)].edge_errors(
                z[fwd[0]], z[fwd[2]], ei if fwd == et else ei.flip(0),
                batch[et].edge_attr if "edge_attr" in batch[et] else None)
            if fwd == et:
                edge_err[et] = err
            ends = (1,) if reverse_edge_type(et) in self.edge_types else (0, 1)
            for end in ends:
                t = et[2] if end == 1 else et[0]
                s_tot[t] += scatter(err, ei[end], 0, dim_size=batch[t].num_nodes,
                                    reduce="sum")
                s_cnt[t] += torch.bincount(ei[end], minlength=batch[t].num_nodes).float()
        for t in z:
            if s_cnt[t].sum() > 0:
                out[t]["structure"] = torch.where(s_cnt[t] > 0,
                                                  s_tot[t] / s_cnt[t].clamp(min=1),
                                                  torch.full_like(s_tot[t], float("nan")))
        for t, (tot, cnt) in self._consistency(batch).items():
            out[t]["consistency"] = torch.where(cnt > 0, tot / cnt.clamp(min=1),
                                                torch.full_like(tot, float("nan")))
        for entity in self.cross.views:
            for pair, err, both in self.cross.pair_errors(batch, entity):
                out[entity][f"cross_modal:{pair}"] = torch.where(
                    both, err, torch.full_like(err, float("nan")))
        return out, edge_err
