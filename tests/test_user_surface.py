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


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_load_torch(flag):
    code = ("import sys, time; t = time.perf_counter(); from graphad.cli import main; "
            f"rc = main([{flag!r}]); "
            "print(rc, 'torch' in sys.modules, 'sklearn' in sys.modules, "
            "round(time.perf_counter() - t, 3))")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    wall = time.perf_counter() - start
    assert out[-4:-1] == ["0", "False", "False"], out
    assert wall < 10, wall          # loose: measured 0.09 s; a busy machine is slower


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from conftest import fit_small_model
    root = tmp_path_factory.mktemp("surface")
    return (root, *fit_small_model(root))


@pytest.mark.parametrize("name, reader", [
    ("s.parquet", "parquet"), ("s.csv", "csv"), ("s.jsonl", "jsonl")])
def test_score_format_follows_the_extension(model_dir, tmp_path, name, reader):
    import pandas as pd
    root, schema, model = model_dir
    out, edges = tmp_path / name, tmp_path / ("edges" + name[1:])
    assert main(["score", "--model", str(model), "--schema", str(schema), "--out", str(out),
                 "--edges", str(edges)]) == 0
    read = {"parquet": pd.read_parquet, "csv": pd.read_csv,
            "jsonl": lambda p: pd.read_json(p, lines=True)}[reader]
    table, edge_table = read(out), read(edges)
    assert len(table) == 18 and {"score", "rank", "pred", "confidence"} <= set(table.columns)
    # 6 uses + 5 pays + 4 wrote + 3 spends edges, each scored once (forward relations)
    assert len(edge_table) == 18
    pays = edge_table[edge_table["relation"] == "pays"]
    assert list(pays["a_amount"]) == [5000.0, 10.0, 99.5, 3.0, 42.0]
    assert set(pays["rank"]) == {1, 2, 3, 4, 5}


def test_score_refuses_an_unknown_extension_before_any_work(model_dir, tmp_path, capsys):
    root, schema, model = model_dir
    assert main(["score", "--model", str(model), "--schema", str(schema),
                 "--out", str(tmp_path / "s.xlsx")]) == 1
    err = capsys.readouterr().err
    assert "'.xlsx'" in err and "--format" in err
    assert list(tmp_path.iterdir()) == []                  # nothing written
    assert main(["score", "--model", str(model), "--schema", str(schema),
                 "--out", str(tmp_path / "s.txt"), "--format", "csv"]) == 0
    assert (tmp_path / "s.txt").read_text().startswith("node_type,id,score")


def test_explain_many_nodes_to_json_and_markdown(model_dir, tmp_path, capsys):
    import json

    import pandas as pd

    from graphad.data import build_graph
    from graphad.detectors.persistence import load_detector
    root, schema, model = model_dir
    nodes = tmp_path / "nodes.csv"
    pd.DataFrame({"node_type": ["user", "merchant"], "id": ["u5", "300"]}).to_csv(
        nodes, index=False)
    out = tmp_path / "why.json"
    assert main(["explain", "--model", str(model), "--schema", str(schema),
                 "--node", "user:u1,user:u2", "--nodes", str(nodes), "--out", str(out)]) == 0
    found = json.loads(out.read_text())
    assert [(e["node_type"], str(e["id"])) for e in found] == [
        ("user", "u1"), ("user", "u2"), ("user", "u5"), ("merchant", "300")]
    det = load_detector(model)
    scores = det.decision_function(build_graph(schema=schema))
    assert found[2]["score"] == pytest.approx(float(scores["user"][4]))
    assert sum(r["contribution"] for r in found[2]["contributions"]) == pytest.approx(
        found[2]["score"], rel=1e-5)
    md = tmp_path / "why.md"
    assert main(["explain", "--model", str(model), "--schema", str(schema),
                 "--node", "user:u5", "--out", str(md)]) == 0
    text = md.read_text()
    assert text.startswith("## user u5") and "| component | z |" in text
    capsys.readouterr()
    assert main(["explain", "--model", str(model), "--schema", str(schema),
                 "--node", "user:u5", "--out", str(tmp_path / "why.txt")]) == 1
    assert ".json or .md" in capsys.readouterr().err


