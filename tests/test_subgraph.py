"""Subgraph scores, discovery and recovery evaluation on small hand-made graphs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from graphad.data import IdMap, from_hetero_data
from graphad.errors import GraphadError
from graphad.scoring import (Subgraph, evaluate_subgraph_recovery, explain_subgraph,
                            find_suspicious_subgraphs, recovery_summary, score_subgraphs)
from graphad.scoring.graphview import GraphView, resolve_group

N_USERS = 80
CLIQUE = [f"u{i:02d}" for i in range(8)]          # the planted group
FARM_DEVICE = "d_farm"


def planted_graph(seed: int = 0):
    """80 users with a phone each and sparse random follows; users u00..u07 also share
    one device and follow each other densely (a farm / ring)."""
    rng = np.random.default_rng(seed)
    users = [f"u{i:02d}" for i in range(N_USERS)]
    devices = [f"d{i:02d}" for i in range(N_USERS)] + [FARM_DEVICE]
    uses = [(i, i) for i in range(N_USERS)] + [(i, N_USERS) for i in range(len(CLIQUE))]
    follows = set()
    for i in range(N_USERS):
        for j in rng.choice(N_USERS, size=3, replace=False):
            if i != j:
                follows.add((i, int(j)))
    for i in range(len(CLIQUE)):
        for j in range(len(CLIQUE)):
            if i != j and rng.random() < 0.8:
                follows.add((i, j))
    data = HeteroData()
    data["user"].x = torch.randn(N_USERS, 4, generator=torch.Generator().manual_seed(seed))
    data["device"].x = torch.ones(len(devices), 1)
    data["user", "uses", "device"].edge_index = torch.tensor(uses).t()
    data["user", "follows", "user"].edge_index = torch.tensor(sorted(follows)).t()
    bundle = from_hetero_data(data, ids=IdMap({"user": users, "device": devices}))
    return bundle


def planted_scores(bundle, flagged=CLIQUE, seed: int = 0):
    rng = np.random.default_rng(seed)
    users = list(bundle.ids.ids("user"))
    s = rng.normal(0, 1, len(users))
    for u in flagged:
        s[users.index(u)] = 4 + rng.random()
    d = rng.normal(0, 1, bundle.ids.num_nodes("device"))
    return {"user": torch.tensor(s, dtype=torch.float32),
            "device": torch.tensor(d, dtype=torch.float32)}


@pytest.fixture(scope="module")
def graph():
    return planted_graph()


@pytest.fixture(scope="module")
def scores(graph):
    return planted_scores(graph)


# ---------------------------------------------------------------- score_subgraphs
def test_planted_clique_beats_random_group(graph, scores):
    rng = np.random.default_rng(1)
    others = [u for u in graph.ids.ids("user") if u not in CLIQUE]
    groups = {"planted": {"user": CLIQUE}}
    for r in range(5):
        groups[f"random{r}"] = {"user": list(rng.choice(others, len(CLIQUE), replace=False))}
    table = score_subgraphs(graph, groups, scores=scores).set_index("group")
    planted, rand = table.loc["planted"], table.drop("planted")
    assert (planted["density_ratio"] > rand["density_ratio"].fillna(0)).all()
    assert (planted["score"] > rand["score"]).all()
    assert planted["log_shared"] > 1            # the shared device
    assert f"device:{FARM_DEVICE} (8/8)" in planted["shared"]
    assert planted["n_user"] == len(CLIQUE) and planted["size"] == len(CLIQUE)
    assert abs(rand["member_z"]).max() < planted["member_z"]


def test_density_is_configuration_model_ratio(graph):
    """Observed internal follows over sum_i,j d_out_i d_in_j / m (no self pairs)."""
    table = score_subgraphs(graph, [{"user": CLIQUE}])
    ei = graph.data["user", "follows", "user"].edge_index
    m = ei.size(1)
    members = torch.arange(len(CLIQUE))
    out_deg = torch.bincount(ei[0], minlength=N_USERS).double()
    in_deg = torch.bincount(ei[1], minlength=N_USERS).double()
    inside = (ei[0] < len(CLIQUE)) & (ei[1] < len(CLIQUE))
    expected = (out_deg[members].sum() * in_deg[members].sum()
                - (out_deg[members] * in_deg[members]).sum()) / m
    row = table.iloc[0]
    assert row["internal_edges"] == int(inside.sum())
    assert row["expected_edges"] == pytest.approx(float(expected))
    assert np.isnan(row["member_z"])           # no scores, no detector
    assert row["score"] == pytest.approx(np.mean([row["log_density"], row["log_shared"]]))


def test_density_evidence_adds_up_over_relations(graph):
    """Each relation in which a group is unusually dense is evidence: the clique with
    its shared device counts its follows and its uses; a relation less dense than
    chance adds nothing."""
    row = score_subgraphs(graph, [{"user": CLIQUE, "device": [FARM_DEVICE]}]).iloc[0]
    logs = {rel: np.log((o + 1) / (e + 1)) for rel, (o, e) in
            row["density_by_relation"].items()}
    assert set(logs) == {"uses", "follows"} and min(logs.values()) > 0
    assert row["log_density"] == pytest.approx(sum(logs.values()))
    follows_only = score_subgraphs(graph, [{"user": CLIQUE}]).iloc[0]
    assert row["log_density"] > follows_only["log_density"] + 0.5


def test_group_formats_agree(graph, scores):
    as_dict = {"user": CLIQUE, "device": [FARM_DEVICE]}
    as_pairs = [("user", u) for u in CLIQUE] + [("device", FARM_DEVICE)]
    as_subgraph = Subgraph(members={"user": CLIQUE, "device": [FARM_DEVICE]})
    table = score_subgraphs(graph, [as_dict, as_pairs, as_subgraph], scores=scores)
    cols = ["size", "score", "internal_edges", "log_shared", "consistency"]
    assert table[cols].nunique().max() == 1
    single = score_subgraphs(graph, as_dict, scores=scores)      # one group on its own
    assert len(single) == 1 and single["score"].iloc[0] == table["score"].iloc[0]


def test_group_errors_name_the_id(graph):
    with pytest.raises(GraphadError, match="nobody"):
        score_subgraphs(graph, [{"user": ["u01", "nobody"]}])
    with pytest.raises(GraphadError, match="unknown node type 'shop'"):
        resolve_group(graph, {"shop": ["s1"]})
    with pytest.raises(GraphadError, match="empty group"):
        resolve_group(graph, {"user": []})


def test_views_are_sparse_and_symmetric_for_same_type(graph):
    view = GraphView(graph)
    names = [(v.a, v.name, v.b) for v in view.views()]
    assert ("user", "follows", "user") in names
    assert ("device", "rev_uses", "user") in names
    follows = next(v for v in view.views() if v.name == "follows")
    assert (follows.adj != follows.adj.T).nnz == 0
    assert all(hasattr(v.adj, "indptr") for v in view.views())      # CSR, never dense


# ---------------------------------------------------------------- discovery
def test_planted_clique_is_found_first(graph, scores):
    found = find_suspicious_subgraphs(graph, scores=scores, quantile=0.12)
    assert found, "nothing found"
    top = found[0]
    assert top.rank == 1
    assert set(CLIQUE) <= set(top.members["user"])
    assert len(top.members["user"]) <= len(CLIQUE) + 2
    assert FARM_DEVICE in top.members.get("device", [])
    assert top.score == pytest.approx(top.details["score"])
    assert [s.rank for s in found] == list(range(1, len(found) + 1))
    assert all(a.score >= b.score for a, b in zip(found, found[1:]))


def test_growth_brings_back_unflagged_members(graph):
    half = planted_scores(graph, flagged=CLIQUE[:4])
    found = find_suspicious_subgraphs(graph, scores=half, quantile=0.06)
    assert found
    top = found[0]
    assert set(CLIQUE) <= set(top.members["user"])
    assert set(top.seeds["user"]) == set(CLIQUE[:4])      # the rest joined by growing
    without = find_suspicious_subgraphs(graph, scores=half, quantile=0.06, expand=0)
    assert len(without[0].members["user"]) < len(top.members["user"])


def test_discovery_uses_detector_threshold(graph, scores):
    class Thresholds:          # the part of a detector discovery reads besides scores
        threshold_ = {"user": 3.5, "device": 10.0}
    found = find_suspicious_subgraphs(graph, Thresholds(), scores=scores)
    assert set(CLIQUE) <= set(found[0].members["user"])
    assert set(found[0].seeds["user"]) == set(CLIQUE)


def test_no_flags_or_no_scores(graph):
    flat = {"user": torch.zeros(N_USERS), "device": torch.zeros(N_USERS + 1)}
    assert find_suspicious_subgraphs(graph, scores=flat, quantile=0.01,
                                     hubs=False, tied=False) == []
    with pytest.raises(GraphadError, match="detector or scores"):
        find_suspicious_subgraphs(graph)
    with pytest.raises(GraphadError, match="alpha"):
        find_suspicious_subgraphs(graph, scores=flat, alpha=2)


def test_a_farm_nobody_flagged_is_found_through_its_phone(graph):
    """Eight accounts on one device, where every other device has one account: a hub
    of a private resource seeds the group although no score flags a member."""
    low = {"user": torch.zeros(N_USERS), "device": torch.zeros(N_USERS + 1)}
    low["user"][:len(CLIQUE)] = -1.0                  # the farm's accounts score lowest
    found = find_suspicious_subgraphs(graph, scores=low, quantile=0.05)
    assert len(found) == 1
    assert set(found[0].members["user"]) == set(CLIQUE)
    assert list(found[0].members["device"]) == [FARM_DEVICE]
    assert len(found[0].seeds.get("user", ())) == 0     # none of them was flagged


def _shop_graph(shared_phone: bool) -> "object":
    """60 users with a phone each who pay 3 of 6 shops (shops have ~30 payers: sharing
    is the norm for them); with ``shared_phone`` users 0-7 also share two more phones
    (an emulator pair)."""
    rng = np.random.default_rng(3)
    n = 60
    farm = [(i, n + k) for i in range(8) for k in (0, 1)] if shared_phone else []
    uses = [(i, i) for i in range(n)] + farm
    pays = [(i, int(m)) for i in range(n) for m in rng.choice(6, 3, replace=False)]
    data = HeteroData()
    data["user"].x = torch.randn(n, 2, generator=torch.Generator().manual_seed(3))
    data["device"].num_nodes = n + 2
    data["shop"].num_nodes = 6
    data["user", "uses", "device"].edge_index = torch.tensor(uses).t()
    data["user", "pays", "shop"].edge_index = torch.tensor(pays).t()
    return from_hetero_data(data)


def test_hubs_are_private_resources_not_busy_shops():
    """A shop with 30 payers is improbably busy under a Poisson count too, but shops
    are shared by nature, so it seeds no group; phones shared by eight accounts, where
    phones have one, do."""
    def flat(b):
        return {t: torch.zeros(b.ids.num_nodes(t)) for t in b.node_types}
    plain = _shop_graph(shared_phone=False)
    assert find_suspicious_subgraphs(plain, scores=flat(plain), quantile=0.01) == []
    farm = _shop_graph(shared_phone=True)
    found = find_suspicious_subgraphs(farm, scores=flat(farm), quantile=0.01)
    assert len(found) == 1
    assert sorted(found[0].members["user"]) == sorted(farm.ids.ids("user")[:8])
    assert len(found[0].members["device"]) == 2
    assert "shop" not in found[0].members or len(found[0].members["shop"]) == 0


def test_trivial_stars_are_dropped():
    """One user on three flagged devices is about that user, not a group."""
    data = HeteroData()
    data["user"].num_nodes = 30
    data["device"].num_nodes = 33
    uses = [(i, i) for i in range(30)] + [(0, 30), (0, 31), (0, 32)]
    data["user", "uses", "device"].edge_index = torch.tensor(uses).t()
    bundle = from_hetero_data(data)
    s = {"user": torch.zeros(30), "device": torch.zeros(33)}
    s["device"][30:] = 5.0
    s["user"][0] = 5.0
    assert find_suspicious_subgraphs(bundle, scores=s, quantile=0.1) == []


# ---------------------------------------------------------------- evaluation
def test_recovery_precision_and_recall(graph, scores):
    found = find_suspicious_subgraphs(graph, scores=scores, quantile=0.12)
    labels = pd.DataFrame({"node_type": "user", "id": list(graph.ids.ids("user")),
                           "group_id": None})
    labels.loc[labels["id"].isin(CLIQUE), "group_id"] = "farm_1"
    labels.loc[labels["id"].isin(["u70", "u71", "u72"]), "group_id"] = "ring_1"
    table = evaluate_subgraph_recovery(found, labels).set_index("group")
    farm = table.loc["farm_1"]
    assert farm["recall"] == 1.0 and farm["precision"] >= 0.8 and farm["recovered"]
    assert farm["rank"] == 1 and farm["kind"] == "farm"
    assert not table.loc["ring_1", "recovered"]
    summary = recovery_summary(table.reset_index()).set_index("kind")
    assert summary.loc["farm", "share"] == 1.0 and summary.loc["ring", "share"] == 0.0


def test_recovery_with_nothing_found():
    labels = pd.DataFrame({"node_type": ["user"] * 3, "id": ["a", "b", "c"],
                           "group_id": ["ring_1", "ring_1", None]})
    table = evaluate_subgraph_recovery([], labels)
    assert len(table) == 1 and table["recall"].iloc[0] == 0 and not table["recovered"].any()
    with pytest.raises(GraphadError, match="group_id"):
        evaluate_subgraph_recovery([], labels.drop(columns="group_id"))


def test_recovery_kind_from_anomaly_type_or_name():
    """A group's kind is its members' anomaly type where labels carry one, else the
    name's prefix before ``_``, else ``group`` (never ten one-group kinds named after
    the groups)."""
    labels = pd.DataFrame({"node_type": "user", "id": list("abcdef"),
                           "group_id": ["g1", "g1", "g2", "g2", "ring_7", None],
                           "anomaly_type": ["clique", "clique", None, None, None, None]})
    kinds = evaluate_subgraph_recovery([], labels).set_index("group")["kind"].to_dict()
    assert kinds == {"g1": "clique", "g2": "group", "ring_7": "ring"}


def test_flagged_resource_with_tied_users_is_a_group():
    """A flagged shell merchant whose six customers follow each other makes a ring even
    though the customers score low; a flagged popular merchant does not."""
    rng = np.random.default_rng(3)
    n, ring = 120, list(range(6))
    pays = [(i, 0) for i in ring] + [(i, 1) for i in range(n) if rng.random() < 0.5]
    pays += [(i, 2 + int(rng.integers(0, 10))) for i in range(n)]
    follows = {(i, int(j)) for i in range(n) for j in rng.choice(n, 3) if i != j}
    follows |= {(i, j) for i in ring for j in ring if i != j}
    data = HeteroData()
    data["user"].num_nodes = n
    data["merchant"].num_nodes = 12
    data["user", "pays", "merchant"].edge_index = torch.tensor(pays).t()
    data["user", "follows", "user"].edge_index = torch.tensor(sorted(follows)).t()
    bundle = from_hetero_data(data)
    s = {"user": torch.tensor(rng.normal(0, 1, n), dtype=torch.float32),
         "merchant": torch.zeros(12)}
    s["merchant"][[0, 1]] = 5.0                 # the shell and the popular merchant
    found = find_suspicious_subgraphs(bundle, scores=s, quantile=0.05)
    assert found and set(found[0].members["user"]) == set(ring)
    assert found[0].members["merchant"] == [0]
    off = find_suspicious_subgraphs(bundle, scores=s, quantile=0.05, resources=False)
    assert not any(set(ring) <= set(g.members.get("user", [])) for g in off)


def _shell_graph(ring_links: int):
    """120 users paying a popular merchant (1) and ten others; users 0-5 also pay the
    shell merchant 0 and hold ``ring_links`` of the 30 possible follows among them."""
    rng = np.random.default_rng(3)
    n, ring = 120, list(range(6))
    pays = [(i, 0) for i in ring] + [(i, 1) for i in range(n) if rng.random() < 0.5]
    pays += [(i, 2 + int(rng.integers(0, 10))) for i in range(n)]
    follows = {(i, int(j)) for i in range(n) for j in rng.choice(n, 3) if i != j}
    follows -= {(i, j) for i in ring for j in ring}
    pairs = [(i, j) for i in ring for j in ring if i != j]
    follows |= {pairs[k] for k in rng.choice(len(pairs), ring_links, replace=False)}
    data = HeteroData()
    data["user"].num_nodes = n
    data["merchant"].num_nodes = 12
    data["user", "pays", "merchant"].edge_index = torch.tensor(pays).t()
    data["user", "follows", "user"].edge_index = torch.tensor(sorted(follows)).t()
    return from_hetero_data(data), ring


def test_an_unflagged_resource_whose_users_are_mostly_tied_is_a_group():
    """Nobody flags the shell merchant or its customers, but they hold 24 of the 30
    follows possible among them: a group. With 9 of 30 (still far above chance) the
    merchant must be flagged to seed one."""
    for links, unflagged_found in ((24, True), (9, False)):
        bundle, ring = _shell_graph(links)
        s = {"user": torch.zeros(120), "merchant": torch.arange(12.0)}
        s["user"][60:66] = 5.0                   # what is flagged: unrelated users
        s["merchant"][0] = -1.0                  # and merchant 11, not the shell
        found = find_suspicious_subgraphs(bundle, scores=s, quantile=0.05)
        hit = [g for g in found if set(ring) <= set(g.members.get("user", []))]
        assert bool(hit) == unflagged_found
        if hit:
            assert list(hit[0].members["merchant"]) == [0]
            assert len(hit[0].members["user"]) == len(ring)
        s["merchant"][0] = 50.0                  # flagged: the density test decides
        found = find_suspicious_subgraphs(bundle, scores=s, quantile=0.05)
        assert any(set(ring) <= set(g.members.get("user", [])) for g in found)


def _ring_and_friends(seed: int = 4, n: int = 150):
    """Users 0-7 are a ring (they follow each other and pay the shell merchant 0);
    users 20-31 a circle of friends who follow each other densely too. Ring members
    0-2 are also friends with 20-22, so that flagged links join the two."""
    rng = np.random.default_rng(seed)
    ring, friends = list(range(8)), list(range(20, 32))
    follows = {(i, int(j)) for i in range(n) for j in rng.choice(n, 3) if i != j}
    follows |= {(i, j) for i in ring for j in ring if i != j and rng.random() < 0.9}
    follows |= {(i, j) for i in friends for j in friends if i != j and rng.random() < 0.6}
    follows |= {(i, j) for i in range(3) for j in range(20, 23)}
    pays = [(i, 0) for i in ring] + [(i, 1 + int(rng.integers(0, 10))) for i in range(n)]
    data = HeteroData()
    data["user"].num_nodes = n
    data["merchant"].num_nodes = 11
    data["user", "pays", "merchant"].edge_index = torch.tensor(pays).t()
    data["user", "follows", "user"].edge_index = torch.tensor(sorted(follows)).t()
    s = {"user": torch.tensor(rng.normal(0, 1, n), dtype=torch.float32),
         "merchant": torch.zeros(11)}
    return from_hetero_data(data), s, ring, friends


def test_a_ring_joined_to_its_friends_is_split_off():
    """Flagged ring members and flagged friends make one core through their links;
    the modularity split gives the ring back on its own, first."""
    bundle, s, ring, friends = _ring_and_friends()
    s["user"][ring] = 5.0
    s["user"][friends[:6]] = 4.0
    joined = find_suspicious_subgraphs(bundle, scores=s, quantile=0.1, split=False)
    holding = [g for g in joined if set(ring) & set(g.members.get("user", []))]
    assert len(holding) == 1 and set(friends[:3]) <= set(holding[0].members["user"])
    found = find_suspicious_subgraphs(bundle, scores=s, quantile=0.1)
    assert set(found[0].members["user"]) == set(ring)
    assert found[0].members["merchant"] == [0]
    assert any(set(g.members.get("user", [])) >= set(friends[:6]) for g in found[1:])


def test_a_flagged_resource_takes_back_members_held_by_another_group():
    """Ring members 0-2 are first grouped with their flagged friends; the flagged shell
    merchant's group takes them back, since they have more links into the ring."""
    bundle, s, ring, friends = _ring_and_friends()
    s["user"][:3] = 5.0
    s["user"][friends[:5]] = 5.0
    s["merchant"][0] = 5.0
    found = find_suspicious_subgraphs(bundle, scores=s, quantile=0.05, split=False)
    holding = [g for g in found if set(ring) & set(g.members.get("user", []))]
    assert len(holding) == 1
    assert set(holding[0].members["user"]) == set(ring)
    assert holding[0].members["merchant"] == [0]


