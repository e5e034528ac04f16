"""Scoring on Ray Data (local Ray, 2 workers) writes the same rows, shards and manifest
as local sharded scoring, and resumes a half-finished folder."""
from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("ray.data")

from graphad.cli.model import build_from_schema  # noqa: E402
from graphad.detectors.persistence import load_detector  # noqa: E402
from graphad.errors import GraphadError  # noqa: E402
from graphad.scoring.ray_scoring import write_shards_ray  # noqa: E402
from graphad.scoring.shards import MANIFEST, read_manifest, write_shards  # noqa: E402
from test_shards import _read  # noqa: E402


def test_ray_two_workers_write_the_rows_of_local_scoring(tmp_path):
    from conftest import fit_small_model
    schema, model = fit_small_model(tmp_path)
    det = load_detector(model)
    local = tmp_path / "local"
    expected = write_shards(det, build_from_schema(str(schema), fitted=det), local,
                            shard_size=2)
    out = tmp_path / "ray"
    done = write_shards_ray(model, schema, out, shard_size=2, workers=2)
    assert done == expected
    pd.testing.assert_frame_equal(_read(out), _read(local))
    names = sorted(r["name"] for r in read_manifest(out) if r.get("kind") == "shard")
    assert names == sorted(r["name"] for r in read_manifest(local)
                           if r.get("kind") == "shard")
    # a lost shard is the only one written again, on Ray or locally alike
    (out / "node_type=user" / "part-00001.parquet").unlink()
    again = write_shards_ray(model, schema, out, shard_size=2, workers=2)
    assert again["written"] == 1 and again["resumed"] == done["shards"] - 1
    pd.testing.assert_frame_equal(_read(out), _read(local))
    assert (out / MANIFEST).is_file()
    with pytest.raises(GraphadError, match="workers must be a positive integer"):
        write_shards_ray(model, schema, out, shard_size=2, workers=0)


def test_cli_engine_ray_writes_what_local_shards_hold(tmp_path, capsys):
    from conftest import fit_small_model
    from graphad.cli import main
    schema, model = fit_small_model(tmp_path)
    base = ["score", "--model", str(model), "--schema", str(schema), "--shard-size", "3",
            "--top", "2"]
    assert main(base + ["--out", str(tmp_path / "local")]) == 0
    local_out = capsys.readouterr()
    assert main(base + ["--out", str(tmp_path / "ray"), "--engine", "ray",
                        "--workers", "2"]) == 0
    ray_out = capsys.readouterr()
    pd.testing.assert_frame_equal(_read(tmp_path / "ray"), _read(tmp_path / "local"))
    top = local_out.out[local_out.out.index("top 2 user"):]
    assert top and top in ray_out.out                     # the same top users printed
    assert (tmp_path / "ray" / "_drift.csv").read_text() == \
        (tmp_path / "local" / "_drift.csv").read_text()
    assert main(["score", "--model", str(model), "--schema", str(schema), "--out",
                 str(tmp_path / "x.parquet"), "--engine", "ray"]) == 1
    assert "--engine ray writes shards: give --shard-size" in capsys.readouterr().err
