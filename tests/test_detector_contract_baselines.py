"""The scikit-learn / PyOD detector contract on the fusion baselines, and the scoring
helpers behind it (normalisation, thresholds, probabilities, score tables, metrics)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch_geometric.data import Data, HeteroData

from graphad.data import IdMap, from_hetero_data
from graphad.data.bundle import GraphBundle
from graphad.detectors import (EarlyFusionAE, EarlyFusionIForest, EarlyFusionOCSVM,
                               LateFusionAE, LateFusionIForest, LateFusionOCSVM)
from graphad.metrics import auroc_by_type, evaluate, recall_at_k
from graphad.scoring.normalize import MAD_TO_STD, RobustNormalizer
from graphad.scoring.table import scores_table, top_k
from graphad.scoring.threshold import (confidence, contamination_threshold,
                                       fit_thresholds, linear_proba, unify_proba)
from planted import PLANTED, planted_hetero

DETECTORS = [EarlyFusionIForest, LateFusionIForest, EarlyFusionOCSVM, EarlyFusionAE,
             LateFusionOCSVM, LateFusionAE]


def make(cls, **kwargs):
    trees = kwargs.pop("n_estimators", 30)
    if "n_estimators" in cls._get_param_names():
        kwargs["n_estimators"] = trees
    return cls(**kwargs)


def planted_graph(n_users: int = 80, n_devices: int = 12, seed: int = 0) -> GraphBundle:
    """:func:`planted.planted_hetero` with external ids ``u<i>`` / ``d<i>``."""
    h = planted_hetero(n_users, n_devices, seed)
    ids = IdMap({"user": [f"u{i}" for i in range(n_users)],
                 "device": [f"d{i}" for i in range(n_devices)]})
    return from_hetero_data(h, ids=ids)


@pytest.fixture(scope="module")
def graph() -> GraphBundle:
    return planted_graph()


def snapshot(bundle: GraphBundle):
    out = {}
    for store in bundle.data.stores:
        for name, value in store.items():
            out[(getattr(store, "_key", None), name)] = (
                value.clone() if torch.is_tensor(value) else value)
    return out


# ---------------------------------------------------------------- sklearn contract
@pytest.mark.parametrize("cls", DETECTORS)
def test_clone_and_get_params(cls):
    det = make(cls, seed=3, contamination=0.05)
    params = det.get_params()
    assert params["seed"] == 3 and params["contamination"] == 0.05
    assert params.get("n_estimators", 30) == 30
    twin = clone(det)
    assert twin is not det and twin.get_params() == params
    assert cls(**params).get_params() == params
    assert twin.set_params(seed=4) is twin and twin.seed == 4 and det.seed == 3


@pytest.mark.parametrize("cls", DETECTORS)
def test_clone_of_fitted_is_unfitted(cls, graph):
    det = make(cls).fit(graph)
    twin = clone(det)
    assert not hasattr(twin, "decision_scores_")
    with pytest.raises(NotFittedError):
        twin.decision_function(graph)


@pytest.mark.parametrize("cls", DETECTORS)
@pytest.mark.parametrize("method", ["decision_function", "predict", "predict_proba",
                                    "predict_confidence", "score_components"])
def test_not_fitted_error(cls, graph, method):
    with pytest.raises(NotFittedError):
        getattr(make(cls), method)(graph)


@pytest.mark.parametrize("cls", DETECTORS)
def test_init_stores_params_only(cls):
    det = make(cls)
    assert not [k for k in vars(det) if k.endswith("_")]


@pytest.mark.parametrize("cls", DETECTORS)
@pytest.mark.parametrize("contamination", [0.0, -0.1, 0.6])
def test_bad_contamination(cls, graph, contamination):
    with pytest.raises(ValueError, match="contamination"):
        make(cls, contamination=contamination).fit(graph)


@pytest.mark.parametrize("cls", DETECTORS)
def test_fit_returns_self_and_fitted_state(cls, graph):
    det = make(cls)
    assert det.fit(graph) is det
    assert set(det.decision_scores_) == {"user", "device"}
    assert det.decision_scores_["user"].shape == (80,)
    assert det.decision_scores_["user"].dtype == torch.float32
    assert det.node_types_ == ["user", "device"]
    for t, s in det.decision_function(graph).items():
        assert torch.allclose(s, det.decision_scores_[t], atol=1e-6)


@pytest.mark.parametrize("cls", DETECTORS)
@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.2])
def test_predict_share_matches_contamination(cls, graph, contamination):
    det = make(cls, contamination=contamination).fit(graph)
    pred = det.predict(graph)
    for t, labels in pred.items():
        n = graph.data[t].num_nodes
        assert labels.dtype == torch.long
        assert set(labels.unique().tolist()) <= {0, 1}
        assert torch.equal(labels, det.labels_[t])
        thr = det.threshold_[t]
        # nodes tied at the threshold (users sharing one device roll up the same
        # device score) cannot be split: all of them stay below
        tied = int((det.decision_scores_[t] == thr).sum())
        assert abs(int(labels.sum()) - contamination * n) <= max(1, 0.02 * n) + tied, t
        assert torch.equal(labels, (det.decision_scores_[t] > thr).long())


@pytest.mark.parametrize("cls", DETECTORS)
@pytest.mark.parametrize("method", ["linear", "unify"])
def test_predict_proba(cls, graph, method):
    det = make(cls).fit(graph)
    for t, p in det.predict_proba(graph, method=method).items():
        assert p.shape == (graph.data[t].num_nodes, 2)
        assert torch.allclose(p.sum(dim=1), torch.ones(len(p)))
        assert (p >= 0).all() and (p <= 1).all()
        scores = det.decision_scores_[t]
        top = int(scores.argmax())
        assert float(p[top, 1]) == float(p[:, 1].max())
    with pytest.raises(ValueError, match="method"):
        det.predict_proba(graph, method="softmax")


@pytest.mark.parametrize("cls", DETECTORS)
def test_predict_confidence_in_unit_interval(cls, graph):
    det = make(cls).fit(graph)
    for t, c in det.predict_confidence(graph).items():
        assert c.shape == (graph.data[t].num_nodes,)
        assert (c >= 0).all() and (c <= 1).all()


@pytest.mark.parametrize("cls", DETECTORS)
def test_same_seed_same_scores(cls, graph):
    a = make(cls, seed=7).fit(graph).decision_scores_
    b = make(cls, seed=7).fit(graph).decision_scores_
    c = make(cls, seed=8).fit(graph).decision_scores_
    for t in a:
        assert torch.equal(a[t], b[t])
    assert not torch.equal(a["user"], c["user"])


@pytest.mark.parametrize("cls", DETECTORS)
def test_fit_does_not_mutate_graph(cls):
    graph = planted_graph()
    before = snapshot(graph)
    types_before = list(graph.data.edge_types)
    det = make(cls).fit(graph)
    det.decision_function(graph)
    det.predict_proba(graph)
    after = snapshot(graph)
    assert list(graph.data.edge_types) == types_before
    assert set(after) == set(before)
    for key, value in before.items():
        if torch.is_tensor(value):
            assert torch.equal(after[key], value), key
        else:
            assert after[key] == value, key


@pytest.mark.parametrize("cls", DETECTORS)
def test_planted_outlier_ranks_first(cls, graph):
    det = make(cls, n_estimators=100).fit(graph)
    scores = det.decision_scores_["user"]
    assert int(scores.argmax()) == PLANTED
    assert int(det.predict(graph)["user"][PLANTED]) == 1
    table = scores_table(graph, det.decision_scores_)
    first = table[(table["node_type"] == "user") & (table["rank"] == 1)]
    assert first["id"].tolist() == [f"u{PLANTED}"]


@pytest.mark.parametrize("cls", DETECTORS)
def test_fits_homogeneous_data(cls):
    x = torch.randn(60, 3, generator=torch.Generator().manual_seed(1))
    x[5] = 15.0
    ei = torch.stack([torch.arange(60), (torch.arange(60) + 1) % 60])
    det = make(cls, n_estimators=100).fit(Data(x=x, edge_index=ei))
    assert list(det.decision_scores_) == ["node"]
    scores = det.decision_scores_["node"]
    # node 5 scores the maximum (early fusion puts its neighbours 4 and 6, whose
    # neighbour means hold its values, as far out: a kernel method may tie them)
    assert float(scores[5]) >= float(scores.max()) - 1e-3
    assert int(torch.topk(scores, 3).indices.eq(5).sum()) == 1


@pytest.mark.parametrize("cls", DETECTORS)
def test_scores_any_graph_of_the_schema(cls, graph):
    det = make(cls).fit(graph)
    other = planted_graph(n_users=30, n_devices=5, seed=3)
    scores = det.decision_function(other)
    assert scores["user"].shape == (30,) and scores["device"].shape == (5,)
    assert int(scores["user"].argmax()) == PLANTED


def test_late_fusion_rolls_observations_up(bundle):
    det = LateFusionIForest(n_estimators=20).fit(bundle)
    comps = det.score_components(bundle)
    # observations roll up as obs:<type>, linked entities of other types as nbr:<type>
    assert set(comps["user"]) == {"attribute", "obs:review", "obs:spend", "nbr:device",
                                  "nbr:merchant"}
    # users without a review have no review evidence (NaN), not a zero pretending to be one
    has_review = torch.zeros(5, dtype=torch.bool)
    has_review[bundle.data["user", "wrote", "review"].edge_index[0]] = True
    assert torch.equal(torch.isnan(comps["user"]["obs:review"]), ~has_review)
    assert set(EarlyFusionIForest(n_estimators=20).fit(bundle)
               .score_components(bundle)["user"]) == {"attribute"}


# ---------------------------------------------------------------- RobustNormalizer
@pytest.mark.parametrize("n", [9, 10, 101])
def test_robust_normalizer_median_zero_mad_one(n):
    e = torch.randn(n, generator=torch.Generator().manual_seed(n)) * 5 + 3
    e[0] = 1000.0                                            # an outlier barely matters
    norm = RobustNormalizer().fit({"user": {"attribute": e}})
    z = norm.transform({"user": {"attribute": e}})["user"]["attribute"].numpy()
    assert z.dtype == np.float32
    assert abs(np.median(z)) < 1e-5
    assert abs(MAD_TO_STD * np.median(np.abs(z - np.median(z))) - 1) < 1e-5
    assert norm.center_["user"]["attribute"] == pytest.approx(float(np.median(e.numpy())))


def test_robust_normalizer_by_hand():
    # median (2 + 3) / 2 = 2.5; |e - 2.5| = .5 .5 1.5 1.5 2 7.5 -> MAD (1.5 + 1.5) / 2
    e = torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0, 0.5])
    norm = RobustNormalizer().fit({"t": {"c": e}})
    assert norm.center_["t"]["c"] == pytest.approx(2.5)
    assert norm.scale_["t"]["c"] == pytest.approx(1.5 * MAD_TO_STD)
    z = norm.transform({"t": {"c": torch.tensor([2.5, 2.5 + 1.5 * MAD_TO_STD])}})
    assert z["t"]["c"].tolist() == pytest.approx([0.0, 1.0])


@pytest.mark.parametrize("values", [[4.0] * 7, [0.0] * 3, [2.0]])
def test_robust_normalizer_constant_column(values):
    e = torch.tensor(values)
    norm = RobustNormalizer().fit({"t": {"c": e}})
    z = norm.transform({"t": {"c": e}})["t"]["c"]
    assert torch.isfinite(z).all() and torch.equal(z, torch.zeros(len(values)))
    new = norm.transform({"t": {"c": torch.tensor([values[0] + 1.0])}})["t"]["c"]
    assert torch.isfinite(new).all() and float(new[0]) > 0


def test_robust_normalizer_mostly_constant_column():
    e = torch.tensor([1.0] * 9 + [11.0])                     # MAD 0 -> mean abs dev 1.0
    z = RobustNormalizer().fit({"t": {"c": e}}).transform({"t": {"c": e}})["t"]["c"]
    assert z.tolist() == pytest.approx([0.0] * 9 + [10.0])


def test_robust_normalizer_nan_and_unseen():
    e = torch.tensor([1.0, float("nan"), 3.0, 5.0])
    norm = RobustNormalizer().fit({"t": {"c": e}})
    assert norm.center_["t"]["c"] == 3.0                     # NaN ignored
    z = norm.transform({"t": {"c": e, "new": torch.tensor([1.0, 2.0, 3.0])}})["t"]
    assert math.isnan(float(z["c"][1])) and torch.isfinite(z["c"][[0, 2, 3]]).all()
    assert float(z["new"][1]) == 0.0                         # unseen: standardised on itself
    empty = RobustNormalizer().fit({"t": {"c": torch.tensor([float("nan")])}})
    assert (empty.center_["t"]["c"], empty.scale_["t"]["c"]) == (0.0, 1.0)


# ---------------------------------------------------------------- thresholds
@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.2, 0.5])
def test_contamination_threshold(contamination):
    scores = torch.randperm(200, generator=torch.Generator().manual_seed(0)).float()
    thr = contamination_threshold(scores, contamination)
    assert thr == pytest.approx(float(np.quantile(scores.numpy(), 1 - contamination)))
    assert int((scores > thr).sum()) == round(contamination * 200)


def test_thresholds_per_type_ignore_non_finite():
    scores = {"a": torch.tensor([1.0, 2.0, 3.0, 4.0, float("nan"), float("inf")]),
              "b": torch.tensor([float("nan")])}
    thr = fit_thresholds(scores, 0.25)
    assert thr["a"] == pytest.approx(3.25)
    assert thr["b"] == math.inf


def test_probabilities_by_hand():
    train = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
    assert linear_proba(torch.tensor([-1.0, 0.0, 2.0, 4.0, 9.0]), train).tolist() == \
        [0.0, 0.0, 0.5, 1.0, 1.0]
    assert linear_proba(torch.tensor([3.0]), torch.tensor([3.0, 3.0])).tolist() == [0.0]
    u = unify_proba(torch.tensor([0.0, 2.0, 100.0]), train)
    assert u[0] == 0 and u[1] == 0 and float(u[2]) == pytest.approx(1.0)
    c = confidence(torch.tensor([0.0, 2.0, 100.0]), train, 0.2)
    assert ((c >= 0) & (c <= 1)).all()


# ---------------------------------------------------------------- scores_table
def test_scores_table_columns_and_ranks(bundle):
    scores = {"user": torch.tensor([0.1, 0.9, 0.5, 0.9, -1.0]),
              "device": torch.tensor([2.0, 1.0, 3.0])}
    comps = {"user": {"attribute": torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])}}
    pred = {"user": torch.tensor([0, 1, 0, 1, 0]), "device": torch.tensor([0, 0, 1])}
    labels = pd.DataFrame({"node_type": ["user", "user", "device"], "id": ["u2", "u5", "d3"],
                           "label": [1, 0, 1], "anomaly_type": ["ring", None, "farm"]})
    table = scores_table(bundle, scores, comps, labels=labels, predicted=pred)
    assert list(table.columns) == ["node_type", "id", "score", "rank", "pred", "c_attribute",
                                   "label", "anomaly_type"]
    assert table["node_type"].tolist() == ["user"] * 5 + ["device"] * 3
    assert table["id"].tolist() == ["u1", "u2", "u3", "u4", "u5", "d1", "d2", "d3"]
    assert table["rank"].tolist() == [4, 1, 3, 2, 5, 2, 3, 1]       # ties: first wins
    assert table["pred"].tolist() == [0, 1, 0, 1, 0, 0, 0, 1]
    assert table["c_attribute"].tolist()[:5] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert table["c_attribute"].iloc[5:].isna().all()
    assert table["label"].tolist() == [0, 1, 0, 0, 0, 0, 0, 1]
    assert table["anomaly_type"].tolist()[1] == "ring" and table["anomaly_type"].iloc[7] == \
        "farm"
    top = top_k(table, "user", k=2)
    assert top["id"].tolist() == ["u2", "u4"]


def test_scores_table_nan_scores_rank_last(bundle):
    scores = {"device": torch.tensor([float("nan"), 1.0, 2.0])}
    table = scores_table(bundle, scores)
    assert table["rank"].tolist() == [3, 2, 1]


# ---------------------------------------------------------------- metrics
@pytest.mark.parametrize("k, expected", [(None, 0.5), (1, 0.5), (2, 0.5), (3, 1.0),
                                         (6, 1.0)])
def test_recall_at_k(k, expected):
    y = np.array([1, 0, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3])    # order: 0(a) 1 3(a) 5 4 2
    assert recall_at_k(y, s, k) == expected


def test_recall_at_k_without_anomalies():
    assert math.isnan(recall_at_k(np.zeros(4), np.arange(4.0)))


def test_evaluate_by_hand():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    out = evaluate(y, s)
    assert out["auroc"] == pytest.approx(0.75)
    assert out["auprc"] == pytest.approx((1 + 2 / 3) / 2)      # precision at each hit
    assert out["recall_at_k"] == 0.5
    assert all(math.isnan(v) for v in evaluate(np.zeros(3), np.arange(3.0)).values())


def test_auroc_by_type_by_hand():
    labels = pd.DataFrame({
        "label": [0, 0, 0, 1, 1, 1],
        "anomaly_type": ["none", "none", "none", "ring", "ring", "burst"]},
        index=[10, 11, 12, 13, 14, 15])
    scores = np.array([0.1, 0.5, 0.3, 0.9, 0.4, 0.2])
    out = auroc_by_type(labels, scores)
    # ring (0.9, 0.4) vs normals (0.1, 0.5, 0.3): pairs won 3 + 2 = 5 of 6
    # burst (0.2) vs normals: beats only 0.1 -> 1 of 3
    assert out == {"burst": pytest.approx(1 / 3), "ring": pytest.approx(5 / 6)}


# ---------------------------------------------------------------- combination rules
def test_max_and_rank_rules_by_hand():
    from graphad.scoring.combine import combine_components, component_parts
    comps = {"a": torch.tensor([3.0, 0.0, float("nan"), -1.0]),
             "b": torch.tensor([1.0, 0.0, 2.0, float("nan")])}
    top = combine_components(comps, rule="max")
    assert torch.allclose(top, torch.tensor([3.0, 0.0, 2.0, 0.0]))
    rank = combine_components(comps, rule="rank")
    # mean p of the present components, p = exp(-max(s, 0))
    expected = [-math.log((math.exp(-3) + math.exp(-1)) / 2), 0.0, 2.0, 0.0]
    assert torch.allclose(rank, torch.tensor(expected), atol=1e-6)
    weighted = combine_components(comps, {"a": 3.0}, rule="rank")
    assert weighted[0] == pytest.approx(-math.log((3 * math.exp(-3) + math.exp(-1)) / 4),
                                        rel=1e-6)
    for rule in ("max", "rank"):
        parts = component_parts(comps, {"a": 2.0}, rule)
        total = combine_components(comps, {"a": 2.0}, rule)
        assert torch.allclose(parts["a"] + parts["b"], total, atol=1e-6)
    assert component_parts(comps, None, "max")["b"][0] == 0.0   # all to the largest


@pytest.mark.parametrize("rule", ["hmp", "mean", "max", "rank"])
def test_late_fusion_combination_choices(bundle, rule):
    from graphad.scoring.combine import combine_components
    for cls in (LateFusionIForest, LateFusionOCSVM, LateFusionAE):
        det = cls(seed=0, combination=rule).fit(bundle)
        comps = det.score_components(bundle)
        expected = combine_components(comps["user"], None, rule)
        assert torch.allclose(det.decision_function(bundle)["user"], expected)
    with pytest.raises(ValueError, match="combination must be one of"):
        LateFusionIForest(combination="median").fit(bundle)
