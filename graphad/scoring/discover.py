"""Discover suspicious subgraphs (rings, farms) around high-scoring nodes.

:func:`find_suspicious_subgraphs` works in steps, each sparse:

1. **Flag** the highest-scoring nodes of each entity type: those above the detector's
   ``threshold_`` (its ``contamination`` share), or the top ``quantile`` share.
2. **Cores.** *Connector stars*: a node ``v`` of any type whose neighbours over one
   relation are mostly flagged, improbably so: ``k_v >= min_shared`` flagged among its
   ``d_v`` distinct neighbours, ``2 k_v >= d_v``, and ``P(Binomial(d_v, q) >= k_v)``
   below ``alpha`` divided by the number of nodes tested (``q``: the flagged share of
   that neighbour type). A device behind many flagged accounts, a photo on several
   flagged profiles, a merchant only flagged users pay, an account followed mostly by
   flagged accounts qualify; a big merchant that many flagged users pay among many
   others does not. Each connector with its flagged neighbours is a core.
   *Supported links*: a link between two flagged nodes of one type (an account
   following another) counts when the two also share ``min_support`` flagged
   neighbours (the link lies in a triangle of flagged nodes), so that chains of
   unrelated flagged accounts do not percolate while dense rings keep their links;
   each connected component of such links is a core. Links across types count only
   through connectors.
3. **Merge** cores that share at least half of the smaller one (a farm's device and
   its photo); a node left in several groups goes to the one holding most of its
   neighbours. Groups of fewer than ``min_size`` nodes are dissolved.
4. **Grow** (``expand`` rounds): a non-member joins the group it is most tied to when
   it has ``min_shared`` or more member neighbours and that many would be improbable if
   members were a random share of their type (binomial tails multiplied over
   relations, below ``alpha`` divided by the number of candidates). This brings back
   members of a ring or farm that were not flagged themselves.
5. **Tied resources** (``resources=True``): a node of another type (a merchant, a
   device) with ``min_size..max_size`` neighbours of a flagged type that are linked to
   each other far more than a degree-preserving random graph would link them
   (Poisson tail of the internal same-type edges below ``alpha`` divided by the
   number of resources tested) makes a group with them, where it is flagged itself or
   its neighbours are mostly tied (at least half of the possible links among them): a
   shell merchant whose customers all follow each other is a ring even when neither
   it nor they score high (on a 300-user graph the ring's shell merchant ranked 8th
   of 31 merchants). With ``hubs=True`` (the default) also seed from **hubs**:
   shared private resources with an outlying number of neighbours (a phone behind
   eight accounts, where phones have one; see :meth:`_Finder.add_hubs`), which finds
   device farms whose members the detector does not flag (on small graphs, where a
   member's own evidence is weak). Such a neighbourhood is a core like those of step
   2 and is merged by the same rules: a group lying at least half inside it joins it,
   and a member of another group moves to it when it has more links into it than into
   its own group (the ring members that step 2 had put with a few flagged friends).
6. **Drop** trivial groups, which have fewer than ``min_size`` members of any one type
   linked to two or more other members (a star around one node is about that node:
   see :func:`~graphad.scoring.explain.explain`).
7. **Split** (``split=True``): growth can join a ring to the community around it, since
   a community is dense too. Each group's own links (all relations) are partitioned by
   modularity (Louvain, seeded); the group gives way to its parts when two or more of
   them are non-trivial groups themselves and the best of them is denser than the
   whole (``log_density`` of :func:`~graphad.scoring.subgraph.score_subgraphs`: its
   internal links against a degree-preserving random graph), so a split happens only
   where it sharpens the structural evidence. The parts are structural, and so is the
   test: the full score also counts shared neighbours, whose "half" rule can favour
   the whole for a reason unrelated to the split (a ring member left outside is a
   concentrated neighbour of the ring plus one friend, not of the ring alone). Then
   **rank** the groups by the full score.

Nothing depends on a particular data set: the flagged share comes from the detector's
contamination, ``alpha`` is an ordinary family-wise significance level, and the "half"
rules say that a shared neighbour or a group must mostly consist of what it links.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, List, Mapping, Optional

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.stats import binom, poisson

from ..errors import GraphadError
from ..typing import NodeType
from .graphview import Group, GraphView, check_type, get_scores, induced, scoring_once
from .subgraph import GroupScorer, Subgraph, to_subgraph

DEFAULT_QUANTILE = 0.05
#: a resource kind is private (a hub may form around one of it) where its nodes linked
#: over a relation have at most this many distinct neighbours at the median
PRIVATE_MEDIAN_DEGREE = 1
#: share of the possible links among an unflagged resource's neighbours that they must
#: hold for it to seed a group (step 5; a flagged one needs only the density test)
TIED_SHARE = 0.5
#: seed of the modularity split (step 7), so that discovery is repeatable
SPLIT_SEED = 0


def find_suspicious_subgraphs(graph: Any, detector: Any = None,
                              scores: Optional[Mapping[NodeType, Any]] = None,
                              k: Optional[int] = 10, quantile: Optional[float] = None,
                              node_types: Optional[Iterable[NodeType]] = None,
                              alpha: float = 0.01, min_shared: int = 2,
                              min_support: int = 1, min_size: int = 3,
                              max_size: int = 100, resources: bool = True,
                              hubs: bool = True, tied: bool = True, expand: int = 2,
                              split: bool = True, top_k: int = 3) -> List[Subgraph]:
    """Groups of high-scoring nodes tied together, most suspicious first.

    Args:
        graph: a :class:`GraphBundle` (or ``HeteroData`` / ``Data``).
        detector: a fitted detector (scores, thresholds, latents); without
            ``scores``, seeds are flagged from its ``seed_scores`` (the score
            without the ``group`` component, which is discovery's own output).
        scores: ``{node_type: scores}`` instead of the detector's.
        k: how many subgraphs to return (None: all found).
        quantile: share of each type to flag; default: above the detector's
            ``threshold_`` (its contamination), else 5%.
        node_types: types to flag (default: entity types, i.e. no modality).
        alpha: family-wise significance level of the connector, growth and hub tests.
        min_shared: flagged (member) neighbours a connector (joiner) needs.
        min_support: common flagged neighbours a same-type flagged link needs.
        min_size: a group needs this many nodes of one type with two or more member
            neighbours each.
        max_size: largest neighbourhood of a resource or hub taken as a group.
        resources: also seed groups from flagged resources whose users are tied to
            each other (step 5).
        hubs: also seed groups from hubs (shared private resources with outlying
            degree: step 5).
        tied: with ``resources``, also from unflagged ones whose users hold at least
            half of the links possible among them (step 5).
        expand: rounds of growth (0: cores only).
        split: split groups whose modularity parts are denser than the whole (step 7).
        top_k: members averaged in the subgraph score's member term.

    Returns:
        list of :class:`Subgraph` (members by type with external ids, ``score``,
        ``rank``, ``seeds`` = the flagged members, ``details`` = the score row).

    Example:
        >>> for sg in find_suspicious_subgraphs(graph, det, k=5):
        ...     print(sg.rank, round(sg.score, 2), sg.describe())
    """
    if not 0 < alpha < 1:
        raise GraphadError(f"alpha must be in (0, 1), got {alpha}")
    if min_shared < 1 or min_size < 1:
        raise GraphadError("min_shared and min_size must be >= 1")
    with scoring_once(detector, graph) as bundle:
        thresholds = None
        if scores is None and callable(getattr(detector, "seed_scores", None)):
            node_scores, thresholds = detector.seed_scores(bundle)
        else:
            node_scores = get_scores(bundle, detector, scores)
        if node_scores is None:
            raise GraphadError("find_suspicious_subgraphs needs a fitted detector or "
                               "scores")
        view = GraphView(bundle)
        flagged = flag_nodes(bundle, node_scores, detector, quantile, node_types,
                             thresholds=thresholds)
        scorer = GroupScorer(bundle, view, node_scores, detector, top_k)
        groups = discover_groups(view, flagged, scorer, alpha=alpha,
                                 min_shared=min_shared, min_support=min_support,
                                 min_size=min_size, max_size=max_size,
                                 resources=resources, hubs=hubs, tied=tied,
                                 expand=expand, split=split)
        if not groups:
            return []
        rows = [scorer.score(g) for g in groups]
        order = sorted(range(len(groups)), key=lambda i: -_finite(rows[i]["score"]))
        if k is not None:
            order = order[:int(k)]
        out = []
        for rank, i in enumerate(order, 1):
            seeds = {t: np.intersect1d(idx, flagged.get(t, np.zeros(0, np.int64)))
                     for t, idx in groups[i].items()}
            out.append(to_subgraph(bundle, groups[i], rows[i], rank=rank, seeds=seeds))
        return out


def discover_groups(view: GraphView, flagged: Group, scorer: GroupScorer,
                    alpha: float = 0.01, min_shared: int = 2, min_support: int = 1,
                    min_size: int = 3, max_size: int = 100, resources: bool = True,
                    hubs: bool = True, tied: bool = True, expand: int = 2,
                    split: bool = True) -> List[Group]:
    """Steps 2-7 of :func:`find_suspicious_subgraphs` (unranked): the groups, as
    ``{node_type: sorted indices}``, around the ``flagged`` nodes of ``view``'s graph;
    ``scorer`` gives the split its density test."""
    finder = _Finder(view, flagged, list(flagged), alpha, min_shared, min_support,
                     min_size, max_size)
    labels = finder.prune(finder.components())
    if resources:
        labels = finder.add_tied_resources(labels, unflagged=tied)
    if hubs:
        labels = finder.add_hubs(labels)
    for _ in range(int(expand)):
        grown = finder.grow(labels)
        if grown is None:
            break
        labels = grown
    groups = finder.groups(labels)
    if split:
        groups = [part for g in groups for part in finder.split(g, scorer.log_density)]
    return groups


def _finite(x: float) -> float:
    return x if np.isfinite(x) else -math.inf


def flag_nodes(bundle, scores, detector=None, quantile: Optional[float] = None,
               node_types: Optional[Iterable[NodeType]] = None,
               thresholds: Optional[Mapping[NodeType, float]] = None) -> Group:
    """Indices of the flagged nodes per type (see :func:`find_suspicious_subgraphs`):
    above ``thresholds`` (default: the detector's ``threshold_``), or the top
    ``quantile`` share where given."""
    if node_types is None:
        types = [t for t in bundle.node_types if bundle.modality.get(t) is None]
    else:
        types = list(node_types)
        for t in types:
            check_type(bundle, t)
    if quantile is not None:
        thresholds = None
    elif thresholds is None:
        thresholds = getattr(detector, "threshold_", None)
    if quantile is not None and not 0 < quantile < 1:
        raise GraphadError(f"quantile must be in (0, 1), got {quantile}")
    out: Group = {}
    for t in types:
        if t not in scores:
            continue
        s = scores[t].detach().cpu().double().numpy()
        finite = np.isfinite(s)
        if thresholds is not None and t in thresholds:
            idx = np.flatnonzero(finite & (s > thresholds[t]))
        else:
            q = quantile if quantile is not None else DEFAULT_QUANTILE
            n = int(math.ceil(q * finite.sum()))
            order = np.argsort(-np.where(finite, s, -np.inf), kind="stable")
            idx = np.sort(order[:n])
        out[t] = idx.astype(np.int64)
    return out


class _Finder:
    """Candidate groups over one global index (types stacked in bundle order).

    A label vector assigns each node to at most one group (-1: none).
    """

    def __init__(self, view: GraphView, flagged: Group, seed_types: List[NodeType],
                 alpha: float, min_shared: int, min_support: int, min_size: int,
                 max_size: int):
        self.view, self.alpha = view, alpha
        self.min_shared, self.min_support = min_shared, min_support
        self.min_size, self.max_size = min_size, max_size
        self.seed_types = list(seed_types)
        self.off = view.offsets()
        self.n = view.total_nodes
        self.flag_vec = {t: _indicator(flagged.get(t), view.num_nodes[t])
                         for t in view.num_nodes}
        self._degree_cache: dict = {}

    def _global(self, t: NodeType, idx: np.ndarray) -> np.ndarray:
        return idx + self.off[t]

    # -------------------------------------------------------------- flagged seeds
    def components(self) -> np.ndarray:
        """Groups of flagged nodes: connector stars and supported same-type links,
        merged where they overlap (see :func:`find_suspicious_subgraphs`)."""
        cores: List[np.ndarray] = []
        direct_r: List[np.ndarray] = []
        direct_c: List[np.ndarray] = []
        for v in self.view.views():
            fa = self.flag_vec[v.a]
            if not fa.any():
                continue
            # connectors: b nodes with improbably many flagged a-neighbours, which
            # make up at least half of their a-neighbours
            k = np.asarray(v.adj_t @ fa.astype(np.float64)).ravel()
            cand = np.flatnonzero((k >= self.min_shared) & (2 * k >= v.deg_b))
            if cand.size:
                logp = binom.logsf(k[cand] - 1, v.deg_b[cand], fa.mean())
                for c in cand[logp < math.log(self.alpha / cand.size)]:
                    nbrs = v.adj_t[c].indices
                    cores.append(np.r_[self._global(v.b, np.array([c])),
                                       self._global(v.a, nbrs[fa[nbrs]])])
            # direct links between flagged nodes of one type (a flagged account
            # following another); links across types go through connectors only
            if v.a == v.b:
                ia = np.flatnonzero(fa)
                sub = induced(v.adj, ia, ia).tocoo()
                if sub.nnz:
                    direct_r.append(self._global(v.a, ia[sub.row]))
                    direct_c.append(self._global(v.b, ia[sub.col]))
        direct = _sym(direct_r, direct_c, self.n)
        if direct.nnz:
            kept = direct
            if self.min_support > 0:
                support = (direct @ direct).multiply(direct)   # common flagged neighbours
                kept = (support >= self.min_support).astype(np.float64).tocsr()
            kept.eliminate_zeros()
            _, comp = connected_components(kept, directed=False)
            linked = np.flatnonzero(np.diff(kept.indptr) > 0)
            order = np.argsort(comp[linked], kind="stable")
            _, starts = np.unique(comp[linked][order], return_index=True)
            cores += np.split(linked[order], starts[1:])
        return self._merge(cores)

    def _merge(self, cores: List[np.ndarray]) -> np.ndarray:
        """Union of cores sharing at least half of the smaller one; a node left in
        several groups goes to the one holding most of its neighbours (ties: the
        smaller, more specific group)."""
        labels = np.full(self.n, -1)
        cores = [np.unique(c) for c in cores if len(c) >= 2]
        if not cores:
            return labels
        inc = _incidence(cores, self.n)                 # cores x nodes
        sizes = np.array([len(c) for c in cores])
        inter = (inc @ inc.T).tocoo()
        close = inter.data * 2 >= np.minimum(sizes[inter.row], sizes[inter.col])
        pairs = sp.csr_matrix((np.ones(int(close.sum())),
                               (inter.row[close], inter.col[close])),
                              shape=(len(cores), len(cores)))
        _, group_of = connected_components(pairs, directed=False)
        members = [np.unique(np.concatenate([cores[i]
                                             for i in np.flatnonzero(group_of == g)]))
                   for g in range(int(group_of.max()) + 1)]
        inc = _incidence(members, self.n).tocsc()       # groups x nodes
        count = np.diff(inc.indptr)
        single = np.flatnonzero(count == 1)
        labels[single] = inc.indices[inc.indptr[single]]
        contested = np.flatnonzero(count > 1)
        if contested.size:
            # links of each contested node to the members of each group
            ties = (self.adjacency()[contested] @ inc.T.tocsr()).tocsr()
            size = np.array([len(m) for m in members], dtype=float)
            for row, node in enumerate(contested):
                groups = inc.indices[inc.indptr[node]:inc.indptr[node + 1]]
                links = np.asarray(ties[row, groups].todense()).ravel()
                labels[node] = groups[np.lexsort((size[groups], -links))[0]]
        return labels

    def adjacency(self) -> sp.csr_matrix:
        """Symmetric 0/1 adjacency over the global index (built once)."""
        if not hasattr(self, "_adjacency"):
            rows, cols = [], []
            for v in self.view.views():
                sub = v.adj.tocoo()
                rows.append(self._global(v.a, sub.row))
                cols.append(self._global(v.b, sub.col))
            self._adjacency = _sym(rows, cols, self.n)
        return self._adjacency

    def prune(self, labels: np.ndarray) -> np.ndarray:
        """Free the nodes of groups with fewer than ``min_size`` nodes, so that they
        can join a real group while growing."""
        sizes = np.bincount(labels[labels >= 0])
        small = np.flatnonzero(sizes < self.min_size)
        out = labels.copy()
        out[np.isin(labels, small)] = -1
        return out

    # -------------------------------------------------------------- resources
    def add_tied_resources(self, labels: np.ndarray, unflagged: bool = True
                           ) -> np.ndarray:
        """Groups around resources whose neighbours are tied to each other: flagged
        resources, and with ``unflagged`` any whose neighbours hold at least half of
        the possible links among them (see step 5 of
        :func:`find_suspicious_subgraphs`)."""
        found = []
        tested = 0
        for v in self.view.views():
            same = [et for et in self.view.counts if et[0] == et[2] == v.a]
            if v.a not in self.seed_types or v.a == v.b or not same:
                continue
            fb = self.flag_vec[v.b]
            cand = np.flatnonzero((fb | unflagged) & (v.deg_b >= self.min_size)
                                  & (v.deg_b <= self.max_size))
            for c in cand:
                nbrs = v.adj_t[c].indices
                observed, expected = self._internal(v.a, nbrs, same)
                tested += 1
                possible = nbrs.size * (nbrs.size - 1) * len(same)
                if not fb[c] and observed < TIED_SHARE * possible:
                    continue
                if observed > expected:
                    found.append((float(poisson.logsf(observed - 1, expected)), v, int(c)))
        if not found:
            return labels
        cut = math.log(self.alpha / tested)
        return self._claim(labels, [(v, c) for logp, v, c in
                                    sorted(found, key=lambda f: f[0]) if logp < cut])

    def _claim(self, labels: np.ndarray, centres: list) -> np.ndarray:
        """Make each ``(view, centre)`` (most significant first) not yet in a group a
        core: the centre and its neighbours. Merged as cores are (:meth:`_merge`): a
        group at least half inside it joins it, its free neighbours join it, and a
        member of another group moves to it when it has more links into it than into
        its own group."""
        labels = labels.copy()
        next_label = int(labels.max()) + 1 if labels.size else 0
        adjacency = self.adjacency() if centres else None
        for v, c in centres:
            nbrs = self._global(v.a, v.adj_t[c].indices)
            centre = self._global(v.b, np.array([c]))[0]
            if labels[centre] >= 0:
                continue
            new = next_label
            next_label += 1
            owned = labels[nbrs]
            for g in np.unique(owned[owned >= 0]):
                members = np.flatnonzero(labels == g)
                if 2 * np.isin(members, nbrs).sum() >= members.size:
                    labels[members] = new
            labels[nbrs[labels[nbrs] < 0]] = new
            labels[centre] = new
            for node in nbrs[(labels[nbrs] >= 0) & (labels[nbrs] != new)]:
                ties = labels[adjacency.indices[adjacency.indptr[node]:
                                                adjacency.indptr[node + 1]]]
                if (ties == new).sum() > (ties == labels[node]).sum():
                    labels[node] = new
        return labels

    def _internal(self, t: NodeType, nodes: np.ndarray, relations) -> tuple:
        """Edges among ``nodes`` over same-type relations, and the configuration-model
        expectation (as in :func:`~graphad.scoring.subgraph.score_subgraphs`)."""
        observed = expected = 0.0
        for et in relations:
            m, out_all, in_all = self._degrees(et)
            if m == 0:
                continue
            sub = induced(self.view.counts[et], nodes, nodes)
            observed += float(sub.sum() - sub.diagonal().sum())
            out_deg, in_deg = out_all[nodes], in_all[nodes]
            expected += max((out_deg.sum() * in_deg.sum() - (out_deg * in_deg).sum()) / m,
                            1e-12)
        return observed, expected

    def _degrees(self, et) -> tuple:
        """``(edges, out-degrees, in-degrees)`` of a relation's count matrix (once:
        slicing the columns of a large sparse matrix costs all its edges)."""
        if et not in self._degree_cache:
            mat = self.view.counts[et]
            self._degree_cache[et] = (float(mat.sum()), np.asarray(mat.sum(1)).ravel(),
                                      np.asarray(mat.sum(0)).ravel())
        return self._degree_cache[et]

    # -------------------------------------------------------------- structural seeds
    def add_hubs(self, labels: np.ndarray) -> np.ndarray:
        """Add the neighbourhoods of hubs as groups of their own.

        A hub is a shared *private* resource: a node of another type whose linked
        nodes mostly have one neighbour of the seed type (a phone, a photo, a card:
        the median of its kind over the relation is 1), with more distinct neighbours
        than a Poisson count with the relation's mean degree would give (tail ``<
        alpha / n`` over its type), and ``min_size..max_size`` of them: at ``alpha =
        0.01`` about eight accounts on one phone among 200 phones, nine or ten among
        4,000 (the smallest farm a hub reveals grows slowly with the graph; a smaller
        one is found from its flagged members as before). Popularity is ordinary
        where sharing is the norm (a merchant that many users pay; an account with
        many followers) and makes no hub: on the fraud sample the busiest merchants
        put some 300 ordinary users in groups. Its neighbourhood becomes a group,
        unless half of it already belongs to one (the farm's photo after its device,
        say).
        """
        hubs = []
        for v in self.view.views():
            if v.a not in self.seed_types or v.a == v.b or v.deg_b.size == 0:
                continue
            linked = v.deg_b[v.deg_b > 0]
            if linked.size == 0 or float(np.median(linked)) > PRIVATE_MEDIAN_DEGREE:
                continue
            mean = float(v.deg_b.mean())
            cand = np.flatnonzero((v.deg_b >= self.min_size) & (v.deg_b <= self.max_size))
            if not cand.size or mean <= 0:
                continue
            logp = poisson.logsf(v.deg_b[cand] - 1, mean)
            for j in np.flatnonzero(logp < math.log(self.alpha / v.deg_b.size)):
                hubs.append((float(logp[j]), v, int(cand[j])))
        hubs.sort(key=lambda h: h[0])
        return self._claim(labels, [(v, hub) for _, v, hub in hubs])

    # -------------------------------------------------------------- growth
    def grow(self, labels: np.ndarray) -> Optional[np.ndarray]:
        """One round of growth; None when nothing joins."""
        comps, compact = np.unique(labels[labels >= 0], return_inverse=True)
        if not comps.size:
            return None
        c = comps.size
        member = labels >= 0
        comp_of = np.full(self.n, -1)
        comp_of[member] = compact
        parts = []
        for v in self.view.views():
            lab_b = comp_of[self.off[v.b]:self.off[v.b] + self.view.num_nodes[v.b]]
            in_b = np.flatnonzero(lab_b >= 0)
            if not in_b.size:
                continue
            memb = sp.csr_matrix((np.ones(in_b.size), (in_b, lab_b[in_b])),
                                 shape=(self.view.num_nodes[v.b], c))
            counts = (v.adj @ memb).tocoo()          # a node x component: member nbrs
            outside = ~member[self._global(v.a, counts.row)]
            r, col, k = counts.row[outside], counts.col[outside], counts.data[outside]
            if not r.size:
                continue
            share = np.bincount(lab_b[in_b], minlength=c) / self.view.num_nodes[v.b]
            logp = binom.logsf(k - 1, v.deg_a[r], share[col])
            parts.append(pd.DataFrame({"node": self._global(v.a, r), "comp": col,
                                       "links": k, "logp": logp}))
        if not parts:
            return None
        # evidence over relations: links add up, probabilities multiply
        frame = pd.concat(parts).groupby(["node", "comp"], as_index=False).sum()
        n_tests = frame["node"].nunique()
        frame = frame[(frame["links"] >= self.min_shared)
                      & (frame["logp"] < math.log(self.alpha / n_tests))]
        if frame.empty:
            return None
        frame = frame.sort_values(["node", "logp"]).drop_duplicates("node")
        out = labels.copy()
        out[frame["node"].to_numpy()] = comps[frame["comp"].to_numpy()]
        return out

    def groups(self, labels: np.ndarray) -> List[Group]:
        """Index sets of the groups that are not trivial: a group needs ``min_size``
        members of one type that each have two or more member neighbours (a star
        around one node is about that node, not a group)."""
        links = np.zeros(self.n)
        for v in self.view.views():
            lab_a = labels[self.off[v.a]:self.off[v.a] + self.view.num_nodes[v.a]]
            lab_b = labels[self.off[v.b]:self.off[v.b] + self.view.num_nodes[v.b]]
            rows = np.flatnonzero(lab_a >= 0)
            sub = v.adj[rows].tocoo()
            same = lab_b[sub.col] == lab_a[rows[sub.row]]
            links[self._global(v.a, rows)] += np.bincount(sub.row[same],
                                                          minlength=rows.size)
        out = []
        order = np.argsort(labels, kind="stable")
        sorted_labels = labels[order]
        starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
        ends = np.r_[starts[1:], labels.size]
        for s, e in zip(starts, ends):
            if sorted_labels[s] < 0 or e - s < 2:
                continue
            nodes = np.sort(order[s:e])
            group = self._tied_group(nodes, links[nodes])
            if group is not None:
                out.append(group)
        return out

    def _tied_group(self, nodes: np.ndarray, links: np.ndarray) -> Optional[Group]:
        """The sorted global ``nodes`` as a group by type, or None when it is trivial:
        fewer than ``min_size`` members of any one type with two or more member
        neighbours (``links``, aligned with ``nodes``)."""
        group: Group = {}
        tied = 0
        for t, o in self.off.items():
            sel = (nodes >= o) & (nodes < o + self.view.num_nodes[t])
            if sel.any():
                group[t] = (nodes[sel] - o).astype(np.int64)
                tied = max(tied, int((links[sel] >= 2).sum()))
        return group if tied >= self.min_size else None

    def _pieces(self, nodes: np.ndarray, part_of: np.ndarray) -> List[Group]:
        """:meth:`groups` of the labelling ``part_of`` of the sorted global ``nodes``
        (every other node unlabelled), in time of those nodes' links."""
        links = np.zeros(nodes.size)
        for v in self.view.views():
            lo = self.off[v.a]
            rows = np.flatnonzero((nodes >= lo) & (nodes < lo + self.view.num_nodes[v.a]))
            if not rows.size:
                continue
            sub = v.adj[nodes[rows] - lo].tocoo()
            nbr = sub.col + self.off[v.b]
            pos = np.searchsorted(nodes, nbr).clip(max=nodes.size - 1)
            same = (nodes[pos] == nbr) & (part_of[pos] == part_of[rows[sub.row]])
            links[rows] += np.bincount(sub.row[same], minlength=rows.size)
        out = []
        for p in np.unique(part_of):
            members = np.flatnonzero(part_of == p)
            if members.size < 2:
                continue
            group = self._tied_group(nodes[members], links[members])
            if group is not None:
                out.append(group)
        return out

    # -------------------------------------------------------------- split
    def split(self, group: Group, density: Callable[[Group], float]) -> List[Group]:
        """``group``'s non-trivial modularity parts (Louvain on its own links, all
        relations; seeded) when there are two or more (it is several groups joined,
        not one with a few loose members) and the best is denser than the whole by
        ``density`` (``log_density``), else ``[group]`` (step 7 of
        :func:`find_suspicious_subgraphs`)."""
        nodes = np.sort(np.concatenate([idx + self.off[t] for t, idx in group.items()]))
        if nodes.size < 2 * self.min_size:
            return [group]
        sub = sp.triu(induced(self.adjacency(), nodes, nodes), k=1).tocoo()
        graph = nx.Graph()
        graph.add_nodes_from(range(nodes.size))
        graph.add_edges_from(zip(sub.row.tolist(), sub.col.tolist()))
        parts = nx.community.louvain_communities(graph, seed=SPLIT_SEED)
        if len(parts) < 2:
            return [group]
        part_of = np.empty(nodes.size, dtype=np.int64)
        for i, part in enumerate(parts):
            part_of[sorted(part)] = i
        pieces = self._pieces(nodes, part_of)
        if len(pieces) >= 2 and max(density(p) for p in pieces) > density(group):
            return pieces
        return [group]


