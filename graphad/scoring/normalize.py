"""Robust per-type normalisation of error components (one place for it)."""
from __future__ import annotations

import math
from typing import Any, Dict

import numpy as np
import torch
from torch import Tensor

from ..typing import NodeType

Components = Dict[NodeType, Dict[str, Tensor]]
MAD_TO_STD = 1.4826


def median_spread(e: Tensor) -> "tuple[float, float]":
    """``(median, 1.4826 MAD)`` of finite values ``e`` (``torch.quantile``, not
    ``Tensor.median``, which returns the lower of the two middle values on an even
    count)."""
    med = float(torch.quantile(e, 0.5))
    return med, MAD_TO_STD * float(torch.quantile((e - med).abs(), 0.5))


class RobustNormalizer:
    """Robust z-score ``(e - median) / (1.4826 * MAD)`` per node type and component.

    Fitted on the training graph's errors; applied unchanged to new graphs. A
    component with zero spread is divided by its mean absolute deviation, then by 1.
    """

    def fit(self, components: Components) -> "RobustNormalizer":
        self.center_: Dict[NodeType, Dict[str, float]] = {}
        self.scale_: Dict[NodeType, Dict[str, float]] = {}
        for t, comps in components.items():
            self.center_[t], self.scale_[t] = {}, {}
            for name, e in comps.items():
                e = e[torch.isfinite(e)].double()
                if e.numel() == 0:
                    med, scale = 0.0, 1.0
                else:
                    med, scale = median_spread(e)
                    if scale <= 1e-12:
                        scale = float((e - med).abs().mean()) or 1.0
                self.center_[t][name], self.scale_[t][name] = med, scale
        return self

    def get_state(self) -> Dict[str, Any]:
        """Fitted state as plain data (see :mod:`graphad.state`)."""
        return {"center": self.center_, "scale": self.scale_}

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> "RobustNormalizer":
        norm = cls()
        norm.center_, norm.scale_ = dict(state["center"]), dict(state["scale"])
        return norm

    def transform(self, components: Components) -> Components:
        out: Components = {}
        for t, comps in components.items():
            out[t] = {}
            for name, e in comps.items():
                if name not in self.center_.get(t, {}):
                    # unseen on the training graph: normalised on itself
                    own = type(self)().fit({t: {name: e}})
                    out[t][name] = own.transform({t: {name: e}})[t][name]
                    continue
                out[t][name] = self._transform_one(t, name, e)
        return out

    def _transform_one(self, t: NodeType, name: str, e: Tensor) -> Tensor:
        """One fitted component's errors -> normalised values."""
        return ((e.double() - self.center_[t][name]) / self.scale_[t][name]).float()


#: at most this many distinct values of each component are kept for its distribution
SURPRISAL_GRID = 2048
#: share of the largest training errors whose tail is modelled as exponential
TAIL_SHARE = 0.1
#: the upper shares between which the fitted tail is checked against the data: from
#: the 95th percentile (where the median-excess fit meets the data) to the 98th; the
#: 2% most extreme values (where anomalies live) are left to the extrapolation
TAIL_CHECK = (0.05, 0.02)
#: nats by which the fitted tail may call a value rarer than its share of the data
#: (sampling noise of a share counted on 10 or more values is well within it; the
#: misfit the check is for is tens of nats)
TAIL_SLACK = 1.0
#: ... and only from the ``TAIL_CHECK_MIN``-th largest value down (a share counted on
#: fewer values is noise; on a small graph the top 2% are one or two nodes)
TAIL_CHECK_MIN = 10


