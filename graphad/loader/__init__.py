"""Mini-batch loading of large (heterogeneous) graphs.

``make_neighbor_loader`` gives PyG's ``NeighborLoader`` when pyg-lib or torch-sparse is
installed and a ``NodeLoader`` over the pure-torch ``TorchNeighborSampler`` otherwise.
"""
from .sampler import TorchNeighborSampler, has_compiled_sampler, make_neighbor_loader

__all__ = ["TorchNeighborSampler", "make_neighbor_loader", "has_compiled_sampler"]
