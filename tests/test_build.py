"""build_graph: ids, edges, reverse relations, edge attributes, raw rows, purity."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import PAYS, SCHEMA, SPENDS, USES, WROTE, make_schema, make_tables
from graphad.data import GraphBundle, IdMap, build_graph
from graphad.errors import DataValidationError
from graphad.typing import reverse_edge_type

NODE_TABLES = [(t, s["table"], s["id"]) for t, s in SCHEMA["nodes"].items()]
RELATIONS = [((r["src"], r["rel"], r["dst"]), r) for r in SCHEMA["relations"]]


@pytest.mark.parametrize("node_type, table, id_col", NODE_TABLES,
                         ids=[t for t, _, _ in NODE_TABLES])
def test_ids_round_trip(bundle, tables, node_type, table, id_col):
    external = tables[table][id_col].tolist()
    assert bundle.data[node_type].num_nodes == len(external)
    assert bundle.ids.num_nodes(node_type) == len(external)
    assert bundle.ids.ids(node_type).tolist() == external
    index = bundle.ids.index(node_type, external)
    assert index.dtype == np.int64
    assert index.tolist() == list(range(len(external)))
    shuffled = external[::-1]
    assert bundle.ids.external(node_type, bundle.ids.index(node_type, shuffled)) == shuffled


@pytest.mark.parametrize("edge_type, rel", RELATIONS, ids=[r["rel"] for _, r in RELATIONS])
def test_edges_map_back_to_key_columns_in_order(bundle, tables, edge_type, rel):
    frame = tables[rel["table"]]
    ei = bundle.data[edge_type].edge_index
    assert ei.dtype == torch.long and ei.shape == (2, len(frame))
    assert bundle.ids.external(rel["src"], ei[0]) == frame[rel["src_key"]].tolist()
    assert bundle.ids.external(rel["dst"], ei[1]) == frame[rel["dst_key"]].tolist()
    assert int(ei[0].max()) < bundle.data[rel["src"]].num_nodes
    assert int(ei[1].max()) < bundle.data[rel["dst"]].num_nodes


def test_edge_index_by_hand(bundle):
    # users u1..u5 -> 0..4, devices d1..d3 -> 0..2, merchants 100/200/300 -> 0..2
    assert bundle.data[USES].edge_index.tolist() == [[0, 1, 2, 3, 4, 4], [0, 0, 1, 2, 2, 1]]
    assert bundle.data[PAYS].edge_index.tolist() == [[4, 0, 2, 3, 4], [2, 0, 1, 1, 0]]
    assert bundle.data[WROTE].edge_index.tolist() == [[0, 1, 1, 4], [0, 1, 2, 3]]
    assert bundle.data[SPENDS].edge_index.tolist() == [[0, 2, 4], [0, 1, 2]]


@pytest.mark.parametrize("edge_type", [USES, PAYS, WROTE, SPENDS], ids=lambda e: e[1])
def test_reverse_relations_are_flipped(bundle, edge_type):
    rev = reverse_edge_type(edge_type)
    assert rev == (edge_type[2], "rev_" + edge_type[1], edge_type[0])
    assert rev in bundle.data.edge_types
    assert torch.equal(bundle.data[rev].edge_index, bundle.data[edge_type].edge_index.flip(0))


def test_edge_types_forward_and_reverse(bundle):
    assert bundle.edge_types == [USES, PAYS, WROTE, SPENDS]
    assert len(bundle.data.edge_types) == 8
    bundle.data.validate(raise_on_error=True)


def test_edge_attr_width_names_and_order(bundle, tables):
    pays = bundle.data[PAYS]
    assert pays.edge_attr.dtype == torch.float32
    assert pays.edge_attr.shape == (5, 2)
    assert bundle.edge_attr_names == {PAYS: ["amount", "time"]}
    assert torch.equal(bundle.data[reverse_edge_type(PAYS)].edge_attr, pays.edge_attr)
    # scaling is monotone per column, so edge order follows the table's values
    for j, col in enumerate(["amount", "time"]):
        values = tables["payments"][col].to_numpy()
        assert np.argsort(pays.edge_attr[:, j].numpy(), kind="stable").tolist() == \
            np.argsort(values, kind="stable").tolist()
    for et in (USES, WROTE, SPENDS):
        assert "edge_attr" not in bundle.data[et]


def test_node_features(bundle):
    assert bundle.feature_names["user"] == ["age", "balance", "balance__isnan",
                                            "country=DE", "country=FR", "country=US"]
    x = bundle.data["user"].x
    assert x.dtype == torch.float32 and x.shape == (5, 6)
    assert x[:, 2].tolist() == [0, 0, 1, 0, 0]                  # balance NaN flag
    assert x[:, 3:].tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
    assert np.argsort(x[:, 0].numpy()).tolist() == [0, 1, 4, 2, 3]   # ages 25 31 38 47 52
    assert bundle.feature_names["device"] == ["os=android", "os=ios"]
    assert "x" not in bundle.data["merchant"] and bundle.feature_names["merchant"] == []
    review = bundle.data["review"].x
    assert review.shape[0] == 4 and torch.isfinite(review).all()
    assert bundle.feature_names["review"] == [f"text_{i}" for i in range(review.shape[1])]
    assert torch.allclose(review.norm(dim=1), torch.ones(4), atol=1e-5)
    assert bundle.data["spend"].x.shape[0] == 3 and torch.isfinite(bundle.data["spend"].x).all()
    assert bundle.modality == {"user": None, "device": None, "merchant": None,
                               "review": "text", "spend": "series"}
    assert bundle.entity_types == ["user", "device", "merchant"]


def test_raw_rows_kept_in_index_order(bundle, tables):
    for node_type, table, _ in NODE_TABLES:
        pd.testing.assert_frame_equal(bundle.raw[node_type],
                                      tables[table].reset_index(drop=True))
    for edge_type, rel in RELATIONS:
        cols = [rel["src_key"], rel["dst_key"]] + rel.get("attrs", [])
        pd.testing.assert_frame_equal(bundle.edges_raw[edge_type],
                                      tables[rel["table"]][cols].reset_index(drop=True))


def test_caller_tables_unchanged(tables, schema_dict):
    before = copy.deepcopy(tables)
    schema_before = copy.deepcopy(schema_dict)
    bundle = build_graph(tables, schema_dict, use_cache=False)
    assert list(tables) == list(before)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, before[name], check_exact=True)
        assert frame.index.equals(before[name].index)
        assert frame.index.name == before[name].index.name
        assert frame.dtypes.to_dict() == before[name].dtypes.to_dict()
    assert schema_dict == schema_before
    # editing the bundle's copies does not reach the caller's frames either
    bundle.raw["user"].loc[0, "age"] = -1
    bundle.edges_raw[PAYS].loc[0, "amount"] = -1.0
    pd.testing.assert_frame_equal(tables["users"], before["users"])
    pd.testing.assert_frame_equal(tables["payments"], before["payments"])


def test_fitted_transforms_reused_on_new_data(bundle, tables, schema_dict):
    # new data: a subset of users / reviews in another order
    new = dict(tables)
    new["users"] = tables["users"].iloc[[4, 0, 2]]
    new["user_device"] = tables["user_device"].iloc[[0, 2, 4]]
    new["payments"] = tables["payments"].iloc[[0, 1]]
    new["reviews"] = tables["reviews"].iloc[[3, 0]]
    new["spend"] = tables["spend"].iloc[[2, 0]]
    again = build_graph(new, schema_dict, fitted=bundle, use_cache=False)
    assert again.ids.ids("user").tolist() == ["u5", "u1", "u3"]
    for t, rows in (("user", [4, 0, 2]), ("review", [3, 0]), ("spend", [2, 0])):
        assert torch.allclose(again.data[t].x, bundle.data[t].x[rows], atol=1e-6), t
    assert torch.allclose(again.data[PAYS].edge_attr, bundle.data[PAYS].edge_attr[[0, 1]])


def test_unencodable_observation_dropped_with_warning(tables, schema_dict):
    tables["reviews"].loc[2, "text"] = "   "
    with pytest.warns(UserWarning, match=r"1 of 4 text observation\(s\).*'r3'"):
        bundle = build_graph(tables, schema_dict, use_cache=False)
    assert bundle.ids.ids("review").tolist() == ["r1", "r2", "r4"]
    assert bundle.dropped == {"review": ["r3"]}
    ei = bundle.data[WROTE].edge_index
    assert bundle.ids.external("user", ei[0]) == ["u1", "u2", "u5"]
    assert bundle.ids.external("review", ei[1]) == ["r1", "r2", "r4"]
    assert torch.isfinite(bundle.data["review"].x).all()


def test_series_ids_missing_from_the_points_table_are_named(tables, schema_dict):
    """No point row belongs to any series: the error says which key column of which
    table should hold the series ids, with examples of both."""
    tables["spend"] = pd.DataFrame({"series_id": ["s9"], "user_id": ["u1"]})
    with pytest.raises(DataValidationError, match=r"no row's 'series_id' is one of the "
                       r"1 series ids of table 'spend'.*\['s9'\].*look like "
                       r"\['s1', 's2', 's3'\]") as exc:
        build_graph(tables, schema_dict, use_cache=False)
    assert (exc.value.table, exc.value.column) == ("transactions", "series_id")


def test_all_observations_unencodable_is_an_error(tables, schema_dict):
    tables["transactions"] = tables["transactions"].assign(amount=float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(DataValidationError, match="no series observation") as exc:
            build_graph(tables, schema_dict, use_cache=False)
    assert exc.value.table == "spend"


def test_relative_table_paths_are_read_from_base_dir(tables, schema_dict, tmp_path,
                                                     monkeypatch):
    """Table files named relatively in a schema dict are read from ``base_dir``, not
    from the working directory."""
    for name, frame in tables.items():
        frame.to_parquet(tmp_path / f"{name}.parquet")
    schema = {**schema_dict, "tables": {name: f"{name}.parquet" for name in tables}}
    monkeypatch.chdir(tmp_path.parent)
    bundle = build_graph(None, schema, base_dir=tmp_path, use_cache=False)
    expected = build_graph(tables, schema_dict, use_cache=False)
    assert bundle.ids.ids("user").tolist() == expected.ids.ids("user").tolist()
    torch.testing.assert_close(bundle.data["user"].x, expected.data["user"].x)


def test_series_points_grouped_and_time_sorted(tables, schema_dict):
    from graphad.encoders.series import SeriesStatsEncoder
    bundle = build_graph(tables, schema_dict, use_cache=False)
    pts = tables["transactions"].sort_values("ts", kind="stable")
    enc = SeriesStatsEncoder()
    for i, sid in enumerate(["s1", "s2", "s3"]):
        rows = pts[pts["series_id"] == sid]
        expected = enc.encode([(rows["ts"].to_numpy(), rows["amount"].to_numpy())])[0]
        assert torch.allclose(bundle.data["spend"].x[i], expected, atol=1e-6)


def test_embedding_cache_in_tmp_dir(tables, schema_dict, tmp_path):
    first = build_graph(tables, schema_dict, cache_dir=tmp_path)
    assert any(tmp_path.iterdir())
    second = build_graph(tables, schema_dict, cache_dir=tmp_path)
    for t in ("review", "spend"):
        assert torch.equal(first.data[t].x, second.data[t].x)


def test_encoder_override(tables, schema_dict):
    bundle = build_graph(tables, schema_dict, use_cache=False,
                         encoders={"review": {"name": "tfidf", "dim": 2}})
    assert bundle.data["review"].x.shape == (4, 2)


def test_integer_ids_from_float_key_column(tables, schema_dict):
    # a key column read as float (e.g. CSV with blanks elsewhere) still matches int ids
    tables["payments"] = tables["payments"].astype({"merchant_id": "float64"})
    bundle = build_graph(tables, schema_dict, use_cache=False)
    assert bundle.ids.external("merchant", bundle.data[PAYS].edge_index[1]) == \
        [300, 100, 200, 200, 100]


def test_datetime_node_feature_is_unix_seconds(tables, schema_dict):
    seconds = [1.6e9, np.nan, 1.7e9, 1.65e9, 1.61e9]
    schema_dict["nodes"]["user"]["numeric"] = ["age", "joined"]
    tables["users"] = tables["users"].assign(joined=seconds)
    as_float = build_graph(tables, schema_dict, use_cache=False)
    tables["users"] = tables["users"].assign(
        joined=pd.to_datetime(seconds, unit="s").as_unit("us"))      # NaN -> NaT
    as_datetime = build_graph(tables, schema_dict, use_cache=False)
    assert as_datetime.feature_names["user"] == as_float.feature_names["user"]
    assert "joined__isnan" in as_datetime.feature_names["user"]
    assert torch.allclose(as_datetime.data["user"].x, as_float.data["user"].x)


def test_bundle_repr_and_type(bundle):
    assert isinstance(bundle, GraphBundle)
    assert repr(bundle) == ("GraphBundle(nodes: user=5, device=3, merchant=3, review=4, "
                            "spend=3; edges: uses=6, pays=5, wrote=4, spends=3)")


# ---------------------------------------------------------------- IdMap
def test_idmap_basics():
    ids = IdMap({"user": ["a", "b", "c"], "item": [7, 3]})
    assert ids.node_types == ["user", "item"] and "user" in ids and "x" not in ids
    assert ids.index("user", ["c", "a"]).tolist() == [2, 0]
    assert ids.external("item", [1, 0]) == [3, 7]
    assert ids.to_dict() == {"user": ["a", "b", "c"], "item": [7, 3]}
    assert repr(ids) == "IdMap(user=3, item=2)"


def test_idmap_errors_name_table_and_column():
    ids = IdMap({"user": ["a", "b"]})
    with pytest.raises(DataValidationError) as exc:
        ids.index("user", ["a", "zz", "yy"], table="follows", column="dst")
    assert (exc.value.table, exc.value.column, exc.value.rows) == ("follows", "dst",
                                                                   ["zz", "yy"])
    assert "'follows'" in str(exc.value) and "'dst'" in str(exc.value)
    with pytest.raises(DataValidationError, match="duplicate") as exc:
        IdMap({"user": ["a", "b", "a"]})
    assert exc.value.rows == ["a"]


def test_edge_times_read_from_a_time_named_attribute(bundle, tables):
    """``time`` among the attrs is read as the edges' times, in seconds, on both
    directions (PyG's ``time`` attribute), besides staying an edge attribute."""
    pays = bundle.data[PAYS]
    assert pays.time.dtype == torch.float64
    assert pays.time.tolist() == tables["payments"]["time"].astype(float).tolist()
    assert torch.equal(bundle.data[reverse_edge_type(PAYS)].time, pays.time)
    for et in (USES, WROTE, SPENDS):
        assert "time" not in bundle.data[et]


def test_edge_time_column_named_in_the_schema(tables, schema_dict):
    """``time: <column>`` reads any column (datetimes as unix seconds), ``time: none``
    reads none, and a missing time column is an error naming table and column."""
    pays = next(r for r in schema_dict["relations"] if r["rel"] == "pays")
    tables = dict(tables)
    stamps = pd.to_datetime(tables["payments"]["time"], unit="s")
    tables["payments"] = tables["payments"].assign(paid=stamps)
    pays["time"] = "paid"
    b = build_graph(tables, schema_dict, use_cache=False)
    assert b.data[PAYS].time.tolist() == tables["payments"]["time"].astype(float).tolist()
    assert b.edge_attr_names[PAYS] == ["amount", "time"]       # attrs are unchanged
    pays["time"] = "none"
    assert "time" not in build_graph(tables, schema_dict, use_cache=False).data[PAYS]
    pays["time"] = "paid_at"
    with pytest.raises(DataValidationError, match=r"payments.*paid_at|paid_at.*payments"):
        build_graph(tables, schema_dict, use_cache=False)


@pytest.mark.parametrize("name, is_time", [
    ("time", True), ("TS", True), ("created_at", True), ("review_date", True),
    ("event_timestamp", True), ("amount", False), ("rating", False), ("status", False),
    ("times_seen", False)])
def test_which_attribute_names_read_as_times(name, is_time):
    from graphad.data.schema import looks_like_time
    assert looks_like_time(name) is is_time


def test_edge_times_that_cannot_be_seconds_warn(tables, schema_dict):
    """All-missing edge times and epoch milliseconds are read, with a warning naming
    the table and column; a time column outside the attrs is shown with the edges."""
    pays = next(r for r in schema_dict["relations"] if r["rel"] == "pays")
    pays["time"] = "at"
    ms = tables["payments"]["time"].astype("int64") * 1000
    with pytest.warns(UserWarning, match=r"table 'payments', column 'at': .*milliseconds"):
        b = build_graph({**tables, "payments": tables["payments"].assign(at=ms)},
                        schema_dict, use_cache=False)
    assert b.data[PAYS].time.tolist() == ms.astype(float).tolist()
    assert list(b.edges_raw[PAYS].columns[2:]) == ["amount", "time", "at"]
    with pytest.warns(UserWarning, match=r"table 'payments', column 'at': every edge "
                                         r"time is missing"):
        build_graph({**tables, "payments": tables["payments"].assign(at=np.nan)},
                    schema_dict, use_cache=False)
