"""Converters: networkx, homogeneous Data and HeteroData -> GraphBundle."""
from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.data import Data, HeteroData
from torch_geometric.utils import to_undirected

from graphad.data import as_bundle, from_data, from_hetero_data, from_networkx
from graphad.data.bundle import GraphBundle
from graphad.errors import DataValidationError

NODE = ("node", "to", "node")
REV_NODE = ("node", "rev_to", "node")


def _snapshot(data):
    """Every tensor of every store, cloned, keyed by (store key, attribute)."""
    out = {}
    for store in data.stores:
        key = getattr(store, "_key", None)
        for name, value in store.items():
            out[(key, name)] = value.clone() if torch.is_tensor(value) else value
    return out


def _assert_same(before, data):
    after = _snapshot(data)
    assert set(after) == set(before)
    for k, v in before.items():
        if torch.is_tensor(v):
            assert torch.equal(after[k], v), k
        else:
            assert after[k] == v, k


# ---------------------------------------------------------------- networkx
def typed_graph(directed: bool) -> nx.Graph:
    g = nx.DiGraph() if directed else nx.Graph()
    g.add_node("u1", type="user", age=30, score=0.5)
    g.add_node("u2", type="user", age=40, score=1.5)
    g.add_node("d1", type="device", age=1, score=0.0)
    g.add_node("u3", type="user", age=50, score=2.5)
    g.add_node("d2", type="device", age=2, score=1.0)
    g.add_edge("u1", "d1", type="uses", amount=3.0)
    g.add_edge("u2", "d1", type="uses", amount=4.0)
    g.add_edge("u3", "d2", type="uses", amount=5.0)
    g.add_edge("u1", "u2", type="follows", amount=1.0)
    g.add_edge("u2", "u3", type="follows", amount=2.0)
    return g


def test_from_networkx_typed_nodes_and_features():
    b = from_networkx(typed_graph(True), features=["age", "score"], edge_attrs=["amount"])
    assert isinstance(b, GraphBundle)
    assert b.ids.ids("user").tolist() == ["u1", "u2", "u3"]
    assert b.ids.ids("device").tolist() == ["d1", "d2"]
    assert b.data["user"].x.tolist() == [[30, 0.5], [40, 1.5], [50, 2.5]]
    assert b.data["device"].x.tolist() == [[1, 0.0], [2, 1.0]]
    assert b.feature_names["user"] == ["age", "score"]
    assert b.modality == {"user": None, "device": None}


def test_from_networkx_directed_edges_and_attrs():
    b = from_networkx(typed_graph(True), edge_attrs=["amount"])
    uses, follows = ("user", "uses", "device"), ("user", "follows", "user")
    assert sorted(b.edge_types) == sorted([uses, follows])
    ei = b.data[uses].edge_index
    pairs = list(zip(b.ids.external("user", ei[0]), b.ids.external("device", ei[1])))
    assert pairs == [("u1", "d1"), ("u2", "d1"), ("u3", "d2")]
    assert b.data[uses].edge_attr.tolist() == [[3.0], [4.0], [5.0]]
    assert b.edge_attr_names[uses] == ["amount"]
    rev = ("device", "rev_uses", "user")
    assert torch.equal(b.data[rev].edge_index, ei.flip(0))
    assert torch.equal(b.data[rev].edge_attr, b.data[uses].edge_attr)
    # a directed same-type relation is not symmetric: it gets a reverse too
    rev_f = ("user", "rev_follows", "user")
    assert torch.equal(b.data[rev_f].edge_index, b.data[follows].edge_index.flip(0))


def test_from_networkx_undirected_same_type_gets_both_directions():
    b = from_networkx(typed_graph(False), edge_attrs=["amount"])
    follows = ("user", "follows", "user")
    ei = b.data[follows].edge_index
    pairs = sorted(zip(ei[0].tolist(), ei[1].tolist()))
    assert pairs == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert ("user", "rev_follows", "user") not in b.data.edge_types
    attr = {(int(s), int(d)): float(a) for (s, d), a in
            zip(ei.t().tolist(), b.data[follows].edge_attr[:, 0])}
    assert attr == {(0, 1): 1.0, (1, 0): 1.0, (1, 2): 2.0, (2, 1): 2.0}


