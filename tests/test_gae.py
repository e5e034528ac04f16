"""``MultimodalGAE``, the default detector: the scikit-learn / PyOD contract, seeding,
inductive scoring of new graphs, and that planted anomalies of each kind rank first
(odd edge, odd node, a node its neighbours disagree with, disagreeing modalities).

Small hand-made graphs, ``hidden=16`` and a few dozen epochs (full-batch: one optimiser
step per epoch), fixed seeds. Save / load is tested with the persistence module.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch_geometric.data import HeteroData

import graphad
from graphad import GraphadError, MultimodalGAE
from graphad.data import IdMap, from_hetero_data
from graphad.data.bundle import GraphBundle
from planted import PLANTED, planted_hetero

FAST = dict(hidden=16, epochs=30, device="cpu")   # bit-exact seeding holds on CPU
PAYS = ("user", "pays", "merchant")


# ---------------------------------------------------------------- graphs
def planted_graph(n_users: int = 80, n_devices: int = 12, seed: int = 0) -> HeteroData:
    return planted_hetero(n_users, n_devices, seed)


def planted_bundle(**kwargs) -> GraphBundle:
    h = planted_graph(**kwargs)
    ids = IdMap({t: [f"{t[0]}{i}" for i in range(h[t].num_nodes)] for t in h.node_types})
    return from_hetero_data(h, ids=ids)


PAY_SCHEMA: Dict = {
    "nodes": {"user": {"table": "users", "id": "user_id", "numeric": ["age", "balance"]},
              "merchant": {"table": "merchants", "id": "merchant_id"}},
    "relations": [{"src": "user", "rel": "pays", "dst": "merchant", "table": "payments",
                   "src_key": "user_id", "dst_key": "merchant_id", "attrs": ["amount"]}],
}
ODD_PAYER, ODD_MERCHANT = "u7", "m9"


def payment_tables(n_users: int = 40, n_merchants: int = 10, seed: int = 0,
                   planted: bool = True) -> Dict[str, pd.DataFrame]:
    """Every user pays two usual merchants (``i % 5`` and ``5 + (i // 5) % 5``) three
    times, amounts 10-20. Planted: ``u7`` (usual m2 / m7) pays ``m9`` 5000, last row."""
    rng = np.random.default_rng(seed)
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(n_users)],
                          "age": rng.integers(20, 60, n_users),
                          "balance": rng.normal(500, 50, n_users)})
    merchants = pd.DataFrame({"merchant_id": [f"m{j}" for j in range(n_merchants)]})
    rows = []
    for i in range(n_users):
        usual = [i % 5, 5 + (i // 5) % 5]
        for _ in range(3):
            rows.append((f"u{i}", f"m{usual[int(rng.integers(2))]}",
                         float(rng.uniform(10, 20))))
    if planted:
        rows.append((ODD_PAYER, ODD_MERCHANT, 5000.0))
    payments = pd.DataFrame(rows, columns=["user_id", "merchant_id", "amount"])
    return {"users": users, "merchants": merchants, "payments": payments}


@pytest.fixture(scope="module")
def graph() -> GraphBundle:
    return planted_bundle()


@pytest.fixture(scope="module")
def fitted(graph) -> MultimodalGAE:
    return MultimodalGAE(seed=0, **FAST).fit(graph)


def snapshot(data: HeteroData):
    out = {}
    for store in data.stores:
        for name, value in store.items():
            out[(getattr(store, "_key", None), name)] = (
                value.clone() if torch.is_tensor(value) else value)
    return out


def assert_same_snapshot(before, after):
    assert before.keys() == after.keys()
    for key, value in before.items():
        if torch.is_tensor(value):
            assert torch.equal(value, after[key]), key
        else:
            assert value == after[key], key


# ---------------------------------------------------------------- contract
def test_clone_and_get_params_round_trip():
    params = dict(hidden=8, layers=3, conv="gatv2", dropout=0.1, epochs=7, lr=1e-2,
                  weight_decay=1e-4, batch_size=32, num_neighbors=(4, 3, 2), seed=5,
                  device="cpu", verbose=True, contamination=0.05,
                  weights={"structure": 2.0}, rollup=False, max_input_dim=12,
                  trim=0.05, bottleneck=True, normalize="robust_z", combination="mean",
                  max_steps=40, groups=False, holdout=0.1)
    det = MultimodalGAE(**params)
    assert det.get_params() == params            # every hyper-parameter, by name
    assert MultimodalGAE().get_params().keys() == params.keys()
    twin = clone(det)
    assert twin is not det and twin.get_params() == params
    assert MultimodalGAE(**twin.get_params()).get_params() == params
    assert twin.set_params(seed=6) is twin and twin.seed == 6 and det.seed == 5


def test_clone_of_fitted_is_unfitted(fitted):
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params()
    assert not hasattr(twin, "module_") and not hasattr(twin, "decision_scores_")


@pytest.mark.parametrize("method", ["decision_function", "predict", "predict_proba",
                                    "predict_confidence", "score_components",
                                    "score_edges"])
def test_not_fitted_error(graph, method):
    with pytest.raises(NotFittedError):
        getattr(MultimodalGAE(**FAST), method)(graph)


def test_fit_returns_self_and_fitted_state(graph):
    det = MultimodalGAE(seed=0, **FAST)
    assert det.fit(graph) is det
    for attr in ("module_", "decision_scores_", "threshold_", "labels_", "normalizer_",
                 "loss_history_", "node_types_", "metadata_"):
        assert hasattr(det, attr), attr
    assert len(det.loss_history_) == FAST["epochs"]
    assert det.loss_history_[-1] < det.loss_history_[0]
    assert set(det.decision_scores_) == {"user", "device"}
    assert det.decision_scores_["user"].shape == (80,)
    assert det.decision_scores_["device"].shape == (12,)


def test_fit_keeps_params_graph_and_rng(graph):
    det = MultimodalGAE(seed=3, **FAST)
    params = det.get_params()
    data_before = snapshot(graph.data)
    raw_before = {t: df.copy() for t, df in graph.raw.items()}
    rng = torch.get_rng_state()
    det.fit(graph)
    det.decision_function(graph)
    det.score_edges(graph)
    det.predict_proba(graph)
    assert torch.equal(rng, torch.get_rng_state())
    assert det.get_params() == params
    assert_same_snapshot(data_before, snapshot(graph.data))
    for t, df in raw_before.items():
        pd.testing.assert_frame_equal(df, graph.raw[t])


def test_fit_does_not_mutate_hetero_data():
    h = planted_graph()
    before = snapshot(h)
    MultimodalGAE(seed=0, **FAST).fit(h).decision_function(h)
    assert_same_snapshot(before, snapshot(h))
    assert h.edge_types == [("user", "uses", "device")]      # no reverse added to it


def test_small_graphs_run_on_one_thread_and_the_count_is_restored(graph, monkeypatch):
    """The graph (80 users) trains and scores on one torch thread; the caller's thread
    count is back afterwards, errors included; a graph of SMALL_GRAPH nodes + edges
    keeps it."""
    from graphad.detectors import deep
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = []
        real = MultimodalGAE._batch_loss

        def spy(self, module, batch, gen):
            seen.append(torch.get_num_threads())
            return real(self, module, batch, gen)
        monkeypatch.setattr(MultimodalGAE, "_batch_loss", spy)
        det = MultimodalGAE(seed=0, **FAST).fit(graph)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
        with deep.one_thread_if_small(graph):
            assert torch.get_num_threads() == 1
        big = HeteroData()
        big["user"].num_nodes = 10
        big["user", "f", "user"].edge_index = torch.zeros(2, deep.SMALL_GRAPH - 10,
                                                          dtype=torch.long)
        with deep.one_thread_if_small(big):
            assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), deep.one_thread_if_small(graph):
            raise RuntimeError("restored on errors too")
        assert torch.get_num_threads() == 2
        assert torch.isfinite(det.decision_function(graph)["user"]).all()
    finally:
        torch.set_num_threads(original)


def test_global_rng_does_not_change_results(graph):
    """Seeded inside: the caller's global RNG state has no influence either."""
    torch.manual_seed(123)
    a = MultimodalGAE(seed=0, **FAST).fit(graph).decision_function(graph)
    torch.manual_seed(999)
    torch.rand(10)
    b = MultimodalGAE(seed=0, **FAST).fit(graph).decision_function(graph)
    for t in a:
        assert torch.equal(a[t], b[t])


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.25])
def test_predict_share_matches_contamination(graph, contamination):
    det = MultimodalGAE(seed=0, contamination=contamination, **FAST).fit(graph)
    labels = det.predict(graph)
    for t, lab in labels.items():
        n = lab.numel()
        assert lab.dtype == torch.long and set(lab.unique().tolist()) <= {0, 1}
        assert abs(int(lab.sum()) - contamination * n) <= 1, (t, int(lab.sum()), n)
        assert torch.equal(lab, det.labels_[t])
        assert int(lab.sum()) == int((det.decision_scores_[t] > det.threshold_[t]).sum())


