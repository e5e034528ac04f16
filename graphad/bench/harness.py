"""The detector benchmark: every detector on every dataset over seeds, each run in a
fresh process, with timeouts, failures kept as table cells, and a report.

::

    from graphad.bench.harness import run_benchmark
    records = run_benchmark(["disney", "books"], ["gae", "dominant"], seeds=3,
                            out_dir="out/bench")

Isolation: each (detector, dataset, seed) runs in its own process: forked from a
``multiprocessing`` forkserver that has only imported the libraries (so a process
starts in well under a second and no run inherits another's heap, threads or caches),
or started with ``spawn``. The parent loads each dataset once and hands it to the
runs as a pickle file. A run past its timeout is killed (cell ``timeout``); an
exception becomes ``error: <message>``; ``MemoryError`` or a run killed by SIGKILL
(the kernel's OOM killer) becomes ``oom``.

Time is ``fit`` + ``score`` inside the run (:func:`run_detector`); memory is the
run's peak resident set size above its size just before ``fit`` (Linux: the
``VmHWM`` high-water mark reset via ``/proc/self/clear_refs``; elsewhere
``ru_maxrss``).
"""
from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import pickle
import tempfile
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from ..encoders.base import ModalityEncoder, nan_rows
from ..errors import GraphadError

PathLike = Union[str, Path]

QUICK_DATASETS = ("disney", "books", "fraud_small")
FRAUD_SMALL_USERS = 400
DEFAULT_TIMEOUT = 1800.0
QUICK_TIMEOUT = 120.0
#: imported once by the forkserver, so that run processes start with them loaded
PRELOAD = ["torch", "torch_geometric", "sklearn.ensemble", "sklearn.neighbors",
           "graphad.detectors", "graphad.bench.evaluate", "graphad.bench.peers",
           "graphad.bench.harness", "pygod.detector"]


# ------------------------------------------------------------------ detectors
@dataclass(frozen=True)
class DetectorSpec:
    """How the benchmark builds one detector.

    Attributes:
        name: the row name.
        target: ``"module:callable"`` returning a detector from keyword parameters.
        params: keyword parameters of every run.
        quick: parameters overriding ``params`` in the ``--quick`` profile.
        family: ``graphad``, ``baseline`` or ``pygod`` (for the report).
        seeded: takes a ``seed``; otherwise deterministic and run once.
        node_type: takes ``node_type`` (the dataset's target type is passed).
        requires: a module that must be importable (else the cell is ``not installed``).
    """

    name: str
    target: str
    params: Mapping[str, Any] = field(default_factory=dict)
    quick: Mapping[str, Any] = field(default_factory=dict)
    family: str = "baseline"
    seeded: bool = True
    node_type: bool = False
    requires: Optional[str] = None


#: quick-profile parameters of registry detectors (the rest run with their defaults)
_REGISTRY_QUICK: Dict[str, Dict[str, Any]] = {"gae": {"epochs": 20}}
#: registry detectors reported as graphad's own (the others are baselines)
_REGISTRY_GRAPHAD = frozenset({"gae"})


def _default_specs() -> Dict[str, DetectorSpec]:
    from ..detectors.registry import detector_names
    from .peers import PYGOD_MODELS
    registry = "graphad.detectors.registry:make_detector"
    peers = "graphad.bench.peers"
    specs = [DetectorSpec(name, registry, {"name": name}, _REGISTRY_QUICK.get(name, {}),
                          family="graphad" if name in _REGISTRY_GRAPHAD else "baseline")
             for name in detector_names()]
    specs += [
        DetectorSpec("iforest", f"{peers}:RawIForest", node_type=True),
        DetectorSpec("lof", f"{peers}:RawLOF", seeded=False, node_type=True),
        DetectorSpec("local-affinity", f"{peers}:LocalAffinity", seeded=False,
                     node_type=True),
    ]
    specs += [DetectorSpec(name, f"{peers}:PyGODPeer", {"model": name, "epoch": 100},
                           {"epoch": 10}, family="pygod", node_type=True,
                           requires="pygod") for name in PYGOD_MODELS]
    return {s.name: s for s in specs}


