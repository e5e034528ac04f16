"""The ``group`` component: membership of a suspicious group spanning several kinds of
entity.

A ring or a farm is one act by many nodes: users who share devices and pay the same
few merchants, tied together far more than chance would tie them. Each member alone
can look ordinary (its inputs, its edges and its neighbourhood are those of the ring,
which the autoencoder learns like any other pattern), so node components see such
members only weakly. Discovery (:func:`~graphad.scoring.discover.discover_groups`)
sees the group as a whole. This component hands that evidence back to the members:
for every entity type, a node's value is the highest discovery score
(:func:`~graphad.scoring.subgraph.score_subgraphs`: members' scores, density against a
degree-preserving random graph, shared neighbours, in log units) among the groups it
belongs to, 0 outside every group.

Only groups with members of two or more entity types count (users and the devices or
merchants that tie them): a dense group of one type (a community of accounts that
follow each other) is what the ``density`` and ``consistency`` components already
measure, and on graphs with one entity type ordinary communities would pass as groups.
A graph with fewer than two entity types has no ``group`` component.

The groups are found around the nodes flagged by the score *without* this component
(the detector's first stage, at its contamination share) and around what structure
alone marks: hubs (a private resource, such as a phone, shared by improbably many
accounts: on a 300-user graph the first stage flagged one of a farm's eight accounts,
and the farm went unfound without them) and resources whose users are mostly tied to
each other (a shell merchant whose customers follow each other), on the whole graph
being scored, so the component is exact for whatever graph is scored (every scoring
path of graphad scores the whole graph). It costs one discovery per scoring (1.4 s on the
3,000-user fraud sample, whose fit takes about 20 s; about 20 s at a million users).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from ..components import ComponentSpec, register_component
from ..data.bundle import GraphBundle
from ..typing import NodeType
from .discover import discover_groups
from .graphview import Group, GraphView
from .subgraph import GroupScorer

GROUP = "group"
#: fewest entity types with members for a group to count
MIN_ENTITY_TYPES = 2


def entity_types(bundle: GraphBundle) -> list:
    return [t for t in bundle.node_types if bundle.modality.get(t) is None]


def typed_groups(bundle: GraphBundle, scores: Mapping[NodeType, Tensor],
                 thresholds: Mapping[NodeType, float], structural: bool = True
                 ) -> List[Tuple[Group, Dict[str, Any]]]:
    """The discovered groups with members of two or more entity types, each with its
    scored terms (:meth:`~graphad.scoring.subgraph.GroupScorer.scored_terms`: ``score``,
    ``log_density``, ``internal_edges``, ...); ``[]`` where the graph has fewer than
    two entity types.

    Args:
        scores: ``{type: FloatTensor[n]}`` node scores to flag from.
        thresholds: ``{type: threshold}``; entity nodes above it are flagged.
        structural: also seed groups from structure alone: hubs of private
            resources and resources whose users are mostly tied (models saved before
            these existed score without them, as fitted).
    """
    types = entity_types(bundle)
    if len(types) < MIN_ENTITY_TYPES:
        return []
    flagged = {}
    for t in types:
        s = scores[t].detach().cpu().double().numpy()
        flagged[t] = np.flatnonzero(np.isfinite(s) & (s > thresholds[t])).astype(np.int64)
    view = GraphView(bundle)
    scorer = GroupScorer(bundle, view, {t: scores[t] for t in types}, None, k=3)
    out = []
    for group in discover_groups(view, flagged, scorer, hubs=structural,
                                 tied=structural):
        if sum(1 for t in types if len(group.get(t, ()))) >= MIN_ENTITY_TYPES:
            out.append((group, scorer.scored_terms(group)))
    return out


def group_evidence(bundle: GraphBundle, groups: List[Tuple[Group, Dict[str, Any]]],
                   tied_only: bool = True) -> Dict[NodeType, Dict[str, Tensor]]:
    """``{entity type: {"group": FloatTensor[n]}}``: each node's highest ``score``
    among the ``groups`` (:func:`typed_groups`) it is tied to, 0 elsewhere; ``{}``
    where the graph has fewer than two entity types.

    A member is tied to its group where it links to a member of another type (the
    shared device, the shell merchant, the farm's photo; see :func:`tied_members`).
    Growth also takes in friends of the members, linked by their own type only (the
    follows around a household computer): they stay members of the group that
    discovery reports, but the group's evidence is not theirs. On the fraud sample
    (detector seed 0) 13 of 18 groups held ordinary users only, mostly a shared
    household computer and its users' friends, and the best of them scored above every
    ring. ``tied_only=False``: every member (how models saved before score)."""
    types = entity_types(bundle)
    if len(types) < MIN_ENTITY_TYPES:
        return {}
    out = {t: np.zeros(bundle.data[t].num_nodes) for t in types}
    for group, row in groups:
        value = row["score"]
        if not np.isfinite(value):
            continue
        tied = tied_members(bundle, group) if tied_only else group
        for t in types:
            idx = tied.get(t)
            if idx is not None and len(idx):
                out[t][idx] = np.maximum(out[t][idx], value)
    return {t: {GROUP: torch.from_numpy(v).float()} for t, v in out.items()}


def tied_members(bundle: GraphBundle, group: Group) -> Group:
    """``{type: sorted indices}``: the members of ``group`` with a link (either
    direction, any relation across two types) to a member of another type."""
    inside = {t: np.zeros(bundle.data[t].num_nodes, dtype=bool) for t in group}
    tied = {t: np.zeros(bundle.data[t].num_nodes, dtype=bool) for t in group}
    for t, idx in group.items():
        inside[t][np.asarray(idx, dtype=np.int64)] = True
    for src, rel, dst in bundle.data.edge_types:
        if src == dst or src not in group or dst not in group:
            continue
        ei = bundle.data[src, rel, dst].edge_index.cpu().numpy()
        both = inside[src][ei[0]] & inside[dst][ei[1]]
        tied[src][ei[0][both]] = True
        tied[dst][ei[1][both]] = True
    return {t: np.flatnonzero(mask) for t, mask in tied.items()}


def group_of(groups: List[Tuple[Group, Dict[str, Any]]], node_type: NodeType, idx: int
             ) -> Optional[Tuple[Group, Dict[str, Any]]]:
    """The highest-scoring of ``groups`` that holds node ``idx`` of ``node_type``."""
    best = None
    for group, row in groups:
        members = group.get(node_type)
        if members is not None and np.isin(idx, members) and (
                best is None or _finite(row["score"]) > _finite(best[1]["score"])):
            best = (group, row)
    return best


def describe_members(group: Group) -> str:
    """``"21 users, 1 device and 2 merchants"``."""
    parts = [f"{len(idx)} {t}{'' if len(idx) == 1 else 's'}" for t, idx in group.items()
             if len(idx)]
    if len(parts) <= 1:
        return parts[0] if parts else "no members"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _finite(x: float) -> float:
    return x if np.isfinite(x) else -np.inf


def _phrase(ex, name: str, rarity: str) -> str:
    table = getattr(ex, "group", None)
    if table is not None and not table.empty:
        row = table.iloc[0]
        return (f"a member of a group of {row['members']}, linked "
                f"{row['density_ratio']:.1f} times more densely than chance "
                f"({name}{rarity})")
    return f"a member of a tight group of several kinds of entity ({name}{rarity})"


register_component(ComponentSpec(
    GROUP, "member of a suspicious group of several entity types", phrase=_phrase))
