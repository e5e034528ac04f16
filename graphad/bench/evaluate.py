"""Fit a detector on a labelled graph and measure it (shared by demo and bench)."""
from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Dict

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


def run_detector(name: str, detector: Any, graph: LabelledGraph,
                 trace_memory: bool = False) -> Evaluation:
    """``fit`` + ``decision_function`` timed; metrics on the labelled target nodes."""
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
    return Evaluation(name, graph.name, evaluate(y, s), by_type, seconds, peak, table)


def format_metrics(ev: Evaluation) -> str:
    m = ev.metrics
    text = (f"{ev.detector:<14} AUROC {m['auroc']:.3f}  AUPRC {m['auprc']:.3f}  "
            f"Recall@k {m['recall_at_k']:.3f}  ({ev.seconds:.1f} s)")
    if ev.by_type:
        text += "\n" + " " * 15 + "  ".join(f"{k} {v:.3f}" for k, v in ev.by_type.items())
    return text


