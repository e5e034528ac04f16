"""Near-copies: an observation (a review, a title, a photo) that many others repeat.

Thirty listings with one title and the same photo, a review pasted under twenty
products, one profile picture re-uploaded by a batch of accounts: copied content is
the oldest sign of spam, and every other component misses it. A copy agrees with its
peers better than ordinary content does, so nothing about it is an *error*, and a
model of the content learns it like any other pattern.

For each type whose nodes carry a text or an image (not a series: a short series
equals many others by chance), on its prepared inputs (centred, unit length), node
``v``'s *copies* are the other
nodes of its type within half the type's typical nearest-neighbour distance: cosine
``>= tau = 1 - (1 - m) / 4``, ``m`` the median over the type's nodes of the cosine to
their nearest other node (``|a - b|^2 = 2 (1 - cos)`` for unit vectors). Where most
nodes have an exact twin (templated titles) ``m`` is 1 and only exact copies count.
Against a Poisson null with the type's mean count ``l``, the evidence is
``-log P(Poisson(l) >= c)`` for ``c`` copies, less ``log n`` (Bonferroni over the
type's ``n`` nodes), and exactly 0 below that or below :data:`MIN_COPIES` copies: a
template shared by a handful of listings, or three photos that happen to look alike,
give nothing. On a test
marketplace the 30 listings one seller posts under one title stand at 59 nats (and
two ordinary listings that happen to carry the same title); no other title has any.

The median is taken over at most :data:`SAMPLE` rows; the copies are counted over
every pair (chunks of :data:`ROW_BLOCK` rows, ``n^2 d`` multiply-adds: 2.3 s for
20,000 observations of 64 prepared columns, 53 s for 100,000, on 2 CPU cores; the
text encoder takes far longer on as many texts); a
type of more than :data:`MAX_NODES` observations is left without the component (a
``UserWarning`` says so). Computed on the whole prepared graph, so exact in mini-batches; a type none of
whose training nodes has evidence is dropped at fit, so it dilutes nothing.
"""
from __future__ import annotations

import warnings
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import poisson
from torch import Tensor
from torch_geometric.data import HeteroData

from ...components import ComponentSpec, first_row, register_component
from ...typing import NodeType
from .base import (ComponentFamily, EdgeErrors, Errors, Latents, fit_kept, is_kept,
                   precomputed_errors, register_precompute)

PREFIX = "copies__"
KEY = PREFIX + "near"
ROW_BLOCK = 2048           # rows of the similarity product formed at once
MAX_NODES = 100_000        # types of more observations than this are not compared
#: fewer copies than this are no evidence, whatever the null says: near-copies clump
#: (three photos that look alike are each other's copies), which a Poisson count does
#: not know; a campaign repeats its content many times
MIN_COPIES = 5
EXACT = 1e-5               # cosine tolerance of an exact copy (float32)
SAMPLE = 4096              # rows whose nearest neighbour sets the radius
#: the modalities whose near-copies are copied content (a series of a few ratings
#: equals many others by chance: 333 of bitcoin_alpha's series of received ratings
#: had five or more copies, the commonest series rather than the oddest)
COPIED = ("text", "image")
EXAMPLES = 3               # copies an explanation names
#: per node, its copy count and its nearest copies (indices into the whole graph, for
#: explanations; not components, so not under PREFIX)
COUNT_KEY, NEAREST_KEY = "copydetail__count", "copydetail__nearest"


def _unit(x: Tensor) -> Tensor:
    """``[n, d]`` centred rows of unit length (a constant row stays 0)."""
    x = x.float()
    return F.normalize(x - x.mean(0, keepdim=True), dim=1)


def _similarities(z: Tensor, rows: Tensor) -> Iterator[Tuple[int, Tensor]]:
    """``(start, [b, n] cosines of rows[start:start + b] to every row of z)`` in
    chunks of :data:`ROW_BLOCK`, each row's cosine to itself set to -2."""
    for start in range(0, rows.numel(), ROW_BLOCK):
        block = rows[start:start + ROW_BLOCK]
        sim = z[block] @ z.T
        sim[torch.arange(block.numel()), block] = -2.0
        yield start, sim


def nearest_cosine(z: Tensor, rows: Optional[Tensor] = None) -> Tensor:
    """``[m]`` the cosine of each of ``rows`` (default: all) to its nearest other row
    of ``z`` (unit rows)."""
    rows = torch.arange(z.size(0)) if rows is None else rows
    out = torch.empty(rows.numel(), dtype=z.dtype)
    for start, sim in _similarities(z, rows):
        out[start:start + sim.size(0)] = sim.max(1).values
    return out


def typical_nearest(z: Tensor) -> Tensor:
    """:func:`nearest_cosine` of at most :data:`SAMPLE` rows drawn without replacement
    (a fixed generator: the same rows for the same ``n``), for the radius."""
    n = z.size(0)
    if n <= SAMPLE:
        return nearest_cosine(z)
    rows = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:SAMPLE]
    return nearest_cosine(z, rows)


def copy_counts(z: Tensor, tau: float) -> Tensor:
    """``[n]`` how many other rows each row of ``z`` (unit rows) has cosine ``>= tau``
    with."""
    out = torch.empty(z.size(0), dtype=torch.long)
    for start, sim in _similarities(z, torch.arange(z.size(0))):
        out[start:start + sim.size(0)] = (sim >= tau).sum(1)
    return out


