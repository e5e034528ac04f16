"""Attribute reconstruction: how badly a node's input is rebuilt from its latent."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import NodeType
from ..decoders import AttributeDecoder
from ..inputs import training_part
from .base import ComponentFamily, EdgeErrors, Errors, Latents, trimmed_mean

#: added to the mean squared error before its log (standardised inputs: errors of an
#: ordinary node are 0.01-1)
LOG_FLOOR = 1e-6


class AttributeFamily(ComponentFamily):
    """Per-type decoder ``z -> x``; component ``attribute`` = mean squared error, read
    on a log scale (``log_scale``).

    Reconstruction errors are heavy-tailed: a node with one input far out (a device of
    a rare kind among thousands of phones) has a squared error tens of times the 90th
    percentile. Judged on the error itself, the exponential tail of the surprisal
    (:class:`~graphad.scoring.normalize.SurprisalNormalizer`) reads that as 70 nats;
    on its log (a power-law tail) the surprisal grows with the log of the excess. The
    order of the nodes is the same.

    Args:
        node_types, in_dims, hidden: types, their input widths, the latent size.
        bottleneck: decoders narrower than their output (see :class:`AttributeDecoder`).
        trim: share of the largest errors left out of the loss.
        log_scale: the component is ``log(error + LOG_FLOOR)`` (models saved before it:
            the error itself).
    """

    def __init__(self, node_types: List[NodeType], in_dims: Dict[NodeType, int],
                 hidden: int, bottleneck: bool = False, trim: float = 0.0,
                 log_scale: bool = True):
        super().__init__()
        self.trim = trim
        self.log_scale = log_scale
        self.attr_dec = nn.ModuleDict({t: AttributeDecoder(hidden, in_dims[t], bottleneck)
                                       for t in node_types})

    def loss(self, batch: HeteroData, z: Latents,
             generator: Optional[torch.Generator] = None) -> Optional[Tensor]:
        terms = [trimmed_mean(training_part(self.attr_dec[t].error(z[t], batch[t].x),
                                            batch[t]), self.trim)
                 for t in z if batch[t].num_nodes > 0]
        return torch.stack(terms).mean() if terms else None

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        out = {}
        for t in z:
            err = self.attr_dec[t].error(z[t], batch[t].x)
            out[t] = {"attribute": torch.log(err + LOG_FLOOR) if self.log_scale else err}
        return out, {}


def _phrase(ex, name: str, rarity: str) -> str:
    if not ex.features.empty:
        from ...scoring.reasons import unusual_features_text
        return f"unusual attributes (attribute{rarity}): {unusual_features_text(ex)}"
    return f"unusual attributes (attribute{rarity})"


register_component(ComponentSpec("attribute", "input badly reconstructed",
                                 phrase=_phrase, fitted="node"))
