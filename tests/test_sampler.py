"""Tests of the pure-torch neighbour sampler (graphad.loader.sampler)."""
from __future__ import annotations

from itertools import accumulate
from typing import Dict, List

import pytest
import torch
from torch_geometric.data import Data, HeteroData
from torch_geometric.loader import LinkLoader, NodeLoader
from torch_geometric.sampler import NodeSamplerInput

import torch_geometric.typing as pyg_typing
from graphad.loader import TorchNeighborSampler, has_compiled_sampler, make_neighbor_loader

USES = ("user", "uses", "device")
PAYS = ("user", "pays", "merchant")
FOLLOWS = ("user", "follows", "user")


def _add_reverse(data: HeteroData) -> HeteroData:
    for (src, rel, dst) in list(data.edge_types):
        store = data[src, rel, dst]
        rev = data[dst, "rev_" + rel, src]
        rev.edge_index = store.edge_index.flip(0)
        rev.edge_attr = -store.edge_attr
    return data


def hand_graph() -> HeteroData:
    """5 users, 3 devices, 3 merchants; user 4 has no edges, merchant 2 none either."""
    data = HeteroData()
    data["user"].x = torch.arange(5, dtype=torch.float).view(-1, 1)
    data["device"].x = 10 + torch.arange(3, dtype=torch.float).view(-1, 1)
    data["merchant"].x = 20 + torch.arange(3, dtype=torch.float).view(-1, 1)
    data[USES].edge_index = torch.tensor([[0, 0, 1, 2, 3, 3, 1],
                                          [0, 1, 1, 1, 2, 0, 0]])
    data[USES].edge_attr = torch.arange(7, dtype=torch.float).view(-1, 1) + 0.5
    data[PAYS].edge_index = torch.tensor([[0, 1, 1, 2, 3, 0],
                                          [0, 0, 1, 1, 1, 0]])   # (0, 0) twice
    data[PAYS].edge_attr = torch.arange(6, dtype=torch.float).view(-1, 1) + 100.5
    return _add_reverse(data)


def random_graph(seed: int = 0, users: int = 300, devices: int = 120,
                 merchants: int = 60, edges: int = 1500) -> HeteroData:
    g = torch.Generator().manual_seed(seed)
    data = HeteroData()
    for t, n in (("user", users), ("device", devices), ("merchant", merchants)):
        data[t].x = torch.randn(n, 3, generator=g)
    for et, (ns, nd) in ((USES, (users, devices)), (PAYS, (users, merchants)),
                         (FOLLOWS, (users, users))):
        # A skewed destination distribution gives both hubs and isolated nodes.
        dst = (torch.rand(edges, generator=g) ** 2 * nd).long()
        data[et].edge_index = torch.stack([torch.randint(0, ns, (edges,), generator=g), dst])
        data[et].edge_attr = torch.randn(edges, 2, generator=g)
    return _add_reverse(data)


def in_degree(data: HeteroData, et) -> torch.Tensor:
    return torch.bincount(data[et].edge_index[1], minlength=data[et[2]].num_nodes)


