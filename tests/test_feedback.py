"""Analyst feedback: labels re-weigh the components (and add proximity) without
retraining; no labels changes nothing; bad label tables are refused with their rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import HeteroData

from graphad.cli import main
from graphad.detectors.gae import MultimodalGAE
from graphad.detectors.persistence import load_detector
from graphad.errors import DataValidationError, GraphadError
from graphad.metrics import evaluate
from graphad.scoring.combine import combine_components, omnibus_score, sparse_dense_tests
from graphad.scoring.explain import contributions
from graphad.scoring.proximity import proximity_components

FAST = dict(hidden=16, epochs=30, device="cpu")
N, RING = 300, 24


def ring_graph(seed: int = 0) -> HeteroData:
    """Users with ordinary features and a sparse random friend graph (degree ~4). Users
    ``0..RING-1`` form a circle of friends, each linked to the next and the third next
    (a mule network without triangles): their features, degrees and clustering are
    ordinary, so the unsupervised score does not single them out; only their closeness
    to one another does."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 8, generator=g)
    src = torch.randint(0, N, (2 * N,), generator=g)
    dst = torch.randint(0, N, (2 * N,), generator=g)
    ring = torch.arange(RING)
    src = torch.cat([src[2 * RING:], ring, ring])   # as many edges as the random ones
    dst = torch.cat([dst[2 * RING:], (ring + 1) % RING, (ring + 3) % RING])
    keep = src != dst
    ei = torch.stack([src[keep], dst[keep]])
    h = HeteroData()
    h["user"].x = x
    h["user", "friend", "user"].edge_index = torch.unique(torch.cat([ei, ei.flip(0)], 1),
                                                          dim=1)
    return h


def truth() -> np.ndarray:
    y = np.zeros(N, dtype=int)
    y[:RING] = 1
    return y


def labels_for(pos, neg) -> pd.DataFrame:
    return pd.DataFrame({"node_type": "user", "id": list(pos) + list(neg),
                         "label": [1] * len(pos) + [0] * len(neg)})


@pytest.fixture(scope="module")
def fitted():
    h = ring_graph()
    return h, MultimodalGAE(seed=0, **FAST).fit(h)


def _auroc_unlabelled(scores: torch.Tensor, labelled) -> float:
    y = truth()
    rest = np.setdiff1d(np.arange(N), labelled)
    return evaluate(y[rest], scores.numpy()[rest])["auroc"]


def test_labels_lift_a_type_the_unsupervised_score_misses(fitted):
    h, det = fitted
    rng = np.random.default_rng(0)
    pos = rng.choice(RING, 5, replace=False)
    neg = rng.choice(np.arange(RING, N), 50, replace=False)
    before = _auroc_unlabelled(det.decision_function(h)["user"], np.r_[pos, neg])
    det.feedback(h, labels_for(pos, neg))
    after = _auroc_unlabelled(det.decision_function(h)["user"], np.r_[pos, neg])
    # the circle looks more ordinary than ordinary users to every unsupervised
    # component (before: 0.26); proximity to 5 confirmed members lifts the other 19
    assert before < 0.5, before
    assert after > 0.75 and after > before + 0.4, (before, after)
    weights = det.feedback_weights_["user"]
    assert all(w >= 0 for w in weights.values())
    assert "near" in weights and det.component_weights(weights, "user")["near"] > 0
    # explanations still add up to the score, and name the new component
    comps = det.score_components(h)["user"]
    scores = det.decision_function(h)["user"]
    idx = int(np.setdiff1d(np.arange(RING), pos)[0])
    table = contributions(det, comps, idx, "user")
    assert table["contribution"].sum() == pytest.approx(float(scores[idx]), rel=1e-5)
    assert "near" in set(table["component"])


def test_no_labels_scores_are_the_unsupervised_combination(fitted):
    h, _ = fitted
    det = MultimodalGAE(seed=0, **FAST).fit(h)
    assert det.feedback_weights_ == {}
    comps = det.score_components(h)["user"]
    assert "near" not in comps
    assert det.combination == "omnibus"
    tests = sparse_dense_tests(comps, det.weights)
    expected = omnibus_score(tests, det.calibration_.transform({"user": tests})["user"])
    assert torch.equal(det.decision_function(h)["user"], expected)
    hmp = MultimodalGAE(seed=0, combination="hmp", **FAST).fit(h)
    assert torch.equal(hmp.decision_function(h)["user"],
                       combine_components(hmp.score_components(h)["user"], None, "hmp"))
    again = MultimodalGAE(seed=0, **FAST).fit(h, labels=None)
    assert torch.equal(again.decision_function(h)["user"], expected)


def test_fit_with_labels_is_fit_then_feedback(fitted):
    h, _ = fitted
    labels = labels_for([0, 3, 7], [100, 101, 102, 103])
    a = MultimodalGAE(seed=0, **FAST).fit(h, labels)
    b = MultimodalGAE(seed=0, **FAST).fit(h).feedback(h, labels)
    assert torch.equal(a.decision_function(h)["user"], b.decision_function(h)["user"])
    assert a.feedback_weights_ == b.feedback_weights_
    # the fitted scores and threshold follow the feedback
    assert torch.equal(a.decision_scores_["user"], a.decision_function(h)["user"])


