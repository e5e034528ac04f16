"""Cross-modal consistency: how badly one modality of an entity predicts another."""
from __future__ import annotations

from typing import Dict, List, Tuple

from torch import nn
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, register_component
from ...typing import EdgeType, NodeType
from ..crossmodal import CrossModalRidge
from .base import ComponentFamily, EdgeErrors, Errors, Latents, masked


class CrossModalFamily(ComponentFamily):
    """One ``cross_modal:<a>~<b>`` component per pair of an entity's observation types
    (closed-form ridge maps, :class:`~graphad.nn.crossmodal.CrossModalRidge`)."""

    fitted_prefixes = ("w_", "ma_", "mb_")       # the ridge maps (``cross.*``)

    def __init__(self, views: Dict[NodeType, List[EdgeType]]):
        super().__init__()
        self.cross = CrossModalRidge(views)

    def fit(self, data: HeteroData) -> None:
        self.cross.fit(data)

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        out: Errors = {}
        for entity in self.cross.views:
            for pair, err, both in self.cross.pair_errors(batch, entity):
                out.setdefault(entity, {})[f"cross_modal:{pair}"] = masked(err, both)
        return out, {}

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        """``[(pair "a~b", error [n], has both [n])]`` for an entity type."""
        if node_type not in self.cross.views:
            return []
        return [(name, err.detach().cpu(), both.detach().cpu())
                for name, err, both in self.cross.pair_errors(batch, node_type)]


def _obs_name(obs_type: str, modality: str) -> str:
    return obs_type if modality in (None, obs_type) else f"{obs_type} {modality}"


def _phrase(ex, name: str, rarity: str) -> str:
    pairs = ex.modalities
    if ":" in name and not pairs.empty:      # one component per modality pair
        pairs = pairs[pairs["pair"] == name.split(":", 1)[1].replace("~", " ~ ")]
    if not pairs.empty:
        pair = pairs.iloc[0]
        a, b = pair["pair"].split(" ~ ")
        return (f"{_obs_name(a, pair['modality_a'])} disagrees with "
                f"{_obs_name(b, pair['modality_b'])} (cross-modal{rarity})")
    return f"its modalities disagree (cross-modal{rarity})"


register_component(ComponentSpec("cross_modal", "modalities disagree", phrase=_phrase,
                                 fitted="node"))
