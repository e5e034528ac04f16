"""Units of ``graphad.nn``: the edge-aware SAGE layer, the heterogeneous encoder, the
decoders, the cross-modal ridge maps and the model inputs (tiny inline tensors)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import HeteroData

from graphad.nn.conv import EdgeSAGEConv
from graphad.nn.crossmodal import RIDGE_GRID, CrossModalRidge, loo_alpha, ridge_map
from graphad.nn.decoders import AttributeDecoder, EdgeDecoder
from graphad.nn.encoder import CONVS, HeteroEncoder
from graphad.nn.inputs import (affinity_key, fit_standardiser, has_key, nbr_key,
                               prepare_inputs, sparse_mean, standardise)

# a -> b bipartite: dst 0 has src 0, 1; dst 1 has src 2; dst 2 and 3 have none
BIPARTITE = torch.tensor([[0, 1, 2], [0, 0, 1]])


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- EdgeSAGEConv
@pytest.mark.parametrize("in_channels", [(3, 5), (-1, -1)])
def test_edge_sage_bipartite_shape(in_channels):
    torch.manual_seed(0)
    conv = EdgeSAGEConv(in_channels, 8, edge_dim=2)
    x = (torch.randn(3, 3), torch.randn(4, 5))
    out = conv(x, BIPARTITE, torch.randn(3, 2))
    assert out.shape == (4, 8)
    assert conv.lin_src.in_channels == 3 and conv.lin_dst.in_channels == 5


def test_edge_sage_homogeneous_int_channels():
    torch.manual_seed(0)
    conv = EdgeSAGEConv(-1, 4)
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    assert conv(torch.randn(3, 6), ei).shape == (3, 4)
    assert conv.in_channels == (-1, -1)


def test_edge_sage_by_hand():
    """``W_dst x_v + mean_u ReLU(W_src x_u + W_e e_uv)``; no in-edges: ``W_dst x_v``."""
    torch.manual_seed(0)
    conv = EdgeSAGEConv((3, 5), 4, edge_dim=2)
    x_src, x_dst, ea = torch.randn(3, 3), torch.randn(4, 5), torch.randn(3, 2)
    out = conv((x_src, x_dst), BIPARTITE, ea)
    msg = F.relu(conv.lin_src(x_src) + conv.lin_edge(ea))
    own = conv.lin_dst(x_dst)
    torch.testing.assert_close(out[0], own[0] + (msg[0] + msg[1]) / 2)
    torch.testing.assert_close(out[1], own[1] + msg[2])
    torch.testing.assert_close(out[2:], own[2:])


def test_edge_sage_edge_attr_changes_output():
    torch.manual_seed(0)
    conv = EdgeSAGEConv((3, 5), 4, edge_dim=2)
    x = (torch.randn(3, 3), torch.randn(4, 5))
    ea = torch.randn(3, 2)
    base = conv(x, BIPARTITE, ea)
    changed = ea.clone()
    changed[2] += 5.0                       # only the edge into dst 1
    out = conv(x, BIPARTITE, changed)
    assert not torch.allclose(out[1], base[1])
    torch.testing.assert_close(out[[0, 2, 3]], base[[0, 2, 3]])
    # without edge attributes the layer still runs (messages from nodes only)
    assert not torch.allclose(conv(x, BIPARTITE), base)


def test_edge_sage_without_edge_dim_ignores_edge_attr():
    torch.manual_seed(0)
    conv = EdgeSAGEConv((3, 5), 4)
    x = (torch.randn(3, 3), torch.randn(4, 5))
    assert conv.lin_edge is None
    torch.testing.assert_close(conv(x, BIPARTITE, torch.randn(3, 2)), conv(x, BIPARTITE))


# ---------------------------------------------------------------- HeteroEncoder
def encoder_graph() -> HeteroData:
    """``a -> b`` (edge attributes), ``b -> b``; ``a`` has no incoming edges at all."""
    g = seeded(1)
    h = HeteroData()
    h["a"].x = torch.randn(5, 3, generator=g)
    h["b"].x = torch.randn(4, 6, generator=g)
    h["a", "to", "b"].edge_index = torch.tensor([[0, 1, 2, 3, 4], [0, 0, 1, 2, 3]])
    h["a", "to", "b"].edge_attr = torch.randn(5, 2, generator=g)
    h["b", "near", "b"].edge_index = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    return h


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("layers", [1, 2])
def test_hetero_encoder_shapes(conv, layers):
    torch.manual_seed(0)
    h = encoder_graph()
    enc = HeteroEncoder(h.metadata(), {"a": 3, "b": 6}, hidden=8, layers=layers, conv=conv,
                        edge_dims={("a", "to", "b"): 2})
    z = enc(h.x_dict, h.edge_index_dict, h.edge_attr_dict)
    assert set(z) == {"a", "b"}
    assert z["a"].shape == (5, 8) and z["b"].shape == (4, 8)
    assert all(torch.isfinite(v).all() for v in z.values())
    # without edge attributes too
    z2 = enc(h.x_dict, h.edge_index_dict)
    assert z2["b"].shape == (4, 8)


@pytest.mark.parametrize("conv", CONVS)
def test_hetero_encoder_uses_neighbours(conv):
    """A type that receives messages changes with its neighbours' inputs; one that
    receives none (``a``) does not."""
    torch.manual_seed(0)
    h = encoder_graph()
    enc = HeteroEncoder(h.metadata(), {"a": 3, "b": 6}, hidden=8, layers=2, conv=conv).eval()
    z = enc(h.x_dict, h.edge_index_dict)
    x = dict(h.x_dict)
    x["a"] = x["a"] + 3.0
    z2 = enc(x, h.edge_index_dict)
    assert not torch.allclose(z["b"], z2["b"])
    torch.testing.assert_close(enc(h.x_dict, h.edge_index_dict)["a"], z["a"])


def test_hetero_encoder_bad_conv():
    with pytest.raises(ValueError, match="conv must be one of"):
        HeteroEncoder(encoder_graph().metadata(), {"a": 3, "b": 6}, conv="foo")


# ---------------------------------------------------------------- decoders
def test_decoders_shapes_and_errors():
    torch.manual_seed(0)
    dec = AttributeDecoder(8, 5)
    z, x = torch.randn(4, 8), torch.randn(4, 5)
    torch.testing.assert_close(dec.error(z, x), (dec(z) - x).pow(2).mean(1))
    edge = EdgeDecoder(8, edge_dim=2)
    zs, zd = torch.randn(3, 8), torch.randn(4, 8)
    logit, attr = edge(zs, zd, BIPARTITE)
    assert logit.shape == (3,) and attr.shape == (3, 2)
    torch.testing.assert_close(logit, ((zs[BIPARTITE[0]] @ edge.weight)
                                       * zd[BIPARTITE[1]]).sum(-1))
    ea = torch.randn(3, 2)
    err = edge.edge_errors(zs, zd, BIPARTITE, ea)
    torch.testing.assert_close(err, F.softplus(-logit) + (attr - ea).pow(2).mean(-1))
    assert EdgeDecoder(8).edge_errors(zs, zd, BIPARTITE, None).shape == (3,)


# ---------------------------------------------------------------- CrossModalRidge
A_VIEW = ("a", "of", "user")
B_VIEW = ("b", "of", "user")


def ridge_data(n: int = 60, swap: int = -1, missing: int = -1) -> HeteroData:
    """Views of ``user``: ``B = A @ M`` (``M`` a rotation, so each view predicts the other)
    plus a little noise. ``swap``: that user's B view is flipped; ``missing``: that user
    has no B view."""
    g = seeded(2)
    xa = torch.randn(n, 4, generator=g)
    m = torch.linalg.qr(torch.randn(4, 4, generator=g))[0]
    xb = xa @ m + 0.05 * torch.randn(n, 4, generator=g)
    if swap >= 0:
        xb[swap] = -xb[swap]
    h = HeteroData()
    h["user"].num_nodes = n
    h["user"][nbr_key(A_VIEW)] = xa
    h["user"][has_key(A_VIEW)] = torch.ones(n, dtype=torch.bool)
    h["user"][nbr_key(B_VIEW)] = xb
    has_b = torch.ones(n, dtype=torch.bool)
    if missing >= 0:
        has_b[missing] = False
        xb[missing] = 0.0
    h["user"][has_key(B_VIEW)] = has_b
    return h


def test_crossmodal_ridge_recovers_linear_relation():
    ridge = CrossModalRidge({"user": [A_VIEW, B_VIEW]}).fit(ridge_data())
    ((name, err, both),) = ridge.pair_errors(ridge_data(), "user")
    assert name == "a~b" and both.all()
    assert float(err.max()) < 0.1 and float(err.median()) < 0.03  # consistent: low
    ((_, bad, _),) = ridge.pair_errors(ridge_data(swap=7), "user")
    assert int(bad.argmax()) == 7 and float(bad[7]) > 1.0
    others = torch.ones(60, dtype=torch.bool)
    others[7] = False
    torch.testing.assert_close(bad[others], err[others])


def test_crossmodal_ridge_fitted_with_outlier_still_flags_it():
    data = ridge_data(swap=7)
    ridge = CrossModalRidge({"user": [A_VIEW, B_VIEW]}).fit(data)
    ((_, err, _),) = ridge.pair_errors(data, "user")
    assert int(err.argmax()) == 7
    assert float(err[7]) > 10 * float(err.median())


def test_crossmodal_ridge_missing_view_and_single_view():
    data = ridge_data(missing=3)
    ridge = CrossModalRidge({"user": [A_VIEW, B_VIEW]}).fit(data)
    ((_, err, both),) = ridge.pair_errors(data, "user")
    assert not bool(both[3]) and int(both.sum()) == 59 and float(err[3]) == 0.0
    assert CrossModalRidge({"user": [A_VIEW]}).views == {}   # one modality: no pair


def _centred(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(0)


def test_loo_alpha_is_the_brute_force_leave_one_out_choice():
    g = seeded(5)
    xa = _centred(torch.randn(14, 3, generator=g, dtype=torch.float64))
    xb = _centred(xa @ torch.randn(3, 2, generator=g, dtype=torch.float64)
                  + 0.8 * torch.randn(14, 2, generator=g, dtype=torch.float64))
    n = len(xa)
    brute = []
    for alpha in RIDGE_GRID:
        err = 0.0
        for i in range(n):   # refit without row i, penalty alpha * n as at full size
            keep = torch.arange(n) != i
            a, b = xa[keep], xb[keep]
            w = torch.linalg.solve(a.t() @ a + alpha * n * torch.eye(3), a.t() @ b)
            err += float((xb[i] - xa[i] @ w).pow(2).sum())
        brute.append(err / n)
    assert loo_alpha(xa, xb) == RIDGE_GRID[min(range(len(brute)), key=brute.__getitem__)]


def test_loo_alpha_follows_the_signal():
    g = seeded(6)
    xa = torch.randn(400, 8, generator=g)
    linked = xa @ torch.randn(8, 5, generator=g) + 0.05 * torch.randn(400, 5, generator=g)
    noise = torch.randn(400, 5, generator=g)
    assert loo_alpha(_centred(xa), _centred(linked)) == min(RIDGE_GRID)
    assert loo_alpha(_centred(xa), _centred(noise)) == max(RIDGE_GRID)
    chosen = ridge_map(xa, linked)               # alpha=None: the leave-one-out choice
    fixed = ridge_map(xa, linked, min(RIDGE_GRID))
    torch.testing.assert_close(chosen[0], fixed[0])
    assert not torch.allclose(chosen[0], ridge_map(xa, linked, 1.0)[0])


# ---------------------------------------------------------------- model inputs
def test_sparse_mean_by_hand():
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    mean, has = sparse_mean(x, BIPARTITE, 4)
    torch.testing.assert_close(mean, torch.tensor([[2.0, 1.0], [5.0, 4.0], [0, 0], [0, 0]]))
    assert has.tolist() == [True, True, False, False]


def wide_graph(n: int = 40, d: int = 100, seed: int = 3) -> HeteroData:
    """``doc`` nodes with ``d`` features (a low-rank signal plus noise) and a same-type
    ``cites`` ring; ``tag`` nodes with 2 features pointing at docs."""
    g = seeded(seed)
    h = HeteroData()
    base = torch.randn(n, 5, generator=g) @ torch.randn(5, d, generator=g)
    h["doc"].x = base + 0.1 * torch.randn(n, d, generator=g)
    h["tag"].x = torch.randn(6, 2, generator=g)
    ring = torch.arange(n)
    h["doc", "cites", "doc"].edge_index = torch.stack([ring, (ring + 1) % n])
    h["tag", "on", "doc"].edge_index = torch.stack([torch.arange(n) % 6, torch.arange(n)])
    h["tag", "on", "doc"].edge_attr = torch.rand(n, 1, generator=g) * 100
    return h


def test_prepare_inputs_reduces_wide_inputs():
    h = wide_graph()
    torch.manual_seed(0)
    out, node_stats, edge_stats = prepare_inputs(h, h.x_dict, max_dim=16)
    assert out["doc"].x.shape == (40, 16) and len(node_stats["doc"]) == 3
    assert out["tag"].x.shape == (6, 2) and len(node_stats["tag"]) == 2  # narrow: kept
    # PCA columns keep unit variance on average
    assert abs(float(out["doc"].x.std(0, unbiased=False).mean()) - 1.0) < 1e-4
    # neighbour means are of the reduced inputs
    et = ("doc", "cites", "doc")
    torch.testing.assert_close(out["doc"][nbr_key(et)], out["doc"].x[(torch.arange(40) - 1) % 40])
    # edge attributes are standardised
    ea = out["tag", "on", "doc"].edge_attr
    assert abs(float(ea.mean())) < 1e-5 and abs(float(ea.std(unbiased=False)) - 1) < 1e-4
    # reused statistics: the same columns for another graph of the schema
    h2 = wide_graph(seed=4)
    again, _, _ = prepare_inputs(h2, h2.x_dict, node_stats, edge_stats, max_dim=16)
    full = standardise(h2["doc"].x, node_stats["doc"][:2])
    torch.testing.assert_close(again["doc"].x, full @ node_stats["doc"][2])


def test_prepare_inputs_affinity_on_full_input():
    h = wide_graph()
    torch.manual_seed(0)
    out, node_stats, _ = prepare_inputs(h, h.x_dict, max_dim=16)
    et = ("doc", "cites", "doc")
    full = standardise(h["doc"].x, fit_standardiser(h["doc"].x))
    unit = F.normalize(full, dim=1)
    expected = (unit * unit[(torch.arange(40) - 1) % 40]).sum(1)   # one in-neighbour each
    torch.testing.assert_close(out["doc"][affinity_key(et)], expected)
    reduced = F.normalize(out["doc"].x, dim=1)
    on_reduced = (reduced * reduced[(torch.arange(40) - 1) % 40]).sum(1)
    assert not torch.allclose(on_reduced, expected, atol=1e-3)
    assert affinity_key(("tag", "on", "doc")) not in out["doc"]   # cross-type: none


def test_prepare_inputs_affinity_on_own_features_only():
    """Appended degree columns (structure) leave the local affinity as it is on the
    own features; the same columns counted as own features change it."""
    h = wide_graph(d=6)
    own = h["doc"].x
    ring = torch.arange(40)
    degree = torch.where(ring % 7 == 0, 30.0, 1.0).view(-1, 1)   # a few hubs
    with_degree = {"doc": torch.cat([own, degree], dim=1), "tag": h["tag"].x}
    out, _, _ = prepare_inputs(h, with_degree, own={"doc": 6, "tag": 2})
    et = ("doc", "cites", "doc")
    unit = F.normalize(standardise(own, fit_standardiser(own)), dim=1)
    expected = (unit * unit[(ring - 1) % 40]).sum(1)
    torch.testing.assert_close(out["doc"][affinity_key(et)], expected)
    mixed, _, _ = prepare_inputs(h, with_degree, own={"doc": 7, "tag": 2})
    assert not torch.allclose(mixed["doc"][affinity_key(et)], expected, atol=1e-3)


def test_prepare_inputs_has_key_and_constant_columns():
    h = HeteroData()
    h["u"].x = torch.tensor([[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]])
    h["v"].x = torch.tensor([[0.0], [1.0]])
    h["u", "to", "v"].edge_index = torch.tensor([[0, 2], [0, 0]])
    out, stats, _ = prepare_inputs(h, h.x_dict)
    # a constant column becomes 0, not NaN
    assert torch.isfinite(out["u"].x).all() and (out["u"].x[:, 1] == 0).all()
    assert out["v"][has_key(("u", "to", "v"))].tolist() == [True, False]
    torch.testing.assert_close(out["v"][nbr_key(("u", "to", "v"))][0],
                               (out["u"].x[0] + out["u"].x[2]) / 2)
    assert h["u"].x[0, 0] == 1.0                    # input not modified


def test_structure_reuses_forward_errors_only_for_the_same_edges():
    from graphad.nn.families.structure import _same_edges
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    attr = torch.randn(3, 2)
    err = torch.rand(3)
    assert _same_edges((ei, attr, err), ei.clone(), attr.clone()) is err
    assert _same_edges((ei, None, err), ei.clone(), None) is err
    assert _same_edges((ei, attr, err), ei.flip(1), attr) is None        # other order
    assert _same_edges((ei, attr, err), ei, None) is None                # no attributes
    assert _same_edges((ei, attr, err), ei, attr + 1) is None
    assert _same_edges(None, ei, attr) is None