def test_a_review_ring_holds_the_products_its_members_reviewed():
    """Users 0-5 follow each other and review products 57-59, which nobody else
    reviews; reviews are observation nodes (text), so the users reach the products
    only through them. The group holds the products too."""
    rng = np.random.default_rng(5)
    n_users, n_products, ring, obscure = 120, 60, list(range(6)), [57, 58, 59]
    writer = list(np.repeat(np.arange(n_users), 4)) + [u for u in ring for _ in obscure]
    product = list(rng.integers(0, 50, n_users * 4)) + [p for _ in ring for p in obscure]
    follows = {(i, int(j)) for i in range(n_users) for j in rng.choice(n_users, 3) if i != j}
    follows |= {(i, j) for i in ring for j in ring if i != j}
    data = HeteroData()
    data["user"].num_nodes = n_users
    data["product"].num_nodes = n_products
    data["review"].x = torch.randn(len(writer), 4)
    data["user", "wrote", "review"].edge_index = torch.tensor(
        [writer, list(range(len(writer)))])
    data["review", "about", "product"].edge_index = torch.tensor(
        [list(range(len(writer))), product])
    data["user", "follows", "user"].edge_index = torch.tensor(sorted(follows)).t()
    bundle = from_hetero_data(data)
    bundle.modality["review"] = "text"
    s = {"user": torch.tensor(rng.normal(0, 1, n_users), dtype=torch.float32),
         "product": torch.zeros(n_products)}
    s["user"][ring] = 5.0
    found = find_suspicious_subgraphs(bundle, scores=s, quantile=0.05)
    assert found and set(found[0].members["user"]) == set(ring)
    assert set(obscure) <= set(found[0].members.get("product", []))
    # the reviewed products are density evidence like a direct relation: 6 x 3 distinct
    # (user, product) pairs against the configuration-model expectation, counted once
    pairs = {(w, p) for w, p in zip(writer, product)}
    deg_u = np.bincount([w for w, _ in pairs], minlength=n_users)
    deg_p = np.bincount([p for _, p in pairs], minlength=n_products)
    row = score_subgraphs(bundle, [{"user": ring, "product": obscure}]).iloc[0]
    observed, expected = row["density_by_relation"]["wrote.about"]
    assert observed == 18
    assert expected == pytest.approx(deg_u[ring].sum() * deg_p[obscure].sum() / len(pairs))
    assert set(row["density_by_relation"]) == {"follows", "wrote.about"}
    assert "18 wrote.about" in explain_subgraph(bundle, found[0], scores=s).reason


