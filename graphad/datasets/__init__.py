"""Datasets: the embedded multimodal fraud network and the benchmark loaders."""
from .fraud import ANOMALY_TYPES, CATEGORIES, FraudNetwork, fraud_schema, make_fraud_network
from .loaders import (LabelledGraph, available, data_root, fraud_graph, load,
                      load_bitcoin_alpha, load_npz)
from .sample import default_sample_path, load_fraud_sample, save_fraud_sample

__all__ = ["LabelledGraph", "load", "available", "data_root", "load_npz",
           "load_bitcoin_alpha", "fraud_graph", "make_fraud_network", "FraudNetwork",
           "fraud_schema", "ANOMALY_TYPES", "CATEGORIES", "save_fraud_sample",
           "load_fraud_sample", "default_sample_path"]
