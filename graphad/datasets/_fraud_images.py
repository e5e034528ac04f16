"""Profile photos for the synthetic fraud network.

A photo is a real handwritten digit from ``sklearn.datasets.load_digits`` (8x8, 1797
samples, about 180 per class) upscaled to ``SIZE`` x ``SIZE``, slightly shifted, scaled
and rotated, coloured with a hue tied to its class and laid over a blurred, dimmed crop
of one of ``sklearn.datasets.load_sample_images`` (a photo of a Chinese temple and of a
flower). Digit class ``k`` depicts product category ``k`` (see ``CATEGORIES``), so the
picture "shows" what the user is interested in; the hue is jittered per photo and the
background varies, so the category is visible but not a single pixel statistic.

Both sklearn data sets ship inside the scikit-learn wheel: nothing is downloaded.
"""
from __future__ import annotations

import colorsys
import io
from functools import lru_cache
from typing import List, Tuple

import numpy as np
from PIL import Image, ImageFilter

SIZE = 32

# Base hue per category (0..1); neighbours in category order are far apart in hue.
_HUES = np.array([0.60, 0.90, 0.30, 0.50, 0.75, 0.00, 0.20, 0.07, 0.40, 0.14])


@lru_cache(maxsize=1)
def _assets() -> Tuple[List[np.ndarray], List[np.ndarray]]:
    from sklearn.datasets import load_digits, load_sample_images
    digits = load_digits()
    by_class = [digits.images[digits.target == k] / 16.0 for k in range(10)]
    backgrounds = [np.asarray(img, dtype=np.uint8) for img in load_sample_images().images]
    return by_class, backgrounds


def _background(rng: np.random.Generator) -> np.ndarray:
    _, backgrounds = _assets()
    src = backgrounds[int(rng.integers(len(backgrounds)))]
    h, w, _ = src.shape
    side = int(rng.integers(80, 220))
    y, x = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
    crop = Image.fromarray(src[y:y + side, x:x + side]).resize((SIZE, SIZE),
                                                               Image.BILINEAR)
    crop = crop.filter(ImageFilter.GaussianBlur(radius=1.2))
    arr = np.asarray(crop, dtype=np.float32) / 255.0
    gray = arr.mean(axis=2, keepdims=True)
    arr = 0.5 * arr + 0.5 * gray          # desaturate
    return 0.15 + 0.45 * arr              # dim, low contrast


def _digit_mask(rng: np.random.Generator, digit: np.ndarray) -> np.ndarray:
    img = Image.fromarray((digit * 255).astype(np.uint8)).resize((SIZE, SIZE),
                                                                 Image.BICUBIC)
    angle = float(rng.uniform(-12, 12))
    img = img.rotate(angle, resample=Image.BILINEAR)
    scale = float(rng.uniform(0.75, 1.0))
    side = max(8, int(round(SIZE * scale)))
    img = img.resize((side, side), Image.BILINEAR)
    canvas = Image.new("L", (SIZE, SIZE), 0)
    slack = SIZE - side
    dx = int(rng.integers(0, slack + 1)) if slack else 0
    dy = int(rng.integers(0, slack + 1)) if slack else 0
    canvas.paste(img, (dx, dy))
    return np.asarray(canvas, dtype=np.float32)[..., None] / 255.0


def render_photo(rng: np.random.Generator, category: int) -> Tuple[bytes, int]:
    """One RGB PNG picture of digit ``category``; returns (png bytes, digit sample id)."""
    by_class, _ = _assets()
    pool = by_class[category]
    sample = int(rng.integers(len(pool)))
    mask = _digit_mask(rng, pool[sample])
    hue = (_HUES[category] + rng.normal(0, 0.03)) % 1.0
    sat = float(rng.uniform(0.55, 0.95))
    val = float(rng.uniform(0.75, 1.0))
    fg = np.array(colorsys.hsv_to_rgb(hue, sat, val), dtype=np.float32)
    bg = _background(rng)
    alpha = float(rng.uniform(0.8, 1.0))
    img = bg * (1 - alpha * mask) + fg * (alpha * mask)
    pixels = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG", optimize=True)
    return buf.getvalue(), sample
