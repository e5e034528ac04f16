"""Detectors by name (for the CLI, the benchmark and persistence), imported lazily.

The one list of graphad's detectors: each entry names the module and class that
build it and whether a fitted instance can be saved as plain data
(:mod:`graphad.detectors.persistence` instantiates only those classes when loading).
The benchmark runs every entry by default (:mod:`graphad.bench.harness`).
"""
from __future__ import annotations

import importlib
from typing import Any, Dict, List, NamedTuple

from ..errors import GraphadError


class DetectorEntry(NamedTuple):
    """Where a registered detector lives.

    Attributes:
        module: the module to import.
        cls: the class in ``module``.
        persistable: a fitted instance is plain data (tensors, numbers, normalisers)
            and :func:`~graphad.detectors.persistence.save_detector` writes it without
            pickling.
    """

    module: str
    cls: str
    persistable: bool = False


_DETECTORS: Dict[str, DetectorEntry] = {
    "gae": DetectorEntry("graphad.detectors.gae", "MultimodalGAE", persistable=True),
    "early-iforest": DetectorEntry("graphad.detectors.fusion", "EarlyFusionIForest",
                                   persistable=True),
    "late-iforest": DetectorEntry("graphad.detectors.fusion", "LateFusionIForest",
                                  persistable=True),
    "early-ocsvm": DetectorEntry("graphad.detectors.fusion", "EarlyFusionOCSVM",
                                 persistable=True),
    "early-ae": DetectorEntry("graphad.detectors.fusion", "EarlyFusionAE",
                              persistable=True),
    "late-ocsvm": DetectorEntry("graphad.detectors.fusion", "LateFusionOCSVM",
                                persistable=True),
    "late-ae": DetectorEntry("graphad.detectors.fusion", "LateFusionAE",
                             persistable=True),
}

DEFAULT_DETECTOR = "gae"


def detector_names() -> List[str]:
    """Registered names, in registry order."""
    return list(_DETECTORS)


def detector_entry(name: str) -> DetectorEntry:
    """The registry entry of ``name`` (:class:`GraphadError` naming the available
    ones if unknown)."""
    if name not in _DETECTORS:
        raise GraphadError(f"unknown detector '{name}'; available: {detector_names()}")
    return _DETECTORS[name]


def detector_class(name: str) -> type:
    """The class of a registered detector (imports its module)."""
    entry = detector_entry(name)
    return getattr(importlib.import_module(entry.module), entry.cls)


def make_detector(name: str, **params: Any):
    """A detector instance by registry name, with hyper-parameters.

    Raises:
        GraphadError: a parameter the detector does not have (naming the ones it has).
    """
    cls = detector_class(name)
    known = cls._get_param_names()          # scikit-learn: the __init__ arguments
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise GraphadError(f"{name} has no parameter(s) {unknown}; its parameters: "
                           f"{', '.join(known)}")
    return cls(**params)


def persistable_classes() -> Dict[str, str]:
    """Class name -> module of the entries saved as plain data."""
    return {e.cls: e.module for e in _DETECTORS.values() if e.persistable}


__all__ = ["DetectorEntry", "DEFAULT_DETECTOR", "detector_names", "detector_entry",
           "detector_class", "make_detector", "persistable_classes"]