def _variant_specs() -> Dict[str, DetectorSpec]:
    """graphad options measured against the default (run only when named)."""
    registry = "graphad.detectors.registry:make_detector"
    variants = {"gae-robust-z": {"normalize": "robust_z"},
                "gae-bottleneck": {"bottleneck": True},
                "gae-mean": {"combination": "mean"}}
    return {name: DetectorSpec(name, registry, {"name": "gae", **params}, {"epochs": 20},
                               family="graphad") for name, params in variants.items()}


_SPECS: Dict[str, DetectorSpec] = _default_specs()
_DEFAULTS: List[str] = list(_SPECS)
_SPECS.update(_variant_specs())
_BUILTIN = frozenset(_SPECS)


def register_detector(name: str, target: str, *, params: Optional[Mapping] = None,
                      quick: Optional[Mapping] = None, seeded: bool = True,
                      node_type: bool = False, family: str = "baseline",
                      requires: Optional[str] = None) -> DetectorSpec:
    """Add (or replace) a benchmark detector; not run by default (name it explicitly).

    ``target`` is ``"module:callable"`` so that a fresh run process can import it
    (a class or factory at module level of an importable module).
    """
    if name in _BUILTIN:
        raise GraphadError(f"'{name}' is a built-in benchmark detector; pick another name")
    if ":" not in target:
        raise GraphadError(f"detector target must be 'module:callable', got {target!r}")
    spec = DetectorSpec(name, target, dict(params or {}), dict(quick or {}), family,
                        seeded, node_type, requires)
    _SPECS[name] = spec
    return spec


def unregister_detector(name: str) -> None:
    """Remove a detector added with :func:`register_detector`."""
    if name in _BUILTIN:
        raise GraphadError(f"'{name}' is a built-in benchmark detector")
    _SPECS.pop(name, None)


def benchmark_detectors() -> List[str]:
    """Names run by default."""
    return list(_DEFAULTS)


def detector_spec(name: str) -> DetectorSpec:
    if name not in _SPECS:
        raise GraphadError(f"unknown benchmark detector '{name}'; available: "
                           f"{sorted(_SPECS)}")
    return _SPECS[name]


def _requirement_missing(spec: DetectorSpec) -> bool:
    import importlib.util
    return spec.requires is not None and importlib.util.find_spec(spec.requires) is None


# ------------------------------------------------------------------ datasets
def benchmark_datasets(quick: bool = False) -> List[str]:
    """Default datasets: every ``*.npz`` in ``$GRAPHAD_DATA``, ``bitcoin_alpha`` and
    the embedded ``fraud_sample``; quick: disney, books (where present), fraud_small."""
    from ..datasets.loaders import available
    try:
        present = available()
    except GraphadError:
        warnings.warn("benchmark data folder not found (set GRAPHAD_DATA): only the "
                      "generated / embedded fraud networks are used", stacklevel=2)
        present = []
    if quick:
        return [d for d in QUICK_DATASETS if d in present or d == "fraud_small"]
    return present + ["fraud_sample"]


def load_dataset(name: str, quick: bool = False):
    """A :class:`LabelledGraph` by name; ``fraud_small`` is a generated 400-user fraud
    network with fast encoders (TF-IDF text, pixel-statistics photos)."""
    from ..datasets.loaders import load
    if name == "fraud_small":
        return fraud_small()
    return load(name)


