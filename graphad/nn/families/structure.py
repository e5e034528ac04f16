"""Structure reconstruction: links (and their attributes) badly explained by the latents."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

from ...components import ComponentSpec, link_text, register_component
from ...typing import EdgeType, edge_type_str, is_reverse, reverse_edge_type
from ..chunked import CHUNK_EDGES
from ..decoders import EdgeDecoder
from ..inputs import training_rows
from .base import ComponentFamily, EdgeErrors, Errors, Latents, masked, trimmed_mean


class StructureFamily(ComponentFamily):
    """Per-relation bilinear link decoder plus edge-attribute decoder.

    Per edge: ``-log sigmoid(z_u^T W_r z_v)`` plus the attribute squared error; trained
    on observed edges against as many sampled non-edges. Component ``structure``: the
    mean over a node's incident edges; per-edge errors for every forward relation.

    Args:
        edge_types: all relations (reverse ones included); decoders on forward ones.
        hidden: latent size; edge_dims: attribute width per relation; trim: see
            :func:`~graphad.nn.families.base.trimmed_mean`.
    """

    def __init__(self, edge_types: List[EdgeType], hidden: int,
                 edge_dims: Dict[EdgeType, int], trim: float = 0.0):
        super().__init__()
        self.trim = trim
        self.edge_types = list(edge_types)
        self.forward_types = [et for et in edge_types if not is_reverse(et)]
        self.edge_dec = nn.ModuleDict({edge_type_str(et): EdgeDecoder(hidden,
                                                                      edge_dims.get(et, 0))
                                       for et in self.forward_types})

    def loss(self, batch: HeteroData, z: Latents,
             generator: Optional[torch.Generator] = None) -> Optional[Tensor]:
        struct = []
        for et in self.forward_types:
            ei, edge_attr = _training_edges(batch, et)
            if ei.numel() == 0:
                continue
            dec = self.edge_dec[edge_type_str(et)]
            logit, attr = dec(z[et[0]], z[et[2]], ei)
            neg = ei.clone()
            neg[1] = torch.randint(0, batch[et[2]].num_nodes, (ei.size(1),),
                                   generator=generator).to(ei.device)
            neg_logit = dec.logits(z[et[0]], z[et[2]], neg)
            pos = F.softplus(-logit)
            if attr is not None and edge_attr is not None:
                pos = pos + (attr - edge_attr).pow(2).mean(dim=-1)
            struct.append(trimmed_mean(pos, self.trim) + F.softplus(neg_logit).mean())
        return torch.stack(struct).mean() if struct else None

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        edge_err: EdgeErrors = {}
        s_tot = {t: z[t].new_zeros(batch[t].num_nodes) for t in z}
        s_cnt = {t: z[t].new_zeros(batch[t].num_nodes) for t in z}
        # A node's incident edges are its in-edges over every relation (a reverse one
        # scored by its forward decoder), since a mini-batch samples the seeds' in-edges;
        # both ends count only where a relation has no reverse.
        scored: Dict[EdgeType, tuple] = {}   # forward -> (edges, attr, errors, terms)
        for et in self.edge_types:
            fwd = reverse_edge_type(et) if is_reverse(et) else et
            if fwd not in self.forward_types:
                continue
            ei = batch[et].edge_index
            ei_fwd = ei if fwd == et else ei.flip(0)
            attr = batch[et].edge_attr if "edge_attr" in batch[et] else None
            err = _same_edges(scored.get(fwd), ei_fwd, attr)
            if err is None:
                dec = self.edge_dec[edge_type_str(fwd)]
                terms = (scored[fwd][3] if fwd in scored
                         else dec.node_terms(z[fwd[0]], z[fwd[2]]))
                err = _edge_errors_in_chunks(dec, z[fwd[0]], z[fwd[2]], ei_fwd, attr,
                                             terms)
                scored[fwd] = (ei_fwd, attr, err, terms)
            if fwd == et:
                edge_err[et] = err
            ends = (1,) if reverse_edge_type(et) in self.edge_types else (0, 1)
            for end in ends:
                t = et[2] if end == 1 else et[0]
                s_tot[t] += scatter(err, ei[end], 0, dim_size=batch[t].num_nodes,
                                    reduce="sum")
                s_cnt[t] += torch.bincount(ei[end], minlength=batch[t].num_nodes).float()
        nodes: Errors = {}
        for t in z:
            if s_cnt[t].sum() > 0:
                nodes[t] = {"structure": masked(s_tot[t] / s_cnt[t].clamp(min=1),
                                                s_cnt[t] > 0)}
        return nodes, edge_err


def _same_edges(scored: Optional[tuple], edge_index: Tensor,
                edge_attr: Optional[Tensor]) -> Optional[Tensor]:
    """The errors of ``scored = (edge_index, edge_attr, errors, ...)`` where it holds the
    same edges (a reverse relation over the whole graph is its forward one flipped),
    else None."""
    if scored is None:
        return None
    ei, attr, err = scored[:3]
    same_attr = (attr is None and edge_attr is None) or (
        attr is not None and edge_attr is not None and attr.shape == edge_attr.shape
        and torch.equal(attr, edge_attr))
    if same_attr and ei.shape == edge_index.shape and torch.equal(ei, edge_index):
        return err
    return None


def _edge_errors_in_chunks(decoder: EdgeDecoder, z_src: Tensor, z_dst: Tensor,
                           edge_index: Tensor, edge_attr: Optional[Tensor],
                           terms: Optional[tuple] = None) -> Tensor:
    """``decoder.edge_errors`` ``[m]`` over slices of :data:`CHUNK_EDGES` edges (no
    ``[m, hidden]`` gather of the whole graph at once)."""
    if terms is None:
        terms = decoder.node_terms(z_src, z_dst)
    m = edge_index.size(1)
    return torch.cat([decoder.edge_errors(z_src, z_dst, edge_index[:, a:a + CHUNK_EDGES],
                                          None if edge_attr is None
                                          else edge_attr[a:a + CHUNK_EDGES], terms)
                      for a in range(0, max(m, 1), CHUNK_EDGES)])


def _training_edges(batch: HeteroData, et: EdgeType
                    ) -> Tuple[Tensor, Optional[Tensor]]:
    """``(edge_index [2, m], edge_attr [m, d] or None)`` of the edges the loss learns
    from: those between two training nodes (both ends not held out)."""
    ei = batch[et].edge_index
    attr = batch[et].edge_attr if "edge_attr" in batch[et] else None
    keep = None
    for end, t in ((0, et[0]), (1, et[2])):
        rows = training_rows(batch[t])
        if rows is not None:
            ok = rows.to(ei.device)[ei[end]]
            keep = ok if keep is None else keep & ok
    if keep is None:
        return ei, attr
    return ei[:, keep], None if attr is None else attr[keep]


def _phrase(ex, name: str, rarity: str) -> str:
    """``"its links unexpected for what their ends are (structure: 1 in 120), most of
    all pays merchant m01"``, or for a node with one link ``"its one link, about
    product p7, unexpected for what the two are (structure: 1 in 120)"``: the
    autoencoder, which learned from both ends' inputs and neighbourhoods which links
    exist, finds it improbable. The rarity is the node's, over all its links."""
    if ex.edges.empty:
        return f"its links unexpected for what their ends are (structure{rarity})"
    e = ex.edges.iloc[0]
    link = link_text(e["relation"], e["other"])
    relations = getattr(ex, "relations", None)
    links = (int(relations["edges"].sum()) if relations is not None
             and not relations.empty and "edges" in relations else 0)
    if links == 1:
        return f"its one link, {link}, unexpected for what the two are (structure{rarity})"
    return (f"its links unexpected for what their ends are (structure{rarity}), most of "
            f"all {link}")


register_component(ComponentSpec("structure", "links unexpected for what their ends are",
                                 phrase=_phrase, fitted="edges"))
