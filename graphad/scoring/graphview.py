"""Sparse views of a :class:`GraphBundle` shared by subgraph scores and explanations.

Everything here is sparse (``scipy.sparse`` CSR per relation, work proportional to the
edges touched): no dense ``N x N`` matrix is ever formed.

* :class:`GraphView`: per forward relation the edge-count matrix ``[n_src, n_dst]``;
  :meth:`GraphView.views` the relation seen from either end (a same-type relation is
  seen once, symmetrised), and the links between two entities through an observation
  node (``user -wrote-> review -about-> product``).
* :func:`resolve_node` / :func:`resolve_group`: external ids -> indices, with errors
  that name the type and the id.
* :func:`robust_z`: per-type robust z-scores of node scores, so that users, devices and
  merchants can be compared on one scale.
* :func:`node_embeddings`: per-node unit vectors (the detector's latents when it has
  them, else the standardised inputs) for similarity measures.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ..data.bundle import GraphBundle, as_bundle
from ..errors import GraphadError
from ..typing import EdgeType, NodeType
from .normalize import MAD_TO_STD

Group = Dict[NodeType, np.ndarray]


@dataclass
class View:
    """A relation seen from the ``a`` end: ``adj[i, j] = 1`` when ``a`` node ``i`` is
    linked to ``b`` node ``j`` (distinct neighbours; multiplicity dropped).

    Attributes:
        a, b: node types at either end.
        name: relation name as seen from ``a`` (``rel`` or ``rev_rel``).
        edge_type: the forward relation it comes from.
        adj: binary CSR ``[n_a, n_b]``.
        deg_a, deg_b: distinct-neighbour counts of the ``a`` / ``b`` nodes.
    """

    a: NodeType
    b: NodeType
    name: str
    edge_type: EdgeType
    adj: sp.csr_matrix
    deg_a: np.ndarray
    deg_b: np.ndarray

    @property
    def adj_t(self) -> sp.csr_matrix:
        if not hasattr(self, "_adj_t"):
            self._adj_t = self.adj.T.tocsr()
        return self._adj_t


class GraphView:
    """Sparse adjacency of every forward relation of a bundle (built once, reused)."""

    def __init__(self, bundle: GraphBundle):
        self.bundle = bundle
        data = bundle.data
        self.num_nodes: Dict[NodeType, int] = {t: int(data[t].num_nodes)
                                               for t in data.node_types}
        self.counts: Dict[EdgeType, sp.csr_matrix] = {}
        for et in bundle.edge_types:
            ei = data[et].edge_index.cpu().numpy()
            shape = (self.num_nodes[et[0]], self.num_nodes[et[2]])
            mat = sp.csr_matrix((np.ones(ei.shape[1]), (ei[0], ei[1])), shape=shape)
            mat.sum_duplicates()
            self.counts[et] = mat
        self._views: Optional[List[View]] = None

    def views(self) -> List[View]:
        """Each relation from both ends; a same-type relation once, symmetrised; then
        the links through observation nodes (:meth:`_through_observations`)."""
        if self._views is None:
            out = []
            for et, mat in self.counts.items():
                binary = (mat > 0).astype(np.float64).tocsr()
                if et[0] == et[2]:
                    sym = ((binary + binary.T) > 0).astype(np.float64).tocsr()
                    deg = _row_nnz(sym)
                    out.append(View(et[0], et[2], et[1], et, sym, deg, deg))
                    continue
                deg_a, deg_b = _row_nnz(binary), _row_nnz(binary.T.tocsr())
                out.append(View(et[0], et[2], et[1], et, binary, deg_a, deg_b))
                out.append(View(et[2], et[0], "rev_" + et[1], et, binary.T.tocsr(),
                                deg_b, deg_a))
            out += self._through_observations(out)
            self._views = out
        return self._views

    def _through_observations(self, views: List[View]) -> List[View]:
        """Links between two entities through an observation node (``user -wrote->
        review -about-> product``: the user reviewed the product), as views of their
        own, so that groups can hold what their members share one hop further."""
        modality = self.bundle.modality
        out = []
        for first in views:
            if modality.get(first.a) is not None or modality.get(first.b) is None:
                continue
            for second in views:
                if (second.a != first.b or second.edge_type == first.edge_type
                        or modality.get(second.b) is not None):
                    continue
                binary = ((first.adj @ second.adj) > 0).astype(np.float64).tocsr()
                if first.a == second.b:
                    binary.setdiag(0)
                    binary.eliminate_zeros()
                if binary.nnz == 0:
                    continue
                out.append(View(first.a, second.b, f"{first.name}.{second.name}",
                                first.edge_type, binary, _row_nnz(binary),
                                _row_nnz(binary.T.tocsr())))
        return out

    def offsets(self) -> Dict[NodeType, int]:
        """Start of each type in one global index (node types in bundle order)."""
        out, start = {}, 0
        for t in self.bundle.node_types:
            out[t] = start
            start += self.num_nodes[t]
        return out

    @property
    def total_nodes(self) -> int:
        return sum(self.num_nodes.values())


def induced(mat: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> sp.csr_matrix:
    """``mat[rows][:, cols]`` (``cols`` distinct, any order) in time of the rows'
    entries: scipy's indexing allocates arrays as wide as ``mat`` and builds several
    matrices on every call, which on a graph of millions of nodes costs more than the
    small block itself."""
    mat = mat.tocsr()
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    starts = mat.indptr[rows].astype(np.int64)
    lens = mat.indptr[rows + 1].astype(np.int64) - starts
    row_of = np.repeat(np.arange(rows.size), lens)
    at = np.arange(int(lens.sum())) + np.repeat(starts - (np.cumsum(lens) - lens), lens)
    col, data = mat.indices[at], mat.data[at]
    if cols.size:
        order = np.argsort(cols, kind="stable")
        pos = np.searchsorted(cols[order], col).clip(max=cols.size - 1)
        keep = cols[order][pos] == col
        row_of, col, data = row_of[keep], order[pos[keep]], data[keep]
    else:
        row_of, col, data = row_of[:0], col[:0], data[:0]
    indptr = np.r_[0, np.cumsum(np.bincount(row_of, minlength=rows.size))]
    out = sp.csr_matrix((data, col, indptr), shape=(rows.size, cols.size))
    out.sort_indices()
    return out


def _row_nnz(mat: sp.csr_matrix) -> np.ndarray:
    return np.diff(mat.indptr).astype(np.int64)


# ---------------------------------------------------------------- ids
def parse_node(spec: str) -> Tuple[NodeType, str]:
    """``"user:u00123"`` -> ``("user", "u00123")`` (the id may itself hold ``:``)."""
    if ":" not in spec:
        raise GraphadError(f"node must be written TYPE:ID (e.g. user:u00123), got {spec!r}")
    node_type, node_id = spec.split(":", 1)
    return node_type, node_id


def _lookup(bundle: GraphBundle, node_type: NodeType, values: List[Any]) -> np.ndarray:
    """Indices of external ids; ``-1`` where absent. Strings are also tried as numbers
    (command lines give every id as text)."""
    ids = bundle.ids.ids(node_type)
    pos = ids.get_indexer(values)
    missing = np.flatnonzero(pos < 0)
    for i in missing:
        value = values[i]
        if isinstance(value, str):
            for cast in (int, float):
                try:
                    alt = ids.get_indexer([cast(value)])[0]
                except (ValueError, TypeError):
                    continue
                if alt >= 0:
                    pos[i] = alt
                    break
        elif ids.dtype == object:
            alt = ids.get_indexer([str(value)])[0]
            if alt >= 0:
                pos[i] = alt
    return pos


def check_type(bundle: GraphBundle, node_type: NodeType) -> None:
    if node_type not in bundle.ids:
        raise GraphadError(f"unknown node type {node_type!r}; the graph has "
                           f"{bundle.node_types}")


def resolve_node(bundle: GraphBundle, node_type: NodeType, node_id: Any) -> int:
    """Index of one node; a clear error when the type or the id is unknown."""
    check_type(bundle, node_type)
    pos = int(_lookup(bundle, node_type, [node_id])[0])
    if pos < 0:
        ids = bundle.ids.ids(node_type)
        example = ", ".join(repr(v) for v in ids[:3].tolist())
        raise GraphadError(f"no {node_type} node with id {node_id!r} "
                           f"({len(ids)} {node_type} ids, e.g. {example})")
    return pos


def resolve_group(bundle: GraphBundle, group: Any) -> Group:
    """A node set -> ``{type: sorted unique int64 indices}``.

    Accepts ``{type: [external ids]}``, an iterable of ``(type, id)`` pairs, or any
    object with a ``members`` mapping (a :class:`~graphad.scoring.subgraph.Subgraph`).
    """
    if hasattr(group, "members") and isinstance(group.members, Mapping):
        group = group.members
    if isinstance(group, Mapping):
        items: Iterable[Tuple[NodeType, Any]] = [(t, v) for t, vs in group.items()
                                                for v in _as_list(vs)]
    else:
        items = list(group)
    by_type: Dict[NodeType, List[Any]] = {}
    for pair in items:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise GraphadError(f"a group member must be a (node_type, id) pair, "
                               f"got {pair!r}")
        by_type.setdefault(pair[0], []).append(pair[1])
    out: Group = {}
    for t, values in by_type.items():
        check_type(bundle, t)
        pos = _lookup(bundle, t, values)
        if (pos < 0).any():
            bad = [values[i] for i in np.flatnonzero(pos < 0)][:5]
            raise GraphadError(f"{int((pos < 0).sum())} {t} id(s) not in the graph: "
                               f"{', '.join(repr(b) for b in bad)}")
        out[t] = np.unique(pos.astype(np.int64))
    if not any(len(v) for v in out.values()):
        raise GraphadError("empty group")
    return out


def _as_list(values: Any) -> List[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        return [values]
    if isinstance(values, (np.ndarray, Tensor)):
        return values.tolist()
    return list(values)


def external_members(bundle: GraphBundle, group: Group) -> Dict[NodeType, list]:
    return {t: bundle.ids.external(t, idx) for t, idx in group.items() if len(idx)}


# ---------------------------------------------------------------- scores
def robust_z(scores: Mapping[NodeType, Tensor]) -> Dict[NodeType, np.ndarray]:
    """``(s - median) / (1.4826 * MAD)`` per type (NaN stays NaN).

    A combined score is a weighted mean of robust z-scores whose spread differs by type;
    re-standardising puts users, devices and merchants on one scale.
    """
    out = {}
    for t, s in scores.items():
        v = torch.as_tensor(s).detach().cpu().double().numpy()
        finite = v[np.isfinite(v)]
        if finite.size == 0:
            out[t] = np.full_like(v, np.nan)
            continue
        med = float(np.median(finite))
        dev = np.abs(finite - med)
        scale = MAD_TO_STD * float(np.median(dev))
        if scale <= 1e-12:
            scale = float(dev.mean()) or 1.0
        out[t] = (v - med) / scale
    return out


def get_scores(bundle: GraphBundle, detector: Any = None,
               scores: Optional[Mapping[NodeType, Any]] = None
               ) -> Optional[Dict[NodeType, Tensor]]:
    """``scores`` as tensors, else the detector's ``decision_function``, else None."""
    if scores is not None:
        out = {}
        for t, s in scores.items():
            check_type(bundle, t)
            s = torch.as_tensor(np.asarray(s, dtype=float) if not isinstance(s, Tensor)
                                else s).float().flatten()
            if s.numel() != bundle.ids.num_nodes(t):
                raise GraphadError(f"scores[{t!r}] has {s.numel()} values for "
                                   f"{bundle.ids.num_nodes(t)} {t} nodes")
            out[t] = s
        return out
    if detector is not None:
        return detector.decision_function(bundle)
    return None