def test_subgraphs_out_lists_every_member(model_dir, tmp_path, capsys):
    import pandas as pd
    root, schema, model = model_dir
    out = tmp_path / "groups.csv"
    assert main(["subgraphs", "--model", str(model), "--schema", str(schema),
                 "--quantile", "0.4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.columns) == ["subgraph", "subgraph_score", "description",
                                   "node_type", "id", "flagged", "reason"]
    n_groups = int(printed.split(" suspicious subgraph")[0].split()[-1])
    assert table["subgraph"].nunique() == n_groups
    assert f"wrote {len(table)} members of {n_groups} subgraph(s)" in printed



def test_members_frame_has_one_row_per_member():
    from graphad.scoring.subgraph import Subgraph
    sg = Subgraph(members={"user": ["u1", "u2", "u3"], "device": ["d1"]}, score=4.5,
                  rank=2, seeds={"user": ["u2"]})
    frame = sg.members_frame("they share one device")
    assert list(zip(frame["node_type"], frame["id"])) == [
        ("user", "u1"), ("user", "u2"), ("user", "u3"), ("device", "d1")]
    assert frame["flagged"].tolist() == [False, True, False, False]
    assert (frame["subgraph"] == 2).all() and (frame["subgraph_score"] == 4.5).all()
    assert (frame["reason"] == "they share one device").all()


def test_fit_options_reach_the_detector_and_bad_devices_are_one_line(model_dir, tmp_path,
                                                                     capsys):
    from graphad.detectors.persistence import load_detector
    root, schema, model = model_dir
    out = tmp_path / "m"
    assert main(["fit", "--schema", str(schema), "--out", str(out), "--epochs", "2",
                 "--param", "hidden=8", "--contamination", "0.2", "--device", "cpu"]) == 0
    det = load_detector(out)
    assert det.contamination == 0.2 and det.device == "cpu"
    capsys.readouterr()
    assert main(["fit", "--schema", str(schema), "--out", str(tmp_path / "m2"),
                 "--epochs", "2", "--device", "tpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'tpu'" in err and not (tmp_path / "m2").exists()


def test_unknown_ids_dropped_with_a_count_where_the_schema_says_so():
    import warnings as w

    from conftest import make_schema, make_tables

    from graphad.data import build_graph
    from graphad.errors import DataValidationError, SchemaError
    tables, schema = make_tables(), make_schema()
    tables["payments"].loc[len(tables["payments"])] = ["ghost", 100, 7.0, 1_700_000_500]
    with pytest.raises(DataValidationError, match="ghost"):
        build_graph(tables, schema, use_cache=False)
    schema["relations"][1]["on_unknown"] = "drop"
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        bundle = build_graph(tables, schema, use_cache=False)
    assert bundle.data["user", "pays", "merchant"].num_edges == 5
    assert any("1 of 6 row(s)" in str(c.message) and "'payments'" in str(c.message)
               for c in caught)
    assert len(tables["payments"]) == 6                  # the caller's table untouched
    schema["relations"][1]["on_unknown"] = "ignore"
    with pytest.raises(Exception, match="on_unknown must be one of"):
        build_graph(tables, schema, use_cache=False)


def test_iso_dates_from_a_csv_read_like_datetime_columns():
    import pandas as pd

    from graphad.data.validate import numeric_column
    from graphad.errors import DataValidationError
    text = pd.DataFrame({"d": ["2024-01-05", "2024-01-06T12:00:00", None]})
    typed = pd.DataFrame({"d": [pd.Timestamp("2024-01-05"),
                                pd.Timestamp("2024-01-06 12:00"), pd.NaT]})
    a, b = numeric_column(text, "t", "d"), numeric_column(typed, "t", "d")
    assert a.iloc[:2].tolist() == b.iloc[:2].tolist() == [1704412800.0, 1704542400.0]
    assert a.isna().iloc[2] and b.isna().iloc[2]
    with pytest.raises(DataValidationError, match=r"column 'x'.*ISO 8601.*'soon'"):
        numeric_column(pd.DataFrame({"x": ["2024-01-05", "soon"]}), "t", "x")


def _entry_point() -> list:
    import shutil
    from pathlib import Path
    exe = shutil.which("graphad", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-c",
                              "import sys; from graphad.cli import main; sys.exit(main())"]


def test_entry_point_in_a_subprocess(model_dir, tmp_path):
    """The installed ``graphad`` command: format by extension, an error is exactly one
    line on stderr (no third-party warnings) with exit code 1, --debug adds the
    traceback, --help answers quickly."""
    import pandas as pd
    root, schema, model = model_dir
    cmd = _entry_point()
    out = tmp_path / "s.jsonl"
    ok = subprocess.run(cmd + ["score", "--model", str(model), "--schema", str(schema),
                               "--out", str(out)], capture_output=True, text=True,
                        timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert len(pd.read_json(out, lines=True)) == 18
    args = ["explain", "--model", str(model), "--schema", str(schema), "--node", "user:u99"]
    bad = subprocess.run(cmd + args, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [bad.stderr.strip()]
    assert bad.stderr.startswith("graphad: error:") and "u99" in bad.stderr
    debug = subprocess.run(cmd + ["--debug"] + args, capture_output=True, text=True,
                           timeout=300)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    start = time.perf_counter()
    helped = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60)
    wall = time.perf_counter() - start
    assert helped.returncode == 0 and "feedback" in helped.stdout
    assert wall < 10, wall          # loose: measured 0.16 s alone; CI machines are busy


def test_quiet_prints_results_only(model_dir, tmp_path, capsys):
    root, schema, model = model_dir
    args = ["score", "--model", str(model), "--schema", str(schema),
            "--out", str(tmp_path / "s.csv"), "--top", "2"]
    assert main(args) == 0
    loud = capsys.readouterr().out
    assert main(["--quiet"] + args) == 0
    quiet = capsys.readouterr().out
    assert "wrote 18 scores" in loud and "wrote 18 scores" not in quiet
    assert "top 2 user:" in quiet                  # the result is still printed
    from graphad.cli.output import set_quiet
    set_quiet(False)


@pytest.mark.parametrize("params, words", [
    ({"contamination": "0.1"}, "contamination must be a number"),
    ({"contamination": 0.7}, "contamination must be a number in (0, 0.5]"),
    ({"weights": {"attribute": -1.0}}, "weights must be finite numbers >= 0"),
    ({"weights": {"attribute": float("nan")}}, "weights must be finite numbers >= 0"),
    ({"max_input_dim": 0}, "max_input_dim must be >= 1"),
])
def test_bad_parameters_are_refused_at_fit_with_their_name(params, words):
    det = MultimodalGAE(**FAST, **params)
    with pytest.raises(ValueError) as err:
        det.fit(small_graph())
    assert words in str(err.value)
    assert not hasattr(det, "normalizer_")


def test_ids_that_read_the_same_as_number_and_text_are_refused():
    import pandas as pd

    from graphad.data.validate import check_ids
    from graphad.errors import DataValidationError
    frame = pd.DataFrame({"id": [1, "1", "a", 2]})
    with pytest.raises(DataValidationError, match=r"'id'.*1 and '1'.*rows: 0"):
        check_ids(frame, "users", "id", unique=False)
    check_ids(pd.DataFrame({"id": [1, "x", 2]}), "users", "id", unique=True)  # no clash


def test_outputs_that_cannot_be_written_fail_before_any_work(model_dir, tmp_path, capsys):
    import os
    root, schema, model = model_dir
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        unwritable = [blocker / "scores.csv"]
        if os.geteuid() != 0:                   # root may write into a 0500 folder
            unwritable.append(locked / "scores.csv")
        for out in unwritable:
            capsys.readouterr()
            assert main(["score", "--model", str(model), "--schema", str(schema),
                         "--out", str(out)]) == 1
            captured = capsys.readouterr()
            assert "cannot write" in captured.err and captured.out == ""   # nothing built
        assert main(["fit", "--schema", str(schema), "--out", str(blocker / "m")]) == 1
        assert "is a file, not a folder" in capsys.readouterr().err
    finally:
        os.chmod(locked, 0o700)


def test_temporary_files_of_a_killed_writer_are_cleaned_by_the_next_write(tmp_path):
    import pandas as pd

    from graphad.data.io import atomic_write_csv
    out = tmp_path / "scores.csv"
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead = int(child.stdout)                          # a pid that has exited
    orphan = tmp_path / f".scores.csv.{dead}.tmp-abc123"
    orphan.write_text("half a table")
    other = tmp_path / ".other.csv.1.tmp-x"           # another output's: left alone
    other.write_text("x")
    atomic_write_csv(out, pd.DataFrame({"a": [1]}))
    assert not orphan.exists() and other.exists()
    assert out.read_text() == "a\n1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.csv.1.tmp-x",
                                                          "scores.csv"]


def _photo_graph(folder, paths, **kwargs):
    import pandas as pd

    from graphad.data import build_graph
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(len(paths))]})
    photos = pd.DataFrame({"photo_id": [f"p{i}" for i in range(len(paths))],
                           "user_id": users["user_id"], "path": paths})
    schema = {"nodes": {"user": {"table": "users", "id": "user_id"},
                        "photo": {"table": "photos", "id": "photo_id", "modality": "image",
                                  "column": "path"}},
              "relations": [{"src": "user", "rel": "posted", "dst": "photo",
                             "table": "photos", "src_key": "user_id",
                             "dst_key": "photo_id"}]}
    return build_graph({"users": users, "photos": photos}, schema, base_dir=folder,
                       use_cache=False, **kwargs)