def fraud_small(n_users: int = FRAUD_SMALL_USERS, seed: int = 0):
    """``make_fraud_network(n_users)`` built with fast encoders, as ``fraud_small``."""
    from ..data.build import build_graph
    from ..datasets.fraud import make_fraud_network
    from ..datasets.loaders import LabelledGraph
    with tempfile.TemporaryDirectory(prefix="graphad_fraud_small_") as tmp:
        net = make_fraud_network(n_users=n_users, seed=seed, image_dir=Path(tmp) / "images")
        bundle = build_graph(net.tables, net.schema, base_dir=net.root, use_cache=False,
                             encoders={"review": {"name": "tfidf", "dim": 32},
                                       "photo": PixelImageEncoder()})
    return LabelledGraph("fraud_small", bundle, net.labels, "user")


class PixelImageEncoder(ModalityEncoder):
    """A fast, model-free image encoder for the quick profile: the picture shrunk to
    ``size`` x ``size`` grey levels plus per-channel means (``size**2 + 3`` values)."""

    modality = "image"

    def __init__(self, size: int = 8) -> None:
        super().__init__()
        self.size = size

    @property
    def id(self) -> str:
        return f"pixels{self.size}+rgbmean"

    @property
    def dim(self) -> int:
        return self.size * self.size + 3

    def encode(self, items: Sequence[Any]) -> Tensor:
        from ..encoders.image import load_image
        out = nan_rows(len(items), self.dim)
        for i, item in enumerate(items):
            img = load_image(item)
            if img is None:
                continue
            grey = np.asarray(img.convert("L").resize((self.size, self.size)), np.float32)
            rgb = np.asarray(img, np.float32).reshape(-1, 3).mean(0)
            out[i] = torch.from_numpy(np.concatenate([grey.ravel(), rgb]) / 255.0)
        self.model_calls += 1
        return out


# ------------------------------------------------------------------ one run
@dataclass
class RunRecord:
    """One (dataset, detector, seed) run."""

    dataset: str
    detector: str
    seed: int
    status: str                       # ok / error / timeout / oom / not installed
    message: str = ""
    auroc: float = float("nan")
    auprc: float = float("nan")
    recall_at_k: float = float("nan")
    seconds: float = float("nan")     # fit + score
    peak_mb: float = float("nan")     # peak RSS above the pre-fit size
    wall_seconds: float = float("nan")  # the whole run process
    by_type: Dict[str, float] = field(default_factory=dict)
    family: str = ""
    #: AUROC of each normalised score component of the target type on the labelled
    #: nodes (NaN = lowest; constant components left out)
    component_auroc: Dict[str, float] = field(default_factory=dict)

    @property
    def cell(self) -> str:
        """What a report cell shows for a failed run."""
        return self.status if not self.message else f"{self.status}: {self.message}"


def _params(spec: DetectorSpec, seed: int, node_type: str, quick: bool) -> Dict[str, Any]:
    params = dict(spec.params)
    if quick:
        params.update(spec.quick)
    if spec.seeded:
        params["seed"] = seed
    if spec.node_type:
        params["node_type"] = node_type
    return params


