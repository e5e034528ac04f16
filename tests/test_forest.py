"""Isolation forests as tensors: the heap-layout walk equals scikit-learn's scores."""
import numpy as np
import pytest
import torch
from sklearn.ensemble import IsolationForest

from graphad.nn import forest as forest_mod
from graphad.nn.forest import fit_forest, forest_scores, heap_layout


def _data(seed: int, n: int = 3000, d: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x[:, 0] = np.round(x[:, 0])                  # ties: thresholds between few levels
    x[:, 1] = rng.integers(0, 2, n)              # a one-hot-like column
    x[: n // 50, 2] += 8.0                       # a cluster of outliers
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_scikit_learn(seed, monkeypatch):
    monkeypatch.setattr(forest_mod, "CHUNK", 257)      # several chunks, a ragged last one
    x = _data(seed)
    fitted = fit_forest(x[:1000], seed)
    ours = forest_scores(torch.as_tensor(x), fitted).numpy()
    sk = IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(x[:1000])
    np.testing.assert_allclose(ours, -sk.score_samples(x), rtol=0, atol=1e-6)
    # the outlier cluster ranks above the rest
    assert ours[: len(x) // 50].mean() > np.quantile(ours[len(x) // 50:], 0.9)


def test_float32_thresholds_keep_ties_on_the_same_side():
    # values exactly at float32 neighbours of a float64 threshold must go where the
    # float64 comparison sends them
    t = torch.tensor([0.1, 1 / 3, 2.5, -7.2000000001], dtype=torch.float64)
    t32 = forest_mod._floor_float32(t)
    for v64, v32 in zip(t.tolist(), t32.tolist()):
        for x in (np.float32(v32), np.nextafter(np.float32(v32), np.float32(np.inf))):
            assert (float(x) <= v64) == (x <= np.float32(v32))


def test_heap_layout_shapes_and_shallow_trees():
    x = np.r_[np.zeros((30, 2)), [[5.0, 5.0]]]      # most points identical: shallow trees
    fitted = fit_forest(x, 0, n_trees=10)
    heap = heap_layout(fitted)
    slots = heap["bottom"].size(1)
    assert slots & (slots - 1) == 0 and heap["feat"].size(1) == slots - 1
    ours = forest_scores(torch.as_tensor(x), heap).numpy()
    sk = IsolationForest(n_estimators=10, random_state=0).fit(x)
    np.testing.assert_allclose(ours, -sk.score_samples(x), atol=1e-6)
    assert ours[-1] == ours.max() > ours[0]


def test_empty_input():
    fitted = fit_forest(_data(0, n=100), 0, n_trees=5)
    assert forest_scores(torch.zeros(0, 7), fitted).numel() == 0


def test_outlier_family_caches_the_heap_and_rebuilds_it_after_a_load():
    from torch_geometric.data import HeteroData
    from graphad.nn.families.outlier import OutlierFamily
    data = HeteroData()
    data["user"].x = torch.as_tensor(_data(3, n=400), dtype=torch.float32)
    fam = OutlierFamily(seed=0)
    fam.fit(data)
    first = fam.errors(data, {})[0]["user"]["outlier"]
    heap = fam._forest("user__own")
    assert fam._forest("user__own") is heap                      # cached
    fam.load_state_dict({k: v.clone() for k, v in fam.state_dict().items()})
    assert fam._forest("user__own") is not heap                  # buffers rewritten
    del fam.__dict__["_heaps"]                                   # a pickle of an older version
    torch.testing.assert_close(fam.errors(data, {})[0]["user"]["outlier"], first)
    sk = IsolationForest(random_state=0).fit(data["user"].x.numpy())
    np.testing.assert_allclose(first.numpy(), -sk.score_samples(data["user"].x.numpy()),
                               atol=1e-6)
