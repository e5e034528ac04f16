"""Outlyingness: how isolated a node's input is among its type.

Two isolation forests (scikit-learn's, fitted on the training graph) per node type:

* ``outlier``: on the prepared own input (features, degrees, incident edge-attribute
  aggregates): a plain feature outlier with ordinary neighbours is never missed,
  whatever the autoencoder learned;
* ``outlier:fused``: on the fused input, the own input then per incoming relation the
  neighbours' mean input and a has-neighbour flag (what early fusion sees).

A forest on the fused input alone dilutes a single odd own column among the
neighbourhood columns; one on the own input alone misses a node whose neighbourhood is
odd: measured on the benchmark sets, each wins on about half of them. The fitted trees are kept as plain tensors (feature, threshold,
children, leaf sizes) and scored here with a vectorised walk, so a saved model holds no
pickle; the score is scikit-learn's ``-score_samples`` (``2^(-E[h] / c(psi))``).
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import NodeType
from .base import ComponentFamily, EdgeErrors, Errors, Latents

N_TREES = 100
MAX_SAMPLES = 256
CHUNK = 20_000           # nodes scored at once (memory: trees x CHUNK longs)


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


def _c(n: Tensor) -> Tensor:
    """Average path length of an unsuccessful BST search among ``n`` points."""
    n = n.double()
    out = 2.0 * (torch.log(torch.clamp(n - 1, min=1)) + 0.5772156649) - 2.0 * (n - 1) / n
    out = torch.where(n > 2, out, torch.where(n == 2, torch.ones_like(n), torch.zeros_like(n)))
    return out


class OutlierFamily(ComponentFamily):
    """Isolation forests per node type on the own and the fused input (components
    ``outlier`` and ``outlier:fused``).

    Args:
        seed: the forest's ``random_state``.
    """

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = seed

    @torch.no_grad()
    def fit(self, data: HeteroData) -> None:
        from sklearn.ensemble import IsolationForest
        for t in data.node_types:
            if data[t].num_nodes < 4 or "x" not in data[t]:
                continue
            for view, x in _views(data[t]).items():
                x = x.numpy()
                forest = IsolationForest(n_estimators=N_TREES,
                                         max_samples=min(MAX_SAMPLES, x.shape[0]),
                                         random_state=self.seed).fit(x)
                self._store(f"{t}__{view}", forest, x.shape[0])

    def _store(self, t: NodeType, forest, n: int) -> None:
        trees = [est.tree_ for est in forest.estimators_]
        width = max(tr.node_count for tr in trees)
        feat = np.full((len(trees), width), -1, dtype=np.int64)
        thr = np.zeros((len(trees), width))
        left = np.full((len(trees), width), -1, dtype=np.int64)
        right = np.full((len(trees), width), -1, dtype=np.int64)
        depth_add = np.zeros((len(trees), width))
        for i, tr in enumerate(trees):
            k = tr.node_count
            feat[i, :k], thr[i, :k] = tr.feature, tr.threshold
            left[i, :k], right[i, :k] = tr.children_left, tr.children_right
            depth_add[i, :k] = _c(torch.as_tensor(tr.n_node_samples)).numpy()
        for sub, est in zip(forest.estimators_features_, forest.estimators_):
            if len(sub) != forest.n_features_in_ or not np.array_equal(
                    sub, np.arange(forest.n_features_in_)):
                raise RuntimeError("isolation forest subsampled features")
        psi = float(forest.max_samples_)
        key = _safe(t)
        for name, value in (("feat", feat), ("thr", thr), ("left", left),
                            ("right", right), ("leaf", depth_add)):
            self.register_buffer(f"{name}_{key}", torch.as_tensor(value))
        self.register_buffer(f"psi_{key}", torch.tensor(psi, dtype=torch.float64))

    def _forest(self, t: NodeType):
        key = _safe(t)
        if not hasattr(self, f"feat_{key}"):
            return None
        return tuple(getattr(self, f"{n}_{key}")
                     for n in ("feat", "thr", "left", "right", "leaf", "psi"))

    @torch.no_grad()
    def scores(self, x: Tensor, forest) -> Tensor:
        """``[n]`` anomaly scores in (0, 1] (scikit-learn's ``-score_samples``)."""
        feat, thr, left, right, leaf, psi = forest
        n, trees = x.size(0), feat.size(0)
        x = x.double()
        node = torch.zeros(trees, n, dtype=torch.long)
        depth = torch.zeros(trees, n, dtype=torch.float64)
        rows = torch.arange(trees).view(-1, 1)
        cols = torch.arange(n).view(1, -1)
        for _ in range(feat.size(1)):
            f = feat[rows, node]
            inner = f >= 0
            if not inner.any():
                break
            go_left = x[cols, f.clamp(min=0)] <= thr[rows, node]
            nxt = torch.where(go_left, left[rows, node], right[rows, node])
            node = torch.where(inner, nxt, node)
            depth = depth + inner.double()
        depth = depth + leaf[rows, node]
        mean_depth = depth.mean(dim=0)
        return torch.pow(2.0, -mean_depth / _c(psi.view(1))).float()

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
                out.setdefault(t, {})[name] = (
                    torch.cat([self.scores(chunk, forest) for chunk in x.split(CHUNK)])
                    if len(x) else x.new_zeros(0))
        return out, {}


def _safe(t: NodeType) -> str:
    return "".join(c if c.isalnum() else "_" for c in t)


def _phrase(ex, name: str, rarity: str) -> str:
    if not ex.features.empty:
        feats = ", ".join(f"{r['feature']}={r['value']}" for _, r in
                          ex.features.head(2).iterrows())
        return f"isolated among its type: {feats} (outlier{rarity})"
    return f"isolated among its type (outlier{rarity})"


register_component(ComponentSpec("outlier", "isolated among its type (isolation forest)",
                                 phrase=_phrase))

