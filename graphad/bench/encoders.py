"""Throughput of the default encoders: model load, cold encode, cold encode + cache write,
and warm-cache encode (fresh cache object and fresh encoder, i.e. a process restart).

    python -m graphad.bench.encoders --texts 256 --images 128
"""
from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..encoders.base import ModalityEncoder
from ..encoders.cache import EmbeddingCache, encode_cached

_TEMPLATES = [
    "{name} paid {amount} dollars to {merchant} for {item}.",
    "Great {item}, arrived {speed}; would buy again from {merchant}.",
    "Account {acct} flagged: {n} transfers in {m} minutes from new devices.",
    "Terrible {item}. {merchant} never answered and kept my {amount} dollars.",
    "{name} reset the password twice and changed the payout card to one ending {acct}.",
    "Five stars!!! Best {item} ever, best seller, buy now from {merchant}!!!",
]
_WORDS = {
    "name": ["Alice", "Bob", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana"],
    "merchant": ["ShoeHub", "GadgetBarn", "FreshMart", "QuickPay", "LuxWatch"],
    "item": ["running shoes", "phone case", "coffee maker", "gift card", "smart watch"],
    "speed": ["early", "on time", "two weeks late", "damaged"],
}


def make_texts(n: int, seed: int = 0) -> List[str]:
    """``n`` review / transaction-note sentences from templates."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        fill = {k: rng.choice(v) for k, v in _WORDS.items()}
        fill.update(amount=rng.randint(5, 5000), acct=rng.randint(1000, 9999),
                    n=rng.randint(2, 40), m=rng.randint(1, 60))
        out.append(rng.choice(_TEMPLATES).format(**fill))
    return out


def make_images(n: int, directory: Path, seed: int = 0) -> List[str]:
    """``n`` small PNG files: digits upscaled to 32x32 RGB and 64x64 photo crops."""
    from PIL import Image
    from sklearn.datasets import load_digits, load_sample_images
    rng = np.random.default_rng(seed)
    digits = load_digits().images
    photos = load_sample_images().images
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        if i % 2 == 0:
            d = (digits[rng.integers(len(digits))] * 16).clip(0, 255).astype(np.uint8)
            img = Image.fromarray(d).resize((32, 32)).convert("RGB")
        else:
            p = photos[rng.integers(len(photos))]
            y, x = rng.integers(0, p.shape[0] - 64), rng.integers(0, p.shape[1] - 64)
            img = Image.fromarray(p[y:y + 64, x:x + 64])
        path = directory / f"img{i:05d}.png"
        img.save(path)
        paths.append(str(path))
    return paths


def make_series(n: int, seed: int = 0) -> List[Any]:
    """``n`` irregular (times, amounts) transaction histories."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(5, 300))
        out.append((np.sort(rng.uniform(0, 86400 * 30, k)), rng.lognormal(3, 1, k)))
    return out


def _bench_one(modality: str, factory: Callable[[], ModalityEncoder], items: Sequence[Any],
               cache_dir: Path, repeat: int = 1) -> List[Dict[str, Any]]:
    """Rows load / cold / cold+write / cached; each timed phase is the best of ``repeat``
    runs (every run writes to its own empty cache directory)."""
    enc = factory()
    t = time.perf_counter()
    if hasattr(enc, "load"):
        enc.load()
    enc.encode(list(items[:2]))               # first-call warm-up (kernel / allocator init)
    rows = [{"modality": modality, "phase": "load", "n": 0,
             "seconds": time.perf_counter() - t, "items_per_s": float("nan"),
             "model_calls": enc.model_calls}]
    best: Dict[str, List[float]] = {"cold": [], "cold+write": [], "cached": []}
    calls: Dict[str, int] = {}
    for r in range(repeat):
        root = cache_dir / f"run{r}"
        for phase, cache in (("cold", None), ("cold+write", EmbeddingCache(root))):
            before = enc.model_calls
            t = time.perf_counter()
            encode_cached(enc, items, cache)
            best[phase].append(time.perf_counter() - t)
            calls[phase] = enc.model_calls - before
        warm = factory()                      # fresh encoder + cache: a restarted process
        t = time.perf_counter()
        encode_cached(warm, items, EmbeddingCache(root))
        best["cached"].append(time.perf_counter() - t)
        calls["cached"] = warm.model_calls
    for phase, times in best.items():
        seconds = min(times)
        rows.append({"modality": modality, "phase": phase, "n": len(items),
                     "seconds": seconds, "items_per_s": len(items) / max(seconds, 1e-9),
                     "model_calls": calls[phase]})
    return rows


def bench_encoders(n_texts: int = 256, n_images: int = 128, n_series: int = 512,
                   cache_dir: Optional[str] = None, num_threads: Optional[int] = None,
                   repeat: int = 1) -> pd.DataFrame:
    """Time load / cold / cold+write / cached encoding of the default encoders.

    Returns:
        DataFrame with columns modality, phase, n, seconds, items_per_s, model_calls.
        ``load`` is the model load plus a 2-item warm-up encode; ``cold`` (no cache) and
        ``cold+write`` (empty cache, embeddings written) exclude it; ``cached`` uses a
        fresh encoder and cache object (a restarted process), so it loads no model.
        With ``repeat > 1`` each timed phase reports its best run (for busy machines).
    """
    from ..encoders.image import EfficientNetLite0Encoder
    from ..encoders.series import SeriesStatsEncoder
    from ..encoders.text import HFTextEncoder
    if num_threads:
        import torch
        torch.set_num_threads(num_threads)
    tmp = Path(tempfile.mkdtemp(prefix="graphad-bench-"))
    root = Path(cache_dir) if cache_dir else tmp / "cache"
    rows: List[Dict[str, Any]] = []
    try:
        if n_texts:
            rows += _bench_one("text", HFTextEncoder, make_texts(n_texts), root, repeat)
        if n_images:
            rows += _bench_one("image", EfficientNetLite0Encoder,
                               make_images(n_images, tmp / "images"), root, repeat)
        if n_series:
            rows += _bench_one("series", SeriesStatsEncoder, make_series(n_series), root,
                               repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return pd.DataFrame(rows)


def format_bench(df: pd.DataFrame) -> str:
    """A small fixed-width table of :func:`bench_encoders` results."""
    shown = df.assign(seconds=df["seconds"].map("{:.3f}".format),
                      items_per_s=df["items_per_s"].map(
                          lambda v: "-" if np.isnan(v) else f"{v:,.0f}"))
    return shown.to_string(index=False)


def print_bench(df: pd.DataFrame) -> None:
    print(format_bench(df))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graphad.bench.encoders",
        description="Encoder throughput, cold and cached. "
                    "Example: python -m graphad.bench.encoders --texts 256 --images 128")
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--series", type=int, default=512)
    parser.add_argument("--cache-dir", default=None, help="default: a temporary directory")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--repeat", type=int, default=1, help="best of N timed runs")
    args = parser.parse_args(argv)
    print_bench(bench_encoders(args.texts, args.images, args.series, args.cache_dir,
                               args.threads, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
