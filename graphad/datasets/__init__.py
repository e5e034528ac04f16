"""Datasets: the embedded multimodal fraud network and the benchmark loaders."""
from .loaders import (LabelledGraph, available, data_root, fraud_graph, load,
                      load_bitcoin_alpha, load_npz)

__all__ = ["LabelledGraph", "load", "available", "data_root", "load_npz",
           "load_bitcoin_alpha", "fraud_graph"]