def test_feedback_survives_save_and_load(fitted, tmp_path):
    h, det = fitted
    det.feedback(h, labels_for([1, 2, 9], [200, 201, 202]))
    for path in (tmp_path / "model.pt", tmp_path / "model_dir"):
        det.save(path)
        back = load_detector(path)
        assert back.feedback_weights_ == det.feedback_weights_
        assert torch.equal(back.decision_function(h)["user"],
                           det.decision_function(h)["user"])


def test_proximity_leave_one_out_and_hubs():
    """A labelled node is near itself only without leave-one-out; nodes no walk from a
    labelled node reaches get 0."""
    h = HeteroData()
    h["user"].x = torch.zeros(8, 1)
    # two components: a path 0-1-2-3 and a path 4-5-6-7
    ei = torch.tensor([[0, 1, 2, 4, 5, 6], [1, 2, 3, 5, 6, 7]])
    h["user", "friend", "user"].edge_index = torch.cat([ei, ei.flip(0)], 1)
    from graphad.data.bundle import as_bundle
    b = as_bundle(h)
    near = proximity_components(b, {"user": torch.tensor([0])})["user"]
    assert float(near[0]) == float(near.max()) > 0
    assert torch.all(near[4:] == 0)
    loo = proximity_components(b, {"user": torch.tensor([0])}, leave_one_out=True)["user"]
    assert float(loo[0]) == 0.0                  # alone: no other confirmed anomaly
    two = proximity_components(b, {"user": torch.tensor([0, 2])}, leave_one_out=True)
    assert float(two["user"][0]) > 0             # near the other one
    assert float(two["user"][1]) >= float(two["user"][3])


@pytest.mark.parametrize("table, words", [
    (pd.DataFrame({"node_type": ["user", "shop"], "id": [1, 2], "label": [1, 0]}),
     ["unknown node type", "'shop'", "rows: 3"]),
    (pd.DataFrame({"node_type": ["user", "user"], "id": [1, 9999], "label": [1, 0]}),
     ["not found", "9999", "rows: 3"]),
    (pd.DataFrame({"node_type": ["user", "user"], "id": [1, 2], "label": [1, 2]}),
     ["0 (normal) or 1", "'2'", "rows: 3"]),
    (pd.DataFrame({"node_type": ["user", "user", "user"], "id": [1, 2, 1],
                   "label": [1, 0, 0]}), ["both 0 and 1", "rows: 2, 4"]),
    (pd.DataFrame({"node_type": ["user"], "id": [1]}), ["missing column", "label"]),
])
def test_bad_label_tables_are_refused_with_their_rows(fitted, table, words):
    h, det = fitted
    before = dict(det.feedback_weights_)
    with pytest.raises(DataValidationError) as err:
        det.feedback(h, table)
    for w in words:
        assert w in str(err.value), str(err.value)
    assert det.feedback_weights_ == before          # nothing half-applied


def test_feedback_needs_a_confirmed_anomaly(fitted):
    h, det = fitted
    with pytest.raises(GraphadError, match="at least one confirmed anomaly"):
        det.feedback(h, labels_for([], [5, 6]))


def test_cli_fit_with_labels_and_feedback(tmp_path, capsys):
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from conftest import make_schema, make_tables
    from test_cli_model import write_tables
    schema = write_tables(tmp_path / "data", make_tables(), make_schema())
    labels = tmp_path / "labels.csv"
    labels_for(["u1"], ["u3", "u4"]).to_csv(labels, index=False)
    model, model2 = tmp_path / "m", tmp_path / "m2"
    assert main(["fit", "--schema", str(schema), "--out", str(model), "--epochs", "3",
                 "--param", "hidden=8", "--labels", str(labels)]) == 0
    out = capsys.readouterr().out
    assert "feedback weights for user:" in out
    assert {"near", "resemble"} <= set(load_detector(model).feedback_weights_["user"])
    plain = tmp_path / "plain"
    assert main(["fit", "--schema", str(schema), "--out", str(plain), "--epochs", "3",
                 "--param", "hidden=8"]) == 0
    assert main(["feedback", "--model", str(plain), "--schema", str(schema),
                 "--labels", str(labels), "--out", str(model2)]) == 0
    assert load_detector(model2).feedback_weights_ == load_detector(model).feedback_weights_
    bad = tmp_path / "bad.csv"
    bad.write_text("node_type,id,label\nuser,u1,1\nuser,nobody,0\n")
    capsys.readouterr()
    assert main(["feedback", "--model", str(plain), "--schema", str(schema),
                 "--labels", str(bad), "--out", str(tmp_path / "m3")]) == 1
    err = capsys.readouterr().err
    assert "nobody" in err and "rows: 3" in err and "Traceback" not in err
    assert not (tmp_path / "m3").exists()
