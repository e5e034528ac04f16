"""Detectors by name (for the CLI and the benchmark), imported lazily."""
from __future__ import annotations

import importlib
from typing import Any, Dict, Tuple

from ..errors import GraphadError

_DETECTORS: Dict[str, Tuple[str, str]] = {
    "gae": ("graphad.detectors.gae", "MultimodalGAE"),
    "early-iforest": ("graphad.detectors.fusion", "EarlyFusionIForest"),
    "late-iforest": ("graphad.detectors.fusion", "LateFusionIForest"),
    "fused-ae": ("graphad.detectors.autoencoder", "FusedAutoencoder"),
}

DEFAULT_DETECTOR = "gae"


def detector_names() -> list:
    return list(_DETECTORS)


def make_detector(name: str, **params: Any):
    """A detector instance by registry name, with hyper-parameters."""
    if name not in _DETECTORS:
        raise GraphadError(f"unknown detector '{name}'; available: {detector_names()}")
    module, cls = _DETECTORS[name]
    return getattr(importlib.import_module(module), cls)(**params)
