"""graphad.viz: every figure shows what it claims (counts, members, edges, evidence),
and the HTML report holds the top ids and their embedded figures."""
from __future__ import annotations

import base64
import re

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.image import AxesImage

import graphad
from graphad import viz
from graphad.datasets import make_fraud_network
from graphad.errors import GraphadError
from graphad.scoring.discover import find_suspicious_subgraphs
from graphad.scoring.explain import explain_many

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A 200-user generated fraud network (texts, photos, series), TF-IDF texts."""
    root = tmp_path_factory.mktemp("net")
    net = make_fraud_network(n_users=200, seed=0, image_dir=root / "images")
    graph = graphad.build_graph(net.tables, net.schema, base_dir=net.root, use_cache=False,
                                encoders={"review": {"name": "tfidf", "dim": 16}})
    det = graphad.MultimodalGAE(epochs=15, hidden=16, seed=0).fit(graph)
    return net, graph, det, det.decision_function(graph)


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def test_score_distribution_counts_the_flagged_nodes(fitted):
    _, graph, det, scores = fitted
    fig = viz.plot_score_distribution(scores, det.threshold_, node_types=["user", "review"])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    for t, title in zip(["user", "review"], _titles(fig)):
        s = scores[t]
        flagged = int((s > det.threshold_[t]).sum())
        assert title.startswith(f"{t}: {flagged:,} of {s.numel():,} flagged")
    table = det.scores_frame(graph)
    fig = viz.plot_score_distribution(table)        # a scores table works too
    assert len([ax for ax in fig.axes if ax.get_visible()]) == table.node_type.nunique()
    with pytest.raises(GraphadError, match="no scores for node type"):
        viz.plot_score_distribution(scores, node_types=["nope"])


def test_contribution_bars_add_up_to_the_score(fitted):
    _, graph, det, scores = fitted
    top = graph.ids.external("user", [int(torch.argmax(scores["user"]))])
    ex = explain_many(graph, [("user", top[0])], det)[0]
    fig = viz.plot_contributions(ex, top=50)
    bars = sum(p.get_width() for p in fig.axes[0].patches)
    shown = ex.contributions.contribution
    hidden = shown[shown <= 1e-3 * ex.score].sum()        # drawn bars skip slivers
    assert bars == pytest.approx(ex.score - hidden, rel=1e-6)
    assert f"{ex.score:.2f}" in fig.axes[0].get_title()


def test_subgraph_drawing_shows_members_edges_and_flags(fitted):
    _, graph, det, scores = fitted
    sg = find_suspicious_subgraphs(graph, det, scores=scores, k=1)[0]
    fig = viz.draw_subgraph(graph, sg, scores=scores, thresholds=det.threshold_)
    ax = fig.axes[0]
    nodes = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in nodes) == sg.size
    rings = sum(int((np.asarray(c.get_edgecolors())[:, :3]
                     != 1.0).any(axis=1).sum()) for c in nodes)
    assert rings == sum(len(v) for v in sg.seeds.values())
    # the edges drawn are exactly the relations' edges with both ends in the group
    members = {t: set(ids) for t, ids in sg.members.items()}
    expected = 0
    for et in graph.edge_types:
        ei = graph.data[et].edge_index
        src = graph.ids.external(et[0], ei[0].tolist())
        dst = graph.ids.external(et[2], ei[1].tolist())
        expected += sum(a in members.get(et[0], ()) and b in members.get(et[2], ())
                        for a, b in zip(src, dst))
    assert f"{expected} edges" in ax.get_title()
    with pytest.raises(GraphadError, match="not in the graph"):
        viz.draw_subgraph(graph, {"user": ["no-such-user"]})


def test_edge_attributes_label_small_groups(fitted):
    net, graph, det, scores = fitted
    pays = net.tables["payments"].iloc[0]
    fig = viz.draw_subgraph(graph, {"user": [pays.user_id], "merchant": [pays.merchant_id]},
                            scores=scores)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert any(label.startswith("amount ") for label in labels)


def test_linked_observations_are_the_nodes_texts_photos_and_series(fitted):
    net, graph, det, scores = fitted
    reviews = net.tables["reviews"]
    user = reviews.user_id.value_counts().index[0]          # a user with several texts
    obs = viz.linked_observations(graph, ("user", user), scores)
    texts = [o for o in obs if o.modality == "text"]
    assert {o.id for o in texts} == set(reviews.loc[reviews.user_id == user, "review_id"])
    assert [o.score for o in texts] == sorted((o.score for o in texts), reverse=True)
    by_id = reviews.set_index("review_id").text
    assert all(o.item == by_id[o.id] for o in texts)
    photos = net.tables["user_photo"]
    assert {o.id for o in obs if o.modality == "image"} == set(
        photos.loc[photos.user_id == user, "photo_id"])
    assert all(o.item.name == f"{o.id}.png" for o in obs if o.modality == "image")
    series = [o for o in obs if o.modality == "series"]
    points = net.tables["transactions"]
    for o in series:
        mine = points[points.series_id == o.id].sort_values("ts", kind="stable")
        np.testing.assert_allclose(o.item[1], mine.amount.to_numpy())


def test_evidence_panel_draws_thumbnails_and_the_peer_band(fitted):
    net, graph, det, scores = fitted
    photos = net.tables["user_photo"]
    user = next(u for u in photos.user_id if u in set(net.tables["series"].user_id))
    fig = viz.evidence_panel(graph, f"user:{user}", scores=scores)
    images = [a for ax in fig.axes for a in ax.get_images() if isinstance(a, AxesImage)]
    assert len(images) == (photos.user_id == user).sum()
    bands = [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    with pytest.raises(GraphadError, match="no text, image or series"):
        viz.evidence_panel(graph, ("device", graph.ids.external("device", [0])[0]))


def test_series_band_keeps_each_series_total_and_orders_its_quantiles(fitted):
    _, graph, _, _ = fitted
    band = viz.series_band(graph, "spend")
    assert band.dates                                  # unix seconds read as dates
    assert (band.lo <= band.mid + 1e-9).all() and (band.mid <= band.hi + 1e-9).all()
    for times, values in graph.items["spend"][:20]:
        assert band.binned(times, values).sum() == pytest.approx(values.sum())


def test_cross_modal_panel_shows_the_pair_that_disagrees_most(fitted):
    net, graph, det, scores = fitted
    labels = net.labels
    users = labels[(labels.node_type == "user") & (labels.anomaly_type == "cross_modal")].id
    ex = explain_many(graph, [("user", u) for u in users], det)
    ex = next(e for e in ex if not e.modalities.empty)
    pair = ex.modalities.sort_values("z", ascending=False).pair.iloc[0]
    fig = viz.plot_cross_modal(graph, ex, scores=scores)
    assert pair in fig._suptitle.get_text()
    a, b = [p.strip() for p in pair.split("~")]
    shown = " ".join(_titles(fig)) + " ".join(t.get_text() for ax in fig.axes
                                               for t in ax.texts)
    assert a in shown and b in shown


def test_report_holds_the_top_ids_and_embedded_figures(fitted, tmp_path):
    _, graph, det, scores = fitted
    out = viz.write_report(tmp_path / "r.html", graph, det, top=7, subgraphs=2,
                           node_types=["user"])
    page = out.read_text(encoding="utf-8")
    order = torch.argsort(scores["user"], descending=True, stable=True)[:7]
    for node_id in graph.ids.external("user", order.tolist()):
        assert f'id="n-user-{node_id}"' in page
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(pngs) >= 1 + 2                          # distribution + 2 groups at least
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "http://" not in page and "https://" not in page     # opens offline
    n = graph.data["user"].num_nodes
    assert "<th>rank in type</th>" in page and f"<td>1 of {n}</td>" in page
    with pytest.raises(GraphadError, match=".html"):
        viz.write_report(tmp_path / "r.pdf", graph, det)
    assert not (tmp_path / "r.pdf").exists()
