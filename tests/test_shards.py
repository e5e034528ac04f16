"""Sharded, resumable scoring: score_shard rows, hive folders, manifest, resume, and a
run killed at random points that resumes to exactly the rows of an undisturbed run."""
from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from graphad.detectors import MultimodalGAE
from graphad.errors import GraphadError
from graphad.scoring.shards import MANIFEST, read_manifest, score_shard, write_shards


@pytest.fixture(scope="module")
def fitted():
    from conftest import make_schema, make_tables
    from graphad.data import build_graph
    graph = build_graph(make_tables(), make_schema(), use_cache=False)
    det = MultimodalGAE(epochs=3, hidden=8, seed=0).fit(graph)
    return graph, det, det.scores_frame(graph)


def _read(folder) -> pd.DataFrame:
    table = ds.dataset(str(folder), format="parquet", partitioning="hive").to_table()
    frame = table.to_pandas()
    frame["node_type"] = frame["node_type"].astype(str)
    return frame.sort_values(["node_type", "id"]).reset_index(drop=True)


def test_score_shard_gives_the_rows_of_its_seeds_in_order(fitted):
    graph, det, frame = fitted
    part = score_shard(det, graph, "user", ["u5", "u2"]).to_pandas()
    users = frame[frame.node_type == "user"].set_index("id")
    assert part["id"].tolist() == ["u5", "u2"]
    for col in ("score", "rank", "pred", "confidence", "c_attribute"):
        np.testing.assert_allclose(part[col], users.loc[["u5", "u2"], col])
    assert "c_attribute" in part and not part.isna().all().any()   # no foreign columns
    merchant = score_shard(det, graph, "merchant", ["300"], scored=frame).to_pandas()
    assert merchant["id"].tolist() == ["300"]                      # ids as text
    with pytest.raises(GraphadError, match="1 user id\\(s\\) not in the graph: 'ghost'"):
        score_shard(det, graph, "user", ["u1", "ghost"])


def test_shards_hold_every_row_once_and_resume(fitted, tmp_path):
    graph, det, frame = fitted
    out = tmp_path / "scores"
    done = write_shards(det, graph, out, shard_size=2)
    counts = {t: graph.data[t].num_nodes for t in graph.node_types}
    assert done["shards"] == sum(-(-n // 2) for n in counts.values())
    assert done["rows"] == len(frame) and done["resumed"] == 0
    assert (out / "node_type=user" / "part-00002.parquet").is_file()
    back = _read(out)
    assert len(back) == len(frame) and not back.duplicated(["node_type", "id"]).any()
    expected = frame.assign(id=frame["id"].astype(str)).sort_values(
        ["node_type", "id"]).reset_index(drop=True)
    np.testing.assert_allclose(back["score"], expected["score"])
    # lose one shard and tear the manifest's last line: only that shard is written again
    (out / "node_type=user" / "part-00001.parquet").unlink()
    with open(out / MANIFEST, "a") as f:
        f.write('{"kind": "shard", "name": "node_type=user/par')
    again = write_shards(det, graph, out, shard_size=2)
    assert again["written"] == 1 and again["resumed"] == done["shards"] - 1
    pd.testing.assert_frame_equal(_read(out), back)
    shards = [r for r in read_manifest(out) if r.get("kind") == "shard"]
    assert all(json.dumps(r) for r in shards) and len(shards) == done["shards"] + 1
    with pytest.raises(GraphadError, match="another model, graph or shard size"):
        write_shards(det, graph, out, shard_size=3)


def test_score_killed_while_writing_shards_resumes_to_the_same_rows(tmp_path):
    """`graphad score --shard-size 1` on 500 users, SIGKILLed at random points, then
    rerun: the folder holds exactly the rows of an undisturbed run."""
    import yaml

    from graphad.cli import main
    from test_faults import _leftovers, _run
    rng = np.random.default_rng(0)
    n = 500
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"user_id": [f"u{i}" for i in range(n)],
                  "age": rng.integers(18, 80, n).astype(float)}).to_parquet(
        data / "users.parquet")
    pd.DataFrame({"src": [f"u{i}" for i in rng.integers(0, n, 4 * n)],
                  "dst": [f"u{i}" for i in rng.integers(0, n, 4 * n)]}).to_parquet(
        data / "follows.parquet")
    schema = {"nodes": {"user": {"table": "users", "id": "user_id", "numeric": ["age"]}},
              "relations": [{"src": "user", "rel": "follows", "dst": "user",
                             "table": "follows", "src_key": "src", "dst_key": "dst"}],
              "tables": {"users": "users.parquet", "follows": "follows.parquet"}}
    (data / "schema.yaml").write_text(yaml.safe_dump(schema))
    model = tmp_path / "model"
    assert main(["fit", "--schema", str(data / "schema.yaml"), "--out", str(model),
                 "--epochs", "2", "--param", "hidden=8"]) == 0
    args = ["--threads", "1", "score", "--model", str(model), "--schema",
            str(data / "schema.yaml"), "--shard-size", "1", "--top", "0"]
    finished, seconds = _run(args + ["--out", str(tmp_path / "ref")])
    assert finished
    reference = _read(tmp_path / "ref")
    assert len(reference) == n
    pick = random.Random(2)
    killed = 0
    for k in range(3):
        out = tmp_path / f"run{k}"
        finished, _ = _run(args + ["--out", str(out)],
                           kill_after=pick.uniform(0.5 * seconds, seconds))
        killed += not finished
        assert _run(args + ["--out", str(out)])[0]
        pd.testing.assert_frame_equal(_read(out), reference)
        assert _leftovers(out / "node_type=user") == []
    assert killed >= 1
