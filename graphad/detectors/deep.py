"""``DeepDetector``: the one training / scoring loop every torch detector reuses.

Subclasses implement three hooks:

* ``_module_config(data, bundle) -> dict`` (plain data, kept as ``module_config_``) and
  ``_module_from_config(config) -> nn.Module``: the module is always built from its
  stored config, at fit and when a saved model is loaded;
* ``_batch_loss(module, batch, generator) -> Tensor``;
* ``_batch_errors(module, batch) -> (components, {family: {relation: edge errors}})``
  for every node and edge of a batch.

The loop prepares inputs (standardised, neighbour means precomputed), trains
full-batch on graphs that fit comfortably and on ``NeighborLoader``-style mini-batches
otherwise, for at most ``max_steps`` optimiser steps (a fixed budget: training time
does not grow with the graph), seeds everything from ``seed`` inside a forked RNG (the
global RNG is left untouched) and never mutates the caller's graph. Scoring is decided
per call from the graph being scored: exact whole-graph message passing in slices of
destinations (:mod:`graphad.nn.chunked`, memory O(N * hidden + E)) where the module
supports it, else full-batch when the graph fits and mini-batches when it does not.
"""
from __future__ import annotations

import contextlib
import logging
import math
import numbers
from abc import abstractmethod
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data, HeteroData

from ..data.bundle import GraphBundle, as_bundle
from ..data.features import category_columns, edge_stat_widths, node_inputs, own_width
from ..errors import GraphadError
from ..nn.inputs import HOLDOUT_KEY, prepare_inputs, prepared_own_width
from ..scoring.holdout import held_out_nodes
from ..scoring.normalize import Components
from ..typing import EdgeType, NodeType, edge_type_str
from . import distributed
from .base import BaseDetector

log = logging.getLogger(__name__)

FULL_BATCH_MAX_NODES = 200_000
FULL_BATCH_MAX_EDGES = 4_000_000
#: default ``max_steps``: as many optimiser steps as full-batch training takes at the
#: default 50 epochs. Measured on the synthetic scale graphs (10k users, mini-batches of
#: 512): AUROC 0.975 after 50 steps, 0.959 after 300, 0.916 after 1,000: a longer run
#: learns to reconstruct the planted farms it should flag.
MAX_STEPS = 50
#: graphs with fewer nodes + edges than this train and score on one torch thread
#: (:func:`one_thread_if_small`)
SMALL_GRAPH = 20_000
#: module config key: the prepared graph says which ``edge_attr`` column is the edges'
#: time (``incident`` leaves it out); absent in models saved before, which score with it
TIME_ATTRS_KEY = "time_attrs"
#: module config key: edge evidence leaves the edges' time out; absent in models saved
#: before, which judged it with the other edge attributes
UNTIMED_EVIDENCE_KEY = "untimed_edge_evidence"
#: module config key: ``burst`` also judges relations whose edges take a node's one
#: time (a review's, for its product); absent in models saved before
DERIVED_TIMES_KEY = "derived_times"


def node_edge_counts(data: HeteroData) -> Tuple[int, int]:
    """All nodes and all edges of ``data``, over every type and relation."""
    return (sum(int(data[t].num_nodes or 0) for t in data.node_types),
            sum(int(data[et].num_edges) for et in data.edge_types))


def graph_size(graph: Any) -> Optional[int]:
    """Nodes + edges of a ``GraphBundle``, ``HeteroData`` or ``Data`` (None otherwise)."""
    data = graph.data if isinstance(graph, GraphBundle) else graph
    if isinstance(data, HeteroData):
        return sum(node_edge_counts(data))
    if isinstance(data, Data):
        return int(data.num_nodes or 0) + int(data.num_edges)
    return None


