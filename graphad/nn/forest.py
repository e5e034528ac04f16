"""Isolation forests kept as plain tensors (no pickle in a saved model).

:func:`fit_forest` fits scikit-learn's ``IsolationForest`` and keeps its trees as
tensors (split feature, threshold, children, the average path length below each
node); :func:`forest_scores` walks them vectorised and returns scikit-learn's
``-score_samples``, ``2^(-E[h(x)] / c(psi))``, to float precision.
"""
from __future__ import annotations

from typing import Dict, Mapping

import numpy as np
import torch
from torch import Tensor

N_TREES = 100
MAX_SAMPLES = 256
CHUNK = 20_000           # rows scored at once (memory: trees x CHUNK longs)
KEYS = ("feat", "thr", "left", "right", "leaf", "psi")


def path_length(n: Tensor) -> Tensor:
    """Average path length of an unsuccessful BST search among ``n`` points."""
    n = n.double()
    out = 2.0 * (torch.log(torch.clamp(n - 1, min=1)) + 0.5772156649) - 2.0 * (n - 1) / n
    return torch.where(n > 2, out, torch.where(n == 2, torch.ones_like(n),
                                               torch.zeros_like(n)))


def fit_forest(x: np.ndarray, seed: int, n_trees: int = N_TREES,
               max_samples: int = MAX_SAMPLES) -> Dict[str, Tensor]:
    """Fit an isolation forest on ``x [n, d]``; its trees as tensors ``[trees, nodes]``."""
    from sklearn.ensemble import IsolationForest
    forest = IsolationForest(n_estimators=n_trees, max_samples=min(max_samples, len(x)),
                             random_state=seed).fit(x)
    for sub in forest.estimators_features_:
        if not np.array_equal(sub, np.arange(forest.n_features_in_)):
            raise RuntimeError("isolation forest subsampled features")
    trees = [est.tree_ for est in forest.estimators_]
    width = max(tr.node_count for tr in trees)
    feat = np.full((len(trees), width), -1, dtype=np.int64)
    thr = np.zeros((len(trees), width))
    left = np.full((len(trees), width), -1, dtype=np.int64)
    right = np.full((len(trees), width), -1, dtype=np.int64)
    leaf = np.zeros((len(trees), width))
    for i, tr in enumerate(trees):
        k = tr.node_count
        feat[i, :k], thr[i, :k] = tr.feature, tr.threshold
        left[i, :k], right[i, :k] = tr.children_left, tr.children_right
        leaf[i, :k] = path_length(torch.as_tensor(tr.n_node_samples)).numpy()
    return {"feat": torch.as_tensor(feat), "thr": torch.as_tensor(thr),
            "left": torch.as_tensor(left), "right": torch.as_tensor(right),
            "leaf": torch.as_tensor(leaf),
            "psi": torch.tensor(float(forest.max_samples_), dtype=torch.float64)}


@torch.no_grad()
def forest_scores(x: Tensor, forest: Mapping[str, Tensor]) -> Tensor:
    """``[n]`` anomaly scores in (0, 1] of rows ``x [n, d]``."""
    if x.size(0) == 0:
        return torch.zeros(0)
    return torch.cat([_scores(chunk, forest) for chunk in x.split(CHUNK)])


def _scores(x: Tensor, forest: Mapping[str, Tensor]) -> Tensor:
    feat, thr, left, right, leaf, psi = (forest[k] for k in KEYS)
    n, d = x.size(0), x.size(1)
    trees, width = feat.shape
    # flat 1-D gathers: tree t's node k sits at t * width + k, row i's column f at i * d + f
    feat_f, thr_f = feat.reshape(-1), thr.reshape(-1)
    left_f, right_f = left.reshape(-1), right.reshape(-1)
    x_f = x.double().reshape(-1)
    base = (torch.arange(trees) * width).view(-1, 1)
    row = (torch.arange(n) * d).view(1, -1)
    at = base.expand(trees, n).clone()           # [trees, n] flat position of the node
    depth = torch.zeros(trees, n, dtype=torch.float64)
    for _ in range(width):
        f = feat_f[at]
        inner = f >= 0
        if not inner.any():
            break
        go_left = x_f[row + f.clamp(min=0)] <= thr_f[at]
        nxt = torch.where(go_left, left_f[at], right_f[at]) + base
        at = torch.where(inner, nxt, at)
        depth += inner
    depth += leaf.reshape(-1)[at]
    return torch.pow(2.0, -depth.mean(dim=0) / path_length(psi.view(1))).float()
