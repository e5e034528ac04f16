"""A saved model as a directory: the detector envelope, the schema and a manifest.

::

    MODEL/
      detector.pt     the plain-data envelope of persistence.save_detector (weights,
                      fitted state, the featurisation: read with weights_only=True)
      schema.yaml     the schema the model was fitted with (when known)
      manifest.json   format, versions, class, and the SHA-256 of every file

Loading checks the manifest first: a file changed, added or missing after saving, a
manifest of another format, or a pickled detector (a directory never holds one) is
refused with one line naming the file. Written atomically: a new directory is filled
beside the target and renamed into place.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Union

from ..data.io import file_sha256
from ..errors import GraphadError

PathLike = Union[str, Path]
FORMAT = "graphad-model-dir"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DETECTOR = "detector.pt"
SCHEMA = "schema.yaml"


def is_model_dir(path: PathLike) -> bool:
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def save_model_dir(det: Any, folder: PathLike, schema: Any = None) -> Path:
    """Write ``det`` (and ``schema``: a :class:`GraphSchema`, dict or YAML path) as a
    model directory; an existing model directory at ``folder`` is replaced."""
    import yaml

    from .persistence import _versions, save_detector
    folder = Path(folder)
    if folder.exists() and not is_model_dir(folder):
        raise GraphadError(f"{folder} exists and is not a graphad model directory; "
                           "choose another --out")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        save_detector(det, tmp / DETECTOR)          # refuses what is not plain data
        if schema is not None:
            (tmp / SCHEMA).write_text(yaml.safe_dump(_schema_dict(schema),
                                                     sort_keys=False))
        files = {p.name: file_sha256(p) for p in sorted(tmp.iterdir())}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                    "class": type(det).__name__, "versions": _versions(), "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        old = folder.parent / f".{folder.name}.old-{os.getpid()}"
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _schema_dict(schema: Any) -> Dict[str, Any]:
    from ..data.schema import GraphSchema
    return GraphSchema.load(schema).to_dict()


def load_model_dir(folder: PathLike) -> Any:
    """Read a model directory after checking its manifest (see the module docstring)."""
    from .persistence import load_detector
    folder = Path(folder)
    manifest = read_manifest(folder)
    listed = dict(manifest["files"])
    present = {p.name for p in folder.iterdir() if p.name != MANIFEST}
    for name in sorted(present - set(listed)):
        raise GraphadError(f"{folder}: {name} is not in the manifest (added after saving?)")
    for name, digest in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            raise GraphadError(f"{folder}: {name} is listed in the manifest but missing")
        if file_sha256(path) != digest:
            raise GraphadError(f"{folder}: {name} does not match its manifest "
                               "(modified after saving?)")
    if DETECTOR not in listed:
        raise GraphadError(f"{folder}: the manifest lists no {DETECTOR}")
    det = load_detector(folder / DETECTOR)
    if type(det).__name__ != manifest.get("class"):
        raise GraphadError(f"{folder}: the manifest says {manifest.get('class')} but "
                           f"{DETECTOR} holds a {type(det).__name__}")
    return det


def read_manifest(folder: PathLike) -> Dict[str, Any]:
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GraphadError(f"{folder}: unreadable {MANIFEST} ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GraphadError(f"{folder}: {MANIFEST} is not a graphad model manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise GraphadError(f"{folder}: model directory format "
                           f"{manifest.get('format_version')!r} is not supported (this "
                           f"graphad reads {FORMAT_VERSION})")
    if not isinstance(manifest.get("files"), dict):
        raise GraphadError(f"{folder}: {MANIFEST} lists no files")
    return manifest