class SurprisalNormalizer(RobustNormalizer):
    """Signed surprisal of each error under its own training distribution (nats).

    For an error ``e`` with upper-tail probability ``P(E > e)`` on the training graph:
    ``-log(2 P(E > e))`` above the median, ``log(2 P(E < e))`` below it; 0 is the
    median and 3 is rarer than 1 in 40. Up to the 90th percentile the probability is
    the empirical one (mid-ranks, so ties share one level); above it the largest 10%
    are modelled as an exponential tail (peaks over threshold: ``P(E > e) = 0.1
    exp(-(e - u) / beta)``, ``u`` the 90th percentile, ``beta`` the median excess of
    the largest 10% over it / log 2, which the outliers themselves do not inflate).
    So the surprisal keeps growing with the distance past ``u`` in units of the
    component's own tail spread: an error far beyond all others stands
    out (and so do new errors beyond the training range), while a heavy-tailed
    component (reconstruction errors of a few odd inputs) and a bounded one (1 -
    cosine to neighbours) still speak in the same unit, so the heavy tail does not
    drown the other components in their mean (which robust z-scores let it do).
    """

    def fit(self, components: Components) -> "SurprisalNormalizer":
        super().fit(components)
        self.grid_: Dict[NodeType, Dict[str, Tensor]] = {}
        self.levels_: Dict[NodeType, Dict[str, Tensor]] = {}
        self.tail_: Dict[NodeType, Dict[str, Tensor]] = {}
        self.reach_: Dict[NodeType, Dict[str, Tensor]] = {}
        for t, comps in components.items():
            self.grid_[t], self.levels_[t], self.tail_[t], self.reach_[t] = {}, {}, {}, {}
            for name, e in comps.items():
                e = e[torch.isfinite(e)].double()
                (self.grid_[t][name], self.levels_[t][name],
                 self.reach_[t][name]) = _distribution(e)
                self.tail_[t][name] = _tail(e, self.scale_[t][name])
        return self

    def get_state(self) -> Dict[str, Any]:
        return {**super().get_state(), "grid": self.grid_, "levels": self.levels_,
                "tail": self.tail_, "reach": self.reach_}

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> "SurprisalNormalizer":
        norm = super().from_state(state)
        norm.grid_, norm.levels_ = state["grid"], state["levels"]
        norm.tail_ = state["tail"]
        norm.reach_ = state.get("reach", {})       # models saved before: none
        return norm

    def reached(self, t: NodeType, name: str, s: float) -> "tuple[float, int]":
        """``(count, n)``: how many of the ``n`` training values of component ``name``
        of type ``t`` have a surprisal of at least ``s`` (0 for ``s`` beyond them all),
        so that an explanation can say "1 in 30 reach it" where the fitted tail
        reads a value many training nodes share as rarer; ``(nan, 0)`` where
        unknown (models saved before, components not fitted here)."""
        reach = getattr(self, "reach_", {}).get(t, {}).get(name)
        if reach is None or not math.isfinite(s):
            return math.nan, 0
        cache = self.__dict__.setdefault("_grid_surprisal", {})   # not fitted state
        if (t, name) not in cache:
            grid = self.grid_[t][name]
            cache[(t, name)] = surprisal(grid, grid, self.levels_[t][name],
                                         self.tail_[t][name], self.scale_[t][name]).double()
        levels = cache[(t, name)]
        hit = torch.nonzero(levels >= s - 1e-6).view(-1)
        n = int(reach[0]) if reach.numel() else 0
        return (float(reach[int(hit[0])]) if hit.numel() else 0.0), n

    def _transform_one(self, t: NodeType, name: str, e: Tensor) -> Tensor:
        return surprisal(e, self.grid_[t][name], self.levels_[t][name],
                         self.tail_[t][name], self.scale_[t][name])


