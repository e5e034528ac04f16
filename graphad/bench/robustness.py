"""``graphad bench robustness``: every detector on a multimodal graph whose modalities
go missing, get noisy or fall out of line (:mod:`graphad.bench.perturb`).

Cells (each with the same seeds for the perturbation and the detector):

* ``clean``: the graph as built;
* ``missing``: 10 / 30 / 50 % of one modality's observations removed, each modality
  in turn;
* ``noise``: 30 % of every modality's observations get Gaussian noise of 0.5 / 1 / 2
  column standard deviations on their embeddings;
* ``misaligned``: 10 / 30 % of every modality's observations re-attached to a random
  other entity. A receiving entity now holds a foreign observation, which in fraud
  terms is an anomaly of its own: the report gives, apart from the AUROC on the planted
  labels, the AUROC of those receivers (normal before) against the untouched normals.

Writes ``robustness.csv`` (one row per run), ``robustness_summary.csv``,
``ROBUSTNESS.md`` and ``robustness.png`` under the output folder; ``--resume`` keeps
the finished runs of an earlier ``robustness.csv``.
"""
from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import pandas as pd

from ..data.bundle import GraphBundle
from ..errors import GraphadError
from .perturb import drop_observations, misalign_observations, noise_embeddings

DATASETS = ("fraud_sample",)
QUICK_DATASETS = ("fraud_small",)
QUICK_DETECTORS = ("gae", "early-iforest", "late-iforest")
QUICK_PARAMS = {"gae": {"epochs": 10}}
MISSING = (0.1, 0.3, 0.5)
NOISE = (0.5, 1.0, 2.0)
NOISE_SHARE = 0.3
MISALIGNED = (0.1, 0.3)
QUICK_LEVELS = {"missing": (0.3,), "noise": (1.0,), "misaligned": (0.3,)}
KEYS = ["dataset", "kind", "target", "level", "seed", "detector"]


@dataclass(frozen=True)
class Condition:
    """One perturbation cell: ``kind`` (clean / missing / noise / misaligned),
    ``target`` (a node type, or ``all`` modalities) and ``level`` (share or noise)."""

    kind: str
    target: str
    level: float

    @property
    def label(self) -> str:
        if self.kind == "clean":
            return "clean"
        if self.kind == "noise":
            return f"noise {self.level:g} std on {NOISE_SHARE:.0%} of {self.target}"
        return f"{self.kind} {self.target} {self.level:.0%}"


def modality_types(bundle: GraphBundle) -> List[str]:
    """Observation types with at least two nodes, in graph order."""
    return [t for t in bundle.node_types if bundle.modality.get(t)
            and bundle.data[t].num_nodes > 1]


def conditions(bundle: GraphBundle, quick: bool = False) -> List[Condition]:
    """The cells of one graph (an error if it has no modality to perturb)."""
    types = modality_types(bundle)
    if not types:
        raise GraphadError("the graph has no modality observations to perturb")
    levels = QUICK_LEVELS if quick else {"missing": MISSING, "noise": NOISE,
                                          "misaligned": MISALIGNED}
    cells = [Condition("clean", "-", 0.0)]
    cells += [Condition("missing", t, v) for t in types for v in levels["missing"]]
    cells += [Condition("noise", "all", v) for v in levels["noise"]]
    cells += [Condition("misaligned", "all", v) for v in levels["misaligned"]]
    return cells


def perturb(bundle: GraphBundle, cond: Condition, seed: int
            ) -> Tuple[GraphBundle, Dict[str, Set[int]]]:
    """The perturbed copy of ``bundle`` and, for misalignment, ``{entity type: indices
    of entities that received a foreign observation}``."""
    receivers: Dict[str, Set[int]] = {}
    if cond.kind == "clean":
        return bundle, receivers
    if cond.kind == "missing":
        return drop_observations(bundle, cond.target, cond.level, seed), receivers
    out = bundle
    for k, t in enumerate(modality_types(bundle)):
        if cond.kind == "noise":
            out = noise_embeddings(out, t, cond.level, share=NOISE_SHARE, seed=seed + k)
        elif cond.kind == "misaligned":
            try:
                out, moved = misalign_observations(out, t, cond.level, seed=seed + k)
            except GraphadError:
                continue                   # a type without one owning relation
            et = next(e for e in out.edge_types if e[2] == t and e[0] != t)
            got = out.data[et].edge_index[0, moved].tolist()
            receivers.setdefault(et[0], set()).update(got)
        else:
            raise GraphadError(f"unknown perturbation '{cond.kind}'")
    return out, receivers


def _receiver_auroc(ev, graph, receivers: Dict[str, Set[int]]) -> Tuple[float, int]:
    """AUROC of the normal target entities that received a foreign observation against
    the untouched normals, and how many receivers there were."""
    from ..metrics import evaluate
    idx = receivers.get(graph.target_type)
    if not idx:
        return float("nan"), 0
    table = ev.table[ev.table["node_type"] == graph.target_type]
    got = set(graph.bundle.ids.external(graph.target_type, sorted(idx)))
    normal = table[table["label"] == 0]
    y = normal["id"].isin(got).to_numpy().astype(int)
    return evaluate(y, normal["score"].to_numpy())["auroc"], int(y.sum())


