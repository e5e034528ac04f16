"""Isolation forests kept as plain tensors (no pickle in a saved model).

:func:`fit_forest` grows an isolation forest (:mod:`graphad.nn.forest_grow`, or
scikit-learn's ``IsolationForest`` with ``grower="sklearn"``) and keeps its trees as
tensors (split feature, threshold, children, the average path length below each
node); :func:`forest_scores` walks them vectorised, all trees at once in the heap
layout of :func:`heap_layout`, and returns scikit-learn's ``-score_samples``,
``2^(-E[h(x)] / c(psi))``, to float precision.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping

import numpy as np
import torch
from torch import Tensor

from .forest_grow import grow_forest

N_TREES = 100
MAX_SAMPLES = 256
CHUNK = 2048          # rows scored at once: trees x CHUNK indices stay in the cache
KEYS = ("feat", "thr", "left", "right", "leaf", "psi")


def path_length(n: Tensor) -> Tensor:
    """Average path length of an unsuccessful BST search among ``n`` points."""
    n = n.double()
    out = 2.0 * (torch.log(torch.clamp(n - 1, min=1)) + 0.5772156649) - 2.0 * (n - 1) / n
    return torch.where(n > 2, out, torch.where(n == 2, torch.ones_like(n),
                                               torch.zeros_like(n)))


def fit_forest(x: np.ndarray, seed: int, n_trees: int = N_TREES,
               max_samples: int = MAX_SAMPLES, grower: str = "torch") -> Dict[str, Tensor]:
    """Fit an isolation forest on ``x [n, d]``; its trees as tensors ``[trees, nodes]``.

    ``grower``: ``"torch"`` grows all trees at once (:func:`~graphad.nn.forest_grow.
    grow_forest`, the same model as scikit-learn's with other random draws, 10-30x faster
    to fit on small inputs); ``"sklearn"`` fits scikit-learn's ``IsolationForest`` (the
    classic baselines use it, so that they are the reference implementation).
    """
    if grower == "torch":
        return grow_forest(torch.as_tensor(np.asarray(x, dtype=np.float32)), seed,
                           n_trees, max_samples, path_length)
    if grower != "sklearn":
        raise ValueError(f"grower must be 'torch' or 'sklearn', got {grower!r}")
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
    """``[n]`` anomaly scores in (0, 1] of rows ``x [n, d]``; ``forest`` as
    :func:`fit_forest` or :func:`heap_layout` returns it."""
    if x.size(0) == 0:
        return torch.zeros(0)
    heap = forest if "bottom" in forest else heap_layout(forest)
    return torch.cat([_scores(chunk, heap) for chunk in x.split(CHUNK)])


def heap_layout(forest: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """The trees as complete binary trees of one depth ``D`` (heap order: node ``p``'s
    children are ``2p + 1`` and ``2p + 2``), so a walk is ``D`` steps of three gathers
    and no child lookups.

    A leaf above depth ``D`` becomes a chain of always-left nodes (threshold ``+inf``)
    ending at its leftmost bottom slot, which holds its depth plus the average path
    length below it. Thresholds become ``float32``: scikit-learn compares ``float32``
    inputs, and ``x <= t`` equals ``x <= t32`` for every ``float32`` ``x`` when ``t32``
    is the largest ``float32`` not above ``t``.

    Returns: ``feat [trees, 2^D - 1]``, ``thr [trees, 2^D - 1]``, ``bottom [trees,
    2^D]`` (the path length ending in each bottom slot) and ``psi``.
    """
    feat, thr, left, right, leaf = (forest[k] for k in KEYS[:5])
    trees = feat.size(0)
    pos = torch.full_like(feat, -1)            # heap position of each tree node
    depth = torch.zeros_like(feat)
    pos[:, 0] = 0
    dev = feat.device
    cur_t, cur_n = torch.arange(trees, device=dev), torch.zeros(trees, dtype=torch.long,
                                                                device=dev)
    while cur_t.numel():
        inner = feat[cur_t, cur_n] >= 0
        t, n = cur_t[inner], cur_n[inner]
        p, d = pos[t, n], depth[t, n]
        for child, step in ((left[t, n], 1), (right[t, n], 2)):
            pos[t, child], depth[t, child] = 2 * p + step, d + 1
        cur_t, cur_n = torch.cat([t, t]), torch.cat([left[t, n], right[t, n]])
    used = pos >= 0
    is_leaf = used & (feat < 0)
    full = int(depth[is_leaf].max())
    inner_slots = 2 ** full - 1
    h_feat = torch.zeros(trees, max(inner_slots, 1), dtype=torch.long, device=dev)
    h_thr = torch.full((trees, max(inner_slots, 1)), math.inf, dtype=torch.float32,
                       device=dev)
    t, n = (used & (feat >= 0)).nonzero(as_tuple=True)
    h_feat[t, pos[t, n]] = feat[t, n]
    h_thr[t, pos[t, n]] = _floor_float32(thr[t, n])
    t, n = is_leaf.nonzero(as_tuple=True)
    slot = (pos[t, n] + 1) * 2 ** (full - depth[t, n]) - 1 - inner_slots
    bottom = torch.zeros(trees, 2 ** full, dtype=torch.float64, device=dev)
    bottom[t, slot] = depth[t, n].double() + leaf[t, n]
    return {"feat": h_feat, "thr": h_thr, "bottom": bottom, "psi": forest["psi"]}


def _floor_float32(t: Tensor) -> Tensor:
    """The largest ``float32`` not above each ``float64`` of ``t``."""
    out = t.float()
    above = out.double() > t
    return torch.where(above, torch.nextafter(out, torch.full_like(out, -math.inf)), out)


def _scores(x: Tensor, heap: Mapping[str, Tensor]) -> Tensor:
    feat, thr, bottom = heap["feat"], heap["thr"], heap["bottom"]
    trees = feat.size(0)
    xt = x.float().t().contiguous().to(feat.device)   # [d, n]: a gather along dim 0
    at = torch.zeros(trees, x.size(0), dtype=torch.long, device=feat.device)
    for _ in range(bottom.size(1).bit_length() - 1):
        f = feat.gather(1, at)
        right = xt.gather(0, f) > thr.gather(1, at)
        at = 2 * at + 1 + right
    depth = bottom.gather(1, at - feat.size(1) if bottom.size(1) > 1 else at)
    return torch.pow(2.0, -depth.mean(dim=0) / path_length(heap["psi"].view(1))).float()