@pytest.mark.parametrize("method", ["linear", "unify"])
def test_predict_proba(graph, fitted, method):
    for t, p in fitted.predict_proba(graph, method=method).items():
        assert p.shape == (graph.data[t].num_nodes, 2)
        assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0
        torch.testing.assert_close(p.sum(1), torch.ones(p.size(0)))
    assert int(fitted.predict_proba(graph, method=method)["user"][:, 1].argmax()) == PLANTED
    with pytest.raises(ValueError, match="method"):
        fitted.predict_proba(graph, method="softmax")


def test_predict_confidence_in_unit_interval(graph, fitted):
    for t, c in fitted.predict_confidence(graph).items():
        assert c.shape == (graph.data[t].num_nodes,)
        assert float(c.min()) >= 0.0 and float(c.max()) <= 1.0


@pytest.mark.parametrize("params, match", [
    (dict(contamination=0.7), "contamination"),
    (dict(contamination=0.0), "contamination"),
    (dict(epochs=0), "epochs"),
    (dict(conv="foo"), "conv"),
    (dict(batch_size=0), "batch_size"),
    (dict(hidden=0), "hidden"),
    (dict(conv="hgt", hidden=15), "divisible"),
    (dict(dropout=1.0), "dropout"),
    (dict(groups="yes"), "groups"),
])
def test_bad_params_raise_value_error(params, match):
    det = MultimodalGAE(**params)
    with pytest.raises(ValueError, match=match):
        det.fit(object())            # parameters are checked before the graph is read
    assert "MultimodalGAE" in str(pytest.raises(ValueError, det.fit, object()).value)


