"""Whole-graph message passing in slices of destinations (``graphad.nn.chunked``): the
same result as one full-batch call, for every conv that aggregates per destination."""
from __future__ import annotations

import pytest
import torch

from graphad import MultimodalGAE, as_bundle
from graphad.nn import chunked
from graphad.nn.families import structure

from test_gae_minibatch import market_graph


@pytest.fixture(scope="module")
def graph():
    return as_bundle(market_graph(n_users=120, n_devices=15, n_merchants=10))


def test_destination_slices_bound_the_in_edges():
    dst = torch.tensor([3, 0, 3, 3, 1, 3, 3, 0, 2, 2, 3])   # node 3 has 6 in-edges
    order, ptr, bounds = chunked.destination_slices(dst, 5, chunk=3)
    assert torch.equal(ptr, torch.tensor([0, 2, 3, 5, 11, 11]))
    assert torch.equal(dst[order], dst.sort(stable=True).values)
    assert bounds[0] == 0 and bounds[-1] == 5
    sizes = [int(ptr[b] - ptr[a]) for a, b in zip(bounds[:-1], bounds[1:])]
    # every slice holds <= 3 in-edges except node 3's own slice, which holds all 6
    assert [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b - a == 1 and
            int(ptr[b] - ptr[a]) > 3] == [(3, 4)]
    assert all(s <= 3 for s, (a, b) in zip(sizes, zip(bounds[:-1], bounds[1:]))
               if (a, b) != (3, 4))
    assert sum(sizes) == dst.numel()


@pytest.mark.parametrize("conv", ["sage", "gatv2"])
def test_sliced_encoder_and_errors_equal_full_batch(graph, conv, monkeypatch):
    det = MultimodalGAE(seed=0, epochs=3, hidden=16, conv=conv).fit(graph)
    data = det._prepare(graph, fit=False)
    module = det.module_
    assert module.chunked_inference
    whole, sliced = module.encode(data), module.encode(data, chunk=7)
    for t in whole:
        torch.testing.assert_close(sliced[t], whole[t], atol=1e-5, rtol=1e-5)
    comps, _, edges = module.errors(data, chunk=None)
    monkeypatch.setattr(structure, "CHUNK_EDGES", 13)     # edge errors in slices too
    comps2, _, edges2 = module.errors(data, chunk=7)
    for t in comps:
        for name in comps[t]:
            torch.testing.assert_close(comps2[t][name], comps[t][name], atol=1e-4,
                                       rtol=1e-4, equal_nan=True)
    for family in edges:
        for et in edges[family]:
            torch.testing.assert_close(edges2[family][et], edges[family][et], atol=1e-4,
                                       rtol=1e-4)


def test_hgt_does_not_slice(graph):
    det = MultimodalGAE(seed=0, epochs=2, hidden=16, conv="hgt").fit(graph)
    data = det._prepare(graph, fit=False)
    assert not det.module_.chunked_inference
    whole, asked = det.module_.encode(data), det.module_.encode(data, chunk=7)
    assert all(torch.equal(whole[t], asked[t]) for t in whole)
