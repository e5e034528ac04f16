"""On-disk embedding cache keyed by (encoder id, content hash of the item).

Layout: ``<root>/<sha1(encoder.id)[:16]>/`` holds ``encoder.json`` (the id, for humans)
and chunks ``<name>.emb.npy`` (float32[n, dim]) + ``<name>.keys.npy`` (uint8[n, 20]
SHA-1 digests; not ``S20``, which would drop trailing zero bytes). Every file is written
to a temporary name and ``os.replace``-d into place, keys last, so a reader only ever sees
complete chunks; writers never touch each other's files (unique chunk names), so
concurrent processes are safe. A reader rescans the directory on a miss, picking up
chunks that other processes wrote since.

Content hashes: text -> its UTF-8 bytes; image path -> the file's bytes (not the path);
bytes -> the bytes; PIL image -> mode + size + pixels; series -> the cleaned, time-sorted
``times`` and ``values`` arrays. Items without a key (unreadable path, non-text, ...) are
simply re-encoded each time; the encoders make no model call for them.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .base import ModalityEncoder, nan_rows, progress

KEY_BYTES = 20


def default_cache_root() -> Path:
    """``$GRAPHAD_CACHE`` or ``~/.cache/graphad/embeddings``."""
    env = os.environ.get("GRAPHAD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "graphad" / "embeddings"


def _digest(*parts: bytes) -> bytes:
    h = hashlib.sha1()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.digest()


def content_key(item: Any, modality: str) -> Optional[bytes]:
    """20-byte SHA-1 of what ``item`` contains for ``modality``, or ``None`` (not cached)."""
    if modality == "text":
        from .text import as_text
        text = as_text(item)
        if text is None:
            return None
        return _digest(b"text", text.encode("utf-8", "surrogatepass"))
    if modality == "image":
        return _image_key(item)
    if modality == "series":
        from .series import to_series
        s = to_series(item)
        return None if s is None else _digest(b"series", s[0].tobytes(), s[1].tobytes())
    if isinstance(item, (bytes, bytearray)):
        return _digest(b"bytes", bytes(item))
    if isinstance(item, str):
        return _digest(b"str", item.encode("utf-8", "surrogatepass"))
    return None


def _image_key(item: Any) -> Optional[bytes]:
    from PIL import Image
    if isinstance(item, (str, os.PathLike)):
        try:
            with open(item, "rb") as f:
                return _digest(b"bytes", f.read())
        except OSError:
            return None
    if isinstance(item, (bytes, bytearray, memoryview)):
        return _digest(b"bytes", bytes(item))
    if isinstance(item, Image.Image):
        meta = f"{item.mode}:{item.size[0]}x{item.size[1]}".encode()
        return _digest(b"pil", meta, item.tobytes())
    if isinstance(item, np.ndarray):
        meta = f"{item.dtype.str}:{item.shape}".encode()
        return _digest(b"array", meta, np.ascontiguousarray(item).tobytes())
    return None


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class EmbeddingCache:
    """Embeddings on disk, one directory per encoder id.

    Args:
        root: cache directory; ``None`` -> ``$GRAPHAD_CACHE`` or
            ``~/.cache/graphad/embeddings``.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_root()
        self.hits = 0
        self.misses = 0
        # encoder id -> (key -> (chunk name, row)), and the chunks already indexed
        self._index: Dict[str, Dict[bytes, Tuple[str, int]]] = {}
        self._seen: Dict[str, set] = {}

    def directory(self, encoder_id: str) -> Path:
        return self.root / hashlib.sha1(encoder_id.encode()).hexdigest()[:16]

    def _scan(self, encoder_id: str) -> None:
        """Index chunks written since the last scan (by any process)."""
        d = self.directory(encoder_id)
        index = self._index.setdefault(encoder_id, {})
        seen = self._seen.setdefault(encoder_id, set())
        if not d.is_dir():
            return
        for path in sorted(d.glob("*.keys.npy")):
            name = path.name[:-len(".keys.npy")]
            if name in seen or name.startswith("."):
                continue
            try:
                keys = np.load(path, allow_pickle=False)
                if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES:
                    raise ValueError(f"bad key array {keys.dtype}{keys.shape}")
                emb = np.load(d / f"{name}.emb.npy", mmap_mode="r", allow_pickle=False)
                if emb.ndim != 2 or len(emb) != len(keys):
                    raise ValueError(f"{len(keys)} keys for embeddings {emb.shape}")
            except (OSError, ValueError) as exc:
                warnings.warn(f"skipping unreadable embedding cache chunk {path}: {exc}")
                seen.add(name)
                continue
            seen.add(name)
            for row, key in enumerate(keys):
                index[key.tobytes()] = (name, row)

    def get(self, encoder_id: str, keys: Sequence[bytes]) -> Dict[bytes, np.ndarray]:
        """The cached float32[dim] rows of those ``keys`` that are present."""
        if encoder_id not in self._index:
            self._scan(encoder_id)
        index = self._index[encoder_id]
        if any(k not in index for k in keys):
            self._scan(encoder_id)
        by_chunk: Dict[str, List[Tuple[bytes, int]]] = {}
        for k in set(keys):
            if k in index:
                name, row = index[k]
                by_chunk.setdefault(name, []).append((k, row))
        found: Dict[bytes, np.ndarray] = {}
        d = self.directory(encoder_id)
        for name, pairs in by_chunk.items():
            emb = np.load(d / f"{name}.emb.npy", mmap_mode="r", allow_pickle=False)
            rows = np.asarray(emb[[r for _, r in pairs]], dtype=np.float32)
            found.update({k: rows[i] for i, (k, _) in enumerate(pairs)})
        self.hits += sum(k in found for k in keys)
        self.misses += sum(k not in found for k in keys)
        return found

    def put(self, encoder_id: str, keys: Sequence[bytes], emb: np.ndarray) -> None:
        """Store float32[n, dim] ``emb`` under ``keys`` as one new chunk."""
        if not len(keys):
            return
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        if emb.ndim != 2 or len(emb) != len(keys):
            raise ValueError(f"{len(keys)} keys for embeddings of shape {emb.shape}")
        d = self.directory(encoder_id)
        d.mkdir(parents=True, exist_ok=True)
        meta = d / "encoder.json"
        if not meta.exists():
            tmp = d / f".encoder.{uuid.uuid4().hex}.tmp"
            tmp.write_text(json.dumps({"id": encoder_id}))
            os.replace(tmp, meta)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        _atomic_save(d / f"{name}.emb.npy", emb)
        key_arr = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        _atomic_save(d / f"{name}.keys.npy", key_arr)
        index = self._index.setdefault(encoder_id, {})
        self._seen.setdefault(encoder_id, set()).add(name)
        for row, key in enumerate(keys):
            index[key] = (name, row)

    def __len__(self) -> int:
        """Entries indexed so far (by this object)."""
        return sum(len(v) for v in self._index.values())

    def __repr__(self) -> str:
        return f"EmbeddingCache(root={str(self.root)!r})"


