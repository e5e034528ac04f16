"""Isolation trees grown all at once, level by level, in torch.

scikit-learn's ``IsolationForest`` fits one estimator object per tree; on a small graph
that per-tree overhead (parameter checks, random-state setup) is most of a fit. Here the
trees of a forest grow together: at each depth every open node of every tree draws a
feature and a threshold in a few vectorised gathers and scatters over the ``trees x psi``
sampled rows. The algorithm is Liu et al.'s, as scikit-learn implements it:

* each tree sees ``psi = min(max_samples, n)`` rows drawn without replacement;
* a node with two or more rows splits on a feature drawn uniformly among those not
  constant on its rows, at a threshold drawn uniformly in ``[min, max)`` of that feature
  (rows ``<= threshold`` go left);
* trees stop at depth ``ceil(log2(psi))``; a node with one row, or whose rows agree on
  every feature, is a leaf.

The result is the tensor form of :func:`graphad.nn.forest.fit_forest`; trees are in heap
order (node ``p``'s children are ``2p + 1`` and ``2p + 2``). It is the same model as
scikit-learn's, not the same random draws: scores agree in distribution, not bit for bit.
"""
from __future__ import annotations

import math
from typing import Callable, Dict

import numpy as np
import torch
from torch import Tensor

CONSTANT = 1e-7        # scikit-learn's FEATURE_THRESHOLD: a feature this flat is constant
REDRAWS = 8            # random feature draws before a node checks all its features
ROW_BUDGET = 1 << 22   # sampled values gathered at once when a node checks all features


def grow_forest(x: Tensor, seed: int, n_trees: int, max_samples: int,
                path_length: Callable[[Tensor], Tensor]) -> Dict[str, Tensor]:
    """Grow ``n_trees`` isolation trees on ``x [n, d]`` (``float32``).

    ``path_length(n)``: the average path length below a leaf of ``n`` rows.
    Returns ``feat, thr, left, right, leaf [trees, 2^(D+1) - 1]`` (``feat = -1`` at a
    leaf, ``leaf`` = the average path length below a leaf) and ``psi``.
    """
    x = x.float().contiguous()
    n, d = x.shape
    psi = min(max_samples, n)
    depth = max(1, math.ceil(math.log2(max(psi, 2))))
    rng = np.random.default_rng(seed)
    rows = torch.as_tensor(np.stack([rng.choice(n, psi, replace=False)
                                     for _ in range(n_trees)]))            # [T, psi]
    gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
    width = 2 ** (depth + 1) - 1
    feat = torch.full((n_trees, width), -1, dtype=torch.long)
    thr = torch.zeros(n_trees, width, dtype=torch.float64)
    size = torch.zeros(n_trees, width, dtype=torch.long)
    # the rows still in a node that may split: their tree, row and heap position
    tree = torch.arange(n_trees).repeat_interleave(psi)
    row, pos = rows.reshape(-1), torch.zeros(n_trees * psi, dtype=torch.long)
    for level in range(depth + 1):
        first, span = 2 ** level - 1, 2 ** level       # this level's heap slots
        node = tree * span + (pos - first)             # [rows]: node of the level
        count = torch.bincount(node, minlength=n_trees * span)
        size[:, first:first + span] = count.view(n_trees, span)
        if level == depth or node.numel() == 0:
            break
        f, lo, hi = _draw_features(x, row, node, count, gen)
        split = (count >= 2) & (f >= 0)
        cut = lo + torch.rand(count.numel(), generator=gen, dtype=torch.float64) * (hi - lo)
        cut = torch.where(cut >= hi, lo, cut)          # as scikit-learn: never the maximum
        feat[:, first:first + span] = torch.where(split, f, -1).view(n_trees, span)
        thr[:, first:first + span] = torch.where(split, cut, 0.0).view(n_trees, span)
        go = split[node]
        right = x[row, f.clamp(min=0)[node]].double() > cut[node]
        tree, row, pos = tree[go], row[go], (2 * pos + 1 + right.long())[go]
    inner = feat >= 0
    pos = torch.arange(width).expand(n_trees, -1)
    left = torch.where(inner, 2 * pos + 1, torch.full_like(pos, -1))
    right = torch.where(inner, 2 * pos + 2, torch.full_like(pos, -1))
    leaf = torch.where(inner | (size == 0), torch.zeros_like(thr), path_length(size))
    return {"feat": feat, "thr": thr, "left": left, "right": right, "leaf": leaf,
            "psi": torch.tensor(float(psi), dtype=torch.float64)}


def _draw_features(x: Tensor, rows: Tensor, inv: Tensor, count: Tensor,
                   gen: torch.Generator):
    """Per open node (``inv`` maps each of its ``rows`` to it), a feature drawn uniformly
    among those not constant on its rows, and that feature's min / max there.

    Returns ``f [m]`` (``-1`` where every feature is constant), ``lo [m]``, ``hi [m]``
    (``float64``). Drawing uniformly over all features and redrawing where the draw is
    constant gives the uniform law over the non-constant ones; the nodes still constant
    after :data:`REDRAWS` draws look at all their features.
    """
    m, d = count.numel(), x.size(1)
    f = torch.full((m,), -1, dtype=torch.long)
    lo = torch.zeros(m, dtype=torch.float64)
    hi = torch.zeros(m, dtype=torch.float64)
    todo = count >= 2
    for _ in range(REDRAWS):
        if not bool(todo.any()):
            return f, lo, hi
        draw = torch.randint(d, (m,), generator=gen)
        v = x[rows, draw[inv]].double()
        a = torch.full((m,), math.inf, dtype=torch.float64).scatter_reduce(
            0, inv, v, "amin")
        b = torch.full((m,), -math.inf, dtype=torch.float64).scatter_reduce(
            0, inv, v, "amax")
        ok = todo & (b - a > CONSTANT)
        f[ok], lo[ok], hi[ok] = draw[ok], a[ok], b[ok]
        todo &= ~ok
    if bool(todo.any()):
        _draw_from_all(x, rows, inv, todo, f, lo, hi, gen)
    return f, lo, hi


def _draw_from_all(x: Tensor, rows: Tensor, inv: Tensor, todo: Tensor, f: Tensor,
                   lo: Tensor, hi: Tensor, gen: torch.Generator) -> None:
    """Fill ``f, lo, hi`` of the ``todo`` nodes from all their features' ranges."""
    nodes = todo.nonzero(as_tuple=True)[0]
    d = x.size(1)
    step = max(1, ROW_BUDGET // max(d, 1))
    sel = todo[inv].nonzero(as_tuple=True)[0]
    local = torch.full((todo.numel(),), -1, dtype=torch.long)
    local[nodes] = torch.arange(nodes.numel())
    a = torch.full((nodes.numel(), d), math.inf, dtype=torch.float64)
    b = torch.full((nodes.numel(), d), -math.inf, dtype=torch.float64)
    for part in sel.split(step):
        v = x[rows[part]].double()
        at = local[inv[part]].view(-1, 1).expand(-1, d)
        a.scatter_reduce_(0, at, v, "amin")
        b.scatter_reduce_(0, at, v, "amax")
    varied = (b - a) > CONSTANT
    pick = torch.where(varied, torch.rand(varied.shape, generator=gen),
                       torch.full(varied.shape, -1.0)).argmax(dim=1)
    has = varied.any(dim=1)
    keep = nodes[has]
    f[keep] = pick[has]
    lo[keep] = a[has, pick[has]]
    hi[keep] = b[has, pick[has]]
