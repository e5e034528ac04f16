"""Modality encoders: text, image, time series, tabular; with an on-disk cache.

Heavy modules (transformers, torchvision) load only when an encoder is used::

    enc = get_encoder(None, "text")                 # all-MiniLM-L6-v2, 384-d
    X = encode_cached(enc, texts, EmbeddingCache())  # FloatTensor[n, 384]
"""
from .base import (DEFAULT_ENCODERS, ModalityEncoder, available_encoders, get_encoder,
                   register_encoder, resolve_device)
from .cache import EmbeddingCache, content_key, encode_cached
from .tabular import TabularEncoder

_LAZY = {
    "HFTextEncoder": ".text", "TfidfSvdEncoder": ".text",
    "EfficientNetLite0Encoder": ".image", "TorchvisionImageEncoder": ".image",
    "SeriesStatsEncoder": ".series", "SeriesCNNEncoder": ".series",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ModalityEncoder", "get_encoder", "register_encoder", "available_encoders",
           "DEFAULT_ENCODERS", "resolve_device", "EmbeddingCache", "encode_cached",
           "content_key", "TabularEncoder", *_LAZY]
