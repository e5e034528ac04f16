"""Fault injection: `graphad score` and an embedding run killed (SIGKILL) at random
points leave no corrupt state; the rerun gives exactly the output of an undisturbed
run and cleans the temporary files of the killed writer."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


KILLS = 4
N_TEXTS = 1500


def _run(args, env=None, kill_after=None):
    """Run ``graphad ARGS`` in a subprocess; SIGKILL it after ``kill_after`` seconds.
    Returns (finished, seconds)."""
    cmd = [sys.executable, "-c", "import sys; from graphad.cli import main; "
                                 "sys.exit(main(sys.argv[1:]))", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return False, time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr.read().decode()
    return True, time.perf_counter() - start


def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from conftest import fit_small_model
    root = tmp_path_factory.mktemp("faults")
    return (root, *fit_small_model(root, "--seed", "0"))


def test_score_killed_at_random_points_resumes_identically(fitted):
    root, schema, model = fitted
    ref_dir = root / "ref"
    args = ["--threads", "1", "score", "--model", str(model), "--schema", str(schema)]
    done, seconds = _run(args + ["--out", str(ref_dir / "s.parquet"),
                                 "--edges", str(ref_dir / "e.parquet")])
    assert done
    reference = {n: pd.read_parquet(ref_dir / n) for n in ("s.parquet", "e.parquet")}
    rng = random.Random(0)
    killed = 0
    for k in range(KILLS):
        out = root / f"run{k}"
        outputs = [out / "s.parquet", out / "e.parquet"]
        finished, _ = _run(args + ["--out", str(outputs[0]), "--edges", str(outputs[1])],
                           kill_after=rng.uniform(0.2, seconds))
        killed += not finished
        for path in outputs:                 # all or nothing: never a partial table
            if path.exists():
                pd.testing.assert_frame_equal(pd.read_parquet(path),
                                              reference[path.name])
        assert _run(args + ["--out", str(outputs[0]), "--edges", str(outputs[1])])[0]
        for path in outputs:
            pd.testing.assert_frame_equal(pd.read_parquet(path), reference[path.name])
        assert _leftovers(out) == []         # the killed writer's temp files are gone
    assert killed >= 1                       # at least one run really died mid-way


def test_embedding_run_killed_at_random_points_leaves_a_usable_cache(tmp_path):
    """The embedding cache is written chunk by chunk (temp file + rename): a run killed
    while embedding leaves only whole chunks, and the next run's embeddings equal a run
    without any cache (to float rounding: batches padded to other lengths)."""
    from graphad.data import build_graph
    texts = [f"review number {i} about item {i % 17} with words {i * 7 % 13}"
             for i in range(N_TEXTS)]
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"user_id": [f"u{i}" for i in range(N_TEXTS)]}).to_parquet(
        data / "users.parquet")
    pd.DataFrame({"review_id": [f"r{i}" for i in range(N_TEXTS)],
                  "user_id": [f"u{i}" for i in range(N_TEXTS)], "text": texts}).to_parquet(
        data / "reviews.parquet")
    schema = {"nodes": {"user": {"table": "users", "id": "user_id"},
                        "review": {"table": "reviews", "id": "review_id",
                                   "modality": "text", "column": "text"}},
              "relations": [{"src": "user", "rel": "wrote", "dst": "review",
                             "table": "reviews", "src_key": "user_id",
                             "dst_key": "review_id"}],
              "tables": {"users": "users.parquet", "reviews": "reviews.parquet"}}
    import yaml
    (data / "schema.yaml").write_text(yaml.safe_dump(schema))
    cache = tmp_path / "cache"
    env = {"GRAPHAD_CACHE": str(cache)}
    args = ["--threads", "1", "fit", "--schema", str(data / "schema.yaml"),
            "--detector", "early-iforest", "--out", str(tmp_path / "m")]
    rng = random.Random(1)
    for _ in range(2):
        _run(args, env=env, kill_after=rng.uniform(3.0, 9.0))
        chunks = list(cache.rglob("*.keys.npy")) if cache.exists() else []
        for keys in chunks:                 # every indexed chunk is whole and readable
            emb = np.load(str(keys).replace(".keys.npy", ".emb.npy"))
            assert len(np.load(keys)) == len(emb)
    os.environ["GRAPHAD_CACHE"] = str(cache)
    try:
        cached = build_graph(schema=data / "schema.yaml").data["review"].x
    finally:
        del os.environ["GRAPHAD_CACHE"]
    fresh = build_graph(schema=data / "schema.yaml", use_cache=False).data["review"].x
    np.testing.assert_allclose(cached.numpy(), fresh.numpy(), rtol=0, atol=1e-5)
