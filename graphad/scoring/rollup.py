"""Entity roll-up: an entity's score carries the evidence of its observations."""
from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from ..components import ComponentSpec, register_component
from ..data.bundle import GraphBundle
from ..typing import NodeType
from .normalize import Components


def rollup_components(bundle: GraphBundle, comps: Components,
                      scores: Dict[NodeType, Tensor]) -> Components:
    """Add the evidence of linked nodes of other types to each entity type.

    ``obs:<type>`` for observation types (a review, a photo), ``nbr:<type>`` for other
    entity types (a shared device, a shell merchant): the harmonic mean p-value of the
    combined scores of the entity's neighbours of that type (scores are surprisals,
    ``s = -log p``: ``log(mean_u exp(s_u))``; NaN where it has none: a missing modality
    is no evidence either way). With one such neighbour that is its score; with several
    it is led by the most anomalous one, less ``log`` of their number when it stands
    alone (a user with 40 reviews is not flagged for one 1-in-40 review), and it grows
    when several are odd together (a user whose every review contradicts its product's
    others). Same-type neighbours are not rolled up (the consistency component covers
    them); observation types are returned unchanged.
    """
    out = {t: dict(c) for t, c in comps.items()}
    data = bundle.data
    for et in data.edge_types:
        src, _, dst = et
        if src == dst or bundle.modality.get(dst) is not None:
            continue  # only other types -> entity messages
        if src not in scores or dst not in out:
            continue
        ei = data[et].edge_index
        n = data[dst].num_nodes
        key = f"{'nbr' if bundle.modality.get(src) is None else 'obs'}:{src}"
        vals = harmonic_mean_surprisal(scores[src][ei[0]], ei[1], n)
        if key in out[dst]:
            out[dst][key] = torch.fmax(out[dst][key], vals)
        else:
            out[dst][key] = vals
    return out


def harmonic_mean_surprisal(s: Tensor, index: Tensor, n: int) -> Tensor:
    """``[n]`` ``log(mean exp(s))`` of the surprisals ``s [m]`` per group ``index [m]``
    (the harmonic mean of their p-values, as ``-log``), computed stably around each
    group's maximum; NaN for an empty group."""
    s = s.double()
    top = scatter(s, index, dim=0, dim_size=n, reduce="max")
    count = torch.bincount(index, minlength=n).double()
    total = scatter(torch.exp(s - top[index]), index, dim=0, dim_size=n, reduce="sum")
    value = top + torch.log(total.clamp(min=1e-300)) - torch.log(count.clamp(min=1))
    return torch.where(count > 0, value, torch.full_like(value, float("nan"))).float()


def _phrase(ex, name: str, rarity: str) -> str:
    kind = name.split(":", 1)[1]
    obs = ex.observations
    hit = obs[obs["component"] == name] if not obs.empty else obs
    if not hit.empty:
        r = hit.iloc[0]
        return (f"its {r['observation'].replace(':', ' ', 1)} is anomalous "
                f"({kind}{rarity}, mostly {r['driven_by']})")
    return f"anomalous {kind} ({kind}{rarity})"


register_component(ComponentSpec("obs", "its anomalous observations of a type",
                                 rollup=True, phrase=_phrase))
register_component(ComponentSpec("nbr", "its anomalous linked entities of a type",
                                 rollup=True, phrase=_phrase))
