"""Saving and loading fitted detectors without pickling arbitrary objects.

A saved detector is one ``torch.save`` file holding a versioned envelope of plain data::

    {"format": "graphad-detector", "format_version": 2,
     "versions": {"graphad": ..., "torch": ..., "torch_geometric": ...},
     "class": "MultimodalGAE", "params": get_params(),
     "state": {fitted attribute: value},          # tensors, numbers, strings, containers
     "module": {"state_dict": ...}}          # deep detectors (config: module_config_)

It is read back with ``torch.load(..., weights_only=True)``, which refuses anything but
tensors and plain containers, so loading a file cannot run code. Fitted helpers that
are objects (normalisers, encoders: the classes of :mod:`graphad.state`) are stored
as their ``get_state()`` and rebuilt with ``from_state``; the torch module is rebuilt
from the parameters and fitted metadata, then its ``state_dict`` is loaded.

Detectors whose fitted state is not plain data (a scikit-learn estimator kept as
an object) cannot be saved: graphad never writes nor reads a pickle, so no model file
can run code. A file holding one (written by an older graphad with ``trusted=True``)
is refused before anything in it is unpickled.

Example:
    >>> save_detector(det, "model.pt")
    >>> det2 = load_detector("model.pt")
    >>> a, b = det.decision_function(graph), det2.decision_function(graph)
    >>> torch.equal(a["user"], b["user"])
    True
"""
from __future__ import annotations

import importlib
import io
import warnings
from pathlib import Path
from typing import Any, Dict, Union

import torch
from torch import Tensor, nn

from ..errors import GraphadError
from ..state import TAG, from_record, is_record, is_stateful, to_record
from .registry import persistable_classes

FORMAT = "graphad-detector"
FORMAT_VERSION = 2     # 2: the module holds component families (graphad.nn.families)
PathLike = Union[str, Path]

#: class name -> module; only these classes are ever instantiated by ``load_detector``
#: (the registry's entries marked ``persistable``)
_CLASSES: Dict[str, str] = persistable_classes()
_TRUSTED_ONLY = "pickled"


def _versions() -> Dict[str, str]:
    import torch_geometric

    from .. import __version__
    return {"graphad": str(__version__), "torch": str(torch.__version__),
            "torch_geometric": str(torch_geometric.__version__)}


# ---------------------------------------------------------------- plain data
def _encode(value: Any, where: str) -> Any:
    """Fitted value -> tensors / numbers / strings / containers (or an error)."""
    if is_stateful(value):                 # normalisers, encoders: graphad.state
        record = to_record(value)
        return {TAG: record[TAG], "state": _encode(record["state"], where)}
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if value is None:
        return None
    for plain in (bool, int, float, str):    # subclasses (TorchVersion...) made plain
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, (list, tuple)):
        items = [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool, tuple)):
                raise GraphadError(f"cannot save {where}: key {k!r} is not plain data")
            out[k] = _encode(v, f"{where}[{k!r}]")
        return out
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:   # numpy scalar
        return value.item()
    raise GraphadError(f"cannot save {where}: {type(value).__name__} is not plain data "
                       "(graphad saves plain data only, never a pickle)")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if is_record(value):
            return from_record({TAG: value[TAG], "state": _decode(value["state"])})
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode(v) for v in value)
    return value


def _params(det: Any) -> Dict[str, Any]:
    return _encode(det.get_params(deep=False), "params")


def _fitted_state(det: Any) -> Dict[str, Any]:
    return {name: _encode(value, name) for name, value in vars(det).items()
            if name.endswith("_") and not name.startswith("_") and name != "module_"}


