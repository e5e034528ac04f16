"""Fusion baselines: early fusion (one feature matrix per type) and late fusion
(one detector per modality, scores combined per entity)."""
from __future__ import annotations

from typing import Dict

import numpy as np
import torch
from torch import Tensor

from ..data.bundle import GraphBundle
from ..data.features import has_neighbour, incoming, neighbour_mean, node_inputs
from ..nn.classic import (AE_EPOCHS, OCSVM_COMPONENTS, OCSVM_NU, autoencoder_scores,
                          fit_autoencoder, fit_ocsvm, ocsvm_scores)
from ..nn.forest import fit_forest, forest_scores
from ..scoring.normalize import Components
from ..typing import NodeType
from .base import BaseDetector


def early_fused_features(bundle: GraphBundle, hops: int = 1) -> Dict[NodeType, Tensor]:
    """Each node's own input, then per incoming relation the neighbours' mean input
    and a has-neighbour flag, then log-degrees: ``{type: FloatTensor[n, d_fused]}``."""
    data = bundle.data
    x = node_inputs(data)
    fused = dict(x)
    for _ in range(hops):
        nxt = {}
        for t in data.node_types:
            n = data[t].num_nodes
            parts = [fused[t]]
            for et in incoming(data, t):
                ei = data[et].edge_index
                parts.append(neighbour_mean(x[et[0]], ei, n))
                parts.append(has_neighbour(ei, n).float().view(-1, 1))
                deg = torch.bincount(ei[1], minlength=n).float()
                parts.append(torch.log1p(deg).view(-1, 1))
            nxt[t] = torch.cat(parts, dim=1)
        fused = nxt
    return fused


class _ClassicPerType(BaseDetector):
    """Shared fit / score of one classic detector per node type on robustly scaled
    features (median / IQR, as scikit-learn's ``RobustScaler``, clipped at +-10). The
    scalers and models are plain tensors (:mod:`graphad.nn.forest`,
    :mod:`graphad.nn.classic`), so the fitted detector saves without pickle.
    Subclasses give the features and the model (``_fit_model`` / ``_model_scores``);
    the default model is an isolation forest."""

    def _features(self, bundle: GraphBundle) -> Dict[NodeType, Tensor]:
        raise NotImplementedError

    def _fit_model(self, z: np.ndarray) -> Dict[str, Tensor]:
        return fit_forest(z, self.seed, n_trees=self.n_estimators, grower="sklearn")

    def _model_scores(self, z: Tensor, state: Dict[str, Tensor]) -> Tensor:
        return forest_scores(z, state)

    def _fit(self, bundle: GraphBundle) -> None:
        feats = self._features(bundle)
        self.scalers_, self.models_ = {}, {}
        for t, X in feats.items():
            X = X.double().numpy()
            center = np.nanmedian(X, axis=0)
            q25, q75 = np.nanpercentile(X, [25, 75], axis=0)
            scale = q75 - q25
            scale = np.where(scale < 10 * np.finfo(scale.dtype).eps, 1.0, scale)
            self.scalers_[t] = {"center": torch.as_tensor(center),
                                "scale": torch.as_tensor(scale)}
            self.models_[t] = self._fit_model(self._scaled(t, X))

    def _scaled(self, t: NodeType, X: np.ndarray) -> np.ndarray:
        sc = self.scalers_[t]
        Z = (X - sc["center"].numpy()) / sc["scale"].numpy()
        return np.clip(Z, -10, 10).astype(np.float32)

    def _components(self, bundle: GraphBundle) -> Components:
        out = {}
        for t, X in self._features(bundle).items():
            Z = torch.as_tensor(self._scaled(t, X.double().numpy()))
            out[t] = {"attribute": self._model_scores(Z, self.models_[t])}
        return out


class EarlyFusionIForest(_ClassicPerType):
    """Early fusion + IsolationForest: own features concatenated with neighbour means.

    Args:
        n_estimators: trees of each IsolationForest.
        hops: rounds of neighbour-mean concatenation.
        seed: random seed (same seed, same data -> same scores).
        contamination: expected share of anomalies (for ``predict``).
        rollup, normalize: see :class:`~graphad.detectors.base.BaseDetector`.
    """

    def __init__(self, n_estimators: int = 200, hops: int = 1, seed: int = 0,
                 contamination: float = 0.1, rollup: bool = False,
                 normalize: str = "surprisal"):
        super().__init__(contamination=contamination, rollup=rollup, normalize=normalize)
        self.n_estimators = n_estimators
        self.hops = hops
        self.seed = seed

    def _features(self, bundle: GraphBundle) -> Dict[NodeType, Tensor]:
        return early_fused_features(bundle, self.hops)


class _LateFeatures:
    """Each type's own inputs (one detector per modality; the roll-up fuses late)."""

    def _features(self, bundle: GraphBundle) -> Dict[NodeType, Tensor]:
        return node_inputs(bundle.data)


