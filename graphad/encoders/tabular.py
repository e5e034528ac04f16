"""Tabular features of one node table: robust-scaled numerics, NaN indicators, one-hot or
hashed categoricals.

Not a :class:`ModalityEncoder`: it encodes a whole ``DataFrame`` (a node table's feature
columns), learns its statistics once with ``fit`` and applies the same to new data::

    enc = TabularEncoder(numeric=["age", "balance"], categorical=["country"]).fit(df)
    X = enc.transform(new_df)            # FloatTensor[len(new_df), len(enc.feature_names)]
"""
from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..errors import DataValidationError, NotFittedError

NA_KEY = "<NA>"
IQR_TO_STD = 1.349           # IQR of a standard normal: scaled values read like z-scores


def _column(df: pd.DataFrame, col: str, table: Optional[str]) -> pd.Series:
    if col not in df.columns:
        raise DataValidationError("column is missing", table=table, column=col)
    return df[col]


def _numeric(df: pd.DataFrame, col: str, table: Optional[str]) -> np.ndarray:
    """Column as float64[n]; anything non-numeric (besides missing) is an error."""
    s = _column(df, col, table)
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(float)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna()
    if bad.any():
        raise DataValidationError(
            f"numeric column has non-numeric values (e.g. {s[bad].iloc[0]!r})",
            table=table, column=col, rows=list(s.index[bad]))
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _cat_key(v: Any) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return NA_KEY
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))                 # 3 and 3.0 (int column with NaN) are one category
    return str(v)


def _cat_keys(df: pd.DataFrame, col: str, table: Optional[str]) -> np.ndarray:
    return np.asarray([_cat_key(v) for v in _column(df, col, table).tolist()], dtype=object)


def stable_bucket(key: str, n: int) -> int:
    """Process-independent hash bucket (CRC32, not Python's salted ``hash``)."""
    return zlib.crc32(key.encode("utf-8")) % n


class TabularEncoder:
    """Numeric + categorical columns of a table -> FloatTensor[n, d].

    Numeric: ``(x - median) / (IQR / 1.349)`` (std, then 1, when the IQR is 0), clipped to
    ``+-clip``; NaN is imputed with the fitted median and, for columns that had NaN at fit
    time, flagged in a ``<col>__isnan`` column. Categorical with at most ``max_onehot``
    distinct values (missing counts as one): one-hot over the fitted categories, an unseen
    category is all zeros; otherwise ``hash_dim`` CRC32 buckets.

    Args:
        numeric: numeric column names.
        categorical: categorical column names.
        max_onehot: largest cardinality that is one-hot encoded.
        hash_dim: buckets for high-cardinality columns.
        clip: bound of the scaled numerics.
    """

    def __init__(self, numeric: Sequence[str] = (), categorical: Sequence[str] = (),
                 max_onehot: int = 20, hash_dim: int = 16, clip: float = 5.0) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.max_onehot = max_onehot
        self.hash_dim = hash_dim
        self.clip = clip

    # -- fit / transform --------------------------------------------------------------
    def fit(self, df: pd.DataFrame, table: Optional[str] = None) -> "TabularEncoder":
        """Learn medians, scales, NaN columns and categories from ``df``."""
        self.medians_: Dict[str, float] = {}
        self.scales_: Dict[str, float] = {}
        self.nan_cols_: List[str] = []
        for col in self.numeric:
            x = _numeric(df, col, table)
            finite = x[np.isfinite(x)]
            med, scale = 0.0, 1.0
            if len(finite):
                q25, med, q75 = np.quantile(finite, [0.25, 0.5, 0.75])
                scale = (q75 - q25) / IQR_TO_STD or float(finite.std()) or 1.0
            self.medians_[col], self.scales_[col] = float(med), float(scale)
            if np.isnan(x).any():
                self.nan_cols_.append(col)
        self.categories_: Dict[str, List[str]] = {}
        self.hashed_: List[str] = []
        for col in self.categorical:
            uniq = sorted(set(_cat_keys(df, col, table)))
            if len(uniq) <= self.max_onehot:
                self.categories_[col] = uniq
            else:
                self.hashed_.append(col)
        self._set_names()
        return self

    def _set_names(self) -> None:
        names = list(self.numeric) + [f"{c}__isnan" for c in self.nan_cols_]
        for col in self.categorical:
            if col in self.categories_:
                names += [f"{col}={v}" for v in self.categories_[col]]
            else:
                names += [f"{col}#h{k}" for k in range(self.hash_dim)]
        self.feature_names_ = names

    def transform(self, df: pd.DataFrame, table: Optional[str] = None) -> Tensor:
        """``df`` -> FloatTensor[len(df), len(feature_names)] with the fitted statistics."""
        self._check_fitted()
        n = len(df)
        blocks: List[np.ndarray] = []
        raw = {col: _numeric(df, col, table) for col in self.numeric}
        for col, x in raw.items():
            z = (np.nan_to_num(x, nan=self.medians_[col]) - self.medians_[col]) \
                / self.scales_[col]
            blocks.append(np.clip(z, -self.clip, self.clip)[:, None])
        blocks += [np.isnan(raw[col]).astype(np.float64)[:, None] for col in self.nan_cols_]
        for col in self.categorical:
            keys = _cat_keys(df, col, table)
            if col in self.categories_:
                codes = pd.Index(self.categories_[col]).get_indexer(keys)
                width = len(self.categories_[col])
            else:
                uniq, inv = np.unique(keys.astype(str), return_inverse=True)
                codes = np.asarray([stable_bucket(k, self.hash_dim) for k in uniq])[inv]
                width = self.hash_dim
            onehot = np.zeros((n, width))
            hit = codes >= 0                                   # -1: unseen category
            onehot[np.flatnonzero(hit), codes[hit]] = 1.0
            blocks.append(onehot)
        X = np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))
        return torch.from_numpy(X.astype(np.float32))

    def fit_transform(self, df: pd.DataFrame, table: Optional[str] = None) -> Tensor:
        return self.fit(df, table).transform(df, table)

    # -- state ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_names_"):
            raise NotFittedError("TabularEncoder is not fitted: call fit(df) first")

    @property
    def feature_names(self) -> List[str]:
        self._check_fitted()
        return list(self.feature_names_)

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe parameters + fitted state (no pickle needed to keep it)."""
        self._check_fitted()
        return {"numeric": self.numeric, "categorical": self.categorical,
                "max_onehot": self.max_onehot, "hash_dim": self.hash_dim, "clip": self.clip,
                "medians_": self.medians_, "scales_": self.scales_,
                "nan_cols_": self.nan_cols_, "categories_": self.categories_,
                "hashed_": self.hashed_}

    @classmethod
    def from_dict(cls, state: Dict[str, Any]) -> "TabularEncoder":
        enc = cls(state["numeric"], state["categorical"], state["max_onehot"],
                  state["hash_dim"], state["clip"])
        for key in ("medians_", "scales_", "nan_cols_", "categories_", "hashed_"):
            setattr(enc, key, state[key])
        enc._set_names()
        return enc

    def get_state(self) -> Dict[str, Any]:
        """Plain-data state (see :mod:`graphad.state`): :meth:`to_dict`."""
        return self.to_dict()

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> "TabularEncoder":
        return cls.from_dict(state)

    @property
    def id(self) -> str:
        """Hash of parameters + fitted state."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return f"tabular:{hashlib.sha1(blob).hexdigest()[:12]}"

    def __repr__(self) -> str:
        return (f"TabularEncoder(numeric={self.numeric}, categorical={self.categorical}, "
                f"max_onehot={self.max_onehot}, hash_dim={self.hash_dim})")
