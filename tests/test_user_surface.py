"""What a user touches first: PyOD-style calls, one-line CLI errors, a fast --help."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from torch_geometric.data import HeteroData

from graphad.cli import main
from graphad.detectors.gae import MultimodalGAE
from graphad.detectors.registry import make_detector
from graphad.errors import GraphadError

FAST = dict(hidden=8, epochs=5, device="cpu")


def small_graph() -> HeteroData:
    g = torch.Generator().manual_seed(0)
    h = HeteroData()
    h["user"].x = torch.randn(40, 4, generator=g)
    ei = torch.randint(0, 40, (2, 120), generator=g)
    h["user", "follows", "user"].edge_index = ei
    return h


@pytest.fixture(scope="module")
def fitted():
    h = small_graph()
    return h, MultimodalGAE(seed=0, contamination=0.1, **FAST).fit(h)


def test_fit_predict_and_predict_with_confidence(fitted):
    h, det = fitted
    labels = MultimodalGAE(seed=0, contamination=0.1, **FAST).fit_predict(h)
    assert torch.equal(labels["user"], det.labels_["user"])
    assert int(labels["user"].sum()) == 4                   # 10% of 40
    pred, conf = det.predict(h, return_confidence=True)
    assert torch.equal(pred["user"], det.predict(h)["user"])
    assert torch.equal(conf["user"], det.predict_confidence(h)["user"])
    assert conf["user"].shape == (40,) and bool(((conf["user"] >= 0)
                                                 & (conf["user"] <= 1)).all())


def test_scores_frame_matches_the_tensors(fitted):
    h, det = fitted
    frame = det.scores_frame(h)
    assert len(frame) == 40 and set(frame["node_type"]) == {"user"}
    assert {"id", "score", "rank", "pred", "confidence", "c_attribute"} <= set(frame.columns)
    by_id = frame.set_index("id")
    scores = det.decision_function(h)["user"]
    conf = det.predict_confidence(h)["user"]
    for i in (0, 17, 39):
        assert by_id.loc[i, "score"] == pytest.approx(float(scores[i]))
        assert by_id.loc[i, "confidence"] == pytest.approx(float(conf[i]))
    assert int(by_id["rank"].idxmin()) == int(scores.argmax())


def test_unknown_parameter_names_the_known_ones():
    with pytest.raises(GraphadError, match=r"no parameter\(s\) \['foo'\].*hidden"):
        make_detector("gae", foo=1)


def test_cli_errors_are_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    schema = tmp_path / "s.yaml"
    schema.write_text("nodes: {}\n")
    args = ["fit", "--schema", str(schema), "--out", str(tmp_path / "m"),
            "--param", "foo=1"]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("graphad: error:")
    assert "'foo'" in err and "hidden" in err
    assert main(["--debug"] + args) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("graphad: error:")


def test_help_and_version_do_not_load_torch():
    code = ("import sys, time; t = time.perf_counter(); from graphad.cli import main; "
            "rc = main(['--help']); "
            "print(rc, 'torch' in sys.modules, 'sklearn' in sys.modules, "
            "round(time.perf_counter() - t, 3))")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    wall = time.perf_counter() - start
    assert out[-4:-1] == ["0", "False", "False"], out
    assert wall < 10, wall          # loose: measured 0.16 s; a busy machine is slower
