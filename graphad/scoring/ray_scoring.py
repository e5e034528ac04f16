"""Sharded batch scoring on Ray Data (``pip install 'graphad[ray]'``).

The shards of :mod:`graphad.scoring.shards` mapped over a pool of Ray actors: each
actor loads the saved model and builds the graph from the schema once, then writes the
shards it is handed (the same :func:`~graphad.scoring.shards.score_shard` rows and the
same atomic Parquet files as the local path); the driver appends each finished shard to
the manifest as it streams back, so a killed job resumes like a local one and the
folder holds exactly the rows of :func:`~graphad.scoring.shards.write_shards`.

Every actor scores the whole graph once (the components use whole-graph statistics), so
an actor needs the memory of whole-graph scoring; the pool spreads the shards' writing
and the model's scoring over the cluster's machines, not the graph.

On a cluster (``ray start --head`` on one machine, ``ray start --address HEAD:6379``
on the others, graphad and the tables reachable from every node)::

    RAY_ADDRESS=HEAD:6379 graphad score --engine ray --workers 8 --model m \\
        --schema s.yaml --out /shared/scores/ --shard-size 100000

Without ``RAY_ADDRESS`` a local Ray instance with ``workers`` CPUs is started.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

import pandas as pd

from ..errors import GraphadError
from ..typing import NodeType
from .shards import (Progress, _cut, _type_rows, finish_shard, open_run, shard_name,
                     shard_plan, write_shard)


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise GraphadError("scoring on Ray needs Ray Data: pip install 'graphad[ray]'"
                           ) from exc
    return ray


class ShardWriter:
    """A Ray actor: the model and graph loaded once; ``__call__`` writes the shards of
    a batch of ``{node_type, shard, start, stop}`` rows and returns their manifest
    records."""

    def __init__(self, model_path: str, schema_path: str, tables_dir: Optional[str],
                 out_dir: str):
        from ..cli.model import build_from_schema
        from ..detectors.persistence import load_detector
        self.detector = load_detector(model_path)
        self.bundle = build_from_schema(schema_path, tables_dir, fitted=self.detector)
        self.out_dir = out_dir
        self._rows: Dict[NodeType, pd.DataFrame] = {}

    def _type_rows(self, node_type: NodeType) -> pd.DataFrame:
        if not self._rows:
            scored = self.detector.scores_frame(self.bundle)
            self._rows = {t: _type_rows(scored, t) for t in self.bundle.node_types}
        return self._rows[node_type]

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        import numpy as np
        records = []
        for t, k, a, b in zip(batch["node_type"], batch["shard"], batch["start"],
                              batch["stop"]):
            table = _cut(self._type_rows(t), np.arange(int(a), int(b)))
            records.append(write_shard(self.out_dir, shard_name(t, int(k)), table))
        return pd.DataFrame(records)


def write_shards_ray(model_path: Any, schema_path: Any, out_dir: Any,
                     shard_size: int = 100_000, tables_dir: Optional[Any] = None,
                     workers: int = 2, node_types: Optional[Sequence[NodeType]] = None,
                     echo: Callable[[str], None] = lambda s: None,
                     detector: Any = None, graph: Any = None) -> Dict[str, int]:
    """:func:`~graphad.scoring.shards.write_shards` of a saved model on a schema's
    tables, the shards written by ``workers`` Ray actors (see the module docstring).
    ``detector`` / ``graph``: the loaded model and built graph where the caller has
    them already (the driver needs them for the plan; the actors load their own).

    Returns:
        ``{"shards": total, "written": now, "resumed": already finished, "rows": total}``.
    """
    ray = _ray()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise GraphadError(f"workers must be a positive integer, got {workers!r}")
    from ..cli.model import build_from_schema
    from ..data.bundle import as_bundle
    from ..detectors.persistence import load_detector
    detector = load_detector(model_path) if detector is None else detector
    bundle = (build_from_schema(str(schema_path), tables_dir, fitted=detector)
              if graph is None else as_bundle(graph))
    out = Path(out_dir)
    finished = open_run(detector, bundle, out, shard_size)
    plan = shard_plan(bundle, list(node_types) if node_types else bundle.node_types,
                      shard_size)
    todo = [{"node_type": t, "shard": k, "start": int(pos[0]), "stop": int(pos[-1]) + 1}
            for t, k, pos in plan if shard_name(t, k) not in finished]
    echo(f"{len(plan)} shard(s) of at most {shard_size:,} nodes; {len(plan) - len(todo)} "
         f"already finished, {len(todo)} to write on {workers} Ray worker(s)")
    if todo:
        started = not ray.is_initialized()
        if started:
            ray.init(num_cpus=None if _cluster_address() else workers,
                     include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().print_on_execution_start = False
        try:
            progress = Progress(len(todo), echo)
            records = ray.data.from_items(todo, override_num_blocks=len(todo)).map_batches(
                ShardWriter, batch_size=1, batch_format="pandas", concurrency=workers,
                num_cpus=1, fn_constructor_kwargs={
                    "model_path": str(Path(model_path).resolve()),
                    "schema_path": str(Path(schema_path).resolve()),
                    "tables_dir": None if tables_dir is None else
                    str(Path(tables_dir).resolve()),
                    "out_dir": str(out.resolve())})
            for record in records.iter_rows():
                record = {"kind": "shard", "name": record["name"],
                          "rows": int(record["rows"]), "sha256": record["sha256"]}
                finish_shard(out, record)
                progress.step(record["rows"])
        finally:
            if started:
                ray.shutdown()
    return {"shards": len(plan), "written": len(todo), "resumed": len(plan) - len(todo),
            "rows": sum(len(pos) for _, _, pos in plan)}


def _cluster_address() -> Optional[str]:
    import os
    return os.environ.get("RAY_ADDRESS") or None