def test_components_and_roll_up(graph, fitted):
    comps = fitted.score_components(graph)
    common = {"attribute", "structure", "consistency", "outlier", "outlier:fused", "group"}
    assert set(comps["user"]) == common | {"nbr:device", "edge", "incident", "peer:device"}
    # 12 devices are too few to learn what their users predict of them (10 training
    # nodes per own feature): no cross-type consistency, and they have no other
    assert fitted.module_config_["unmapped"] == ["device"]
    assert set(comps["device"]) == common - {"consistency"} | {
        "nbr:user", "edge", "incident", "peer:user", "degree:user"}
    scores = fitted.decision_function(graph)
    torch.testing.assert_close(scores["user"], fitted.combine(comps)["user"])
    torch.testing.assert_close(scores["user"], fitted.decision_scores_["user"])
    no_rollup = MultimodalGAE(seed=0, rollup=False, **FAST).fit(graph)
    assert not any(k.startswith("nbr:")
                   for k in no_rollup.score_components(graph)["user"])


@pytest.mark.parametrize("conv", ["gatv2", "hgt"])
def test_other_convs_fit_and_find_planted(graph, conv):
    det = MultimodalGAE(conv=conv, seed=0, **FAST).fit(graph)
    scores = det.decision_function(graph)
    assert all(torch.isfinite(s).all() for s in scores.values())
    assert int(scores["user"].argmax()) == PLANTED


def test_fits_homogeneous_data():
    from torch_geometric.data import Data
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g)
    x[4] = 9.0
    ei = torch.randint(0, 50, (2, 150), generator=g)
    det = MultimodalGAE(seed=0, **FAST).fit(Data(x=x, edge_index=ei))
    scores = det.decision_function(Data(x=x, edge_index=ei))["node"]
    assert scores.shape == (50,) and int(scores.argmax()) == 4


