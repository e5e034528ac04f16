"""Explanations an analyst can read: why is this node (or this group) suspicious?

:func:`explain` decomposes a node's score exactly and says what is behind each part:

* **contributions**: the score split exactly into its components by the detector's
  own rule (:meth:`~graphad.detectors.base.BaseDetector.component_parts`; for the
  default harmonic mean p-value, in proportion to each component's ``w / p``), so the
  contributions add up to the score. ``z`` is the component's surprisal on the training graph (nats: a
  value ``z`` is rarer than 1 in ``2 exp(z)`` nodes; see
  :class:`~graphad.scoring.normalize.SurprisalNormalizer`), or its robust z-score (σ)
  with ``normalize="robust_z"``; :attr:`Explanation.unit` says which.
* **features**: the node's most unusual input columns (robust z within its type), for
  the ``attribute`` component.
* **modalities**: for ``cross_modal``, each modality pair's disagreement and its robust
  z among the entities that have both, from the detector's cross-modal maps.
* **contrast**: for ``consistency``, the node's own features on which it differs most
  from what its neighbours say (each one's share of the component's ``1 - cos``).
* **within**: for the ``within:<column>`` components, each numeric column of the node
  against the nodes sharing its value of the categorical column (its value, the
  category's median, the robust z), furthest first.
* **edge_fit**: for ``edge_fit``, each edge attribute of the node against what its own
  features predict (its rating against its text): ``relation, attribute, edges,
  value, expected, z`` (the mean over its edges of the relation and the prediction,
  both in the attribute's own units where the relation table holds it; ``z`` in the
  component's robust units, signed).
* **copies**: for ``copies``, how many other nodes of its type repeat its content
  nearly unchanged and a few of them: ``copies, examples``.
* **content**: the node's own modality value (a review's text, a photo's path; up to
  2,000 characters, shortened to 300 in text and Markdown); "" for types without one.
* **bursts**: for ``burst``, the densest run of the node's edges in time on the
  relation of its strongest test (``relation, edges, seconds, within``).
* **observations**: for each roll-up (``obs:<type>`` for observations, ``nbr:<type>``
  for linked entities), the linked node that drove it (the highest-scoring one) with
  a snippet of its raw value.
* **relations** and **edges**: the edge scores per incident relation (``mean_z``,
  ``max_z``) and the incident edges with the highest edge scores (``z``: the score of
  :meth:`~graphad.detectors.base.BaseDetector.score_edges`, in the same unit as the
  contributions), with the other endpoint's id and the edge's raw attributes.
* **neighbours**: the most anomalous neighbours (``score_z``: robust z of their score
  within their type; only those above their type's median) and the most dissimilar
  ones.
* **shared**: neighbours of another type that normally belong to one or two nodes
  (devices, photos) but link to improbably many (a device behind many accounts):
  "shares device d0042 with 14 other users".
* **group**: for the ``group`` component, the discovered group the node belongs to
  (its members by type, its internal links against a degree-preserving random graph,
  the neighbours its members share, its score).
* **reason**: one line in plain language built from the above.

:func:`explain_subgraph` does the same for a group (see
:func:`~graphad.scoring.subgraph.score_subgraphs`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch

from ..data.bundle import GraphBundle, as_bundle
from ..errors import GraphadError
from ..typing import NodeType, is_reverse, reverse_edge_type
from .graphview import GraphView, node_embeddings, resolve_node, robust_z, scoring_once
from .normalize import MAD_TO_STD
from ..components import is_rollup, number_text, relation_text
from .reasons import SIGNIFICANT, node_reason, rarity_text

SHARED_ALPHA = 0.01      # significance of "shared by improbably many" (see _shared)


@dataclass
class Explanation:
    """Why a node scores as it does. Tables are pandas DataFrames (possibly empty).

    Attributes:
        node_type, node_id: the node.
        score: its anomaly score; ``threshold``: the detector's threshold for its type
            (None if unknown); ``rank``: 1 = most anomalous of its type, of ``n``.
        contributions: ``component, z, weight, contribution, share``; the
            contributions add up to ``score`` (see the module docstring).
        features, modalities, contrast, bursts, within, observations, relations,
            edges, neighbours, shared, group, edge_fit, copies, content: see the
            module docstring.
        reason: one line of plain language.
        unit: what the contributions' ``z`` is measured in: ``"nats"`` (surprisal,
            the default normalisation: rarer than 1 in ``2 exp(z)``) or ``"σ"``
            (robust standard deviations, ``normalize="robust_z"``).
    """

    node_type: NodeType
    node_id: Any
    score: float
    threshold: Optional[float]
    rank: int
    n: int
    contributions: pd.DataFrame
    features: pd.DataFrame = field(default_factory=pd.DataFrame)
    modalities: pd.DataFrame = field(default_factory=pd.DataFrame)
    contrast: pd.DataFrame = field(default_factory=pd.DataFrame)
    bursts: pd.DataFrame = field(default_factory=pd.DataFrame)
    within: pd.DataFrame = field(default_factory=pd.DataFrame)
    observations: pd.DataFrame = field(default_factory=pd.DataFrame)
    relations: pd.DataFrame = field(default_factory=pd.DataFrame)
    edges: pd.DataFrame = field(default_factory=pd.DataFrame)
    neighbours: pd.DataFrame = field(default_factory=pd.DataFrame)
    shared: pd.DataFrame = field(default_factory=pd.DataFrame)
    group: pd.DataFrame = field(default_factory=pd.DataFrame)
    edge_fit: pd.DataFrame = field(default_factory=pd.DataFrame)
    edge_evidence: pd.DataFrame = field(default_factory=pd.DataFrame)
    degrees: pd.DataFrame = field(default_factory=pd.DataFrame)
    copies: pd.DataFrame = field(default_factory=pd.DataFrame)
    content: str = ""
    reason: str = ""
    unit: str = "nats"

    @property
    def flagged(self) -> bool:
        return self.threshold is not None and self.score > self.threshold

    def to_text(self, max_rows: int = 8) -> str:
        """The explanation as readable text tables."""
        state = "flagged" if self.flagged else "not flagged"
        thr = ("" if self.threshold is None
               else f", threshold {self.threshold:.3f} ({state})")
        lines = [self.reason, "",
                 f"{self.node_type} {self.node_id}: score {self.score:.3f}, rank "
                 f"{self.rank} of {self.n}{thr}"]
        if self.content:
            lines.append(f"content: {_shorten(self.content)}")
        for title, table in self._titled():
            if table is not None and not table.empty:
                lines += ["", f"{title}:", _table_text(table.head(max_rows))]
                lines += _more(table, max_rows)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _titled(self) -> List[Tuple[str, pd.DataFrame]]:
        """``(heading, table)`` of every section, in order (text and Markdown)."""
        unit = ("z in nats of surprisal: rarer than 1 in 2 exp(z) under the fitted tail; "
                "reached: the share of the `of` training nodes at least as high; rarity: "
                "what the training nodes show, in words"
                if self.unit == "nats" else "z in robust σ")
        return [(SECTION_TITLES[key].format(unit=unit), table)
                for key, table in self._sections()]

    def _sections(self) -> List[Tuple[str, pd.DataFrame]]:
        """``(key, table)`` of every section, in order (JSON and reports)."""
        return [(key, getattr(self, key)) for key in SECTION_TITLES]

    def to_dict(self, max_rows: Optional[int] = None) -> Dict[str, Any]:
        """Plain data (JSON-ready): the header fields, the reason and every table as a
        list of records (the first ``max_rows`` rows of each where given)."""
        def records(table: pd.DataFrame) -> list:
            if table is None or table.empty:
                return []
            table = table if max_rows is None else table.head(max_rows)
            return json.loads(table.to_json(orient="records", date_format="iso",
                                            date_unit="s", default_handler=str))
        out: Dict[str, Any] = {
            "node_type": self.node_type, "id": _plain(self.node_id),
            "score": _single(self.score), "threshold": _single(self.threshold),
            "flagged": self.flagged, "rank": self.rank, "of": self.n, "unit": self.unit,
            "content": self.content, "reason": self.reason}
        out.update({name: records(table) for name, table in self._sections()})
        return out

    def to_markdown(self, max_rows: int = 8) -> str:
        """The explanation as Markdown: a heading, the reason, then pipe tables."""
        state = "flagged" if self.flagged else "not flagged"
        thr = "" if self.threshold is None else f", threshold {self.threshold:.3f} ({state})"
        lines = [f"## {self.node_type} {self.node_id}", "", self.reason, "",
                 f"Score {self.score:.3f}, rank {self.rank} of {self.n}{thr}."]
        if self.content:
            lines += ["", f"Content: {_shorten(self.content)}"]
        for title, table in self._titled():
            if table is not None and not table.empty:
                lines += ["", f"**{title}**", "", _table_markdown(table.head(max_rows))]
                lines += _more(table, max_rows)
        return "\n".join(lines) + "\n"


def _shorten(text: str, width: int = 300) -> str:
    """``text`` cut to ``width`` characters for reading (JSON keeps it whole)."""
    return text if len(text) <= width else text[:width - 3] + "..."


def _more(table: pd.DataFrame, max_rows: int) -> List[str]:
    """A line saying how many rows were left out ([] where none)."""
    left = len(table) - max_rows
    return [f"... and {left} more row{'s' if left != 1 else ''}"] if left > 0 else []


#: the explanation's sections: attribute -> heading ({unit}: the contributions' unit)
SECTION_TITLES = {
    "contributions": "score = sum of contributions (the rarest components take nearly "
                     "all of it; {unit})",
    "features": "unusual attributes (z in robust σ against its type; tail: the share "
                "of its type at least as far out on that side of the median)",
    "modalities": "modality pairs (cross-modal)",
    "contrast": "unlike its neighbours in (share of the consistency error)",
    "degrees": "links from another type (the degree components)",
    "bursts": "edges packed in time (the burst component; start, end: its first and "
              "last edge; from: the nodes behind the run where they stand out together, "
              "with the input they stand out in: their median, and the usual over the "
              "nodes behind all edges of the relation)",
    "within": "numbers against its category (the within components)",
    "edge_fit": "its edges against its own features (the edge_fit component)",
    "edge_evidence": "its edges against the other edges of their ends (the edge "
                     "component; z in nats before calibration)",
    "copies": "near-copies of its content (the copies component)",
    "observations": "observations behind the roll-ups",
    "relations": "structure by relation",
    "edges": "most anomalous incident edges (reached: the share of the relation's `of` "
             "edges at least as high)",
    "neighbours": "neighbours",
    "shared": "shared neighbours (log10_p: the log10 chance of so many links where "
              "its type has `typical`)",
    "group": "its group (the group component; shared: neighbours outside it, k/d: k "
             "of the neighbour's d links go to members)",
}


def _single(value: Optional[float]) -> Optional[float]:
    """A score computed in float32 as the shortest float that reads back the same
    (``5.6930647``, not ``5.6930646896362305``)."""
    return None if value is None else float(str(np.float32(value)))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def shown_table(table: pd.DataFrame) -> pd.DataFrame:
    """A table as text and Markdown show it: a column of whole numbers (ratings,
    counts) without decimals, other numbers to three, a missing value as a blank."""
    out = pd.DataFrame(index=table.index)
    for name in table.columns:
        col = table[name]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric:
            values = pd.to_numeric(col, errors="coerce").astype(float)
            finite = values[np.isfinite(values)]
            whole = bool(len(finite)) and bool((finite == np.round(finite)).all()) \
                and bool((finite.abs() < 1e15).all())
            out[name] = [("" if not np.isfinite(v) else
                          str(int(v)) if whole else f"{v:.3f}") for v in values]
        else:
            out[name] = ["" if v is None or v is pd.NA or v is pd.NaT
                         or (isinstance(v, float) and math.isnan(v)) else number_text(v)
                         for v in col]
    return out


def _table_markdown(table: pd.DataFrame) -> str:
    shown = shown_table(table)
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ") for v in row)
            + " |" for row in shown.itertuples(index=False)]
    return "\n".join([head, rule] + rows)


def _table_text(table: pd.DataFrame) -> str:
    return shown_table(table).to_string(index=False, max_colwidth=60)


# ---------------------------------------------------------------- node
def explain(graph: Any, node: Tuple[NodeType, Any], detector: Any, top: int = 5,
            view: Optional[GraphView] = None, *, components: Optional[Mapping] = None,
            scores: Optional[Mapping] = None, edge_scores: Optional[Mapping] = None,
            cache: Optional[Dict[Any, Any]] = None) -> Explanation:
    """Explain one node's score.

    Args:
        graph: the graph the detector scores (``GraphBundle``, ``HeteroData``...).
        node: ``(node_type, external id)``; a ``"type:id"`` string also works.
        detector: a fitted detector.
        top: rows per table (edges, neighbours, features).
        view: a prebuilt :class:`GraphView` of ``graph`` (to share work).
        components, scores, edge_scores: the detector's ``score_components``,
            ``combine`` and ``score_edges`` of ``graph`` where already computed
            (:func:`explain_many` scores once for many nodes).
        cache: a dict shared by the explanations of one graph: latents and
            cross-modal errors are computed once into it.

    Returns:
        :class:`Explanation`; ``explanation.contributions.contribution.sum()`` equals
        the node's score.

    Example:
        >>> print(explain(graph, ("user", "u00123"), det))
    """
    from .graphview import parse_node
    if isinstance(node, str):
        node = parse_node(node)
    with scoring_once(detector, graph) as bundle:
        return _explain(bundle, node, detector, top, view, components, scores,
                        edge_scores, cache)


def _explain(bundle: GraphBundle, node: Tuple[NodeType, Any], detector: Any, top: int,
             view: Optional[GraphView], components: Optional[Mapping],
             scores: Optional[Mapping], edge_scores: Optional[Mapping],
             cache: Optional[Dict[Any, Any]]) -> Explanation:
    node_type, node_id = node
    idx = resolve_node(bundle, node_type, node_id)
    node_id = bundle.ids.external(node_type, [idx])[0]
    comps = components if components is not None else detector.score_components(bundle)
    scores = scores if scores is not None else detector.combine(comps)
    if node_type not in scores or scores[node_type].numel() == 0:
        raise GraphadError(f"the detector gives no scores for '{node_type}' nodes")
    view = view or GraphView(bundle)
    s = scores[node_type]
    score = float(s[idx])
    rank = int((s > s[idx]).sum()) + 1
    thresholds = getattr(detector, "threshold_", None) or {}
    threshold = thresholds.get(node_type)
    ex = Explanation(node_type, node_id, score,
                     None if threshold is None else float(threshold), rank, int(s.numel()),
                     contributions(detector, comps[node_type], idx, node_type),
                     unit=component_unit(detector))
    if ex.unit == "nats" and not ex.contributions.empty:   # as the reason words it
        ex.contributions["rarity"] = [
            rarity_text(z, ex.unit, reached, of, str(node_type)) if z > 0 else ""
            for z, reached, of in zip(ex.contributions["z"], ex.contributions["reached"],
                                      ex.contributions["of"].astype(float))]
    cache = {} if cache is None else cache
    z_scores = _memo(cache, "robust_z", lambda: robust_z(scores))
    own_rows = _own_feature_rows(bundle, node_type, idx)
    ex.features = _features(bundle, node_type, idx, top, cache, own_rows)
    ex.modalities = _modalities(bundle, detector, node_type, idx, cache)
    ex.contrast = _contrast(bundle, detector, node_type, idx, top, cache, own_rows)
    if _significant(comps[node_type].get("burst"), idx, ex.unit):   # only where it counts
        ex.bursts = _bursts(bundle, detector, node_type, idx, cache)
    ex.within = _within(bundle, detector, node_type, idx, cache)
    ex.edge_fit = _edge_fit(bundle, detector, node_type, idx, cache)
    if any(_significant(comps[node_type][n], idx, ex.unit)
           for n in comps[node_type] if n.startswith("degree:")):
        ex.degrees = _degrees(bundle, detector, node_type, idx, cache)
    edge = comps[node_type].get("edge")
    if edge is not None and float(torch.nan_to_num(edge[idx], nan=0.0)) > 0:
        ex.edge_evidence = _edge_evidence(bundle, detector, node_type, idx, top, cache)
    ex.copies = _copies(bundle, detector, node_type, idx, cache)
    ex.content = _content(bundle, node_type, idx)
    ex.observations = _observations(bundle, comps, scores, detector, node_type, idx)
    ex.relations, ex.edges = _edges(bundle, detector, node_type, idx, top, edge_scores)
    ex.neighbours = _neighbours(bundle, view, detector, z_scores, node_type, idx, top,
                                cache)
    ex.shared = _shared(bundle, view, node_type, idx)
    group = comps[node_type].get("group")
    if group is not None and float(torch.nan_to_num(group[idx], nan=0.0)) > 0:
        ex.group = _group(bundle, detector, node_type, idx)   # only where it adds
    ex.reason = node_reason(ex)
    return ex


def _significant(component: Optional[torch.Tensor], idx: int, unit: str) -> bool:
    """Whether the node's value of a component is one a reason would name
    (:data:`~graphad.scoring.reasons.SIGNIFICANT`: rarer than 1 in 40); its table is
    shown only then (a burst of 12 edges within 147 days explains nothing)."""
    if component is None:
        return False
    value = float(torch.nan_to_num(component[idx].float(), nan=0.0))
    return value >= SIGNIFICANT.get(unit, 2.0)


def _group(bundle: GraphBundle, detector: Any, t: NodeType, idx: int) -> pd.DataFrame:
    """The group behind the node's ``group`` component, as one row (empty where the
    node is in no group or the detector has no such component)."""
    from .group_evidence import describe_members, group_of
    typed_groups = getattr(detector, "_typed_groups", None)
    found = group_of(typed_groups(bundle), t, idx) if typed_groups is not None else None
    if found is None:
        return pd.DataFrame()
    group, row = found
    ids = [f"{gt}:{i}" for gt, members in group.items()
           for i in bundle.ids.external(gt, [int(m) for m in members])]
    return pd.DataFrame([{
        "members": describe_members(group),
        "internal_links": int(round(float(row["internal_edges"]))),
        "expected_links": round(float(row["expected_edges"]), 1),
        "density_ratio": round(float(row["density_ratio"]), 1),
        "shared": ", ".join(row["shared"][:3]),
        "score": round(float(row["score"]), 3),
        "member_ids": " ".join(ids)}])


def all_edge_scores(bundle: GraphBundle, detector: Any) -> Dict:
    """``detector.score_edges(bundle)``, or ``{}`` for a detector without edge scores."""
    try:
        return detector.score_edges(bundle)
    except GraphadError:
        return {}


def explain_many(graph: Any, nodes: Sequence[Any], detector: Any, top: int = 5
                 ) -> List[Explanation]:
    """:func:`explain` for many nodes (``(type, id)`` or ``"type:id"``) from one scoring
    of ``graph``: components, scores and edge scores computed once."""
    with scoring_once(detector, graph) as bundle:
        comps = detector.score_components(bundle)
        scores = detector.combine(comps)
        edges = all_edge_scores(bundle, detector)
        view = GraphView(bundle)
        cache: Dict[Any, Any] = {}
        return [explain(bundle, node, detector, top, view, components=comps,
                        scores=scores, edge_scores=edges, cache=cache) for node in nodes]


def _memo(cache: Dict[Any, Any], key: Any, compute: Any) -> Any:
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def component_unit(detector: Any) -> str:
    """``"σ"`` for robust z-scored components, ``"nats"`` for surprisal."""
    return "σ" if getattr(detector, "normalize", "surprisal") == "robust_z" else "nats"


def contributions(detector: Any, comps: Mapping[str, torch.Tensor], idx: int,
                  node_type: Any = None) -> pd.DataFrame:
    """``component, z, weight, contribution, share, reached, of`` of one node, largest
    first.

    The contributions are the detector's own split of the score
    (:meth:`~graphad.detectors.base.BaseDetector.component_parts`): for the harmonic
    mean p-value, the score shared in proportion to each component's ``w / p``; for the
    mean, ``w_c s+_c / sum(w)``. The column sums to the score exactly. ``reached``:
    the share of the training nodes whose component is at least as high (NaN where
    the detector cannot say), which a reason quotes where the fitted tail calls a
    value that many training nodes share rarer than that; ``of``: how many training
    nodes have the component (NaN where unknown).
    """
    weights = detector.component_weights(comps, node_type)
    one = {name: z[idx:idx + 1].float() for name, z in comps.items()}
    parts = detector.component_parts(one, node_type)
    rows = [{"component": name, "z": float(z[0]),
             "weight": weights[name],
             "contribution": float(parts[name][0]) if name in parts else 0.0}
            for name, z in one.items()]
    table = pd.DataFrame(rows, columns=["component", "z", "weight", "contribution"])
    absolute = table["contribution"].abs().sum()
    table["share"] = table["contribution"] / absolute if absolute > 0 else 0.0
    reach = getattr(detector, "training_reach", None)
    counts = [reach(node_type, c, z) if reach is not None and z > 0 else (math.nan, 0)
              for c, z in zip(table["component"], table["z"])]
    table["reached"] = [count / n if n > 0 else math.nan for count, n in counts]
    table["of"] = pd.array([n if n > 0 else None for _, n in counts], dtype="Int64")
    return table.sort_values(["contribution", "z"], ascending=False, key=_nan_low
                             ).reset_index(drop=True)


def _nan_low(col: pd.Series) -> pd.Series:
    return col.fillna(-np.inf)


def _features(bundle: GraphBundle, t: NodeType, idx: int, top: int,
              cache: Dict[Any, Any], own_rows: List[Dict[str, Any]]) -> pd.DataFrame:
    """The node's most unusual inputs: its own columns (``own_rows``, from
    :func:`_own_feature_rows`) and the aggregates of its incident edge attributes (both
    are in the attribute error's input): ``feature, value, z`` (robust z against its
    type) and ``tail`` (the share of its type at least as far out on the value's side
    of the median; for a category, the share that has it), rarest first. A 4-day-old
    account is in the youngest 2% of users even where its robust z is -1.2 (ages are
    skewed); a country that 36% of users share is not unusual whatever its z."""
    rows = own_rows + _edge_attribute_rows(bundle, t, idx, cache)
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows)
    moved = table[(table["z"] != 0) & (table["tail"] < 0.5)]   # at the median: nothing
    table = moved if not moved.empty else table
    order = np.lexsort((-np.nan_to_num(table["z"].abs().to_numpy()),
                        np.nan_to_num(table["tail"].to_numpy(), nan=1.0)))
    return table.iloc[order[:top]].reset_index(drop=True)


def tail_share(values: np.ndarray, value: float) -> float:
    """The share of ``values`` (finite ones) at least as far out as ``value`` on its
    side of their median: ``P(V >= value)`` above it, ``P(V <= value)`` below."""
    values = values[np.isfinite(values)]
    if values.size == 0 or not np.isfinite(value):
        return math.nan
    side = values >= value if value >= np.median(values) else values <= value
    return float(side.mean())


def _own_feature_rows(bundle: GraphBundle, t: NodeType, idx: int) -> List[Dict[str, Any]]:
    store = bundle.data[t]
    names = bundle.feature_names.get(t) or []
    if "x" not in store or store.x is None or not names or bundle.modality.get(t):
        return []
    x = store.x.double().numpy()
    names = names[:x.shape[1]]
    med, scale = _robust_scale(x)
    z = (x[idx] - med) / scale
    raw = bundle.raw.get(t)
    rows = []
    for j in range(len(names)):
        name = names[j]
        value: Any = x[idx, j]
        zj, tail = float(z[j]), tail_share(x[:, j], float(x[idx, j]))
        if raw is not None and name in raw.columns:
            value = raw[name].iloc[idx]
            column = _raw_numbers(raw[name], x.shape[0])
            if column is not None and np.isfinite(column[idx]):
                # the table's own values: the featurised ones are clipped (a balance
                # of 87,443 and one of 5,800 both at the cap, 5% of users with them)
                col_med, col_scale = _robust_scale(column.reshape(-1, 1))
                zj = float((column[idx] - col_med[0]) / col_scale[0])
                tail = tail_share(column, column[idx])
        elif "=" in name:
            value = bool(x[idx, j] > 0.5)
        rows.append({"feature": name, "value": value, "z": zj, "tail": tail})
    return rows


def _raw_numbers(column: pd.Series, n: int) -> Optional[np.ndarray]:
    """A raw table column as floats ``[n]``, None where it is not numeric (or not one
    value per node)."""
    if len(column) != n or pd.api.types.is_bool_dtype(column) or \
            not pd.api.types.is_numeric_dtype(column):
        return None
    return column.to_numpy(dtype=float, na_value=np.nan)


def _robust_scale(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(median, scale)`` per column of ``x [n, d]`` (NaN ignored): the scale is
    1.4826 MAD, the std where the MAD is 0, 1 where both are."""
    med = np.nanmedian(x, axis=0)
    mad = MAD_TO_STD * np.nanmedian(np.abs(x - med), axis=0)
    std = np.nanstd(x, axis=0)
    return med, np.where(mad > 1e-12, mad, np.where(std > 1e-12, std, 1.0))


