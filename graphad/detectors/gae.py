"""``MultimodalGAE``: the default detector (adapter around ``graphad.nn.gae``)."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..data.bundle import GraphBundle
from ..data.features import edge_mean_columns, edge_stat_widths
from ..nn.encoder import CONVS, HGT_HEADS
from ..nn.families.base import ROWS_PER_FEATURE
from ..nn.families.edge_fit import edge_fit_columns
from ..nn.families.within import within_columns
from ..nn.gae import MultimodalGAEModule
from ..nn.inputs import training_rows
from ..scoring.normalize import Components
from ..typing import EdgeType, NodeType, edge_type_str
from .deep import MAX_STEPS, DeepDetector



def unmapped_types(data: HeteroData, own_dims: Dict[NodeType, int]) -> List[NodeType]:
    """The types with own features but fewer than
    :data:`~graphad.nn.families.base.ROWS_PER_FEATURE` training nodes per own
    feature: too few to learn what their neighbours of another type predict of them
    (:class:`~graphad.nn.families.consistency.ConsistencyFamily`)."""
    out = []
    for t in data.node_types:
        rows = training_rows(data[t])
        count = int(data[t].num_nodes) if rows is None else int(rows.sum())
        if own_dims.get(t, 0) > 0 and count < ROWS_PER_FEATURE * own_dims[t]:
            out.append(t)
    return sorted(out)

class MultimodalGAE(DeepDetector):
    """Heterogeneous GNN autoencoder scoring every node and edge of a typed graph.

    Components (kept in :meth:`score_components`; see :mod:`graphad.nn.gae`):
    ``attribute``, ``structure``, ``consistency``, ``cross_modal:<a>~<b>``,
    ``context:<obs>``, ``edge``, ``incident``, ``burst``, ``peer:<type>``, ``density``,
    ``degree:<type>``, ``block:<type>``, ``copies``, ``edge_fit``, ``outlier``
    and, for entities, ``obs:<type>`` / ``nbr:<type>`` roll-ups and ``group``. Their
    surprisals are combined by the omnibus rule
    (``combination="omnibus"``): the harmonic mean p-value (sparse evidence) and the mean
    (dense evidence), each calibrated on the training graph, joined by their harmonic
    mean p-value.

    Args:
        hidden: latent size.
        layers: message-passing layers.
        conv: ``"sage"`` (edge-aware), ``"gatv2"`` or ``"hgt"``.
        dropout: dropout in the encoder.
        trim: share of the largest training errors left out of each loss, so the
            autoencoder does not learn to reproduce the anomalies it should flag.
        bottleneck: attribute decoders narrower than their inputs (no identity on
            narrow inputs). Measured trade-off: mean AUROC 0.668 vs 0.659 over the 11
            benchmark sets, but on the multimodal fraud sample AUPRC 0.15 vs 0.30 and
            fewer rings / farms recovered; off by default (see README).
        epochs, max_steps, lr, weight_decay, batch_size, num_neighbors, seed, device,
        verbose, max_input_dim, holdout:
            see :class:`DeepDetector`.
        contamination: expected share of anomalies (for ``predict``).
        weights: component name -> weight in the combined score (default all 1).
        rollup: add observation evidence to entity scores.
        normalize: ``"surprisal"`` or ``"robust_z"`` (see :class:`BaseDetector`).
        combination: ``"omnibus"``, ``"hmp"``, ``"mean"``, ``"max"`` or ``"rank"`` (see
            :mod:`graphad.scoring.combine`).
        groups: add the ``group`` component, membership of a discovered group with
            two or more entity types (see :class:`BaseDetector`).

    Example:
        >>> det = MultimodalGAE(seed=0).fit(graph)
        >>> det.decision_function(graph)["user"]      # FloatTensor[n_users]
    """

    def __init__(self, hidden: int = 64, layers: int = 2, conv: str = "sage",
                 dropout: float = 0.0, epochs: int = 50, lr: float = 5e-3,
                 weight_decay: float = 0.0, batch_size: Optional[int] = None,
                 num_neighbors: Tuple[int, ...] = (10, 10), seed: int = 0,
                 device: Optional[str] = None, verbose: bool = False,
                 contamination: float = 0.1, weights: Optional[Dict[str, float]] = None,
                 rollup: bool = True, max_input_dim: int = 64, trim: float = 0.0,
                 bottleneck: bool = False, normalize: str = "surprisal",
                 combination: str = "omnibus", max_steps: Optional[int] = MAX_STEPS,
                 groups: bool = True, holdout: float = 0.2):
        super().__init__(epochs=epochs, lr=lr, weight_decay=weight_decay,
                         batch_size=batch_size, num_neighbors=num_neighbors, seed=seed,
                         device=device, verbose=verbose, contamination=contamination,
                         weights=weights, rollup=rollup, max_input_dim=max_input_dim,
                         normalize=normalize, combination=combination,
                         max_steps=max_steps, groups=groups, holdout=holdout)
        self.hidden = hidden
        self.layers = layers
        self.conv = conv
        self.dropout = dropout
        self.trim = trim
        self.bottleneck = bottleneck

    def _check_params(self) -> None:
        super()._check_params()
        name = type(self).__name__
        if self.conv not in CONVS:
            raise ValueError(f"{name}: conv must be one of {CONVS}, got {self.conv!r}")
        if int(self.hidden) < 1 or int(self.layers) < 0:
            raise ValueError(f"{name}: hidden must be >= 1 and layers >= 0, got "
                             f"hidden={self.hidden}, layers={self.layers}")
        if self.conv == "hgt" and int(self.hidden) % HGT_HEADS:
            raise ValueError(f"{name}: conv='hgt' needs hidden divisible by {HGT_HEADS}, "
                             f"got {self.hidden}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 <= float(self.trim) < 0.5:
            raise ValueError(f"{name}: trim must be in [0, 0.5), got {self.trim!r}")

    def _module_config(self, data: HeteroData, bundle: GraphBundle) -> Dict:
        node_types, edge_types = data.metadata()
        return {"node_types": list(node_types),
                "edge_types": [list(et) for et in edge_types],
                "in_dims": dict(self.in_dims_),
                "own_dims": dict(self.own_dims_),
                "featureless": sorted(t for t, w in self.raw_dims_.items() if w == 0),
                "unmapped": unmapped_types(data, self.own_dims_),
                "incident": True,
                "burst": True,
                "degree": True,
                "block": True,
                "copies": True,
                "edge_fit": {t: [[c, list(et)] for c, et in cols] for t, cols in
                             edge_fit_columns(edge_mean_columns(bundle.data),
                                              self.in_dims_,
                                              edge_stat_widths(bundle.data)).items()},
                "attribute_log": True,
                "within": within_columns(bundle.feature_names, self.own_dims_,
                                         self.raw_dims_),
                "edge_dims": {edge_type_str(et): int(data[et].edge_attr.size(1))
                              for et in edge_types if "edge_attr" in data[et]},
                "views": {t: [list(et) for et in ets]
                          for t, ets in modality_views(bundle).items()}}

    def _module_from_config(self, config: Dict) -> nn.Module:
        edge_types = [tuple(et) for et in config["edge_types"]]
        edge_dims = {et: config["edge_dims"][edge_type_str(et)] for et in edge_types
                     if edge_type_str(et) in config["edge_dims"]}
        views = {t: [tuple(et) for et in ets] for t, ets in config["views"].items()}
        return MultimodalGAEModule((list(config["node_types"]), edge_types),
                                   dict(config["in_dims"]), edge_dims, views,
                                   own_dims=config.get("own_dims"),   # older models: none
                                   featureless=config.get("featureless", ()),  # nor this
                                   unmapped=config.get("unmapped", ()),      # ... nor this
                                   incident=config.get("incident", False),   # ... nor this
                                   burst=config.get("burst", False),         # ... nor this
                                   within=config.get("within"),              # ... nor this
                                   degree=config.get("degree", False),       # ... nor this
                                   block=config.get("block", False),         # ... nor this
                                   copies=config.get("copies", False),       # ... nor this
                                   edge_fit={t: [(c, tuple(et)) for c, et in cols]
                                             for t, cols in config["edge_fit"].items()}
                                   if "edge_fit" in config else None,        # ... nor this
                                   attribute_log=config.get("attribute_log", False),
                                   hidden=self.hidden, layers=self.layers,
                                   conv=self.conv, dropout=self.dropout, trim=self.trim,
                                   bottleneck=self.bottleneck, seed=self.seed)

    def _batch_loss(self, module: nn.Module, batch: HeteroData,
                    generator: torch.Generator) -> Tensor:
        return module.loss(batch, generator)

    def _batch_errors(self, module: nn.Module, batch: HeteroData
                      ) -> Tuple[Components, Dict[str, Dict[EdgeType, Tensor]]]:
        comps, _, by_family = module.errors(batch)
        return comps, by_family


def modality_views(bundle: GraphBundle) -> Dict[NodeType, List[EdgeType]]:
    """Entity type -> relations ``(observation type, rel, entity)`` bringing modalities."""
    views: Dict[NodeType, List[EdgeType]] = {}
    for et in bundle.data.edge_types:
        src, _, dst = et
        if bundle.modality.get(src) is not None and bundle.modality.get(dst) is None:
            views.setdefault(dst, []).append(et)
    return views


