"""Tables + :class:`GraphSchema` -> :class:`GraphBundle` (a typed ``HeteroData``)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from ..errors import DataValidationError, GraphadError
from ..typing import reverse_edge_type
from .bundle import GraphBundle
from .idmap import IdMap
from .io import read_table
from .schema import GraphSchema, NodeSpec, RelationSpec
from .validate import check_ids, check_not_empty, check_text, numeric_column, require_columns

TableSource = Union[pd.DataFrame, str, Path]


def build_graph(tables: Optional[Mapping[str, TableSource]] = None,
                schema: Union[GraphSchema, Mapping, str, Path, None] = None, *,
                fitted: Optional[GraphBundle] = None, cache_dir: Union[str, Path, None] = None,
                use_cache: bool = True, base_dir: Union[str, Path, None] = None,
                encoders: Optional[Mapping[str, Any]] = None,
                allow_paths_outside: bool = False) -> GraphBundle:
    """Build a typed multimodal graph from tables.

    Args:
        tables: table name -> DataFrame or CSV / Parquet path. Tables not given here
            are read from the schema's ``tables`` paths.
        schema: a :class:`GraphSchema`, a schema dict or a YAML path.
        fitted: a bundle built earlier, or a fitted detector (which keeps the
            featurisation of its training graph, :mod:`graphad.data.featurizer`): its
            fitted feature transforms and encoders are reused so new data is featurised
            exactly like the training graph (nothing is re-fitted).
        cache_dir: embedding cache folder (default ``$GRAPHAD_CACHE`` or
            ``~/.cache/graphad``); ``use_cache=False`` disables it.
        base_dir: folder that relative table and image paths are resolved against
            (default: tables as given, the YAML's own tables relative to the YAML;
            images relative to the folder of the schema's first table file, else the
            working directory).
        encoders: node type -> encoder spec overriding the schema's.
        allow_paths_outside: read image files outside ``base_dir`` (absolute paths,
            ``../``); refused by default, naming the rows, so that a table from someone
            else cannot make graphad read any file of the machine.

    Returns:
        GraphBundle: ``data`` (``HeteroData`` with reverse relations), ``ids`` and the
        raw rows. The caller's tables are never modified.
    """
    if schema is None:
        raise TypeError("build_graph needs a schema")
    schema = GraphSchema.load(schema)
    frames = _load_tables(schema, tables or {}, base_dir)
    if base_dir is None:
        base_dir = next((p.parent for p in schema.tables.values()), Path.cwd())
    featurizer = None
    if fitted is not None and not isinstance(fitted, GraphBundle):
        from .featurizer import Featurizer
        featurizer = Featurizer.of(fitted)
        if featurizer is None:
            raise GraphadError(f"{type(fitted).__name__} keeps no featurisation to reuse "
                               "(fit it on a graph built from tables)")
        fitted = featurizer
    builder = _Builder(schema, frames, fitted, cache_dir, use_cache, Path(base_dir),
                       dict(encoders or {}))
    builder.allow_paths_outside = allow_paths_outside
    bundle = builder.build()
    if featurizer is not None:
        featurizer.check(bundle)
    return bundle


def _load_tables(schema: GraphSchema, given: Mapping[str, TableSource],
                 base_dir: Union[str, Path, None] = None) -> Dict[str, pd.DataFrame]:
    """The tables the schema needs: DataFrames as given, files read (a relative path
    against ``base_dir`` where one is given)."""
    needed = {s.table for s in schema.nodes.values()} | {r.table for r in schema.relations}
    needed |= {s.points.table for s in schema.nodes.values() if s.points is not None}
    frames: Dict[str, pd.DataFrame] = {}
    for name in sorted(needed):
        source = given.get(name, schema.tables.get(name))
        if source is None:
            raise DataValidationError("table not given (pass it in `tables` or name its "
                                      "file under the schema's `tables`)", table=name)
        if isinstance(source, pd.DataFrame):
            frames[name] = source  # read only; never written to
        else:
            path = Path(source)
            if base_dir is not None and not path.is_absolute():
                path = Path(base_dir) / path
            frames[name] = read_table(path, name)
    return frames


class _Builder:
    def __init__(self, schema: GraphSchema, frames: Dict[str, pd.DataFrame],
                 fitted: Optional[GraphBundle], cache_dir, use_cache: bool,
                 base_dir: Path, encoders: Dict[str, Any]):
        self.schema, self.frames, self.fitted = schema, frames, fitted
        self.base_dir, self.encoder_specs = base_dir, encoders
        self.cache = None
        if use_cache:
            from ..encoders.cache import EmbeddingCache
            self.cache = EmbeddingCache(cache_dir)
        self.bundle = GraphBundle(data=HeteroData(), ids=IdMap(), schema=schema)
        if fitted is not None:
            self.bundle.transforms = dict(fitted.transforms)

    def build(self) -> GraphBundle:
        for spec in self.schema.nodes.values():
            self._add_nodes(spec)
        for rel in self.schema.relations:
            self._add_relation(rel)
        return self.bundle

    # ------------------------------------------------------------------ nodes
    def _add_nodes(self, spec: NodeSpec) -> None:
        frame = self.frames[spec.table]
        require_columns(frame, spec.table, [spec.id], "id column")
        require_columns(frame, spec.table, spec.numeric + spec.categorical)
        if spec.column:
            require_columns(frame, spec.table, [spec.column], f"{spec.modality} column")
        check_not_empty(frame, spec.table, spec.id)
        check_ids(frame, spec.table, spec.id, unique=True)
        rows = frame.reset_index(drop=True)
        parts: List[torch.Tensor] = []
        names: List[str] = []
        keep = np.ones(len(rows), dtype=bool)

        items: List[Any] = []
        if spec.modality is not None:
            items = self._observations(spec, rows)
            emb = self._encode_modality(spec, items)
            keep = ~torch.isnan(emb).any(dim=1).numpy()
            parts.append(emb)
            names += [f"{spec.modality}_{i}" for i in range(emb.shape[1])]
        if spec.numeric or spec.categorical:
            tab = self._tabular(spec, rows)
            parts.append(tab)
            names += self.bundle.transforms[f"tabular:{spec.name}"].feature_names

        if not keep.all():
            bad_ids = rows.loc[~keep, spec.id].tolist()
            self.bundle.dropped[spec.name] = bad_ids
            shown = ", ".join(map(repr, bad_ids[:10]))
            warnings.warn(f"node type '{spec.name}' (table '{spec.table}'): "
                          f"{len(bad_ids)} of {len(rows)} {spec.modality} observation(s) "
                          f"could not be encoded and were dropped: {shown}"
                          f"{' ...' if len(bad_ids) > 10 else ''}", stacklevel=3)
            if keep.sum() == 0:
                raise DataValidationError(f"no {spec.modality} observation could be "
                                          "encoded", table=spec.table, column=spec.column)
        rows = rows.loc[keep].reset_index(drop=True)
        self.bundle.ids.add(spec.name, rows[spec.id].tolist())
        store = self.bundle.data[spec.name]
        store.num_nodes = len(rows)
        if parts:
            mask = torch.as_tensor(keep)
            store.x = torch.cat([p[mask] for p in parts], dim=1).float().contiguous()
        self.bundle.raw[spec.name] = rows
        if spec.modality in ("image", "series"):
            self.bundle.items[spec.name] = [v for v, k in zip(items, keep) if k]
        self.bundle.feature_names[spec.name] = names
        self.bundle.modality[spec.name] = spec.modality

    def _tabular(self, spec: NodeSpec, rows: pd.DataFrame) -> torch.Tensor:
        from ..encoders.tabular import TabularEncoder
        key = f"tabular:{spec.name}"
        # raises naming table / column / rows; datetimes -> unix seconds, NaT -> NaN
        rows = rows.assign(**{col: numeric_column(rows, spec.table, col)
                              for col in spec.numeric})
        enc = self.bundle.transforms.get(key)
        if enc is None:
            enc = TabularEncoder(numeric=spec.numeric, categorical=spec.categorical)
            enc.fit(rows, table=spec.table)
            self.bundle.transforms[key] = enc
        return enc.transform(rows, table=spec.table)

    def _encode_modality(self, spec: NodeSpec, items: List[Any]) -> torch.Tensor:
        from ..encoders import get_encoder
        from ..encoders.cache import encode_cached
        key = f"encoder:{spec.name}"
        encoder = self.bundle.transforms.get(key)
        if encoder is None:
            encoder = get_encoder(self.encoder_specs.get(spec.name, spec.encoder),
                                  spec.modality)
        if encoder.requires_fit and key not in self.bundle.transforms:
            encoder.fit(items)
        self.bundle.transforms[key] = encoder
        return encode_cached(encoder, items, self.cache).float()

    def _observations(self, spec: NodeSpec, rows: pd.DataFrame) -> List[Any]:
        if spec.modality == "text":
            check_text(rows, spec.table, spec.column)
            return rows[spec.column].tolist()
        if spec.modality == "image":
            return self._image_paths(spec, rows)
        assert spec.points is not None  # guaranteed by the schema
        pts = self.frames[spec.points.table]
        cols = [spec.points.key, spec.points.value] + (
            [spec.points.time] if spec.points.time else [])
        require_columns(pts, spec.points.table, cols)
        values = numeric_column(pts, spec.points.table, spec.points.value).to_numpy()
        times = (numeric_column(pts, spec.points.table, spec.points.time).to_numpy()
                 if spec.points.time else None)
        groups = pd.Series(np.arange(len(pts))).groupby(pts[spec.points.key].to_numpy())
        index = groups.indices
        ids = rows[spec.id].tolist()
        if ids and not any(sid in index for sid in ids):
            keys = list(index)[:3]
            raise DataValidationError(
                f"no row's '{spec.points.key}' is one of the {len(ids)} series ids of "
                f"table '{spec.table}' (column '{spec.id}', e.g. {ids[:3]}); its values "
                f"look like {keys}: each point row's '{spec.points.key}' must hold the id "
                "of the series it belongs to", table=spec.points.table,
                column=spec.points.key)
        out = []
        for sid in ids:
            pos = index.get(sid)
            if pos is None:
                out.append((None, np.empty(0)))
                continue
            if times is not None:
                order = pos[np.argsort(times[pos], kind="stable")]
                out.append((times[order], values[order]))
            else:
                out.append((None, values[pos]))
        return out

    def _image_paths(self, spec: NodeSpec, rows: pd.DataFrame) -> List[Any]:
        """Image items with paths resolved against ``base_dir``; a path that leads
        outside it (absolute, ``../``, a symlink out) is refused unless allowed."""
        items = [self._resolve_path(v) for v in rows[spec.column].tolist()]
        if getattr(self, "allow_paths_outside", False):
            return items
        root = self.base_dir.resolve()
        outside = [i for i, v in enumerate(items) if isinstance(v, Path)
                   and not v.resolve().is_relative_to(root)]
        if outside:
            raise DataValidationError(
                f"{len(outside)} image path(s) lead outside the data folder {root} "
                "(build_graph(..., allow_paths_outside=True), or graphad "
                "--allow-paths-outside on the command line, reads them)",
                table=spec.table, column=spec.column,
                rows=[(i, str(rows[spec.column].iloc[i])) for i in outside])
        return items

    def _resolve_path(self, value: Any) -> Any:
        if isinstance(value, str):
            path = Path(value)
            return path if path.is_absolute() else self.base_dir / path
        return value

    # ------------------------------------------------------------------ relations
    def _add_relation(self, rel: RelationSpec) -> None:
        frame = self.frames[rel.table]
        require_columns(frame, rel.table, [rel.src_key, rel.dst_key], "key column")
        require_columns(frame, rel.table, rel.attrs, "edge attribute column")
        if rel.time_column:
            require_columns(frame, rel.table, [rel.time_column], "edge time column")
        check_ids(frame, rel.table, rel.src_key, unique=False)
        check_ids(frame, rel.table, rel.dst_key, unique=False)
        rows = frame.reset_index(drop=True)
        keep = np.ones(len(rows), dtype=bool)
        for end, col in ((rel.src, rel.src_key), (rel.dst, rel.dst_key)):
            dropped = self.bundle.dropped.get(end)
            if dropped:
                keep &= ~rows[col].isin(dropped).to_numpy()
        if rel.on_unknown == "drop":
            known = np.ones(len(rows), dtype=bool)
            for end, col in ((rel.src, rel.src_key), (rel.dst, rel.dst_key)):
                known &= _known_ids(self.bundle.ids.ids(end), rows[col])
            unknown = int((keep & ~known).sum())
            if unknown:
                warnings.warn(f"table '{rel.table}': {unknown} of {len(rows)} row(s) name "
                              f"an unknown {rel.src} or {rel.dst} id and were dropped "
                              "(on_unknown: drop)", stacklevel=2)
            keep &= known
        rows = rows.loc[keep].reset_index(drop=True)
        src = self.bundle.ids.index(rel.src, rows[rel.src_key], table=rel.table,
                                    column=rel.src_key)
        dst = self.bundle.ids.index(rel.dst, rows[rel.dst_key], table=rel.table,
                                    column=rel.dst_key)
        edge_index = torch.as_tensor(np.stack([src, dst]), dtype=torch.long)
        et = rel.edge_type
        rev = reverse_edge_type(et)
        self.bundle.data[et].edge_index = edge_index
        self.bundle.data[rev].edge_index = edge_index.flip(0).contiguous()
        if rel.attrs:
            attr, names = self._edge_attr(rel, rows)
            self.bundle.data[et].edge_attr = attr
            self.bundle.data[rev].edge_attr = attr
            self.bundle.edge_attr_names[et] = names
        if rel.time_column:
            time = torch.tensor(
                numeric_column(rows, rel.table, rel.time_column).to_numpy(),
                dtype=torch.float64)
            _check_edge_times(time, rel.table, rel.time_column)
            for store in (self.bundle.data[et], self.bundle.data[rev]):
                store.time = time
                if rel.time_column in rel.attrs:     # numeric attrs lead edge_attr
                    store.time_attr = rel.attrs.index(rel.time_column)
        shown = rel.attrs + [c for c in [rel.time_column] if c and c not in rel.attrs]
        self.bundle.edges_raw[et] = rows[[rel.src_key, rel.dst_key] + shown]

    def _edge_attr(self, rel: RelationSpec, rows: pd.DataFrame) -> Tuple[torch.Tensor, list]:
        from ..encoders.tabular import TabularEncoder
        numeric = pd.DataFrame({c: numeric_column(rows, rel.table, c) for c in rel.attrs})
        key = "edge_attr:" + "__".join(rel.edge_type)
        enc = self.bundle.transforms.get(key)
        if enc is None:
            enc = TabularEncoder(numeric=rel.attrs, categorical=[])
            enc.fit(numeric, table=rel.table)
            self.bundle.transforms[key] = enc
        return enc.transform(numeric, table=rel.table).float(), list(enc.feature_names)


#: edge times beyond this many seconds since 1970 (the year 5138) are taken for
#: milliseconds or finer
SECONDS_LIMIT = 1e11


def _check_edge_times(time: torch.Tensor, table: str, column: str) -> None:
    """Warn where a relation's edge times cannot be what they are read as: all missing
    (the ``burst`` component then ignores the relation), or numbers too large for
    seconds since 1970 (epoch milliseconds: the component, which compares spans, is
    unaffected, but durations in explanations would read 1,000 times too long)."""
    finite = time[torch.isfinite(time)]
    if time.numel() and finite.numel() == 0:
        warnings.warn(f"table '{table}', column '{column}': every edge time is missing; "
                      "the burst component will not judge this relation", stacklevel=3)
    elif finite.numel() and float(finite.abs().median()) > SECONDS_LIMIT:
        warnings.warn(f"table '{table}', column '{column}': edge times are read as "
                      f"seconds, but their median {float(finite.abs().median()):.3g} "
                      "is more than 3,000 years: if they are epoch milliseconds, divide "
                      "them by 1,000 or pass datetimes, or durations in explanations "
                      "will be off", stacklevel=3)


def _known_ids(ids: pd.Index, column: pd.Series) -> np.ndarray:
    """``[rows]`` True where ``column`` holds an id of ``ids``."""
    return ids.get_indexer(column.to_numpy()) >= 0