def _edge_attribute_rows(bundle: GraphBundle, t: NodeType, idx: int,
                         cache: Dict[Any, Any]) -> List[Dict[str, Any]]:
    """Per relation end and edge attribute where the node has such edges: the mean,
    min or max of the attribute over its edges (whichever is most unusual), robustly
    z-scored against the same aggregate of the type's other nodes with such edges:
    ``"mean rating over rates edges to it" = -10`` (edges it receives) or ``"max
    amount over its pays edges"`` (edges it sends)."""
    rows = []
    for et in bundle.edge_types:
        for end in (0, 1):
            if (et[0], et[2])[end] != t:
                continue
            aggregates = _memo(cache, ("edge_aggregates", et, end),
                               lambda: _edge_aggregates(bundle, et, end))
            time_col = _time_column(bundle, et)
            count = int((bundle.data[et].edge_index[end] == idx).sum())
            for column, (has, per) in aggregates.items():
                if not has[idx]:
                    continue
                best = None
                for stat, (agg, med, scale) in per.items():
                    z = float((agg[idx] - med) / scale)
                    if best is None or abs(z) > abs(best["z"]):
                        value = float(agg[idx])
                        best = {"feature": _aggregate_name(stat, column, et[1], end,
                                                           count, column == time_col),
                                "value": time_value(value) if column == time_col
                                else value, "z": z,
                                "tail": tail_share(agg[has], value)}
                rows.append(best)
    return rows


