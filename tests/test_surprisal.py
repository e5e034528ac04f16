"""SurprisalNormalizer: each component in nats under its own training distribution."""
import math

import pytest
import torch

from graphad import MultimodalGAE
from graphad.bench.harness import benchmark_detectors, detector_spec
from graphad.scoring.normalize import SURPRISAL_GRID, SurprisalNormalizer


def fit_transform(e: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    norm = SurprisalNormalizer().fit({"t": {"c": e}})
    return norm.transform({"t": {"c": e if x is None else x}})["t"]["c"]


def test_by_hand_below_the_tail():
    # 1..100: mid-rank level of value v is (v - 0.5) / 100; the tail starts at u = 90
    e = torch.arange(1.0, 101.0)
    s = fit_transform(e, torch.tensor([50.5, 80.0, 20.0]))
    assert s.tolist() == pytest.approx([0.0, -math.log(2 * (1 - 0.795)),
                                        math.log(2 * 0.195)], abs=1e-5)


def test_exponential_tail_by_hand():
    # top 10 of 1..100 lie 1..10 above u = 90: median excess 5.5, scale 5.5 / log 2
    e = torch.arange(1.0, 101.0)
    beta = 5.5 / math.log(2)
    s = fit_transform(e, torch.tensor([90.0 + beta, 90.0 + 2 * beta, 1000.0]))
    base = -math.log(2 * 0.1)
    assert s[0].item() == pytest.approx(base + 1, abs=1e-4)
    assert s[1].item() == pytest.approx(base + 2, abs=1e-4)     # 1 nat per tail scale
    assert s[2].item() == pytest.approx(base + 910 / beta, rel=1e-4)


def test_far_outlier_not_hidden_by_its_own_tail():
    """The tail scale is a median: one huge error does not shrink its own surprisal."""
    e = torch.arange(1.0, 101.0)
    e[-1] = 1000.0
    s = fit_transform(e)
    assert int(s.argmax()) == 99
    assert s[99] > 3 * s[98] and s[98] < 3


def test_same_unit_for_heavy_and_bounded_components():
    """A rank means the same surprisal whatever the shape (below the tail), while a
    robust z-score of the heavy-tailed component would be far larger."""
    g = torch.Generator().manual_seed(0)
    bounded = torch.rand(1000, generator=g)
    heavy = torch.exp(4 * torch.randn(1000, generator=g))
    rank = lambda e, q: torch.quantile(e, q).item()
    s_b = fit_transform(bounded, torch.tensor([rank(bounded, 0.8)]))
    s_h = fit_transform(heavy, torch.tensor([rank(heavy, 0.8)]))
    assert s_b.item() == pytest.approx(s_h.item(), abs=0.01)
    assert s_b.item() == pytest.approx(-math.log(0.4), abs=0.01)


def test_monotone_sign_nan_and_constant():
    g = torch.Generator().manual_seed(1)
    e = torch.randn(500, generator=g)
    x = torch.linspace(-6, 6, 301)
    s = fit_transform(e, x)
    assert (s[1:] >= s[:-1] - 1e-6).all()
    assert (s[x < -0.5] < 0).all() and (s[x > 0.5] > 0).all()
    out = fit_transform(torch.tensor([1.0, float("nan"), 2.0, 3.0]),
                        torch.tensor([float("nan"), 2.0]))
    assert math.isnan(out[0].item()) and out[1].item() == pytest.approx(0.0, abs=1e-6)
    const = fit_transform(torch.zeros(7), torch.tensor([0.0, 1.0, -1.0]))
    assert const[0].item() == 0.0 and const[1].item() > 0 > const[2].item()


def test_large_component_is_sketched():
    e = torch.randn(50_000, generator=torch.Generator().manual_seed(2))
    norm = SurprisalNormalizer().fit({"t": {"c": e}})
    assert norm.grid_["t"]["c"].numel() == SURPRISAL_GRID
    s = norm.transform({"t": {"c": torch.tensor([0.0, 1.0])}})["t"]["c"]
    # P(N > 1) = 0.1587 -> -log(2 * 0.1587)
    assert s.tolist() == pytest.approx([0.0, -math.log(2 * 0.1587)], abs=0.03)


def test_normalize_option_checked_and_robust_z_kept():
    with pytest.raises(ValueError, match="normalize"):
        MultimodalGAE(normalize="minmax").fit(None)
    assert "gae-robust-z" not in benchmark_detectors()
    assert detector_spec("gae-robust-z").params["normalize"] == "robust_z"


def test_clustered_tail_is_not_called_rarer_than_the_data():
    """A discrete component (most of its top 10% a hair above the 90th percentile,
    then 4% of the nodes on one level) does not give those 4% tens of nats: the
    tail is never much thinner than the data between the 95th and 98th percentiles.
    A lone far value still stands out, and so does a cluster of 1%."""
    body = torch.rand(870, generator=torch.Generator().manual_seed(3))
    e = torch.cat([body, 1.0 + 1e-5 * torch.arange(90.0), torch.full((30,), 2.0),
                   torch.full((9,), 2.1), torch.tensor([10.0])])
    s = fit_transform(e, torch.tensor([2.0, 10.0]))
    # 40 of 1,000 values are >= 2.0: a 4% tail (2.5 nats), within 1 nat; not 690 nats
    assert -math.log(2 * 0.04) <= s[0].item() <= -math.log(2 * 0.04) + 1 + 0.02
    assert s[1].item() > s[0].item() + 5
    gauss = torch.randn(990, generator=torch.Generator().manual_seed(4))
    far = fit_transform(torch.cat([gauss, torch.full((10,), 8.0)]), torch.tensor([8.0]))
    assert far.item() > 8        # the 1% cluster is left to the extrapolation


def test_point_mass_tail_is_not_scaled_by_the_anomalies_above_it():
    """Most of the top 10% tied on one value (most nodes in no triangle): the 1.5% of
    nodes far above it are not their own tail scale (they were: ~2 nats each), the
    component's robust scale is."""
    g = torch.Generator().manual_seed(5)
    e = torch.cat([torch.zeros(975), 0.01 * torch.arange(1.0, 11.0),
                   1.0 + 0.1 * torch.rand(15, generator=g)])
    s = fit_transform(e, torch.tensor([0.05, 1.0]))
    assert s[1].item() > 10
    assert s[1].item() > s[0].item() + 5


def test_a_value_many_training_nodes_share_is_read_at_their_share():
    """40 of 1,000 training values tie at 2.0: the tail may call 2.0 up to a nat
    rarer than 4%, so a reason quotes the 40 that reach it (1 in 25); a value
    beyond all of them, or reached by fewer than ten, keeps the tail's rarity."""
    from graphad.scoring.reasons import _rarity
    body = torch.rand(870, generator=torch.Generator().manual_seed(3))
    e = torch.cat([body, 1.0 + 1e-5 * torch.arange(90.0), torch.full((30,), 2.0),
                   torch.full((9,), 2.1), torch.tensor([10.0])])
    norm = SurprisalNormalizer().fit({"t": {"c": e}})
    s = norm.transform({"t": {"c": torch.tensor([2.0, 2.1, 10.0, 20.0])}})["t"]["c"]
    assert norm.reached("t", "c", float(s[0])) == (40.0, 1000)
    assert norm.reached("t", "c", float(s[1])) == (10.0, 1000)
    assert norm.reached("t", "c", float(s[2])) == (1.0, 1000)
    assert norm.reached("t", "c", float(s[3])) == (0.0, 1000)
    tail = _rarity(float(s[0]), "nats")
    assert int(tail.split("1 in ")[1].replace(",", "")) > 25      # the tail: rarer
    assert _rarity(float(s[0]), "nats", 40 / 1000) == ": 1 in 25"
    assert _rarity(float(s[3]), "nats", math.nan) == _rarity(float(s[3]), "nats")
    # with the count known: the same at 40 of 1,000; beyond what 1,000 can show, the
    # count itself instead of the tail's extrapolation
    assert _rarity(float(s[0]), "nats", 40 / 1000, 1000) == ": 1 in 25"
    assert 2 * math.exp(float(s[3])) > 1000
    assert _rarity(float(s[3]), "nats", 0.0, 1000, "product") == \
        ": above all 1,000 training products"
    assert 2 * math.exp(float(s[2])) > 1000
    assert _rarity(float(s[2]), "nats", 1 / 1000, 1000, "product") == \
        ": reached by only 1 of 1,000 training products"
    # within what the training nodes can show, the tail speaks
    assert _rarity(3.0, "nats", 0.0, 1000) == ": 1 in 40"
    # a model saved before the counts were kept cannot say
    state = norm.get_state()
    del state["reach"]
    old = SurprisalNormalizer.from_state(state)
    assert math.isnan(old.reached("t", "c", float(s[0]))[0])


def test_the_detector_gives_a_share_only_where_ten_training_nodes_reach_it():
    from planted import planted_hetero
    h = planted_hetero()
    det = MultimodalGAE(epochs=3, seed=0).fit(h)
    t = "user"
    comps = det.score_components(h)[t]
    name = next(iter(comps))
    z = comps[name]
    n = int(torch.isfinite(z).sum())
    ordered = torch.sort(z[torch.isfinite(z)], descending=True).values
    # the 20th highest training value: 20 or more reach it (ties included)
    share = det.training_share(t, name, float(ordered[19]))
    assert share >= 20 / n and share <= int((z >= ordered[19]).sum()) / n
    assert math.isnan(det.training_share(t, name, float(ordered[0]) + 50))
    assert math.isnan(det.training_share(t, "no such component", 3.0))
