"""Sharded, resumable batch scoring: one Parquet file per shard of seed nodes in
hive-style folders (``node_type=user/part-00000.parquet``), so that any Parquet reader
sees the node type, and an append-only manifest of the finished shards.

A run killed at any point resumes where it stopped: a shard counts as finished once its
file has been renamed into place *and* its manifest line (rows and SHA-256 of the file)
has been appended; on resume every listed shard is checked against its hash, a torn last
line is ignored and anything not listed is written again. The rows of a resumed run are
exactly those of an uninterrupted one, none lost, none twice.

:func:`score_shard` gives the rows of any set of seed nodes; :func:`write_shards` runs
it over every shard of every node type. Today the graph is scored once per process (the
components need the whole graph's statistics) and the shards are cut from that
scoring; memory is that of whole-graph scoring.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..data.bundle import GraphBundle, as_bundle
from ..data.io import file_sha256
from ..errors import GraphadError
from ..typing import NodeType

MANIFEST = "_manifest.jsonl"
FORMAT = 1


def shard_name(node_type: NodeType, k: int) -> str:
    """``node_type=<type>/part-<k:05d>.parquet``."""
    return f"node_type={node_type}/part-{k:05d}.parquet"


def score_shard(detector: Any, graph: Any, node_type: NodeType, seed_ids: Iterable[Any],
                scored: Optional[pd.DataFrame] = None):
    """The scores of ``seed_ids`` (external ids of ``node_type``) as a
    ``pyarrow.Table``: ``id`` (text), ``score``, ``rank``, ``pred``, ``confidence`` and
    every component ``c_<name>``, in the order given.

    Args:
        scored: ``detector.scores_frame(graph)`` where already computed (a sharded run
            scores once and cuts every shard from it).
    """
    bundle = as_bundle(graph)
    positions = _positions(bundle, node_type, list(seed_ids))
    frame = scored if scored is not None else detector.scores_frame(bundle)
    return _cut(_type_rows(frame, node_type), positions)


def _type_rows(frame: pd.DataFrame, node_type: NodeType) -> pd.DataFrame:
    """The rows of one type in index order, with the columns that type has (a
    component of another type is all-NaN here): every shard of a type gets the same
    columns."""
    rows = frame[frame["node_type"] == node_type].reset_index(drop=True)
    rows = rows.drop(columns=["node_type"]).dropna(axis=1, how="all")
    return rows.assign(id=rows["id"].astype(str))


def _cut(rows: pd.DataFrame, positions: np.ndarray):
    import pyarrow as pa
    return pa.Table.from_pandas(rows.iloc[positions].reset_index(drop=True),
                                preserve_index=False)


def _positions(bundle: GraphBundle, node_type: NodeType, seed_ids: List[Any]) -> np.ndarray:
    """Index of each seed id, in the order given; unknown ids are an error naming them."""
    from .graphview import _lookup, check_type
    check_type(bundle, node_type)
    if not seed_ids:
        raise GraphadError("score_shard needs at least one seed id")
    pos = _lookup(bundle, node_type, seed_ids)
    if (pos < 0).any():
        bad = [seed_ids[i] for i in np.flatnonzero(pos < 0)][:5]
        raise GraphadError(f"{int((pos < 0).sum())} {node_type} id(s) not in the graph: "
                           f"{', '.join(map(repr, bad))}")
    return pos.astype(np.int64)


def _fingerprint(detector: Any, bundle: GraphBundle, shard_size: int) -> str:
    """What a resumed run must share with the one that started: the fitted detector
    (its training scores), the graph's ids per type and the shard size."""
    h = hashlib.sha256(f"{FORMAT}|{type(detector).__name__}|{shard_size}".encode())
    for t, s in sorted((getattr(detector, "decision_scores_", None) or {}).items()):
        h.update(t.encode())
        h.update(s.detach().cpu().numpy().tobytes())
    for t in bundle.node_types:
        h.update(f"|{t}|".encode())
        h.update("\x1f".join(map(repr, bundle.ids.ids(t))).encode())
    return h.hexdigest()


def read_manifest(out_dir: Path) -> List[Dict[str, Any]]:
    """The manifest's records; a torn last line (a kill mid-append) is ignored."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _append(path: Path, record: Dict[str, Any]) -> None:
    """One line, fsynced; a torn last line (a kill mid-append) is closed first so that
    it stays one unreadable line instead of swallowing this record."""
    torn = False
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if torn else "") + json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_shards(detector: Any, graph: Any, out_dir: Any, shard_size: int = 100_000,
                 node_types: Optional[Sequence[NodeType]] = None,
                 scored: Optional[pd.DataFrame] = None,
                 echo: Callable[[str], None] = lambda s: None) -> Dict[str, int]:
    """Score every node of ``graph`` into shards of at most ``shard_size`` nodes per
    type under ``out_dir`` (see the module docstring); resumes a killed run.
    ``scored``: ``detector.scores_frame(graph)`` where already computed.

    Returns:
        ``{"shards": total, "written": now, "resumed": already finished, "rows": total}``.

    Raises:
        GraphadError: ``out_dir`` holds shards of another model, graph or shard size.
    """
    from ..data.io import atomic_write_parquet
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise GraphadError(f"shard_size must be a positive integer, got {shard_size!r}")
    bundle = as_bundle(graph)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    types = list(node_types) if node_types else bundle.node_types
    fingerprint = _fingerprint(detector, bundle, shard_size)
    records = read_manifest(out)
    header = next((r for r in records if r.get("kind") == "run"), None)
    manifest = out / MANIFEST
    if header is None:
        if any(out.glob("node_type=*")):
            raise GraphadError(f"{out} holds shards but no manifest: write to a new folder")
        _append(manifest, {"kind": "run", "format": FORMAT, "fingerprint": fingerprint,
                           "shard_size": shard_size})
    elif header.get("fingerprint") != fingerprint:
        raise GraphadError(f"{out} holds shards of another model, graph or shard size; "
                           "write to a new folder (or delete it) to start again")
    finished = {}
    for r in records:
        if r.get("kind") == "shard":
            path = out / r["name"]
            if path.is_file() and file_sha256(path) == r["sha256"]:
                finished[r["name"]] = r["rows"]
    plan = [(t, k, np.arange(k * shard_size,
                              min((k + 1) * shard_size, bundle.data[t].num_nodes)))
            for t in types for k in range(-(-bundle.data[t].num_nodes // shard_size))]
    todo = [(t, k, pos) for t, k, pos in plan if shard_name(t, k) not in finished]
    echo(f"{len(plan)} shard(s) of at most {shard_size:,} nodes; {len(plan) - len(todo)} "
         f"already finished, {len(todo)} to write")
    if todo and scored is None:
        scored = detector.scores_frame(bundle)
    per_type = {t: _type_rows(scored, t) for t in {t for t, _, _ in todo}}
    start, rows = time.perf_counter(), 0
    for n, (t, k, pos) in enumerate(todo, start=1):
        table = _cut(per_type[t], pos)
        name = shard_name(t, k)
        path = out / name
        atomic_write_parquet(path, table.to_pandas())
        _append(manifest, {"kind": "shard", "name": name, "rows": table.num_rows,
                           "sha256": file_sha256(path)})
        rows += table.num_rows
        if n == len(todo) or n % 50 == 0:
            rate = rows / max(time.perf_counter() - start, 1e-9)
            echo(f"  {n}/{len(todo)} shards, {rows:,} rows ({rate:,.0f} rows/s)")
    total = sum(len(pos) for _, _, pos in plan)
    return {"shards": len(plan), "written": len(todo), "resumed": len(plan) - len(todo),
            "rows": total}
