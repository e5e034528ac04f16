"""Plain-language reasons for node explanations (see :mod:`graphad.scoring.explain`).

A reason names first the (at most two) most improbably shared neighbours, then at most
two components that carry at least ``NAMED_SHARE`` of the score and are at least as
rare as ``SIGNIFICANT`` (3 nats of surprisal = rarer than 1 in 40; 2σ for robust
z-scores), what is behind each (the disagreeing modality pair, the unusual attributes,
the anomalous linked node), and the most unusual incident edge when its score is
``EDGE_Z`` or more (nats, or σ for robust z; ``EDGE_Z_BESIDE`` beside named
components): ``"user u00123: shares device d0042 with 14 other users; review text
disagrees with photo image (cross-modal: 1 in 900)"``.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, List, Tuple

import numpy as np
import pandas as pd

from ..components import is_rollup, link_text, number_text, spec_for
from ..nn.families.edge_evidence import judged_text
from .normalize import TAIL_CHECK_MIN

SIGNIFICANT = {"nats": 3.0, "σ": 2.0}   # a component this rare is named in the reason
EDGE_Z = 3.0             # edge score (nats / σ) from which an edge is named
EDGE_Z_BESIDE = 4.0      # ... beside components already named (1 in 110 in nats)
#: the columns of an explanation's edges table that are not the edge's attributes
EDGE_COLUMNS = ("relation", "other", "z", "reached", "of")
NAMED_SHARE = 0.05       # a component named in a reason carries 5% of the score or more
RARE_TAIL = 0.025        # an input this far out (2.5% of its type or fewer) is named
#: components whose phrase already names the node's unusual inputs
FEATURE_FAMILIES = ("attribute", "outlier", "incident")


def node_reason(ex: Any) -> str:
    """One line for an :class:`~graphad.scoring.explain.Explanation`."""
    shared = set(ex.shared["neighbour"].head(2)) if not ex.shared.empty else set()
    parts, by_sharing, named_nodes = _component_parts(ex, shared)
    if getattr(ex, "flagged", False) and len(parts) + len(by_sharing) < 2 and not any(
            f"({family}" in p for p in parts for family in FEATURE_FAMILIES):
        rare = _rare_inputs(ex)     # a flagged node's plainest facts, where few are named
        if rare:
            parts.append(f"rare inputs: {rare}")
    link = _link_part(ex, parts, named_nodes, beside=bool(parts or shared))
    if link:
        parts.append(link)
    if not ex.shared.empty:        # a resource improbably shared: the plainest evidence
        rarity = f" ({'; '.join(by_sharing)})" if by_sharing else ""
        parts.insert(0, shared_text(ex.shared, ex.node_type) + rarity)
    head = f"{ex.node_type} {ex.node_id}"
    if not parts:
        state = "flagged" if ex.flagged else "not flagged"
        largest = ex.contributions["component"].iloc[0] if len(ex.contributions) else "-"
        return (f"{head}: nothing stands out (score {ex.score:.2f}, {state}; largest "
                f"part: {largest})")
    return f"{head}: " + "; ".join(parts)


def _component_parts(ex: Any, shared: set) -> Tuple[List[str], List[str], set]:
    """``(phrases, rarities of roll-ups over a shared neighbour, linked nodes named)``
    for the at most two components the reason names (module docstring). A roll-up
    whose oddest linked node is a shared neighbour gives only its rarity: "shares
    photo p7 with 14 other users (photo: 1 in 90)" says more than "its photo p7 is
    anomalous"."""
    parts: List[str] = []
    by_sharing: List[str] = []
    named_nodes = set(shared)
    unit = getattr(ex, "unit", "σ")
    least = SIGNIFICANT.get(unit, 2.0)
    for _, row in ex.contributions.iterrows():
        if len(parts) + len(by_sharing) >= 2 or not (row["z"] >= least) \
                or row["contribution"] <= 0 \
                or row.get("share", 1.0) < NAMED_SHARE:      # named, yet adds nothing
            continue
        of = row.get("of", np.nan)
        of = float(of) if pd.notna(of) else np.nan
        linked = _rolled_up_node(ex, row["component"])
        if linked and linked in shared:
            rarity = _rarity(float(row["z"]), unit, row.get("reached", np.nan), of,
                             str(ex.node_type))
            by_sharing.append(f"{row['component'].split(':', 1)[1]}{rarity}")
            continue
        text = _component_phrase(ex, row["component"], float(row["z"]),
                                 row.get("reached", np.nan), of)
        text = _without_repeat(text, parts)
        if text and text not in parts:
            parts.append(text)
            if linked:
                named_nodes.add(linked)   # no second clause for its link
    return parts, by_sharing, named_nodes


def _same_value(edge: Any, attribute: str, value: Any) -> bool:
    """Whether ``edge`` (a row of the edges table) holds ``value`` in ``attribute``
    (True where the table does not show that attribute): two payments to one merchant
    are told apart by their amounts."""
    if attribute not in edge.index or pd.isna(edge[attribute]):
        return True
    mine = edge[attribute]
    if isinstance(mine, (int, float, np.integer, np.floating)) and \
            isinstance(value, (int, float, np.integer, np.floating)):
        return bool(np.isclose(float(mine), float(value)))
    return number_text(mine) == number_text(value)


