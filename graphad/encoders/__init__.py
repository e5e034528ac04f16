"""Modality encoders: text, image, time series, tabular; with an on-disk cache."""
from .base import (DEFAULT_ENCODERS, ModalityEncoder, available_encoders, get_encoder,
                   register_encoder)

__all__ = ["ModalityEncoder", "get_encoder", "register_encoder", "available_encoders",
           "DEFAULT_ENCODERS"]
