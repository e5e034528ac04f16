"""Reading tables and writing outputs atomically."""
from __future__ import annotations

import glob
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Union

import pandas as pd

from ..errors import DataValidationError

PathLike = Union[str, Path]


def read_table(path: PathLike, name: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file; errors name the table and the file."""
    path = Path(path)
    name = name or path.stem
    if not path.exists():
        raise DataValidationError(f"file not found: {path}", table=name)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise DataValidationError(f"cannot read {path}: {exc}", table=name) from exc
    raise DataValidationError(f"unsupported file type '{suffix}' ({path}); "
                              "use .csv, .tsv or .parquet", table=name)


def file_sha256(path: PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _temp_prefix(path: Path, pid: int) -> str:
    return f".{path.name}.{pid}.tmp-"


def _clean_orphans(path: Path) -> None:
    """Remove temporary files of ``path`` left by writers that died (killed mid-write):
    their name holds the writer's pid, which no running process has any more."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp-*"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                tmp.unlink()
            except OSError:
                pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _atomic(path: PathLike, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path, os.getpid()), dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file + rename."""
    return _atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_parquet(path: PathLike, frame: pd.DataFrame,
                         compression: str = "snappy") -> Path:
    return _atomic(path, lambda tmp: frame.to_parquet(tmp, index=False,
                                                      compression=compression))


def atomic_write_csv(path: PathLike, frame: pd.DataFrame) -> Path:
    return _atomic(path, lambda tmp: frame.to_csv(tmp, index=False))


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    return _atomic(path, lambda tmp: Path(tmp).write_bytes(data))


#: output formats of tables, by file extension
TABLE_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv",
                 ".jsonl": "jsonl", ".json": "jsonl"}


def table_format(path: PathLike, fmt: str | None = None) -> str:
    """``parquet`` / ``csv`` / ``jsonl``: ``fmt`` where given, else from the extension.

    Raises:
        GraphadError: an unknown format or extension (naming the known ones).
    """
    from ..errors import GraphadError
    if fmt is not None:
        if fmt not in set(TABLE_FORMATS.values()):
            raise GraphadError(f"unknown format {fmt!r}; use parquet, csv or jsonl")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise GraphadError(f"cannot tell the format of {path} from '{suffix}': use "
                           ".parquet, .csv or .jsonl, or pass --format")
    return TABLE_FORMATS[suffix]


def atomic_write_table(path: PathLike, frame: pd.DataFrame, fmt: str | None = None) -> Path:
    """Write ``frame`` atomically as Parquet, CSV or JSON lines (:func:`table_format`)."""
    kind = table_format(path, fmt)
    if kind == "parquet":
        return atomic_write_parquet(path, frame)
    if kind == "csv":
        return atomic_write_csv(path, frame)
    return _atomic(path, lambda tmp: frame.to_json(tmp, orient="records", lines=True,
                                                   force_ascii=False))


def check_writable(path: PathLike) -> Path:
    """Fail now, not after the computing, where ``path`` cannot be written: its nearest
    existing ancestor must be a writable folder (missing folders below it are created
    at write time), and ``path`` itself must not be a folder (for a file output)."""
    from ..errors import GraphadError
    path = Path(path)
    ancestor = path.parent
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise GraphadError(f"cannot write {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise GraphadError(f"cannot write {path}: no write permission in {ancestor}")
    return path