@contextlib.contextmanager
def one_thread_if_small(graph: Any) -> Iterator[None]:
    """Run the block on one torch thread where ``graph`` has fewer than
    :data:`SMALL_GRAPH` nodes + edges.

    On a small graph each op is microseconds of work, and waking a second thread for it
    costs more than it saves. Measured on 2 cores, fit + score on two threads and on one:
    disney (124 nodes, 670 edges) 0.82 / 0.21 s, books (8.8k nodes + edges) 1.46 /
    1.04 s, inj_cora (13.9k) 1.83 / 1.56 s; facebook (56k) 3.84 / 4.55 s, where two
    threads win. torch's thread count is process-wide: it is restored on exit, and left
    as it is where it is already 1.
    """
    size = graph_size(graph)
    before = torch.get_num_threads()
    if size is None or size >= SMALL_GRAPH or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class DeepDetector(BaseDetector):
    """Base of torch detectors. See the module docstring for the hooks.

    Args:
        epochs: training epochs (passes over all nodes).
        max_steps: at most this many optimiser steps in all (``None``: no limit).
            Full-batch training takes one step per epoch, so this bounds mini-batch
            training: a fixed budget of steps, whatever the size of the graph.
        lr, weight_decay: Adam settings.
        batch_size: seed nodes per training mini-batch; ``None`` = full-batch when the
            graph has at most 200k nodes and 4M edges, else 2048. Scoring does not
            depend on it (see the module docstring).
        num_neighbors: fan-out per hop for mini-batches (``-1`` = all).
        seed: makes CPU runs identical.
        device: ``"cpu"``, ``"cuda"``... (``None``: cuda when available).
        verbose: log the loss every 10 epochs.
        max_input_dim: wider inputs are PCA-reduced to this many columns.
        holdout: share of each node type's training nodes left out of the training
            losses and closed-form fits, to calibrate the fitted components for nodes
            the model has not seen (:mod:`graphad.scoring.holdout`): at least 5 nodes
            of a type, and none where that is more than a fifth of it. ``0``: none (a
            new graph's nodes are then judged against errors the model fitted).
        contamination, weights, rollup, normalize, combination, groups: see
            :class:`BaseDetector`.
    """

    def __init__(self, epochs: int = 50, lr: float = 5e-3, weight_decay: float = 0.0,
                 batch_size: Optional[int] = None, num_neighbors: Tuple[int, ...] = (10, 10),
                 seed: int = 0, device: Optional[str] = None, verbose: bool = False,
                 contamination: float = 0.1, weights=None, rollup: bool = True,
                 max_input_dim: int = 64, normalize: str = "surprisal",
                 combination: str = "hmp", max_steps: Optional[int] = MAX_STEPS,
                 groups: bool = False, holdout: float = 0.2):
        super().__init__(contamination=contamination, weights=weights, rollup=rollup,
                         normalize=normalize, combination=combination, groups=groups)
        self.max_input_dim = max_input_dim
        self.epochs = epochs
        self.max_steps = max_steps
        self.holdout = holdout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.num_neighbors = num_neighbors
        self.seed = seed
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _module_config(self, data: HeteroData, bundle: GraphBundle) -> Dict:
        """What the module needs beyond the hyper-parameters, as plain data, from the
        prepared training graph."""

    @abstractmethod
    def _module_from_config(self, config: Dict) -> nn.Module:
        """The torch module of a :meth:`_module_config`."""

    @abstractmethod
    def _batch_loss(self, module: nn.Module, batch: HeteroData,
                    generator: torch.Generator) -> Tensor:
        """Training loss of one (mini-)batch."""

    @abstractmethod
    def _batch_errors(self, module: nn.Module, batch: HeteroData
                      ) -> Tuple[Components, Dict[str, Dict[EdgeType, Tensor]]]:
        """Raw components of every node of ``batch`` and each family's errors of its
        edges."""

    # ------------------------------------------------------------------ the loop
    def _check_params(self) -> None:
        super()._check_params()
        if int(self.epochs) < 1:
            raise ValueError(f"{type(self).__name__}: epochs must be >= 1, got {self.epochs}")
        if int(self.max_input_dim) < 1:
            raise ValueError(f"{type(self).__name__}: max_input_dim must be >= 1, got "
                             f"{self.max_input_dim!r}")
        if self.max_steps is not None and (isinstance(self.max_steps, bool)
                                           or int(self.max_steps) < 1):
            raise ValueError(f"{type(self).__name__}: max_steps must be None or >= 1, "
                             f"got {self.max_steps!r}")
        h = self.holdout
        if isinstance(h, bool) or not isinstance(h, numbers.Real) or not 0.0 <= h < 0.5:
            raise ValueError(f"{type(self).__name__}: holdout must be a number in "
                             f"[0, 0.5), got {h!r}")
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ValueError(f"{type(self).__name__}: batch_size must be None or >= 1, "
                             f"got {self.batch_size}")

    def _prepare(self, bundle: GraphBundle, fit: bool) -> HeteroData:
        x = node_inputs(bundle.data, with_degree=True, with_edge_stats=True)
        if fit:
            self.raw_dims_ = {t: own_width(bundle.data, t) for t in x}
            data, self.node_stats_, self.edge_stats_ = prepare_inputs(
                bundle.data, x, max_dim=self.max_input_dim,
                own={t: own_width(bundle.data, t) for t in bundle.data.node_types},
                keep=edge_stat_widths(bundle.data),
                categories=category_columns(bundle, x),
                modality=dict(bundle.modality))
            self.in_dims_ = {t: data[t].x.size(1) for t in data.node_types}
            self.own_dims_ = {t: prepared_own_width(self.node_stats_[t], self.raw_dims_[t])
                              for t in data.node_types}
            self.metadata_ = data.metadata()
            return data
        if data_mismatch := self._schema_mismatch(bundle, x):
            raise GraphadError(f"{type(self).__name__}: graph does not match the "
                               f"training graph: {data_mismatch}")
        # the same own widths as at fit (checked above): the peer comparison reads the
        # own features only, not the degrees and edge aggregates after them
        # a model saved before the time column was left out of ``incident`` scores
        # with it, as it was fitted
        config = getattr(self, "module_config_", None) or {}
        data, _, _ = prepare_inputs(bundle.data, x, self.node_stats_, self.edge_stats_,
                                    max_dim=self.max_input_dim, own=dict(self.raw_dims_),
                                    time_attrs=bool(config.get(TIME_ATTRS_KEY, False)),
                                    time_evidence=not config.get(UNTIMED_EVIDENCE_KEY,
                                                                 False),
                                    derive_times=bool(config.get(DERIVED_TIMES_KEY,
                                                                 False)),
                                    modality=dict(bundle.modality))
        return data

    def _schema_mismatch(self, bundle: GraphBundle, x: Dict[NodeType, Tensor]) -> str:
        types, edges = self.metadata_
        if set(bundle.data.node_types) != set(types):
            return f"node types {sorted(bundle.data.node_types)}, expected {sorted(types)}"
        if set(bundle.data.edge_types) != set(edges):
            return f"relations {sorted(bundle.data.edge_types)}, expected {sorted(edges)}"
        for t in x:
            width = own_width(bundle.data, t)
            if width != self.raw_dims_[t]:
                return f"'{t}' has {width} input columns, expected {self.raw_dims_[t]}"
        for et in bundle.data.edge_types:
            store, stats = bundle.data[et], self.edge_stats_.get(edge_type_str(et))
            attr = store.edge_attr if "edge_attr" in store else None
            width = 0 if attr is None else (attr.size(1) if attr.dim() > 1 else 1)
            expected = stats[0].numel() if stats is not None else 0
            if width != expected:
                return (f"relation {et} has {width} edge attribute column(s), "
                        f"expected {expected}")
        return ""

    def _resolve_batch_size(self, data: HeteroData) -> Optional[int]:
        if self.batch_size is not None:
            return int(self.batch_size)
        return None if _fits_full_batch(data) else distributed.DEFAULT_BATCH_SIZE

    def _device(self) -> torch.device:
        if self.device is None:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise GraphadError(f"{type(self).__name__}: device must be a torch device "
                               f"such as 'cpu' or 'cuda:0', got {self.device!r}") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise GraphadError(f"{type(self).__name__}: device {self.device!r} asked for, "
                               "but CUDA is not available here (use device='cpu')")
        return device

    def _loaders(self, data: HeteroData, shuffle: bool, generator_seed: int,
                 batch_size: int, parallel: bool) -> List[Tuple[NodeType, Any]]:
        """``(seed type, neighbour loader)`` per node type, over this process's share of
        the seeds where ``parallel``."""
        from ..loader import make_neighbor_loader
        from ..loader.sampler import TorchNeighborSampler
        out = []
        share = None    # one in-edge index for every seed type's loader
        for i, t in enumerate(data.node_types):
            seeds = None
            if parallel:  # this process's share, drawn from one order all ranks share
                order = (torch.randperm(data[t].num_nodes, generator=torch.Generator()
                                        .manual_seed(generator_seed + i)) if shuffle
                         else torch.arange(data[t].num_nodes))
                seeds = distributed.seed_share(order)
                if seeds.numel() == 0:
                    continue
            loader = make_neighbor_loader(
                data, input_nodes=(t, seeds), num_neighbors=list(self.num_neighbors),
                batch_size=batch_size, shuffle=shuffle, seed=generator_seed + i,
                share=share)
            sampler = getattr(loader, "node_sampler", None)
            share = sampler if isinstance(sampler, TorchNeighborSampler) else None
            out.append((t, loader))
        return out

    def _batches(self, data: HeteroData, generator_seed: int, batch_size: Optional[int]
                 ) -> Iterator[Tuple[HeteroData, Optional[NodeType], int]]:
        """Scoring batches in order: ``(batch, seed type or None for full-batch, number
        of seeds)``."""
        if batch_size is None:
            yield data, None, 0
            return
        for t, loader in self._loaders(data, False, generator_seed, batch_size, False):
            for batch in loader:
                yield batch, t, batch[t].batch_size

    def _train_batches(self, data: HeteroData, generator_seed: int,
                       batch_size: Optional[int], parallel: bool, steps: int
                       ) -> Iterator[HeteroData]:
        """The first ``steps`` training batches of one epoch (the whole graph where
        ``batch_size`` is None): every node type's batches interleaved in a random
        order, so that an epoch cut short by ``max_steps`` still sees every type."""
        if batch_size is None:
            yield data
            return
        loaders = self._loaders(data, True, generator_seed, batch_size, parallel)
        counts = torch.tensor([len(loader) for _, loader in loaders], dtype=torch.long)
        which = torch.repeat_interleave(torch.arange(len(loaders)), counts)
        which = which[torch.randperm(which.numel(), generator=torch.Generator()
                                     .manual_seed(generator_seed))]
        iterators = [iter(loader) for _, loader in loaders]
        for k in which[:steps].tolist():
            yield next(iterators[k])

    def _step_plan(self, data: HeteroData, batch_size: Optional[int]) -> List[int]:
        """Optimiser steps of each epoch: ``epochs`` passes, cut at ``max_steps`` in
        all. The same on every process of a data-parallel run (counted on the largest
        share, so that ranks stay in step; a rank with fewer batches joins)."""
        if batch_size is None:
            per_epoch = 1
        else:
            world = distributed.rank_and_world()[1]
            per_epoch = sum(math.ceil(math.ceil(data[t].num_nodes / world) / batch_size)
                            for t in data.node_types if data[t].num_nodes)
        total = int(self.epochs) * max(per_epoch, 1)
        if self.max_steps is not None:
            total = min(total, int(self.max_steps))
        plan = []
        while total > 0:
            plan.append(min(per_epoch, total))
            total -= plan[-1]
        return plan

    def _fit(self, bundle: GraphBundle) -> None:
        device = self._device()
        # only the RNGs used here, forked and seeded (``torch.manual_seed`` would also
        # reseed every CUDA device for good, or lazily at CUDA's first use)
        cuda = [] if device.type != "cuda" else [
            torch.cuda.current_device() if device.index is None else device.index]
        with torch.random.fork_rng(devices=cuda):
            torch.random.default_generator.manual_seed(self.seed)
            for index in cuda:
                torch.cuda.default_generators[index].manual_seed(self.seed)
            gen = torch.Generator().manual_seed(self.seed)
            data = self._prepare(bundle, fit=True)
            self.holdout_ = held_out_nodes(
                {t: data[t].num_nodes for t in data.node_types}, float(self.holdout),
                self.seed)
            for t, mask in self.holdout_.items():    # read by the losses and fits
                data[t][HOLDOUT_KEY] = mask
            if hasattr(self, "_fit_memo"):   # fit scores this very graph next
                self._fit_memo.update(bundle=bundle, data=data)
            self.batch_size_ = self._resolve_batch_size(data)
            parallel = distributed.active()
            # data-parallel training shares out mini-batches of seed nodes (scoring
            # is decided per call, by _scoring_batch_size)
            train_batch = (self.batch_size_ or distributed.DEFAULT_BATCH_SIZE
                           if parallel else self.batch_size_)
            self.module_config_ = {**self._module_config(data, bundle), TIME_ATTRS_KEY: True,
                                   UNTIMED_EVIDENCE_KEY: True, DERIVED_TIMES_KEY: True}
            module = self._module_from_config(self.module_config_)
            if hasattr(module, "fit_closed_form"):
                module.fit_closed_form(data)
            with torch.no_grad():  # initialise lazy shapes before the optimiser sees them
                module.eval()
                first = next(self._train_batches(data, self.seed, train_batch, parallel, 1))
                self._batch_loss(module, first, gen)
            module.to(device)
            # one fused kernel for all parameters: on a small graph the per-tensor
            # Python loop of the default Adam is a fifth of a training step
            opt = torch.optim.Adam(module.parameters(), lr=self.lr,
                                   weight_decay=self.weight_decay,
                                   fused=device.type in ("cpu", "cuda"))
            step = (distributed.data_parallel(module, self._batch_loss, device)
                    if parallel else
                    lambda batch, g: self._batch_loss(module, batch, g))
            self.loss_history_: List[float] = []
            self.train_steps_ = 0
            module.train()
            for epoch, steps in enumerate(self._step_plan(data, train_batch)):
                total, count = 0.0, 0
                # DDP's join: a process whose share ran out shadows the others' steps
                with step.join() if parallel else contextlib.nullcontext():
                    for batch in self._train_batches(data, self.seed + 7919 * epoch,
                                                     train_batch, parallel, steps):
                        opt.zero_grad()
                        loss = step(batch.to(device), gen)
                        loss.backward()
                        opt.step()
                        total, count = total + loss.item(), count + 1
                self.train_steps_ += count
                self.loss_history_.append(
                    distributed.mean_over_processes(total / max(count, 1)))
                if self.verbose and epoch % 10 == 0:
                    log.info("epoch %d loss %.4f", epoch, self.loss_history_[-1])
            module.eval()
            self.module_ = module.cpu()
            for t in self.holdout_:
                del data[t][HOLDOUT_KEY]

    def _scoring_batch_size(self, data: HeteroData) -> Optional[int]:
        """None (the whole graph at once) where the module passes messages in slices
        or the graph fits full-batch; else mini-batches of the default size."""
        if getattr(self.module_, "chunked_inference", False) or _fits_full_batch(data):
            return None
        return distributed.DEFAULT_BATCH_SIZE

    def fit(self, graph: Any, labels: Any = None) -> "DeepDetector":
        """See :meth:`BaseDetector.fit`. The training graph is prepared once and scored
        once: node and edge components come from the same pass."""
        self._fit_memo: Dict[str, Any] = {}     # bundle, prepared data, errors
        try:
            with one_thread_if_small(graph):
                return super().fit(graph, labels)
        finally:
            del self._fit_memo

    def _run_errors(self, bundle: GraphBundle
                    ) -> Tuple[Components, Optional[Dict[str, Dict[EdgeType, Tensor]]]]:
        """Raw node components and each family's edge errors (None where the graph was
        scored in mini-batches, which do not cover every edge); during ``fit``, once
        per graph."""
        memo = getattr(self, "_fit_memo", None)
        if memo is None or memo.get("bundle") is not bundle:
            return self._score_errors(bundle)
        if "errors" not in memo:
            data = memo.get("data") if memo.get("keep") else memo.pop("data", None)
            memo["errors"] = self._score_errors(bundle, data)
        return memo["errors"]

    @contextlib.contextmanager
    def scoring_once(self, graph: Any) -> Iterator[GraphBundle]:
        """Within the block, ``graph`` is prepared and scored once: components, scores,
        edge scores and explanation details of that graph (as :func:`~graphad.explain`,
        :func:`~graphad.find_suspicious_subgraphs` and the CLI ask for them) share one
        pass. Yields the graph as a bundle; pass that bundle on."""
        bundle = as_bundle(graph)
        if getattr(self, "_fit_memo", None) is not None:      # nested, or inside fit
            yield bundle
            return
        self._fit_memo = {"bundle": bundle, "keep": True}
        try:
            yield bundle
        finally:
            del self._fit_memo

    def _scoring_memo(self, bundle: GraphBundle) -> Optional[Dict[str, Any]]:
        memo = getattr(self, "_fit_memo", None)
        return memo if memo is not None and memo.get("bundle") is bundle else None

    def _prepared(self, bundle: GraphBundle) -> HeteroData:
        """``bundle`` prepared for scoring; once per :meth:`scoring_once` block."""
        memo = getattr(self, "_fit_memo", None)
        if memo is None or memo.get("bundle") is not bundle:
            return self._prepare(bundle, fit=False)
        if "data" not in memo:
            memo["data"] = self._prepare(bundle, fit=False)
        return memo["data"]

    def _score_errors(self, bundle: GraphBundle, data: Optional[HeteroData] = None
                      ) -> Tuple[Components, Optional[Dict[str, Dict[EdgeType, Tensor]]]]:
        """``data``: ``bundle`` already prepared (the training graph during ``fit``)."""
        with one_thread_if_small(bundle):
            return self._errors_of(bundle, data)

    def _errors_of(self, bundle: GraphBundle, data: Optional[HeteroData] = None
                   ) -> Tuple[Components, Optional[Dict[str, Dict[EdgeType, Tensor]]]]:
        """:meth:`_score_errors` on the current torch threads."""
        if data is None:
            data = self._prepared(bundle)
        module = self.module_
        batch_size = self._scoring_batch_size(data)
        if batch_size is None:
            with torch.no_grad():
                return self._batch_errors(module, data)
        out: Components = {}
        for batch, t, n_seed in self._batches(data, self.seed, batch_size):
            with torch.no_grad():
                comps, _ = self._batch_errors(module, batch)
            seeds = batch[t].n_id[:n_seed]
            target = out.setdefault(t, {})
            for name, v in comps[t].items():
                if name not in target:
                    target[name] = torch.full((data[t].num_nodes,), float("nan"))
                target[name][seeds] = v[:n_seed]
        return out, None

    def _components(self, bundle: GraphBundle) -> Components:
        return self._run_errors(bundle)[0]

    def _edge_components(self, bundle: GraphBundle) -> Dict[EdgeType, Dict[str, Tensor]]:
        by_family = self._run_errors(bundle)[1]
        if by_family is None:
            raise GraphadError("edge scores are computed on the whole graph at once; this "
                               f"graph is too large for {type(self).__name__}(conv="
                               f"{getattr(self, 'conv', '?')!r}) to score that way "
                               "(conv='sage' or 'gatv2' scores any size in slices)")
        out: Dict[EdgeType, Dict[str, Tensor]] = {}
        for family, per_relation in by_family.items():
            for et, err in per_relation.items():
                out.setdefault(et, {})[family] = err
        return out

    def component_details(self, graph, node_type: NodeType) -> Dict[str, list]:
        """Each component family's explanation details for ``node_type`` (e.g. the
        per-pair errors behind ``cross_modal``), from the fitted module."""
        from ..data.bundle import as_bundle
        module = getattr(self, "module_", None)
        if module is None or not hasattr(module, "details"):
            return {}
        data = self._prepared(as_bundle(graph))
        with torch.no_grad():
            return module.details(data, node_type)


def _fits_full_batch(data: HeteroData) -> bool:
    """At most :data:`FULL_BATCH_MAX_NODES` nodes and :data:`FULL_BATCH_MAX_EDGES` edges."""
    n, m = node_edge_counts(data)
    return n <= FULL_BATCH_MAX_NODES and m <= FULL_BATCH_MAX_EDGES
