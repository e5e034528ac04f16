"""Thresholds and probabilities from scores (one place for them)."""
from __future__ import annotations

import math
from typing import Dict

import torch
from torch import Tensor

from ..typing import NodeType


def contamination_threshold(scores: Tensor, contamination: float) -> float:
    """The ``1 - contamination`` quantile of the training scores."""
    finite = scores[torch.isfinite(scores)].double()
    if finite.numel() == 0:
        return math.inf
    return float(torch.quantile(finite, 1.0 - contamination))


def fit_thresholds(scores: Dict[NodeType, Tensor], contamination: float
                   ) -> Dict[NodeType, float]:
    return {t: contamination_threshold(s, contamination) for t, s in scores.items()}


def linear_proba(scores: Tensor, train_scores: Tensor) -> Tensor:
    """PyOD's 'linear' probability: min-max scaling by the training scores, clipped."""
    lo, hi = float(train_scores.min()), float(train_scores.max())
    p = (scores - lo) / (hi - lo if hi > lo else 1.0)
    return p.clamp(0, 1)


def unify_proba(scores: Tensor, train_scores: Tensor) -> Tensor:
    """PyOD's 'unify' probability: Gaussian scaling, ``erf((s - mean) / (std * sqrt2))``."""
    mu, sd = float(train_scores.mean()), float(train_scores.std()) or 1.0
    return torch.special.erf((scores - mu) / (sd * math.sqrt(2))).clamp(min=0)


def confidence(scores: Tensor, train_scores: Tensor, contamination: float) -> Tensor:
    """ExCeeD-style confidence of each prediction (as in PyOD), in [0, 1].

    The probability that the label would stay the same under a new training sample.
    """
    n = train_scores.numel()
    rank = torch.searchsorted(torch.sort(train_scores).values.contiguous(),
                              scores.contiguous(), right=True).double()
    p = (1 + rank) / (2 + n)
    k = int(n * (1 - contamination))
    # P(Binomial(n, p) <= k) via the regularised incomplete beta (normal approx. for speed)
    mu, sd = n * p, torch.sqrt(n * p * (1 - p)).clamp(min=1e-12)
    stay_inlier = 0.5 * (1 + torch.special.erf((k + 0.5 - mu) / (sd * math.sqrt(2))))
    predicted_outlier = scores > torch.quantile(train_scores.double(),
                                                1 - contamination).float()
    return torch.where(predicted_outlier, 1 - stay_inlier, stay_inlier).float()
