"""Loaders for the benchmark sets in ``$GRAPHAD_DATA`` (``../shared/datasets``)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from ..data.bundle import GraphBundle
from ..data.convert import HOMOGENEOUS_TYPE, from_data
from ..errors import DataValidationError, GraphadError

PathLike = Union[str, Path]


@dataclass
class LabelledGraph:
    """A graph with ground truth for evaluation.

    Attributes:
        name: dataset name.
        bundle: the graph.
        labels: ``node_type, id, label`` (+ ``anomaly_type``, ``group_id`` where known);
            only labelled nodes appear (bitcoin_alpha labels 237 of 3,783 users:
            its gt.csv has 240 rows, 3 of them repeated).
        target_type: the node type the labels are about.
    """

    name: str
    bundle: GraphBundle
    labels: pd.DataFrame
    target_type: str


def data_root(root: Optional[PathLike] = None) -> Path:
    """The benchmark folder: ``root``, else ``$GRAPHAD_DATA``, else ``../shared/datasets``."""
    for candidate in (root, os.environ.get("GRAPHAD_DATA"), "../shared/datasets"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise GraphadError("benchmark data folder not found: pass a path or set GRAPHAD_DATA "
                       "(e.g. GRAPHAD_DATA=../shared/datasets)")


def available(root: Optional[PathLike] = None) -> List[str]:
    """Names of the benchmark sets present under the data root."""
    base = data_root(root)
    names = sorted(p.stem for p in base.glob("*.npz"))
    if (base / "bitcoin_alpha" / "network.csv").exists():
        names.append("bitcoin_alpha")
    return names


def load_npz(path: PathLike, name: Optional[str] = None) -> LabelledGraph:
    """``x``, ``edge_index``, ``y`` (``y_kind``) -> a one-type graph.

    Edges are made undirected, deduplicated and stripped of self-loops.
    """
    path = Path(path)
    name = name or path.stem
    try:
        z = np.load(path)
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"cannot read {path}: {exc}", table=name) from exc
    for key in ("x", "edge_index", "y"):
        if key not in z.files:
            raise DataValidationError(f"missing array '{key}' in {path}", table=name,
                                      column=key)
    x = torch.as_tensor(z["x"], dtype=torch.float32)
    n = x.shape[0]
    ei = torch.as_tensor(z["edge_index"], dtype=torch.long)
    if ei.numel() and (int(ei.max()) >= n or int(ei.min()) < 0):
        raise DataValidationError(f"edge_index refers to nodes outside 0..{n - 1}",
                                  table=name, column="edge_index")
    ei, _ = remove_self_loops(ei)
    ei = coalesce(to_undirected(ei, num_nodes=n), num_nodes=n)
    bundle = from_data(Data(x=x, edge_index=ei, num_nodes=n))
    y = z["y"].astype(np.int64)
    labels = pd.DataFrame({"node_type": HOMOGENEOUS_TYPE, "id": np.arange(n), "label": y})
    if "y_kind" in z.files:
        kind = z["y_kind"].astype(int)
        labels["anomaly_type"] = np.select(
            [kind == 3, kind == 1, kind == 2, y == 1],
            ["contextual+structural", "contextual", "structural", "anomaly"], "none")
    return LabelledGraph(name, bundle, labels, HOMOGENEOUS_TYPE)


def bitcoin_alpha_schema(with_series: bool = True) -> dict:
    """Users, ``(user, rates, user)`` with rating and time, and (optionally) each user's
    received-ratings series as a ``series`` observation."""
    schema = {
        "nodes": {"user": {"table": "users", "id": "user"}},
        "relations": [{"src": "user", "rel": "rates", "dst": "user", "table": "network",
                       "src_key": "src", "dst_key": "dst", "attrs": ["rating", "time"]}],
    }
    if with_series:
        schema["nodes"]["received"] = {
            "table": "received", "id": "series", "modality": "series",
            "points": {"table": "network", "key": "dst", "time": "time",
                       "value": "rating"}}
        schema["relations"].append({"src": "user", "rel": "received", "dst": "received",
                                    "table": "received", "src_key": "user",
                                    "dst_key": "series"})
    return schema


def load_bitcoin_alpha(folder: PathLike, with_series: bool = True,
                       use_cache: bool = True) -> LabelledGraph:
    """``network.csv`` (src, dst, rating, time) + ``gt.csv`` (node, label: -1 fraud),
    with or without header lines. Repeated ``gt.csv`` rows count once."""
    from ..data.build import build_graph
    folder = Path(folder)
    net = _read_csv_columns(folder / "network.csv", "network",
                            ["src", "dst", "rating", "time"])
    gt = _read_csv_columns(folder / "gt.csv", "gt", ["node", "label"])
    gt = gt.drop_duplicates(["node", "label"])      # the published gt.csv repeats 3 rows
    clash = gt["node"].duplicated(keep=False)
    if clash.any():
        raise DataValidationError("node labelled both fraudulent and trusted", table="gt",
                                  column="node", rows=gt.loc[clash, "node"].unique().tolist())
    users = pd.DataFrame({"user": np.unique(np.concatenate(
        [net["src"].to_numpy(), net["dst"].to_numpy()]))})
    tables = {"users": users, "network": net}
    if with_series:
        rated = np.unique(net["dst"].to_numpy())
        tables["received"] = pd.DataFrame({"series": rated, "user": rated})
    bundle = build_graph(tables, bitcoin_alpha_schema(with_series), use_cache=use_cache)
    labels = pd.DataFrame({"node_type": "user", "id": gt["node"].to_numpy(),
                           "label": (gt["label"].to_numpy() < 0).astype(np.int64)})
    labels = labels[labels["id"].isin(users["user"])].reset_index(drop=True)
    return LabelledGraph("bitcoin_alpha", bundle, labels, "user")


def _read_csv_columns(path: Path, name: str, columns: List[str]) -> pd.DataFrame:
    """A CSV holding ``columns``, with that header line or none at all (the published
    bitcoin_alpha files have none)."""
    from ..data.io import read_table
    frame = read_table(path, name)
    if list(frame.columns) == columns:
        return frame
    headerless = pd.to_numeric(pd.Series(frame.columns, dtype=object),
                               errors="coerce").notna().all()
    if not headerless or len(frame.columns) != len(columns):
        raise DataValidationError(f"expected columns {columns} (header line optional), "
                                  f"got {list(frame.columns)}", table=name,
                                  column=columns[0])
    try:
        return pd.read_csv(path, header=None, names=columns)
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"cannot read {path}: {exc}", table=name) from exc


def load(name: str, root: Optional[PathLike] = None, **kwargs) -> LabelledGraph:
    """Load a benchmark set by name (``disney``, ..., ``bitcoin_alpha``) or the embedded
    multimodal sample (``fraud_sample``)."""
    if name == "fraud_sample":
        return fraud_graph(**kwargs)
    base = data_root(root)
    if name == "bitcoin_alpha":
        return load_bitcoin_alpha(base / "bitcoin_alpha", **kwargs)
    path = base / f"{name}.npz"
    if not path.exists():
        raise GraphadError(f"unknown dataset '{name}' in {base}; available: "
                           f"{available(base) + ['fraud_sample']}")
    return load_npz(path, name)


def fraud_graph(network=None, path: Optional[PathLike] = None,
                use_cache: bool = True) -> LabelledGraph:
    """The multimodal fraud network as a :class:`LabelledGraph` (users are the target).

    ``network``: a ``FraudNetwork`` from :func:`make_fraud_network`; default the
    embedded sample (``datasets/fraud_sample`` or ``path``).
    """
    from ..data.build import build_graph
    if network is None:
        from .sample import load_fraud_sample
        network = load_fraud_sample(path)
    bundle = build_graph(network.tables, network.schema, use_cache=use_cache,
                         base_dir=network.root)
    return LabelledGraph("fraud_sample", bundle, network.labels, "user")