# ---------------------------------------------------------------- save
def save_detector(det: Any, path: PathLike, schema: Any = None) -> Path:
    """Write a fitted detector to ``path`` (atomically).

    Args:
        det: a fitted detector.
        path: output file (``.pt`` by convention), or a path without a suffix: a model
            directory (:mod:`graphad.detectors.model_dir`: the envelope, the schema
            and a manifest of SHA-256 sums; never a pickle).
        schema: the training schema, kept in a model directory.
    """
    from sklearn.utils.validation import check_is_fitted

    from ..data.io import atomic_write_bytes
    check_is_fitted(det, "normalizer_")
    if Path(path).suffix == "":
        from .model_dir import save_model_dir
        return save_model_dir(det, path, schema)
    name = type(det).__name__
    envelope: Dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION,
                                "versions": _versions(), "class": name}
    if name in _CLASSES and _CLASSES[name] == type(det).__module__:
        envelope["params"] = _params(det)
        envelope["state"] = _fitted_state(det)
        module = getattr(det, "module_", None)
        if isinstance(module, nn.Module):
            envelope["module"] = _module_record(det, module)
    else:
        raise GraphadError(f"{name} cannot be saved: its fitted state is not plain data "
                           "(graphad never writes a pickle; register it as persistable "
                           "with a get_state / from_state for its fitted objects)")
    buffer = io.BytesIO()
    torch.save(envelope, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def _module_record(det: Any, module: nn.Module) -> Dict[str, Any]:
    """The module's weights and fitted buffers (its config is the fitted
    ``module_config_``)."""
    return {"state_dict": {k: v.detach().cpu().clone()
                           for k, v in module.state_dict().items()}}


# ---------------------------------------------------------------- load
def load_detector(path: PathLike) -> Any:
    """Read a detector written by :func:`save_detector`.

    Args:
        path: the file, or a model directory (its manifest is checked first).

    Raises:
        GraphadError: not a graphad detector file, an unknown format version or class,
            or a pickled detector (never loaded).
    """
    path = Path(path)
    if path.is_dir():
        from .model_dir import load_model_dir
        return load_model_dir(path)
    if not path.is_file():
        raise GraphadError(f"model file not found: {path}")
    try:
        envelope = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise GraphadError(f"{path} is not a graphad detector file ({exc})") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise GraphadError(f"{path} is not a graphad detector file")
    if envelope.get("format_version") != FORMAT_VERSION:
        raise GraphadError(f"{path}: detector file format {envelope.get('format_version')}"
                           f" is not supported (this graphad reads {FORMAT_VERSION})")
    _check_versions(path, envelope.get("versions", {}))
    if _TRUSTED_ONLY in envelope:
        raise GraphadError(f"{path} holds a pickled detector (written by an older "
                           "graphad); graphad never loads pickles: fit and save it again")
    name = envelope.get("class")
    if name not in _CLASSES:
        raise GraphadError(f"{path}: unknown detector class {name!r}")
    cls = getattr(importlib.import_module(_CLASSES[name]), name)
    det = cls(**_decode(envelope["params"]))
    for attr, value in _decode(envelope["state"]).items():
        setattr(det, attr, value)
    if "module" in envelope:
        det.module_ = _rebuild_module(det, envelope["module"])
    return det


def _check_versions(path: Path, saved: Dict[str, str]) -> None:
    now = _versions()
    changed = [f"{k} {saved.get(k)} -> {now[k]}" for k in now
               if saved.get(k) is not None and saved.get(k) != now[k]]
    if changed:
        warnings.warn(f"{path} was saved with other versions ({'; '.join(changed)}); "
                      "scores may differ", stacklevel=3)


def _rebuild_module(det: Any, record: Dict[str, Any]) -> nn.Module:
    """The detector's module built from its stored config (``module_config_``), its
    closed-form buffers declared, then the saved weights loaded with ``strict=True``."""
    config = getattr(det, "module_config_", None)
    if config is None:
        raise GraphadError(f"the saved {type(det).__name__} has no module config (saved "
                           "with another graphad version?)")
    module = det._module_from_config(config)
    state = record["state_dict"]
    if hasattr(module, "register_fitted"):
        module.register_fitted(state)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise GraphadError(f"saved weights do not fit the rebuilt {type(module).__name__}"
                           f" (saved with another graphad version?): {exc}") from None
    return module.eval()


__all__ = ["save_detector", "load_detector"]
