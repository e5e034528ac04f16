"""The detector benchmark: peers, isolated runs (errors, timeouts), the report, the CLI."""
from __future__ import annotations

import math
import os
import time

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import Data, HeteroData

from graphad.bench import harness, peers
from graphad.bench.harness import (BenchConfig, RunRecord, benchmark_detectors,
                                   register_detector, run_benchmark, unregister_detector)
from graphad.bench.report import (rank_summary, read_runs, render_markdown, runs_frame,
                                  summarise, write_report)
from graphad.data import from_hetero_data
from graphad.data.convert import from_data
from graphad.datasets import LabelledGraph
from graphad.detectors.base import BaseDetector
from graphad.errors import GraphadError

HAS_PYGOD = peers.pygod_available()


# ------------------------------------------------------------------ test-only detectors
class FailingDetector(BaseDetector):
    """Raises while fitting (a detector bug must become an ``error`` cell)."""

    def __init__(self, seed: int = 0, contamination: float = 0.1):
        super().__init__(contamination=contamination)
        self.seed = seed

    def _fit(self, bundle):
        raise RuntimeError("deliberate failure")

    def _components(self, bundle):  # pragma: no cover - never reached
        return {}


class SleepyDetector(FailingDetector):
    """Never finishes in time (a stuck run must become a ``timeout`` cell)."""

    def _fit(self, bundle):
        time.sleep(600)


class OOMDetector(FailingDetector):
    """Runs out of memory (``MemoryError``)."""

    def _fit(self, bundle):
        raise MemoryError()


class KilledDetector(FailingDetector):
    """Killed by SIGKILL, as by the kernel's OOM killer."""

    def _fit(self, bundle):
        import signal
        os.kill(os.getpid(), signal.SIGKILL)


class ComponentDetector(BaseDetector):
    """Four hand-made components on the tiny graph: ``far`` (distance to the median
    features), ``partial`` (``far`` missing on every fourth node, anomaly 20
    included), ``noise`` (seeded), ``flat`` (constant: left out of the AUROCs)."""

    def __init__(self, seed: int = 0, contamination: float = 0.1):
        super().__init__(contamination=contamination)
        self.seed = seed

    def _fit(self, bundle):
        self.fitted_ = True

    def _components(self, bundle):
        x = bundle.data["node"].x
        far = (x - x.median(0).values).abs().sum(1)
        partial = far.clone()
        partial[::4] = float("nan")
        noise = torch.rand(len(x), generator=torch.Generator().manual_seed(self.seed))
        return {"node": {"far": far, "partial": partial, "noise": noise,
                         "flat": torch.ones(len(x))}}


