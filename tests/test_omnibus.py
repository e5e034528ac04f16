"""The omnibus combination: the sparse test (harmonic mean p-value) and the dense test
(mean surprisal), each calibrated on the training nodes, joined by their harmonic mean
p-value. A lone far-out component and a node a little odd everywhere both rank at the
top; contributions add up to the score; a fitted detector keeps the calibration."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphad.errors import GraphadError
from graphad.scoring.combine import (combine_components, omnibus_parts, omnibus_score,
                                     sparse_dense_tests)
from graphad.scoring.normalize import SurprisalNormalizer

N, K = 2000, 10


def _components(seed: int = 0):
    """Surprisal-like components of N ordinary nodes (half at 0, half Exp(1)), node 0
    with one component at 12 nats, node 1 with every component at 2.2 nats."""
    rng = np.random.default_rng(seed)
    s = rng.exponential(1.0, (K, N)) * (rng.random((K, N)) < 0.5)
    s[:, 0] = 0.0
    s[3, 0] = 12.0
    s[:, 1] = 2.2
    return {f"c{k}": torch.tensor(s[k], dtype=torch.float32) for k in range(K)}


def _rank(scores: torch.Tensor, i: int) -> int:
    return int((scores > scores[i]).sum())


def test_omnibus_keeps_sparse_and_dense_evidence():
    comps = _components()
    tests = sparse_dense_tests(comps)
    calibration = SurprisalNormalizer().fit({"t": tests})
    calibrated = calibration.transform({"t": tests})["t"]
    omni = omnibus_score(tests, calibrated)
    hmp, mean = combine_components(comps), combine_components(comps, rule="mean")
    top = N // 100
    assert _rank(hmp, 0) < top and _rank(hmp, 1) >= top        # hmp misses the dense node
    assert _rank(mean, 1) < top and _rank(mean, 0) >= top      # mean dilutes the sparse one
    assert _rank(omni, 0) < top and _rank(omni, 1) < top       # the omnibus keeps both
    # the sparse evidence survives: at least the sparse test's own surprisal
    assert float(omni[0]) >= float(calibrated["hmp"][0]) - 1e-5
    # ordinary nodes keep their order instead of tying at 0
    ordinary = omni[2:]
    assert ordinary.unique().numel() > 0.9 * (N - 2) - (tests["hmp"][2:] == 0).sum()
    parts = omnibus_parts(comps, None, tests, calibrated)
    torch.testing.assert_close(sum(parts.values()), omni, atol=1e-4, rtol=1e-4)
    assert all(float(p.min()) >= 0 for p in parts.values())
    assert max(parts, key=lambda n: float(parts[n][0])) == "c3"   # the far-out one


def test_no_excess_evidence_scores_zero_and_plain_combine_refuses():
    comps = {"a": torch.tensor([0.0, 1.0]), "b": torch.tensor([float("nan"), 0.5])}
    tests = sparse_dense_tests(comps)
    calibrated = SurprisalNormalizer().fit({"t": tests}).transform({"t": tests})["t"]
    assert float(omnibus_score(tests, calibrated)[0]) == 0.0
    with pytest.raises(ValueError, match="omnibus rule needs its calibration"):
        combine_components(comps, rule="omnibus")


def test_detector_with_omnibus_calibrates_nodes_and_edges_and_reloads(bundle, tmp_path):
    from graphad.detectors import MultimodalGAE
    det = MultimodalGAE(epochs=3, hidden=8, seed=0, combination="omnibus").fit(bundle)
    assert set(det.calibration_.center_) == set(bundle.node_types)
    assert det.edge_calibration_ is not None
    comps = det.score_components(bundle)
    scores = det.decision_function(bundle)
    for t, c in comps.items():
        torch.testing.assert_close(sum(det.component_parts(c, t).values()), scores[t],
                                   atol=1e-4, rtol=1e-4)
    assert torch.equal(scores["user"], det.decision_scores_["user"])
    with pytest.raises(GraphadError, match="no omnibus calibration for None"):
        det.component_parts(comps["user"])                # which type's calibration?
    det.save(tmp_path / "m")
    back = MultimodalGAE.load(tmp_path / "m")
    assert torch.equal(back.decision_function(bundle)["user"], scores["user"])
    edges = det.score_edges(bundle)
    assert all(torch.isfinite(v).all() and (v >= 0).all() for v in edges.values())
    hmp = MultimodalGAE(epochs=3, hidden=8, seed=0, combination="hmp").fit(bundle)
    assert hmp.calibration_ is None                      # nothing fitted it does not use
