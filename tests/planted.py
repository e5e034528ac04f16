"""Small graphs with one planted anomaly, shared by the detector tests."""
from __future__ import annotations

import torch
from torch_geometric.data import HeteroData

PLANTED = 17


def planted_hetero(n_users: int = 80, n_devices: int = 12, seed: int = 0) -> HeteroData:
    """Users with 4 features ~ N(0, 1), user ``PLANTED`` at +12 on all four; devices with
    2 features; every user uses two random devices (edge attribute in [0, 1))."""
    g = torch.Generator().manual_seed(seed)
    h = HeteroData()
    x = torch.randn(n_users, 4, generator=g)
    x[PLANTED] = 12.0
    h["user"].x = x
    h["device"].x = torch.randn(n_devices, 2, generator=g)
    src = torch.arange(n_users).repeat(2)
    dst = torch.randint(0, n_devices, (2 * n_users,), generator=g)
    h["user", "uses", "device"].edge_index = torch.stack([src, dst])
    h["user", "uses", "device"].edge_attr = torch.rand(2 * n_users, 1, generator=g)
    return h


def fit_saved_before(monkeypatch, family: str, graph, **params):
    """A default ``MultimodalGAE`` fitted as a model saved before ``family``'s config
    flag existed (its module config without that key)."""
    from graphad.detectors.gae import MultimodalGAE
    config = MultimodalGAE._module_config
    monkeypatch.setattr(MultimodalGAE, "_module_config", lambda self, data, bundle: {
        k: v for k, v in config(self, data, bundle).items() if k != family})
    try:
        return MultimodalGAE(**params).fit(graph)
    finally:
        monkeypatch.undo()


def check_saved_before(monkeypatch, tmp_path, family: str, graph, node_type: str,
                       **params) -> None:
    """A model saved before ``family`` existed loads without it, has no component of
    it on ``node_type`` and scores that type as it did when fitted."""
    import torch
    from graphad.detectors.gae import MultimodalGAE
    det = fit_saved_before(monkeypatch, family, graph, **params)
    det.save(tmp_path / "old.pt")
    old = MultimodalGAE.load(tmp_path / "old.pt")
    assert family not in old.module_.families
    assert not any(c.split(":")[0] == family
                   for c in old.score_components(graph)[node_type])
    torch.testing.assert_close(old.decision_function(graph)[node_type],
                               det.decision_function(graph)[node_type])
