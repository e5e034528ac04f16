"""Lockstep blocks: a buying ring between buyers and sellers (through listings)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from graphad.data.bundle import as_bundle
from graphad.detectors.gae import MultimodalGAE
from graphad.nn.families.block import block_evidence, block_pairs, strongest_pair

from planted import check_saved_before

RING_SELLERS = list(range(8))


def market(seed: int = 0, ring: bool = True) -> HeteroData:
    """150 sellers with 4 listings each (the 8 ring sellers: 6), 800 buyers with
    about 3 orders each on random listings; with ``ring``, 10 more buyers who order
    only the ring sellers' 48 listings, 10 times each (outsiders rarely buy those)."""
    rng = np.random.default_rng(seed)
    n_sellers, n_buyers = 150, 810
    seller = np.concatenate([np.repeat(RING_SELLERS, 6),
                             np.repeat(np.arange(8, n_sellers), 4)])
    n_listings = seller.size
    ring_listings = np.arange(48)
    weight = np.ones(n_listings)
    weight[ring_listings] = 0.15
    weight /= weight.sum()
    buyers, listings = [], []
    for b in range(10, n_buyers):
        k = rng.poisson(3)
        buyers += [b] * k
        listings += list(rng.choice(n_listings, k, p=weight))
    if ring:
        for b in range(10):
            buyers += [b] * 10
            listings += list(rng.choice(ring_listings, 10))
    h = HeteroData()
    h["seller"].x = torch.tensor(rng.normal(size=(n_sellers, 2)), dtype=torch.float32)
    h["buyer"].x = torch.tensor(rng.normal(size=(n_buyers, 2)), dtype=torch.float32)
    h["listing"].x = torch.tensor(rng.normal(size=(n_listings, 2)), dtype=torch.float32)
    h["seller", "lists", "listing"].edge_index = torch.tensor(
        np.stack([seller, np.arange(n_listings)]))
    h["buyer", "orders", "listing"].edge_index = torch.tensor(np.stack([buyers, listings]))
    return h


def test_strongest_pair_matches_brute_force():
    from scipy.stats import poisson
    rng = np.random.default_rng(0)
    dense = (rng.random((30, 12)) < 0.3).astype(float)
    wedges, surprise = strongest_pair(sp.csr_matrix(dense))
    np.testing.assert_allclose(wedges, dense @ (dense.sum(0) - 1))
    degree = dense.sum(1)
    for v in range(30):
        best = 0.0
        for u in range(30):
            shared = dense[v] @ dense[u]
            if u != v and shared >= 2:
                lam = wedges[v] * degree[u] / (degree.sum() - degree[v])
                best = max(best, -poisson.logsf(shared - 1, lam))
        assert surprise[v] == pytest.approx(best, rel=1e-9, abs=1e-12)


def test_buyers_and_sellers_pair_through_listings_once():
    pairs = block_pairs(as_bundle(market()).data)
    # direct: buyer-listing, listing-seller; through listings (each has one seller):
    # buyer-seller; no pair through a type that is not owned (listings have many buyers)
    assert set(pairs) == {("buyer", "listing"), ("listing", "seller"), ("buyer", "seller")}
    m = pairs[("buyer", "seller")]
    assert m.shape == (810, 150) and set(np.unique(m.data)) == {1.0}
    assert set(m[0].indices) <= set(RING_SELLERS)        # a ring buyer buys from the ring


def test_random_links_give_no_evidence():
    """In random bipartite graphs, dense or sparse, no pair shares more than the
    degrees give: the evidence is 0 for every node."""
    rng = np.random.default_rng(1)
    for share in (0.02, 0.1, 0.3):
        m = sp.csr_matrix((rng.random((400, 60)) < share).astype(float))
        evidence, has = block_evidence(m)
        assert int(has.sum()) > 100
        assert float(evidence.max()) == 0.0


def test_a_buying_ring_is_a_block():
    h = market()
    det = MultimodalGAE(epochs=30, seed=0).fit(h)
    comps = det.score_components(h)
    block = comps["seller"]["block:buyer"]
    ranks = torch.argsort(torch.nan_to_num(block, nan=-1.0), descending=True)
    assert set(ranks[:8].tolist()) == set(RING_SELLERS)          # the ring leads it
    assert float(block[8:].clamp(min=0).max()) == 0.0         # and nobody else has any
    scores = det.decision_function(h)["seller"]
    top = set(torch.argsort(scores, descending=True)[:15].tolist())     # top 10%
    assert set(RING_SELLERS) <= top
    buyers = comps["buyer"]["block:seller"]
    assert set(torch.argsort(torch.nan_to_num(buyers, nan=-1.0), descending=True)[:10]
               .tolist()) == set(range(10))
    top = torch.argsort(det.decision_function(h)["buyer"], descending=True)[:20]  # 2.5%
    assert set(range(10)) <= set(top.tolist())
    # without the ring no pair has evidence on the training graph: no component
    plain = MultimodalGAE(epochs=5, seed=0).fit(market(ring=False))
    assert not any(c.startswith("block:") for t in plain.score_components(
        market(ring=False)).values() for c in t)


def test_a_model_saved_before_blocks_scores_without_them(tmp_path, monkeypatch):
    check_saved_before(monkeypatch, tmp_path, "block", market(), "seller",
                       epochs=5, seed=0)
