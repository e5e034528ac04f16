"""graphad bench robustness: the cells it builds, what each perturbs, and the quick
profile end to end (with resume)."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from graphad.bench.robustness import Condition, conditions, modality_types, perturb
from graphad.cli import main
from graphad.data import build_graph
from graphad.errors import GraphadError


@pytest.fixture
def graph(tables, schema_dict):
    return build_graph(tables, schema_dict, use_cache=False)


def test_cells_cover_every_modality_and_level(graph):
    cells = conditions(graph)
    assert modality_types(graph) == ["review", "spend"]
    assert cells[0] == Condition("clean", "-", 0.0)
    missing = [(c.target, c.level) for c in cells if c.kind == "missing"]
    assert missing == [(t, v) for t in ("review", "spend") for v in (0.1, 0.3, 0.5)]
    assert [c.level for c in cells if c.kind == "noise"] == [0.5, 1.0, 2.0]
    assert [c.level for c in cells if c.kind == "misaligned"] == [0.1, 0.3]
    quick = conditions(graph, quick=True)
    assert len(quick) == 1 + 2 + 1 + 1


def test_each_cell_perturbs_what_it_names(graph):
    same, recv = perturb(graph, Condition("clean", "-", 0.0), 0)
    assert same is graph and recv == {}
    out, _ = perturb(graph, Condition("missing", "review", 0.5), 0)
    assert out.data["review"].num_nodes == 2 and out.data["spend"].num_nodes == 3
    noisy, _ = perturb(graph, Condition("noise", "all", 1.0), 0)
    for t in ("review", "spend"):
        changed = (noisy.data[t].x != graph.data[t].x).any(dim=1).sum()
        assert changed == round(0.3 * graph.data[t].num_nodes)
    assert torch.equal(noisy.data["user"].x, graph.data["user"].x)
    moved, receivers = perturb(graph, Condition("misaligned", "all", 0.5), 0)
    owners = set()
    for et in (("user", "wrote", "review"), ("user", "spends", "spend")):
        before = graph.data[et].edge_index
        after = moved.data[et].edge_index
        diff = (before[0] != after[0]).nonzero().view(-1)
        assert len(diff) == round(0.5 * before.size(1))
        owners |= set(after[0, diff].tolist())
    assert receivers == {"user": owners}
    with pytest.raises(GraphadError, match="unknown perturbation"):
        perturb(graph, Condition("blur", "all", 1.0), 0)


def test_quick_benchmark_writes_its_table_and_resumes(tmp_path, capsys):
    """`graphad bench robustness --quick` end to end, then `--resume`."""
    out = tmp_path / "rob"
    assert main(["bench", "robustness", "--quick", "--out", str(out)]) == 0
    first = capsys.readouterr().out
    runs = pd.read_csv(out / "robustness.csv")
    cells = {(r.kind, r.target, r.level) for r in runs.itertuples()}
    assert len(cells) == 6 and len(runs) == 6 * 3            # 6 cells x 3 detectors
    assert set(runs.detector) == {"gae", "early-iforest", "late-iforest"}
    assert runs.auroc.between(0, 1).all()
    mis = runs[runs.kind == "misaligned"]
    assert (mis.receivers > 0).all() and mis.receivers_auroc.between(0, 1).all()
    assert runs[runs.kind != "misaligned"].receivers.eq(0).all()
    assert {"type:ring", "type:farm", "type:burst"} <= set(runs.columns)
    page = (out / "ROBUSTNESS.md").read_text()
    assert "graphad bench robustness --seeds 1" in page and "| missing review 30% |" in page
    assert "Misaligned observations as anomalies of their own" in page
    assert (out / "robustness.png").read_bytes()[:4] == b"\x89PNG"
    summary = pd.read_csv(out / "robustness_summary.csv")
    assert len(summary) == 18 and first.count("fraud_small | ") == 6
    # a second run with --resume recomputes nothing and reports the same numbers
    assert main(["bench", "robustness", "--quick", "--resume", "--out", str(out)]) == 0
    assert "fraud_small | " not in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(out / "robustness_summary.csv"), summary)


def test_cli_refuses_unknown_detectors(tmp_path, capsys):
    assert main(["bench", "robustness", "--quick", "--detectors", "nope", "--out",
                 str(tmp_path)]) == 1
    assert "unknown detector(s) ['nope']" in capsys.readouterr().err