def _import_target(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _reset_peak_rss() -> Optional[float]:
    """Reset the kernel's peak-RSS mark; the current RSS in MiB, or None if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _proc_status_mb("VmRSS")
    except OSError:
        return None


def _proc_status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(key)


def _maxrss_mb() -> float:
    import resource
    import sys
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _current_rss_mb() -> float:
    try:
        return _proc_status_mb("VmRSS")
    except OSError:
        return _maxrss_mb()


def _short(exc: BaseException, limit: int = 160) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text
                                              or "out of memory" in text)


def execute_run(job: Mapping[str, Any]) -> Dict[str, Any]:
    """Run one job in this process: load the graph, fit + score, measure.

    ``job``: ``detector``, ``target``, ``params``, ``graph_path`` (a pickled
    :class:`LabelledGraph`), optional ``requires`` (a module imported first) and
    ``threads`` (``torch.set_num_threads``). Returns a dict of :class:`RunRecord`
    fields.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _execute_run(job)


def _execute_run(job: Mapping[str, Any]) -> Dict[str, Any]:
    from .evaluate import run_detector
    start = time.perf_counter()
    try:
        if job.get("threads"):
            torch.set_num_threads(int(job["threads"]))
        if job.get("requires"):
            importlib.import_module(job["requires"])   # imported before the clock starts
        with open(job["graph_path"], "rb") as f:
            graph = pickle.load(f)
        detector = _import_target(job["target"])(**job["params"])
        base = _reset_peak_rss()
        if base is None:
            base = _current_rss_mb()
            peak_of = _maxrss_mb
        else:
            def peak_of() -> float:
                return _proc_status_mb("VmHWM")
        ev = run_detector(job["detector"], detector, graph)
        peak = max(peak_of() - base, 0.0)
        return {"status": "ok", **{k: float(ev.metrics[k])
                                   for k in ("auroc", "auprc", "recall_at_k")},
                "seconds": float(ev.seconds), "peak_mb": float(peak),
                "by_type": {k: float(v) for k, v in ev.by_type.items()},
                "component_auroc": {str(k): float(v)
                                    for k, v in ev.component_auroc.items()},
                "wall_seconds": time.perf_counter() - start}
    except Exception as exc:  # noqa: BLE001 - every failure becomes a table cell
        status = "oom" if _is_oom(exc) else "error"
        return {"status": status, "message": "" if status == "oom" else _short(exc),
                "traceback": traceback.format_exc(limit=8),
                "wall_seconds": time.perf_counter() - start}


def _child(job: Mapping[str, Any], conn) -> None:
    try:
        conn.send(execute_run(job))
    finally:
        conn.close()


def _context(isolation: str):
    if isolation == "forkserver":
        import importlib.util
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([m for m in PRELOAD
                                    if importlib.util.find_spec(m.split(".")[0])])
        return ctx
    return mp.get_context("spawn")


#: environment of the run processes (unless already set): OpenMP threads that sleep
#: instead of spinning while they wait. On a busy machine spinning threads make small
#: torch ops up to 100x slower and timings meaningless; on an idle one it changes little.
RUN_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "PYTHONWARNINGS": "ignore::FutureWarning"}


@contextmanager
def run_environment() -> Iterator[Dict[str, str]]:
    """Set :data:`RUN_ENV` (where unset) while run processes start; restored after."""
    added = {k: v for k, v in RUN_ENV.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield {k: os.environ[k] for k in RUN_ENV}
    finally:
        for k in added:
            os.environ.pop(k, None)


def run_isolated(job: Mapping[str, Any], timeout: float, isolation: str = "forkserver"
                 ) -> Dict[str, Any]:
    """:func:`execute_run` in a fresh process (``forkserver`` or ``spawn``; ``none``
    runs in this process, without timeout), killed after ``timeout`` seconds."""
    if isolation == "none":
        threads = torch.get_num_threads()
        try:
            return execute_run(job)
        finally:
            torch.set_num_threads(threads)
    if isolation not in ("forkserver", "spawn"):
        raise GraphadError(f"isolation must be 'forkserver', 'spawn' or 'none', "
                           f"got {isolation!r}")
    ctx = _context(isolation)
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(dict(job), send), daemon=True)
    start = time.perf_counter()
    with run_environment():
        proc.start()
    send.close()
    result: Optional[Dict[str, Any]] = None
    try:
        if not recv.poll(timeout):
            proc.kill()
            proc.join()
            return {"status": "timeout", "message": "",
                    "wall_seconds": time.perf_counter() - start}
        try:
            result = recv.recv()
        except EOFError:
            pass                          # died without an answer: see the exit code
    finally:
        recv.close()
    proc.join(30)                         # let it free its memory before the next run
    if proc.is_alive():
        proc.kill()
        proc.join()
    if result is not None:
        return result
    wall = time.perf_counter() - start
    if proc.exitcode == -9:
        return {"status": "oom", "message": "", "wall_seconds": wall,
                "traceback": "killed by SIGKILL (out of memory?)"}
    return {"status": "error", "message": f"process exited with code {proc.exitcode}",
            "wall_seconds": wall}


