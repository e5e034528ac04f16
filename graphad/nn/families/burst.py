"""Bursts in time: a node whose edges of one relation come packed together.

For every forward relation whose edges carry times (``data[rel].time``, seconds; the
schema's ``time`` column) and each end the node type takes, a scan statistic: each
run of ``m + 1`` consecutive edges of node ``v`` (in time order), ``m`` in
:data:`RUN_LENGTHS`, spans ``w`` seconds (at least the relation's time resolution).
Were ``v``'s ``k`` edges spread at its own average rate over the relation's whole
time span ``T``, the count of its other edges in a window of length ``w`` would be
Poisson with mean ``lambda = (k - 1) w / T``, and ``P(X >= m)`` is the regularised
lower incomplete gamma ``P(m, lambda)``. The node's evidence is its smallest such
p-value, corrected for the runs and lengths tried (Bonferroni): ``-log(k |M| min p)``,
at least 0 (the scan statistic of Kulldorff, 1997, with a Poisson null per node).

Real activity is burstier than a Poisson process, and a busy node has more runs that
can look packed: on a trust network the most active raters, who rate in sessions,
score highest on the raw statistic. So the evidence is judged against nodes of
similar degree: the nodes with at least :data:`MIN_EDGES` timed edges are sorted by
degree and cut into up to 20 bins of at least 100 nodes; a node's test is its excess
over its bin's median in units of 1.4826 x the median positive excess (the upper
half's spread: most nodes show no burst at all, a point mass at 0), in the bin or
over all bins where that is larger. Its ``burst``
component is the largest excess over its tests, which the training graph's surprisal
normalisation turns into nats; NaN for a node without :data:`MIN_EDGES` timed edges
on any relation. Computed on the whole prepared graph (sorts and scatters, exact in
mini-batches); like ``incident``, its medians and spreads are the scored graph's.

The explanation names the densest run: how many edges of which relation within how
long (:meth:`BurstFamily.details`).
"""
from __future__ import annotations

import math
from typing import Dict, List, NamedTuple, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import NodeType, is_reverse
from .base import ComponentFamily, EdgeErrors, Errors, Latents, masked, register_precompute
from .edge_evidence import MAD_TO_STD

KEY = "burst"
HAS_KEY = "burst__has"
COUNT_KEY = "burst__count"
SPAN_KEY = "burst__span"
TEST_KEY = "burst__test"
#: numbers of further edges a run holds (a run of ``m + 1`` edges)
RUN_LENGTHS = (2, 4, 8, 16, 32)
#: fewest timed edges of a node for a test
MIN_EDGES = 3
#: nodes per degree bin at least, and most bins
BIN_NODES, MAX_BINS = 100, 20


class RunEvidence(NamedTuple):
    """Per node: the scan evidence (nats, before the degree calibration), the count
    and span (seconds) of its densest run, and whether it has enough timed edges."""

    evidence: Tensor
    count: Tensor
    span: Tensor
    has: Tensor


def run_evidence(times: Tensor, nodes: Tensor, num_nodes: int) -> RunEvidence:
    """The scan statistic of the module for edges with ``times [m]`` at ``nodes [m]``."""
    ok = torch.isfinite(times)
    t, v = times[ok].double(), nodes[ok]
    k = torch.bincount(v, minlength=num_nodes).double()
    evidence = torch.zeros(num_nodes, dtype=torch.float64)
    count = torch.zeros(num_nodes, dtype=torch.float64)
    span = torch.zeros(num_nodes, dtype=torch.float64)
    has = k >= MIN_EDGES
    if t.numel() < MIN_EDGES or not bool(has.any()):
        return RunEvidence(evidence, count, span, has)
    total = float(t.max() - t.min())
    distinct = torch.unique(t)
    gaps = distinct[1:] - distinct[:-1]
    resolution = float(gaps.min()) if gaps.numel() else 1.0
    if total <= 0:
        return RunEvidence(evidence, count, span, has)
    order = torch.argsort(t)
    order = order[torch.argsort(v[order], stable=True)]     # by node, then by time
    t, v = t[order], v[order]
    tries = math.log(len(RUN_LENGTHS))
    for m in RUN_LENGTHS:
        if t.numel() <= m:
            break
        same = v[m:] == v[:-m]
        node = v[:-m][same]
        # a node's densest run of this length is its shortest (p rises with the span)
        w = torch.full((num_nodes,), math.inf, dtype=torch.float64).scatter_reduce(
            0, node, (t[m:] - t[:-m])[same].clamp(min=resolution), "amin")
        at = torch.isfinite(w)
        lam = (k[at] - 1) * w[at] / total
        p = torch.special.gammainc(torch.full_like(lam, float(m)), lam)
        s = (-(torch.log(p.clamp(min=1e-300)) + torch.log(k[at]) + tries)).clamp(min=0)
        better = s > evidence[at]
        idx = torch.nonzero(at).flatten()[better]
        evidence[idx], count[idx], span[idx] = s[better], float(m + 1), w[at][better]
    return RunEvidence(evidence, count, span, has)


