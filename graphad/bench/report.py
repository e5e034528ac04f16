"""Benchmark tables: ``results.csv`` (one row per run), ``summary.csv`` (mean / std
per dataset and detector) and ``RESULTS.md`` (header, tables, rank summary, notes).

``results.csv`` keeps the dict fields of a run as one column per key:
``auroc_type:<anomaly type>`` (:attr:`RunRecord.by_type`) and
``auroc_component:<component>`` (:attr:`RunRecord.component_auroc`); files written
before a column existed read back with that field empty."""
from __future__ import annotations

import datetime as _dt
import math
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..data.io import atomic_write_csv, atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from .harness import BenchConfig, RunRecord

PathLike = Union[str, Path]
METRICS = ("auroc", "auprc", "recall_at_k")
TYPE_PREFIX = "auroc_type:"
COMPONENT_PREFIX = "auroc_component:"
GRAPHAD_FAMILY = "graphad"
_VERSIONS = (("graphad", "graphad"), ("torch", "torch"),
             ("torch_geometric", "torch-geometric"), ("pygod", "pygod"),
             ("scikit-learn", "scikit-learn"), ("numpy", "numpy"))


# ------------------------------------------------------------------ environment
def environment() -> Dict[str, str]:
    """Machine (cores, RAM, CPU model), date and library versions."""
    env = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 0
    env["nproc"] = str(cores)
    env["ram"] = _ram()
    env["cpu"] = _cpu_model()
    env["os"] = f"{platform.system()} {platform.release()}"
    for label, dist in _VERSIONS:
        try:
            env[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[label] = "not installed"
    env["python"] = platform.python_version()
    env["git"] = _git_revision()
    return env


def _git_revision() -> str:
    """``<commit>`` of the graphad checkout, ``+ uncommitted changes`` when its package
    files differ from it; ``unknown`` outside a git checkout."""
    import subprocess
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(root), "status",
                                "--porcelain", "--", "graphad"], capture_output=True,
                               text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def _ram() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ------------------------------------------------------------------ tables
def runs_frame(records: Sequence["RunRecord"]) -> pd.DataFrame:
    """One row per run; per-anomaly-type AUROC as ``auroc_type:<type>`` columns, per
    score component AUROC as ``auroc_component:<component>`` columns."""
    rows = []
    for r in records:
        row = {"dataset": r.dataset, "detector": r.detector, "family": r.family,
               "seed": r.seed, "status": r.status, "error": r.message,
               **{m: getattr(r, m) for m in METRICS}, "seconds": r.seconds,
               "peak_mb": r.peak_mb, "wall_seconds": r.wall_seconds}
        row.update({TYPE_PREFIX + k: v for k, v in sorted(r.by_type.items())})
        row.update({COMPONENT_PREFIX + k: v
                    for k, v in sorted(getattr(r, "component_auroc", {}).items())})
        rows.append(row)
    columns = ["dataset", "detector", "family", "seed", "status", "error", *METRICS,
               "seconds", "peak_mb", "wall_seconds"]
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=columns + sorted(c for c in frame.columns
                                                  if c not in columns))