# ------------------------------------------------------------------ the benchmark
@dataclass
class BenchConfig:
    """What a benchmark run did, for the report header."""

    datasets: List[str]
    detectors: List[str]
    seeds: int
    timeout: float
    quick: bool
    isolation: str
    threads: Optional[int] = None
    command: str = ""
    target_types: Dict[str, str] = field(default_factory=dict)
    dataset_sizes: Dict[str, str] = field(default_factory=dict)
    detector_params: Dict[str, Dict[str, Any]] = field(default_factory=dict)


def default_isolation() -> str:
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def run_benchmark(datasets: Optional[Sequence[Union[str, Any]]] = None,
                  detectors: Optional[Sequence[str]] = None, seeds: Optional[int] = None,
                  out_dir: Optional[PathLike] = None, quick: bool = False,
                  timeout: Optional[float] = None, isolation: Optional[str] = None,
                  threads: Optional[int] = None, resume: bool = False, command: str = "",
                  echo: Callable[[str], None] = print) -> List[RunRecord]:
    """Run ``detectors`` x ``datasets`` x ``seeds``; write ``RESULTS.md``,
    ``results.csv`` and ``summary.csv`` to ``out_dir`` after every run (an
    interrupted benchmark keeps what it measured).

    Scripts calling this need the usual ``if __name__ == "__main__":`` guard (the run
    processes are started by ``multiprocessing``).

    Args:
        datasets: names (default :func:`benchmark_datasets`) or
            :class:`LabelledGraph` objects (named by their ``name``).
        detectors: names (default :func:`benchmark_detectors`).
        seeds: seeds ``0..seeds-1`` per seeded detector (default 3; quick 1).
        out_dir: report folder (None: no files).
        quick: small datasets, few epochs (the spec's ``quick`` parameters).
        timeout: seconds per run (default 1800; quick 120).
        isolation: ``forkserver`` (default on Linux), ``spawn`` or ``none``.
        threads: ``torch.set_num_threads`` in every run (default: torch's, the cores).
        resume: keep the runs of ``out_dir/results.csv`` and skip those that finished
            (``ok``); the report covers the old and the new runs.
        command: the command line to print in the report.
        echo: progress printer.

    Returns:
        One :class:`RunRecord` per run, failures included (and resumed ones).
    """
    from .report import read_runs, write_report
    datasets = list(datasets) if datasets else benchmark_datasets(quick)
    dataset_names = [d if isinstance(d, str) else d.name for d in datasets]
    if len(set(dataset_names)) != len(dataset_names):
        raise GraphadError(f"dataset names repeat: {dataset_names}")
    names = list(detectors) if detectors else benchmark_detectors()
    specs = [detector_spec(n) for n in names]
    seeds = int(seeds) if seeds is not None else (1 if quick else 3)
    if seeds < 1:
        raise GraphadError(f"seeds must be >= 1, got {seeds}")
    timeout = float(timeout) if timeout is not None else (
        QUICK_TIMEOUT if quick else DEFAULT_TIMEOUT)
    isolation = isolation or default_isolation()
    config = BenchConfig(list(dataset_names), list(names), seeds, timeout, quick,
                         isolation, threads, command)
    config.detector_params = {s.name: _params(s, 0, "<target>", quick) for s in specs}
    kept: List[RunRecord] = []
    if resume and out_dir is not None and (Path(out_dir) / "results.csv").exists():
        kept = read_runs(Path(out_dir) / "results.csv")
        config.datasets += [d for d in dict.fromkeys(r.dataset for r in kept)
                            if d not in config.datasets]
        config.detectors += [d for d in dict.fromkeys(r.detector for r in kept)
                             if d not in config.detectors]
    finished = {(r.dataset, r.detector, r.seed) for r in kept if r.status == "ok"}
    records = [r for r in kept if (r.dataset, r.detector, r.seed) in finished]
    if finished:
        echo(f"resuming: {len(finished)} finished runs kept from {out_dir}")
    plan = [(item, name, spec, seed) for item, name in zip(datasets, dataset_names)
            for spec in specs for seed in range(seeds if spec.seeded else 1)
            if (name, spec.name, seed) not in finished]
    # runs of the selection that did not finish (failures of an earlier pass) are redone
    planned = {(name, spec.name, seed) for _, name, spec, seed in plan}
    records += [r for r in kept if (r.dataset, r.detector, r.seed) not in finished
                and (r.dataset, r.detector, r.seed) not in planned]

    def report() -> None:
        if out_dir is not None:
            write_report(out_dir, records, config)

    with tempfile.TemporaryDirectory(prefix="graphad_bench_") as tmp:
        done, current, path, load_error = 0, None, None, None
        for item, dataset, spec, seed in plan:
            if dataset != current:
                current = dataset
                path, load_error = _prepare_dataset(item, dataset, quick, config, tmp,
                                                    echo)
            done += 1
            if load_error is not None:
                rec = RunRecord(dataset, spec.name, seed, "error",
                                f"load failed: {load_error}", family=spec.family)
            elif _requirement_missing(spec):
                rec = RunRecord(dataset, spec.name, seed, "not installed",
                                family=spec.family)
            else:
                job = {"detector": spec.name, "target": spec.target,
                       "params": _params(spec, seed, config.target_types[dataset], quick),
                       "graph_path": str(path), "requires": spec.requires,
                       "threads": threads}
                out = run_isolated(job, timeout, isolation)
                out.pop("traceback", None)
                rec = RunRecord(dataset, spec.name, seed, family=spec.family, **out)
            records.append(rec)
            echo(_progress_line(done, len(plan), rec))
            report()
    report()
    if out_dir is not None:
        echo(f"wrote {Path(out_dir) / 'RESULTS.md'}, results.csv, summary.csv")
    return records


