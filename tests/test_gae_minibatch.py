"""``MultimodalGAE`` in mini-batches (``batch_size`` set): neighbour-sampled training and
scoring on a ~100-node heterogeneous graph, seeding, and agreement with full-batch."""
from __future__ import annotations

import pytest
import torch
from scipy.stats import spearmanr
from torch_geometric.data import HeteroData

from graphad import GraphadError, MultimodalGAE, as_bundle
from graphad.typing import reverse_edge_type

PLANTED = 17
USES = ("user", "uses", "device")
PAYS = ("user", "pays", "merchant")
MINI = dict(hidden=16, batch_size=8, num_neighbors=(5, 5), device="cpu")


def market_graph(n_users: int = 60, n_devices: int = 20, n_merchants: int = 20,
                 seed: int = 0) -> HeteroData:
    """Users (4 features ~ N(0, 1), user ``PLANTED`` at +8 on all), devices (2), merchants
    (3); each user uses 2 random devices and pays 3 random merchants; both relations have
    edge attributes. 100 nodes, 300 edges (600 with the reverses)."""
    g = torch.Generator().manual_seed(seed)
    h = HeteroData()
    x = torch.randn(n_users, 4, generator=g)
    x[PLANTED] = 8.0
    h["user"].x = x
    h["device"].x = torch.randn(n_devices, 2, generator=g)
    h["merchant"].x = torch.randn(n_merchants, 3, generator=g)
    src = torch.arange(n_users).repeat(2)
    h[USES].edge_index = torch.stack([src, torch.randint(0, n_devices, (2 * n_users,),
                                                         generator=g)])
    h[USES].edge_attr = torch.rand(2 * n_users, 1, generator=g)
    src = torch.arange(n_users).repeat(3)
    h[PAYS].edge_index = torch.stack([src, torch.randint(0, n_merchants, (3 * n_users,),
                                                         generator=g)])
    h[PAYS].edge_attr = torch.rand(3 * n_users, 2, generator=g)
    return h


SIZES = {"user": 60, "device": 20, "merchant": 20}


@pytest.fixture(scope="module")
def graph():
    return as_bundle(market_graph())


@pytest.fixture(scope="module")
def mini(graph) -> MultimodalGAE:
    return MultimodalGAE(seed=0, epochs=20, **MINI).fit(graph)


def test_fit_and_score_every_node(graph, mini):
    assert mini.batch_size_ == 8 and mini.get_params()["batch_size"] == 8
    assert mini.train_steps_ == 50 and len(mini.loss_history_) == 4   # 14 + 14 + 14 + 8
    assert mini.loss_history_[-1] < mini.loss_history_[0]
    scores = mini.decision_function(graph)
    assert {t: s.shape[0] for t, s in scores.items()} == SIZES
    for t, s in scores.items():
        assert torch.isfinite(s).all(), t
    comps = mini.score_components(graph)
    assert mini.module_config_["unmapped"] == ["merchant"]     # 20 merchants: too few
    for t in SIZES:
        names = ("attribute", "structure") + (("consistency",) if t != "merchant" else ())
        assert set(names) <= set(comps[t])
        for name in names:
            # every node is a seed once and has edges: no component left missing
            assert torch.isfinite(comps[t][name]).all(), (t, name)
    labels = mini.predict(graph)
    assert all(lab.shape[0] == SIZES[t] for t, lab in labels.items())
    proba = mini.predict_proba(graph)["user"]
    torch.testing.assert_close(proba.sum(1), torch.ones(60))


def test_seed_determinism(graph):
    params = dict(epochs=5, **MINI)
    rng = torch.get_rng_state()
    a = MultimodalGAE(seed=3, **params).fit(graph)
    b = MultimodalGAE(seed=3, **params).fit(graph)
    c = MultimodalGAE(seed=4, **params).fit(graph)
    assert a.loss_history_ == b.loss_history_ != c.loss_history_
    sa, sb, sc = (d.decision_function(graph) for d in (a, b, c))
    for t in SIZES:
        assert torch.equal(sa[t], sb[t]), t
        assert not torch.equal(sa[t], sc[t]), t
    again = a.decision_function(graph)          # scoring samples too, from the seed
    assert all(torch.equal(sa[t], again[t]) for t in SIZES)
    assert torch.equal(rng, torch.get_rng_state())
    assert a.get_params() == b.get_params() == {**c.get_params(), "seed": 3}


