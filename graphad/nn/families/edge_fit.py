"""Edge fit: a node's own content against the attributes of its edges.

A review's text says how its author rated the product, a listing's price what its
orders cost, a merchant's category what its payments amount to. A glowing review
under a one-star rating, or a stationery shop paid like a jeweller, disagrees with
itself, however ordinary the text and the rating are each alone (each against other
reviews is what ``edge`` and ``incident`` judge).

For every type with own features and every edge attribute that reaches it (the mean
over its edges of one relation, as in its input; never a time column), a closed-form
ridge map predicts the attribute from the node's own features, fitted on the training
nodes that have such edges (penalty by leave-one-out, :func:`~graphad.nn.crossmodal.
ridge_map`). Only where the own features explain at least :data:`R2_MIN` of the
attribute's variance out of sample (leave-one-out ``R^2``), with at least
:data:`ROWS_PER_FEATURE` training nodes per own feature, is the attribute kept:
a user's profile says little about what it spends (``R^2`` 0.19 on the embedded fraud
sample), so a surprising amount is left to ``incident``; a review's text says much
about its rating (0.46 there, 0.61 on a test review site). ``edge_fit`` is then the
largest residual over the kept attributes, in units of its robust spread over the
training nodes (1.4826 MAD), two-sided: a 1-star rating under a glowing text and a
5-star one under a scathing text count alike. NaN for a node with no such edge.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, first_row, number_text, register_component
from ...typing import EdgeType, NodeType
from ..crossmodal import RIDGE_GRID, loo_errors, ridge_map
from ..inputs import has_key, training_rows
from .base import (ROWS_PER_FEATURE, ComponentFamily, EdgeErrors, Errors, Latents, masked,
                   safe_name)

#: the out-of-sample share of an attribute's variance the own features must explain
R2_MIN = 0.3
#: a map is fitted only on at least ``ROWS_PER_FEATURE`` training nodes per own
#: feature. With 5, the 300-user sample's reviews (8.5 per feature, TF-IDF text) got
#: one, and a model scoring a new draw flagged 48% of its reviews instead of 20%; with
#: none, one held-out merchant of a 31-merchant graph was predicted 32 nats off
MAD_TO_STD = 1.4826


def loo_r2(xa: Tensor, xb: Tensor) -> Tuple[float, float]:
    """``(R^2, penalty)``: the leave-one-out ``R^2`` of the ridge map ``xb ~ xa``
    (``[n, d]``, ``[n]``) at the relative penalty leave-one-out chooses
    (:func:`~graphad.nn.crossmodal.loo_errors`)."""
    a = (xa - xa.mean(0)).double()
    b = (xb - xb.mean()).double().view(-1, 1)
    errors = loo_errors(a, b)
    best = errors.index(min(errors))
    total = float(b.pow(2).mean())
    r2 = 0.0 if total <= 1e-12 else 1.0 - errors[best] / total
    return r2, float(RIDGE_GRID[best])


def robust_scale(resid: Tensor) -> Tensor:
    """``[1]`` 1.4826 MAD of ``resid`` (its std where that is 0, then 1)."""
    mad = MAD_TO_STD * (resid - resid.median()).abs().median()
    if float(mad) > 1e-9:
        return mad.view(1)
    std = resid.std() if resid.numel() > 1 else resid.new_zeros(())
    return (std if float(std) > 1e-9 else resid.new_ones(())).view(1)


class EdgeFitFamily(ComponentFamily):
    """One ``edge_fit`` component per type with a kept attribute.

    Args:
        columns: per type, ``(column of x, relation into the type)`` of each mean
            edge attribute in its prepared input.
        own_dims: per type, how many leading input columns are its own features.

    Shapes:
        - **errors:** ``{type: {"edge_fit": [n]}}`` (robust z, NaN without edges)
    """

    fitted_prefixes = ("w_", "ma_", "mb_", "scale_")

    def __init__(self, columns: Dict[NodeType, Sequence[Tuple[int, EdgeType]]],
                 own_dims: Dict[NodeType, int]):
        super().__init__()
        self.columns = {t: [(int(c), tuple(et)) for c, et in cols]
                        for t, cols in columns.items() if own_dims.get(t, 0) > 0}
        self.own = {t: int(own_dims[t]) for t in self.columns}

    @staticmethod
    def _key(t: NodeType, column: int) -> str:
        return f"{safe_name(t)}__{column}"

    @torch.no_grad()
    def fit(self, data: HeteroData) -> None:
        for t, cols in self.columns.items():
            if t not in data.node_types:
                continue
            store = data[t]
            rows = training_rows(store)
            own = store.x[:, :self.own[t]].double()
            for column, into in cols:
                has = store[has_key(into)]
                if rows is not None:
                    has = has & rows
                if int(has.sum()) < ROWS_PER_FEATURE * max(self.own[t], 1):
                    continue
                xa, xb = own[has], store.x[has, column].double()
                r2, alpha = loo_r2(xa, xb)
                if r2 < R2_MIN:
                    continue
                weight, ma, mb = ridge_map(xa, xb.view(-1, 1), alpha)
                pred = ((xa - ma) @ weight).view(-1) + mb
                key = self._key(t, column)
                for name, value in (("w", weight), ("ma", ma), ("mb", mb),
                                    ("scale", robust_scale(xb - pred))):
                    self.register_buffer(f"{name}_{key}", value.float())

    def _fits(self, batch: HeteroData, t: NodeType):
        """Per kept attribute of ``t``: ``(relation into t, its position among the
        relation's mean attributes, value [n], prediction [n], signed z [n], has
        [n])``, all in prepared units."""
        store = batch[t]
        position: Dict[EdgeType, int] = {}
        for column, into in self.columns.get(t, []):
            j = position[into] = position.get(into, -1) + 1
            key = self._key(t, column)
            if not hasattr(self, f"w_{key}"):
                continue          # not kept at fit
            w, ma, mb = (getattr(self, f"{p}_{key}") for p in ("w", "ma", "mb"))
            pred = ((store.x[:, :self.own[t]] - ma) @ w).view(-1) + mb
            value = store.x[:, column]
            z = (value - pred) / getattr(self, f"scale_{key}")
            yield into, j, value, pred, z, store[has_key(into)]

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        out: Errors = {}
        for t in self.columns:
            if t not in batch.node_types:
                continue
            parts: List[Tensor] = [masked(signed.abs(), has) for *_, signed, has
                                   in self._fits(batch, t)]
            if parts:
                stacked = torch.stack(parts)
                best = torch.nan_to_num(stacked, nan=-1.0).max(0).values
                out[t] = {"edge_fit": masked(best, ~torch.isnan(stacked).all(0))}
        return out, {}

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        """``[(relation into the type, position of the attribute among the relation's
        non-time attributes, value [n], prediction [n], signed z [n], has [n])]`` per
        kept attribute, in prepared units (explanations map them back to the
        attribute's own units)."""
        if node_type not in self.columns or node_type not in batch.node_types:
            return []
        return [(into, j, *(v.detach().cpu() for v in rest))
                for into, j, *rest in self._fits(batch, node_type)]


def edge_fit_columns(mean_columns: Dict[NodeType, List[Tuple[int, EdgeType, int]]],
                     in_dims: Dict[NodeType, int], aggregate_widths: Dict[NodeType, int]
                     ) -> Dict[NodeType, List[Tuple[int, EdgeType]]]:
    """Per type, ``(column of the prepared x, relation)`` of each mean edge attribute
    (:func:`~graphad.data.features.edge_mean_columns`): the aggregates are the last
    ``aggregate_widths[t]`` columns of its prepared input."""
    return {t: [(in_dims[t] - aggregate_widths[t] + offset, into)
                for offset, into, _ in cols]
            for t, cols in mean_columns.items() if t in in_dims}


def _phrase(ex, name: str, rarity: str) -> str:
    """``"its rating 1 on its about edge where its text predicts 4.6 (edge_fit: 1
    in 730)"``: the attribute furthest from its prediction."""
    r = first_row(ex, "edge_fit")
    if r is None:
        return (f"an attribute of its edges (a rating, an amount) far from what its own "
                f"features predict ({name}{rarity})")
    edges = int(r["edges"])
    if edges == 1:
        head = (f"its {r['attribute']} {_num(r['value'])} on "
                f"{r['relation'].replace('edges', 'edge')}")
    else:
        head = (f"its mean {r['attribute']} {_num(r['value'])} over {edges} of "
                f"{r['relation']}")
    units = "" if r["units"] == "raw" else " (prepared units)"
    return (f"{head}{units} where {r['predicted_from']} predicts "
            f"{_num(r['expected'])} ({name}{rarity})")


def _num(v: float) -> str:
    """Predictions to three digits (``"4.21"``), as :func:`number_text` writes them."""
    return number_text(float(f"{float(v):.3g}"))


register_component(ComponentSpec(
    "edge_fit", "an attribute of its edges (a rating, an amount) far from what its own "
    "content predicts, in either direction (a glowing text under one star, a "
    "scathing one under five)", phrase=_phrase, fitted="node"))