def test_image_paths_outside_the_data_folder_are_refused(tmp_path):
    import numpy as np
    from PIL import Image

    from graphad.errors import DataValidationError
    data = tmp_path / "data"
    data.mkdir()
    outside = tmp_path / "secret.png"
    for p in (data / "ok.png", outside):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(p)
    for bad in (str(outside), "../secret.png"):
        with pytest.raises(DataValidationError, match=r"outside the data folder.*rows: "
                                                      r"\(1, "):
            _photo_graph(data, ["ok.png", bad])
    allowed = _photo_graph(data, ["ok.png", str(outside)], allow_paths_outside=True)
    assert allowed.data["photo"].num_nodes == 2


def test_cli_reads_a_symlinked_image_folder_only_when_allowed(tmp_path, capsys):
    """Photos reached through a symlinked folder lead outside the data folder: the
    CLI refuses them, naming ``--allow-paths-outside``, and reads them with it. A
    library warning (every edge time missing) is one ``warning:`` line, without
    Python's source file and line."""
    import numpy as np
    import pandas as pd
    import yaml
    from PIL import Image
    store, data = tmp_path / "store", tmp_path / "data"
    store.mkdir()
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
            store / f"p{i}.png")
    (data / "photos").symlink_to(store, target_is_directory=True)
    pd.DataFrame({"user_id": [f"u{i}" for i in range(24)],
                  "age": rng.integers(20, 60, 24).astype(float)}).to_csv(
        data / "users.csv", index=False)
    pd.DataFrame({"photo_id": [f"p{i}" for i in range(24)],
                  "user_id": [f"u{i}" for i in range(24)],
                  "path": [f"photos/p{i}.png" for i in range(24)],
                  "at": [None] * 24}).to_csv(data / "photos.csv", index=False)
    schema = {"tables": {"users": "users.csv", "photos": "photos.csv"},
              "nodes": {"user": {"table": "users", "id": "user_id", "numeric": ["age"]},
                        "photo": {"table": "photos", "id": "photo_id", "modality": "image",
                                  "column": "path"}},
              "relations": [{"src": "user", "rel": "posted", "dst": "photo",
                             "table": "photos", "src_key": "user_id",
                             "dst_key": "photo_id", "time": "at"}]}
    (data / "schema.yaml").write_text(yaml.safe_dump(schema))
    args = ["fit", "--schema", str(data / "schema.yaml"), "--out", str(tmp_path / "m"),
            "--epochs", "2"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "outside the data folder" in err and "--allow-paths-outside" in err
    done = subprocess.run(_entry_point() + ["--allow-paths-outside"] + args,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert ("warning: table 'photos', column 'at': every edge time is missing"
            in done.stderr), done.stderr
    assert "UserWarning" not in done.stderr and ".py:" not in done.stderr


def test_only_regular_image_files_are_read(tmp_path):
    import os

    from graphad.encoders.image import load_image
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert load_image(str(fifo)) is None                # returns at once, no hang
    assert load_image("/dev/zero") is None


@pytest.mark.slow
def test_one_thread_runs_are_bit_identical_across_processes(model_dir, tmp_path):
    """Two `graphad --threads 1 fit` processes with one seed write identical scores."""
    import pandas as pd
    root, schema, model = model_dir
    cmd = _entry_point()
    tables = []
    for i in range(2):
        m, out = tmp_path / f"m{i}", tmp_path / f"s{i}.parquet"
        for args in (["fit", "--schema", str(schema), "--out", str(m), "--epochs", "5",
                      "--param", "hidden=8", "--seed", "3"],
                     ["score", "--model", str(m), "--schema", str(schema), "--out",
                      str(out)]):
            run = subprocess.run(cmd + ["--threads", "1"] + args, capture_output=True,
                                 text=True, timeout=300)
            assert run.returncode == 0, run.stderr
        tables.append(pd.read_parquet(out))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)


def test_dates_show_back_as_dates_in_explanations():
    """ISO dates read as numbers for the detector, but an explanation shows them as
    the user wrote them (node features and edge attributes)."""
    import numpy as np
    import pandas as pd

    import graphad
    rng = np.random.default_rng(0)
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(40)],
                          "signup": [f"2024-01-{i % 28 + 1:02d}" for i in range(40)],
                          "age": rng.integers(18, 70, 40)})
    pays = pd.DataFrame({"src": [f"u{i % 40}" for i in range(120)],
                         "dst": [f"u{i * 7 % 40}" for i in range(120)],
                         "amount": rng.gamma(2.0, 20.0, 120),
                         "paid_at": [f"2024-03-{i % 28 + 1:02d}T10:00:00"
                                     for i in range(120)]})
    schema = {"nodes": {"user": {"table": "users", "id": "user_id",
                                 "numeric": ["signup", "age"]}},
              "relations": [{"src": "user", "rel": "pays", "dst": "user", "table": "pays",
                             "src_key": "src", "dst_key": "dst",
                             "attrs": ["amount", "paid_at"]}]}
    graph = graphad.build_graph({"users": users, "pays": pays}, schema)
    assert graph.data["user"].x.dtype == torch.float32          # dates became numbers
    det = graphad.MultimodalGAE(epochs=3, hidden=8, seed=0).fit(graph)
    ex = graphad.explain(graph, ("user", "u3"), det)
    assert ex.features.set_index("feature").loc["signup", "value"] == "2024-01-04"
    assert ex.edges["paid_at"].str.fullmatch(r"2024-03-\d\dT10:00:00").all()
    assert "2024-01-04" in ex.to_markdown()