class LateFusionIForest(_LateFeatures, _ClassicPerType):
    """Late fusion: an IsolationForest on each type's own features (each modality
    alone), then entity scores combine their observations' scores (the roll-up) by
    ``combination``.

    Args:
        n_estimators, seed, contamination, normalize: as :class:`EarlyFusionIForest`.
        combination: how an entity's own score and its observations' scores combine:
            ``"hmp"`` (harmonic mean p-value), ``"mean"``, ``"max"`` or ``"rank"``
            (rank average; :mod:`graphad.scoring.combine`).
    """

    def __init__(self, n_estimators: int = 200, seed: int = 0, contamination: float = 0.1,
                 normalize: str = "surprisal", combination: str = "hmp"):
        super().__init__(contamination=contamination, rollup=True, normalize=normalize,
                         combination=combination)
        self.n_estimators = n_estimators
        self.seed = seed


class _OCSVMModel:
    """One-Class SVM on Nyström features as the per-type model."""

    def _fit_model(self, z: np.ndarray) -> Dict[str, Tensor]:
        return fit_ocsvm(z, self.seed, n_components=self.n_components, nu=self.nu)

    def _model_scores(self, z: Tensor, state: Dict[str, Tensor]) -> Tensor:
        return ocsvm_scores(z, state)


class _AEModel:
    """A small autoencoder's reconstruction error as the per-type model."""

    def _fit_model(self, z: np.ndarray) -> Dict[str, Tensor]:
        return fit_autoencoder(z, self.seed, epochs=self.epochs)

    def _model_scores(self, z: Tensor, state: Dict[str, Tensor]) -> Tensor:
        return autoencoder_scores(z, state)


class LateFusionOCSVM(_LateFeatures, _OCSVMModel, _ClassicPerType):
    """Late fusion with a One-Class SVM per modality (:class:`EarlyFusionOCSVM`'s model
    on each type's own features), combined as :class:`LateFusionIForest`."""

    def __init__(self, n_components: int = OCSVM_COMPONENTS, nu: float = OCSVM_NU,
                 seed: int = 0, contamination: float = 0.1, normalize: str = "surprisal",
                 combination: str = "hmp"):
        super().__init__(contamination=contamination, rollup=True, normalize=normalize,
                         combination=combination)
        self.n_components = n_components
        self.nu = nu
        self.seed = seed


class LateFusionAE(_LateFeatures, _AEModel, _ClassicPerType):
    """Late fusion with an autoencoder per modality (:class:`EarlyFusionAE`'s model on
    each type's own features), combined as :class:`LateFusionIForest`."""

    def __init__(self, epochs: int = AE_EPOCHS, seed: int = 0, contamination: float = 0.1,
                 normalize: str = "surprisal", combination: str = "hmp"):
        super().__init__(contamination=contamination, rollup=True, normalize=normalize,
                         combination=combination)
        self.epochs = epochs
        self.seed = seed


class EarlyFusionOCSVM(_OCSVMModel, _ClassicPerType):
    """Early fusion + One-Class SVM (RBF kernel approximated by Nyström features, so it
    scales past 10k nodes; :func:`graphad.nn.classic.fit_ocsvm`).

    Args:
        hops: rounds of neighbour-mean concatenation.
        n_components: Nyström landmarks.
        nu: share of training rows the boundary may leave outside.
        seed, contamination, rollup, normalize: as :class:`EarlyFusionIForest`.
    """

    def __init__(self, hops: int = 1, n_components: int = OCSVM_COMPONENTS,
                 nu: float = OCSVM_NU, seed: int = 0, contamination: float = 0.1,
                 rollup: bool = False, normalize: str = "surprisal"):
        super().__init__(contamination=contamination, rollup=rollup, normalize=normalize)
        self.hops = hops
        self.n_components = n_components
        self.nu = nu
        self.seed = seed

    def _features(self, bundle: GraphBundle) -> Dict[NodeType, Tensor]:
        return early_fused_features(bundle, self.hops)


class EarlyFusionAE(_AEModel, _ClassicPerType):
    """Early fusion + a small autoencoder per type (``d -> h -> d``; the score is the
    reconstruction error; :func:`graphad.nn.classic.fit_autoencoder`).

    Args:
        hops: rounds of neighbour-mean concatenation.
        epochs: full-batch Adam epochs.
        seed, contamination, rollup, normalize: as :class:`EarlyFusionIForest`.
    """

    def __init__(self, hops: int = 1, epochs: int = AE_EPOCHS, seed: int = 0,
                 contamination: float = 0.1, rollup: bool = False,
                 normalize: str = "surprisal"):
        super().__init__(contamination=contamination, rollup=rollup, normalize=normalize)
        self.hops = hops
        self.epochs = epochs
        self.seed = seed

    def _features(self, bundle: GraphBundle) -> Dict[NodeType, Tensor]:
        return early_fused_features(bundle, self.hops)
