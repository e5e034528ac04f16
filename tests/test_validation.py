"""Every bad table raises DataValidationError naming the table and the column (or
SchemaError for a bad schema), before anything is built."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from graphad.data import build_graph
from graphad.data.validate import check_ids, numeric_column
from graphad.errors import DataValidationError, GraphadError, SchemaError


def _set(table, **columns):
    def fn(tables, schema):
        tables[table] = tables[table].assign(**columns)
    return fn


def _replace(table, frame):
    def fn(tables, schema):
        tables[table] = frame
    return fn


def _drop(table, column):
    def fn(tables, schema):
        tables[table] = tables[table].drop(columns=[column])
    return fn


# (mutation, table, column, message fragment, offending rows or None)
CASES = {
    "unknown-src-id": (_set("user_device", user_id=["u1", "u2", "u3", "ghost", "u5", "u5"]),
                       "user_device", "user_id", "not found among 'user' nodes", ["ghost"]),
    "unknown-dst-id": (_set("payments", merchant_id=[300, 100, 999, 200, 998]),
                       "payments", "merchant_id", "not found among 'merchant'", [999, 998]),
    "duplicate-ids": (_set("devices", device_id=["d1", "d2", "d1"]),
                      "devices", "device_id", "duplicate ids", ["d1"]),
    "duplicate-observation-ids": (_set("reviews", review_id=["r1", "r2", "r2", "r4"]),
                                  "reviews", "review_id", "duplicate ids", ["r2"]),
    "missing-id-column": (_drop("merchants", "merchant_id"),
                          "merchants", "merchant_id", "missing id column", None),
    "missing-src-key": (_drop("user_device", "user_id"),
                        "user_device", "user_id", "missing key column", None),
    "missing-dst-key": (_drop("payments", "merchant_id"),
                        "payments", "merchant_id", "missing key column", None),
    "nan-node-id": (_replace("merchants", pd.DataFrame({"merchant_id": [100, np.nan, 300]})),
                    "merchants", "merchant_id", "missing (NaN) id", [1]),
    "none-node-id": (_set("users", user_id=["u1", "u2", None, "u4", "u5"]),
                     "users", "user_id", "missing (NaN) id", [12]),
    "nan-relation-key": (_set("payments", user_id=["u5", "u1", None, "u4", "u5"]),
                         "payments", "user_id", "missing (NaN) id", [2]),
    "empty-node-table": (_replace("merchants",
                                  pd.DataFrame({"merchant_id": pd.Series([], dtype=int)})),
                         "merchants", "merchant_id", "empty", None),
    "non-numeric-feature": (_set("users", age=[25, 31, "forty", 52, 38]),
                            "users", "age", "must be numeric", None),
    "non-numeric-string-feature": (_set("users", balance=["1", "2.5", "n/a", "4", "5"]),
                                   "users", "balance", "must be numeric", None),
    "non-numeric-edge-attr": (_set("payments", amount=["5", "10", "ten", "3", "42"]),
                              "payments", "amount", "must be numeric", None),
    "non-numeric-series-value": (_set("transactions", amount=["x"] * 12),
                                 "transactions", "amount", "must be numeric", None),
    "missing-feature-column": (_drop("users", "balance"),
                               "users", "balance", "missing column", None),
    "missing-text-column": (_drop("reviews", "text"),
                            "reviews", "text", "missing text column", None),
    "missing-edge-attr-column": (_drop("payments", "time"),
                                 "payments", "time", "missing edge attribute column", None),
    "missing-points-column": (_drop("transactions", "ts"),
                              "transactions", "ts", "missing column", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validation_error_names_table_and_column(tables, schema_dict, case):
    mutate, table, column, fragment, rows = CASES[case]
    mutate(tables, schema_dict)
    with pytest.raises(DataValidationError) as exc:
        build_graph(tables, schema_dict, use_cache=False)
    err = exc.value
    assert isinstance(err, GraphadError)
    assert err.table == table
    assert err.column == column
    msg = str(err)
    assert f"table '{table}'" in msg
    assert f"column '{column}'" in msg
    assert fragment in msg
    if rows is not None:
        assert err.rows == rows
        assert repr(rows[0]) in msg


@pytest.mark.parametrize("table, column, bad", [
    ("users", "age", "forty"), ("payments", "amount", "ten")])
def test_non_numeric_error_names_row_and_value(tables, schema_dict, table, column, bad):
    values = tables[table][column].tolist()
    values[2] = bad
    tables[table] = tables[table].assign(**{column: values})
    with pytest.raises(DataValidationError) as exc:
        build_graph(tables, schema_dict, use_cache=False)
    assert exc.value.rows == [(2, bad)]
    assert repr(bad) in str(exc.value)


def test_missing_table(tables, schema_dict):
    del tables["payments"]
    with pytest.raises(DataValidationError, match="table not given") as exc:
        build_graph(tables, schema_dict, use_cache=False)
    assert exc.value.table == "payments"


@pytest.mark.parametrize("end, key", [("src", "user_id"), ("dst", "merchant_id")])
def test_unknown_node_type_is_schema_error(tables, schema_dict, end, key):
    schema_dict["relations"][1][end] = "shop"
    with pytest.raises(SchemaError) as exc:
        build_graph(tables, schema_dict, use_cache=False)
    msg = str(exc.value)
    assert "'payments'" in msg and f"'{key}'" in msg and "'shop'" in msg


def test_many_offending_rows_are_summarised():
    frame = pd.DataFrame({"id": list("abcdefgh") * 2})
    with pytest.raises(DataValidationError) as exc:
        check_ids(frame, "t", "id", unique=True)
    assert exc.value.rows == list("abcdefgh")
    assert "(and 3 more)" in str(exc.value)


# ---------------------------------------------------------------- numeric_column
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_datetimes_become_unix_seconds(unit, tz):
    stamps = pd.to_datetime(["1970-01-01 00:00:01", "2021-01-01 00:00:00"], utc=True)
    col = stamps.tz_convert(tz) if tz else stamps.tz_localize(None)
    frame = pd.DataFrame({"t": pd.Series(col).dt.as_unit(unit)})
    assert numeric_column(frame, "events", "t").tolist() == [1.0, 1609459200.0]


def test_missing_datetime_becomes_nan():
    frame = pd.DataFrame({"t": pd.to_datetime(["1970-01-01 00:00:10", None])})
    out = numeric_column(frame, "events", "t")
    assert out.iloc[0] == 10.0 and np.isnan(out.iloc[1])


@pytest.mark.parametrize("values, expected", [
    ([True, False], [1.0, 0.0]),
    ([1, 2], [1.0, 2.0]),
    (["1.5", "2"], [1.5, 2.0]),
    (["1.5", None], [1.5, np.nan]),
    (pd.to_timedelta(["1s", "2min"]), [1.0, 120.0]),
])
def test_numeric_column_conversions(values, expected):
    out = numeric_column(pd.DataFrame({"c": values}), "t", "c")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.to_numpy(), np.asarray(expected, dtype=float))


def test_datetime_edge_attribute_in_graph(tables, schema_dict):
    tables["payments"] = tables["payments"].assign(
        time=pd.to_datetime(tables["payments"]["time"], unit="s").dt.as_unit("us"))
    with_dt = build_graph(tables, schema_dict, use_cache=False)
    tables["payments"] = tables["payments"].assign(
        time=tables["payments"]["time"].astype("int64") // 10**6)
    with_int = build_graph(tables, schema_dict, use_cache=False)
    pays = ("user", "pays", "merchant")
    assert with_dt.data[pays].edge_attr.tolist() == with_int.data[pays].edge_attr.tolist()


def test_infinite_values_warn_naming_table_column_and_rows():
    frame = pd.DataFrame({"v": [1.0, np.inf, 2.0, -np.inf]})
    with pytest.warns(UserWarning, match=r"table 't', column 'v': 2 infinite value\(s\) "
                                         r"at row\(s\) \[1, 3\]"):
        out = numeric_column(frame, "t", "v")
    assert np.isinf(out).sum() == 2            # kept for the encoder to clip


def test_infinite_features_are_clipped_not_missing(tables, schema_dict):
    users = tables["users"].copy()
    users["balance"] = [np.inf, 250.5, np.nan, 80.0, -np.inf]
    with pytest.warns(UserWarning, match="'balance': 2 infinite"):
        graph = build_graph({**tables, "users": users}, schema_dict, use_cache=False)
    names = graph.feature_names["user"]
    col = graph.data["user"].x[:, names.index("balance")]
    assert torch.isfinite(graph.data["user"].x).all()
    assert col[0] == col.max() and col[4] == col.min() and col[0] > col[1] > col[4]


def test_lone_surrogate_text_is_refused_naming_the_row(tables, schema_dict):
    from graphad.errors import DataValidationError
    reviews = tables["reviews"].copy()
    reviews["text"] = pd.Series(["fine", "bad \ud800 text", "ok", "good"], dtype=object)
    with pytest.raises(DataValidationError, match=r"table 'reviews', column 'text'.*"
                                                  r"lone surrogate.*\(1, "):
        build_graph({**tables, "reviews": reviews}, schema_dict, use_cache=False)


def test_a_date_column_names_only_the_rows_that_are_no_date():
    dates = [f"2024-01-{d:02d}T10:00:00" for d in range(1, 21)]
    dates[3], dates[17] = "yesterday", "n.a."
    with pytest.raises(DataValidationError) as exc:
        numeric_column(pd.DataFrame({"when": dates}), "orders", "when")
    assert exc.value.rows == [(3, "yesterday"), (17, "n.a.")]
    assert "table 'orders'" in str(exc.value) and "column 'when'" in str(exc.value)
