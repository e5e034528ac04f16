"""Synthetic scale graphs (what they plant) and `graphad bench scale --quick`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphad.cli import main
from graphad.data import build_graph
from graphad.datasets.scale import FARM_SIZE, RING_SIZE, make_scale_graph


def test_scale_graph_is_seeded_and_plants_what_it_says():
    g = make_scale_graph(1000, seed=3)
    again = make_scale_graph(1000, seed=3)
    for name, frame in g.tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[name])
    assert not g.tables["uses"].equals(make_scale_graph(1000, seed=4).tables["uses"])
    labels = g.labels.set_index("id")
    assert labels.label.sum() == 50                               # 5 % of the users
    assert set(labels.anomaly_type) == {"normal", "attribute", "farm", "ring", "burst"}
    assert 11 < g.n_edges / 1000 < 13
    uses = g.tables["uses"]
    farm = labels.index[labels.anomaly_type == "farm"]
    per_device = uses[uses.user_id.isin(farm)].groupby("device_id").user_id.nunique()
    assert per_device.max() >= FARM_SIZE - 2              # accounts packed on one device
    ring = set(labels.index[labels.anomaly_type == "ring"])
    fol = g.tables["follows"]
    inside = fol[fol.src.isin(ring) & fol.dst.isin(ring)]
    assert len(inside) >= len(ring) * (RING_SIZE - 2)     # near-cliques
    pays = g.tables["pays"]
    burst = labels.index[labels.anomaly_type == "burst"]
    assert pays[pays.user_id.isin(burst)].amount.median() > 5 * pays.amount.median()
    bundle = build_graph(g.tables, g.schema, use_cache=False)
    assert bundle.data["user"].x.shape == (1000, 16)
    with pytest.raises(ValueError, match="at least 200"):
        make_scale_graph(50)


def test_bench_scale_quick_writes_its_table(tmp_path, capsys):
    out = tmp_path / "scale"
    assert main(["bench", "scale", "--quick", "--out", str(out)]) == 0
    rows = pd.read_csv(out / "scale.csv")
    assert rows.users.tolist() == [300, 600]
    assert (rows.edges > 10 * rows.users).all() and (rows.fit_s > 0).all()
    assert rows.auroc.between(0, 1).all() and (rows.peak_mb > 0).all()
    assert rows.train_steps.tolist() == [3, 3]     # full-batch: one step per epoch
    assert (rows.bare_pyg_s > 0).all()
    assert np.allclose(rows.score_vs_bare, rows.score_s / rows.bare_pyg_s)
    page = (out / "SCALE.md").read_text()
    assert "graphad bench scale --users 300,600 --epochs 3" in page and "slope" in page
    assert "| full-batch, 3 steps |" in page and "| score / bare |" in page
    assert np.isfinite(float(capsys.readouterr().out.rsplit(":", 1)[1]))
    assert main(["bench", "scale", "--users", "10,x", "--out", str(out)]) == 1
    assert "--users expects integers" in capsys.readouterr().err
