"""graphad: unsupervised anomaly detection on heterogeneous multimodal graphs."""
__version__ = "0.1.0"
