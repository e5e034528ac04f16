"""The ``group`` component: membership of a discovered group of several entity types."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from graphad.components import spec_for
from graphad.data import IdMap, from_hetero_data
from graphad.detectors import MultimodalGAE
from graphad.scoring import find_suspicious_subgraphs
from graphad.scoring.group_evidence import GROUP, group_evidence, typed_groups

from test_subgraph import CLIQUE, FARM_DEVICE, N_USERS, planted_graph, planted_scores

THRESHOLDS = {"user": 3.5, "device": 10.0}


@pytest.fixture(scope="module")
def graph():
    return planted_graph()


def _index(bundle, node_type, ids):
    return bundle.ids.ids(node_type).get_indexer(list(ids))


def test_members_get_their_group_score_and_others_nothing(graph):
    scores = planted_scores(graph)
    ev = group_evidence(graph, typed_groups(graph, scores, THRESHOLDS))
    assert set(ev) == {"user", "device"} and all(set(c) == {GROUP} for c in ev.values())

    class Thresholds:
        threshold_ = THRESHOLDS
    top = find_suspicious_subgraphs(graph, Thresholds(), scores=scores, k=None)[0]
    users = _index(graph, "user", top.members["user"])
    assert set(CLIQUE) <= set(top.members["user"]) and FARM_DEVICE in top.members["device"]
    g = ev["user"][GROUP]
    assert torch.allclose(g[users], torch.full((len(users),), top.score), atol=1e-5)
    assert top.score > 1.0
    outside = np.setdiff1d(np.arange(N_USERS), users)
    assert torch.all(g[outside] == 0)
    farm = _index(graph, "device", [FARM_DEVICE])
    assert float(ev["device"][GROUP][farm]) == pytest.approx(top.score, abs=1e-5)
    assert int((ev["device"][GROUP] > 0).sum()) == 1


def test_groups_of_one_entity_type_do_not_count(graph):
    """The same ring without its shared device: discovery still finds the users, but a
    dense group of one type is the density component's business, not this one's."""
    data = graph.data.clone()
    keep = data["user", "uses", "device"].edge_index[1] != N_USERS
    data["user", "uses", "device"].edge_index = data["user", "uses", "device"].edge_index[:, keep]
    bundle = from_hetero_data(data, ids=graph.ids)
    scores = planted_scores(bundle)
    found = find_suspicious_subgraphs(bundle, scores=scores, quantile=0.12)
    assert found and set(CLIQUE) <= set(found[0].members["user"])
    assert set(found[0].members) == {"user"}
    ev = group_evidence(bundle, typed_groups(bundle, scores, THRESHOLDS))
    assert all(float(c[GROUP].abs().sum()) == 0 for c in ev.values())


def test_a_farm_the_first_stage_missed_still_gets_its_group(graph):
    """The first stage flags none of the farm's accounts (they score lowest), but its
    shared phone (every other user has a phone of their own) seeds the group, so each
    member gets the group's evidence."""
    scores = planted_scores(graph, flagged=[])
    ring = _index(graph, "user", CLIQUE)
    scores["user"][ring] = -3.0
    groups = typed_groups(graph, scores, THRESHOLDS)
    assert len(groups) == 1
    group, terms = groups[0]
    assert set(group["user"]) == set(ring.tolist())
    ev = group_evidence(graph, groups)["user"][GROUP]
    assert torch.all(ev[ring] == terms["score"]) and float(terms["score"]) > 0
    assert int((ev > 0).sum()) == len(CLIQUE)
    # without structural seeds (how models saved before them score) nothing seeds it
    assert typed_groups(graph, scores, THRESHOLDS, structural=False) == []