def test_from_networkx_per_type_features_categories_and_texts():
    g = typed_graph(True)
    g.nodes["u1"].update(country="FR", bio="collector of vintage cameras")
    g.nodes["u2"].update(country="DE", bio="")
    g.nodes["u3"].update(country="FR", bio="free money, click this link")
    g.nodes["d1"]["os"] = "ios"
    b = from_networkx(g, features={"user": ["age"], "device": ["score"]},
                      categorical={"user": ["country"], "device": ["os"]},
                      text={"user": ["bio"]}, text_encoder={"name": "tfidf", "dim": 2},
                      use_cache=False)
    assert b.feature_names["user"] == ["age", "country=DE", "country=FR"]
    assert b.data["user"].x.tolist() == [[30, 0, 1], [40, 1, 0], [50, 0, 1]]
    assert b.feature_names["device"] == ["score", "os=ios"]
    assert b.data["device"].x.tolist() == [[0.0, 1.0], [1.0, 0.0]]   # d2: no os
    # the bios become text observations (u2's empty bio is no observation)
    assert b.modality["user_bio"] == "text"
    assert b.ids.ids("user_bio").tolist() == ["u1", "u3"]
    assert b.data["user_bio"].x.shape == (2, 2)
    ei = b.data["user", "has_bio", "user_bio"].edge_index
    assert b.ids.external("user", ei[0]) == ["u1", "u3"]
    assert ("user_bio", "rev_has_bio", "user") in b.data.edge_types


@pytest.mark.parametrize("order", [["u1", "d1", "d2", "u2"], ["d1", "u1", "u2", "d2"],
                                   ["d2", "u2", "u1", "d1"]])
def test_from_networkx_undirected_cross_type_is_one_relation(order):
    # networkx may yield an undirected edge in either orientation depending on node
    # insertion order; it is still one relation, plus its reverse
    types = {"u1": "user", "u2": "user", "d1": "device", "d2": "device"}
    g = nx.Graph()
    for n in order:
        g.add_node(n, type=types[n])
    g.add_edge("u1", "d1", type="uses")
    g.add_edge("u2", "d2", type="uses")
    b = from_networkx(g)
    assert len(b.edge_types) == 1 and len(b.data.edge_types) == 2
    (et,) = b.edge_types
    ei = b.data[et].edge_index
    pairs = {frozenset((a, c)) for a, c in zip(b.ids.external(et[0], ei[0]),
                                               b.ids.external(et[2], ei[1]))}
    assert pairs == {frozenset(("u1", "d1")), frozenset(("u2", "d2"))}


def test_from_networkx_default_relation_name():
    g = nx.DiGraph()
    g.add_node(1, type="a")
    g.add_node(2, type="b")
    g.add_edge(1, 2)
    b = from_networkx(g)
    assert b.edge_types == [("a", "to", "b")]


@pytest.mark.parametrize("broken", ["node-type", "feature", "edge-attr"])
def test_from_networkx_errors(broken):
    g = typed_graph(True)
    kwargs = {}
    if broken == "node-type":
        g.add_node("x9")
        column = "type"
    elif broken == "feature":
        g.nodes["u2"]["age"] = "old"
        kwargs, column = {"features": ["age"]}, "age"
    else:
        del g.edges["u2", "d1"]["amount"]
        kwargs, column = {"edge_attrs": ["amount"]}, "amount"
    with pytest.raises(DataValidationError) as exc:
        from_networkx(g, **kwargs)
    assert exc.value.table == "networkx" and exc.value.column == column
    assert f"column '{column}'" in str(exc.value)


# ---------------------------------------------------------------- Data
def test_from_data_directed_gets_reverse():
    data = Data(x=torch.arange(8.).view(4, 2), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]),
                edge_attr=torch.tensor([1., 2., 3.]))
    before = _snapshot(data)
    b = from_data(data)
    _assert_same(before, data)
    assert b.node_types == ["node"]
    assert b.ids.ids("node").tolist() == [0, 1, 2, 3]
    assert torch.equal(b.data["node"].x, data.x)
    assert b.data[NODE].edge_index.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert b.data[REV_NODE].edge_index.tolist() == [[1, 2, 3], [0, 1, 2]]
    assert b.data[NODE].edge_attr.tolist() == [[1.], [2.], [3.]]
    assert b.edge_types == [NODE]