# ---------------------------------------------------------------- seeds
def test_same_seed_same_scores(graph):
    a = MultimodalGAE(seed=11, **FAST).fit(graph)
    b = MultimodalGAE(seed=11, **FAST).fit(graph)
    assert a.loss_history_ == b.loss_history_
    sa, sb = a.decision_function(graph), b.decision_function(graph)
    for t in sa:
        assert torch.equal(sa[t], sb[t])
    ca, cb = a.score_components(graph), b.score_components(graph)
    for t in ca:
        for k in ca[t]:
            assert torch.equal(ca[t][k].nan_to_num(-1), cb[t][k].nan_to_num(-1)), (t, k)
    ea, eb = a.score_edges(graph), b.score_edges(graph)
    assert all(torch.equal(ea[e], eb[e]) for e in ea)
    for name, value in a.module_.state_dict().items():
        assert torch.equal(value, b.module_.state_dict()[name]), name


def test_different_seed_different_scores(graph):
    a = MultimodalGAE(seed=1, **FAST).fit(graph).decision_function(graph)
    b = MultimodalGAE(seed=2, **FAST).fit(graph).decision_function(graph)
    assert not torch.equal(a["user"], b["user"])
    assert not torch.equal(a["device"], b["device"])
    assert int(a["user"].argmax()) == int(b["user"].argmax()) == PLANTED


# ---------------------------------------------------------------- inductive scoring
@pytest.fixture(scope="module")
def payments() -> GraphBundle:
    return graphad.build_graph(payment_tables(), PAY_SCHEMA, use_cache=False)


def test_scores_new_graph_of_same_schema(payments):
    det = MultimodalGAE(seed=0, **FAST).fit(payments)
    weights = {k: v.clone() for k, v in det.module_.state_dict().items()}
    normalizer = (dict(det.normalizer_.center_), dict(det.normalizer_.scale_))
    thresholds = dict(det.threshold_)
    new_tables = payment_tables(n_users=55, n_merchants=10, seed=1)
    new = graphad.build_graph(new_tables, PAY_SCHEMA, fitted=payments, use_cache=False)
    assert new.data["user"].num_nodes == 55
    scores = det.decision_function(new)
    assert scores["user"].shape == (55,) and scores["merchant"].shape == (10,)
    assert all(torch.isfinite(s).all() for s in scores.values())
    edges = det.score_edges(new)
    assert edges[PAYS].shape == (new.data[PAYS].num_edges,) == (166,)
    assert det.predict(new)["user"].shape == (55,)
    assert det.predict_proba(new)["user"].shape == (55, 2)
    # nothing re-fitted
    for name, value in det.module_.state_dict().items():
        assert torch.equal(value, weights[name]), name
    assert (det.normalizer_.center_, det.normalizer_.scale_) == normalizer
    assert det.threshold_ == thresholds
    # the training graph still scores as it did
    torch.testing.assert_close(det.decision_function(payments)["user"],
                               det.decision_scores_["user"])


def test_new_graph_scored_like_training_graph(payments):
    """The same tables rebuilt with the fitted transforms score exactly as in training."""
    det = MultimodalGAE(seed=0, **FAST).fit(payments)
    again = graphad.build_graph(payment_tables(), PAY_SCHEMA, fitted=payments,
                                use_cache=False)
    scores = det.decision_function(again)
    for t in scores:
        torch.testing.assert_close(scores[t], det.decision_scores_[t])


def _wider_users():
    tables = payment_tables()
    tables["users"] = tables["users"].assign(score=1.0)
    schema = {**PAY_SCHEMA, "nodes": {**PAY_SCHEMA["nodes"], "user": {
        "table": "users", "id": "user_id", "numeric": ["age", "balance", "score"]}}}
    return tables, schema


def _without_edge_attr():
    rel = {**PAY_SCHEMA["relations"][0], "attrs": []}
    return payment_tables(), {**PAY_SCHEMA, "relations": [rel]}


def _other_relation():
    tables = payment_tables()
    tables["payments"] = tables["payments"].rename(columns={"amount": "value"})
    rel = {**PAY_SCHEMA["relations"][0], "rel": "refunds", "attrs": ["value"]}
    return tables, {**PAY_SCHEMA, "relations": [rel]}


