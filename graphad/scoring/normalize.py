"""Robust per-type normalisation of error components (one place for it)."""
from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor

from ..typing import NodeType

Components = Dict[NodeType, Dict[str, Tensor]]
MAD_TO_STD = 1.4826


class RobustNormalizer:
    """Robust z-score ``(e - median) / (1.4826 * MAD)`` per node type and component.

    Fitted on the training graph's errors; applied unchanged to new graphs. A
    component with zero spread is divided by its mean absolute deviation, then by 1.
    """

    def fit(self, components: Components) -> "RobustNormalizer":
        self.center_: Dict[NodeType, Dict[str, float]] = {}
        self.scale_: Dict[NodeType, Dict[str, float]] = {}
        for t, comps in components.items():
            self.center_[t], self.scale_[t] = {}, {}
            for name, e in comps.items():
                e = e[torch.isfinite(e)].double()
                if e.numel() == 0:
                    med, scale = 0.0, 1.0
                else:
                    # quantile, not Tensor.median: that returns the lower of the two
                    # middle values on an even count
                    med = float(torch.quantile(e, 0.5))
                    dev = (e - med).abs()
                    scale = MAD_TO_STD * float(torch.quantile(dev, 0.5))
                    if scale <= 1e-12:
                        scale = float(dev.mean()) or 1.0
                self.center_[t][name], self.scale_[t][name] = med, scale
        return self

    def transform(self, components: Components) -> Components:
        out: Components = {}
        for t, comps in components.items():
            out[t] = {}
            for name, e in comps.items():
                med = self.center_.get(t, {}).get(name)
                if med is None:  # unseen on the training graph: standardise on itself
                    z = RobustNormalizer().fit({t: {name: e}}).transform({t: {name: e}})
                    out[t][name] = z[t][name]
                    continue
                out[t][name] = ((e.double() - med) / self.scale_[t][name]).float()
        return out