def test_graph_not_mutated():
    h = market_graph()
    before = {(s._key, k): v.clone() for s in h.stores for k, v in s.items()
              if torch.is_tensor(v)}
    MultimodalGAE(seed=0, epochs=2, **MINI).fit(h).decision_function(h)
    after = {(s._key, k): v for s in h.stores for k, v in s.items() if torch.is_tensor(v)}
    assert before.keys() == after.keys()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def test_mini_batch_training_scores_the_whole_graph_exactly(graph, mini):
    """Scoring does not depend on the training batch size: the whole graph at once (in
    slices of destinations), so every edge has a score and two calls agree exactly."""
    edges = mini.score_edges(graph)
    assert {et: e.shape[0] for et, e in edges.items()} == {USES: 120, PAYS: 180}
    assert all(torch.isfinite(e).all() for e in edges.values())
    data = mini._prepare(graph, fit=False)
    assert mini._scoring_batch_size(data) is None
    first, second = mini.decision_function(graph), mini.decision_function(graph)
    assert all(torch.equal(first[t], second[t]) for t in SIZES)


def test_hgt_scores_large_graphs_in_mini_batches(graph, monkeypatch):
    """HGT's attention spans every relation, so it cannot pass messages in slices: a
    graph over the full-batch limits is scored in mini-batches, and edge scores are
    refused with the reason."""
    from graphad.detectors import deep
    det = MultimodalGAE(seed=0, epochs=2, conv="hgt", **MINI).fit(graph)
    full = det.decision_function(graph)
    monkeypatch.setattr(deep, "FULL_BATCH_MAX_NODES", 50)
    data = det._prepare(graph, fit=False)
    assert det._scoring_batch_size(data) == deep.distributed.DEFAULT_BATCH_SIZE
    mini = det.decision_function(graph)
    assert all(torch.isfinite(s).all() for s in mini.values())
    rho = _spearman(full, mini)       # sampled neighbourhoods (fan-out 5): close, not equal
    assert all(r > 0.7 for r in rho.values()), rho
    assert int(mini["user"].argmax()) == int(full["user"].argmax()) == PLANTED
    with pytest.raises(GraphadError, match="too large.*conv='hgt'"):
        det.score_edges(graph)


def test_max_steps_is_a_fixed_budget(graph):
    """14 batches per epoch (8 + 3 + 3): 20 epochs are cut at ``max_steps`` steps, the
    last epoch short; the plan is the same whatever ``epochs`` beyond the budget."""
    det = MultimodalGAE(seed=0, epochs=20, max_steps=20, **MINI).fit(graph)
    assert det.train_steps_ == 20 and len(det.loss_history_) == 2
    data = det._prepare(graph, fit=False)
    assert det._step_plan(data, 8) == [14, 6]
    assert MultimodalGAE(epochs=500, max_steps=20, **MINI)._step_plan(data, 8) == [14, 6]
    assert MultimodalGAE(epochs=2, max_steps=None, **MINI)._step_plan(data, 8) == [14, 14]
    # full-batch: one step per epoch
    assert MultimodalGAE(epochs=30, max_steps=20)._step_plan(data, None) == [1] * 20
    with pytest.raises(ValueError, match="max_steps"):
        MultimodalGAE(max_steps=0).fit(graph)


def test_an_epoch_cut_short_sees_every_node_type(graph):
    """Training batches of all types are interleaved at random, so a budget that ends
    mid-epoch has trained on every type (not only the first one's batches)."""
    det = MultimodalGAE(seed=0, **MINI)
    data = det._prepare(graph, fit=True)
    seen = [next(t for t in b.node_types if "batch_size" in b[t])
            for b in det._train_batches(data, 0, 8, False, 6)]
    assert len(seen) == 6 and len(set(seen)) >= 2, seen
    every = [next(t for t in b.node_types if "batch_size" in b[t])
             for b in det._train_batches(data, 0, 8, False, 100)]
    assert sorted(every) == sorted(["user"] * 8 + ["device"] * 3 + ["merchant"] * 3)


def test_scores_new_graph_inductively(mini):
    new = market_graph(n_users=75, seed=1)
    scores = mini.decision_function(new)
    assert scores["user"].shape == (75,)
    assert all(torch.isfinite(s).all() for s in scores.values())


def _spearman(a, b) -> dict:
    return {t: float(spearmanr(a[t].numpy(), b[t].numpy())[0]) for t in a}


def test_agrees_with_full_batch_at_equal_optimiser_steps(graph):
    """``epochs`` counts passes over all nodes: one optimiser step full-batch, 14 here
    (8 + 3 + 3 batches). With the steps matched the rankings agree and both find the
    planted user."""
    # robust z keeps the errors' own scale: this compares the training, not the
    # normalisation (20 unplanted merchants agree at rho ~0.4 in surprisal units)
    mini = MultimodalGAE(seed=0, epochs=2, normalize="robust_z", **MINI).fit(graph)
    full = MultimodalGAE(seed=0, hidden=16, epochs=28, device="cpu",
                         normalize="robust_z").fit(graph)
    s_mini, s_full = mini.decision_function(graph), full.decision_function(graph)
    rho = _spearman(s_mini, s_full)
    assert all(r > 0.5 for r in rho.values()), rho
    assert int(s_mini["user"].argmax()) == int(s_full["user"].argmax()) == PLANTED


