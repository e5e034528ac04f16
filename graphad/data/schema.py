"""``GraphSchema``: which table holds which node type and which relation.

A schema is written as a dict or YAML file::

    nodes:
      user:   {table: users, id: user_id, numeric: [age, balance], categorical: [country]}
      device: {table: devices, id: device_id}
      review: {table: reviews, id: review_id, modality: text, column: text}
      photo:  {table: photos, id: photo_id, modality: image, column: path}
      spend:  {table: series, id: series_id, modality: series,
               points: {table: transactions, key: series_id, time: ts, value: amount}}
    relations:
      - {src: user, rel: uses, dst: device, table: user_device,
         src_key: user_id, dst_key: device_id}
      - {src: user, rel: pays, dst: merchant, table: payments,
         src_key: user_id, dst_key: merchant_id, attrs: [amount, time]}
    tables:            # optional: table name -> CSV / Parquet path (relative to the YAML)
      users: users.parquet

Entity types have no ``modality``; observation types have one of ``MODALITIES`` and
are linked to their entities by ordinary relations. The schema checks its own shape
here; the tables are checked against it by :func:`graphad.build_graph`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

import yaml

from ..errors import SchemaError
from ..typing import EdgeType, NodeType

MODALITIES = ("text", "image", "series")


@dataclass(frozen=True)
class SeriesPoints:
    """Long table of (series id, time, value) points for a ``series`` node type."""

    table: str
    key: str
    value: str
    time: Optional[str] = None


@dataclass(frozen=True)
class NodeSpec:
    """One node type: its table, id column and feature or modality columns."""

    name: NodeType
    table: str
    id: str
    numeric: List[str] = field(default_factory=list)
    categorical: List[str] = field(default_factory=list)
    modality: Optional[str] = None
    column: Optional[str] = None
    encoder: Optional[Union[str, Dict[str, Any]]] = None
    points: Optional[SeriesPoints] = None

    @property
    def is_observation(self) -> bool:
        return self.modality is not None


@dataclass(frozen=True)
class RelationSpec:
    """One relation ``(src, rel, dst)`` read from ``table``'s key columns.

    ``on_unknown``: what a row whose key names no node does: ``"error"`` (default: the
    build stops, naming the rows) or ``"drop"`` (the row is left out, with one warning
    that counts them).

    ``time``: the column that holds when each edge happened (numbers, datetimes or ISO
    8601 text), read as seconds into ``data[edge_type].time`` (PyG's name for edge
    times), which the ``burst`` component reads. When not given, the first of ``attrs``
    named like a time (:func:`looks_like_time`) is taken; ``time: none`` takes none.
    """

    src: NodeType
    rel: str
    dst: NodeType
    table: str
    src_key: str
    dst_key: str
    attrs: List[str] = field(default_factory=list)
    on_unknown: str = "error"
    time: Optional[str] = None

    @property
    def edge_type(self) -> EdgeType:
        return (self.src, self.rel, self.dst)

    @property
    def time_column(self) -> Optional[str]:
        """The column read as the edge's time: ``time``, else the first of ``attrs``
        that :func:`looks_like_time`; None for ``time: none`` or when there is none."""
        if self.time is not None:
            return None if self.time == NO_TIME else self.time
        return next((a for a in self.attrs if looks_like_time(a)), None)


#: ``time: none`` in a relation: no column is read as its edges' time
NO_TIME = "none"
_TIME_NAMES = {"time", "timestamp", "ts", "date", "datetime", "created", "created_at"}
_TIME_SUFFIXES = ("_time", "_timestamp", "_ts", "_date", "_datetime", "_at")


def looks_like_time(column: str) -> bool:
    """Whether a column's name says it holds a time: ``time``, ``timestamp``, ``ts``,
    ``date``, ``datetime``, ``created``, or a name ending in ``_time``, ``_timestamp``,
    ``_ts``, ``_date``, ``_datetime`` or ``_at`` (any case)."""
    name = column.lower()
    return name in _TIME_NAMES or name.endswith(_TIME_SUFFIXES)


_NODE_KEYS = {"table", "id", "numeric", "categorical", "modality", "column", "encoder",
              "points"}
_REL_KEYS = {"src", "rel", "dst", "table", "src_key", "dst_key", "attrs", "on_unknown",
             "time"}
ON_UNKNOWN = ("error", "drop")


class GraphSchema:
    """Node types and relations of a heterogeneous multimodal graph.

    Args:
        nodes: node type -> spec dict (or :class:`NodeSpec`).
        relations: list of relation spec dicts (or :class:`RelationSpec`).
        tables: optional table name -> file path (CSV or Parquet).
    """

    def __init__(self, nodes: Mapping[str, Any], relations: List[Any] | None = None,
                 tables: Mapping[str, Union[str, Path]] | None = None):
        if not nodes:
            raise SchemaError("schema has no node types")
        self.nodes: Dict[NodeType, NodeSpec] = {
            name: spec if isinstance(spec, NodeSpec) else _node_spec(name, spec)
            for name, spec in nodes.items()}
        self.relations: List[RelationSpec] = [
            r if isinstance(r, RelationSpec) else _relation_spec(i, r)
            for i, r in enumerate(relations or [])]
        self.tables: Dict[str, Path] = {k: Path(v) for k, v in (tables or {}).items()}
        self._check()

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], base_dir: Union[str, Path, None] = None
                  ) -> "GraphSchema":
        unknown = set(spec) - {"nodes", "relations", "tables"}
        if unknown:
            raise SchemaError(f"unknown top-level schema key(s): {sorted(unknown)}")
        tables = dict(spec.get("tables") or {})
        if base_dir is not None:
            tables = {k: Path(base_dir) / v for k, v in tables.items()}
        return cls(spec.get("nodes") or {}, spec.get("relations") or [], tables)

    @classmethod
    def from_yaml(cls, path: Union[str, Path]) -> "GraphSchema":
        path = Path(path)
        try:
            spec = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise SchemaError(f"schema file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise SchemaError(f"schema file {path} is not valid YAML: {exc}") from None
        if not isinstance(spec, dict):
            raise SchemaError(f"schema file {path} must hold a mapping")
        return cls.from_dict(spec, base_dir=path.parent)

    @classmethod
    def load(cls, spec: Union["GraphSchema", Mapping, str, Path]) -> "GraphSchema":
        """A schema from itself, a dict or a YAML path."""
        if isinstance(spec, GraphSchema):
            return spec
        if isinstance(spec, Mapping):
            return cls.from_dict(spec)
        return cls.from_yaml(spec)

    # ---------------------------------------------------------------- output
    def to_dict(self) -> Dict[str, Any]:
        nodes = {}
        for name, s in self.nodes.items():
            d = {k: v for k, v in asdict(s).items() if k != "name" and v not in (None, [])}
            nodes[name] = d
        rels = [{k: v for k, v in asdict(r).items()
                 if v not in ([], None) and not (k == "on_unknown" and v == "error")}
                for r in self.relations]
        out: Dict[str, Any] = {"nodes": nodes, "relations": rels}
        if self.tables:
            out["tables"] = {k: str(v) for k, v in self.tables.items()}
        return out

    def to_yaml(self, path: Union[str, Path]) -> None:
        from .io import atomic_write_text
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    # ---------------------------------------------------------------- queries
    @property
    def node_types(self) -> List[NodeType]:
        return list(self.nodes)

    @property
    def entity_types(self) -> List[NodeType]:
        return [n for n, s in self.nodes.items() if not s.is_observation]

    @property
    def observation_types(self) -> List[NodeType]:
        return [n for n, s in self.nodes.items() if s.is_observation]

    @property
    def edge_types(self) -> List[EdgeType]:
        return [r.edge_type for r in self.relations]

    def __repr__(self) -> str:
        return (f"GraphSchema(nodes={self.node_types}, "
                f"relations={[r.edge_type for r in self.relations]})")

    def _check(self) -> None:
        seen = set()
        for r in self.relations:
            for end, key in ((r.src, r.src_key), (r.dst, r.dst_key)):
                if end not in self.nodes:
                    raise SchemaError(
                        f"relation {r.edge_type} (table '{r.table}', column '{key}') "
                        f"names unknown node type '{end}'; known: {self.node_types}")
            if r.edge_type in seen:
                raise SchemaError(f"relation {r.edge_type} is declared twice")
            if r.rel.startswith("rev_"):
                raise SchemaError(f"relation name '{r.rel}' may not start with 'rev_' "
                                  "(reverse relations are added automatically)")
            seen.add(r.edge_type)


def _listify(value: Any, where: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise SchemaError(f"{where} must be a list of column names, got {value!r}")
    return list(value)


def _node_spec(name: str, spec: Any) -> NodeSpec:
    if not isinstance(spec, Mapping):
        raise SchemaError(f"node type '{name}': spec must be a mapping, got {spec!r}")
    unknown = set(spec) - _NODE_KEYS
    if unknown:
        raise SchemaError(f"node type '{name}': unknown key(s) {sorted(unknown)}")
    for key in ("table", "id"):
        if not spec.get(key):
            raise SchemaError(f"node type '{name}': missing '{key}'")
    modality = spec.get("modality")
    if modality is not None and modality not in MODALITIES:
        raise SchemaError(f"node type '{name}': modality must be one of {MODALITIES}, "
                          f"got {modality!r}")
    points = spec.get("points")
    if modality == "series":
        if not isinstance(points, Mapping) or not {"table", "key", "value"} <= set(points):
            raise SchemaError(f"node type '{name}': a series needs points: "
                              "{table, key, value[, time]}")
        extra = set(points) - {"table", "key", "value", "time"}
        if extra:
            raise SchemaError(f"node type '{name}': unknown key(s) in points: "
                              f"{sorted(extra)}")
        points = SeriesPoints(**{k: points.get(k) for k in ("table", "key", "value", "time")})
    elif points is not None:
        raise SchemaError(f"node type '{name}': 'points' is only for modality 'series'")
    if modality in ("text", "image") and not spec.get("column"):
        raise SchemaError(f"node type '{name}': modality '{modality}' needs 'column'")
    return NodeSpec(name=name, table=str(spec["table"]), id=str(spec["id"]),
                    numeric=_listify(spec.get("numeric"), f"node type '{name}': numeric"),
                    categorical=_listify(spec.get("categorical"),
                                         f"node type '{name}': categorical"),
                    modality=modality, column=spec.get("column"),
                    encoder=spec.get("encoder"), points=points)


def _relation_spec(i: int, spec: Any) -> RelationSpec:
    if not isinstance(spec, Mapping):
        raise SchemaError(f"relation #{i}: spec must be a mapping, got {spec!r}")
    unknown = set(spec) - _REL_KEYS
    if unknown:
        raise SchemaError(f"relation #{i}: unknown key(s) {sorted(unknown)}")
    missing = [k for k in ("src", "rel", "dst", "table", "src_key", "dst_key")
               if not spec.get(k)]
    if missing:
        raise SchemaError(f"relation #{i} ({spec.get('src')}, {spec.get('rel')}, "
                          f"{spec.get('dst')}): missing {missing}")
    on_unknown = spec.get("on_unknown", "error")
    if on_unknown not in ON_UNKNOWN:
        raise SchemaError(f"relation #{i} ({spec['src']}, {spec['rel']}, {spec['dst']}): "
                          f"on_unknown must be one of {list(ON_UNKNOWN)}, got "
                          f"{on_unknown!r}")
    return RelationSpec(src=spec["src"], rel=spec["rel"], dst=spec["dst"],
                        table=str(spec["table"]), src_key=spec["src_key"],
                        dst_key=spec["dst_key"],
                        attrs=_listify(spec.get("attrs"), f"relation #{i}: attrs"),
                        on_unknown=on_unknown, time=_time_key(i, spec))


def _time_key(i: int, spec: Mapping[str, Any]) -> Optional[str]:
    time = spec.get("time")
    if time is not None and (not isinstance(time, str) or not time):
        raise SchemaError(f"relation #{i} ({spec['src']}, {spec['rel']}, {spec['dst']}): "
                          f"time must be a column name or 'none', got {time!r}")
    return time