#: an edge time's aggregates in words: "latest created_at of its wrote edges"
TIME_STATS = {"mean": "mean", "min": "earliest", "max": "latest"}


def _aggregate_name(stat: str, column: str, relation: str, end: int, count: int,
                    is_time: bool) -> str:
    """``"mean rating over its rates edges"``, ``"max amount over pays edges to it"``,
    ``"latest created_at of its wrote edges"``; for a node with one such edge the
    value itself: ``"created_at of the wrote edge to it"``."""
    if count == 1:
        return (f"{column} of its {relation} edge" if end == 0
                else f"{column} of the {relation} edge to it")
    what = f"its {relation} edges" if end == 0 else f"{relation} edges to it"
    return (f"{TIME_STATS[stat]} {column} of {what}" if is_time
            else f"{stat} {column} over {what}")


def _edge_aggregates(bundle: GraphBundle, et, end: int) -> Dict[str, Any]:
    """``{attribute: (has [n], {stat: (aggregate [n], median, scale)})}`` over the
    edges of ``et`` at ``end`` (0: source, 1: destination), for each attribute that
    three or more nodes have."""
    n = bundle.data[(et[0], et[2])[end]].num_nodes
    index = bundle.data[et].edge_index[end]
    out = {}
    for column, v in _edge_attribute_values(bundle, et).items():
        values = torch.as_tensor(np.array(v, dtype=np.float64))   # a copy: v may be read-only
        ok = torch.isfinite(values)
        nodes, values = index[ok], values[ok]
        count = torch.bincount(nodes, minlength=n)
        has = (count > 0).numpy()
        if has.sum() < 3:
            continue
        per = {}
        for stat, reduce in (("mean", "mean"), ("min", "amin"), ("max", "amax")):
            agg = torch.zeros(n, dtype=torch.float64).scatter_reduce(
                0, nodes, values, reduce=reduce, include_self=False).numpy()
            pool = agg[has]
            med = float(np.median(pool))
            mad = MAD_TO_STD * float(np.median(np.abs(pool - med)))
            std = float(pool.std())
            per[stat] = (agg, med, mad if mad > 1e-12 else (std if std > 1e-12 else 1.0))
        out[column] = (has, per)
    return out