@pytest.fixture
def one_thread():
    """Small in-process torch runs: one thread (a busy machine's spinning OpenMP
    threads make them slow)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def dummies():
    names = {"dummy-fail": "FailingDetector", "dummy-sleep": "SleepyDetector",
             "dummy-oom": "OOMDetector", "dummy-killed": "KilledDetector"}
    for name, cls in names.items():
        register_detector(name, f"{__name__}:{cls}")
    register_detector("dummy-missing", f"{__name__}:FailingDetector",
                      requires="no_such_module_for_graphad_tests")
    yield
    for name in [*names, "dummy-missing"]:
        unregister_detector(name)


def tiny_graph(n: int = 60, name: str = "tiny", seed: int = 0) -> LabelledGraph:
    """A ring of ``n`` nodes with 4 Gaussian features; six planted anomalies of two
    kinds (far-off features, or features unlike their neighbours')."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g) * 0.3
    x[: n // 2] += 1.0                       # two smooth halves
    idx = torch.arange(n)
    ei = torch.cat([torch.stack([idx, (idx + 1) % n]), torch.stack([idx, (idx + 2) % n])], 1)
    kinds = np.array(["none"] * n, dtype=object)
    x[[3, 20, 41]] = 6.0
    kinds[[3, 20, 41]] = "far"
    x[[10, 50, 55]] = x[[45, 15, 5]]         # swapped in from the other half
    kinds[[10, 50, 55]] = "swap"
    bundle = from_data(Data(x=x, edge_index=ei, num_nodes=n))
    labels = pd.DataFrame({"node_type": "node", "id": np.arange(n),
                           "label": (kinds != "none").astype(int), "anomaly_type": kinds})
    return LabelledGraph(name, bundle, labels, "node")


# ------------------------------------------------------------------ peers
def test_raw_lof_scores_training_graph_without_self_neighbour():
    graph = tiny_graph()
    det = peers.RawLOF(node_type="node").fit(graph.bundle)
    raw = det._components(graph.bundle)["node"]["attribute"]
    assert torch.allclose(raw, torch.as_tensor(
        -det.models_["node"].negative_outlier_factor_, dtype=torch.float32))
    assert set(torch.topk(raw, 3).indices.tolist()) == {3, 20, 41}


def test_local_affinity_matches_hand_computation():
    h = HeteroData()
    h["a"].x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0]])
    h["a", "to", "a"].edge_index = torch.tensor([[1, 2, 0], [0, 0, 1]])
    h["b"].x = torch.randn(2, 3)
    h["a", "sees", "b"].edge_index = torch.tensor([[0, 1], [0, 1]])
    bundle = from_hetero_data(h)
    det = peers.LocalAffinity().fit(bundle)
    comps = det._components(bundle)
    assert set(comps) == {"a"}               # 'b' has no same-type relation
    x = h["a"].x
    z = (x - x.mean(0)) / x.std(0, unbiased=False)
    u = torch.nn.functional.normalize(z, dim=1)
    # ('a','to','a') is directed, so its reverse is a second same-type relation
    fwd0 = 1 - (u[0] * (u[1] + u[2]) / 2).sum()
    fwd1 = 1 - (u[1] * u[0]).sum()
    rev0 = 1 - (u[0] * u[1]).sum()
    rev1 = 1 - (u[1] * u[0]).sum()
    rev2 = 1 - (u[2] * u[0]).sum()
    got = comps["a"]["affinity"]
    assert torch.allclose(got[:3], torch.stack([(fwd0 + rev0) / 2, (fwd1 + rev1) / 2, rev2]),
                          atol=1e-5)
    assert math.isnan(got[3])                # no same-type neighbour: median score later


def test_pygod_input_hetero_uses_same_type_relations_and_fused_features():
    h = HeteroData()
    h["user"].x = torch.randn(5, 2)
    h["item"].x = torch.randn(3, 4)
    h["user", "follows", "user"].edge_index = torch.tensor([[0, 1, 2, 2], [1, 2, 3, 2]])
    h["user", "buys", "item"].edge_index = torch.tensor([[0, 4], [1, 2]])
    data = peers.pygod_input(from_hetero_data(h), "user")
    assert data.num_nodes == 5
    assert data.x.shape[0] == 5 and data.x.shape[1] > 2      # own + neighbour means
    edges = {tuple(e) for e in data.edge_index.t().tolist()}
    assert edges == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)}   # no self-loop
    with pytest.raises(GraphadError, match="not in the graph"):
        peers.pygod_input(from_hetero_data(h), "nope")


