"""Time-series encoders: scale-robust statistical + spectral + burst features, and an
optional small 1D-CNN autoencoder.

An item is ``(times, values)`` (``times`` may be ``None`` for a regular series; numbers,
``datetime64`` or pandas timestamps), a 1-D array / list of values, a ``pandas.Series``
(a datetime or numeric index is used as the times) or ``{"times": ..., "values": ...}``.
Points whose time or value is not finite are dropped; an item with fewer than 2 finite
points (or that is not a series at all: ``None``, NaN, text) gives a NaN row.
"""
from __future__ import annotations

import hashlib
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import EncoderError, NotFittedError
from .base import ModalityEncoder, nan_rows, progress, resolve_device

Series = Tuple[np.ndarray, np.ndarray]
_EPS = 1e-12


def _as_float_times(times: Any) -> np.ndarray:
    arr = np.asarray(times)
    if arr.dtype.kind == "O":
        import pandas as pd
        try:
            return np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError):                  # datetimes, maybe tz-aware
            arr = pd.to_datetime(arr, utc=True).tz_convert(None).to_numpy()
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]").astype(np.int64) / 1e9
    return arr.astype(np.float64)


def to_series(item: Any) -> Optional[Series]:
    """``(times float64[n], values float64[n])`` sorted by time, finite points only, or
    ``None`` when ``item`` is not a series with at least 2 finite points."""
    import pandas as pd
    times: Any = None
    values: Any = item
    if item is None or isinstance(item, (str, bytes, float, int)):
        return None
    if isinstance(item, pd.Series):
        idx = item.index
        if isinstance(idx, pd.DatetimeIndex) or pd.api.types.is_numeric_dtype(idx):
            times = idx.to_numpy()
        values = item.to_numpy()
    elif isinstance(item, dict):
        times, values = item.get("times"), item.get("values")
    elif (isinstance(item, (tuple, list)) and len(item) == 2
          and (item[0] is None or np.ndim(item[0]) == 1) and np.ndim(item[1]) == 1):
        times, values = item
    try:
        v = np.asarray(values, dtype=np.float64)
        t = np.arange(len(v), dtype=np.float64) if times is None else _as_float_times(times)
    except (TypeError, ValueError):
        return None
    if v.ndim != 1 or t.shape != v.shape:
        return None
    keep = np.isfinite(v) & np.isfinite(t)
    if keep.sum() < 2:
        return None
    t, v = t[keep], v[keep]
    order = np.argsort(t, kind="stable")
    return t[order], v[order]


def _slog(x: float) -> float:
    """Signed log1p: scale-robust for counts and amounts of any magnitude."""
    return float(np.sign(x) * np.log1p(abs(x)))


def _acf(x: np.ndarray, lag: int) -> float:
    d = x - x.mean()
    den = float(d @ d)
    if lag >= len(x) or den <= _EPS:
        return 0.0
    return float(d[:-lag] @ d[lag:]) / den


def _is_regular(t: np.ndarray) -> bool:
    gaps = np.diff(t)
    return bool(np.all(np.abs(gaps - gaps[0]) <= 1e-6 * max(abs(gaps[0]), _EPS)))


def resample(t: np.ndarray, v: np.ndarray, length: int, how: str = "interp") -> np.ndarray:
    """Values on ``length`` evenly spaced times over ``[t[0], t[-1]]``.

    ``how``: ``interp`` (linear interpolation, for sampled signals), ``sum`` (sum of the
    values falling in each bin, for amounts at event times) or ``count`` (events per bin).
    """
    if how == "interp":
        return np.interp(np.linspace(t[0], t[-1], length), t, v)
    if how in ("sum", "count"):
        rng = (t[0], t[-1]) if t[-1] > t[0] else (t[0], t[0] + 1.0)
        w = v if how == "sum" else None
        return np.histogram(t, bins=length, range=rng, weights=w)[0].astype(np.float64)
    raise EncoderError(f"unknown resampling {how!r}; use 'interp', 'sum' or 'count'")