# ---------------------------------------------------------------- embeddings
def node_embeddings(bundle: GraphBundle, detector: Any = None
                    ) -> Tuple[Dict[NodeType, np.ndarray], bool]:
    """Unit-norm vectors per node and whether all types share one space.

    The detector's latents when it exposes them (an ``embed(graph)`` method, or a
    fitted module with ``encode``, as :class:`~graphad.detectors.MultimodalGAE`):
    one space for all types. Otherwise each type's inputs, standardised per column:
    comparable within a type only.
    """
    z = _latents(bundle, detector)
    shared = z is not None
    if z is None:
        from ..data.features import node_inputs
        z = {}
        for t, x in node_inputs(bundle.data).items():
            x = torch.nan_to_num(x.double())
            std = x.std(0, unbiased=False)
            z[t] = (x - x.mean(0)) / torch.where(std > 1e-9, std, torch.ones_like(std))
    out = {}
    for t, v in z.items():
        v = torch.as_tensor(v).detach().cpu().double().numpy()
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        out[t] = v / np.where(norm > 1e-12, norm, 1.0)
    return out, shared


def _latents(bundle: GraphBundle, detector: Any) -> Optional[Dict[NodeType, Tensor]]:
    if detector is None:
        return None
    if callable(getattr(detector, "embed", None)):
        return detector.embed(bundle)
    module = getattr(detector, "module_", None)
    prepared = getattr(detector, "_prepared", None)     # once per scoring_once block
    if module is None or prepared is None or not hasattr(module, "encode"):
        return None
    data = prepared(bundle)
    with torch.no_grad():
        was_training = module.training
        module.eval()
        z = module.encode(data)
        module.train(was_training)
    return z


def mean_pairwise_cosine(units: np.ndarray) -> float:
    """Mean cosine over distinct pairs of unit rows, in ``O(n d)``; NaN for n < 2."""
    n = units.shape[0]
    if n < 2:
        return float("nan")
    total = units.sum(0)
    return float((total @ total - (units * units).sum()) / (n * (n - 1)))


def scoring_once(detector: Any, graph: Any):
    """``detector.scoring_once(graph)`` where the detector has it (one preparation and
    one scoring pass for everything asked of ``graph`` inside the block), else a block
    that yields the graph as a bundle."""
    once = getattr(detector, "scoring_once", None)
    if once is None:
        return contextlib.nullcontext(as_bundle(graph))
    return once(graph)