def _run_cell(graph, cond: Condition, seed: int, names: Sequence[str], quick: bool,
              done: Set[Tuple]) -> List[dict]:
    from ..datasets.loaders import LabelledGraph
    from ..detectors.registry import make_detector
    from .evaluate import run_detector
    todo = [n for n in names
            if (graph.name, cond.kind, cond.target, float(cond.level), seed, n) not in done]
    if not todo:
        return []
    bundle, receivers = perturb(graph.bundle, cond, seed)
    labelled = LabelledGraph(graph.name, bundle, graph.labels, graph.target_type)
    rows = []
    for name in todo:
        params = dict(QUICK_PARAMS.get(name, {})) if quick else {}
        ev = run_detector(name, make_detector(name, seed=seed, **params), labelled)
        misaligned, n_recv = _receiver_auroc(ev, labelled, receivers)
        rows.append({"dataset": graph.name, "kind": cond.kind, "target": cond.target,
                     "level": float(cond.level), "seed": seed, "detector": name,
                     "auroc": ev.metrics["auroc"], "auprc": ev.metrics["auprc"],
                     "seconds": ev.seconds, "receivers": n_recv,
                     "receivers_auroc": misaligned,
                     **{f"type:{k}": v for k, v in ev.by_type.items()}})
    return rows


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per dataset, cell and detector (with the AUROC's std)."""
    cols = ["auroc", "auprc", "seconds", "receivers_auroc"] + sorted(
        c for c in runs.columns if c.startswith("type:"))
    g = runs.groupby(["dataset", "kind", "target", "level", "detector"], sort=False)
    out = g[cols].mean()
    out["auroc_std"] = g["auroc"].std()
    out["seeds"] = g["seed"].nunique()
    return out.reset_index()


def _cell_label(row) -> str:
    return Condition(row["kind"], row["target"], row["level"]).label


def _markdown(summary: pd.DataFrame, command: str, default: str = "gae") -> str:
    lines = ["# Robustness: AUROC when modalities go missing, get noisy or fall out of line",
             "", f"Measured with `{command}`; mean (± std) over seeds; the perturbation "
             "and the detector share each seed. Noise: 30 % of every modality's "
             "observations. Misaligned: a share of every modality's observations "
             "re-attached to a random other entity.", ""]
    for ds, part in summary.groupby("dataset", sort=False):
        part = part.assign(cell=part.apply(_cell_label, axis=1))
        dets = list(dict.fromkeys(part["detector"]))
        lines += [f"## {ds}: AUROC on the planted labels", "",
                  "| cell | " + " | ".join(dets) + " |", "|---|" + "---|" * len(dets)]
        for cell, rows in part.groupby("cell", sort=False):
            best = rows["auroc"].max()
            cells = []
            for d in dets:
                r = rows[rows["detector"] == d]
                if r.empty:
                    cells.append("")
                    continue
                v, s = float(r["auroc"].iloc[0]), float(r["auroc_std"].iloc[0])
                text = f"{v:.3f}" + (f" ± {s:.3f}" if s == s else "")
                cells.append(f"**{text}**" if v == best else text)
            lines.append(f"| {cell} | " + " | ".join(cells) + " |")
        lines += ["", *_findings(part, default), ""]
        types = sorted(c for c in part.columns if c.startswith("type:"))
        mine = part[part["detector"] == default]
        if types and not mine.empty:
            lines += [f"### {default}: AUROC per anomaly type", "",
                      "| cell | " + " | ".join(t[5:] for t in types) + " |",
                      "|---|" + "---|" * len(types)]
            for _, r in mine.iterrows():
                lines.append(f"| {r['cell']} | " + " | ".join(
                    f"{r[t]:.3f}" if r[t] == r[t] else "" for t in types) + " |")
            lines.append("")
        mis = part[part["kind"] == "misaligned"]
        if not mis.empty:
            lines += ["### Misaligned observations as anomalies of their own", "",
                      "AUROC of the normal entities that received a foreign observation "
                      "against the untouched normals (0.5: not noticed).", "",
                      "| cell | " + " | ".join(dets) + " |", "|---|" + "---|" * len(dets)]
            for cell, rows in mis.groupby("cell", sort=False):
                vals = {r["detector"]: r["receivers_auroc"] for _, r in rows.iterrows()}
                lines.append(f"| {cell} | " + " | ".join(
                    f"{vals.get(d, float('nan')):.3f}" for d in dets) + " |")
            lines.append("")
    return "\n".join(lines) + "\n"


def _findings(part: pd.DataFrame, default: str) -> List[str]:
    """Plain statements computed from the table: the default's loss at 30 % missing
    per modality, and in how many cells it leads every other detector."""
    mine = part[part["detector"] == default].set_index("cell")["auroc"]
    if mine.empty or "clean" not in mine:
        return []
    out = []
    for cell, v in mine.items():
        if cell.startswith("missing") and cell.endswith(" 30%"):
            out.append(f"- {default} at {cell}: {v:.3f}, {v - mine['clean']:+.3f} against "
                       f"clean ({mine['clean']:.3f}).")
    others = part[part["detector"] != default]
    if not others.empty:
        best = others.groupby("cell")["auroc"].max()
        lead = [(c, mine[c] - best[c]) for c in mine.index if c in best]
        ahead = sum(d > 0 for _, d in lead)
        worst = min(lead, key=lambda x: x[1])
        out.append(f"- {default} is above every other detector in {ahead} of {len(lead)} "
                   f"cells; its smallest margin: {worst[1]:+.3f} ({worst[0]}).")
    return out


def plot_robustness(summary: pd.DataFrame, path: Path) -> Path:
    """AUROC against the perturbation level, one panel per (dataset, kind, target),
    one line per detector (PNG)."""
    import io

    from ..data.io import atomic_write_bytes
    from ..viz._figure import new_figure
    from ..viz._figure import TYPE_COLOURS
    clean = summary[summary["kind"] == "clean"]
    others = [d for d in dict.fromkeys(summary["detector"]) if d != "gae"]
    palette = [c for c in TYPE_COLOURS if c not in ("#C44E52",)]      # red is gae's
    colour = {d: palette[i % len(palette)] for i, d in enumerate(others)}
    colour["gae"] = "#C0392B"
    panels = summary[summary["kind"] != "clean"][["dataset", "kind", "target"]] \
        .drop_duplicates().values.tolist()
    cols = min(3, max(len(panels), 1))
    rows = -(-max(len(panels), 1) // cols)
    fig = new_figure(4.2 * cols, 3.2 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (ds, kind, target) in zip(axes, panels):
        part = summary[(summary["dataset"] == ds) & (summary["kind"] == kind)
                       & (summary["target"] == target)]
        for det, rows_ in part.groupby("detector", sort=False):
            base = clean[(clean["dataset"] == ds) & (clean["detector"] == det)]
            x = [0.0] + rows_["level"].tolist()
            y = base["auroc"].tolist()[:1] + rows_["auroc"].tolist()
            if len(y) < len(x):
                x = x[1:]
            ax.plot(x, y, marker="o", lw=2.2 if det == "gae" else 1.0, color=colour[det],
                    label=det)
        ax.set_title(f"{ds}: {kind} {target}", fontsize=9)
        ax.set_xlabel("noise (std)" if kind == "noise" else "share", fontsize=8)
        ax.set_ylabel("AUROC", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if panels:
        axes[0].legend(fontsize=6, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return atomic_write_bytes(path, buffer.getvalue())


def run_robustness_benchmark(datasets: Optional[Sequence[str]] = None,
                             detectors: Optional[Sequence[str]] = None,
                             seeds: Optional[int] = None,
                             out_dir: str = "out/bench-robustness", quick: bool = False,
                             resume: bool = False, command: str = "",
                             echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Run every cell, detector and seed (``seeds``: 3, or 1 with ``quick``); write the
    files (see the module docstring) after each cell, so that a killed run resumes
    with ``resume=True``."""
    from ..data.io import atomic_write_csv, atomic_write_text
    from ..detectors.registry import detector_names
    from .harness import load_dataset
    seeds = seeds if seeds is not None else (1 if quick else 3)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(detectors or (QUICK_DETECTORS if quick else detector_names()))
    unknown = sorted(set(names) - set(detector_names()))
    if unknown:
        raise GraphadError(f"unknown detector(s) {unknown}; available: {detector_names()}")
    csv = out / "robustness.csv"
    runs = pd.read_csv(csv) if resume and csv.is_file() else pd.DataFrame()
    done = {tuple(r) for r in runs[KEYS].itertuples(index=False)} if len(runs) else set()
    done = {(d, k, t, float(lv), int(s), n) for d, k, t, lv, s, n in done}
    rows = runs.to_dict("records")
    for name in datasets or (QUICK_DATASETS if quick else DATASETS):
        graph = load_dataset(name, quick=quick)
        for cond in conditions(graph.bundle, quick):
            for seed in range(seeds):
                start = time.perf_counter()
                new = _run_cell(graph, cond, seed, names, quick, done)
                if not new:
                    continue
                rows += new
                atomic_write_csv(csv, pd.DataFrame(rows))
                echo(f"{name} | {cond.label} | seed {seed} "
                     f"({time.perf_counter() - start:.0f}s): " + ", ".join(
                         f"{r['detector']} {r['auroc']:.3f}" for r in new))
    summary = summarise(pd.DataFrame(rows))
    atomic_write_csv(out / "robustness_summary.csv", summary)
    command = command or "graphad bench robustness " + shlex.join(
        ["--out", str(out_dir)] + (["--quick"] if quick else []))
    atomic_write_text(out / "ROBUSTNESS.md", _markdown(summary, command))
    plot_robustness(summary, out / "robustness.png")
    return summary