def check_batch(data: HeteroData, batch: HeteroData, seeds: torch.Tensor, input_type: str,
                fanout: Dict[tuple, List[int]], replace: bool = False) -> None:
    """Every invariant a NeighborLoader mini-batch satisfies."""
    bs = batch[input_type].batch_size
    assert bs == seeds.numel()
    assert torch.equal(batch[input_type].n_id[:bs], seeds)
    for t in data.node_types:
        n_id = batch[t].n_id
        assert torch.equal(batch[t].x, data[t].x[n_id])
        assert n_id.unique().numel() == n_id.numel()   # seeds are distinct here
        assert sum(batch[t].num_sampled_nodes) == n_id.numel()
    for et in data.edge_types:
        src_t, _, dst_t = et
        ei, e_id = batch[et].edge_index, batch[et].e_id
        # Every sampled edge exists, with its attributes, in the original graph.
        assert torch.equal(batch[src_t].n_id[ei[0]], data[et].edge_index[0, e_id])
        assert torch.equal(batch[dst_t].n_id[ei[1]], data[et].edge_index[1, e_id])
        assert torch.equal(batch[et].edge_attr, data[et].edge_attr[e_id])
        # Fan-out per node, per hop.
        deg = in_degree(data, et)
        node_cut = [0] + list(accumulate(batch[dst_t].num_sampled_nodes))
        edge_cut = [0] + list(accumulate(batch[et].num_sampled_edges))
        assert edge_cut[-1] == ei.size(1)
        for hop, k in enumerate(fanout[et]):
            lo, hi = node_cut[hop], node_cut[hop + 1]
            col = ei[1, edge_cut[hop]:edge_cut[hop + 1]]
            assert bool(((col >= lo) & (col < hi)).all())
            assert bool((col[1:] >= col[:-1]).all())      # grouped by destination
            got = torch.bincount(col - lo, minlength=hi - lo)
            d = deg[batch[dst_t].n_id[lo:hi]]
            if k < 0:
                want = d
            elif replace:
                want = torch.where(d > 0, torch.full_like(d, k), 0)
            else:
                want = d.clamp(max=k)
            assert torch.equal(got, want), (et, hop)
            if not replace:  # no edge twice for the same destination
                ids = e_id[edge_cut[hop]:edge_cut[hop + 1]]
                assert ids.unique().numel() == ids.numel()
    # Every node past the seeds was reached through an edge of the previous hop.
    for t in data.node_types:
        reached = torch.zeros(batch[t].num_nodes, dtype=torch.bool)
        for et in data.edge_types:
            if et[0] == t:
                reached[batch[et].edge_index[0]] = True
        first = bs if t == input_type else 0
        assert bool(reached[first:].all())


def loader(data, fanout, input_nodes=("user", None), batch_size=4, **kw):
    sampler_kw = {k: kw.pop(k) for k in ("replace", "directed", "seed") if k in kw}
    sampler = TorchNeighborSampler(data, fanout, **sampler_kw)
    return NodeLoader(data, node_sampler=sampler, input_nodes=input_nodes,
                      batch_size=batch_size, **kw)


def as_dict(data, fanout):
    return {et: fanout for et in data.edge_types} if isinstance(fanout, list) else fanout


@pytest.mark.parametrize("fanout", [[2, 1], [1, 1, 1], [-1, 2]])
@pytest.mark.parametrize("replace", [False, True])
def test_hand_graph_batches(fanout, replace):
    data = hand_graph()
    for batch in loader(data, fanout, batch_size=2, replace=replace, seed=1):
        seeds = batch["user"].input_id
        check_batch(data, batch, seeds, "user", as_dict(data, fanout), replace)


def test_hand_graph_exact_neighbourhood():
    data = hand_graph()
    batch = next(iter(loader(data, [-1], input_nodes=("device", None), batch_size=3)))
    et = ("user", "uses", "device")
    assert sorted(batch[et].e_id.tolist()) == list(range(7))
    rev = ("device", "rev_uses", "user")
    assert batch[rev].edge_index.size(1) == 0      # one hop: only in-edges of devices
    # Order of first sight: device 0's in-edges (users 0, 3, 1), then device 1's.
    assert batch["user"].n_id.tolist() == [0, 3, 1, 2]
    assert batch["merchant"].num_nodes == 0


@pytest.mark.parametrize("fanout", [[5, 3], [2, 2, 2], [0, 4]])
@pytest.mark.parametrize("replace", [False, True])
def test_random_graph_batches(fanout, replace):
    data = random_graph()
    for batch in loader(data, fanout, batch_size=64, replace=replace, seed=len(fanout)):
        check_batch(data, batch, batch["user"].input_id, "user", as_dict(data, fanout),
                    replace)


def test_per_edge_type_fanout_and_seed_type():
    data = random_graph(1)
    fanout = {et: [3, 1] for et in data.edge_types}
    fanout[FOLLOWS] = [0, 2]
    fanout[("device", "rev_uses", "user")] = [-1, 0]
    input_nodes = torch.arange(0, 120, 3)
    for batch in loader(data, fanout, input_nodes=("device", input_nodes), batch_size=16,
                        seed=0):
        check_batch(data, batch, input_nodes[batch["device"].input_id], "device", fanout)
    with pytest.raises(ValueError):
        TorchNeighborSampler(data, {USES: [2]})       # other edge types missing
    with pytest.raises(ValueError):
        TorchNeighborSampler(data, [2, -3])


