"""EmbeddingCache / encode_cached: warm re-encoding makes zero model calls, across cache
objects and processes; keys follow content, encoder id and fitted state."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from graphad.encoders import EmbeddingCache, encode_cached  # noqa: E402
from graphad.encoders.cache import content_key  # noqa: E402
from graphad.encoders.image import EfficientNetLite0Encoder  # noqa: E402
from graphad.encoders.series import SeriesStatsEncoder  # noqa: E402
from graphad.encoders.text import HFTextEncoder, TfidfSvdEncoder  # noqa: E402

TEXTS = ["refund never arrived", "card declined twice", "", "refund never arrived",
         "great shoes", None, "caf\u00e9 charge disputed"]


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.isnan(), b.isnan()) and \
        torch.allclose(a.nan_to_num(), b.nan_to_num(), atol=1e-5)


@pytest.fixture(scope="module")
def text_enc():
    return HFTextEncoder().load()


def test_second_encode_makes_zero_model_calls(text_enc, tmp_path):
    cache = EmbeddingCache(tmp_path)
    before = text_enc.model_calls
    X = encode_cached(text_enc, TEXTS, cache)
    assert text_enc.model_calls == before + 1                 # 4 unique texts: one batch
    assert same(X, text_enc.encode(TEXTS))
    assert torch.isnan(X[[2, 5]]).all() and torch.equal(X[0], X[3])
    calls = text_enc.model_calls
    Y = encode_cached(text_enc, TEXTS, cache)
    assert text_enc.model_calls == calls and same(X, Y)


def test_fresh_cache_object_hits_without_loading_model(text_enc, tmp_path):
    X = encode_cached(text_enc, TEXTS, EmbeddingCache(tmp_path))
    fresh = HFTextEncoder()
    Y = encode_cached(fresh, TEXTS, EmbeddingCache(tmp_path))
    assert fresh.model_calls == 0 and fresh._net is None
    assert same(X, Y)


def test_subprocess_restart_still_hits(text_enc, tmp_path):
    X = encode_cached(text_enc, TEXTS, EmbeddingCache(tmp_path))
    np.save(tmp_path / "expected.npy", X.numpy())
    script = textwrap.dedent(f"""
        import numpy as np, torch
        from graphad.encoders import EmbeddingCache, encode_cached, get_encoder
        enc = get_encoder(None, "text")
        X = encode_cached(enc, {TEXTS!r}, EmbeddingCache({str(tmp_path)!r}))
        expected = torch.from_numpy(np.load({str(tmp_path / "expected.npy")!r}))
        ok = torch.allclose(X.nan_to_num(), expected.nan_to_num())
        print("calls", enc.model_calls, "same", ok)
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "calls 0 same True" in out.stdout


def test_only_missing_items_are_encoded(text_enc, tmp_path):
    cache = EmbeddingCache(tmp_path)
    encode_cached(text_enc, TEXTS[:2], cache)
    before = text_enc.model_calls
    misses = cache.misses
    X = encode_cached(text_enc, TEXTS, cache)
    assert text_enc.model_calls == before + 1
    assert cache.misses - misses == 2          # 2 new texts with content (+ 2 empty, uncached)
    assert same(X, text_enc.encode(TEXTS))


def test_other_process_chunks_are_picked_up_and_bad_chunks_skipped(text_enc, tmp_path):
    a, b = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    encode_cached(text_enc, ["first writer"], a)
    encode_cached(text_enc, ["second writer"], b)      # b wrote after a indexed the dir
    d = a.directory(text_enc.id)
    (d / "999-broken.keys.npy").write_bytes(b"\x93NUMPY garbage")     # torn chunk
    (d / ".999-x.emb.npy.abc.tmp").write_bytes(b"partial")             # unfinished write
    before = text_enc.model_calls
    with pytest.warns(UserWarning, match="unreadable embedding cache chunk"):
        encode_cached(text_enc, ["first writer", "second writer"], a)
    assert text_enc.model_calls == before