def test_top_k_lists_tied_scores_in_rank_order():
    import pandas as pd

    from graphad.scoring.table import top_k
    table = pd.DataFrame({"node_type": "user", "id": [f"u{i}" for i in range(40)],
                          "score": [5.0] * 30 + [1.0] * 10})
    table["rank"] = table["score"].rank(ascending=False, method="first").astype(int)
    top = top_k(table, "user", 10)
    assert top["rank"].tolist() == list(range(1, 11))
    assert top["id"].tolist() == [f"u{i}" for i in range(10)]


def test_subpackages_are_attributes_without_an_import():
    """``import graphad`` then ``graphad.detectors.MultimodalGAE`` (as with PyG or
    scikit-learn), in a fresh interpreter where nothing imported the subpackage."""
    code = ("import graphad; print(graphad.detectors.MultimodalGAE.__name__, "
            "graphad.scoring.find_suspicious_subgraphs.__name__, "
            "graphad.data.from_hetero_data.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["MultimodalGAE", "find_suspicious_subgraphs", "from_hetero_data"]


def test_lazy_names_are_not_shadowed_by_submodules():
    """Once a submodule of ``graphad.scoring`` is imported (the HTML report and the CLI
    import them), the package attribute of that name is the module: no public name may
    share a submodule's name, or ``from graphad.scoring import name`` turns into a
    module in a notebook that made a report first."""
    import importlib
    import types
    import graphad
    import graphad.scoring as scoring
    for name, module in scoring._LAZY.items():
        importlib.import_module(module, "graphad.scoring")
        assert not isinstance(getattr(scoring, name), types.ModuleType), name
    for name, module in graphad._EXPORTS.items():
        importlib.import_module(module)
        assert not isinstance(getattr(graphad, name), types.ModuleType), name
    from graphad.scoring import explain_subgraph
    assert callable(explain_subgraph)
