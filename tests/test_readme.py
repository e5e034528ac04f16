"""Every Python and YAML block of the README runs as written."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_blocks():
    assert len(blocks("python")) >= 2 and len(blocks("yaml")) >= 1


def test_yaml_schemas_load():
    from graphad.data.schema import GraphSchema
    for block in blocks("yaml"):
        schema = GraphSchema.from_dict(yaml.safe_load(block))
        assert schema.relations                   # every relation names declared types


def write_quick_start_tables(folder: Path) -> None:
    """The quick start's CSVs: 60 users, transfers, bios; user u7 moves far more money."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(60)]
    pd.DataFrame({"user_id": users, "age": rng.integers(18, 80, 60),
                  "balance": rng.gamma(2.0, 500.0, 60).round(2),
                  "country": rng.choice(["FR", "DE", "US"], 60)}).to_csv(
        folder / "users.csv", index=False)
    sender, receiver = rng.integers(0, 60, 240), rng.integers(0, 60, 240)
    amount = rng.gamma(2.0, 40.0, 240).round(2)
    amount[sender == 7] *= 50
    pd.DataFrame({"sender": [users[i] for i in sender],
                  "receiver": [users[i] for i in receiver], "amount": amount}).to_csv(
        folder / "transfers.csv", index=False)
    words = ["likes hiking and photography", "coffee, books and long walks",
             "software engineer in a small town", "gardener and amateur cook"]
    pd.DataFrame({"bio_id": [f"b{i}" for i in range(40)], "user_id": users[:40],
                  "text": [words[i % 4] for i in range(40)]}).to_csv(
        folder / "bios.csv", index=False)


def test_python_blocks_run_in_order(tmp_path, monkeypatch):
    """The blocks share one namespace, as in a notebook; files land in a temp folder
    that holds the quick start's CSVs."""
    monkeypatch.chdir(tmp_path)
    write_quick_start_tables(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(blocks("python")):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - report which block failed
            pytest.fail(f"README python block {i + 1} failed: {type(exc).__name__}: {exc}")
    ranked = namespace["ranked"]                   # the quick start's ranking
    assert set(ranked["node_type"]) == {"user", "bio"} and len(ranked) == 100
    det, graph = namespace["det"], namespace["graph"]
    assert det.feedback_weights_["user"]          # the feedback block ran on the model
    assert (tmp_path / "model").is_dir() and (tmp_path / "model-fb").is_dir()
    assert set(det.decision_function(graph)) == set(graph.node_types)