def _edge_attribute_values(bundle: GraphBundle, et) -> Dict[str, np.ndarray]:
    """``{attribute: float64[m]}`` of a relation's edges in edge order: the relation
    table's attribute columns, else the columns of ``edge_attr`` (by their names)."""
    table = bundle.edges_raw.get(et)
    if table is not None and table.shape[1] > 2:
        return {str(c): pd.to_numeric(table[c], errors="coerce").to_numpy(float)
                for c in table.columns[2:]
                if pd.api.types.is_numeric_dtype(table[c])}
    store = bundle.data[et]
    if "edge_attr" not in store or store.edge_attr is None:
        return {}
    attr = store.edge_attr.double().numpy().reshape(store.edge_attr.size(0), -1)
    return {str(name): attr[:, j] for j, name in enumerate(_attribute_names(bundle, et))}


def _family_details(bundle: GraphBundle, detector: Any, t: NodeType,
                    cache: Dict[Any, Any]) -> Dict[str, list]:
    """The detector's per-family explanation details for type ``t`` (once per cache):
    ``"cross_modal"``: ``[(pair "a~b", error [n], has both [n])]``; ``"consistency"``:
    ``[(relation, per-column error [n, w], has [n])]``; ``{}`` for detectors without."""
    details = getattr(detector, "component_details", None)
    return _memo(cache, ("details", t),
                 lambda: details(bundle, t) if details is not None else {})


