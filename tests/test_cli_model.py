"""`graphad fit / score / explain / subgraphs` and detector persistence."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from graphad.cli import main
from graphad.data import build_graph
from graphad.detectors import EarlyFusionIForest, LateFusionIForest, MultimodalGAE
from graphad.detectors.persistence import load_detector, save_detector
from graphad.errors import GraphadError


def write_tables(folder: Path, tables, schema: dict, with_paths: bool = True) -> Path:
    """Tables as Parquet in ``folder`` and a schema YAML naming them (or not)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet")
    spec = dict(schema)
    if with_paths:
        spec["tables"] = {name: f"{name}.parquet" for name in tables}
    path = folder / "schema.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from conftest import make_schema, make_tables
    root = tmp_path_factory.mktemp("cli_model")
    schema = write_tables(root / "data", make_tables(), make_schema())
    labels = pd.DataFrame({"node_type": "user", "id": ["u1", "u2", "u3", "u4", "u5"],
                           "label": [1, 1, 0, 0, 0],
                           "group_id": ["ring_1", "ring_1", None, None, None]})
    labels.to_parquet(root / "data" / "labels.parquet")
    model = root / "model.pt"
    code = main(["fit", "--schema", str(schema), "--out", str(model), "--epochs", "3",
                 "--param", "hidden=8"])
    assert code == 0 and model.is_file()
    return root, schema, model


def test_fit_writes_a_loadable_model(workdir, capsys):
    root, schema, model = workdir
    det = load_detector(model)
    assert isinstance(det, MultimodalGAE) and det.hidden == 8 and det.epochs == 3
    bundle = build_graph(schema=schema)
    assert set(det.decision_function(bundle)) == set(bundle.node_types)