@pytest.mark.parametrize("make, match", [
    (_wider_users, r"'user' has 3 input columns, expected 2"),
    (_without_edge_attr, r"has 0 edge attribute column\(s\), expected 1"),
    (_other_relation, r"relations .*refunds.*expected .*pays"),
])
def test_other_schema_raises(payments, make, match):
    det = MultimodalGAE(seed=0, **FAST).fit(payments)
    tables, schema = make()
    other = graphad.build_graph(tables, schema, use_cache=False)
    for method in (det.decision_function, det.score_edges, det.predict):
        with pytest.raises(GraphadError, match="does not match the training graph"):
            method(other)
    with pytest.raises(GraphadError, match=match):
        det.decision_function(other)


def test_other_node_types_raise(payments, bundle):
    det = MultimodalGAE(seed=0, **FAST).fit(payments)
    with pytest.raises(GraphadError, match=r"MultimodalGAE: .*node types .*device"):
        det.decision_function(bundle)


# ---------------------------------------------------------------- planted anomalies
@pytest.mark.parametrize("seed", [0, 1])
def test_edge_scores_rank_planted_transfer_first(payments, seed):
    det = MultimodalGAE(seed=seed, **FAST).fit(payments)
    edges = det.score_edges(payments)
    assert set(edges) == {PAYS}                        # forward relations only
    scores = edges[PAYS]
    assert scores.shape == (121,) and torch.isfinite(scores).all()
    raw = payments.edges_raw[PAYS]
    odd = int(np.flatnonzero((raw.user_id == ODD_PAYER) & (raw.merchant_id == ODD_MERCHANT))[0])
    assert int(scores.argmax()) == odd == 120
    # well above every edge of the other users (the odd payer's usual payments are
    # pulled up a little: they share its embedding)
    others = torch.as_tensor((raw.user_id != ODD_PAYER).to_numpy().copy())
    assert float(scores[odd]) > 1.5 * float(scores[others].max())


def test_edge_scores_rank_planted_transfer_first_default_size(payments):
    # the edge-attribute decoder memorises the single 5000 transfer at the default
    # size; the edge evidence (against the merchant's other payments) does not
    det = MultimodalGAE(seed=0, device="cpu").fit(payments)
    assert int(det.score_edges(payments)[PAYS].argmax()) == 120


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_feature_outlier_ranks_first(graph, seed):
    det = MultimodalGAE(seed=seed, **FAST).fit(graph)
    scores = det.decision_function(graph)["user"]
    assert int(scores.argmax()) == PLANTED
    comps = det.score_components(graph)["user"]
    assert int(comps["attribute"].argmax()) == PLANTED
    # well above the runner-up: on seed 1 that is the one user whose two devices are
    # the two most unusual of the 12, which the roll-up reads as two moderately odd
    # links (16.0 against 5.7 nats; 3.0 when only the best device counted)
    assert float(scores[PLANTED]) > 2.5 * float(scores.topk(2).values[1])
    assert int(det.predict(graph)["user"][PLANTED]) == 1


def community_graph(n: int = 60, odd: int = 5, seed: int = 0,
                    items: bool = False) -> HeteroData:
    """Two communities of users, features around +2 / -2, friends (symmetric, 4 each)
    within a community. User ``odd`` sits in community A with B's features: ordinary on
    its own, odd only against its neighbours. ``items``: also featureless items, user
    ``i`` likes item ``i % 10``."""
    g = torch.Generator().manual_seed(seed)
    in_b = torch.arange(n) >= n // 2
    x = torch.randn(n, 4, generator=g) * 0.7 + torch.where(in_b, -2.0, 2.0).view(-1, 1)
    x[odd] = torch.randn(4, generator=g) * 0.7 - 2.0
    src, dst = [], []
    for side in (False, True):
        members = torch.arange(n)[in_b == side]
        for v in members.tolist():
            others = members[members != v]
            pick = others[torch.randperm(len(others), generator=g)[:4]].tolist()
            src += [v] * len(pick)
            dst += pick
    ei = torch.tensor([src, dst])
    h = HeteroData()
    h["user"].x = x
    h["user", "friend", "user"].edge_index = torch.unique(torch.cat([ei, ei.flip(0)], 1),
                                                          dim=1)
    if items:
        h["item"].num_nodes = 10
        h["user", "likes", "item"].edge_index = torch.stack([torch.arange(n),
                                                             torch.arange(n) % 10])
    return h