def _modalities(bundle: GraphBundle, detector: Any, t: NodeType, idx: int,
                cache: Dict[Any, Any]) -> pd.DataFrame:
    rows = []
    pairs = _family_details(bundle, detector, t, cache).get("cross_modal", [])
    for name, err, both in pairs:
        if not bool(both[idx]):
            continue
        z = robust_z({t: err[both]})[t][int(both[:idx].sum())]
        a, b = name.split("~", 1)
        rows.append({"pair": f"{a} ~ {b}", "modality_a": bundle.modality.get(a) or a,
                     "modality_b": bundle.modality.get(b) or b, "error": float(err[idx]),
                     "z": float(z),
                     "percentile": 100 * float((err[both] <= err[idx]).double().mean())})
    table = pd.DataFrame(rows)
    return table.sort_values("z", ascending=False).reset_index(drop=True) if rows else table


def _contrast(bundle: GraphBundle, detector: Any, t: NodeType, idx: int, top: int,
              cache: Dict[Any, Any], own_rows: List[Dict[str, Any]]) -> pd.DataFrame:
    """The node's own features on which it differs most from what its neighbours say
    (the ``consistency`` component split over its input columns, averaged over its
    relations as the component is): ``feature, value, z`` (robust z against its
    type, as in ``features``) and ``share`` of the component. Empty where the type's
    own input is an embedding (PCA-reduced or a modality: its columns have no names)
    or the node has no relation the component compares."""
    stats = (getattr(detector, "node_stats_", None) or {}).get(t)
    width = (getattr(detector, "own_dims_", None) or {}).get(t, 0)
    names = bundle.feature_names.get(t) or []
    named = stats is not None and len(stats) == 2 and len(names) >= width
    if not width or not named or bundle.modality.get(t):
        return pd.DataFrame()
    total, count = torch.zeros(width, dtype=torch.float64), 0
    for _, cols, has in _family_details(bundle, detector, t, cache).get("consistency", []):
        if bool(has[idx]) and cols.size(1) == width:
            total += cols[idx].double()
            count += 1
    if count == 0 or float(total.sum()) <= 0:
        return pd.DataFrame()
    share = (total / total.sum()).numpy()
    own = {r["feature"]: r for r in own_rows}
    rows = [{"feature": name, "value": own[name]["value"] if name in own else None,
             "z": own[name]["z"] if name in own else float("nan"),
             "share": float(share[j])} for j, name in enumerate(names[:width])]
    table = pd.DataFrame(rows).sort_values("share", ascending=False, kind="stable")
    return table.head(top).reset_index(drop=True)


def _degrees(bundle: GraphBundle, detector: Any, t: NodeType, idx: int,
             cache: Dict[Any, Any]) -> pd.DataFrame:
    """For the ``degree`` components: ``component, links`` (the node's count of links
    from the other type) and ``median`` (its type's median count)."""
    return pd.DataFrame([
        {"component": name, "links": int(counts[idx]),
         "median": float(np.median(counts.numpy()))}
        for name, counts in _family_details(bundle, detector, t, cache).get("degree", [])])


def _bursts(bundle: GraphBundle, detector: Any, t: NodeType, idx: int,
            cache: Dict[Any, Any]) -> pd.DataFrame:
    """The densest run of the node's edges in time on the relation of its strongest
    ``burst`` test: ``relation, edges, seconds, within``; for a run of its own, the
    times of its first and last edge (``start, end``) and, where the nodes behind the
    run's edges stand out together (:func:`_run_senders`), ``from, feature, median,
    usual`` (one row; empty where it has no run)."""
    from ..nn.families.burst import duration_text, run_edges
    rows = []
    for label, count, span, best, source in \
            _family_details(bundle, detector, t, cache).get("burst", []):
        if not bool(best[idx]) or int(count[idx]) <= 0:
            continue
        row = {"relation": label, "edges": int(count[idx]), "seconds": float(span[idx]),
               "within": duration_text(float(span[idx]))}
        if source is not None:                  # a run of its own
            members = run_edges(source, idx, int(count[idx]))
            if members.numel():
                row["start"] = time_value(float(source.times[members[0]]))
                row["end"] = time_value(float(source.times[members[-1]]))
                row.update(_run_senders(bundle, source, members))
        rows.append(row)
    return pd.DataFrame(rows)


#: the nodes behind a burst are described by an input whose median over them is this
#: far out among the nodes behind all edges of the relation (their share at least as
#: far out on that side)
RUN_TAIL = 0.05


def _run_senders(bundle: GraphBundle, source: Any, members: torch.Tensor) -> Dict[str, Any]:
    """Who is behind a node's densest run of edges (``members``, edge ids of
    ``source``'s relation): the nodes at the run's other ends,
    or, where those are observations without inputs of their own (reviews), the one
    entity each belongs to (the review's writer). Their most unusual input together:
    ``from`` (``"12 users"``), ``feature``, ``median`` (theirs), ``usual`` (the median
    over the nodes behind all edges of the relation, one per edge, as the run's are);
    ``{}`` where no input's median is within :data:`RUN_TAIL` of that population's
    tail. Twelve reviews of a product within two days, written by accounts a few days
    old, read "from 12 users with a median account_age_days of 3"."""
    other_type = source.relation[2 * (1 - source.end)]
    others = source.edge_index[1 - source.end]
    owner_type, owner = _owners(bundle, other_type, skip=source.relation[2 * source.end])
    nodes = others if owner is None else owner[others]
    valid = nodes >= 0
    columns = _numeric_inputs(bundle, owner_type)
    best: Dict[str, Any] = {}
    group = nodes[members][valid[members]].numpy()
    everyone = nodes[valid].numpy()
    if group.size < 3:
        return {}
    for name, values in columns.items():
        median = float(np.nanmedian(values[group]))
        tail = tail_share(values[everyone], median)
        if tail == tail and tail <= RUN_TAIL and (not best or tail < best["tail"]):
            best = {"from": f"{np.unique(group).size} {owner_type}s", "feature": name,
                    "median": median, "usual": float(np.nanmedian(values[everyone])),
                    "tail": tail}
    best.pop("tail", None)
    return best


