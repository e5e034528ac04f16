"""A fitted detector featurises new tables with its training transforms (never re-fits),
and a drift report says how far the new tables are from the training ones."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from graphad.cli import main
from graphad.data import build_graph
from graphad.detectors import MultimodalGAE
from graphad.detectors.persistence import load_detector
from graphad.errors import GraphadError
from graphad.scoring.drift import drift_report, drift_warnings

SCHEMA = {
    "nodes": {"user": {"table": "users", "id": "user_id", "numeric": ["age", "balance"],
                       "categorical": ["country"]},
              "merchant": {"table": "merchants", "id": "merchant_id"}},
    "relations": [{"src": "user", "rel": "pays", "dst": "merchant", "table": "payments",
                   "src_key": "user_id", "dst_key": "merchant_id", "attrs": ["amount"]}],
}
FAST = dict(epochs=10, hidden=16, seed=0, device="cpu")


def tables(n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(n)],
                          "age": rng.integers(20, 70, n).astype(float),
                          "balance": rng.lognormal(7, 0.5, n),
                          "country": rng.choice(["DE", "FR", "US"], n)})
    merchants = pd.DataFrame({"merchant_id": [f"m{i}" for i in range(20)]})
    src = np.repeat(users.user_id.to_numpy(), 2)
    payments = pd.DataFrame({"user_id": src,
                             "merchant_id": rng.choice(merchants.merchant_id, src.size),
                             "amount": rng.normal(100, 10, src.size)})
    return {"users": users, "merchants": merchants, "payments": payments}


@pytest.fixture(scope="module")
def fitted():
    t = tables()
    det = MultimodalGAE(**FAST).fit(build_graph(t, SCHEMA, use_cache=False))
    return t, det


def _flagged(det, t, **kw):
    g = build_graph(t, SCHEMA, use_cache=False, **kw)
    return float(det.predict(g)["user"].float().mean()), g


def test_detector_keeps_its_featurisation_as_plain_data(fitted):
    _, det = fitted
    state = det.featurizer_
    assert set(state["tabular"]) == {"tabular:user", "edge_attr:user__pays__merchant"}
    user = state["tabular"]["tabular:user"]
    assert user["numeric"] == ["age", "balance"]
    assert user["categories_"]["country"] == ["DE", "FR", "US"]


def test_training_tables_rebuilt_with_the_model_score_exactly(fitted):
    t, det = fitted
    g = build_graph(t, SCHEMA, use_cache=False, fitted=det)
    assert torch.equal(det.decision_function(g)["user"], det.decision_scores_["user"])


def test_shifted_population_is_scored_as_anomalous(fitted):
    t, det = fitted
    shifted = dict(t, users=t["users"].assign(balance=t["users"].balance * 1000,
                                              age=t["users"].age + 500))
    share, g = _flagged(det, shifted, fitted=det)
    assert share > 0.9                       # training share: 0.1
    refit, _ = _flagged(det, shifted)        # re-fitting the transforms hides it
    assert refit < 0.3
    report = drift_report(det, g, det.decision_function(g))
    shift = report.set_index(["where", "feature", "measure"])["value"]
    assert shift[("user", "balance", "median shift")] > 100
    assert shift[("user", "age", "median shift")] > 10
    assert any("flagged" in line for line in drift_warnings(report))


def test_column_order_in_the_schema_does_not_matter(fitted):
    t, det = fitted
    other = {**SCHEMA, "nodes": {**SCHEMA["nodes"],
                                 "user": {**SCHEMA["nodes"]["user"],
                                          "numeric": ["balance", "age"]}}}
    a = build_graph(t, SCHEMA, use_cache=False, fitted=det)
    b = build_graph({k: v[v.columns[::-1]] for k, v in t.items()}, other,
                    use_cache=False, fitted=det)
    assert torch.equal(det.decision_function(a)["user"], det.decision_function(b)["user"])


def test_unseen_category_is_counted_and_does_not_flag_everyone(fitted):
    t, det = fitted
    users = t["users"].copy()
    new = users.index[:20]
    users.loc[new, "country"] = "ZZ"
    share_new, g = _flagged(det, dict(t, users=users), fitted=det)
    report = drift_report(det, g)
    unseen = report[(report.feature == "country") & (report.measure == "unseen share")]
    assert float(unseen["value"].iloc[0]) == pytest.approx(0.1)
    flags = det.predict(g)["user"][:20].float().mean()
    assert float(flags) < 0.5
    assert any("unseen" in line for line in drift_warnings(report))


def test_subset_is_featurised_with_the_training_scale(fitted):
    t, det = fitted
    keep = t["users"].user_id[:50]
    sub = dict(t, users=t["users"][t["users"].user_id.isin(keep)],
               payments=t["payments"][t["payments"].user_id.isin(keep)])
    full = build_graph(t, SCHEMA, use_cache=False, fitted=det)
    part = build_graph(sub, SCHEMA, use_cache=False, fitted=det)
    idx = full.ids.index("user", list(keep))
    assert torch.equal(part.data["user"].x, full.data["user"].x[torch.as_tensor(idx)])
    assert torch.isfinite(det.decision_function(part)["user"]).all()


def test_a_detector_without_featurisation_is_refused():
    det = MultimodalGAE(**FAST).fit(build_graph(tables(60), SCHEMA, use_cache=False)
                                    .data)      # a plain HeteroData: nothing kept
    assert det.featurizer_ is None
    with pytest.raises(GraphadError, match="keeps no featurisation"):
        build_graph(tables(60), SCHEMA, use_cache=False, fitted=det)


def test_cli_score_reuses_the_model_and_writes_drift(tmp_path, capsys):
    from test_cli_model import write_tables
    schema = write_tables(tmp_path / "train", tables(), SCHEMA)
    model = tmp_path / "model.pt"
    assert main(["fit", "--schema", str(schema), "--out", str(model), "--epochs", "5",
                 "--param", "hidden=8"]) == 0
    t = tables()
    shifted = dict(t, users=t["users"].assign(balance=t["users"].balance * 1000))
    new_schema = write_tables(tmp_path / "new", shifted, SCHEMA)
    out = tmp_path / "scores.parquet"
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--schema", str(new_schema),
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    drift = pd.read_csv(tmp_path / "scores.drift.csv")
    row = drift[(drift.feature == "balance") & (drift.measure == "median shift")]
    assert float(row["value"].iloc[0]) > 100
    assert row["train_is"].iloc[0] == "training median"
    assert set(drift["train_is"]) <= {"training median", "training categories",
                                      "training edges", "contamination"}
    assert "warning:" in captured.err and "balance" in captured.err
    det = load_detector(model)
    scores = pd.read_parquet(out)
    users = scores[scores.node_type == "user"]
    assert users["pred"].mean() > 0.5
    assert det.featurizer_ is not None


def test_saved_model_scores_training_tables_exactly_in_a_new_process(tmp_path):
    import subprocess
    import sys
    from test_cli_model import write_tables
    t = tables()
    schema = write_tables(tmp_path, t, SCHEMA)
    det = MultimodalGAE(**FAST).fit(build_graph(schema=schema, use_cache=False))
    det.save(tmp_path / "model.pt")
    code = ("import sys, torch; from graphad import build_graph; "
            "from graphad.detectors import MultimodalGAE; "
            "det = MultimodalGAE.load(sys.argv[1]); "
            "g = build_graph(schema=sys.argv[2], use_cache=False, fitted=det); "
            "torch.save(det.decision_function(g)['user'], sys.argv[3])")
    out = tmp_path / "scores.pt"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.pt"), str(schema),
                    str(out)], check=True, capture_output=True)
    assert torch.equal(torch.load(out), det.decision_scores_["user"])


# ---------------------------------------------------------------- model directory
def _model_dir(tmp_path, fitted_det):
    path = tmp_path / "model"
    fitted_det.save(path)
    return path


def test_model_directory_round_trip_with_manifest(fitted, tmp_path):
    import json
    t, det = fitted
    path = _model_dir(tmp_path, det)
    assert sorted(p.name for p in path.iterdir()) == ["detector.pt", "manifest.json"]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["class"] == "MultimodalGAE" and "detector.pt" in manifest["files"]
    again = load_detector(path)
    assert again.featurizer_ == det.featurizer_
    g = build_graph(t, SCHEMA, use_cache=False, fitted=again)
    assert torch.equal(again.decision_function(g)["user"], det.decision_scores_["user"])
    det.save(path)                       # an existing model directory is replaced
    assert load_detector(path).get_params() == det.get_params()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("tamper, match", [
    (lambda p: (p / "detector.pt").write_bytes((p / "detector.pt").read_bytes() + b"x"),
     "detector.pt does not match its manifest"),
    (lambda p: (p / "evil.pkl").write_bytes(b"\x80\x04K\x01."),
     "evil.pkl is not in the manifest"),
    (lambda p: (p / "manifest.json").write_text("{}"), "not a graphad model manifest"),
    (lambda p: (p / "detector.pt").unlink(), "detector.pt is listed in the manifest but "
                                             "missing"),
])
def test_tampered_model_directory_is_refused(fitted, tmp_path, tamper, match):
    path = _model_dir(tmp_path, fitted[1])
    tamper(path)
    with pytest.raises(GraphadError, match=match):
        load_detector(path)


def test_pickled_detector_in_a_directory_is_refused(fitted, tmp_path):
    import hashlib
    import json

    from test_cli_model import pickled_envelope
    path = _model_dir(tmp_path, fitted[1])
    marker = tmp_path / "pwned"
    pickled_envelope(path / "detector.pt", marker)                 # a pickle inside
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["detector.pt"] = hashlib.sha256(
        (path / "detector.pt").read_bytes()).hexdigest()           # manifest "fixed" too
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GraphadError, match="pickled detector"):
        load_detector(path)
    assert not marker.exists()


def test_cli_fit_writes_a_model_directory_with_its_schema(tmp_path, capsys):
    from test_cli_model import write_tables
    schema = write_tables(tmp_path / "train", tables(80), SCHEMA)
    model = tmp_path / "model"
    assert main(["fit", "--schema", str(schema), "--out", str(model), "--epochs", "3",
                 "--param", "hidden=8"]) == 0
    assert (model / "schema.yaml").is_file() and (model / "manifest.json").is_file()
    assert main(["score", "--model", str(model), "--schema", str(schema),
                 "--out", str(tmp_path / "s.parquet")]) == 0


def test_fitted_text_encoder_is_kept_not_refitted(tmp_path):
    """A TF-IDF encoder fitted on the training texts is stored (vocabulary, idf, SVD)
    and reused: new texts with other words embed in the training space."""
    t = tables(80)
    words = ["cheap socks", "gold watch", "budget sale", "luxury brand"]
    t["reviews"] = pd.DataFrame({"review_id": [f"r{i}" for i in range(80)],
                                 "user_id": t["users"].user_id,
                                 "text": [words[i % 4] + " " + words[(i + 1) % 4]
                                          for i in range(80)]})
    schema = {**SCHEMA, "nodes": {**SCHEMA["nodes"], "review": {
        "table": "reviews", "id": "review_id", "modality": "text", "column": "text",
        "encoder": {"name": "tfidf", "dim": 4}}},
        "relations": SCHEMA["relations"] + [{"src": "user", "rel": "wrote",
                                             "dst": "review", "table": "reviews",
                                             "src_key": "user_id",
                                             "dst_key": "review_id"}]}
    train = build_graph(t, schema, use_cache=False)
    det = MultimodalGAE(**FAST).fit(train)
    assert "encoder:review" in det.featurizer_["fitted_encoders"]
    det.save(tmp_path / "model")
    again = load_detector(tmp_path / "model")
    other = dict(t, reviews=t["reviews"].assign(
        text=["zebra " + w for w in t["reviews"].text]))
    g = build_graph(other, schema, use_cache=False, fitted=again)
    refit = build_graph(other, schema, use_cache=False)
    assert g.transforms["encoder:review"].id == train.transforms["encoder:review"].id
    assert refit.transforms["encoder:review"].id != train.transforms["encoder:review"].id
    same = build_graph(t, schema, use_cache=False, fitted=again)
    assert torch.allclose(same.data["review"].x, train.data["review"].x, atol=1e-6)


def test_new_graph_of_the_same_shape_flags_about_the_contamination(fitted):
    _, det = fitted
    for seed in (1, 2):
        share, _ = _flagged(det, tables(seed=seed), fitted=det)
        assert 0.03 <= share <= 0.3


def test_fitted_objects_round_trip_through_the_state_registry(fitted):
    from graphad.detectors.persistence import _decode, _encode
    from graphad.encoders.tabular import TabularEncoder
    from graphad.scoring.normalize import SurprisalNormalizer
    from graphad.state import TAG, from_record
    _, det = fitted
    enc = TabularEncoder.from_state(det.featurizer_["tabular"]["tabular:user"])
    for obj in (det.normalizer_, enc):
        record = _encode(obj, "x")
        assert record[TAG] == type(obj).__name__
        again = _decode(record)
        assert type(again) is type(obj) and again.get_state().keys() == \
            obj.get_state().keys()
    assert isinstance(_decode(_encode(det.normalizer_, "x")), SurprisalNormalizer)
    with pytest.raises(GraphadError, match="unknown class 'os.system'"):
        from_record({TAG: "os.system", "state": {}})


def test_module_is_rebuilt_from_its_config_and_loaded_strictly(fitted, tmp_path):
    _, det = fitted
    assert set(det.module_config_) == {"node_types", "edge_types", "in_dims",
                                       "own_dims", "featureless", "incident", "burst",
                                       "edge_dims", "time_attrs", "views", "within",
                                       "degree", "attribute_log", "block", "copies",
                                       "edge_fit", "untimed_edge_evidence", "unmapped",
                                       "derived_times"}
    path = det.save(tmp_path / "m.pt")
    envelope = torch.load(path, weights_only=True)
    envelope["module"]["state_dict"]["families.outlier.extra_weight"] = torch.zeros(2)
    torch.save(envelope, path)
    with pytest.raises(GraphadError, match="do not fit the rebuilt"):
        load_detector(path)
    del envelope["module"]["state_dict"]["families.outlier.extra_weight"]
    del envelope["module"]["state_dict"]["families.attribute.attr_dec.user.net.0.weight"]
    torch.save(envelope, path)
    with pytest.raises(GraphadError, match="do not fit the rebuilt"):
        load_detector(path)


def test_a_relation_empty_at_scoring_is_reported(fitted):
    t, det = fitted
    rel = SCHEMA["relations"][0]
    empty = dict(t, **{rel["table"]: t[rel["table"]].iloc[:0]})
    g = build_graph(empty, SCHEMA, use_cache=False, fitted=det)
    report = drift_report(det, g)
    counts = report[report.measure == "edge count"].set_index("where")
    name = "-".join((rel["src"], rel["rel"], rel["dst"]))     # as the attribute rows
    assert counts.loc[name, "value"] == 0 and counts.loc[name, "train"] > 0
    assert any("has no edges where the training graph had" in line
               for line in drift_warnings(report))
    same = drift_report(det, build_graph(t, SCHEMA, use_cache=False, fitted=det))
    assert not any("has no edges" in line for line in drift_warnings(same))


def test_cli_warns_when_a_model_keeps_no_featurisation(tmp_path, capsys):
    from test_cli_model import write_tables
    det = MultimodalGAE(**FAST).fit(build_graph(tables(60), SCHEMA, use_cache=False).data)
    det.save(tmp_path / "model")
    schema = write_tables(tmp_path / "data", tables(60), SCHEMA)
    with pytest.warns(UserWarning, match="keeps no featurisation.*fitted anew"):
        code = main(["score", "--model", str(tmp_path / "model"), "--schema", str(schema),
                     "--out", str(tmp_path / "s.parquet")])
    assert code == 0 and (tmp_path / "s.parquet").is_file()
