"""Scores as a table that speaks external ids."""
from __future__ import annotations

from typing import Dict, Optional

import pandas as pd
from torch import Tensor

from ..data.bundle import GraphBundle
from ..typing import EdgeType, NodeType


def scores_table(bundle: GraphBundle, scores: Dict[NodeType, Tensor],
                 components: Optional[Dict[NodeType, Dict[str, Tensor]]] = None,
                 labels: Optional[pd.DataFrame] = None,
                 predicted: Optional[Dict[NodeType, Tensor]] = None) -> pd.DataFrame:
    """One row per node: ``node_type, id, score, rank`` (+ ``pred``, components
    ``c_<name>``, and ``label`` / ``anomaly_type`` from ``labels`` where given).

    ``rank`` is 1 for the highest score within the node type. Component columns that
    a node type lacks are NaN.
    """
    frames = []
    for t, s in scores.items():
        s = s.detach().cpu()
        frame = pd.DataFrame({"node_type": t, "id": bundle.ids.ids(t).to_numpy(),
                              "score": s.numpy().astype(float)})
        frame["rank"] = frame["score"].rank(ascending=False, method="first",
                                            na_option="bottom").astype(int)
        if predicted is not None:
            frame["pred"] = predicted[t].cpu().numpy().astype(int)
        for name, v in (components or {}).get(t, {}).items():
            frame[f"c_{name}"] = v.detach().cpu().numpy().astype(float)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    if labels is not None:
        keep = [c for c in ("label", "anomaly_type", "group_id") if c in labels.columns]
        lab = labels[["node_type", "id"] + keep].copy()
        lab["id"] = lab["id"].astype(object)
        table["id"] = table["id"].astype(object)
        table = table.merge(lab, on=["node_type", "id"], how="left")
        if "label" in table:
            table["label"] = table["label"].fillna(0).astype(int)
    return table


def top_k(table: pd.DataFrame, node_type: NodeType, k: int = 10) -> pd.DataFrame:
    """The ``k`` highest-scored rows of a type, in rank order (ties as ranked)."""
    rows = table[table["node_type"] == node_type]
    order = ["rank"] if "rank" in rows else ["score"]
    return (rows.sort_values(order, ascending=order == ["rank"], kind="stable")
            .head(k).reset_index(drop=True))



__all__ = ["scores_table", "top_k"]


def edge_scores_table(bundle: GraphBundle, scores: Dict[EdgeType, Tensor],
                      components: Optional[Dict[EdgeType, Dict[str, Tensor]]] = None
                      ) -> pd.DataFrame:
    """One row per scored edge: ``relation, src_type, src_id, dst_type, dst_id, score,
    rank`` (rank 1 = most anomalous within its relation), the per-edge components
    ``c_<name>`` and the edge's raw attributes (``a_<column>``) where the graph was built
    from tables."""
    frames = []
    for et, s in scores.items():
        ei = bundle.data[et].edge_index
        frame = pd.DataFrame({
            "relation": et[1], "src_type": et[0],
            "src_id": bundle.ids.ids(et[0])[ei[0].numpy()].to_numpy(),
            "dst_type": et[2],
            "dst_id": bundle.ids.ids(et[2])[ei[1].numpy()].to_numpy(),
            "score": s.detach().cpu().numpy().astype(float)})
        frame["rank"] = frame["score"].rank(ascending=False, method="first",
                                            na_option="bottom").astype(int)
        for name, v in (components or {}).get(et, {}).items():
            frame[f"c_{name}"] = v.detach().cpu().numpy().astype(float)
        raw = bundle.edges_raw.get(et)
        if raw is not None and len(raw) == len(frame):
            for col in raw.columns[2:]:
                frame[f"a_{col}"] = raw[col].to_numpy()
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["relation", "src_type", "src_id", "dst_type", "dst_id",
                                     "score", "rank"])
    return pd.concat(frames, ignore_index=True)
