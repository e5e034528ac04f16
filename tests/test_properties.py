"""Property-based tests over random small typed tables: ids of mixed kinds, NaN / inf
values, empty tables, self-loops, duplicate and dangling edges. Building and scoring
raise only documented graphad errors; otherwise every score is finite and every id
comes back as it went in."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphad.data import build_graph
from graphad.detectors import EarlyFusionIForest, MultimodalGAE
from graphad.errors import GraphadError

SCHEMA = {
    "nodes": {
        "user": {"table": "users", "id": "user_id", "numeric": ["balance"],
                 "categorical": ["country"]},
        "device": {"table": "devices", "id": "device_id"},
    },
    "relations": [
        {"src": "user", "rel": "pays", "dst": "user", "table": "payments",
         "src_key": "src", "dst_key": "dst", "attrs": ["amount"]},
        {"src": "user", "rel": "uses", "dst": "device", "table": "uses",
         "src_key": "user_id", "dst_key": "device_id"},
    ],
}
values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.integers(-10**6, 10**6))
EXAMPLES = {"tried": 0, "built": 0, "refused": 0}


@st.composite
def typed_tables(draw):
    """Users (string or integer ids, sometimes one of the other kind), devices, a
    user-user relation with amounts (self-loops and duplicates come naturally, a
    dangling end sometimes) and a user-device relation (possibly empty)."""
    n = draw(st.integers(0, 10))
    kind = draw(st.sampled_from(["str", "int"]))
    raw = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n, unique=True))
    ids: list = [f"u{i}" for i in raw] if kind == "str" else list(raw)
    if n >= 2 and draw(st.booleans()):
        ids[0] = str(ids[0]) if kind == "int" else len(ids)      # a mixed-kind id
    users = pd.DataFrame({
        "user_id": pd.Series(ids, dtype=object),
        "balance": pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype=object),
        "country": draw(st.lists(st.sampled_from(["FR", "DE", None]), min_size=n,
                                 max_size=n))})
    k = draw(st.integers(1, 4))
    devices = pd.DataFrame({"device_id": [f"d{i}" for i in range(k)]})
    ends = st.sampled_from(ids + (["ghost"] if draw(st.booleans()) else [])) if ids \
        else st.just("ghost")
    m = draw(st.integers(0, 25))
    payments = pd.DataFrame({
        "src": pd.Series([draw(ends) for _ in range(m)], dtype=object),
        "dst": pd.Series([draw(ends) for _ in range(m)], dtype=object),
        "amount": pd.Series(draw(st.lists(values, min_size=m, max_size=m)), dtype=object)})
    u = draw(st.integers(0, 2 * max(n, 1))) if ids else 0
    uses = pd.DataFrame({"user_id": pd.Series([draw(st.sampled_from(ids)) for _ in range(u)],
                                              dtype=object),
                         "device_id": [f"d{draw(st.integers(0, k - 1))}" for _ in range(u)]})
    return {"users": users, "devices": devices, "payments": payments, "uses": uses}


def _check(tables, detector) -> None:
    EXAMPLES["tried"] += 1
    before = {name: frame.copy() for name, frame in tables.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = build_graph(tables, SCHEMA, use_cache=False)
            frame = detector.fit(graph).scores_frame(graph)
    except GraphadError:
        EXAMPLES["refused"] += 1
        return
    finally:
        for name, frame_before in before.items():        # the caller's tables untouched
            pd.testing.assert_frame_equal(tables[name], frame_before)
    EXAMPLES["built"] += 1
    assert np.isfinite(frame["score"].to_numpy(dtype=float)).all()
    users = frame[frame["node_type"] == "user"]
    assert list(users["id"]) == list(graph.ids.ids("user"))
    assert sorted(map(repr, graph.ids.ids("user"))) == sorted(
        map(repr, tables["users"]["user_id"]))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(typed_tables())
def test_fusion_builds_and_scores_or_refuses_clearly(tables):
    _check(tables, EarlyFusionIForest(n_estimators=10, seed=0))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(typed_tables())
def test_default_detector_builds_and_scores_or_refuses_clearly(tables):
    _check(tables, MultimodalGAE(epochs=2, hidden=4, seed=0))
