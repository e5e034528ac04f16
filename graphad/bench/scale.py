"""``graphad bench scale``: build, fit and score time, peak memory, scoring rows/s and
AUROC of the default detector on synthetic typed fraud graphs of growing size
(:func:`graphad.datasets.scale.make_scale_graph`), each size in a fresh process, and the
log-log slope of time against edges."""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import GraphadError

USERS = (10_000, 20_000, 40_000)
QUICK_USERS = (300, 600)
EPOCHS = 50
QUICK_EPOCHS = 3


def run_one(n_users: int, epochs: int, seed: int = 0) -> Dict[str, float]:
    """One size, in this process: generate, build, fit, score, evaluate."""
    from ..data.build import build_graph
    from ..datasets.scale import make_scale_graph
    from ..detectors.registry import DEFAULT_DETECTOR, make_detector
    from ..metrics import auroc_by_type, evaluate
    from .harness import _maxrss_mb
    graph = make_scale_graph(n_users, seed=seed)
    t0 = time.perf_counter()
    bundle = build_graph(graph.tables, graph.schema, use_cache=False)
    t1 = time.perf_counter()
    det = make_detector(DEFAULT_DETECTOR, seed=seed, epochs=epochs).fit(bundle)
    t2 = time.perf_counter()
    table = det.scores_frame(bundle)
    t3 = time.perf_counter()
    users = table[table["node_type"] == "user"].merge(
        graph.labels[["id", "anomaly_type"]].rename(columns={"anomaly_type": "kind"}),
        on="id")
    y = (users["kind"] != "normal").to_numpy().astype(int)
    by_type = auroc_by_type(users.assign(label=y, anomaly_type=users["kind"]),
                            users["score"].to_numpy())
    nodes = sum(bundle.data[t].num_nodes for t in bundle.node_types)
    peak = _maxrss_mb()                     # before the reference pass below
    bare = bare_pyg_seconds(det, bundle)
    return {"users": n_users, "nodes": nodes, "edges": graph.n_edges, "epochs": epochs,
            "build_s": t1 - t0, "fit_s": t2 - t1, "score_s": t3 - t2,
            "rows_per_s": nodes / max(t3 - t2, 1e-9), "peak_mb": peak,
            "bare_pyg_s": bare, "score_vs_bare": (t3 - t2) / max(bare, 1e-9),
            "auroc": evaluate(y, users["score"].to_numpy())["auroc"],
            **{f"auroc:{k}": v for k, v in by_type.items()},
            "mini_batch": getattr(det, "batch_size_", None) is not None,
            "train_steps": int(getattr(det, "train_steps_", 0))}


def bare_pyg_seconds(det, bundle) -> float:
    """Seconds of one bare PyG forward pass over the graph the detector scores: its
    prepared inputs, ``layers`` x ``HeteroConv`` of ``SAGEConv((-1, -1), hidden)``
    (mean over relations, ReLU between layers), each relation over the same slices of
    destination nodes as scoring (:func:`graphad.nn.chunked.hetero_layer`), no grad.
    The reference the scoring time is compared with; the preparation is not timed."""
    import torch
    from torch_geometric.nn import SAGEConv

    from ..nn.chunked import CHUNK_EDGES, hetero_layer
    data = det._prepare(bundle, fit=False)
    h = {t: data[t].x for t in data.node_types}
    edges = {et: data[et].edge_index for et in data.edge_types}
    hidden, layers = int(getattr(det, "hidden", 64)), int(getattr(det, "layers", 2))
    torch.manual_seed(0)
    convs = [{et: SAGEConv((-1, -1), hidden) for et in data.edge_types}
             for _ in range(layers)]
    with torch.no_grad():
        start = time.perf_counter()
        for i, layer in enumerate(convs):
            out = hetero_layer(layer, h, edges, None, CHUNK_EDGES)
            h = {t: (out[t].relu() if i < layers - 1 else out[t]) if t in out
                 else h[t].new_zeros(h[t].size(0), hidden) for t in h}
        return time.perf_counter() - start