def encode_cached(encoder: ModalityEncoder, items: Sequence[Any],
                  cache: Optional[EmbeddingCache], chunk_size: int = 1024) -> Tensor:
    """``encoder.encode(items)`` that only encodes the items missing from ``cache``.

    Identical items are encoded once. Missing items are encoded and stored in chunks of
    ``chunk_size``, so an interrupted run keeps what it finished. ``cache=None`` encodes
    everything. Encoders with fitted state must put a hash of it in their ``id``.

    Shapes:
        n items -> FloatTensor[n, encoder.dim]
    """
    items = list(items)
    if cache is None:
        return encoder.encode(items)
    eid = encoder.id
    keys = [content_key(x, encoder.modality) for x in items]
    found = cache.get(eid, [k for k in keys if k is not None])
    hit = [i for i, k in enumerate(keys) if k is not None and k in found]
    missing: Dict[bytes, List[int]] = {}              # content key -> item positions
    work: List[Tuple[Optional[bytes], List[int]]] = []
    for i, k in enumerate(keys):
        if k is None:
            work.append((None, [i]))                  # no key: encoded, never stored
        elif k not in found:
            missing.setdefault(k, []).append(i)
    work = list(missing.items()) + work
    dim = next(iter(found.values())).shape[0] if found else encoder.dim
    out = nan_rows(len(items), dim)
    if hit:
        out[hit] = torch.from_numpy(np.stack([found[keys[i]] for i in hit]))
    starts = range(0, len(work), chunk_size)
    for s in progress(starts, len(starts), f"encode {encoder.modality}",
                      n_items=len(work), min_items=4 * chunk_size):
        chunk = work[s:s + chunk_size]
        emb = encoder.encode([items[pos[0]] for _, pos in chunk])
        for row, (_, pos) in enumerate(chunk):
            out[pos] = emb[row]
        stored = [(k, row) for row, (k, _) in enumerate(chunk) if k is not None]
        if stored:
            cache.put(eid, [k for k, _ in stored], emb[[r for _, r in stored]].numpy())
    return out