def _without_repeat(text: str, parts: List[str]) -> str:
    """``text`` without a trailing ``": <evidence>"`` that an earlier part already
    gives (the attribute and the outlier component both name the node's unusual
    inputs: the second keeps its own words and rarity only)."""
    head, sep, tail = text.rpartition("): ")
    if sep and tail and any(p.endswith(f": {tail}") for p in parts):
        return head + ")"
    return text


def _link_part(ex: Any, parts: List[str], named_nodes: set, beside: bool) -> str:
    """``"unusual link: pays merchant m01 (amount=5000; this edge: 1 in 900)"``: the
    node's most unusual incident edge, where it is rare (``EDGE_Z``, or
    ``EDGE_Z_BESIDE`` ``beside`` other named evidence, and as rare as the training
    edges show), no other part names a link or its other end, and fewer than three
    parts are named; "" otherwise."""
    named = " ".join(parts)
    if ex.edges.empty or len(parts) >= 3 or "unusual link:" in named:
        return ""
    e = ex.edges.iloc[0]
    least = EDGE_Z_BESIDE if beside else EDGE_Z
    reached = e.get("reached", np.nan)
    rare = e["z"] >= least and not (reached == reached             # as training shows
                                    and reached > 0.5 * np.exp(-least))
    if not rare or link_text(e["relation"], e["other"]) in named \
            or e["other"] in named_nodes:
        return ""
    attrs = ", ".join(f"{k}={_fmt(e[k])}" for k in ex.edges.columns
                      if k not in EDGE_COLUMNS and pd.notna(e[k]))
    rarity = _rarity(float(e["z"]), getattr(ex, "unit", "σ"), e.get("reached", np.nan),
                     e.get("of", np.nan), f"{e['relation'].removeprefix('rev_')} edge",
                     among="")
    judged = getattr(ex, "edge_evidence", None)
    if judged is not None and not judged.empty:
        same = judged[(judged["relation"] == e["relation"])
                      & (judged["other"] == e["other"])]
        same = same[[_same_value(e, r["attribute"], r["value"])     # that very edge
                     for _, r in same.iterrows()]] if not same.empty else same
        if not same.empty:                     # what its attribute is unlike
            attrs = judged_text(same.iloc[0])
    return (f"unusual link: {link_text(e['relation'], e['other'])} "
            f"({f'{attrs}; ' if attrs else ''}this edge{rarity})")


def _rare_inputs(ex: Any, most: int = 2) -> str:
    """``"country=PA (1% of merchants), min amount over pays edges to it=950 (highest
    1% of merchants)"``: the node's inputs that at most :data:`RARE_TAIL` of its type
    reach ("" where none, or where the features table has no ``tail``)."""
    table = getattr(ex, "features", None)
    if table is None or table.empty or "tail" not in table.columns:
        return ""
    rare = table[table["tail"] <= RARE_TAIL].head(most)
    if rare.empty:
        return ""
    return unusual_features_text(SimpleNamespace(features=rare, node_type=getattr(
        ex, "node_type", "node")), most=most)


def _rolled_up_node(ex: Any, component: str) -> str:
    """The oddest linked node behind a roll-up component (``"photo:p7"``), "" for
    other components or where the explanation does not say."""
    table = getattr(ex, "observations", None)
    if table is None or table.empty or not is_rollup(component):
        return ""
    hit = table[table["component"] == component]
    return str(hit["observation"].iloc[0]) if not hit.empty else ""


def shared_text(shared: pd.DataFrame, node_type: str, most: int = 2) -> str:
    """``"shares photo p7 and device d3 with 14 other users"``, or ``"shares photo p7
    with 14 other users and device d3 with 9"``: the ``most`` first rows of an
    explanation's ``shared`` table (the most improbably shared first)."""
    rows = shared.head(most)
    named = [r["neighbour"].replace(":", " ", 1) for _, r in rows.iterrows()]
    others = [int(r[f"{node_type}s"]) - 1 for _, r in rows.iterrows()]
    noun = f"other {node_type}{'s' if others[0] != 1 else ''}"
    if len(set(others)) == 1:
        return f"shares {' and '.join(named)} with {others[0]} {noun}"
    return (f"shares {named[0]} with {others[0]} {noun}"
            + "".join(f" and {n} with {o}" for n, o in zip(named[1:], others[1:])))


def rarity_text(z: float, unit: str, reached: float = np.nan, of: float = np.nan,
                noun: str = "node") -> str:
    """:func:`_rarity` without its lead: ``"1 in 90"``, ``"reached by only 3 of 150
    training products"``, ``"4.1σ"``."""
    return _rarity(z, unit, reached, of, noun).removeprefix(":").strip()