def _run_isolated(n_users: int, epochs: int, seed: int) -> Dict[str, float]:
    code = ("import json, sys; from graphad.bench.scale import run_one; "
            "print('RESULT ' + json.dumps(run_one(int(sys.argv[1]), int(sys.argv[2]), "
            "int(sys.argv[3]))))")
    proc = subprocess.run([sys.executable, "-c", code, str(n_users), str(epochs),
                           str(seed)], capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise GraphadError(f"scale run with {n_users} users failed: {tail}")
    return json.loads(lines[-1][len("RESULT "):])


def slope(rows: pd.DataFrame, column: str = "total_s") -> float:
    """Least-squares slope of log(time) against log(edges) (1 = linear)."""
    if len(rows) < 2:
        return float("nan")
    return float(np.polyfit(np.log(rows["edges"]), np.log(rows[column]), 1)[0])


def _training(row) -> str:
    steps = row.get("train_steps")
    steps = "" if steps is None or pd.isna(steps) else f", {int(steps)} steps"
    return ("mini-batch" if row["mini_batch"] else "full-batch") + steps


def _markdown(rows: pd.DataFrame, command: str) -> str:
    lines = ["# Scale: the default detector on synthetic typed fraud graphs", "",
             f"Measured with `{command}`; each size in a fresh process on this machine. "
             "Users with 16 numeric features, devices, merchants; uses, pays (with an "
             "amount) and follows, about 11.9 edges per user; 5 % planted anomalies "
             "(attribute, farm, ring, burst). Peak memory is the process's maximum "
             "resident set. `bare PyG pass`: one forward pass of an untrained "
             "2-layer `HeteroConv(SAGEConv)` of the same width over the same prepared "
             "graph, in the same slices of destinations, the reference for the "
             "scoring time (which also prepares the inputs, decodes, runs every "
             "component family and the isolation forests, and normalises).", "",
             "| users | nodes | edges | build s | fit s | score s | scoring rows/s | "
             "bare PyG pass s | score / bare | peak MB | AUROC | training |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in rows.iterrows():
        bare, ratio = r.get("bare_pyg_s"), r.get("score_vs_bare")
        bare = "" if bare is None or pd.isna(bare) else f"{bare:.1f}"
        ratio = "" if ratio is None or pd.isna(ratio) else f"{ratio:.1f}x"
        lines.append(f"| {r['users']:,} | {r['nodes']:,} | {r['edges']:,} | "
                     f"{r['build_s']:.1f} | {r['fit_s']:.1f} | {r['score_s']:.1f} | "
                     f"{r['rows_per_s']:,.0f} | {bare} | {ratio} | {r['peak_mb']:,.0f} | "
                     f"{r['auroc']:.3f} | {_training(r)} |")
    types = sorted(c for c in rows.columns if c.startswith("auroc:"))
    if types:
        lines += ["", "AUROC per anomaly type:", "",
                  "| users | " + " | ".join(t[6:] for t in types) + " |",
                  "|---|" + "---|" * len(types)]
        for _, r in rows.iterrows():
            lines.append(f"| {r['users']:,} | " + " | ".join(f"{r[t]:.3f}" for t in types)
                         + " |")
    lines += ["", f"Log-log slope of build + fit + score time against edges: "
              f"{slope(rows):.2f} (1 = linear); of fit time alone: "
              f"{slope(rows, 'fit_s'):.2f}."]
    return "\n".join(lines) + "\n"


def run_scale_benchmark(users: Optional[Sequence[int]] = None, epochs: Optional[int] = None,
                        seed: int = 0, out_dir: str = "out/bench-scale",
                        quick: bool = False, command: str = "",
                        echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Every size in turn; writes ``scale.csv`` and ``SCALE.md`` under ``out_dir`` after
    each size."""
    from ..data.io import atomic_write_csv, atomic_write_text
    sizes = list(users or (QUICK_USERS if quick else USERS))
    if any(n < 200 for n in sizes):
        raise GraphadError(f"--users must be at least 200 each, got {sizes}")
    epochs = epochs if epochs is not None else (QUICK_EPOCHS if quick else EPOCHS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    command = command or "graphad bench scale " + shlex.join(
        ["--users", ",".join(map(str, sizes)), "--epochs", str(epochs), "--out", out_dir])
    results: List[Dict[str, float]] = []
    for n in sizes:
        r = _run_isolated(n, epochs, seed)
        results.append(r)
        echo(f"{n:,} users, {r['edges']:,} edges: build {r['build_s']:.1f}s, fit "
             f"{r['fit_s']:.1f}s, score {r['score_s']:.1f}s, peak {r['peak_mb']:,.0f} MB, "
             f"AUROC {r['auroc']:.3f}")
        rows = pd.DataFrame(results)
        rows["total_s"] = rows["build_s"] + rows["fit_s"] + rows["score_s"]
        atomic_write_csv(out / "scale.csv", rows)
        atomic_write_text(out / "SCALE.md", _markdown(rows, command))
    return rows