def test_the_evidence_goes_to_members_tied_to_the_other_types(graph):
    """A friend that growth took in through follows alone is a member of the group but
    does not share its device: the group's score is not its evidence."""
    ring = _index(graph, "user", CLIQUE)
    friend = int(_index(graph, "user", ["u40"])[0])
    farm = _index(graph, "device", [FARM_DEVICE])
    group = {"user": np.sort(np.r_[ring, friend]), "device": farm}
    ev = group_evidence(graph, [(group, {"score": 3.0})])
    assert torch.all(ev["user"][GROUP][ring] == 3.0)
    assert float(ev["user"][GROUP][friend]) == 0.0
    assert float(ev["device"][GROUP][farm]) == 3.0
    old = group_evidence(graph, [(group, {"score": 3.0})], tied_only=False)
    assert float(old["user"][GROUP][friend]) == 3.0      # how models saved before score
    from graphad.scoring.group_evidence import tied_members
    tied = tied_members(graph, group)
    assert set(tied["user"].tolist()) == set(ring.tolist()) and list(tied["device"]) == list(farm)


def test_one_entity_type_has_no_group_component(graph):
    data = HeteroData()
    data["user"].x = graph.data["user"].x
    data["user", "follows", "user"].edge_index = graph.data["user", "follows", "user"].edge_index
    bundle = from_hetero_data(data, ids=IdMap({"user": list(graph.ids.ids("user"))}))
    assert typed_groups(bundle, {"user": planted_scores(graph)["user"]}, {"user": 3.5}) == []
    assert group_evidence(bundle, []) == {}
    det = MultimodalGAE(epochs=3, seed=0).fit(bundle)
    assert det.group_normalizer_ is None
    assert GROUP not in det.score_components(bundle)["user"]
    plain = MultimodalGAE(epochs=3, seed=0, groups=False).fit(bundle)
    assert torch.equal(det.decision_function(bundle)["user"],
                       plain.decision_function(bundle)["user"])


@pytest.fixture(scope="module")
def fitted(graph):
    return (MultimodalGAE(epochs=20, seed=0).fit(graph),
            MultimodalGAE(epochs=20, seed=0, groups=False).fit(graph))


def test_the_ring_rises_with_the_group_component(graph, fitted):
    det, plain = fitted
    comps = det.score_components(graph)
    assert GROUP in comps["user"] and GROUP not in plain.score_components(graph)["user"]
    ring = _index(graph, "user", CLIQUE)
    others = np.setdiff1d(np.arange(N_USERS), ring)
    g = comps["user"][GROUP]
    # ranked first by it; discovery's growth may take in a flagged user or two that
    # follow a member (here the two top-scored users of the fit, one link each)
    assert float(g[ring].min()) >= float(g[others].max())
    assert float(g[ring].min()) > 0 and int((g[others] > 0).sum()) <= 2

    def ring_rank(d):        # mean rank of the ring members (0 = top)
        order = torch.argsort(d.decision_function(graph)["user"], descending=True)
        return float(np.mean([int((order == i).nonzero()) for i in ring]))
    assert ring_rank(det) <= len(CLIQUE)               # the ring on top
    # the ring's device is shared by all of them: its link count alone (``degree``,
    # rolled up to them) puts the ring on top too; without it, the group lifts them
    assert ring_rank(det) <= ring_rank(plain)
    no_degree = {"degree": 0.0}
    with_group = MultimodalGAE(epochs=20, seed=0, weights=no_degree).fit(graph)
    without = MultimodalGAE(epochs=20, seed=0, weights=no_degree, groups=False).fit(graph)
    assert ring_rank(with_group) < ring_rank(without)


def test_group_stage_is_stored_and_reloaded(graph, fitted, tmp_path):
    det, _ = fitted
    assert det.group_normalizer_ is not None and set(det.group_threshold_) == {"user", "device"}
    det.save(tmp_path / "m.pt")
    again = MultimodalGAE.load(tmp_path / "m.pt")
    assert det.group_structural_ is True and again.group_structural_ is True
    a, b = det.decision_function(graph), again.decision_function(graph)
    assert all(torch.equal(a[t], b[t]) for t in a)
    # fit's training scores are what scoring the training graph gives
    assert torch.allclose(det.decision_scores_["user"], a["user"], atol=1e-6)


