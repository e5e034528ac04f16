"""Isolation forests as tensors: the heap-layout walk equals scikit-learn's scores; the
torch grower grows the same model as scikit-learn's."""
import numpy as np
import pytest
import torch
from sklearn.ensemble import IsolationForest

from graphad.nn import forest as forest_mod
from graphad.nn.forest import fit_forest, forest_scores, heap_layout, path_length
from graphad.nn import forest_grow


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
    fitted = fit_forest(x[:1000], seed, grower="sklearn")
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
    fitted = fit_forest(x, 0, n_trees=10, grower="sklearn")
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
    again = forest_scores(data["user"].x, fit_forest(data["user"].x.numpy(), 0))
    torch.testing.assert_close(first, again)


# ------------------------------------------------------------------ the torch grower
def _walk(fitted, x: np.ndarray, tree: int):
    """The heap positions one tree sends the rows of ``x`` through, leaf last."""
    feat, thr = fitted["feat"][tree], fitted["thr"][tree]
    out = []
    for row in x.astype(np.float32):
        p, path = 0, [0]
        while feat[p] >= 0:
            p = 2 * p + (1 if row[feat[p]] <= thr[p] else 2)
            path.append(p)
        out.append(path)
    return out


def test_grown_trees_are_isolation_trees():
    x = _data(4, n=600)
    fitted = fit_forest(x, 4, n_trees=20)
    psi, depth = 256, 8
    assert float(fitted["psi"]) == psi and fitted["feat"].size(1) == 2 ** (depth + 1) - 1
    feat, thr = fitted["feat"], fitted["thr"]
    for t in range(20):
        inner = (feat[t] >= 0).nonzero().view(-1).tolist()
        for p in inner:                       # children exist exactly below inner nodes
            assert fitted["left"][t, p] == 2 * p + 1 and fitted["right"][t, p] == 2 * p + 2
        leaves = ((feat[t] < 0) & (fitted["leaf"][t] > 0)).nonzero().view(-1)
        assert all(len(bin(p + 1)) - 3 <= depth for p in leaves.tolist())
    # each split of tree 0 cuts its own rows inside their range of the split feature
    paths = _walk(fitted, x, 0)
    for p in (feat[0] >= 0).nonzero().view(-1).tolist()[:40]:
        rows = [i for i, path in enumerate(paths) if p in path]
        v = x[rows, feat[0, p]].astype(np.float32)
        assert v.min() <= thr[0, p] < v.max()


def test_grown_forest_never_splits_on_a_constant_feature():
    rng = np.random.default_rng(0)
    x = np.zeros((300, 40))
    x[:, 17] = rng.standard_normal(300)      # the only feature that varies
    fitted = fit_forest(x, 0, n_trees=10)
    used = fitted["feat"][fitted["feat"] >= 0]
    assert used.numel() > 0 and bool((used == 17).all())
    same = fit_forest(np.ones((50, 3)), 0, n_trees=4)   # all rows equal: one leaf each
    assert bool((same["feat"] < 0).all())
    torch.testing.assert_close(forest_scores(torch.ones(2, 3), same),
                               torch.full((2,), 0.5))  # depth c(50) = c(psi): 2^-1


def test_grown_forest_falls_back_to_all_features_when_draws_are_constant(monkeypatch):
    monkeypatch.setattr(forest_grow, "REDRAWS", 0)     # every node looks at all features
    rng = np.random.default_rng(1)
    x = np.zeros((200, 30))
    x[:, [3, 11]] = rng.standard_normal((200, 2))
    fitted = fit_forest(x, 1, n_trees=10)
    used = fitted["feat"][fitted["feat"] >= 0].unique().tolist()
    assert used == [3, 11]


def test_grown_forest_is_seeded_and_agrees_with_scikit_learn():
    x = _data(5)
    a, b = fit_forest(x[:1000], 7), fit_forest(x[:1000], 7)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert not torch.equal(a["thr"], fit_forest(x[:1000], 8)["thr"])
    ours = forest_scores(torch.as_tensor(x), a).numpy()
    sk = -IsolationForest(random_state=7).fit(x[:1000]).score_samples(x)
    # the same model with other random draws: the same ranking up to forest noise
    from scipy.stats import spearmanr
    assert spearmanr(ours, sk).statistic > 0.95
    assert abs(ours.mean() - sk.mean()) < 0.01
    assert ours[: len(x) // 50].mean() > np.quantile(ours[len(x) // 50:], 0.9)


def test_grown_leaves_hold_the_average_path_length_of_their_rows():
    x = np.r_[np.zeros((300, 2)), np.random.default_rng(2).standard_normal((5, 2))]
    fitted = fit_forest(x, 2, n_trees=5)
    leaf = fitted["leaf"]
    # a leaf holding the 256-ish identical rows carries c(size) > 0; values are c(k)
    ks = torch.arange(1, 257)
    allowed = path_length(ks)
    vals = leaf[(fitted["feat"] < 0) & (leaf > 0)]
    assert bool(torch.isclose(vals.view(-1, 1), allowed.view(1, -1)).any(dim=1).all())
    with pytest.raises(ValueError, match="grower"):
        fit_forest(x, 0, grower="numpy")
