"""The featurisation a detector was fitted with, kept as plain data.

A graph built for scoring must be featurised exactly like the training graph: the same
numeric centres and scales, the same category vocabularies (an unseen category sets no
one-hot column, the "other" slot, and is counted by the drift report), the same
modality encoders. :func:`featurizer_state` turns a built bundle's fitted transforms
into numbers, strings and lists (saved with the detector, no pickle);
:class:`Featurizer` turns them back into what :func:`graphad.build_graph` reuses::

    det.fit(graphad.build_graph(train_tables, schema))
    new = graphad.build_graph(new_tables, schema, fitted=det)   # never re-fits
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..errors import GraphadError
from ..state import from_record, is_record, is_stateful, to_record

STATE_VERSION = 1


def featurizer_state(bundle: Any) -> Optional[Dict[str, Any]]:
    """Plain-data state of a bundle's fitted transforms (None when it has none).

    ``tabular``: transform key (``tabular:<type>``, ``edge_attr:<s>__<r>__<d>``) ->
    :meth:`TabularEncoder.to_dict`; ``encoders``: ``encoder:<type>`` -> encoder id;
    ``fitted_encoders``: ``encoder:<type>`` -> a :mod:`graphad.state` record for encoders
    that learn from their inputs (TF-IDF: vocabulary, idf, SVD basis); ``refit``: fitted encoders that cannot be kept (re-fitted at
    scoring, which :meth:`Featurizer.check` refuses).
    """
    from ..encoders.tabular import TabularEncoder
    transforms = getattr(bundle, "transforms", None) or {}
    if not transforms:
        return None
    state: Dict[str, Any] = {"version": STATE_VERSION, "tabular": {}, "encoders": {},
                             "fitted_encoders": {}, "refit": []}
    for key, obj in sorted(transforms.items()):
        if isinstance(obj, TabularEncoder):
            state["tabular"][key] = obj.to_dict()
        elif key.startswith("encoder:"):
            state["encoders"][key] = str(obj.id)
            if not getattr(obj, "requires_fit", False):
                continue
            if is_stateful(obj):
                state["fitted_encoders"][key] = to_record(obj)
            else:
                state["refit"].append(key)
    return state


class Featurizer:
    """Fitted transforms rebuilt from :func:`featurizer_state` (``.transforms`` is what
    :func:`graphad.build_graph` reuses through ``fitted=``).

    Attributes:
        transforms: transform key -> fitted :class:`TabularEncoder`.
        encoder_ids: ``encoder:<type>`` -> id of the encoder used at fit.
        state: the plain-data state.
    """

    def __init__(self, state: Dict[str, Any]):
        from ..encoders.tabular import TabularEncoder
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise GraphadError("the model's featurisation state is missing or of another "
                               f"version ({state.get('version') if isinstance(state, dict) else state!r}"
                               f"; this graphad reads {STATE_VERSION})")
        self.state = state
        self.transforms: Dict[str, Any] = {key: TabularEncoder.from_dict(s)
                                           for key, s in state.get("tabular", {}).items()}
        for key, record in state.get("fitted_encoders", {}).items():
            # a record in memory; persistence hands back the rebuilt encoder
            self.transforms[key] = from_record(record) if is_record(record) else record
        self.encoder_ids: Dict[str, str] = dict(state.get("encoders", {}))

    @classmethod
    def of(cls, fitted: Any) -> Optional["Featurizer"]:
        """The featurizer of a fitted detector (``featurizer_``), or None."""
        state = getattr(fitted, "featurizer_", None)
        return None if state is None else cls(state)

    def check(self, bundle: Any) -> None:
        """Refuse a graph whose modality encoders differ from the training ones."""
        for key in self.state.get("refit", []):
            raise GraphadError(f"the model's {key.split(':', 1)[1]!r} encoder was fitted "
                               "and cannot be restored: it would be re-fitted on the new "
                               "tables; use an encoder that keeps its state")
        for key, want in self.encoder_ids.items():
            enc = bundle.transforms.get(key)
            if enc is not None and str(enc.id) != want:
                raise GraphadError(f"{key.split(':', 1)[1]!r} was embedded with {enc.id} "
                                   f"but the model was fitted on {want}; use the same "
                                   "encoder (schema 'encoder') as at fit")
