"""The synthetic multimodal fraud network generator and the embedded sample."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from graphad.data.schema import GraphSchema
from graphad.datasets.fraud import ANOMALY_TYPES, CATEGORIES, make_fraud_network
from graphad.datasets.sample import (default_sample_path, load_fraud_sample,
                                     save_fraud_sample)

N = 400
SEED = 3


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    return make_fraud_network(N, seed=SEED,
                              image_dir=tmp_path_factory.mktemp("a") / "images")


def _users_of(net, atype):
    u = net.user_labels
    return u[u["anomaly_type"] == atype]


def _max_window_count(times: np.ndarray, window: int) -> int:
    if len(times) == 0:
        return 0
    t = np.sort(times)
    return int((np.searchsorted(t, t + window, side="left") - np.arange(len(t))).max())


# ---------------------------------------------------------------- determinism
def test_same_seed_same_network(net, tmp_path):
    again = make_fraud_network(N, seed=SEED, image_dir=tmp_path / "images")
    assert set(again.tables) == set(net.tables)
    for name in net.tables:
        pd.testing.assert_frame_equal(again.tables[name], net.tables[name], obj=name)
    pd.testing.assert_frame_equal(again.labels, net.labels)
    pd.testing.assert_frame_equal(again.profiles, net.profiles)
    assert again.schema == net.schema
    assert list(again.images) == list(net.images)
    for pid in list(net.images)[:50]:
        assert again.images[pid].read_bytes() == net.images[pid].read_bytes()


def test_other_seed_other_network(net, tmp_path):
    other = make_fraud_network(N, seed=SEED + 1, image_dir=tmp_path / "images")
    for name in ("users", "payments", "follows", "reviews", "transactions"):
        a, b = net.tables[name], other.tables[name]
        assert not (a.shape == b.shape and a.equals(b)), name
    assert not net.labels["label"].equals(other.labels["label"]) or \
        not net.labels["id"].equals(other.labels["id"])


def test_default_image_dir_is_a_temp_folder():
    import shutil
    net = make_fraud_network(60, seed=0)
    try:
        assert net.root.is_dir() and (net.root / "images").is_dir()
        path = net.root / net.tables["photos"]["path"].iloc[0]
        assert path.is_file() and path.suffix == ".png"
        assert net.images[net.tables["photos"]["photo_id"].iloc[0]] == path.resolve()
    finally:
        shutil.rmtree(net.root)


# ---------------------------------------------------------------- shape of the data
def test_tables_and_columns(net):
    t = net.tables
    assert list(t["users"].columns) == ["user_id", "age", "account_age_days", "balance",
                                        "n_logins_30d", "country", "signup_channel"]
    assert len(t["users"]) == N and t["users"]["user_id"].iloc[0] == "u00001"
    assert t["users"]["user_id"].is_unique
    assert t["users"]["age"].between(18, 90).all()
    assert (t["users"]["balance"] > 0).all()
    assert set(t["merchants"]["category"]) == set(CATEGORIES)
    assert {"user_id", "merchant_id", "amount", "time"} <= set(t["payments"].columns)
    assert (t["payments"]["amount"] > 0).all()
    # payments fall in the 90-day window before the snapshot
    span = t["payments"]["time"].max() - t["payments"]["time"].min()
    assert 60 * 86400 < span <= 90 * 86400
    # most users use 1-2 devices; most devices have 1-3 users
    per_user = t["user_device"].groupby("user_id").size()
    per_device = t["user_device"].groupby("device_id").size()
    assert per_user.between(1, 2).mean() > 0.8
    assert per_device.between(1, 3).mean() > 0.95
    # each user writes 0-3 reviews (farm accounts 1-2), one daily series of <= 90 days
    assert t["reviews"].groupby("user_id").size().max() <= 3
    assert len(t["series"]) == N
    days = t["transactions"].groupby("series_id").size()
    assert days.max() <= 90 and days.median() >= 60
    assert (t["transactions"]["ts"] % 86400 == 0).all()


def test_every_relation_id_exists(net):
    schema = GraphSchema.from_dict(net.schema)
    t = net.tables
    node_ids = {name: set(t[spec.table][spec.id]) for name, spec in schema.nodes.items()}
    for rel in schema.relations:
        frame = t[rel.table]
        assert set(frame[rel.src_key]) <= node_ids[rel.src], rel.edge_type
        assert set(frame[rel.dst_key]) <= node_ids[rel.dst], rel.edge_type
        for col in rel.attrs:
            assert pd.api.types.is_numeric_dtype(frame[col]), (rel.table, col)
    points = schema.nodes["spend"].points
    assert set(t[points.table][points.key]) == node_ids["spend"]
    # labels: one row per node of every type, same ids
    for name, ids in node_ids.items():
        lab = net.labels[net.labels["node_type"] == name]
        assert lab["id"].is_unique and set(lab["id"]) == ids, name


def test_schema_loads(net):
    schema = GraphSchema.from_dict(net.schema)
    assert set(schema.entity_types) == {"user", "device", "merchant"}
    assert {n: schema.nodes[n].modality for n in schema.observation_types} == {
        "review": "text", "photo": "image", "spend": "series"}
    assert ("user", "pays", "merchant") in schema.edge_types


def test_labels_columns_and_values(net):
    lab = net.labels
    assert list(lab.columns) == ["node_type", "id", "label", "anomaly_type", "group_id",
                                 "category", "detail"]
    assert set(lab["label"].unique()) == {0, 1}
    assert set(lab["anomaly_type"]) <= {"none", *ANOMALY_TYPES}
    assert ((lab["label"] == 1) == (lab["anomaly_type"] != "none")).all()
    users = net.user_labels
    assert len(users) == N
    # group ids exactly for ring and farm members
    grouped = users["group_id"].notna()
    assert (grouped == users["anomaly_type"].isin(["ring", "farm"])).all()


def test_photos_are_real_pictures(net):
    t = net.tables
    assert t["photos"]["path"].str.startswith("images/").all()
    for pid in t["photos"]["photo_id"].iloc[:20]:
        img = Image.open(io.BytesIO((net.root / f"images/{pid}.png").read_bytes()))
        assert img.mode == "RGB" and img.size == (32, 32)
        a = np.asarray(img, dtype=float)
        assert a.std() > 10                                 # not blank
        # neighbouring pixels correlate (a picture, not noise)
        x, y = a[:, :-1].ravel(), a[:, 1:].ravel()
        assert np.corrcoef(x, y)[0, 1] > 0.7
    with_photo = t["user_photo"]["user_id"].nunique() / N
    assert 0.8 < with_photo < 0.97


def test_review_text_is_varied(net):
    r = net.tables["reviews"]
    normal = net.labels[(net.labels["node_type"] == "review") &
                        (net.labels["anomaly_type"] == "none")]["id"]
    texts = r[r["review_id"].isin(normal)]["text"]
    assert texts.nunique() / len(texts) > 0.97
    assert texts.str.len().between(10, 600).all()
    first_words = texts.str.split().str[:3].str.join(" ").str.lower()
    assert first_words.nunique() > 60
    assert (texts == texts.str.lower()).mean() > 0.1       # some lower-cased


# ---------------------------------------------------------------- planted anomalies
def test_every_type_is_planted(net):
    counts = net.anomaly_counts()
    assert set(counts) == set(ANOMALY_TYPES)
    assert all(c > 0 for c in counts.values()), counts
    assert counts["ring"] >= 6 and counts["farm"] >= 8
    total = sum(counts.values())
    assert 0.04 * N <= total <= 0.08 * N
    # anomalies are scattered over the id range, not a block at the end
    idx = np.flatnonzero(net.user_labels["label"].to_numpy() == 1)
    assert idx.min() < N / 4 and idx.max() > 3 * N / 4


def test_no_anomalies_at_rate_zero(tmp_path):
    clean = make_fraud_network(100, seed=1, anomaly_rate=0.0, image_dir=tmp_path / "im")
    assert clean.labels["label"].sum() == 0
    assert sum(clean.anomaly_counts().values()) == 0


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        make_fraud_network(10, image_dir=tmp_path / "im")
    with pytest.raises(ValueError):
        make_fraud_network(100, anomaly_rate=0.9, image_dir=tmp_path / "im")


def test_attribute_outliers_are_contextual(net):
    users = net.tables["users"].set_index("user_id")
    attr = users.loc[_users_of(net, "attribute")["id"]]
    normal = users.loc[net.user_labels.query("label == 0")["id"]]
    # every value lies inside the normal range ...
    for col in ("age", "account_age_days", "balance", "n_logins_30d"):
        assert attr[col].between(normal[col].min(), normal[col].max()).all(), col
    # ... but each outlier is extreme in at least one value for its context
    z = lambda c: (attr[c] >= normal[c].quantile(0.95))
    assert (z("balance") | z("n_logins_30d")).all()


def test_ring_members_densely_follow_each_other(net):
    f = net.tables["follows"]
    n_edges = len(f)
    global_density = n_edges / (N * (N - 1))
    rings = _users_of(net, "ring").groupby("group_id")["id"].apply(set)
    assert len(rings) >= 1
    pays = net.tables["payments"]
    for gid, members in rings.items():
        k = len(members)
        assert 6 <= k <= 15
        inside = f[f["src_user"].isin(members) & f["dst_user"].isin(members)]
        density = len(inside) / (k * (k - 1))
        assert density > 0.5 and density > 20 * global_density, (gid, density)
        # all members pay the ring's shell merchant
        shell = net.labels[(net.labels["node_type"] == "merchant") &
                           (net.labels["group_id"] == gid)]["id"]
        assert len(shell) == 1
        payers = set(pays[pays["merchant_id"] == shell.iloc[0]]["user_id"])
        assert members <= payers


def test_farm_members_share_one_device_and_one_photo(net):
    ud, up = net.tables["user_device"], net.tables["user_photo"]
    farms = _users_of(net, "farm").groupby("group_id")["id"].apply(set)
    assert len(farms) >= 1
    lab = net.labels
    for gid, members in farms.items():
        assert 8 <= len(members) <= 20
        devs = ud[ud["user_id"].isin(members)]
        shared = devs.groupby("device_id")["user_id"].nunique()
        assert shared.max() == len(members)          # one device used by all of them
        photos = up[up["user_id"].isin(members)]
        assert photos["photo_id"].nunique() == 1
        assert set(photos["user_id"]) == members
        # the farm's device(s) and photo are labelled too
        farm_dev = set(lab[(lab["node_type"] == "device") & (lab["group_id"] == gid)]["id"])
        farm_photo = set(lab[(lab["node_type"] == "photo") & (lab["group_id"] == gid)]["id"])
        assert shared.idxmax() in farm_dev and set(devs["device_id"]) == farm_dev
        assert farm_photo == set(photos["photo_id"])
        assert (lab[lab["id"].isin(farm_dev | farm_photo)]["label"] == 1).all()
        # nobody outside the farm uses its devices
        assert set(ud[ud["device_id"].isin(farm_dev)]["user_id"]) == members


def test_cross_modal_text_contradicts_photo_or_spending(net):
    prof = net.profiles.set_index("user_id")
    lab = net.labels
    rev_cat = lab[lab["node_type"] == "review"].set_index("id")["category"]
    reviews = net.tables["reviews"]
    cross = _users_of(net, "cross_modal")
    assert len(cross) >= 1
    for uid, detail in zip(cross["id"], cross["detail"]):
        p = prof.loc[uid]
        cats = set(rev_cat.loc[reviews[reviews["user_id"] == uid]["review_id"]])
        assert len(cats) == 1                        # every review about one topic
        topic = cats.pop()
        assert topic == p["text_category"]
        if detail.startswith("text_photo"):
            assert topic != p["photo_category"] and topic != p["spend_category"]
        else:
            assert detail.startswith("text_series")
            assert topic == p["photo_category"] and topic != p["spend_category"]
    # normal users mostly agree across modalities
    normal = prof[(prof["anomaly_type"] == "none") & prof["photo_category"].notna()
                  & prof["text_category"].notna()]
    agree = (normal["photo_category"] == normal["text_category"]).mean()
    assert agree > 0.7


def test_text_series_users_spend_flat_and_tiny(net):
    cross = _users_of(net, "cross_modal")
    ts_users = cross[cross["detail"].str.startswith("text_series")]["id"]
    if len(ts_users) == 0:
        pytest.skip("no text_series user at this size")
    series = net.tables["series"].set_index("user_id")["series_id"]
    pts = net.tables["transactions"]
    daily = pts.groupby("series_id")["amount"].mean()
    normal_ids = series.loc[net.user_labels.query("label == 0")["id"]]
    for uid in ts_users:
        assert daily.loc[series.loc[uid]] < daily.loc[normal_ids].quantile(0.25)


def test_burst_users_cluster_in_time(net):
    pays = net.tables["payments"]
    win = pays.groupby("user_id")["time"].apply(
        lambda s: _max_window_count(s.to_numpy(), 2 * 86400))
    win = win.reindex(net.user_labels["id"], fill_value=0)
    labels = net.user_labels.set_index("id")["anomaly_type"]
    burst, normal = win[labels == "burst"], win[labels == "none"]
    assert len(burst) >= 1
    assert burst.min() > normal.median()
    assert burst.median() > normal.quantile(0.95)
    # and the daily series shows the burst: max daily count far above the user's median
    series = net.tables["series"].set_index("user_id")["series_id"]
    pts = net.tables["transactions"].groupby("series_id")["n_tx"].max()
    assert pts.loc[series.loc[burst.index]].median() > \
        pts.loc[series.loc[normal.index]].quantile(0.95)


def test_series_level_follows_category(net):
    prof = net.profiles.set_index("user_id")
    normal = prof[prof["anomaly_type"] == "none"]
    series = net.tables["series"].set_index("user_id")["series_id"]
    tx = net.tables["transactions"]
    n_tx = tx.groupby("series_id")["n_tx"].mean()
    by_cat = n_tx.loc[series.loc[normal.index]].groupby(
        normal["spend_category"].to_numpy()).median()
    # grocery shoppers buy often, luxury buyers rarely
    assert by_cat["groceries"] > 2 * by_cat["luxury"]


# ---------------------------------------------------------------- saved sample
def test_saved_sample_loads_back_equal(tmp_path, monkeypatch):
    out = tmp_path / "sample"
    saved = save_fraud_sample(out, n_users=150, seed=7)
    for f in ("schema.yaml", "README.md", "labels.parquet", "profiles.parquet",
              "users.parquet", "meta.json"):
        assert (out / f).is_file(), f
    loaded = load_fraud_sample(out)
    assert set(loaded.tables) == set(saved.tables)
    for name in saved.tables:
        pd.testing.assert_frame_equal(loaded.tables[name], saved.tables[name], obj=name)
    pd.testing.assert_frame_equal(loaded.labels, saved.labels)
    pd.testing.assert_frame_equal(loaded.profiles, saved.profiles)
    assert loaded.root == out.resolve()
    assert loaded.schema["nodes"] == saved.schema["nodes"]
    assert loaded.schema["relations"] == saved.schema["relations"]
    assert all(Path(p).is_file() for p in loaded.schema["tables"].values())
    assert loaded.images.keys() == saved.images.keys()
    assert all(p.is_file() for p in loaded.images.values())
    assert loaded.config["seed"] == 7 and loaded.anomaly_counts() == saved.anomaly_counts()
    # the YAML names the Parquet files next to it
    schema = GraphSchema.from_yaml(out / "schema.yaml")
    assert all(p.is_file() for p in schema.tables.values())
    # GRAPHAD_SAMPLE overrides the default location
    monkeypatch.setenv("GRAPHAD_SAMPLE", str(out))
    assert default_sample_path() == out
    assert load_fraud_sample().labels.equals(saved.labels)
    # regenerating the same folder gives the same bytes and no stale photos
    before = {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    (out / "images" / "p99999.png").write_bytes(b"stale")
    save_fraud_sample(out, n_users=150, seed=7)
    after = {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before


def test_missing_sample_is_a_clear_error(tmp_path):
    from graphad.errors import GraphadError
    with pytest.raises(GraphadError, match="python -m graphad.datasets.sample"):
        load_fraud_sample(tmp_path / "nowhere")


EMBEDDED = Path(__file__).resolve().parents[1] / "datasets" / "fraud_sample"


@pytest.mark.skipif(not (EMBEDDED / "schema.yaml").is_file(),
                    reason="embedded sample not generated")
def test_embedded_sample():
    net = load_fraud_sample(EMBEDDED)
    assert len(net.tables["users"]) == 3000
    counts = net.anomaly_counts()
    assert all(c >= 25 for c in counts.values()), counts
    size = sum(f.stat().st_size for f in EMBEDDED.rglob("*") if f.is_file())
    assert size < 20e6
    assert len(net.images) == len(net.tables["photos"])
    assert all(p.is_file() for p in list(net.images.values())[:100])
    readme = (EMBEDDED / "README.md").read_text()
    for atype, c in counts.items():
        assert f"| {atype} | {c} |" in readme


@pytest.mark.slow
@pytest.mark.skipif(not (EMBEDDED / "schema.yaml").is_file(),
                    reason="embedded sample not generated")
def test_embedded_sample_is_reproducible(tmp_path):
    save_fraud_sample(tmp_path / "s", n_users=3000, seed=0)
    for f in sorted(EMBEDDED.glob("*.parquet")) + [EMBEDDED / "schema.yaml"]:
        assert (tmp_path / "s" / f.name).read_bytes() == f.read_bytes(), f.name
    pngs = sorted((EMBEDDED / "images").glob("*.png"))
    assert [p.name for p in pngs] == sorted(p.name for p in (tmp_path / "s" / "images").iterdir())
    for p in pngs[::50]:
        assert (tmp_path / "s" / "images" / p.name).read_bytes() == p.read_bytes(), p.name