def _owners(bundle: GraphBundle, t: NodeType, skip: NodeType
            ) -> Tuple[NodeType, Optional[torch.Tensor]]:
    """``(t, None)`` where ``t`` has inputs of its own; else, for observations (text,
    images) each linked by one edge of one relation to one entity of a type with
    inputs other than ``skip`` (the burst's own type), ``(that type, its index per t
    node [n])``."""
    if _numeric_inputs(bundle, t):
        return t, None
    n = bundle.data[t].num_nodes
    for et in bundle.data.edge_types:
        if et[0] == et[2] or is_reverse(et) or t not in (et[0], et[2]):
            continue
        end = 0 if et[0] == t else 1
        other = et[2 * (1 - end)]
        ei = bundle.data[et].edge_index
        if other == skip or not _numeric_inputs(bundle, other) or \
                not bool((torch.bincount(ei[end], minlength=n) == 1).all()):
            continue
        owner = torch.full((n,), -1, dtype=torch.long)
        owner[ei[end]] = ei[1 - end]
        return other, owner
    return t, None


def _numeric_inputs(bundle: GraphBundle, t: NodeType) -> Dict[str, np.ndarray]:
    """``{column: values [n]}``: the numeric own inputs of ``t`` (not one-hot
    categories; the raw table's values where it has the column), {} for a modality's
    nodes (a text's embedding is no input to name)."""
    store = bundle.data[t]
    names = bundle.feature_names.get(t) or []
    if "x" not in store or store.x is None or not names or bundle.modality.get(t):
        return {}
    x = store.x.double().numpy()
    raw = bundle.raw.get(t)
    out = {}
    for j, name in enumerate(names[:x.shape[1]]):
        if "=" in name:
            continue
        column = (_raw_numbers(raw[name], x.shape[0])
                  if raw is not None and name in raw.columns else None)
        out[name] = x[:, j] if column is None else column
    return out


def _within(bundle: GraphBundle, detector: Any, t: NodeType, idx: int,
            cache: Dict[Any, Any]) -> pd.DataFrame:
    """For the ``within:<column>`` components: each numeric column of the node against
    its category, furthest first: ``component, column, category, feature, value,
    category_median, z`` (the raw value and the median of the nodes of this graph
    with its category; ``z`` in the category's robust units, as the component)."""
    names = bundle.feature_names.get(t) or []
    raw = bundle.raw.get(t)
    rows = []
    for column, numeric, z, has in _family_details(bundle, detector, t, cache).get(
            "within", []):
        if not bool(has[idx]):
            continue
        known = raw is not None and column in raw.columns and idx < len(raw)
        category = raw[column].iloc[idx] if known else ""
        for k, j in enumerate(numeric):
            feature = str(names[j]) if j < len(names) else f"x{j}"
            value = median = float("nan")
            if known and feature in raw.columns:
                value = raw[feature].iloc[idx]
                median = pd.to_numeric(raw.loc[raw[column] == category, feature],
                                       errors="coerce").median()
            rows.append({"component": f"within:{column}", "column": column,
                         "category": category, "feature": feature, "value": value,
                         "category_median": median, "z": float(z[idx, k])})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = table["z"].abs().sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True)


def _edge_fit(bundle: GraphBundle, detector: Any, t: NodeType, idx: int,
              cache: Dict[Any, Any]) -> pd.DataFrame:
    """For the ``edge_fit`` component: per kept edge attribute of the node, ``relation,
    attribute, edges, value, expected, predicted_from, z`` (furthest first). The
    family works on prepared inputs, an affine function of the mean raw attribute
    over a node's edges (robust scaling, then standardising; only edge values beyond
    20 robust deviations are clipped), so ``value`` and ``expected`` are mapped back
    by the least-squares line between the two over the type's nodes with such edges
    (``expected`` within the range the relation's edges show: a line can predict a
    5.2 on a 1-5 scale). Where the relation table does not hold the attribute as a number they stay in
    prepared units (``units``: ``"prepared"``)."""
    rows = []
    for into, j, value, pred, z, has in _family_details(bundle, detector, t,
                                                        cache).get("edge_fit", []):
        if not bool(has[idx]):
            continue
        et, end = (reverse_edge_type(into), 0) if is_reverse(into) else (into, 1)
        name = _nontime_attribute_names(bundle, et)
        name = name[j] if j < len(name) else f"attr{j}"
        count = int((bundle.data[et].edge_index[end] == idx).sum())
        line = _memo(cache, ("edge_fit_line", t, into, j),
                     lambda: _raw_line(bundle, et, end, name, value.numpy(), has.numpy(),
                                       cache))
        row = {"relation": (f"its {et[1]} edges" if end == 0
                            else f"{et[1]} edges to it"),
               "attribute": name, "edges": count,
               "value": float(value[idx]), "expected": float(pred[idx]),
               "units": "prepared",
               "predicted_from": _own_source(bundle, t), "z": float(z[idx])}
        if line is not None:
            slope, intercept = line
            expected = intercept + slope * row["expected"]
            seen = _edge_attribute_values(bundle, et).get(name)
            if seen is not None and np.isfinite(seen).any():    # no 5.2 on a 1-5 scale
                expected = float(np.clip(expected, np.nanmin(seen), np.nanmax(seen)))
            row.update(value=intercept + slope * row["value"], expected=expected,
                       units="raw")
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = table["z"].abs().sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True)


def _edge_evidence(bundle: GraphBundle, detector: Any, t: NodeType, idx: int, top: int,
                   cache: Dict[Any, Any]) -> pd.DataFrame:
    """For the ``edge`` component: the node's most unusual edges against the other
    edges of one of their ends or of the whole relation, the ``edge`` family's
    :meth:`~graphad.nn.families.edge_evidence.EdgeEvidenceFamily.details`: ``relation,
    other, attribute, value, against, median`` (the attribute's median over the edges
    it was judged against, in its own units) and ``z`` (the edge's evidence, nats),
    most unusual first (by its share among the relation's edges)."""
    rows, order = [], []
    for et, raw, calibrated, against, column, _ in _family_details(
            bundle, detector, t, cache).get("edge", []):
        ei = bundle.data[et].edge_index
        names = _attribute_names(bundle, et)
        for end in (0, 1):
            if (et[0], et[2])[end] != t:
                continue
            for e in torch.nonzero(ei[end] == idx).view(-1).tolist():
                rows.append(_edge_evidence_row(bundle, et, end, e, names, int(against[e]),
                                               int(column[e]), float(raw[e]), cache))
                order.append(float(calibrated[e]))
    if not rows:
        return pd.DataFrame()
    keep = np.argsort(-np.asarray(order), kind="stable")[:top]
    return pd.DataFrame([rows[i] for i in keep]).reset_index(drop=True)


