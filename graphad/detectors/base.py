"""``BaseDetector``: the scikit-learn / PyOD contract shared by every detector.

A detector produces, for every node type, a few raw *error components* (attribute,
structure, ...). This base class owns everything after that, once for all detectors:
robust normalisation per type, the weighted combination, the entity roll-up of
observation evidence, thresholds, labels, probabilities and confidences.

Subclasses implement two hooks, and a third where they score edges:

* ``_fit(bundle)``: learn; store learned state in attributes ending in ``_``.
* ``_components(bundle) -> {node_type: {component: FloatTensor[n]}}``: raw errors
  (higher = more anomalous) for a graph of the same schema.
* ``_edge_components(bundle) -> {relation: {family: FloatTensor[m]}}``: raw per-edge
  errors, normalised per relation and combined by the same rule as node components.

Analyst feedback (:meth:`BaseDetector.feedback`) lives here too, so every detector
learns from confirmed cases the same way, without retraining.
"""
from __future__ import annotations

import contextlib
import math
import numbers
from abc import abstractmethod
from typing import Any, Dict, Iterator, Mapping, Optional

import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from ..data.bundle import GraphBundle, as_bundle
from ..components import is_rollup
from ..errors import GraphadError
from ..scoring.combine import (RULES, combine_components, component_parts, family_weights,
                               omnibus_parts, omnibus_score, sparse_dense_tests)
from ..scoring.holdout import (apply_shift, fit_shift, graph_fingerprint, held_out_edges,
                               held_rows)
from ..scoring.normalize import (TAIL_CHECK_MIN, Components, RobustNormalizer,
                                 SurprisalNormalizer)
from ..scoring.rollup import rollup_components
from ..scoring.threshold import confidence, fit_thresholds, linear_proba, unify_proba
from ..typing import EdgeType, NodeType, edge_type_str


#: ``normalize`` option -> normaliser class
NORMALIZERS = {"surprisal": SurprisalNormalizer, "robust_z": RobustNormalizer}


