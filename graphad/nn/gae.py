"""``MultimodalGAEModule``: the pure ``torch.nn.Module`` behind ``MultimodalGAE``.

A heterogeneous encoder gives every node a latent ``z``; the component families of
:mod:`graphad.nn.families` (one file each) turn inputs and latents into error
components, higher = more anomalous:

* ``attribute``: the input badly reconstructed from ``z`` (log of the error);
* ``structure``: incident links (and their attributes) badly reconstructed (mean);
* ``consistency``: its own features unlike its direct neighbours' (same type) or
  what they predict (other types);
* ``cross_modal:<a>~<b>``: one modality of an entity badly predicts another;
* ``context:<obs>``: its ``obs`` observations unlike what its links to other entity
  types predict;
* ``edge``: its most unusual incident edge against the endpoints' other edges;
* ``incident``: its edges' attributes as a whole (their shrunk mean) against other
  nodes' (a user whom all raters give -10);
* ``burst``: many of its edges of one relation packed into a short time;
* ``peer:<s>``: unlike its peers through a shared ``s`` node (two hops);
* ``degree:<s>``: more links from ``s`` nodes than its type's other nodes have;
* ``block:<s>``: it shares far more ``s`` neighbours with another node of its type
  than their degrees give (a lockstep block: a buying ring);
* ``edge_fit``: its edges' attributes unlike what its own features predict (a
  glowing review under a one-star rating);
* ``copies``: an observation that many others of its type repeat nearly unchanged
  (copied titles, photos, reviews);
* ``outlier``, ``outlier:fused``: inputs isolated among its type (isolation forests on
  the own and on the fused input).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..typing import EdgeType, NodeType
from .chunked import CHUNK_EDGES
from .encoder import HeteroEncoder
from .families import (AttributeFamily, BlockFamily, BurstFamily, ConsistencyFamily,
                       ContextFamily, CopiesFamily, CrossModalFamily, DegreeFamily,
                       DensityFamily, EdgeEvidenceFamily, EdgeFitFamily, IncidentFamily,
                       OutlierFamily, PeerFamily, StructureFamily, WithinFamily)
from .families.base import EdgeErrors, Errors


class MultimodalGAEModule(nn.Module):
    """Heterogeneous graph autoencoder over a set of component families.

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
            :class:`~graphad.nn.decoders.AttributeDecoder`).
        seed: seed of the closed-form families (isolation forest).
        own_dims: how many leading input columns per type are its own features (see
            :class:`~graphad.nn.families.consistency.ConsistencyFamily`); default all.
        featureless: types without own features (no ``consistency``; models saved
            before keep it).
        unmapped: types too small to learn what their neighbours of another type
            predict of them (no cross-type ``consistency``; models saved before have
            every map).
        incident: include the ``incident`` family (models saved before it existed
            are rebuilt without it, so they score as they did).
        burst: include the ``burst`` family (the same for models saved before it).
        degree: include the ``degree`` family (the same).
        block: include the ``block`` family (the same).
        copies: include the ``copies`` family (the same).
        edge_fit: per type, ``(column, relation)`` of each mean edge attribute in its
            input, for the ``edge_fit`` family; None: no such family (models saved
            before it).
        attribute_log: the ``attribute`` component on a log scale (models saved before
            it: the error itself; see :class:`~graphad.nn.families.AttributeFamily`).
        within: the ``within`` family's columns
            (:func:`~graphad.nn.families.within.within_columns`); None: no such family
            (models saved before it).
    """

    def __init__(self, metadata: Tuple[List[NodeType], List[EdgeType]],
                 in_dims: Dict[NodeType, int], edge_dims: Dict[EdgeType, int],
                 views: Dict[NodeType, List[EdgeType]], hidden: int = 64,
                 layers: int = 2, conv: str = "sage", dropout: float = 0.0,
                 trim: float = 0.0, bottleneck: bool = False, seed: int = 0,
                 own_dims: Optional[Dict[NodeType, int]] = None, incident: bool = True,
                 featureless: Sequence[NodeType] = (),
                 unmapped: Sequence[NodeType] = (),
                 burst: bool = True, within: Optional[Dict[NodeType, Dict]] = None,
                 degree: bool = True, attribute_log: bool = True, block: bool = True,
                 copies: bool = True,
                 edge_fit: Optional[Dict[NodeType, List[Tuple[int, EdgeType]]]] = None):
        super().__init__()
        node_types, edge_types = metadata
        self.edge_types = list(edge_types)
        self.encoder = HeteroEncoder(metadata, in_dims, hidden, layers, conv, edge_dims,
                                     dropout)
        families = {
            "attribute": AttributeFamily(node_types, in_dims, hidden, bottleneck, trim,
                                         log_scale=attribute_log),
            "structure": StructureFamily(edge_types, hidden, edge_dims, trim),
            "consistency": ConsistencyFamily(edge_types, in_dims, hidden, own_dims,
                                             featureless, unmapped),
            "cross_modal": CrossModalFamily(views),
            "context": ContextFamily(edge_types, views),
            "edge": EdgeEvidenceFamily(),
            "peer": PeerFamily(),
            "density": DensityFamily(),
            "outlier": OutlierFamily(seed),
        }
        if incident:
            families["incident"] = IncidentFamily()
        if burst:
            families["burst"] = BurstFamily()
        if within:
            families["within"] = WithinFamily(within)
        if degree:
            families["degree"] = DegreeFamily()
        if block:
            families["block"] = BlockFamily()
        if copies:
            families["copies"] = CopiesFamily()
        if edge_fit:
            families["edge_fit"] = EdgeFitFamily(edge_fit, own_dims or {})
        self.families = nn.ModuleDict(families)

    def register_fitted(self, state: Dict[str, Tensor]) -> None:
        """Declare the closed-form buffers of a saved ``state_dict`` (ridge maps,
        forests), so that it then loads with ``strict=True``."""
        for name, family in self.families.items():
            prefix = f"families.{name}."
            family.register_fitted({k[len(prefix):]: v for k, v in state.items()
                                    if k.startswith(prefix)})

    @property
    def chunked_inference(self) -> bool:
        """Whether :meth:`errors` passes messages in slices of destinations, so that a
        graph of any size is scored at once in bounded memory (not with ``"hgt"``)."""
        return self.encoder.conv_kind != "hgt"

    def encode(self, batch: HeteroData, chunk: Optional[int] = None
               ) -> Dict[NodeType, Tensor]:
        """``{type: z [n, hidden]}``; ``chunk``: see :class:`HeteroEncoder`."""
        has_attr = any("edge_attr" in batch[et] for et in batch.edge_types)
        return self.encoder(batch.x_dict, batch.edge_index_dict,
                            batch.edge_attr_dict if has_attr else None, chunk=chunk)

    @torch.no_grad()
    def fit_closed_form(self, data: HeteroData) -> None:
        """Fit the families with closed-form state on the prepared training graph."""
        for family in self.families.values():
            family.fit(data)

    def loss(self, batch: HeteroData, generator: Optional[torch.Generator] = None
             ) -> Tensor:
        """Sum of the families' training losses."""
        z = self.encode(batch)
        terms = [t for t in (f.loss(batch, z, generator) for f in self.families.values())
                 if t is not None]
        return torch.stack(terms).sum()

    @torch.no_grad()
    def errors(self, batch: HeteroData, chunk: Optional[int] = CHUNK_EDGES
               ) -> Tuple[Errors, EdgeErrors, Dict[str, EdgeErrors]]:
        """Raw per-node components of every node of ``batch``, the structure errors of
        its edges and every family's per-edge errors ``{family: {relation: [m]}}``.
        Messages are passed in slices of ``chunk`` in-edges (exact; memory-bounded)."""
        z = self.encode(batch, chunk=chunk)
        out: Errors = {t: {} for t in batch.node_types}
        edges: Dict[str, EdgeErrors] = {}
        for name, family in self.families.items():
            nodes, edge_err = family.errors(batch, z)
            for t, comps in nodes.items():
                out.setdefault(t, {}).update(comps)
            if edge_err:
                edges[name] = edge_err
        return out, edges.get("structure", {}), edges

    def details(self, batch: HeteroData, node_type: NodeType) -> Dict[str, list]:
        """Each family's explanation details for ``node_type`` (non-empty only)."""
        out = {}
        for name, family in self.families.items():
            rows = family.details(batch, node_type)
            if rows:
                out[name] = rows
        return out
