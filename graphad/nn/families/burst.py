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
over its bin's median in units of the bin's 1.4826 MAD, or of 1.4826 x the median
positive excess over all bins where that is larger (most nodes show no burst at all,
a point mass at 0, where a bin's MAD is about 0). The MAD stands up to bursts making
up to half a bin. On a marketplace tried as a new user would, 15 new accounts
placing 10-18 orders within an hour fell into the top bin of 108 buyers, together
with 22 buyers on a shopping spree (4-5 orders within six hours): as the median of
the bin's upper half, they set their own spread, and spree buyers in quieter bins
outranked them all.

A node with too few timed edges for a run of its own (a review has one edge, to its
product) is judged by the bursts its edges belong to at the other end: per relation
and end, a second test, the mean over the node's edges of the other end's excess
where the edge belongs to that node's densest run (or lies within three of the run's
mean gaps before or after it), 0 elsewhere. So twelve reviews of one product within an
hour are each judged by that burst, and so, through the review roll-up, are their
authors. Each edge carries the larger excess of the ends whose burst it belongs to
into ``score_edges``.

A node's ``burst`` component is the largest excess over its tests, which the
training graph's surprisal normalisation turns into nats; NaN for a node without
timed edges. Computed on the whole prepared graph (sorts and scatters, exact in
mini-batches); like ``incident``, its medians and spreads are the scored graph's.
The explanation names the run behind the strongest test: how many edges of which
relation within how long (:meth:`BurstFamily.details`).
"""
from __future__ import annotations

import math
from typing import Dict, List, NamedTuple, Optional, Tuple

import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, number_text, register_component
from ...typing import NodeType, is_reverse
from .base import ComponentFamily, EdgeErrors, Errors, Latents, masked, register_precompute
from .edge_evidence import MAD_TO_STD

KEY = "burst"
HAS_KEY = "burst__has"
COUNT_KEY = "burst__count"
SPAN_KEY = "burst__span"
TEST_KEY = "burst__test"
#: numbers of further edges a run holds (a run of ``m + 1`` edges): steps of about
#: sqrt(2), so that a run's length is within a factor 1.4 of any burst's
RUN_LENGTHS = (2, 3, 4, 6, 8, 11, 16, 23, 32)
#: fewest timed edges of a node for a test
MIN_EDGES = 3
#: nodes per degree bin at least, and most bins
BIN_NODES, MAX_BINS = 100, 20
#: a burst's edges just outside its densest run still belong to it: within this many
#: of the run's mean gaps before or after it (gaps at the burst's own rate exceed
#: three means 5% of the time)
MEMBER_GAPS = 3.0


class RunEvidence(NamedTuple):
    """Per node: the scan evidence (nats, before the degree calibration), the count
    and span (seconds) of its densest run, and whether it has enough timed edges;
    per edge: whether it belongs to its node's densest run (or lies within
    :data:`MEMBER_GAPS` of the run's mean gaps before or after it)."""

    evidence: Tensor
    count: Tensor
    span: Tensor
    has: Tensor
    members: Tensor


def run_evidence(times: Tensor, nodes: Tensor, num_nodes: int) -> RunEvidence:
    """The scan statistic of the module for edges with ``times [m]`` at ``nodes [m]``."""
    ok = torch.nonzero(torch.isfinite(times)).flatten()
    t, v = times[ok].double(), nodes[ok]
    k = torch.bincount(v, minlength=num_nodes).double()
    evidence = torch.zeros(num_nodes, dtype=torch.float64)
    count = torch.zeros(num_nodes, dtype=torch.long)
    span = torch.zeros(num_nodes, dtype=torch.float64)
    start = torch.zeros(num_nodes, dtype=torch.long)
    members = torch.zeros(times.numel(), dtype=torch.bool)
    has = k >= MIN_EDGES
    total = float(t.max() - t.min()) if t.numel() else 0.0
    if t.numel() < MIN_EDGES or not bool(has.any()) or total <= 0:
        return RunEvidence(evidence, count, span, has, members)
    distinct = torch.unique(t)
    gaps = distinct[1:] - distinct[:-1]
    resolution = float(gaps.min())
    order = torch.argsort(t)
    order = order[torch.argsort(v[order], stable=True)]     # by node, then by time
    t, v = t[order], v[order]
    tries = math.log(len(RUN_LENGTHS))
    for m in RUN_LENGTHS:
        if t.numel() <= m:
            break
        same = v[m:] == v[:-m]
        spans = (t[m:] - t[:-m]).clamp(min=resolution)
        # a node's densest run of this length is its shortest (p rises with the span)
        w = torch.full((num_nodes,), math.inf, dtype=torch.float64).scatter_reduce(
            0, v[:-m][same], spans[same], "amin")
        first = same & (spans == w[v[:-m]])
        begin = torch.full((num_nodes,), t.numel(), dtype=torch.long).scatter_reduce(
            0, v[:-m][first], torch.nonzero(first).flatten(), "amin")
        at = torch.isfinite(w)
        lam = (k[at] - 1) * w[at] / total
        p = torch.special.gammainc(torch.full_like(lam, float(m)), lam)
        s = (-(torch.log(p.clamp(min=1e-300)) + torch.log(k[at]) + tries)).clamp(min=0)
        better = s > evidence[at]
        idx = torch.nonzero(at).flatten()[better]
        evidence[idx], count[idx], span[idx] = s[better], m + 1, w[at][better]
        start[idx] = begin[idx]
    # the run's members: the node's edges from MEMBER_GAPS mean gaps of the run before
    # its first edge to as many after its last (a burst a little longer than the run)
    gap = MEMBER_GAPS * span / (count - 1).clamp(min=1)
    first_time = t[start.clamp(max=t.numel() - 1)]
    last_time = t[(start + count - 1).clamp(min=0, max=t.numel() - 1)]
    inside = ((count[v] > 0) & (t >= first_time[v] - gap[v])
              & (t <= last_time[v] + gap[v]))
    members[ok[order[inside]]] = True
    return RunEvidence(evidence, count, span, has, members)