class BaseDetector(BaseEstimator):
    """Common contract. ``contamination`` is the expected share of anomalies.

    Fitted attributes:
        decision_scores_: ``{type: FloatTensor[n]}`` scores of the training graph.
        threshold_: ``{type: float}`` at the ``1 - contamination`` quantile.
        labels_: ``{type: LongTensor[n]}`` 0 / 1 on the training graph.
        normalizer_: the fitted normaliser of the raw components.
        featurizer_: the training graph's fitted feature transforms as plain data
            (None for graphs not built from tables); ``build_graph(tables, schema,
            fitted=detector)`` featurises new tables with them.
        feedback_weights_: ``{type: {component: weight}}`` learned from analyst labels
            (:meth:`feedback`); ``{}`` without labels.
        feedback_labels_: the labels behind them, as plain data.

    ``normalize`` says how each raw error component becomes evidence before the
    components are combined: ``"surprisal"`` (default) = signed surprisal under the
    component's own training distribution, in nats
    (:class:`~graphad.scoring.normalize.SurprisalNormalizer`); ``"robust_z"`` = robust
    z-score ``(e - median) / (1.4826 MAD)`` (:class:`RobustNormalizer`), which keeps
    magnitudes (a far outlier counts far more) but lets heavy-tailed components
    dominate the mean.

    ``combination`` says how the normalised components become one score (see
    :mod:`graphad.scoring.combine`): ``"hmp"`` (default) = the harmonic mean p-value of
    the components (a strong lone component is not averaged away), ``"mean"`` = the
    weighted mean of their positive parts, ``"omnibus"`` = both, each calibrated on the
    training graph (``calibration_``), joined by their harmonic mean p-value.

    ``groups=True`` adds a second stage: the nodes flagged by the score so far (at the
    ``contamination`` share) seed subgraph discovery on the whole graph, and each member
    of a group with two or more entity types gets the ``group`` component (see
    :mod:`graphad.scoring.group_evidence`), normalised and combined with the others.
    Fitted for it: ``group_calibration_`` and ``group_threshold_`` (the first stage's
    calibration and flagging thresholds) and ``group_normalizer_`` (None where the
    graph has fewer than two entity types: no stage).
    """

    def __init__(self, contamination: float = 0.1,
                 weights: Optional[Mapping[str, float]] = None, rollup: bool = True,
                 normalize: str = "surprisal", combination: str = "hmp",
                 groups: bool = False):
        self.contamination = contamination
        self.normalize = normalize
        self.weights = weights
        self.rollup = rollup
        self.combination = combination
        self.groups = groups

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _fit(self, bundle: GraphBundle) -> None:
        """Learn from ``bundle``."""

    @abstractmethod
    def _components(self, bundle: GraphBundle) -> Components:
        """Raw error components per node type for ``bundle``."""

    def _edge_components(self, bundle: GraphBundle) -> Dict[EdgeType, Dict[str, Tensor]]:
        raise GraphadError(f"{type(self).__name__} does not score edges")

    # ------------------------------------------------------------------ contract
    def fit(self, graph: Any, labels: Any = None) -> "BaseDetector":
        """Fit on a graph (``GraphBundle``, ``HeteroData`` or ``Data``); returns self.

        ``labels``: optional analyst labels (a ``node_type, id, label`` table or file,
        1 = confirmed anomaly, 0 = confirmed normal); ``fit(g, labels)`` is exactly
        ``fit(g).feedback(g, labels)``. Without labels the score is unsupervised.
        """
        self._check_params()
        bundle = as_bundle(graph)
        self.feedback_weights_: Dict[NodeType, Dict[str, float]] = {}
        self.feedback_heads_: Dict[NodeType, Dict[str, Tensor]] = {}
        self.feedback_labels_: Dict[str, Dict[str, list]] = {}
        from ..data.featurizer import featurizer_state
        self.featurizer_ = featurizer_state(bundle)
        self.holdout_: Dict[NodeType, Tensor] = {}    # set by _fit where it holds out
        self._fitting = bundle
        try:
            self._fit(bundle)
            self._fit_scoring(bundle)
        finally:
            del self._fitting
        if labels is not None:
            self.feedback(bundle, labels)
        return self

    def _fit_scoring(self, bundle: GraphBundle) -> None:
        """Everything after ``_fit``: normalisers, calibrations, training scores."""
        raw = self._components(bundle)
        held = held_rows(bundle.data, self.holdout_, raw)
        self.holdout_shift_ = fit_shift(raw, held)
        self.normalizer_ = self._normalizer().fit(apply_shift(raw, self.holdout_shift_,
                                                              held))
        self.train_fingerprint_ = (graph_fingerprint(bundle.data) if self.holdout_
                                   else None)
        self.calibration_ = self.rollup_calibration_ = self.edge_calibration_ = None
        # roll-ups take the linked nodes' harmonic mean p-value, an entity's own
        # observations also their sum (:func:`~graphad.scoring.rollup.
        # rollup_components`), where the combined score is calibrated as ``-log p``
        # (the omnibus rule); other rules: the plain maximum; models saved before: as
        # they were fitted
        self.rollup_rule_ = ("hmp_sum" if getattr(self, "combination", "hmp") == "omnibus"
                             else "max")
        comps = self._finish(bundle, raw, fit=True)
        self.rollup_normalizer_ = self._normalizer().fit(
            {t: {k: v for k, v in c.items() if is_rollup(k)}
             for t, c in comps.items()})
        self._fit_edge_scoring(bundle)
        comps = self._fit_groups(bundle, self._normalise_rollup(comps))
        self.calibration_ = self._fit_calibration(comps)
        self.decision_scores_ = self.combine(comps)
        self.threshold_ = fit_thresholds(self.decision_scores_, self.contamination)
        self.labels_ = {t: (s > self.threshold_[t]).long()
                        for t, s in self.decision_scores_.items()}
        self.node_types_ = list(bundle.node_types)
        #: edges per relation on the training graph (the drift report compares)
        self.edge_counts_ = {edge_type_str(et): int(bundle.data[et].num_edges)
                             for et in bundle.edge_types}

    def _normalise_raw(self, bundle: GraphBundle, raw: Components) -> Components:
        """Raw components -> evidence by ``normalizer_``, the fitted ones of nodes the
        model did not train on first put on the trained nodes' scale
        (``holdout_shift_``; :mod:`graphad.scoring.holdout`): on a new graph every
        node, on the training graph itself its held-out nodes."""
        shift = getattr(self, "holdout_shift_", None)
        if shift:
            held = (held_rows(bundle.data, self.holdout_, raw)
                    if self._is_training_graph(bundle) else None)
            raw = apply_shift(raw, shift, held)
        return self.normalizer_.transform(raw)

    def _is_training_graph(self, bundle: GraphBundle) -> bool:
        """Whether ``bundle`` is the graph the detector was fitted on (the same
        tensors: the same tables built again count), once per scoring block."""
        if getattr(self, "_fitting", None) is bundle:
            return True
        want = getattr(self, "train_fingerprint_", None)
        hold = getattr(self, "holdout_", None) or {}
        if want is None or any(t not in bundle.data.node_types
                               or bundle.data[t].num_nodes != int(m.numel())
                               for t, m in hold.items()):
            return False
        memo = self._scoring_memo(bundle)
        if memo is not None and "training_graph" in memo:
            return memo["training_graph"]
        same = graph_fingerprint(bundle.data) == want
        if memo is not None:
            memo["training_graph"] = same
        return same

    def feedback(self, graph: Any, labels: Any) -> "BaseDetector":
        """Re-weigh the components from analyst labels, without retraining; returns self.

        ``labels``: a ``node_type, id, label`` table (DataFrame, CSV or Parquet path);
        1 = confirmed anomaly, 0 = confirmed normal, unlabelled nodes absent. Each node
        type with at least one confirmed anomaly gets non-negative component weights
        learned on ``graph`` (:func:`~graphad.scoring.feedback.fit_component_weights`,
        combined by the weighted mean so that contributions stay readable and add up)
        and two more components: ``near``, closeness to the confirmed anomalies in the
        graph (:mod:`graphad.scoring.proximity`), and ``resemble``, a small logistic
        head on the early-fused inputs (:mod:`graphad.scoring.resemblance`). Its scores on ``graph`` replace that type's
        ``decision_scores_`` and threshold. Each call starts again from the
        unsupervised weights: pass every label so far, not only the new ones.
        """
        from ..scoring.feedback import FEEDBACK_RULE, fit_component_weights
        from ..scoring.labels import label_vectors, labels_state, validate_labels
        from ..scoring.proximity import NEAR, proximity_components
        check_is_fitted(self, "normalizer_")
        bundle = as_bundle(graph)
        table = validate_labels(labels, bundle)
        vectors = label_vectors(table, bundle)
        positives = {t: (v == 1).nonzero().view(-1) for t, v in vectors.items()}
        if not any(p.numel() for p in positives.values()):
            raise GraphadError("feedback needs at least one confirmed anomaly (label 1) "
                               "in the labels table")
        from ..scoring.resemblance import RESEMBLE, fit_resemblance
        from .fusion import early_fused_features
        comps = self._unsupervised_components(bundle)
        near = proximity_components(bundle, positives, leave_one_out=True)
        fused = early_fused_features(bundle)
        learned, heads = {}, {}
        for t, y in vectors.items():
            if positives[t].numel() and comps.get(t):
                heads[t], like = fit_resemblance(fused[t], y, seed=getattr(self, "seed", 0))
                learned[t] = fit_component_weights(
                    {**comps[t], NEAR: near[t], RESEMBLE: like}, y, self.weights,
                    rule=FEEDBACK_RULE)
        self.feedback_weights_ = learned
        self.feedback_heads_ = heads
        self.feedback_labels_ = labels_state(table)
        scores = self.combine(self._with_feedback(bundle, comps))   # no second scoring
        for t in learned:
            self.decision_scores_[t] = scores[t]
            self.threshold_[t] = fit_thresholds({t: scores[t]}, self.contamination)[t]
            self.labels_[t] = (scores[t] > self.threshold_[t]).long()
        return self

    @contextlib.contextmanager
    def scoring_once(self, graph: Any) -> Iterator[GraphBundle]:
        """Within the block, what the detector computes for ``graph`` is computed once
        where it can be (the deep detectors' prepared inputs and errors); yields the graph
        as a bundle, to pass on."""
        yield as_bundle(graph)

    def score_components(self, graph: Any) -> Dict[NodeType, Dict[str, Tensor]]:
        """Normalised components per node type (the parts that add up to the score)."""
        check_is_fitted(self, "normalizer_")
        bundle = as_bundle(graph)
        return self._with_feedback(bundle, self._unsupervised_components(bundle))

    def _with_feedback(self, bundle: GraphBundle, comps: Components) -> Components:
        """``comps`` plus, for each type with feedback, ``near`` (from the stored
        confirmed anomalies present in ``bundle``) and ``resemble`` (the stored head)."""
        learned = getattr(self, "feedback_weights_", None)
        if not learned:
            return comps
        from ..scoring.labels import label_vectors, labels_from_state
        from ..scoring.proximity import NEAR, proximity_components
        from ..scoring.resemblance import RESEMBLE, resemblance
        from .fusion import early_fused_features
        vectors = label_vectors(labels_from_state(self.feedback_labels_), bundle)
        near = proximity_components(
            bundle, {t: (v == 1).nonzero().view(-1) for t, v in vectors.items()})
        heads = getattr(self, "feedback_heads_", {})
        fused = early_fused_features(bundle) if heads else {}
        return {t: {**c, NEAR: near[t],
                    **({RESEMBLE: resemblance(fused[t], heads[t])} if t in heads
                       else {})} if t in learned else c
                for t, c in comps.items()}

    def _scoring_memo(self, bundle: GraphBundle) -> Optional[Dict[str, Any]]:
        """What one :meth:`scoring_once` block has computed for ``bundle`` so far (to
        add to), or None outside such a block."""
        return None

    def _unsupervised_components(self, bundle: GraphBundle) -> Components:
        comps = self._finish(bundle, self._components(bundle))
        return self._with_groups(bundle, self._normalise_rollup(comps))

    def _fit_groups(self, bundle: GraphBundle, comps: Components) -> Components:
        """Fit the ``group`` stage (``groups=True``) on the training graph; ``comps``
        with the ``group`` component added where the stage applies."""
        self.group_normalizer_ = self.group_calibration_ = self.group_threshold_ = None
        self.group_structural_ = False
        if not self.groups:
            return comps
        from ..scoring.group_evidence import entity_types, group_evidence
        if len(entity_types(bundle)) < 2:
            return comps
        self.group_calibration_ = self._fit_calibration(comps)
        self.group_threshold_ = fit_thresholds(self._first_stage(comps), self.contamination)
        # discovery also seeds from structure alone (hubs, tied resources) and a
        # group's evidence goes to its tied members (models saved before: neither)
        self.group_structural_ = True
        found = self._typed_groups(bundle, comps)
        self.group_normalizer_ = self._normalizer().fit(
            group_evidence(bundle, found, tied_only=True))
        return self._with_groups(bundle, comps, found)

    def _first_stage(self, comps: Components) -> Dict[NodeType, Tensor]:
        """Unsupervised scores without the ``group`` component (what flags seeds)."""
        rule = getattr(self, "combination", "hmp")
        return {t: self._combine_one(t, c, self.weights, rule, self.group_calibration_)
                for t, c in comps.items()}

    def _typed_groups(self, bundle: GraphBundle, comps: Optional[Components] = None
                      ) -> list:
        """The groups behind the ``group`` component of ``bundle``
        (:func:`~graphad.scoring.group_evidence.typed_groups`; ``[]`` without the
        stage), once per :meth:`scoring_once` block. ``comps``: the components without
        it, where already computed."""
        if getattr(self, "group_threshold_", None) is None:
            return []
        from ..scoring.group_evidence import typed_groups
        memo = self._scoring_memo(bundle)
        if memo is not None and "groups" in memo:
            return memo["groups"]
        if comps is None:
            comps = self._normalise_rollup(self._finish(bundle, self._components(bundle)))
        found = typed_groups(bundle, self._first_stage(comps), self.group_threshold_,
                             structural=bool(getattr(self, "group_structural_", False)))
        if memo is not None:
            memo["groups"] = found
        return found

    def _with_groups(self, bundle: GraphBundle, comps: Components,
                     found: Optional[list] = None) -> Components:
        """``comps`` plus the normalised ``group`` component, where fitted with it
        (``found``: the groups, where already discovered)."""
        normalizer = getattr(self, "group_normalizer_", None)
        if normalizer is None:
            return comps
        from ..scoring.group_evidence import group_evidence
        if found is None:
            found = self._typed_groups(bundle, comps)
        normed = normalizer.transform(group_evidence(
            bundle, found, tied_only=bool(getattr(self, "group_structural_", False))))
        return {t: {**c, **normed.get(t, {})} for t, c in comps.items()}

    def seed_scores(self, graph: Any
                    ) -> "tuple[Dict[NodeType, Tensor], Dict[NodeType, float]]":
        """``(scores, thresholds)`` that subgraph discovery flags its seeds from.

        Where the detector has the ``group`` stage, the scores without the ``group``
        component and the thresholds of that first stage: the ``group`` component is
        discovery's own output, and flagging from it would feed every group back into
        its own discovery (pulling in the ordinary neighbours its members lift). Else,
        and where analyst feedback re-weighs the score, :meth:`decision_function` and
        ``threshold_``.
        """
        from ..scoring.group_evidence import GROUP
        check_is_fitted(self, "normalizer_")
        bundle = as_bundle(graph)
        if (getattr(self, "group_threshold_", None) is None
                or getattr(self, "feedback_weights_", None)):
            return self.decision_function(bundle), dict(self.threshold_)
        comps = self.score_components(bundle)
        first = self._first_stage({t: {k: v for k, v in c.items() if k != GROUP}
                                   for t, c in comps.items()})
        return first, dict(self.group_threshold_)

    def decision_function(self, graph: Any) -> Dict[NodeType, Tensor]:
        """Anomaly scores ``{type: FloatTensor[n]}`` (higher = more anomalous).

        Never re-fits: a fitted detector scores any graph of the same schema.
        """
        return self.combine(self.score_components(graph))

    def predict(self, graph: Any, return_confidence: bool = False) -> Any:
        """0 / 1 labels ``{type: LongTensor[n]}`` at the training threshold of each type;
        with ``return_confidence`` (PyOD), also ``{type: FloatTensor[n]}`` confidences
        in [0, 1] (:meth:`predict_confidence`)."""
        scores = self.decision_function(graph)
        labels = {t: (s > self.threshold_[t]).long() for t, s in scores.items()}
        if not return_confidence:
            return labels
        conf = {t: confidence(s, self.decision_scores_[t], self.contamination)
                for t, s in scores.items()}
        return labels, conf

    def fit_predict(self, graph: Any, labels: Any = None) -> Dict[NodeType, Tensor]:
        """``fit(graph, labels)`` then the 0 / 1 labels of ``graph`` (``labels_``)."""
        return self.fit(graph, labels).labels_

    def scores_frame(self, graph: Any, labels: Any = None):
        """One pandas row per node of ``graph``: ``node_type, id, score, rank, pred``,
        ``confidence`` and every component ``c_<name>`` (+ ``label`` / ``anomaly_type``
        from a ground-truth ``labels`` table where given)."""
        from ..scoring.table import scores_table
        bundle = as_bundle(graph)
        comps = self.score_components(bundle)
        scores = self.combine(comps)
        pred = {t: (s > self.threshold_[t]).long() for t, s in scores.items()}
        table = scores_table(bundle, scores, comps, labels=labels, predicted=pred)
        conf = {t: confidence(s, self.decision_scores_[t], self.contamination).numpy()
                for t, s in scores.items()}
        table["confidence"] = float("nan")
        for t, c in conf.items():
            rows = (table["node_type"] == t).to_numpy()
            order = bundle.ids.ids(t).get_indexer(table.loc[rows, "id"].astype(object))
            table.loc[rows, "confidence"] = c[order]
        return table

    def predict_proba(self, graph: Any, method: str = "linear") -> Dict[NodeType, Tensor]:
        """``{type: FloatTensor[n, 2]}`` inlier / outlier probabilities (PyOD style)."""
        if method not in ("linear", "unify"):
            raise ValueError(f"method must be 'linear' or 'unify', got {method!r}")
        fn = linear_proba if method == "linear" else unify_proba
        out = {}
        for t, s in self.decision_function(graph).items():
            p = fn(s, self.decision_scores_[t])
            out[t] = torch.stack([1 - p, p], dim=1)
        return out

    def predict_confidence(self, graph: Any) -> Dict[NodeType, Tensor]:
        """Confidence in each 0 / 1 prediction, in [0, 1]."""
        return {t: confidence(s, self.decision_scores_[t], self.contamination)
                for t, s in self.decision_function(graph).items()}

    def save(self, path: Any) -> Any:
        """Write the fitted detector to ``path`` as plain data (a versioned envelope; see
        :func:`graphad.detectors.persistence.save_detector`). Returns the path."""
        from .persistence import save_detector
        return save_detector(self, path)

    @classmethod
    def load(cls, path: Any) -> "BaseDetector":
        """Read a detector written by :meth:`save` (tensors with ``weights_only=True``;
        never a pickle)."""
        from .persistence import load_detector
        det = load_detector(path)
        if not isinstance(det, cls):
            raise GraphadError(f"{path} holds a {type(det).__name__}, not a {cls.__name__}")
        return det

    def score_edges(self, graph: Any) -> Dict[EdgeType, Tensor]:
        """Per-edge anomaly scores ``{relation: FloatTensor[m]}`` for forward relations,
        where the detector has them: each family's per-edge error (the structure
        decoder's, the edge-attribute evidence) normalised per relation on the
        training graph and combined by ``combination``, as nodes are."""
        return self.combine(self.score_edge_components(graph))

    def score_edge_components(self, graph: Any) -> Dict[EdgeType, Dict[str, Tensor]]:
        """Normalised per-edge components ``{relation: {family: FloatTensor[m]}}``."""
        check_is_fitted(self, "normalizer_")
        bundle = as_bundle(graph)
        raw = self._edge_components(bundle)    # raises where it cannot
        if getattr(self, "edge_normalizer_", None) is None:
            raise GraphadError(f"{type(self).__name__} does not score edges")
        shift = getattr(self, "edge_holdout_shift_", None)
        keyed = {edge_type_str(et): c for et, c in raw.items()}
        if shift:
            held = (held_out_edges(bundle.data, self.holdout_, raw)
                    if self._is_training_graph(bundle) else None)
            keyed = apply_shift(keyed, shift, held)
        normed = self.edge_normalizer_.transform(keyed)
        return {et: normed[edge_type_str(et)] for et in raw}

    def _fit_edge_scoring(self, bundle: GraphBundle) -> None:
        """Fit ``edge_normalizer_``, ``edge_holdout_shift_`` (the edges with a held-out
        end are to edges what held-out nodes are to nodes) and ``edge_calibration_``;
        None for a detector without edge scores."""
        self.edge_normalizer_ = self.edge_calibration_ = None
        self.edge_holdout_shift_ = {}
        try:
            raw = self._edge_components(bundle)
        except GraphadError:
            return
        if not raw:
            return
        held = held_out_edges(bundle.data, self.holdout_, raw)
        raw = {edge_type_str(et): c for et, c in raw.items()}
        self.edge_holdout_shift_ = fit_shift(raw, held)
        raw = apply_shift(raw, self.edge_holdout_shift_, held)
        self.edge_normalizer_ = self._normalizer().fit(raw)
        self.edge_calibration_ = self._fit_calibration(self.edge_normalizer_.transform(raw))

    # ------------------------------------------------------------------ internals
    def _check_params(self) -> None:
        name = type(self).__name__
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, numbers.Real) or not 0.0 < c <= 0.5:
            raise ValueError(f"{name}: contamination must be a number in (0, 0.5], "
                             f"got {c!r}")
        if self.weights is not None:
            if not isinstance(self.weights, Mapping):
                raise ValueError(f"{name}: weights must be a mapping {{component or "
                                 f"family: weight}}, got {self.weights!r}")
            bad = {k: w for k, w in self.weights.items()
                   if isinstance(w, bool) or not isinstance(w, numbers.Real)
                   or not math.isfinite(w) or w < 0}
            if bad:
                raise ValueError(f"{name}: weights must be finite numbers >= 0, got {bad}")
        if self.normalize not in NORMALIZERS:
            raise ValueError(f"{type(self).__name__}: normalize must be one of "
                             f"{sorted(NORMALIZERS)}, got {self.normalize!r}")
        if not isinstance(self.groups, bool):
            raise ValueError(f"{name}: groups must be True or False, got {self.groups!r}")
        if self.combination not in RULES:
            raise ValueError(f"{type(self).__name__}: combination must be one of "
                             f"{list(RULES)}, got {self.combination!r}")

    def _normalizer(self) -> RobustNormalizer:
        return NORMALIZERS[self.normalize]()

    def _finish(self, bundle: GraphBundle, raw: Components, fit: bool = False
                ) -> Components:
        comps = self._normalise_raw(bundle, raw)
        if self.rollup:      # linked nodes' unsupervised scores, feedback or not
            if fit:
                self.rollup_calibration_ = self._fit_calibration(comps)
            rule = getattr(self, "combination", "hmp")
            scores = {t: self._combine_one(t, c, self.weights, rule,
                                           getattr(self, "rollup_calibration_", None))
                      for t, c in comps.items()}
            comps = rollup_components(bundle, comps, scores, self._rollup_rule())
        return comps

    def _rollup_rule(self) -> str:
        """How linked nodes are rolled up (:func:`~graphad.scoring.rollup.
        rollup_components`): as fitted; models saved before the rule was stored
        judged the best link against the best of as many ordinary ones
        (``rollup_adjusted_``) or took the plain maximum."""
        rule = getattr(self, "rollup_rule_", None)
        if rule is not None:
            return rule
        return "best_of" if getattr(self, "rollup_adjusted_", False) else "max"

    def _fit_calibration(self, comps: Mapping[Any, Mapping[str, Tensor]]
                         ) -> Optional[SurprisalNormalizer]:
        """For ``combination="omnibus"``: the training distributions of the sparse and
        the dense test per type (or relation), the surprisal they are calibrated by."""
        if getattr(self, "combination", "hmp") != "omnibus":
            return None
        return SurprisalNormalizer().fit({_key(t): sparse_dense_tests(c, self.weights)
                                          for t, c in comps.items() if c})

    def _omnibus_tests(self, key: Any, comps: Mapping[str, Tensor], weights,
                       calibration: Optional[SurprisalNormalizer]):
        if calibration is None:
            raise GraphadError(f"{type(self).__name__}: combination='omnibus' needs the "
                               "calibration fitted with it; fit again")
        if _key(key) not in calibration.center_:
            raise GraphadError(f"{type(self).__name__}: no omnibus calibration for "
                               f"{key!r}; pass the node type (or relation) the "
                               f"components belong to, one of {sorted(calibration.center_)}")
        tests = sparse_dense_tests(comps, weights)
        return tests, calibration.transform({_key(key): tests})[_key(key)]

    def _combine_one(self, key: Any, comps: Mapping[str, Tensor], weights, rule: str,
                     calibration: Optional[SurprisalNormalizer]) -> Tensor:
        if rule != "omnibus":
            return combine_components(comps, weights, rule)
        if not comps:
            return torch.zeros(0)
        return omnibus_score(*self._omnibus_tests(key, comps, weights, calibration))

    def _calibration_of(self, key: Any) -> Optional[SurprisalNormalizer]:
        """Node types are calibrated by ``calibration_``, relations by
        ``edge_calibration_``."""
        return getattr(self, "edge_calibration_" if isinstance(key, tuple)
                       else "calibration_", None)

    def _normalise_rollup(self, comps: Components) -> Components:
        rolled = {t: {k: v for k, v in c.items() if is_rollup(k)}
                  for t, c in comps.items()}
        rolled = self.rollup_normalizer_.transform(rolled)
        return {t: {**c, **rolled.get(t, {})} for t, c in comps.items()}

    def combine(self, comps: Mapping[Any, Mapping[str, Tensor]]) -> Dict[Any, Tensor]:
        """One score per node (or edge) from its normalised components, per type, by
        ``combination`` (:func:`~graphad.scoring.combine.combine_components`).

        Only excess error is evidence: a component below its median or missing (NaN)
        adds nothing, so an anomaly that shows in one component is not cancelled by
        components where it looks ordinary.
        """
        out = {}
        for t, c in comps.items():
            weights, rule = self._rule(t)
            out[t] = self._combine_one(t, c, weights, rule, self._calibration_of(t))
        return out

    def _rule(self, node_type: Any = None) -> "tuple[Optional[Mapping[str, float]], str]":
        """``(weights, combination)`` of a node type: learned from feedback where there
        is some, else ``(weights, combination)``."""
        learned = getattr(self, "feedback_weights_", None) or {}
        if node_type in learned:
            from ..scoring.feedback import FEEDBACK_RULE
            return learned[node_type], FEEDBACK_RULE
        return self.weights, getattr(self, "combination", "hmp")

    def component_weights(self, names: Any, node_type: Any = None) -> Dict[str, float]:
        """Each component's effective weight in a node type's combination."""
        return family_weights(list(names), self._rule(node_type)[0])

    def training_share(self, node_type: Any, name: str, z: float) -> float:
        """The share of the training nodes of ``node_type`` whose component ``name``
        reads at least ``z`` (its normaliser's count, :meth:`~graphad.scoring.
        normalize.SurprisalNormalizer.reached`), where at least
        :data:`~graphad.scoring.normalize.TAIL_CHECK_MIN` of them do (a share counted
        on fewer is noise, and the node itself may be one of them); NaN elsewhere
        and where unknown (a robust-z normaliser, a model saved before)."""
        count, n = self.training_reach(node_type, name, z)
        return count / n if n > 0 and count >= TAIL_CHECK_MIN else math.nan

    def training_reach(self, node_type: Any, name: str, z: float) -> "tuple[float, int]":
        """``(count, n)``: how many of the ``n`` training nodes of ``node_type`` with
        component ``name`` read at least ``z``; ``(nan, 0)`` where unknown (a robust-z
        normaliser, a model saved before, a component not fitted)."""
        for attr in ("normalizer_", "rollup_normalizer_", "group_normalizer_"):
            norm = getattr(self, attr, None)
            if norm is not None and hasattr(norm, "reached") and \
                    name in getattr(norm, "grid_", {}).get(node_type, {}):
                return norm.reached(node_type, name, z)
        return math.nan, 0

    def component_parts(self, comps: Mapping[str, Tensor],
                        node_type: Any = None) -> Dict[str, Tensor]:
        """``{component: [n]}`` contributions of one type's components; they add up to
        :meth:`combine` exactly."""
        weights, rule = self._rule(node_type)
        if rule != "omnibus":
            return component_parts(comps, weights, rule)
        tests, calibrated = self._omnibus_tests(node_type, comps, weights,
                                                self._calibration_of(node_type))
        return omnibus_parts(comps, weights, tests, calibrated)


def _key(t: Any) -> str:
    """A node type, or a relation as ``src__rel__dst`` (calibration state keys)."""
    return edge_type_str(t) if isinstance(t, tuple) else t
