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


def test_python_blocks_run_in_order(tmp_path, monkeypatch):
    """The blocks share one namespace, as in a notebook; files land in a temp folder."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(blocks("python")):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - report which block failed
            pytest.fail(f"README python block {i + 1} failed: {type(exc).__name__}: {exc}")
    det, graph = namespace["det"], namespace["graph"]
    assert det.feedback_weights_["user"]          # the feedback block ran on the model
    assert (tmp_path / "model").is_dir() and (tmp_path / "model-fb").is_dir()
    assert set(det.decision_function(graph)) == set(graph.node_types)