def _edge_evidence_row(bundle: GraphBundle, et, end: int, e: int, names: List[str],
                       against: int, column: int, z: float, cache: Dict[Any, Any]
                       ) -> Dict[str, Any]:
    """One row of :func:`_edge_evidence`: edge ``e`` of ``et`` seen from its ``end``."""
    ei = bundle.data[et].edge_index
    other_end = 1 - end
    other_type = (et[0], et[2])[other_end]
    other = f"{other_type}:{bundle.ids.external(other_type, [int(ei[other_end, e])])[0]}"
    name = names[column] if column < len(names) else f"attr{column}"
    values = _memo(cache, ("edge_values", et, name),
                   lambda: _attribute_column(bundle, et, name, column))
    if against == 2:
        peers = torch.ones(ei.size(1), dtype=torch.bool)
        text = f"all {ei.size(1):,} {et[1]} edges"
    else:
        peers = ei[against] == ei[against, e]
        count = int(peers.sum())
        if against == end:
            text = (f"its {count:,} {et[1]} edges" if end == 0
                    else f"the {count:,} {et[1]} edges to it")
        else:
            who = other.replace(":", " ", 1)
            text = (f"{who}'s {count:,} {et[1]} edges" if against == 0
                    else f"the {count:,} {et[1]} edges to {who}")
    time_col = _time_column(bundle, et)
    value, median = float(values[e]), float(np.nanmedian(values[peers.numpy()]))
    if name == time_col:
        value, median = time_value(value), time_value(median)
    return {"relation": et[1] if end == 0 else f"rev_{et[1]}", "other": other,
            "attribute": name, "value": value, "against": text, "median": median,
            "z": z}


def _attribute_names(bundle: GraphBundle, et) -> List[str]:
    """The names of a relation's ``edge_attr`` columns, in order (``attrK`` where the
    graph has no name; ``[]`` without attributes)."""
    store = bundle.data[et]
    if "edge_attr" not in store or store.edge_attr is None:
        return []
    width = 1 if store.edge_attr.dim() == 1 else store.edge_attr.size(1)
    names = list(bundle.edge_attr_names.get(et) or [])
    return names + [f"attr{k}" for k in range(len(names), width)]


def _attribute_column(bundle: GraphBundle, et, name: str, column: int) -> np.ndarray:
    """``float64[m]`` of one edge attribute in its own units: the relation table's
    column (:func:`_edge_attribute_values`), else ``edge_attr``'s."""
    values = _edge_attribute_values(bundle, et)
    if name in values:
        return values[name]
    attr = bundle.data[et].edge_attr.double()
    return attr.view(attr.size(0), -1)[:, column].numpy()


def _nontime_attribute_names(bundle: GraphBundle, et) -> List[str]:
    """The names of a relation's ``edge_attr`` columns other than its time column,
    in order (the attributes :func:`~graphad.data.features.edge_mean_columns` means)."""
    store = bundle.data[et]
    time = int(store.time_attr) if "time_attr" in store else -1
    return [name for k, name in enumerate(_attribute_names(bundle, et)) if k != time]


def _raw_line(bundle: GraphBundle, et, end: int, name: str, prepared: np.ndarray,
              has: np.ndarray, cache: Dict[Any, Any]) -> Optional[Tuple[float, float]]:
    """``(slope, intercept)`` of the mean raw attribute ``name`` over each node's
    edges of ``et`` (at ``end``; :func:`_edge_aggregates`) against its prepared value;
    None where the table does not hold the attribute as a number or the fit is
    undetermined."""
    aggregates = _memo(cache, ("edge_aggregates", et, end),
                       lambda: _edge_aggregates(bundle, et, end))
    if name not in aggregates:
        return None
    raw_has, per = aggregates[name]
    mean = per["mean"][0]
    keep = has & raw_has & np.isfinite(prepared)
    if keep.sum() < 2 or np.ptp(prepared[keep]) <= 1e-12:
        return None
    slope, intercept = np.polyfit(prepared[keep].astype(float), mean[keep], 1)
    return float(slope), float(intercept)


def _own_source(bundle: GraphBundle, t: NodeType) -> str:
    """What a type's own features are, for a sentence: ``"its text"``, ``"its own
    features"``."""
    kind = (getattr(bundle, "modality", None) or {}).get(t)
    return f"its {kind}" if kind in ("text", "image", "series") else "its own features"


def _copies(bundle: GraphBundle, detector: Any, t: NodeType, idx: int,
            cache: Dict[Any, Any]) -> pd.DataFrame:
    """For the ``copies`` component: ``copies`` (how many other nodes of the type lie
    within its copy radius) and ``examples`` (up to three of them, nearest first);
    empty where the node has no copies."""
    for counts, nearest in _family_details(bundle, detector, t, cache).get("copies", []):
        if int(counts[idx]) <= 0:
            continue
        found = [int(i) for i in nearest[idx] if int(i) >= 0]
        ids = bundle.ids.external(t, found) if found else []
        return pd.DataFrame([{"copies": int(counts[idx]),
                              "examples": ", ".join(f"{t}:{i}" for i in ids)}])
    return pd.DataFrame()


def _content(bundle: GraphBundle, t: NodeType, idx: int, width: int = 2000) -> str:
    """The node's text or image path (:func:`_snippet`); "" for other types."""
    if (getattr(bundle, "modality", None) or {}).get(t) not in ("text", "image"):
        return ""
    return _snippet(bundle, t, idx, width)


def _observations(bundle: GraphBundle, comps, scores, detector: Any, t: NodeType,
                  idx: int) -> pd.DataFrame:
    rows = []
    for name in comps.get(t, {}):
        if not is_rollup(name):
            continue
        obs = name.split(":", 1)[1]
        if obs not in scores:
            continue
        linked = []
        for et in bundle.data.edge_types:
            if et[0] == obs and et[2] == t:
                ei = bundle.data[et].edge_index
                linked.append(ei[0][ei[1] == idx])
        linked = (torch.unique(torch.cat(linked)) if linked
                  else torch.zeros(0, dtype=torch.long))
        if linked.numel() == 0:
            continue
        s = scores[obs][linked]
        at = int(torch.argmax(torch.nan_to_num(s, nan=-math.inf)))
        best = int(linked[at])
        threshold = (getattr(detector, "threshold_", None) or {}).get(obs)
        flagged = (s > float(threshold)) if threshold is not None else None
        driven_by, driving = _leading_component(detector, comps[obs], obs, linked,
                                                flagged, at)
        rows.append({"component": name, "z": float(comps[t][name][idx]),
                     "observation": f"{obs}:{bundle.ids.external(obs, [best])[0]}",
                     "linked": int(linked.numel()),
                     "flagged": int(flagged.sum()) if flagged is not None else None,
                     "score": float(scores[obs][best]),
                     "driven_by": driven_by, "driving": driving,
                     "content": _content(bundle, obs, best, 50)})
    table = pd.DataFrame(rows)
    return table.sort_values("z", ascending=False).reset_index(drop=True) if rows else table


def _leading_component(detector: Any, comps: Mapping[str, torch.Tensor], t: NodeType,
                       linked: torch.Tensor, flagged: Optional[torch.Tensor], oddest: int
                       ) -> Tuple[str, int]:
    """``(component, count)``: the component that contributes most to the most of the
    flagged linked nodes' scores, and to how many (a roll-up's common cause: an
    account's eighteen pasted reviews are near-copies even where the oddest of them
    stands out by its structure); where at most one is flagged, the oddest node's
    largest contribution and 1."""
    names = list(comps)
    if not names:
        return "", 0
    parts = detector.component_parts({n: comps[n][linked].float() for n in names}, t)
    stacked = torch.stack([parts.get(n, torch.zeros(linked.numel())) for n in names])
    lead = torch.argmax(stacked, dim=0)                       # [k]
    if flagged is None or int(flagged.sum()) <= 1:
        return names[int(lead[oddest])], 1
    counts = torch.bincount(lead[flagged], minlength=len(names))
    return names[int(torch.argmax(counts))], int(counts.max())


