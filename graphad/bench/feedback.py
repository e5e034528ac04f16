"""The feedback benchmark: how much a few confirmed cases sharpen the score.

For each dataset and seed the default detector is fitted once, without labels. Then,
for each ``k`` in ``labels_per_set``, ``k`` anomalies and ``10 k`` normals of the target
type are drawn at random (per seed; fewer normals where the ground truth holds
fewer, see :func:`draw_labels`) as an analyst's labels, and three learners use them:

* ``graphad-feedback``: :meth:`~graphad.detectors.base.BaseDetector.feedback` on the
  fitted detector (component weights and proximity, no retraining);
* ``logreg`` / ``gbm``: scikit-learn's logistic regression and histogram gradient
  boosting, class-balanced, on the early-fusion features (each node's input, its
  neighbours' mean input and degrees:
  :func:`~graphad.detectors.fusion.early_fused_features`) of the same labelled nodes.

Every method is measured on the same nodes: the target type's nodes with ground truth,
minus the drawn ones. ``graphad-unsupervised`` (the score without labels) is measured
on them too. Writes ``feedback.csv`` (every run), ``feedback_summary.csv`` (mean and
std over seeds), ``FEEDBACK.md`` and ``feedback.png``.
"""
from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..metrics import evaluate

DATASETS = ("fraud_sample", "bitcoin_alpha", "amazon_upu", "tolokers", "reddit")
QUICK_DATASETS = ("fraud_small",)
LABELS_PER_SET = (5, 10, 20, 50)
NORMALS_PER_ANOMALY = 10
METHODS = ("graphad-unsupervised", "graphad-feedback", "logreg", "gbm")


def draw_labels(y: np.ndarray, k: int, seed: int) -> Optional[np.ndarray]:
    """Positions of ``k`` anomalies and ``10 k`` normals drawn from ``y`` (1 = anomaly;
    at most half of the normals where there are fewer, as in bitcoin_alpha's ground
    truth), or None where ``k`` is more than half of the anomalies."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_neg = min(NORMALS_PER_ANOMALY * k, neg.size // 2)
    if k > pos.size // 2:
        return None
    return np.concatenate([rng.choice(pos, k, replace=False),
                           rng.choice(neg, n_neg, replace=False)])


def _supervised(kind: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(
            class_weight="balanced", max_iter=2000))
    return HistGradientBoostingClassifier(class_weight="balanced", random_state=seed)


def _graph_runs(graph, seed: int, ks: Sequence[int], quick: bool) -> List[dict]:
    """Every method at every ``k`` for one dataset and seed."""
    from ..detectors.fusion import early_fused_features
    from ..detectors.registry import DEFAULT_DETECTOR, make_detector
    t = graph.target_type
    truth = graph.labels[graph.labels["node_type"] == t].drop_duplicates("id")
    ids = graph.bundle.ids.ids(t)
    pos_in_graph = ids.get_indexer(truth["id"].to_numpy(dtype=object))
    truth = truth[pos_in_graph >= 0]
    where = pos_in_graph[pos_in_graph >= 0]
    y = truth["label"].to_numpy().astype(int)
    params = {"seed": seed, **({"epochs": 20} if quick else {})}
    det = make_detector(DEFAULT_DETECTOR, **params).fit(graph.bundle)
    unsup = det.decision_function(graph.bundle)[t].numpy()[where]
    features = early_fused_features(graph.bundle)[t].numpy()[where]
    features = np.nan_to_num(features)
    rows = []
    for k in ks:
        drawn = draw_labels(y, k, seed * 1000 + k)
        if drawn is None:
            continue
        rest = np.setdiff1d(np.arange(y.size), drawn)
        base = {"dataset": graph.name, "seed": seed, "k": k,
                "normals": int((y[drawn] == 0).sum()), "evaluated": rest.size}
        rows.append({**base, "method": "graphad-unsupervised", "seconds": 0.0,
                     **evaluate(y[rest], unsup[rest])})
        labels = pd.DataFrame({"node_type": t, "id": truth["id"].to_numpy()[drawn],
                               "label": y[drawn]})
        start = time.perf_counter()
        det.feedback(graph.bundle, labels)
        seconds = time.perf_counter() - start
        scored = det.decision_function(graph.bundle)[t].numpy()[where]
        rows.append({**base, "method": "graphad-feedback", "seconds": seconds,
                     **evaluate(y[rest], scored[rest])})
        for kind in ("logreg", "gbm"):
            start = time.perf_counter()
            model = _supervised(kind, seed).fit(features[drawn], y[drawn])
            p = model.predict_proba(features[rest])[:, 1]
            rows.append({**base, "method": kind, "seconds": time.perf_counter() - start,
                         **evaluate(y[rest], p)})
    return rows


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per dataset, ``k`` and method."""
    g = runs.groupby(["dataset", "k", "method"], sort=False)
    out = g.agg(auroc=("auroc", "mean"), auroc_std=("auroc", "std"),
                auprc=("auprc", "mean"), seconds=("seconds", "mean"),
                seeds=("seed", "nunique")).reset_index()
    return out


