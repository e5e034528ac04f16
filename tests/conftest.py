"""Shared tiny fixtures: a users / devices / merchants / reviews / spend-series table set
and its schema. Light encoders only (TF-IDF text, statistical series), no embedding cache.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Dict

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

USES = ("user", "uses", "device")
PAYS = ("user", "pays", "merchant")
WROTE = ("user", "wrote", "review")
SPENDS = ("user", "spends", "spend")

SCHEMA: Dict = {
    "nodes": {
        "user": {"table": "users", "id": "user_id", "numeric": ["age", "balance"],
                 "categorical": ["country"]},
        "device": {"table": "devices", "id": "device_id", "categorical": ["os"]},
        "merchant": {"table": "merchants", "id": "merchant_id"},
        "review": {"table": "reviews", "id": "review_id", "modality": "text",
                   "column": "text", "encoder": {"name": "tfidf", "dim": 8}},
        "spend": {"table": "spend", "id": "series_id", "modality": "series",
                  "points": {"table": "transactions", "key": "series_id", "time": "ts",
                             "value": "amount"}},
    },
    "relations": [
        {"src": "user", "rel": "uses", "dst": "device", "table": "user_device",
         "src_key": "user_id", "dst_key": "device_id"},
        {"src": "user", "rel": "pays", "dst": "merchant", "table": "payments",
         "src_key": "user_id", "dst_key": "merchant_id", "attrs": ["amount", "time"]},
        {"src": "user", "rel": "wrote", "dst": "review", "table": "reviews",
         "src_key": "user_id", "dst_key": "review_id"},
        {"src": "user", "rel": "spends", "dst": "spend", "table": "spend",
         "src_key": "user_id", "dst_key": "series_id"},
    ],
}


def make_tables() -> Dict[str, pd.DataFrame]:
    """Fresh tables. ``users`` has a non-default index and mixed dtypes on purpose."""
    users = pd.DataFrame({
        "user_id": ["u1", "u2", "u3", "u4", "u5"],
        "age": np.array([25, 31, 47, 52, 38], dtype=np.int64),
        "balance": [100.0, 250.5, np.nan, 80.0, 1200.0],
        "country": pd.Categorical(["FR", "DE", "FR", "US", "DE"]),
    }, index=pd.Index([10, 11, 12, 13, 14], name="row"))
    devices = pd.DataFrame({"device_id": ["d1", "d2", "d3"],
                            "os": ["ios", "android", "ios"]})
    merchants = pd.DataFrame({"merchant_id": np.array([100, 200, 300], dtype=np.int64)})
    reviews = pd.DataFrame({
        "review_id": ["r1", "r2", "r3", "r4"],
        "user_id": ["u1", "u2", "u2", "u5"],
        "text": ["great shoes and fast delivery", "terrible service, never again",
                 "fine product at a good price", "free money, click this link now"]})
    user_device = pd.DataFrame({"user_id": ["u1", "u2", "u3", "u4", "u5", "u5"],
                                "device_id": ["d1", "d1", "d2", "d3", "d3", "d2"]})
    payments = pd.DataFrame({
        "user_id": ["u5", "u1", "u3", "u4", "u5"],
        "merchant_id": np.array([300, 100, 200, 200, 100], dtype=np.int64),
        "amount": [5000.0, 10.0, 99.5, 3.0, 42.0],
        "time": np.array([1_700_000_400, 1_700_000_000, 1_700_000_100, 1_700_000_200,
                          1_700_000_300], dtype=np.int64)})
    spend = pd.DataFrame({"series_id": ["s1", "s2", "s3"], "user_id": ["u1", "u3", "u5"]})
    transactions = pd.DataFrame({
        "series_id": ["s1", "s1", "s1", "s1", "s2", "s2", "s2", "s3", "s3", "s3", "s3",
                      "s3"],
        "ts": [4.0, 1.0, 2.0, 3.0, 1.0, 5.0, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        "amount": [10.0, 12.0, 11.0, 13.0, 5.0, 50.0, 500.0, 1.0, 1.0, 1.0, 90.0, 1.0]})
    return {"users": users, "devices": devices, "merchants": merchants,
            "reviews": reviews, "user_device": user_device, "payments": payments,
            "spend": spend, "transactions": transactions}


def make_schema() -> Dict:
    return copy.deepcopy(SCHEMA)


def fit_small_model(root: Path, *args: str):
    """The tiny tables as Parquet under ``root/data`` with a schema YAML, and a model
    fitted on them through the CLI (3 epochs, hidden 8): ``(schema path, model path)``."""
    from graphad.cli import main
    from test_cli_model import write_tables
    schema = write_tables(root / "data", make_tables(), make_schema())
    model = root / "model"
    assert main(["fit", "--schema", str(schema), "--out", str(model), "--epochs", "3",
                 "--param", "hidden=8", *args]) == 0
    return schema, model


@pytest.fixture
def tables() -> Dict[str, pd.DataFrame]:
    return make_tables()


@pytest.fixture
def schema_dict() -> Dict:
    return make_schema()


@pytest.fixture
def bundle(tables, schema_dict):
    from graphad.data import build_graph
    return build_graph(tables, schema_dict, use_cache=False)


@pytest.fixture
def data_root() -> Path:
    """The benchmark folder (``$GRAPHAD_DATA`` or ``/work/shared/datasets``)."""
    for candidate in (os.environ.get("GRAPHAD_DATA"), "/work/shared/datasets",
                      Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    pytest.skip("benchmark datasets folder not found (set GRAPHAD_DATA)")
