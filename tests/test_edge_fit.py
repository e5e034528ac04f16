"""Edge fit: a review whose text and rating disagree."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from graphad.data.convert import from_hetero_data
from graphad.detectors.gae import MultimodalGAE
from graphad.nn.families.edge_fit import loo_r2
from graphad.scoring.explain import explain, explain_many

from planted import check_saved_before

CONTRADICTED = [0, 1, 2]


def review_site(seed: int = 0):
    """300 users, 40 products, 1,200 reviews whose 16-dim text embedding carries the
    rating (a sentiment direction plus noise); reviews 0-2 read glowing (5 stars) but
    rate 1."""
    rng = np.random.default_rng(seed)
    n = 1200
    rating = rng.choice(5, n, p=[0.08, 0.07, 0.15, 0.3, 0.4]) + 1.0
    said = rating.copy()
    said[CONTRADICTED], rating[CONTRADICTED] = 5.0, 1.0
    sentiment = rng.normal(size=16)
    text = np.outer(said - 3.5, sentiment) / 2 + rng.normal(size=(n, 16))
    h = HeteroData()
    h["user"].x = torch.tensor(rng.normal(size=(300, 2)), dtype=torch.float32)
    h["product"].x = torch.tensor(rng.normal(size=(40, 2)), dtype=torch.float32)
    h["review"].x = torch.tensor(text, dtype=torch.float32)
    h["user", "wrote", "review"].edge_index = torch.tensor(
        np.stack([rng.integers(0, 300, n), np.arange(n)]))
    about = h["review", "about", "product"]
    about.edge_index = torch.tensor(np.stack([np.arange(n), rng.integers(0, 40, n)]))
    about.edge_attr = torch.tensor(rating, dtype=torch.float32).view(-1, 1)
    bundle = from_hetero_data(h)
    bundle.modality["review"] = "text"
    return bundle


def test_loo_r2_of_a_linear_signal_and_of_noise():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(400, 5)))
    y = x[:, 0] * 2 + torch.tensor(rng.normal(size=400))
    assert abs(loo_r2(x, y)[0] - 0.8) < 0.05                     # 4 / (4 + 1)
    assert loo_r2(x, torch.tensor(rng.normal(size=400)))[0] < 0.02


def test_a_glowing_review_rated_one_star_leads_edge_fit():
    bundle = review_site()
    det = MultimodalGAE(epochs=20, seed=0).fit(bundle)
    comps = det.score_components(bundle)
    assert "edge_fit" in comps["review"]
    assert "edge_fit" not in comps["user"]               # no attributed edges
    assert "edge_fit" not in comps["product"]            # its features say nothing of it
    fit = comps["review"]["edge_fit"]
    assert set(torch.argsort(fit, descending=True)[:3].tolist()) == set(CONTRADICTED)
    scores = det.decision_function(bundle)["review"]
    top = set(torch.argsort(scores, descending=True)[:12].tolist())        # top 1%
    assert set(CONTRADICTED) <= top
    # the explanation: the rating, what the text predicts, in the rating's own units
    ex = explain(bundle, ("review", bundle.ids.external("review", [0])[0]), det)
    row = ex.edge_fit.iloc[0]
    assert (row["attribute"], row["edges"], row["units"]) == ("attr0", 1, "raw")
    assert row["value"] == pytest.approx(1.0, abs=1e-4)
    assert row["expected"] > 3.5 and row["z"] < -3        # it reads like five stars
    # what the text predicts stays on the ratings' scale (a line overshoots 5 for the
    # most glowing texts)
    rated = bundle.data["review", "about", "product"].edge_attr.view(-1)   # review i: edge i
    glowing = torch.nonzero(rated == 5).view(-1)[:40].tolist()
    expected = [ex.edge_fit["expected"].iloc[0] for ex in explain_many(
        bundle, [("review", i) for i in bundle.ids.external("review", glowing)], det)]
    assert max(expected) == pytest.approx(5.0) and min(expected) >= 1.0
    assert row["predicted_from"] == "its text"
    assert ex.reason.startswith(f"review {ex.node_id}: its attr0 1 on its about edge "
                                f"where its text predicts ")
    # a rating the text does not carry (R^2 below R2_MIN): no component
    plain = review_site()
    plain.data["review"].x = plain.data["review"].x[torch.randperm(1200)]
    fitted = MultimodalGAE(epochs=5, seed=0).fit(plain)
    assert "edge_fit" not in fitted.score_components(plain)["review"]


def test_a_model_saved_before_edge_fit_scores_without_it(tmp_path, monkeypatch):
    check_saved_before(monkeypatch, tmp_path, "edge_fit", review_site(), "review",
                       epochs=5, seed=0)
