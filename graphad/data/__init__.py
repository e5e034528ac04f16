"""Schema, ids, graph building and conversion."""
from .build import build_graph
from .bundle import GraphBundle, as_bundle, node_labels
from .convert import from_data, from_hetero_data, from_networkx
from .idmap import IdMap
from .schema import GraphSchema, NodeSpec, RelationSpec

__all__ = ["GraphSchema", "NodeSpec", "RelationSpec", "IdMap", "GraphBundle", "as_bundle",
           "build_graph", "from_data", "from_hetero_data", "from_networkx", "node_labels"]