def test_full_neighbourhood_matches_bfs():
    data = random_graph(2)
    seeds = torch.tensor([5, 17, 42])
    batch = next(iter(loader(data, [-1, -1], input_nodes=("user", seeds), batch_size=3)))
    frontier = {"user": set(seeds.tolist())}
    seen = {t: set(v) for t, v in frontier.items()}
    want_edges = {et: set() for et in data.edge_types}
    for _ in range(2):
        nxt = {t: set() for t in data.node_types}
        for et in data.edge_types:
            src, dst = data[et].edge_index
            for e in range(src.numel()):
                if int(dst[e]) in frontier.get(et[2], ()):
                    want_edges[et].add(e)
                    nxt[et[0]].add(int(src[e]))
        frontier = {t: v - seen.get(t, set()) for t, v in nxt.items()}
        for t, v in nxt.items():
            seen.setdefault(t, set()).update(v)
    for t in data.node_types:
        assert set(batch[t].n_id.tolist()) == seen.get(t, set())
    for et in data.edge_types:
        assert set(batch[et].e_id.tolist()) == want_edges[et]
        assert batch[et].e_id.numel() == len(want_edges[et])


def test_covers_every_seed_once():
    data = random_graph(3)
    ids, input_ids = [], []
    for batch in make_neighbor_loader(data, ("user", None), [3, 2], batch_size=37,
                                      shuffle=True, seed=4, backend="torch"):
        bs = batch["user"].batch_size
        ids.append(batch["user"].n_id[:bs])
        input_ids.append(batch["user"].input_id)
    ids, input_ids = torch.cat(ids), torch.cat(input_ids)
    assert torch.equal(ids.sort().values, torch.arange(data["user"].num_nodes))
    assert torch.equal(ids, input_ids)
    assert not torch.equal(ids, torch.arange(ids.numel()))   # shuffled


def _signature(batches):
    return [(t, batch[t].n_id.tolist()) for batch in batches for t in batch.node_types] + [
        (et, batch[et].e_id.tolist()) for batch in batches for et in batch.edge_types]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_seed_reproducibility(num_workers):
    data = random_graph(4)

    def run(seed):
        return _signature(make_neighbor_loader(
            data, ("user", None), [4, 3], batch_size=100, shuffle=True, seed=seed,
            backend="torch", num_workers=num_workers))

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_epochs_differ_and_global_rng_untouched():
    data = random_graph(5)
    ld = make_neighbor_loader(data, ("user", None), [2, 2], 300, seed=0, backend="torch")
    state = torch.get_rng_state()
    assert _signature(ld) != _signature(ld)       # new neighbours every epoch
    assert torch.equal(state, torch.get_rng_state())


def test_uniform_without_replacement():
    # Device 1 has in-neighbours {0, 1, 2} via 'uses'; user 0 has 3 'pays' edges in.
    data = hand_graph()
    sampler = TorchNeighborSampler(data, {et: [2] for et in data.edge_types}, seed=0)
    n = 6000
    out = sampler.sample_from_nodes(NodeSamplerInput(
        None, torch.ones(n, dtype=torch.long), input_type="device"))
    e_id = out.edge[USES].view(n, 2)          # two edges per copy of the seed
    assert bool((e_id[:, 0] != e_id[:, 1]).all())
    freq = torch.bincount(e_id.view(-1), minlength=7)[[1, 2, 3]].float() / n
    assert torch.allclose(freq, torch.full((3,), 2 / 3), atol=0.04)


def test_induced_subgraph():
    data = random_graph(6)
    batch = next(iter(loader(data, [3, 2], batch_size=20, directed=False, seed=0)))
    for et in data.edge_types:
        src, dst = data[et].edge_index
        src_in = torch.isin(src, batch[et[0]].n_id)
        dst_in = torch.isin(dst, batch[et[2]].n_id)
        want = (src_in & dst_in).nonzero().view(-1)
        assert torch.equal(batch[et].e_id.sort().values, want)
        ei = batch[et].edge_index
        assert torch.equal(batch[et[0]].n_id[ei[0]], src[batch[et].e_id])
        assert torch.equal(batch[et[2]].n_id[ei[1]], dst[batch[et].e_id])
        assert torch.equal(batch[et].edge_attr, data[et].edge_attr[batch[et].e_id])


