"""Roll-ups: an entity's linked nodes, judged against as many ordinary ones (their
harmonic mean p-value; models saved before: the best of them, or the plain maximum)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from graphad.data.bundle import as_bundle
from graphad.detectors.gae import MultimodalGAE
from graphad.scoring.rollup import best_of, omnibus_of, rollup_components, sum_of

from planted import planted_hetero


def test_one_link_keeps_its_score():
    s = torch.tensor([0.0, 0.5, 3.0, 12.0, 40.0])
    torch.testing.assert_close(best_of(s, torch.ones(5, dtype=torch.long)), s)


def test_best_of_k_ordinary_scores_is_calibrated_for_every_k():
    """Calibrated scores (``P(S >= s) = exp(-s)``): the plain best of ``k`` grows
    with ``k`` (about ``log k``), the adjusted one keeps ``P(T >= t) = exp(-t)``."""
    gen = torch.Generator().manual_seed(0)
    n = 20000
    medians, tails = {}, {}
    for k in (1, 5, 20):
        s = -torch.log(torch.rand(n, k, generator=gen, dtype=torch.float64)).float()
        best = s.max(1).values
        adjusted = best_of(best, torch.full((n,), k))
        medians[k] = (float(best.median()), float(adjusted.median()))
        tails[k] = float((adjusted >= 3).double().mean())
    assert medians[20][0] - medians[1][0] > 2.5                 # plain: ~log 20 apart
    for k in (1, 5, 20):
        assert abs(medians[k][1] - math.log(2)) < 0.03
        assert abs(tails[k] - math.exp(-3)) < 0.006


def _users_and_items(seed: int = 0):
    """200 users; user 0 links to one item, every other user to 14 (distinct) items.
    Item scores are calibrated ordinary scores, except user 0's item at 3.5 nats (1
    in 33)."""
    rng = np.random.default_rng(seed)
    n_users, per = 200, 14
    src = [0] + [1 + (u - 1) * per + j for u in range(1, n_users) for j in range(per)]
    dst = [0] + [u for u in range(1, n_users) for _ in range(per)]
    n_items = len(src)
    h = HeteroData()
    h["user"].x = torch.zeros(n_users, 2)
    h["item"].x = torch.zeros(n_items, 2)
    h["item", "bought_by", "user"].edge_index = torch.tensor([src, dst])
    scores = torch.tensor(rng.exponential(size=n_items), dtype=torch.float32)
    scores[0] = 3.5
    return as_bundle(h), {"user": torch.zeros(n_users), "item": scores}


def _rank(values: torch.Tensor, idx: int) -> int:
    return int((values > values[idx]).sum()) + 1


def test_a_single_rare_link_outranks_many_ordinary_ones():
    bundle, scores = _users_and_items()
    comps = {"user": {}, "item": {}}
    plain = rollup_components(bundle, comps, scores, "max")["user"]["nbr:item"]
    best = rollup_components(bundle, comps, scores, "best_of")["user"]["nbr:item"]
    harmonic = rollup_components(bundle, comps, scores)["user"]["nbr:item"]
    assert _rank(plain, 0) > 60                # the best of 14 ordinary items is higher
    assert _rank(best, 0) <= 12                # 1 in 33: about the top 3%
    assert _rank(harmonic, 0) <= 15
    assert float(harmonic[0]) == float(best[0]) == float(plain[0]) == 3.5
    # repeated links to one item count once
    h = bundle.data
    ei = h["item", "bought_by", "user"].edge_index
    h["item", "bought_by", "user"].edge_index = torch.cat([ei, ei[:, :1].repeat(1, 5)], 1)
    for rule, before in (("best_of", best), ("hmp", harmonic)):
        again = rollup_components(bundle, comps, scores, rule)["user"]["nbr:item"]
        torch.testing.assert_close(again, before)
    with pytest.raises(ValueError, match="roll-up rule"):
        rollup_components(bundle, comps, scores, "mean")


def test_links_that_are_all_moderately_odd_add_up():
    """User 1's 14 items all at 3 nats (each 1 in 20): the best of them is ordinary
    for the best of 14, their harmonic mean p-value is 3 nats."""
    bundle, scores = _users_and_items()
    scores["item"][1:15] = 3.0
    comps = {"user": {}, "item": {}}
    best = rollup_components(bundle, comps, scores, "best_of")["user"]["nbr:item"]
    harmonic = rollup_components(bundle, comps, scores)["user"]["nbr:item"]
    assert _rank(best, 1) > 100
    assert _rank(harmonic, 1) <= 25
    assert abs(float(harmonic[1]) - 3.0) < 1e-5
    assert float(harmonic[1]) > float(best[1]) + 2.0      # about log 14 more


def test_omnibus_models_take_the_harmonic_mean_and_models_saved_before_do_not(
        tmp_path):
    h = planted_hetero()
    det = MultimodalGAE(epochs=3, seed=0).fit(h)
    assert det.rollup_rule_ == "hmp_sum"
    assert MultimodalGAE(epochs=3, seed=0, combination="hmp").fit(h).rollup_rule_ \
        == "max"
    harmonic = det.score_components(h)
    rolled = [(t, c) for t, comps in harmonic.items() for c in comps
              if c.startswith("nbr:")]
    assert rolled
    det.rollup_rule_ = "hmp"                 # as saved before the sum of observations
    det.save(tmp_path / "hmp.pt")
    assert MultimodalGAE.load(tmp_path / "hmp.pt")._rollup_rule() == "hmp"
    del det.rollup_rule_                     # ... before the harmonic mean ...
    det.rollup_adjusted_ = True
    det.save(tmp_path / "best.pt")
    best = MultimodalGAE.load(tmp_path / "best.pt").score_components(h)
    del det.rollup_adjusted_                 # ... and before the best-of adjustment
    det.save(tmp_path / "old.pt")
    old = MultimodalGAE.load(tmp_path / "old.pt")
    assert not hasattr(old, "rollup_adjusted_") and not hasattr(old, "rollup_rule_")
    plain = old.score_components(h)
    for a, b in ((harmonic, best), (best, plain)):
        assert any(not torch.allclose(a[t][c], b[t][c], equal_nan=True) for t, c in rolled)


def test_the_sum_test_keeps_one_link_and_is_calibrated():
    s = torch.tensor([0.0, 0.5, 3.0, 12.0, 40.0])
    one = torch.ones(5, dtype=torch.long)
    torch.testing.assert_close(sum_of(s, one), s)
    torch.testing.assert_close(omnibus_of(s, s, one), s)
    from scipy.stats import gamma
    assert float(sum_of(torch.tensor([42.0]), torch.tensor([14]))) == pytest.approx(
        -gamma.logsf(42.0, 14), rel=1e-5)
    # ordinary calibrated scores: the omnibus of the two tests stays within the
    # factor 2 the harmonic mean of two p-values allows, for every k
    gen = torch.Generator().manual_seed(0)
    n = 20000
    for k in (1, 5, 20):
        s = -torch.log(torch.rand(n, k, generator=gen, dtype=torch.float64))
        hmp = torch.log(torch.exp(s).mean(1))
        total = omnibus_of(hmp.float(), s.sum(1).float(), torch.full((n,), k))
        tail = float((total >= 3).double().mean())
        assert math.exp(-3) * 0.8 < tail < 2 * math.exp(-3)


def test_observations_that_are_all_moderately_odd_add_up_and_entities_do_not():
    """User 1's 14 items all at 3 nats: as observations (its reviews) their sum is
    far out; as linked entities (merchants others pay too) the harmonic mean keeps
    3 nats."""
    bundle, scores = _users_and_items()
    scores["item"][1:15] = 3.0
    comps = {"user": {}, "item": {}}
    shared = rollup_components(bundle, comps, scores, "hmp_sum")["user"]["nbr:item"]
    assert abs(float(shared[1]) - 3.0) < 1e-5
    bundle.modality["item"] = "text"
    harmonic = rollup_components(bundle, comps, scores, "hmp")["user"]["obs:item"]
    summed = rollup_components(bundle, comps, scores, "hmp_sum")["user"]["obs:item"]
    assert _rank(summed, 1) == 1 and _rank(harmonic, 1) > 1
    assert float(summed[1]) > float(harmonic[1]) + 10       # 42 nats against Gamma(14)
    assert float(summed[0]) == pytest.approx(3.5)            # one link keeps its score


def test_the_reason_says_how_many_linked_nodes_the_roll_up_is_over():
    import pandas as pd

    from graphad.components import spec_for

    def ex(linked, flagged=None, driving=1):
        return type("Ex", (), {"observations": pd.DataFrame([{
            "component": "obs:review", "observation": "review:r7", "linked": linked,
            "flagged": flagged, "driven_by": "copies", "driving": driving}])})()
    words = spec_for("obs:review").words
    copies = '"copied content: repeated by many others"'   # copies' words, not its name
    assert words(ex(1, 1), "obs:review", ": 1 in 900") == \
        f"its review r7 is anomalous (review: 1 in 900, mostly {copies})"
    # several flagged: the component most of them share, not the oddest one's
    assert words(ex(72, 33, 20), "obs:review", ": 1 in 900") == \
        "its reviews are anomalous together (33 of its 72 flagged, 20 of them mostly " \
        f"{copies}; the oddest review r7) (review: 1 in 900)"
    assert words(ex(18, 18, 18), "obs:review", ": 1 in 900") == \
        "its reviews are anomalous together (18 of its 18 flagged, all of them mostly " \
        f"{copies}; the oddest review r7) (review: 1 in 900)"
    assert words(ex(5, 1), "obs:review", ": 1 in 900") == \
        "its reviews are anomalous together (1 of its 5 flagged; the oddest review " \
        f"r7, mostly {copies}) (review: 1 in 900)"
    assert words(ex(12), "obs:review", ": 1 in 900").startswith(
        "its reviews are anomalous together (12 of them; the oddest")


def test_a_roll_up_names_what_most_of_its_flagged_links_share():
    """Eighteen pasted reviews are near-copies even where the oddest of them stands out
    by its structure: the roll-up names the component leading most flagged links."""
    from graphad.scoring.explain import _leading_component

    class Parts:                       # contributions = the positive components
        def component_parts(self, comps, node_type):
            return {n: v.clamp(min=0) for n, v in comps.items()}
    comps = {"copies": torch.tensor([5.0, 5.0, 5.0, 0.0, 0.0]),
             "structure": torch.tensor([1.0, 1.0, 1.0, 9.0, 0.0])}
    linked = torch.tensor([0, 1, 2, 3, 4])
    flagged = torch.tensor([True, True, True, True, False])
    oddest = 3
    assert _leading_component(Parts(), comps, "review", linked, flagged, oddest) == \
        ("copies", 3)
    only = torch.tensor([False, False, False, True, False])
    assert _leading_component(Parts(), comps, "review", linked, only, oddest) == \
        ("structure", 1)
    # a subset of the nodes: positions within it
    assert _leading_component(Parts(), comps, "review", torch.tensor([3, 4]),
                              torch.tensor([True, False]), 0) == ("structure", 1)
