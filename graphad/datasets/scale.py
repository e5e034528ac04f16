"""Large synthetic typed fraud graphs with precomputed features, for scale runs.

Tables as a user would hand them over (no text or image models to run, so a scale run
measures graphad, not an encoder): ``users`` with ``n_features`` numeric columns,
``devices``, ``merchants``, and the relations ``uses`` (user -> device), ``pays``
(user -> merchant, with an ``amount``) and ``follows`` (user -> user); about 11.5 edges
per user. Planted anomalies (``anomaly_rate`` of the users, in equal parts):

* ``attribute``: a few feature columns shifted by 4-6 standard deviations;
* ``farm``: groups of 10 accounts on one shared device;
* ``ring``: groups of 8 accounts that all follow each other and pay one merchant large
  amounts;
* ``burst``: accounts with 20 payments of 20-50 times the usual amount.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
import pandas as pd

USES_PER_USER = 1.5
PAYS_PER_USER = 6.0
FOLLOWS_PER_USER = 4.0
FARM_SIZE = 10
RING_SIZE = 8
BURST_PAYMENTS = 20


@dataclass
class ScaleGraph:
    """``tables`` (name -> DataFrame), ``schema`` (dict) and ``labels`` (``node_type,
    id, label, anomaly_type``)."""

    tables: Dict[str, pd.DataFrame]
    schema: Dict
    labels: pd.DataFrame

    @property
    def n_edges(self) -> int:
        return sum(len(self.tables[t]) for t in ("uses", "pays", "follows"))


def scale_schema(n_features: int = 16) -> Dict:
    """The schema of :func:`make_scale_graph`'s tables."""
    return {
        "nodes": {
            "user": {"table": "users", "id": "user_id",
                     "numeric": [f"f{i}" for i in range(n_features)]},
            "device": {"table": "devices", "id": "device_id", "categorical": ["os"]},
            "merchant": {"table": "merchants", "id": "merchant_id",
                         "categorical": ["category"]},
        },
        "relations": [
            {"src": "user", "rel": "uses", "dst": "device", "table": "uses",
             "src_key": "user_id", "dst_key": "device_id"},
            {"src": "user", "rel": "pays", "dst": "merchant", "table": "pays",
             "src_key": "user_id", "dst_key": "merchant_id", "attrs": ["amount"]},
            {"src": "user", "rel": "follows", "dst": "user", "table": "follows",
             "src_key": "src", "dst_key": "dst"},
        ],
    }


def make_scale_graph(n_users: int, seed: int = 0, n_features: int = 16,
                     anomaly_rate: float = 0.05) -> ScaleGraph:
    """A typed fraud graph of ``n_users`` users (at least 200) built in vectorised
    numpy: deterministic for a seed."""
    if n_users < 200:
        raise ValueError(f"n_users must be at least 200, got {n_users}")
    rng = np.random.default_rng(seed)
    n_dev = max(int(n_users * 1.2), 10)
    n_mer = max(n_users // 50, 20)
    # ------------------------------------------------------------- users and features
    loadings = rng.normal(size=(4, n_features))
    x = rng.normal(size=(n_users, 4)) @ loadings + 0.5 * rng.normal(size=(n_users, n_features))
    kinds = np.array(["attribute", "farm", "ring", "burst"])
    n_anom = int(anomaly_rate * n_users)
    anomalous = rng.choice(n_users, n_anom, replace=False)
    atype = np.full(n_users, "", dtype=object)
    atype[anomalous] = kinds[np.arange(n_anom) % len(kinds)]
    attr = np.flatnonzero(atype == "attribute")
    cols = rng.integers(0, n_features, size=(len(attr), 3))
    x[attr[:, None], cols] += rng.choice([-1, 1], size=cols.shape) * rng.uniform(4, 6,
                                                                                cols.shape)
    users = pd.DataFrame(x.astype(np.float32), columns=[f"f{i}" for i in range(n_features)])
    users.insert(0, "user_id", np.arange(n_users, dtype=np.int64))
    devices = pd.DataFrame({"device_id": np.arange(n_dev, dtype=np.int64),
                            "os": rng.choice(["ios", "android", "windows"], n_dev)})
    merchants = pd.DataFrame({"merchant_id": np.arange(n_mer, dtype=np.int64),
                              "category": rng.choice(["food", "travel", "tech", "fashion"],
                                                     n_mer)})
    # ------------------------------------------------------------- normal edges
    n_uses = int(USES_PER_USER * n_users)
    uses_u = np.concatenate([np.arange(n_users), rng.integers(0, n_users, n_uses - n_users)])
    uses_d = rng.integers(0, n_dev, n_uses)
    popularity = rng.pareto(1.5, n_mer) + 1
    n_pays = int(PAYS_PER_USER * n_users)
    pays_u = rng.integers(0, n_users, n_pays)
    pays_m = rng.choice(n_mer, n_pays, p=popularity / popularity.sum())
    amount = rng.lognormal(3.0, 0.8, n_pays)
    n_fol = int(FOLLOWS_PER_USER * n_users)
    fol_s, fol_d = rng.integers(0, n_users, n_fol), rng.integers(0, n_users, n_fol)
    # ------------------------------------------------------------- planted groups
    farm = np.flatnonzero(atype == "farm")
    for k, group in enumerate(np.array_split(farm, max(len(farm) // FARM_SIZE, 1))):
        uses_d[np.isin(uses_u, group)] = k % n_dev          # one shared device per farm
    ring = np.flatnonzero(atype == "ring")
    extra_s, extra_d, extra_pu, extra_pm, extra_amt = [], [], [], [], []
    for group in np.array_split(ring, max(len(ring) // RING_SIZE, 1)):
        a, b = np.meshgrid(group, group)
        keep = a != b
        extra_s.append(a[keep]), extra_d.append(b[keep])
        shell = int(rng.integers(0, n_mer))
        extra_pu.append(group), extra_pm.append(np.full(len(group), shell))
        extra_amt.append(rng.uniform(800, 1500, len(group)))
    burst = np.flatnonzero(atype == "burst")
    if len(burst):
        extra_pu.append(np.repeat(burst, BURST_PAYMENTS))
        extra_pm.append(rng.integers(0, n_mer, len(burst) * BURST_PAYMENTS))
        extra_amt.append(np.exp(3.0) * rng.uniform(20, 50, len(burst) * BURST_PAYMENTS))
    if extra_s:
        fol_s, fol_d = np.concatenate([fol_s, *extra_s]), np.concatenate([fol_d, *extra_d])
    if extra_pu:
        pays_u = np.concatenate([pays_u, *extra_pu])
        pays_m = np.concatenate([pays_m, *extra_pm])
        amount = np.concatenate([amount, *extra_amt])
    tables = {
        "users": users, "devices": devices, "merchants": merchants,
        "uses": pd.DataFrame({"user_id": uses_u, "device_id": uses_d}),
        "pays": pd.DataFrame({"user_id": pays_u, "merchant_id": pays_m,
                              "amount": amount.astype(np.float32)}),
        "follows": pd.DataFrame({"src": fol_s, "dst": fol_d}),
    }
    labels = pd.DataFrame({"node_type": "user", "id": np.arange(n_users, dtype=np.int64),
                           "label": (atype != "").astype(np.int64),
                           "anomaly_type": np.where(atype == "", "normal", atype)})
    return ScaleGraph(tables, scale_schema(n_features), labels)
