"""Neighbour sampling in pure PyTorch, for when neither pyg-lib nor torch-sparse is there.

PyG's :class:`~torch_geometric.loader.NeighborLoader` delegates sampling to compiled
kernels of ``pyg-lib`` or ``torch-sparse``. :class:`TorchNeighborSampler` implements the
same :class:`~torch_geometric.sampler.BaseSampler` contract with vectorised torch ops, so
that :class:`~torch_geometric.loader.NodeLoader` (and ``LinkLoader``) give the same
mini-batches as ``NeighborLoader`` would::

    sampler = TorchNeighborSampler(data, num_neighbors=[10, 5], seed=0)
    loader = NodeLoader(data, node_sampler=sampler, input_nodes=("user", None),
                        batch_size=1024)
    for batch in loader:           # HeteroData
        n = batch["user"].batch_size   # the seeds are the first n "user" rows

:func:`make_neighbor_loader` picks PyG's loader when its kernels are installed and this
sampler otherwise.

Output conventions (those of PyG's ``NeighborSampler``, non-disjoint):
    * ``node[t]``: global ids of the sampled nodes of type ``t``; the seeds come first, in
      input order (duplicates kept), then the nodes first reached at hop 1, hop 2, ...
    * ``row[et]`` / ``col[et]``: local indices into ``node[src]`` / ``node[dst]`` of each
      sampled edge ``src -> dst`` of ``et = (src, rel, dst)``; edges are grouped by hop
      and, within a hop, by destination (so ``col`` is non-decreasing).
    * ``edge[et]``: positions of those edges in the original ``edge_index`` (the
      ``edge_permutation`` is ``None``), so ``e_id`` and every edge attribute line up.
    * ``num_sampled_nodes[t]``: ``num_hops + 1`` counts; ``num_sampled_edges[et]``:
      ``num_hops`` counts (``None`` for induced subgraphs); ``batch`` is ``None``.

Sampling runs backwards along edges: a frontier node of type ``dst`` draws up to ``k``
of its in-neighbours through every edge type ``(src, rel, dst)``. Without replacement
each node keeps ``min(k, in-degree)`` distinct edges, drawn uniformly (Floyd's
algorithm, vectorised over the frontier); ``k = -1`` keeps them all.

Cost: building the CSC is one sort of each edge type, O(E log E) time, O(N + E) memory.
A batch costs O(B * prod(k)) time and memory (B seeds, fan-outs k), whatever the
degrees, except ``k = -1`` and induced subgraphs, which read every in-edge of the nodes
they expand.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data import Data, HeteroData
from torch_geometric.sampler import (BaseSampler, EdgeSamplerInput, HeteroSamplerOutput,
                                     NegativeSampling, NodeSamplerInput, SamplerOutput)
from torch_geometric.sampler.base import NumNeighbors

from ..typing import EdgeType, NodeType

__all__ = ["TorchNeighborSampler", "make_neighbor_loader", "has_compiled_sampler"]

NumNeighborsArg = Union[List[int], Dict[EdgeType, List[int]]]

# Homogeneous graphs go through the heterogeneous code path under these keys.
_NODE: NodeType = "_"
_EDGE: EdgeType = ("_", "_", "_")


class _CSC:
    """In-edges of one edge type grouped by destination: ``ptr``, ``src``, ``eid``."""

    def __init__(self, edge_index: Tensor, num_dst: int):
        edge_index = edge_index.detach().to("cpu", torch.long)
        dst = edge_index[1]
        if dst.numel() and (int(dst.min()) < 0 or int(dst.max()) >= num_dst):
            raise ValueError(f"'{type(self).__name__}' got destination ids outside "
                             f"[0, {num_dst})")
        dst, perm = torch.sort(dst, stable=True)
        self.src = edge_index[0, perm].contiguous()
        self.eid = perm
        self.ptr = torch.zeros(num_dst + 1, dtype=torch.long)
        torch.cumsum(torch.bincount(dst, minlength=num_dst), 0, out=self.ptr[1:])


class _NodeSet:
    """The sampled nodes of one type: global ids in local order, and their lookup.

    ``insert(ids)`` returns the local index of every id, appending the ids not seen yet
    in order of first occurrence. The lookup is a sorted copy (``searchsorted``), so it
    costs O(sampled) memory and never O(num_nodes).
    """

    def __init__(self, seeds: Tensor):
        self.chunks: List[Tensor] = [seeds]
        self.count = seeds.numel()
        uniq, inv = torch.unique(seeds, return_inverse=True)
        first = torch.full((uniq.numel(),), self.count, dtype=torch.long)
        first.scatter_reduce_(0, inv, torch.arange(self.count), "amin")
        self._keys, self._vals = uniq, first    # sorted global id -> first local id
        self._pending: List[Tuple[Tensor, Tensor]] = []

    def _lookup_table(self) -> Tuple[Tensor, Tensor]:
        if self._pending:
            keys = torch.cat([self._keys] + [k for k, _ in self._pending])
            vals = torch.cat([self._vals] + [v for _, v in self._pending])
            keys, order = torch.sort(keys)
            self._keys, self._vals, self._pending = keys, vals[order], []
        return self._keys, self._vals

    def locate(self, ids: Tensor) -> Tuple[Tensor, Tensor]:
        """``(found, local)``: which ids are already sampled, and their local index."""
        keys, vals = self._lookup_table()
        if keys.numel() == 0:
            return torch.zeros_like(ids, dtype=torch.bool), torch.zeros_like(ids)
        pos = torch.searchsorted(keys, ids).clamp_(max=keys.numel() - 1)
        return keys[pos] == ids, vals[pos]

    def insert(self, ids: Tensor) -> Tensor:
        found, local = self.locate(ids)
        missing = (~found).nonzero().view(-1)
        if missing.numel():
            new = ids[missing]
            uniq, inv = torch.unique(new, return_inverse=True)
            first = torch.full((uniq.numel(),), new.numel(), dtype=torch.long)
            first.scatter_reduce_(0, inv, torch.arange(new.numel()), "amin")
            rank = torch.empty_like(first)
            order = torch.argsort(first)
            rank[order] = torch.arange(uniq.numel())
            new_local = self.count + rank
            local[missing] = new_local[inv]
            self.chunks.append(uniq[order])
            self._pending.append((uniq, new_local))
            self.count += uniq.numel()
        return local

    def nodes(self) -> Tensor:
        return torch.cat(self.chunks) if len(self.chunks) > 1 else self.chunks[0]


def _sample_in_edges(csc: _CSC, dst: Tensor, k: int, replace: bool,
                     generator: torch.Generator) -> Tuple[Tensor, Tensor]:
    """Draws up to ``k`` in-edges of every node in ``dst`` (global ids).

    Returns ``(seg, pos)``: for each sampled edge, the index into ``dst`` of its
    destination and its position in the CSC; grouped by ``seg`` in increasing order.
    """
    start = csc.ptr[dst]
    deg = csc.ptr[dst + 1] - start
    if k < 0 or not replace:
        count = deg if k < 0 else deg.clamp(max=k)
        total = int(count.sum())
        seg = torch.repeat_interleave(torch.arange(dst.numel()), count, output_size=total)
        offset = torch.cumsum(count, 0) - count        # first output slot of each node
        slot = torch.arange(total) - offset[seg]       # rank of the edge in its node
        if k < 0:
            return seg, start[seg] + slot
        pos = start[seg] + slot                         # deg <= k: keep every edge
        big = (deg > k).nonzero().view(-1)
        if big.numel():                                 # deg > k: Floyd's k-subset
            n = deg[big]
            u = torch.rand(big.numel(), k, dtype=torch.float64, generator=generator)
            picked = torch.empty(big.numel(), k, dtype=torch.long)
            for step in range(k):                       # loop over slots, not nodes
                j = n - k + step
                t = torch.minimum((u[:, step] * (j + 1)).long(), j)
                if step:
                    seen = (picked[:, :step] == t.unsqueeze(1)).any(1)
                    t = torch.where(seen, j, t)
                picked[:, step] = t
            out = (offset[big].unsqueeze(1) + torch.arange(k)).view(-1)
            pos[out] = (start[big].unsqueeze(1) + picked).view(-1)
        return seg, pos
    # With replacement: exactly k draws for every node with at least one in-edge.
    has = (deg > 0).nonzero().view(-1)
    u = torch.rand(has.numel(), k, dtype=torch.float64, generator=generator)
    d = deg[has].unsqueeze(1)
    off = torch.minimum((u * d).long(), d - 1)
    return has.repeat_interleave(k), (start[has].unsqueeze(1) + off).view(-1)


def _generator(seed: Optional[int]) -> torch.Generator:
    """A generator seeded with ``seed``, or from the OS where it is None."""
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


def _cat(chunks: List[Tensor]) -> Tensor:
    return torch.cat(chunks) if chunks else torch.empty(0, dtype=torch.long)


class TorchNeighborSampler(BaseSampler):
    r"""Neighbour sampler in pure PyTorch with the contract of PyG's ``NeighborSampler``.

    Use it with :class:`~torch_geometric.loader.NodeLoader` (node batches) or
    :class:`~torch_geometric.loader.LinkLoader` (edge batches). Sampling is
    non-disjoint and not temporal.

    Args:
        data (HeteroData or Data): The graph; only ``edge_index`` and the node counts
            are read here (the loader slices the features).
        num_neighbors (List[int] or Dict[EdgeType, List[int]]): Neighbours to draw per
            node, per hop, for each edge type (``-1``: all of them). One list serves
            every edge type; a dict may leave out none of them.
        replace (bool): Draw with replacement (exactly ``k`` per node with in-edges).
            (default: :obj:`False`)
        directed (bool): If :obj:`False`, return the subgraph induced by the sampled
            nodes (every edge between them) instead of the sampled edges only.
            (default: :obj:`True`)
        seed (int, optional): Seed of the sampler's own :class:`torch.Generator`; the
            global RNG is never touched. In a loader worker the generator is re-seeded
            from ``torch.utils.data.get_worker_info().seed``, which is reproducible when
            the loader has a seeded ``generator``. (default: :obj:`None`, random)

    Shapes:
        - **input:** ``NodeSamplerInput`` with ``node`` of shape ``[B]``.
        - **output:** ``HeteroSamplerOutput`` (``SamplerOutput`` for ``Data``) with at
          most ``B * (1 + k1 + k1 * k2 + ...)`` nodes per type.
    """

    def __init__(self, data: Union[HeteroData, Data], num_neighbors: NumNeighborsArg,
                 replace: bool = False, directed: bool = True, seed: Optional[int] = None):
        self.replace = replace
        self.directed = directed
        self.seed = seed
        if isinstance(data, HeteroData):
            self.is_hetero = True
            self.node_types, self.edge_types = data.metadata()
            self.num_nodes: Union[int, Dict[NodeType, int]] = {
                t: int(data[t].num_nodes or 0) for t in self.node_types}
            num_nodes = self.num_nodes
            edge_index = {et: data[et].edge_index for et in self.edge_types}
        elif isinstance(data, Data):
            self.is_hetero = False
            self.node_types, self.edge_types = [_NODE], [_EDGE]
            self.num_nodes = int(data.num_nodes or 0)
            num_nodes = {_NODE: self.num_nodes}
            edge_index = {_EDGE: data.edge_index}
        else:
            raise TypeError(f"'{type(self).__name__}' expects HeteroData or Data "
                            f"(got '{type(data).__name__}')")
        for et, ei in edge_index.items():
            if ei is None:
                raise ValueError(f"'{type(self).__name__}' needs 'edge_index' for edge "
                                 f"type {et}")
        self.fanout = self._resolve_fanout(num_neighbors)
        self.num_hops = len(next(iter(self.fanout.values()), []))
        self._csc = {et: _CSC(edge_index[et], num_nodes[et[2]]) for et in self.edge_types}
        self._generator = _generator(seed)
        self._worker_seed: Optional[int] = None

    def _resolve_fanout(self, num_neighbors: NumNeighborsArg) -> Dict[EdgeType, List[int]]:
        if isinstance(num_neighbors, NumNeighbors):
            num_neighbors = num_neighbors.values
        if not self.is_hetero:
            if isinstance(num_neighbors, dict):
                raise ValueError(f"'{type(self).__name__}' takes a list of fan-outs for "
                                 f"a homogeneous graph (got {num_neighbors!r})")
            fanout = {_EDGE: list(num_neighbors)}
        else:
            fanout = NumNeighbors(num_neighbors).get_values(self.edge_types)
            fanout = {et: list(fanout[et]) for et in self.edge_types}
        for et, ks in fanout.items():
            if any(not isinstance(k, int) or k < -1 for k in ks):
                raise ValueError(f"'{type(self).__name__}' fan-outs must be ints >= -1 "
                                 f"(got {ks!r} for {et})")
        if len({len(ks) for ks in fanout.values()}) > 1:
            raise ValueError(f"'{type(self).__name__}' needs the same number of hops for "
                             f"every edge type (got {fanout!r})")
        return fanout

    def with_seed(self, seed: Optional[int]) -> "TorchNeighborSampler":
        """A sampler over the same graph and fan-outs with its own generator, sharing
        this one's in-edge index (no second copy of the graph's edges: one loader per
        seed type then costs one index, not one each)."""
        other = copy.copy(self)
        other.seed, other._generator, other._worker_seed = seed, _generator(seed), None
        return other

    @property
    def generator(self) -> torch.Generator:
        """The generator used for the next batch (re-seeded once per loader worker)."""
        info = torch.utils.data.get_worker_info()
        if info is not None and info.seed != self._worker_seed:
            self._generator = torch.Generator().manual_seed(info.seed)
            self._worker_seed = info.seed
        return self._generator

    # BaseSampler interface ##################################################

    def sample_from_nodes(self, inputs: NodeSamplerInput,
                          **kwargs: Any) -> Union[HeteroSamplerOutput, SamplerOutput]:
        if inputs.time is not None:
            raise ValueError(f"'{type(self).__name__}' does not do temporal sampling "
                             f"(got seed times)")
        if self.is_hetero:
            if inputs.input_type is None:
                raise ValueError(f"'{type(self).__name__}' needs the node type of the "
                                 f"seeds on a heterogeneous graph")
            seed = {inputs.input_type: inputs.node}
        else:
            seed = inputs.node
        out = self._sample(seed)
        out.metadata = (inputs.input_id, inputs.time)
        return out

    def sample_from_edges(self, inputs: EdgeSamplerInput,
                          neg_sampling: Optional[NegativeSampling] = None,
                          ) -> Union[HeteroSamplerOutput, SamplerOutput]:
        """Samples around both end points of a batch of edges (PyG's ``edge_sample``).

        Negative edges, if asked for, are drawn by PyG with the global RNG.
        """
        from torch_geometric.sampler.neighbor_sampler import edge_sample
        if inputs.time is not None:
            raise ValueError(f"'{type(self).__name__}' does not do temporal sampling "
                             f"(got edge times)")
        return edge_sample(inputs, self._sample, self.num_nodes, False, None,
                           neg_sampling)

    # Sampling ###############################################################

    def _sample(self, seed: Union[Tensor, Dict[NodeType, Tensor]],
                seed_time: Any = None, **kwargs: Any,
                ) -> Union[HeteroSamplerOutput, SamplerOutput]:
        if seed_time is not None:
            raise ValueError(f"'{type(self).__name__}' does not do temporal sampling")
        seeds = seed if isinstance(seed, dict) else {_NODE: seed}
        seeds = {t: s.to("cpu", torch.long).view(-1) for t, s in seeds.items()}
        for t, s in seeds.items():
            if t not in self.node_types:
                raise ValueError(f"'{type(self).__name__}' got seeds of unknown node "
                                 f"type '{t}' (known: {self.node_types})")
            n = self.num_nodes[t] if self.is_hetero else self.num_nodes
            if s.numel() and (int(s.min()) < 0 or int(s.max()) >= n):
                raise ValueError(f"'{type(self).__name__}' got seed ids of '{t}' "
                                 f"outside [0, {n})")
        gen = self.generator
        empty = torch.empty(0, dtype=torch.long)
        sets = {t: _NodeSet(seeds.get(t, empty)) for t in self.node_types}
        num_nodes = {t: [sets[t].count] for t in self.node_types}
        rows: Dict[EdgeType, List[Tensor]] = {et: [] for et in self.edge_types}
        cols: Dict[EdgeType, List[Tensor]] = {et: [] for et in self.edge_types}
        eids: Dict[EdgeType, List[Tensor]] = {et: [] for et in self.edge_types}
        num_edges: Dict[EdgeType, List[int]] = {et: [] for et in self.edge_types}
        begin = {t: 0 for t in self.node_types}   # frontier = local [begin, end)

        for hop in range(self.num_hops):
            end = {t: sets[t].count for t in self.node_types}
            frontier = {t: sets[t].nodes()[begin[t]:end[t]] for t in self.node_types}
            for et in self.edge_types:
                k = self.fanout[et][hop]
                src_type, _, dst_type = et
                dst = frontier[dst_type]
                if k == 0 or dst.numel() == 0:
                    num_edges[et].append(0)
                    continue
                csc = self._csc[et]
                seg, pos = _sample_in_edges(csc, dst, k, self.replace, gen)
                if self.directed:
                    rows[et].append(sets[src_type].insert(csc.src[pos]))
                    cols[et].append(seg + begin[dst_type])
                    eids[et].append(csc.eid[pos])
                else:
                    sets[src_type].insert(csc.src[pos])
                num_edges[et].append(int(seg.numel()))
            for t in self.node_types:
                num_nodes[t].append(sets[t].count - end[t])
            begin = end

        node = {t: sets[t].nodes() for t in self.node_types}
        if self.directed:
            row = {et: _cat(rows[et]) for et in self.edge_types}
            col = {et: _cat(cols[et]) for et in self.edge_types}
            edge = {et: _cat(eids[et]) for et in self.edge_types}
            sampled_edges: Optional[Dict[EdgeType, List[int]]] = num_edges
        else:
            row, col, edge = self._induced(sets, node)
            sampled_edges = None

        if not self.is_hetero:
            return SamplerOutput(
                node=node[_NODE], row=row[_EDGE], col=col[_EDGE], edge=edge[_EDGE],
                batch=None, num_sampled_nodes=num_nodes[_NODE],
                num_sampled_edges=None if sampled_edges is None else sampled_edges[_EDGE])
        return HeteroSamplerOutput(node=node, row=row, col=col, edge=edge, batch=None,
                                   num_sampled_nodes=num_nodes,
                                   num_sampled_edges=sampled_edges)

    def _induced(self, sets: Dict[NodeType, _NodeSet], node: Dict[NodeType, Tensor]):
        """Every edge whose two end points were sampled (``directed=False``)."""
        row, col, edge = {}, {}, {}
        for et in self.edge_types:
            src_type, _, dst_type = et
            csc = self._csc[et]
            seg, pos = _sample_in_edges(csc, node[dst_type], -1, False, self._generator)
            found, local = sets[src_type].locate(csc.src[pos])
            row[et], col[et], edge[et] = local[found], seg[found], csc.eid[pos[found]]
        return row, col, edge

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_neighbors={self.fanout}, "
                f"replace={self.replace}, directed={self.directed}, seed={self.seed})")


def has_compiled_sampler() -> bool:
    """Whether PyG's own ``NeighborLoader`` can sample (pyg-lib or torch-sparse)."""
    import torch_geometric.typing as pyg_typing
    return bool(pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE)


def make_neighbor_loader(data: Union[HeteroData, Data], input_nodes: Any,
                         num_neighbors: NumNeighborsArg, batch_size: int,
                         shuffle: bool = False, seed: Optional[int] = None,
                         backend: str = "auto",
                         share: Optional[TorchNeighborSampler] = None, **kwargs: Any):
    """A neighbour loader over ``data``: PyG's when it can sample, ours otherwise.

    Args:
        data (HeteroData or Data): The graph.
        input_nodes: Seeds, as for ``NeighborLoader``: ``("user", idx_or_mask_or_None)``
            or a node type on ``HeteroData``; an index, mask or ``None`` on ``Data``.
        num_neighbors (List[int] or Dict[EdgeType, List[int]]): Fan-out per hop.
        batch_size (int): Seeds per mini-batch.
        shuffle (bool): Shuffle the seeds every epoch. (default: :obj:`False`)
        seed (int, optional): Seeds the loader's shuffling / worker seeds and, with the
            torch backend, the sampler; the global RNG is never touched. pyg-lib and
            torch-sparse draw neighbours from the global RNG, so with them only the
            order of the seeds is reproducible. (default: :obj:`None`)
        backend (str): ``"auto"`` (PyG when pyg-lib or torch-sparse is installed),
            ``"torch"`` (always :class:`TorchNeighborSampler`) or ``"pyg"``.
        share (TorchNeighborSampler, optional): the sampler of another loader over
            the same ``data`` (``loader.node_sampler``), whose in-edge index this
            loader reuses (:meth:`TorchNeighborSampler.with_seed`); ignored where
            PyG's ``NeighborLoader`` samples. (default: :obj:`None`)
        **kwargs: ``replace``, ``directed`` and any ``torch.utils.data.DataLoader`` or
            ``NodeLoader`` argument (``num_workers``, ``transform``, ``drop_last``...).

    Returns:
        A ``NeighborLoader`` or a ``NodeLoader``; both yield ``HeteroData`` (``Data``)
        batches whose seed type has ``batch_size``, ``n_id``, ``input_id`` and whose
        edge types have ``e_id`` and the sliced edge attributes.

    Example:
        >>> loader = make_neighbor_loader(data, ("user", None), [10, 5], 1024, seed=0)
        >>> for batch in loader:
        ...     out = model(batch.x_dict, batch.edge_index_dict)
        ...     seeds = out["user"][:batch["user"].batch_size]
    """
    if backend not in ("auto", "torch", "pyg"):
        raise ValueError(f"make_neighbor_loader: backend must be 'auto', 'torch' or "
                         f"'pyg' (got {backend!r})")
    if seed is not None and kwargs.get("generator") is None:
        kwargs["generator"] = torch.Generator().manual_seed(seed)
    replace = kwargs.pop("replace", False)
    directed = kwargs.pop("directed", True)
    use_pyg = backend == "pyg" or (backend == "auto" and has_compiled_sampler())
    if use_pyg:
        from torch_geometric.loader import NeighborLoader
        return NeighborLoader(data, num_neighbors=num_neighbors, input_nodes=input_nodes,
                              replace=replace, directed=directed, batch_size=batch_size,
                              shuffle=shuffle, **kwargs)
    from torch_geometric.loader import NodeLoader
    if share is not None:
        if (share.fanout != share._resolve_fanout(num_neighbors)
                or (share.replace, share.directed) != (replace, directed)):
            raise ValueError("make_neighbor_loader: share= is a sampler of other "
                             "fan-outs or options than the ones asked for")
        sampler = share.with_seed(seed)
    else:
        sampler = TorchNeighborSampler(data, num_neighbors, replace=replace,
                                       directed=directed, seed=seed)
    return NodeLoader(data, node_sampler=sampler, input_nodes=input_nodes,
                      batch_size=batch_size, shuffle=shuffle, **kwargs)