def test_image_key_is_file_content_not_path(tmp_path):
    img = Image.fromarray(np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3))
    p1, p2 = tmp_path / "a.png", tmp_path / "b.png"
    img.save(p1)
    shutil.copy(p1, p2)
    assert content_key(str(p1), "image") == content_key(p2, "image") \
        == content_key(p1.read_bytes(), "image")
    enc, cache = EfficientNetLite0Encoder(), EmbeddingCache(tmp_path / "cache")
    X = encode_cached(enc, [str(p1)], cache)
    assert enc.model_calls == 1
    Y = encode_cached(enc, [str(p2), p1.read_bytes()], cache)
    assert enc.model_calls == 1 and torch.equal(Y[0], X[0]) and torch.equal(Y[1], X[0])
    Image.fromarray(255 - np.asarray(img)).save(p1)                    # new content
    Z = encode_cached(enc, [str(p1)], cache)
    assert enc.model_calls == 2 and not torch.allclose(Z[0], X[0])


def test_fitted_state_is_part_of_the_key(tmp_path):
    a = ["refund never arrived", "card declined", "great shoes", "fast shipping"]
    b = ["wire transfer to new payee", "password reset twice", "login from new device"]
    cache = EmbeddingCache(tmp_path)
    ea = TfidfSvdEncoder(dim=4).fit(a)
    Xa = encode_cached(ea, a, cache)
    eb = TfidfSvdEncoder(dim=4).fit(b)
    Xb = encode_cached(eb, a, cache)
    assert eb.model_calls == 1                 # another fitted state: no stale hits
    assert same(Xb, eb.encode(a)) and not same(Xa, Xb)
    refit = TfidfSvdEncoder(dim=4).fit(a)
    assert same(encode_cached(refit, a, cache), Xa) and refit.model_calls == 0


def test_series_cache_and_keys(tmp_path):
    rng = np.random.default_rng(0)
    items = [rng.normal(0, 1, 50), (np.arange(10.0), np.arange(10.0)), [np.nan, 1.0]]
    enc, cache = SeriesStatsEncoder(), EmbeddingCache(tmp_path)
    X = encode_cached(enc, items, cache)
    calls = enc.model_calls
    assert same(encode_cached(enc, items, EmbeddingCache(tmp_path)), X)
    assert enc.model_calls == calls + 1        # only the NaN item (no key) is re-encoded
    assert content_key(np.arange(10.0), "series") == content_key(items[1], "series")


def test_default_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHAD_CACHE", str(tmp_path / "envcache"))
    assert EmbeddingCache().root == tmp_path / "envcache"
    monkeypatch.delenv("GRAPHAD_CACHE")
    assert EmbeddingCache().root.parts[-3:] == (".cache", "graphad", "embeddings")


def test_no_cache_means_plain_encode(text_enc):
    before = text_enc.model_calls
    X = encode_cached(text_enc, TEXTS, None)
    assert text_enc.model_calls == before + 1 and same(X, text_enc.encode(TEXTS))


def test_bench_reports_cold_and_cached_rates(tmp_path):
    from graphad.bench.encoders import bench_encoders, format_bench, make_images
    df = bench_encoders(n_texts=6, n_images=0, n_series=5, cache_dir=str(tmp_path))
    assert set(df["phase"]) == {"load", "cold", "cold+write", "cached"}
    timed = df[df["phase"] != "load"].set_index(["modality", "phase"])
    assert (timed["items_per_s"] > 0).all()
    assert timed.xs("cached", level="phase")["model_calls"].tolist() == [0, 0]
    assert (timed.xs("cold", level="phase")["model_calls"] > 0).all()
    assert "items_per_s" in format_bench(df)
    sizes = {Image.open(p).size for p in make_images(4, tmp_path / "img")}
    assert sizes == {(32, 32), (64, 64)}                 # digits and photo crops