def copy_radius(nearest: Tensor) -> float:
    """The cosine ``tau`` above which two rows are copies: half the median
    nearest-neighbour distance, exact copies only where that median is 0."""
    m = float(nearest.median())
    return min(1.0 - (1.0 - m) / 4.0, 1.0 - EXACT)


def nearest_copies(z: Tensor, tau: float, rows: Tensor, k: int = EXAMPLES) -> Tensor:
    """``[len(rows), k]`` the indices of each row's ``k`` most similar copies (cosine
    ``>= tau``) among the rows of ``z`` (unit rows), nearest first, -1 past its last."""
    out = torch.full((rows.numel(), k), -1, dtype=torch.long)
    for start, sim in _similarities(z, rows):
        top = sim.topk(min(k, z.size(0)), dim=1)
        found = torch.where(top.values >= tau, top.indices, torch.full_like(top.indices, -1))
        out[start:start + sim.size(0), :found.size(1)] = found
    return out


def copies_evidence(x: Tensor) -> Tuple[Tensor, Tensor]:
    """``(evidence [n], copies [n])`` of the rows of ``x`` (see module doc)."""
    evidence, counts, _ = _copies(x)
    return evidence, counts


def _copies(x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """``(evidence [n], copies [n], nearest copies [n, EXAMPLES])``; the nearest
    copies only of the rows with evidence (-1 elsewhere)."""
    z = _unit(x)
    n = z.size(0)
    tau = copy_radius(typical_nearest(z))
    counts = copy_counts(z, tau)
    nearest = torch.full((n, EXAMPLES), -1, dtype=torch.long)
    lam = float(counts.double().mean())
    c = counts.numpy()
    if lam <= 0:
        return torch.zeros(n), counts, nearest
    # -log P(Poisson(lam) >= c) = -logsf(c - 1)
    surprise = -poisson.logsf(c - 1, lam)
    evidence = np.where(c >= MIN_COPIES, np.maximum(0.0, surprise - np.log(n)), 0.0)
    rows = torch.from_numpy(np.flatnonzero(evidence > 0))
    if rows.numel():
        nearest[rows] = nearest_copies(z, tau, rows)
    return torch.from_numpy(evidence).float(), counts, nearest


@register_precompute
def precompute_copies(data: HeteroData, own: Dict[NodeType, int]) -> None:
    for t, kind in getattr(data, "modality", {}).items():
        if kind not in COPIED or t not in data.node_types:
            continue
        store = data[t]
        n = store.num_nodes
        if n < 3:
            continue
        if n > MAX_NODES:
            warnings.warn(f"'{t}' has {n} observations, more than the {MAX_NODES} "
                          "the copies component compares pair by pair: no "
                          f"copies:{t} component", UserWarning, stacklevel=2)
            continue
        width = own.get(t) or store.x.size(1)
        evidence, counts, nearest = _copies(store.x[:, :width])
        store[KEY] = evidence
        store[KEY + "__has"] = torch.ones(n, dtype=torch.bool)
        store[COUNT_KEY], store[NEAREST_KEY] = counts, nearest


class CopiesFamily(ComponentFamily):
    """Reads the precomputed evidence: ``copies`` on each observation type where some
    training node has any (most types of most graphs have none and get no component).

    Shapes:
        - **errors:** ``{observation type: {"copies": [n]}}`` (nats, 0 for most nodes)
    """

    fitted_prefixes = ("kept_",)

    @torch.no_grad()
    def fit(self, data: HeteroData) -> None:
        fit_kept(self, data, PREFIX, lambda values: bool((values > 0).any()))

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        found = precomputed_errors(batch, PREFIX, lambda detail: "copies")
        return {t: comps for t, comps in found.items()
                if is_kept(self, t, KEY[len(PREFIX):])}, {}

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        """``[(copies [n], nearest copies [n, 3])]`` (indices into the whole graph,
        -1 past the last) where the type has the component."""
        store = batch[node_type] if node_type in batch.node_types else None
        if (store is None or COUNT_KEY not in store
                or not is_kept(self, node_type, KEY[len(PREFIX):])):
            return []
        return [(store[COUNT_KEY].cpu(), store[NEAREST_KEY].cpu())]


def _phrase(ex, name: str, rarity: str) -> str:
    """``"copied content: 14 other reviews repeat it nearly unchanged (review:r1,
    review:r7, ...) (copies: 1 in 900)"``."""
    kind = getattr(ex, "node_type", None) or "node"
    row = first_row(ex, "copies")
    if row is None:
        return (f"copied content: far more other {kind} nodes repeat it nearly "
                f"unchanged than chance gives ({name}{rarity})")
    count = int(row["copies"])
    examples = f" ({row['examples']}{', ...' if count > EXAMPLES else ''})" \
        if row["examples"] else ""
    return (f"copied content: {count} other {kind}{'s' if count != 1 else ''} repeat "
            f"it nearly unchanged{examples} ({name}{rarity})")


register_component(ComponentSpec("copies", "copied content: repeated by many others",
                                 phrase=_phrase))
