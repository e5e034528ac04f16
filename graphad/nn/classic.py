"""Classic detectors on a feature matrix, kept as plain tensors (no pickle in a model).

Each has ``fit_*(x: ndarray [n, d], seed) -> {name: Tensor}`` and
``*_scores(x: Tensor [n, d], state) -> Tensor [n]`` (higher = more anomalous):

* One-Class SVM with an RBF kernel approximated by Nyström features (scikit-learn's
  ``Nystroem`` + ``SGDOneClassSVM``), so it scales linearly in the rows (an exact
  kernel OCSVM is quadratic and stalls past about 10k nodes); ``gamma`` is
  scikit-learn's ``"scale"`` rule, ``1 / (d var(x))``.
* A small fully connected autoencoder (``d -> h -> d``, ``h = min(32, d // 2 + 1)``);
  the score is a row's mean squared reconstruction error. Trained on a trimmed loss
  (each epoch, the rows with the largest 10% of errors are left out), so that a gross
  outlier in the training rows is not learned and reconstructed like the rest.
* Beyond the reach of the RBF kernel every point scores the same; the One-Class SVM
  score adds ``1e-3 log(1 + d_med^2)`` (``d_med``: the median distance to the
  landmarks), so far points still rank by how far they are from the bulk.
"""
from __future__ import annotations

from typing import Dict, Mapping

import numpy as np
import torch
from torch import Tensor, nn

#: Nyström landmarks (kernel features) of the One-Class SVM
OCSVM_COMPONENTS = 100
#: expected share of outliers the One-Class SVM leaves outside its boundary
OCSVM_NU = 0.1
AE_EPOCHS = 100
AE_LR = 1e-2
#: share of rows with the largest errors left out of each epoch's autoencoder loss
AE_TRIM = 0.1
#: weight of the distance tie-breaker of the One-Class SVM score
OCSVM_FAR = 1e-3


def fit_ocsvm(x: np.ndarray, seed: int, n_components: int = OCSVM_COMPONENTS,
              nu: float = OCSVM_NU) -> Dict[str, Tensor]:
    """Nyström features + a linear one-class SVM; ``{landmarks, normalization, gamma,
    coef, offset}``."""
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import SGDOneClassSVM
    var = float(x.var())
    gamma = 1.0 / (x.shape[1] * var) if var > 0 else 1.0
    feats = Nystroem(gamma=gamma, n_components=min(n_components, len(x)),
                     random_state=seed).fit(x)
    svm = SGDOneClassSVM(nu=nu, random_state=seed, tol=1e-4).fit(feats.transform(x))
    return {"landmarks": torch.as_tensor(feats.components_, dtype=torch.float64),
            "normalization": torch.as_tensor(feats.normalization_, dtype=torch.float64),
            "gamma": torch.tensor(gamma, dtype=torch.float64),
            "coef": torch.as_tensor(svm.coef_, dtype=torch.float64),
            "offset": torch.as_tensor(svm.offset_, dtype=torch.float64).view(())}


def ocsvm_scores(x: Tensor, state: Mapping[str, Tensor]) -> Tensor:
    """``[n]``: ``offset - w . phi(x)``, scikit-learn's ``-decision_function``."""
    x = x.double()
    sq = torch.cdist(x, state["landmarks"]).pow(2)
    phi = torch.exp(-state["gamma"] * sq) @ state["normalization"].T
    far = torch.log1p(sq.median(dim=1).values)
    return (state["offset"] - phi @ state["coef"] + OCSVM_FAR * far).float()


class _AE(nn.Module):
    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.ReLU())
        self.dec = nn.Linear(h, d)

    def forward(self, x: Tensor) -> Tensor:
        return self.dec(self.enc(x))


def _ae_width(d: int) -> int:
    return min(32, d // 2 + 1)


def fit_autoencoder(x: np.ndarray, seed: int, epochs: int = AE_EPOCHS
                    ) -> Dict[str, Tensor]:
    """Full-batch Adam on the mean squared error; the weights as tensors."""
    data = torch.as_tensor(x, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _AE(data.size(1), _ae_width(data.size(1)))
        opt = torch.optim.Adam(model.parameters(), lr=AE_LR)
        keep = max(1, int(round((1 - AE_TRIM) * data.size(0))))
        for _ in range(epochs):
            opt.zero_grad()
            err = (model(data) - data).pow(2).mean(dim=1)
            loss = torch.topk(err, keep, largest=False).values.mean()
            loss.backward()
            opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def autoencoder_scores(x: Tensor, state: Mapping[str, Tensor]) -> Tensor:
    """``[n]`` mean squared reconstruction error per row."""
    d = state["dec.weight"].size(0)
    model = _AE(d, state["enc.0.weight"].size(0))
    model.load_state_dict(dict(state))
    with torch.no_grad():
        return (model(x.float()) - x.float()).pow(2).mean(dim=1)
