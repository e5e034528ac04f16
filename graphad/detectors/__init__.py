"""Detectors: adapters around the torch modules of ``graphad.nn`` and baselines."""
from .base import BaseDetector
from .fusion import (EarlyFusionAE, EarlyFusionIForest, EarlyFusionOCSVM, LateFusionAE,
                     LateFusionIForest, LateFusionOCSVM, early_fused_features)
from .registry import DEFAULT_DETECTOR, detector_names, make_detector

__all__ = ["BaseDetector", "EarlyFusionIForest", "EarlyFusionOCSVM", "EarlyFusionAE",
           "LateFusionIForest", "LateFusionOCSVM", "LateFusionAE",
           "early_fused_features", "make_detector", "detector_names", "DEFAULT_DETECTOR"]
from .deep import DeepDetector  # noqa: E402
from .gae import MultimodalGAE  # noqa: E402

__all__ += ["DeepDetector", "MultimodalGAE"]
