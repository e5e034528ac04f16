"""The feedback benchmark: label draws, the summary, the report and the plot."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphad.bench.feedback import (NORMALS_PER_ANOMALY, _markdown, draw_labels,
                                    plot_feedback, run_feedback_benchmark, summarise)


def test_draws_are_seeded_disjoint_and_leave_half_of_each_class():
    y = np.r_[np.ones(30, int), np.zeros(700, int)]
    a, b = draw_labels(y, 10, 1), draw_labels(y, 10, 1)
    assert np.array_equal(a, b) and not np.array_equal(a, draw_labels(y, 10, 2))
    assert len(set(a.tolist())) == len(a) == 10 + 10 * NORMALS_PER_ANOMALY
    assert int(y[a].sum()) == 10
    assert draw_labels(y, 16, 0) is None        # would leave fewer than 15 anomalies
    few = draw_labels(np.r_[np.ones(30, int), np.zeros(150, int)], 10, 0)
    assert len(few) == 10 + 75                  # at most half of the normals


def _runs() -> pd.DataFrame:
    rows = []
    for seed in range(2):
        for k in (5, 20):
            for m, v in (("graphad-unsupervised", 0.7), ("graphad-feedback", 0.8),
                         ("logreg", 0.6), ("gbm", 0.55)):
                rows.append({"dataset": "d", "seed": seed, "k": k, "method": m,
                             "auroc": v + 0.01 * seed + (0.05 if k == 20 else 0),
                             "auprc": v / 2, "recall_at_k": 0.1, "seconds": 1.0})
    return pd.DataFrame(rows)


def test_summary_report_and_plot(tmp_path):
    summary = summarise(_runs())
    row = summary[(summary.k == 20) & (summary.method == "graphad-feedback")].iloc[0]
    assert row.auroc == pytest.approx(0.855) and row.seeds == 2
    assert row.auroc_std == pytest.approx(np.std([0.85, 0.86], ddof=1))
    text = _markdown(summary, "graphad bench feedback")
    assert "| d | 20 | 0.755 ± 0.007 | 0.855 ± 0.007 | 0.655 ± 0.007 | 0.605 ± 0.007 |" in text
    assert "`graphad bench feedback`" in text
    pytest.importorskip("matplotlib")
    png = plot_feedback(summary, tmp_path / "f.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_quick_benchmark_runs_end_to_end(tmp_path):
    summary = run_feedback_benchmark(ks=(5,), seeds=1, out_dir=tmp_path, quick=True)
    assert set(summary["method"]) == {"graphad-unsupervised", "graphad-feedback",
                                      "logreg", "gbm"}
    assert {p.name for p in tmp_path.iterdir()} >= {"feedback.csv", "FEEDBACK.md",
                                                     "feedback_summary.csv", "feedback.png"}
