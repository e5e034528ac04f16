"""Planted graphs, one per component family of the default score.

Each planted anomaly must be ranked first by the component built to see it and stay in
the top 1% of the combined (default) score of its type.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import HeteroData

from graphad.data.bundle import as_bundle
from graphad.detectors.gae import MultimodalGAE
from graphad.scoring.explain import explain

from planted import fit_saved_before


def _rank(values: torch.Tensor, idx: int) -> int:
    """1 = highest; NaN ranks last."""
    v = torch.nan_to_num(values.double(), nan=-float("inf"))
    return int((v > v[idx]).sum()) + 1


def _top_share(scores: torch.Tensor, idx: int) -> float:
    return _rank(scores, idx) / scores.numel()


def _check_planted(graph: HeteroData, node_type: str, planted: int,
                   component: str) -> MultimodalGAE:
    """``component`` ranks ``planted`` first; the combined score keeps it in the top 1%."""
    det = MultimodalGAE(epochs=30, seed=0).fit(graph)
    comps = det.score_components(graph)[node_type]
    assert _rank(comps[component], planted) == 1
    assert _top_share(det.decision_function(graph)[node_type], planted) <= 0.01
    return det


def payments_graph(seed: int = 0):
    """300 users paying 30 merchants ~N(100, 10) (two payments each); merchant 0 gets
    50 ordinary payments and one of 1000 from user ``planted``."""
    rng = np.random.default_rng(seed)
    n_users, n_merchants = 300, 30
    src = np.repeat(np.arange(n_users), 2)
    dst = rng.integers(1, n_merchants, src.size)
    # merchant 0: 50 ordinary payments from users 0..49 (their second payment)
    dst[1:100:2] = 0
    amount = rng.normal(100, 10, src.size)
    planted = 123
    src = np.append(src, planted)
    dst = np.append(dst, 0)
    amount = np.append(amount, 1000.0)
    h = HeteroData()
    h["user"].x = torch.tensor(rng.normal(size=(n_users, 3)), dtype=torch.float32)
    h["merchant"].x = torch.tensor(rng.normal(size=(n_merchants, 2)), dtype=torch.float32)
    h["user", "pays", "merchant"].edge_index = torch.tensor(np.stack([src, dst]))
    h["user", "pays", "merchant"].edge_attr = torch.tensor(amount, dtype=torch.float32
                                                           ).view(-1, 1)
    return h, planted, src.size - 1


def test_overpriced_payment_edge_first_and_user_flagged():
    h, planted, edge = payments_graph()
    det = _check_planted(h, "user", planted, "edge")
    edges = det.score_edges(h)[("user", "pays", "merchant")]
    assert _rank(edges, edge) == 1


def ratings_graph(seed: int = 0):
    """400 users rating 5 random others ~N(5, 2) in [-10, 10]; user ``planted`` is
    rated -10 by 12 raters."""
    rng = np.random.default_rng(seed)
    n = 400
    src = np.repeat(np.arange(n), 5)
    dst = rng.integers(0, n, src.size)
    planted = 77
    keep = (dst != src) & (dst != planted)
    src, dst = src[keep], dst[keep]
    rating = np.clip(np.round(rng.normal(5, 2, src.size)), -10, 10)
    raters = rng.choice(np.setdiff1d(np.arange(n), [planted]), 12, replace=False)
    src = np.concatenate([src, raters])
    dst = np.concatenate([dst, np.full(12, planted)])
    rating = np.concatenate([rating, np.full(12, -10.0)])
    h = HeteroData()
    h["user"].num_nodes = n
    h["user", "rates", "user"].edge_index = torch.tensor(np.stack([src, dst]))
    h["user", "rates", "user"].edge_attr = torch.tensor(rating, dtype=torch.float32
                                                        ).view(-1, 1)
    return h, planted


def test_user_rated_badly_by_everyone():
    h, planted = ratings_graph()
    det = _check_planted(h, "user", planted, "outlier")   # its received-rating aggregates
    # the explanation shows the received ratings: incoming edges and their aggregate
    ex = explain(h, ("user", planted), det)
    incoming = int((h["user", "rates", "user"].edge_index[1] == planted).sum())
    dst = ex.relations[ex.relations["as"] == "dst"]
    assert dst["edges"].tolist() == [incoming]
    assert ex.edges["relation"].iloc[0] == "rev_rates"
    top = ex.features.iloc[0]
    assert top["feature"].endswith("attr0 over rates edges to it") and top["value"] == -10
    assert "attr0 over rates edges to it=-10" in ex.reason and "rates it" in ex.reason
    # the component's rarity heads the list (the received ratings as a whole, or the
    # input they feed); the named input carries its own robust z
    assert re.search(r"\((incident|attribute): [^)]*\): [^;]*attr0 "
                     r"over rates edges to it=-10 \(lowest [\d.]+% of users\)", ex.reason), \
        ex.reason


def signed_graph(seed: int = 0):
    """800 users each rating 5 others ~N(2, 2) in [-10, 10]; the ten ``targets`` are
    rated -10 by 12 raters each; the ten ``trusted`` are rated +6 or more by 30 raters
    each (the upper edge of the bulk, as a trust network's trusted users are)."""
    rng = np.random.default_rng(seed)
    n = 800
    targets, trusted = np.arange(10, 20), np.arange(30, 40)
    special = np.concatenate([targets, trusted])
    src = np.repeat(np.arange(n), 5)
    dst = rng.integers(0, n, src.size)
    keep = (dst != src) & ~np.isin(dst, special)
    src, dst = src[keep], dst[keep]
    rating = np.clip(np.round(rng.normal(2, 2, src.size)), -10, 10)
    for group, count, value in ((targets, 12, lambda k: np.full(k, -10.0)),
                                (trusted, 30, lambda k: rng.integers(6, 11, k) * 1.0)):
        for v in group:
            raters = rng.choice(np.setdiff1d(np.arange(n), [v]), count, replace=False)
            src, dst = np.concatenate([src, raters]), np.concatenate([dst, np.full(count, v)])
            rating = np.concatenate([rating, value(count)])
    h = HeteroData()
    h["user"].num_nodes = n
    h["user", "rates", "user"].edge_index = torch.tensor(np.stack([src, dst]))
    h["user", "rates", "user"].edge_attr = torch.tensor(rating, dtype=torch.float32
                                                        ).view(-1, 1)
    return h, targets, trusted


def test_users_rated_badly_by_everyone_are_found_together():
    """Ten users that all their raters give -10 rank first on ``incident`` and at the
    top of the combined score; the trusted users, rated highly by many, lie on the
    other side of the bulk: not flagged by it. The reason names the received mean."""
    h, targets, trusted = signed_graph()
    det = MultimodalGAE(epochs=30, seed=0).fit(h)
    comps = det.score_components(h)["user"]
    incident = comps["incident"]
    assert max(_rank(incident, int(v)) for v in targets) == 1       # tied: all alike
    assert int((incident > incident[targets].min()).sum()) == 0
    assert float(incident[trusted].max()) < float(torch.quantile(incident, 0.9))
    scores = det.decision_function(h)["user"]
    assert max(_rank(scores, int(v)) for v in targets) <= 10
    ex = explain(h, ("user", int(targets[0])), det)
    assert re.search(r"its edges unlike other users' as a whole \(incident: [^)]*\): "
                     r"mean attr0 over rates edges to it=-10 \(lowest [\d.]+% of users\)",
                     ex.reason), ex.reason


def test_incident_side_and_shrinkage():
    """The statistic reads the tail that reaches further beyond its own side's spread,
    and a mean over many edges is stronger evidence than one edge."""
    from graphad.nn.families.incident import shrunk_means, skewed_side_excess
    g = torch.Generator().manual_seed(0)
    bulk = torch.randn(200, generator=g, dtype=torch.float64)
    m = torch.cat([bulk, torch.tensor([-9.0, -8.0, 2.5])])
    has = torch.ones(m.numel(), dtype=torch.bool)
    low = skewed_side_excess(m, has)
    assert float(low[200]) > 5 and float(low[202]) == 0    # the far low tail is read
    assert torch.equal(skewed_side_excess(-m, has), low)    # mirrored: the high tail
    has[5] = False
    assert float(skewed_side_excess(m, has)[5]) == 0       # no edges: no evidence
    flat = skewed_side_excess(torch.ones(50, dtype=torch.float64),
                              torch.ones(50, dtype=torch.bool))
    assert torch.equal(flat, torch.zeros(50, dtype=torch.float64))
    # node 0: one -10 among +2s; node 1: fifteen -7s; node 2: no edges
    values = torch.tensor([-10.0] + [-7.0] * 15 + [2.0] * 40)
    nodes = torch.tensor([0] + [1] * 15 + list(range(3, 43)))
    mean, has = shrunk_means(values, nodes, 43)
    assert float(mean[1]) < float(mean[0]) < 2 and not bool(has[2])
    torch.testing.assert_close(mean[0], torch.tensor((-10 + 5 * 2) / 6,
                                                     dtype=torch.float64))


def _families(comps: dict) -> set:
    return {name.split(":")[0] for name in comps}


@pytest.mark.parametrize("family", ["incident", "burst", "degree"])
def test_a_model_saved_before_a_family_scores_without_it(tmp_path, monkeypatch, family):
    """A module config without ``incident``, ``burst`` or ``degree`` (models saved
    before the family) rebuilds the module without it: no such component, scores as
    fitted."""
    h, _, _ = payments_in_time(n_users=300)
    det = fit_saved_before(monkeypatch, family, h, epochs=5, seed=0)
    assert family not in _families(det.score_components(h)["user"])
    det.save(tmp_path / "old.pt")
    old = MultimodalGAE.load(tmp_path / "old.pt")
    assert family not in old.module_.families
    assert family not in _families(old.score_components(h)["user"])
    torch.testing.assert_close(old.decision_function(h)["user"],
                               det.decision_function(h)["user"])
    fresh = MultimodalGAE(epochs=5, seed=0).fit(h)
    assert family in _families(fresh.score_components(h)["user"])


def devices_graph(seed: int = 0):
    """400 users, each on one device: households of 1-3 users, and one device
    (``planted``) that 12 accounts log in from."""
    rng = np.random.default_rng(seed)
    n_users = 400
    sizes = list(rng.choice([1, 2, 3], size=300, p=[0.7, 0.2, 0.1]))
    owner = np.repeat(np.arange(len(sizes)), sizes)[: n_users - 12]
    planted = int(owner.max()) + 1
    device = np.concatenate([owner, np.full(n_users - owner.size, planted)])
    h = HeteroData()
    h["user"].x = torch.tensor(rng.normal(size=(n_users, 3)), dtype=torch.float32)
    h["device"].x = torch.tensor(rng.normal(size=(planted + 1, 2)), dtype=torch.float32)
    h["user", "uses", "device"].edge_index = torch.tensor(
        np.stack([np.arange(n_users), device]))
    return h, planted


def test_a_device_used_by_many_accounts():
    h, planted = devices_graph()
    det = _check_planted(h, "device", planted, "degree:user")
    comps = det.score_components(h)
    assert float(comps["device"]["degree:user"][planted]) > 5     # nats
    # every user has exactly one device: a count without spread is no component
    assert "degree:device" not in comps["user"]
    assert det.module_.families["degree"].kept_user__device.item() is False
    # the reason gives the count and what is usual for its type
    ex = explain(h, ("device", planted), det)
    row = ex.degrees.iloc[0]
    assert row["component"] == "degree:user" and row["links"] == 12
    assert f"12 links from user nodes where the median device has " \
           f"{row['median']:g} (degree:user" in ex.reason
    assert explain(h, ("device", 0 if planted else 1), det).degrees.empty


def test_attribute_error_on_a_log_scale_and_models_saved_before(tmp_path):
    from graphad.nn.families.attribute import LOG_FLOOR
    h, _ = devices_graph()
    det = MultimodalGAE(epochs=5, seed=0).fit(h)
    fam = det.module_.families["attribute"]
    assert det.module_config_["attribute_log"] is True and fam.log_scale
    logged = det._components(as_bundle(h))["user"]["attribute"]
    fam.log_scale = False                                   # how models saved before read
    raw = det._components(as_bundle(h))["user"]["attribute"]
    torch.testing.assert_close(logged, torch.log(raw + LOG_FLOOR))
    fam.log_scale = True
    det.module_config_.pop("attribute_log")                 # as saved before
    det.save(tmp_path / "old.pt")
    old = MultimodalGAE.load(tmp_path / "old.pt")
    assert old.module_.families["attribute"].log_scale is False


DAY = 86400.0


def payments_in_time(seed: int = 0, n_users: int = 1000):
    """Users paying 40 merchants ~N(50, 10) over 90 days: 5-30 payments each at uniform
    times, a tenth of them also with a spree day (3-6 payments within one day); the
    five ``bursts`` (users 100-104) add 16 payments within about six hours."""
    rng = np.random.default_rng(seed)
    n_merchants = 40
    bursts = np.arange(100, 105)
    src, time = [], []
    for u in range(n_users):
        k = int(rng.integers(5, 31))
        src.append(np.full(k, u))
        time.append(rng.uniform(0, 90 * DAY, k))
        if u in bursts or rng.random() < 0.1:
            k, width = (16, DAY / 4) if u in bursts else (int(rng.integers(3, 7)), DAY)
            start = rng.uniform(0, 89 * DAY)
            src.append(np.full(k, u))
            time.append(start + rng.uniform(0, width, k))
    src, time = np.concatenate(src), np.concatenate(time)
    h = HeteroData()
    h["user"].x = torch.tensor(rng.normal(size=(n_users, 3)), dtype=torch.float32)
    h["merchant"].x = torch.tensor(rng.normal(size=(n_merchants, 2)), dtype=torch.float32)
    pays = h["user", "pays", "merchant"]
    pays.edge_index = torch.tensor(np.stack([src, rng.integers(0, n_merchants, src.size)]))
    pays.edge_attr = torch.tensor(rng.normal(50, 10, src.size), dtype=torch.float32
                                  ).view(-1, 1)
    pays.time = torch.tensor(time)
    return h, bursts, DAY


def test_users_whose_payments_come_in_a_burst_are_found():
    """Five users with 16 payments within six hours rank first on ``burst`` (above the
    spree days of 3-6 payments) and stay in the top 3% of the combined score (the
    busiest users, judged against busy users, keep less of their evidence: measured,
    ranks 1-26 of 1,000); the reason says how many payments came within how long."""
    h, bursts, _ = payments_in_time()
    det = MultimodalGAE(epochs=30, seed=0).fit(h)
    burst = det.score_components(h)["user"]["burst"]
    assert max(_rank(burst, int(u)) for u in bursts) == len(bursts)
    scores = det.decision_function(h)["user"]
    assert max(_rank(scores, int(u)) for u in bursts) <= 30
    ex = explain(h, ("user", int(bursts[0])), det)
    run = ex.bursts.iloc[0]
    assert run["relation"] == "pays" and 9 <= run["edges"] <= 17 and run["seconds"] < DAY / 4
    # its first and last edge, span apart (the test's times are no dates: numbers)
    assert run["end"] - run["start"] == pytest.approx(run["seconds"])
    assert re.search(r"its pays edges packed in time \(burst: [^)]*\): \d+ within "
                     r"[\d.]+ (hours|minutes)", ex.reason), ex.reason
    # an ordinary user's densest run explains nothing: no table where burst is weak
    calm = int(torch.argmin(torch.nan_to_num(burst, nan=0.0)))
    assert float(torch.nan_to_num(burst[calm], nan=0.0)) < 3
    assert explain(h, ("user", calm), det).bursts.empty


def test_burst_scan_and_degree_calibration():
    """The scan finds the densest run and weighs it against the node's own rate; the
    calibration judges busy nodes against busy nodes."""
    from graphad.nn.families.burst import degree_calibrated, duration_text, run_evidence
    spread = torch.linspace(0, 1000, 10, dtype=torch.float64)
    packed = torch.cat([torch.linspace(500, 501, 8, dtype=torch.float64),
                        torch.tensor([0.0, 1000.0], dtype=torch.float64)])
    times = torch.cat([spread, packed, torch.tensor([3.0, 3.0], dtype=torch.float64)])
    nodes = torch.tensor([0] * 10 + [1] * 10 + [2] * 2)
    runs = run_evidence(times, nodes, 3)
    assert runs.has.tolist() == [True, True, False]
    assert float(runs.evidence[0]) == 0.0 and float(runs.evidence[1]) > 10
    assert 3 <= int(runs.count[1]) <= 8 and float(runs.span[1]) <= 1.0
    assert runs.members[10:18].all() and not runs.members[18:].any()   # its run only
    # a node's runs at one instant: the span is the relation's time resolution, finite
    same = run_evidence(torch.tensor([5.0] * 4 + [0.0, 1.0, 1e4], dtype=torch.float64),
                        torch.tensor([0] * 4 + [1, 1, 1]), 2)
    assert torch.isfinite(same.evidence).all() and float(same.evidence[0]) > 10
    assert float(same.span[0]) == 1.0                  # the resolution: 1 s
    # 300 quiet nodes (degree 5) and 300 busy ones (degree 100) that are bursty as a
    # rule: a busy node is judged against busy ones
    g = torch.Generator().manual_seed(0)
    evidence = torch.cat([torch.rand(300, generator=g, dtype=torch.float64),
                          20 + torch.rand(300, generator=g, dtype=torch.float64)])
    degree = torch.cat([torch.full((300,), 5), torch.full((300,), 100)])
    evidence[599] = 40.0
    z = degree_calibrated(evidence, degree, torch.ones(600, dtype=torch.bool))
    assert int(z.argmax()) == 599 and float(z[599]) > 20
    assert float(z[300:599].max()) < 4 and float(z[:300].max()) < 4
    assert duration_text(5.2 * 3600) == "5.2 hours" and duration_text(90) == "1.5 minutes"


def test_bursts_filling_a_busy_bin_do_not_set_its_spread():
    """A busy bin where 15 of 100 nodes are bursts and 35 are somewhat bursty (shopping
    sprees): its spread is its MAD, not the median of its upper half (which lies among
    the sprees and bursts), so the bursts outrank a spree in a quiet bin; they were
    below it."""
    from graphad.nn.families.burst import degree_calibrated
    g = torch.Generator().manual_seed(1)
    quiet = torch.rand(300, generator=g, dtype=torch.float64)
    quiet[7] = 6.0
    busy = torch.cat([torch.rand(50, generator=g, dtype=torch.float64),
                      4 + 2 * torch.rand(35, generator=g, dtype=torch.float64),
                      30 + 10 * torch.rand(15, generator=g, dtype=torch.float64)])
    z = degree_calibrated(torch.cat([quiet, busy]),
                          torch.cat([torch.full((300,), 5), torch.full((100,), 100)]),
                          torch.ones(400, dtype=torch.bool))
    assert float(z[385:].min()) > float(z[7]) > float(z[350:385].max())


def test_merchant_explanation_names_the_payment_it_received():
    h, planted, edge = payments_graph()
    det = MultimodalGAE(epochs=30, seed=0).fit(h)
    ex = explain(h, ("merchant", 0), det)
    assert ex.edges.iloc[0][["relation", "other"]].tolist() == ["rev_pays", f"user:{planted}"]
    assert ex.features.iloc[0][["feature", "value"]].tolist() == [
        "max attr0 over pays edges to it", 1000.0]
    assert f"user {planted} pays it" in ex.reason
    # what the payment was judged against, in its own units
    row = ex.edge_evidence.iloc[0]
    assert row[["relation", "other", "attribute", "value"]].tolist() == [
        "rev_pays", f"user:{planted}", "attr0", 1000.0]
    assert row["against"] in {"the 51 pays edges to it", f"user {planted}'s 3 pays edges",
                              "all 601 pays edges"}
    assert 80 < row["median"] < 120 and row["z"] > 5 and row["z"] == ex.edge_evidence["z"].max()
    assert f"its attr0 1000 where {row['against']} have a median of " in ex.reason


def test_edge_evidence_leaves_out_the_edge_time():
    """A payment made years before the user's others is an old account, not an odd
    edge (``burst`` judges times): only the amount is judged."""
    from graphad.nn.families.edge_evidence import edge_evidence_sources
    h, planted, edge = payments_graph()
    pays = ("user", "pays", "merchant")
    amount = h[pays].edge_attr
    time = torch.full_like(amount, 1.7e9) + torch.arange(amount.size(0)).view(-1, 1)
    time[0] = 1.0e9                                  # one payment 20 years earlier
    h[pays].edge_attr = torch.cat([amount, time], dim=1)
    h[pays].time_attr = 1
    evidence, against, column, _ = edge_evidence_sources(h, pays)
    assert (column == 0).all()
    only_amount = HeteroData()
    for t in ("user", "merchant"):
        only_amount[t].num_nodes = h[t].num_nodes
    only_amount[pays].edge_index = h[pays].edge_index
    only_amount[pays].edge_attr = amount
    assert torch.equal(evidence, edge_evidence_sources(only_amount, pays)[0])
    assert int(torch.argmax(evidence)) == edge


def reviews_graph(seed: int = 0):
    """40 products, 10 reviews each; a review's rating is its product's quality (1..5)
    +- noise; review ``planted`` gives 1 star to a 5-star product (1 star is common on
    poor products, so only its peers show it)."""
    rng = np.random.default_rng(seed)
    n_products, per = 40, 10
    quality = np.tile([1.0, 2.0, 3.0, 4.0, 5.0], n_products // 5)
    product = np.repeat(np.arange(n_products), per)
    rating = np.clip(quality[product] + rng.normal(0, 0.3, product.size), 1, 5)
    planted = int(np.flatnonzero(quality[product] == 5.0)[3])
    rating[planted] = 1.0
    h = HeteroData()
    h["review"].x = torch.tensor(np.column_stack([rating, rng.normal(size=product.size)]),
                                 dtype=torch.float32)
    h["product"].x = torch.tensor(rng.normal(size=(n_products, 2)), dtype=torch.float32)
    h["review", "about", "product"].edge_index = torch.tensor(
        np.stack([np.arange(product.size), product]))
    return h, planted


def test_review_unlike_its_products_other_reviews():
    h, planted = reviews_graph()
    _check_planted(h, "review", planted, "peer:product")


def feature_outlier_graph(seed: int = 0):
    """300 users (6 features ~N(0, 1)) following 3 random others; user ``planted`` has
    4.5 in every feature and ordinary neighbours."""
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.normal(size=(n, 6))
    planted = 42
    x[planted] = 4.5
    src = np.repeat(np.arange(n), 3)
    dst = rng.integers(0, n, src.size)
    keep = src != dst
    h = HeteroData()
    h["user"].x = torch.tensor(x, dtype=torch.float32)
    h["user", "follows", "user"].edge_index = torch.tensor(np.stack([src[keep],
                                                                     dst[keep]]))
    return h, planted


def test_feature_outlier_with_ordinary_neighbours():
    h, planted = feature_outlier_graph()
    _check_planted(h, "user", planted, "outlier")


def shoppers_graph(seed: int = 0):
    """300 users, each buying from 3 of 80 shops (20 per category, 4 category
    features); a user's features are its shops' category plus noise. User ``planted``
    buys from category-0 shops with category-2 features; the ten ``hubs`` buy from all
    20 shops of their category (a degree far above the others, features as
    expected)."""
    rng = np.random.default_rng(seed)
    n, shops = 300, 80
    shop_cat = np.arange(shops) % 4
    user_cat = np.arange(n) % 4
    planted, hubs = 42, np.arange(100, 110)
    src, dst = [], []
    for u in range(n):
        own = np.flatnonzero(shop_cat == user_cat[u])
        for s in rng.choice(own, 20 if u in hubs else 3, replace=False):
            src.append(u)
            dst.append(s)
    x = np.eye(4)[user_cat] + rng.normal(0, 0.2, (n, 4))
    x[planted] = np.eye(4)[2] + rng.normal(0, 0.2, 4)
    for i in np.flatnonzero(np.array(src) == planted):   # its shops: category 0 instead
        dst[i] = int(rng.choice(np.flatnonzero(shop_cat == 0)))
    h = HeteroData()
    h["user"].x = torch.tensor(x, dtype=torch.float32)
    h["shop"].x = torch.tensor(np.eye(4)[shop_cat] + rng.normal(0, 0.05, (shops, 4)),
                               dtype=torch.float32)
    ei = torch.tensor([src, dst])
    h["user", "buys", "shop"].edge_index = ei
    h["shop", "sold_to", "user"].edge_index = ei.flip(0)
    return h, planted, hubs


def test_user_unlike_its_shops_and_hubs_not_blamed_for_degree():
    """Across types, consistency compares a user's own features with what its shops
    predict: the planted user ranks first, while users whose only oddity is their
    degree (structure, judged by other components) stay ordinary on it."""
    h, planted, hubs = shoppers_graph()
    det = _check_planted(h, "user", planted, "consistency")
    cons = det.score_components(h)["user"]["consistency"]
    ranks = sorted(_rank(cons, int(u)) for u in hubs)
    # hubs rank among ordinary users (comparing degree columns too put all ten at
    # ranks 2-11, right after the planted user)
    assert np.median(ranks) > 75 and ranks[0] > 1


def test_consistency_details_split_each_relation_error_over_own_columns():
    """The per-column split behind the explanation adds up, per node, to the
    component's raw error (the mean over its relations of ``1 - cos``), over a
    same-type relation (mean over neighbours) and a learned cross-type one alike."""
    h, planted, _ = shoppers_graph()
    rng = np.random.default_rng(1)
    h["user", "follows", "user"].edge_index = torch.tensor(
        np.stack([np.arange(300), rng.integers(0, 300, 300)]))
    det = MultimodalGAE(epochs=5, seed=0).fit(h)
    data = det._prepared(as_bundle(h))
    with torch.no_grad():
        raw = det.module_.errors(data)[0]["user"]["consistency"]
    details = det.component_details(h, "user")["consistency"]
    assert {rel for rel, _, _ in details} >= {"user__follows__user",
                                              "shop__sold_to__user"}
    total, count = torch.zeros(300), torch.zeros(300)
    for _, cols, has in details:
        assert cols.shape == (300, 4) and bool((cols >= -1e-6).all())
        total += torch.where(has, cols.sum(1), torch.zeros(300))
        count += has.float()
    torch.testing.assert_close(total / count, raw, atol=1e-4, rtol=1e-4)


def test_consistency_reason_names_the_features_unlike_the_neighbours():
    """The planted user has category-2 features but buys from category-0 shops: its
    explanation's ``contrast`` and its reason name those two columns; a type whose
    ordinary user's table covers the whole error (shares sum to 1)."""
    h, planted, _ = shoppers_graph()
    det = MultimodalGAE(epochs=30, seed=0).fit(h)
    ex = explain(h, ("user", planted), det)
    assert list(ex.contrast["feature"][:2]) == ["x2", "x0"]
    assert float(ex.contrast["share"][:2].sum()) > 0.9
    assert float(ex.contrast["z"][0]) > 3          # x2 is high for a user of its shops
    assert re.search(r"unlike its neighbours \(consistency: [^)]*\): most in "
                     r"x2=1\.35\d* \(\d+% of it\), x0=", ex.reason)
    assert "contrast" in ex.to_dict() and "unlike its neighbours in" in ex.to_text()
    ordinary = explain(h, ("user", 0), det)
    assert abs(float(ordinary.contrast["share"].sum()) - 1) < 1e-6


def contextual_outlier_graph(seed: int = 0):
    """300 users whose balance follows their age (``balance = age + N(0, 0.1)``, both
    ~N(0, 1)), plus a noise feature, following 3 random others; user ``planted`` is
    young (age -1.8) with a high balance (+1.8): each value inside its marginal
    (about the 4th and 96th percentile), the combination far from every other user."""
    rng = np.random.default_rng(seed)
    n = 300
    age = rng.normal(size=n)
    x = np.column_stack([age, age + rng.normal(0, 0.1, n), rng.normal(size=n)])
    planted = 42
    x[planted, :2] = [-1.8, 1.8]
    src = np.repeat(np.arange(n), 3)
    dst = (src + rng.integers(1, n, src.size)) % n        # never a self-loop
    h = HeteroData()
    h["user"].x = torch.tensor(x, dtype=torch.float32)
    h["user", "follows", "user"].edge_index = torch.tensor(np.stack([src, dst]))
    return h, planted


def test_contextual_outlier_seen_by_the_attribute_reconstruction():
    h, planted = contextual_outlier_graph()
    det = _check_planted(h, "user", planted, "attribute")
    # each value alone is ordinary: the per-feature z of the planted user is modest
    x = h["user"].x
    z = ((x[planted, :2] - x[:, :2].median(0).values) / x[:, :2].std(0)).abs()
    assert bool((z < 2.5).all())
    reason = explain(h, ("user", planted), det).reason
    assert reason.startswith(f"user {planted}: unusual attributes (attribute")


def context_graph(seed: int = 0):
    """300 users of 4 interests, each paying 3 of the 10 merchants of its interest and
    writing one review (text) about it; the review of user ``planted`` is about another
    interest than the merchants it pays. Its review alone is ordinary (a quarter of the
    reviews are about that interest), and so are its merchants."""
    from graphad.data.convert import from_hetero_data
    rng = np.random.default_rng(seed)
    n, per_cat = 300, 10
    cats = rng.integers(0, 4, n)
    planted = 7
    topic = cats.copy()
    topic[planted] = (cats[planted] + 2) % 4
    proj_merchant, proj_text = rng.normal(size=(4, 6)), rng.normal(size=(4, 8))
    m_cat = np.repeat(np.arange(4), per_cat)
    src = np.repeat(np.arange(n), 3)
    dst = np.concatenate([rng.choice(np.flatnonzero(m_cat == c), 3, replace=False)
                          for c in cats])
    h = HeteroData()
    h["user"].x = torch.tensor(rng.normal(size=(n, 3)), dtype=torch.float32)
    h["merchant"].x = torch.tensor(proj_merchant[m_cat] + 0.3 * rng.normal(size=(40, 6)),
                                   dtype=torch.float32)
    h["review"].x = torch.tensor(proj_text[topic] + 0.3 * rng.normal(size=(n, 8)),
                                 dtype=torch.float32)
    h["user", "pays", "merchant"].edge_index = torch.tensor(np.stack([src, dst]))
    idx = torch.arange(n)
    h["user", "wrote", "review"].edge_index = torch.stack([idx, idx])
    bundle = from_hetero_data(h)
    bundle.modality["review"] = "text"
    return bundle, planted


def test_review_unlike_the_merchants_its_author_pays():
    bundle, planted = context_graph()
    det = _check_planted(bundle, "user", planted, "context:review")
    reason = explain(bundle, ("user", planted), det).reason
    assert "its review unlike what its merchants predict (context:review" in reason
    # many reviews: the component judges their mean, and says so
    from types import SimpleNamespace

    import pandas as pd

    from graphad.components import spec_for
    many = SimpleNamespace(observations=pd.DataFrame(
        [{"component": "obs:review", "linked": 15}]))
    assert spec_for("context:review").words(many, "context:review", ": 1 in 300") == (
        "its 15 reviews, taken together, unlike what its links to other types predict "
        "(context:review: 1 in 300)")                 # no relations table: no names
    many.node_type, many.relations = "user", pd.DataFrame(
        {"relation": ["user-pays->merchant", "user-uses->device", "user-wrote->review",
                      "user-follows->user"], "edges": [4, 1, 15, 3]})
    many.contributions = pd.DataFrame({"component": ["obs:review", "structure"]})
    assert spec_for("context:review").words(many, "context:review", ": 1 in 300") == (
        "its 15 reviews, taken together, unlike what its devices and merchants predict "
        "(context:review: 1 in 300)")


def varied_reviews_graph(seed: int = 0):
    """``context_graph`` with 1-6 noisy reviews per user (most write one): the mean
    of one review strays further from what the merchants predict than the mean of
    six. User ``planted`` writes six, half of them about another interest."""
    from graphad.data.convert import from_hetero_data
    rng = np.random.default_rng(seed)
    n, per_cat, planted = 300, 10, 7
    cats = rng.integers(0, 4, n)
    count = rng.choice([1, 1, 1, 2, 3, 6], n)
    count[planted] = 6
    proj_merchant, proj_text = rng.normal(size=(4, 6)), rng.normal(size=(4, 8))
    m_cat = np.repeat(np.arange(4), per_cat)
    src = np.repeat(np.arange(n), 3)
    dst = np.concatenate([rng.choice(np.flatnonzero(m_cat == c), 3, replace=False)
                          for c in cats])
    author = np.repeat(np.arange(n), count)
    topic = cats[author]
    topic[np.flatnonzero(author == planted)[:3]] = (cats[planted] + 2) % 4
    h = HeteroData()
    h["user"].x = torch.tensor(rng.normal(size=(n, 3)), dtype=torch.float32)
    h["merchant"].x = torch.tensor(proj_merchant[m_cat] + 0.3 * rng.normal(size=(40, 6)),
                                   dtype=torch.float32)
    h["review"].x = torch.tensor(proj_text[topic] + 2.0 * rng.normal(size=(author.size, 8)),
                                 dtype=torch.float32)
    h["user", "pays", "merchant"].edge_index = torch.tensor(np.stack([src, dst]))
    h["user", "wrote", "review"].edge_index = torch.tensor(
        np.stack([author, np.arange(author.size)]))
    bundle = from_hetero_data(h)
    bundle.modality["review"] = "text"
    return bundle, planted


def test_context_error_judged_by_how_many_observations_it_averages(tmp_path):
    from graphad.nn.families.context import expected_error, noise_model
    count = torch.tensor([1.0, 2.0, 4.0, 8.0] * 50)
    noise = noise_model(0.2 + 0.4 / count, count)
    torch.testing.assert_close(noise[:2], torch.tensor([0.2, 0.4]))
    torch.testing.assert_close(expected_error(noise, torch.tensor([1.0, 4.0])),
                               torch.tensor([0.6, 0.3]))
    bundle, planted = varied_reviews_graph()
    det = MultimodalGAE(epochs=30, seed=0).fit(bundle)
    assert _rank(det.score_components(bundle)["user"]["context:review"], planted) == 1
    det.save(tmp_path / "m.pt")                 # as saved before: no noise model
    state = torch.load(tmp_path / "m.pt", weights_only=False)
    torch.save(_drop_keys(state, lambda key: "context.noise_" in key), tmp_path / "old.pt")
    old = MultimodalGAE.load(tmp_path / "old.pt")
    assert _rank(old.score_components(bundle)["user"]["context:review"], planted) > 3


def test_context_maps_are_saved_and_loaded(tmp_path):
    bundle, planted = context_graph()
    det = MultimodalGAE(epochs=5, seed=0).fit(bundle)
    det.save(tmp_path / "m.pt")
    again = MultimodalGAE.load(tmp_path / "m.pt")
    first = det.score_components(bundle)["user"]["context:review"]
    torch.testing.assert_close(again.score_components(bundle)["user"]["context:review"],
                               first, equal_nan=True)
    assert int(torch.isfinite(first).sum()) == bundle.data["user"].num_nodes


def _drop_keys(obj, drop):
    """``obj`` (a saved detector) without the dict entries whose key ``drop(key)``
    holds, at any depth."""
    if isinstance(obj, dict):
        for key in list(obj):
            if isinstance(key, str) and drop(key):
                del obj[key]
            else:
                _drop_keys(obj[key], drop)
    return obj


def _without_context(obj):
    """A saved detector as a model from before the context family: no context maps in
    the module state, no ``context:*`` entries in the fitted normalisers."""
    return _drop_keys(obj, lambda key: key.startswith(("families.context.", "context:")))


def test_a_model_saved_without_context_maps_scores_without_them(tmp_path):
    bundle, _ = context_graph()
    MultimodalGAE(epochs=5, seed=0).fit(bundle).save(tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=False)
    torch.save(_without_context(state), tmp_path / "old.pt")
    old = MultimodalGAE.load(tmp_path / "old.pt")
    comps = old.score_components(bundle)["user"]
    assert "context:review" not in comps
    assert {"attribute", "obs:review", "peer:merchant"} <= set(comps)
    assert bool(torch.isfinite(old.decision_function(bundle)["user"]).all())


def test_a_model_saved_before_own_feature_consistency_loads(tmp_path, monkeypatch):
    """Models saved before consistency compared own features only have no
    ``own_dims`` in their module config: their predictors rebuild at full input width,
    load strictly and score as they did."""
    import graphad.detectors.deep as deep
    h, _, _ = shoppers_graph()
    monkeypatch.setattr(deep, "prepared_own_width", lambda stats, raw: 0)  # = all columns
    det = MultimodalGAE(epochs=5, seed=0).fit(h)
    monkeypatch.undo()
    det.save(tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=False)
    torch.save(_drop_keys(state, lambda key: key in ("own_dims", "own_dims_")),
               tmp_path / "old.pt")
    old = MultimodalGAE.load(tmp_path / "old.pt")
    assert "own_dims" not in old.module_config_ and not hasattr(old, "own_dims_")
    width = old.module_.families["consistency"].width
    assert width == dict(old.in_dims_)
    torch.testing.assert_close(old.score_components(h)["user"]["consistency"],
                               det.score_components(h)["user"]["consistency"])


@pytest.mark.parametrize("rule", ["hmp", "mean", "omnibus"])
def test_contributions_add_up_under_each_rule(rule):
    from graphad.scoring.explain import contributions
    h, planted = reviews_graph()
    det = MultimodalGAE(epochs=5, seed=0, combination=rule).fit(h)
    comps = det.score_components(h)["review"]
    score = float(det.decision_function(h)["review"][planted])
    table = contributions(det, comps, planted, "review")
    assert table["contribution"].sum() == pytest.approx(score, rel=1e-5, abs=1e-6)
    assert table.iloc[0]["component"] == "peer:product"


def clique_graph(seed: int = 0):
    """600 users each following 8 others, with ordinary features; users 0..5 follow
    each other and 3 random others (a 6-clique: a collusion ring, of ordinary
    degree), the rest follow 8 random others."""
    rng = np.random.default_rng(seed)
    n, ring = 600, np.arange(6)
    src = np.repeat(np.arange(n), 8)
    dst = rng.integers(0, n, src.size)
    out_rank = np.arange(src.size) % 8
    keep = ~np.isin(src, ring) | (out_rank < 3)
    src, dst = src[keep], dst[keep]
    pairs = np.array([(a, b) for a in ring for b in ring if a != b]).T
    src, dst = np.concatenate([src, pairs[0]]), np.concatenate([dst, pairs[1]])
    keep = src != dst
    h = HeteroData()
    h["user"].x = torch.tensor(rng.normal(size=(n, 4)), dtype=torch.float32)
    h["user", "follows", "user"].edge_index = torch.tensor(np.stack([src[keep],
                                                                     dst[keep]]))
    return h, ring


def test_egonet_counts_match_networkx():
    import networkx as nx
    from graphad.nn.families.density import egonet_counts
    h, _ = clique_graph()
    ei = h["user", "follows", "user"].edge_index
    degree, triangles = egonet_counts(ei, 600)
    g = nx.Graph()
    g.add_nodes_from(range(600))
    g.add_edges_from(ei.t().tolist())
    assert degree.tolist() == [g.degree(v) for v in range(600)]
    tri = nx.triangles(g)
    assert triangles.tolist() == [tri[v] for v in range(600)]


def test_ring_members_are_near_cliques():
    h, ring = clique_graph()
    det = MultimodalGAE(epochs=30, seed=0).fit(h)
    comps = det.score_components(h)["user"]
    # of ordinary degree and features: no other component sees them ...
    assert min(_rank(comps["attribute"], int(r)) for r in ring) > 12
    # ... the density ranks them all in the top 2%, the combined score in the top 6%
    # (the last member's share over detector seeds 0-4: 0.047-0.055, with scikit-learn's
    # isolation forests as with the torch-grown ones)
    assert max(_top_share(comps["density"], int(r)) for r in ring) <= 0.02
    scores = det.decision_function(h)["user"]
    assert max(_top_share(scores, int(r)) for r in ring) <= 0.06


def reviews_in_time(seed: int = 0):
    """400 users writing 1-3 reviews of 40 products over two years; product 0 also
    gets twelve reviews from twelve new users within an hour (reviews 0-11)."""
    rng = np.random.default_rng(seed)
    n_users, n_products, year = 400, 40, 365 * DAY
    author = np.concatenate([np.arange(400, 412)] + [
        np.full(int(rng.integers(1, 4)), u) for u in range(n_users)])
    n = author.size
    product = np.concatenate([np.zeros(12, dtype=int), rng.integers(0, n_products, n - 12)])
    time = np.concatenate([rng.uniform(0, 3600, 12) + 0.7 * year,
                           rng.uniform(0, 2 * year, n - 12)])
    h = HeteroData()
    h["user"].x = torch.tensor(rng.normal(size=(n_users + 12, 2)), dtype=torch.float32)
    h["review"].x = torch.tensor(rng.normal(size=(n, 4)), dtype=torch.float32)
    h["product"].x = torch.tensor(rng.normal(size=(n_products, 2)), dtype=torch.float32)
    h["user", "wrote", "review"].edge_index = torch.tensor(np.stack([author, np.arange(n)]))
    about = h["review", "about", "product"]
    about.edge_index = torch.tensor(np.stack([np.arange(n), product]))
    about.time = torch.tensor(time)
    return h, np.arange(12)


def test_reviews_in_a_burst_at_their_product_are_found():
    """Twelve reviews of one product within an hour: the product ranks first on
    ``burst``, the twelve reviews (one edge each: no run of their own) rank first by
    the burst they belong to, so do their edges in ``score_edges``; the reason says so."""
    h, burst_reviews = reviews_in_time()
    det = MultimodalGAE(epochs=20, seed=0).fit(h)
    comps = det.score_components(h)
    assert _rank(comps["product"]["burst"], 0) == 1
    review = comps["review"]["burst"]
    edge = det.score_edge_components(h)[("review", "about", "product")]["burst"]
    for values in (review, edge):       # the twelve first (tied: one burst), then a gap
        top = torch.nan_to_num(values, nan=-1e9)
        assert int((top >= top[burst_reviews].min()).sum()) == len(burst_reviews)
    ex = explain(h, ("review", 0), det)
    assert re.search(r"its about edge in a burst at its product \(burst: [^)]*\): one of "
                     r"\d+ within [\d.]+ minutes", ex.reason), ex.reason


def test_a_burst_of_reviews_at_a_product_is_found_through_their_authors_times():
    """The same twelve reviews within an hour, with the times on the users' ``wrote``
    edges (each review is written once): the ``about`` edges take their review's time,
    so the product still ranks first on ``burst`` and the reviews by the burst they
    belong to. A model saved before judged the timed relations only."""
    from graphad.nn.families.burst import edge_times
    h, burst_reviews = reviews_in_time()
    about, wrote = ("review", "about", "product"), ("user", "wrote", "review")
    time = h[about].time
    del h[about].time
    h[wrote].time = time[h[wrote].edge_index[1]]        # review i's time, by its author
    det = MultimodalGAE(epochs=20, seed=0).fit(h)
    comps = det.score_components(h)
    assert _rank(comps["product"]["burst"], 0) == 1
    review = torch.nan_to_num(comps["review"]["burst"], nan=-1e9)
    assert int((review >= review[burst_reviews].min()).sum()) == len(burst_reviews)
    prepared = det._prepare(as_bundle(h), fit=False)
    torch.testing.assert_close(edge_times(prepared)[about], time.double())
    det.module_config_.pop("derived_times")                 # as saved before
    assert about not in edge_times(det._prepare(as_bundle(h), fit=False))


def test_a_burst_says_who_is_behind_it():
    """Twelve reviews of product 0 within an hour, by twelve accounts whose first input
    is far below every other user's: the product's burst names them, through the
    reviews (no inputs of their own) to the one user who wrote each; a burst of
    ordinary users names no one."""
    h, burst_reviews = reviews_in_time()
    fresh = h["user", "wrote", "review"].edge_index[0, burst_reviews]
    h["user"].x[fresh, 0] = -5.0
    n_reviews = h["review"].x.size(0)
    del h["review"].x
    h["review"].num_nodes = n_reviews
    det = MultimodalGAE(epochs=20, seed=0).fit(h)
    ex = explain(h, ("product", 0), det)
    run = ex.bursts.iloc[0]
    assert (run["from"], run["feature"], run["median"]) == ("12 users", "x0", -5.0)
    assert abs(run["usual"]) < 0.5                          # the users of all reviews
    assert "12 within" in ex.reason and \
        "from 12 users with a median x0 of -5 (" in ex.reason, ex.reason
    h["user"].x[fresh, 0] = 0.0                             # ordinary accounts
    det = MultimodalGAE(epochs=20, seed=0).fit(h)
    ex = explain(h, ("product", 0), det)
    assert ex.bursts.iloc[0]["edges"] >= 12 and "from" not in ex.bursts.columns
    assert "12 within" in ex.reason and "from 12 users" not in ex.reason


def test_incident_leaves_out_the_edge_time_and_older_models_keep_it(tables, schema_dict):
    """``time`` among a relation's attrs is its edges' time: ``incident`` does not
    average it and edge evidence does not judge it (when a user was active is no
    oddity; ``burst`` judges times). A model saved before (no ``time_attrs`` /
    ``untimed_edge_evidence`` in its config) scores with it, as it was fitted."""
    from graphad.data import build_graph
    from graphad.nn.families.edge_evidence import judged_columns
    from graphad.nn.families.incident import incident_tests
    pays = ("user", "pays", "merchant")
    bundle = build_graph(tables, schema_dict, use_cache=False)
    assert bundle.data[pays].time_attr == 1                 # attrs: [amount, time]
    det = MultimodalGAE(epochs=5, seed=0).fit(bundle)
    assert det.module_config_["time_attrs"] is True
    now = det._prepare(bundle, fit=False)
    assert int(now[pays].time_attr) == 1 and len(incident_tests(now, "user")) == 1
    # edge evidence judges the amount only; a model saved before judged the time too
    assert judged_columns(now[pays]) == [0]
    det.module_config_.pop("untimed_edge_evidence")
    assert judged_columns(det._prepare(bundle, fit=False)[pays]) == [0, 1]
    det.module_config_.pop("time_attrs")                    # as saved before
    old = det._prepare(bundle, fit=False)
    assert "time_attr" not in old[pays] and len(incident_tests(old, "user")) == 2
    assert judged_columns(old[pays]) == [0, 1]


LISTING_SCHEMA = {
    "nodes": {"seller": {"table": "sellers", "id": "seller_id"},
              "listing": {"table": "listings", "id": "listing_id",
                          "numeric": ["price", "weight"], "categorical": ["category"]}},
    "relations": [{"src": "seller", "rel": "lists", "dst": "listing", "table": "listings",
                   "src_key": "seller_id", "dst_key": "listing_id"}],
}


def listing_tables(seed: int = 0, n: int = 1000):
    """1,000 listings in 8 categories whose prices differ by a factor of 100 (books
    about 8, jewellery about 900); listing 0 is a book at 300, a price that is
    ordinary among all listings."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    medians = {"books": 8, "toys": 20, "clothing": 25, "sports": 60, "furniture": 150,
               "electronics": 280, "antiques": 500, "jewelry": 900}
    cats = rng.choice(list(medians), n)
    price = np.array([medians[c] for c in cats]) * rng.lognormal(0, 0.3, n)
    cats[0], price[0] = "books", 300.0
    listings = pd.DataFrame({"listing_id": [f"l{i}" for i in range(n)],
                             "seller_id": [f"s{i % 100}" for i in range(n)],
                             "category": cats, "price": price,
                             "weight": rng.normal(1.0, 0.2, n)})
    return {"sellers": pd.DataFrame({"seller_id": [f"s{i}" for i in range(100)]}),
            "listings": listings}


def test_a_price_odd_for_its_category_is_found_within_it(tmp_path, monkeypatch):
    """A book at 300 (books cost about 8; jewellery 900) ranks first on
    ``within:category`` and in the top 1% of the combined score; a listing in a
    category unseen at fit has no such test; a model saved before the family
    rebuilds without it and scores as fitted."""
    from graphad.data import build_graph
    from graphad.nn.families.within import within_columns
    tables = listing_tables()
    g = build_graph(tables, LISTING_SCHEMA, use_cache=False)
    det = MultimodalGAE(epochs=30, seed=0).fit(g)
    assert det.module_config_["within"] == {
        "listing": {"categories": {"category": list(range(2, 10))}, "numeric": [0, 1]}}
    comps = det.score_components(g)["listing"]
    assert _rank(comps["within:category"], 0) == 1
    # sellers have no own features: nothing for `consistency` to compare
    assert det.module_config_["featureless"] == ["seller"]
    assert "consistency" not in det.score_components(g)["seller"]
    assert _rank(det.decision_function(g)["listing"], 0) <= 10
    ex = explain(g, ("listing", "l0"), det)
    assert re.search(r"its price=300 unlike other listings with category=books \(median "
                     r"[5-9]\.\d+\) \(within:category", ex.reason), ex.reason
    top = ex.within.iloc[0]
    assert (top["feature"], top["category"], top["value"]) == ("price", "books", 300.0)
    assert top["z"] > 5 and ex.within["feature"].tolist() == ["price", "weight"]
    new = dict(tables, listings=tables["listings"].assign(
        category=["rare"] + list(tables["listings"].category[1:])))
    other = build_graph(new, LISTING_SCHEMA, use_cache=False, fitted=det)
    within = det.score_components(other)["listing"]["within:category"]
    assert torch.isnan(within[0]) and not torch.isnan(within[1:]).any()
    assert within_columns({"t": ["a", "c=x", "c=y", "a__isnan", "h#h0"]}, {"t": 5},
                          {"t": 5}) == {"t": {"categories": {"c": [1, 2]}, "numeric": [0]}}
    assert within_columns({"t": ["a", "c=x", "c=y"]}, {"t": 2}, {"t": 3}) == {}  # PCA
    before = fit_saved_before(monkeypatch, "within", g, epochs=5, seed=0)
    before.save(tmp_path / "old.pt")
    old = MultimodalGAE.load(tmp_path / "old.pt")
    assert "within" not in old.module_.families
    assert "within:category" not in old.score_components(g)["listing"]
    torch.testing.assert_close(old.decision_function(g)["listing"],
                               before.decision_function(g)["listing"])


def test_a_type_too_small_to_learn_from_its_neighbours_gets_no_cross_type_map():
    """25 merchants with 20 features each are too few (10 training nodes per feature)
    to learn what their payers predict of them: no cross-type ``consistency`` for
    them, while the 300 users keep theirs; a model saved before keeps every map."""
    from graphad.detectors.gae import unmapped_types
    g = torch.Generator().manual_seed(0)
    h = HeteroData()
    h["user"].x = torch.randn(300, 3, generator=g)
    h["merchant"].x = torch.randn(25, 20, generator=g)
    src = torch.arange(300).repeat_interleave(2)
    h["user", "pays", "merchant"].edge_index = torch.stack(
        [src, torch.randint(0, 25, (600,), generator=g)])
    det = MultimodalGAE(epochs=3, seed=0).fit(h)
    assert det.module_config_["unmapped"] == ["merchant"]
    comps = det.score_components(h)
    assert "consistency" not in comps["merchant"] and "consistency" in comps["user"]
    maps = det.module_.families["consistency"].consist
    assert set(maps) == {"merchant__rev_pays__user"}
    old = {k: v for k, v in det.module_config_.items() if k != "unmapped"}
    assert set(det._module_from_config(old).families["consistency"].consist) == {
        "merchant__rev_pays__user", "user__pays__merchant"}
    prepared = det._prepare(as_bundle(h), fit=False)
    assert unmapped_types(prepared, det.own_dims_) == ["merchant"]   # all 25 count


def test_a_burst_reason_says_when_it_started():
    """Where edge times are dates, the reason gives the run's first edge, in UTC."""
    from graphad.components import spec_for
    run = {"relation": "pays", "edges": 24, "seconds": 104575.0, "within": "29 hours",
           "start": pd.Timestamp(1_713_000_038, unit="s", tz="UTC"),
           "end": pd.Timestamp(1_713_103_413, unit="s", tz="UTC")}
    ex = type("Ex", (), {"bursts": pd.DataFrame([run])})()
    assert spec_for("burst").words(ex, "burst", ": 1 in 300") == (
        "its pays edges packed in time (burst: 1 in 300): 24 within 29 hours starting "
        "2024-04-13 09:20:38 UTC")
