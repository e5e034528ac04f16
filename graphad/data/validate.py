"""Table checks against a schema. Every error names the table, the column and rows."""
from __future__ import annotations

import warnings
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import DataValidationError


def require_columns(frame: pd.DataFrame, table: str, columns: Iterable[str],
                    role: str = "column") -> None:
    for col in columns:
        if col not in frame.columns:
            raise DataValidationError(
                f"missing {role} (available: {list(frame.columns)[:20]})",
                table=table, column=col)


def check_ids(frame: pd.DataFrame, table: str, column: str, *, unique: bool) -> None:
    """No NaN ids, and (for node tables) no duplicates."""
    ids = frame[column]
    nan = ids.isna().to_numpy()
    if nan.any():
        raise DataValidationError(f"{int(nan.sum())} missing (NaN) id(s) at row(s)",
                                  table=table, column=column,
                                  rows=frame.index[nan].tolist())
    if ids.dtype == object:
        # 1 and "1" in one column would become two nodes that print the same
        kinds = ids.map(lambda v: "text" if isinstance(v, str) else "number")
        if kinds.nunique() > 1:
            text = ids[kinds == "text"].astype(str)
            clash = ids[(kinds == "number") & ids.astype(str).isin(set(text))]
            if len(clash):
                raise DataValidationError(
                    "ids mix numbers and text that read the same (e.g. 1 and '1'); "
                    "write them one way", table=table, column=column,
                    rows=clash.index.tolist())
    if unique:
        dup = ids.duplicated(keep="first")
        if dup.any():
            raise DataValidationError("duplicate ids", table=table, column=column,
                                      rows=ids[dup].unique().tolist())


def check_not_empty(frame: pd.DataFrame, table: str, column: str | None = None) -> None:
    if len(frame) == 0:
        raise DataValidationError("node table is empty (no ids)", table=table,
                                  column=column)


def numeric_column(frame: pd.DataFrame, table: str, column: str) -> pd.Series:
    """A column as float64; datetimes become unix seconds; text raises naming rows."""
    col = frame[column]
    if pd.api.types.is_datetime64_any_dtype(col):
        # by value, not by the raw int64: pandas stores s / ms / us / ns units, and NaT
        # must become NaN (a missing value), not -9.2e9
        return (col - pd.Timestamp(0, tz=col.dt.tz)) / pd.Timedelta(seconds=1)
    if pd.api.types.is_timedelta64_dtype(col):
        return col / pd.Timedelta(seconds=1)
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return _warn_infinite(col.astype("float64"), table, column)
    converted = pd.to_numeric(col, errors="coerce")
    bad = converted.isna() & col.notna()
    if bad.any() and bad.sum() == col.notna().sum():
        # text dates (ISO 8601, as a CSV holds them): the same unix seconds as a
        # datetime column from a DataFrame
        dates = pd.to_datetime(col, errors="coerce", format="ISO8601", utc=True)
        if (dates.notna() | col.isna()).all():
            return (dates - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        if dates.notna().sum() > (dates.isna() & col.notna()).sum():
            # mostly dates: the rows to name are those that are no date
            raise DataValidationError(
                "must be numeric or ISO 8601 dates; values that are no date at row(s)",
                table=table, column=column,
                rows=[(i, v) for i, v in col[dates.isna() & col.notna()].head(5).items()])
    if bad.any():
        raise DataValidationError(
            "must be numeric (or ISO 8601 dates); non-numeric values at row(s)",
            table=table, column=column,
            rows=[(i, v) for i, v in col[bad].head(5).items()])
    return _warn_infinite(converted.astype("float64"), table, column)


def _warn_infinite(values: pd.Series, table: str, column: str) -> pd.Series:
    """Warn (naming table, column and rows) where a numeric column holds +-inf: the
    feature encoders clip them to their most extreme value instead of failing, so an
    infinite value reads as "extreme", never as missing and never silently."""
    inf = np.isinf(values.to_numpy())
    if inf.any():
        rows = values.index[inf][:5].tolist()
        warnings.warn(f"table '{table}', column '{column}': {int(inf.sum())} infinite "
                      f"value(s) at row(s) {rows}{' ...' if inf.sum() > 5 else ''}; "
                      "they are clipped to the most extreme value the encoder allows",
                      stacklevel=3)
    return values


def check_text(frame: pd.DataFrame, table: str, column: str) -> None:
    """Texts must be valid Unicode: a string holding a lone surrogate (which no encoder
    or file format can take) is refused naming its rows."""
    bad = [(i, v) for i, v in frame[column].items()
           if isinstance(v, str) and not _utf8(v)]
    if bad:
        raise DataValidationError(
            "text is not valid Unicode (a lone surrogate character) at row(s)",
            table=table, column=column,
            rows=[(i, v.encode("utf-8", "backslashreplace").decode()) for i, v in bad[:5]])


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
