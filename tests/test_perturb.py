"""Benchmark perturbations: each changes exactly the share it claims, is seeded, and
never touches its input."""
from __future__ import annotations

import pytest
import torch

from graphad.bench.perturb import drop_observations, misalign_observations, noise_embeddings
from graphad.data import build_graph
from graphad.errors import GraphadError

WROTE = ("user", "wrote", "review")


@pytest.fixture
def graph(tables, schema_dict):
    return build_graph(tables, schema_dict, use_cache=False)


def _snapshot(bundle):
    return {k: v.clone() for store in bundle.data.stores for k, v in store.items()
            if torch.is_tensor(v)}, {t: list(bundle.ids.ids(t)) for t in bundle.node_types}


def _same(before, bundle):
    tensors, ids = _snapshot(bundle)
    assert ids == before[1]
    assert all(torch.equal(tensors[k], v) for k, v in before[0].items())


def test_drop_removes_exactly_the_share_and_their_edges(graph):
    before = _snapshot(graph)
    out = drop_observations(graph, "review", 0.5, seed=1)
    _same(before, graph)
    assert out.data["review"].num_nodes == 2 and graph.data["review"].num_nodes == 4
    kept = list(out.ids.ids("review"))
    assert len(kept) == 2 and set(kept) < set(graph.ids.ids("review"))
    # every remaining edge still joins the same user and review as before
    ei = out.data[WROTE].edge_index
    pairs = set(zip(out.ids.external("user", ei[0]), out.ids.external("review", ei[1])))
    old = graph.data[WROTE].edge_index
    old_pairs = set(zip(graph.ids.external("user", old[0]),
                        graph.ids.external("review", old[1])))
    assert len(pairs) == 2 and pairs <= old_pairs
    assert torch.equal(out.data["review"].x,
                       graph.data["review"].x[graph.ids.ids("review").get_indexer(kept)])
    assert out.data["user"].num_nodes == 5                     # entities all kept
    again = drop_observations(graph, "review", 0.5, seed=1)
    assert list(again.ids.ids("review")) == kept


def test_noise_changes_exactly_the_share_of_rows(graph):
    before = _snapshot(graph)
    out = noise_embeddings(graph, "review", level=1.0, share=0.5, seed=0)
    _same(before, graph)
    changed = (out.data["review"].x != graph.data["review"].x).any(dim=1)
    assert int(changed.sum()) == 2
    same = noise_embeddings(graph, "review", level=1.0, share=0.5, seed=0)
    assert torch.equal(same.data["review"].x, out.data["review"].x)


def test_misalign_moves_exactly_the_share_to_other_entities(graph):
    before = _snapshot(graph)
    out, moved = misalign_observations(graph, "review", 0.5, seed=3)
    _same(before, graph)
    old, new = graph.data[WROTE].edge_index, out.data[WROTE].edge_index
    differs = old[0] != new[0]
    assert int(differs.sum()) == 2 and torch.equal(torch.nonzero(differs).view(-1), moved)
    assert torch.equal(old[1], new[1])                    # the same observations
    rev = out.data["review", "rev_wrote", "user"].edge_index
    assert torch.equal(rev, new.flip(0))


def test_bad_requests_are_refused(graph):
    with pytest.raises(GraphadError, match="share must be in"):
        drop_observations(graph, "review", 1.5)
    with pytest.raises(GraphadError, match="no node type 'photo'"):
        noise_embeddings(graph, "photo", 1.0)


def test_shift_series_moves_exactly_the_share_and_re_embeds_them(graph):
    from graphad.bench.perturb import shift_series
    before = _snapshot(graph)
    out, moved = shift_series(graph, "spend", 1 / 3, shift=100.0, seed=0)
    _same(before, graph)
    assert len(moved) == 1
    i = int(moved[0])
    times, values = out.items["spend"][i]
    old_times, old_values = graph.items["spend"][i]
    assert (times == old_times + 100.0).all() and (values == old_values).all()
    others = [j for j in range(3) if j != i]
    x_old, x_new = graph.data["spend"].x, out.data["spend"].x
    assert torch.equal(x_new[others], x_old[others])
    encoder = graph.transforms["encoder:spend"]
    assert torch.allclose(x_new[i], encoder.encode([(times, values)]).float()[0])
    with pytest.raises(GraphadError, match="not a series type"):
        shift_series(graph, "review", 0.5, shift=1.0)