@pytest.mark.parametrize("seed", [0, 1])
def test_node_its_neighbours_disagree_with_ranks_first(seed):
    h = community_graph()
    det = MultimodalGAE(seed=seed, **FAST).fit(h)
    comps = det.score_components(h)["user"]
    assert int(comps["consistency"].argmax()) == 5
    assert float(comps["consistency"][5]) > 3 * float(comps["consistency"].topk(2).values[1])
    assert int(det.decision_function(h)["user"].argmax()) == 5


@pytest.mark.xfail(strict=True, reason=(
    "known weakness: consistency averages over incoming relations, and the learned "
    "prediction from featureless items (constant input) is a function of the user's "
    "own features only; its bimodal error drowns the friend-affinity signal"))
def test_node_its_neighbours_disagree_with_ranks_first_with_items():
    h = community_graph(items=True)
    det = MultimodalGAE(seed=0, **FAST).fit(h)
    assert int(det.score_components(h)["user"]["consistency"].argmax()) == 5


XM_SCHEMA: Dict = {
    "nodes": {
        "user": {"table": "users", "id": "user_id", "numeric": ["age"]},
        "review": {"table": "reviews", "id": "review_id", "modality": "text",
                   "column": "text", "encoder": {"name": "tfidf", "dim": 8}},
        "spend": {"table": "spend", "id": "series_id", "modality": "series",
                  "points": {"table": "points", "key": "series_id", "time": "ts",
                             "value": "amount"}},
    },
    "relations": [
        {"src": "user", "rel": "wrote", "dst": "review", "table": "reviews",
         "src_key": "user_id", "dst_key": "review_id"},
        {"src": "user", "rel": "spends", "dst": "spend", "table": "spend",
         "src_key": "user_id", "dst_key": "series_id"},
    ],
}
CHEAP = ["cheap socks, bargain price", "budget socks on sale, cheap",
         "bargain: cheap socks again", "sale price socks, budget buy"]
LUXURY = ["luxury watch, premium gold", "premium designer watch, exclusive",
          "exclusive gold watch, luxury brand", "designer luxury watch, premium"]
TWO_FACED = 10


def crossmodal_tables(n: int = 40, seed: int = 0) -> Dict[str, pd.DataFrame]:
    """Each user writes one review and has one daily spend series: cheap-socks reviewers
    spend ~10 a day, luxury-watch reviewers ~1000. ``u10`` reviews cheap socks and spends
    like a watch buyer: both modalities are common, their pairing is not. ``u40`` has
    neither modality."""
    rng = np.random.default_rng(seed)
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(n + 1)],
                          "age": rng.integers(20, 60, n + 1)})
    luxury = np.arange(n) % 2 == 1
    texts = [(LUXURY if lux else CHEAP)[int(rng.integers(4))] for lux in luxury]
    ids = [f"u{i}" for i in range(n)]
    reviews = pd.DataFrame({"review_id": [f"r{i}" for i in range(n)], "user_id": ids,
                            "text": texts})
    spend = pd.DataFrame({"series_id": [f"s{i}" for i in range(n)], "user_id": ids})
    rows = []
    for i in range(n):
        level = 1000.0 if luxury[i] or i == TWO_FACED else 10.0
        rows += [(f"s{i}", float(t), level * float(rng.lognormal(0, 0.3))) for t in range(30)]
    points = pd.DataFrame(rows, columns=["series_id", "ts", "amount"])
    return {"users": users, "reviews": reviews, "spend": spend, "points": points}


def test_cross_modal_disagreement_ranks_first():
    b = graphad.build_graph(crossmodal_tables(), XM_SCHEMA, use_cache=False)
    assert b.modality == {"user": None, "review": "text", "spend": "series"}
    det = MultimodalGAE(seed=0, **FAST).fit(b)
    comps = det.score_components(b)["user"]
    cross = [k for k in comps if k.startswith("cross_modal:")]
    assert cross == ["cross_modal:review~spend"]
    err = comps[cross[0]]
    assert int(torch.nan_to_num(err, nan=-1.0).argmax()) == TWO_FACED
    assert torch.isnan(err[40]) and torch.isfinite(err[:40]).all()   # no modality: NaN
    assert float(err[TWO_FACED]) > 3 * float(err[:40].topk(2).values[1])
    scores = det.decision_function(b)["user"]
    # (u40, the only user without reviews or spending, is odd in its own way: its
    # degree profile). On 40 users the learned review ~ user consistency map overfits
    # one review at some seeds (seed 0: u14's review; first at seeds 1-4), so the
    # combined score is asked for the top 2 (5%).
    assert torch.isfinite(scores).all()
    assert int((scores[:40] > scores[TWO_FACED]).sum()) + 1 <= 2
    # observation types get no cross-modal component; entities get the roll-ups
    assert not any(k.startswith("cross_modal") for k in det.score_components(b)["review"])
    assert {"obs:review", "obs:spend"} <= set(comps)


