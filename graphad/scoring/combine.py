"""How normalised components become one score, and how a score splits back into them.

Each component arrives as evidence in nats of surprisal, ``s = -log p`` with ``p`` its
(two-sided, capped at 1) tail probability on the training graph; only excess error is
evidence, so ``s+ = max(s, 0)``, and a missing component (NaN: no photo, no edges with
attributes) is no test at all. Two rules:

* ``"hmp"`` (default): the weighted **harmonic mean p-value** (Wilson, PNAS 2019),
  ``p = sum_c w_c / sum_c (w_c / p_c)`` over the node's present components, reported
  as ``score = -log p = logsumexp_c(s+_c + log w_c) - log sum_c w_c``. It is dominated
  by the smallest p-values and valid under dependence between the tests, so one
  component that fires strongly for a few nodes is not averaged away by components
  that say nothing about them (a single component at ``s`` among ``K`` silent ones gives
  about ``s - log K``), while several moderate ones still add up.
* ``"mean"``: the weighted mean of ``s+`` (absent components count 0), which dilutes a
  lone strong component by the number of components.
* ``"max"``: the largest ``s+`` among the components with a non-zero weight (the
  strongest single test; it ignores agreement between components).
* ``"rank"``: the rank average. ``p_c = exp(-s+_c)`` is the share of training nodes at
  least as extreme as this one on component ``c``, so averaging training ranks is
  averaging ``p``: ``score = -log(sum_c w_c p_c / sum_c w_c)`` over the present
  components (late fusion's classic rank-average, in nats).

* ``"omnibus"``: both kinds of evidence at once. The ``hmp`` score is the test for a
  *sparse* signal (one component far out), the ``mean`` score the test for a *dense*
  one (many components moderately high, each unremarkable alone); each is calibrated
  against its own distribution on the training graph (the same surprisal as the
  components: :class:`~graphad.scoring.normalize.SurprisalNormalizer`) and the two
  calibrated tests are joined by their harmonic mean p-value, ``score = log((1/p_s +
  1/p_d) / 2)`` with ``p`` each test's upper-tail p-value (the omnibus construction of ACAT-O, Liu et al., AJHG 2019, with the
  HMP in place of the Cauchy combination). A node that fires on one component keeps
  at least its sparse test's surprisal ``-log(2 p_s)``; one that is a little odd
  everywhere gets its dense evidence; ordinary nodes keep their order (about ``log 2``
  at both medians). Needs the fitted calibration (:func:`sparse_dense_tests`,
  :func:`omnibus_score`).

A family that emits several components (one per modality pair, two-hop path, linked
type or forest) shares one family weight among them (:func:`family_weights`). Both
rules split exactly into per-component contributions that add up to the score
(:func:`component_parts`).
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional

import torch
from torch import Tensor

RULES = ("hmp", "mean", "max", "rank", "omnibus")
#: the rules that are a fixed function of the components (``omnibus`` is calibrated)
PLAIN_RULES = ("hmp", "mean", "max", "rank")
#: the two tests the omnibus rule joins: sparse (one far-out component), dense (many)
SPARSE_DENSE = ("hmp", "mean")


def component_weight(weights: Optional[Mapping[str, float]], name: str) -> float:
    """A component's weight: by full name, else by family (part before ``:``), else 1."""
    weights = weights or {}
    return float(weights.get(name, weights.get(name.split(":")[0], 1.0)))


def family_weights(names, weights=None) -> Dict[str, float]:
    """Each component's weight: its own (:func:`component_weight`) divided by how many
    components of its family (the part before ``:``) the node type has, so that each
    family has one vote whether it emits one component or one per modality pair,
    path or linked type."""
    size: Dict[str, int] = {}
    for n in names:
        size[n.split(":")[0]] = size.get(n.split(":")[0], 0) + 1
    return {n: component_weight(weights, n) / size[n.split(":")[0]] for n in names}


def _stack(comps: Mapping[str, Tensor], weights) -> "tuple[list, Tensor, Tensor]":
    per = family_weights(list(comps), weights)
    names = [n for n in comps if per[n] != 0]
    if not names:
        return [], torch.zeros(0), torch.zeros(0)
    s = torch.stack([comps[n].float() for n in names])            # [k, n]
    w = torch.tensor([per[n] for n in names]).view(-1, 1)
    return names, s, w


def combine_components(comps: Mapping[str, Tensor], weights=None,
                       rule: str = "hmp") -> Tensor:
    """``[n]`` scores of one node type's ``{component: [n]}`` normalised components."""
    names, s, w = _stack(comps, weights)
    if not names:
        return torch.zeros(0)
    present = ~torch.isnan(s)
    pos = torch.nan_to_num(s, nan=0.0).clamp(min=0)
    if rule == "mean":
        return (w * pos).sum(0) / w.sum()
    if rule == "max":
        return torch.where(present, pos, torch.zeros_like(pos)).max(0).values
    if rule == "rank":
        wp = (w * present).sum(0)
        mean_p = (w * torch.where(present, torch.exp(-pos), torch.zeros_like(pos))).sum(0)
        score = -torch.log((mean_p / wp.clamp(min=1e-30)).clamp(min=1e-300))
        return torch.where(wp > 0, score, torch.zeros_like(score)).clamp(min=0)
    if rule == "omnibus":
        raise ValueError("the omnibus rule needs its calibration on the training graph: "
                         "combine sparse_dense_tests() with omnibus_score()")
    if rule != "hmp":
        raise ValueError(f"combination must be one of {RULES}, got {rule!r}")
    logw = torch.log(w).expand_as(pos)
    terms = torch.where(present, pos + logw, torch.full_like(pos, -math.inf))
    wsum = (w * present).sum(0)
    score = torch.logsumexp(terms, dim=0) - torch.log(wsum.clamp(min=1e-30))
    return torch.where(wsum > 0, score, torch.zeros_like(score)).clamp(min=0)