def _upper_scale(excess: Tensor) -> float:
    """1.4826 x the median of the positive values of ``excess`` (0 for none)."""
    above = excess[excess > 0]
    return MAD_TO_STD * float(above.median()) if above.numel() else 0.0


def degree_calibrated(evidence: Tensor, degree: Tensor, has: Tensor) -> Tensor:
    """``[n]`` excess of ``evidence`` over the median of nodes of similar ``degree``
    (bins of the ``has`` nodes sorted by degree), in units of the bin's 1.4826 MAD, or
    of 1.4826 x the median positive excess over all bins where that is larger (a bin of
    quiet nodes, most with no run at all, has almost no spread); 0 at or below the
    median and where ``has`` is False."""
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
        scale = max(MAD_TO_STD * float(excess[chunk].abs().median()), pooled)
        if scale > 1e-12:
            out[chunk] = (excess[chunk] / scale).clamp(min=0)
    return out


class BurstTest(NamedTuple):
    """One test of a node type: its label, excess (robust units) and presence ``[n]``,
    and the count and span (seconds) of the run behind it ``[n]``."""

    label: str
    excess: Tensor
    has: Tensor
    count: Tensor
    span: Tensor


def edge_times(data: HeteroData) -> Dict[tuple, Tensor]:
    """``{forward relation: edge times [m]}``: the relations with edge times and,
    where the prepared graph says ``derive_times``, the relations without times at a
    type each of whose nodes has exactly one timed edge (a review, written once by one
    user): its edges take that node's time. So the reviews of a product, whose times
    sit on the users' ``wrote`` edges, are judged for bursts at the product as well
    (fourteen five-star reviews from fresh accounts within three days). Models saved
    before judged the timed relations only."""
    times = {et: data[et].time for et in data.edge_types
             if not is_reverse(et) and "time" in data[et] and data[et].num_edges > 0}
    if not getattr(data, "derive_times", False):
        return times
    stamped: Dict[NodeType, Tensor] = {}
    for et, t in times.items():
        for end in (0, 1):
            node_type, nodes = et[2 * end], data[et].edge_index[end]
            n = data[node_type].num_nodes
            if n and node_type not in stamped and \
                    bool((torch.bincount(nodes, minlength=n) == 1).all()):
                stamped[node_type] = torch.empty(n, dtype=t.dtype).index_copy_(0, nodes, t)
    for et in data.edge_types:
        if is_reverse(et) or et in times or data[et].num_edges == 0:
            continue
        for end in (0, 1):
            if et[2 * end] in stamped:
                times[et] = stamped[et[2 * end]][data[et].edge_index[end]]
                break
    return times


def _timed_relations(data: HeteroData) -> list:
    """The forward relations with edge times (given or derived: :func:`edge_times`)."""
    return list(edge_times(data))


def _end_runs(data: HeteroData, et: tuple, end: int, times: Tensor
              ) -> Tuple[RunEvidence, Tensor]:
    """``(run evidence, degree-calibrated excess [n])`` of the nodes at ``end``."""
    n = data[et[2 * end]].num_nodes
    nodes = data[et].edge_index[end]
    runs = run_evidence(times, nodes, n)
    return runs, degree_calibrated(runs.evidence, torch.bincount(nodes, minlength=n),
                                   runs.has)


