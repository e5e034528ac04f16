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
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

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


def open_run(detector: Any, bundle: GraphBundle, out_dir: Any,
             shard_size: int) -> Dict[str, int]:
    """Start (or resume) a sharded run in ``out_dir``: write the manifest's header on a
    new folder, check it against this run on an old one. Returns ``{shard name: rows}``
    of the shards already finished (listed and matching their hash)."""
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise GraphadError(f"shard_size must be a positive integer, got {shard_size!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(detector, bundle, shard_size)
    records = read_manifest(out)
    header = next((r for r in records if r.get("kind") == "run"), None)
    if header is None:
        if any(out.glob("node_type=*")):
            raise GraphadError(f"{out} holds shards but no manifest: write to a new folder")
        _append(out / MANIFEST, {"kind": "run", "format": FORMAT,
                                 "fingerprint": fingerprint, "shard_size": shard_size})
    elif header.get("fingerprint") != fingerprint:
        raise GraphadError(f"{out} holds shards of another model, graph or shard size; "
                           "write to a new folder (or delete it) to start again")
    finished = {}
    for r in records:
        if r.get("kind") == "shard":
            path = out / r["name"]
            if path.is_file() and file_sha256(path) == r["sha256"]:
                finished[r["name"]] = r["rows"]
    return finished


def shard_plan(bundle: GraphBundle, node_types: Sequence[NodeType],
               shard_size: int) -> List[Tuple[NodeType, int, np.ndarray]]:
    """``(node type, shard number, node positions)`` of every shard, in order."""
    return [(t, k, np.arange(k * shard_size,
                             min((k + 1) * shard_size, bundle.data[t].num_nodes)))
            for t in node_types for k in range(-(-bundle.data[t].num_nodes // shard_size))]


def write_shard(out_dir: Any, name: str, table) -> Dict[str, Any]:
    """Write one shard's ``pyarrow.Table`` atomically under ``out_dir``; its manifest
    record (to :func:`finish_shard` once the caller owns the manifest)."""
    from ..data.io import atomic_write_parquet
    path = Path(out_dir) / name
    atomic_write_parquet(path, table.to_pandas())
    return {"kind": "shard", "name": name, "rows": table.num_rows,
            "sha256": file_sha256(path)}


def finish_shard(out_dir: Any, record: Dict[str, Any]) -> None:
    """Mark a written shard finished in the manifest."""
    _append(Path(out_dir) / MANIFEST, record)


def write_shards(detector: Any, graph: Any, out_dir: Any, shard_size: int = 100_000,
                 node_types: Optional[Sequence[NodeType]] = None,
                 scored: Optional[pd.DataFrame] = None,
                 echo: Callable[[str], None] = lambda s: None) -> Dict[str, int]:
    """Score every node of ``graph`` into shards of at most ``shard_size`` nodes per
    type under ``out_dir`` (see the module docstring); resumes a killed run.
    ``scored``: ``detector.scores_frame(graph)`` where already computed. The same run
    on a Ray cluster: :func:`graphad.scoring.ray_scoring.write_shards_ray`.

    Returns:
        ``{"shards": total, "written": now, "resumed": already finished, "rows": total}``.

    Raises:
        GraphadError: ``out_dir`` holds shards of another model, graph or shard size.
    """
    bundle = as_bundle(graph)
    finished = open_run(detector, bundle, out_dir, shard_size)
    plan = shard_plan(bundle, list(node_types) if node_types else bundle.node_types,
                      shard_size)
    todo = [(t, k, pos) for t, k, pos in plan if shard_name(t, k) not in finished]
    echo(f"{len(plan)} shard(s) of at most {shard_size:,} nodes; {len(plan) - len(todo)} "
         f"already finished, {len(todo)} to write")
    if todo and scored is None:
        scored = detector.scores_frame(bundle)
    per_type = {t: _type_rows(scored, t) for t in {t for t, _, _ in todo}}
    progress = Progress(len(todo), echo)
    for t, k, pos in todo:
        record = write_shard(out_dir, shard_name(t, k), _cut(per_type[t], pos))
        finish_shard(out_dir, record)
        progress.step(record["rows"])
    total = sum(len(pos) for _, _, pos in plan)
    return {"shards": len(plan), "written": len(todo), "resumed": len(plan) - len(todo),
            "rows": total}


def read_shards(out_dir: Any, node_types: Optional[Sequence[NodeType]] = None
                ) -> pd.DataFrame:
    """The finished shards of a folder as one frame (``node_type`` first; the types in
    the order given, else by name; each type's rows in node order), as listed in its
    manifest."""
    out = Path(out_dir)
    names = [r["name"] for r in read_manifest(out) if r.get("kind") == "shard"]
    order = {t: i for i, t in enumerate(node_types or [])}

    def key(name: str):
        t = name.split("/")[0].split("=", 1)[1]
        return order.get(t, len(order)), t, name
    parts = []
    for name in sorted(set(names), key=key):
        frame = pd.read_parquet(out / name)
        parts.append(frame.assign(node_type=name.split("/")[0].split("=", 1)[1]))
    if not parts:
        return pd.DataFrame(columns=["node_type", "id", "score"])
    frame = pd.concat(parts, ignore_index=True)
    return frame[["node_type"] + [c for c in frame.columns if c != "node_type"]]


class Progress:
    """``k/n shards, rows (rows/s)`` every 50 shards and at the end."""

    def __init__(self, total: int, echo: Callable[[str], None]):
        self.total, self.echo = total, echo
        self.done, self.rows, self.start = 0, 0, time.perf_counter()

    def step(self, rows: int) -> None:
        self.done, self.rows = self.done + 1, self.rows + rows
        if self.done == self.total or self.done % 50 == 0:
            rate = self.rows / max(time.perf_counter() - self.start, 1e-9)
            self.echo(f"  {self.done}/{self.total} shards, {self.rows:,} rows "
                      f"({rate:,.0f} rows/s)")