def _indicator(idx: Optional[np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    if idx is not None and len(idx):
        out[idx] = True
    return out


def _incidence(sets: List[np.ndarray], n: int) -> sp.csr_matrix:
    """``[len(sets), n]`` 0/1 membership matrix."""
    if not sets:
        return sp.csr_matrix((0, n))
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    return sp.csr_matrix((np.ones(rows.size), (rows, np.concatenate(sets))),
                         shape=(len(sets), n))


def _sym(rows: List[np.ndarray], cols: List[np.ndarray], n: int) -> sp.csr_matrix:
    if not rows:
        return sp.csr_matrix((n, n))
    r, c = np.concatenate(rows), np.concatenate(cols)
    keep = r != c
    r, c = r[keep], c[keep]
    mat = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    return ((mat + mat.T) > 0).astype(np.float64).tocsr()


# ---------------------------------------------------------------- evaluation
def evaluate_subgraph_recovery(subgraphs: List[Subgraph], labels: pd.DataFrame,
                               node_type: NodeType = "user", group_column: str = "group_id",
                               min_precision: float = 0.5, min_recall: float = 0.5
                               ) -> pd.DataFrame:
    """How well the returned subgraphs recover planted groups (rings, farms).

    For each planted group (rows of ``labels`` of ``node_type`` sharing a non-null
    ``group_column``) the returned subgraph with the most of its members is matched;
    ``recall`` = matched members / group size, ``precision`` = matched members /
    that subgraph's ``node_type`` members. ``recovered`` when both reach their minimum
    (default: holds most of the group and not much else).

    Returns:
        one row per planted group: ``group``, ``kind`` (its members' most common
        ``anomaly_type`` where the labels have one, else the part of the group's name
        before ``_``, else ``"group"``), ``size``, ``rank`` (of the matched subgraph,
        0 if none), ``matched``, ``subgraph_size``, ``precision``, ``recall``,
        ``recovered``.
    """
    for col in ("node_type", "id", group_column):
        if col not in labels.columns:
            raise GraphadError(f"labels need a '{col}' column")
    lab = labels[(labels["node_type"] == node_type) & labels[group_column].notna()]
    found = [(sg.rank or i + 1, set(map(str, sg.members.get(node_type, []))))
             for i, sg in enumerate(subgraphs)]
    rows = []
    for name, sub in lab.groupby(group_column, sort=True):
        members = set(map(str, sub["id"]))
        best = (0, 0, 0)   # matched, -size, rank
        for rank, ids in found:
            m = len(members & ids)
            if m and (m, -len(ids)) > best[:2]:
                best = (m, -len(ids), rank)
        matched, size, rank = best[0], -best[1], best[2]
        precision = matched / size if size else 0.0
        recall = matched / len(members)
        rows.append({"group": name, "kind": _group_kind(name, sub),
                     "size": len(members), "rank": rank, "matched": matched,
                     "subgraph_size": size, "precision": precision, "recall": recall,
                     "recovered": precision >= min_precision and recall >= min_recall})
    return pd.DataFrame(rows, columns=["group", "kind", "size", "rank", "matched",
                                       "subgraph_size", "precision", "recall",
                                       "recovered"])


def _group_kind(name: Any, members: pd.DataFrame) -> str:
    """A planted group's kind: its members' most common ``anomaly_type`` (``ring``),
    else the part of its name before ``_`` (``ring_3``), else ``"group"``."""
    if "anomaly_type" in members.columns:
        types = members["anomaly_type"].dropna().astype(str)
        types = types[~types.isin(["", "none", "normal"])]
        if len(types):
            return str(types.value_counts().index[0])
    name = str(name)
    return name.split("_")[0] if "_" in name else "group"


def recovery_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per kind: groups, recovered share, mean precision and recall."""
    if table.empty:
        return pd.DataFrame(columns=["kind", "groups", "recovered", "share",
                                     "precision", "recall"])
    out = table.groupby("kind").agg(groups=("group", "size"),
                                    recovered=("recovered", "sum"),
                                    precision=("precision", "mean"),
                                    recall=("recall", "mean")).reset_index()
    out["share"] = out["recovered"] / out["groups"]
    return out[["kind", "groups", "recovered", "share", "precision", "recall"]]


__all__ = ["find_suspicious_subgraphs", "discover_groups", "flag_nodes",
           "evaluate_subgraph_recovery", "recovery_summary"]
