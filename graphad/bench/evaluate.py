"""Fit a detector on a labelled graph and measure it (shared by demo and bench)."""
from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable

import numpy as np
import pandas as pd

from ..datasets.loaders import LabelledGraph
from ..metrics import auroc_by_type, evaluate
from ..scoring.table import scores_table


@dataclass
class Evaluation:
    """Metrics of one detector on one labelled graph."""

    detector: str
    dataset: str
    metrics: Dict[str, float]
    by_type: Dict[str, float] = field(default_factory=dict)
    seconds: float = float("nan")
    peak_mb: float = float("nan")
    table: pd.DataFrame | None = None
    component_auroc: Dict[str, float] = field(default_factory=dict)


def run_detector(name: str, detector: Any, graph: LabelledGraph,
                 trace_memory: bool = False) -> Evaluation:
    """``fit`` + ``decision_function`` timed; metrics on the labelled target nodes
    (the combined score, and each normalised component of the target type alone:
    :func:`component_aurocs`)."""
    if trace_memory:
        tracemalloc.start()
    start = time.perf_counter()
    detector.fit(graph.bundle)
    comps = detector.score_components(graph.bundle)
    scores = detector.combine(comps)
    seconds = time.perf_counter() - start
    peak = float("nan")
    if trace_memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    table = scores_table(graph.bundle, scores, comps, labels=graph.labels,
                         predicted={t: (s > detector.threshold_[t]).long()
                                    for t, s in scores.items()})
    target = table[table["node_type"] == graph.target_type]
    labelled = target.merge(graph.labels[graph.labels["node_type"] == graph.target_type]
                            [["id"]].astype(object), on="id")
    y = labelled["label"].to_numpy().astype(int)
    s = labelled["score"].to_numpy()
    by_type = (auroc_by_type(labelled, s) if "anomaly_type" in labelled
               and labelled["anomaly_type"].nunique() > 2 else {})
    per_component = component_aurocs(labelled, y, comps.get(graph.target_type, {}))
    per_component.update(other_rule_aurocs(detector, labelled, y,
                                           comps.get(graph.target_type, {})))
    return Evaluation(name, graph.name, evaluate(y, s), by_type, seconds, peak, table,
                      per_component)


def component_auroc(y: np.ndarray, values: np.ndarray) -> float:
    """AUROC of one component against 0 / 1 labels; a missing value (NaN) ranks
    lowest. NaN when the labels or the values are constant (no ranking to judge)."""
    y = np.asarray(y).astype(int)
    v = np.asarray(values, dtype=float)
    v = np.where(np.isnan(v), -np.inf, v)
    if len(v) == 0 or y.min() == y.max() or np.all(v == v[0]):
        return float("nan")
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score
    # ranks: the same AUROC, and -inf (refused by scikit-learn) is just the lowest rank
    return float(roc_auc_score(y, rankdata(v)))


def component_aurocs(labelled: pd.DataFrame, y: np.ndarray,
                     names: Iterable[str]) -> Dict[str, float]:
    """``{component: AUROC}`` on the rows of ``labelled`` (a :func:`scores_table`
    slice with ``c_<component>`` columns, aligned with ``y``); constant components
    are left out."""
    out = {}
    for name in names:
        col = f"c_{name}"
        if col not in labelled:
            continue
        auc = component_auroc(y, labelled[col].to_numpy(dtype=float))
        if auc == auc:
            out[str(name)] = auc
    return out


def other_rule_aurocs(detector: Any, labelled: pd.DataFrame, y: np.ndarray,
                      names: Iterable[str]) -> Dict[str, float]:
    """``{"score (<rule> rule)": AUROC}`` of the same components combined by each
    combination rule the detector does not use (same fit: the rule is applied after)."""
    import torch

    from ..scoring.combine import PLAIN_RULES, combine_components
    rule = getattr(detector, "combination", None)
    cols = {n: torch.tensor(labelled[f"c_{n}"].to_numpy(dtype=float, copy=True))
            for n in names if f"c_{n}" in labelled}
    if rule is None or len(cols) < 2:       # one component: every rule ranks alike
        return {}
    out = {}
    for other in PLAIN_RULES:     # omnibus needs a fitted calibration: not re-combined
        if other != rule:
            s = combine_components(cols, getattr(detector, "weights", None), other)
            out[f"score ({other} rule)"] = component_auroc(y, s.numpy())
    return out


def format_metrics(ev: Evaluation) -> str:
    m = ev.metrics
    text = (f"{ev.detector:<14} AUROC {m['auroc']:.3f}  AUPRC {m['auprc']:.3f}  "
            f"Recall@k {m['recall_at_k']:.3f}  ({ev.seconds:.1f} s)")
    if ev.by_type:
        text += "\n" + " " * 15 + "  ".join(f"{k} {v:.3f}" for k, v in ev.by_type.items())
    return text