class SeriesStatsEncoder(ModalityEncoder):
    """Hand-made, scale-robust features of a (possibly irregular) time series.

    Amounts and levels go through a signed ``log1p``; spreads of shape are ratios, so the
    same features serve counts, money and sensor readings. Undefined features (a lag
    longer than the series, the spectrum of a constant) are 0, never NaN.

    Args:
        acf_lag: the second autocorrelation lag (7: a week of daily data).
        burst_windows: the sliding burst window is ``span / burst_windows`` long.
        resample: how irregular series are put on a grid for autocorrelation and FFT
            (``interp``, ``sum`` or ``count``, see :func:`resample`).
        grid_max: longest grid used for autocorrelation / FFT.

    Shapes:
        ``encode``: n items -> FloatTensor[n, len(feature_names)]; NaN rows for items
        with fewer than 2 finite points.
    """

    modality = "series"
    BANDS = (0.125, 0.25, 0.5)        # relative FFT band edges (fractions of Nyquist)
    feature_names: Tuple[str, ...] = (
        "level_mean", "level_median",
        "spread_std", "spread_iqr", "spread_mad", "spread_cv",
        "q_min", "q05", "q25", "q75", "q95", "q_max", "skew_quartile",
        "trend_slope", "trend_r2",
        "acf_lag1", "acf_lagk",
        "fft_band0", "fft_band1", "fft_band2", "fft_band3", "fft_entropy",
        "burst_count", "burst_value",
        "gap_mean", "gap_cv", "gap_max_ratio", "gap_burstiness", "idle_longest",
        "count", "max_mean_ratio", "frac_zero", "span",
    )

    def __init__(self, acf_lag: int = 7, burst_windows: int = 10, resample: str = "interp",
                 grid_max: int = 1024) -> None:
        super().__init__()
        self.acf_lag = acf_lag
        self.burst_windows = burst_windows
        self.resample = resample
        self.grid_max = grid_max

    @property
    def id(self) -> str:
        return (f"series-stats:v1:lag{self.acf_lag}:win{self.burst_windows}:"
                f"{self.resample}:grid{self.grid_max}")

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    def encode(self, items: Sequence[Any]) -> Tensor:
        out = nan_rows(len(items), self.dim)
        rows = progress(enumerate(items), len(items), "series", min_items=5000)
        for i, item in rows:
            s = to_series(item)
            if s is not None:
                out[i] = torch.from_numpy(self.features(*s)).float()
        self.model_calls += 1 if len(items) else 0
        return out

    def features(self, t: np.ndarray, v: np.ndarray) -> np.ndarray:
        """float64[n] times (sorted) and values -> float64[dim] in ``feature_names`` order."""
        n = len(v)
        mean, std = v.mean(), v.std()
        q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
        med, iqr = q[2], q[3] - q[1]
        mad = np.median(np.abs(v - med))
        skew = (q[3] + q[1] - 2 * med) / iqr if iqr > _EPS else 0.0
        span = t[-1] - t[0]

        tn = (t - t[0]) / span if span > 0 else np.zeros(n)
        var_t = tn.var()
        cov = ((tn - tn.mean()) * (v - mean)).mean()
        slope = cov / var_t if var_t > _EPS else 0.0
        r2 = cov ** 2 / (var_t * std ** 2) if var_t > _EPS and std > _EPS else 0.0

        m = min(max(n, 16), self.grid_max)
        grid = v if _is_regular(t) and n <= self.grid_max else resample(t, v, m, self.resample)
        bands, entropy = self._spectrum(grid)
        gaps = np.diff(t)
        g_mean, g_std = gaps.mean(), gaps.std()
        absv = np.abs(v)
        peak = np.log1p(absv.max() / (absv.mean() + _EPS)) if absv.max() > 0 else 0.0
        feats = [
            _slog(mean), _slog(med),
            _slog(std), _slog(iqr), _slog(mad), std / (abs(mean) + std + _EPS),
            _slog(v.min()), _slog(q[0]), _slog(q[1]), _slog(q[3]), _slog(q[4]), _slog(v.max()),
            skew,
            float(np.clip(slope / (std + _EPS), -10, 10)), r2,
            _acf(grid, 1), _acf(grid, self.acf_lag),
            *bands, entropy,
            *self._burst(t, v, span),
            _slog(g_mean), g_std / g_mean if g_mean > _EPS else 0.0,
            np.log1p(gaps.max() / g_mean) if g_mean > _EPS else 0.0,
            (g_std - g_mean) / (g_std + g_mean) if g_std + g_mean > _EPS else 0.0,
            self._idle(t, v, gaps),
            np.log1p(n), peak,
            float(np.mean(v == 0)), np.log1p(span),
        ]
        return np.nan_to_num(np.asarray(feats, dtype=np.float64), nan=0.0)

    def _spectrum(self, x: np.ndarray) -> Tuple[List[float], float]:
        """Relative energy in 4 frequency bands and the normalised spectral entropy."""
        power = np.abs(np.fft.rfft(x - x.mean()))[1:] ** 2
        total = power.sum()
        if len(power) < 2 or total <= _EPS:
            return [0.0] * (len(self.BANDS) + 1), 0.0
        frac = np.arange(1, len(power) + 1) / len(power)       # fraction of Nyquist
        band = np.searchsorted(np.asarray(self.BANDS), frac, side="left")
        energy = np.bincount(band, weights=power, minlength=len(self.BANDS) + 1) / total
        p = power / total
        entropy = float(-(p[p > 0] * np.log(p[p > 0])).sum() / np.log(len(p)))
        return energy.tolist(), entropy

    def _burst(self, t: np.ndarray, v: np.ndarray, span: float) -> Tuple[float, float]:
        """Max over sliding windows of (events, activity ``|v - median|``) in the window,
        divided by the mean per window: 1 for even activity, up to ``burst_windows``."""
        W = self.burst_windows
        if span <= 0:
            return float(W), 1.0
        end = np.searchsorted(t, t + span / W, side="left")     # window [t_i, t_i + w)
        idx = np.arange(len(t))
        counts = (end - idx).max() / (len(t) / W)
        act = np.abs(v - np.median(v))
        total = act.sum()
        if total <= _EPS:
            return float(counts), 1.0
        csum = np.concatenate([[0.0], np.cumsum(act)])
        value = (csum[end] - csum[idx]).max() / (total / W)
        return float(counts), float(value)

    @staticmethod
    def _idle(t: np.ndarray, v: np.ndarray, gaps: np.ndarray) -> float:
        """Longest stretch without activity (a time gap or a run of zeros) / span."""
        step = float(np.median(gaps))
        total = t[-1] - t[0] + step
        if total <= _EPS:
            return 0.0
        longest = gaps.max()
        zero = np.concatenate([[0], (v == 0).astype(np.int8), [0]])
        edges = np.flatnonzero(np.diff(zero))
        if len(edges):
            starts, stops = edges[::2], edges[1::2] - 1
            longest = max(longest, float((t[stops] - t[starts]).max()) + step)
        return float(min(longest / total, 1.0))