def test_full_batch_loader_equals_neighbor_loader_full_batch():
    from graphad.loader import make_neighbor_loader
    graph = tiny_graph()
    data = Data(x=graph.bundle.data["node"].x,
                edge_index=graph.bundle.data["node", "to", "node"].edge_index)
    n = data.num_nodes
    ours = list(peers.FullBatchLoader(data, [-1, -1], batch_size=n))
    ref = list(make_neighbor_loader(data, None, [-1, -1], batch_size=n, backend="torch"))
    assert len(ours) == len(ref) == 1
    a, b = ours[0], ref[0]
    assert a.batch_size == b.batch_size == n
    assert torch.equal(a.n_id, b.n_id) and torch.equal(a.input_id, b.input_id)
    assert torch.equal(a.x, b.x)
    as_set = lambda ei: {tuple(e) for e in ei.t().tolist()}  # noqa: E731
    assert as_set(a.edge_index) == as_set(b.edge_index)
    assert "n_id" not in data                  # the caller's graph is untouched
    with pytest.raises(GraphadError, match="full-batch"):
        peers.FullBatchLoader(data, [10, 10], batch_size=n)
    with pytest.raises(GraphadError, match="full-batch"):
        peers.FullBatchLoader(data, [-1, -1], batch_size=n // 2)


@pytest.mark.skipif(not HAS_PYGOD, reason="pygod not installed (pip install graphad[bench])")
def test_pygod_patch_is_scoped_and_restored():
    import pygod.detector.base as base
    original = base.NeighborLoader
    with pytest.raises(KeyError):
        with peers.pygod_full_batch():
            assert base.NeighborLoader is peers.FullBatchLoader
            raise KeyError("boom")
    assert base.NeighborLoader is original


@pytest.mark.skipif(not HAS_PYGOD, reason="pygod not installed (pip install graphad[bench])")
@pytest.mark.parametrize("model", sorted(peers.PYGOD_MODELS))
def test_pygod_peer_runs_full_batch_and_is_seeded(model, one_thread):
    graph = tiny_graph()
    state = torch.random.get_rng_state()
    a = peers.PyGODPeer(model, epoch=3, seed=1).fit(graph.bundle)
    b = peers.PyGODPeer(model, epoch=3, seed=1).fit(graph.bundle)
    assert torch.equal(torch.random.get_rng_state(), state)   # global RNG untouched
    sa, sb = a.decision_scores_["node"], b.decision_scores_["node"]
    assert sa.shape == (60,) and torch.isfinite(sa).all()
    assert torch.allclose(sa, sb)
    assert set(a.score_components(graph.bundle)) == {"node"}


# ------------------------------------------------------------------ report
def _records():
    rec = []
    for seed, (auc, t) in enumerate([(0.8, 1.0), (0.9, 3.0), (0.7, 2.0)]):
        rec.append(RunRecord("d1", "good", seed, "ok", auroc=auc, auprc=0.5, recall_at_k=0.4,
                             seconds=t, peak_mb=10.0, by_type={"far": auc, "swap": 0.5},
                             family="graphad"))
    rec += [RunRecord("d1", "flaky", 0, "ok", auroc=0.6, auprc=0.2, recall_at_k=0.1,
                      seconds=1.0, peak_mb=5.0),
            RunRecord("d1", "flaky", 1, "timeout"),
            RunRecord("d1", "broken", 0, "error", "ValueError: bad | input"),
            RunRecord("d2", "good", 0, "ok", auroc=0.55, auprc=0.1, recall_at_k=0.0,
                      seconds=1.0, peak_mb=1.0),
            RunRecord("d2", "flaky", 0, "ok", auroc=0.65, auprc=0.1, recall_at_k=0.0,
                      seconds=1.0, peak_mb=1.0),
            RunRecord("d2", "broken", 0, "not installed")]
    return rec


def test_summary_mean_std_status_and_ranks():
    summary = summarise(runs_frame(_records())).set_index(["dataset", "detector"])
    good = summary.loc[("d1", "good")]
    assert good["status"] == "ok" and good["runs"] == 3 and good["ok"] == 3
    assert good["auroc_mean"] == pytest.approx(0.8)
    assert good["auroc_std"] == pytest.approx(np.std([0.8, 0.9, 0.7]))
    assert good["seconds_mean"] == pytest.approx(2.0)
    assert good["auroc_type:far_mean"] == pytest.approx(0.8)
    assert summary.loc[("d1", "flaky"), "status"] == "partial"
    assert summary.loc[("d1", "broken"), "status"] == "error: ValueError: bad | input"
    assert summary.loc[("d2", "broken"), "status"] == "not installed"
    ranks = rank_summary(summary.reset_index(), ["good", "flaky", "broken"], ["d1", "d2"])
    ranks = ranks.set_index("detector")
    # d1: good 1, flaky 2, broken last (3); d2: flaky 1, good 2, broken 3
    assert ranks.loc["good", "mean_rank"] == pytest.approx(1.5)
    assert ranks.loc["flaky", "mean_rank"] == pytest.approx(1.5)
    assert ranks.loc["broken", "mean_rank"] == pytest.approx(3.0)
    assert ranks.loc["good", "mean_auroc"] == pytest.approx((0.8 + 0.55) / 2)
    assert ranks.loc["broken", "datasets_ok"] == 0


def test_report_files(tmp_path):
    config = BenchConfig(["d1", "d2"], ["good", "flaky", "broken"], 3, 60.0, False,
                         "forkserver", command="graphad bench detectors --seeds 3")
    paths = write_report(tmp_path, _records(), config)
    assert {p.name for p in paths} == {"results.csv", "summary.csv", "RESULTS.md"}
    text = (tmp_path / "RESULTS.md").read_text()
    head = text.split("## Protocol")[0]
    for needle in ("Command: `graphad bench detectors --seeds 3`", "nproc", "RAM",
                   "torch_geometric", "pygod", "scikit-learn", "python", "Date:"):
        assert needle in head
    assert "| good | 0.800 ± 0.082 | 0.550 |" in text
    assert "0.600 (1/2)" in text                    # partial: one of two seeds
    assert "error: ValueError: bad \\| input" in text  # pipes escaped in cells
    assert "not installed" in text and "## Rank summary" in text
    assert "## AUROC per anomaly type: d1" in text
    assert "d1 / flaky / seed 1: timeout" in text
    runs = pd.read_csv(tmp_path / "results.csv")
    assert len(runs) == len(_records())
    assert list(runs.columns[:6]) == ["dataset", "detector", "family", "seed", "status",
                                      "error"]
    assert not list(tmp_path.glob(".*"))             # no temporary files left


# ------------------------------------------------------------------ runs
def _independent_component_auroc(detector, graph, name):
    """AUROC of one normalised component of a fitted detector, by scikit-learn, with
    missing values put below every present one."""
    from sklearn.metrics import roc_auc_score
    comp = detector.score_components(graph.bundle)[graph.target_type][name].numpy()
    comp = comp.astype(float)
    comp = np.where(np.isnan(comp), np.nanmin(comp) - 1.0, comp)
    y = graph.labels.sort_values("id")["label"].to_numpy()
    return roc_auc_score(y, comp)


def _independent_rule_auroc(detector, graph, rule):
    from sklearn.metrics import roc_auc_score

    from graphad.scoring.combine import combine_components
    comps = detector.score_components(graph.bundle)[graph.target_type]
    y = graph.labels.sort_values("id")["label"].to_numpy()
    return roc_auc_score(y, combine_components(comps, None, rule).numpy())


#: the default rule (hmp) is the record's auroc; every other rule gets a column
RULE_COLUMNS = ("score (mean rule)", "score (max rule)", "score (rank rule)")


def test_component_aurocs_recorded_and_reported(tmp_path):
    graph = tiny_graph()
    register_detector("dummy-components", f"{__name__}:ComponentDetector",
                      family="graphad")
    try:
        records = run_benchmark([graph], ["dummy-components", "iforest"], seeds=2,
                                isolation="none", out_dir=tmp_path, echo=lambda s: None)
    finally:
        unregister_detector("dummy-components")
    ours = [r for r in records if r.detector == "dummy-components"]
    assert [r.status for r in ours] == ["ok", "ok"]
    expected = {}
    for r in ours:
        det = ComponentDetector(seed=r.seed).fit(graph.bundle)
        # 'flat' is constant; the default rule's score is the record's auroc
        assert set(r.component_auroc) == {"far", "partial", "noise"} | set(RULE_COLUMNS)
        for name in ("far", "partial", "noise"):
            auc = _independent_component_auroc(det, graph, name)
            assert r.component_auroc[name] == pytest.approx(auc), name
            expected.setdefault(name, []).append(auc)
        for column in RULE_COLUMNS:
            rule_auc = _independent_rule_auroc(det, graph, column.split()[1][1:])
            assert r.component_auroc[column] == pytest.approx(rule_auc), column
            expected.setdefault(column, []).append(rule_auc)
    assert ours[0].component_auroc["noise"] != ours[1].component_auroc["noise"]
    iforest = next(r for r in records if r.detector == "iforest")
    assert set(iforest.component_auroc) == {"attribute"}

    # stored in results.csv / summary.csv and read back; old files without it still read
    runs = pd.read_csv(tmp_path / "results.csv")
    assert "auroc_component:far" in runs.columns
    back = {(r.detector, r.seed): r for r in read_runs(tmp_path / "results.csv")}
    for r in records:
        got = back[(r.detector, r.seed)].component_auroc
        assert got == pytest.approx(r.component_auroc)
    assert "auroc_component:far_mean" in pd.read_csv(tmp_path / "summary.csv").columns
    old = runs[[c for c in runs.columns if not c.startswith("auroc_component:")]]
    old.to_csv(tmp_path / "old.csv", index=False)
    assert all(r.component_auroc == {} for r in read_runs(tmp_path / "old.csv"))

    # the report: one table for the graphad-family detector, none for the baseline
    text = (tmp_path / "RESULTS.md").read_text()
    section = text.split("## AUROC per component (graphad detectors)")[1].split("\n## ")[0]
    assert "### dummy-components" in section and "### iforest" not in section
    assert ("| dataset | score | " + " | ".join(sorted(RULE_COLUMNS))
            + " | far | noise | partial | best component |") in section
    means = {n: float(np.mean(v)) for n, v in expected.items()}
    score = float(np.mean([r.auroc for r in ours]))
    best = max(("far", "noise", "partial"), key=means.get)
    rules = " | ".join(f"{means[c]:.3f}" for c in sorted(RULE_COLUMNS))
    row = (f"| tiny | {score:.3f} | {rules} | "
           f"{means['far']:.3f} | {means['noise']:.3f} | {means['partial']:.3f} | "
           f"{best} |")
    assert row in section


def test_component_section_blank_where_absent_and_failures():
    rec = [RunRecord("d1", "g", 0, "ok", auroc=0.8, family="graphad",
                     component_auroc={"attribute": 0.7, "peer:device": 0.9}),
           RunRecord("d1", "g", 1, "ok", auroc=0.6, family="graphad",
                     component_auroc={"attribute": 0.5, "peer:device": 0.7}),
           RunRecord("d2", "g", 0, "ok", auroc=0.55, family="graphad",
                     component_auroc={"attribute": 0.65, "structure": 0.4}),
           RunRecord("d3", "g", 0, "timeout", family="graphad"),
           RunRecord("d1", "b", 0, "ok", auroc=0.9, family="baseline",
                     component_auroc={"attribute": 0.9})]
    config = BenchConfig(["d1", "d2", "d3"], ["g", "b"], 2, 60.0, False, "none")
    text = render_markdown(rec, config, env=_ENV)
    section = text.split("## AUROC per component (graphad detectors)")[1]
    assert "### b" not in section
    assert "| dataset | score | attribute | structure | peer:device | best component |" \
        in section
    assert "| d1 | 0.700 | 0.600 |  | 0.800 | peer:device |" in section
    assert "| d2 | 0.550 | 0.650 | 0.400 |  | attribute |" in section
    assert "| d3 | timeout |  |  |  |  |" in section
    # no graphad detector with components: no section
    assert "AUROC per component" not in render_markdown(rec[-1:], config, env=_ENV)


_ENV = {"date": "today", "nproc": "1", "ram": "1 GiB", "cpu": "cpu", "os": "os",
        "python": "3", "git": "abc", **{k: "0" for k in
                                        ("graphad", "torch", "torch_geometric", "pygod",
                                         "scikit-learn", "numpy")}}


def test_in_process_run_records_errors_and_missing_packages(tmp_path, dummies):
    graph = tiny_graph()
    records = run_benchmark([graph], ["iforest", "lof", "local-affinity", "dummy-fail",
                                      "dummy-missing"], seeds=2, isolation="none",
                            out_dir=tmp_path, echo=lambda s: None)
    by = {(r.detector, r.seed): r for r in records}
    assert [k for k in by if k[0] == "iforest"] == [("iforest", 0), ("iforest", 1)]
    assert [k for k in by if k[0] == "lof"] == [("lof", 0)]          # deterministic
    assert by[("lof", 0)].by_type["far"] == 1.0
    assert by[("dummy-fail", 0)].cell == "error: RuntimeError: deliberate failure"
    assert by[("dummy-missing", 0)].status == "not installed"
    assert "| dummy-fail | error: RuntimeError: deliberate failure |" in (
        tmp_path / "RESULTS.md").read_text()


def test_resume_keeps_finished_runs_and_redoes_failures(tmp_path, dummies):
    graph = tiny_graph()
    first = run_benchmark([graph], ["iforest", "dummy-fail"], seeds=1, isolation="none",
                          out_dir=tmp_path, echo=lambda s: None)
    lines = []
    second = run_benchmark([graph], ["iforest", "lof", "dummy-fail"], seeds=1,
                           isolation="none", out_dir=tmp_path, resume=True,
                           echo=lines.append)
    ran = [line.split()[2] for line in lines if line.startswith("[")]
    assert ran == ["lof", "dummy-fail"]                # iforest finished before
    kept = {r.detector: r for r in second}
    assert set(kept) == {"iforest", "lof", "dummy-fail"} and len(second) == 3
    assert kept["iforest"].auroc == pytest.approx(first[0].auroc)
    assert kept["iforest"].by_type == pytest.approx(first[0].by_type)
    assert len(pd.read_csv(tmp_path / "results.csv")) == 3


def test_isolated_runs_time_out_and_fail_without_stopping(tmp_path, dummies):
    graph = tiny_graph()
    lines = []
    start = time.perf_counter()
    records = run_benchmark([graph], ["dummy-sleep", "dummy-fail", "dummy-oom",
                                      "dummy-killed", "iforest"], seeds=1,
                            timeout=4, out_dir=tmp_path, echo=lines.append)
    assert time.perf_counter() - start < 90
    status = {r.detector: r for r in records}
    assert status["dummy-sleep"].status == "timeout"
    assert status["dummy-fail"].cell == "error: RuntimeError: deliberate failure"
    assert status["dummy-oom"].cell == "oom"
    assert status["dummy-killed"].cell == "oom"
    ok = status["iforest"]
    assert ok.status == "ok" and 0 <= ok.auroc <= 1 and ok.seconds > 0 and ok.peak_mb >= 0
    assert any("[1/5] tiny" in line and "timeout" in line for line in lines)
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| dummy-sleep | timeout |" in text


# ------------------------------------------------------------------ CLI, quick profile
def test_cli_quick_profile(tmp_path, dummies, monkeypatch, capsys):
    from graphad.cli import main
    for candidate in (os.environ.get("GRAPHAD_DATA"), "/work/shared/datasets"):
        if candidate and os.path.isdir(candidate):
            monkeypatch.setenv("GRAPHAD_DATA", candidate)
            break
    detectors = benchmark_detectors() + ["dummy-fail"]
    code = main(["bench", "detectors", "--quick", "--out", str(tmp_path),
                 "--detectors", ",".join(detectors)])
    assert code == 0
    out = capsys.readouterr().out
    datasets = harness.benchmark_datasets(quick=True)
    assert "fraud_small" in datasets
    runs = pd.read_csv(tmp_path / "results.csv")
    assert len(runs) == len(datasets) * len(detectors)          # one seed each
    assert set(zip(runs["dataset"], runs["detector"])) == {
        (d, m) for d in datasets for m in detectors}
    failed = runs[runs["detector"] == "dummy-fail"]
    assert (failed["status"] == "error").all()
    assert failed["error"].str.contains("deliberate failure").all()
    expected_ok = runs[(runs["detector"] != "dummy-fail")
                       & ((runs["family"] != "pygod") | HAS_PYGOD)]
    assert (expected_ok["status"] == "ok").all(), expected_ok[["detector", "error"]]
    for col in ("auroc", "auprc", "recall_at_k", "seconds", "peak_mb"):
        values = pd.to_numeric(expected_ok[col], errors="raise")
        assert values.notna().all(), col
    assert expected_ok["auroc"].between(0, 1).all()
    text = (tmp_path / "RESULTS.md").read_text()
    assert "--quick" in text.splitlines()[2]
    for det in detectors:
        assert f"\n| {det} |" in text
    assert "## AUROC per anomaly type: fraud_small" in text
    assert "## AUROC per component (graphad detectors)" in text
    assert "\n### gae\n" in text
    gae_runs = expected_ok[expected_ok["detector"] == "gae"]
    component_cols = [c for c in runs.columns if c.startswith("auroc_component:")]
    assert gae_runs[component_cols].notna().any(axis=1).all()
    for kind in ("attribute", "ring", "farm", "cross_modal", "burst"):
        assert kind in text
    assert f"[{len(runs)}/{len(runs)}]" in out


def test_cli_help_names_every_detector(capsys):
    from graphad.cli import main
    assert main(["bench", "detectors", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # click wraps at -
    for name in benchmark_detectors():
        assert name in text
    assert "Example:" in text
