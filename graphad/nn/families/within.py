"""Within a category: a node's numbers against the nodes that share its category.

A listing priced at 28 times the median of its category is ordinary among all listings
(jewellery costs that much); a teenager's balance is ordinary among all users, not
among those who signed up through the same channel. For every node type whose own
features hold both numeric columns and one-hot categorical columns (the schema's
``numeric`` and ``categorical``), and for each categorical column, each numeric input
``x_j`` of node ``v`` is judged against the training nodes with ``v``'s value of that
column: its robust z

    z = (x_j - m_c) / s_c,   m_c = w med_c + (1 - w) med,
    s_c^2 = w (1.4826 MAD_c)^2 + (1 - w) (1.4826 MAD)^2,   w = n_c / (n_c + 5),

the category's median and spread shrunk towards the whole column's by five
pseudo-nodes (a category of three nodes says little about its spread), read as a
heavy-tailed two-sided surprisal
(:func:`~graphad.nn.families.base.two_sided_surprisal`) and combined over the numeric
columns as the components are (the log of the mean of ``exp(surprisal)``): one
component per categorical column, ``within:<column>``. A node in no category of the
column (a value unseen at fit) has no value for it (NaN). The medians and spreads are
fitted on the training graph (closed form, exact in mini-batches). Types whose inputs
are reduced by PCA have no such component.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import NodeType
from .base import ComponentFamily, EdgeErrors, Errors, Latents, masked, two_sided_surprisal
from .edge_evidence import MAD_TO_STD

#: pseudo-nodes by which a category's median and spread are shrunk to the column's
PSEUDO_NODES = 5.0
#: fewest training nodes of a type for the family
MIN_NODES = 20

#: ``{type: {"categories": {column: [one-hot input index, ...]}, "numeric": [index]}}``
Columns = Dict[NodeType, Dict[str, object]]


def within_columns(feature_names: Dict[NodeType, Sequence[str]],
                   own_dims: Dict[NodeType, int], raw_dims: Dict[NodeType, int]
                   ) -> Columns:
    """The categorical columns (``column=value`` feature names, at least two values)
    and numeric columns (plain names; not ``__isnan`` flags or hashed buckets) among
    each type's own inputs, for types whose own inputs are not reduced by PCA."""
    out: Columns = {}
    for t, names in feature_names.items():
        width = own_dims.get(t, 0)
        if width == 0 or width != raw_dims.get(t) or len(names) < width:
            continue
        cats: Dict[str, List[int]] = {}
        numeric: List[int] = []
        for j, name in enumerate(list(names)[:width]):
            name = str(name)
            if "=" in name:
                cats.setdefault(name.split("=", 1)[0], []).append(j)
            elif "__isnan" not in name and "#h" not in name:
                numeric.append(j)
        cats = {c: idx for c, idx in cats.items() if len(idx) >= 2}
        if cats and numeric:
            out[t] = {"categories": cats, "numeric": numeric}
    return out


def _codes(onehot: Tensor) -> Tensor:
    """``[n]`` index of each row's category among the standardised one-hot columns
    ``onehot [n, k]`` (a 1 is above the column's mean, a 0 below it, so the row's
    category is its positive column), ``-1`` for a row in none (a value unseen at fit:
    all columns 0)."""
    hi = onehot.max(dim=1)
    return torch.where(hi.values > 0, hi.indices, torch.full_like(hi.indices, -1))


