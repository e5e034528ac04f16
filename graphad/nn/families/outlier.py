"""Outlyingness: how isolated a node's input is among its type.

Two isolation forests (fitted on the training graph) per node type:

* ``outlier``: on the prepared own input (features, degrees, incident edge-attribute
  aggregates): a plain feature outlier with ordinary neighbours is never missed,
  whatever the autoencoder learned;
* ``outlier:fused``: on the fused input, the own input then per incoming relation the
  neighbours' mean input and a has-neighbour flag (what early fusion sees).

A forest on the fused input alone dilutes a single odd own column among the
neighbourhood columns; one on the own input alone misses a node whose neighbourhood is
odd: measured on the benchmark sets, each wins on about half of them. The trees grow all
at once in torch (:mod:`graphad.nn.forest_grow`: scikit-learn's model, without its
per-tree estimator overhead) and are kept as plain tensors (:mod:`graphad.nn.forest`),
so a saved model holds no pickle; the score is ``-score_samples`` in scikit-learn's
terms.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import NodeType
from ..forest import KEYS, fit_forest, forest_scores, heap_layout
from .base import ComponentFamily, EdgeErrors, Errors, Latents


def fused_input(store) -> Tensor:
    """``[n, d_fused]``: ``x``, then per incoming relation (sorted by key) the
    neighbour mean and the has-neighbour flag."""
    parts = [store.x]
    for key in sorted(k for k in store.keys() if k.startswith("nbr__")):
        has = store["has__" + key[len("nbr__"):]]
        parts += [store[key], has.float().view(-1, 1)]
    return torch.cat(parts, dim=1).float()


def _views(store) -> Dict[str, Tensor]:
    """The inputs a forest sees: ``own`` (``x``) and ``fused`` (where the type has
    incoming relations)."""
    out = {"own": store.x.float()}
    if any(k.startswith("nbr__") for k in store.keys()):
        out["fused"] = fused_input(store)
    return out


class OutlierFamily(ComponentFamily):
    """Isolation forests per node type on the own and the fused input (components
    ``outlier`` and ``outlier:fused``).

    Fitted on every training node, held-out ones included
    (:mod:`graphad.scoring.holdout`): a forest isolates a point beyond the range of
    the points it was grown on no faster than the most extreme of them, so a node
    left out of it would be judged no rarer than the edge of the bulk.

    Args:
        seed: seeds the forests' row samples, features and thresholds.
    """

    fitted_prefixes = tuple(f"{k}_" for k in KEYS)   # the forests' tensors

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = seed
        # each forest's heap layout, built once per fitted or loaded tree tensor
        self._heaps: Dict[str, Tuple[Tensor, int, Dict[str, Tensor]]] = {}

    @torch.no_grad()
    def fit(self, data: HeteroData) -> None:
        for t in data.node_types:
            if data[t].num_nodes < 4 or "x" not in data[t]:
                continue
            for view, x in _views(data[t]).items():
                forest = fit_forest(x.numpy(), self.seed)
                for name, value in forest.items():
                    self.register_buffer(f"{name}_{_safe(f'{t}__{view}')}", value)

    def _forest(self, key: str) -> Optional[Dict[str, Tensor]]:
        """The forest of ``key`` in :func:`~graphad.nn.forest.heap_layout` form."""
        key = _safe(key)
        if not hasattr(self, f"feat_{key}"):
            return None
        feat = getattr(self, f"feat_{key}")
        heaps = self.__dict__.setdefault("_heaps", {})   # absent in older pickles
        cached = heaps.get(key)
        if cached is None or cached[0] is not feat or cached[1] != feat._version:
            heap = heap_layout({name: getattr(self, f"{name}_{key}") for name in KEYS})
            heaps[key] = cached = (feat, feat._version, heap)
        return cached[2]

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        out: Errors = {}
        for t in batch.node_types:
            if "x" not in batch[t]:
                continue
            for view, x in _views(batch[t]).items():
                forest = self._forest(f"{t}__{view}")
                if forest is None:
                    continue
                name = "outlier" if view == "own" else f"outlier:{view}"
                out.setdefault(t, {})[name] = forest_scores(x, forest)
        return out, {}


def _safe(t: NodeType) -> str:
    return "".join(c if c.isalnum() else "_" for c in t)


def _phrase(ex, name: str, rarity: str) -> str:
    if name != "outlier":      # outlier:fused: its own and its neighbours' inputs
        return (f"its own and its neighbours' inputs isolated among its type "
                f"({name}{rarity})")
    if not ex.features.empty:
        from ...scoring.reasons import unusual_features_text
        return (f"inputs isolated among its type ({name}{rarity}): "
                f"{unusual_features_text(ex)}")
    return f"inputs isolated among its type ({name}{rarity})"


register_component(ComponentSpec("outlier", "inputs isolated among its type (isolation "
                                 "forest)", phrase=_phrase))