def _prepare_dataset(item: Any, name: str, quick: bool, config: BenchConfig, tmp: str,
                     echo: Callable[[str], None]):
    """Load (or take) a dataset and pickle it for the runs: ``(path, None)`` or
    ``(None, error message)``."""
    echo(f"loading {name}")
    t0 = time.perf_counter()
    try:
        graph = load_dataset(item, quick) if isinstance(item, str) else item
    except Exception as exc:  # noqa: BLE001 - a missing set is a row of error cells
        echo(f"  cannot load {name}: {_short(exc)}")
        return None, _short(exc)
    config.target_types[name] = graph.target_type
    config.dataset_sizes[name] = _describe(graph)
    echo(f"  {config.dataset_sizes[name]} ({time.perf_counter() - t0:.1f} s)")
    path = Path(tmp) / f"{name}.pkl"
    with open(path, "wb") as f:
        pickle.dump(graph, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path, None


def _describe(graph) -> str:
    data = graph.bundle.data
    n = sum(data[t].num_nodes for t in data.node_types)
    m = sum(data[e].num_edges for e in graph.bundle.edge_types)
    labels = graph.labels[graph.labels["node_type"] == graph.target_type]
    return (f"{len(data.node_types)} node type(s), {n:,} nodes, {m:,} edges; "
            f"target '{graph.target_type}': {len(labels):,} labelled, "
            f"{int(labels['label'].sum()):,} anomalies")


def _progress_line(done: int, total: int, rec: RunRecord) -> str:
    head = f"[{done}/{total}] {rec.dataset:<14} {rec.detector:<15} seed {rec.seed}"
    if rec.status != "ok":
        return f"{head}  {rec.cell}  ({rec.wall_seconds:.1f} s)"
    return (f"{head}  AUROC {rec.auroc:.3f}  AUPRC {rec.auprc:.3f}  "
            f"R@k {rec.recall_at_k:.3f}  {rec.seconds:.1f} s  {rec.peak_mb:.0f} MB")
