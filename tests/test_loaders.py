"""Benchmark loaders against the published figures of ../shared/datasets/README.md.

Edge counts are recomputed here with plain numpy from each file's own ``edge_index``.
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from graphad.datasets import available, load, load_bitcoin_alpha, load_npz
from graphad.datasets.loaders import data_root as find_data_root
from graphad.errors import DataValidationError, GraphadError

# name -> (nodes, anomalies) from the README table
README = {
    "disney": (124, 6), "books": (1418, 28), "enron": (13533, 5), "reddit": (10984, 366),
    "inj_cora": (2708, 138), "inj_amazon": (13752, 694), "amazon_upu": (10224, 693),
    "facebook": (1081, 25), "tolokers": (11758, 2566),
}
BIG = {"inj_amazon", "tolokers", "reddit", "enron", "amazon_upu"}
NODE = ("node", "to", "node")


def undirected_pairs(edge_index: np.ndarray, n: int) -> np.ndarray:
    """Sorted unique ``src * n + dst`` codes of the undirected, loop-free edge set."""
    src, dst = edge_index
    keep = src != dst
    src, dst = src[keep], dst[keep]
    both = np.concatenate([src * n + dst, dst * n + src])
    return np.unique(both)


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(README))
def test_npz_loader_matches_readme_and_file(data_root, name):
    nodes, anomalies = README[name]
    path = data_root / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"{path} absent")
    g = load(name, data_root)
    z = np.load(path)
    data = g.bundle.data
    assert g.name == name and g.target_type == "node"
    assert data["node"].num_nodes == nodes
    assert torch.equal(data["node"].x, torch.as_tensor(z["x"], dtype=torch.float32))
    assert len(g.labels) == nodes
    assert int(g.labels["label"].sum()) == anomalies == int((z["y"] == 1).sum())
    assert g.labels["id"].tolist() == list(range(nodes))
    assert (g.labels["node_type"] == "node").all()
    # edges: undirected, deduplicated, no self-loops; symmetric so no extra reverse
    expected = undirected_pairs(z["edge_index"].astype(np.int64), nodes)
    ei = data[NODE].edge_index.numpy()
    got = ei[0] * nodes + ei[1]
    assert len(got) == len(expected)
    np.testing.assert_array_equal(np.sort(got), expected)
    assert data.edge_types == [NODE]
    if "y_kind" in z.files:
        kinds = g.labels.loc[g.labels["label"] == 1, "anomaly_type"]
        assert set(kinds) <= {"contextual", "structural", "contextual+structural"}
        assert (g.labels.loc[g.labels["label"] == 0, "anomaly_type"] == "none").all()
        assert int((kinds != "structural").sum()) == int(((z["y_kind"] & 1) > 0).sum())


def _csv_rows(path: Path) -> list:
    """The data rows of a small CSV, skipping a header line if there is one."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    return rows if rows[0][0].lstrip("+-").isdigit() else rows[1:]


@pytest.mark.data
def test_bitcoin_alpha(data_root):
    folder = data_root / "bitcoin_alpha"
    if not (folder / "network.csv").exists():
        pytest.skip("bitcoin_alpha absent")
    with pytest.warns(UserWarning, match="could not be encoded and were dropped"):
        g = load("bitcoin_alpha", data_root, use_cache=False)   # one-point series dropped
    rates = ("user", "rates", "user")
    data, ids = g.bundle.data, g.bundle.ids
    net = np.asarray(_csv_rows(folder / "network.csv"), dtype=np.int64)
    n_rows = len(net)
    assert n_rows == 24186
    assert data["user"].num_nodes == 3783
    assert data[rates].num_edges == n_rows
    assert data["user", "rev_rates", "user"].num_edges == n_rows
    # rating and time as edge attributes, in file order
    assert g.bundle.edge_attr_names[rates] == ["rating", "time"]
    assert data[rates].edge_attr.shape == (n_rows, 2)
    ei = data[rates].edge_index
    assert ids.external("user", ei[0][:100]) == net[:100, 0].tolist()
    assert ids.external("user", ei[1][-100:]) == net[-100:, 1].tolist()
    assert g.bundle.edges_raw[rates]["rating"].to_numpy().tolist() == net[:, 2].tolist()
    for j in (0, 1):                      # scaled monotonically: same order as the file
        order = np.argsort(net[:, 2 + j], kind="stable")
        assert (np.diff(data[rates].edge_attr[order, j].numpy()) >= 0).all()
    assert len(set(net[:, 0]) | set(net[:, 1])) == 3783
    # labels: fraud = -1 in gt.csv; the file repeats a few rows, each user counts once
    gt = pd.DataFrame([(int(a), int(b)) for a, b in _csv_rows(folder / "gt.csv")],
                      columns=["node", "label"])
    assert len(gt) == 240
    distinct = gt.drop_duplicates()
    assert g.target_type == "user"
    assert len(g.labels) == distinct["node"].nunique() == 237
    assert int(g.labels["label"].sum()) == int((distinct["label"] < 0).sum()) == 102
    assert not g.labels["id"].duplicated().any()
    assert set(g.labels.loc[g.labels["label"] == 1, "id"]) == \
        set(distinct.loc[distinct["label"] < 0, "node"])
    assert set(g.labels["id"]) <= set(ids.ids("user"))
    # each rated user's received ratings as a series observation
    received = ("user", "received", "received")
    assert data["received"].num_nodes == int((np.bincount(net[:, 1]) >= 2).sum())
    assert data[received].num_edges == data["received"].num_nodes