def read_runs(path: PathLike) -> List["RunRecord"]:
    """The runs of a ``results.csv`` (as written by :func:`write_report`)."""
    from .harness import RunRecord
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    out = []
    for row in frame.to_dict("records"):
        def num(key: str) -> float:
            value = row.get(key)
            return float(value) if value is not None and value == value else math.nan
        def prefixed(prefix: str) -> Dict[str, float]:
            return {k[len(prefix):]: num(k) for k in row
                    if k.startswith(prefix) and not math.isnan(num(k))}
        by_type = prefixed(TYPE_PREFIX)
        error = row.get("error")
        out.append(RunRecord(str(row["dataset"]), str(row["detector"]), int(row["seed"]),
                             str(row["status"]), "" if error != error or error is None
                             else str(error), *(num(m) for m in METRICS),
                             num("seconds"), num("peak_mb"), num("wall_seconds"),
                             by_type, "" if row.get("family") != row.get("family")
                             else str(row.get("family") or ""),
                             component_auroc=prefixed(COMPONENT_PREFIX)))
    return out


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over the successful seeds of each (dataset, detector).

    ``status`` is ``ok`` when every run succeeded, ``partial`` when some did, else
    the first failure's cell (``timeout``, ``oom``, ``error: ...``, ``not installed``).
    """
    rows = []
    value_cols = [*METRICS, "seconds", "peak_mb"] + [
        c for c in runs.columns if c.startswith((TYPE_PREFIX, COMPONENT_PREFIX))]
    for (dataset, detector), group in runs.groupby(["dataset", "detector"], sort=False):
        ok = group[group["status"] == "ok"]
        row = {"dataset": dataset, "detector": detector, "family": group["family"].iloc[0],
               "runs": len(group), "ok": len(ok)}
        if len(ok) == len(group):
            row["status"] = "ok"
        elif len(ok):
            row["status"] = "partial"
        else:
            first = group.iloc[0]
            row["status"] = (first["status"] if not first["error"]
                             else f"{first['status']}: {first['error']}")
        for col in value_cols:
            values = pd.to_numeric(ok[col], errors="coerce").dropna().to_numpy()
            row[f"{col}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{col}_std"] = float(values.std()) if len(values) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def rank_summary(summary: pd.DataFrame, detectors: Sequence[str],
                 datasets: Sequence[str]) -> pd.DataFrame:
    """Per detector: mean AUROC over the datasets it finished, and mean rank by AUROC
    over every dataset where some detector finished (1 = best; ties share the average
    rank; a detector without an AUROC on a dataset ranks last there)."""
    auroc = (summary.pivot(index="detector", columns="dataset", values="auroc_mean")
             .reindex(index=list(detectors), columns=list(datasets)))
    ranks = pd.DataFrame(index=auroc.index)
    for d in auroc.columns:
        col = auroc[d]
        if col.notna().any():
            ranks[d] = col.rank(ascending=False, method="average",
                                na_option="keep").fillna(len(col))
    out = pd.DataFrame({
        "detector": auroc.index,
        "mean_auroc": auroc.mean(axis=1, skipna=True).to_numpy(),
        "datasets_ok": auroc.notna().sum(axis=1).to_numpy(),
        "datasets": len(auroc.columns),
        "mean_rank": (ranks.mean(axis=1).to_numpy() if len(ranks.columns)
                      else np.full(len(auroc), np.nan)),
    })
    return out.sort_values(["mean_rank", "mean_auroc"], ascending=[True, False],
                           na_position="last").reset_index(drop=True)


# ------------------------------------------------------------------ markdown
def _fmt(mean: float, std: float, runs: int, ok: int, digits: int = 3) -> str:
    if math.isnan(mean):
        return "nan"
    text = f"{mean:.{digits}f}"
    if ok > 1:
        text += f" ± {std:.{digits}f}"
    if ok < runs:
        text += f" ({ok}/{runs})"
    return text


def _cell(row: Optional[pd.Series], col: str, digits: int = 3, limit: int = 48) -> str:
    if row is None:
        return ""
    if row["ok"] == 0:
        text = str(row["status"])
        text = text if len(text) <= limit else text[:limit - 3] + "..."
        return text.replace("|", "\\|")
    return _fmt(row[f"{col}_mean"], row[f"{col}_std"], row["runs"], row["ok"], digits)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _grid(summary: pd.DataFrame, detectors: Sequence[str], datasets: Sequence[str],
          col: str, digits: int = 3) -> List[str]:
    index = {(r["dataset"], r["detector"]): r for _, r in summary.iterrows()}
    rows = [[det] + [_cell(index.get((d, det)), col, digits) for d in datasets]
            for det in detectors]
    return _table(["detector"] + list(datasets), rows)


def render_markdown(records: Sequence["RunRecord"], config: "BenchConfig",
                    env: Optional[Dict[str, str]] = None) -> str:
    """The whole ``RESULTS.md``."""
    env = env or environment()
    runs = runs_frame(records)
    summary = summarise(runs) if len(runs) else pd.DataFrame()
    datasets = [d for d in config.datasets if d in set(runs.get("dataset", []))]
    detectors = list(config.detectors)
    lines = ["# graphad detector benchmark", "",
             f"Command: `{config.command or 'run_benchmark(...)'}`", "",
             f"- Date: {env['date']}",
             f"- Machine: {env['nproc']} CPU cores (nproc), {env['ram']} RAM, "
             f"{env['cpu']}; {env['os']}; CPU only",
             "- Versions: " + ", ".join(f"{k} {env[k]}" for k, _ in _VERSIONS)
             + f", python {env['python']}",
             f"- graphad source: git {env.get('git', 'unknown')}",
             f"- Seeds: {config.seeds} per seeded detector (0..{config.seeds - 1}); "
             f"timeout {config.timeout:g} s per run; "
             f"profile: {'quick' if config.quick else 'full'}", ""]
    lines += _protocol(config, records)
    if summary.empty:
        return "\n".join(lines + ["No runs.", ""])
    lines += ["## AUROC", "", "Mean ± std over seeds; `(k/n)`: only k of n runs "
              "finished.", ""]
    lines += _grid(summary, detectors, datasets, "auroc")
    lines += ["", "## Rank summary", "",
              "Mean AUROC over the datasets a detector finished; mean rank by AUROC "
              "over all datasets (1 = best; a failed or missing run ranks last).", ""]
    ranks = rank_summary(summary, detectors, datasets)
    lines += _table(["detector", "mean AUROC", "datasets finished", "mean rank"],
                    [[r.detector, "nan" if math.isnan(r.mean_auroc)
                      else f"{r.mean_auroc:.3f}", f"{r.datasets_ok}/{r.datasets}",
                      "nan" if math.isnan(r.mean_rank) else f"{r.mean_rank:.2f}"]
                     for r in ranks.itertuples()])
    for title, col, digits in (("AUPRC", "auprc", 3),
                               ("Recall@k (k = number of anomalies)", "recall_at_k", 3),
                               ("Fit + score seconds", "seconds", 1),
                               ("Peak memory, MB above the pre-fit RSS", "peak_mb", 0)):
        lines += ["", f"## {title}", ""]
        lines += _grid(summary, detectors, datasets, col, digits)
    lines += _by_type(summary, detectors, datasets)
    lines += _by_component(summary, detectors, datasets)
    lines += _datasets_section(config, datasets)
    lines += _failures(records)
    return "\n".join(lines) + "\n"


def _protocol(config: "BenchConfig", records: Sequence["RunRecord"] = ()) -> List[str]:
    iso = {"forkserver": "a fresh process per (detector, dataset, seed), forked from a "
                         "multiprocessing forkserver that has only imported the libraries",
           "spawn": "a fresh process per (detector, dataset, seed) (multiprocessing "
                    "'spawn')",
           "none": "in the benchmark process itself (no isolation, no timeout)"}
    lines = ["## Protocol", "",
             f"- Each run: {iso.get(config.isolation, config.isolation)}; the dataset is "
             "loaded once by the parent and handed over pickled; runs one after "
             f"another, torch threads: {config.threads or 'default (= cores)'}, "
             "`OMP_WAIT_POLICY=PASSIVE` (idle OpenMP threads sleep instead of spinning; "
             "spinning makes small ops on a busy machine up to 100x slower). Cells: `timeout` (killed "
             "after the timeout), `oom` (MemoryError or killed by SIGKILL), "
             "`error: ...` (an exception), `not installed` (optional package missing).",
             "- Metrics on the labelled nodes of the target type; time = `fit` + "
             "scoring of the same graph; memory = peak RSS during the run above the RSS "
             "just before `fit` (Linux `VmHWM`, reset through `/proc/self/clear_refs`)"
             + _memory_floor(records) + ".",
             "- graphad: one default configuration on every dataset (`gae` = "
             "`MultimodalGAE()` defaults), no per-dataset tuning.",
             "- Baselines: `iforest` / `lof` = scikit-learn IsolationForest / "
             "LocalOutlierFactor (defaults) on the target type's own inputs; "
             "`early-iforest` = own inputs + neighbour means + degrees per relation; "
             "`late-iforest` = one IsolationForest per type, entity scores rolled up "
             "from their observations; `local-affinity` = untrained 1 - mean cosine "
             "to same-type neighbours on standardised inputs. `lof` and "
             "`local-affinity` are deterministic and run once.",
             "- PyGOD (`dominant`, `anomalydae`, `cola`, `conad`, `ocgnn`, "
             "`pygod-gae` = PyGOD's GAE): PyGOD defaults except `epoch` (100) and "
             "`gpu=-1`. Run full-batch: while a PyGOD peer runs, "
             "`pygod.detector.base.NeighborLoader` is replaced by a loader that yields "
             "the whole graph once with `batch_size = n` and `n_id = arange(n)` (what "
             "`NeighborLoader` returns for PyGOD's `batch_size = n`, `num_neigh = -1`), "
             "since pyg-lib / torch-sparse are not installed. One-type sets get the raw "
             "`x`; typed graphs (fraud networks, bitcoin_alpha) get the target-type "
             "subgraph (its same-type relations, undirected) with early-fused, "
             "standardised features.",
             "- Per-anomaly-type AUROC: each type's anomalies against all normal nodes."]
    if config.quick:
        lines.append("- Quick profile: small datasets, few epochs (`gae` 20, PyGOD 10), "
                     "`fraud_small` = a generated 400-user fraud network with TF-IDF "
                     "text and pixel-statistics photo features; for smoke tests, not "
                     "for comparison.")
    shown = {k: ", ".join(f"{a}={v!r}" for a, v in p.items()
                          if a not in ("name", "seed", "node_type"))
             for k, p in config.detector_params.items()}
    if shown:
        lines.append("- Parameters (besides `seed` and the target `node_type`): "
                     + "; ".join(f"`{k}` {v or 'defaults'}" for k, v in shown.items()))
    return lines + [""]


def _memory_floor(records: Sequence["RunRecord"]) -> str:
    peaks = [r.peak_mb for r in records if r.status == "ok" and r.peak_mb == r.peak_mb]
    if not peaks:
        return ""
    return (f"; it includes the library pages a run touches for the first time: "
            f"the smallest run here shows {min(peaks):.0f} MB")


def _by_type(summary: pd.DataFrame, detectors: Sequence[str],
             datasets: Sequence[str]) -> List[str]:
    lines: List[str] = []
    type_cols = [c for c in summary.columns
                 if c.startswith(TYPE_PREFIX) and c.endswith("_mean")]
    for d in datasets:
        sub = summary[summary["dataset"] == d]
        cols = [c for c in type_cols if sub[c].notna().any()]
        if not cols:
            continue
        kinds = [c[len(TYPE_PREFIX):-len("_mean")] for c in cols]
        index = {r["detector"]: r for _, r in sub.iterrows()}
        rows = []
        for det in detectors:
            r = index.get(det)
            rows.append([det] + [_cell(r, TYPE_PREFIX + k) for k in kinds])
        lines += ["", f"## AUROC per anomaly type: {d}", ""]
        lines += _table(["detector"] + kinds, rows)
    return lines


def _component_order(name: str):
    """The score under the other combination rules first (``score (mean rule)``), then
    plain components (attribute, structure, ...), then the prefixed ones
    (``peer:device``, ``obs:review``, ...), each alphabetically."""
    return (not _is_rule(name), ":" in name, name)


def _is_rule(name: str) -> bool:
    return name.startswith("score (")


def _by_component(summary: pd.DataFrame, detectors: Sequence[str],
                  datasets: Sequence[str]) -> List[str]:
    """Per graphad detector: AUROC of the combined score and of each score component
    alone (mean over the seeds that finished), datasets as rows, and the best single
    component."""
    if "family" not in summary:
        return []
    cols = [c for c in summary.columns
            if c.startswith(COMPONENT_PREFIX) and c.endswith("_mean")]
    ours = summary[summary["family"] == GRAPHAD_FAMILY]
    lines: List[str] = []
    for det in detectors:
        sub = ours[ours["detector"] == det]
        present = [c for c in cols if sub[c].notna().any()]
        if not present:
            continue
        names = sorted((c[len(COMPONENT_PREFIX):-len("_mean")] for c in present),
                       key=_component_order)
        index = {r["dataset"]: r for _, r in sub.iterrows()}
        rows = []
        for d in datasets:
            r = index.get(d)
            if r is None:
                continue
            if r["ok"] == 0:
                rows.append([d, _cell(r, "auroc")] + [""] * (len(names) + 1))
                continue
            values = {n: r[f"{COMPONENT_PREFIX}{n}_mean"] for n in names}
            found = {n: v for n, v in values.items() if v == v}
            single = {n: v for n, v in found.items() if not _is_rule(n)}
            best = max(single, key=lambda n: single[n]) if single else ""
            rows.append([d, _mean(r["auroc_mean"])]
                        + [_mean(values[n]) if n in found else "" for n in names]
                        + [_escape(best)])
        lines += ["", f"### {det}", ""]
        lines += _table(["dataset", "score"] + [_escape(n) for n in names]
                        + ["best component"], rows)
    if not lines:
        return []
    return ["", "## AUROC per component (graphad detectors)", "",
            "AUROC on the labelled target nodes of the combined score (`score`) and of "
            "each normalised score component alone (a node without the component "
            "ranks lowest; constant components are left out), mean over the seeds "
            "that finished; blank: the component does not occur on that dataset. "
            "`score (<rule> rule)`: the same fitted components combined by another "
            "rule instead of the detector's own (roll-ups as fitted; the calibrated "
            "`omnibus` rule is not re-combined). `best component`: the highest single "
            "component."] + lines


def _mean(value: float, digits: int = 3) -> str:
    return "nan" if value != value else f"{value:.{digits}f}"


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def _datasets_section(config: "BenchConfig", datasets: Sequence[str]) -> List[str]:
    if not config.dataset_sizes:
        return []
    lines = ["", "## Datasets", ""]
    lines += [f"- `{d}`: {config.dataset_sizes[d]}" for d in datasets
              if d in config.dataset_sizes]
    return lines


def _failures(records: Sequence["RunRecord"]) -> List[str]:
    bad = [r for r in records if r.status not in ("ok", "not installed")]
    if not bad:
        return []
    lines = ["", "## Failed runs", ""]
    lines += [f"- {r.dataset} / {r.detector} / seed {r.seed}: {r.cell} "
              f"({r.wall_seconds:.1f} s)" for r in bad]
    return lines


def write_report(out_dir: PathLike, records: Sequence["RunRecord"],
                 config: "BenchConfig") -> List[Path]:
    """Write ``results.csv``, ``summary.csv`` and ``RESULTS.md`` atomically."""
    out = Path(out_dir)
    runs = runs_frame(records)
    paths = [atomic_write_csv(out / "results.csv", runs)]
    if len(runs):
        paths.append(atomic_write_csv(out / "summary.csv", summarise(runs)))
    paths.append(atomic_write_text(out / "RESULTS.md", render_markdown(records, config)))
    return paths