def within_stats(x: Tensor, codes: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """``(centre [k, d], scale [k, d])`` of ``x [n, d]`` per category ``codes [n]``
    (``0..k-1``; ``-1`` rows count only in the column's own median and spread), shrunk
    towards the column's by :data:`PSEUDO_NODES`."""
    med = x.median(dim=0).values
    mad = MAD_TO_STD * (x - med).abs().median(dim=0).values
    mad = torch.where(mad > 1e-9, mad, x.std(dim=0, unbiased=False).clamp(min=1e-6))
    centre = med.repeat(k, 1)
    scale = mad.repeat(k, 1)
    for c in range(k):
        rows = x[codes == c]
        if rows.size(0) == 0:
            continue
        w = rows.size(0) / (rows.size(0) + PSEUDO_NODES)
        m_c = rows.median(dim=0).values
        s_c = MAD_TO_STD * (rows - m_c).abs().median(dim=0).values
        centre[c] = w * m_c + (1 - w) * med
        scale[c] = torch.sqrt(w * s_c ** 2 + (1 - w) * mad ** 2)
    return centre, scale.clamp(min=1e-6)


class WithinFamily(ComponentFamily):
    """One ``within:<column>`` component per categorical column of a type (fitted
    category medians and spreads of its numeric inputs).

    Args:
        columns: :func:`within_columns` of the training graph.

    Shapes:
        - **errors:** ``{type: {"within:<column>": [n]}}``
    """

    fitted_prefixes = ("centre_", "scale_")

    def __init__(self, columns: Columns):
        super().__init__()
        self.columns = {t: {"categories": {c: list(i) for c, i in spec["categories"].items()},
                            "numeric": list(spec["numeric"])}
                        for t, spec in columns.items()}

    @staticmethod
    def _safe(t: NodeType, column: str) -> str:
        return "".join(ch if ch.isalnum() else "_" for ch in f"{t}__{column}")

    @torch.no_grad()
    def fit(self, data: HeteroData) -> None:
        for t, spec in self.columns.items():
            if t not in data.node_types or data[t].num_nodes < MIN_NODES:
                continue
            x = data[t].x.double()
            numeric = x[:, spec["numeric"]]
            for column, idx in spec["categories"].items():
                centre, scale = within_stats(numeric, _codes(x[:, idx]), len(idx))
                safe = self._safe(t, column)
                self.register_buffer(f"centre_{safe}", centre.float())
                self.register_buffer(f"scale_{safe}", scale.float())

    def _z(self, batch: HeteroData, t: NodeType) -> List[Tuple[str, Tensor, Tensor]]:
        """``[(column, z [n, d] of the numeric inputs, in a category [n])]``."""
        out = []
        if t not in self.columns or t not in batch.node_types:
            return out
        spec = self.columns[t]
        x = batch[t].x
        numeric = x[:, spec["numeric"]]
        for column, idx in spec["categories"].items():
            safe = self._safe(t, column)
            if not hasattr(self, f"centre_{safe}"):
                continue                  # too few training nodes
            codes = _codes(x[:, idx])
            at = codes.clamp(min=0)
            z = (numeric - getattr(self, f"centre_{safe}")[at]) \
                / getattr(self, f"scale_{safe}")[at]
            out.append((column, z, codes >= 0))
        return out

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        out: Errors = {}
        for t in self.columns:
            for column, zs, has in self._z(batch, t):
                s = two_sided_surprisal(zs)
                err = torch.logsumexp(s, dim=1) - math.log(s.size(1))
                out.setdefault(t, {})[f"within:{column}"] = masked(err, has)
        return out, {}

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        """``[(column, numeric input indices, z [n, d], in a category [n])]``."""
        numeric = self.columns.get(node_type, {}).get("numeric", [])
        return [(column, list(numeric), z.detach().cpu(), has.detach().cpu())
                for column, z, has in self._z(batch, node_type)]


def _phrase(ex, name: str, rarity: str) -> str:
    """``"its price=300 unlike other listings with category=books (median 8.1)
    (within:category: 1 in 900)"``: the numeric column furthest from its category."""
    column = name.split(":", 1)[1] if ":" in name else "category"
    table = getattr(ex, "within", None)
    rows = table[table["column"] == column] if table is not None and not table.empty \
        else None
    if rows is None or rows.empty:
        return (f"its numbers unlike those of other {ex.node_type}s with its {column} "
                f"({name}{rarity})")
    r = rows.iloc[0]
    return (f"its {r['feature']}={_num(r['value'])} unlike other {ex.node_type}s with "
            f"{column}={r['category']} (median {_num(r['category_median'])}) "
            f"({name}{rarity})")


def _num(v) -> str:
    return f"{float(v):.4g}" if isinstance(v, (int, float)) else str(v)


register_component(ComponentSpec("within", "numbers unlike those of its category",
                                 phrase=_phrase))
