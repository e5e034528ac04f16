"""Explanations: exact contributions, modality pairs, edges, reasons, subgraphs."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import HeteroData

from graphad.data import IdMap, from_hetero_data
from graphad.detectors import MultimodalGAE
from graphad.errors import GraphadError
from graphad.scoring import explain_subgraph
from graphad.components import number_text
from graphad.scoring.explain import Explanation, contributions, explain, time_value

N = 60


def mismatch_graph(n: int = N, seed: int = 0):
    """Users with a review (text) and a photo (image) about one of 4 categories; the
    review of u00 is about another category than its photo."""
    rng = np.random.default_rng(seed)
    cats = rng.integers(0, 4, n)
    text_cat = cats.copy()
    text_cat[0] = (cats[0] + 2) % 4
    proj_text, proj_photo = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    data = HeteroData()
    data["user"].x = torch.tensor(rng.normal(size=(n, 3)), dtype=torch.float32)
    data["review"].x = torch.tensor(proj_text[text_cat] + 0.05 * rng.normal(size=(n, 8)),
                                    dtype=torch.float32)
    data["photo"].x = torch.tensor(proj_photo[cats] + 0.05 * rng.normal(size=(n, 8)),
                                   dtype=torch.float32)
    idx = torch.arange(n)
    data["user", "wrote", "review"].edge_index = torch.stack([idx, idx])
    data["user", "has_photo", "photo"].edge_index = torch.stack([idx, idx])
    ids = IdMap({"user": [f"u{i:02d}" for i in range(n)],
                 "review": [f"r{i:02d}" for i in range(n)],
                 "photo": [f"p{i:02d}" for i in range(n)]})
    bundle = from_hetero_data(data, ids=ids)
    bundle.modality.update({"review": "text", "photo": "image"})
    return bundle


@pytest.fixture(scope="module")
def mismatch():
    bundle = mismatch_graph()
    det = MultimodalGAE(epochs=5, hidden=8, seed=0).fit(bundle)
    return bundle, det


@pytest.fixture(scope="module")
def fitted_small():
    """The shared tiny table set (users, devices, merchants, reviews, spend)."""
    from conftest import make_schema, make_tables

    from graphad.data import build_graph
    bundle = build_graph(make_tables(), make_schema(), use_cache=False)
    return bundle, MultimodalGAE(epochs=3, hidden=8, seed=0).fit(bundle)


def test_contributions_add_up_to_the_score(mismatch, fitted_small):
    for bundle, det in (mismatch, fitted_small):
        scores = det.decision_function(bundle)
        for t in bundle.entity_types:
            for i in range(min(5, bundle.ids.num_nodes(t))):
                node_id = bundle.ids.external(t, [i])[0]
                ex = explain(bundle, (t, node_id), det)
                total = torch.tensor(ex.contributions["contribution"].sum(),
                                     dtype=torch.float32)
                assert torch.allclose(total, scores[t][i], atol=1e-5), (t, node_id)
                assert ex.score == pytest.approx(float(scores[t][i]))


def test_contributions_follow_the_detector_weights(mismatch):
    bundle, det = mismatch
    comps = det.score_components(bundle)["user"]
    name = next(iter(comps))
    original = det.weights
    try:
        det.weights = {name: 3.0}
        table = contributions(det, comps, 0, "user").set_index("component")
        score = det.combine({"user": comps})["user"][0]
        assert table["contribution"].sum() == pytest.approx(float(score), abs=1e-5)
        assert table.loc[name, "weight"] == 3.0
    finally:
        det.weights = original


def test_cross_modal_mismatch_names_the_modalities(mismatch):
    bundle, det = mismatch
    ex = explain(bundle, ("user", "u00"), det)
    assert ex.rank == 1 and ex.flagged
    top = ex.modalities.iloc[0]
    assert top["pair"] == "review ~ photo"
    assert {top["modality_a"], top["modality_b"]} == {"text", "image"}
    assert top["z"] > 3
    assert "review text disagrees with photo image" in ex.reason
    assert ex.reason.startswith("user u00:")
    # 60 training users cannot show a rarity of 1 in a million: their count instead
    assert re.search(r"\(cross-modal: reached by only \d of 60 training users\)",
                     ex.reason), ex.reason
    assert ex.unit == "nats" and ex.contributions["z"].iloc[0] >= 3
    # the table words each rarity as the reason does, beside the fitted tail's z
    top = ex.contributions.iloc[0]
    assert re.fullmatch(r"reached by only \d of 60 training users", top["rarity"])
    assert f"(cross-modal: {top['rarity']})" in ex.reason
    assert (ex.contributions["rarity"] == "").eq(ex.contributions["z"] <= 0).all()
    normal = explain(bundle, ("user", "u05"), det)
    assert "disagrees" not in normal.reason


def test_tables_name_neighbours_edges_and_observations(fitted_small):
    bundle, det = fitted_small
    ex = explain(bundle, ("user", "u5"), det)
    assert not ex.relations.empty and set(ex.relations["edges"]) >= {1}
    assert {"amount", "time"} <= set(ex.edges.columns)        # raw edge attributes
    assert ex.edges["z"].is_monotonic_decreasing
    assert "error" not in ex.edges.columns             # z is the edge's only score
    assert {"mean_z", "max_z"} <= set(ex.relations.columns)
    others = set(ex.neighbours["neighbour"])
    assert "device:d3" in others and "merchant:300" in others
    called = ex.neighbours[ex.neighbours["why"] == "most anomalous"]
    assert (called["score_z"] > 0).all()                # never a below-median neighbour
    every = explain(bundle, ("user", "u5"), det, top=50).neighbours
    assert (every["score_z"] <= 0).any()                # ... though it has some
    assert (every.loc[every["why"] == "most anomalous", "score_z"] > 0).all()
    assert not ex.observations.empty
    drivers = set(ex.observations["observation"])     # the linked node behind each roll-up
    assert {"review:r4", "spend:s3"} <= drivers
    assert set(ex.observations["component"]) >= {"obs:review", "obs:spend"}
    content = dict(zip(ex.observations["component"], ex.observations["content"]))
    assert content["obs:spend"] == ""          # a series has no text: not its owner's id
    assert content["obs:review"] != ""
    text = ex.to_text()
    assert "score = sum of contributions" in text and "u5" in text
    # the schema's time column reads as a UTC date, not seconds since 1970
    times = {number_text(t) for t in ex.edges["time"].dropna()}
    assert times and times <= {f"2023-11-14 22:{m:02d}:{s:02d} UTC" for m in range(13, 21)
                               for s in range(60)}
    assert all(t in text for t in times)
    every = explain(bundle, ("user", "u5"), det, top=50).features
    timed = every[every["feature"].str.contains(r"^(?:mean|earliest|latest) time of ")]
    assert len(timed) and all(number_text(v).startswith("2023-11-14 22:")
                              for v in timed["value"])
    assert np.isfinite(timed["z"]).all()
    assert ex.content == ""                       # a user has no text or image
    review = explain(bundle, ("review", "r1"), det)
    assert review.content == "great shoes and fast delivery"
    assert review.content in review.to_text() and review.content
    assert review.to_dict()["content"] == review.content


@pytest.mark.parametrize("value, text, iso", [
    (1_700_000_000, "2023-11-14 22:13:20 UTC", "2023-11-14T22:13:20Z"),
    (1.7e9, "2023-11-14 22:13:20 UTC", "2023-11-14T22:13:20Z"),
    (pd.Timestamp("2024-01-15 19:58:59"), "2024-01-15 19:58:59 UTC", "2024-01-15T19:58:59Z"),
    (pd.Timestamp("2024-01-15 20:58:59", tz="Europe/Paris"), "2024-01-15 19:58:59 UTC",
     "2024-01-15T19:58:59Z"),
    (17, "17", 17), ("2024-01-15", "2024-01-15", "2024-01-15")])
def test_edge_times_read_as_dates_in_text_and_iso_8601_in_json(value, text, iso):
    """A time reads the same in every sentence and table, and as ISO 8601 in JSON."""
    shown = time_value(value)
    assert number_text(shown) == text
    ex = Explanation(node_type="user", node_id="u1", score=1.0, threshold=None, rank=1,
                     n=1, contributions=pd.DataFrame(),
                     edges=pd.DataFrame([{"relation": "pays", "other": "merchant:m1",
                                          "z": 4.0, "time": shown}]))
    assert ex.to_dict()["edges"][0]["time"] == iso
    assert text in ex.to_text() and text in ex.to_markdown()
    assert time_value(float("nan")) != time_value(float("nan"))      # NaN stays NaN


def test_ids_are_matched_across_types_and_errors_are_clear(fitted_small):
    bundle, det = fitted_small
    assert explain(bundle, "merchant:300", det).node_id == 300    # int id given as text
    with pytest.raises(GraphadError, match="no user node with id 'u9'"):
        explain(bundle, ("user", "u9"), det)
    with pytest.raises(GraphadError, match="unknown node type"):
        explain(bundle, ("shop", "x"), det)
    with pytest.raises(GraphadError, match="TYPE:ID"):
        explain(bundle, "u1", det)


def test_shared_device_is_named():
    """Ten users on one device: the explanation says so."""
    data = HeteroData()
    n = 40
    data["user"].x = torch.randn(n, 3, generator=torch.Generator().manual_seed(0))
    data["device"].x = torch.ones(n + 1, 1)
    uses = [(i, i) for i in range(n)] + [(i, n) for i in range(10)]
    data["user", "uses", "device"].edge_index = torch.tensor(uses).t()
    ids = IdMap({"user": [f"u{i}" for i in range(n)],
                 "device": [f"d{i}" for i in range(n)] + ["d_farm"]})
    bundle = from_hetero_data(data, ids=ids)
    det = MultimodalGAE(epochs=3, hidden=8, seed=0).fit(bundle)
    ex = explain(bundle, ("user", "u3"), det)
    assert ex.shared.iloc[0]["neighbour"] == "device:d_farm"
    assert "shares device d_farm with 9 other users" in ex.reason


def test_unusual_inputs_are_judged_in_the_tables_own_values():
    """The featurised inputs are clipped (a tenth of these users sit at the cap): the
    share as far out and the z come from the table's own values, so the richest user is
    the 1 in 200 it is, and far more than the cap's 5 robust σ."""
    from graphad.data import build_graph
    rng = np.random.default_rng(0)
    balance = np.concatenate([rng.normal(100, 10, 180), np.geomspace(1000, 1e5, 20)])
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(200)], "balance": balance,
                          "age": rng.normal(40, 10, 200)})
    uses = pd.DataFrame({"user_id": users["user_id"], "device_id": [f"d{i % 150}"
                                                                    for i in range(200)]})
    schema = {"nodes": {"user": {"table": "users", "id": "user_id",
                                 "numeric": ["balance", "age"]},
                        "device": {"table": "devices", "id": "device_id"}},
              "relations": [{"src": "user", "rel": "uses", "dst": "device",
                             "table": "uses", "src_key": "user_id",
                             "dst_key": "device_id"}]}
    devices = pd.DataFrame({"device_id": [f"d{i}" for i in range(150)]})
    bundle = build_graph({"users": users, "uses": uses, "devices": devices}, schema,
                         use_cache=False)
    det = MultimodalGAE(epochs=3, hidden=8, seed=0).fit(bundle)
    row = explain(bundle, ("user", "u199"), det).features.set_index("feature").loc["balance"]
    assert row["value"] == pytest.approx(1e5)
    assert row["tail"] == pytest.approx(1 / 200)            # not the 20 at the cap
    assert row["z"] > 100


