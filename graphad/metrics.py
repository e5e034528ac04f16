"""Evaluation metrics against labels: AUROC, AUPRC, Recall@k, per anomaly type."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def recall_at_k(y: np.ndarray, scores: np.ndarray, k: Optional[int] = None) -> float:
    """Share of anomalies among the ``k`` top scores (``k`` = number of anomalies)."""
    y = np.asarray(y)
    k = int(y.sum()) if k is None else int(k)
    if k == 0:
        return float("nan")
    top = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return float(y[top].sum() / y.sum())


def evaluate(y: np.ndarray, scores: np.ndarray) -> Dict[str, float]:
    """AUROC, AUPRC and Recall@k of scores against 0 / 1 labels."""
    y, scores = np.asarray(y).astype(int), np.asarray(scores, dtype=float)
    if y.min() == y.max():
        return {"auroc": float("nan"), "auprc": float("nan"), "recall_at_k": float("nan")}
    return {"auroc": float(roc_auc_score(y, scores)),
            "auprc": float(average_precision_score(y, scores)),
            "recall_at_k": recall_at_k(y, scores)}


def auroc_by_type(labels: pd.DataFrame, scores: np.ndarray,
                  type_column: str = "anomaly_type") -> Dict[str, float]:
    """AUROC of each anomaly type against all normal rows (``label == 0``).

    ``labels`` rows align with ``scores``.
    """
    out = {}
    normal = labels["label"].to_numpy() == 0
    for kind in sorted(set(labels.loc[~normal, type_column].dropna())):
        mask = normal | (labels[type_column].to_numpy() == kind)
        y = (labels.loc[mask, type_column].to_numpy() == kind).astype(int)
        out[kind] = float(roc_auc_score(y, scores[mask]))
    return out