def test_group_reason_words():
    assert "group" in spec_for(GROUP).words(None, GROUP, ", 5.0σ")


def test_explanation_shows_the_group(graph, fitted):
    import graphad
    det, plain = fitted
    ex = graphad.explain(graph, ("user", CLIQUE[0]), det)
    assert len(ex.group) == 1
    row = ex.group.iloc[0]
    in_group = int((det.score_components(graph)["user"][GROUP] > 0).sum())
    assert len(CLIQUE) <= in_group <= len(CLIQUE) + 2
    assert row["members"] == f"{in_group} users and 1 device"
    assert row["density_ratio"] >= 2.5 and row["internal_links"] > row["expected_links"]
    assert "group" in ex.to_text() and ex.to_dict()["group"][0]["members"] == row["members"]
    # every member by id (JSON keeps them whole), the links counted as whole numbers
    ids = row["member_ids"].split()
    assert len(ids) == in_group + 1 and f"user:{CLIQUE[0]}" in ids
    assert {f"user:{u}" for u in CLIQUE} <= set(ids)
    assert ex.to_dict()["group"][0]["member_ids"] == row["member_ids"]
    assert isinstance(ex.to_dict()["group"][0]["internal_links"], int)
    words = spec_for(GROUP).words(ex, GROUP, ": 1 in 20")
    assert words.startswith(f"a member of a group of {row['members']}, linked")
    outsider = next(u for u in graph.ids.ids("user") if u not in CLIQUE)
    assert graphad.explain(graph, ("user", outsider), det).group.empty
    assert graphad.explain(graph, ("user", CLIQUE[0]), plain).group.empty


def test_describe_members():
    from graphad.scoring.group_evidence import describe_members
    g = {"user": np.arange(3), "device": np.arange(1), "photo": np.arange(0)}
    assert describe_members(g) == "3 users and 1 device"
    assert describe_members({"user": np.arange(2)}) == "2 users"
    assert describe_members({}) == "no members"


def test_group_why_line_names_members_own_evidence(graph):
    """A group's top member is credited with its own main component, not with the
    group component, which would cite the group itself."""
    from graphad.scoring import explain_subgraph
    from graphad.scoring.explain import contributions
    det = MultimodalGAE(epochs=20, seed=0, weights={"group": 20.0}).fit(graph)
    comps = det.score_components(graph)["user"]
    ring = _index(graph, "user", CLIQUE)
    tops = {contributions(det, comps, int(i), "user")["component"].iloc[0] for i in ring}
    assert GROUP in tops                           # the case this is about
    ex = explain_subgraph(graph, {"user": CLIQUE, "device": [FARM_DEVICE]}, det)
    mains = set(ex.member_table["main_component"])
    assert GROUP not in mains and mains - {""}


def test_discovery_flags_from_the_score_without_the_group_component(graph, fitted):
    """The group component is discovery's own output: flagging from it would feed each
    group back into its own discovery, with the ordinary neighbours it lifts."""
    det, plain = fitted
    seeds, thresholds = det.seed_scores(graph)
    assert thresholds == det.group_threshold_
    final = det.decision_function(graph)
    assert not torch.equal(seeds["user"], final["user"])
    comps = det.score_components(graph)
    without = {t: {k: v for k, v in c.items() if k != GROUP} for t, c in comps.items()}
    assert torch.equal(seeds["user"], det._first_stage(without)["user"])
    found = find_suspicious_subgraphs(graph, det, k=None)
    flagged = set(graph.ids.ids("user")[(seeds["user"] > thresholds["user"]).numpy()])
    assert found and all(set(sg.seeds["user"]) <= flagged for sg in found)
    p_seeds, p_thr = plain.seed_scores(graph)          # no stage: the score itself
    assert torch.equal(p_seeds["user"], plain.decision_function(graph)["user"])
    assert p_thr == plain.threshold_
