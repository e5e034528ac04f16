"""Cross-modal consistency: how well one modality of an entity predicts another."""
from __future__ import annotations

import math
from itertools import combinations, permutations
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..typing import EdgeType, NodeType, edge_type_str
from .inputs import has_key, nbr_key, training_rows


class CrossModalRidge(nn.Module):
    """Closed-form ridge maps between the modality views of each entity type.

    A view of entity ``v`` through relation ``(obs, rel, entity)`` is the mean input of
    its observations of that type (precomputed as ``batch[entity][nbr_key(et)]``). For
    every ordered pair of views ``(A, B)`` a ridge regression ``B ~ A`` is fitted on the
    training entities that have both; the error of a pair is ``1 - cos`` between the
    prediction and the (centred) observed view, averaged over both directions.

    Args:
        views: entity type -> relations bringing its modality observations.
        alpha: ridge penalty relative to the number of fitted entities; ``None``
            (default): each map's own, chosen by leave-one-out (:func:`loo_alpha`).

    Shapes:
        - **errors:** ``{entity: [(pair name, err [n], has both [n])]}``
    """

    def __init__(self, views: Dict[NodeType, List[EdgeType]],
                 alpha: Optional[float] = None):
        super().__init__()
        self.views = {e: list(v) for e, v in views.items() if len(v) >= 2}
        self.alpha = alpha
        self._names: Dict[str, Tuple[EdgeType, EdgeType]] = {}
        for vs in self.views.values():
            for a, b in permutations(vs, 2):
                self._names[self._key(a, b)] = (a, b)

    @staticmethod
    def _key(a: EdgeType, b: EdgeType) -> str:
        return f"{edge_type_str(a)}->{edge_type_str(b)}"

    @torch.no_grad()
    def fit(self, data: HeteroData) -> "CrossModalRidge":
        for key, (a, b) in self._names.items():
            store = data[a[2]]
            both = store[has_key(a)] & store[has_key(b)]
            if (rows := training_rows(store)) is not None:
                both = both & rows
            weight, ma, mb = ridge_map(store[nbr_key(a)][both], store[nbr_key(b)][both],
                                       self.alpha)
            safe = key.replace(".", "_")
            self.register_buffer(f"w_{safe}", weight)
            self.register_buffer(f"ma_{safe}", ma)
            self.register_buffer(f"mb_{safe}", mb)
        return self

    def pair_errors(self, batch: HeteroData, entity: NodeType
                    ) -> List[Tuple[str, Tensor, Tensor]]:
        """``(pair name, 1 - cos error [n], has-both mask [n])`` per unordered pair."""
        store = batch[entity]
        out = []
        for a, b in combinations(self.views.get(entity, []), 2):
            both = store[has_key(a)] & store[has_key(b)]
            errs = []
            for src, dst in ((a, b), (b, a)):
                safe = self._key(src, dst).replace(".", "_")
                w, ma, mb = (getattr(self, f"{p}_{safe}") for p in ("w", "ma", "mb"))
                errs.append(ridge_error(store[nbr_key(src)], store[nbr_key(dst)], w, ma, mb))
            err = 0.5 * (errs[0] + errs[1])
            out.append((f"{a[0]}~{b[0]}", torch.where(both, err, torch.zeros_like(err)),
                        both))
        return out


#: the penalties (relative to the number of fitted rows) leave-one-out chooses among
RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def loo_errors(xa: Tensor, xb: Tensor, grid: Sequence[float] = RIDGE_GRID
               ) -> List[float]:
    """Per relative penalty in ``grid``, the mean leave-one-out squared error of the
    ridge map ``xb ~ xa`` (centred rows ``[n, d_a]``, ``[n, d_b]``), in closed form:
    each row's residual divided by ``1 - leverage`` (one eigendecomposition of
    ``xa^T xa`` serves every penalty)."""
    n = len(xa)
    a, b = xa.double(), xb.double()
    s, v = torch.linalg.eigh(a.t() @ a)
    proj, atb = a @ v, v.t() @ (a.t() @ b)
    out = []
    for alpha in grid:
        inv = 1.0 / (s.clamp(min=0) + alpha * n)
        resid = b - proj @ (inv.unsqueeze(1) * atb)
        leverage = (proj.pow(2) * inv).sum(1).clamp(max=1 - 1e-6)
        out.append(float((resid.pow(2).sum(1) / (1 - leverage).pow(2)).mean()))
    return out


def loo_alpha(xa: Tensor, xb: Tensor, grid: Sequence[float] = RIDGE_GRID) -> float:
    """The relative penalty in ``grid`` whose ridge map ``xb ~ xa`` (centred rows) has
    the least leave-one-out squared error (:func:`loo_errors`). The first of ties
    wins."""
    errors = loo_errors(xa, xb, grid)
    return float(grid[errors.index(min(errors))])


def ridge_map(xa: Tensor, xb: Tensor, alpha: Optional[float] = None
              ) -> Tuple[Tensor, Tensor, Tensor]:
    """Ridge regression ``xb ~ xa`` on centred rows, penalty ``alpha * n``: ``(weight
    [d_a, d_b], mean of xa [d_a], mean of xb [d_b])`` (zero means for no rows).
    ``alpha=None``: chosen by leave-one-out (:func:`loo_alpha`; 1 for fewer than 3
    rows)."""
    ma = xa.mean(0) if len(xa) else xa.new_zeros(xa.size(1))
    mb = xb.mean(0) if len(xb) else xb.new_zeros(xb.size(1))
    xa, xb = xa - ma, xb - mb
    if alpha is None:
        alpha = loo_alpha(xa, xb) if len(xa) >= 3 else 1.0
    gram = xa.t() @ xa + alpha * max(len(xa), 1) * torch.eye(xa.size(1), device=xa.device)
    return torch.linalg.solve(gram, xa.t() @ xb), ma, mb


def ridge_error(xa: Tensor, xb: Tensor, weight: Tensor, ma: Tensor, mb: Tensor) -> Tensor:
    """``[n]`` ``1 - cos`` between the prediction of ``xb`` from ``xa`` and the centred
    ``xb`` (a :func:`ridge_map`)."""
    return 1 - F.cosine_similarity((xa - ma) @ weight, xb - mb, dim=-1, eps=1e-6)
