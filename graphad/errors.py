"""Exceptions raised by graphad. The CLI turns each into one line and exit code 1."""
from __future__ import annotations

from typing import Any, Iterable, Optional

__all__ = ["GraphadError", "SchemaError", "DataValidationError", "EncoderError",
           "NotFittedError", "MissingDependencyError"]


class GraphadError(Exception):
    """Base class of every error graphad raises on bad input or state."""


class SchemaError(GraphadError):
    """The schema itself is malformed (unknown node type, missing key...)."""


class DataValidationError(GraphadError):
    """A table does not satisfy its schema. The message names table, column and rows."""

    def __init__(self, message: str, *, table: Optional[str] = None,
                 column: Optional[str] = None, rows: Optional[Iterable] = None):
        self.table, self.column = table, column
        self.rows = list(rows) if rows is not None else []
        where = []
        if table is not None:
            where.append(f"table '{table}'")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        text = f"{prefix}: {message}" if prefix else message
        if self.rows:
            shown = ", ".join(repr(r) for r in self.rows[:5])
            more = f" (and {len(self.rows) - 5} more)" if len(self.rows) > 5 else ""
            text += f" [first offending rows: {shown}{more}]"
        super().__init__(text)


class EncoderError(GraphadError):
    """A modality encoder could not be loaded or run."""


class MissingDependencyError(GraphadError, ImportError):
    """An optional package is needed; the message says which one to install."""


def __getattr__(name: str) -> Any:
    # scikit-learn's NotFittedError (what ``check_is_fitted`` raises), re-exported on
    # first use so that importing the errors does not import scikit-learn
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError
        return NotFittedError
    raise AttributeError(f"module 'graphad.errors' has no attribute {name!r}")