def test_the_split_weighs_density_not_a_neighbour_shared_by_the_whole():
    """A ring joined to a circle of friends, and three outside users who follow all of
    them: they are concentrated shared neighbours of the whole (most of their links go
    into it) but not of the ring alone, so the whole's full score beats the ring's. The
    split still gives the ring back: it is denser than the whole."""
    from graphad.scoring.discover import _Finder
    from graphad.scoring.subgraph import GroupScorer
    bundle, _, ring, friends = _ring_and_friends()
    ei = bundle.data["user", "follows", "user"].edge_index
    fans = [140, 141, 142]
    extra = torch.tensor([[f for f in fans for _ in range(20)], (ring + friends) * 3])
    bundle.data["user", "follows", "user"].edge_index = torch.cat([ei, extra], dim=1)
    view = GraphView(bundle)
    whole = {"user": np.array(ring + friends), "merchant": np.array([0])}
    scorer = GroupScorer(bundle, view, None, None, 3)
    ring_part = {"user": np.array(ring), "merchant": np.array([0])}
    full_whole, full_ring = scorer.scored_terms(whole), scorer.scored_terms(ring_part)
    assert full_whole["log_shared"] > 0 >= full_ring["log_shared"]
    assert full_whole["score"] > full_ring["score"]
    assert scorer.log_density(ring_part) > scorer.log_density(whole)
    finder = _Finder(view, {"user": np.array(ring)}, ["user"], 0.01, 2, 1, 3, 100)
    parts = finder.split(whole, scorer.log_density)
    users = sorted(sorted(p["user"].tolist()) for p in parts)
    assert users == [ring, friends]
    assert [p.get("merchant", np.zeros(0)).tolist() for p in parts
            if p["user"][0] in ring] == [[0]]


def test_induced_block_equals_scipy_indexing():
    """The block of a sparse matrix that discovery takes in a loop equals scipy's
    ``mat[rows][:, cols]`` (repeated rows, columns in any order, empty sets)."""
    from graphad.scoring.graphview import induced
    rng = np.random.default_rng(0)
    for trial in range(100):
        n, m = rng.integers(1, 30, 2)
        mat = sp.random(n, m, density=rng.random(), format="csr", random_state=trial)
        rows = rng.choice(n, rng.integers(0, n + 1), replace=True)
        cols = rng.choice(m, rng.integers(0, m + 1), replace=False)
        np.testing.assert_allclose(induced(mat, rows, cols).toarray(),
                                   mat[rows][:, cols].toarray())