def _snippet(bundle: GraphBundle, t: NodeType, idx: int, width: int = 50) -> str:
    """The node's modality column (a review's text, a photo's path) as the schema
    names it, else its table's last text column other than its id; shortened."""
    raw = bundle.raw.get(t)
    if raw is None or idx >= len(raw):
        return ""
    row = raw.iloc[idx]
    nodes = getattr(bundle.schema, "nodes", None) or {}
    column = getattr(nodes.get(t), "column", None)
    columns = [column] if column in raw.columns else []
    for col in columns + list(reversed(list(raw.columns))):
        value = row[col]
        if isinstance(value, str) and value != str(bundle.ids.external(t, [idx])[0]):
            return value if len(value) <= width else value[:width - 3] + "..."
    return ""


def _edges(bundle: GraphBundle, detector: Any, t: NodeType, idx: int, top: int,
           edge_scores: Optional[Mapping] = None) -> Tuple[pd.DataFrame, pd.DataFrame]:
    if edge_scores is None:
        edge_scores = all_edge_scores(bundle, detector)
    rel_rows, edge_rows = [], []
    for et in bundle.edge_types:
        ei = bundle.data[et].edge_index
        for end, other_end in ((0, 1), (1, 0)):
            if (et[0], et[2])[end] != t:
                continue
            hit = torch.nonzero(ei[end] == idx).view(-1)
            if hit.numel() == 0:
                continue
            name = et[1] if end == 0 else f"rev_{et[1]}"
            other_type = et[2] if end == 0 else et[0]
            err = edge_scores.get(et)
            row = {"relation": relation_text(et), "as": "src" if end == 0
                   else "dst", "edges": int(hit.numel())}
            if err is not None:
                # edge scores are already in the detector's unit (nats / σ)
                z_all = err.double().numpy()
                row.update({"mean_z": float(err[hit].mean()),
                            "max_z": float(np.nanmax(z_all[hit.numpy()]))})
                attrs = bundle.edges_raw.get(et)
                time_col = _time_column(bundle, et)
                ordered = np.sort(z_all[np.isfinite(z_all)])
                for e in hit.tolist():
                    other = int(ei[other_end, e])
                    at_least = ordered.size - np.searchsorted(ordered, z_all[e] - 1e-9)
                    edge = {"relation": name, "other": f"{other_type}:"
                            f"{bundle.ids.external(other_type, [other])[0]}",
                            "z": float(z_all[e]),
                            "reached": float(at_least / max(ordered.size, 1)),
                            "of": int(ordered.size)}
                    if attrs is not None and e < len(attrs):
                        for col in attrs.columns[2:]:
                            value = attrs[col].iloc[e]
                            edge[col] = time_value(value) if col == time_col else value
                    edge_rows.append(edge)
            rel_rows.append(row)
    relations = pd.DataFrame(rel_rows)
    edges = pd.DataFrame(edge_rows)
    if not edges.empty:
        edges = edges.sort_values("z", ascending=False).head(top).reset_index(drop=True)
    return relations, edges


def _time_column(bundle: GraphBundle, et) -> Optional[str]:
    """The schema's time column of relation ``et`` (None without a schema or time)."""
    for rel in getattr(bundle.schema, "relations", None) or []:
        if tuple(rel.edge_type) == tuple(et):
            return rel.time_column
    return None


#: edge times given as numbers are seconds since 1970 (the schema's reading); a number
#: in this range reads as a date (1973 to 2286), others are left as they are
EPOCH_RANGE = (1e8, 1e10)


def time_value(value: Any) -> Any:
    """An edge time for a table: a UTC :class:`pandas.Timestamp` for seconds since 1970
    or a timestamp (one without a zone is taken as UTC, as the schema reads it), the
    value itself otherwise (text, NaN, small numbers). Text and Markdown show it as
    ``"2023-07-22 03:46:40 UTC"`` (:func:`~graphad.components.number_text`), JSON as
    ISO 8601, ``"2023-07-22T03:46:40Z"``."""
    if isinstance(value, pd.Timestamp):
        return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)) and np.isfinite(value) \
            and EPOCH_RANGE[0] <= float(value) < EPOCH_RANGE[1]:
        return pd.Timestamp(float(value), unit="s", tz="UTC")
    return value


def _neighbours(bundle: GraphBundle, view: GraphView, detector: Any,
                z_scores: Dict[NodeType, np.ndarray], t: NodeType, idx: int, top: int,
                cache: Dict[Any, Any]) -> pd.DataFrame:
    units, shared_space = _memo(cache, "units", lambda: node_embeddings(bundle, detector))
    rows = []
    seen = set()
    for v in view.views():
        if v.a != t:
            continue
        for j in v.adj[idx].indices:
            key = (v.b, int(j))
            if key in seen or key == (t, idx):
                continue
            seen.add(key)
            sim = (float(units[t][idx] @ units[v.b][j])
                   if shared_space or v.b == t else math.nan)
            z = z_scores.get(v.b)
            rows.append({"relation": v.name, "neighbour": f"{v.b}:"
                         f"{bundle.ids.external(v.b, [int(j)])[0]}",
                         "score_z": float(z[j]) if z is not None else math.nan,
                         "similarity": sim})
    table = pd.DataFrame(rows, columns=["relation", "neighbour", "score_z", "similarity"])
    if table.empty:
        return table
    above = table[table["score_z"] > 0]      # above its type's median score
    anomalous = above.sort_values("score_z", ascending=False).head(top)
    anomalous = anomalous.assign(why="most anomalous")
    rest = table.drop(anomalous.index)
    dissimilar = rest.dropna(subset=["similarity"]).sort_values("similarity").head(top)
    dissimilar = dissimilar.assign(why="most dissimilar")
    return pd.concat([anomalous, dissimilar]).reset_index(drop=True)


def _shared(bundle: GraphBundle, view: GraphView, t: NodeType, idx: int) -> pd.DataFrame:
    """Neighbours of another type that normally belong to one or two ``t`` nodes (the
    median over their type is at most 2: devices, photos) but link to at least 3,
    improbably many for a Poisson count with their type's mean
    (tail ``< SHARED_ALPHA / n``), the most improbable first (``log10_p``: the tail's
    log10): a photo that 15 accounts share, where photos have one account each, comes
    before a device that 16 share where devices have two."""
    from scipy.stats import poisson
    rows = []
    for v in view.views():
        if v.b == t or v.a != t or not v.deg_b.size:
            continue
        nbrs = v.adj[idx].indices
        typical = float(np.median(v.deg_b))
        if not nbrs.size or typical > 2:
            continue
        mean = float(v.deg_b.mean())
        for j in nbrs:
            d = int(v.deg_b[j])
            log_p = float(poisson.logsf(d - 1, mean))
            if d >= 3 and log_p < np.log(SHARED_ALPHA / v.deg_b.size):
                rows.append({"relation": v.name, "neighbour": f"{v.b}:"
                             f"{bundle.ids.external(v.b, [int(j)])[0]}",
                             f"{t}s": d, "typical": typical,
                             "log10_p": log_p / np.log(10)})
    table = pd.DataFrame(rows)
    return (table.sort_values(["log10_p", f"{t}s"], ascending=[True, False])
            .reset_index(drop=True) if rows else table)


__all__ = ["Explanation", "explain", "contributions"]