def test_from_data_undirected_gets_no_duplicate_reverse():
    ei = to_undirected(torch.tensor([[0, 1, 2], [1, 2, 3]]))
    data = Data(x=torch.randn(4, 3), edge_index=ei)
    b = from_data(data)
    assert b.data.edge_types == [NODE]
    assert torch.equal(b.data[NODE].edge_index, ei)
    assert b.data[NODE].num_edges == 6


def test_from_data_without_features():
    b = from_data(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=3))
    assert b.data["node"].num_nodes == 3
    assert "x" not in b.data["node"] and b.feature_names["node"] == []


# ---------------------------------------------------------------- HeteroData
def hetero() -> HeteroData:
    h = HeteroData()
    h["user"].x = torch.arange(6, dtype=torch.float64).view(3, 2)
    h["item"].x = torch.arange(4.)                    # 1-D: becomes [4, 1]
    h["user", "buys", "item"].edge_index = torch.tensor([[0, 1, 2, 2], [0, 1, 2, 3]])
    h["user", "buys", "item"].edge_attr = torch.tensor([10., 20., 30., 40.])
    h["user", "knows", "user"].edge_index = torch.tensor([[0, 1], [1, 0]])   # symmetric
    h["user", "trusts", "user"].edge_index = torch.tensor([[0, 1], [1, 2]])  # directed
    return h


def test_from_hetero_data_adds_reverse_and_does_not_mutate():
    h = hetero()
    before = _snapshot(h)
    types_before = list(h.edge_types)
    b = from_hetero_data(h)
    _assert_same(before, h)
    assert list(h.edge_types) == types_before
    buys, rev = ("user", "buys", "item"), ("item", "rev_buys", "user")
    assert set(b.data.edge_types) == {buys, rev, ("user", "knows", "user"),
                                      ("user", "trusts", "user"),
                                      ("user", "rev_trusts", "user")}
    assert torch.equal(b.data[rev].edge_index, h[buys].edge_index.flip(0))
    assert b.data[rev].edge_attr.tolist() == [[10.], [20.], [30.], [40.]]
    assert b.data["user"].x.dtype == torch.float32
    assert b.data["item"].x.tolist() == [[0.], [1.], [2.], [3.]]
    assert b.feature_names == {"user": ["x0", "x1"], "item": ["x0"]}
    assert b.edge_attr_names == {buys: ["attr0"]}
    assert b.ids.ids("item").tolist() == [0, 1, 2, 3]


def test_from_hetero_data_keeps_given_reverse():
    h = hetero()
    h["item", "rev_buys", "user"].edge_index = torch.tensor([[3], [2]])
    b = from_hetero_data(h)
    assert b.data["item", "rev_buys", "user"].edge_index.tolist() == [[3], [2]]
    assert sum(et[1] == "rev_buys" for et in b.data.edge_types) == 1
    assert ("user", "rev_rev_buys", "item") not in b.data.edge_types


def test_as_bundle_dispatch(bundle):
    assert as_bundle(bundle) is bundle
    assert as_bundle(hetero()).node_types == ["user", "item"]
    assert as_bundle(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2)).node_types \
        == ["node"]
    with pytest.raises(TypeError, match="GraphBundle, HeteroData or Data"):
        as_bundle({"user": 1})


def test_from_hetero_data_keeps_edge_times_on_both_directions():
    """PyG's ``data[rel].time`` (edge times) travels into the bundle, as float64, and to
    the added reverse relation; the caller's tensor is not changed."""
    h = HeteroData()
    h["user"].num_nodes, h["shop"].num_nodes = 3, 2
    h["user", "pays", "shop"].edge_index = torch.tensor([[0, 1, 2], [0, 1, 1]])
    h["user", "pays", "shop"].time = torch.tensor([10, 20, 30])
    b = from_hetero_data(h)
    assert b.data["user", "pays", "shop"].time.dtype == torch.float64
    assert b.data["user", "pays", "shop"].time.tolist() == [10.0, 20.0, 30.0]
    assert b.data["shop", "rev_pays", "user"].time.tolist() == [10.0, 20.0, 30.0]
    assert h["user", "pays", "shop"].time.dtype == torch.int64
