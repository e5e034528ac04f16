"""Resemblance to confirmed anomalies: the ``resemble`` component of analyst feedback.

Component weights can only re-balance what the unsupervised components already
measure; a few labels may also point at a direction in the inputs that no component
isolates (the ratings a fraudster receives, the activity profile of a banned worker).
A small head learns it: a class-balanced logistic regression on each node's
early-fused input (own input, neighbours' mean inputs, degrees:
:func:`~graphad.detectors.fusion.early_fused_features`), robustly scaled. Its output
becomes evidence in the units of the other components, the surprisal of its rank among
the type's nodes (``-log q``, as :mod:`graphad.scoring.proximity`).

For the labelled nodes themselves the values used to learn the component weights are
cross-fitted (each fold scored by a head fitted on the other folds), so the weights do
not trust an overfitted head. Where the analyst confirmed fewer normals than 10 per
anomaly, unlabelled nodes drawn at random (seeded) stand in as normals. The head is kept
as tensors (plain data, saved with the detector).
"""
from __future__ import annotations

from typing import Dict, Mapping

import numpy as np
import torch
from torch import Tensor

from ..components import ComponentSpec, register_component
from .normalize import rank_surprisal

#: the component's name
RESEMBLE = "resemble"
#: unlabelled nodes drawn as normals per confirmed anomaly, where too few normals
NORMALS_PER_ANOMALY = 10
#: folds of the cross-fitted values of the labelled nodes
FOLDS = 5
#: inverse regularisation strength of the logistic regression
C = 1.0


def _scale(x: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.clip((np.nan_to_num(x) - center) / scale, -10, 10)


def _fit(x: np.ndarray, y: np.ndarray) -> Dict[str, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    center = np.median(x, axis=0)
    q25, q75 = np.percentile(x, [25, 75], axis=0)
    scale = np.where(q75 - q25 > 1e-12, q75 - q25, 1.0)
    model = LogisticRegression(class_weight="balanced", C=C, max_iter=2000)
    model.fit(_scale(x, center, scale), y)
    return {"center": center, "scale": scale, "coef": model.coef_[0],
            "intercept": model.intercept_}


def _decision(x: np.ndarray, head: Mapping[str, np.ndarray]) -> np.ndarray:
    return _scale(x, head["center"], head["scale"]) @ head["coef"] + head["intercept"][0]


def fit_resemblance(features: Tensor, labels: Tensor, seed: int = 0
                    ) -> "tuple[Dict[str, Tensor], Tensor]":
    """``(head, evidence [n])`` for one node type.

    Args:
        features: ``[n, d]`` early-fused inputs.
        labels: ``LongTensor[n]``: 1 anomaly, 0 normal, -1 unknown.
    Returns:
        the head as tensors, and the evidence used to learn the weights: cross-fitted
        for the labelled nodes (and the drawn stand-in normals), the head's elsewhere.
    """
    x = features.double().numpy()
    y = labels.numpy()
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    need = NORMALS_PER_ANOMALY * pos.size - neg.size
    unknown = np.flatnonzero(y < 0)
    if need > 0 and unknown.size:
        rng = np.random.default_rng(seed)
        neg = np.concatenate([neg, rng.choice(unknown, min(need, unknown.size),
                                              replace=False)])
    train = np.concatenate([pos, neg])
    target = np.r_[np.ones(pos.size, int), np.zeros(neg.size, int)]
    head = _fit(x[train], target)
    values = _decision(x, head)
    folds = min(FOLDS, pos.size)
    if folds >= 2:                          # cross-fitted values of the training rows
        from sklearn.model_selection import StratifiedKFold
        split = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for fit_rows, held in split.split(train, target):
            part = _fit(x[train[fit_rows]], target[fit_rows])
            values[train[held]] = _decision(x[train[held]], part)
    else:                                   # one anomaly: its own value is not evidence
        values[pos] = np.median(values)
    as_tensors = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64)
                  for k, v in head.items()}
    return as_tensors, torch.from_numpy(rank_surprisal(values)).float()


def resemblance(features: Tensor, head: Mapping[str, Tensor]) -> Tensor:
    """``[n]`` evidence (nats) of a fitted head on a graph's early-fused inputs."""
    plain = {k: v.numpy() for k, v in head.items()}
    return torch.from_numpy(rank_surprisal(_decision(features.double().numpy(),
                                                     plain))).float()


register_component(ComponentSpec(
    RESEMBLE, "inputs like the confirmed anomalies' (a classifier fitted on the labels)",
    phrase=lambda ex, name, rarity: "its inputs resemble those of the confirmed "
                                    f"anomalies ({name}{rarity})"))
