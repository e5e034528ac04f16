"""Fitted objects as plain data: one registry of classes with ``get_state`` /
``from_state``.

A class listed here turns its fitted state into tensors, numbers, strings and
containers (``obj.get_state()``) and back (``cls.from_state(state)``). Persistence
(:mod:`graphad.detectors.persistence`) walks a detector's fitted attributes and writes
every registered object as ``{"__state__": class name, "state": ...}``; loading
instantiates only the classes named here, so a model file never names code to run.
"""
from __future__ import annotations

import importlib
from typing import Any, Dict

from .errors import GraphadError

#: class name -> module; the only classes :func:`from_state` instantiates
_CLASSES: Dict[str, str] = {
    "SurprisalNormalizer": "graphad.scoring.normalize",
    "RobustNormalizer": "graphad.scoring.normalize",
    "TabularEncoder": "graphad.encoders.tabular",
    "TfidfSvdEncoder": "graphad.encoders.text",
}
TAG = "__state__"


def is_stateful(obj: Any) -> bool:
    return (_CLASSES.get(type(obj).__name__) == type(obj).__module__
            and hasattr(obj, "get_state"))


def to_record(obj: Any) -> Dict[str, Any]:
    """``{"__state__": class name, "state": obj.get_state()}`` (state not yet encoded)."""
    return {TAG: type(obj).__name__, "state": obj.get_state()}


def is_record(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {TAG, "state"}


def from_record(record: Dict[str, Any]) -> Any:
    """The object a :func:`to_record` record describes (registered classes only)."""
    name = record[TAG]
    if name not in _CLASSES:
        raise GraphadError(f"saved state of an unknown class {name!r}")
    cls = getattr(importlib.import_module(_CLASSES[name]), name)
    return cls.from_state(record["state"])