def _upper_scale(excess: Tensor) -> float:
    """1.4826 x the median of the positive values of ``excess`` (0 for none)."""
    above = excess[excess > 0]
    return MAD_TO_STD * float(above.median()) if above.numel() else 0.0


def degree_calibrated(evidence: Tensor, degree: Tensor, has: Tensor) -> Tensor:
    """``[n]`` excess of ``evidence`` over the median of nodes of similar ``degree``
    (bins of the ``has`` nodes sorted by degree), in units of 1.4826 x the median
    positive excess in the bin, or over all bins where that is larger (a bin of quiet
    nodes, most with no run at all, has almost no spread); 0 at or below the median
    and where ``has`` is False."""
    out = torch.zeros_like(evidence)
    idx = torch.nonzero(has).flatten()
    if idx.numel() == 0:
        return out
    order = idx[torch.argsort(degree[idx], stable=True)]
    bins = torch.tensor_split(order, max(1, min(MAX_BINS, len(order) // BIN_NODES)))
    excess = torch.zeros_like(evidence)
    for chunk in bins:
        excess[chunk] = evidence[chunk] - evidence[chunk].median()
    pooled = _upper_scale(excess[order])
    for chunk in bins:
        scale = max(_upper_scale(excess[chunk]), pooled)
        if scale > 1e-12:
            out[chunk] = (excess[chunk] / scale).clamp(min=0)
    return out


def _timed_ends(data: HeteroData, node_type: NodeType) -> List[Tuple[str, tuple, int]]:
    """``[(relation label, relation, end)]``: the forward relations with edge times
    and the ends (0: its edges, 1: edges to it) that ``node_type`` takes."""
    return [(et[1] if end == 0 else f"{et[1]} (to it)", et, end)
            for et in data.edge_types
            if not is_reverse(et) and "time" in data[et] and data[et].num_edges > 0
            for end in (0, 1) if et[2 * end] == node_type]


def _tests(data: HeteroData, node_type: NodeType) -> List[Tuple[RunEvidence, Tensor]]:
    """``[(run evidence, calibrated excess [n])]`` in :func:`_timed_ends`' order."""
    n = data[node_type].num_nodes
    out = []
    for _, et, end in _timed_ends(data, node_type):
        nodes = data[et].edge_index[end]
        runs = run_evidence(data[et].time, nodes, n)
        degree = torch.bincount(nodes, minlength=n)
        out.append((runs, degree_calibrated(runs.evidence, degree, runs.has)))
    return out


@register_precompute
def precompute_burst(data: HeteroData, own: Dict[NodeType, int]) -> None:
    for t in data.node_types:
        tests = _tests(data, t)
        if not tests:
            continue
        excess = torch.stack([torch.where(r.has, z, torch.full_like(z, -math.inf))
                              for r, z in tests])
        best, which = excess.max(0)
        has = torch.stack([r.has for r, _ in tests]).any(0)
        pick = which.view(1, -1)
        data[t][KEY] = torch.where(has, best, torch.zeros_like(best)).float()
        data[t][HAS_KEY] = has
        data[t][TEST_KEY] = which
        data[t][COUNT_KEY] = torch.stack([r.count for r, _ in tests]).gather(0, pick)[0]
        data[t][SPAN_KEY] = torch.stack([r.span for r, _ in tests]).gather(0, pick)[0]


class BurstFamily(ComponentFamily):
    """Untrained: reads the precomputed ``burst`` component (see the module)."""

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        return {t: {"burst": masked(batch[t][KEY], batch[t][HAS_KEY])}
                for t in batch.node_types if KEY in batch[t]}, {}

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        """``[(relation label, edges in the densest run of the node's strongest test
        [n], its span in seconds [n], whether this relation is that test [n])]``."""
        store = batch[node_type]
        if KEY not in store:
            return []
        labels = [label for label, _, _ in _timed_ends(batch, node_type)]
        return [(label, store[COUNT_KEY], store[SPAN_KEY],
                 store[HAS_KEY] & (store[TEST_KEY] == i)) for i, label in enumerate(labels)]


def duration_text(seconds: float) -> str:
    """``"40 minutes"``, ``"5.2 hours"``, ``"3 days"``: a span in the unit that reads best."""
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= 2 * size or unit == "minutes" and seconds >= size:
            value = seconds / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{seconds:.0f} seconds"


def _phrase(ex, name: str, rarity: str) -> str:
    """``"its pays edges packed in time (burst: 1 in 900): 17 within 5.2 hours"``."""
    runs = getattr(ex, "bursts", None)
    if runs is None or runs.empty:
        return f"its edges packed in time ({name}{rarity})"
    run = runs.iloc[0]
    return (f"its {run['relation']} edges packed in time ({name}{rarity}): "
            f"{int(run['edges'])} within {duration_text(float(run['seconds']))}")


register_component(ComponentSpec("burst", "its edges packed in time", phrase=_phrase))
