"""graphad: unsupervised anomaly detection on heterogeneous multimodal graphs.

Example:
    >>> import graphad
    >>> net = graphad.datasets.make_fraud_network(n_users=500, seed=0)
    >>> graph = graphad.build_graph(net.tables, net.schema)
    >>> det = graphad.MultimodalGAE(seed=0).fit(graph)
    >>> scores = det.decision_function(graph)          # {node type: FloatTensor[n]}

The public names are imported on first use (PEP 562), so ``import graphad`` and the
command line's ``--help`` do not load torch until something needs it.
"""
from __future__ import annotations

import importlib
import warnings
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "GraphSchema": "graphad.data", "GraphBundle": "graphad.data", "IdMap": "graphad.data",
    "build_graph": "graphad.data", "as_bundle": "graphad.data",
    "from_data": "graphad.data", "from_hetero_data": "graphad.data",
    "from_networkx": "graphad.data",
    "MultimodalGAE": "graphad.detectors", "EarlyFusionIForest": "graphad.detectors",
    "LateFusionIForest": "graphad.detectors", "make_detector": "graphad.detectors",
    "scores_table": "graphad.scoring.table",
    "explain": "graphad.scoring.explain", "explain_many": "graphad.scoring.explain",
    "explain_subgraph": "graphad.scoring.subgraph_explanation",
    "find_suspicious_subgraphs": "graphad.scoring.discover",
    "score_subgraphs": "graphad.scoring.subgraph",
    "GraphadError": "graphad.errors", "DataValidationError": "graphad.errors",
    "SchemaError": "graphad.errors", "NotFittedError": "graphad.errors",
}

#: subpackages reachable as attributes (``graphad.detectors.MultimodalGAE``) without
#: importing them first
_SUBPACKAGES = ("data", "datasets", "detectors", "scoring", "viz")

__all__ = sorted(_EXPORTS) + list(_SUBPACKAGES)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return _import(f"graphad.{name}")
    if name in _EXPORTS:
        value = getattr(_import(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'graphad' has no attribute {name!r}")


def _import(module: str) -> Any:
    """``importlib.import_module`` without the notice that PyG 2.8 prints while it is
    imported (it calls ``torch.jit.script``, which torch 2.14 deprecates): a notice
    about PyG's code, not the user's. Nothing is filtered after the import."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                                category=FutureWarning)
        return importlib.import_module(module)


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