def _distribution(e: Tensor) -> "tuple[Tensor, Tensor, Tensor]":
    """Distinct values of ``e`` (at most :data:`SURPRISAL_GRID`, sorted), their
    mid-rank levels in (0, 1) and how many values of ``e`` are at least each."""
    n = e.numel()
    if n == 0:
        return (torch.zeros(1, dtype=torch.float64),
                torch.full((1,), 0.5, dtype=torch.float64), torch.zeros(0, dtype=torch.float64))
    values, counts = torch.unique_consecutive(torch.sort(e).values, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    levels = (ends - counts.double() / 2) / n
    reach = n - ends + counts.double()
    if values.numel() > SURPRISAL_GRID:
        keep = torch.linspace(0, values.numel() - 1, SURPRISAL_GRID).round().long()
        values, levels, reach = values[keep], levels[keep], reach[keep]
    return values, levels, reach


def _tail(e: Tensor, scale: float) -> Tensor:
    """``[u, beta, p_u]``: tail threshold, exponential scale above it, ``P(E > u)``."""
    n = e.numel()
    k = int(TAIL_SHARE * n)
    if k < 1 or n - k < 1:  # too few values for a tail: a robust-scale exponential
        top = float(e.max()) if n else 0.0
        return torch.tensor([top, scale if scale > 0 else 1.0, 0.5 / max(n, 1)],
                            dtype=torch.float64)
    ordered = torch.sort(e).values
    u = ordered[n - k - 1]
    # median excess / log 2: the exponential's scale, not pulled up by the outliers.
    # Where half the top 10% or more are tied with u (a point mass: most nodes in no
    # triangle; counts on a few levels), the median would be 0 or straddle the tie,
    # and the few values above u (mostly the anomalies) would set their own scale, or
    # one step above u would be endless surprisal: the robust scale of the whole
    # component is used instead.
    excess = ordered[n - k:] - u
    if 2 * int((excess <= 0).sum()) >= excess.numel():
        beta = 0.0
    else:
        beta = float(torch.quantile(excess, 0.5)) / math.log(2)
    if beta <= 1e-12:
        beta = scale if scale > 0 else 1.0
    beta = max(beta, _dense_tail_scale(ordered, float(u), k))
    return torch.tensor([float(u), beta, k / n], dtype=torch.float64)


def _dense_tail_scale(ordered: Tensor, u: float, k_tail: int) -> float:
    """The smallest ``beta`` under which no value between the :data:`TAIL_CHECK`
    upper shares (and at most the :data:`TAIL_CHECK_MIN`-th largest) is called rarer
    than the data says by more than :data:`TAIL_SLACK` nats: for the ``j``-th largest
    value ``v_j``, ``(k_tail / n) exp(-(v_j - u) / beta) >= exp(-slack) (j - 1/2) /
    n``, i.e. ``beta >= (v_j - u) / (log(k_tail / (j - 1/2)) + slack)`` (0 where the
    band holds no values)."""
    n = ordered.numel()
    hi = min(int(TAIL_CHECK[0] * n), k_tail - 1)
    lo = max(math.ceil(TAIL_CHECK[1] * n), TAIL_CHECK_MIN)
    if hi < lo:
        return 0.0
    j = torch.arange(lo, hi + 1, dtype=torch.float64)
    values = ordered.flip(0)[lo - 1:hi]                 # the lo-th .. hi-th largest
    need = (values - u).clamp(min=0) / (torch.log(k_tail / (j - 0.5)) + TAIL_SLACK)
    return float(need.max())


def surprisal(e: Tensor, grid: Tensor, levels: Tensor, tail: Tensor,
              scale: float) -> Tensor:
    """Signed surprisal of ``e`` (NaN kept) given a distribution's sorted distinct
    values ``grid``, their levels and its ``tail`` (see :class:`SurprisalNormalizer`)."""
    x = e.double()
    u, beta, p_u = float(tail[0]), float(tail[1]), float(tail[2])
    F = _interp(x, grid, levels)
    upper = torch.where(x > u, p_u * torch.exp(-(x - u) / beta), 1 - F).clamp(min=1e-300)
    lo = grid[0]
    scale = scale if scale > 0 else 1.0
    lower = torch.where(x < lo, levels[0] * torch.exp(-(lo - x) / scale), F)
    lower = lower.clamp(min=1e-300)
    s = torch.where((x > u) | (F > 0.5), -torch.log(2 * upper), torch.log(2 * lower))
    s = torch.where((x > u) | (F > 0.5), s.clamp(min=0), s.clamp(max=0))
    return torch.where(torch.isnan(x), x, s).float()


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """``numpy.interp`` for increasing ``xp`` (clamped at both ends)."""
    if xp.numel() == 1:
        return torch.full_like(x, float(fp[0]))
    xc = torch.nan_to_num(x.clamp(float(xp[0]), float(xp[-1])), nan=float(xp[0]))
    i = torch.searchsorted(xp, xc, right=True).clamp(1, xp.numel() - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    w = ((xc - x0) / (x1 - x0)).clamp(0, 1)
    return f0 + w * (f1 - f0)


def rank_surprisal(values: np.ndarray) -> np.ndarray:
    """``-log q`` per value, ``q`` = the share of values ``>=`` it (0 for the lowest):
    a score's rank among its type's nodes as evidence in nats."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    order = np.sort(values)
    at_least = values.size - np.searchsorted(order, values, side="left")
    return -np.log(at_least / values.size)