def test_the_most_improbably_shared_neighbours_are_named_first():
    """A photo that 10 users share, where each photo has one user, is named before a
    device that 12 share, where devices have two; both are named."""
    n = 40
    data = HeteroData()
    data["user"].x = torch.randn(n, 3, generator=torch.Generator().manual_seed(0))
    data["device"].x = torch.ones(n // 2 + 1, 1)
    data["photo"].x = torch.ones(n + 1, 1)
    uses = [(i, i // 2) for i in range(n)] + [(i, n // 2) for i in range(12)]
    has = [(i, i) for i in range(n)] + [(i, n) for i in range(10)]
    data["user", "uses", "device"].edge_index = torch.tensor(uses).t()
    data["user", "has", "photo"].edge_index = torch.tensor(has).t()
    ids = IdMap({"user": [f"u{i}" for i in range(n)],
                 "device": [f"d{i}" for i in range(n // 2)] + ["d_farm"],
                 "photo": [f"p{i}" for i in range(n)] + ["p_farm"]})
    det = MultimodalGAE(epochs=3, hidden=8, seed=0).fit(from_hetero_data(data, ids=ids))
    ex = explain(from_hetero_data(data, ids=ids), ("user", "u3"), det)
    assert list(ex.shared["neighbour"]) == ["photo:p_farm", "device:d_farm"]
    assert list(ex.shared["typical"]) == [1, 2]
    assert ex.shared["log10_p"].is_monotonic_increasing
    assert "shares photo p_farm with 9 other users and device d_farm with 11" in ex.reason


def test_explain_subgraph_terms_members_and_reason():
    from test_subgraph import CLIQUE, FARM_DEVICE, planted_graph, planted_scores
    bundle = planted_graph()
    scores = planted_scores(bundle)
    ex = explain_subgraph(bundle, {"user": CLIQUE}, scores=scores)
    assert ex.terms["contribution"].sum() == pytest.approx(ex.score)
    assert set(ex.terms["term"]) == {"member_z", "log_density", "log_shared"}
    assert list(ex.member_table["id"][:len(CLIQUE)]) == list(
        ex.member_table.sort_values("score", ascending=False)["id"][:len(CLIQUE)])
    assert f"device {FARM_DEVICE} (8 of its 8)" in ex.reason
    assert "follows links among them" in ex.reason
    assert ex.reason.startswith("8 users:")
    assert "internal edges" in ex.to_text()


def test_explain_subgraph_with_a_detector(fitted_small):
    bundle, det = fitted_small
    ex = explain_subgraph(bundle, [("user", "u5"), ("user", "u4"), ("device", "d3")], det)
    assert set(ex.member_table["type"]) == {"user", "device"}
    assert "main_component" in ex.member_table and "flagged" in ex.member_table
    assert ex.score == pytest.approx(ex.details["score"])


@pytest.mark.parametrize("z, unit, text", [(3.0, "nats", ": 1 in 40"),
                                           (6.1, "nats", ": 1 in 890"),
                                           (20.0, "nats", ": rarer than 1 in a million"),
                                           (4.06, "σ", " 4.1σ")])
def test_rarity_wording(z, unit, text):
    from graphad.scoring.reasons import _rarity
    assert _rarity(z, unit) == text


def test_explaining_and_discovering_prepare_and_score_the_graph_once(fitted_small,
                                                                      monkeypatch):
    from graphad.scoring import find_suspicious_subgraphs
    from graphad.scoring.explain import explain_many
    bundle, det = fitted_small
    user = bundle.ids.ids("user")[0]
    alone = explain(bundle, ("user", user), det)
    calls = {"prepare": 0, "errors": 0}
    prepare, errors = det._prepare, det._score_errors

    def count_prepare(*args, **kwargs):
        calls["prepare"] += 1
        return prepare(*args, **kwargs)

    def count_errors(*args, **kwargs):
        calls["errors"] += 1
        return errors(*args, **kwargs)

    monkeypatch.setattr(det, "_prepare", count_prepare)
    monkeypatch.setattr(det, "_score_errors", count_errors)
    many = explain_many(bundle, [("user", user), ("user", bundle.ids.ids("user")[1])], det)
    assert calls == {"prepare": 1, "errors": 1}
    assert many[0].score == pytest.approx(alone.score)
    assert many[0].contributions.equals(alone.contributions)
    assert many[0].edges.equals(alone.edges) and not many[0].edges.empty
    calls.update(prepare=0, errors=0)
    find_suspicious_subgraphs(bundle, det, k=3)
    assert calls == {"prepare": 1, "errors": 1}
    assert not hasattr(det, "_fit_memo")          # nothing kept after the block
    calls.update(prepare=0, errors=0)
    with det.scoring_once(bundle) as g:
        first = det.decision_function(g)
        det.score_edges(g)
        torch.testing.assert_close(det.decision_function(g), first)
    assert calls == {"prepare": 1, "errors": 1} and g is bundle


def test_reason_wording_of_inputs_and_forests():
    """Inputs carry their own robust z; where none is far out alone the reason says it
    is a combination, not the largest input's doing; the two forests read apart."""
    import pandas as pd
    from types import SimpleNamespace
    from graphad.components import spec_for
    from graphad.scoring.reasons import unusual_features_text
    far = SimpleNamespace(features=pd.DataFrame(
        {"feature": ["balance", "age"], "value": [9e5, 17.0], "z": [6.04, -2.31]}))
    assert unusual_features_text(far) == "balance=900000 (+6.0σ), age=17 (-2.3σ)"
    near = SimpleNamespace(features=pd.DataFrame(
        {"feature": ["age", "n_followers"], "value": [27.0, 16.0], "z": [-0.94, 0.5]}))
    assert unusual_features_text(near) == ("a rare combination of inputs, none far out "
                                           "alone (largest: age=27, -0.9σ)")
    own = spec_for("outlier").words(far, "outlier", ": 1 in 840")
    fused = spec_for("outlier").words(far, "outlier:fused", ": 1 in 810")
    assert own == "inputs isolated among its type (outlier: 1 in 840): " \
                  "balance=900000 (+6.0σ), age=17 (-2.3σ)"
    assert fused == ("its own and its neighbours' inputs isolated among its type "
                     "(outlier:fused: 1 in 810)")
    assert spec_for("attribute").words(near, "attribute", ": 1 in 410").startswith(
        "unusual attributes (attribute: 1 in 410): a rare combination of inputs")


def test_an_observation_is_shown_by_its_modality_column():
    """A review table with a text column and a later text column (an ISO date): the
    snippet is the review's text, the column the schema names."""
    import pandas as pd
    from torch_geometric.data import HeteroData

    from graphad.data.bundle import GraphBundle
    from graphad.data.idmap import IdMap
    from graphad.data.schema import GraphSchema
    from graphad.scoring.explain import _snippet
    raw = pd.DataFrame({"review_id": ["r1"], "text": ["great shoes"],
                        "created_at": ["2024-01-15T19:58:59Z"]})
    schema = GraphSchema({"review": {"table": "reviews", "id": "review_id",
                                     "modality": "text", "column": "text"}})
    data = HeteroData()
    data["review"].num_nodes = 1
    bundle = GraphBundle(data=data, ids=IdMap({"review": ["r1"]}), schema=schema,
                         raw={"review": raw})
    assert _snippet(bundle, "review", 0) == "great shoes"
    bundle.schema = None                            # a converted graph: no schema
    assert _snippet(bundle, "review", 0) == "2024-01-15T19:58:59Z"


def test_sections_read_the_same_in_text_and_markdown_and_say_what_is_cut(fitted_small):
    bundle, det = fitted_small
    ex = explain(bundle, ("user", "u5"), det, top=50)
    assert (ex.features["z"] != 0).all()            # a median value is not listed
    group = det.score_components(bundle)["user"].get("group")
    idx = list(bundle.ids.external("user", list(range(bundle.data["user"].num_nodes)))
               ).index("u5")
    if group is None or not float(torch.nan_to_num(group[idx])) > 0:
        assert ex.group.empty                      # its group adds nothing to its score
    text, md = ex.to_text(max_rows=2), ex.to_markdown(max_rows=2)
    left = len(ex.contributions) - 2
    assert left > 0 and f"... and {left} more rows" in text and f"... and {left} more rows" in md
    title = ("unusual attributes (z in robust σ against its type; tail: the share of "
             "its type at least as far out on that side of the median)")
    assert f"**{title}**" in md and f"{title}:" in text
    # whole numbers without decimals, blanks for missing values, in both
    assert "NaN" not in text and "<NA>" not in text
    assert not any(f"| {m} |" in md for m in ("nan", "NaN", "<NA>", "None"))
    ranks = ex.contributions["of"].head(2).dropna().astype(int).astype(str)
    assert all(f" {r}" in text and f"| {r} |" in md for r in ranks)
    assert ex.features["tail"].between(0, 0.5, inclusive="left").all()
    assert ex.features["tail"].is_monotonic_increasing
    assert "**features**" not in md
    assert {k for k, _ in ex._sections()} >= {"contributions", "features", "edge_fit"}


@pytest.mark.parametrize("value,text", [
    (1.0, "1"), (np.float32(1.0), "1"), (5000.0, "5000"), (4.2133, "4.213"),
    (12345.6, "12346"), (12345678.9, "1.235e+07"), (0.000123, "0.000123"),
    (np.int64(3), "3"), ("2024-01-15 19:58:59 UTC", "2024-01-15 19:58:59 UTC"),
    (True, "True"), (float("nan"), "nan")])
def test_numbers_read_the_same_in_every_sentence(value, text):
    from graphad.components import number_text
    from graphad.scoring.reasons import feature_text
    assert number_text(value) == text
    assert feature_text("rating", value) == f"rating={text}"


@pytest.mark.parametrize("edge_z, named", [(3.5, False), (4.5, True)])
def test_a_weak_link_is_not_named_beside_a_named_component(edge_z, named):
    """An edge at 1 in 66 says little beside a near-clique at 1 in 300 (it would be
    named alone); one rarer than 1 in 110 is named; a shared device comes first."""
    from graphad.scoring.reasons import node_reason
    ex = Explanation(
        node_type="user", node_id="u1", score=5.0, threshold=2.0, rank=1, n=100,
        contributions=pd.DataFrame([{"component": "density", "z": 5.0, "weight": 1.0,
                                     "contribution": 5.0, "share": 1.0,
                                     "reached": np.nan, "of": np.nan}]),
        edges=pd.DataFrame([{"relation": "follows", "other": "user:u9", "z": edge_z,
                             "reached": np.nan, "of": np.nan}]),
        shared=pd.DataFrame([{"relation": "uses", "neighbour": "device:d7", "users": 12,
                              "typical": 1, "log10_p": -9.0}]))
    reason = node_reason(ex)
    assert reason.startswith("user u1: shares device d7 with 11 other users; its "
                             "neighbours are far more interlinked"), reason
    assert ("unusual link: follows user u9" in reason) == named
    alone = node_reason(ex.__class__(**{**ex.__dict__, "contributions": ex.contributions
                                        .assign(z=1.0), "shared": pd.DataFrame()}))
    assert "unusual link: follows user u9" in alone


def test_json_scores_carry_no_float32_noise():
    """A float32 score reads in JSON as it prints, not as its float64 expansion."""
    score = float(np.float32(5.6930647))
    assert score != 5.6930647                                  # 5.6930646896362305
    ex = Explanation(node_type="user", node_id="u1", score=score, threshold=2.25,
                     rank=1, n=10, contributions=pd.DataFrame())
    out = json.loads(json.dumps(ex.to_dict()))
    assert (out["score"], out["threshold"], out["flagged"]) == (5.6930647, 2.25, True)


def test_a_linked_node_named_by_its_roll_up_is_not_named_again_as_a_link():
    from graphad.scoring.reasons import node_reason
    ex = Explanation(
        node_type="user", node_id="u1", score=9.0, threshold=2.0, rank=1, n=100,
        contributions=pd.DataFrame([{"component": "obs:photo", "z": 9.0, "weight": 1.0,
                                     "contribution": 9.0, "share": 1.0,
                                     "reached": np.nan, "of": np.nan}]),
        observations=pd.DataFrame([{"component": "obs:photo", "z": 9.0,
                                    "observation": "photo:p7", "linked": 1, "flagged": 1,
                                    "score": 12.0, "driven_by": "structure",
                                    "driving": 1}]),
        edges=pd.DataFrame([{"relation": "has_photo", "other": "photo:p7", "z": 9.0,
                             "reached": np.nan, "of": np.nan}]))
    reason = node_reason(ex)
    assert reason.startswith("user u1: its photo p7 is anomalous (photo: "), reason
    assert "unusual link" not in reason
    other = ex.__class__(**{**ex.__dict__, "edges": ex.edges.assign(other="photo:p8")})
    assert "unusual link: has_photo photo p8" in node_reason(other)


def test_one_unusual_link_per_reason():
    """Where the edge component names its most unusual edge (with what it was judged
    against), the incident edges table adds no second "unusual link"."""
    from graphad.scoring.reasons import node_reason
    ex = Explanation(
        node_type="user", node_id="u1", score=9.0, threshold=2.0, rank=1, n=100,
        contributions=pd.DataFrame([{"component": "edge", "z": 6.0, "weight": 1.0,
                                     "contribution": 9.0, "share": 1.0,
                                     "reached": np.nan, "of": np.nan}]),
        edge_evidence=pd.DataFrame([{"relation": "rated", "other": "product:p1",
                                     "attribute": "rating", "value": 1.0,
                                     "against": "the 94 rated edges to product p1",
                                     "median": 5.0, "z": 6.0}]),
        edges=pd.DataFrame([{"relation": "rated", "other": "product:p2", "z": 9.0,
                             "reached": np.nan, "of": np.nan, "rating": 5}]))
    reason = node_reason(ex)
    assert reason.count("unusual link") == 1 and "product p1" in reason, reason


@pytest.mark.parametrize("threshold", [2.0, 9.0])
def test_a_flagged_node_with_little_named_gets_its_rare_inputs(threshold):
    """A shell merchant whose reason names one component also gets the inputs that at
    most 2.5% of its type reach; an unflagged node does not (nothing explains a score
    that is not high), nor one whose named component already gives its inputs."""
    from graphad.scoring.reasons import node_reason
    ex = Explanation(
        node_type="merchant", node_id="m1", score=5.0, threshold=threshold, rank=1,
        n=200, contributions=pd.DataFrame([{"component": "density", "z": 5.0,
                                            "weight": 1.0, "contribution": 5.0,
                                            "share": 1.0, "reached": np.nan,
                                            "of": np.nan}]),
        features=pd.DataFrame([
            {"feature": "country=PA", "value": True, "z": 10.0, "tail": 0.01},
            {"feature": "min amount over pays edges to it", "value": 950.0, "z": 250.0,
             "tail": 0.01},
            {"feature": "category=fashion", "value": True, "z": 3.2, "tail": 0.11}]))
    reason = node_reason(ex)
    rare = ("rare inputs: country=PA (1% of merchants), min amount over pays edges to "
            "it=950 (highest 1% of merchants)")
    assert (rare in reason) == ex.flagged, reason
    assert "fashion" not in reason


def test_peer_reason_says_its_users_for_many_and_its_user_for_one():
    from graphad.components import spec_for
    def ex(edges):
        return type("Ex", (), {"node_type": "merchant", "relations": pd.DataFrame(
            [{"relation": "user-pays->merchant", "as": "dst", "edges": edges},
             {"relation": "merchant-in->city", "as": "src", "edges": 1}])})()
    words = spec_for("peer:user").words
    assert words(ex(30), "peer:user", ": 1 in 100") == \
        "unlike the other merchants of its users (peer:user: 1 in 100)"
    assert words(ex(1), "peer:user", ": 1 in 100") == \
        "unlike the other merchants of its user (peer:user: 1 in 100)"


def test_two_components_naming_the_same_inputs_say_them_once():
    """The attribute and the outlier component both name the node's unusual inputs:
    the second keeps its words and rarity, not the inputs again."""
    from graphad.scoring.reasons import node_reason
    row = {"weight": 1.0, "share": 0.5, "reached": np.nan, "of": np.nan}
    ex = Explanation(
        node_type="review", node_id="r1", score=6.0, threshold=2.0, rank=1, n=100,
        contributions=pd.DataFrame([{"component": "attribute", "z": 5.0,
                                     "contribution": 3.0, **row},
                                    {"component": "outlier", "z": 4.5,
                                     "contribution": 3.0, **row}]),
        features=pd.DataFrame([{"feature": "rating", "value": 1.0, "z": -2.5,
                                "tail": 0.072}]))
    reason = node_reason(ex)
    assert reason.count("a rare combination of inputs") == 1, reason
    assert reason.endswith("; inputs isolated among its type (outlier: 1 in 180)")


@pytest.mark.parametrize("judged, value, words", [
    ("user:u1", 900.0, "its amount 900 where the 50 pays edges to it have a median of 300"),
    ("user:u1", 490.0, "amount=900"), ("user:u2", 900.0, "amount=900"),
    (None, None, "amount=900")])
def test_an_unusual_link_is_judged_by_its_own_row(judged, value, words):
    """The link's attribute with what it was judged against where the edge component
    judged that very edge (another payment to the same merchant, of 490, is not it);
    its raw attributes otherwise."""
    from graphad.scoring.reasons import node_reason
    evidence = pd.DataFrame() if judged is None else pd.DataFrame([{
        "relation": "rev_pays", "other": judged, "attribute": "amount", "value": value,
        "against": "the 50 pays edges to it", "median": 300.0, "z": 5.0}])
    ex = Explanation(
        node_type="merchant", node_id="m1", score=4.0, threshold=2.0, rank=1, n=100,
        contributions=pd.DataFrame([{"component": "structure", "z": 1.0, "weight": 1.0,
                                     "contribution": 4.0, "share": 1.0,
                                     "reached": np.nan, "of": np.nan}]),
        edge_evidence=evidence,
        edges=pd.DataFrame([{"relation": "rev_pays", "other": "user:u1", "z": 6.0,
                             "reached": np.nan, "of": np.nan, "amount": 900.0}]))
    reason = node_reason(ex)
    assert f"unusual link: user u1 pays it ({words}; this edge: 1 in 810)" in reason, reason