# ---------------------------------------------------------------- memory
class _LargestTensor(TorchDispatchMode):
    """Records the largest tensor any op returns (sparse: its stored values)."""

    def __init__(self):
        super().__init__()
        self.largest, self.op = 0, None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                n = t._nnz() if t.is_sparse else t.numel()
                if n > self.largest:
                    self.largest, self.op = n, func
        return out


def test_no_dense_adjacency(monkeypatch):
    import torch_geometric.utils
    import torch_geometric.utils._to_dense_adj as dense_adj

    def refuse(*args, **kwargs):
        raise AssertionError("to_dense_adj called")
    monkeypatch.setattr(torch_geometric.utils, "to_dense_adj", refuse)
    monkeypatch.setattr(dense_adj, "to_dense_adj", refuse)
    h = planted_graph(n_users=1000, n_devices=100)
    n = 1100
    mode = _LargestTensor()
    with mode:
        det = MultimodalGAE(seed=0, hidden=16, epochs=3, device="cpu").fit(h)
        det.score_edges(h)
    assert 2000 * 16 <= mode.largest < n * n / 10, (mode.largest, mode.op)  # O(E * h)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("batch_size", [None, 16])
def test_cuda_fit(graph, batch_size):
    """Trains on the GPU, leaves CPU and CUDA RNG states alone, scores on CPU like a CPU
    run would (not bit-exact: CUDA scatter is not deterministic)."""
    params = {**FAST, "device": "cuda", "batch_size": batch_size}
    cpu_rng, cuda_rng = torch.get_rng_state(), torch.cuda.get_rng_state()
    det = MultimodalGAE(seed=0, **params).fit(graph)
    assert torch.equal(cpu_rng, torch.get_rng_state())
    assert torch.equal(cuda_rng, torch.cuda.get_rng_state())
    assert all(p.device.type == "cpu" for p in det.module_.parameters())
    scores = det.decision_function(graph)
    assert all(torch.isfinite(s).all() for s in scores.values())
    if batch_size is None:
        # (not with mini-batches: 6x the optimiser steps memorise the planted user, as
        # test_gae_minibatch shows)
        assert int(scores["user"].argmax()) == PLANTED
        cpu = MultimodalGAE(seed=0, **{**params, "device": "cpu"}).fit(graph)
        torch.testing.assert_close(scores["user"], cpu.decision_function(graph)["user"],
                                   rtol=0.05, atol=0.05)


def test_trim_leaves_the_largest_errors_out_of_the_loss():
    from graphad.nn.gae import MultimodalGAEModule
    from graphad.nn.families.base import trimmed_mean
    module = MultimodalGAEModule((["a"], []), {"a": 3}, {}, {}, hidden=4, trim=0.2)
    assert module.families["attribute"].trim == 0.2
    err = torch.tensor([1.0, 1.0, 1.0, 1.0, 100.0])
    assert float(trimmed_mean(err, 0.2)) == 1.0
    assert float(trimmed_mean(err, 0.0)) == pytest.approx(20.8)
    with pytest.raises(ValueError, match="trim"):
        MultimodalGAE(trim=0.6)._check_params()


def test_save_and_load_methods_round_trip(fitted, tmp_path, graph):
    path = fitted.save(tmp_path / "model.pt")
    again = MultimodalGAE.load(path)
    assert again.get_params() == fitted.get_params()
    for t, s in fitted.decision_function(graph).items():
        assert torch.equal(s, again.decision_function(graph)[t]), t
    from graphad.detectors import EarlyFusionIForest
    from graphad.errors import GraphadError
    with pytest.raises(GraphadError, match="MultimodalGAE"):
        EarlyFusionIForest.load(path)