def test_homogeneous_data():
    g = torch.Generator().manual_seed(7)
    n, e = 200, 1200
    data = Data(x=torch.randn(n, 4, generator=g),
                edge_index=torch.randint(0, n, (2, e), generator=g),
                edge_attr=torch.randn(e, 3, generator=g))
    deg = torch.bincount(data.edge_index[1], minlength=n)
    seen = []
    for batch in make_neighbor_loader(data, None, [4, 2], 32, seed=0, backend="torch"):
        bs = batch.batch_size
        seen.append(batch.n_id[:bs])
        assert torch.equal(batch.x, data.x[batch.n_id])
        ei, e_id = batch.edge_index, batch.e_id
        assert torch.equal(batch.n_id[ei], data.edge_index[:, e_id])
        assert torch.equal(batch.edge_attr, data.edge_attr[e_id])
        assert len(batch.num_sampled_nodes) == 3 and len(batch.num_sampled_edges) == 2
        hop0 = ei[1, :batch.num_sampled_edges[0]]
        got = torch.bincount(hop0, minlength=bs)
        assert torch.equal(got, deg[batch.n_id[:bs]].clamp(max=4))
    assert torch.equal(torch.cat(seen), torch.arange(n))
    with pytest.raises(ValueError):
        TorchNeighborSampler(data, {("_", "_", "_"): [1]})


def test_link_loader():
    data = random_graph(8)
    label_index = data[USES].edge_index[:, :50]
    sampler = TorchNeighborSampler(data, [3, 2], seed=0)
    for batch in LinkLoader(data, link_sampler=sampler, edge_label_index=(USES, label_index),
                            batch_size=16):
        local = batch[USES].edge_label_index
        pairs = torch.stack([batch["user"].n_id[local[0]], batch["device"].n_id[local[1]]])
        assert torch.equal(pairs, label_index[:, batch[USES].input_id])


def test_factory_backend_choice(monkeypatch):
    data = hand_graph()
    ld = make_neighbor_loader(data, ("user", None), [2], 2, backend="torch")
    assert isinstance(ld.node_sampler, TorchNeighborSampler)
    if not has_compiled_sampler():
        ld = make_neighbor_loader(data, ("user", None), [2], 2)
        assert isinstance(ld.node_sampler, TorchNeighborSampler)
    monkeypatch.setattr(pyg_typing, "WITH_PYG_LIB", True)
    from torch_geometric.loader import NeighborLoader
    assert isinstance(make_neighbor_loader(data, ("user", None), [2], 2), NeighborLoader)
    with pytest.raises(ValueError):
        make_neighbor_loader(data, ("user", None), [2], 2, backend="dgl")


def test_bad_seeds():
    data = hand_graph()
    sampler = TorchNeighborSampler(data, [1])
    with pytest.raises(ValueError):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([9]), input_type="user"))
    with pytest.raises(ValueError):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([0]), input_type="x"))


def test_loaders_share_one_in_edge_index_and_sample_as_alone():
    """``share=``: a second seed type's loader reuses the first's in-edge index (one
    copy of the graph's edges, not one per loader) and draws the same batches as a
    loader with its own index and the same seed."""
    data = random_graph(seed=3)
    first = make_neighbor_loader(data, ("user", None), [4, 3], 64, shuffle=True,
                                 seed=1, backend="torch")
    shared = make_neighbor_loader(data, ("device", None), [4, 3], 32, shuffle=True,
                                  seed=2, backend="torch", share=first.node_sampler)
    alone = make_neighbor_loader(data, ("device", None), [4, 3], 32, shuffle=True,
                                 seed=2, backend="torch")
    assert shared.node_sampler._csc is first.node_sampler._csc
    assert alone.node_sampler._csc is not first.node_sampler._csc
    got, want = list(shared), list(alone)
    assert len(got) == len(want) == 4
    for a, b in zip(got, want):
        assert torch.equal(a["device"].n_id, b["device"].n_id)
        for et in data.edge_types:
            assert torch.equal(a[et].edge_index, b[et].edge_index)
            assert torch.equal(a[et].e_id, b[et].e_id)
    # the first loader's own draws are untouched by the second's
    again = make_neighbor_loader(data, ("user", None), [4, 3], 64, shuffle=True,
                                 seed=1, backend="torch")
    assert all(torch.equal(a["user"].n_id, b["user"].n_id)
               for a, b in zip(first, again))
    with pytest.raises(ValueError, match="share="):
        make_neighbor_loader(data, ("device", None), [5, 3], 32, backend="torch",
                             share=first.node_sampler)