@pytest.mark.data
def test_available_and_unknown(data_root):
    names = available(data_root)
    present = [n for n in README if (data_root / f"{n}.npz").exists()]
    assert sorted(present) == [n for n in names if n != "bitcoin_alpha"]
    with pytest.raises(GraphadError, match="unknown dataset 'nope'"):
        load("nope", data_root)


# ---------------------------------------------------------------- no shared data needed
def test_data_root_resolution(tmp_path, monkeypatch):
    assert find_data_root(tmp_path) == tmp_path
    monkeypatch.setenv("GRAPHAD_DATA", str(tmp_path))
    assert find_data_root() == tmp_path
    monkeypatch.setenv("GRAPHAD_DATA", str(tmp_path / "missing"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GraphadError, match="GRAPHAD_DATA"):
        find_data_root()


def test_load_npz_small(tmp_path):
    path = tmp_path / "tiny.npz"
    np.savez(path, x=np.eye(4, dtype=np.float32),
             edge_index=np.array([[0, 1, 1, 2, 3], [1, 0, 1, 3, 2]]),   # dup, loop
             y=np.array([0, 1, 0, 0], dtype=np.int8),
             y_kind=np.array([0, 3, 0, 0], dtype=np.int8))
    g = load_npz(path)
    assert g.name == "tiny"
    assert g.bundle.data[NODE].edge_index.tolist() == [[0, 1, 2, 3], [1, 0, 3, 2]]
    assert g.labels["label"].tolist() == [0, 1, 0, 0]
    assert g.labels["anomaly_type"].tolist() == ["none", "contextual+structural", "none",
                                                 "none"]


@pytest.mark.parametrize("arrays, column", [
    ({"x": np.zeros((2, 1)), "y": np.zeros(2)}, "edge_index"),
    ({"x": np.zeros((2, 1)), "edge_index": np.array([[0], [5]]), "y": np.zeros(2)},
     "edge_index"),
])
def test_load_npz_errors(tmp_path, arrays, column):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataValidationError) as exc:
        load_npz(path)
    assert exc.value.table == "bad" and exc.value.column == column


@pytest.mark.parametrize("header", [False, True])
def test_bitcoin_alpha_loader_on_tiny_files(tmp_path, header):
    net = "src,dst,rating,time\n" if header else ""
    net += "1,2,10,100\n3,2,-10,200\n2,3,5,300\n1,3,1,400\n4,3,2,500\n"
    gt = ("node,label\n" if header else "") + "1,+1\n3,-1\n3,-1\n"
    (tmp_path / "network.csv").write_text(net)
    (tmp_path / "gt.csv").write_text(gt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        g = load_bitcoin_alpha(tmp_path, use_cache=False)
    assert g.bundle.ids.ids("user").tolist() == [1, 2, 3, 4]
    rates = ("user", "rates", "user")
    assert g.bundle.data[rates].edge_index.tolist() == [[0, 2, 1, 0, 3], [1, 1, 2, 2, 2]]
    assert g.labels[["id", "label"]].values.tolist() == [[1, 0], [3, 1]]
    assert g.bundle.data["received"].num_nodes == 2       # users 2 and 3 rated >= twice


def test_bitcoin_alpha_conflicting_labels(tmp_path):
    (tmp_path / "network.csv").write_text("1,2,10,100\n2,1,5,200\n1,2,3,300\n")
    (tmp_path / "gt.csv").write_text("1,1\n1,-1\n")
    with pytest.raises(DataValidationError, match="both") as exc:
        load_bitcoin_alpha(tmp_path, with_series=False, use_cache=False)
    assert exc.value.table == "gt" and exc.value.rows == [1]


@pytest.mark.parametrize("network", ["source,target,rating,time\n1,2,3,4\n",
                                     "1,2,3\n2,1,3\n"])
def test_bitcoin_alpha_unexpected_columns(tmp_path, network):
    (tmp_path / "network.csv").write_text(network)
    (tmp_path / "gt.csv").write_text("1,1\n")
    with pytest.raises(DataValidationError, match="expected columns") as exc:
        load_bitcoin_alpha(tmp_path, with_series=False, use_cache=False)
    assert exc.value.table == "network" and exc.value.column == "src"
