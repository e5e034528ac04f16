"""External id <-> contiguous index, per node type."""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ..typing import NodeType


class IdMap:
    """Maps external ids (any hashable) to ``0..n-1`` per node type and back.

    Example:
        >>> ids = IdMap({"user": ["a", "b"]})
        >>> ids.index("user", ["b"]).tolist(), ids.external("user", [0])
        ([1], ['a'])
    """

    def __init__(self, ids: Dict[NodeType, Sequence] | None = None):
        self._ids: Dict[NodeType, pd.Index] = {}
        for node_type, values in (ids or {}).items():
            self.add(node_type, values)

    def add(self, node_type: NodeType, values: Iterable) -> None:
        index = pd.Index(list(values))
        if index.has_duplicates:
            dup = index[index.duplicated()].unique().tolist()
            raise DataValidationError("duplicate ids", table=node_type, rows=dup)
        self._ids[node_type] = index

    @property
    def node_types(self) -> List[NodeType]:
        return list(self._ids)

    def __contains__(self, node_type: NodeType) -> bool:
        return node_type in self._ids

    def num_nodes(self, node_type: NodeType) -> int:
        return len(self._ids[node_type])

    def ids(self, node_type: NodeType) -> pd.Index:
        """All external ids of ``node_type`` in index order."""
        return self._ids[node_type]

    def index(self, node_type: NodeType, external: Iterable, *, table: str | None = None,
              column: str | None = None) -> np.ndarray:
        """External ids -> int64 indices; unknown ids raise naming table and column."""
        external = list(external)
        pos = self._ids[node_type].get_indexer(external)
        if (pos < 0).any():
            bad = [external[i] for i in np.flatnonzero(pos < 0)]
            raise DataValidationError(
                f"{len(bad)} id(s) not found among '{node_type}' nodes",
                table=table or node_type, column=column, rows=bad)
        return pos.astype(np.int64)

    def external(self, node_type: NodeType, index: Iterable[int]) -> list:
        return self._ids[node_type][np.asarray(list(index), dtype=np.int64)].tolist()

    def to_dict(self) -> Dict[NodeType, list]:
        return {k: v.tolist() for k, v in self._ids.items()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={len(v)}" for k, v in self._ids.items())
        return f"IdMap({inner})"