def _joined(data: HeteroData, et: tuple, end: int, other: Tuple[RunEvidence, Tensor]
            ) -> BurstTest:
    """The nodes at ``end`` judged by the bursts at the other end that their edges
    belong to: the mean over a node's edges of the other end's excess where the edge
    is in that node's densest run (0 elsewhere); the run behind it is the strongest
    such run among its edges."""
    runs, excess = other
    n = data[et[2 * end]].num_nodes
    mine, theirs = data[et].edge_index[end], data[et].edge_index[1 - end]
    per_edge = torch.where(runs.members, excess[theirs], torch.zeros_like(excess[theirs]))
    count_edges = torch.bincount(mine, minlength=n).double()
    mean = torch.zeros(n, dtype=torch.float64).index_add_(0, mine, per_edge)
    mean = mean / count_edges.clamp(min=1)
    strongest = torch.zeros(n, dtype=torch.float64).scatter_reduce(0, mine, per_edge,
                                                                   "amax")
    hit = (per_edge > 0) & (per_edge == strongest[mine])
    edge = torch.full((n,), -1, dtype=torch.long).scatter_reduce(
        0, mine[hit], torch.nonzero(hit).flatten(), "amax")
    node = theirs[edge.clamp(min=0)]
    found = edge >= 0
    count = torch.where(found, runs.count[node], torch.zeros_like(runs.count[node]))
    span = torch.where(found, runs.span[node], torch.zeros_like(runs.span[node]))
    return BurstTest(_label(et, end, joined=True), mean, count_edges > 0, count, span)


def burst_evidence(data: HeteroData
                   ) -> Tuple[Dict[NodeType, List[BurstTest]], Dict[tuple, Tensor]]:
    """``({type: tests}, {relation: edge evidence [m]})`` over the timed relations.

    Per relation and end, a node's own test (its densest run); per end also the
    joined test (:func:`_joined`: a review that is one of a burst of reviews of its
    product). An edge's evidence is the larger excess of the ends whose densest run
    it belongs to (0 for an edge in neither)."""
    tests: Dict[NodeType, List[BurstTest]] = {}
    edges: Dict[tuple, Tensor] = {}
    for et, times in edge_times(data).items():
        ends = [_end_runs(data, et, end, times) for end in (0, 1)]
        per_edge = torch.zeros(data[et].num_edges, dtype=torch.float64)
        for end, (runs, excess) in enumerate(ends):
            t = et[2 * end]
            own = BurstTest(_label(et, end, joined=False), excess, runs.has, runs.count,
                            runs.span)
            tests.setdefault(t, []).append(own)
            tests[t].append(_joined(data, et, end, ends[1 - end]))
            mine = excess[data[et].edge_index[end]]
            per_edge = torch.maximum(per_edge, torch.where(runs.members, mine,
                                                           torch.zeros_like(mine)))
        edges[et] = per_edge
    return tests, edges


class RunSource(NamedTuple):
    """Where a node's own test finds its runs: the forward ``relation``, the node's
    ``end`` of it, and the relation's edge ``times [m]`` and ``edge_index [2, m]``."""

    relation: tuple
    end: int
    times: Tensor
    edge_index: Tensor


def run_sources(data: HeteroData, node_type: NodeType) -> List[Optional[RunSource]]:
    """Per test of :func:`burst_test_labels` (same order): a node's own test's
    :class:`RunSource`, None for a joined test (its run is at the other end)."""
    out: List[Optional[RunSource]] = []
    for et, times in edge_times(data).items():
        for end in (0, 1):
            if et[2 * end] == node_type:
                out += [RunSource(et, end, times, data[et].edge_index), None]
    return out


def run_edges(source: RunSource, node: int, count: int) -> Tensor:
    """The edge ids of ``node``'s densest run of ``count`` edges in ``source`` (its
    ``count`` consecutive edges in time with the shortest span, the first of equals),
    in time order; empty where it has fewer."""
    mine = torch.nonzero((source.edge_index[source.end] == node)
                         & torch.isfinite(source.times)).flatten()
    if count < 2 or mine.numel() < count:
        return mine[:0]
    t = source.times[mine].double()
    order = torch.argsort(t, stable=True)
    mine, t = mine[order], t[order]
    spans = t[count - 1:] - t[:t.numel() - count + 1]
    first = int(torch.argmin(spans))
    return mine[first:first + count]


def burst_test_labels(data: HeteroData, node_type: NodeType) -> List[str]:
    """The labels of :func:`burst_evidence`'s tests of ``node_type``, in its order."""
    out = []
    for et in _timed_relations(data):
        for end in (0, 1):
            if et[2 * end] == node_type:
                out += [_label(et, end, joined=False), _label(et, end, joined=True)]
    return out