def component_parts(comps: Mapping[str, Tensor], weights=None,
                    rule: str = "hmp") -> Dict[str, Tensor]:
    """``{component: [n]}`` contributions adding up to :func:`combine_components`.

    ``mean``: ``w_c s+_c / sum(w)``. ``hmp``: the score shared in proportion to each
    component's term of the harmonic mean, ``w_c / p_c`` (``= w_c exp(s+_c)``).
    ``max``: all of it to the largest component (shared among ties). ``rank``: the
    score shared in proportion to ``w_c (1 - p_c)``, each component's rank excess.
    """
    names, s, w = _stack(comps, weights)
    if not names:
        return {}
    pos = torch.nan_to_num(s, nan=0.0).clamp(min=0)
    present = ~torch.isnan(s)
    if rule == "mean":
        parts = w * pos / w.sum()
    elif rule == "max":
        score = combine_components(comps, weights, rule)
        top = present & (pos >= score.unsqueeze(0)) & (score.unsqueeze(0) > 0)
        parts = top.float() / top.sum(0).clamp(min=1) * score
    elif rule == "rank":
        score = combine_components(comps, weights, rule)
        excess = w * torch.where(present, 1 - torch.exp(-pos), torch.zeros_like(pos))
        parts = excess / excess.sum(0).clamp(min=1e-30) * score
    else:
        score = combine_components(comps, weights, rule)
        present = ~torch.isnan(s)
        terms = torch.where(present, pos + torch.log(w).expand_as(pos),
                            torch.full_like(pos, -math.inf))
        share = torch.softmax(terms, dim=0)
        share = torch.nan_to_num(share, nan=0.0)
        parts = share * score
    out = {n: parts[i] for i, n in enumerate(names)}
    for n in comps:
        out.setdefault(n, torch.zeros_like(comps[n], dtype=torch.float32))
    return out


def sparse_dense_tests(comps: Mapping[str, Tensor], weights=None) -> Dict[str, Tensor]:
    """``{"hmp": [n], "mean": [n]}``: the sparse and the dense test of each node, the
    raw inputs of the ``omnibus`` rule (to calibrate on the training graph)."""
    return {rule: combine_components(comps, weights, rule) for rule in SPARSE_DENSE}


def _upper_tail(calibrated: Mapping[str, Tensor]) -> Tensor:
    """``[2, n]`` ``-log P(T >= t)`` of each test from its signed two-sided surprisal
    (:func:`~graphad.scoring.normalize.surprisal`: ``-log(2 P(T > t))`` above the
    median, ``log(2 P(T < t))`` below): ``log 2`` at the median, continuous below it,
    so that ordinary nodes keep their order too."""
    s = torch.stack([torch.nan_to_num(calibrated[r].double(), nan=0.0)
                     for r in SPARSE_DENSE])
    p = torch.where(s >= 0, torch.exp(-s) / 2, 1 - torch.exp(s.clamp(max=0)) / 2)
    return -torch.log(p.clamp(min=1e-300, max=1.0))


def omnibus_score(tests: Mapping[str, Tensor], calibrated: Mapping[str, Tensor]
                  ) -> Tensor:
    """``[n]`` omnibus scores from the raw tests of :func:`sparse_dense_tests` and
    their calibrated surprisals: ``-log`` of the harmonic mean of the two upper-tail
    p-values, ``log(mean_t 1 / p_t)`` (``log 2`` for a node at both medians); 0 where
    neither raw test has any excess evidence."""
    c = _upper_tail(calibrated)
    score = (torch.logsumexp(c, dim=0) - math.log(len(SPARSE_DENSE))).float()
    evidence = torch.stack([tests[r] for r in SPARSE_DENSE]).amax(0) > 0
    return torch.where(evidence, score, torch.zeros_like(score))


def omnibus_parts(comps: Mapping[str, Tensor], weights, tests: Mapping[str, Tensor],
                  calibrated: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Contributions adding up to :func:`omnibus_score`: the score shared between the
    two tests in proportion to their terms ``exp(c+_t)`` (a test without raw evidence
    gets none), each test's share split as that rule splits its own score."""
    score = omnibus_score(tests, calibrated)
    c = _upper_tail(calibrated).float()
    has = torch.stack([tests[r] > 0 for r in SPARSE_DENSE])
    terms = torch.where(has, c, torch.full_like(c, -math.inf))
    share = torch.nan_to_num(torch.softmax(terms, dim=0), nan=0.0)
    out: Dict[str, Tensor] = {}
    for i, rule in enumerate(SPARSE_DENSE):
        parts = component_parts(comps, weights, rule)
        total = tests[rule].clamp(min=1e-30)
        for name, part in parts.items():
            add = share[i] * score * torch.where(has[i], part / total,
                                                 torch.zeros_like(part))
            out[name] = out.get(name, torch.zeros_like(add)) + add
    return out
