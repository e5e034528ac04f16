"""Near-copies: one seller's 20 listings under one copied title."""
from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphad.data.convert import from_hetero_data
from graphad.detectors.gae import MultimodalGAE
from graphad.nn.families.copies import (EXACT, MIN_COPIES, _unit, copies_evidence,
                                        copy_counts, copy_radius, nearest_copies,
                                        nearest_cosine)
from graphad.scoring.explain import explain

from planted import check_saved_before

COPIES = 20


def rows(n: int, d: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.tensor(np.random.default_rng(seed).normal(size=(n, d)))


def test_counts_and_nearest_match_brute_force():
    x = rows(300)
    x[10:17] = x[3] + 0.01 * rows(7, seed=1)       # 7 near-copies of row 3
    z = _unit(x)
    sim = z @ z.T
    sim.fill_diagonal_(-2.0)
    torch.testing.assert_close(nearest_cosine(z), sim.max(1).values)
    tau = copy_radius(nearest_cosine(z))
    torch.testing.assert_close(copy_counts(z, tau), (sim >= tau).sum(1))
    assert set(torch.nonzero(copy_counts(z, tau)).view(-1).tolist()) == {3, *range(10, 17)}
    # a row's nearest copies: the most similar rows above the radius, then -1
    near = nearest_copies(z, tau, torch.tensor([3, 0]), k=3)
    assert near[0].tolist() == sim[3].topk(3).indices.tolist()
    assert near[1].tolist() == [-1, -1, -1]


def test_only_many_copies_are_evidence():
    x = rows(1000)
    assert float(copies_evidence(x)[0].max()) == 0.0              # no copies at all
    x[100:100 + COPIES] = x[5]                                    # 20 exact copies of row 5
    x[500:503] = x[7] + 1e-4 * rows(3, seed=2)   # a clump of three look-alikes
    evidence, counts = copies_evidence(x)
    copied = [5, *range(100, 100 + COPIES)]
    assert counts[copied].tolist() == [COPIES] * (COPIES + 1)
    assert bool((evidence[copied] > 20).all())
    rest = torch.ones(1000, dtype=torch.bool)
    rest[copied] = False
    assert float(evidence[rest].max()) == 0.0                     # the clump: below MIN_COPIES
    assert int(counts[500]) == 3 < MIN_COPIES
    # where most rows have an exact twin (templated text), only exact copies count
    twins = torch.cat([x[:400], x[:400], x[400:]])
    tau = copy_radius(nearest_cosine(_unit(twins)))
    assert tau == 1 - EXACT


def market(copies: bool = True, seed: int = 0):
    """200 sellers with 6 listings each; each listing has a price and a title whose
    embedding is its category's centre plus noise; with ``copies`` seller 0 also posts
    20 listings under one title (one embedding; 1.6% of the titles)."""
    rng = np.random.default_rng(seed)
    seller = list(np.repeat(np.arange(200), 6))
    cat = list(rng.integers(0, 5, len(seller)))
    centres = rng.normal(size=(5, 24))
    titles = [centres[c] + 0.8 * rng.normal(size=24) for c in cat]
    if copies:
        one = centres[2] + 0.8 * rng.normal(size=24)
        seller += [0] * COPIES
        cat += [2] * COPIES
        titles += [one] * COPIES
    n = len(seller)
    h = HeteroData()
    h["seller"].x = torch.tensor(rng.normal(size=(200, 2)), dtype=torch.float32)
    h["listing"].x = torch.tensor(np.c_[np.eye(5)[cat], rng.normal(size=(n, 1))],
                                  dtype=torch.float32)
    h["title"].x = torch.tensor(np.array(titles), dtype=torch.float32)
    h["seller", "lists", "listing"].edge_index = torch.tensor(
        np.stack([seller, np.arange(n)]))
    h["title", "of", "listing"].edge_index = torch.tensor(np.stack([np.arange(n)] * 2))
    bundle = from_hetero_data(h)
    bundle.modality["title"] = "text"
    return bundle, list(range(n - COPIES, n)) if copies else []


def test_copied_titles_lead_copies_and_their_listings_the_score():
    bundle, copied = market()
    det = MultimodalGAE(epochs=20, seed=0).fit(bundle)
    comps = det.score_components(bundle)
    assert "copies" in comps["title"] and "copies" not in comps["listing"]
    titles = comps["title"]["copies"]
    assert set(torch.argsort(titles, descending=True)[:COPIES].tolist()) == set(copied)
    rest = torch.ones(titles.numel(), dtype=torch.bool)
    rest[copied] = False
    assert float(titles[rest].clamp(min=0).max()) == 0.0
    listings = det.decision_function(bundle)["listing"]
    top = set(torch.argsort(listings, descending=True)[:COPIES + 12].tolist())   # top 2.6%
    assert set(copied) <= top
    # the explanation counts the copies and names three of them
    title = bundle.ids.external("title", [copied[0]])[0]
    ex = explain(bundle, ("title", title), det)
    assert ex.copies["copies"].tolist() == [COPIES - 1]
    named = ex.copies["examples"].iloc[0].split(", ")
    assert len(named) == 3 and f"title:{title}" not in named
    assert {n.split(":", 1)[1] for n in named} <= {
        str(i) for i in bundle.ids.external("title", copied)}
    assert f"{COPIES - 1} other titles repeat it nearly unchanged" in ex.reason
    plain_title = bundle.ids.external("title", [0])[0]
    assert explain(bundle, ("title", plain_title), det).copies.empty
    # without copied content no training node has evidence: no component
    plain, _ = market(copies=False)
    fitted = MultimodalGAE(epochs=5, seed=0).fit(plain)
    assert "copies" not in fitted.score_components(plain)["title"]


def test_a_model_saved_before_copies_scores_without_them(tmp_path, monkeypatch):
    check_saved_before(monkeypatch, tmp_path, "copies", market()[0], "title",
                       epochs=5, seed=0)


def test_the_radius_from_a_sample_of_rows():
    from graphad.nn.families.copies import SAMPLE, typical_nearest
    z = _unit(rows(SAMPLE + 500, d=8))
    sample = typical_nearest(z)
    assert sample.numel() == SAMPLE
    assert abs(float(sample.median()) - float(nearest_cosine(z).median())) < 0.01
    torch.testing.assert_close(typical_nearest(z), sample)          # the same rows
