"""The registry of error components: one spec per component family.

A component is named ``family`` or ``family:detail`` (``cross_modal:review~photo``,
``peer:device``, ``obs:review``). Its :class:`ComponentSpec` says whether it is a
roll-up of linked nodes' scores and how a reason words it. Combination
(:mod:`graphad.detectors.base`), explanations (:mod:`graphad.scoring.explain`) and
reasons (:mod:`graphad.scoring.reasons`) read this registry only; a family registers
its spec in its own module (``graphad/nn/families/*``, ``graphad/scoring/rollup.py``).

Example:
    >>> spec_for("cross_modal:review~photo").family
    'cross_modal'
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import pandas as pd

#: ``phrase(explanation, component name, rarity text) -> str`` ("" = say nothing)
Phrase = Callable[[Any, str, str], str]


@dataclass(frozen=True)
class ComponentSpec:
    """One component family.

    Attributes:
        family: the name, or the part before ``:`` of the names it produces.
        title: what it measures, in a few words (for tables and docs).
        rollup: its values are linked nodes' combined scores (``obs:`` / ``nbr:``),
            normalised a second time after the combination of the others.
        phrase: words for a reason line; default ``"<title> (<name><rarity>)"``.
        fitted: its values come from state fitted to the training nodes (trained
            weights, ridge maps), so the training nodes' own values run lower
            than a new node's and it is calibrated on held-out nodes
            (:mod:`graphad.scoring.holdout`): ``"node"`` = fitted to the node itself,
            ``"edges"`` = to its edges (a node none of whose edges trained counts as
            held out); None = not fitted.
    """

    family: str
    title: str
    rollup: bool = False
    phrase: Optional[Phrase] = None
    fitted: Optional[str] = None

    def words(self, ex: Any, name: str, rarity: str) -> str:
        if self.phrase is not None:
            return self.phrase(ex, name, rarity)
        return f"{self.title} ({name}{rarity})"


_SPECS: Dict[str, ComponentSpec] = {}
_LOADED = False


def link_text(relation: str, other: str) -> str:
    """An explanation's edge row in words: ``"pays merchant m01"`` for an outgoing
    edge, ``"user u07 rates it"`` for an incoming one (relation ``rev_<rel>``)."""
    other = str(other).replace(":", " ", 1)
    if relation.startswith("rev_"):
        return f"{other} {relation[len('rev_'):]} it"
    return f"{relation} {other}"


def relation_text(edge_type: Tuple[str, str, str]) -> str:
    """``"user-pays->merchant"``: a relation as explanation tables name it."""
    return f"{edge_type[0]}-{edge_type[1]}->{edge_type[2]}"


def relation_ends(text: str) -> Tuple[str, str]:
    """``("user", "merchant")`` for ``"user-pays->merchant"`` (:func:`relation_text`)."""
    src, _, rest = str(text).partition("-")
    return src, rest.partition("->")[2]


def number_text(value: Any) -> str:
    """A value for a sentence, the same everywhere: ``"1"`` for 1.0, ``"5000"``,
    ``"4.213"``, ``"1.235e+07"`` for 12345678.9 (no thousands separators: reasons
    list values with commas); a time as ``"2023-07-22 03:46:40 UTC"``; anything else
    (a word) as it is."""
    if isinstance(value, pd.Timestamp):
        utc = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
        return utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if 1000 <= abs(v) < 1e7:
        return f"{v:.0f}"
    return f"{v:.4g}"


def first_row(ex: Any, table: str) -> Any:
    """The first row of an explanation's table ``table`` (a phrase's evidence), None
    where the explanation has no such table or it is empty."""
    frame = getattr(ex, table, None)
    return None if frame is None or frame.empty else frame.iloc[0]


def register_component(spec: ComponentSpec) -> ComponentSpec:
    """Add (or replace) a family's spec; returns it."""
    _SPECS[spec.family] = spec
    return spec


def family_of(name: str) -> str:
    return name.split(":", 1)[0]


def _load() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import graphad.nn.families  # noqa: F401  (registers the model's families)
        import graphad.scoring.rollup  # noqa: F401  (registers obs: / nbr:)
        import graphad.scoring.proximity  # noqa: F401  (registers near)
        import graphad.scoring.resemblance  # noqa: F401  (registers resemble)
        import graphad.scoring.group_evidence  # noqa: F401  (registers group)


def spec_for(name: str) -> ComponentSpec:
    """The spec of a component name (an unknown family gets a plain generic one)."""
    _load()
    family = family_of(name)
    return _SPECS.get(family) or ComponentSpec(family, family)


def component_words(name: str) -> str:
    """What a component measures, quoted for a sentence: ``'"links badly
    reconstructed"'`` for ``structure`` (its name where its family has no title)."""
    title = spec_for(name).title
    return name if title == family_of(name) else f'"{title}"'


def is_rollup(name: str) -> bool:
    return spec_for(name).rollup


def fitted_by(name: str) -> Optional[str]:
    """``"node"``, ``"edges"`` or None: see :attr:`ComponentSpec.fitted`."""
    return spec_for(name).fitted