def _rarity(z: float, unit: str, reached: float = np.nan, of: float = np.nan,
            noun: str = "node", among: str = "training ") -> str:
    """``" 4.1σ"``, or for surprisal ``": 1 in 900"`` (rarer than 1 in ``2 exp(z)``).

    ``reached`` and ``of``: the share of the ``of`` training nodes (``noun``) at least
    as high, where known. Where :data:`~graphad.scoring.normalize.TAIL_CHECK_MIN` or
    more reach the value, it is never called rarer than their share (the fitted tail
    may call a value many nodes share up to a nat rarer). Where fewer do and the tail
    calls it rarer than the training nodes can show, the count is said instead:
    ``": above all 150 training products"``, ``": reached by only 3 of 150
    training products"`` (not "1 in 19,000" of 150; a training node counts itself)."""
    if unit != "nats":
        return f" {z:.1f}σ"
    n = 2 * np.exp(min(z, 700.0))
    share = reached == reached and reached > 0                  # not NaN
    known = reached == reached and of == of and of > 0
    count = int(round(reached * of)) if known else 0
    if share and (not known or count >= TAIL_CHECK_MIN):
        n = min(n, 1.0 / reached)
    elif known and n > of:
        population = f"{int(of):,} {among}{noun}{'s' if of != 1 else ''}"
        return (f": above all {population}" if count == 0
                else f": reached by only {count} of {population}")
    if n >= 1e6:
        return ": rarer than 1 in a million"     # an extrapolated tail: no false digits
    digits = max(0, int(np.floor(np.log10(n))) - 1)
    return f": 1 in {int(round(n, -digits)):,}"


def _component_phrase(ex: Any, name: str, z: float, reached: float = np.nan,
                      of: float = np.nan) -> str:
    """The registered family's words for a component (:mod:`graphad.components`)."""
    rarity = _rarity(z, getattr(ex, "unit", "σ"), reached, of,
                     str(getattr(ex, "node_type", "node")))
    return spec_for(name).words(ex, name, rarity)


def unusual_features_text(ex: Any, most: int = 2, least_z: float = 2.0,
                          least_tail: float = RARE_TAIL) -> str:
    """The explanation's top ``most`` inputs that are far out: where the table has a
    ``tail`` column (the share of the type at least as far out), those at most
    ``least_tail``, each with that share: ``"account_age_days=4 (lowest 2% of
    users), country=BR (4% of users)"``; else those ``least_z`` robust deviations or
    more from their type's median, each with its robust z: ``"a=1 (+4.2σ)"``. Where
    none is: ``"a rare combination of inputs, none far out alone (largest: ...)"``. A
    component's rarity belongs to the component, so callers put it before this text,
    never after a single feature."""
    rows = ex.features.head(most)
    noun = str(getattr(ex, "node_type", "node"))
    if "tail" in rows.columns:
        keep = rows[rows["tail"] <= least_tail]
        describe = lambda r: _tail_text(r, noun)             # noqa: E731
    else:
        keep = rows[rows["z"].abs() >= least_z]
        describe = lambda r: _z_value(r["z"])                # noqa: E731
    if keep.empty:      # a rare combination of ordinary values, not one odd value
        r = rows.iloc[0]
        said = describe(r)
        return (f"a rare combination of inputs, none far out alone (largest: "
                f"{feature_text(r['feature'], r['value'])}{', ' + said if said else ''})")
    return ", ".join(f"{feature_text(r['feature'], r['value'])}"
                     f"{f' ({describe(r)})' if describe(r) else ''}"
                     for _, r in keep.iterrows())


def _tail_text(row: Any, noun: str) -> str:
    """``"lowest 2% of users"``, ``"latest 0.1% of reviews"`` (a date), ``"4% of users"``
    (a category it has), ``"18% of users lack it"``; "" where unknown."""
    tail = row.get("tail", np.nan)
    if tail is None or not tail == tail:
        return ""
    pct = _percent(float(tail))
    value = row["value"]
    if "=" in str(row["feature"]) and isinstance(value, (bool, np.bool_)):
        return f"{pct} of {noun}s" if value else f"{pct} of {noun}s lack it"
    low = float(row["z"]) < 0
    if isinstance(value, (str, pd.Timestamp)):          # an edge time
        return f"{'earliest' if low else 'latest'} {pct} of {noun}s"
    return f"{'lowest' if low else 'highest'} {pct} of {noun}s"


def _percent(share: float) -> str:
    """``"2%"``, ``"0.4%"``, ``"0.033%"``: a share as a percentage to two digits."""
    pct = 100 * share
    if pct >= 10:
        return f"{pct:.0f}%"
    return f"{float(f'{pct:.2g}'):g}%"


def _z_value(z: Any) -> str:
    """``"+4.2σ"``: a feature's robust z against its type ("" where unknown)."""
    return f"{float(z):+.1f}σ" if pd.notna(z) and np.isfinite(float(z)) else ""


def _z_text(z: Any) -> str:
    """``" (+4.2σ)"`` after a feature ("" where unknown)."""
    value = _z_value(z)
    return f" ({value})" if value else ""


def feature_text(name: str, value: Any) -> str:
    if "=" in name and isinstance(value, (bool, np.bool_)):   # one-hot category
        return name if value else f"not {name}"
    return f"{name}={_fmt(value)}"


_fmt = number_text
