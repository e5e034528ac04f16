"""Analyst labels: a ``node_type, id, label`` table checked against a graph.

``label`` is 1 for a confirmed anomaly and 0 for a confirmed normal; nodes that nobody
looked at are simply absent. Every problem is refused with the rows that cause it:
unknown node types, ids not in the graph, values other than 0 / 1, one node labelled
both ways.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Union

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..data.bundle import GraphBundle
from ..errors import DataValidationError

COLUMNS = ("node_type", "id", "label")
#: ``label_vector`` value of a node without a label
UNKNOWN = -1


def read_labels(source: Union[str, Path, pd.DataFrame]) -> pd.DataFrame:
    """A labels table from a DataFrame or a CSV / Parquet file, columns checked."""
    if isinstance(source, pd.DataFrame):
        table, name = source.copy(), "labels"
    else:
        path = Path(source)
        name = path.name
        if not path.is_file():
            raise DataValidationError(f"labels file not found: {path}", table=name)
        try:
            table = (pd.read_parquet(path) if path.suffix == ".parquet"
                     else pd.read_csv(path, dtype={"node_type": str}))
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise DataValidationError(f"cannot read {path}: {exc}", table=name) from exc
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DataValidationError(f"missing column(s) {missing}; a labels table has "
                                  f"columns {list(COLUMNS)}", table=name, column=missing[0])
    table = table[list(COLUMNS)].reset_index(drop=True)
    table.attrs["name"] = name
    return table


def _rows(mask: np.ndarray) -> list:
    """Row numbers as a user sees them in a CSV (header = line 1, first row = 2)."""
    return (np.flatnonzero(mask) + 2).tolist()


def validate_labels(labels: Any, bundle: GraphBundle) -> pd.DataFrame:
    """The labels table with ids matched to ``bundle``'s ids and ``label`` as int.

    Raises:
        DataValidationError: naming the rows (CSV line numbers) of unknown node types,
            unknown ids, labels other than 0 / 1, or nodes labelled both 0 and 1.
    """
    table = read_labels(labels)
    name = table.attrs.get("name", "labels")
    if table.empty:
        raise DataValidationError("the labels table has no rows", table=name)
    types = table["node_type"].astype(str)
    bad_type = ~types.isin(bundle.node_types)
    if bad_type.any():
        raise DataValidationError(
            f"unknown node type(s) {sorted(types[bad_type].unique())} (the graph has "
            f"{bundle.node_types})", table=name, column="node_type",
            rows=_rows(bad_type.to_numpy()))
    value = pd.to_numeric(table["label"], errors="coerce")
    bad_value = ~value.isin([0, 1])
    if bad_value.any():
        shown = table.loc[bad_value, "label"].astype(str).unique()[:5].tolist()
        raise DataValidationError(f"labels must be 0 (normal) or 1 (anomaly), got "
                                  f"{shown}", table=name, column="label",
                                  rows=_rows(bad_value.to_numpy()))
    ids = table["id"].to_numpy(dtype=object).copy()
    unknown = np.zeros(len(table), dtype=bool)
    for t in types.unique():
        rows = np.flatnonzero((types == t).to_numpy())
        known = bundle.ids.ids(t)
        pos = known.get_indexer(ids[rows])
        if (pos < 0).any() and known.dtype.kind in "iu":      # "17" in a CSV of ints
            as_num = pd.to_numeric(pd.Series(ids[rows]), errors="coerce")
            pos = known.get_indexer(as_num)
        if (pos < 0).any() and known.dtype == object:         # 17 for the id "17"
            pos = known.get_indexer(pd.Series(ids[rows]).astype(str))
        unknown[rows[pos < 0]] = True
        ids[rows[pos >= 0]] = known[pos[pos >= 0]]
    if unknown.any():
        raise DataValidationError(
            f"{int(unknown.sum())} id(s) not found in the graph: "
            f"{table.loc[unknown, 'id'].astype(str).tolist()[:5]}", table=name,
            column="id", rows=_rows(unknown))
    out = pd.DataFrame({"node_type": types.to_numpy(), "id": ids,
                        "label": value.astype(int).to_numpy()})
    conflict = out.groupby(["node_type", "id"])["label"].transform("nunique") > 1
    if conflict.any():
        raise DataValidationError("node(s) labelled both 0 and 1", table=name,
                                  column="id", rows=_rows(conflict.to_numpy()))
    return out.drop_duplicates(["node_type", "id"]).reset_index(drop=True)


def label_vectors(labels: pd.DataFrame, bundle: GraphBundle) -> Dict[str, Tensor]:
    """``{type: LongTensor[n]}``: 1 / 0 where labelled, :data:`UNKNOWN` elsewhere, for
    every type with at least one label. ``labels`` as :func:`validate_labels` returns
    it; ids absent from ``bundle`` are skipped (a saved model's labels on a new graph)."""
    out: Dict[str, Tensor] = {}
    for t, sub in labels.groupby("node_type", sort=False):
        if t not in bundle.node_types:
            continue
        pos = bundle.ids.ids(t).get_indexer(sub["id"].to_numpy(dtype=object))
        keep = pos >= 0
        vec = torch.full((bundle.data[t].num_nodes,), UNKNOWN, dtype=torch.long)
        vec[torch.as_tensor(pos[keep])] = torch.as_tensor(
            sub["label"].to_numpy()[keep], dtype=torch.long)
        out[str(t)] = vec
    return out


def labels_state(labels: pd.DataFrame) -> Dict[str, Dict[str, list]]:
    """Plain-data form kept by a fitted detector: ``{type: {"id": [...], "label": [...]}}``."""
    return {str(t): {"id": sub["id"].tolist(), "label": sub["label"].astype(int).tolist()}
            for t, sub in labels.groupby("node_type", sort=False)}


def labels_from_state(state: Mapping[str, Mapping[str, list]]) -> pd.DataFrame:
    frames = [pd.DataFrame({"node_type": t, "id": pd.Series(v["id"], dtype=object),
                            "label": v["label"]}) for t, v in state.items()]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)
