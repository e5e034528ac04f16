"""graphad: unsupervised anomaly detection on heterogeneous multimodal graphs.

Example:
    >>> import graphad
    >>> net = graphad.datasets.make_fraud_network(n_users=500, seed=0)
    >>> graph = graphad.build_graph(net.tables, net.schema)
    >>> det = graphad.MultimodalGAE(seed=0).fit(graph)
    >>> scores = det.decision_function(graph)          # {node type: FloatTensor[n]}
"""
from . import datasets
from .data import (GraphBundle, GraphSchema, IdMap, as_bundle, build_graph, from_data,
                   from_hetero_data, from_networkx)
from .detectors import (EarlyFusionIForest, LateFusionIForest, MultimodalGAE,
                        make_detector)
from .errors import (DataValidationError, GraphadError, NotFittedError, SchemaError)
from .scoring.table import scores_table

__version__ = "0.1.0"

__all__ = ["GraphSchema", "GraphBundle", "IdMap", "build_graph", "as_bundle", "from_data",
           "from_hetero_data", "from_networkx", "MultimodalGAE", "EarlyFusionIForest", "LateFusionIForest",
           "make_detector", "scores_table", "datasets", "GraphadError",
           "DataValidationError", "SchemaError", "NotFittedError"]
