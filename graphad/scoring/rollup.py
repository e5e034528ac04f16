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


def best_of(best: Tensor, count: Tensor) -> Tensor:
    """``[n]`` evidence (nats) that the best of ``count`` linked nodes, at combined
    score ``best``, is more than the best of that many ordinary ones: with ``p =
    exp(-best)`` (the combined score is calibrated so, ``P(S >= s) ~ exp(-s)`` on the
    training graph), ``-log(1 - (1 - p)^k)`` (Sidak). One link keeps its score; the
    best of 20 links must be about ``log 20`` higher to count the same."""
    p = torch.exp(-best.double().clamp(min=0)).clamp(max=1 - 1e-16)
    k = count.double().clamp(min=1)
    adjusted = -torch.expm1(k * torch.log1p(-p))
    return (-torch.log(adjusted.clamp(min=1e-300, max=1.0))).float()


def rollup_components(bundle: GraphBundle, comps: Components,
                      scores: Dict[NodeType, Tensor], adjust: bool = True) -> Components:
    """Add the evidence of linked nodes of other types to each entity type.

    ``obs:<type>`` for observation types (a review, a photo), ``nbr:<type>`` for other
    entity types (a shared device, a shell merchant): the highest combined score among
    the entity's neighbours of that type (NaN where it has none: a missing modality is
    no evidence either way), ``adjust``-ed for how many distinct neighbours it is the
    best of (:func:`best_of`): otherwise a user with 14 ordinary reviews outranks one
    whose single review is in the top 5%. Same-type neighbours are not rolled up (the
    consistency component covers them); observation types are returned unchanged.
    ``adjust=False`` is the plain maximum (models fitted before the adjustment).
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
        vals = scatter(scores[src][ei[0]], ei[1], dim=0, dim_size=n, reduce="max")
        count = torch.bincount(torch.unique(ei, dim=1)[1], minlength=n)
        has = count > 0
        if adjust:
            vals = best_of(vals, count)
        vals = torch.where(has, vals, torch.full_like(vals, float("nan")))
        if key in out[dst]:
            out[dst][key] = torch.fmax(out[dst][key], vals)
        else:
            out[dst][key] = vals
    return out


def _phrase(ex, name: str, rarity: str) -> str:
    kind = name.split(":", 1)[1]
    obs = ex.observations
    hit = obs[obs["component"] == name] if not obs.empty else obs
    if not hit.empty:
        r = hit.iloc[0]
        return (f"its {r['observation'].replace(':', ' ', 1)} is anomalous "
                f"({kind}{rarity}, mostly {r['driven_by']})")
    return f"anomalous {kind} ({kind}{rarity})"


register_component(ComponentSpec("obs", "its most anomalous observation of a type",
                                 rollup=True, phrase=_phrase))
register_component(ComponentSpec("nbr", "its most anomalous linked entity of a type",
                                 rollup=True, phrase=_phrase))
