"""How far new tables are from the ones a detector was fitted on.

:func:`drift_report` compares a graph built with a fitted detector's stored
featurisation (:mod:`graphad.data.featurizer`) against the training statistics: per
node type (or relation) and feature, the shift of the median in training scales
(``(median_new - median_train) / scale_train``: 0 = unchanged, 3 = three training
standard deviations away), the share of values in categories never seen at fit (they
set no one-hot column, the "other" slot), and per type the share of nodes flagged at
the training threshold next to the contamination. :func:`drift_warnings` turns it into
lines a batch job should not ignore.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import pandas as pd
from torch import Tensor

#: |median shift| (training scales) from which a feature is reported as shifted
SHIFT_WARN = 1.0
#: flagged share outside [contamination / FLAG_RATIO, contamination * FLAG_RATIO] warns
FLAG_RATIO = 3.0
COLUMNS = ["where", "feature", "measure", "value", "train", "train_is"]


def drift_report(detector: Any, bundle: Any,
                 scores: Optional[Mapping[str, Tensor]] = None) -> pd.DataFrame:
    """Rows ``where, feature, measure, value, train, train_is`` (see the module
    docstring); ``train_is`` says in words what ``train`` holds for that row.

    ``measure`` is ``median shift`` (value in training scales; ``train`` the training
    median), ``unseen share`` (share of rows in an unseen category; ``train`` the
    number of training categories), ``edge count`` (edges of a relation; ``train`` its
    training count) or ``flagged share`` (``train`` the contamination). Empty when the detector keeps no featurisation.
    """
    from ..data.validate import numeric_column
    from ..encoders.tabular import _cat_keys
    state = getattr(detector, "featurizer_", None)
    rows: List[Dict[str, Any]] = []
    for key, tab in (state or {}).get("tabular", {}).items():
        kind, name = key.split(":", 1)
        if kind == "tabular":
            where, raw = name, bundle.raw.get(name)
        else:
            et = tuple(name.split("__"))
            where, raw = "-".join(et), bundle.edges_raw.get(et)
        if raw is None or len(raw) == 0:
            continue
        for col in tab["numeric"]:
            if col not in raw:
                continue
            x = np.asarray(numeric_column(raw, where, col), dtype=float)
            x = x[np.isfinite(x)]
            if x.size == 0:
                continue
            med, scale = tab["medians_"][col], tab["scales_"][col] or 1.0
            rows.append({"where": where, "feature": col, "measure": "median shift",
                         "value": (float(np.median(x)) - med) / scale, "train": med,
                         "train_is": "training median"})
        for col in tab["categorical"]:
            if col not in raw or col not in tab["categories_"]:
                continue
            known = set(tab["categories_"][col])
            keys = _cat_keys(raw, col, where)
            unseen = float(np.mean([k not in known for k in keys])) if len(keys) else 0.0
            rows.append({"where": where, "feature": col, "measure": "unseen share",
                         "value": unseen, "train": float(len(known)),
                         "train_is": "training categories"})
    trained = getattr(detector, "edge_counts_", None) or {}
    if trained:
        from ..typing import edge_type_str
        now = {edge_type_str(et): int(bundle.data[et].num_edges) for et in bundle.edge_types}
        for rel, before in trained.items():
            rows.append({"where": "-".join(rel.split("__")), "feature": "(edges)",
                         "measure": "edge count",
                         "value": float(now.get(rel, 0)), "train": float(before),
                         "train_is": "training edges"})
    thresholds = getattr(detector, "threshold_", None) or {}
    for t, s in (scores or {}).items():
        if t in thresholds and s.numel():
            share = float((s > thresholds[t]).float().mean())
            rows.append({"where": t, "feature": "(score)", "measure": "flagged share",
                         "value": share, "train": float(detector.contamination),
                         "train_is": "contamination"})
    return pd.DataFrame(rows, columns=COLUMNS)


def drift_warnings(report: pd.DataFrame, min_nodes: int = 0) -> List[str]:
    """One line per finding worth a look: a flagged share far from the contamination,
    unseen categories, medians shifted by at least :data:`SHIFT_WARN` training scales."""
    out = []
    for _, r in report.iterrows():
        if r["measure"] == "flagged share":
            c = r["train"]
            if r["value"] > c * FLAG_RATIO or r["value"] < c / FLAG_RATIO:
                out.append(f"{r['value']:.0%} of {r['where']} nodes are flagged where the "
                           f"training graph had {c:.0%}: the new tables may differ from "
                           "the training ones (see the drift report)")
        elif r["measure"] == "edge count" and r["value"] == 0 and r["train"] > 0:
            out.append(f"relation {r['where']} has no edges where the training graph had "
                       f"{int(r['train']):,}: is its table empty or missing?")
        elif r["measure"] == "unseen share" and r["value"] > 0:
            out.append(f"{r['where']}.{r['feature']}: {r['value']:.1%} of the rows hold a "
                       "category unseen at fit (featurised as 'other')")
        elif r["measure"] == "median shift" and abs(r["value"]) >= SHIFT_WARN:
            out.append(f"{r['where']}.{r['feature']}: median moved {r['value']:+.1f} "
                       "training scales")
    return out
