"""Degree: how many links of each kind a node has, against the other nodes of its type.

A device farm is one emulator used by 15 accounts where a phone has one or two; a
shell merchant has a handful of customers where a shop has hundreds; a burst account
pays 40 merchants in a day. ``degree:<type>`` is a node's number of links from nodes
of another type (one component per such relation into the node's type, named by the
other type, or by the relation where two relations come from the same type), judged
like every other component against the training nodes of its type (a high count is
evidence, a low one is not). Links within one type (follows, ratings between users)
are left to ``density`` and ``consistency``: on social graphs a hub is ordinary.

A relation that gives every training node the same count (each review has one author,
each spend series one owner) says nothing and is dropped at fit. The counts are taken
on the whole prepared graph, so the component is exact in mini-batches.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, number_text, register_component
from ...typing import EdgeType, NodeType
from .base import (ComponentFamily, EdgeErrors, Errors, Latents, fit_kept, is_kept,
                   register_precompute)

PREFIX = "degree__"


def degree_relations(edge_types: List[EdgeType]) -> Dict[EdgeType, str]:
    """Relation from another type -> the detail of its component name: the source
    type, or the relation where the destination has two from that type."""
    cross = [et for et in edge_types if et[0] != et[2]]
    out = {}
    for et in cross:
        twins = [o for o in cross if o[0] == et[0] and o[2] == et[2]]
        out[et] = et[0] if len(twins) == 1 else et[1]
    return out


@register_precompute
def precompute_degree(data: HeteroData, own: Dict[NodeType, int]) -> None:
    for et, detail in degree_relations(list(data.edge_types)).items():
        t = et[2]
        counts = torch.bincount(data[et].edge_index[1], minlength=data[t].num_nodes)
        data[t][PREFIX + detail] = counts.float()


class DegreeFamily(ComponentFamily):
    """One ``degree:<type>`` component per relation into a type from another type
    whose counts vary over the training nodes.

    Shapes:
        - **errors:** ``{type: {"degree:<other>": [n]}}`` (link counts)
    """

    fitted_prefixes = ("kept_",)

    @torch.no_grad()
    def fit(self, data: HeteroData) -> None:
        fit_kept(self, data, PREFIX,
                 lambda counts: counts.numel() > 1 and bool((counts != counts[0]).any()))

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        out: Errors = {}
        for t in batch.node_types:
            store = batch[t]
            for key in list(store.keys()):
                if not key.startswith(PREFIX):
                    continue
                detail = key[len(PREFIX):]
                if is_kept(self, t, detail):          # not: a relation unseen at fit
                    out.setdefault(t, {})[f"degree:{detail}"] = store[key].float()
        return out, {}

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        """``[(component, counts [n])]``: the link counts behind each kept
        ``degree:<other>`` component of ``node_type``."""
        errors, _ = self.errors(batch, {})
        return [(name, counts.detach().cpu())
                for name, counts in errors.get(node_type, {}).items()]


def _phrase(ex, name: str, rarity: str) -> str:
    """``"238 links from review nodes where the median product has 26
    (degree:review: 1 in 900)"``."""
    other = name.split(":", 1)[1] if ":" in name else "other"
    table = getattr(ex, "degrees", None)
    row = None if table is None or table.empty else \
        next((r for _, r in table.iterrows() if r["component"] == name), None)
    if row is None:
        return f"more links to {other} nodes than most ({name}{rarity})"
    return (f"{int(row['links'])} links from {other} nodes where the median "
            f"{ex.node_type} has {number_text(row['median'])} ({name}{rarity})")


register_component(ComponentSpec("degree", "many links from another type",
                                 phrase=_phrase))
