"""Peer detectors for the benchmark, behind graphad's :class:`BaseDetector` contract.

* ``RawIForest`` / ``RawLOF``: scikit-learn IsolationForest / LocalOutlierFactor on
  each node type's own (raw) inputs, no graph.
* ``LocalAffinity``: untrained, ``1 - mean cos(x_v, x_u)`` over same-type neighbours
  on standardised inputs.
* ``PyGODPeer``: a PyGOD detector (DOMINANT, AnomalyDAE, CoLA, CONAD, OCGNN, GAE) on
  a homogeneous view of the target type, run full-batch (see
  :func:`pygod_full_batch`).

Peers score only the node type they are asked about (``node_type``, default every
type), so the benchmark's per-type normalisation and metrics apply to them unchanged.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import RobustScaler
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from ..data.bundle import GraphBundle
from ..data.features import node_inputs
from ..detectors.base import BaseDetector
from ..detectors.fusion import early_fused_features
from ..errors import GraphadError, MissingDependencyError
from ..nn.inputs import fit_standardiser, sparse_mean, standardise
from ..scoring.normalize import Components
from ..typing import NodeType

__all__ = ["RawIForest", "RawLOF", "LocalAffinity", "PyGODPeer", "PYGOD_MODELS",
           "pygod_full_batch", "pygod_input", "FullBatchLoader", "pygod_available"]

#: benchmark name -> class in ``pygod.detector``
PYGOD_MODELS: Dict[str, str] = {
    "dominant": "DOMINANT",
    "anomalydae": "AnomalyDAE",
    "cola": "CoLA",
    "conad": "CONAD",
    "ocgnn": "OCGNN",
    "pygod-gae": "GAE",
}


def _types(bundle: GraphBundle, node_type: Optional[NodeType]) -> List[NodeType]:
    if node_type is None:
        return bundle.node_types
    if node_type not in bundle.node_types:
        raise GraphadError(f"node type {node_type!r} not in the graph "
                           f"{bundle.node_types}")
    return [node_type]


def _same_graph(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool(torch.equal(a, b))


# ---------------------------------------------------------------- raw-feature models
class _SklearnPerType(BaseDetector):
    """Shared fit / score of a scikit-learn outlier model per node type (benchmark
    peers only: a fitted scikit-learn model is not plain data, so these do not save)."""

    def _features(self, bundle: GraphBundle) -> Dict[NodeType, Tensor]:
        raise NotImplementedError

    def _make_model(self, n: int):
        raise NotImplementedError

    def _fit(self, bundle: GraphBundle) -> None:
        feats = self._features(bundle)
        self.scalers_, self.models_ = {}, {}
        for t, X in feats.items():
            Xs = RobustScaler().fit(X.numpy())
            self.scalers_[t] = Xs
            self.models_[t] = self._make_model(len(X)).fit(
                np.clip(Xs.transform(X.numpy()), -10, 10))

    def _components(self, bundle: GraphBundle) -> Components:
        feats = self._features(bundle)
        out = {}
        for t, X in feats.items():
            Z = np.clip(self.scalers_[t].transform(X.numpy()), -10, 10)
            out[t] = {"attribute": torch.as_tensor(-self.models_[t].score_samples(Z),
                                                   dtype=torch.float32)}
        return out


class RawIForest(_SklearnPerType):
    """IsolationForest on each node type's own inputs (scikit-learn defaults).

    Args:
        n_estimators: trees.
        seed: ``random_state``.
        node_type: score only this type (default every type).
        contamination: expected share of anomalies (for ``predict``).
    """

    def __init__(self, n_estimators: int = 100, seed: int = 0,
                 node_type: Optional[NodeType] = None, contamination: float = 0.1):
        super().__init__(contamination=contamination, rollup=False)
        self.n_estimators = n_estimators
        self.seed = seed
        self.node_type = node_type

    def _features(self, bundle: GraphBundle) -> Dict[NodeType, Tensor]:
        x = node_inputs(bundle.data)
        return {t: x[t] for t in _types(bundle, self.node_type)}

    def _make_model(self, n: int):
        return IsolationForest(n_estimators=self.n_estimators, random_state=self.seed)


class RawLOF(_SklearnPerType):
    """LocalOutlierFactor on each node type's robust-scaled own inputs.

    The training graph gets the fitted ``negative_outlier_factor_`` (each node's
    neighbours exclude itself); other graphs are scored in novelty mode.

    Args:
        n_neighbors: LOF's ``k`` (scikit-learn default 20).
        node_type: score only this type (default every type).
        contamination: expected share of anomalies (for ``predict``).
    """

    def __init__(self, n_neighbors: int = 20, node_type: Optional[NodeType] = None,
                 contamination: float = 0.1):
        super().__init__(contamination=contamination, rollup=False)
        self.n_neighbors = n_neighbors
        self.node_type = node_type

    def _features(self, bundle: GraphBundle) -> Dict[NodeType, Tensor]:
        x = node_inputs(bundle.data)
        return {t: x[t] for t in _types(bundle, self.node_type)}

    def _make_model(self, n: int):
        return LocalOutlierFactor(n_neighbors=min(self.n_neighbors, max(n - 1, 1)),
                                  novelty=True)

    def _fit(self, bundle: GraphBundle) -> None:
        super()._fit(bundle)
        self.train_inputs_ = self._features(bundle)

    def _components(self, bundle: GraphBundle) -> Components:
        feats = self._features(bundle)
        out = {}
        for t, X in feats.items():
            if _same_graph(X, self.train_inputs_[t]):
                raw = -self.models_[t].negative_outlier_factor_
            else:
                Z = np.clip(self.scalers_[t].transform(X.numpy()), -10, 10)
                raw = -self.models_[t].score_samples(Z)
            out[t] = {"attribute": torch.as_tensor(raw, dtype=torch.float32)}
        return out


# ---------------------------------------------------------------- local affinity
class LocalAffinity(BaseDetector):
    """Untrained local affinity: ``1 - mean_u cos(x_v, x_u)`` over a node's same-type
    neighbours, on inputs standardised per type; averaged over same-type relations.

    Nodes without a same-type neighbour get the median score. Types without any
    same-type relation are not scored.

    Args:
        node_type: score only this type (default every type it can).
        contamination: expected share of anomalies (for ``predict``).
    """

    def __init__(self, node_type: Optional[NodeType] = None, contamination: float = 0.1):
        super().__init__(contamination=contamination, rollup=False)
        self.node_type = node_type

    def _fit(self, bundle: GraphBundle) -> None:
        x = node_inputs(bundle.data)
        self.stats_ = {t: fit_standardiser(x[t]) for t in _types(bundle, self.node_type)}

    def _components(self, bundle: GraphBundle) -> Components:
        data = bundle.data
        x = node_inputs(data)
        out: Components = {}
        for t in _types(bundle, self.node_type):
            relations = [et for et in data.edge_types if et[0] == t and et[2] == t]
            if not relations:
                if self.node_type is not None:
                    raise GraphadError(f"LocalAffinity: node type {t!r} has no "
                                       "same-type relation")
                continue
            unit = F.normalize(standardise(x[t].float(), self.stats_[t]), dim=1)
            n = unit.size(0)
            total, count = torch.zeros(n), torch.zeros(n)
            for et in relations:
                mean, has = sparse_mean(unit, data[et].edge_index, n)
                err = 1 - (unit * mean).sum(dim=1)
                total += torch.where(has, err, torch.zeros_like(err))
                count += has.float()
            affinity = total / count.clamp(min=1)
            out[t] = {"affinity": torch.where(count > 0, affinity,
                                              torch.full_like(affinity, float("nan")))}
        return out


# ---------------------------------------------------------------- PyGOD
def pygod_available() -> bool:
    return importlib.util.find_spec("pygod") is not None


class FullBatchLoader:
    """Stands in for PyG's ``NeighborLoader(data, num_neighbors, batch_size=...)`` when
    every node is a seed and every neighbour is taken: yields the whole graph once.

    With all ``n`` nodes as seeds and ``-1`` fan-out, ``NeighborLoader`` returns every
    node (seeds first, in order) and every edge; this yields that graph without
    pyg-lib / torch-sparse, with ``batch_size = n`` and ``n_id = input_id = arange(n)``
    set as ``NeighborLoader`` sets them. Anything else (mini-batches, fan-out) raises.
    """

    def __init__(self, data: Data, num_neighbors: Sequence[int], batch_size: int = 1,
                 **kwargs: Any):
        n = int(data.num_nodes)
        if int(batch_size) < n or any(int(k) != -1 for k in num_neighbors):
            raise GraphadError(
                f"FullBatchLoader runs full-batch only (batch_size >= {n} nodes and "
                f"num_neigh=-1), got batch_size={batch_size}, num_neigh="
                f"{list(num_neighbors)}; install pyg-lib or torch-sparse for mini-batches")
        self.data = data

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Data]:
        batch = copy.copy(self.data)          # shallow: the caller's graph is unchanged
        n = int(batch.num_nodes)
        batch.n_id = torch.arange(n)
        batch.input_id = torch.arange(n)
        batch.batch_size = n
        yield batch


@contextmanager
def pygod_full_batch() -> Iterator[None]:
    """Patch ``pygod.detector.base.NeighborLoader`` with :class:`FullBatchLoader` for
    the duration of the block (PyGOD's ``DeepDetector.fit`` / ``decision_function``
    build ``NeighborLoader(data, self.num_neigh, batch_size=self.batch_size)``, which
    needs pyg-lib or torch-sparse). Restored on exit, also on error."""
    try:
        base = importlib.import_module("pygod.detector.base")
    except ImportError as exc:
        raise MissingDependencyError("PyGOD peers need 'pygod': pip install "
                                     f"'graphad[bench]' ({exc})") from exc
    original = base.NeighborLoader
    base.NeighborLoader = FullBatchLoader
    try:
        yield
    finally:
        base.NeighborLoader = original


def pygod_input(bundle: GraphBundle, node_type: NodeType) -> Data:
    """A homogeneous ``Data`` for PyGOD: the ``node_type`` nodes and the union of its
    same-type relations (undirected, deduplicated, no self-loops).

    Features: a one-type graph keeps its raw ``x`` (as PyGOD / BOND use it); a typed
    graph gives the target type's early-fused inputs (own inputs, neighbour means and
    log-degrees per incoming relation, :func:`early_fused_features`), standardised
    and clipped to +-10, so the other types' information reaches PyGOD.
    """
    data = bundle.data
    if node_type not in data.node_types:
        raise GraphadError(f"node type {node_type!r} not in the graph {bundle.node_types}")
    n = data[node_type].num_nodes
    if len(data.node_types) == 1:
        x = node_inputs(data)[node_type].float()
    else:
        x = early_fused_features(bundle)[node_type].float()
        x = standardise(x, fit_standardiser(x))
    parts = [data[et].edge_index for et in data.edge_types
             if et[0] == node_type and et[2] == node_type]
    ei = torch.cat(parts, dim=1) if parts else torch.empty(2, 0, dtype=torch.long)
    ei, _ = remove_self_loops(ei)
    ei = coalesce(to_undirected(ei, num_nodes=n), num_nodes=n)
    return Data(x=x.contiguous(), edge_index=ei, num_nodes=n)


class PyGODPeer(BaseDetector):
    """A PyGOD detector on :func:`pygod_input`, full-batch, on the CPU.

    PyGOD's defaults are kept except ``epoch`` (100, as in the issue's peer table)
    and ``gpu=-1``. The training graph gets the scores PyGOD computes while fitting
    (``decision_score_``, what its ``predict()`` returns); other graphs go through
    ``decision_function``.

    Args:
        model: ``dominant``, ``anomalydae``, ``cola``, ``conad``, ``ocgnn`` or
            ``pygod-gae`` (see :data:`PYGOD_MODELS`).
        epoch: training epochs.
        seed: seeds torch / numpy / random inside a forked RNG (global state restored).
        node_type: the type to score (default: the only type of a one-type graph).
        params: further keyword arguments for the PyGOD class.
        contamination: expected share of anomalies (PyGOD's and ``predict``'s).
    """

    def __init__(self, model: str = "dominant", epoch: int = 100, seed: int = 0,
                 node_type: Optional[NodeType] = None,
                 params: Optional[Mapping[str, Any]] = None, contamination: float = 0.1):
        super().__init__(contamination=contamination, rollup=False)
        self.model = model
        self.epoch = epoch
        self.seed = seed
        self.node_type = node_type
        self.params = params

    def _target(self, bundle: GraphBundle) -> NodeType:
        if self.node_type is not None:
            return self.node_type
        if len(bundle.node_types) != 1:
            raise GraphadError(f"PyGODPeer: pass node_type for a typed graph "
                               f"({bundle.node_types})")
        return bundle.node_types[0]

    def _make(self):
        if self.model not in PYGOD_MODELS:
            raise GraphadError(f"unknown PyGOD model {self.model!r}; available: "
                               f"{sorted(PYGOD_MODELS)}")
        try:
            module = importlib.import_module("pygod.detector")
        except ImportError as exc:
            raise MissingDependencyError("PyGOD peers need 'pygod': pip install "
                                         f"'graphad[bench]' ({exc})") from exc
        cls = getattr(module, PYGOD_MODELS[self.model])
        return cls(epoch=int(self.epoch), gpu=-1, contamination=self.contamination,
                   verbose=0, **dict(self.params or {}))

    def _fit(self, bundle: GraphBundle) -> None:
        self.node_type_ = self._target(bundle)
        data = pygod_input(bundle, self.node_type_)
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            with torch.random.fork_rng(devices=[]), pygod_full_batch():
                torch.manual_seed(self.seed)
                np.random.seed(self.seed)
                random.seed(self.seed)
                self.detector_ = self._make().fit(data)
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        self.train_x_, self.train_edges_ = data.x, data.edge_index
        self.train_scores_ = self.detector_.decision_score_.detach().float().clone()

    def _components(self, bundle: GraphBundle) -> Components:
        data = pygod_input(bundle, self.node_type_)
        if _same_graph(data.x, self.train_x_) and _same_graph(data.edge_index,
                                                              self.train_edges_):
            scores = self.train_scores_
        else:
            with torch.random.fork_rng(devices=[]), pygod_full_batch():
                torch.manual_seed(self.seed)
                scores = self.detector_.decision_function(data).detach().float()
        return {self.node_type_: {"pygod": scores.clone()}}
