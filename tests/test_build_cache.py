"""A second build of the same graph embeds nothing, also after a process restart."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from graphad.data.build import build_graph  # noqa: E402
from graphad.datasets import make_fraud_network  # noqa: E402


def _model_calls(bundle):
    return {k: v.model_calls for k, v in bundle.transforms.items()
            if k.startswith("encoder:")}


@pytest.fixture(scope="module")
def small_network(tmp_path_factory):
    return make_fraud_network(n_users=60, seed=3,
                              image_dir=tmp_path_factory.mktemp("net") / "images")


@pytest.mark.parametrize("encoders", [
    {"review": {"name": "tfidf", "dim": 8}},
    {},  # the real defaults: MiniLM text, EfficientNet-Lite0 images, series stats
])
def test_second_build_makes_zero_model_calls(small_network, tmp_path, encoders):
    net = small_network
    first = build_graph(net.tables, net.schema, base_dir=net.root, cache_dir=tmp_path,
                        encoders=encoders)
    assert all(n > 0 for n in _model_calls(first).values())
    second = build_graph(net.tables, net.schema, base_dir=net.root, cache_dir=tmp_path,
                         encoders=encoders)
    assert _model_calls(second) == {k: 0 for k in _model_calls(first)}
    for t in first.node_types:
        if "x" in first.data[t]:
            assert torch.equal(first.data[t].x, second.data[t].x), t


def test_cache_survives_a_process_restart(small_network, tmp_path):
    net = small_network
    build_graph(net.tables, net.schema, base_dir=net.root, cache_dir=tmp_path)
    script = textwrap.dedent(f"""
        import os, pickle
        os.environ["HF_HUB_OFFLINE"] = "1"
        from graphad.data.build import build_graph
        tables, schema, root = pickle.load(open({str(tmp_path / 'net.pkl')!r}, "rb"))
        b = build_graph(tables, schema, base_dir=root, cache_dir={str(tmp_path)!r})
        print(sum(v.model_calls for k, v in b.transforms.items() if k.startswith("encoder:")))
    """)
    import pickle
    with open(tmp_path / "net.pkl", "wb") as fh:
        pickle.dump((net.tables, net.schema, net.root), fh)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "0"