def test_score_writes_parquet(workdir, tmp_path, capsys):
    root, schema, model = workdir
    out = tmp_path / "scores.parquet"
    assert main(["score", "--model", str(model), "--schema", str(schema),
                 "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    assert len(table) == 5 + 3 + 3 + 4 + 3
    assert {"node_type", "id", "score", "rank", "pred", "c_attribute"} <= set(table.columns)
    assert table["id"].map(type).eq(str).all()
    det = load_detector(model)
    users = table[table["node_type"] == "user"].set_index("id")["score"]
    expected = det.decision_function(build_graph(schema=schema))["user"]
    assert torch.allclose(torch.tensor(users[["u1", "u2", "u3", "u4", "u5"]].to_numpy(),
                                       dtype=torch.float32), expected)
    assert f"wrote 18 scores to {out}" in capsys.readouterr().out


def test_explain_prints_a_reason_and_tables(workdir, capsys):
    root, schema, model = workdir
    assert main(["explain", "--model", str(model), "--schema", str(schema),
                 "--node", "user:u5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("user u5:")
    assert "score = sum of contributions" in out and "structure by relation" in out
    assert main(["explain", "--model", str(model), "--schema", str(schema),
                 "--node", "merchant:300"]) == 0            # integer id given as text


def test_bad_node_is_one_line_and_exit_1(workdir, capsys):
    root, schema, model = workdir
    code = main(["explain", "--model", str(model), "--schema", str(schema),
                 "--node", "user:nobody"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("graphad: error: no user node with id 'nobody'")
    assert len(err.splitlines()) == 1
    assert main(["explain", "--model", str(model), "--schema", str(schema),
                 "--node", "nobody"]) == 1
    assert "TYPE:ID" in capsys.readouterr().err


def test_missing_or_foreign_model_is_one_line(workdir, tmp_path, capsys):
    root, schema, _ = workdir
    assert main(["explain", "--model", str(tmp_path / "none.pt"), "--schema", str(schema),
                 "--node", "user:u1"]) == 1
    assert "model file not found" in capsys.readouterr().err
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    assert main(["score", "--model", str(foreign), "--schema", str(schema),
                 "--out", str(tmp_path / "s.parquet")]) == 1
    assert "not a graphad detector file" in capsys.readouterr().err


def test_subgraphs_lists_and_evaluates(workdir, capsys):
    root, schema, model = workdir
    assert main(["subgraphs", "--model", str(model), "--schema", str(schema),
                 "--top", "3", "--quantile", "0.4", "--evaluate"]) == 0
    out = capsys.readouterr().out
    head = re.search(r"(\d+) suspicious subgraph\(s\)( \(all that discovery found; "
                     r"--top 3 asked for more\))?:", out)
    assert head and (int(head.group(1)) < 3) == (head.group(2) is not None)
    assert "recovery of planted groups" in out and "ring_1" in out


def test_subgraphs_evaluate_the_type_that_holds_the_groups(workdir, tmp_path, capsys):
    """Planted groups of another type than ``user`` are evaluated, not an empty table."""
    root, schema, model = workdir
    labels = pd.DataFrame({"node_type": ["device", "device", "user"],
                           "id": ["d1", "d2", "u1"], "label": [1, 1, 1],
                           "group_id": ["farm_1", "farm_1", None]})
    labels.to_csv(tmp_path / "device_labels.csv", index=False)
    assert main(["subgraphs", "--model", str(model), "--schema", str(schema),
                 "--top", "3", "--quantile", "0.4", "--evaluate",
                 "--labels", str(tmp_path / "device_labels.csv")]) == 0
    out = capsys.readouterr().out
    assert "recovery of planted groups (device nodes" in out
    assert "farm_1" in out and "Empty DataFrame" not in out


def test_subgraphs_evaluate_says_when_nothing_was_found(workdir, capsys):
    root, schema, model = workdir
    assert main(["subgraphs", "--model", str(model), "--schema", str(schema),
                 "--quantile", "0.001", "--evaluate"]) == 0
    out = capsys.readouterr().out
    assert "no subgraph was found, so none of the 1 planted group(s) is recovered" in out


def test_subgraphs_structural_seeds_can_be_switched_off(workdir, monkeypatch, capsys):
    import graphad.scoring.discover as discover
    seen = []
    real = discover.find_suspicious_subgraphs

    def spy(*args, **kwargs):
        seen.append((kwargs["hubs"], kwargs["tied"]))
        return real(*args, **kwargs)
    monkeypatch.setattr(discover, "find_suspicious_subgraphs", spy)
    root, schema, model = workdir
    for flags in ([], ["--no-hubs", "--no-tied"]):
        assert main(["subgraphs", "--model", str(model), "--schema", str(schema),
                     "--top", "3"] + flags) == 0
    assert seen == [(True, True), (False, False)]
    capsys.readouterr()


def test_subgraphs_evaluate_needs_labels(workdir, tmp_path, capsys):
    from conftest import make_schema, make_tables
    schema = write_tables(tmp_path / "nolabels", make_tables(), make_schema())
    _, _, model = workdir
    assert main(["subgraphs", "--model", str(model), "--schema", str(schema),
                 "--evaluate"]) == 1
    assert "--evaluate needs labels" in capsys.readouterr().err


def test_tables_dir_overrides_schema_paths(workdir, tmp_path, capsys):
    from conftest import make_schema, make_tables
    root, _, model = workdir
    folder = tmp_path / "elsewhere"
    schema = write_tables(folder, make_tables(), make_schema(), with_paths=False)
    out = tmp_path / "scores.parquet"
    assert main(["score", "--model", str(model), "--schema", str(schema),
                 "--tables-dir", str(folder), "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 18
    (folder / "payments.parquet").unlink()
    assert main(["score", "--model", str(model), "--schema", str(schema),
                 "--tables-dir", str(folder), "--out", str(out)]) == 1
    assert "payments" in capsys.readouterr().err


def test_help_has_examples(capsys):
    for command in ("fit", "score", "explain", "subgraphs"):
        assert main([command, "--help"]) == 0
        assert "Example:" in capsys.readouterr().out


def test_cli_as_a_subprocess(workdir):
    root, schema, model = workdir
    exe = shutil.which("graphad", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-c",
                             "import sys; from graphad.cli import main; sys.exit(main())"]
    ok = subprocess.run(cmd + ["explain", "--model", str(model), "--schema", str(schema),
                               "--node", "user:u2"], capture_output=True, text=True,
                        timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("user u2:")
    bad = subprocess.run(cmd + ["explain", "--model", str(model), "--schema", str(schema),
                                "--node", "user:u99"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 1
    lines = [ln for ln in bad.stderr.splitlines() if ln.startswith("graphad:")]
    assert lines == [lines[0]] and "no user node with id 'u99'" in lines[0]
    assert "Traceback" not in bad.stderr


# ---------------------------------------------------------------- persistence
@pytest.fixture(scope="module")
def small():
    from conftest import make_schema, make_tables
    bundle = build_graph(make_tables(), make_schema(), use_cache=False)
    return bundle, MultimodalGAE(epochs=3, hidden=8, seed=0).fit(bundle)


def test_save_load_gives_identical_scores(small, tmp_path):
    bundle, det = small
    path = save_detector(det, tmp_path / "m.pt")
    again = load_detector(path)
    assert again.get_params() == det.get_params()
    assert again.threshold_ == det.threshold_
    a, b = det.decision_function(bundle), again.decision_function(bundle)
    assert all(torch.equal(a[t], b[t]) for t in a)
    ca, cb = det.score_components(bundle), again.score_components(bundle)
    for t in ca:
        assert set(ca[t]) == set(cb[t])
        for name in ca[t]:
            assert torch.equal(torch.nan_to_num(ca[t][name]), torch.nan_to_num(cb[t][name]))
    ea, eb = det.score_edges(bundle), again.score_edges(bundle)
    assert all(torch.equal(ea[e], eb[e]) for e in ea)
    assert torch.equal(again.predict(bundle)["user"], det.predict(bundle)["user"])


def test_file_loads_without_pickles(small, tmp_path):
    _, det = small
    path = save_detector(det, tmp_path / "m.pt")
    envelope = torch.load(path, weights_only=True)          # plain data only
    assert envelope["format"] == "graphad-detector" and envelope["class"] == "MultimodalGAE"
    assert {"graphad", "torch", "torch_geometric"} <= set(envelope["versions"])
    assert envelope["params"]["hidden"] == 8


def test_version_change_warns(small, tmp_path):
    _, det = small
    path = save_detector(det, tmp_path / "m.pt")
    envelope = torch.load(path, weights_only=True)
    envelope["versions"]["graphad"] = "0.0.1"
    torch.save(envelope, path)
    with pytest.warns(UserWarning, match="other versions"):
        load_detector(path)
    envelope["format_version"] = 99
    torch.save(envelope, path)
    with pytest.raises(GraphadError, match="format 99"):
        load_detector(path)


def test_baselines_save_as_plain_data(small, tmp_path):
    bundle, _ = small
    for base in (EarlyFusionIForest(seed=0, n_estimators=20).fit(bundle),
                 LateFusionIForest(seed=0, n_estimators=20).fit(bundle)):
        again = load_detector(save_detector(base, tmp_path / "b.pt"))
        assert type(again) is type(base)
        a, b = base.decision_function(bundle), again.decision_function(bundle)
        assert all(torch.equal(a[t], b[t]) for t in a)


def pickled_envelope(path: Path, marker: Path) -> Path:
    """A detector file as an older graphad wrote it with trusted=True, whose pickle would
    create ``marker`` if it were ever unpickled."""
    import io
    import os
    import pickle

    from graphad.detectors.persistence import FORMAT, FORMAT_VERSION, _versions

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    envelope = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "versions": _versions(), "class": "RawIForest",
                "pickled": pickle.dumps(Exploit())}
    buffer = io.BytesIO()
    torch.save(envelope, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def test_pickles_are_never_written_nor_read(small, tmp_path):
    from graphad.bench.peers import RawIForest           # a scikit-learn model inside
    bundle, _ = small
    base = RawIForest(seed=0, n_estimators=20).fit(bundle)
    with pytest.raises(GraphadError, match="never writes a pickle"):
        save_detector(base, tmp_path / "b.pt")
    assert not (tmp_path / "b.pt").exists()
    marker = tmp_path / "pwned"
    path = pickled_envelope(tmp_path / "old.pt", marker)
    with pytest.raises(GraphadError, match="pickled detector.*never loads pickles"):
        load_detector(path)
    assert not marker.exists()                            # nothing was unpickled


def test_unfitted_and_corrupt(tmp_path):
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        save_detector(MultimodalGAE(), tmp_path / "x.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(GraphadError, match="not a graphad detector file"):
        load_detector(bad)


def test_report_writes_one_html_page(workdir, tmp_path, capsys):
    root, schema, model = workdir
    out = tmp_path / "report.html"
    assert main(["report", "--model", str(model), "--schema", str(schema), "--out",
                 str(out), "--top", "3", "--subgraphs", "0", "--type", "user"]) == 0
    page = out.read_text(encoding="utf-8")
    det = load_detector(model)
    scores = det.decision_function(build_graph(schema=schema))["user"]
    top = torch.argsort(scores, descending=True, stable=True)[:3]
    ids = ["u1", "u2", "u3", "u4", "u5"]
    for i in top.tolist():
        assert f'id="n-user-{ids[i]}"' in page
    assert page.count('id="n-user-') == 3
    assert "data:image/png;base64," in page             # the score distribution
    assert f"wrote a report of the top 3 entities to {out}" in capsys.readouterr().out
    bad = tmp_path / "report.pdf"
    assert main(["report", "--model", str(model), "--schema", str(schema), "--out",
                 str(bad)]) == 1
    assert "name it .html" in capsys.readouterr().err and not bad.exists()
    assert main(["report", "--model", str(model), "--schema", str(schema), "--out",
                 str(tmp_path / "r2.html"), "--type", "shop"]) == 1
    err = capsys.readouterr().err.strip()
    assert "no scores for node type(s) ['shop']" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r2.html").exists()