def test_agrees_with_full_batch_same_configuration(graph, mini):
    # the untrained families (outlier forests, edge evidence, peers) are the same
    # whatever the training, so the two runs agree although a mini-batch autoencoder
    # (50 optimiser steps, 2.5x more than full-batch at equal `epochs`) memorises more
    # of the planted user's attributes
    full = MultimodalGAE(seed=0, hidden=16, epochs=20, device="cpu").fit(graph)
    s_mini, s_full = mini.decision_function(graph), full.decision_function(graph)
    rho = _spearman(s_mini, s_full)
    assert all(r > 0.5 for r in rho.values()), rho
    assert int(s_mini["user"].argmax()) == int(s_full["user"].argmax()) == PLANTED


def test_agrees_with_full_batch_with_bottleneck(graph):
    """The bottleneck keeps the autoencoder from memorising: same configuration,
    mini-batch and full-batch rank alike."""
    mini = MultimodalGAE(seed=0, epochs=20, bottleneck=True, **MINI).fit(graph)
    full = MultimodalGAE(seed=0, hidden=16, epochs=20, device="cpu",
                         bottleneck=True).fit(graph)
    s_mini, s_full = mini.decision_function(graph), full.decision_function(graph)
    rho = _spearman(s_mini, s_full)
    assert all(r > 0.5 for r in rho.values()), rho
    assert int(s_mini["user"].argmax()) == PLANTED


def test_structure_is_mean_over_incident_edges(graph):
    """Full-batch structure = mean error of a node's edges, counted once per edge
    whichever direction carries it (the in-edges mini-batches sample)."""
    det = MultimodalGAE(seed=0, hidden=16, epochs=5, device="cpu").fit(graph)
    data = det._prepare(graph, fit=False)
    comps, edge_err, _ = det.module_.errors(data)
    for t, n in SIZES.items():
        total, count = torch.zeros(n), torch.zeros(n)
        for et, err in edge_err.items():
            for end, owner in ((0, et[0]), (1, et[2])):
                if owner == t:
                    ends = data[et].edge_index[end]
                    total.index_add_(0, ends, err)
                    count += torch.bincount(ends, minlength=n).float()
        torch.testing.assert_close(comps[t]["structure"], total / count)
    assert set(edge_err) == {USES, PAYS}
    assert reverse_edge_type(USES) in data.edge_types


def test_fit_scores_the_training_graph_once(graph, monkeypatch):
    """Node components, edge components and the calibrations at ``fit`` share one
    scoring pass; nothing of it outlives ``fit`` (later calls score afresh)."""
    from graphad.detectors.deep import DeepDetector
    calls = []
    real = DeepDetector._score_errors
    monkeypatch.setattr(DeepDetector, "_score_errors",
                        lambda self, bundle, data=None: calls.append(1)
                        or real(self, bundle, data))
    prepared = []
    real_prepare = DeepDetector._prepare
    monkeypatch.setattr(DeepDetector, "_prepare",
                        lambda self, bundle, fit: prepared.append(fit)
                        or real_prepare(self, bundle, fit))
    det = MultimodalGAE(seed=0, epochs=2, **MINI).fit(graph)
    assert len(calls) == 1 and det.edge_normalizer_ is not None
    assert prepared == [True]              # the training inputs are scored as they are
    assert not hasattr(det, "_fit_memo")
    det.decision_function(graph)
    assert len(calls) == 2


def test_scoring_prepares_the_training_graph_like_fit(graph):
    """Preparing a graph for scoring gives exactly the inputs fit prepared (the peer
    comparison on the own features, not on the degrees and edge aggregates), so fit
    may score its own prepared inputs."""
    det = MultimodalGAE(seed=0, epochs=1, **MINI)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        at_fit = det._prepare(graph, fit=True)
    again = det._prepare(graph, fit=False)
    for store in list(at_fit.node_stores) + list(at_fit.edge_stores):
        other = again[store._key]
        assert set(store.keys()) == set(other.keys()), store._key
        for key, value in store.items():
            if torch.is_tensor(value):
                assert torch.equal(value, other[key]), (store._key, key)
    assert any(k.startswith("peer__") for k in at_fit["user"].keys())