class _SeriesAE(nn.Module):
    """1D-CNN autoencoder. Shapes: [b, length] -> code [b, dim] -> [b, length]."""

    def __init__(self, length: int, dim: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(8),
            nn.Flatten(), nn.Linear(32 * 8, dim))
        self.decoder = nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, length))

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x.unsqueeze(1)))


class SeriesCNNEncoder(ModalityEncoder):
    """Learned shape embedding: each series is resampled to ``length`` points, robustly
    standardised (median / IQR), and encoded by a small 1D-CNN autoencoder trained on the
    fitted items. Level and scale are removed; pair it with ``SeriesStatsEncoder`` for them.
    Deterministic for a given ``seed`` on one device.

    Shapes:
        ``encode``: n items -> FloatTensor[n, dim]; NaN rows for unusable items.
    """

    modality = "series"
    requires_fit = True

    def __init__(self, dim: int = 16, length: int = 64, epochs: int = 30, seed: int = 0,
                 batch_size: int = 128, lr: float = 3e-3, resample: str = "interp",
                 device: str | None = None) -> None:
        super().__init__()
        self._dim = dim
        self.length = length
        self.epochs = epochs
        self.seed = seed
        self.batch_size = batch_size
        self.lr = lr
        self.resample = resample
        self.device = device

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def id(self) -> str:
        state = getattr(self, "state_hash_", "unfitted")
        return f"series-cnn:dim{self._dim}:len{self.length}:{self.resample}:{state}"

    def _prepare(self, items: Sequence[Any]) -> Tuple[Tensor, List[int]]:
        """items -> (FloatTensor[n_valid, length] standardised, indices of valid items)."""
        rows, valid = [], []
        for i, item in enumerate(items):
            s = to_series(item)
            if s is None:
                continue
            g = resample(s[0], s[1], self.length, self.resample)
            q25, med, q75 = np.quantile(g, [0.25, 0.5, 0.75])
            scale = (q75 - q25) / 1.349 or g.std() or 1.0
            rows.append(np.clip((g - med) / scale, -10, 10))
            valid.append(i)
        x = torch.tensor(np.stack(rows), dtype=torch.float32) if rows else \
            torch.empty(0, self.length)
        return x, valid

    def fit(self, items: Sequence[Any]) -> "SeriesCNNEncoder":
        x, _ = self._prepare(items)
        if len(x) == 0:
            raise EncoderError("SeriesCNNEncoder.fit got no series with 2+ finite points")
        device = resolve_device(self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = _SeriesAE(self.length, self._dim).to(device)
        gen = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        x = x.to(device)
        net.train()
        for _ in range(self.epochs):
            for b in torch.randperm(len(x), generator=gen).split(self.batch_size):
                loss = torch.nn.functional.mse_loss(net(x[b]), x[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.net_ = net.eval()
        self.loss_ = float(loss.detach())
        h = hashlib.sha1()
        for p in net.state_dict().values():
            h.update(p.detach().cpu().numpy().tobytes())
        self.state_hash_ = h.hexdigest()[:12]
        return self

    @torch.inference_mode()
    def encode(self, items: Sequence[Any]) -> Tensor:
        if not hasattr(self, "net_"):
            raise NotFittedError("SeriesCNNEncoder is not fitted: call fit(series) first")
        out = nan_rows(len(items), self._dim)
        x, valid = self._prepare(items)
        if valid:
            device = next(self.net_.parameters()).device
            codes = [self.net_.encoder(b.to(device).unsqueeze(1)).cpu()
                     for b in x.split(4096)]
            out[valid] = torch.cat(codes).float()
            self.model_calls += 1
        return out