def _markdown(summary: pd.DataFrame, command: str) -> str:
    lines = ["# Analyst feedback: AUROC with k labelled anomalies (and 10 k normals)", "",
             f"Measured with `{command}`; labelled nodes left out of the evaluation; mean "
             "(± std) over seeds.", ""]
    for metric in ("auroc", "auprc"):
        lines += [f"## {metric.upper()}", ""]
        wide = summary.pivot_table(index=["dataset", "k"], columns="method",
                                   values=metric, sort=False)
        std = summary.pivot_table(index=["dataset", "k"], columns="method",
                                  values=f"{metric}_std", sort=False, dropna=False) \
            if f"{metric}_std" in summary else None
        methods = [m for m in METHODS if m in wide.columns]
        lines.append("| dataset | k | " + " | ".join(methods) + " |")
        lines.append("|---|---|" + "---|" * len(methods))
        for (ds, k), row in wide.iterrows():
            cells = []
            for m in methods:
                v = row[m]
                s = (std.loc[(ds, k)].get(m, float("nan")) if std is not None
                     and (ds, k) in std.index else float("nan"))
                cells.append(f"{v:.3f}" + (f" ± {s:.3f}" if s == s else ""))
            lines.append(f"| {ds} | {k} | " + " | ".join(cells) + " |")
        mean = wide.groupby(level="k").mean()
        for k, row in mean.iterrows():
            lines.append(f"| **mean** | {k} | " + " | ".join(f"{row[m]:.3f}"
                                                             for m in methods) + " |")
        lines.append("")
    secs = summary[summary["method"] == "graphad-feedback"].groupby("dataset")["seconds"]
    lines += ["## Seconds per `feedback` call (mean over k and seeds)", "",
              "| dataset | seconds |", "|---|---|"]
    lines += [f"| {ds} | {v:.2f} |" for ds, v in secs.mean().items()]
    return "\n".join(lines) + "\n"


def plot_feedback(summary: pd.DataFrame, path: Path) -> Path:
    """AUROC against ``k``, one panel per dataset, one line per method (PNG)."""
    from ..errors import MissingDependencyError
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("the feedback plot needs matplotlib: pip install "
                                     "'graphad[bench]'") from exc
    from ..data.io import atomic_write_bytes
    import io
    sets = list(dict.fromkeys(summary["dataset"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 3.0), squeeze=False)
    style = {"graphad-unsupervised": ("grey", "--"), "graphad-feedback": ("C0", "-"),
             "logreg": ("C1", "-."), "gbm": ("C2", ":")}
    for ax, ds in zip(axes[0], sets):
        sub = summary[summary["dataset"] == ds]
        for m in METHODS:
            line = sub[sub["method"] == m].sort_values("k")
            if line.empty:
                continue
            colour, dash = style[m]
            ax.errorbar(line["k"], line["auroc"], yerr=line["auroc_std"].fillna(0),
                        color=colour, linestyle=dash, marker="o", ms=3, capsize=2,
                        label=m)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sorted(sub["k"].unique()))
        ax.set_xticklabels([str(k) for k in sorted(sub["k"].unique())])
        ax.set_title(ds, fontsize=10)
        ax.set_xlabel("labelled anomalies")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("AUROC (unlabelled nodes)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def run_feedback_benchmark(datasets: Optional[Sequence[str]] = None,
                           ks: Sequence[int] = LABELS_PER_SET, seeds: int = 3,
                           out_dir: str = "out/bench-feedback", quick: bool = False,
                           command: str = "", echo: Callable[[str], None] = print
                           ) -> pd.DataFrame:
    """Run, write ``feedback.csv``, ``feedback_summary.csv``, ``FEEDBACK.md`` and
    ``feedback.png`` under ``out_dir``; returns the summary."""
    from ..data.io import atomic_write_csv, atomic_write_text
    from .harness import load_dataset
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(datasets or (QUICK_DATASETS if quick else DATASETS))
    rows: List[dict] = []
    for name in names:
        graph = load_dataset(name, quick=quick)
        for seed in range(seeds):
            start = time.perf_counter()
            runs = _graph_runs(graph, seed, ks, quick)
            rows += runs
            done = {r["k"]: r["auroc"] for r in runs if r["method"] == "graphad-feedback"}
            echo(f"{name} seed {seed} ({time.perf_counter() - start:.0f}s): feedback "
                 + ", ".join(f"k={k} {v:.3f}" for k, v in done.items()))
            atomic_write_csv(out / "feedback.csv", pd.DataFrame(rows))
    runs = pd.DataFrame(rows)
    summary = summarise(runs)
    atomic_write_csv(out / "feedback_summary.csv", summary)
    command = command or "graphad bench feedback " + shlex.join(
        ["--out", str(out_dir)] + (["--quick"] if quick else []))
    atomic_write_text(out / "FEEDBACK.md", _markdown(summary, command))
    plot_feedback(summary, out / "feedback.png")
    return summary