def _label(et: tuple, end: int, joined: bool) -> str:
    """``"pays"``, ``"pays (to it)"`` (its own runs), ``"pays (in a burst at its
    merchant)"``, ``"pays (to it, in a burst at its user)"`` (the other end's)."""
    inner = ["to it"] if end == 1 else []
    if joined:
        inner.append(f"in a burst at its {et[2 * (1 - end)]}")
    return f"{et[1]} ({', '.join(inner)})" if inner else et[1]


@register_precompute
def precompute_burst(data: HeteroData, own: Dict[NodeType, int]) -> None:
    tests, edges = burst_evidence(data)
    for t, ts in tests.items():
        excess = torch.stack([torch.where(x.has, x.excess, torch.full_like(x.excess,
                                                                             -math.inf))
                              for x in ts])
        best, which = excess.max(0)
        has = torch.stack([x.has for x in ts]).any(0)
        pick = which.view(1, -1)
        data[t][KEY] = torch.where(has, best, torch.zeros_like(best)).float()
        data[t][HAS_KEY] = has
        data[t][TEST_KEY] = which
        data[t][COUNT_KEY] = torch.stack([x.count for x in ts]).gather(0, pick)[0]
        data[t][SPAN_KEY] = torch.stack([x.span for x in ts]).gather(0, pick)[0]
    for et, per_edge in edges.items():
        data[et][KEY] = per_edge.float()


class BurstFamily(ComponentFamily):
    """Untrained: reads the precomputed ``burst`` component (see the module)."""

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        nodes = {t: {"burst": masked(batch[t][KEY], batch[t][HAS_KEY])}
                 for t in batch.node_types if KEY in batch[t]}
        return nodes, {et: batch[et][KEY] for et in batch.edge_types if KEY in batch[et]}

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        """``[(test label, edges in the run behind the node's strongest test [n], its
        span in seconds [n], whether this is that test and it finds a burst [n], where
        an own test finds its runs (a :class:`RunSource`; None for a joined test))]``."""
        store = batch[node_type]
        if KEY not in store:
            return []
        strong = store[HAS_KEY] & (store[KEY] > 0)
        return [(label, store[COUNT_KEY], store[SPAN_KEY], strong & (store[TEST_KEY] == i),
                 source)
                for i, (label, source) in enumerate(zip(burst_test_labels(batch, node_type),
                                                        run_sources(batch, node_type)))]


def duration_text(seconds: float) -> str:
    """``"40 minutes"``, ``"5.2 hours"``, ``"3 days"``: a span in the unit that reads
    best."""
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= 2 * size or unit == "minutes" and seconds >= size:
            value = seconds / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{seconds:.0f} seconds"


def _phrase(ex, name: str, rarity: str) -> str:
    """``"its pays edges packed in time (burst: 1 in 900): 17 within 5.2 hours starting
    2024-05-14 12:26:42 UTC"`` (the start where times are dates), or
    for a node in a burst at the other end, ``"its about edge in a burst at its
    product (burst: 1 in 40): one of 12 within 40 minutes"``."""
    runs = getattr(ex, "bursts", None)
    if runs is None or runs.empty:
        return f"its edges packed in time ({name}{rarity})"
    run = runs.iloc[0]
    within = f"{int(run['edges'])} within {duration_text(float(run['seconds']))}"
    rel, _, inner = str(run["relation"]).partition(" (")
    to_it = inner.startswith("to it")
    where = inner.rstrip(")").partition("in a burst at its ")[2]
    edges = f"{rel} edge{'s' if not where else ''}{' to it' if to_it else ''}"
    if where:
        return f"its {edges} in a burst at its {where} ({name}{rarity}): one of {within}"
    start = run.get("start") if hasattr(run, "get") else None
    when = f" starting {number_text(start)}" if isinstance(start, pd.Timestamp) else ""
    return (f"its {edges} packed in time ({name}{rarity}): {within}{when}"
            f"{_senders_text(run)}")


def _senders_text(run) -> str:
    """``", from 12 users with a median account_age_days of 3 (where the users of all
    about edges have a median of 349)"`` ("" where the bursts table names no one)."""
    who = run.get("from") if hasattr(run, "get") else None
    if not isinstance(who, str) or not who:
        return ""
    noun = who.split(" ", 1)[1]
    relation = str(run["relation"]).partition(" (")[0]
    return (f", from {who} with a median {run['feature']} of {number_text(run['median'])} "
            f"(where the {noun} of all {relation} edges have a median of "
            f"{number_text(run['usual'])})")


register_component(ComponentSpec("burst", "its edges packed in time", phrase=_phrase))
